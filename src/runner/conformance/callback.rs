//! The harness's own DSP endpoint: one HTTP server per run that connectors under test send
//! their messages to, whether the harness plays consumer (agreements, offers, transfer starts
//! arrive at its callback address) or provider (requests arrive at its DSP base).
//!
//! Each case gets its own mailbox under `/c/{token}`, so cases can run concurrently on one
//! port (one port is what a firewall or a container network has to let through). Every
//! incoming request is recorded in the case's exchanges, typed and schema-checked like the
//! harness's own requests, and answered by the case's responder (200 with no body unless the
//! case installs another).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::Value;
use tokio::sync::Notify;

use super::target::CallbackConfig;
use crate::report::model::Exchange;
use crate::serving::ServerTask;
use crate::recording::http::{check_exchange, header_pairs};
use crate::recording::recorder::body_of;
use crate::runner::RunnerError;
use crate::recording::Recorder;
use crate::protocol::ProtocolVersion;
use crate::runner::wire;
use crate::schema::{message_type, SchemaSet};

/// One request a connector sent to the harness.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// The `seq` of the recorded exchange.
    pub seq: u64,
    pub method: String,
    /// The path below the case's base URL, starting with `/` (`/negotiations/{pid}/agreement`).
    pub path: String,
    pub headers: HeaderMap,
    /// The body, when it was JSON.
    pub body: Option<Value>,
    /// The body's `@type`, when it had one.
    pub message_type: Option<String>,
}

impl Incoming {
    /// A string member of the body (`consumerPid`, `providerPid`, ...).
    pub fn str_field(&self, name: &str) -> Option<&str> {
        self.body.as_ref()?.get(name)?.as_str()
    }

    /// The `Authorization` header, when there was one.
    pub fn authorization(&self) -> Option<&str> {
        self.headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok())
    }
}

/// What the harness answers to an incoming request.
#[derive(Debug, Clone, PartialEq)]
pub struct CallbackReply {
    pub status: u16,
    pub body: Option<Value>,
}

impl CallbackReply {
    pub fn ok() -> CallbackReply {
        CallbackReply { status: 200, body: None }
    }

    pub fn json(status: u16, body: Value) -> CallbackReply {
        CallbackReply { status, body: Some(body) }
    }
}

/// Decides the answer to each incoming request of one case.
pub type Responder = Arc<dyn Fn(&Incoming) -> CallbackReply + Send + Sync>;

/// The messages one case received, and how it answers.
pub struct Mailbox {
    base_url: String,
    from: String,
    recorder: Recorder,
    schemas: Option<SchemaSet>,
    /// The version the connector writes in: incoming bodies are read back to the 2025-1 form,
    /// the responder's bodies written in it.
    version: ProtocolVersion,
    received: Mutex<Vec<Incoming>>,
    arrived: Notify,
    responder: Mutex<Option<Responder>>,
}

impl Mailbox {
    /// The URL connectors are told to call: the callback address of a harness consumer, the
    /// DSP base of a harness provider.
    pub fn url(&self) -> &str {
        &self.base_url
    }

