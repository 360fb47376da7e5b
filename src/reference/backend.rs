//! The provider's backend: the system behind company X's connector that holds the data. It
//! serves the carbon-emissions fixture and, for load tests, generated payloads of any size.
//!
//! Generated payloads are produced chunk by chunk from a cheap deterministic pattern, so a
//! 1 GiB payload costs no memory and both ends can compute its digest independently.

use axum::body::Body;
use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;

/// The carbon-emissions intensity data company X shares (the project's own fixture).
pub const CARBON_EMISSIONS: &[u8] = include_bytes!("../../fixtures/carbon_emissions.json");

/// The path of the carbon-emissions data on the backend.
pub const CARBON_PATH: &str = "/carbon-emissions";

/// Generated payloads repeat bytes `0..251`: byte `i` is `i mod 251`.
const PERIOD: usize = 251;
/// Bytes per chunk of a generated response body.
const CHUNK: usize = 256 * 1024;

/// One chunk plus a period, made once, so that a chunk starting at any phase of the pattern is
/// a zero-copy slice of it.
fn pattern() -> &'static Bytes {
    static PATTERN: std::sync::OnceLock<Bytes> = std::sync::OnceLock::new();
    PATTERN.get_or_init(|| Bytes::from((0..CHUNK + PERIOD).map(|i| (i % PERIOD) as u8).collect::<Vec<u8>>()))
}

/// The chunks of a generated payload of `size` bytes, as slices of the pattern.
fn chunks(size: u64) -> impl Iterator<Item = Bytes> {
    let mut offset = 0u64;
    std::iter::from_fn(move || {
        if offset >= size {
            return None;
        }
        let len = (size - offset).min(CHUNK as u64) as usize;
        let phase = (offset % PERIOD as u64) as usize;
        offset += len as u64;
        Some(pattern().slice(phase..phase + len))
    })
}

/// A streamed response of a generated payload of `size` bytes.
pub fn payload_response(size: u64) -> Response {
    let stream = futures::stream::iter(chunks(size).map(Ok::<_, std::io::Error>));
    Response::builder()
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::CONTENT_LENGTH, size)
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

pub fn router() -> Router {
    Router::new()
        .route(CARBON_PATH, get(carbon))
        .route("/payload/{size}", get(payload))
        .route("/health", get(|| async { "ok" }))
}

async fn carbon() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], CARBON_EMISSIONS).into_response()
}

/// Parses sizes like `1024`, `1KiB`, `1MiB`, `64MiB`, `1GiB`.
pub fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let (digits, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u64 = digits.parse().ok()?;
    let factor = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" | "kb" => 1 << 10,
        "m" | "mib" | "mb" => 1 << 20,
        "g" | "gib" | "gb" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(factor)
}

/// Formats a size the way [`parse_size`] reads it, in the largest exact unit.
pub fn format_size(bytes: u64) -> String {
    for (unit, factor) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
        if bytes >= factor && bytes.is_multiple_of(factor) {
            return format!("{}{unit}", bytes / factor);
        }
    }
    format!("{bytes}B")
}

/// The SHA-256 of a generated payload of `size` bytes (aws-lc over the pattern's slices, so a
/// gibibyte takes a second, not a minute, even in a debug build).
pub fn payload_sha256(size: u64) -> String {
    let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for chunk in chunks(size) {
        context.update(&chunk);
    }
    hex::encode(context.finish().as_ref())
}

/// `GET /payload/{size}`: a generated payload of that size, streamed.
pub async fn payload(Path(size): Path<String>) -> Response {
    match parse_size(&size) {
        Some(size) => payload_response(size),
        None => (StatusCode::BAD_REQUEST, "size like 1024, 1KiB, 64MiB or 1GiB").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1KiB"), Some(1024));
        assert_eq!(parse_size("64MiB"), Some(64 << 20));
        assert_eq!(parse_size("1GiB"), Some(1 << 30));
        assert_eq!(parse_size("17"), Some(17));
        assert_eq!(parse_size("1TiB"), None);
        assert_eq!(format_size(64 << 20), "64MiB");
        assert_eq!(format_size(1000), "1000B");
    }

    #[test]
    fn generated_payloads_follow_the_pattern_across_chunks() {
        use sha2::{Digest, Sha256};
        for size in [0u64, 1, 250, 251, 252, CHUNK as u64 - 1, CHUNK as u64 + 1, 3 * CHUNK as u64 + 17] {
            let bytes: Vec<u8> = chunks(size).flat_map(|c| c.to_vec()).collect();
            assert_eq!(bytes.len() as u64, size);
            assert!(bytes.iter().enumerate().all(|(i, b)| *b as usize == i % PERIOD), "size {size}");
            assert_eq!(payload_sha256(size), hex::encode(Sha256::digest(&bytes)));
        }
    }

    #[test]
    fn fixture_carries_the_original_figures() {
        let data: serde_json::Value = serde_json::from_slice(CARBON_EMISSIONS).unwrap();
        let figures: Vec<i64> = data["vehicles"].as_array().unwrap().iter().map(|v| v["emission_intensity"]["CO2"].as_i64().unwrap()).collect();
        assert_eq!(figures, [800, 315, 195, 115]);
        assert_eq!(data["region"], "Europe and South America");
    }
}
