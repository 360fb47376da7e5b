//! The recording proxy: a small HTTP server that sits on the wire between two connectors and
//! records every DSP message that crosses it, in both directions, with schema validation.
//!
//! The consumer is told to reach the provider at the proxy's URL (and the provider to call the
//! consumer back through a second proxy), so the harness sees the protocol exchange itself rather
//! than what either side's management API says about it. The proxy forwards the method, path,
//! query, headers (including `Authorization`) and body unchanged and returns the upstream's
//! answer unchanged. Bodies that look like messages (JSON or text, up to [`CAPTURE_LIMIT`]) are
//! buffered, recorded and validated; anything larger or binary streams straight through while
//! only its size and SHA-256 are computed.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use bytes::Bytes;
use futures::{Stream, StreamExt};
use sha2::{Digest, Sha256};

use crate::serving::ServerTask;
use super::error::HttpError;
use super::http::{check_exchange, error_chain, header_pairs};
use super::recorder::{body_of, is_binary_type, Recorder};
use crate::report::model::{Body, Exchange};
use crate::schema::SchemaSet;

/// The largest body the proxy buffers to record it whole. DSP messages are far smaller; a larger
/// body is streamed and recorded as its digest.
pub const CAPTURE_LIMIT: usize = 4 * 1024 * 1024;

/// How long the proxy waits for the upstream. Generous, because the connector on the other side
/// decides how long its own calls may take; the proxy must not be the one to give up first.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(120);

/// Headers that describe one hop rather than the message, and so are not forwarded.
const HOP_BY_HOP: &[&str] =
    &["connection", "keep-alive", "proxy-connection", "proxy-authenticate", "te", "trailer", "transfer-encoding", "upgrade", "host"];

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, BoxError>> + Send>>;

/// Namespace of [`RecordingProxy::start`].
pub struct RecordingProxy;

/// A running proxy. Dropping it stops the server.
#[derive(Debug)]
pub struct ProxyHandle {
    addr: SocketAddr,
    server: ServerTask,
}

impl ProxyHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting connections and waits briefly for the server to wind down.
    pub async fn stop(self) {
        if let Err(e) = self.server.stop().await {
            tracing::warn!("the recording proxy stopped with an error: {e}");
        }
    }
}

#[derive(Clone)]
struct ProxyState {
    from: Arc<str>,
    to: Arc<str>,
    upstream: Arc<str>,
    http: reqwest::Client,
    recorder: Recorder,
    schemas: SchemaSet,
}

impl RecordingProxy {
    /// Starts a proxy on `127.0.0.1:0` forwarding to `upstream_base` and returns its base URL
    /// (without a trailing slash) and its handle.
    ///
    /// A request for `{url}/x/y?q` goes to `{upstream_base}/x/y?q`, and is recorded as sent by
    /// `from` to `to`.
    pub async fn start(
        from: &str,
        to: &str,
        upstream_base: &str,
        recorder: Recorder,
        schemas: SchemaSet,
    ) -> Result<(String, ProxyHandle), HttpError> {
        RecordingProxy::start_on("127.0.0.1", from, to, upstream_base, recorder, schemas).await
    }

    /// Like [`RecordingProxy::start`], listening on `host` (an address containers can reach).
    pub async fn start_on(
        host: &str,
        from: &str,
        to: &str,
        upstream_base: &str,
        recorder: Recorder,
        schemas: SchemaSet,
    ) -> Result<(String, ProxyHandle), HttpError> {
        let parsed = reqwest::Url::parse(upstream_base)
            .map_err(|e| HttpError::Upstream { url: upstream_base.to_string(), message: e.to_string() })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(HttpError::Upstream { url: upstream_base.to_string(), message: "expected an http or https url".into() });
        }
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(UPSTREAM_TIMEOUT)
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        let state = ProxyState {
            from: from.into(),
            to: to.into(),
            upstream: upstream_base.trim_end_matches('/').into(),
            http,
            recorder,
            schemas,
        };
        let listener = tokio::net::TcpListener::bind((host, 0))
            .await
            .map_err(|source| HttpError::Bind { what: format!("the recording proxy {from} -> {to}"), source })?;
        let addr = listener.local_addr().map_err(|source| HttpError::Bind { what: format!("the recording proxy {from} -> {to}"), source })?;
        let server = ServerTask::spawn(listener, router(state));
        Ok((format!("http://{addr}"), ProxyHandle { addr, server }))
    }
}

fn router(state: ProxyState) -> Router {
    Router::new().fallback(forward).with_state(state)
}

