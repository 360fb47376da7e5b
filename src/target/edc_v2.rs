//! The EDC management API v2 as Tractus-X EDC 0.4.1 has it (EDC 0.1.0 underneath):
//! `/management/v2/...`, `X-Api-Key`, and JSON-LD whose terms are `edc:`-prefixed
//! (`https://w3id.org/edc/v0.0.1/ns/`) rather than resolved through an `@vocab`.
//!
//! [`ManagementClient`] speaks both v2 and v3: the paths differ by data ([`Shape`]), the request
//! bodies are built here for v2 and in `edc_v3.rs` for v3. Answers are read by meaning through
//! [`lenient`](super::lenient) in either version: `edc:state`, the expanded
//! `https://w3id.org/edc/v0.0.1/ns/state` and a plain `state` under an EDC `@vocab` are the same
//! member.
//!
//! Where 0.4.1 differs from v3 in more than spelling (read from Tractus-X EDC 0.4.1's end-to-end
//! tests and EDC 0.1.0's controllers): an asset is `edc:asset` (`@id` + `edc:properties`) beside
//! `edc:dataAddress`; the catalog request names `edc:providerUrl`; a negotiation names
//! `edc:connectorAddress` and an `edc:offer` (`edc:offerId`, `edc:assetId`, `edc:policy`); a
//! transfer names `edc:connectorAddress`, `edc:contractId`, `edc:assetId` and a
//! `edc:dataDestination` (`HttpProxy` for a pull); a negotiation is terminated by
//! `/cancel`; there is no dataset request, no suspend or resume; EDRs are Tractus-X's
//! `/adapter/edrs/{transferProcessId}` (`edc:endpoint`, `edc:authCode`).

use futures::future::BoxFuture;
use serde_json::{json, Map, Value};

use super::driver::{Capabilities, ManagementAccess, ManagementDriver, NegotiationStep, TransferStep};
use super::edc_v3::{ManagementClient, EDC_VOCAB, ODRL_CONTEXT};
use super::error::TargetError;
use crate::recording::RecordingClient;

/// Which EDC management API a [`ManagementClient`] speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Shape {
    /// `/v3/...`, `@vocab` and plain terms (current EDC, the reference connector).
    #[default]
    V3,
    /// `/v2/...`, `edc:` prefixes, Tractus-X EDC 0.4.1's bodies.
    V2,
}

impl Shape {
    /// The path of `resource` (`assets`, `contractnegotiations/{id}/state`, ...) in this API.
    pub fn path(self, resource: &str) -> String {
        match self {
            Shape::V3 => format!("/v3/{resource}"),
            Shape::V2 => format!("/v2/{resource}"),
        }
    }

    /// Where the EDR of a started pull is read.
    pub fn edr_path(self, transfer_segment: &str) -> String {
        match self {
            Shape::V3 => format!("/v3/edrs/{transfer_segment}/dataaddress"),
            // Tractus-X's control-plane adapter, beside (not under) the EDC v2 API.
            Shape::V2 => format!("/adapter/edrs/{transfer_segment}"),
        }
    }
}

/// The context of every v2 request: the `edc` prefix (0.4.1's own clients send exactly this).
pub fn context() -> Value {
    json!({ "edc": EDC_VOCAB, "odrl": "http://www.w3.org/ns/odrl/2/" })
}

/// `key` as an `edc:` term, unless it already is a keyword, a prefixed term or an IRI.
fn term(key: &str) -> String {
    if key.starts_with('@') || key.contains(':') {
        key.to_string()
    } else {
        format!("edc:{key}")
    }
}

/// The members of an object as `edc:` terms (one level: nested values, such as ODRL policies,
/// keep their own vocabulary).
pub fn edc_terms(value: Value) -> Value {
    match value {
        Value::Object(object) => Value::Object(object.into_iter().map(|(k, v)| (term(&k), v)).collect::<Map<String, Value>>()),
        other => other,
    }
}

/// An ODRL policy with the ODRL context EDC expands it with, when it has none.
fn odrl(policy: &Value) -> Value {
    let mut policy = policy.clone();
    if let Some(object) = policy.as_object_mut() {
        object.entry("@context").or_insert_with(|| Value::String(ODRL_CONTEXT.to_string()));
    }
    policy
}

/// A data address as 0.4.1 takes it: `@type: edc:DataAddress` and `edc:` members.
fn data_address(address: Value) -> Value {
    let mut address = edc_terms(address);
    if let Some(object) = address.as_object_mut() {
        object.entry("@type").or_insert_with(|| json!("edc:DataAddress"));
    }
    address
}