    /// Everything received so far, in arrival order.
    pub fn received(&self) -> Vec<Incoming> {
        self.received.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Replaces the responder; `None` restores "200, no body".
    pub fn set_responder(&self, responder: Option<Responder>) {
        *self.responder.lock().unwrap_or_else(|p| p.into_inner()) = responder;
    }

    /// Waits until a received request satisfies `wanted` (looking at earlier ones too), or
    /// `timeout` passes. `skip` earlier matches are passed over, so a case can wait for the
    /// second agreement of a process.
    pub async fn wait_for(&self, wanted: impl Fn(&Incoming) -> bool, skip: usize, timeout: Duration) -> Option<Incoming> {
        let deadline = Instant::now() + timeout;
        loop {
            // Register interest before looking, so an arrival between the look and the wait
            // still wakes this task.
            let notified = self.arrived.notified();
            if let Some(found) = self.received().into_iter().filter(|m| wanted(m)).nth(skip) {
                return Some(found);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || tokio::time::timeout(left, notified).await.is_err() {
                return self.received().into_iter().filter(|m| wanted(m)).nth(skip);
            }
        }
    }
}

/// Where the hub serves the carbon-emissions fixture, the data of the harness's own asset when
/// the target file names no `[dataset] source_url`.
pub const ASSET_DATA_PATH: &str = "/data/carbon-emissions.json";

/// The running callback server of a run. Dropping it stops the server.
pub struct CallbackHub {
    public_base: String,
    /// The same server as the harness itself reaches it (loopback when bound to all interfaces).
    local_base: String,
    mailboxes: Arc<Mutex<HashMap<String, Arc<Mailbox>>>>,
    /// Held only so that dropping the hub stops its server.
    _server: ServerTask,
}

type Boxes = Arc<Mutex<HashMap<String, Arc<Mailbox>>>>;

impl CallbackHub {
    pub async fn start(config: &CallbackConfig) -> Result<CallbackHub, RunnerError> {
        let listener = tokio::net::TcpListener::bind((config.bind.as_str(), config.port))
            .await
            .map_err(|source| RunnerError::Bind { what: "the harness callback server".to_string(), source })?;
        let addr: SocketAddr = listener.local_addr().map_err(|source| RunnerError::Bind { what: "the harness callback server".to_string(), source })?;
        let host = config.advertised_host.clone().unwrap_or_else(|| addr.ip().to_string());
        let public_base = format!("http://{host}:{}", addr.port());
        let local_ip = if addr.ip().is_unspecified() { std::net::IpAddr::from([127, 0, 0, 1]) } else { addr.ip() };
        let local_base = format!("http://{}", SocketAddr::new(local_ip, addr.port()));
        let mailboxes: Boxes = Arc::default();
        let app = Router::new()
            .route(ASSET_DATA_PATH, axum::routing::get(asset_data))
            .route("/c/{token}", axum::routing::any(receive_root))
            .route("/c/{token}/{*rest}", axum::routing::any(receive))
            // The run's cap on bodies read whole, instead of axum's default of 2 MB.
            .layer(axum::extract::DefaultBodyLimit::max(crate::recording::http::max_body()))
            .with_state(mailboxes.clone());
        Ok(CallbackHub { public_base, local_base, mailboxes, _server: ServerTask::spawn(listener, app) })
    }

    /// Opens a mailbox whose requests are recorded into `recorder` as sent by `from`, a
    /// connector speaking DSP 2025-1.
    pub fn open(&self, from: &str, recorder: Recorder, schemas: SchemaSet) -> Arc<Mailbox> {
        self.open_in(from, recorder, Some(schemas), ProtocolVersion::V2025_1)
    }

    /// Opens a mailbox for a connector speaking `version`, its messages validated against
    /// `schemas` (none: recorded unvalidated).
    pub fn open_in(&self, from: &str, recorder: Recorder, schemas: Option<SchemaSet>, version: ProtocolVersion) -> Arc<Mailbox> {
        let token = uuid::Uuid::new_v4().simple().to_string();
        let mailbox = Arc::new(Mailbox {
            base_url: format!("{}/c/{token}", self.public_base),
            from: from.to_string(),
            recorder,
            schemas,
            version,
            received: Mutex::new(Vec::new()),
            arrived: Notify::new(),
            responder: Mutex::new(None),
        });
        self.mailboxes.lock().unwrap_or_else(|p| p.into_inner()).insert(token, mailbox.clone());
        mailbox
    }

    /// Closes a mailbox; later requests to it are answered 404.
    pub fn close(&self, mailbox: &Mailbox) {
        let token = mailbox.base_url.rsplit('/').next().unwrap_or_default().to_string();
        self.mailboxes.lock().unwrap_or_else(|p| p.into_inner()).remove(&token);
    }

    pub fn base_url(&self) -> &str {
        &self.public_base
    }

    /// The base URL as the harness itself reaches the server.
    pub fn local_base_url(&self) -> &str {
        &self.local_base
    }
}

/// The carbon-emissions fixture, served whole (it is small and compiled in).
async fn asset_data() -> Response {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], crate::reference::backend::CARBON_EMISSIONS).into_response()
}

async fn receive_root(State(boxes): State<Boxes>, Path(token): Path<String>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    handle(boxes, token, String::new(), method, uri, headers, body)
}

