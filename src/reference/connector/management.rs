//! The management API of the reference connector, shaped like the Eclipse EDC management API
//! v3 (assets, policy definitions, contract definitions, catalog, contract negotiations,
//! agreements, transfer processes, endpoint data references), protected by `X-Api-Key`.
//!
//! It accepts EDC's JSON-LD bodies compacted with `@vocab` or prefixed with `edc:` / `odrl:`.
//! A few routes go beyond EDC (`agree`, `offer`, `finalize`, `accept`, `verify`, `start`,
//! `complete`): they let a conformance suite make a provider in manual mode take each step.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use super::app::{Chosen, Connector};
use super::faults::Fault;
use super::flows;
use super::store::{now_millis, strip_prefixes, Asset, Automation, ContractDefinition, Negotiation, PolicyDefinition, Side, Transfer};
use crate::protocol::*;

const EDC_VOCAB: &str = "https://w3id.org/edc/v0.0.1/ns/";

pub fn router(conn: Connector) -> Router {
    Router::new()
        .route("/v3/assets", post(create_asset))
        .route("/v3/assets/request", post(list_assets))
        .route("/v3/assets/{id}", get(get_asset).delete(delete_asset))
        .route("/v3/policydefinitions", post(create_policy))
        .route("/v3/policydefinitions/request", post(list_policies))
        .route("/v3/policydefinitions/{id}", get(get_policy))
        .route("/v3/contractdefinitions", post(create_contract_definition))
        .route("/v3/contractdefinitions/request", post(list_contract_definitions))
        .route("/v3/contractdefinitions/{id}", get(get_contract_definition))
        .route("/v3/catalog/request", post(catalog_request))
        .route("/v3/catalog/dataset/request", post(dataset_request))
        .route("/v3/contractnegotiations", post(initiate_negotiation))
        .route("/v3/contractnegotiations/request", post(list_negotiations))
        .route("/v3/contractnegotiations/{id}", get(get_negotiation))
        .route("/v3/contractnegotiations/{id}/state", get(negotiation_state))
        .route("/v3/contractnegotiations/{id}/agreement", get(negotiation_agreement))
        .route("/v3/contractnegotiations/{id}/{action}", post(negotiation_action))
        .route("/v3/contractagreements/request", post(list_agreements))
        .route("/v3/contractagreements/{id}", get(get_agreement))
        .route("/v3/transferprocesses", post(initiate_transfer))
        .route("/v3/transferprocesses/request", post(list_transfers))
        .route("/v3/transferprocesses/{id}", get(get_transfer))
        .route("/v3/transferprocesses/{id}/state", get(transfer_state))
        .route("/v3/transferprocesses/{id}/{action}", post(transfer_action))
        .route("/v3/edrs/{id}/dataaddress", get(edr_data_address))
        .with_state(conn)
}

/// An error of the management API, in EDC's shape: a list of `{message, type}`.
struct ApiError(StatusCode, String, &'static str);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!([{ "message": self.1, "type": self.2 }]))).into_response()
    }
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, message.into(), "ValidationFailure")
}

fn not_found(kind: &str, id: &str) -> ApiError {
    ApiError(StatusCode::NOT_FOUND, format!("Object of type {kind} with ID={id} was not found"), "ObjectNotFound")
}

fn conflict(message: impl Into<String>) -> ApiError {
    ApiError(StatusCode::CONFLICT, message.into(), "ObjectConflict")
}

type ApiResult = Result<Response, ApiError>;

fn authorize(conn: &Connector, headers: &HeaderMap) -> Result<(), ApiError> {
    let given = headers.get("x-api-key").and_then(|v| v.to_str().ok()).unwrap_or("");
    if !super::app::api_key_matches(given, &conn.config().api_key) {
        return Err(ApiError(StatusCode::UNAUTHORIZED, "missing or wrong X-Api-Key".to_string(), "AuthenticationFailed"));
    }
    Ok(())
}

/// Parses a JSON-LD body and strips EDC / ODRL prefixes from its keys.
fn body(bytes: &[u8]) -> Result<Value, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|e| bad(format!("malformed JSON: {e}")))?;
    Ok(strip_prefixes(&value))
}

/// The page a list request asks for when its QuerySpec names none (EDC's default).
pub const DEFAULT_LIMIT: usize = 50;

/// The largest page a list request gets; a larger `limit` is cut to it.
pub const MAX_LIMIT: usize = 1000;

/// The `offset` and `limit` of a list request's QuerySpec (an empty body asks for the first
/// [`DEFAULT_LIMIT`] items), refusing what EDC refuses: a negative offset, a limit below one.
fn page_of(bytes: &[u8]) -> Result<(usize, usize), ApiError> {
    let spec = body(bytes)?;
    let number = |key: &str, default: i64| match spec.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v
            .as_i64()
            .or_else(|| v.get("@value").and_then(Value::as_i64))
            .ok_or_else(|| bad(format!("QuerySpec {key} must be an integer, not {v}"))),
    };
    let offset = number("offset", 0)?;
    let limit = number("limit", DEFAULT_LIMIT as i64)?;
    if offset < 0 {
        return Err(bad(format!("QuerySpec offset must not be negative, was {offset}")));
    }
    if limit < 1 {
        return Err(bad(format!("QuerySpec limit must be at least 1, was {limit}")));
    }
    Ok((usize::try_from(offset).unwrap_or(usize::MAX), (limit as usize).min(MAX_LIMIT)))
}

/// One page of a list, as EDC answers it: a plain JSON array.
fn paged(items: impl Iterator<Item = Value>, (offset, limit): (usize, usize)) -> Response {
    Json(items.skip(offset).take(limit).collect::<Vec<_>>()).into_response()
}