/// `POST /v2/assets`: `edc:asset` (id and properties) and `edc:dataAddress` side by side.
pub fn asset(id: &str, properties: Value, address: Value) -> Value {
    json!({
        "@context": context(),
        "@type": "edc:AssetEntryDto",
        "edc:asset": { "@id": id, "edc:properties": edc_terms(properties) },
        "edc:dataAddress": data_address(address),
    })
}

/// `POST /v2/policydefinitions`.
pub fn policy_definition(id: &str, policy: &Value) -> Value {
    json!({ "@context": context(), "@type": "edc:PolicyDefinitionDto", "@id": id, "edc:policy": odrl(policy) })
}

/// `POST /v2/contractdefinitions`; the criteria's members become `edc:` terms.
pub fn contract_definition(id: &str, access_policy_id: &str, contract_policy_id: &str, assets_selector: Value) -> Value {
    let criteria: Vec<Value> = super::lenient::items(&assets_selector)
        .into_iter()
        .map(|c| {
            let mut c = edc_terms(c.clone());
            if let Some(object) = c.as_object_mut() {
                object.insert("@type".into(), json!("CriterionDto"));
            }
            c
        })
        .collect();
    json!({
        "@context": context(),
        "@type": "edc:ContractDefinition",
        "@id": id,
        "edc:accessPolicyId": access_policy_id,
        "edc:contractPolicyId": contract_policy_id,
        "edc:assetsSelector": criteria,
    })
}

/// `POST /v2/catalog/request`: the provider by its DSP URL only (0.4.1 has no counter-party id).
pub fn catalog_request(provider_url: &str, protocol: &str, query_spec: Option<Value>) -> Value {
    let mut body = json!({ "@context": context(), "@type": "edc:CatalogRequest", "edc:providerUrl": provider_url, "edc:protocol": protocol });
    if let Some(query) = query_spec {
        body["edc:querySpec"] = query_spec_terms(query);
    }
    body
}

/// A query spec (`offset`, `limit`, `filterExpression`, ...) with `edc:` terms.
pub fn query_spec_terms(query: Value) -> Value {
    let mut query = edc_terms(query);
    if let Some(object) = query.as_object_mut() {
        object.remove("@context");
        object.insert("@type".into(), json!("edc:QuerySpec"));
    }
    query
}

/// A whole `/request` query body.
pub fn query(query: Option<Value>) -> Value {
    let mut body = query_spec_terms(query.unwrap_or_else(|| json!({ "offset": 0, "limit": 1000 })));
    body["@context"] = context();
    body
}

/// `POST /v2/contractnegotiations`: the offer travels as `edc:offerId` (the catalog offer's
/// `@id`), `edc:assetId` (its target) and `edc:policy`.
pub fn negotiation(connector_address: &str, counter_party_id: &str, protocol: &str, offer: &Value, extra: &[(&str, Value)]) -> Value {
    let offer_id = offer.get("@id").and_then(Value::as_str).unwrap_or_default();
    let asset_id = super::lenient::get(offer, "target").and_then(super::lenient::text).unwrap_or_default();
    let mut body = json!({
        "@context": context(),
        "@type": "edc:NegotiationInitiateRequestDto",
        "edc:connectorId": counter_party_id,
        "edc:providerId": counter_party_id,
        "edc:connectorAddress": connector_address,
        "edc:protocol": protocol,
        "edc:offer": { "edc:offerId": offer_id, "edc:assetId": asset_id, "edc:policy": odrl(offer) },
    });
    for (key, value) in extra {
        body[term(key)] = value.clone();
    }
    body
}

/// `POST /v2/transferprocesses`. 0.4.1 has no transfer type: a pull is an `HttpProxy`
/// destination (the EDR then comes through the adapter), a push the destination given.
pub fn transfer(connector_address: &str, contract_id: &str, asset_id: &str, protocol: &str, destination: Option<Value>) -> Value {
    let destination = destination.map(data_address).unwrap_or_else(|| json!({ "@type": "edc:DataAddress", "edc:type": "HttpProxy" }));
    json!({
        "@context": context(),
        "@type": "edc:TransferRequestDto",
        "@id": uuid::Uuid::new_v4().to_string(),
        "edc:connectorAddress": connector_address,
        "edc:contractId": contract_id,
        "edc:assetId": asset_id,
        "edc:protocol": protocol,
        "edc:managedResources": false,
        "edc:dataDestination": destination,
    })
}

/// `POST /v2/transferprocesses/{id}/terminate`.
pub fn terminate_transfer(reason: &str) -> Value {
    json!({ "@context": context(), "@type": "edc:TerminateTransfer", "edc:reason": reason })
}

