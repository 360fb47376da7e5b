//! The baseline: a bare HTTP server on loopback that serves the same generated payloads as the
//! reference backend (`GET /payload/{size}`), as fast as this machine can.
//!
//! The same goose client pulls from it in the same run, so a data plane's throughput can be
//! given as a ratio of what the machine manages without a data plane in the way. The server
//! does no work per byte: every generated payload is a window onto one repeating pattern
//! (byte `i` is `i mod 251`), so each chunk is a zero-copy slice of a buffer made once.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::error::LoadError;
use crate::reference::backend::parse_size;

/// The period of the generated pattern (see `reference::backend`).
const PERIOD: usize = 251;
/// Bytes per chunk of a response body.
const CHUNK: usize = 256 * 1024;

/// One chunk plus a period, so that a chunk starting at any phase is a single slice.
fn pattern() -> Bytes {
    Bytes::from((0..CHUNK + PERIOD).map(|i| (i % PERIOD) as u8).collect::<Vec<u8>>())
}

/// The SHA-256 of a generated payload of `size` bytes: the same value as
/// `reference::backend::payload_sha256`, computed from slices of the pattern with aws-lc, so a
/// gibibyte takes a second rather than a minute in a debug build.
pub fn payload_digest(size: u64) -> String {
    let pattern = pattern();
    let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    let mut offset = 0u64;
    while offset < size {
        let len = (size - offset).min(CHUNK as u64) as usize;
        let phase = (offset % PERIOD as u64) as usize;
        context.update(&pattern[phase..phase + len]);
        offset += len as u64;
    }
    hex::encode(context.finish().as_ref())
}

/// The baseline's routes, without a socket.
pub fn router() -> Router {
    let pattern = pattern();
    Router::new().route("/payload/{size}", get(move |size: Path<String>| payload(pattern.clone(), size)))
}

async fn payload(pattern: Bytes, Path(size): Path<String>) -> Response {
    let Some(size) = parse_size(&size) else {
        return (StatusCode::BAD_REQUEST, "size like 1024, 1KiB, 64MiB or 1GiB").into_response();
    };
    let stream = futures::stream::unfold(0u64, move |offset| {
        let pattern = pattern.clone();
        async move {
            if offset >= size {
                return None;
            }
            let len = (size - offset).min(CHUNK as u64) as usize;
            let phase = (offset % PERIOD as u64) as usize;
            Some((Ok::<_, std::io::Error>(pattern.slice(phase..phase + len)), offset + len as u64))
        }
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::CONTENT_LENGTH, size)
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// A running baseline server on `127.0.0.1`, stopped when dropped.
pub struct BaselineServer {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl BaselineServer {
    /// Binds `127.0.0.1:0` and serves.
    pub async fn start() -> Result<BaselineServer, LoadError> {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.map_err(LoadError::Baseline)?;
        let addr = listener.local_addr().map_err(LoadError::Baseline)?;
        let (shutdown, mut signal) = watch::channel(false);
        let task = tokio::spawn(async move {
            let stop = async move {
                let _ = signal.wait_for(|stop| *stop).await;
            };
            if let Err(e) = axum::serve(listener, router()).with_graceful_shutdown(stop).await {
                tracing::error!("baseline server stopped: {e}");
            }
        });
        Ok(BaselineServer { url: format!("http://{addr}"), shutdown, task })
    }

    /// The URL of a payload of `size` bytes.
    pub fn payload_url(&self, size: u64) -> String {
        format!("{}/payload/{size}", self.url)
    }
}

impl Drop for BaselineServer {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::backend::payload_sha256;
    use sha2::{Digest, Sha256};

    #[tokio::test]
    async fn serves_the_backends_bytes() {
        let server = BaselineServer::start().await.unwrap();
        assert!(server.url.starts_with("http://127.0.0.1:"));
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        // Sizes around the chunk and the period, where an off-by-one would show.
        for size in [0u64, 1, 250, 251, 252, CHUNK as u64 - 1, CHUNK as u64 + 1, 3 * CHUNK as u64 + 17] {
            let response = client.get(server.payload_url(size)).send().await.unwrap();
            assert_eq!(response.status(), 200);
            assert_eq!(response.content_length(), Some(size));
            let body = response.bytes().await.unwrap();
            assert_eq!(body.len() as u64, size);
            assert_eq!(hex::encode(Sha256::digest(&body)), payload_sha256(size), "size {size}");
        }
        let bad = client.get(format!("{}/payload/lots", server.url)).send().await.unwrap();
        assert_eq!(bad.status(), 400);
    }

    #[test]
    fn fast_digest_equals_the_backends() {
        for size in [0u64, 1, 250, 251, 252, CHUNK as u64 - 1, CHUNK as u64 + 1, 3 * CHUNK as u64 + 17, 1 << 20] {
            assert_eq!(payload_digest(size), payload_sha256(size), "size {size}");
        }
    }
}
