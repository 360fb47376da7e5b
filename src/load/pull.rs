//! The pull transaction: one goose user's GET of a payload, streamed to the end and thrown away,
//! timed from sending to the last byte, checked for its size and (on each user's first pull,
//! and on every pull of a flow) its SHA-256.
//!
//! The data plane and the baseline server are pulled by exactly this code, so their figures
//! differ only by what sits behind the URL.

use std::sync::Arc;
use std::time::{Duration, Instant};

use goose::prelude::*;
use reqwest::header::AUTHORIZATION;

use super::attack::stop_early;
use super::collector::Collector;

/// How a pull is checked beyond its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// Only the number of bytes.
    Size,
    /// The number of bytes, and the digest on each user's first pull.
    FirstDigest(String),
}

/// One pull scenario's target.
#[derive(Debug)]
pub struct PullJob {
    /// Also the goose request name.
    pub name: String,
    pub url: String,
    pub authorization: Option<String>,
    pub size: u64,
    pub check: Check,
    pub collector: Arc<Collector>,
}

/// Marks a goose user whose first pull was checked by digest.
#[derive(Debug, Clone, Copy)]
struct DigestChecked;

/// A pull that went wrong, named by kind: `status-401`, `timeout`, `connect`, `body`, `size`,
/// `digest`.
pub type PullError = String;

/// The goose transaction that pulls `job.url` once per call.
pub fn transaction(job: Arc<PullJob>) -> TransactionFunction {
    Arc::new(move |user| {
        let job = job.clone();
        Box::pin(async move {
            if !job.collector.claim() {
                stop_early();
                // Goose needs a moment to stop its users; do not spin meanwhile.
                tokio::time::sleep(Duration::from_millis(10)).await;
                return Ok(());
            }
            let digest = match &job.check {
                Check::Size => None,
                Check::FirstDigest(d) => user.get_session_data::<DigestChecked>().is_none().then_some(d.as_str()),
            };
            let started = Instant::now();
            match fetch(user, &job.name, &job.url, job.authorization.as_deref(), job.size, digest).await {
                Ok(bytes) => job.collector.success(started, bytes),
                Err(kind) => job.collector.failure(started, &kind),
            }
            if digest.is_some() {
                user.set_session_data(DigestChecked);
            }
            // Failures are counted by the collector; goose need not log them again.
            Ok(())
        })
    })
}

/// GETs `url` with goose's client, streams the body and checks it. Returns the bytes received.
pub async fn fetch(
    user: &mut GooseUser,
    name: &str,
    url: &str,
    authorization: Option<&str>,
    size: u64,
    digest: Option<&str>,
) -> Result<u64, PullError> {
    let mut builder = user.get_request_builder(&GooseMethod::Get, url).map_err(|_| "request".to_string())?;
    if let Some(value) = authorization {
        builder = builder.header(AUTHORIZATION, value);
    }
    let request = GooseRequest::builder().name(name).set_request_builder(builder).build();
    let goose = user.request(request).await.map_err(|_| "request".to_string())?;
    let mut response = goose.response.map_err(|e| kind_of(&e))?;
    if !response.status().is_success() {
        return Err(format!("status-{}", response.status().as_u16()));
    }
    let mut hasher = digest.map(|_| aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256));
    let mut received = 0u64;
    while let Some(chunk) = response.chunk().await.map_err(|e| kind_of(&e))? {
        received += chunk.len() as u64;
        if let Some(h) = hasher.as_mut() {
            h.update(&chunk);
        }
    }
    if received != size {
        return Err("size".to_string());
    }
    if let (Some(h), Some(expected)) = (hasher, digest) {
        if hex::encode(h.finish().as_ref()) != expected {
            return Err("digest".to_string());
        }
    }
    Ok(received)
}

/// A short kind for a transport failure.
pub fn kind_of(error: &reqwest::Error) -> PullError {
    if error.is_timeout() {
        "timeout"
    } else if error.is_connect() {
        "connect"
    } else if error.is_body() || error.is_decode() {
        "body"
    } else {
        "transport"
    }
    .to_string()
}
