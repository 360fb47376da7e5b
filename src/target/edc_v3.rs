//! A driver for management APIs shaped like the Eclipse EDC management API v3 (`/v3/assets`,
//! `/v3/contractnegotiations`, ...), which is what the reference connector offers and what EDC
//! based connectors under test expose, and the [`ManagementClient`] it shares with the v2
//! driver ([`edc_v2`](super::edc_v2)): the paths are the version's ([`Shape`]), the bodies are
//! built per version.
//!
//! Requests are JSON-LD as EDC's own clients send them (`"@context": {"@vocab": EDC}` and
//! unprefixed terms); answers are read leniently through [`lenient`](super::lenient), since
//! EDC versions compact them differently (`edc:state` or `state`). Every call goes through the
//! [`RecordingClient`] and is recorded as an exchange to `<name>-management`, without schema
//! validation: these are the vendor's shapes, not the protocol's.

use std::time::{Duration, Instant};

use reqwest::header::ACCEPT;
use reqwest::Method;
use serde_json::{json, Value};

use futures::future::BoxFuture;

use super::driver::{Capabilities, ManagementAccess, ManagementDriver, NegotiationStep, TransferStep};
use super::edc_v2::{self as v2, Shape};
use super::error::TargetError;
use super::lenient;
use crate::recording::{RecordedResponse, RecordingClient};
use crate::runtime::ConnectorInfo;

/// The EDC vocabulary, the `@vocab` of every management request.
pub const EDC_VOCAB: &str = "https://w3id.org/edc/v0.0.1/ns/";
/// The ODRL context EDC expects inside policies.
pub const ODRL_CONTEXT: &str = "http://www.w3.org/ns/odrl.jsonld";
/// The EDC property holding an asset's id, for asset selectors.
pub const EDC_ID: &str = "https://w3id.org/edc/v0.0.1/ns/id";

/// Who the harness's management calls are recorded as coming from.
const FROM: &str = "harness";

/// How much of an error body a [`TargetError::Status`] quotes.
const QUOTE_LIMIT: usize = 2048;

/// States after which a negotiation does not move any more.
const NEGOTIATION_FINAL: &[&str] = &["FINALIZED", "TERMINATED"];
/// States after which a transfer does not move any more (EDC deprovisions after either end).
const TRANSFER_FINAL: &[&str] = &["COMPLETED", "TERMINATED", "DEPROVISIONED"];

/// A document from the management API and the `seq` of the exchange it came in.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer<T> {
    pub value: T,
    pub exchange: u64,
}

/// Where and how to pull data, as the consumer's EDR cache tells it.
#[derive(Debug, Clone, PartialEq)]
pub struct EdrAddress {
    pub endpoint: String,
    /// The value to send in the `Authorization` header.
    pub authorization: Option<String>,
    /// The whole data address, for anything else a caller wants to check.
    pub raw: Value,
}

/// A client of one connector's EDC management API, v3 unless told otherwise
/// ([`Self::with_shape`]).
#[derive(Debug, Clone)]
pub struct ManagementClient {
    base: String,
    shape: Shape,
    api_key: String,
    to: String,
    client: RecordingClient,
    poll_interval: Duration,
}

fn context() -> Value {
    json!({ "@vocab": EDC_VOCAB })
}

impl ManagementClient {
    /// A client of the management API at `base` (`ConnectorInfo::management_url`), recorded as
    /// `<name>-management`.
    pub fn new(name: &str, base: &str, api_key: &str, client: RecordingClient) -> ManagementClient {
        ManagementClient {
            base: base.trim_end_matches('/').to_string(),
            shape: Shape::V3,
            api_key: api_key.to_string(),
            to: format!("{name}-management"),
            client,
            poll_interval: Duration::from_millis(50),
        }
    }

    pub fn for_connector(name: &str, info: &ConnectorInfo, client: RecordingClient) -> ManagementClient {
        ManagementClient::new(name, &info.management_url, &info.api_key, client)
    }

    /// How long the `wait_for_*` helpers sleep between polls (50 ms unless changed).
    pub fn with_poll_interval(mut self, interval: Duration) -> ManagementClient {
        self.poll_interval = interval;
        self
    }

    /// The same client speaking the `shape` version of the API.
    pub fn with_shape(mut self, shape: Shape) -> ManagementClient {
        self.shape = shape;
        self
    }

