//! The harness provider: an HTTP server on `127.0.0.1:0` that plays the provider side of DSP
//! 2025-1 against a connector under test in the consumer role.
//!
//! It answers what a consumer sends a provider (catalog and dataset requests, initial and
//! counter contract requests, `ACCEPTED` events, agreement verifications, terminations,
//! transfer requests and the consumer's transfer moves), checks the DAT of every request
//! against the DAPS key set, validates every body against the schemas, and applies the
//! provider's state machines. It never moves on its own: every provider move (offers,
//! agreements, `FINALIZED`, transfer starts, ...) is made by a check through
//! [`HarnessProvider`]'s methods in `moves`, so a case scripts exactly the conversation it
//! wants, invalid transitions included. Every request it receives and every message it sends
//! is recorded as an exchange.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, on, MethodFilter};
use axum::Router;
use serde_json::Value;
use tokio::sync::Notify;

use super::catalog;
use super::error::CounterpartyError;
use super::state::{Book, CallerToken, HarnessNegotiation, HarnessTransfer, Initiator, Pull, Received, ScriptedReply};
use crate::identity::{bearer, DatClient, DatRejection, DatVerifier};
use crate::protocol::binding::{Area, Route};
use crate::protocol::state::{NegotiationInput, TransferInput};
use crate::protocol::*;
use crate::report::model::{Body, Exchange};
use crate::serving::ServerTask;
use crate::recording::http::{check_exchange, header_pairs};
use crate::recording::recorder::body_of;
use crate::runner::wire;
use crate::vocab::Role;
use crate::recording::RecordingClient;

/// The name the harness's side of every exchange is recorded under, as in the rest of the run.
pub const RECORDED_AS: &str = "harness";

/// The DAT audience every connector accepts besides its own id (the IDS default), which a
/// consumer may use when it does not know the provider's participant id.
pub const ALL_CONNECTORS_AUDIENCE: &str = "idsc:IDS_CONNECTORS_ALL";

/// Where the harness's own tokens come from.
#[derive(Clone)]
pub enum OutgoingTokens {
    /// DATs from a DAPS for the connector under test's audience (cached by the client).
    Daps { client: DatClient, audience: String },
    /// One token, sent as it is (the target's DAPS is out of the harness's reach).
    Fixed(String),
    /// The connector under test needs no token.
    None,
}

/// How the harness checks the tokens the connector under test presents.
#[derive(Clone)]
pub enum IncomingTokens {
    /// As DATs of the DAPS behind this verifier, for the harness's participant id (or the IDS
    /// all-connectors audience).
    Daps(DatVerifier),
    /// Only that there is one (the target's DAPS key set is unknown to the harness).
    PresenceOnly,
    /// Not at all (the target is configured without authentication).
    Unchecked,
}

/// How to set up a harness provider.
#[derive(Clone)]
pub struct HarnessProviderConfig {
    /// The harness's participant id: the audience of tokens sent to it, and the assigner of
    /// its offers and agreements (the runtime registers it as `dsp-harness`).
    pub participant_id: String,
    pub outgoing: OutgoingTokens,
    pub incoming: IncomingTokens,
    /// How exchanges name the connector under test (`consumer`, `connector-under-test`, ...).
    pub peer_name: String,
    /// The client the harness's own messages go through; its recorder also takes the exchanges
    /// the harness receives.
    pub client: RecordingClient,
    /// Interface to bind: loopback unless a connector in a container must reach the harness.
    pub bind: String,
    /// Host name the connector under test reaches the harness by; the bind address if none.
    pub advertised_host: Option<String>,
    /// Connector's view -> harness's view, for the callback addresses the connector names
    /// when it runs in a container; empty on a shared network.
    pub url_rewrites: crate::runtime::UrlRewrite,
    /// The DSP version the harness serves and writes (its version document names it alone);
    /// the book and the checks keep to the 2025-1 form.
    pub version: ProtocolVersion,
}

/// A running harness provider. Dropping it stops the server.
pub struct HarnessProvider {
    pub(super) shared: Arc<Shared>,
    addr: SocketAddr,
    server: ServerTask,
}

/// The state the server and the moves share.
pub(super) struct Shared {
    pub(super) config: HarnessProviderConfig,
    /// The root URL, without a trailing slash.
    pub(super) url: String,
    pub(super) book: Mutex<Book>,
    pub(super) changed: Notify,
}

impl Shared {
    /// Locks the book. Never hold the guard across an `.await`.
    pub(super) fn book(&self) -> MutexGuard<'_, Book> {
        // Every mutation is a single insert or assignment, so a poisoned lock is still usable.
        self.book.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn dsp_url(&self) -> String {
        format!("{}/dsp", self.url)
    }

    pub(super) fn data_url(&self) -> String {
        format!("{}/data", self.url)
    }

    fn harness(&self) -> &str {
        &self.config.participant_id
    }

