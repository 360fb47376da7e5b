//! The one error type of recording HTTP, which the runner and the connector drivers wrap.
//!
//! A connector that answers badly is not an error here: the runner turns that into findings.
//! An `HttpError` means an exchange could not happen at all (the transport failed or timed out,
//! which the recorder has also logged as an exchange with `error`), or the harness could not set
//! up one of its own helpers (a local listener).

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The request never got a complete response. `exchange` is the recorded exchange's `seq`.
    #[error("request {method} {url} failed: {message}")]
    Transport { method: String, url: String, message: String, exchange: u64 },

    #[error("no complete answer to {method} {url} within {after_ms} ms")]
    Timeout { method: String, url: String, after_ms: u64, exchange: u64 },

    /// The reply's body grew past the harness's cap; it was dropped unread.
    #[error("the reply to {method} {url} is larger than the limit of {limit} bytes")]
    BodyTooLarge { method: String, url: String, limit: usize, exchange: u64 },

    #[error("cannot bind a local listener for {what}")]
    Bind {
        what: String,
        #[source]
        source: std::io::Error,
    },

    #[error("invalid upstream url {url}: {message}")]
    Upstream { url: String, message: String },
}

impl HttpError {
    /// The `seq` of the exchange the recorder logged for this failure, if there was one.
    pub fn exchange(&self) -> Option<u64> {
        match self {
            HttpError::Transport { exchange, .. } | HttpError::Timeout { exchange, .. } | HttpError::BodyTooLarge { exchange, .. } => Some(*exchange),
            HttpError::Bind { .. } | HttpError::Upstream { .. } => None,
        }
    }
}
