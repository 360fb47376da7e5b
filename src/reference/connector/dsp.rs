//! The DSP HTTPS binding of the reference connector: provider endpoints and consumer
//! callback endpoints on one router (provider and consumer are roles of one implementation),
//! plus the version document. There is one router per DSP version the connector serves; its
//! handlers get a [`Connector`] that speaks that version (`Connector::at`), so every body they
//! read and write goes through that version's codec, and a process they create remembers it.
//!
//! Every POST is authenticated (DAT), parsed, validated against the schemas, decoded, checked
//! against the process it names and then applied to the state machine. Anything wrong ends in
//! the protocol's error body with 400 (bad message or transition), 401 (token), 404 (unknown
//! process) — never a panic. Before any of that, [`guard`] refuses a body that is not
//! declared as JSON (415) or is longer than [`DSP_BODY_LIMIT`] (413), with the same error body.

use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, on, MethodFilter, MethodRouter};
use axum::Router;
use serde_json::Value;

use super::app::{Caller, Connector};
use super::error::DspError;
use super::faults::Fault;
use super::flows;
use super::store::{now_millis, parse_offer_id, Automation, Negotiation, Side, Transfer};
use crate::protocol::binding::{area_of, Area, Endpoint, Route};
use crate::protocol::state::{NegotiationInput, Process, TransferInput};
use crate::vocab::Role;
use crate::protocol::*;

/// A successful reply.
enum Reply {
    Created(DspMessage),
    Ok(DspMessage),
    Empty,
}

/// The version document at the root (paths relative to the root, `/dsp`, `/dsp/2024-1`, ...),
/// and again at the DSP base, `/dsp/.well-known/dspace-version` (paths relative to that base:
/// `/`, `/2024-1`, ...), where EDC serves its own. A peer that was given only the DSP base, or
/// reaches it through a proxy that maps the base to its own root, finds it there.
pub fn version_router(conn: Connector) -> Router {
    Router::new()
        .route(binding::WELL_KNOWN_VERSION, get(|State(conn): State<Connector>| version(conn, "/dsp")))
        .route(&format!("/dsp{}", binding::WELL_KNOWN_VERSION), get(|State(conn): State<Connector>| version(conn, "")))
        .with_state(conn)
}

/// The DSP face of one version: `conn` speaks it (see [`Connector::at`]). The connector plays
/// both roles on one router, so it serves every route of the binding's table.
pub fn router(conn: Connector) -> Router {
    binding::routes_for(Role::Both)
        .fold(Router::new(), |router, route| router.route(route.path, handler(route)))
        .layer(axum::middleware::from_fn_with_state(conn.clone(), guard))
        .with_state(conn)
}

/// The handler of a route, on the route's method.
fn handler(route: &Route) -> MethodRouter<Connector> {
    let method = match route.method {
        binding::Method::Get => MethodFilter::GET,
        binding::Method::Post => MethodFilter::POST,
    };
    match route.endpoint {
        Endpoint::CatalogRequest => on(method, catalog_request),
        Endpoint::Dataset => on(method, dataset),
        Endpoint::NegotiationRequest => on(method, negotiation_initial_request),
        Endpoint::InitialOffer => on(method, negotiation_initial_offer),
        Endpoint::Negotiation => on(method, negotiation_get),
        Endpoint::CounterRequest => on(method, negotiation_counter_request),
        Endpoint::CounterOffer => on(method, negotiation_counter_offer),
        Endpoint::NegotiationEvent => on(method, negotiation_event),
        Endpoint::Agreement => on(method, negotiation_agreement),
        Endpoint::Verification => on(method, negotiation_verification),
        Endpoint::NegotiationTermination => on(method, negotiation_termination),
        Endpoint::TransferRequest => on(method, transfer_request),
        Endpoint::Transfer => on(method, transfer_get),
        Endpoint::TransferStart => on(method, transfer_start),
        Endpoint::TransferCompletion => on(method, transfer_completion),
        Endpoint::TransferSuspension => on(method, transfer_suspension),
        Endpoint::TransferTermination => on(method, transfer_termination),
    }
}

/// The longest DSP message body the connector reads (2 MiB); a longer one is refused with 413
/// before it is buffered whole.
pub const DSP_BODY_LIMIT: usize = 2 << 20;

/// Whether a `Content-Type` value names JSON: `application/json`, `application/ld+json` or
/// any other `+json` type, with or without parameters.
pub fn is_json_content_type(value: &str) -> bool {
    let media = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    media == "application/json" || (media.starts_with("application/") && media.ends_with("+json"))
}

/// Refuses, with the protocol's error body, a POST whose body is declared as something other
/// than JSON (415) or is longer than [`DSP_BODY_LIMIT`] (413), and hands every other request on
/// with its body read. axum's own limit would answer 413 in plain text, which no DSP peer can
/// parse. A POST without a `Content-Type` is refused too (415): the binding's messages are
/// JSON, and content without a declared type is `application/octet-stream` to its recipient
/// (RFC 9110 section 8.3), so accepting it would teach a peer that omitting the header works.
async fn guard(State(conn): State<Connector>, request: Request, next: Next) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let area = area_of(request.uri().path());
    let Some(value) = request.headers().get(header::CONTENT_TYPE) else {
        return error_response(&conn, DspError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "a DSP message must be sent as application/json; the request has no Content-Type").in_area(area));
    };
    let declared = value.to_str().unwrap_or("");
    if !is_json_content_type(declared) {
        let shown: String = declared.chars().take(64).collect();
        return error_response(&conn, DspError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, format!("content type {shown:?} is not json")).in_area(area));
    }
    let declared = crate::reference::body::declared_length(request.headers());
    let (parts, body) = request.into_parts();
    match crate::reference::body::read_limited(body, declared, DSP_BODY_LIMIT).await {
        Ok(bytes) => next.run(Request::from_parts(parts, Body::from(bytes))).await,
        Err(e @ crate::reference::body::BodyError::TooLarge { .. }) => error_response(&conn, DspError::new(StatusCode::PAYLOAD_TOO_LARGE, e.to_string()).in_area(area)),
        Err(e) => error_response(&conn, DspError::bad_request(e.to_string()).in_area(area)),
    }
}

