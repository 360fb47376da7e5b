//! The consumer backend of a push transfer: a tiny HTTP server that accepts whatever the
//! provider's data plane sends it, hashes the bytes as they stream in, and keeps only their
//! size and digest. Each delivery is also recorded as an exchange, so the report shows the push.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::Router;
use futures::StreamExt;
use sha2::{Digest, Sha256};
use tokio::sync::Notify;

use crate::serving::ServerTask;
use super::error::HttpError;
use super::http::header_pairs;
use super::recorder::Recorder;
use crate::report::model::{Body, Exchange};

/// One delivery the sink received.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub method: String,
    /// Path and query, as sent.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub size: u64,
    pub sha256: String,
    /// Set when the body stream broke off.
    pub error: Option<String>,
}

/// A running sink. Dropping it stops the server.
pub struct Sink {
    url: String,
    deliveries: Arc<Mutex<Vec<Delivery>>>,
    arrived: Arc<Notify>,
    server: ServerTask,
}

#[derive(Clone)]
struct SinkState {
    base: Arc<str>,
    from: Arc<str>,
    to: Arc<str>,
    recorder: Recorder,
    deliveries: Arc<Mutex<Vec<Delivery>>>,
    arrived: Arc<Notify>,
}

impl Sink {
    /// Starts a sink on `127.0.0.1:0`; deliveries are recorded as sent by `from` to `to`.
    pub async fn start(recorder: Recorder, from: &str, to: &str) -> Result<Sink, HttpError> {
        Sink::start_on("127.0.0.1", recorder, from, to).await
    }

    /// Like [`Sink::start`], listening on `host` (an address containers can reach).
    pub async fn start_on(host: &str, recorder: Recorder, from: &str, to: &str) -> Result<Sink, HttpError> {
        let listener = tokio::net::TcpListener::bind((host, 0))
            .await
            .map_err(|source| HttpError::Bind { what: format!("the {to} sink"), source })?;
        let addr: SocketAddr = listener.local_addr().map_err(|source| HttpError::Bind { what: format!("the {to} sink"), source })?;
        let url = format!("http://{addr}");
        let deliveries: Arc<Mutex<Vec<Delivery>>> = Arc::default();
        let arrived = Arc::new(Notify::new());
        let state = SinkState {
            base: url.as_str().into(),
            from: from.into(),
            to: to.into(),
            recorder,
            deliveries: deliveries.clone(),
            arrived: arrived.clone(),
        };
        let server = ServerTask::spawn(listener, Router::new().fallback(receive).with_state(state));
        Ok(Sink { url, deliveries, arrived, server })
    }

    /// The sink's base URL, without a trailing slash.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        self.deliveries.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Waits until at least `count` deliveries arrived or `timeout` passed, and returns what
    /// arrived.
    pub async fn wait_for(&self, count: usize, timeout: Duration) -> Vec<Delivery> {
        let deadline = Instant::now() + timeout;
        loop {
            // Register interest before looking, so a delivery between the look and the wait
            // still wakes us.
            let notified = self.arrived.notified();
            let now = self.deliveries();
            if now.len() >= count {
                return now;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || tokio::time::timeout(left, notified).await.is_err() {
                return self.deliveries();
            }
        }
    }

    pub async fn stop(self) {
        if let Err(e) = self.server.stop().await {
            tracing::warn!("the push sink stopped with an error: {e}");
        }
    }
}

async fn receive(State(state): State<SinkState>, request: axum::extract::Request) -> StatusCode {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let seq = state.recorder.next_seq();
    let path = parts.uri.path_and_query().map(|pq| pq.as_str().to_string()).unwrap_or_else(|| "/".to_string());
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    let mut error = None;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(chunk) => {
                hasher.update(&chunk);
                size += chunk.len() as u64;
            }
            Err(e) => {
                error = Some(format!("the pushed body broke off after {size} bytes: {e}"));
                break;
            }
        }
    }
    let sha256 = hex::encode(hasher.finalize());
    let status = if error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    let headers = header_pairs(&parts.headers);
    state.recorder.record(Exchange {
        request_headers: headers.clone(),
        request_body: (size > 0).then(|| Body::Binary { size, sha256: sha256.clone() }),
        status: Some(status.as_u16()),
        error: error.clone(),
        duration_ms: started.elapsed().as_millis() as u64,
        ..Exchange::request(seq, state.from.to_string(), state.to.to_string(), parts.method.to_string(), format!("{}{}", state.base, path))
    });
    state.deliveries.lock().unwrap_or_else(|p| p.into_inner()).push(Delivery {
        method: parts.method.to_string(),
        path,
        headers,
        size,
        sha256,
        error,
    });
    state.arrived.notify_waiters();
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_push_is_hashed_recorded_and_awaitable() {
        let recorder = Recorder::new();
        let sink = Sink::start(recorder.clone(), "provider-data-plane", "consumer-backend").await.expect("sink");
        let url = format!("{}/carbon?x=1", sink.url());
        let waiter = sink.wait_for(1, Duration::from_secs(5));
        let push = async {
            let reply = reqwest::Client::new().post(&url).body("hello").send().await.expect("push");
            assert_eq!(reply.status().as_u16(), 200);
        };
        let (deliveries, ()) = tokio::join!(waiter, push);
        assert_eq!(deliveries.len(), 1);
        assert_eq!(deliveries[0].path, "/carbon?x=1");
        assert_eq!(deliveries[0].sha256, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
        let exchanges = recorder.drain();
        assert_eq!(exchanges.len(), 1);
        assert_eq!(exchanges[0].request_body, Some(Body::Binary { size: 5, sha256: deliveries[0].sha256.clone() }));
        sink.stop().await;
    }

    #[tokio::test]
    async fn waiting_without_deliveries_ends_at_the_timeout() {
        let sink = Sink::start(Recorder::new(), "a", "b").await.expect("sink");
        assert!(sink.wait_for(1, Duration::from_millis(50)).await.is_empty());
    }
}