    /// A callback address the connector named, as the harness reaches it.
    fn reachable(&self, url: &str) -> String {
        self.config.url_rewrites.apply(url)
    }
}

impl HarnessProvider {
    /// Starts a harness provider on `127.0.0.1:0`.
    pub async fn start(config: HarnessProviderConfig) -> Result<HarnessProvider, CounterpartyError> {
        let listener = tokio::net::TcpListener::bind((config.bind.as_str(), 0)).await.map_err(CounterpartyError::Bind)?;
        let addr = listener.local_addr().map_err(CounterpartyError::Bind)?;
        let host = config.advertised_host.clone().unwrap_or_else(|| addr.ip().to_string());
        let url = format!("http://{host}:{}", addr.port());
        let shared = Arc::new(Shared { config, url, book: Mutex::new(Book::default()), changed: Notify::new() });
        let app = router(shared.clone());
        let server = ServerTask::spawn(listener, app);
        Ok(HarnessProvider { shared, addr, server })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The root URL (where the version document lives), without a trailing slash.
    pub fn url(&self) -> &str {
        &self.shared.url
    }

    /// The DSP base URL: the `counterPartyAddress` a consumer is given.
    pub fn dsp_url(&self) -> String {
        self.shared.dsp_url()
    }

    /// Where the harness serves data to pulls.
    pub fn data_url(&self) -> String {
        self.shared.data_url()
    }

    pub fn participant_id(&self) -> &str {
        self.shared.harness()
    }

    /// Whether the harness checks the tokens the connector under test presents.
    pub fn checks_tokens(&self) -> bool {
        matches!(self.shared.config.incoming, IncomingTokens::Daps(_))
    }

    pub fn peer_name(&self) -> &str {
        &self.shared.config.peer_name
    }

    pub fn client(&self) -> &RecordingClient {
        &self.shared.config.client
    }

    /// The offer a consumer should request, as a management API takes it.
    pub fn offer_json(&self) -> Value {
        catalog::offer_json(self.participant_id())
    }

    // -- what the harness knows -------------------------------------------------------------

    pub fn negotiation(&self, provider_pid: &ProviderPid) -> Option<HarnessNegotiation> {
        self.shared.book().negotiations.get(provider_pid.as_str()).cloned()
    }

    pub fn negotiation_by_consumer_pid(&self, consumer_pid: &str) -> Option<HarnessNegotiation> {
        self.shared.book().negotiation_by_consumer_pid(consumer_pid).cloned()
    }

    pub fn negotiations(&self) -> Vec<HarnessNegotiation> {
        self.shared.book().negotiations.values().cloned().collect()
    }

    pub fn transfer(&self, provider_pid: &ProviderPid) -> Option<HarnessTransfer> {
        self.shared.book().transfers.get(provider_pid.as_str()).cloned()
    }

    pub fn transfers(&self) -> Vec<HarnessTransfer> {
        self.shared.book().transfers.values().cloned().collect()
    }

    /// Every request received so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.shared.book().received.clone()
    }

    /// Every pull of the harness's data so far.
    pub fn pulls(&self) -> Vec<Pull> {
        self.shared.book().pulls.clone()
    }

    /// Orders the reply to the next incoming message of `kind`: `status` with the protocol's
    /// error body, and no state change.
    pub fn script_reply(&self, kind: MessageKind, status: u16, reason: &str) {
        self.shared.book().scripted.push(ScriptedReply { kind, status, reason: reason.to_string() });
        self.shared.changed.notify_waiters();
    }

    // -- waiting ----------------------------------------------------------------------------