async fn forward(State(state): State<ProxyState>, request: axum::extract::Request) -> Response {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let path_and_query = parts.uri.path_and_query().map(|pq| pq.as_str()).unwrap_or("/");
    let url = format!("{}{}", state.upstream, path_and_query);
    let mut exchange = Exchange {
        request_headers: header_pairs(&parts.headers),
        ..Exchange::request(state.recorder.next_seq(), state.from.to_string(), state.to.to_string(), parts.method.to_string(), url.clone())
    };

    let request_type = content_type(&parts.headers);
    let request_stream: ByteStream = Box::pin(body.into_data_stream().map(|r| r.map_err(|e| Box::new(e) as BoxError)));
    // The digest of a streamed request body arrives when the upstream has read it all, which
    // happens before the upstream answers; the slot carries it to the recording of the exchange.
    let streamed_request: Arc<Mutex<Option<Body>>> = Arc::new(Mutex::new(None));
    let upstream_body = match capture(request_stream, request_type.as_deref()).await {
        Ok(Captured::Whole(bytes)) => {
            exchange.request_body = body_of(&bytes, request_type.as_deref());
            reqwest::Body::from(bytes)
        }
        Ok(Captured::Streaming(stream)) => {
            let slot = streamed_request.clone();
            reqwest::Body::wrap_stream(Tee::new(stream, None, move |digest: Digested| {
                *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(digest.body());
            }))
        }
        Err(error) => {
            exchange.error = Some(format!("reading the request body failed: {}", error_chain(error.as_ref())));
            exchange.duration_ms = started.elapsed().as_millis() as u64;
            state.recorder.record(exchange);
            return bad_gateway("the recording proxy could not read the request body");
        }
    };

    let mut upstream_request = state.http.request(parts.method.clone(), &url).body(upstream_body);
    for (name, value) in parts.headers.iter() {
        if !is_hop_by_hop(name) {
            upstream_request = upstream_request.header(name, value);
        }
    }
    let response = match upstream_request.send().await {
        Ok(response) => response,
        Err(error) => {
            exchange.error = Some(if error.is_timeout() { format!("timeout: no answer within {} s", UPSTREAM_TIMEOUT.as_secs()) } else { error_chain(&error) });
            exchange.duration_ms = started.elapsed().as_millis() as u64;
            fill_streamed_request(&mut exchange, &streamed_request);
            // The request still went (or was meant to go) on the wire: type and check it.
            check_exchange(&state.schemas, &mut exchange);
            state.recorder.record(exchange);
            return bad_gateway("the recording proxy could not reach the upstream");
        }
    };
    fill_streamed_request(&mut exchange, &streamed_request);

    let status = response.status();
    let headers = response.headers().clone();
    exchange.status = Some(status.as_u16());
    exchange.response_headers = header_pairs(&headers);
    let response_type = content_type(&headers);
    let expected_length = response.content_length();
    let response_stream: ByteStream = Box::pin(response.bytes_stream().map(|r| r.map_err(|e| Box::new(e) as BoxError)));

    let mut builder = Response::builder().status(status);
    for (name, value) in headers.iter() {
        if !is_hop_by_hop(name) {
            builder = builder.header(name, value);
        }
    }
    let body = match capture(response_stream, response_type.as_deref()).await {
        Ok(Captured::Whole(bytes)) => {
            exchange.response_body = body_of(&bytes, response_type.as_deref());
            exchange.duration_ms = started.elapsed().as_millis() as u64;
            check_exchange(&state.schemas, &mut exchange);
            state.recorder.record(exchange);
            axum::body::Body::from(bytes)
        }
        Ok(Captured::Streaming(stream)) => {
            let recorder = state.recorder.clone();
            let schemas = state.schemas.clone();
            axum::body::Body::from_stream(Tee::new(stream, expected_length, move |digest: Digested| {
                exchange.duration_ms = started.elapsed().as_millis() as u64;
                exchange.response_body = Some(digest.body());
                exchange.error = digest.error;
                // Only the request can be a message here; the digest of a body is not checked.
                check_exchange(&schemas, &mut exchange);
                recorder.record(exchange);
            }))
        }
        Err(error) => {
            exchange.error = Some(format!("reading the upstream body failed: {}", error_chain(error.as_ref())));
            exchange.duration_ms = started.elapsed().as_millis() as u64;
            check_exchange(&state.schemas, &mut exchange);
            state.recorder.record(exchange);
            return bad_gateway("the recording proxy could not read the upstream's body");
        }
    };
    builder.body(body).unwrap_or_else(|_| bad_gateway("the upstream's answer could not be rebuilt"))
}

fn fill_streamed_request(exchange: &mut Exchange, slot: &Mutex<Option<Body>>) {
    if exchange.request_body.is_none() {
        exchange.request_body = slot.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
}

fn content_type(headers: &HeaderMap) -> Option<String> {
    headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string)
}

fn is_hop_by_hop(name: &HeaderName) -> bool {
    HOP_BY_HOP.contains(&name.as_str())
}

fn bad_gateway(message: &str) -> Response {
    (StatusCode::BAD_GATEWAY, [(axum::http::header::CONTENT_TYPE, "text/plain")], message.to_string()).into_response()
}