    pub fn shape(&self) -> Shape {
        self.shape
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// The path of `resource` in the version this client speaks (`/v3/assets`, `/v2/assets`).
    pub fn path(&self, resource: &str) -> String {
        self.shape.path(resource)
    }

    // -- provider setup ---------------------------------------------------------------------

    /// `POST /v3/assets`; returns the id the API assigned (it should be `id`).
    pub async fn create_asset(&self, id: &str, properties: Value, data_address: Value) -> Result<String, TargetError> {
        if self.shape == Shape::V2 {
            return self.create(&self.path("assets"), &v2::asset(id, properties, data_address)).await;
        }
        let body = json!({
            "@context": context(),
            "@type": "Asset",
            "@id": id,
            "properties": properties,
            "dataAddress": data_address,
        });
        self.create(&self.path("assets"), &body).await
    }

    /// `POST /v3/policydefinitions`. The policy is an ODRL policy (usually `"@type": "Set"`);
    /// it gets the ODRL context when it has none, because EDC expands its terms with it.
    pub async fn create_policy_definition(&self, id: &str, policy: Value) -> Result<String, TargetError> {
        if self.shape == Shape::V2 {
            return self.create(&self.path("policydefinitions"), &v2::policy_definition(id, &policy)).await;
        }
        let mut policy = policy;
        if let Some(object) = policy.as_object_mut() {
            object.entry("@context").or_insert_with(|| Value::String(ODRL_CONTEXT.to_string()));
        }
        let body = json!({
            "@context": context(),
            "@type": "PolicyDefinition",
            "@id": id,
            "policy": policy,
        });
        self.create(&self.path("policydefinitions"), &body).await
    }

    /// `POST /v3/contractdefinitions`. `assets_selector` is a list of EDC criteria (see
    /// [`asset_selector`]); an empty list selects every asset.
    pub async fn create_contract_definition(
        &self,
        id: &str,
        access_policy_id: &str,
        contract_policy_id: &str,
        assets_selector: Value,
    ) -> Result<String, TargetError> {
        if self.shape == Shape::V2 {
            let body = v2::contract_definition(id, access_policy_id, contract_policy_id, assets_selector);
            return self.create(&self.path("contractdefinitions"), &body).await;
        }
        let body = json!({
            "@context": context(),
            "@type": "ContractDefinition",
            "@id": id,
            "accessPolicyId": access_policy_id,
            "contractPolicyId": contract_policy_id,
            "assetsSelector": assets_selector,
        });
        self.create(&self.path("contractdefinitions"), &body).await
    }

    // -- catalog ----------------------------------------------------------------------------

    /// `POST /v3/catalog/request`: the connector fetches the counter-party's DSP catalog and
    /// returns it.
    pub async fn request_catalog(
        &self,
        counter_party_address: &str,
        counter_party_id: &str,
        protocol: &str,
        query_spec: Option<Value>,
    ) -> Result<Answer<Value>, TargetError> {
        if self.shape == Shape::V2 {
            let body = v2::catalog_request(counter_party_address, protocol, query_spec);
            return self.json(Method::POST, &self.path("catalog/request"), Some(&body)).await;
        }
        let mut body = json!({
            "@context": context(),
            "@type": "CatalogRequest",
            "counterPartyAddress": counter_party_address,
            "counterPartyId": counter_party_id,
            "protocol": protocol,
        });
        if let Some(query_spec) = query_spec {
            body["querySpec"] = query_spec;
        }
        self.json(Method::POST, &self.path("catalog/request"), Some(&body)).await
    }

    /// `POST /v3/catalog/dataset/request`: one dataset of the counter-party's catalog.
    pub async fn request_dataset(
        &self,
        dataset_id: &str,
        counter_party_address: &str,
        counter_party_id: &str,
        protocol: &str,
    ) -> Result<Answer<Value>, TargetError> {
        if self.shape == Shape::V2 {
            return self.dataset_from_catalog(dataset_id, counter_party_address, counter_party_id, protocol).await;
        }
        let body = json!({
            "@context": context(),
            "@type": "DatasetRequest",
            "@id": dataset_id,
            "counterPartyAddress": counter_party_address,
            "counterPartyId": counter_party_id,
            "protocol": protocol,
        });
        self.json(Method::POST, &self.path("catalog/dataset/request"), Some(&body)).await
    }

    // -- contract negotiation ---------------------------------------------------------------

    /// `POST /v3/contractnegotiations`; returns the new negotiation's id. `offer` is the ODRL
    /// offer from the catalog with `@id`, `target` and `assigner` set.
    pub async fn initiate_negotiation(
        &self,
        counter_party_address: &str,
        counter_party_id: &str,
        protocol: &str,
        offer: &Value,
    ) -> Result<String, TargetError> {
        self.initiate_negotiation_with(counter_party_address, counter_party_id, protocol, offer, &[]).await
    }

    /// Like [`Self::initiate_negotiation`], with more members in the request (a vendor's
    /// extension, such as the reference connector's `automation`).
    pub async fn initiate_negotiation_with(
        &self,
        counter_party_address: &str,
        counter_party_id: &str,
        protocol: &str,
        offer: &Value,
        extra: &[(&str, Value)],
    ) -> Result<String, TargetError> {
        if self.shape == Shape::V2 {
            let body = v2::negotiation(counter_party_address, counter_party_id, protocol, offer, extra);
            return self.create(&self.path("contractnegotiations"), &body).await;
        }
        let mut policy = offer.clone();
        if let Some(object) = policy.as_object_mut() {
            object.entry("@context").or_insert_with(|| Value::String(ODRL_CONTEXT.to_string()));
        }
        let mut body = json!({
            "@context": context(),
            "@type": "ContractRequest",
            "counterPartyAddress": counter_party_address,
            "counterPartyId": counter_party_id,
            "protocol": protocol,
            "policy": policy,
        });
        for (key, value) in extra {
            body[*key] = value.clone();
        }
        self.create(&self.path("contractnegotiations"), &body).await
    }

    /// `GET /v3/contractnegotiations/{id}`.
    pub async fn get_negotiation(&self, id: &str) -> Result<Answer<Value>, TargetError> {
        self.json(Method::GET, &self.path(&format!("contractnegotiations/{}", segment(id))), None).await
    }

    /// `GET /v3/contractnegotiations/{id}/state`: the state name, without prefix.
    pub async fn negotiation_state(&self, id: &str) -> Result<Answer<String>, TargetError> {
        self.state(&self.path(&format!("contractnegotiations/{}/state", segment(id)))).await
    }

    /// `POST /v3/contractnegotiations/{id}/terminate`.
    pub async fn terminate_negotiation(&self, id: &str, reason: &str) -> Result<(), TargetError> {
        if self.shape == Shape::V2 {
            // EDC 0.1.0's v2 has no terminate: `cancel` moves the negotiation to TERMINATING.
            return self.call(Method::POST, &self.path(&format!("contractnegotiations/{}/cancel", segment(id))), None).await.map(drop);
        }
        let body = json!({
            "@context": context(),
            "@type": "TerminateNegotiation",
            "@id": id,
            "reason": reason,
        });
        self.call(Method::POST, &self.path(&format!("contractnegotiations/{}/terminate", segment(id))), Some(&body)).await.map(drop)
    }

    /// `GET /v3/contractnegotiations/{id}/agreement`.
    pub async fn negotiation_agreement(&self, id: &str) -> Result<Answer<Value>, TargetError> {
        self.json(Method::GET, &self.path(&format!("contractnegotiations/{}/agreement", segment(id))), None).await
    }

    /// `POST /v3/contractnegotiations/request`: the negotiations the connector knows.
    pub async fn query_negotiations(&self, query: Option<Value>) -> Result<Answer<Vec<Value>>, TargetError> {
        self.query(&self.path("contractnegotiations/request"), query).await
    }

    /// `GET /v3/contractagreements/{id}`.
    pub async fn get_agreement(&self, id: &str) -> Result<Answer<Value>, TargetError> {
        self.json(Method::GET, &self.path(&format!("contractagreements/{}", segment(id))), None).await
    }

    // -- transfer process -------------------------------------------------------------------

    /// `POST /v3/transferprocesses`; returns the new transfer's id. `transfer_type` is EDC's
    /// `HttpData-PULL`, `HttpData-PUSH`, `AmazonS3-PUSH`, ...; push types need a
    /// `data_destination` (an EDC data address).
    pub async fn initiate_transfer(
        &self,
        counter_party_address: &str,
        contract_id: &str,
        protocol: &str,
        transfer_type: &str,
        data_destination: Option<Value>,
    ) -> Result<String, TargetError> {
        if self.shape == Shape::V2 {
            // 0.4.1 wants the asset id as well, which only the agreement knows.
            let agreement = self.get_agreement(contract_id).await?;
            let asset_id = lenient::get_str(&agreement.value, "assetId").unwrap_or_default().to_string();
            let destination = if transfer_type.ends_with("-PULL") { None } else { data_destination };
            let body = v2::transfer(counter_party_address, contract_id, &asset_id, protocol, destination);
            return self.create(&self.path("transferprocesses"), &body).await;
        }
        let mut body = json!({
            "@context": context(),
            "@type": "TransferRequest",
            "counterPartyAddress": counter_party_address,
            "contractId": contract_id,
            "protocol": protocol,
            "transferType": transfer_type,
        });
        if let Some(mut destination) = data_destination {
            if let Some(object) = destination.as_object_mut() {
                object.entry("@type").or_insert_with(|| Value::String("DataAddress".to_string()));
            }
            body["dataDestination"] = destination;
        }
        self.create(&self.path("transferprocesses"), &body).await
    }

    /// `GET /v3/transferprocesses/{id}`.
    pub async fn get_transfer(&self, id: &str) -> Result<Answer<Value>, TargetError> {
        self.json(Method::GET, &self.path(&format!("transferprocesses/{}", segment(id))), None).await
    }

    /// `GET /v3/transferprocesses/{id}/state`: the state name, without prefix.
    pub async fn transfer_state(&self, id: &str) -> Result<Answer<String>, TargetError> {
        self.state(&self.path(&format!("transferprocesses/{}/state", segment(id)))).await
    }

    /// `POST /v3/transferprocesses/{id}/suspend`.
    pub async fn suspend_transfer(&self, id: &str, reason: &str) -> Result<(), TargetError> {
        self.v3_only("suspend")?;
        let body = json!({ "@context": context(), "@type": "SuspendTransfer", "reason": reason });
        self.call(Method::POST, &self.path(&format!("transferprocesses/{}/suspend", segment(id))), Some(&body)).await.map(drop)
    }

    /// `POST /v3/transferprocesses/{id}/resume`.
    pub async fn resume_transfer(&self, id: &str) -> Result<(), TargetError> {
        self.v3_only("resume")?;
        self.call(Method::POST, &self.path(&format!("transferprocesses/{}/resume", segment(id))), None).await.map(drop)
    }

    /// `POST /v3/transferprocesses/{id}/terminate`. EDC has no "complete" call: a consumer ends
    /// a pull transfer by terminating it.
    pub async fn terminate_transfer(&self, id: &str, reason: &str) -> Result<(), TargetError> {
        let body = match self.shape {
            Shape::V3 => json!({ "@context": context(), "@type": "TerminateTransfer", "reason": reason }),
            Shape::V2 => v2::terminate_transfer(reason),
        };
        self.call(Method::POST, &self.path(&format!("transferprocesses/{}/terminate", segment(id))), Some(&body)).await.map(drop)
    }

    /// `POST /v3/transferprocesses/{id}/complete`: ends a started transfer as COMPLETED. The
    /// reference connector has it; EDC does not (a consumer there can only terminate).
    pub async fn complete_transfer(&self, id: &str) -> Result<(), TargetError> {
        self.v3_only("complete")?;
        self.call(Method::POST, &self.path(&format!("transferprocesses/{}/complete", segment(id))), None).await.map(drop)
    }

    /// `POST /v3/transferprocesses/request`: the transfers the connector knows.
    pub async fn query_transfers(&self, query: Option<Value>) -> Result<Answer<Vec<Value>>, TargetError> {
        self.query(&self.path("transferprocesses/request"), query).await
    }

    /// `GET /v3/edrs/{transfer_id}/dataaddress`: the endpoint and token of a started pull.
    pub async fn edr_data_address(&self, transfer_id: &str) -> Result<Answer<EdrAddress>, TargetError> {
        let path = self.shape.edr_path(&segment(transfer_id));
        let answer = self.json(Method::GET, &path, None).await?;
        let raw = answer.value;
        let endpoint = lenient::get_str(&raw, "endpoint").or_else(|| property(&raw, "endpoint")).map(str::to_string);
        let Some(endpoint) = endpoint else {
            return Err(TargetError::Malformed {
                method: "GET".into(),
                path,
                detail: "the data address has no endpoint".into(),
                exchange: answer.exchange,
            });
        };
        // Tractus-X 0.4.1's adapter names the header value `edc:authCode` (and its name `edc:authKey`).
        let authorization = lenient::get_str(&raw, "authorization")
            .or_else(|| property(&raw, "authorization"))
            .or_else(|| lenient::get_str(&raw, "authCode"))
            .map(str::to_string);
        Ok(Answer { value: EdrAddress { endpoint, authorization, raw }, exchange: answer.exchange })
    }

    // -- waiting ----------------------------------------------------------------------------

    /// Polls a negotiation until it is in one of `wanted`. Fails early when it reaches a final
    /// state that is not wanted, and after `timeout` otherwise.
    pub async fn wait_for_negotiation_state(&self, id: &str, wanted: &[&str], timeout: Duration) -> Result<Answer<String>, TargetError> {
        let path = self.path(&format!("contractnegotiations/{}/state", segment(id)));
        self.wait(&format!("negotiation {id}"), &path, wanted, NEGOTIATION_FINAL, timeout).await
    }

    /// Polls a transfer until it is in one of `wanted`, like [`Self::wait_for_negotiation_state`].
    pub async fn wait_for_transfer_state(&self, id: &str, wanted: &[&str], timeout: Duration) -> Result<Answer<String>, TargetError> {
        let path = self.path(&format!("transferprocesses/{}/state", segment(id)));
        self.wait(&format!("transfer {id}"), &path, wanted, TRANSFER_FINAL, timeout).await
    }

    async fn wait(
        &self,
        what: &str,
        path: &str,
        wanted: &[&str],
        final_states: &[&str],
        timeout: Duration,
    ) -> Result<Answer<String>, TargetError> {
        let deadline = Instant::now() + timeout;
        let mut last: Option<String> = None;
        loop {
            match self.state(path).await {
                Ok(answer) => {
                    if wanted.contains(&answer.value.as_str()) {
                        return Ok(answer);
                    }
                    if final_states.contains(&answer.value.as_str()) {
                        return Err(TargetError::UnexpectedState {
                            what: what.to_string(),
                            wanted: wanted.iter().map(|s| s.to_string()).collect(),
                            actual: answer.value,
                            exchange: answer.exchange,
                        });
                    }
                    // Keep the first answer of each state and forget repeats, so a report shows
                    // the states a process went through rather than a hundred identical polls.
                    if last.as_deref() == Some(answer.value.as_str()) {
                        self.client.recorder().discard(answer.exchange);
                    }
                    last = Some(answer.value);
                }
                // A process may not be visible the moment its id is handed out.
                Err(TargetError::Status { status: 404, exchange, .. }) => {
                    if last.as_deref() == Some("404") {
                        self.client.recorder().discard(exchange);
                    }
                    last = Some("404".to_string());
                }
                Err(other) => return Err(other),
            }
            if Instant::now() + self.poll_interval > deadline {
                return Err(TargetError::WaitTimeout {
                    what: what.to_string(),
                    wanted: wanted.iter().map(|s| s.to_string()).collect(),
                    last,
                    after_ms: timeout.as_millis() as u64,
                });
            }
            tokio::time::sleep(self.poll_interval).await;
        }
    }

    /// A POST whose answer only needs to be a success (a vendor's own step, such as the
    /// reference connector's `/v3/contractnegotiations/{id}/agree`).
    pub async fn post(&self, path: &str, body: &Value) -> Result<(), TargetError> {
        self.call(Method::POST, path, Some(body)).await.map(drop)
    }

    /// `POST /v3/assets/request` with `limit`: the cheapest authenticated call, for the
    /// preflight's check of the key.
    pub async fn query_assets(&self, limit: u32) -> Result<Answer<Vec<Value>>, TargetError> {
        self.query(&self.path("assets/request"), Some(json!({ "@context": context(), "@type": "QuerySpec", "offset": 0, "limit": limit }))).await
    }

    /// `GET` of a path of the API, answered with anything successful (the preflight's probe).
    pub async fn probe(&self, path: &str) -> Result<Answer<Value>, TargetError> {
        self.json(Method::GET, path, None).await
    }

    // -- plumbing ---------------------------------------------------------------------------

    /// Refuses a call the v2 API does not have, before anything is sent.
    fn v3_only(&self, what: &str) -> Result<(), TargetError> {
        match self.shape {
            Shape::V3 => Ok(()),
            Shape::V2 => Err(TargetError::Unsupported(format!("the EDC v2 management API (Tractus-X EDC 0.4.1) has no {what} of transfers"))),
        }
    }

    /// v2 has no dataset request: the dataset is looked up in the whole catalog.
    async fn dataset_from_catalog(&self, dataset_id: &str, address: &str, counter_party_id: &str, protocol: &str) -> Result<Answer<Value>, TargetError> {
        let catalog = self.request_catalog(address, counter_party_id, protocol, None).await?;
        let found = lenient::list(&catalog.value, "dataset").into_iter().find(|d| lenient::id(d) == Some(dataset_id)).cloned();
        match found {
            Some(dataset) => Ok(Answer { value: dataset, exchange: catalog.exchange }),
            None => Err(TargetError::Malformed {
                method: "POST".into(),
                path: self.path("catalog/request"),
                detail: format!("the catalog has no dataset {dataset_id}"),
                exchange: catalog.exchange,
            }),
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Result<RecordedResponse, TargetError> {
        let url = format!("{}{}", self.base, path);
        let mut builder =
            self.client.http().request(method.clone(), &url).header("X-Api-Key", &self.api_key).header(ACCEPT, "application/json");
        if let Some(body) = body {
            builder = builder.json(body);
        }
        let request = builder.build().map_err(|e| TargetError::InvalidUrl { url: url.clone(), message: e.to_string() })?;
        let response = self.client.send_unchecked(FROM, &self.to, request).await?;
        if !response.status.is_success() {
            let mut quoted = response.text();
            if quoted.len() > QUOTE_LIMIT {
                let mut end = QUOTE_LIMIT;
                while !quoted.is_char_boundary(end) {
                    end -= 1;
                }
                quoted.truncate(end);
                quoted.push('…');
            }
            return Err(TargetError::Status {
                method: method.to_string(),
                path: path.to_string(),
                status: response.status.as_u16(),
                body: quoted,
                exchange: response.seq,
            });
        }
        Ok(response)
    }

    async fn json(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Answer<Value>, TargetError> {
        let response = self.call(method.clone(), path, body).await?;
        match serde_json::from_slice::<Value>(&response.body) {
            Ok(value) => Ok(Answer { value, exchange: response.seq }),
            Err(e) => Err(TargetError::Malformed {
                method: method.to_string(),
                path: path.to_string(),
                detail: format!("the body is not JSON: {e}"),
                exchange: response.seq,
            }),
        }
    }

    /// A creating call answered with an EDC `IdResponse`.
    async fn create(&self, path: &str, body: &Value) -> Result<String, TargetError> {
        let answer = self.json(Method::POST, path, Some(body)).await?;
        match lenient::id(&answer.value) {
            Some(id) => Ok(id.to_string()),
            None => Err(TargetError::Malformed {
                method: "POST".into(),
                path: path.to_string(),
                detail: format!("expected an IdResponse with @id, got {}", answer.value),
                exchange: answer.exchange,
            }),
        }
    }

    async fn state(&self, path: &str) -> Result<Answer<String>, TargetError> {
        let answer = self.json(Method::GET, path, None).await?;
        match lenient::get_str(&answer.value, "state") {
            Some(state) => Ok(Answer { value: lenient::state_name(state), exchange: answer.exchange }),
            None => Err(TargetError::Malformed {
                method: "GET".into(),
                path: path.to_string(),
                detail: format!("expected {{\"state\": ...}}, got {}", answer.value),
                exchange: answer.exchange,
            }),
        }
    }

    async fn query(&self, path: &str, query: Option<Value>) -> Result<Answer<Vec<Value>>, TargetError> {
        let body = match self.shape {
            Shape::V3 => query.unwrap_or_else(|| json!({ "@context": context(), "@type": "QuerySpec", "offset": 0, "limit": 1000 })),
            Shape::V2 => v2::query(query),
        };
        let answer = self.json(Method::POST, path, Some(&body)).await?;
        match answer.value {
            Value::Array(items) => Ok(Answer { value: items, exchange: answer.exchange }),
            other => Err(TargetError::Malformed {
                method: "POST".into(),
                path: path.to_string(),
                detail: format!("expected a JSON array, got {other}"),
                exchange: answer.exchange,
            }),
        }
    }
}

/// The driver of an EDC management API v3: setup, starting processes, reading states,
/// `terminate`, `suspend` and `resume`. EDC agrees, verifies, finalizes, starts and completes
/// on its own, so those steps cannot be asked for.
#[derive(Debug, Clone)]
pub struct EdcV3Driver {
    access: ManagementAccess,
}

impl EdcV3Driver {
    pub fn new(access: ManagementAccess) -> EdcV3Driver {
        EdcV3Driver { access }
    }
}

impl ManagementDriver for EdcV3Driver {
    fn name(&self) -> &'static str {
        "edc-v3"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities { api: true, ..Capabilities::default() }
    }

    fn client(&self, connector: &str, client: RecordingClient) -> Option<ManagementClient> {
        Some(ManagementClient::new(connector, &self.access.url, &self.access.api_key, client))
    }

    fn negotiation_step_support(&self, step: &NegotiationStep) -> Result<(), String> {
        match step {
            NegotiationStep::Terminate => Ok(()),
            other => Err(format!("the EDC v3 management API cannot make a connector {} a negotiation on demand (EDC does it on its own)", other.verb())),
        }
    }

    fn transfer_step_support(&self, step: TransferStep) -> Result<(), String> {
        match step {
            TransferStep::Suspend | TransferStep::Resume | TransferStep::Terminate => Ok(()),
            other => Err(format!("the EDC v3 management API cannot make a connector {} a transfer on demand (EDC does it on its own)", other.verb())),
        }
    }

    fn negotiation_step<'a>(&'a self, api: &'a ManagementClient, id: &'a str, step: &'a NegotiationStep) -> BoxFuture<'a, Result<(), TargetError>> {
        Box::pin(async move {
            self.negotiation_step_support(step).map_err(TargetError::Unsupported)?;
            api.terminate_negotiation(id, "terminated by the dsp-harness").await
        })
    }

    fn transfer_step<'a>(&'a self, api: &'a ManagementClient, id: &'a str, step: TransferStep) -> BoxFuture<'a, Result<(), TargetError>> {
        Box::pin(async move {
            match step {
                TransferStep::Suspend => api.suspend_transfer(id, "suspended by the dsp-harness").await,
                TransferStep::Resume => api.resume_transfer(id).await,
                TransferStep::Terminate => api.terminate_transfer(id, "terminated by the dsp-harness").await,
                other => Err(TargetError::Unsupported(self.transfer_step_support(other).err().unwrap_or_default())),
            }
        })
    }
}

/// An EDC criterion selecting the asset with id `asset_id`, for contract definitions.
pub fn asset_selector(asset_id: &str) -> Value {
    json!([{ "@type": "Criterion", "operandLeft": EDC_ID, "operator": "=", "operandRight": asset_id }])
}

/// A named endpoint property (`endpointProperties: [{name, value}]`), the DSP way to carry
/// the endpoint and token, which some connectors use in EDRs as well.
fn property<'a>(address: &'a Value, name: &str) -> Option<&'a str> {
    lenient::list(address, "endpointProperties").into_iter().find_map(|p| {
        let matches = lenient::get_str(p, "name").map(|n| n.rsplit([':', '/', '#']).next().unwrap_or(n) == name)?;
        if matches {
            lenient::get_str(p, "value")
        } else {
            None
        }
    })
}

/// Percent-encodes an id for use as one path segment.
fn segment(id: &str) -> String {
    crate::protocol::binding::encode(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_one_path_segment() {
        assert_eq!(segment("urn:uuid:1"), "urn:uuid:1");
        assert_eq!(segment("a/b c"), "a%2Fb%20c");
    }

    #[test]
    fn edr_token_may_come_as_an_endpoint_property() {
        let address = json!({"endpointProperties": [{"name": "https://w3id.org/edc/v0.0.1/ns/authorization", "value": "t"}]});
        assert_eq!(property(&address, "authorization"), Some("t"));
        assert_eq!(property(&address, "endpoint"), None);
    }
}