    /// Waits until `found` picks something out of the book, or `timeout` passes.
    pub async fn wait_until<T>(&self, timeout: Duration, found: impl Fn(&Book) -> Option<T>) -> Option<T> {
        let deadline = Instant::now() + timeout;
        loop {
            // Register interest before looking, so a change between the look and the wait
            // still wakes us.
            let notified = self.shared.changed.notified();
            if let Some(hit) = found(&self.shared.book()) {
                return Some(hit);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || tokio::time::timeout(left, notified).await.is_err() {
                return found(&self.shared.book());
            }
        }
    }

    /// Waits for a received request that `wanted` accepts.
    pub async fn wait_for_received(&self, timeout: Duration, wanted: impl Fn(&Received) -> bool) -> Option<Received> {
        self.wait_until(timeout, |book| book.received.iter().find(|r| wanted(r)).cloned()).await
    }

    /// How many requests arrived so far: a mark for [`Self::wait_for_message`], so a check
    /// waits for the next message of a kind rather than finding an earlier one.
    pub fn received_count(&self) -> usize {
        self.shared.book().received.len()
    }

    /// Waits for a request that arrived after the first `after` ones and that `wanted` accepts.
    pub async fn wait_for_received_after(&self, after: usize, timeout: Duration, wanted: impl Fn(&Received) -> bool) -> Option<Received> {
        self.wait_until(timeout, |book| book.received.iter().skip(after).find(|r| wanted(r)).cloned()).await
    }

    /// Waits for a message of `kind` about the harness process `provider_pid` that arrived
    /// after the first `after` requests.
    pub async fn wait_for_message(&self, provider_pid: &ProviderPid, kind: MessageKind, after: usize, timeout: Duration) -> Option<Received> {
        self.wait_for_received_after(after, timeout, |r| r.kind == Some(kind) && r.provider_pid.as_ref() == Some(provider_pid)).await
    }

    /// Waits for the first negotiation a consumer opened with a contract request.
    pub async fn wait_for_requested_negotiation(&self, timeout: Duration) -> Option<HarnessNegotiation> {
        self.wait_until(timeout, |book| book.negotiations.values().find(|n| n.initiator == Initiator::Consumer).cloned()).await
    }

    /// Waits until the harness's side of a negotiation is in one of `states`.
    pub async fn wait_for_negotiation_state(&self, provider_pid: &ProviderPid, states: &[NegotiationState], timeout: Duration) -> Option<HarnessNegotiation> {
        self.wait_until(timeout, |book| book.negotiations.get(provider_pid.as_str()).filter(|n| states.contains(&n.state)).cloned()).await
    }

    /// Waits for the first transfer the consumer requested under `agreement_id`.
    pub async fn wait_for_requested_transfer(&self, agreement_id: &AgreementId, timeout: Duration) -> Option<HarnessTransfer> {
        self.wait_until(timeout, |book| book.transfers.values().find(|t| &t.agreement_id == agreement_id).cloned()).await
    }

    /// Waits until the harness's side of a transfer is in one of `states`.
    pub async fn wait_for_transfer_state(&self, provider_pid: &ProviderPid, states: &[TransferState], timeout: Duration) -> Option<HarnessTransfer> {
        self.wait_until(timeout, |book| book.transfers.get(provider_pid.as_str()).filter(|t| states.contains(&t.state)).cloned()).await
    }

    /// Waits for a pull of the harness's data.
    pub async fn wait_for_pull(&self, timeout: Duration) -> Option<Pull> {
        self.wait_until(timeout, |book| book.pulls.first().cloned()).await
    }

    /// Stops accepting connections and waits briefly for the server to wind down.
    pub async fn stop(self) {
        if let Err(e) = self.server.stop().await {
            tracing::warn!("the harness provider stopped with an error: {e}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The router

/// The endpoint a request reached: the version document, the harness's data, or a route of
/// the binding's table with the id its path names (empty for a path without one).
#[derive(Debug, Clone)]
enum Endpoint {
    Version,
    Data,
    Dsp(&'static Route, String),
}

impl Endpoint {
    fn area(&self) -> Area {
        match self {
            Endpoint::Dsp(route, _) => route.area,
            Endpoint::Version | Endpoint::Data => Area::Catalog,
        }
    }

    /// The message kind a POST to this endpoint must carry.
    fn expected(&self) -> Option<MessageKind> {
        match self {
            Endpoint::Dsp(route, _) => route.message,
            Endpoint::Version | Endpoint::Data => None,
        }
    }

    /// Whether the request opens a process (an initial contract or transfer request).
    fn opens_a_process(&self) -> bool {
        matches!(self, Endpoint::Dsp(route, _) if matches!(route.endpoint, binding::Endpoint::NegotiationRequest | binding::Endpoint::TransferRequest))
    }
}

/// The harness plays the provider: its DSP face is the provider's routes of the binding's
/// table, beside the version document and the data it serves to pulls.
fn router(shared: Arc<Shared>) -> Router {
    type S = State<Arc<Shared>>;
    let dsp = binding::routes_for(Role::Provider).fold(Router::new(), |router, route| {
        let method = match route.method {
            binding::Method::Get => MethodFilter::GET,
            binding::Method::Post => MethodFilter::POST,
        };
        let handler = if route.has_pid() {
            on(method, move |s: S, Path(id): Path<String>, m: Method, u: Uri, h: HeaderMap, b: Bytes| serve(s, Endpoint::Dsp(route, id), m, u, h, b))
        } else {
            on(method, move |s: S, m: Method, u: Uri, h: HeaderMap, b: Bytes| serve(s, Endpoint::Dsp(route, String::new()), m, u, h, b))
        };
        router.route(route.path, handler)
    });
    Router::new()
        .route(binding::WELL_KNOWN_VERSION, get(|s: S, m: Method, u: Uri, h: HeaderMap, b: Bytes| serve(s, Endpoint::Version, m, u, h, b)))
        .route("/data", get(|s: S, m: Method, u: Uri, h: HeaderMap, b: Bytes| serve(s, Endpoint::Data, m, u, h, b)))
        .nest("/dsp", dsp)
        // The run's cap on bodies read whole, instead of axum's default of 2 MB.
        .layer(axum::extract::DefaultBodyLimit::max(crate::recording::http::max_body()))
        .with_state(shared)
}

/// What the harness answers to one request, before it is recorded.
struct Answer {
    status: StatusCode,
    body: Option<Value>,
    refusal: Option<String>,
    provider_pid: Option<ProviderPid>,
    /// Raw bytes to send instead of a JSON body (data pulls).
    bytes: Option<&'static [u8]>,
}

impl Answer {
    fn ok(body: Option<Value>, provider_pid: Option<ProviderPid>) -> Answer {
        Answer { status: StatusCode::OK, body, refusal: None, provider_pid, bytes: None }
    }

    fn created(body: Value, provider_pid: ProviderPid) -> Answer {
        Answer { status: StatusCode::CREATED, body: Some(body), refusal: None, provider_pid: Some(provider_pid), bytes: None }
    }
}

/// A refusal: the status, why, and the pids the error body should carry.
struct Refusal {
    status: StatusCode,
    reason: String,
    consumer_pid: Option<ConsumerPid>,
    provider_pid: Option<ProviderPid>,
}

impl Refusal {
    fn new(status: StatusCode, reason: impl Into<String>) -> Refusal {
        Refusal { status, reason: reason.into(), consumer_pid: None, provider_pid: None }
    }

    fn bad(reason: impl Into<String>) -> Refusal {
        Refusal::new(StatusCode::BAD_REQUEST, reason)
    }

    fn pids(mut self, consumer_pid: Option<ConsumerPid>, provider_pid: Option<ProviderPid>) -> Refusal {
        self.consumer_pid = self.consumer_pid.or(consumer_pid);
        self.provider_pid = self.provider_pid.or(provider_pid);
        self
    }

    /// The protocol error body of the area. Negotiation and transfer errors carry both pids
    /// (the 2025-1 schemas require them), empty when unknown.
    fn into_answer(self, area: Area) -> Answer {
        let body = ErrorBody {
            provider_pid: Some(self.provider_pid.clone().unwrap_or_else(|| ProviderPid(String::new()))),
            consumer_pid: Some(self.consumer_pid.clone().unwrap_or_else(|| ConsumerPid(String::new()))),
            code: Some(self.status.as_u16().to_string()),
            reason: vec![Value::String(self.reason.clone())],
        };
        Answer {
            status: self.status,
            body: Some(codec_for(ProtocolVersion::V2025_1).encode(&area.error(body))),
            refusal: Some(self.reason),
            provider_pid: self.provider_pid.filter(|p| !p.0.is_empty()),
            bytes: None,
        }
    }
}

/// Serves one request: answers it, records it as an exchange from the connector under test,
/// logs it as received and wakes waiting checks.
async fn serve(State(shared): State<Arc<Shared>>, endpoint: Endpoint, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let started = Instant::now();
    let seq = shared.config.client.recorder().next_seq();
    let version = shared.config.version;
    // Read by meaning, in the 2025-1 form the book and the checks use; the exchange keeps the
    // wire form.
    let mut json: Option<Value> = serde_json::from_slice::<Value>(&body).ok().map(|j| wire::from_wire(version, &j));
    // The processId form names the process once; read back it fills both pids, but an initial
    // request names only the consumer's.
    if wire::shares_process_id(version) && endpoint.opens_a_process() {
        if let Some(Value::Object(object)) = json.as_mut() {
            object.remove("providerPid");
        }
    }
    let kind = json.as_ref().and_then(crate::schema::message_type).and_then(MessageKind::from_name);
    let token = match endpoint {
        Endpoint::Version | Endpoint::Data => CallerToken::NotNeeded,
        _ => authenticate(&shared, &headers).await,
    };
    let mut answer = match (&endpoint, &token) {
        // DSP 0.8 in its first form has no version document: its connectors have none.
        (Endpoint::Version, _) if version == ProtocolVersion::V0_8ProcessId => {
            Answer { status: StatusCode::NOT_FOUND, body: None, refusal: Some("DSP 0.8 (processId form) has no version document".to_string()), provider_pid: None, bytes: None }
        }
        (Endpoint::Version, _) => Answer::ok(Some(catalog::version_document(version)), None),
        (Endpoint::Data, _) => pull(&shared, &headers),
        (_, CallerToken::Refused(reason)) => {
            Refusal::new(StatusCode::UNAUTHORIZED, reason.clone()).pids(pid_field(&json, "consumerPid").map(ConsumerPid::from), None).into_answer(endpoint.area())
        }
        _ => match answer(&shared, &endpoint, &token, json.as_ref()) {
            Ok(answer) => answer,
            Err(refusal) => refusal.into_answer(endpoint.area()),
        },
    };

    if !matches!(endpoint, Endpoint::Version | Endpoint::Data) {
        answer.body = answer.body.map(|b| wire::to_wire(version, &b));
    }
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let mut exchange = Exchange {
        request_headers: header_pairs(&headers),
        request_body: body_of(&body, content_type),
        status: Some(answer.status.as_u16()),
        response_body: answer.body.clone().map(Body::Json),
        ..Exchange::request(seq, shared.config.peer_name.clone(), RECORDED_AS.to_string(), method.to_string(), format!("{}{}", shared.url, uri.path_and_query().map(|pq| pq.as_str()).unwrap_or("/")))
    };
    let mut response = match (answer.bytes, &answer.body) {
        (Some(bytes), _) => {
            exchange.response_body = Some(crate::recording::recorder::digest_body(bytes));
            (answer.status, [(header::CONTENT_TYPE, "application/json")], bytes).into_response()
        }
        (None, Some(body)) => (answer.status, axum::Json(body.clone())).into_response(),
        (None, None) => answer.status.into_response(),
    };
    if answer.body.is_some() && answer.bytes.is_none() {
        exchange.response_headers = vec![("content-type".to_string(), "application/json".to_string())];
    }
    if !matches!(endpoint, Endpoint::Data) {
        check_exchange(shared.config.client.schemas(), &mut exchange);
    }
    let violations = exchange.violations.iter().filter(|v| v.part == "request").cloned().collect();
    exchange.duration_ms = started.elapsed().as_millis() as u64;
    shared.config.client.recorder().record(exchange);
    if !matches!(endpoint, Endpoint::Data) {
        shared.book().received.push(Received {
            seq,
            method: method.to_string(),
            path: uri.path().to_string(),
            kind,
            body: json,
            token,
            violations,
            status: answer.status.as_u16(),
            refusal: answer.refusal,
            provider_pid: answer.provider_pid,
        });
    } else {
        let provider_pid = answer.provider_pid.clone();
        shared.book().pulls.push(Pull { seq, provider_pid, status: answer.status.as_u16() });
    }
    shared.changed.notify_waiters();
    if response.status() == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, axum::http::HeaderValue::from_static("Bearer"));
    }
    response
}

fn pid_field<'a>(json: &'a Option<Value>, name: &str) -> Option<&'a str> {
    json.as_ref().and_then(|j| j.get(name)).and_then(Value::as_str)
}

/// Checks the DAT of a request: for the harness's own id, the all-connectors audience or the
/// harness's DSP URL.
async fn authenticate(shared: &Shared, headers: &HeaderMap) -> CallerToken {
    let token = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(bearer).unwrap_or("");
    if matches!(shared.config.incoming, IncomingTokens::Unchecked) {
        return CallerToken::Unchecked;
    }
    if token.is_empty() {
        return CallerToken::Refused(DatRejection::Missing.to_string());
    }
    let IncomingTokens::Daps(verifier) = &shared.config.incoming else { return CallerToken::Unchecked };
    // EDC 0.4 addresses its DATs to the address it sends to: the harness's DSP URL.
    let own_url = shared.dsp_url();
    match verifier.verify_for_any(token, &[shared.harness(), ALL_CONNECTORS_AUDIENCE, &own_url]).await {
        Ok(claims) => {
            let named = claims.referring_connector.trim();
            let id = if named.is_empty() { claims.sub.trim() } else { named.trim_start_matches("urn:connector:") };
            CallerToken::Valid { participant_id: (!id.is_empty()).then(|| id.to_string()), audience: claims.aud.values().to_vec() }
        }
        Err(rejection) => CallerToken::Refused(rejection.to_string()),
    }
}

/// Serves a pull to the holder of a token the harness issued for a STARTED transfer.
fn pull(shared: &Shared, headers: &HeaderMap) -> Answer {
    let token = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(bearer).unwrap_or("");
    let book = shared.book();
    let refuse = |status: StatusCode, reason: &str, pid: Option<ProviderPid>| Answer {
        status,
        body: Some(serde_json::json!({"error": reason})),
        refusal: Some(reason.to_string()),
        provider_pid: pid,
        bytes: None,
    };
    let Some(pid) = book.pull_tokens.get(token) else { return refuse(StatusCode::UNAUTHORIZED, "missing or unknown token", None) };
    let provider_pid = Some(ProviderPid(pid.clone()));
    match book.transfers.get(pid) {
        Some(t) if t.state == TransferState::Started => {
            Answer { status: StatusCode::OK, body: None, refusal: None, provider_pid, bytes: Some(catalog::payload()) }
        }
        Some(t) => refuse(StatusCode::FORBIDDEN, &format!("transfer is {}", t.state), provider_pid),
        None => refuse(StatusCode::UNAUTHORIZED, "token names no transfer", provider_pid),
    }
}

/// Decodes a message of the kind the endpoint expects, refusing anything else with 400.
fn decode(endpoint: &Endpoint, shared: &Shared, json: Option<&Value>) -> Result<DspMessage, Refusal> {
    let expected = endpoint.expected().ok_or_else(|| Refusal::bad("this endpoint takes no message"))?;
    let json = json.ok_or_else(|| Refusal::bad("the body is not JSON"))?;
    let pids = || (pid_str(json, "consumerPid").map(ConsumerPid::from), pid_str(json, "providerPid").map(ProviderPid::from));
    let bad = |reason: String| {
        let (c, p) = pids();
        Refusal::bad(reason).pids(c, p)
    };
    let declared = crate::schema::message_type(json);
    if declared != Some(expected.name()) {
        return Err(bad(format!("expected @type {} but got {}", expected.name(), declared.unwrap_or("none"))));
    }
    // In 2025-1 the body is the wire form and is refused when it breaks its schema; in another
    // version its schema violations (of the wire form) are recorded on the exchange and the
    // received message, and it is read by meaning.
    if shared.config.version == ProtocolVersion::V2025_1 {
        if let Some(first) = shared.config.client.schemas().and_then(|s| s.validate(expected.name(), json).into_iter().next()) {
            return Err(bad(format!("invalid {}: {} at {}", expected.name(), first.message, first.instance_path)));
        }
    }
    codec_for(ProtocolVersion::V2025_1).decode_kind(expected, json).map_err(|e| bad(e.to_string()))
}

/// The harness's pid of a process a consumer opened: in the `processId` form of DSP 0.8 one
/// id names the process on both sides, so it is the consumer's.
fn own_pid(shared: &Shared, consumer_pid: &str) -> ProviderPid {
    if wire::shares_process_id(shared.config.version) {
        ProviderPid(consumer_pid.to_string())
    } else {
        ProviderPid::generate()
    }
}

fn pid_str<'a>(json: &'a Value, name: &str) -> Option<&'a str> {
    json.get(name).and_then(Value::as_str)
}

