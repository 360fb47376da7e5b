//! What the harness provider offers: one dataset with one `use` offer, and the agreements it
//! grants for it. Fixed ids keep the cases readable; the data it serves on pulls is the
//! carbon-emissions fixture, so a consumer pulling through the harness gets real bytes whose
//! digest a check can compare.

use serde_json::{json, Value};

use crate::protocol::{codec, AgreementId, Catalog, DataService, Dataset, Distribution, Policy};

/// The dataset the harness provider offers.
pub const DATASET_ID: &str = "urn:dsp-harness:dataset:carbon-emissions";
/// The id of its one offer.
pub const OFFER_ID: &str = "urn:dsp-harness:offer:use";
/// The formats the harness provider moves.
pub const FORMATS: [&str; 2] = ["HttpData-PULL", "HttpData-PUSH"];

/// The bytes the harness serves on pulls.
pub fn payload() -> &'static [u8] {
    crate::reference::backend::CARBON_EMISSIONS
}

/// The harness's offer, as the consumer should send it back in its request.
pub fn offer(assigner: &str) -> Policy {
    let mut offer = Policy::use_offer(OFFER_ID);
    offer.target = Some(DATASET_ID.to_string());
    offer.assigner = Some(assigner.to_string());
    offer
}

/// The offer in the JSON shape a management API takes to start a negotiation (ODRL with
/// `@id`, `target` and `assigner`).
pub fn offer_json(assigner: &str) -> Value {
    json!({
        "@id": OFFER_ID,
        "@type": "Offer",
        "target": DATASET_ID,
        "assigner": assigner,
        "permission": [{"action": "use"}],
    })
}

/// A counter-offer: the same target with an extra constraint, so it differs from the request.
pub fn counter_offer(assigner: &str) -> Policy {
    let mut offer = offer(assigner);
    offer.id = format!("urn:dsp-harness:offer:counter:{}", uuid::Uuid::new_v4());
    offer.permission[0].constraint = vec![json!({"leftOperand": "purpose", "operator": "eq", "rightOperand": "regulatory-reporting"})];
    offer
}

/// True when `theirs` grants, forbids and obliges what `ours` does. Action names are compared
/// without an `odrl:` prefix or the ODRL namespace, and constraints as JSON, because
/// connectors compact the same policy differently.
pub fn same_rules(ours: &Policy, theirs: &Policy) -> bool {
    let normalized = |rules: &[crate::protocol::Rule]| {
        let mut out: Vec<(String, String)> =
            rules.iter().map(|r| (r.action.rsplit([':', '/', '#']).next().unwrap_or(&r.action).to_string(), Value::Array(r.constraint.clone()).to_string())).collect();
        out.sort();
        out
    };
    normalized(&ours.permission) == normalized(&theirs.permission)
        && normalized(&ours.prohibition) == normalized(&theirs.prohibition)
        && normalized(&ours.obligation) == normalized(&theirs.obligation)
}

/// The agreement the harness grants for `offer` to `assignee`.
pub fn agreement(offer: &Policy, assigner: &str, assignee: Option<&str>) -> Policy {
    let mut agreement = offer.with_kind("Agreement", AgreementId::generate().0);
    agreement.target = Some(offer.target.clone().unwrap_or_else(|| DATASET_ID.to_string()));
    agreement.assigner = Some(assigner.to_string());
    agreement.assignee = Some(assignee.unwrap_or("unknown").to_string());
    agreement.timestamp = Some(chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string());
    agreement
}

/// The one dataset, with its offer and a distribution per format.
pub fn dataset(assigner: &str, dsp_url: &str) -> Dataset {
    let service = service(dsp_url);
    let mut extra = serde_json::Map::new();
    extra.insert("title".to_string(), json!("Carbon emissions intensity (harness provider)"));
    // An offer inside a catalog targets its dataset implicitly and must not name it.
    let mut catalog_offer = offer(assigner);
    catalog_offer.target = None;
    Dataset {
        id: DATASET_ID.to_string(),
        has_policy: vec![catalog_offer],
        distribution: FORMATS
            .iter()
            .map(|format| Distribution { format: format.to_string(), access_service: Value::String(service.id.clone()), extra: Default::default() })
            .collect(),
        extra,
    }
}