fn text(value: &Value, key: &str) -> Option<String> {
    match value.get(key) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Object(o)) => o.get("@id").or_else(|| o.get("@value")).and_then(Value::as_str).map(str::to_string),
        Some(Value::Array(items)) => items.first().and_then(|v| v.as_str().map(str::to_string).or_else(|| v.get("@value").and_then(Value::as_str).map(str::to_string))),
        _ => None,
    }
}

fn required(value: &Value, key: &str) -> Result<String, ApiError> {
    text(value, key).filter(|s| !s.is_empty()).ok_or_else(|| bad(format!("mandatory value '{key}' is missing")))
}

fn edc(mut object: Map<String, Value>, kind: &str, id: &str) -> Value {
    object.insert("@context".to_string(), json!({ "@vocab": EDC_VOCAB, "odrl": "http://www.w3.org/ns/odrl/2/" }));
    object.insert("@type".to_string(), Value::String(kind.to_string()));
    object.insert("@id".to_string(), Value::String(id.to_string()));
    Value::Object(object)
}

fn id_response(id: &str) -> Response {
    Json(json!({
        "@context": { "@vocab": EDC_VOCAB },
        "@type": "IdResponse",
        "@id": id,
        "createdAt": now_millis(),
    }))
    .into_response()
}

// ---------------------------------------------------------------------------------------------
// Assets, policies, contract definitions

fn asset_json(a: &Asset) -> Value {
    let mut o = Map::new();
    o.insert("properties".into(), Value::Object(a.properties.clone()));
    o.insert("dataAddress".into(), a.data_address.clone());
    o.insert("createdAt".into(), json!(a.created_at));
    edc(o, "Asset", &a.id)
}

async fn create_asset(State(conn): State<Connector>, headers: HeaderMap, bytes: axum::body::Bytes) -> ApiResult {
    authorize(&conn, &headers)?;
    let b = body(&bytes)?;
    let id = text(&b, "@id").unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let properties = b.get("properties").and_then(Value::as_object).cloned().unwrap_or_default();
    let data_address = b.get("dataAddress").cloned().ok_or_else(|| bad("mandatory value 'dataAddress' is missing"))?;
    if text(&data_address, "type").is_none() {
        return Err(bad("mandatory value 'dataAddress.type' is missing"));
    }
    let mut store = conn.store();
    if store.assets.contains_key(&id) {
        return Err(conflict(format!("Object of type Asset with ID={id} already exists")));
    }
    store.assets.insert(id.clone(), Asset { id: id.clone(), properties, data_address, created_at: now_millis() });
    Ok(id_response(&id))
}

async fn list_assets(State(conn): State<Connector>, headers: HeaderMap, bytes: axum::body::Bytes) -> ApiResult {
    authorize(&conn, &headers)?;
    let page = page_of(&bytes)?;
    Ok(paged(conn.store().assets.values().map(asset_json), page))
}

async fn get_asset(State(conn): State<Connector>, headers: HeaderMap, Path(id): Path<String>) -> ApiResult {
    authorize(&conn, &headers)?;
    conn.store().assets.get(&id).map(|a| Json(asset_json(a)).into_response()).ok_or_else(|| not_found("Asset", &id))
}

async fn delete_asset(State(conn): State<Connector>, headers: HeaderMap, Path(id): Path<String>) -> ApiResult {
    authorize(&conn, &headers)?;
    conn.store().assets.remove(&id).map(|_| StatusCode::NO_CONTENT.into_response()).ok_or_else(|| not_found("Asset", &id))
}

async fn create_policy(State(conn): State<Connector>, headers: HeaderMap, bytes: axum::body::Bytes) -> ApiResult {
    authorize(&conn, &headers)?;
    let b = body(&bytes)?;
    let id = text(&b, "@id").unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let policy = b.get("policy").cloned().ok_or_else(|| bad("mandatory value 'policy' is missing"))?;
    let mut store = conn.store();
    if store.policies.contains_key(&id) {
        return Err(conflict(format!("Object of type PolicyDefinition with ID={id} already exists")));
    }
    store.policies.insert(id.clone(), PolicyDefinition { id: id.clone(), policy, created_at: now_millis() });
    Ok(id_response(&id))
}

fn policy_json(p: &PolicyDefinition) -> Value {
    let mut o = Map::new();
    o.insert("policy".into(), p.policy.clone());
    o.insert("createdAt".into(), json!(p.created_at));
    edc(o, "PolicyDefinition", &p.id)
}

async fn list_policies(State(conn): State<Connector>, headers: HeaderMap, bytes: axum::body::Bytes) -> ApiResult {
    authorize(&conn, &headers)?;
    let page = page_of(&bytes)?;
    Ok(paged(conn.store().policies.values().map(policy_json), page))
}

async fn get_policy(State(conn): State<Connector>, headers: HeaderMap, Path(id): Path<String>) -> ApiResult {
    authorize(&conn, &headers)?;
    conn.store().policies.get(&id).map(|p| Json(policy_json(p)).into_response()).ok_or_else(|| not_found("PolicyDefinition", &id))
}