async fn receive(
    State(boxes): State<Boxes>,
    Path((token, rest)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(boxes, token, rest, method, uri, headers, body)
}

fn handle(boxes: Boxes, token: String, rest: String, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let started = Instant::now();
    let Some(mailbox) = boxes.lock().unwrap_or_else(|p| p.into_inner()).get(&token).cloned() else {
        return (StatusCode::NOT_FOUND, "no case is listening here").into_response();
    };
    let content_type = headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    // The checks read what came in the 2025-1 form; the exchange keeps the wire form.
    let json: Option<Value> = serde_json::from_slice::<Value>(&body).ok().map(|j| wire::from_wire(mailbox.version, &j));
    let seq = mailbox.recorder.next_seq();
    let incoming = Incoming {
        seq,
        method: method.to_string(),
        path: format!("/{rest}"),
        headers: headers.clone(),
        message_type: json.as_ref().and_then(message_type).map(str::to_string),
        body: json,
    };
    let responder = mailbox.responder.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let mut reply = responder.map(|r| r(&incoming)).unwrap_or_else(CallbackReply::ok);
    reply.body = reply.body.map(|b| wire::to_wire(mailbox.version, &b));
    let reply_bytes = reply.body.as_ref().map(|b| b.to_string().into_bytes()).unwrap_or_default();
    let mut exchange = Exchange {
        request_headers: header_pairs(&headers),
        request_body: body_of(&body, content_type),
        status: Some(reply.status),
        response_headers: if reply.body.is_some() { vec![("content-type".to_string(), "application/json".to_string())] } else { Vec::new() },
        response_body: body_of(&reply_bytes, Some("application/json")),
        duration_ms: started.elapsed().as_millis() as u64,
        ..Exchange::request(seq, mailbox.from.clone(), "harness".to_string(), method.to_string(), format!("{}{}", mailbox.base_url.split("/c/").next().unwrap_or_default(), uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")))
    };
    check_exchange(mailbox.schemas.as_ref(), &mut exchange);
    mailbox.recorder.record(exchange);
    mailbox.received.lock().unwrap_or_else(|p| p.into_inner()).push(incoming);
    mailbox.arrived.notify_waiters();
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match reply.body {
        Some(body) => (status, axum::Json(body)).into_response(),
        None => status.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn messages_land_in_their_case_mailbox_and_are_recorded() {
        let hub = CallbackHub::start(&CallbackConfig::default()).await.unwrap();
        let recorder = Recorder::new();
        let a = hub.open("provider", recorder.clone(), SchemaSet::embedded_2025_1());
        let b = hub.open("provider", Recorder::new(), SchemaSet::embedded_2025_1());
        a.set_responder(Some(Arc::new(|m: &Incoming| if m.path.ends_with("/request") { CallbackReply::json(201, serde_json::json!({"x": 1})) } else { CallbackReply::ok() })));
        let http = reqwest::Client::new();
        let body = serde_json::json!({"@type": "ContractAgreementMessage", "consumerPid": "c"});
        let reply = http.post(format!("{}/negotiations/c/agreement", a.url())).json(&body).send().await.unwrap();
        assert_eq!(reply.status().as_u16(), 200);
        let reply = http.post(format!("{}/negotiations/request", a.url())).json(&body).send().await.unwrap();
        assert_eq!(reply.status().as_u16(), 201);
        let got = a.wait_for(|m| m.message_type.as_deref() == Some("ContractAgreementMessage"), 0, Duration::from_secs(1)).await.unwrap();
        assert_eq!(got.path, "/negotiations/c/agreement");
        assert_eq!(got.str_field("consumerPid"), Some("c"));
        assert!(b.received().is_empty());
        let exchanges = recorder.drain();
        assert_eq!(exchanges.len(), 2);
        assert_eq!(exchanges[0].request_type.as_deref(), Some("ContractAgreementMessage"));
        assert!(!exchanges[0].violations.is_empty(), "an incomplete agreement is schema-checked");
        hub.close(&a);
        let reply = http.post(format!("{}/x", a.url())).send().await.unwrap();
        assert_eq!(reply.status().as_u16(), 404);
        assert!(a.wait_for(|_| true, 5, Duration::from_millis(20)).await.is_none());
    }
}
