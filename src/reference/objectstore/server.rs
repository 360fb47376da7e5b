//! The HTTP face of the object store: an axum router speaking S3's REST API with path-style
//! addressing (`/{bucket}` and `/{bucket}/{*key}`). Every request is authenticated with SigV4
//! before anything else happens; every failure becomes S3's XML error document with S3's status.
//! Object bodies stream to disk on upload and from disk on download.

use std::collections::BTreeMap;
use std::future::Future;
use std::io::SeekFrom;
use std::net::SocketAddr;
use std::path::PathBuf;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, request::Parts, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use base64::engine::general_purpose::{STANDARD as BASE64, URL_SAFE_NO_PAD};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _, AsyncWriteExt as _, BufWriter};
use tokio::net::TcpListener;
use tokio_util::io::ReaderStream;

use super::error::ObjectStoreError;
use super::ingest::{ChecksumAlgorithm, Ingest};
use super::names::{BucketName, ObjectKey};
use super::sigv4::{self, Authenticated, RequestView};
use super::store::{ListQuery, ObjectMeta, ObjectStore};
use super::xml::{self, Listing};

/// S3's limit for a single PUT.
const MAX_OBJECT_BYTES: u64 = 5 * 1024 * 1024 * 1024;
/// Bodies of bucket-level requests (a CreateBucketConfiguration at most) are tiny.
const MAX_SMALL_BODY_BYTES: u64 = 64 * 1024;
/// S3's limit on user metadata (names and values together).
const MAX_USER_METADATA_BYTES: usize = 2 * 1024;
const MAX_KEYS_LIMIT: usize = 1000;
const READ_BUFFER_BYTES: usize = 64 * 1024;
const WRITE_BUFFER_BYTES: usize = 256 * 1024;
const DEFAULT_CONTENT_TYPE: &str = "binary/octet-stream";
/// Representation headers kept with an object and returned on GET and HEAD.
const STORED_HEADERS: &[&str] = &[
    "content-type",
    "content-encoding",
    "content-disposition",
    "content-language",
    "cache-control",
    "expires",
];
/// Query parameters that belong to the signature, not to the operation.
const AUTH_PARAMS: &[&str] = &[
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
    "X-Amz-Security-Token",
    "x-id",
];

/// The S3 API as an axum router (usable without a socket, e.g. with `tower::ServiceExt`).
pub fn router(store: ObjectStore) -> Router {
    Router::new()
        .route("/", any(dispatch))
        .route("/{bucket}", any(dispatch))
        .route("/{bucket}/{*key}", any(dispatch))
        // Paths the routes above do not match (`/bucket/` with an empty key, `//x`) still get
        // S3 answers rather than axum's plain 404.
        .fallback(dispatch)
        .with_state(store)
}

/// Serves the store on `listener` until the task is dropped.
pub async fn serve(store: ObjectStore, listener: TcpListener) -> Result<(), ObjectStoreError> {
    axum::serve(listener, router(store))
        .await
        .map_err(ObjectStoreError::Serve)
}

/// Serves the store on `listener` until `shutdown` completes, then drains open connections.
pub async fn serve_with_shutdown<F>(
    store: ObjectStore,
    listener: TcpListener,
    shutdown: F,
) -> Result<(), ObjectStoreError>
where
    F: Future<Output = ()> + Send + 'static,
{
    axum::serve(listener, router(store))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(ObjectStoreError::Serve)
}

/// A store serving in a background task; stops when dropped.
#[derive(Debug)]
pub struct RunningObjectStore {
    store: ObjectStore,
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), ObjectStoreError>>,
}

impl RunningObjectStore {
    /// Binds `addr` (use `127.0.0.1:0` for a free port) and serves `store` in a spawned task.
    pub async fn start(store: ObjectStore, addr: SocketAddr) -> Result<Self, ObjectStoreError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(ObjectStoreError::Serve)?;
        let addr = listener.local_addr().map_err(ObjectStoreError::Serve)?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(serve_with_shutdown(store.clone(), listener, async move {
            let _ = rx.await;
        }));
        Ok(Self {
            store,
            addr,
            shutdown: Some(tx),
            task,
        })
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
    pub async fn stop(mut self) -> Result<(), ObjectStoreError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match (&mut self.task).await {
            Ok(result) => result,
            Err(e) => Err(ObjectStoreError::Serve(std::io::Error::other(e))),
        }
    }
}