fn encode(message: DspMessage) -> Value {
    codec_for(ProtocolVersion::V2025_1).encode(&message)
}

fn caller_id(token: &CallerToken) -> Option<String> {
    match token {
        CallerToken::Valid { participant_id, .. } => participant_id.clone(),
        _ => None,
    }
}

/// The harness's answer to an authenticated request.
fn answer(shared: &Shared, endpoint: &Endpoint, token: &CallerToken, json: Option<&Value>) -> Result<Answer, Refusal> {
    use binding::Endpoint as E;
    let Endpoint::Dsp(route, pid) = endpoint else { return Err(Refusal::bad("this endpoint takes no message")) };
    match route.endpoint {
        E::CatalogRequest => {
            decode(endpoint, shared, json)?;
            Ok(Answer::ok(Some(encode(DspMessage::Catalog(catalog::catalog(shared.harness(), &shared.dsp_url())))), None))
        }
        E::Dataset => {
            if pid != catalog::DATASET_ID {
                return Err(Refusal::new(StatusCode::NOT_FOUND, format!("unknown dataset {pid}")));
            }
            let mut body = encode(DspMessage::Dataset(catalog::dataset(shared.harness(), &shared.dsp_url())));
            body["@context"] = serde_json::json!([codec::CONTEXT_2025_1]);
            Ok(Answer::ok(Some(body), None))
        }
        E::NegotiationRequest => initial_request(shared, endpoint, token, json),
        E::Negotiation => {
            let book = shared.book();
            let n = book.negotiations.get(pid).ok_or_else(|| Refusal::new(StatusCode::NOT_FOUND, format!("unknown negotiation {pid}")))?;
            let reply = ContractNegotiation {
                provider_pid: n.provider_pid.clone(),
                consumer_pid: n.consumer_pid.clone().unwrap_or_else(|| ConsumerPid(String::new())),
                state: n.state,
            };
            Ok(Answer::ok(Some(encode(DspMessage::ContractNegotiation(reply))), Some(n.provider_pid.clone())))
        }
        E::CounterRequest | E::NegotiationEvent | E::Verification | E::NegotiationTermination => negotiation_message(shared, endpoint, token, pid, json),
        E::TransferRequest => transfer_request(shared, endpoint, token, json),
        E::Transfer => {
            let book = shared.book();
            let t = book.transfers.get(pid).ok_or_else(|| Refusal::new(StatusCode::NOT_FOUND, format!("unknown transfer process {pid}")))?;
            let reply = TransferProcess { provider_pid: t.provider_pid.clone(), consumer_pid: t.consumer_pid.clone(), state: t.state };
            Ok(Answer::ok(Some(encode(DspMessage::TransferProcess(reply))), Some(t.provider_pid.clone())))
        }
        E::TransferStart => transfer_message(shared, endpoint, pid, TransferInput::Start, json),
        E::TransferCompletion => transfer_message(shared, endpoint, pid, TransferInput::Completion, json),
        E::TransferSuspension => transfer_message(shared, endpoint, pid, TransferInput::Suspension, json),
        E::TransferTermination => transfer_message(shared, endpoint, pid, TransferInput::Termination, json),
        // Not routed: the harness serves only the provider's routes.
        E::InitialOffer | E::CounterOffer | E::Agreement => Err(Refusal::new(StatusCode::NOT_FOUND, format!("the harness provider does not serve {}", route.path))),
    }
}

