//! The HTTP face of the object store: an axum router that hands every request to the store's
//! s3s service (path-style addressing; s3s authenticates, answers S3's XML errors and streams
//! bodies to and from s3s-fs), and a store serving in a background task for tests.

use std::net::SocketAddr;

use axum::extract::Request;
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tokio::net::TcpListener;

use super::error::ObjectStoreError;
use super::store::ObjectStore;
use crate::serving::ServerTask;

/// The S3 API as an axum router (usable without a socket, e.g. with `tower::ServiceExt`).
pub fn router(store: ObjectStore) -> Router {
    Router::new().fallback(move |request: Request| answer(store.clone(), request))
}

async fn answer(store: ObjectStore, request: Request) -> Response {
    if is_form_upload(&request) {
        return form_uploads_disabled();
    }
    match store.service().call(request.map(s3s::Body::http_body_unsync)).await {
        Ok(response) => response.map(axum::body::Body::new).into_response(),
        // s3s answers every S3 error itself; an `Err` means it could not even do that.
        Err(error) => {
            tracing::warn!(?error, "object store could not answer a request");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// A store serving in a background task; stops when dropped.
#[derive(Debug)]
pub struct RunningObjectStore {
    store: ObjectStore,
    addr: SocketAddr,
    server: ServerTask,
}

impl RunningObjectStore {
    /// Binds `addr` (use `127.0.0.1:0` for a free port) and serves `store` in a spawned task.
    pub async fn start(store: ObjectStore, addr: SocketAddr) -> Result<Self, ObjectStoreError> {
        let listener = TcpListener::bind(addr).await.map_err(ObjectStoreError::Serve)?;
        let addr = listener.local_addr().map_err(ObjectStoreError::Serve)?;
        let server = ServerTask::spawn(listener, router(store.clone()));
        Ok(Self { store, addr, server })
    }

    /// `http://127.0.0.1:port`, the endpoint URL for S3 clients.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn store(&self) -> &ObjectStore {
        &self.store
    }

    /// Stops accepting connections and waits for open ones to finish.
    pub async fn stop(self) -> Result<(), ObjectStoreError> {
        self.server.stop().await.map_err(ObjectStoreError::Serve)
    }
}

/// A browser form upload (POST object). s3s would read the form, and buffer its file, before
/// any access check, so such requests are refused before s3s sees them.
fn is_form_upload(request: &Request) -> bool {
    let content_type = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    request.method() == Method::POST
        && content_type.is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("multipart/form-data"))
}

fn form_uploads_disabled() -> Response {
    let body = r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>MethodNotAllowed</Code><Message>browser form uploads (post object) are disabled</Message></Error>"#;
    (StatusCode::METHOD_NOT_ALLOWED, [(header::CONTENT_TYPE, "application/xml")], body).into_response()
}
