//! Getting a pull token the normal way: the provider offers a payload (asset, policy, contract
//! definition), the consumer reads the catalog, negotiates, starts an `HttpData-PULL` transfer
//! and reads the endpoint data reference. The full-flow scenario times these same steps.
//!
//! Everything goes through the EDC-v3-shaped management APIs, so the same code drives the
//! reference connectors and EDC-based connectors under test.

use std::time::Duration;

use serde_json::{json, Value};

use super::error::LoadError;
use crate::reference::backend::format_size;
use crate::recording::{Recorder, RecordingClient};
use crate::schema::SchemaSet;
use crate::target::{asset_selector, lenient, ManagementClient, TargetError};

/// The transfer type of an HTTP pull, as EDC names it.
pub const PULL: &str = "HttpData-PULL";

/// What the harness needs to reach both connectors.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoints {
    pub provider_id: String,
    /// The provider's DSP endpoint as the consumer reaches it.
    pub provider_dsp_url: String,
    pub provider_management_url: String,
    pub provider_api_key: String,
    pub consumer_management_url: String,
    pub consumer_api_key: String,
    /// Where the provider fetches payloads; `{size}` becomes `1KiB`, `64MiB`, ...
    pub payload_url: String,
    /// The protocol string of the management API (`dataspace-protocol-http:2025-1`).
    pub protocol: String,
}

impl Endpoints {
    pub fn payload_url(&self, size: u64) -> String {
        self.payload_url.replace("{size}", &format_size(size))
    }
}

/// Access to a started pull transfer.
#[derive(Debug, Clone)]
pub struct PullAccess {
    pub transfer_id: String,
    pub endpoint: String,
    /// The value of the `Authorization` header the data plane wants.
    pub authorization: Option<String>,
}

/// A step of the flow that failed, with a short kind for error counts.
#[derive(Debug)]
pub struct StepFailure {
    pub step: &'static str,
    pub kind: String,
    pub detail: String,
}

impl StepFailure {
    fn target(step: &'static str, error: TargetError) -> StepFailure {
        let kind = match error.status() {
            Some(status) => format!("status-{status}"),
            None => error.kind().to_string(),
        };
        StepFailure { step, kind, detail: error.to_string() }
    }

    /// `negotiate:timeout`, as error counts name it.
    pub fn label(&self) -> String {
        format!("{}:{}", self.step, self.kind)
    }
}

impl From<StepFailure> for LoadError {
    fn from(f: StepFailure) -> LoadError {
        LoadError::Prepare { step: f.step.to_string(), detail: f.detail }
    }
}

/// Both management APIs, and how long to wait for a negotiation or transfer to move.
#[derive(Debug, Clone)]
pub struct Parties {
    pub endpoints: Endpoints,
    provider: ManagementClient,
    consumer: ManagementClient,
    recorder: Recorder,
    wait: Duration,
}

impl Parties {
    /// Clients of both management APIs. `wait` bounds each wait for a state and each request.
    pub fn new(endpoints: Endpoints, wait: Duration) -> Parties {
        let recorder = Recorder::new();
        let client = RecordingClient::new(recorder.clone(), SchemaSet::embedded_2025_1(), wait);
        // Poll often: on loopback a state changes within milliseconds, and the flow scenario
        // should time the connectors, not the polling.
        let poll = Duration::from_millis(5);
        let provider = ManagementClient::new("provider", &endpoints.provider_management_url, &endpoints.provider_api_key, client.clone())
            .with_poll_interval(poll);
        let consumer = ManagementClient::new("consumer", &endpoints.consumer_management_url, &endpoints.consumer_api_key, client)
            .with_poll_interval(poll);
        Parties { endpoints, provider, consumer, recorder, wait }
    }

    /// Forgets the recorded exchanges: a load run reports figures, not exchanges, and must not
    /// grow its memory with every flow.
    pub fn forget_exchanges(&self) {
        drop(self.recorder.drain());
    }

    /// Provider: offers a payload of `size` bytes as asset `asset_id` under a use-only policy.
    pub async fn offer(&self, asset_id: &str, size: u64) -> Result<(), LoadError> {
        let setup = |step: &str, source: TargetError| LoadError::Setup { step: step.to_string(), source };
        let properties = json!({ "name": format!("load payload of {}", format_size(size)), "contenttype": "application/octet-stream" });
        let address = json!({ "type": "HttpData", "baseUrl": self.endpoints.payload_url(size) });
        self.provider.create_asset(asset_id, properties, address).await.map_err(|e| setup("create the asset", e))?;
        let policy_id = format!("{asset_id}-policy");
        let policy = json!({ "@type": "Set", "permission": [{ "action": "use" }] });
        self.provider.create_policy_definition(&policy_id, policy).await.map_err(|e| setup("create the policy", e))?;
        self.provider
            .create_contract_definition(&format!("{asset_id}-contract"), &policy_id, &policy_id, asset_selector(asset_id))
            .await
            .map_err(|e| setup("create the contract definition", e))?;
        self.forget_exchanges();
        Ok(())
    }

    /// Consumer: the provider's offer for `asset_id`, from its catalog.
    pub async fn catalog_offer(&self, asset_id: &str) -> Result<Value, StepFailure> {
        let e = &self.endpoints;
        let query = json!({
            "@type": "QuerySpec",
            "filterExpression": [{ "operandLeft": crate::target::edc_v3::EDC_ID, "operator": "=", "operandRight": asset_id }],
        });
        let catalog = self
            .consumer
            .request_catalog(&e.provider_dsp_url, &e.provider_id, &e.protocol, Some(query))
            .await
            .map_err(|err| StepFailure::target("catalog", err))?;
        offer_in(&catalog.value, asset_id, &e.provider_id).ok_or_else(|| StepFailure {
            step: "catalog",
            kind: "no-offer".to_string(),
            detail: format!("the catalog of {} has no offer for {asset_id}", e.provider_id),
        })
    }

