//! The recording HTTP client: every request the harness itself sends goes through it, so the
//! report shows each exchange whether it succeeded, failed or timed out.
//!
//! Bodies of DSP exchanges are typed by their `@type` and validated against the run's schema
//! set as they are recorded; management API calls are recorded but not validated, since their
//! shapes are the connector vendor's and not the protocol's. Data plane downloads go through
//! [`RecordingClient::download`], which hashes the payload while it streams and never holds it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::{HeaderMap, CONTENT_TYPE};
use reqwest::StatusCode;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::error::HttpError;
use super::recorder::{body_of, Recorder};
use crate::protocol::binding::WELL_KNOWN_VERSION;
use crate::report::model::{Body, Exchange, Violation};
use crate::schema::{message_type, SchemaSet};

/// The most of an error body a download keeps before it only hashes the rest.
const ERROR_BODY_LIMIT: usize = 1024 * 1024;

/// The most of a DSP or management reply the harness reads before it gives up on the exchange:
/// a peer that streams without end must cost one case, not the machine's memory.
pub const DEFAULT_MAX_BODY: usize = 16 * 1024 * 1024;

/// This process's cap (`run --max-body`): every recording client starts with it, and the
/// harness's own servers (callback hub, harness provider) refuse longer requests with 413.
/// Process-wide because one run has one cap and the clients and servers that need it are made
/// in many places; only `cli` sets it, once, before anything starts.
static MAX_BODY: AtomicUsize = AtomicUsize::new(DEFAULT_MAX_BODY);

/// The cap on bodies read whole, [`DEFAULT_MAX_BODY`] unless `run --max-body` set another.
pub fn max_body() -> usize {
    MAX_BODY.load(Ordering::Relaxed)
}

/// Sets the process's cap; for `cli` at start-up.
pub fn set_max_body(limit: usize) {
    MAX_BODY.store(limit.max(1), Ordering::Relaxed);
}

/// Whether the bodies of an exchange are DSP messages to type and validate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checking {
    /// Bodies are DSP messages (or the version document): set their types, validate them.
    Dsp,
    /// Bodies are not the protocol's business (management APIs, data plane payloads).
    None,
}

/// A reqwest client that records every exchange into a [`Recorder`].
#[derive(Debug, Clone)]
pub struct RecordingClient {
    http: reqwest::Client,
    recorder: Recorder,
    /// `None`: the run has no schemas of the version spoken, messages are recorded unvalidated.
    schemas: Option<SchemaSet>,
    timeout: Duration,
    max_body: usize,
}

/// A complete response whose exchange has been recorded.
#[derive(Debug, Clone)]
pub struct RecordedResponse {
    /// The `seq` of the recorded exchange.
    pub seq: u64,
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl RecordedResponse {
    /// The body as JSON, if it is JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The body as text, lossily, for quoting in findings.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn content_type(&self) -> Option<&str> {
        self.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok())
    }
}

/// The outcome of a streamed download: the payload's size and digest, never the payload.
#[derive(Debug, Clone)]
pub struct Download {
    pub seq: u64,
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub size: u64,
    /// Lowercase hex SHA-256 of the body.
    pub sha256: String,
    /// The body of an unsuccessful answer (an error document), when it was small enough to keep.
    pub error_body: Option<Bytes>,
}

impl RecordingClient {
    /// A client with its own connection pool. `timeout` bounds every request that does not set
    /// its own.
    pub fn new(recorder: Recorder, schemas: impl Into<Option<SchemaSet>>, timeout: Duration) -> RecordingClient {
        let http = RecordingClient::peer_http(None).unwrap_or_else(|_| reqwest::Client::new());
        RecordingClient::with_http(http, recorder, schemas, timeout)
    }

    /// A client over a given connection pool, for example one from [`Self::peer_http`] that
    /// trusts a target's private CA.
    pub fn with_http(http: reqwest::Client, recorder: Recorder, schemas: impl Into<Option<SchemaSet>>, timeout: Duration) -> RecordingClient {
        RecordingClient { http, recorder, schemas: schemas.into(), timeout, max_body: max_body() }
    }

