//! `serve`: starts the reference components so that a person or another tool can talk to them,
//! prints their URLs and credentials, and runs until interrupted.
//!
//! `serve` (all) starts the whole embedded data space on loopback. `serve daps|provider|
//! consumer|store` starts one component on a fixed port, as the container images do; a
//! connector then registers itself at the DAPS named by `--daps-url`.

use std::str::FromStr;

use serde_json::json;

use super::args::{Component, Format, ServeArgs};
use super::{exit, CliError};
use crate::identity::ParticipantKeys;
use crate::protocol::ProtocolVersion;
use crate::reference::connector::{Connector, ConnectorConfig, Fault, Faults};
use crate::reference::daps::{Daps, DapsConfig};
use crate::reference::objectstore::{ObjectStore, ObjectStoreConfig};
use crate::runtime::embedded::{self, EmbeddedOptions, CONSUMER_ID, PROVIDER_ID};

pub async fn serve(args: ServeArgs) -> Result<u8, CliError> {
    let faults = parse_faults(&args.faults)?;
    if !faults.is_empty() {
        eprintln!("warning: serving with faults switched on, this connector breaks the protocol on purpose: {}", args.faults.join(", "));
    }
    match args.component {
        Component::All => serve_all(&args, faults).await,
        Component::Daps => serve_daps(&args).await,
        Component::Provider | Component::Consumer => serve_connector(&args, faults).await,
        Component::Store => serve_store(&args).await,
    }
}

/// The versions `--dsp-version` names, or `None` (all of them) when it is not given.
fn parse_versions(names: &[String]) -> Result<Option<Vec<ProtocolVersion>>, CliError> {
    if names.is_empty() {
        return Ok(None);
    }
    let versions = names.iter().map(|n| ProtocolVersion::from_str(n.trim())).collect::<Result<Vec<_>, _>>().map_err(CliError::setup)?;
    Ok(Some(versions))
}

fn parse_faults(names: &[String]) -> Result<Faults, CliError> {
    let faults = names.iter().map(|n| Fault::from_str(n)).collect::<Result<Vec<_>, _>>().map_err(CliError::setup)?;
    Ok(Faults::of(faults))
}

async fn wait_for_interrupt() {
    let _ = tokio::signal::ctrl_c().await;
}

async fn serve_all(args: &ServeArgs, faults: Faults) -> Result<u8, CliError> {
    let options = EmbeddedOptions {
        provider_faults: faults,
        provider_versions: parse_versions(&args.dsp_version)?,
        consumer_versions: parse_versions(&args.dsp_version)?,
        bind_host: Some(args.bind.clone()),
        advertised_host: args.advertise.clone(),
        ..EmbeddedOptions::default()
    };
    let space = embedded::start(options).await.map_err(CliError::setup)?;
    let info = &space.info;
    match args.format {
        Format::Json => println!("{}", json!({"dataspace": info, "carbonSourceUrl": space.carbon_source_url()})),
        Format::Human => {
            println!("reference data space running (Ctrl-C to stop)");
            println!();
            println!("DAPS                {}   (token: {}, keys: {})", info.daps.url, info.daps.token_url(), info.daps.jwks_url());
            println!("  admin key         {}", info.daps.admin_key);
            for (role, c) in [("provider", &info.provider), ("consumer", &info.consumer)] {
                println!("{role:<9} {:<9} DSP {}   version {}/.well-known/dspace-version", c.participant_id, c.dsp_url, c.root_url);
                println!("  management API    {}/v3   (X-Api-Key: {})", c.management_url, c.api_key);
                println!("  data plane        {}", c.data_plane_url);
            }
            println!("backend             {}", space.carbon_source_url());
            println!("object store (S3)   {}   region {}   access key {}   secret key {}", info.object_store.url, info.object_store.region, info.object_store.access_key, info.object_store.secret_key);
        }
    }
    wait_for_interrupt().await;
    space.shutdown().await;
    Ok(exit::SUCCESS)
}

async fn listen(args: &ServeArgs) -> Result<(tokio::net::TcpListener, String), CliError> {
    let listener = tokio::net::TcpListener::bind((args.bind.as_str(), args.port)).await.map_err(|e| CliError::setup(format!("cannot listen on {}:{}: {e}", args.bind, args.port)))?;
    let port = listener.local_addr().map_err(CliError::setup)?.port();
    let host = args.advertise.clone().unwrap_or_else(|| args.bind.clone());
    Ok((listener, format!("http://{host}:{port}")))
}

