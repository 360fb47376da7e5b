//! The one error type of the report module: what can go wrong reading or writing report files.
//!
//! Rendering itself cannot fail (it only formats the model into strings), so only the file
//! boundary ([`crate::report::write_all`] and [`crate::report::load`]) returns these.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot create report directory {path}")]
    CreateDir { path: PathBuf, source: std::io::Error },

    #[error("cannot write {path}")]
    Write { path: PathBuf, source: std::io::Error },

    #[error("cannot read {path}")]
    Read { path: PathBuf, source: std::io::Error },

    #[error("{path} is not valid JSON")]
    NotJson { path: PathBuf, source: serde_json::Error },

    #[error("{path} is not a dsp-harness report: it has no numeric format_version")]
    MissingVersion { path: PathBuf },

    #[error("{path} has report format version {found}, this dsp-harness reads version {supported}")]
    UnsupportedVersion { path: PathBuf, found: u64, supported: u32 },

    #[error("{path} does not match the report format version {version}")]
    Invalid { path: PathBuf, version: u32, source: serde_json::Error },
}