    /// The same client with another cap on the replies it reads whole (see [`DEFAULT_MAX_BODY`]).
    pub fn with_max_body(mut self, max_body: usize) -> RecordingClient {
        self.max_body = max_body;
        self
    }

    /// The HTTP client the harness talks to connectors with: redirects are not followed (a
    /// redirect is an answer the report should show), system proxies are ignored, and the
    /// certificates of `ca_pem` (a user's CA file) are trusted besides the usual roots.
    pub fn peer_http(ca_pem: Option<&[u8]>) -> Result<reqwest::Client, String> {
        let mut builder = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).no_proxy();
        if let Some(pem) = ca_pem {
            for cert in reqwest::Certificate::from_pem_bundle(pem).map_err(|e| format!("the CA file is not PEM: {e}"))? {
                builder = builder.add_root_certificate(cert);
            }
        }
        builder.build().map_err(|e| format!("cannot build an HTTP client: {e}"))
    }

    /// The underlying client, for building requests (`client.http().get(url).build()`).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    /// The schemas of the version this client speaks, if the harness has them.
    pub fn schemas(&self) -> Option<&SchemaSet> {
        self.schemas.as_ref()
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sends a DSP request and records it with message types and schema violations.
    pub async fn send(&self, from: &str, to: &str, request: reqwest::Request) -> Result<RecordedResponse, HttpError> {
        self.send_with(from, to, request, Checking::Dsp).await
    }

    /// Sends a request and records it without looking at the bodies' meaning.
    pub async fn send_unchecked(&self, from: &str, to: &str, request: reqwest::Request) -> Result<RecordedResponse, HttpError> {
        self.send_with(from, to, request, Checking::None).await
    }

    pub async fn send_with(
        &self,
        from: &str,
        to: &str,
        mut request: reqwest::Request,
        checking: Checking,
    ) -> Result<RecordedResponse, HttpError> {
        let timeout = *request.timeout_mut().get_or_insert(self.timeout);
        let mut exchange = self.draft(from, to, &request);
        let started = Instant::now();
        // On failure the status and headers are kept when they arrived before the body failed.
        let max_body = self.max_body;
        let outcome: Result<_, (Option<(StatusCode, HeaderMap)>, Failure)> = async {
            let mut response = self.http.execute(request).await.map_err(|e| (None, Failure::Http(e)))?;
            let status = response.status();
            let headers = response.headers().clone();
            // Read chunk by chunk so that a reply past the cap is dropped, not buffered.
            let mut body: Vec<u8> = Vec::new();
            loop {
                match response.chunk().await {
                    Ok(Some(chunk)) => {
                        if body.len() + chunk.len() > max_body {
                            return Err((Some((status, headers.clone())), Failure::TooLarge));
                        }
                        body.extend_from_slice(&chunk);
                    }
                    Ok(None) => break,
                    Err(e) => return Err((Some((status, headers.clone())), Failure::Http(e))),
                }
            }
            Ok((status, headers, Bytes::from(body)))
        }
        .await;
        exchange.duration_ms = started.elapsed().as_millis() as u64;
        match outcome {
            Ok((status, headers, body)) => {
                exchange.status = Some(status.as_u16());
                exchange.response_headers = header_pairs(&headers);
                exchange.response_body = body_of(&body, headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()));
                if checking == Checking::Dsp {
                    check_exchange(self.schemas.as_ref(), &mut exchange);
                }
                let seq = exchange.seq;
                self.recorder.record(exchange);
                Ok(RecordedResponse { seq, status, headers, body })
            }
            Err((head, error)) => {
                if let Some((status, headers)) = head {
                    exchange.status = Some(status.as_u16());
                    exchange.response_headers = header_pairs(&headers);
                }
                match error {
                    Failure::Http(error) => Err(self.fail(exchange, &error, timeout, checking)),
                    Failure::TooLarge => {
                        exchange.error = Some(format!("reply body exceeds the harness's limit of {max_body} bytes (--max-body)"));
                        let seq = exchange.seq;
                        let (method, url) = (exchange.method.clone(), exchange.url.clone());
                        self.recorder.record(exchange);
                        Err(HttpError::BodyTooLarge { method, url, limit: max_body, exchange: seq })
                    }
                }
            }
        }
    }

    /// Sends a request for a payload and streams the answer through SHA-256. A successful body
    /// is recorded as its size and digest only; an error body is kept when it is small.
    pub async fn download(&self, from: &str, to: &str, mut request: reqwest::Request) -> Result<Download, HttpError> {
        let timeout = *request.timeout_mut().get_or_insert(self.timeout);
        let mut exchange = self.draft(from, to, &request);
        let started = Instant::now();
        let mut response = match self.http.execute(request).await {
            Ok(response) => response,
            Err(error) => {
                exchange.duration_ms = started.elapsed().as_millis() as u64;
                return Err(self.fail(exchange, &error, timeout, Checking::None));
            }
        };
        let status = response.status();
        let headers = response.headers().clone();
        exchange.status = Some(status.as_u16());
        exchange.response_headers = header_pairs(&headers);
        let keep = if status.is_success() { 0 } else { ERROR_BODY_LIMIT };
        let mut hasher = Sha256::new();
        let mut size: u64 = 0;
        let mut kept: Vec<u8> = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    hasher.update(&chunk);
                    size += chunk.len() as u64;
                    if kept.len() + chunk.len() <= keep {
                        kept.extend_from_slice(&chunk);
                    }
                }
                Ok(None) => break,
                Err(error) => {
                    exchange.duration_ms = started.elapsed().as_millis() as u64;
                    return Err(self.fail(exchange, &error, timeout, Checking::None));
                }
            }
        }
        exchange.duration_ms = started.elapsed().as_millis() as u64;
        let sha256 = hex::encode(hasher.finalize());
        let complete = kept.len() as u64 == size && size > 0;
        exchange.response_body = if complete {
            body_of(&kept, headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()))
        } else if size > 0 {
            Some(Body::Binary { size, sha256: sha256.clone() })
        } else {
            None
        };
        let seq = exchange.seq;
        self.recorder.record(exchange);
        Ok(Download { seq, status, headers, size, sha256, error_body: complete.then(|| Bytes::from(kept)) })
    }

    fn draft(&self, from: &str, to: &str, request: &reqwest::Request) -> Exchange {
        let content_type = request.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
        // A streamed request body has no bytes to show; every body the harness sends is buffered.
        let request_body = request.body().and_then(|b| b.as_bytes()).and_then(|bytes| body_of(bytes, content_type));
        Exchange {
            request_headers: header_pairs(request.headers()),
            request_body,
            ..Exchange::request(self.recorder.next_seq(), from.to_string(), to.to_string(), request.method().to_string(), request.url().to_string())
        }
    }

    /// Records a failed exchange and turns the failure into the runner's error.
    fn fail(&self, mut exchange: Exchange, error: &reqwest::Error, timeout: Duration, checking: Checking) -> HttpError {
        // The request was sent (or attempted) whatever happened after: type and check it.
        if checking == Checking::Dsp {
            check_exchange(self.schemas.as_ref(), &mut exchange);
        }
        let seq = exchange.seq;
        let method = exchange.method.clone();
        let url = exchange.url.clone();
        let failure = if error.is_timeout() {
            let after_ms = timeout.as_millis() as u64;
            exchange.error = Some(format!("timeout: no complete answer within {after_ms} ms"));
            HttpError::Timeout { method, url, after_ms, exchange: seq }
        } else {
            let message = error_chain(error);
            exchange.error = Some(message.clone());
            HttpError::Transport { method, url, message, exchange: seq }
        };
        self.recorder.record(exchange);
        failure
    }
}

