//! The object store's one error type. Every failure a request can meet is a variant here, and
//! each variant knows the S3 error code and HTTP status a real S3 endpoint would answer with,
//! so clients (the aws-sdk-s3 above all) see the same `<Error><Code>..</Code>..</Error>` bodies
//! they would see from AWS.

use std::path::PathBuf;

use axum::http::StatusCode;

/// Errors of the reference object store: start-up failures and the S3 errors requests meet.
#[derive(Debug, thiserror::Error)]
pub enum ObjectStoreError {
    /// The data directory could not be created or read at start-up.
    #[error("cannot prepare data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The configuration cannot work (for example an empty access key).
    #[error("invalid object store configuration: {0}")]
    Config(String),
    /// The HTTP server stopped with an I/O error.
    #[error("object store server failed: {0}")]
    Serve(std::io::Error),
    /// A storage operation failed while serving a request.
    #[error("storage i/o failed: {0}")]
    Io(#[from] std::io::Error),

    #[error("access denied: {0}")]
    AccessDenied(String),
    #[error("unknown access key id {0}")]
    InvalidAccessKeyId(String),
    /// The signature did not match; the canonical request and string to sign are echoed back
    /// like S3 does, because they are what a client author needs to find the difference.
    #[error("signature does not match")]
    SignatureDoesNotMatch {
        string_to_sign: String,
        canonical_request: String,
    },
    #[error("request time {request_time} too far from server time {server_time}")]
    RequestTimeTooSkewed {
        request_time: String,
        server_time: String,
    },
    #[error("malformed authorization header: {0}")]
    AuthorizationHeaderMalformed(String),
    #[error("malformed presigned query parameters: {0}")]
    AuthorizationQueryParametersError(String),
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error("invalid uri: {0}")]
    InvalidUri(String),
    #[error("x-amz-content-sha256 does not match the payload")]
    ContentSha256Mismatch,
    #[error("payload digest mismatch: {0}")]
    BadDigest(String),
    #[error("malformed digest header: {0}")]
    InvalidDigest(String),
    #[error("body shorter or longer than declared: {0}")]
    IncompleteBody(String),
    #[error("body needs a length")]
    MissingContentLength,
    #[error("object larger than the 5 GiB single put limit")]
    EntityTooLarge,
    #[error("user metadata larger than 2 KiB")]
    MetadataTooLarge,
    #[error("invalid bucket name {0}")]
    InvalidBucketName(String),
    #[error("object key longer than 1024 bytes")]
    KeyTooLong,
    #[error("no such bucket {0}")]
    NoSuchBucket(String),
    #[error("no such key {key} in bucket {bucket}")]
    NoSuchKey { bucket: String, key: String },
    #[error("bucket {0} already exists")]
    BucketAlreadyOwnedByYou(String),
    #[error("bucket {0} is not empty")]
    BucketNotEmpty(String),
    #[error("range not satisfiable for an object of {size} bytes")]
    InvalidRange { size: u64 },
    #[error("method not allowed on this resource")]
    MethodNotAllowed,
    #[error("not implemented: {0}")]
    NotImplemented(String),
}

