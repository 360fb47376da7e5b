//! Turning what the user gave into a [`ConformanceConfig`]: the embedded reference data space
//! (the default: its provider and consumer are the connectors under test, the harness is the
//! participant `dsp-harness` at its DAPS), or a target file describing a connector of their own.

use std::time::Duration;

use super::context::HarnessIdentity;
use super::engine::ConformanceConfig;
use super::target::{CallbackConfig, ConnectorUnderTest, DatasetChoice, Timing};
use super::tokens::{Minter, TokenSource};
use crate::identity::{DatClient, DatVerifier, ParticipantKeys};
use crate::protocol::ProtocolVersion;
use crate::report::model::Role;
use crate::runtime::embedded::{EmbeddedDataSpace, HARNESS_ID};
use crate::recording::RecordingClient;
use crate::runtime::ConnectorInfo;
use crate::runtime::UrlRewrite;
use crate::schema::SchemaSet;
use crate::suite::Filter;
use crate::target::driver;
use crate::target::file::{AuthSection, TargetFile, TargetFileError};

/// The parts of a run that do not depend on the target.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub filter: Filter,
    pub timing: Timing,
    pub schemas: SchemaSet,
    /// Cases run at once.
    pub concurrency: usize,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions { filter: Filter::default(), timing: Timing::default(), schemas: SchemaSet::embedded_2025_1(), concurrency: 8 }
    }
}

/// How long the harness waits for a DAPS.
const DAPS_TIMEOUT: Duration = Duration::from_secs(10);