/// An error answered before any handler runs, in the version of the path it came to.
fn error_response(conn: &Connector, error: DspError) -> Response {
    (error.status, axum::Json(error.body_in(conn.version()))).into_response()
}

/// A body of the connector's version read into the 2025-1 compact form (by meaning), for the
/// few places that look at members before the codec has decoded the message.
fn in_current_form(conn: &Connector, body: &Value) -> Value {
    match conn.version() {
        ProtocolVersion::V2025_1 => body.clone(),
        other => vocabulary::to_current(vocabulary::dialect(other), body),
    }
}

/// A message in the connector's version, with `shape` (the reply faults) applied to its 2025-1
/// form first, so a fault breaks the same rule in every version.
fn encode_shaped(conn: &Connector, message: &DspMessage, shape: impl FnOnce(Value) -> Value) -> Value {
    let current = shape(codec::Codec2025_1.encode(message));
    match conn.version() {
        ProtocolVersion::V2025_1 => current,
        other => vocabulary::from_current(vocabulary::dialect(other), &current),
    }
}

// ---------------------------------------------------------------------------------------------
// Shared request and reply handling

/// A connector told to hang holds every DSP request for longer than any harness waits.
async fn maybe_hang(conn: &Connector) {
    if conn.fault(Fault::Hang) {
        tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
    }
}

/// Authenticates, parses, validates and decodes an incoming message of the expected kind.
async fn incoming(conn: &Connector, headers: &HeaderMap, body: &Bytes, expected: MessageKind, area: Area) -> Result<(Caller, DspMessage), DspError> {
    incoming_checked(conn, headers, body, expected, area).await.map_err(|e| {
        if e.status == StatusCode::BAD_REQUEST && conn.fault(Fault::MalformedOk) {
            DspError { status: StatusCode::OK, ..e }
        } else {
            e
        }
    })
}

async fn incoming_checked(conn: &Connector, headers: &HeaderMap, body: &Bytes, expected: MessageKind, area: Area) -> Result<(Caller, DspMessage), DspError> {
    maybe_hang(conn).await;
    let caller = conn.authenticate(headers).await.map_err(|e| e.in_area(area))?;
    let json: Value = serde_json::from_slice(body).map_err(|e| DspError::bad_request(format!("malformed JSON: {e}")).in_area(area))?;
    let current = in_current_form(conn, &json);
    let pids = || {
        (
            current.get("consumerPid").and_then(Value::as_str).map(ConsumerPid::from),
            current.get("providerPid").and_then(Value::as_str).map(ProviderPid::from),
        )
    };
    let bad = |reason: String| {
        let (c, p) = pids();
        DspError::bad_request(reason).in_area(area).pids(c, p)
    };
    let actual_type = crate::schema::message_type(&current).map(str::to_string);
    if actual_type.as_deref() != Some(expected.name()) && !conn.fault(Fault::AcceptMalformed) {
        return Err(bad(format!("expected @type {} but got {}", expected.name(), actual_type.unwrap_or_else(|| "none".to_string()))));
    }
    // A message of an older version is checked in that version's own spelling: it is read by
    // meaning and written back in the version's dialect first, so a peer that compacts its
    // JSON-LD differently (its own prefix, full IRIs) is not refused for the spelling alone.
    if !conn.fault(Fault::AcceptMalformed) {
        let violations = match conn.version() {
            ProtocolVersion::V2025_1 => conn.schemas().validate(expected.name(), &json),
            other => {
                let dialect = vocabulary::dialect(other);
                let spelled = vocabulary::from_current(dialect, &vocabulary::to_current(dialect, &json));
                crate::schema::SchemaSet::embedded(other.as_str()).map(|set| set.validate(expected.name(), &spelled)).unwrap_or_default()
            }
        };
        if let Some(first) = violations.first() {
            return Err(bad(format!("invalid {}: {} at {}", expected.name(), first.message, first.instance_path)));
        }
    }
    let message = match conn.codec().decode_kind(expected, &json) {
        Ok(m) => m,
        Err(e) if conn.fault(Fault::AcceptMalformed) => return Err(bad(format!("cannot use the message: {e}"))),
        Err(e) => return Err(bad(e.to_string())),
    };
    Ok((caller, message))
}

fn finish(conn: &Connector, result: Result<Reply, DspError>) -> Response {
    match result {
        Ok(Reply::Empty) => StatusCode::OK.into_response(),
        Ok(Reply::Created(message)) => {
            let status = if conn.fault(Fault::CreatedAs200) { StatusCode::OK } else { StatusCode::CREATED };
            json_reply(conn, status, encode_shaped(conn, &message, |body| shape_reply(conn, body)))
        }
        Ok(Reply::Ok(message)) => json_reply(conn, StatusCode::OK, encode_shaped(conn, &message, |body| shape_reply(conn, body))),
        Err(error) => error_reply(conn, error),
    }
}

/// Applies the reply-shaping faults to an encoded reply.
fn shape_reply(conn: &Connector, mut body: Value) -> Value {
    if let Some(object) = body.as_object_mut() {
        if conn.fault(Fault::NoContext) {
            object.remove("@context");
        }
        if conn.fault(Fault::WrongConsumerPid) && object.contains_key("consumerPid") {
            object.insert("consumerPid".to_string(), Value::String("urn:uuid:not-the-consumer-pid".to_string()));
        }
        if conn.fault(Fault::WrongProviderPid) && object.contains_key("providerPid") {
            object.insert("providerPid".to_string(), Value::String("urn:uuid:not-the-provider-pid".to_string()));
        }
        if conn.fault(Fault::WrongReportedState) {
            if let Some(state) = object.get("state").and_then(Value::as_str) {
                let other = if state == "TERMINATED" { "REQUESTED" } else { "TERMINATED" };
                object.insert("state".to_string(), Value::String(other.to_string()));
            }
        }
    }
    body
}

