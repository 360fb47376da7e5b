//! The HTTP face of the reference DAPS: the router (usable without a socket, for tests) and
//! a `serve` that binds it to a listener, learning the issuer URL from the bound address when
//! none was configured.

use std::future::Future;

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::admin::{list_clients, mint_token, register_client};
use super::error::DapsError;
use super::state::{Daps, JWKS_PATH, TOKEN_PATH};
use super::token::token_endpoint;

/// Where the admin API mints test tokens (admin key required).
pub const MINT_PATH: &str = "/admin/mint";

/// All DAPS routes.
pub fn router(daps: Daps) -> Router {
    Router::new()
        .route(TOKEN_PATH, post(token_endpoint))
        .route(JWKS_PATH, get(jwks))
        .route("/jwks.json", get(jwks))
        .route("/admin/clients", post(register_client).get(list_clients))
        .route(MINT_PATH, post(mint_token))
        .route("/health", get(health))
        .layer(axum::middleware::from_fn(limit_body))
        .with_state(daps)
}

/// The longest request body the DAPS reads (2 MiB); a longer one gets 413 with an OAuth2
/// `invalid_request` body.
pub const DAPS_BODY_LIMIT: usize = 2 << 20;

async fn limit_body(request: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    use crate::reference::body::{declared_length, read_limited, BodyError};
    let declared = declared_length(request.headers());
    let (parts, body) = request.into_parts();
    match read_limited(body, declared, DAPS_BODY_LIMIT).await {
        Ok(bytes) => next.run(axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes))).await,
        Err(e @ BodyError::TooLarge { .. }) => DapsError::PayloadTooLarge(e.to_string()).into_response(),
        Err(e) => DapsError::InvalidRequest(e.to_string()).into_response(),
    }
}

async fn jwks(State(daps): State<Daps>) -> Json<Value> {
    Json(daps.jwks())
}

async fn health() -> Json<Value> {
    Json(json!({"status": "UP"}))
}

/// Serves the DAPS on `listener` until the process ends. An empty issuer is set to
/// `http://<bound address>` first.
pub async fn serve(daps: Daps, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    serve_with_shutdown(daps, listener, std::future::pending()).await
}

/// Like [`serve`], stopping gracefully when `shutdown` completes.
pub async fn serve_with_shutdown(
    daps: Daps,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if daps.issuer().is_empty() {
        daps.set_issuer(&format!("http://{}", listener.local_addr()?));
    }
    tracing::info!(issuer = %daps.issuer(), "reference daps listening");
    crate::serving::serve(listener, router(daps), shutdown).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::daps::DapsConfig;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt as _;

    async fn call(router: Router, request: Request<Body>) -> (StatusCode, Value) {
        let response = router.oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    fn daps() -> Daps {
        Daps::new(DapsConfig {
            issuer: "http://daps.test".into(),
            admin_key: "k".into(),
            ..DapsConfig::default()
        })
        .unwrap()
    }

    #[tokio::test]
    async fn minting_needs_the_admin_key_and_a_registered_subject() {
        let daps = daps();
        let keys = crate::identity::ParticipantKeys::generate("minted").unwrap();
        daps.register(&keys, "http://minted.test/");
        let body = json!({"subject": keys.client_id().as_str(), "audience": ["someone"], "expiresAt": 1});
        let request = |key: Option<&str>, body: &Value| {
            let mut builder = Request::post(MINT_PATH).header("content-type", "application/json");
            if let Some(key) = key {
                builder = builder.header("x-api-key", key);
            }
            builder.body(Body::from(body.to_string())).unwrap()
        };
        for key in [None, Some("wrong")] {
            let (status, answer) = call(router(daps.clone()), request(key, &body)).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
            assert!(answer.get("access_token").is_none());
        }
        let stranger = json!({"subject": "nobody", "audience": ["someone"]});
        let (status, _) = call(router(daps.clone()), request(Some("k"), &stranger)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, answer) = call(router(daps.clone()), request(Some("k"), &body)).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        let token = answer["access_token"].as_str().unwrap();
        let payload: Value = {
            use base64::Engine;
            let part = token.split('.').nth(1).unwrap();
            serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
        };
        assert_eq!(payload["exp"], 1);
        assert!(payload["aud"] == json!(["someone"]) || payload["aud"] == "someone", "{payload}");
        assert_eq!(payload["iss"], "http://daps.test");
    }

    #[tokio::test]
    async fn jwks_and_health_are_served() {
        let daps = daps();
        for path in [JWKS_PATH, "/jwks.json"] {
            let (status, body) = call(
                router(daps.clone()),
                Request::get(path).body(Body::empty()).unwrap(),
            )
            .await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(body["keys"][0]["kid"], daps.kid());
            assert_eq!(body["keys"][0]["alg"], "ES256");
        }
        let (status, _) = call(
            router(daps),
            Request::get("/health").body(Body::empty()).unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }

    #[tokio::test]
    async fn hostile_token_requests_get_oauth_errors() {
        let daps = daps();
        let bodies: [(&str, &[u8]); 5] = [
            ("application/x-www-form-urlencoded", b""),
            ("application/x-www-form-urlencoded", b"grant_type=client_credentials&grant_type=x"),
            ("application/x-www-form-urlencoded", b"\xff\xfe%%%"),
            ("application/json", b"{\"grant_type\": \"client_credentials\"}"),
            ("application/x-www-form-urlencoded", b"grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=a.b.c"),
        ];
        for (content_type, body) in bodies {
            let request = Request::post(TOKEN_PATH)
                .header("content-type", content_type)
                .body(Body::from(body.to_vec()))
                .unwrap();
            let (status, answer) = call(router(daps.clone()), request).await;
            assert!(
                status == StatusCode::BAD_REQUEST || status == StatusCode::UNAUTHORIZED,
                "{status}"
            );
            assert!(answer["error"].is_string(), "{answer}");
            assert!(answer["error_description"].is_string(), "{answer}");
        }
    }

    #[tokio::test]
    async fn admin_rejects_bad_bodies_with_error_bodies() {
        let daps = daps();
        for body in [
            "not json",
            "{}",
            "{\"participantId\": \"x\", \"certificate\": \"junk\"}",
            "{\"participantId\": \"x\", \"certificate\": \"\", \"extra\": 1}",
        ] {
            let request = Request::post("/admin/clients")
                .header("content-type", "application/json")
                .header("x-api-key", "k")
                .body(Body::from(body))
                .unwrap();
            let (status, answer) = call(router(daps.clone()), request).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(answer["error"], "invalid_request");
        }
    }
}
