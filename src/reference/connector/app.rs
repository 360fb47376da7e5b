//! The reference connector itself: configuration, shared state, identity on both directions
//! of the wire, and the router that serves its four faces (DSP, management API, public data
//! plane, version document) on one port.
//!
//! An unauthenticated caller learns little: a refused DAT is answered with the rejection's
//! short code (`token refused (expired)`), never the expected audience, issuer or key id; the
//! full reason goes to the log at debug level.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::Router;
use serde_json::Value;

use super::error::DspError;
use super::faults::{Fault, Faults};
use super::store::Store;
use crate::identity::{bearer, DatRejection, DatVerifier};
use crate::identity::{DatClient, ParticipantKeys};
use crate::protocol::{binding, codec_for, ProtocolVersion, WireCodec};
use crate::schema::SchemaSet;

/// The DAT audience every connector accepts besides its own participant id (IDS default).
pub const ALL_CONNECTORS_AUDIENCE: &str = "idsc:IDS_CONNECTORS_ALL";

/// How long an outgoing DSP request may take before the connector gives up on the peer.
pub const PEER_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct ConnectorConfig {
    /// The participant id, also the audience of DATs sent to this connector.
    pub participant_id: String,
    /// The DSP base URL this connector advertises (in its catalog and as callback address).
    /// It may differ from where it listens, for example behind a recording proxy.
    pub dsp_public_url: String,
    /// The base URL of the public data plane advertised in endpoint data references.
    pub data_plane_public_url: String,
    /// The management API key (`X-Api-Key`).
    pub api_key: String,
    pub daps_token_url: String,
    pub daps_jwks_url: String,
    pub daps_issuer: String,
    pub keys: ParticipantKeys,
    /// The DSP versions this connector serves (provider) and speaks (consumer), each with its
    /// own codec: 2025-1 at `dsp_public_url`, the others below it (`binding::version_suffix`).
    pub versions: Vec<ProtocolVersion>,
    pub faults: Faults,
    /// How many ended negotiations and ended transfers the store keeps before it forgets the
    /// oldest ([`super::store::ENDED_PROCESSES_KEPT`] unless a test wants fewer).
    pub ended_processes_kept: usize,
}

/// Every version the codecs speak, the default of [`ConnectorConfig::versions`].
pub fn all_versions() -> Vec<ProtocolVersion> {
    ProtocolVersion::ALL.to_vec()
}

/// A running reference connector (cheap to clone).
///
/// A clone made with [`Connector::at`] speaks one version: the router of that version's DSP
/// face hands it to its handlers, so every body they read and write goes through its codec.
#[derive(Clone)]
pub struct Connector {
    inner: Arc<Inner>,
    version: ProtocolVersion,
}

struct Inner {
    config: ConnectorConfig,
    store: Mutex<Store>,
    http: reqwest::Client,
    dat: DatClient,
    verifier: DatVerifier,
    schemas: SchemaSet,
    /// What each counterparty's version document made this consumer choose, by root URL.
    chosen: Mutex<std::collections::HashMap<String, Chosen>>,
}

/// The version a consumer speaks with a counterparty, and the DSP base of that version there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chosen {
    pub version: ProtocolVersion,
    pub base: String,
}

/// Who sent an incoming DSP request, as its DAT says.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The caller's participant id, when the token named one.
    pub participant_id: Option<String>,
}

impl Connector {
    pub fn new(config: ConnectorConfig) -> Connector {
        let http = reqwest::Client::builder().timeout(PEER_TIMEOUT).build().unwrap_or_default();
        let dat = DatClient::new(config.daps_token_url.clone(), config.keys.clone(), http.clone());
        let verifier = DatVerifier::new(config.daps_jwks_url.clone(), config.daps_issuer.clone(), http.clone());
        let version = config.versions.iter().copied().max_by_key(|v| rank(*v)).unwrap_or(ProtocolVersion::V2025_1);
        Connector {
            inner: Arc::new(Inner {
                config,
                store: Mutex::new(Store::default()),
                http,
                dat,
                verifier,
                schemas: SchemaSet::embedded_2025_1(),
                chosen: Mutex::new(Default::default()),
            }),
            version,
        }
    }

    /// The same connector speaking `version`.
    pub fn at(&self, version: ProtocolVersion) -> Connector {
        Connector { inner: self.inner.clone(), version }
    }

    /// The version this handle speaks.
    pub fn version(&self) -> ProtocolVersion {
        self.version
    }