impl Drop for RunningObjectStore {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// What a request path addresses.
enum Target {
    Service,
    Bucket(BucketName),
    Object(BucketName, ObjectKey),
}

impl Target {
    fn parse(raw_path: &str) -> Result<Self, ObjectStoreError> {
        let path = raw_path.strip_prefix('/').unwrap_or(raw_path);
        if path.is_empty() {
            return Ok(Self::Service);
        }
        let (bucket, key) = match path.split_once('/') {
            Some((bucket, key)) => (bucket, key),
            None => (path, ""),
        };
        let decode = |raw: &str| {
            String::from_utf8(sigv4::percent_decode(raw, false))
                .map_err(|_| ObjectStoreError::InvalidUri("the path is not valid utf-8".to_owned()))
        };
        let bucket = BucketName::parse(&decode(bucket)?)?;
        if key.is_empty() {
            Ok(Self::Bucket(bucket))
        } else {
            Ok(Self::Object(bucket, ObjectKey::parse(&decode(key)?)?))
        }
    }
}

async fn dispatch(State(store): State<ObjectStore>, request: Request) -> Response {
    let request_id = uuid::Uuid::new_v4().simple().to_string()[..16].to_ascii_uppercase();
    let (parts, body) = request.into_parts();
    let mut response = match handle(&store, &parts, body).await {
        Ok(response) => response,
        Err(error) => {
            let resource = String::from_utf8_lossy(&sigv4::percent_decode(parts.uri.path(), false))
                .into_owned();
            if error.status().is_server_error() {
                tracing::warn!(%error, method = %parts.method, %resource, "object store request failed");
            } else {
                tracing::debug!(%error, method = %parts.method, %resource, "object store request refused");
            }
            error_response(&error, &resource, &request_id, parts.method == Method::HEAD)
        }
    };
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-amz-request-id", value);
    }
    response.headers_mut().insert(
        header::SERVER,
        HeaderValue::from_static("dsp-harness-objectstore"),
    );
    response
}

fn error_response(
    error: &ObjectStoreError,
    resource: &str,
    request_id: &str,
    head: bool,
) -> Response {
    let status = error.status();
    if head {
        // S3 answers HEAD errors with the status alone; clients map it to the error.
        return status.into_response();
    }
    let body = xml::error(
        error.s3_code(),
        &error.s3_message(),
        &error.s3_details(),
        resource,
        request_id,
    );
    (status, [(header::CONTENT_TYPE, "application/xml")], body).into_response()
}

fn xml_response(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/xml")], body).into_response()
}

fn query_value<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Refuses sub-resources and parameters the operation does not know, so that unsupported S3
/// features (ACLs, versioning, multipart, ...) fail loudly instead of acting like plain requests.
fn only_params(query: &[(String, String)], allowed: &[&str]) -> Result<(), ObjectStoreError> {
    match query
        .iter()
        .find(|(k, _)| !allowed.contains(&k.as_str()) && !AUTH_PARAMS.contains(&k.as_str()))
    {
        Some((name, _)) => Err(ObjectStoreError::NotImplemented(format!(
            "the {name} parameter or sub-resource is not supported by this store"
        ))),
        None => Ok(()),
    }
}