/// Applies a scripted reply, if the check ordered one for this kind.
fn scripted(shared: &Shared, kind: MessageKind, consumer_pid: Option<ConsumerPid>, provider_pid: Option<ProviderPid>) -> Result<(), Refusal> {
    match shared.book().take_script(kind) {
        Some(script) => {
            let status = StatusCode::from_u16(script.status).unwrap_or(StatusCode::BAD_REQUEST);
            Err(Refusal::new(status, script.reason).pids(consumer_pid, provider_pid))
        }
        None => Ok(()),
    }
}

/// A consumer's initial contract request opens a negotiation in REQUESTED.
fn initial_request(shared: &Shared, endpoint: &Endpoint, token: &CallerToken, json: Option<&Value>) -> Result<Answer, Refusal> {
    let DspMessage::ContractRequest(request) = decode(endpoint, shared, json)? else { unreachable!("decoded by kind") };
    let bad = |reason: String| Refusal::bad(reason).pids(Some(request.consumer_pid.clone()), request.provider_pid.clone());
    scripted(shared, MessageKind::ContractRequestMessage, Some(request.consumer_pid.clone()), None)?;
    if request.provider_pid.is_some() {
        return Err(bad("an initial contract request carries no providerPid".to_string()));
    }
    let callback = request.callback_address.clone().ok_or_else(|| bad("an initial contract request needs a callbackAddress".to_string()))?;
    let callback = shared.reachable(&callback);
    let ours = catalog::offer(shared.harness());
    if request.offer.id != ours.id {
        return Err(bad(format!("unknown offer {}; the harness offers {}", request.offer.id, ours.id)));
    }
    if request.offer.target.as_deref().is_some_and(|t| t != catalog::DATASET_ID) {
        return Err(bad(format!("offer {} targets {}, not {}", ours.id, request.offer.target.clone().unwrap_or_default(), catalog::DATASET_ID)));
    }
    if !catalog::same_rules(&ours, &request.offer) {
        return Err(bad(format!("offer {} does not carry the rules the harness offered", ours.id)));
    }
    let provider_pid = own_pid(shared, request.consumer_pid.as_str());
    let negotiation = HarnessNegotiation {
        provider_pid: provider_pid.clone(),
        consumer_pid: Some(request.consumer_pid.clone()),
        state: NegotiationState::Requested,
        callback_address: callback,
        consumer_id: caller_id(token),
        initiator: Initiator::Consumer,
        offer: request.offer.clone(),
        agreement: None,
    };
    let reply = ContractNegotiation { provider_pid: provider_pid.clone(), consumer_pid: request.consumer_pid.clone(), state: NegotiationState::Requested };
    shared.book().negotiations.insert(provider_pid.0.clone(), negotiation);
    Ok(Answer::created(encode(DspMessage::ContractNegotiation(reply)), provider_pid))
}