/// Why a buffered exchange did not complete.
enum Failure {
    Http(reqwest::Error),
    /// The reply's body grew past the client's cap.
    TooLarge,
}

/// Headers as recorded pairs; values that are not UTF-8 are shown lossily.
pub fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers.iter().map(|(name, value)| (name.as_str().to_string(), String::from_utf8_lossy(value.as_bytes()).into_owned())).collect()
}

/// An error and its sources on one line, since reqwest's top-level message rarely says why.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

/// Sets the message types of a DSP exchange and validates its JSON bodies.
///
/// The version document has no `@type`; it is recognised by its well-known path. Bodies that
/// are not JSON are left alone: whether a DSP endpoint may answer without JSON is a question
/// for the conformance suites, not for schema validation.
/// Without a schema set (a version the harness has no schemas of) only the types are set.
pub fn check_exchange<'a>(schemas: impl Into<Option<&'a SchemaSet>>, exchange: &mut Exchange) {
    let schemas = schemas.into();
    if let Some(Body::Json(body)) = &exchange.request_body {
        exchange.request_type = message_type(body).map(str::to_string);
        if let Some(schemas) = schemas {
            let found = validate_message(schemas, body);
            exchange.violations.extend(with_part(found, "request"));
        }
    }
    if let Some(Body::Json(body)) = &exchange.response_body {
        let path = url_path(&exchange.url);
        if path.ends_with(WELL_KNOWN_VERSION) {
            exchange.response_type = Some("VersionResponse".to_string());
            if let Some(schemas) = schemas {
                exchange.violations.extend(with_part(schemas.validate("VersionResponse", body), "response"));
            }
        } else {
            exchange.response_type = message_type(body).map(str::to_string);
            if let Some(schemas) = schemas {
                let found = validate_message(schemas, body);
                exchange.violations.extend(with_part(found, "response"));
            }
        }
    }
}

