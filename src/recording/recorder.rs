//! The recorder: one shared log of every HTTP exchange a run produces, whoever produced it
//! (the harness's own calls, the recording proxies between the reference connectors, the sink
//! the provider pushes to).
//!
//! Exchanges get a global sequence number when their request starts, so that sorting by `seq`
//! gives the order in which requests were sent even though responses are recorded as they
//! complete. The runner drains the recorder after each case to attach the exchanges to it.
//! Payload bytes are never held here: bodies are turned into [`Body`] values first, and a
//! binary or oversized body is only its size and SHA-256.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use sha2::{Digest, Sha256};

use crate::report::model::{Body, Exchange};

/// The most of a text body a report keeps. Longer text is cut at a character boundary.
pub const TEXT_LIMIT: usize = 64 * 1024;

/// A shared, cheaply clonable log of exchanges.
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    next_seq: AtomicU64,
    exchanges: Mutex<Vec<Exchange>>,
}

impl Recorder {
    pub fn new() -> Recorder {
        Recorder::default()
    }

    /// Reserves the sequence number of an exchange whose request is about to be sent.
    pub fn next_seq(&self) -> u64 {
        self.inner.next_seq.fetch_add(1, Ordering::SeqCst)
    }

    /// Stores an exchange. Its `seq` should come from [`Recorder::next_seq`]; `record_new`
    /// assigns one for callers that did not reserve it.
    pub fn record(&self, exchange: Exchange) {
        self.lock().push(exchange);
    }

    /// Stores an exchange under a fresh sequence number and returns that number.
    pub fn record_new(&self, mut exchange: Exchange) -> u64 {
        exchange.seq = self.next_seq();
        let seq = exchange.seq;
        self.record(exchange);
        seq
    }

    /// Forgets one exchange, used by polling loops that need not keep every identical answer.
    pub fn discard(&self, seq: u64) {
        self.lock().retain(|e| e.seq != seq);
    }

    /// Takes every exchange recorded so far, in `seq` order, leaving the recorder empty.
    pub fn drain(&self) -> Vec<Exchange> {
        let mut taken = std::mem::take(&mut *self.lock());
        taken.sort_by_key(|e| e.seq);
        taken
    }

    /// Copies every exchange recorded so far, in `seq` order.
    pub fn snapshot(&self) -> Vec<Exchange> {
        let mut copy = self.lock().clone();
        copy.sort_by_key(|e| e.seq);
        copy
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Exchange>> {
        // A panic while holding the lock cannot leave the vector half-written (push and take are
        // atomic with respect to it), so a poisoned lock is still safe to use.
        self.inner.exchanges.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Lowercase hex SHA-256 of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Turns a body into its recorded form: JSON when it parses, text (cut to [`TEXT_LIMIT`]) when
/// it is UTF-8 and not declared binary, otherwise its size and digest. An empty body is `None`.
pub fn body_of(bytes: &[u8], content_type: Option<&str>) -> Option<Body> {
    if bytes.is_empty() {
        return None;
    }
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) {
        return Some(Body::Json(value));
    }
    if !is_binary_type(content_type) {
        if let Ok(text) = std::str::from_utf8(bytes) {
            return Some(Body::Text(truncate(text, TEXT_LIMIT)));
        }
    }
    Some(digest_body(bytes))
}

/// The size-and-digest form of a body.
pub fn digest_body(bytes: &[u8]) -> Body {
    Body::Binary { size: bytes.len() as u64, sha256: sha256_hex(bytes) }
}

/// True for content types that announce bytes rather than text or JSON.
pub fn is_binary_type(content_type: Option<&str>) -> bool {
    match content_type {
        None => false,
        Some(ct) => {
            let ct = ct.to_ascii_lowercase();
            !(ct.starts_with("text/")
                || ct.contains("json")
                || ct.contains("xml")
                || ct.starts_with("application/x-www-form-urlencoded")
                || ct.starts_with("application/problem"))
        }
    }
}

/// True for content types whose bodies are JSON (`application/json`, `application/ld+json`, ...).
pub fn is_json_type(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|ct| ct.to_ascii_lowercase().contains("json"))
}

fn truncate(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_string();
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… [truncated, {} bytes in all]", &text[..end], text.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exchange(seq: u64) -> Exchange {
        Exchange {
            status: Some(200),
            ..Exchange::request(seq, "a", "b", "GET", "http://127.0.0.1/")
        }
    }

    #[test]
    fn drain_orders_by_seq_and_empties() {
        let recorder = Recorder::new();
        let first = recorder.next_seq();
        let second = recorder.next_seq();
        recorder.record(exchange(second));
        recorder.record(exchange(first));
        let clone = recorder.clone();
        assert_eq!(clone.snapshot().iter().map(|e| e.seq).collect::<Vec<_>>(), vec![first, second]);
        assert_eq!(recorder.drain().iter().map(|e| e.seq).collect::<Vec<_>>(), vec![first, second]);
        assert!(clone.is_empty());
    }

    #[test]
    fn discard_forgets_one_exchange() {
        let recorder = Recorder::new();
        let a = recorder.record_new(exchange(0));
        let b = recorder.record_new(exchange(0));
        recorder.discard(a);
        assert_eq!(recorder.drain().iter().map(|e| e.seq).collect::<Vec<_>>(), vec![b]);
    }

    #[test]
    fn bodies_are_json_text_or_digest() {
        assert_eq!(body_of(b"{\"a\":1}", Some("text/plain")), Some(Body::Json(serde_json::json!({"a": 1}))));
        assert_eq!(body_of(b"hello", None), Some(Body::Text("hello".into())));
        assert_eq!(body_of(b"", None), None);
        match body_of(b"hello", Some("application/octet-stream")) {
            Some(Body::Binary { size, sha256 }) => {
                assert_eq!(size, 5);
                assert_eq!(sha256, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
            }
            other => panic!("expected a digest, got {other:?}"),
        }
        assert!(matches!(body_of(&[0xff, 0xfe, 0x00], None), Some(Body::Binary { size: 3, .. })));
    }

    #[test]
    fn long_text_is_cut_at_a_char_boundary() {
        let text = "é".repeat(TEXT_LIMIT);
        match body_of(text.as_bytes(), Some("text/plain")) {
            Some(Body::Text(cut)) => {
                assert!(cut.len() < text.len());
                assert!(cut.contains("truncated"));
            }
            other => panic!("expected text, got {other:?}"),
        }
    }
}