async fn create_contract_definition(State(conn): State<Connector>, headers: HeaderMap, bytes: axum::body::Bytes) -> ApiResult {
    authorize(&conn, &headers)?;
    let b = body(&bytes)?;
    let id = text(&b, "@id").unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let access_policy_id = required(&b, "accessPolicyId")?;
    let contract_policy_id = required(&b, "contractPolicyId")?;
    // EDC selects assets with criteria; the reference connector understands the usual
    // `id = X` and `id in [X, Y]` criteria and treats no criterion as "all assets".
    let mut asset_ids = Vec::new();
    let selectors = match b.get("assetsSelector") {
        Some(Value::Array(items)) => items.clone(),
        Some(single @ Value::Object(_)) => vec![single.clone()],
        _ => Vec::new(),
    };
    for criterion in selectors {
        match criterion.get("operandRight") {
            Some(Value::String(s)) => asset_ids.push(s.clone()),
            Some(Value::Array(items)) => asset_ids.extend(items.iter().filter_map(|v| v.as_str().map(str::to_string))),
            _ => {}
        }
    }
    let mut store = conn.store();
    for policy in [&access_policy_id, &contract_policy_id] {
        if !store.policies.contains_key(policy) {
            return Err(bad(format!("policy definition {policy} does not exist")));
        }
    }
    if store.contract_definitions.contains_key(&id) {
        return Err(conflict(format!("Object of type ContractDefinition with ID={id} already exists")));
    }
    store.contract_definitions.insert(id.clone(), ContractDefinition { id: id.clone(), access_policy_id, contract_policy_id, asset_ids, created_at: now_millis() });
    Ok(id_response(&id))
}

fn contract_definition_json(d: &ContractDefinition) -> Value {
    let mut o = Map::new();
    o.insert("accessPolicyId".into(), json!(d.access_policy_id));
    o.insert("contractPolicyId".into(), json!(d.contract_policy_id));
    let selector: Vec<Value> =
        d.asset_ids.iter().map(|a| json!({"@type": "Criterion", "operandLeft": format!("{EDC_VOCAB}id"), "operator": "=", "operandRight": a})).collect();
    o.insert("assetsSelector".into(), Value::Array(selector));
    o.insert("createdAt".into(), json!(d.created_at));
    edc(o, "ContractDefinition", &d.id)
}

async fn list_contract_definitions(State(conn): State<Connector>, headers: HeaderMap, bytes: axum::body::Bytes) -> ApiResult {
    authorize(&conn, &headers)?;
    let page = page_of(&bytes)?;
    Ok(paged(conn.store().contract_definitions.values().map(contract_definition_json), page))
}

async fn get_contract_definition(State(conn): State<Connector>, headers: HeaderMap, Path(id): Path<String>) -> ApiResult {
    authorize(&conn, &headers)?;
    conn.store().contract_definitions.get(&id).map(|d| Json(contract_definition_json(d)).into_response()).ok_or_else(|| not_found("ContractDefinition", &id))
}

// ---------------------------------------------------------------------------------------------
// Catalog

async fn catalog_request(State(conn): State<Connector>, headers: HeaderMap, bytes: axum::body::Bytes) -> ApiResult {
    authorize(&conn, &headers)?;
    let b = body(&bytes)?;
    let address = required(&b, "counterPartyAddress")?;
    let counter_party = text(&b, "counterPartyId");
    let chosen = speak_with(&conn, &address, text(&b, "protocol").as_deref()).await?;
    let filter = b.get("querySpec").and_then(|q| q.get("filterExpression")).cloned().and_then(|f| f.as_array().cloned());
    // The QuerySpec's page becomes the page asked of the provider, in the `?offset=&limit=` form
    // of the reference provider's own links (a provider that pages otherwise ignores it); with
    // no limit given, the largest page, so that a paged provider's catalog arrives whole.
    let spec = b.get("querySpec").cloned().unwrap_or(Value::Null);
    let number = |key: &str| spec.get(key).and_then(|v| v.as_u64().or_else(|| v.get("@value").and_then(Value::as_u64)));
    let offset = number("offset").unwrap_or(0);
    let limit = number("limit").unwrap_or(super::dsp::MAX_CATALOG_PAGE_SIZE as u64).max(1);
    let path = format!("{}?offset={offset}&limit={limit}", binding::CATALOG_REQUEST);
    let message = DspMessage::CatalogRequest(CatalogRequestMessage { filter });
    let speaker = conn.at(chosen.version);
    let reply = speaker.send(&chosen.base, &path, counter_party.as_deref(), &speaker.codec().encode(&message)).await;
    relay(reply.map(|(status, json)| (status, json.map(|j| as_current(chosen.version, &j)))))
}

/// A counterparty's reply in the 2025-1 compact form, whatever version it was written in, so a
/// management client sees one shape of catalog and dataset.
fn as_current(version: ProtocolVersion, body: &Value) -> Value {
    match version {
        ProtocolVersion::V2025_1 => body.clone(),
        other => vocabulary::to_current(vocabulary::dialect(other), body),
    }
}

/// The version a management request's `protocol` names, when it names one: EDC's
/// `dataspace-protocol-http:2025-1` and `:2024/1`, and this connector's `:0.8` and
/// `:0.8-processid`. The bare `dataspace-protocol-http` names the protocol, not a version (EDC
/// clients send it by default), so it forces nothing.
pub fn forced_version(protocol: &str) -> Option<ProtocolVersion> {
    let (_, version) = protocol.split_once(':')?;
    version.parse().ok()
}

/// Where the version document of the counterparty at `address` may be, with the base its paths
/// are relative to: below the DSP base it was given (where EDC serves it, and where a proxy that
/// maps that base to its own root passes it on), then at the root of the host (DSP 2025-1).
fn version_document_urls(address: &str) -> Vec<(String, String)> {
    let base = address.trim_end_matches('/').to_string();
    let mut urls = vec![(base.clone(), format!("{base}{}", binding::WELL_KNOWN_VERSION))];
    if let Ok(url) = reqwest::Url::parse(address) {
        let root = url.origin().ascii_serialization();
        if root != base {
            urls.push((root.clone(), format!("{root}{}", binding::WELL_KNOWN_VERSION)));
        }
    }
    urls
}

