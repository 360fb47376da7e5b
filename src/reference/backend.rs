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
use sha2::{Digest, Sha256};

/// The carbon-emissions intensity data company X shares (the project's own fixture).
pub const CARBON_EMISSIONS: &[u8] = include_bytes!("../../fixtures/carbon_emissions.json");

/// The path of the carbon-emissions data on the backend.
pub const CARBON_PATH: &str = "/carbon-emissions";

const CHUNK: usize = 64 * 1024;

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

/// The byte at `offset` of every generated payload.
fn pattern_chunk(offset: u64, len: usize) -> Vec<u8> {
    (0..len as u64).map(|i| ((offset + i) % 251) as u8).collect()
}

/// The SHA-256 of a generated payload of `size` bytes, computed as the backend would send it.
pub fn payload_sha256(size: u64) -> String {
    let mut hasher = Sha256::new();
    let mut offset = 0;
    while offset < size {
        let len = (size - offset).min(CHUNK as u64) as usize;
        hasher.update(pattern_chunk(offset, len));
        offset += len as u64;
    }
    hex::encode(hasher.finalize())
}

async fn payload(Path(size): Path<String>) -> Response {
    let Some(size) = parse_size(&size) else {
        return (StatusCode::BAD_REQUEST, "size like 1024, 1KiB, 64MiB or 1GiB").into_response();
    };
    let stream = futures::stream::unfold(0u64, move |offset| async move {
        if offset >= size {
            return None;
        }
        let len = (size - offset).min(CHUNK as u64) as usize;
        Some((Ok::<_, std::io::Error>(bytes::Bytes::from(pattern_chunk(offset, len))), offset + len as u64))
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::CONTENT_LENGTH, size)
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
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
    fn fixture_carries_the_original_figures() {
        let data: serde_json::Value = serde_json::from_slice(CARBON_EMISSIONS).unwrap();
        let figures: Vec<i64> = data["vehicles"].as_array().unwrap().iter().map(|v| v["emission_intensity"]["CO2"].as_i64().unwrap()).collect();
        assert_eq!(figures, [800, 315, 195, 115]);
        assert_eq!(data["region"], "Europe and South America");
    }
}