    /// The versions this connector serves and speaks, newest last.
    pub fn versions(&self) -> Vec<ProtocolVersion> {
        let mut versions = self.inner.config.versions.clone();
        versions.sort_by_key(|v| rank(*v));
        versions.dedup();
        versions
    }

    /// This connector's DSP base URL for a version (its catalog's endpoint, its callback address).
    pub fn dsp_url(&self, version: ProtocolVersion) -> String {
        format!("{}{}", self.inner.config.dsp_public_url.trim_end_matches('/'), binding::version_suffix(version))
    }

    /// A choice made before for the counterparty at `root`.
    pub fn chosen_for(&self, root: &str) -> Option<Chosen> {
        self.inner.chosen.lock().unwrap_or_else(|e| e.into_inner()).get(root).cloned()
    }

    pub fn remember_choice(&self, root: &str, chosen: Chosen) {
        self.inner.chosen.lock().unwrap_or_else(|e| e.into_inner()).insert(root.to_string(), chosen);
    }

    pub fn config(&self) -> &ConnectorConfig {
        &self.inner.config
    }

    pub fn fault(&self, fault: Fault) -> bool {
        self.inner.config.faults.has(fault)
    }

    pub fn participant_id(&self) -> &str {
        &self.inner.config.participant_id
    }

    pub fn codec(&self) -> &'static dyn WireCodec {
        codec_for(self.version)
    }

    pub fn schemas(&self) -> &SchemaSet {
        &self.inner.schemas
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    /// Locks the store. Never hold the guard across an `.await`.
    ///
    /// Every lock first forgets the oldest ended processes beyond the cap, so however many
    /// flows a run makes, the store holds at most that many ended ones (a check of two
    /// lengths while under it).
    pub fn store(&self) -> MutexGuard<'_, Store> {
        // A panic while holding the lock would poison it; the data is still consistent
        // because every mutation is a single assignment, so keep serving.
        let mut store = self.inner.store.lock().unwrap_or_else(|e| e.into_inner());
        store.forget_old_ended(self.inner.config.ended_processes_kept);
        store
    }

    /// The whole connector on one port: `/dsp` (2025-1) and `/dsp/<version>` (the others it
    /// serves), `/management`, `/public` and the version document at the root.
    pub fn router(&self) -> Router {
        let mut router = Router::new().route("/health", axum::routing::get(|| async { "ok" })).merge(super::dsp::version_router(self.clone()));
        for version in self.versions() {
            router = router.nest(&format!("/dsp{}", binding::version_suffix(version)), super::dsp::router(self.at(version)));
        }
        router
            .nest("/management", super::management::router(self.clone()).layer(axum::middleware::from_fn(limit_management_body)))
            .nest("/public", super::dataplane::router(self.clone()))
    }

    /// Checks the DAT of an incoming DSP request: signature via the DAPS keys, expiry,
    /// not-before, issuer, and that this connector is in its audience.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, DspError> {
        let token = headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(bearer).unwrap_or("");
        if token.is_empty() {
            if self.fault(Fault::AcceptMissingToken) {
                return Ok(Caller { participant_id: None });
            }
            return Err(DspError::unauthorized(public_reason(&DatRejection::Missing)));
        }
        let mut result = self.inner.verifier.verify(token, self.participant_id()).await;
        if let Err(DatRejection::WrongAudience { found, .. }) = &result {
            if found.iter().any(|a| a == ALL_CONNECTORS_AUDIENCE) {
                result = self.inner.verifier.verify(token, ALL_CONNECTORS_AUDIENCE).await;
            }
        }
        match result {
            Ok(claims) => Ok(Caller { participant_id: participant_of(&claims.referring_connector, &claims.sub) }),
            Err(rejection) => {
                let tolerated = match &rejection {
                    DatRejection::Expired { .. } => self.fault(Fault::AcceptExpiredToken),
                    DatRejection::WrongAudience { .. } => self.fault(Fault::AcceptWrongAudience),
                    DatRejection::UnknownKey { .. } | DatRejection::BadSignature => self.fault(Fault::AcceptUnknownKey),
                    _ => false,
                };
                if tolerated {
                    Ok(Caller { participant_id: None })
                } else {
                    tracing::debug!(participant = %self.participant_id(), %rejection, "refused a dat");
                    Err(DspError::unauthorized(public_reason(&rejection)))
                }
            }
        }
    }

    /// Sends a DSP message to a peer with a DAT for `audience`. Returns the status and the
    /// JSON body of the reply, if it had one.
    pub async fn send(&self, base: &str, path: &str, audience: Option<&str>, body: &Value) -> Result<(StatusCode, Option<Value>), String> {
        let url = crate::protocol::binding::join(base, path);
        let body = self.shape_outgoing(body);
        let mut request = self.inner.http.post(&url).json(&body);
        if !self.fault(Fault::SendNoToken) {
            let token = self.inner.dat.token(audience.unwrap_or(ALL_CONNECTORS_AUDIENCE)).await.map_err(|e| format!("no token from the daps: {e}"))?;
            request = request.header(axum::http::header::AUTHORIZATION, token);
        }
        let response = request.send().await.map_err(|e| format!("{url}: {e}"))?;
        let status = StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
        let text = response.text().await.map_err(|e| format!("{url}: reading the reply: {e}"))?;
        let json = serde_json::from_str(&text).ok();
        Ok((status, json))
    }
}