impl ObjectStoreError {
    /// The S3 error code (`<Code>`).
    pub(crate) fn s3_code(&self) -> &'static str {
        match self {
            Self::DataDir { .. } | Self::Config(_) | Self::Serve(_) | Self::Io(_) => {
                "InternalError"
            }
            Self::AccessDenied(_) => "AccessDenied",
            Self::InvalidAccessKeyId(_) => "InvalidAccessKeyId",
            Self::SignatureDoesNotMatch { .. } => "SignatureDoesNotMatch",
            Self::RequestTimeTooSkewed { .. } => "RequestTimeTooSkewed",
            Self::AuthorizationHeaderMalformed(_) => "AuthorizationHeaderMalformed",
            Self::AuthorizationQueryParametersError(_) => "AuthorizationQueryParametersError",
            Self::InvalidRequest(_) => "InvalidRequest",
            Self::InvalidArgument(_) => "InvalidArgument",
            Self::InvalidUri(_) => "InvalidURI",
            Self::ContentSha256Mismatch => "XAmzContentSHA256Mismatch",
            Self::BadDigest(_) => "BadDigest",
            Self::InvalidDigest(_) => "InvalidDigest",
            Self::IncompleteBody(_) => "IncompleteBody",
            Self::MissingContentLength => "MissingContentLength",
            Self::EntityTooLarge => "EntityTooLarge",
            Self::MetadataTooLarge => "MetadataTooLarge",
            Self::InvalidBucketName(_) => "InvalidBucketName",
            Self::KeyTooLong => "KeyTooLongError",
            Self::NoSuchBucket(_) => "NoSuchBucket",
            Self::NoSuchKey { .. } => "NoSuchKey",
            Self::BucketAlreadyOwnedByYou(_) => "BucketAlreadyOwnedByYou",
            Self::BucketNotEmpty(_) => "BucketNotEmpty",
            Self::InvalidRange { .. } => "InvalidRange",
            Self::MethodNotAllowed => "MethodNotAllowed",
            Self::NotImplemented(_) => "NotImplemented",
        }
    }

    /// The HTTP status S3 answers this error with.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Self::DataDir { .. } | Self::Config(_) | Self::Serve(_) | Self::Io(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            Self::AccessDenied(_)
            | Self::InvalidAccessKeyId(_)
            | Self::SignatureDoesNotMatch { .. }
            | Self::RequestTimeTooSkewed { .. } => StatusCode::FORBIDDEN,
            Self::AuthorizationHeaderMalformed(_)
            | Self::AuthorizationQueryParametersError(_)
            | Self::InvalidRequest(_)
            | Self::InvalidArgument(_)
            | Self::InvalidUri(_)
            | Self::ContentSha256Mismatch
            | Self::BadDigest(_)
            | Self::InvalidDigest(_)
            | Self::IncompleteBody(_)
            | Self::EntityTooLarge
            | Self::MetadataTooLarge
            | Self::InvalidBucketName(_)
            | Self::KeyTooLong => StatusCode::BAD_REQUEST,
            Self::MissingContentLength => StatusCode::LENGTH_REQUIRED,
            Self::NoSuchBucket(_) | Self::NoSuchKey { .. } => StatusCode::NOT_FOUND,
            Self::BucketAlreadyOwnedByYou(_) | Self::BucketNotEmpty(_) => StatusCode::CONFLICT,
            Self::InvalidRange { .. } => StatusCode::RANGE_NOT_SATISFIABLE,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
        }
    }

    /// The human-readable `<Message>`, worded like S3's own where S3 has a fixed text.
    pub(crate) fn s3_message(&self) -> String {
        match self {
            Self::DataDir { .. } | Self::Config(_) | Self::Serve(_) | Self::Io(_) => {
                "We encountered an internal error. Please try again.".to_owned()
            }
            Self::InvalidAccessKeyId(_) => {
                "The AWS Access Key Id you provided does not exist in our records.".to_owned()
            }
            Self::SignatureDoesNotMatch { .. } => "The request signature we calculated does not \
                match the signature you provided. Check your key and signing method."
                .to_owned(),
            Self::RequestTimeTooSkewed { .. } => {
                "The difference between the request time and the current time is too large."
                    .to_owned()
            }
            Self::ContentSha256Mismatch => {
                "The provided 'x-amz-content-sha256' header does not match what was computed."
                    .to_owned()
            }
            Self::NoSuchBucket(_) => "The specified bucket does not exist".to_owned(),
            Self::NoSuchKey { .. } => "The specified key does not exist.".to_owned(),
            Self::BucketAlreadyOwnedByYou(_) => "Your previous request to create the named \
                bucket succeeded and you already own it."
                .to_owned(),
            Self::BucketNotEmpty(_) => "The bucket you tried to delete is not empty".to_owned(),
            Self::InvalidBucketName(_) => "The specified bucket is not valid.".to_owned(),
            Self::KeyTooLong => "Your key is too long".to_owned(),
            Self::InvalidRange { .. } => "The requested range is not satisfiable".to_owned(),
            Self::MethodNotAllowed => {
                "The specified method is not allowed against this resource.".to_owned()
            }
            Self::EntityTooLarge => {
                "Your proposed upload exceeds the maximum allowed object size.".to_owned()
            }
            Self::MissingContentLength => {
                "You must provide the Content-Length HTTP header.".to_owned()
            }
            other => other.to_string(),
        }
    }

    /// Extra child elements S3 adds to the `<Error>` element for this code.
    pub(crate) fn s3_details(&self) -> Vec<(&'static str, String)> {
        match self {
            Self::InvalidAccessKeyId(key) => vec![("AWSAccessKeyId", key.clone())],
            Self::SignatureDoesNotMatch {
                string_to_sign,
                canonical_request,
            } => vec![
                ("StringToSign", string_to_sign.clone()),
                ("CanonicalRequest", canonical_request.clone()),
            ],
            Self::RequestTimeTooSkewed {
                request_time,
                server_time,
            } => vec![
                ("RequestTime", request_time.clone()),
                ("ServerTime", server_time.clone()),
                ("MaxAllowedSkewMilliseconds", "900000".to_owned()),
            ],
            Self::NoSuchBucket(bucket)
            | Self::BucketAlreadyOwnedByYou(bucket)
            | Self::BucketNotEmpty(bucket)
            | Self::InvalidBucketName(bucket) => vec![("BucketName", bucket.clone())],
            Self::NoSuchKey { bucket, key } => {
                vec![("BucketName", bucket.clone()), ("Key", key.clone())]
            }
            Self::InvalidRange { size } => vec![("ActualObjectSize", size.to_string())],
            _ => Vec::new(),
        }
    }
}