async fn handle(
    store: &ObjectStore,
    parts: &Parts,
    body: Body,
) -> Result<Response, ObjectStoreError> {
    let raw_query = parts.uri.query().unwrap_or("");
    let view = RequestView {
        method: &parts.method,
        raw_path: parts.uri.path(),
        raw_query,
        headers: &parts.headers,
        authority: parts.uri.authority().map(|a| a.as_str()),
    };
    let auth = sigv4::authenticate(&view, &store.credentials(), Utc::now())?;
    let target = Target::parse(parts.uri.path())?;
    let query = sigv4::parse_query(raw_query);
    let method = &parts.method;
    match target {
        Target::Service => {
            if method != Method::GET {
                return Err(ObjectStoreError::MethodNotAllowed);
            }
            only_params(
                &query,
                &[
                    "max-buckets",
                    "continuation-token",
                    "prefix",
                    "bucket-region",
                ],
            )?;
            read_small_body(body, parts, auth).await?;
            list_buckets(store, &query)
        }
        Target::Bucket(bucket) => {
            if *method == Method::POST {
                return Err(ObjectStoreError::NotImplemented(
                    "bucket POST operations (DeleteObjects, ...) are not supported by this store"
                        .to_owned(),
                ));
            }
            if ![Method::PUT, Method::HEAD, Method::DELETE, Method::GET].contains(method) {
                return Err(ObjectStoreError::MethodNotAllowed);
            }
            if *method == Method::GET && query.iter().any(|(k, _)| k == "location") {
                only_params(&query, &["location"])?;
                read_small_body(body, parts, auth).await?;
                store.check_bucket(&bucket)?;
                return Ok(xml_response(StatusCode::OK, xml::location(store.region())));
            }
            let allowed: &[&str] = if *method == Method::GET {
                &[
                    "list-type",
                    "prefix",
                    "delimiter",
                    "max-keys",
                    "continuation-token",
                    "start-after",
                    "encoding-type",
                    "fetch-owner",
                    "marker",
                ]
            } else {
                &[]
            };
            only_params(&query, allowed)?;
            read_small_body(body, parts, auth).await?;
            match *method {
                Method::PUT => {
                    store.create_bucket(&bucket).await?;
                    Ok(
                        (StatusCode::OK, [(header::LOCATION, format!("/{bucket}"))])
                            .into_response(),
                    )
                }
                Method::HEAD => {
                    store.check_bucket(&bucket)?;
                    Ok((
                        StatusCode::OK,
                        [("x-amz-bucket-region", store.region().to_owned())],
                    )
                        .into_response())
                }
                Method::DELETE => {
                    store.delete_bucket(&bucket).await?;
                    Ok(StatusCode::NO_CONTENT.into_response())
                }
                _ => list_objects(store, &bucket, &query),
            }
        }
        Target::Object(bucket, key) => {
            if query.iter().any(|(k, _)| k == "uploads" || k == "uploadId") {
                return Err(ObjectStoreError::NotImplemented(
                    "multipart upload is not supported by this store".to_owned(),
                ));
            }
            match *method {
                Method::PUT => {
                    if parts.headers.contains_key("x-amz-copy-source") {
                        return Err(ObjectStoreError::NotImplemented(
                            "CopyObject is not supported by this store".to_owned(),
                        ));
                    }
                    put_object(store, &bucket, &key, parts, &query, body, auth).await
                }
                Method::GET | Method::HEAD => {
                    only_params(
                        &query,
                        &[
                            "response-content-type",
                            "response-content-language",
                            "response-expires",
                            "response-cache-control",
                            "response-content-disposition",
                            "response-content-encoding",
                        ],
                    )?;
                    read_small_body(body, parts, auth).await?;
                    get_object(store, &bucket, &key, parts, &query).await
                }
                Method::DELETE => {
                    only_params(&query, &[])?;
                    read_small_body(body, parts, auth).await?;
                    store.delete_object(&bucket, &key).await?;
                    Ok(StatusCode::NO_CONTENT.into_response())
                }
                Method::POST => Err(ObjectStoreError::NotImplemented(
                    "object POST operations are not supported by this store".to_owned(),
                )),
                _ => Err(ObjectStoreError::MethodNotAllowed),
            }
        }
    }
}

/// Reads and verifies the (normally empty) body of a non-upload request: its declared payload
/// hash is part of what the client signed, so it is checked like any other.
async fn read_small_body(
    body: Body,
    parts: &Parts,
    auth: Authenticated,
) -> Result<(), ObjectStoreError> {
    Ingest::new(&parts.headers, auth, MAX_SMALL_BODY_BYTES)?
        .with_body(body)
        .read_to_end()
        .await
        .map(|_| ())
}

fn list_buckets(
    store: &ObjectStore,
    query: &[(String, String)],
) -> Result<Response, ObjectStoreError> {
    let prefix = query_value(query, "prefix");
    let max: usize = match query_value(query, "max-buckets") {
        None => usize::MAX,
        Some(v) => v
            .parse()
            .ok()
            .filter(|n| (1..=10_000).contains(n))
            .ok_or_else(|| {
                ObjectStoreError::InvalidArgument(
                    "max-buckets must be between 1 and 10000".to_owned(),
                )
            })?,
    };
    let after = query_value(query, "continuation-token")
        .map(decode_token)
        .transpose()?;
    let mut buckets: Vec<(BucketName, DateTime<Utc>)> = store
        .list_buckets()
        .into_iter()
        .filter(|(name, _)| prefix.is_none_or(|p| name.as_str().starts_with(p)))
        .filter(|(name, _)| after.as_deref().is_none_or(|a| name.as_str() > a))
        .collect();
    let token = if buckets.len() > max {
        buckets.truncate(max);
        buckets.last().map(|(name, _)| encode_token(name.as_str()))
    } else {
        None
    };
    Ok(xml_response(
        StatusCode::OK,
        xml::list_buckets(&buckets, store.region(), prefix, token.as_deref()),
    ))
}