impl Connector {
    /// Applies the faults that break outgoing messages.
    fn shape_outgoing(&self, body: &Value) -> Value {
        let mut body = body.clone();
        if let Some(object) = body.as_object_mut() {
            if self.fault(Fault::SendMalformed) {
                object.remove("@context");
            }
            // The older dialects prefix their terms (`dspace:TransferStartMessage`, `dspace:providerPid`).
            let transfer = object.get("@type").and_then(Value::as_str).is_some_and(|t| t.trim_start_matches("dspace:").starts_with("Transfer"));
            let wrong_pids = if transfer { self.fault(Fault::TransferWrongPidsSent) } else { self.fault(Fault::WrongPidsSent) };
            for key in ["providerPid", "dspace:providerPid", "dspace:processId"] {
                if wrong_pids && object.contains_key(key) {
                    object.insert(key.to_string(), Value::String("urn:uuid:not-the-provider-pid".to_string()));
                }
            }
        }
        body
    }
}

/// Orders versions oldest first, as [`ProtocolVersion::ALL`] lists them.
pub fn rank(version: ProtocolVersion) -> usize {
    ProtocolVersion::ALL.iter().position(|v| *v == version).unwrap_or(0)
}

/// What a caller whose DAT was refused is told: the kind of rejection, not the audience,
/// issuer or key the connector expected.
pub fn public_reason(rejection: &DatRejection) -> String {
    match rejection {
        DatRejection::Missing => "missing token".to_string(),
        other => format!("token refused ({})", other.code()),
    }
}

/// The longest management API body the connector reads (2 MiB).
pub const MANAGEMENT_BODY_LIMIT: usize = 2 << 20;

/// Refuses a management request body longer than [`MANAGEMENT_BODY_LIMIT`] with 413 and the
/// management API's error body (EDC's `[{message, type}]`) instead of axum's plain text.
async fn limit_management_body(request: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let declared = crate::reference::body::declared_length(request.headers());
    let (parts, body) = request.into_parts();
    match crate::reference::body::read_limited(body, declared, MANAGEMENT_BODY_LIMIT).await {
        Ok(bytes) => next.run(axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes))).await,
        Err(e) => {
            let status = match e {
                crate::reference::body::BodyError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                crate::reference::body::BodyError::Broken(_) => StatusCode::BAD_REQUEST,
            };
            let kind = if status == StatusCode::PAYLOAD_TOO_LARGE { "PayloadTooLarge" } else { "BadRequest" };
            (status, axum::Json(serde_json::json!([{ "message": e.to_string(), "type": kind }]))).into_response()
        }
    }
}

/// Whether `given` is the management API key, compared in constant time so the time of a
/// refusal does not tell how much of a guess was right. Both sides are hashed first, so not
/// even the key's length shows.
pub fn api_key_matches(given: &str, expected: &str) -> bool {
    use sha2::Digest as _;
    let (given, expected_hash) = (sha2::Sha256::digest(given.as_bytes()), sha2::Sha256::digest(expected.as_bytes()));
    !expected.is_empty() && aws_lc_rs::constant_time::verify_slices_are_equal(&given, &expected_hash).is_ok()
}

/// The participant id a DAT names: its `referringConnector` without the `urn:connector:`
/// prefix the reference DAPS registers, else its subject.
pub fn participant_of(referring_connector: &str, subject: &str) -> Option<String> {
    let named = referring_connector.trim();
    let id = if named.is_empty() { subject.trim() } else { named.trim_start_matches("urn:connector:") };
    (!id.is_empty()).then(|| id.to_string())
}