fn json_reply(conn: &Connector, status: StatusCode, body: Value) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    if conn.fault(Fault::WrongContentType) {
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    }
    response
}

fn error_reply(conn: &Connector, error: DspError) -> Response {
    let status = error.status;
    if conn.fault(Fault::PlainErrorBody) {
        return (status, error.reason).into_response();
    }
    let mut body = error.body_in(conn.version());
    if conn.fault(Fault::WrongErrorType) {
        body["@type"] = Value::String("Error".to_string());
    }
    json_reply(conn, status, body)
}

/// The answer to a transition the state machine refuses, unless a fault bends it.
fn refuse_transition(conn: &Connector, error: DspError, apply: impl FnOnce()) -> Result<Reply, DspError> {
    if conn.fault(Fault::InvalidTransitionOk) {
        return Ok(Reply::Empty);
    }
    if conn.fault(Fault::InvalidTransitionMovesState) {
        apply();
    }
    if conn.fault(Fault::InvalidTransition500) {
        return Err(DspError { status: StatusCode::INTERNAL_SERVER_ERROR, ..error });
    }
    Err(error)
}

fn unknown_process(conn: &Connector, what: &str, pid: &str, area: Area) -> Result<Reply, DspError> {
    if conn.fault(Fault::UnknownProcessOk) {
        return Ok(Reply::Empty);
    }
    let status = if conn.fault(Fault::UnknownProcess400) { StatusCode::BAD_REQUEST } else { StatusCode::NOT_FOUND };
    Err(DspError::new(status, format!("unknown {what} {pid}")).in_area(area))
}