/// Reads a version document's entries, the `0.8-processid` entry this connector lists included
/// (`discovery::read_offer` keeps it aside as a version the spec does not name).
fn offer_of(document: &Value) -> Option<discovery::Offer> {
    let mut offer = discovery::read_offer(document).ok()?;
    let entries = document.get("protocolVersions").and_then(Value::as_array).cloned().unwrap_or_default();
    for entry in entries {
        if entry.get("version").and_then(Value::as_str) == Some(ProtocolVersion::V0_8ProcessId.as_str()) {
            let path = entry.get("path").and_then(Value::as_str).unwrap_or("/").to_string();
            offer.known.push(discovery::Offered { version: ProtocolVersion::V0_8ProcessId, path });
            offer.unknown.retain(|u| u != ProtocolVersion::V0_8ProcessId.as_str());
        }
    }
    Some(offer)
}

/// The version this consumer speaks with the counterparty at `address`, and that version's DSP
/// base there: chosen once per counterparty (and forced version) from its version document, the
/// newest version both sides speak; without a document, DSP 0.8 at `address`.
async fn speak_with(conn: &Connector, address: &str, protocol: Option<&str>) -> Result<Chosen, ApiError> {
    let own = conn.versions();
    let forced = protocol.and_then(forced_version);
    if let Some(forced) = forced.filter(|f| !own.contains(f)) {
        return Err(bad(format!("this connector does not speak DSP {forced} (it speaks {})", names(&own))));
    }
    let key = format!("{address}#{}", forced.map(ProtocolVersion::as_str).unwrap_or(""));
    if let Some(chosen) = conn.chosen_for(&key) {
        return Ok(chosen);
    }
    let mut found = None;
    for (root, url) in version_document_urls(address) {
        let reply = conn.http().get(&url).timeout(std::time::Duration::from_secs(5)).send().await;
        let Ok(reply) = reply else { continue };
        if !reply.status().is_success() {
            continue;
        }
        if let Some(offer) = reply.json::<Value>().await.ok().as_ref().and_then(offer_of) {
            found = Some((root, offer));
            break;
        }
    }
    let chosen = match found {
        Some((root, offer)) => {
            let offered: Vec<String> = offer.known.iter().map(|o| o.version.to_string()).chain(offer.unknown.iter().cloned()).collect();
            let common = discovery::Offer { known: offer.known.into_iter().filter(|o| own.contains(&o.version)).collect(), unknown: Vec::new() };
            let refuse = |why: String| ApiError(StatusCode::BAD_GATEWAY, why, "NoCommonVersion");
            let offered_text = if offered.is_empty() { "nothing".to_string() } else { offered.join(", ") };
            match discovery::choose(Some(&common), forced) {
                Ok(o) => Chosen { version: o.version, base: binding::join(&root, &o.path).trim_end_matches('/').to_string() },
                Err(discovery::DiscoveryError::ForcedNotOffered { forced, .. }) => {
                    return Err(refuse(format!("{address} does not offer DSP {forced} (it offers {offered_text})")))
                }
                Err(_) => return Err(refuse(format!("no DSP version in common with {address}: it offers {offered_text}, this connector speaks {}", names(&own)))),
            }
        }
        None => {
            // DSP 0.8 has no version document; of its two forms the older, processId one is
            // what a connector without a document most likely speaks (Tractus-X EDC 0.4).
            let version = forced
                .or_else(|| [ProtocolVersion::V0_8ProcessId, ProtocolVersion::V0_8].into_iter().find(|v| own.contains(v)))
                .ok_or_else(|| ApiError(StatusCode::BAD_GATEWAY, format!("{address} serves no version document, so it speaks DSP 0.8, which this connector does not (it speaks {})", names(&own)), "NoCommonVersion"))?;
            Chosen { version, base: address.trim_end_matches('/').to_string() }
        }
    };
    conn.remember_choice(&key, chosen.clone());
    Ok(chosen)
}

fn names(versions: &[ProtocolVersion]) -> String {
    versions.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
}

async fn dataset_request(State(conn): State<Connector>, headers: HeaderMap, bytes: axum::body::Bytes) -> ApiResult {
    authorize(&conn, &headers)?;
    let b = body(&bytes)?;
    let address = required(&b, "counterPartyAddress")?;
    let id = required(&b, "@id")?;
    let counter_party = text(&b, "counterPartyId");
    let chosen = speak_with(&conn, &address, text(&b, "protocol").as_deref()).await?;
    let (status, json) = fetch_dataset(&conn, &chosen.base, &id, counter_party.as_deref()).await?;
    relay(Ok((status, json.map(|j| as_current(chosen.version, &j)))))
}

/// Asks a provider for one dataset over DSP (`GET /catalog/datasets/{id}`), with a DAT.
async fn fetch_dataset(conn: &Connector, address: &str, id: &str, counter_party: Option<&str>) -> Result<(StatusCode, Option<Value>), ApiError> {
    let url = binding::join(address, &binding::dataset(id));
    let mut request = conn.http().get(&url);
    if !conn.fault(Fault::SendNoToken) {
        let token = crate::identity::DatClient::new(conn.config().daps_token_url.clone(), conn.config().keys.clone(), conn.http().clone())
            .token(counter_party.unwrap_or(super::app::ALL_CONNECTORS_AUDIENCE))
            .await
            .map_err(|e| ApiError(StatusCode::BAD_GATEWAY, format!("no token from the daps: {e}"), "BadGateway"))?;
        request = request.header("Authorization", token);
    }
    let response = request.send().await.map_err(|e| ApiError(StatusCode::BAD_GATEWAY, format!("{url}: {e}"), "BadGateway"))?;
    let status = response.status().as_u16();
    let json: Option<Value> = response.json().await.ok();
    Ok((StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY), json))
}

