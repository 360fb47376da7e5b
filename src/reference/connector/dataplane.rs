//! The reference data plane: serves pulls to the holder of a valid pull token and pushes data
//! to HTTP endpoints or S3 buckets for push transfers.
//!
//! Bytes stream from the asset's source to the receiver chunk by chunk; the data plane never
//! holds a whole payload in memory, so its footprint does not grow with payload size. (An S3
//! push spools to a temporary file because the S3 API wants a known length.)

use std::time::SystemTime;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures::StreamExt;
use tokio::io::AsyncWriteExt;

use super::app::Connector;
use super::faults::Fault;
use super::flows::TransferRef;
use crate::identity::bearer;
use crate::protocol::{TransferState, S3_ENDPOINT_TYPE};

pub fn router(conn: Connector) -> Router {
    Router::new().route("/", get(pull)).route("/{*path}", get(pull)).with_state(conn)
}

fn refuse(status: StatusCode, reason: &str) -> Response {
    (status, axum::Json(serde_json::json!({"error": reason}))).into_response()
}

/// Serves a pull: the token must be known, unexpired, and its transfer STARTED.
async fn pull(State(conn): State<Connector>, headers: HeaderMap) -> Response {
    let token = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(bearer).unwrap_or("").to_string();
    let source = {
        let store = conn.store();
        let transfer = match store.tokens.get(&token) {
            Some(t) if t.expires > SystemTime::now() || conn.fault(Fault::TokenNeverRevoked) => store.transfers.get(&t.transfer_id),
            Some(_) if conn.fault(Fault::PullWithoutToken) => store.transfers.values().find(|t| t.state == TransferState::Started),
            Some(_) => return refuse(StatusCode::UNAUTHORIZED, "token expired"),
            None if conn.fault(Fault::PullWithoutToken) => {
                store.transfers.values().rfind(|t| t.transfer_type.ends_with("PULL"))
            }
            None => return refuse(StatusCode::UNAUTHORIZED, "missing or unknown token"),
        };
        let Some(transfer) = transfer else { return refuse(StatusCode::UNAUTHORIZED, "token names no transfer") };
        // A token that is never revoked keeps serving after the transfer ended, as the fault says.
        let revoked_ignored = conn.fault(Fault::TokenNeverRevoked) && transfer.state.is_terminal();
        if transfer.state != TransferState::Started && !conn.fault(Fault::ServeWhenNotStarted) && !conn.fault(Fault::PullWithoutToken) && !revoked_ignored {
            return refuse(StatusCode::FORBIDDEN, &format!("transfer is {}", transfer.state));
        }
        transfer.asset_id.as_ref().and_then(|a| store.assets.get(a)).and_then(|a| a.source_url())
    };
    let Some(source) = source else { return refuse(StatusCode::NOT_FOUND, "the asset has no source") };
    match open_source(&conn, &source).await {
        Ok(response) => {
            let content_type = response.headers().get(header::CONTENT_TYPE).cloned();
            let length = response.content_length();
            let stream = corrupt_if(conn.fault(Fault::WrongBytes), response.bytes_stream());
            let mut out = Response::new(Body::from_stream(stream));
            if let Some(ct) = content_type {
                out.headers_mut().insert(header::CONTENT_TYPE, ct);
            }
            if let (Some(len), false) = (length, conn.fault(Fault::WrongBytes)) {
                out.headers_mut().insert(header::CONTENT_LENGTH, len.into());
            }
            out
        }
        Err(e) => refuse(StatusCode::BAD_GATEWAY, &e),
    }
}

async fn open_source(conn: &Connector, source: &str) -> Result<reqwest::Response, String> {
    // Sources may be large: no overall timeout here, only the connect timeout of the client.
    let response = conn.http().get(source).timeout(std::time::Duration::from_secs(3600)).send().await.map_err(|e| format!("source {source}: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("source {source} answered {}", response.status()));
    }
    Ok(response)
}

/// With the `wrong-bytes` fault, flips the first byte of the stream.
fn corrupt_if(
    corrupt: bool,
    stream: impl futures::Stream<Item = Result<bytes::Bytes, reqwest::Error>> + Send + 'static,
) -> impl futures::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send + 'static {
    let mut first = corrupt;
    stream.map(move |chunk| {
        let chunk = chunk.map_err(std::io::Error::other)?;
        if first && !chunk.is_empty() {
            first = false;
            let mut owned = chunk.to_vec();
            owned[0] ^= 0xff;
            return Ok(bytes::Bytes::from(owned));
        }
        Ok(chunk)
    })
}

/// Pushes an asset's bytes to the destination a consumer named.
pub async fn push(conn: &Connector, t: &TransferRef) -> Result<(), String> {
    let destination = t.destination.clone().ok_or("no destination")?;
    let source = {
        let store = conn.store();
        t.asset_id.as_ref().and_then(|a| store.assets.get(a)).and_then(|a| a.source_url()).ok_or("the asset has no source")?
    };
    let response = open_source(conn, &source).await?;
    if destination.endpoint_type == S3_ENDPOINT_TYPE {
        return push_s3(conn, &destination, response).await;
    }
    let endpoint = destination.endpoint.clone().ok_or("the destination names no endpoint")?;
    let stream = corrupt_if(conn.fault(Fault::WrongBytes), response.bytes_stream());
    let mut request = conn.http().post(&endpoint).timeout(std::time::Duration::from_secs(3600)).body(reqwest::Body::wrap_stream(stream));
    if let Some(auth) = destination.property("authorization") {
        request = request.header(header::AUTHORIZATION, auth);
    }
    let reply = request.send().await.map_err(|e| format!("push to {endpoint}: {e}"))?;
    if !reply.status().is_success() {
        return Err(format!("push to {endpoint}: answered {}", reply.status()));
    }
    Ok(())
}

async fn push_s3(conn: &Connector, destination: &crate::protocol::DataAddress, response: reqwest::Response) -> Result<(), String> {
    let get = |k: &str| destination.property(k).map(str::to_string).ok_or(format!("the S3 destination has no {k}"));
    let endpoint = destination.endpoint.clone().ok_or("the S3 destination names no endpointOverride")?;
    let (bucket, key, region, access, secret) = (get("bucketName")?, get("keyName")?, get("region")?, get("accessKeyId")?, get("secretAccessKey")?);
    let spool = tempfile::NamedTempFile::new().map_err(|e| format!("spool file: {e}"))?;
    let mut file = tokio::fs::File::create(spool.path()).await.map_err(|e| format!("spool file: {e}"))?;
    let mut stream = corrupt_if(conn.fault(Fault::WrongBytes), response.bytes_stream());
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| format!("reading the source: {e}"))?;
        file.write_all(&chunk).await.map_err(|e| format!("spool file: {e}"))?;
    }
    file.flush().await.map_err(|e| format!("spool file: {e}"))?;
    drop(file);
    let body = aws_sdk_s3::primitives::ByteStream::from_path(spool.path()).await.map_err(|e| format!("spool file: {e}"))?;
    let client = crate::reference::objectstore::s3_client(&endpoint, &access, &secret, &region);
    client.put_object().bucket(&bucket).key(&key).body(body).send().await.map_err(|e| format!("S3 put {bucket}/{key}: {}", aws_sdk_s3::error::DisplayErrorContext(e)))?;
    Ok(())
}