async fn serve_router(listener: tokio::net::TcpListener, router: axum::Router) -> Result<u8, CliError> {
    crate::serving::serve(listener, router, wait_for_interrupt()).await.map_err(CliError::setup)?;
    Ok(exit::SUCCESS)
}

fn required(value: &Option<String>, what: &str) -> Result<String, CliError> {
    value.clone().filter(|v| !v.is_empty()).ok_or_else(|| CliError::setup(format!("serving one component needs {what}")))
}

async fn serve_daps(args: &ServeArgs) -> Result<u8, CliError> {
    let admin_key = required(&args.daps_admin_key, "--daps-admin-key")?;
    let (listener, url) = listen(args).await?;
    let daps = Daps::new(DapsConfig { issuer: url.clone(), admin_key, ..DapsConfig::default() }).map_err(CliError::setup)?;
    println!("{}", json!({"component": "daps", "url": url, "token": daps.token_url(), "jwks": daps.jwks_url()}));
    serve_router(listener, crate::reference::daps::router(daps)).await
}

async fn serve_connector(args: &ServeArgs, faults: Faults) -> Result<u8, CliError> {
    let daps_url = required(&args.daps_url, "--daps-url")?.trim_end_matches('/').to_string();
    let admin_key = required(&args.daps_admin_key, "--daps-admin-key")?;
    let api_key = required(&args.api_key, "--api-key")?;
    let default_id = if args.component == Component::Provider { PROVIDER_ID } else { CONSUMER_ID };
    let participant = args.participant.clone().unwrap_or_else(|| default_id.to_string());
    let keys = ParticipantKeys::generate(&participant).map_err(CliError::setup)?;
    let http = reqwest::Client::new();
    // The DAPS may still be starting when the connector does (containers start together).
    let mut attempt = 0;
    loop {
        match crate::identity::register_keys(&http, &daps_url, &admin_key, &keys, None).await {
            Ok(_) => break,
            Err(e) if attempt < 50 => {
                tracing::info!("daps not ready yet: {e}");
                attempt += 1;
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            Err(e) => return Err(CliError::setup(format!("cannot register at the daps {daps_url}: {e}"))),
        }
    }
    let (listener, url) = listen(args).await?;
    let connector = Connector::new(ConnectorConfig {
        participant_id: participant.clone(),
        dsp_public_url: format!("{url}/dsp"),
        data_plane_public_url: format!("{url}/public"),
        api_key: api_key.clone(),
        daps_token_url: format!("{daps_url}/token"),
        daps_jwks_url: format!("{daps_url}/.well-known/jwks.json"),
        daps_issuer: daps_url.clone(),
        keys,
        versions: parse_versions(&args.dsp_version)?.unwrap_or_else(crate::reference::connector::all_versions),
        faults,
        ended_processes_kept: crate::reference::connector::ENDED_PROCESSES_KEPT,
    });
    // A provider in a container brings its own backend, so the data has somewhere to live.
    let router = connector.router().nest("/backend", crate::reference::backend::router());
    println!(
        "{}",
        json!({
            "component": args.component.to_possible_value_name(),
            "participantId": participant,
            "dsp": format!("{url}/dsp"),
            "management": format!("{url}/management"),
            "dataPlane": format!("{url}/public"),
            "backend": format!("{url}/backend"),
        })
    );
    serve_router(listener, router).await
}

async fn serve_store(args: &ServeArgs) -> Result<u8, CliError> {
    let access_key = required(&args.access_key, "--access-key")?;
    let secret_key = required(&args.secret_key, "--secret-key")?;
    let (listener, url) = listen(args).await?;
    let store = ObjectStore::new(ObjectStoreConfig { access_key, secret_key, region: "eu-central-1".to_string(), data_dir: None }).map_err(CliError::setup)?;
    println!("{}", json!({"component": "store", "url": url, "region": "eu-central-1"}));
    serve_router(listener, crate::reference::objectstore::router(store)).await
}

trait ValueName {
    fn to_possible_value_name(&self) -> String;
}

impl ValueName for Component {
    fn to_possible_value_name(&self) -> String {
        clap::ValueEnum::to_possible_value(self).map(|v| v.get_name().to_string()).unwrap_or_default()
    }
}