/// The rules of a provider's offer, looked up in its dataset when a management request names
/// the offer by its `@id` alone. EDC clients such as the PyPI `edc-client` send
/// `{"@id": offer, "target": asset, "assigner": provider}` and nothing else, while a DSP
/// ContractRequestMessage must carry the offer's permissions or prohibitions.
async fn offer_from_dataset(conn: &Connector, address: &str, target: &str, offer_id: &str, counter_party: Option<&str>) -> Result<Policy, ApiError> {
    let (status, dataset) = fetch_dataset(conn, address, target, counter_party).await?;
    let dataset = match dataset {
        Some(d) if status.is_success() => strip_prefixes(&d),
        other => return Err(ApiError(StatusCode::BAD_GATEWAY, format!("the offer {offer_id} names no rules, and asking the provider for dataset {target} to find them gave {status}: {}", other.map(|j| j.to_string()).unwrap_or_default()), "BadGateway")),
    };
    let offers = match dataset.get("hasPolicy") {
        Some(Value::Array(items)) => items.clone(),
        Some(single @ Value::Object(_)) => vec![single.clone()],
        _ => Vec::new(),
    };
    offers
        .iter()
        .find(|o| text(o, "@id").as_deref() == Some(offer_id))
        .map(super::store::policy_from_definition)
        .ok_or_else(|| bad(format!("the offer {offer_id} names no rules, and the provider's dataset {target} has no offer with that id")))
}

/// Passes a provider's DSP reply through, or reports why there was none.
fn relay(reply: Result<(StatusCode, Option<Value>), String>) -> ApiResult {
    match reply {
        Ok((status, Some(json))) if status.is_success() => Ok(Json(json).into_response()),
        Ok((status, json)) => Err(ApiError(
            StatusCode::BAD_GATEWAY,
            format!("the counterparty answered {status}: {}", json.map(|j| j.to_string()).unwrap_or_default()),
            "BadGateway",
        )),
        Err(e) => Err(ApiError(StatusCode::BAD_GATEWAY, e, "BadGateway")),
    }
}

// ---------------------------------------------------------------------------------------------
// Contract negotiations

fn negotiation_json(n: &Negotiation, agreement_id: Option<&str>) -> Value {
    let mut o = Map::new();
    o.insert("type".into(), json!(n.side.as_str()));
    o.insert("protocol".into(), json!(n.version.edc_protocol()));
    o.insert("state".into(), json!(n.management_state()));
    o.insert("counterPartyAddress".into(), json!(n.counter_party_address));
    if let Some(id) = &n.counter_party_id {
        o.insert("counterPartyId".into(), json!(id));
    }
    o.insert("consumerPid".into(), json!(n.consumer_pid));
    if let Some(p) = &n.provider_pid {
        o.insert("providerPid".into(), json!(p));
    }
    if let Some(a) = agreement_id {
        o.insert("contractAgreementId".into(), json!(a));
    }
    if let Some(e) = &n.error_detail {
        o.insert("errorDetail".into(), json!(e));
    }
    if let Some(a) = &n.asset_id {
        o.insert("assetId".into(), json!(a));
    }
    o.insert("createdAt".into(), json!(n.created_at));
    edc(o, "ContractNegotiation", &n.id)
}

fn agreement_of(conn: &Connector, negotiation_id: &str) -> Option<String> {
    let store = conn.store();
    let n = store.negotiations.get(negotiation_id)?;
    if n.state != NegotiationState::Finalized && n.side == Side::Consumer {
        return None;
    }
    n.agreement.as_ref().map(|a| a.id.clone())
}

/// What a provider's answer to an initial request means for the consumer's process: the
/// provider's pid, or why the process ends. A callback can overtake this answer, so a pid
/// already learnt from it is kept.
fn initial_reply(outcome: Result<(StatusCode, Option<Value>), String>) -> Result<Option<ProviderPid>, String> {
    match outcome {
        // The older dialects prefix the term, and the processId form names the process once.
        Ok((status, Some(reply))) if status.is_success() => Ok(["providerPid", "dspace:providerPid", "dspace:processId"]
            .iter()
            .find_map(|key| reply.get(*key).and_then(Value::as_str))
            .map(ProviderPid::from)),
        Ok((status, reply)) => Err(format!("the provider answered {status}: {}", reply.map(|r| r.to_string()).unwrap_or_default())),
        Err(e) => Err(e),
    }
}