/// The pid check shared by every message about an existing process: both pids must name it.
fn check_pids(
    (consumer_pid, provider_pid): &(Option<ConsumerPid>, Option<ProviderPid>),
    ours_consumer: Option<&ConsumerPid>,
    ours_provider: &ProviderPid,
) -> Result<(), String> {
    if consumer_pid.as_ref() != ours_consumer || provider_pid.as_ref() != Some(ours_provider) {
        return Err(format!(
            "the message names consumerPid {} and providerPid {}, the process is {} / {}",
            consumer_pid.as_ref().map(ConsumerPid::as_str).unwrap_or("none"),
            provider_pid.as_ref().map(ProviderPid::as_str).unwrap_or("none"),
            ours_consumer.map(ConsumerPid::as_str).unwrap_or("none"),
            ours_provider
        ));
    }
    Ok(())
}

/// A consumer's message about an existing negotiation: counter-request, `ACCEPTED`,
/// verification or termination.
fn negotiation_message(shared: &Shared, endpoint: &Endpoint, token: &CallerToken, pid: &str, json: Option<&Value>) -> Result<Answer, Refusal> {
    let message = decode(endpoint, shared, json)?;
    let pids = message.pids();
    let mut book = shared.book();
    let Some(n) = book.negotiations.get(pid).cloned() else {
        return Err(Refusal::new(StatusCode::NOT_FOUND, format!("unknown negotiation {pid}")).pids(pids.0, pids.1));
    };
    let refuse = |status: StatusCode, reason: String| Refusal::new(status, reason).pids(n.consumer_pid.clone(), Some(n.provider_pid.clone()));
    check_pids(&pids, n.consumer_pid.as_ref(), &n.provider_pid).map_err(|r| refuse(StatusCode::BAD_REQUEST, r))?;
    let input = match &message {
        DspMessage::ContractRequest(_) => NegotiationInput::Request,
        DspMessage::ContractNegotiationEvent(e) if e.event_type == NegotiationEventType::Finalized => {
            return Err(refuse(StatusCode::BAD_REQUEST, "a consumer cannot finalize a negotiation".to_string()));
        }
        DspMessage::ContractNegotiationEvent(e) => NegotiationInput::Event(e.event_type),
        DspMessage::ContractAgreementVerification(_) => NegotiationInput::Verification,
        _ => NegotiationInput::Termination,
    };
    if let Some(script) = book.take_script(message.kind()) {
        let status = StatusCode::from_u16(script.status).unwrap_or(StatusCode::BAD_REQUEST);
        return Err(refuse(status, script.reason));
    }
    book.negotiations.apply(pid, input).map_err(|e| refuse(StatusCode::BAD_REQUEST, e.to_string()))?;
    let entry = book.negotiations.get_mut(pid).expect("looked up above under the same lock");
    if entry.consumer_id.is_none() {
        entry.consumer_id = caller_id(token);
    }
    if let DspMessage::ContractRequest(request) = &message {
        entry.offer = request.offer.clone();
    }
    Ok(Answer::ok(None, Some(n.provider_pid.clone())))
}