/// Continuation tokens are opaque to clients; they carry the last key listed.
fn encode_token(marker: &str) -> String {
    URL_SAFE_NO_PAD.encode(marker)
}

fn decode_token(token: &str) -> Result<String, ObjectStoreError> {
    URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| {
            ObjectStoreError::InvalidArgument(
                "the continuation token provided is incorrect".to_owned(),
            )
        })
}

fn list_objects(
    store: &ObjectStore,
    bucket: &BucketName,
    query: &[(String, String)],
) -> Result<Response, ObjectStoreError> {
    let v2 = match query_value(query, "list-type") {
        None => false,
        Some("2") => true,
        Some(other) => {
            return Err(ObjectStoreError::InvalidArgument(format!(
                "list-type {other} is not valid"
            )))
        }
    };
    let prefix = query_value(query, "prefix").unwrap_or("");
    let delimiter = query_value(query, "delimiter").filter(|d| !d.is_empty());
    let max_keys = match query_value(query, "max-keys") {
        None => MAX_KEYS_LIMIT,
        Some(v) => v
            .parse::<usize>()
            .map_err(|_| {
                ObjectStoreError::InvalidArgument(
                    "max-keys must be a non-negative integer".to_owned(),
                )
            })?
            .min(MAX_KEYS_LIMIT),
    };
    let url_encode = match query_value(query, "encoding-type") {
        None => false,
        Some("url") => true,
        Some(other) => {
            return Err(ObjectStoreError::InvalidArgument(format!(
                "encoding-type {other} is not valid"
            )))
        }
    };
    let continuation_token = query_value(query, "continuation-token").filter(|_| v2);
    let start_after = query_value(query, "start-after").filter(|_| v2);
    let marker = if v2 {
        match continuation_token {
            Some(token) => Some(decode_token(token)?),
            None => start_after.map(str::to_owned),
        }
    } else {
        query_value(query, "marker").map(str::to_owned)
    };
    let page = store.list_objects(
        bucket,
        &ListQuery {
            prefix,
            delimiter,
            after: marker.as_deref(),
            max_keys,
        },
    )?;
    let listing = Listing {
        bucket: bucket.as_str(),
        prefix,
        delimiter,
        max_keys,
        entries: &page.entries,
        truncated: page.truncated,
        url_encode,
        fetch_owner: query_value(query, "fetch-owner") == Some("true"),
    };
    let body = if v2 {
        let next = page.next_marker.as_deref().map(encode_token);
        listing.v2(continuation_token, next.as_deref(), start_after)
    } else {
        listing.v1(marker.as_deref().unwrap_or(""), page.next_marker.as_deref())
    };
    Ok(xml_response(StatusCode::OK, body))
}

/// Deletes an unfinished upload file if the upload does not complete (error or client gone).
struct UploadGuard(Option<PathBuf>);