/// Consumer: starts a negotiation for an offer from a provider's catalog.
async fn initiate_negotiation(State(conn): State<Connector>, headers: HeaderMap, bytes: axum::body::Bytes) -> ApiResult {
    authorize(&conn, &headers)?;
    let raw: Value = serde_json::from_slice(&bytes).map_err(|e| bad(format!("malformed JSON: {e}")))?;
    let b = strip_prefixes(&raw);
    let address = required(&b, "counterPartyAddress")?;
    let policy = b.get("policy").or_else(|| b.get("offer")).cloned().ok_or_else(|| bad("mandatory value 'policy' is missing"))?;
    let offer_id = required(&policy, "@id")?;
    let target = text(&policy, "target").ok_or_else(|| bad("mandatory value 'policy.target' is missing"))?;
    let counter_party_id = text(&b, "counterPartyId").or_else(|| text(&policy, "assigner"));
    // Beyond EDC: `"automation": "manual"` makes this consumer wait for the `verify` step
    // instead of verifying an agreement on its own, so a suite can probe it while AGREED.
    let automation = if text(&b, super::store::AUTOMATION_PROPERTY).as_deref() == Some("manual") { Automation::Manual } else { Automation::Auto };
    let chosen = speak_with(&conn, &address, text(&b, "protocol").as_deref()).await?;
    let mut offer = super::store::policy_from_definition(&policy);
    if offer.permission.is_empty() && offer.prohibition.is_empty() && offer.obligation.is_empty() {
        offer = offer_from_dataset(&conn, &chosen.base, &target, &offer_id, counter_party_id.as_deref()).await?;
    }
    offer.id = offer_id;
    offer.target = Some(target.clone());
    // The versions before 2025-1 require an offer to name its assigner: the provider.
    if chosen.version != ProtocolVersion::V2025_1 && offer.assigner.is_none() {
        offer.assigner = counter_party_id.clone().or_else(|| text(&policy, "assigner"));
    }
    let address = chosen.base.clone();
    let consumer_pid = ConsumerPid::generate();
    let negotiation = Negotiation {
        id: consumer_pid.0.clone(),
        side: Side::Consumer,
        version: chosen.version,
        consumer_pid: consumer_pid.clone(),
        provider_pid: None,
        state: NegotiationState::Requested,
        counter_party_address: address.clone(),
        counter_party_id: counter_party_id.clone(),
        offer: offer.clone(),
        agreement: None,
        asset_id: Some(target),
        automation,
        error_detail: None,
        requesting: true,
        created_at: now_millis(),
    };
    conn.store().negotiations.insert(negotiation.id.clone(), negotiation);
    let message = DspMessage::ContractRequest(ContractRequestMessage {
        consumer_pid: consumer_pid.clone(),
        provider_pid: None,
        offer,
        callback_address: Some(conn.dsp_url(chosen.version)),
    });
    let id = consumer_pid.0.clone();
    let task_conn = conn.at(chosen.version);
    tokio::spawn(async move {
        let body = task_conn.codec().encode(&message);
        let outcome = initial_reply(task_conn.send(&address, binding::NEGOTIATION_REQUEST, counter_party_id.as_deref(), &body).await);
        let mut store = task_conn.store();
        let Some(n) = store.negotiations.get_mut(&id) else { return };
        n.requesting = false;
        match outcome {
            Ok(pid) => n.provider_pid = n.provider_pid.take().or(pid),
            Err(e) => {
                n.state = NegotiationState::Terminated;
                n.error_detail = Some(e);
            }
        }
    });
    Ok(id_response(&consumer_pid.0))
}

async fn list_negotiations(State(conn): State<Connector>, headers: HeaderMap, bytes: axum::body::Bytes) -> ApiResult {
    authorize(&conn, &headers)?;
    let (offset, limit) = page_of(&bytes)?;
    let ids: Vec<String> = conn.store().negotiations.keys().skip(offset).take(limit).cloned().collect();
    let list = ids.iter().filter_map(|id| {
        let agreement = agreement_of(&conn, id);
        conn.store().negotiations.get(id).map(|n| negotiation_json(n, agreement.as_deref()))
    });
    Ok(paged(list, (0, limit)))
}

async fn get_negotiation(State(conn): State<Connector>, headers: HeaderMap, Path(id): Path<String>) -> ApiResult {
    authorize(&conn, &headers)?;
    let agreement = agreement_of(&conn, &id);
    conn.store().negotiations.get(&id).map(|n| Json(negotiation_json(n, agreement.as_deref())).into_response()).ok_or_else(|| not_found("ContractNegotiation", &id))
}

async fn negotiation_state(State(conn): State<Connector>, headers: HeaderMap, Path(id): Path<String>) -> ApiResult {
    authorize(&conn, &headers)?;
    let store = conn.store();
    let n = store.negotiations.get(&id).ok_or_else(|| not_found("ContractNegotiation", &id))?;
    Ok(Json(json!({"@context": {"@vocab": EDC_VOCAB}, "@type": "NegotiationState", "state": n.management_state()})).into_response())
}

fn agreement_json(a: &super::store::Agreement) -> Value {
    let mut o = Map::new();
    o.insert("assetId".into(), json!(a.asset_id));
    o.insert("policy".into(), serde_json::to_value(&a.policy).unwrap_or(Value::Null));
    o.insert("contractSigningDate".into(), json!(a.signing_date / 1000));
    o.insert("consumerId".into(), json!(a.consumer_id));
    o.insert("providerId".into(), json!(a.provider_id));
    edc(o, "ContractAgreement", a.id.as_str())
}

async fn negotiation_agreement(State(conn): State<Connector>, headers: HeaderMap, Path(id): Path<String>) -> ApiResult {
    authorize(&conn, &headers)?;
    let agreement_id = agreement_of(&conn, &id).ok_or_else(|| not_found("ContractAgreement", &id))?;
    conn.store().agreements.get(&agreement_id).map(|a| Json(agreement_json(a)).into_response()).ok_or_else(|| not_found("ContractAgreement", &agreement_id))
}

/// `terminate` (EDC) and the reference connector's manual steps.
async fn negotiation_action(State(conn): State<Connector>, headers: HeaderMap, Path((id, action)): Path<(String, String)>, bytes: axum::body::Bytes) -> ApiResult {
    authorize(&conn, &headers)?;
    let b = body(&bytes)?;
    if !conn.store().negotiations.contains_key(&id) {
        return Err(not_found("ContractNegotiation", &id));
    }
    let offer = b.get("policy").or_else(|| b.get("offer")).map(|p| {
        let mut offer = super::store::policy_from_definition(p);
        offer.id = text(p, "@id").unwrap_or_else(|| format!("urn:uuid:{}", uuid::Uuid::new_v4()));
        offer.target = text(p, "target");
        offer
    });
    let outcome = match action.as_str() {
        "terminate" => flows::terminate_negotiation(&conn, &id, text(&b, "reason").as_deref().unwrap_or("terminated through the management api")).await,
        "agree" => flows::agree(&conn, &id).await,
        "offer" => flows::counter_offer(&conn, &id, offer).await,
        "finalize" => flows::finalize(&conn, &id).await,
        "accept" => flows::accept(&conn, &id).await,
        "verify" => flows::verify(&conn, &id).await,
        "request" => flows::counter_request(&conn, &id, offer).await,
        other => return Err(ApiError(StatusCode::NOT_FOUND, format!("no action {other}"), "ObjectNotFound")),
    };
    match outcome {
        Ok(()) => Ok(StatusCode::NO_CONTENT.into_response()),
        // The local transition stands even when the peer could not be told; the state says
        // where things are, and errorDetail why.
        Err(e) if e.contains("not allowed") => Err(conflict(e)),
        Err(e) => Err(ApiError(StatusCode::BAD_GATEWAY, e, "BadGateway")),
    }
}

