//! The one error type of the target drivers.
//!
//! Every variant that comes from an exchange carries the `seq` of the recorded exchange, so a
//! case can point its finding at the exact request and answer in the report.

use crate::recording::HttpError;

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The management API answered, but not with success.
    #[error("{method} {path} answered {status}: {body}")]
    Status { method: String, path: String, status: u16, body: String, exchange: u64 },

    /// The management API answered with success, but not with what the call expects.
    #[error("malformed answer to {method} {path}: {detail}")]
    Malformed { method: String, path: String, detail: String, exchange: u64 },

    /// No answer at all (connection refused, reset, timed out).
    #[error(transparent)]
    Transport(#[from] HttpError),

    #[error("cannot build a request for {url}: {message}")]
    InvalidUrl { url: String, message: String },

    #[error("{what} did not reach {} within {after_ms} ms (last seen: {})", wanted.join(" or "), last.as_deref().unwrap_or("nothing"))]
    WaitTimeout { what: String, wanted: Vec<String>, last: Option<String>, after_ms: u64 },

    /// The management API has no way to do what was asked.
    #[error("{0}")]
    Unsupported(String),

    #[error("{what} ended in {actual} instead of {}", wanted.join(" or "))]
    UnexpectedState { what: String, wanted: Vec<String>, actual: String, exchange: u64 },
}

impl TargetError {
    /// The `seq` of the exchange the error refers to, when there is one.
    pub fn exchange(&self) -> Option<u64> {
        match self {
            TargetError::Status { exchange, .. }
            | TargetError::Malformed { exchange, .. }
            | TargetError::UnexpectedState { exchange, .. } => Some(*exchange),
            TargetError::Transport(inner) => inner.exchange(),
            TargetError::InvalidUrl { .. } | TargetError::WaitTimeout { .. } | TargetError::Unsupported(_) => None,
        }
    }

    /// The HTTP status of an unsuccessful answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            TargetError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// A short category for findings: `status`, `body`, `transport`, `timeout` or `state`.
    pub fn kind(&self) -> &'static str {
        match self {
            TargetError::Status { .. } => "status",
            TargetError::Malformed { .. } => "body",
            TargetError::Transport(HttpError::Timeout { .. }) | TargetError::WaitTimeout { .. } => "timeout",
            TargetError::Transport(_) | TargetError::InvalidUrl { .. } => "transport",
            TargetError::UnexpectedState { .. } => "state",
            TargetError::Unsupported(_) => "unsupported",
        }
    }
}
