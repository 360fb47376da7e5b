//! The one error type of the identity module: everything that can go wrong while creating,
//! storing or loading participant keys, talking to a DAPS, or registering at one. Rejections of
//! an incoming token are not errors of this kind; they are [`super::DatRejection`] values.

use std::path::PathBuf;

/// What can go wrong in the identity layer.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("invalid participant id {0:?}: must be 1 to 128 printable characters")]
    InvalidParticipantId(String),
    #[error("key generation failed")]
    KeyGeneration,
    #[error("invalid private key: {0}")]
    InvalidPrivateKey(String),
    #[error("invalid public key: {0}")]
    InvalidPublicKey(String),
    #[error("invalid certificate: {0}")]
    InvalidCertificate(String),
    #[error("certificate generation failed: {0}")]
    CertificateGeneration(String),
    #[error("private key does not match the certificate")]
    KeyCertificateMismatch,
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    InvalidFile { path: PathBuf, reason: String },
    #[error("signing a token failed: {0}")]
    Signing(String),
    #[error("request to {url} failed: {source}")]
    Http {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error(
        "token endpoint {url} refused the request with status {status}: {error}: {description}"
    )]
    TokenRefused {
        url: String,
        status: u16,
        error: String,
        description: String,
    },
    #[error("token endpoint {url} answered with an unusable body: {reason}")]
    BadTokenResponse { url: String, reason: String },
    #[error("registration at {url} failed with status {status}: {body}")]
    RegistrationRefused {
        url: String,
        status: u16,
        body: String,
    },
}