async fn list_agreements(State(conn): State<Connector>, headers: HeaderMap, bytes: axum::body::Bytes) -> ApiResult {
    authorize(&conn, &headers)?;
    let page = page_of(&bytes)?;
    Ok(paged(conn.store().agreements.values().map(agreement_json), page))
}

async fn get_agreement(State(conn): State<Connector>, headers: HeaderMap, Path(id): Path<String>) -> ApiResult {
    authorize(&conn, &headers)?;
    conn.store().agreements.get(&id).map(|a| Json(agreement_json(a)).into_response()).ok_or_else(|| not_found("ContractAgreement", &id))
}

// ---------------------------------------------------------------------------------------------
// Transfer processes

fn transfer_json(t: &Transfer) -> Value {
    let mut o = Map::new();
    o.insert("type".into(), json!(t.side.as_str()));
    o.insert("protocol".into(), json!(t.version.edc_protocol()));
    o.insert("state".into(), json!(t.management_state()));
    o.insert("contractId".into(), json!(t.agreement_id));
    o.insert("transferType".into(), json!(t.transfer_type));
    o.insert("counterPartyAddress".into(), json!(t.counter_party_address));
    o.insert("consumerPid".into(), json!(t.consumer_pid));
    if let Some(p) = &t.provider_pid {
        o.insert("providerPid".into(), json!(p));
    }
    if let Some(a) = &t.asset_id {
        o.insert("assetId".into(), json!(a));
    }
    if let Some(e) = &t.error_detail {
        o.insert("errorDetail".into(), json!(e));
    }
    o.insert("createdAt".into(), json!(t.created_at));
    edc(o, "TransferProcess", &t.id)
}

/// Maps an EDC data destination (`HttpData` with `baseUrl`, `AmazonS3` with bucket and key)
/// to the DSP data address sent in the transfer request.
fn destination_address(destination: &Value) -> Result<DataAddress, ApiError> {
    let kind = text(destination, "type").ok_or_else(|| bad("mandatory value 'dataDestination.type' is missing"))?;
    match kind.as_str() {
        "HttpData" | "HttpProxy" => {
            let base = required(destination, "baseUrl")?;
            let mut address = DataAddress::new(HTTP_ENDPOINT_TYPE, Some(base));
            if let Some(auth) = text(destination, "authCode").or_else(|| text(destination, "authorization")) {
                address = address.with_property("authorization", auth);
            }
            Ok(address)
        }
        "AmazonS3" => {
            let mut address = DataAddress::new(S3_ENDPOINT_TYPE, text(destination, "endpointOverride"));
            for key in ["bucketName", "region", "accessKeyId", "secretAccessKey"] {
                address = address.with_property(key, required(destination, key)?);
            }
            let key = text(destination, "keyName").or_else(|| text(destination, "objectName")).ok_or_else(|| bad("mandatory value 'dataDestination.keyName' is missing"))?;
            Ok(address.with_property("keyName", key))
        }
        other => Err(bad(format!("unsupported data destination type {other}"))),
    }
}

/// Consumer: starts a transfer under an agreement.
async fn initiate_transfer(State(conn): State<Connector>, headers: HeaderMap, bytes: axum::body::Bytes) -> ApiResult {
    authorize(&conn, &headers)?;
    let b = body(&bytes)?;
    let address = required(&b, "counterPartyAddress")?;
    let agreement_id = required(&b, "contractId")?;
    let chosen = speak_with(&conn, &address, text(&b, "protocol").as_deref()).await?;
    let address = chosen.base.clone();
    let transfer_type = required(&b, "transferType")?;
    let destination = match b.get("dataDestination") {
        Some(d) if transfer_type.ends_with("PUSH") => Some(destination_address(d)?),
        _ => None,
    };
    if transfer_type.ends_with("PUSH") && destination.is_none() {
        return Err(bad(format!("a {transfer_type} transfer needs a dataDestination")));
    }
    let (counter_party_id, asset_id) = {
        let store = conn.store();
        let agreement = store.agreements.get(&agreement_id);
        (text(&b, "counterPartyId").or_else(|| agreement.map(|a| a.provider_id.clone())), agreement.map(|a| a.asset_id.clone()))
    };
    let consumer_pid = ConsumerPid::generate();
    let transfer = Transfer {
        id: consumer_pid.0.clone(),
        side: Side::Consumer,
        version: chosen.version,
        consumer_pid: consumer_pid.clone(),
        provider_pid: None,
        state: TransferState::Requested,
        agreement_id: AgreementId(agreement_id.clone()),
        asset_id,
        transfer_type: transfer_type.clone(),
        counter_party_address: address.clone(),
        counter_party_id: counter_party_id.clone(),
        destination: destination.clone(),
        edr: None,
        automation: Automation::Auto,
        error_detail: None,
        requesting: true,
        created_at: now_millis(),
    };
    conn.store().transfers.insert(transfer.id.clone(), transfer);
    let message = DspMessage::TransferRequest(TransferRequestMessage {
        consumer_pid: consumer_pid.clone(),
        agreement_id: AgreementId(agreement_id),
        format: transfer_type,
        data_address: destination,
        callback_address: conn.dsp_url(chosen.version),
    });
    let id = consumer_pid.0.clone();
    let task_conn = conn.at(chosen.version);
    tokio::spawn(async move {
        let body = task_conn.codec().encode(&message);
        let outcome = initial_reply(task_conn.send(&address, binding::TRANSFER_REQUEST, counter_party_id.as_deref(), &body).await);
        let mut store = task_conn.store();
        let Some(t) = store.transfers.get_mut(&id) else { return };
        t.requesting = false;
        match outcome {
            Ok(pid) => t.provider_pid = t.provider_pid.take().or(pid),
            Err(e) => {
                t.state = TransferState::Terminated;
                t.error_detail = Some(e);
            }
        }
    });
    Ok(id_response(&consumer_pid.0))
}