/// Checks that the caller is the counterparty of the process, when both are known.
fn check_caller(caller: &Caller, counter_party: Option<&str>, area: Area) -> Result<(), DspError> {
    match (caller.participant_id.as_deref(), counter_party) {
        (Some(who), Some(expected)) if who != expected => {
            Err(DspError::new(StatusCode::FORBIDDEN, format!("{who} is not the counterparty of this process")).in_area(area))
        }
        _ => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------------
// Metadata and catalog

async fn version(conn: Connector, prefix: &str) -> Response {
    if conn.fault(Fault::NoVersionDocument) {
        return StatusCode::NOT_FOUND.into_response();
    }
    // Newest first, as a reader that takes the first entry should get the best one. The
    // processId form of 0.8 is not a version the spec names: it is listed as `0.8-processid`.
    let body = VersionResponse {
        protocol_versions: conn
            .versions()
            .into_iter()
            .rev()
            .map(|v| {
                let name = if conn.fault(Fault::WrongVersion) && v == ProtocolVersion::V2025_1 { "2024-1" } else { v.as_str() };
                VersionEntry {
                    version: name.to_string(),
                    path: match format!("{prefix}{}", binding::version_suffix(v)) {
                        empty if empty.is_empty() => "/".to_string(),
                        path => path,
                    },
                    binding: "HTTPS".to_string(),
                    auth: Some(serde_json::json!({"protocol": "IDS DAPS", "version": "2", "profile": ["private_key_jwt"]})),
                    service_id: None,
                    identifier_type: None,
                }
            })
            .collect(),
    };
    axum::Json(body).into_response()
}

/// Builds the catalog this connector offers, honouring a filter of dataset ids or properties.
pub fn build_catalog(conn: &Connector, filter: &[Value]) -> Catalog {
    let store = conn.store();
    let dsp_url = conn.dsp_url(conn.version());
    let service = DataService { id: format!("{dsp_url}#dsp"), kind: "DataService".to_string(), endpoint_url: dsp_url, extra: Default::default() };
    let mut datasets = Vec::new();
    if !conn.fault(Fault::EmptyCatalog) {
        // The fault applies filters but falls back to the whole catalog when they match nothing.
        let matches_any = store.assets.values().any(|a| filter.iter().any(|f| matches_filter(a, f)));
        let apply = !filter.is_empty() && (!conn.fault(Fault::IgnoreCatalogFilter) || matches_any);
        for asset in store.assets.values() {
            if apply && !filter.iter().any(|f| matches_filter(asset, f)) {
                continue;
            }
            let mut offers = if conn.fault(Fault::NoOffers) { Vec::new() } else { store.offers_for(&asset.id) };
            // The versions before 2025-1 require an offer to name its assigner.
            if conn.version() != ProtocolVersion::V2025_1 {
                offers.iter_mut().filter(|o| o.assigner.is_none()).for_each(|o| o.assigner = Some(conn.participant_id().to_string()));
            }
            if offers.is_empty() && !conn.fault(Fault::NoOffers) {
                continue;
            }
            datasets.push(dataset_of(asset, offers, &service));
        }
    }
    Catalog {
        id: format!("urn:catalog:{}", conn.participant_id()),
        participant_id: Some(conn.participant_id().to_string()),
        service: vec![service],
        dataset: datasets,
        distribution: Vec::new(),
        catalog: Vec::new(),
        extra: Default::default(),
    }
}

/// A filter entry selects datasets by id (`{"id": ...}` or a plain string) or by a property
/// value (`{"property": name, "value": v}`); the spec leaves filter syntax to the profile.
fn matches_filter(asset: &super::store::Asset, filter: &Value) -> bool {
    match filter {
        Value::String(id) => &asset.id == id,
        Value::Object(f) => {
            if let Some(id) = f.get("id").or_else(|| f.get("@id")).and_then(Value::as_str) {
                return asset.id == id;
            }
            match (f.get("property").and_then(Value::as_str), f.get("value")) {
                (Some(name), Some(value)) => asset.properties.get(name) == Some(value),
                _ => true,
            }
        }
        _ => true,
    }
}

fn dataset_of(asset: &super::store::Asset, offers: Vec<Policy>, service: &DataService) -> Dataset {
    let mut extra = serde_json::Map::new();
    for (k, v) in &asset.properties {
        let key = k.rsplit(['/', '#', ':']).next().unwrap_or(k);
        if matches!(key, "title" | "description" | "keyword" | "keywords" | "contenttype" | "contentType" | "version" | "name") {
            extra.insert(key.to_string(), v.clone());
        }
    }
    let access_service = Value::String(service.id.clone());
    let distributions = ["HttpData-PULL", "HttpData-PUSH", "AmazonS3-PUSH"]
        .into_iter()
        .map(|format| Distribution { format: format.to_string(), access_service: access_service.clone(), extra: Default::default() })
        .collect();
    Dataset { id: asset.id.clone(), has_policy: offers, distribution: distributions, extra }
}

/// Datasets on one catalog page unless the request's `limit` asks for fewer (EDC's default).
pub const CATALOG_PAGE_SIZE: usize = 50;

/// The most datasets one catalog page holds, whatever `limit` asks.
pub const MAX_CATALOG_PAGE_SIZE: usize = 1000;

/// The page a catalog request asks for through the query of its URL (`?offset=&limit=`, the
/// form this connector's own `next` and `previous` links take; DSP leaves it to the provider).
fn catalog_page(uri: &axum::http::Uri) -> (usize, usize) {
    let mut page = (0, CATALOG_PAGE_SIZE);
    for pair in uri.query().unwrap_or("").split('&') {
        match pair.split_once('=') {
            Some(("offset", v)) => page.0 = v.parse().unwrap_or(0),
            Some(("limit", v)) => page.1 = v.parse::<usize>().unwrap_or(CATALOG_PAGE_SIZE).clamp(1, MAX_CATALOG_PAGE_SIZE),
            _ => {}
        }
    }
    page
}

/// Cuts a catalog to one page and says where the neighbouring pages are, as DSP 2025-1 asks
/// of a provider that pages: `Link` headers with `rel="next"` and `rel="previous"`.
fn page_catalog(conn: &Connector, catalog: &mut Catalog, (offset, limit): (usize, usize)) -> Vec<String> {
    let total = catalog.dataset.len();
    catalog.dataset = std::mem::take(&mut catalog.dataset).into_iter().skip(offset).take(limit).collect();
    let base = format!("{}{}", conn.dsp_url(conn.version()), binding::CATALOG_REQUEST);
    let mut links = Vec::new();
    if offset.saturating_add(limit) < total {
        let next = if conn.fault(Fault::BrokenCatalogNextLink) { format!("{base}/no-such-page") } else { base.clone() };
        links.push(format!("<{next}?offset={}&limit={limit}>; rel=\"next\"", offset + limit));
    }
    if offset > 0 && !conn.fault(Fault::NoCatalogPreviousLink) {
        links.push(format!("<{base}?offset={}&limit={limit}>; rel=\"previous\"", offset.saturating_sub(limit)));
    }
    links
}

async fn catalog_request(State(conn): State<Connector>, uri: axum::http::Uri, headers: HeaderMap, body: Bytes) -> Response {
    let mut links = Vec::new();
    let result = async {
        let (_, message) = incoming(&conn, &headers, &body, MessageKind::CatalogRequestMessage, Area::Catalog).await?;
        let DspMessage::CatalogRequest(request) = message else { unreachable!("decoded by kind") };
        let mut catalog = build_catalog(&conn, request.filter.as_deref().unwrap_or(&[]));
        links = page_catalog(&conn, &mut catalog, catalog_page(&uri));
        Ok(Reply::Ok(DspMessage::Catalog(catalog)))
    }
    .await;
    if result.is_ok() && conn.fault(Fault::GarbageCatalog) {
        return (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], "\u{1}not json at all\u{ff}{[").into_response();
    }
    let mut response = finish(&conn, result);
    for link in links {
        if let Ok(value) = HeaderValue::from_str(&link) {
            response.headers_mut().append(header::LINK, value);
        }
    }
    response
}

async fn dataset(State(conn): State<Connector>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    maybe_hang(&conn).await;
    let result = async {
        conn.authenticate(&headers).await.map_err(|e| e.in_area(Area::Catalog))?;
        let catalog = build_catalog(&conn, &[]);
        match catalog.dataset.into_iter().find(|d| d.id == id) {
            Some(dataset) => Ok(Reply::Ok(DspMessage::Dataset(dataset))),
            None if conn.fault(Fault::UnknownDatasetOk) => Ok(Reply::Empty),
            None => Err(DspError::not_found(format!("unknown dataset {id}")).in_area(Area::Catalog)),
        }
    }
    .await;
    let mut response = finish(&conn, result);
    // A dataset answered on its own carries the context, as RootDataset requires.
    if response.status() == StatusCode::OK {
        response = with_dataset_context(&conn, response).await;
    }
    response
}

async fn with_dataset_context(conn: &Connector, response: Response) -> Response {
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
    let Ok(mut value) = serde_json::from_slice::<Value>(&bytes) else { return Response::from_parts(parts, axum::body::Body::from(bytes)) };
    if conn.fault(Fault::NoContext) {
        return Response::from_parts(parts, axum::body::Body::from(bytes));
    }
    if let Some(object) = value.as_object_mut() {
        let context = match conn.version() {
            ProtocolVersion::V2025_1 => serde_json::json!([codec::CONTEXT_2025_1]),
            other => Value::String(vocabulary::dialect(other).context.to_string()),
        };
        object.insert("@context".to_string(), context);
    }
    let mut response = Response::from_parts(parts, axum::body::Body::from(value.to_string()));
    response.headers_mut().remove(header::CONTENT_LENGTH);
    response
}

// ---------------------------------------------------------------------------------------------
// Contract negotiation

fn negotiation_reply(n: &Negotiation) -> DspMessage {
    DspMessage::ContractNegotiation(ContractNegotiation {
        provider_pid: n.provider_pid.clone().unwrap_or_else(|| ProviderPid(String::new())),
        consumer_pid: n.consumer_pid.clone(),
        state: n.state,
    })
}

/// Provider: a consumer's initial contract request creates a negotiation in REQUESTED.
async fn negotiation_initial_request(State(conn): State<Connector>, headers: HeaderMap, body: Bytes) -> Response {
    let result = async {
        let (caller, message) = incoming(&conn, &headers, &body, MessageKind::ContractRequestMessage, Area::Negotiation).await?;
        let DspMessage::ContractRequest(request) = message else { unreachable!("decoded by kind") };
        let bad = |reason: String| DspError::bad_request(reason).pids(Some(request.consumer_pid.clone()), request.provider_pid.clone());
        // In the processId form the one id reads as both pids: the consumer's is all there is.
        let one_id = conn.version() == ProtocolVersion::V0_8ProcessId && request.provider_pid.as_ref().map(ProviderPid::as_str) == Some(request.consumer_pid.as_str());
        if request.provider_pid.is_some() && !one_id {
            return Err(bad("an initial contract request carries no providerPid".to_string()));
        }
        let callback = request.callback_address.clone().ok_or_else(|| bad("an initial contract request needs a callbackAddress".to_string()))?;
        let (asset_id, automation) = match check_offer(&conn, &request.offer) {
            Ok(found) => found,
            Err(reason) if conn.fault(Fault::AgreeToUnknownOffer) => {
                tracing::debug!(%reason, "accepting an unknown offer (fault)");
                (request.offer.target.clone().unwrap_or_default(), Automation::Auto)
            }
            Err(reason) => return Err(bad(reason)),
        };
        let provider_pid = provider_pid_for(&conn, request.consumer_pid.as_str());
        let negotiation = Negotiation {
            id: provider_pid.0.clone(),
            side: Side::Provider,
            version: conn.version(),
            consumer_pid: request.consumer_pid.clone(),
            provider_pid: Some(provider_pid.clone()),
            state: NegotiationState::Requested,
            counter_party_address: callback,
            counter_party_id: caller.participant_id.clone(),
            offer: request.offer.clone(),
            agreement: None,
            asset_id: Some(asset_id),
            automation,
            error_detail: None,
            requesting: false,
            created_at: now_millis(),
        };
        let reply = negotiation_reply(&negotiation);
        conn.store().negotiations.insert(negotiation.id.clone(), negotiation);
        flows::after_negotiation_move(&conn, &provider_pid.0);
        Ok(Reply::Created(reply))
    }
    .await;
    finish(&conn, result)
}

/// The pid a provider gives a new process: its own, except in the `processId` form of 0.8, where
/// one id names the process on both sides and the provider adopts the consumer's.
fn provider_pid_for(conn: &Connector, consumer_pid: &str) -> ProviderPid {
    match conn.version() {
        ProtocolVersion::V0_8ProcessId if !consumer_pid.is_empty() => ProviderPid(consumer_pid.to_string()),
        _ => ProviderPid::generate(),
    }
}

/// Checks that an offer in a request is one this provider made: a known offer id for an
/// existing asset, the same target, and the same rules. Returns the asset and its automation.
fn check_offer(conn: &Connector, offer: &Policy) -> Result<(String, Automation), String> {
    let (definition, asset_id, _) = parse_offer_id(&offer.id).ok_or_else(|| format!("unknown offer {}", offer.id))?;
    let store = conn.store();
    let asset = store.assets.get(&asset_id).ok_or_else(|| format!("unknown offer {}: no asset {asset_id}", offer.id))?;
    if !store.contract_definitions.contains_key(&definition) {
        return Err(format!("unknown offer {}: no contract definition {definition}", offer.id));
    }
    if let Some(target) = &offer.target {
        if target != &asset_id {
            return Err(format!("offer {} targets {target}, not {asset_id}", offer.id));
        }
    }
    let ours = store.offers_for(&asset_id).into_iter().find(|o| o.id == offer.id).ok_or_else(|| format!("unknown offer {}", offer.id))?;
    if !ours.same_rules(offer) {
        return Err(format!("offer {} does not carry the rules the provider offered", offer.id));
    }
    Ok((asset_id, asset.automation()))
}

/// Consumer: a provider's initial offer creates a negotiation in OFFERED.
async fn negotiation_initial_offer(State(conn): State<Connector>, headers: HeaderMap, body: Bytes) -> Response {
    let result = async {
        let (caller, message) = incoming(&conn, &headers, &body, MessageKind::ContractOfferMessage, Area::Negotiation).await?;
        let DspMessage::ContractOffer(offer) = message else { unreachable!("decoded by kind") };
        let bad = |reason: &str| DspError::bad_request(reason).pids(offer.consumer_pid.clone(), Some(offer.provider_pid.clone()));
        let one_id = conn.version() == ProtocolVersion::V0_8ProcessId && offer.consumer_pid.as_ref().map(ConsumerPid::as_str) == Some(offer.provider_pid.as_str());
        if offer.consumer_pid.is_some() && !one_id {
            return Err(bad("an initial contract offer carries no consumerPid"));
        }
        let callback = offer.callback_address.clone().ok_or_else(|| bad("an initial contract offer needs a callbackAddress"))?;
        let consumer_pid = if one_id { ConsumerPid(offer.provider_pid.0.clone()) } else { ConsumerPid::generate() };
        let negotiation = Negotiation {
            id: consumer_pid.0.clone(),
            side: Side::Consumer,
            version: conn.version(),
            consumer_pid: consumer_pid.clone(),
            provider_pid: Some(offer.provider_pid.clone()),
            state: NegotiationState::Offered,
            counter_party_address: callback,
            counter_party_id: caller.participant_id.clone(),
            asset_id: offer.offer.target.clone(),
            offer: offer.offer,
            agreement: None,
            automation: Automation::Manual,
            error_detail: None,
            requesting: false,
            created_at: now_millis(),
        };
        let reply = negotiation_reply(&negotiation);
        conn.store().negotiations.insert(negotiation.id.clone(), negotiation);
        Ok(Reply::Created(reply))
    }
    .await;
    finish(&conn, result)
}

async fn negotiation_get(State(conn): State<Connector>, headers: HeaderMap, Path(pid): Path<String>) -> Response {
    maybe_hang(&conn).await;
    let result = async {
        let caller = conn.authenticate(&headers).await?;
        let store = conn.store();
        match store.negotiation_by_pid(&pid) {
            Some(n) => {
                check_caller(&caller, n.counter_party_id.as_deref(), Area::Negotiation)?;
                Ok(Reply::Ok(negotiation_reply(n)))
            }
            None => {
                drop(store);
                unknown_process(&conn, "negotiation", &pid, Area::Negotiation)
            }
        }
    }
    .await;
    finish(&conn, result)
}

/// The side of the wire a message must arrive on.
#[derive(Clone, Copy)]
enum Receiver {
    Provider,
    Consumer,
    Either,
}

/// Applies a message to an existing negotiation: identifiers, caller, receiving side and
/// state all checked, then the transition made and the automatic follow-up started.
async fn apply_negotiation(
    conn: &Connector,
    headers: &HeaderMap,
    body: &Bytes,
    pid: &str,
    kind: MessageKind,
    receiver: Receiver,
) -> Result<Reply, DspError> {
    let (caller, message) = incoming(conn, headers, body, kind, Area::Negotiation).await?;
    let (consumer_pid, provider_pid) = message.pids();
    let input = negotiation_input(&message);
    let mut store = conn.store();
    let Some(n) = store.negotiations.get_mut(pid) else {
        drop(store);
        return unknown_process(conn, "negotiation", pid, Area::Negotiation);
    };
    let (process_consumer, process_provider) = (n.consumer_pid.clone(), n.provider_pid.clone());
    let err = |status: StatusCode, reason: String| DspError::new(status, reason).pids(Some(process_consumer.clone()), process_provider.clone());
    let side_ok = match receiver {
        Receiver::Provider => n.side == Side::Provider,
        Receiver::Consumer => n.side == Side::Consumer,
        Receiver::Either => true,
    };
    if !side_ok {
        return Err(err(StatusCode::BAD_REQUEST, format!("{} cannot be sent to the {} of a negotiation", kind.name(), n.side.as_str().to_lowercase())));
    }
    let provider_ok = provider_pid.is_none() || n.provider_pid.is_none() || provider_pid == n.provider_pid;
    if let Some(reason) = pid_mismatch((&consumer_pid, &provider_pid), (&n.consumer_pid, &n.provider_pid), provider_ok) {
        return Err(err(StatusCode::BAD_REQUEST, reason));
    }
    check_caller(&caller, n.counter_party_id.as_deref(), Area::Negotiation)?;
    if input == NegotiationInput::Termination && conn.fault(Fault::IgnoreTermination) {
        return Ok(Reply::Empty);
    }
    let moved = if conn.fault(Fault::IgnoreNegotiationState) { Ok(n.force(input)) } else { n.apply(input) };
    if let Err(e) = moved {
        let error = err(StatusCode::BAD_REQUEST, e.to_string());
        return refuse_transition(conn, error, || {
            n.force(input);
        });
    }
    if n.provider_pid.is_none() {
        n.provider_pid = provider_pid;
    }
    absorb(n, &message);
    let state = n.state;
    drop(store);
    if state == NegotiationState::Finalized {
        flows::record_consumer_agreement(conn, pid);
    }
    flows::after_negotiation_move(conn, pid);
    Ok(Reply::Empty)
}

/// The state-machine input a negotiation message stands for.
fn negotiation_input(message: &DspMessage) -> NegotiationInput {
    match message {
        DspMessage::ContractRequest(_) => NegotiationInput::Request,
        DspMessage::ContractOffer(_) => NegotiationInput::Offer,
        DspMessage::ContractNegotiationEvent(e) => NegotiationInput::Event(e.event_type),
        DspMessage::ContractAgreement(_) => NegotiationInput::Agreement,
        DspMessage::ContractAgreementVerification(_) => NegotiationInput::Verification,
        _ => NegotiationInput::Termination,
    }
}

/// Keeps what an accepted negotiation message carries: the new offer, the agreement, or why
/// the peer terminated.
fn absorb(n: &mut Negotiation, message: &DspMessage) {
    match message {
        DspMessage::ContractRequest(r) => n.offer = r.offer.clone(),
        DspMessage::ContractOffer(o) => n.offer = o.offer.clone(),
        DspMessage::ContractAgreement(a) => n.agreement = Some(a.agreement.clone()),
        DspMessage::ContractNegotiationTermination(t) => n.error_detail = Some(reasons(&t.reason)),
        _ => {}
    }
}

/// The reasons of a termination or suspension as one line.
fn reasons(reason: &[Value]) -> String {
    reason.iter().map(|r| r.as_str().map(str::to_string).unwrap_or_else(|| r.to_string())).collect::<Vec<_>>().join("; ")
}

/// Why a message's pids do not name the process it was sent to, if they do not. The consumer
/// pid must always match; whether the provider pid does is the caller's call (`provider_ok`),
/// because a consumer may not know the provider's pid yet.
fn pid_mismatch(
    (consumer_pid, provider_pid): (&Option<ConsumerPid>, &Option<ProviderPid>),
    (process_consumer, process_provider): (&ConsumerPid, &Option<ProviderPid>),
    provider_ok: bool,
) -> Option<String> {
    if consumer_pid.as_ref() == Some(process_consumer) && provider_ok {
        return None;
    }
    let show = |p: Option<&str>| p.unwrap_or_default().to_string();
    Some(format!(
        "the message names consumerPid {} and providerPid {}, the process is {} / {}",
        show(consumer_pid.as_ref().map(ConsumerPid::as_str)),
        show(provider_pid.as_ref().map(ProviderPid::as_str)),
        process_consumer,
        show(process_provider.as_ref().map(ProviderPid::as_str)),
    ))
}

async fn negotiation_counter_request(State(conn): State<Connector>, headers: HeaderMap, Path(pid): Path<String>, body: Bytes) -> Response {
    finish(&conn, apply_negotiation(&conn, &headers, &body, &pid, MessageKind::ContractRequestMessage, Receiver::Provider).await)
}

async fn negotiation_counter_offer(State(conn): State<Connector>, headers: HeaderMap, Path(pid): Path<String>, body: Bytes) -> Response {
    finish(&conn, apply_negotiation(&conn, &headers, &body, &pid, MessageKind::ContractOfferMessage, Receiver::Consumer).await)
}

async fn negotiation_event(State(conn): State<Connector>, headers: HeaderMap, Path(pid): Path<String>, body: Bytes) -> Response {
    // ACCEPTED goes to the provider, FINALIZED to the consumer; which one arrived is only known
    // from the body, so the side is picked from the event before the message is applied.
    let event = serde_json::from_slice::<Value>(&body).ok().and_then(|v| in_current_form(&conn, &v).get("eventType").and_then(Value::as_str).map(str::to_string));
    let receiver = match event.as_deref() {
        Some("ACCEPTED") => Receiver::Provider,
        Some("FINALIZED") => Receiver::Consumer,
        _ => Receiver::Either,
    };
    finish(&conn, apply_negotiation(&conn, &headers, &body, &pid, MessageKind::ContractNegotiationEventMessage, receiver).await)
}

async fn negotiation_agreement(State(conn): State<Connector>, headers: HeaderMap, Path(pid): Path<String>, body: Bytes) -> Response {
    finish(&conn, apply_negotiation(&conn, &headers, &body, &pid, MessageKind::ContractAgreementMessage, Receiver::Consumer).await)
}

async fn negotiation_verification(State(conn): State<Connector>, headers: HeaderMap, Path(pid): Path<String>, body: Bytes) -> Response {
    finish(&conn, apply_negotiation(&conn, &headers, &body, &pid, MessageKind::ContractAgreementVerificationMessage, Receiver::Provider).await)
}

async fn negotiation_termination(State(conn): State<Connector>, headers: HeaderMap, Path(pid): Path<String>, body: Bytes) -> Response {
    finish(&conn, apply_negotiation(&conn, &headers, &body, &pid, MessageKind::ContractNegotiationTerminationMessage, Receiver::Either).await)
}

// ---------------------------------------------------------------------------------------------
// Transfer process

fn transfer_reply(t: &Transfer) -> DspMessage {
    DspMessage::TransferProcess(TransferProcess {
        provider_pid: t.provider_pid.clone().unwrap_or_else(|| ProviderPid(String::new())),
        consumer_pid: t.consumer_pid.clone(),
        state: t.state,
    })
}

/// The transfer types the reference data plane moves.
pub const TRANSFER_TYPES: [&str; 3] = ["HttpData-PULL", "HttpData-PUSH", "AmazonS3-PUSH"];

/// Provider: a transfer request under a finalized agreement creates a process in REQUESTED.
async fn transfer_request(State(conn): State<Connector>, headers: HeaderMap, body: Bytes) -> Response {
    let result = async {
        let (caller, message) = incoming(&conn, &headers, &body, MessageKind::TransferRequestMessage, Area::Transfer).await?;
        let DspMessage::TransferRequest(request) = message else { unreachable!("decoded by kind") };
        let bad = |reason: String| DspError::bad_request(reason).in_area(Area::Transfer).pids(Some(request.consumer_pid.clone()), None);
        if !TRANSFER_TYPES.contains(&request.format.as_str()) {
            return Err(bad(format!("unsupported format {}; this connector moves {}", request.format, TRANSFER_TYPES.join(", "))));
        }
        if request.format.ends_with("PUSH") && request.data_address.is_none() {
            return Err(bad(format!("a {} transfer needs a dataAddress to push to", request.format)));
        }
        let (asset_id, automation) = {
            let store = conn.store();
            let agreement = store.agreements.get(request.agreement_id.as_str());
            let finalized = agreement
                .and_then(|a| store.negotiations.get(&a.negotiation_id))
                .map(|n| n.state == NegotiationState::Finalized && n.side == Side::Provider)
                .unwrap_or(false);
            let same_consumer = match (agreement, caller.participant_id.as_deref()) {
                (Some(a), Some(who)) => a.consumer_id.is_empty() || a.consumer_id == who,
                _ => true,
            };
            match agreement {
                Some(a) if finalized && same_consumer => {
                    (Some(a.asset_id.clone()), store.assets.get(&a.asset_id).map(|x| x.automation()).unwrap_or(Automation::Auto))
                }
                _ if conn.fault(Fault::TransferWithoutAgreement) => (None, Automation::Auto),
                Some(_) if !same_consumer => return Err(bad(format!("agreement {} was not made with the caller", request.agreement_id))),
                Some(_) => return Err(bad(format!("agreement {} is not finalized", request.agreement_id))),
                None => return Err(bad(format!("unknown agreement {}", request.agreement_id))),
            }
        };
        let provider_pid = provider_pid_for(&conn, request.consumer_pid.as_str());
        let transfer = Transfer {
            id: provider_pid.0.clone(),
            side: Side::Provider,
            version: conn.version(),
            consumer_pid: request.consumer_pid.clone(),
            provider_pid: Some(provider_pid.clone()),
            state: TransferState::Requested,
            agreement_id: request.agreement_id.clone(),
            asset_id,
            transfer_type: request.format.clone(),
            counter_party_address: request.callback_address.clone(),
            counter_party_id: caller.participant_id.clone(),
            destination: request.data_address.clone(),
            edr: None,
            automation,
            error_detail: None,
            requesting: false,
            created_at: now_millis(),
        };
        let reply = transfer_reply(&transfer);
        conn.store().transfers.insert(transfer.id.clone(), transfer);
        flows::after_transfer_request(&conn, &provider_pid.0);
        Ok(Reply::Created(reply))
    }
    .await;
    finish(&conn, result)
}

async fn transfer_get(State(conn): State<Connector>, headers: HeaderMap, Path(pid): Path<String>) -> Response {
    maybe_hang(&conn).await;
    let result = async {
        let caller = conn.authenticate(&headers).await.map_err(|e| e.in_area(Area::Transfer))?;
        let store = conn.store();
        match store.transfer_by_pid(&pid) {
            Some(t) => {
                check_caller(&caller, t.counter_party_id.as_deref(), Area::Transfer)?;
                Ok(Reply::Ok(transfer_reply(t)))
            }
            None => {
                drop(store);
                unknown_process(&conn, "transfer process", &pid, Area::Transfer)
            }
        }
    }
    .await;
    finish(&conn, result)
}

async fn apply_transfer(
    conn: &Connector,
    headers: &HeaderMap,
    body: &Bytes,
    pid: &str,
    kind: MessageKind,
    input: TransferInput,
) -> Result<Reply, DspError> {
    let (caller, message) = incoming(conn, headers, body, kind, Area::Transfer).await?;
    let (consumer_pid, provider_pid) = message.pids();
    let mut store = conn.store();
    let Some(t) = store.transfers.get_mut(pid) else {
        drop(store);
        return unknown_process(conn, "transfer process", pid, Area::Transfer);
    };
    let (process_consumer, process_provider) = (t.consumer_pid.clone(), t.provider_pid.clone());
    let err = |status: StatusCode, reason: String| DspError::new(status, reason).in_area(Area::Transfer).pids(Some(process_consumer.clone()), process_provider.clone());
    let provider_ok = t.provider_pid.is_none() || provider_pid == t.provider_pid;
    if let Some(reason) = pid_mismatch((&consumer_pid, &provider_pid), (&t.consumer_pid, &t.provider_pid), provider_ok) {
        return Err(err(StatusCode::BAD_REQUEST, reason));
    }
    check_caller(&caller, t.counter_party_id.as_deref(), Area::Transfer)?;
    if input == TransferInput::Termination && conn.fault(Fault::IgnoreTermination) {
        return Ok(Reply::Empty);
    }
    let moved = if conn.fault(Fault::IgnoreTransferState) { Ok(t.force(input)) } else { t.apply(input) };
    let previous = match moved {
        Ok(step) => step.from,
        Err(e) => {
            let error = err(StatusCode::BAD_REQUEST, e.to_string());
            return refuse_transition(conn, error, || {
                t.force(input);
            });
        }
    };
    if t.provider_pid.is_none() {
        t.provider_pid = provider_pid;
    }
    match &message {
        DspMessage::TransferStart(start) if t.side == Side::Consumer && start.data_address.is_some() && !conn.fault(Fault::IgnoreDataAddress) => {
            t.edr = start.data_address.clone();
        }
        DspMessage::TransferTermination(m) | DspMessage::TransferSuspension(m) => {
            t.error_detail = Some(reasons(&m.reason));
        }
        _ => {}
    }
    let (state, side) = (t.state, t.side);
    // A pull token is good for one stretch of STARTED: suspension revokes it as completion
    // and termination do, and a resumption issues a fresh one.
    if state != TransferState::Started && !flows::keeps_tokens(conn) {
        store.tokens.retain(|_, token| token.transfer_id != pid);
    }
    drop(store);
    // A provider asked by its consumer to restart a suspended pull issues a fresh reference.
    if side == Side::Provider && input == TransferInput::Start && previous == TransferState::Suspended {
        let conn = conn.clone();
        let pid = pid.to_string();
        tokio::spawn(async move {
            let _ = resend_start(&conn, &pid).await;
        });
    }
    Ok(Reply::Empty)
}

/// Provider: tells the consumer a restarted transfer runs again, with a fresh pull token.
async fn resend_start(conn: &Connector, id: &str) -> Result<(), String> {
    let (t, pull) = {
        let store = conn.store();
        let t = store.transfers.get(id).ok_or("gone")?;
        (t.clone(), t.transfer_type.ends_with("PULL"))
    };
    let data_address = pull.then(|| {
        let token = flows::issue_pull_token(conn, id);
        DataAddress::new(HTTP_ENDPOINT_TYPE, Some(conn.config().data_plane_public_url.clone()))
            .with_property("authorization", token)
            .with_property("authType", "bearer")
    });
    let message = DspMessage::TransferStart(TransferStartMessage {
        provider_pid: t.provider_pid.clone().unwrap_or_else(|| ProviderPid(String::new())),
        consumer_pid: t.consumer_pid.clone(),
        data_address,
    });
    let body = codec_for(t.version).encode(&message);
    conn.at(t.version).send(&t.counter_party_address, &binding::transfer_start(t.consumer_pid.as_str()), t.counter_party_id.as_deref(), &body).await.map(|_| ())
}

async fn transfer_start(State(conn): State<Connector>, headers: HeaderMap, Path(pid): Path<String>, body: Bytes) -> Response {
    let result = apply_transfer(&conn, &headers, &body, &pid, MessageKind::TransferStartMessage, TransferInput::Start).await;
    finish(&conn, result)
}

async fn transfer_completion(State(conn): State<Connector>, headers: HeaderMap, Path(pid): Path<String>, body: Bytes) -> Response {
    let result = apply_transfer(&conn, &headers, &body, &pid, MessageKind::TransferCompletionMessage, TransferInput::Completion).await;
    finish(&conn, result)
}

async fn transfer_suspension(State(conn): State<Connector>, headers: HeaderMap, Path(pid): Path<String>, body: Bytes) -> Response {
    let result = apply_transfer(&conn, &headers, &body, &pid, MessageKind::TransferSuspensionMessage, TransferInput::Suspension).await;
    finish(&conn, result)
}

async fn transfer_termination(State(conn): State<Connector>, headers: HeaderMap, Path(pid): Path<String>, body: Bytes) -> Response {
    let result = apply_transfer(&conn, &headers, &body, &pid, MessageKind::TransferTerminationMessage, TransferInput::Termination).await;
    finish(&conn, result)
}