/// The driver of an EDC management API v2 (Tractus-X EDC 0.4.1): setup, starting processes,
/// reading states and terminating. 0.4.1 has no suspend or resume, and takes every other step on
/// its own.
#[derive(Debug, Clone)]
pub struct EdcV2Driver {
    access: ManagementAccess,
}

impl EdcV2Driver {
    pub fn new(access: ManagementAccess) -> EdcV2Driver {
        EdcV2Driver { access }
    }
}

impl ManagementDriver for EdcV2Driver {
    fn name(&self) -> &'static str {
        "edc-v2"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities { api: true, ..Capabilities::default() }
    }

    fn client(&self, connector: &str, client: RecordingClient) -> Option<ManagementClient> {
        Some(ManagementClient::new(connector, &self.access.url, &self.access.api_key, client).with_shape(Shape::V2))
    }

    fn negotiation_step_support(&self, step: &NegotiationStep) -> Result<(), String> {
        match step {
            NegotiationStep::Terminate => Ok(()),
            other => Err(format!("the EDC v2 management API cannot make a connector {} a negotiation on demand (EDC does it on its own)", other.verb())),
        }
    }

    fn transfer_step_support(&self, step: TransferStep) -> Result<(), String> {
        match step {
            TransferStep::Terminate => Ok(()),
            TransferStep::Suspend | TransferStep::Resume => {
                Err(format!("the EDC v2 management API (Tractus-X EDC 0.4.1) has no {} of transfers", step.verb()))
            }
            other => Err(format!("the EDC v2 management API cannot make a connector {} a transfer on demand (EDC does it on its own)", other.verb())),
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
            self.transfer_step_support(step).map_err(TargetError::Unsupported)?;
            api.terminate_transfer(id, "terminated by the dsp-harness").await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_members_become_edc_terms_and_others_stay() {
        let out = edc_terms(json!({"name": "n", "@id": "a", "dct:title": "t", "https://x/y": 1}));
        assert_eq!(out, json!({"edc:name": "n", "@id": "a", "dct:title": "t", "https://x/y": 1}));
    }

    #[test]
    fn an_asset_is_an_entry_of_asset_and_data_address() {
        let body = asset("a1", json!({"name": "A"}), json!({"type": "HttpData", "baseUrl": "http://b"}));
        assert_eq!(body["edc:asset"]["@id"], "a1");
        assert_eq!(body["edc:asset"]["edc:properties"]["edc:name"], "A");
        assert_eq!(body["edc:dataAddress"]["edc:type"], "HttpData");
        assert_eq!(body["edc:dataAddress"]["@type"], "edc:DataAddress");
        assert!(body.get("properties").is_none() && body.get("dataAddress").is_none());
    }

    #[test]
    fn a_negotiation_carries_the_offer_as_offer_id_asset_id_and_policy() {
        let offer = json!({"@id": "o1", "@type": "Offer", "target": "a1", "assigner": "p"});
        let body = negotiation("http://p/dsp", "p", "dataspace-protocol-http", &offer, &[]);
        assert_eq!(body["edc:connectorAddress"], "http://p/dsp");
        assert_eq!(body["edc:offer"]["edc:offerId"], "o1");
        assert_eq!(body["edc:offer"]["edc:assetId"], "a1");
        assert_eq!(body["edc:offer"]["edc:policy"]["@context"], ODRL_CONTEXT);
    }

    #[test]
    fn a_pull_is_an_http_proxy_destination() {
        let body = transfer("http://p/dsp", "agr", "a1", "dataspace-protocol-http", None);
        assert_eq!(body["edc:dataDestination"]["edc:type"], "HttpProxy");
        assert_eq!(body["edc:contractId"], "agr");
        assert_eq!(body["edc:assetId"], "a1");
    }

    #[test]
    fn v2_has_terminate_only() {
        let d = EdcV2Driver::new(ManagementAccess { url: "http://m".into(), api_key: "k".into() });
        assert!(d.transfer_step_support(TransferStep::Terminate).is_ok());
        assert!(d.transfer_step_support(TransferStep::Suspend).unwrap_err().contains("0.4.1"));
        assert!(d.negotiation_step_support(&NegotiationStep::Terminate).is_ok());
        assert!(d.negotiation_step_support(&NegotiationStep::Agree).is_err());
        assert_eq!(Shape::V2.path("assets"), "/v2/assets");
        assert_eq!(Shape::V2.edr_path("t1"), "/adapter/edrs/t1");
    }
}