impl Drop for UploadGuard {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn header_string(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

/// Lower-case header (or metadata) names to values.
type NameValues = BTreeMap<String, String>;

/// The representation headers and user metadata a PUT asks to keep.
fn stored_headers(headers: &HeaderMap) -> Result<(NameValues, NameValues), ObjectStoreError> {
    let mut kept = BTreeMap::new();
    for name in STORED_HEADERS {
        if let Some(value) = header_string(headers, name) {
            let value = if *name == "content-encoding" {
                // aws-chunked describes the transfer, not the object.
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|v| !v.is_empty() && !v.eq_ignore_ascii_case("aws-chunked"))
                    .collect::<Vec<_>>()
                    .join(",")
            } else {
                value
            };
            if !value.is_empty() {
                kept.insert((*name).to_owned(), value);
            }
        }
    }
    let mut metadata = BTreeMap::new();
    let mut metadata_bytes = 0;
    for (name, value) in headers {
        if let Some(suffix) = name.as_str().strip_prefix("x-amz-meta-") {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            metadata_bytes += suffix.len() + value.len();
            metadata.insert(suffix.to_owned(), value);
        }
    }
    if metadata_bytes > MAX_USER_METADATA_BYTES {
        return Err(ObjectStoreError::MetadataTooLarge);
    }
    Ok((kept, metadata))
}

async fn put_object(
    store: &ObjectStore,
    bucket: &BucketName,
    key: &ObjectKey,
    parts: &Parts,
    query: &[(String, String)],
    body: Body,
    auth: Authenticated,
) -> Result<Response, ObjectStoreError> {
    // Refuse before reading a possibly large body when the request cannot succeed.
    only_params(query, &[])?;
    store.check_bucket(bucket)?;
    let (headers, metadata) = stored_headers(&parts.headers)?;
    let mut ingest = Ingest::new(&parts.headers, auth, MAX_OBJECT_BYTES)?.with_body(body);
    let (path, file) = store.upload_path();
    let mut guard = UploadGuard(Some(path.clone()));
    let mut out =
        BufWriter::with_capacity(WRITE_BUFFER_BYTES, tokio::fs::File::create(&path).await?);
    while let Some(piece) = ingest.next().await? {
        out.write_all(&piece).await?;
    }
    out.flush().await?;
    drop(out);
    let summary = ingest.finish()?;
    let meta = ObjectMeta {
        bucket: bucket.to_string(),
        key: key.to_string(),
        file,
        size: summary.size,
        md5_hex: summary.md5_hex,
        crc32: summary.crc32,
        last_modified: Utc::now(),
        headers,
        metadata,
    };
    let etag = meta.etag();
    store.commit_object(&path, meta).await?;
    guard.0 = None;
    let mut response = StatusCode::OK.into_response();
    insert_header(response.headers_mut(), "etag", &etag);
    if let Some((algorithm, value)) = summary.checksum {
        insert_header(response.headers_mut(), algorithm.header_name(), &value);
    }
    Ok(response)
}

fn insert_header(headers: &mut HeaderMap, name: &str, value: &str) {
    // Values come from validated request headers or from the store itself; one that still does
    // not form a header value is left out rather than failing the response.
    if let (Ok(name), Ok(value)) = (
        HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_str(value),
    ) {
        headers.insert(name, value);
    }
}

/// An HTTP date (`Wed, 21 Oct 2015 07:28:00 GMT`).
fn http_date(time: DateTime<Utc>) -> String {
    time.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// Parses a single `Range: bytes=...` against an object of `size` bytes into an inclusive
/// range. Forms S3 ignores (other units, several ranges, reversed bounds) yield `None`, i.e.
/// the whole object; a range starting past the end is `InvalidRange`.
fn parse_range(
    value: Option<&HeaderValue>,
    size: u64,
) -> Result<Option<(u64, u64)>, ObjectStoreError> {
    let Some(spec) = value
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("bytes="))
    else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((first, last)) = spec.split_once('-') else {
        return Ok(None);
    };
    let number = |s: &str| s.trim().parse::<u64>().ok();
    let unsatisfiable = ObjectStoreError::InvalidRange { size };
    match (first.trim().is_empty(), last.trim().is_empty()) {
        (true, false) => {
            let Some(suffix) = number(last) else {
                return Ok(None);
            };
            if suffix == 0 || size == 0 {
                return Err(unsatisfiable);
            }
            Ok(Some((size.saturating_sub(suffix), size - 1)))
        }
        (false, true) => {
            let Some(start) = number(first) else {
                return Ok(None);
            };
            if start >= size {
                return Err(unsatisfiable);
            }
            Ok(Some((start, size - 1)))
        }
        (false, false) => {
            let (Some(start), Some(end)) = (number(first), number(last)) else {
                return Ok(None);
            };
            if start > end {
                return Ok(None);
            }
            if start >= size {
                return Err(unsatisfiable);
            }
            Ok(Some((start, end.min(size - 1))))
        }
        (true, true) => Ok(None),
    }
}

async fn get_object(
    store: &ObjectStore,
    bucket: &BucketName,
    key: &ObjectKey,
    parts: &Parts,
    query: &[(String, String)],
) -> Result<Response, ObjectStoreError> {
    let meta = store.object(bucket, key)?;
    let range = parse_range(parts.headers.get(header::RANGE), meta.size)?;
    let (status, start, length) = match range {
        Some((start, end)) => (StatusCode::PARTIAL_CONTENT, start, end - start + 1),
        None => (StatusCode::OK, 0, meta.size),
    };

    let mut headers = HeaderMap::new();
    insert_header(&mut headers, "etag", &meta.etag());
    insert_header(
        &mut headers,
        "last-modified",
        &http_date(meta.last_modified),
    );
    insert_header(&mut headers, "accept-ranges", "bytes");
    insert_header(&mut headers, "content-length", &length.to_string());
    if !meta.headers.contains_key("content-type") {
        insert_header(&mut headers, "content-type", DEFAULT_CONTENT_TYPE);
    }
    for (name, value) in &meta.headers {
        insert_header(&mut headers, name, value);
    }
    for (name, value) in &meta.metadata {
        insert_header(&mut headers, &format!("x-amz-meta-{name}"), value);
    }
    for (param, value) in query {
        if let Some(name) = param.strip_prefix("response-") {
            insert_header(&mut headers, name, value);
        }
    }
    if let Some((start, end)) = range {
        insert_header(
            &mut headers,
            "content-range",
            &format!("bytes {start}-{end}/{}", meta.size),
        );
    }
    let checksum_mode = parts
        .headers
        .get("x-amz-checksum-mode")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"enabled"));
    if checksum_mode && range.is_none() {
        // Every object's CRC32 is known, so clients validating downloads can check them.
        insert_header(
            &mut headers,
            ChecksumAlgorithm::Crc32.header_name(),
            &BASE64.encode(meta.crc32.to_be_bytes()),
        );
        insert_header(&mut headers, "x-amz-checksum-type", "FULL_OBJECT");
    }

    if parts.method == Method::HEAD {
        return Ok((status, headers).into_response());
    }
    let mut file = match tokio::fs::File::open(store.data_path(&meta)).await {
        Ok(file) => file,
        // Deleted or replaced between the index lookup and the open.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ObjectStoreError::NoSuchKey {
                bucket: bucket.to_string(),
                key: key.to_string(),
            })
        }
        Err(e) => return Err(e.into()),
    };
    if start > 0 {
        file.seek(SeekFrom::Start(start)).await?;
    }
    let stream = ReaderStream::with_capacity(file.take(length), READ_BUFFER_BYTES);
    Ok((status, headers, Body::from_stream(stream)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(value: &str, size: u64) -> Result<Option<(u64, u64)>, ObjectStoreError> {
        parse_range(Some(&HeaderValue::from_str(value).unwrap()), size)
    }

    #[test]
    fn ranges_follow_s3_semantics() {
        assert_eq!(range("bytes=0-9", 100).unwrap(), Some((0, 9)));
        assert_eq!(range("bytes=90-200", 100).unwrap(), Some((90, 99)));
        assert_eq!(range("bytes=95-", 100).unwrap(), Some((95, 99)));
        assert_eq!(range("bytes=-10", 100).unwrap(), Some((90, 99)));
        assert_eq!(range("bytes=-500", 100).unwrap(), Some((0, 99)));
        assert_eq!(range("bytes=5-1", 100).unwrap(), None);
        assert_eq!(range("bytes=0-1,5-6", 100).unwrap(), None);
        assert_eq!(range("items=0-1", 100).unwrap(), None);
        assert_eq!(range("bytes=x-y", 100).unwrap(), None);
        assert!(matches!(
            range("bytes=100-", 100),
            Err(ObjectStoreError::InvalidRange { size: 100 })
        ));
        assert!(matches!(
            range("bytes=-1", 0),
            Err(ObjectStoreError::InvalidRange { .. })
        ));
        assert_eq!(parse_range(None, 10).unwrap(), None);
    }

    #[test]
    fn targets_parse_path_style_addresses() {
        assert!(matches!(Target::parse("/").unwrap(), Target::Service));
        assert!(
            matches!(Target::parse("/bucket").unwrap(), Target::Bucket(b) if b.as_str() == "bucket")
        );
        assert!(matches!(
            Target::parse("/bucket/").unwrap(),
            Target::Bucket(_)
        ));
        assert!(matches!(
            Target::parse("/bucket/a/b%20c/").unwrap(),
            Target::Object(_, k) if k.as_str() == "a/b c/"
        ));
        assert!(matches!(
            Target::parse("/Bad_Bucket/x"),
            Err(ObjectStoreError::InvalidBucketName(_))
        ));
        assert!(matches!(
            Target::parse("/bucket/%FF"),
            Err(ObjectStoreError::InvalidUri(_))
        ));
    }

    #[test]
    fn tokens_round_trip_and_reject_garbage() {
        assert_eq!(decode_token(&encode_token("a/b ü")).unwrap(), "a/b ü");
        assert!(decode_token("***").is_err());
    }
}