async fn list_transfers(State(conn): State<Connector>, headers: HeaderMap, bytes: axum::body::Bytes) -> ApiResult {
    authorize(&conn, &headers)?;
    let page = page_of(&bytes)?;
    Ok(paged(conn.store().transfers.values().map(transfer_json), page))
}

async fn get_transfer(State(conn): State<Connector>, headers: HeaderMap, Path(id): Path<String>) -> ApiResult {
    authorize(&conn, &headers)?;
    conn.store().transfers.get(&id).map(|t| Json(transfer_json(t)).into_response()).ok_or_else(|| not_found("TransferProcess", &id))
}

async fn transfer_state(State(conn): State<Connector>, headers: HeaderMap, Path(id): Path<String>) -> ApiResult {
    authorize(&conn, &headers)?;
    let store = conn.store();
    let t = store.transfers.get(&id).ok_or_else(|| not_found("TransferProcess", &id))?;
    Ok(Json(json!({"@context": {"@vocab": EDC_VOCAB}, "@type": "TransferState", "state": t.management_state()})).into_response())
}

/// `suspend`, `resume`, `terminate` (EDC) and the manual provider steps `start`, `complete`.
async fn transfer_action(State(conn): State<Connector>, headers: HeaderMap, Path((id, action)): Path<(String, String)>, bytes: axum::body::Bytes) -> ApiResult {
    authorize(&conn, &headers)?;
    let b = body(&bytes)?;
    if !conn.store().transfers.contains_key(&id) {
        return Err(not_found("TransferProcess", &id));
    }
    let reason = text(&b, "reason");
    let outcome = match action.as_str() {
        "suspend" => flows::suspend_transfer(&conn, &id, reason.as_deref().unwrap_or("suspended through the management api")).await,
        "terminate" => flows::terminate_transfer(&conn, &id, reason.as_deref().unwrap_or("terminated through the management api")).await,
        "resume" | "start" => flows::start_transfer(&conn, &id).await,
        "complete" => flows::complete_transfer(&conn, &id).await,
        other => return Err(ApiError(StatusCode::NOT_FOUND, format!("no action {other}"), "ObjectNotFound")),
    };
    match outcome {
        Ok(()) => Ok(StatusCode::NO_CONTENT.into_response()),
        Err(e) if e.contains("not allowed") => Err(conflict(e)),
        Err(e) => Err(ApiError(StatusCode::BAD_GATEWAY, e, "BadGateway")),
    }
}

/// The endpoint data reference a consumer received for a started pull, in EDC's shape.
async fn edr_data_address(State(conn): State<Connector>, headers: HeaderMap, Path(id): Path<String>) -> ApiResult {
    authorize(&conn, &headers)?;
    let store = conn.store();
    let t = store.transfers.get(&id).ok_or_else(|| not_found("TransferProcess", &id))?;
    let edr = t.edr.as_ref().ok_or_else(|| not_found("EndpointDataReference", &id))?;
    let mut o = Map::new();
    o.insert("@context".into(), json!({"@vocab": EDC_VOCAB}));
    o.insert("@type".into(), json!("DataAddress"));
    o.insert("type".into(), json!(edr.endpoint_type));
    o.insert("endpointType".into(), json!(edr.endpoint_type));
    if let Some(endpoint) = &edr.endpoint {
        o.insert("endpoint".into(), json!(endpoint));
    }
    for p in &edr.endpoint_properties {
        o.insert(p.name.clone(), json!(p.value));
    }
    o.insert("transferProcessId".into(), json!(t.id));
    Ok(Json(Value::Object(o)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_protocol_that_names_a_version_forces_it() {
        assert_eq!(forced_version("dataspace-protocol-http:2025-1"), Some(ProtocolVersion::V2025_1));
        assert_eq!(forced_version("dataspace-protocol-http:2024/1"), Some(ProtocolVersion::V2024_1));
        assert_eq!(forced_version("dataspace-protocol-http:0.8-processid"), Some(ProtocolVersion::V0_8ProcessId));
        assert_eq!(forced_version("dataspace-protocol-http"), None);
        assert_eq!(forced_version("dataspace-protocol-http:2031-7"), None);
    }

    #[test]
    fn the_processid_entry_of_a_version_document_is_read_and_paths_follow_the_document() {
        let document = json!({"protocolVersions": [
            {"version": "2025-1", "path": "/"},
            {"version": "0.8-processid", "path": "/0.8-processid"},
            {"version": "2031-7", "path": "/x"}
        ]});
        let offer = offer_of(&document).expect("readable");
        assert!(offer.known.iter().any(|o| o.version == ProtocolVersion::V0_8ProcessId && o.path == "/0.8-processid"));
        assert_eq!(offer.unknown, vec!["2031-7".to_string()]);
        let urls = version_document_urls("http://127.0.0.1:9/dsp/");
        assert_eq!(urls[0], ("http://127.0.0.1:9/dsp".to_string(), "http://127.0.0.1:9/dsp/.well-known/dspace-version".to_string()));
        assert_eq!(urls[1].0, "http://127.0.0.1:9");
        assert_eq!(version_document_urls("http://127.0.0.1:9").len(), 1, "a root address is tried once");
    }
}
