//! The one error type of the reference connector's DSP face, answered with the protocol's
//! error body (`ContractNegotiationError`, `TransferError`, `CatalogError`) and the status
//! the binding prescribes, never a panic or an empty 500.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::protocol::binding::Area;
use crate::protocol::{codec_for, ConsumerPid, ErrorBody, ProtocolVersion, ProviderPid};

#[derive(Debug, Clone, thiserror::Error)]
#[error("{status}: {reason}")]
pub struct DspError {
    pub status: StatusCode,
    pub code: String,
    pub reason: String,
    pub area: Area,
    pub consumer_pid: Option<ConsumerPid>,
    pub provider_pid: Option<ProviderPid>,
}

impl DspError {
    pub fn new(status: StatusCode, reason: impl Into<String>) -> DspError {
        DspError {
            status,
            code: status.as_u16().to_string(),
            reason: reason.into(),
            area: Area::Negotiation,
            consumer_pid: None,
            provider_pid: None,
        }
    }

    pub fn bad_request(reason: impl Into<String>) -> DspError {
        DspError::new(StatusCode::BAD_REQUEST, reason)
    }

    pub fn unauthorized(reason: impl Into<String>) -> DspError {
        DspError::new(StatusCode::UNAUTHORIZED, reason)
    }

    pub fn not_found(reason: impl Into<String>) -> DspError {
        DspError::new(StatusCode::NOT_FOUND, reason)
    }

    pub fn in_area(mut self, area: Area) -> DspError {
        self.area = area;
        self
    }

    pub fn pids(mut self, consumer: Option<ConsumerPid>, provider: Option<ProviderPid>) -> DspError {
        if self.consumer_pid.is_none() {
            self.consumer_pid = consumer;
        }
        if self.provider_pid.is_none() {
            self.provider_pid = provider;
        }
        self
    }

    /// The protocol error body in DSP 2025-1.
    pub fn body(&self) -> Value {
        self.body_in(ProtocolVersion::V2025_1)
    }

    /// The protocol error body as `version` writes it. Both pids are required by the 2025-1 schemas for negotiation
    /// and transfer errors, so an unknown one is sent as an empty string rather than left out.
    pub fn body_in(&self, version: ProtocolVersion) -> Value {
        let body = ErrorBody {
            provider_pid: Some(self.provider_pid.clone().unwrap_or_else(|| ProviderPid(String::new()))),
            consumer_pid: Some(self.consumer_pid.clone().unwrap_or_else(|| ConsumerPid(String::new()))),
            code: Some(self.code.clone()),
            reason: vec![Value::String(self.reason.clone())],
        };
        codec_for(version).encode(&self.area.error(body))
    }
}

impl IntoResponse for DspError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body())).into_response()
    }
}