fn validate_message(schemas: &SchemaSet, body: &Value) -> Vec<Violation> {
    match schemas.validate_message(body) {
        Ok(found) => found,
        // The set lacks the schema of a type DSP defines: the message could not be checked,
        // which a run must not pass silently.
        Err(error) => vec![Violation {
            part: String::new(),
            schema: message_type(body).unwrap_or("unknown").to_string(),
            instance_path: String::new(),
            message: error.to_string(),
        }],
    }
}

fn with_part(violations: Vec<Violation>, part: &str) -> impl Iterator<Item = Violation> + '_ {
    violations.into_iter().map(move |mut v| {
        v.part = part.to_string();
        v
    })
}

fn url_path(url: &str) -> &str {
    let without_query = url.split(['?', '#']).next().unwrap_or(url);
    without_query.trim_end_matches('/')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue #15: a peer that answers with an endless stream must cost the exchange (an error
    /// naming the limit), not the harness's memory.
    #[tokio::test]
    async fn an_endless_reply_stops_at_the_body_cap() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            let _ = socket.read(&mut buf).await;
            let _ = socket.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n").await;
            let chunk = format!("{:x}\r\n{}\r\n", 64 * 1024, "x".repeat(64 * 1024));
            // Far past the cap: 64 MiB, bounded so the test ends even if the client kept reading.
            for _ in 0..1024 {
                if socket.write_all(chunk.as_bytes()).await.is_err() {
                    return;
                }
            }
        });
        let client = RecordingClient::new(Recorder::new(), SchemaSet::embedded_2025_1(), Duration::from_secs(30)).with_max_body(1024 * 1024);
        let request = client.http().get(format!("http://{addr}/catalog/request")).build().unwrap();
        let error = client.send("harness", "peer", request).await.unwrap_err();
        assert!(matches!(error, HttpError::BodyTooLarge { limit: 1048576, .. }), "{error}");
        assert!(error.to_string().contains("1048576"), "{error}");
        let exchanges = client.recorder().drain();
        assert!(exchanges[0].error.as_deref().unwrap().contains("limit"));
    }

    #[test]
    fn a_users_ca_file_is_read_and_a_broken_one_refused() {
        let ca = rcgen::generate_simple_self_signed(vec!["test-ca".to_string()]).unwrap();
        assert!(RecordingClient::peer_http(Some(ca.cert.pem().as_bytes())).is_ok());
        assert!(RecordingClient::peer_http(Some(b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")).is_err());
    }
}