fn http_client(ca: Option<&[u8]>) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder().timeout(DAPS_TIMEOUT).no_proxy();
    if let Some(pem) = ca {
        for cert in reqwest::Certificate::from_pem_bundle(pem).map_err(|e| format!("the CA file is not PEM: {e}"))? {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder.build().map_err(|e| format!("cannot build an HTTP client: {e}"))
}

/// The embedded data space's reference connectors under test, in both roles.
pub fn embedded_config(space: &EmbeddedDataSpace, options: RunOptions) -> ConformanceConfig {
    let http = http_client(None).unwrap_or_default();
    let info = &space.info;
    let connector = |name: &str, role: Role, c: &ConnectorInfo| reference_connector(name, role, c, space.carbon_source_url(), UrlRewrite::default());
    ConformanceConfig {
        provider: Some(connector("provider", Role::Provider, &info.provider)),
        consumer: Some(connector("consumer", Role::Consumer, &info.consumer)),
        tokens: TokenSource::Daps { client: DatClient::new(info.daps.token_url(), space.harness_keys.clone(), http.clone()), minter: Some(Minter::InProcess(space.daps.clone())) },
        identity: HarnessIdentity {
            participant_id: HARNESS_ID.to_string(),
            verifier: Some(DatVerifier::new(space.daps.jwks_url(), space.daps.issuer(), http)),
            callback: CallbackConfig::default(),
        },
        filter: options.filter,
        timing: options.timing,
        schemas: options.schemas,
        concurrency: options.concurrency,
        http: RecordingClient::peer_http(None).unwrap_or_default(),
    }
}

/// A reference connector of a data space the harness started, in one role.
fn reference_connector(name: &str, role: Role, c: &ConnectorInfo, asset_source_url: String, url_rewrites: UrlRewrite) -> ConnectorUnderTest {
    ConnectorUnderTest {
        name: name.to_string(),
        role,
        participant_id: c.participant_id.clone(),
        dat_audience: None,
        dsp_url: c.dsp_url.clone(),
        root_url: c.root_url.clone(),
        version: ProtocolVersion::V2025_1,
        management: driver::reference(&c.management_url, &c.api_key),
        dataset: DatasetChoice::default(),
        setup: true,
        asset_source_url: Some(asset_source_url),
        url_rewrites,
    }
}

/// Both reference connectors running in Docker containers: the harness reaches them on their
/// mapped ports, they reach the harness's callback server on the run network's gateway, and
/// URLs they hand out (pull endpoints) are rewritten to the mapped ports. The DAPS runs in a
/// container too, so the harness cannot mint tokens with its key: cases that need a minted
/// token (an expired one) are skipped with that reason.
pub fn docker_config(space: &crate::runtime::docker::DockerDataSpace, options: RunOptions) -> ConformanceConfig {
    let http = http_client(None).unwrap_or_default();
    let info = &space.info;
    let connector = |name: &str, role: Role, c: &ConnectorInfo| reference_connector(name, role, c, space.carbon_source_url(), space.url_rewrite());
    let host = space.host_address.to_string();
    ConformanceConfig {
        provider: Some(connector("provider", Role::Provider, &info.provider)),
        consumer: Some(connector("consumer", Role::Consumer, &info.consumer)),
        tokens: TokenSource::Daps {
            client: DatClient::with_assertion_audience(info.daps.token_url(), space.network_info.daps.token_url(), space.harness_keys.clone(), http.clone()),
            minter: None,
        },
        identity: HarnessIdentity {
            participant_id: HARNESS_ID.to_string(),
            verifier: Some(DatVerifier::new(info.daps.jwks_url(), space.network_info.daps.url.clone(), http)),
            callback: CallbackConfig { bind: host.clone(), port: 0, advertised_host: Some(host) },
        },
        filter: options.filter,
        timing: options.timing,
        schemas: options.schemas,
        concurrency: options.concurrency,
        http: RecordingClient::peer_http(None).unwrap_or_default(),
    }
}

/// The connector a target file describes, in the roles it asks for.
pub fn target_config(file: &TargetFile, options: RunOptions) -> Result<ConformanceConfig, TargetFileError> {
    let invalid = |message: String| TargetFileError::Invalid { path: file.base_dir.clone(), message };
    let ca = match &file.tls.ca_file {
        Some(path) => {
            let path = file.resolve(path);
            Some(std::fs::read(&path).map_err(|source| TargetFileError::Read { path, source })?)
        }
        None => None,
    };
    let http = http_client(ca.as_deref()).map_err(invalid)?;
    let management = file.management_driver()?;
    let setup = file.management.setup();
    let connector = |role: Role| ConnectorUnderTest {
        name: file.name.clone(),
        role,
        participant_id: file.dsp.participant_id.clone(),
        dat_audience: Some(file.dat_audience()).filter(|a| *a != file.dsp.participant_id),
        dsp_url: file.dsp.url.trim_end_matches('/').to_string(),
        root_url: file.root_url(),
        version: ProtocolVersion::V2025_1,
        management: management.clone(),
        dataset: DatasetChoice { dataset: file.dataset.id.clone(), offer: file.dataset.offer.clone() },
        setup,
        asset_source_url: file.dataset.source_url.clone(),
        url_rewrites: UrlRewrite::default(),
    };
    let (tokens, verifier) = match &file.auth {
        AuthSection::Daps { token_url, key_dir, jwks_url, issuer, .. } => {
            let keys = ParticipantKeys::load(&file.resolve(key_dir)).map_err(|e| invalid(format!("auth.key_dir: {e}")))?;
            let issuer = issuer.clone().unwrap_or_else(|| token_url.trim_end_matches('/').trim_end_matches("/token").to_string());
            // A reference DAPS whose admin key the file names mints the bad tokens; its admin
            // API lives at the DAPS's base URL, which is its issuer.
            let minter = file.daps_admin_key()?.map(|key| Minter::remote(&issuer, key, http.clone()));
            let verifier = jwks_url.as_ref().map(|jwks| DatVerifier::new(jwks.clone(), issuer, http.clone()));
            (TokenSource::Daps { client: DatClient::new(token_url.clone(), keys, http.clone()), minter }, verifier)
        }
        AuthSection::Static { .. } => (TokenSource::Static { token: file.static_token()?.unwrap_or_default() }, None),
        AuthSection::None => (TokenSource::None, None),
    };
    Ok(ConformanceConfig {
        provider: file.roles.provider.then(|| connector(Role::Provider)),
        consumer: file.roles.consumer.then(|| connector(Role::Consumer)),
        tokens,
        identity: HarnessIdentity {
            participant_id: file.harness.participant_id.clone(),
            verifier,
            callback: CallbackConfig { bind: file.harness.bind.clone(), port: file.harness.port, advertised_host: file.harness.advertised_host.clone() },
        },
        filter: options.filter,
        timing: options.timing,
        schemas: options.schemas,
        concurrency: options.concurrency,
        http: RecordingClient::peer_http(ca.as_deref()).map_err(invalid)?,
    })
}
