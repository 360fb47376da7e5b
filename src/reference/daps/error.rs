//! The one error type of the reference DAPS. Every variant answers with an RFC 6749 error
//! body `{"error": ..., "error_description": ...}`, so no input, however broken, gets anything
//! but a well-formed OAuth2 answer.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// What the DAPS can refuse or fail at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DapsError {
    /// A parameter is missing, repeated or malformed (RFC 6749 `invalid_request`).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// Client authentication failed: unknown client, bad assertion signature, expired or
    /// replayed assertion, wrong assertion audience (RFC 7523 section 3.2 mandates
    /// `invalid_client` for all of them).
    #[error("invalid client: {0}")]
    InvalidClient(String),
    /// The request body is longer than the DAPS reads (answered 413 with `invalid_request`).
    #[error("payload too large: {0}")]
    PayloadTooLarge(String),
    /// The grant type is not `client_credentials`.
    #[error("unsupported grant type: {0}")]
    UnsupportedGrantType(String),
    /// The requested scope is not the IDS connector scope.
    #[error("invalid scope: {0}")]
    InvalidScope(String),
    /// The admin API was called without the right `X-Api-Key`.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// The replay cache is full of unexpired assertions; retrying later helps.
    #[error("temporarily unavailable: {0}")]
    TemporarilyUnavailable(String),
    /// Generating or using the DAPS signing key failed.
    #[error("server error: {0}")]
    Internal(String),
}

impl DapsError {
    /// The RFC 6749 `error` code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) | Self::PayloadTooLarge(_) => "invalid_request",
            Self::InvalidClient(_) => "invalid_client",
            Self::UnsupportedGrantType(_) => "unsupported_grant_type",
            Self::InvalidScope(_) => "invalid_scope",
            Self::Unauthorized(_) => "unauthorized",
            Self::TemporarilyUnavailable(_) => "temporarily_unavailable",
            Self::Internal(_) => "server_error",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidClient(_) | Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::TemporarilyUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::InvalidRequest(_) | Self::UnsupportedGrantType(_) | Self::InvalidScope(_) => {
                StatusCode::BAD_REQUEST
            }
        }
    }

    fn description(&self) -> &str {
        match self {
            Self::InvalidRequest(d)
            | Self::PayloadTooLarge(d)
            | Self::InvalidClient(d)
            | Self::UnsupportedGrantType(d)
            | Self::InvalidScope(d)
            | Self::Unauthorized(d)
            | Self::TemporarilyUnavailable(d)
            | Self::Internal(d) => d,
        }
    }
}

impl IntoResponse for DapsError {
    fn into_response(self) -> Response {
        tracing::debug!(error = %self, "daps refused a request");
        let body = json!({"error": self.code(), "error_description": self.description()});
        let mut response = (self.status(), Json(body)).into_response();
        // RFC 6749 section 5.2: error responses from the token endpoint must not be cached.
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn errors_render_rfc6749_bodies() {
        let cases = [
            (
                DapsError::InvalidClient("unknown client".into()),
                401,
                "invalid_client",
            ),
            (
                DapsError::InvalidRequest("x".into()),
                400,
                "invalid_request",
            ),
            (
                DapsError::UnsupportedGrantType("password".into()),
                400,
                "unsupported_grant_type",
            ),
            (DapsError::InvalidScope("x".into()), 400, "invalid_scope"),
            (DapsError::Unauthorized("x".into()), 401, "unauthorized"),
            (
                DapsError::TemporarilyUnavailable("x".into()),
                503,
                "temporarily_unavailable",
            ),
            (DapsError::Internal("x".into()), 500, "server_error"),
            (DapsError::PayloadTooLarge("x".into()), 413, "invalid_request"),
        ];
        for (error, status, code) in cases {
            let description = error.description().to_owned();
            let response = error.into_response();
            assert_eq!(response.status().as_u16(), status);
            assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
            let body = axum::body::to_bytes(response.into_body(), 1 << 16)
                .await
                .unwrap();
            let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(body["error"], code);
            assert_eq!(body["error_description"], description.as_str());
        }
    }
}
