//! The object store's one error type: what can go wrong opening or serving it. The S3 errors
//! requests meet are s3s's own `S3Error`s, answered by s3s as S3's XML error documents.

use std::path::PathBuf;

/// Errors of the reference object store outside a request: start-up and serving.
#[derive(Debug, thiserror::Error)]
pub enum ObjectStoreError {
    /// The data directory could not be created or opened at start-up.
    #[error("cannot prepare data directory {path}: {reason}")]
    DataDir { path: PathBuf, reason: String },
    /// The configuration cannot work (for example an empty access key).
    #[error("invalid object store configuration: {0}")]
    Config(String),
    /// The HTTP server stopped with an I/O error.
    #[error("object store server failed: {0}")]
    Serve(std::io::Error),
}