enum Captured {
    /// The body was small and not binary; here it is.
    Whole(Bytes),
    /// The body is binary or too large: what was read so far followed by the rest, unread.
    Streaming(ByteStream),
}

/// Reads a body whole when it may be a message, or hands it on as a stream.
async fn capture(mut stream: ByteStream, content_type: Option<&str>) -> Result<Captured, BoxError> {
    if is_binary_type(content_type) {
        return Ok(Captured::Streaming(stream));
    }
    let mut read: Vec<Bytes> = Vec::new();
    let mut size = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        size += chunk.len();
        read.push(chunk);
        if size > CAPTURE_LIMIT.min(super::http::max_body()) {
            let prefix = futures::stream::iter(read.into_iter().map(Ok::<Bytes, BoxError>));
            return Ok(Captured::Streaming(Box::pin(prefix.chain(stream))));
        }
    }
    let mut whole = Vec::with_capacity(size);
    for chunk in read {
        whole.extend_from_slice(&chunk);
    }
    Ok(Captured::Whole(Bytes::from(whole)))
}

/// What a [`Tee`] saw pass through it.
struct Digested {
    size: u64,
    sha256: String,
    error: Option<String>,
}

impl Digested {
    fn body(&self) -> Body {
        Body::Binary { size: self.size, sha256: self.sha256.clone() }
    }
}

/// A stream that hashes the bytes passing through it and reports once, when the body is
/// complete or abandoned.
///
/// With a known length it reports as the last byte passes, before the receiver can act on the
/// whole body, so the exchange is in the recorder by the time anyone reacts to it.
struct Tee<F: FnOnce(Digested) + Send> {
    inner: ByteStream,
    hasher: Sha256,
    size: u64,
    expected: Option<u64>,
    on_done: Option<F>,
}

impl<F: FnOnce(Digested) + Send> Tee<F> {
    fn new(inner: ByteStream, expected: Option<u64>, on_done: F) -> Tee<F> {
        Tee { inner, hasher: Sha256::new(), size: 0, expected, on_done: Some(on_done) }
    }

    fn finish(&mut self, error: Option<String>) {
        if let Some(on_done) = self.on_done.take() {
            let sha256 = hex::encode(std::mem::take(&mut self.hasher).finalize());
            on_done(Digested { size: self.size, sha256, error });
        }
    }
}

impl<F: FnOnce(Digested) + Send> Unpin for Tee<F> {}

impl<F: FnOnce(Digested) + Send> Stream for Tee<F> {
    type Item = Result<Bytes, BoxError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        match this.inner.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                this.hasher.update(&chunk);
                this.size += chunk.len() as u64;
                if this.expected == Some(this.size) {
                    this.finish(None);
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(error))) => {
                this.finish(Some(format!("body stream failed: {}", error_chain(error.as_ref()))));
                Poll::Ready(Some(Err(error)))
            }
            Poll::Ready(None) => {
                this.finish(None);
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<F: FnOnce(Digested) + Send> Drop for Tee<F> {
    fn drop(&mut self) {
        if self.on_done.is_some() {
            let note = format!("body abandoned after {} bytes", self.size);
            self.finish(Some(note));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream_of(chunks: Vec<&'static [u8]>) -> ByteStream {
        Box::pin(futures::stream::iter(chunks.into_iter().map(|c| Ok::<Bytes, BoxError>(Bytes::from_static(c)))))
    }

    #[tokio::test]
    async fn small_text_bodies_are_captured_whole_and_binary_ones_stream() {
        match capture(stream_of(vec![b"{\"a\"", b":1}"]), Some("application/json")).await {
            Ok(Captured::Whole(bytes)) => assert_eq!(&bytes[..], b"{\"a\":1}"),
            _ => panic!("expected the whole body"),
        }
        assert!(matches!(capture(stream_of(vec![b"abc"]), Some("application/octet-stream")).await, Ok(Captured::Streaming(_))));
    }

    #[tokio::test]
    async fn tee_reports_size_and_digest_once() {
        let seen: Arc<Mutex<Vec<(u64, String)>>> = Arc::default();
        let sink = seen.clone();
        let tee = Tee::new(stream_of(vec![b"hel", b"lo"]), Some(5), move |d: Digested| sink.lock().unwrap().push((d.size, d.sha256)));
        let collected: Vec<Bytes> = tee.map(|c| c.unwrap()).collect().await;
        assert_eq!(collected.concat(), b"hello");
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0], (5, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824".to_string()));
    }

    #[tokio::test]
    async fn an_abandoned_tee_still_reports() {
        let seen: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
        let sink = seen.clone();
        let mut tee = Tee::new(stream_of(vec![b"hel", b"lo"]), None, move |d: Digested| sink.lock().unwrap().push(d.error));
        let _ = tee.next().await;
        drop(tee);
        assert_eq!(seen.lock().unwrap().as_slice(), &[Some("body abandoned after 3 bytes".to_string())]);
    }
}
