//! The admin API of the reference DAPS: registering clients from their certificates, listing
//! them, and minting test tokens. Every call needs the admin key in `X-Api-Key`; registration
//! is how connectors outside the process (containers, a connector under test) join the data
//! space, and minting is how a harness that does not run this DAPS in its own process gets the
//! expired and wrong-audience DATs of the identity cases.

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::Value;

use crate::identity::ADMIN_KEY_HEADER;

use super::error::DapsError;
use super::state::{Daps, MintOverrides, Registered, RegistrationRequest};

/// The body of `POST /admin/clients`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RegistrationBody {
    participant_id: String,
    /// The client's certificate, PEM.
    certificate: String,
    /// The public key as a JWK; must match the certificate's key when given.
    #[serde(default)]
    jwk: Option<Value>,
    #[serde(default)]
    referring_connector: Option<String>,
}

/// `POST /admin/clients`: 201 for a new client, 200 when an existing one was replaced.
pub(crate) async fn register_client(
    State(daps): State<Daps>,
    headers: HeaderMap,
    body: Result<Json<RegistrationBody>, JsonRejection>,
) -> Response {
    let result = authorize(&daps, &headers).and_then(|()| {
        let Json(body) =
            body.map_err(|rejection| DapsError::InvalidRequest(rejection.body_text()))?;
        daps.register_certificate(RegistrationRequest {
            participant_id: body.participant_id,
            certificate_pem: body.certificate,
            jwk: body.jwk,
            referring_connector: body.referring_connector,
        })
    });
    match result {
        Ok((registration, outcome)) => {
            tracing::info!(client_id = %registration.client_id, participant = %registration.participant_id, "daps registered a client");
            let status = match outcome {
                Registered::Created => StatusCode::CREATED,
                Registered::Replaced => StatusCode::OK,
            };
            (status, Json(registration.to_json())).into_response()
        }
        Err(error) => error.into_response(),
    }
}

/// `GET /admin/clients`: every registration, public JWK included.
pub(crate) async fn list_clients(State(daps): State<Daps>, headers: HeaderMap) -> Response {
    match authorize(&daps, &headers) {
        Ok(()) => {
            let clients: Vec<Value> = daps.clients().iter().map(|c| c.to_json()).collect();
            Json(clients).into_response()
        }
        Err(error) => error.into_response(),
    }
}

/// The body of `POST /admin/mint`: a DAT for a registered client with chosen audience and
/// times. Nothing else can be chosen (issuer, type and key stay the DAPS's own), so a minted
/// token differs from an issued one only in what the identity cases need to vary.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct MintBody {
    /// The client id (`sub`) of a registered client.
    subject: String,
    audience: Vec<String>,
    #[serde(default)]
    issued_at: Option<i64>,
    #[serde(default)]
    not_before: Option<i64>,
    #[serde(default)]
    expires_at: Option<i64>,
}

/// `POST /admin/mint`: `{"access_token": ..., "token_type": "bearer"}`.
pub(crate) async fn mint_token(
    State(daps): State<Daps>,
    headers: HeaderMap,
    body: Result<Json<MintBody>, JsonRejection>,
) -> Response {
    let result = authorize(&daps, &headers).and_then(|()| {
        let Json(body) = body.map_err(|rejection| DapsError::InvalidRequest(rejection.body_text()))?;
        if daps.client(&body.subject).is_none() {
            return Err(DapsError::InvalidRequest(format!("subject {} is not a registered client", body.subject)));
        }
        if body.audience.is_empty() {
            return Err(DapsError::InvalidRequest("audience must name at least one participant".into()));
        }
        daps.mint(MintOverrides {
            subject: Some(body.subject),
            audience: Some(body.audience),
            issued_at: body.issued_at,
            not_before: body.not_before,
            expires_at: body.expires_at,
            ..MintOverrides::default()
        })
    });
    match result {
        Ok(token) => {
            tracing::warn!("daps minted a test token through the admin api");
            Json(serde_json::json!({"access_token": token, "token_type": "bearer"})).into_response()
        }
        Err(error) => error.into_response(),
    }
}

fn authorize(daps: &Daps, headers: &HeaderMap) -> Result<(), DapsError> {
    if !daps.admin_enabled() {
        return Err(DapsError::Unauthorized(
            "the admin api is disabled (no admin key configured)".into(),
        ));
    }
    let presented = headers
        .get(ADMIN_KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| DapsError::Unauthorized(format!("missing {ADMIN_KEY_HEADER} header")))?;
    if daps.admin_key_matches(presented) {
        Ok(())
    } else {
        Err(DapsError::Unauthorized("wrong admin key".into()))
    }
}