    /// Consumer: negotiates `offer` to an agreement and returns the agreement id.
    pub async fn negotiate(&self, offer: &Value) -> Result<String, StepFailure> {
        let e = &self.endpoints;
        let fail = |err| StepFailure::target("negotiate", err);
        let id = self.consumer.initiate_negotiation(&e.provider_dsp_url, &e.provider_id, &e.protocol, offer).await.map_err(fail)?;
        self.consumer.wait_for_negotiation_state(&id, &["FINALIZED"], self.wait).await.map_err(fail)?;
        let agreement = self.consumer.negotiation_agreement(&id).await.map_err(fail)?;
        lenient::id(&agreement.value).map(str::to_string).ok_or_else(|| StepFailure {
            step: "negotiate",
            kind: "body".to_string(),
            detail: format!("the agreement of negotiation {id} has no @id: {}", agreement.value),
        })
    }

    /// Consumer: starts a pull under `agreement_id` and reads its endpoint data reference.
    pub async fn start_pull(&self, agreement_id: &str) -> Result<PullAccess, StepFailure> {
        let e = &self.endpoints;
        let fail = |err| StepFailure::target("transfer", err);
        let id = self.consumer.initiate_transfer(&e.provider_dsp_url, agreement_id, &e.protocol, PULL, None).await.map_err(fail)?;
        self.consumer.wait_for_transfer_state(&id, &["STARTED"], self.wait).await.map_err(fail)?;
        let edr = self.consumer.edr_data_address(&id).await.map_err(fail)?;
        Ok(PullAccess { transfer_id: id, endpoint: edr.value.endpoint, authorization: edr.value.authorization })
    }

    /// Consumer: ends a pull transfer (EDC has no "complete" for pulls, so it terminates).
    pub async fn finish(&self, transfer_id: &str) -> Result<(), StepFailure> {
        self.consumer.terminate_transfer(transfer_id, "load test done").await.map_err(|err| StepFailure::target("terminate", err))
    }

    /// The whole way from an offered asset to a started pull.
    pub async fn pull_access(&self, asset_id: &str) -> Result<PullAccess, StepFailure> {
        let offer = self.catalog_offer(asset_id).await?;
        let agreement = self.negotiate(&offer).await?;
        let access = self.start_pull(&agreement).await;
        self.forget_exchanges();
        access
    }
}

/// The first offer for `asset_id` in a catalog, with the `target` and `assigner` a contract
/// request needs.
pub fn offer_in(catalog: &Value, asset_id: &str, provider_id: &str) -> Option<Value> {
    let mut datasets = lenient::list(catalog, "dataset");
    // A catalog of catalogs nests its datasets one level down.
    for inner in lenient::list(catalog, "catalog") {
        datasets.extend(lenient::list(inner, "dataset"));
    }
    let dataset = datasets.into_iter().find(|d| lenient::id(d) == Some(asset_id))?;
    let mut offer = lenient::list(dataset, "hasPolicy").first().map(|o| (*o).clone())?;
    let object = offer.as_object_mut()?;
    if lenient::get(&Value::Object(object.clone()), "target").is_none() {
        object.insert("target".to_string(), Value::String(asset_id.to_string()));
    }
    if lenient::get(&Value::Object(object.clone()), "assigner").is_none() {
        object.insert("assigner".to_string(), Value::String(provider_id.to_string()));
    }
    Some(offer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_offer_and_completes_it() {
        let catalog = json!({
            "@type": "Catalog",
            "dcat:dataset": [
                {"@id": "other", "odrl:hasPolicy": {"@id": "o-0"}},
                {"@id": "load-1", "odrl:hasPolicy": [{"@id": "o-1", "@type": "Offer", "odrl:permission": []}]}
            ]
        });
        let offer = offer_in(&catalog, "load-1", "company-x").unwrap();
        assert_eq!(offer["@id"], "o-1");
        assert_eq!(offer["target"], "load-1");
        assert_eq!(offer["assigner"], "company-x");
        let with_target = json!({"dataset": {"@id": "a", "hasPolicy": {"@id": "o", "odrl:target": {"@id": "a"}, "assigner": "p"}}});
        let offer = offer_in(&with_target, "a", "company-x").unwrap();
        assert!(offer.get("target").is_none(), "an existing target is kept as it is");
        assert_eq!(offer["assigner"], "p");
        assert!(offer_in(&catalog, "missing", "company-x").is_none());
        let nested = json!({"catalog": [{"dataset": [{"@id": "n", "hasPolicy": [{"@id": "o-n"}]}]}]});
        assert_eq!(offer_in(&nested, "n", "p").unwrap()["@id"], "o-n");
    }

    #[test]
    fn payload_urls_name_the_size() {
        let endpoints = Endpoints {
            provider_id: "p".into(),
            provider_dsp_url: "http://127.0.0.1:1/dsp".into(),
            provider_management_url: "http://127.0.0.1:1/management".into(),
            provider_api_key: "k".into(),
            consumer_management_url: "http://127.0.0.1:2/management".into(),
            consumer_api_key: "k".into(),
            payload_url: "http://127.0.0.1:3/payload/{size}".into(),
            protocol: "dataspace-protocol-http:2025-1".into(),
        };
        assert_eq!(endpoints.payload_url(64 << 20), "http://127.0.0.1:3/payload/64MiB");
        assert_eq!(endpoints.payload_url(1000), "http://127.0.0.1:3/payload/1000B");
    }
}
