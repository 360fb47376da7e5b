//! Reading a request body under a limit, for every reference component. A body past the limit
//! is refused, but the rest of it is still read and thrown away (up to [`DRAIN_CAP`] bytes and
//! [`DRAIN_TIME`]): a client that is still sending would otherwise see its connection reset
//! instead of the 413 the component answers. Nothing past the limit is kept in memory.

use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use http_body_util::BodyExt as _;

/// At most this much of an over-long body is read and discarded before the refusal is sent.
pub const DRAIN_CAP: u64 = 16 << 20;
/// At most this long is spent discarding an over-long body.
pub const DRAIN_TIME: Duration = Duration::from_secs(5);

/// Why a body was not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("the body is longer than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("cannot read the body: {0}")]
    Broken(String),
}

/// The whole body if it is at most `limit` bytes long. `declared` is the request's
/// `Content-Length`, if it had one: a body declared far too long is refused without reading.
pub async fn read_limited(body: Body, declared: Option<u64>, limit: usize) -> Result<Bytes, BodyError> {
    let too_large = BodyError::TooLarge { limit };
    if declared.is_some_and(|n| n > DRAIN_CAP) {
        return Err(too_large);
    }
    let mut body = body;
    let mut kept: Vec<u8> = Vec::new();
    let mut seen: u64 = 0;
    let started = Instant::now();
    let over = |seen: u64| seen > limit as u64 || declared.is_some_and(|n| n > limit as u64);
    loop {
        let next = if over(seen) { tokio::time::timeout(DRAIN_TIME.saturating_sub(started.elapsed()), body.frame()).await } else { Ok(body.frame().await) };
        let frame = match next {
            Ok(Some(Ok(frame))) => frame,
            Ok(Some(Err(e))) if !over(seen) => return Err(BodyError::Broken(e.to_string())),
            Ok(None) if !over(seen) => return Ok(Bytes::from(kept)),
            // Past the limit, the end of the body, a broken stream or the drain's clock all end
            // in the same refusal.
            _ => return Err(too_large),
        };
        if let Ok(data) = frame.into_data() {
            seen += data.len() as u64;
            if over(seen) {
                kept = Vec::new();
                if seen > DRAIN_CAP {
                    return Err(too_large);
                }
            } else {
                kept.extend_from_slice(&data);
            }
        }
    }
}

/// The `Content-Length` of a request, when it has a readable one.
pub fn declared_length(headers: &axum::http::HeaderMap) -> Option<u64> {
    headers.get(axum::http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn short_bodies_are_read_and_long_ones_refused() {
        assert_eq!(read_limited(Body::from("abc"), Some(3), 3).await.unwrap(), Bytes::from("abc"));
        assert_eq!(read_limited(Body::from("abcd"), None, 3).await, Err(BodyError::TooLarge { limit: 3 }));
        assert_eq!(read_limited(Body::from("ab"), Some(10), 3).await, Err(BodyError::TooLarge { limit: 3 }));
        assert_eq!(read_limited(Body::empty(), Some(DRAIN_CAP + 1), 3).await, Err(BodyError::TooLarge { limit: 3 }));
    }
}