/// The harness's catalog: its data service and the one dataset.
pub fn catalog(assigner: &str, dsp_url: &str) -> Catalog {
    Catalog {
        id: format!("urn:catalog:{assigner}"),
        participant_id: Some(assigner.to_string()),
        service: vec![service(dsp_url)],
        dataset: vec![dataset(assigner, dsp_url)],
        distribution: Vec::new(),
        catalog: Vec::new(),
        extra: Default::default(),
    }
}

fn service(dsp_url: &str) -> DataService {
    DataService { id: format!("{dsp_url}#dsp"), kind: "DataService".to_string(), endpoint_url: dsp_url.to_string(), extra: Default::default() }
}

/// The version document body: the one version the harness serves, at `/dsp`, as version
/// documents spell it.
pub fn version_document(version: codec::ProtocolVersion) -> Value {
    let name = match version {
        codec::ProtocolVersion::V0_8ProcessId | codec::ProtocolVersion::V0_8 => "v0.8",
        other => other.as_str(),
    };
    json!({
        "protocolVersions": [{
            "version": name,
            "path": "/dsp",
            "binding": "HTTPS",
            "auth": {"protocol": "IDS DAPS", "version": "2", "profile": ["private_key_jwt"]},
        }]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agreement_keeps_the_rules_and_names_both_parties() {
        let offer = offer("dsp-harness");
        let agreement = agreement(&offer, "dsp-harness", Some("company-y"));
        assert_eq!(agreement.kind, "Agreement");
        assert!(agreement.same_rules(&offer));
        assert_eq!(agreement.assignee.as_deref(), Some("company-y"));
        assert_eq!(agreement.target.as_deref(), Some(DATASET_ID));
        assert_ne!(agreement.id, offer.id);
    }

    #[test]
    fn counter_offer_differs_from_the_offer() {
        assert!(!same_rules(&counter_offer("h"), &offer("h")));
    }

    #[test]
    fn rules_match_whatever_the_action_prefix() {
        let mut prefixed = offer("h");
        prefixed.permission[0].action = "http://www.w3.org/ns/odrl/2/use".to_string();
        assert!(same_rules(&offer("h"), &prefixed));
        prefixed.permission[0].action = "odrl:use".to_string();
        assert!(same_rules(&offer("h"), &prefixed));
        prefixed.permission[0].action = "odrl:distribute".to_string();
        assert!(!same_rules(&offer("h"), &prefixed));
    }
}

#[cfg(test)]
mod schema_tests {
    use super::*;
    use crate::protocol::{codec_for, ContractOfferMessage, DspMessage, ProtocolVersion, ProviderPid};

    #[test]
    fn the_counter_offer_message_validates() {
        let message = DspMessage::ContractOffer(ContractOfferMessage {
            provider_pid: ProviderPid::generate(),
            consumer_pid: Some(crate::protocol::ConsumerPid::generate()),
            offer: counter_offer("dsp-harness"),
            callback_address: None,
        });
        let body = codec_for(ProtocolVersion::V2025_1).encode(&message);
        let violations = crate::schema::SchemaSet::embedded_2025_1().validate("ContractOfferMessage", &body);
        assert!(violations.is_empty(), "{violations:#?}\n{body:#}");
    }

    #[test]
    fn the_catalog_dataset_and_version_document_validate() {
        let schemas = crate::schema::SchemaSet::embedded_2025_1();
        let codec = codec_for(ProtocolVersion::V2025_1);
        let catalog = codec.encode(&DspMessage::Catalog(catalog("dsp-harness", "http://127.0.0.1:1/dsp")));
        assert_eq!(schemas.validate("Catalog", &catalog), vec![], "{catalog:#}");
        let mut dataset = codec.encode(&DspMessage::Dataset(dataset("dsp-harness", "http://127.0.0.1:1/dsp")));
        dataset["@context"] = serde_json::json!([crate::protocol::codec::CONTEXT_2025_1]);
        assert_eq!(schemas.validate("Dataset", &dataset), vec![], "{dataset:#}");
        assert_eq!(schemas.validate("VersionResponse", &version_document(codec::ProtocolVersion::V2025_1)), vec![]);
    }
}
