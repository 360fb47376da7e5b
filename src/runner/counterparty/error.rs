//! The one error type of the harness provider: the harness could not start, could not obtain
//! its own token, could not reach the connector under test, or was asked to move a process it
//! does not know. A connector under test that answers badly is never an error here; its answer
//! is handed back to the check, which turns it into findings.

use crate::identity::IdentityError;
use crate::runner::RunnerError;

#[derive(Debug, thiserror::Error)]
pub enum CounterpartyError {
    #[error("cannot bind the harness provider: {0}")]
    Bind(#[source] std::io::Error),

    #[error("the harness cannot get its own token from the daps: {0}")]
    Token(#[source] IdentityError),

    #[error(transparent)]
    Transport(#[from] RunnerError),

    #[error("cannot build a request for {url}: {message}")]
    InvalidUrl { url: String, message: String },

    #[error("the harness provider knows no {what} {pid}")]
    UnknownProcess { what: &'static str, pid: String },

    #[error("the {what} {pid} has no consumer pid yet, so the harness cannot address the consumer")]
    NoConsumerPid { what: &'static str, pid: String },
}

impl CounterpartyError {
    /// The `seq` of the recorded exchange the error refers to, when there is one.
    pub fn exchange(&self) -> Option<u64> {
        match self {
            CounterpartyError::Transport(inner) => inner.exchange(),
            _ => None,
        }
    }

    /// A short category for findings.
    pub fn kind(&self) -> &'static str {
        match self {
            CounterpartyError::Transport(RunnerError::Timeout { .. }) => "timeout",
            CounterpartyError::Transport(_) => "transport",
            _ => "harness",
        }
    }
}
