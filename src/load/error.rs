//! The one error type of the load module: everything that stops a load run before it has
//! figures to report. Failed requests during a run are not errors; they are counted by kind in
//! the scenario's figures.

use std::path::PathBuf;

use crate::runtime::embedded::RuntimeError;
use crate::target::TargetError;

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot start the embedded data space: {0}")]
    Runtime(#[from] RuntimeError),

    #[error("cannot read the load target file {path}: {detail}")]
    TargetFile { path: PathBuf, detail: String },

    /// Load runs only send traffic to loopback (or, for URLs a connector resolves inside its
    /// container network, to the project's own containers).
    #[error("{what} {url} is not allowed: {reason}")]
    NotAllowed { what: String, url: String, reason: String },

    #[error("cannot prepare the load run ({step}): {source}")]
    Setup {
        step: String,
        #[source]
        source: TargetError,
    },

    #[error("cannot prepare the load run ({step}): {detail}")]
    Prepare { step: String, detail: String },

    #[error("cannot start the baseline server: {0}")]
    Baseline(#[source] std::io::Error),

    #[error("goose could not run {scenario}: {detail}")]
    Goose { scenario: String, detail: String },

    #[error("invalid threshold {text:?}: {reason}")]
    Threshold { text: String, reason: String },

    #[error("cannot read the thresholds file {path}: {detail}")]
    ThresholdFile { path: PathBuf, detail: String },

    #[error("invalid load options: {0}")]
    Options(String),

    /// Ctrl-C during a run: the run stops without figures.
    #[error("interrupted")]
    Interrupted,
}