/// A consumer's transfer request under an agreement the harness finalized opens a transfer
/// process in REQUESTED.
fn transfer_request(shared: &Shared, endpoint: &Endpoint, token: &CallerToken, json: Option<&Value>) -> Result<Answer, Refusal> {
    let DspMessage::TransferRequest(request) = decode(endpoint, shared, json)? else { unreachable!("decoded by kind") };
    let bad = |reason: String| Refusal::bad(reason).pids(Some(request.consumer_pid.clone()), None);
    scripted(shared, MessageKind::TransferRequestMessage, Some(request.consumer_pid.clone()), None)?;
    if !catalog::FORMATS.contains(&request.format.as_str()) {
        return Err(bad(format!("unsupported format {}; the harness moves {}", request.format, catalog::FORMATS.join(", "))));
    }
    if request.format.ends_with("PUSH") && request.data_address.is_none() {
        return Err(bad(format!("a {} transfer needs a dataAddress to push to", request.format)));
    }
    let mut book = shared.book();
    let finalized = book
        .agreements
        .get(request.agreement_id.as_str())
        .and_then(|pid| book.negotiations.get(pid))
        .map(|n| n.state == NegotiationState::Finalized);
    match finalized {
        Some(true) => {}
        Some(false) => return Err(bad(format!("agreement {} is not finalized", request.agreement_id))),
        None => return Err(bad(format!("unknown agreement {}", request.agreement_id))),
    }
    let provider_pid = own_pid(shared, request.consumer_pid.as_str());
    let transfer = HarnessTransfer {
        provider_pid: provider_pid.clone(),
        consumer_pid: request.consumer_pid.clone(),
        state: TransferState::Requested,
        callback_address: shared.reachable(&request.callback_address),
        consumer_id: caller_id(token),
        agreement_id: request.agreement_id.clone(),
        format: request.format.clone(),
        destination: request.data_address.clone(),
        data_address: None,
    };
    let reply = TransferProcess { provider_pid: provider_pid.clone(), consumer_pid: request.consumer_pid.clone(), state: TransferState::Requested };
    book.transfers.insert(provider_pid.0.clone(), transfer);
    Ok(Answer::created(encode(DspMessage::TransferProcess(reply)), provider_pid))
}

