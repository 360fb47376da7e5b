//! The baseline: a bare HTTP server on loopback that serves the same generated payloads as the
//! reference backend (`GET /payload/{size}`), as fast as this machine can.
//!
//! The same goose client pulls from it in the same run, so a data plane's throughput can be
//! given as a ratio of what the machine manages without a data plane in the way. It serves
//! with the backend's own generator (zero-copy slices of one pattern), so the only difference
//! between a baseline pull and a data-plane pull is the data plane.

use std::net::SocketAddr;

use axum::routing::get;
use axum::Router;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::error::LoadError;
use crate::reference::backend;

/// The baseline's routes, without a socket: the reference backend's payload generator alone.
pub fn router() -> Router {
    Router::new().route("/payload/{size}", get(backend::payload))
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
            if let Err(e) = crate::serving::serve(listener, router(), stop).await {
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
        for size in [0u64, 1, 250, 251, 252, 256 * 1024 - 1, 256 * 1024 + 1, 3 * 256 * 1024 + 17] {
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
}