/// A consumer's move in an existing transfer: restart, completion, suspension, termination.
fn transfer_message(shared: &Shared, endpoint: &Endpoint, pid: &str, input: TransferInput, json: Option<&Value>) -> Result<Answer, Refusal> {
    let message = decode(endpoint, shared, json)?;
    let pids = message.pids();
    let mut book = shared.book();
    let Some(t) = book.transfers.get(pid).cloned() else {
        return Err(Refusal::new(StatusCode::NOT_FOUND, format!("unknown transfer process {pid}")).pids(pids.0, pids.1));
    };
    let refuse = |status: StatusCode, reason: String| Refusal::new(status, reason).pids(Some(t.consumer_pid.clone()), Some(t.provider_pid.clone()));
    check_pids(&pids, Some(&t.consumer_pid), &t.provider_pid).map_err(|r| refuse(StatusCode::BAD_REQUEST, r))?;
    if let Some(script) = book.take_script(message.kind()) {
        let status = StatusCode::from_u16(script.status).unwrap_or(StatusCode::BAD_REQUEST);
        return Err(refuse(status, script.reason));
    }
    // A consumer restarts only a suspended transfer; the state machine also allows a start
    // in REQUESTED, which is the provider's move alone.
    if input == TransferInput::Start && t.state != TransferState::Suspended {
        return Err(refuse(StatusCode::BAD_REQUEST, format!("a consumer cannot start a transfer in state {}", t.state)));
    }
    let next = book.transfers.apply(pid, input).map_err(|e| refuse(StatusCode::BAD_REQUEST, e.to_string()))?.to;
    if next.is_terminal() || next == TransferState::Suspended {
        book.revoke_tokens(pid);
    }
    Ok(Answer::ok(None, Some(t.provider_pid.clone())))
}
