//! The connector's in-memory state: assets, policy and contract definitions, negotiations,
//! agreements, transfer processes and the pull tokens of started transfers.
//!
//! Everything sits behind one `std::sync::Mutex` that is never held across an `.await`, so
//! the state machines see one consistent store and no lock can be held while a peer hangs.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::protocol::state::{Process, ProcessBook};
use crate::protocol::{AgreementId, ConsumerPid, DataAddress, NegotiationState, Policy, ProtocolVersion, ProviderPid, TransferState};

/// How a provider handles negotiations and transfers of an asset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Automation {
    /// Agree, finalize and start on its own, as a production connector would.
    Auto,
    /// Wait for each step to be triggered through the management API (conformance suites).
    Manual,
}

/// The asset property that selects [`Automation::Manual`] when set to `manual`.
pub const AUTOMATION_PROPERTY: &str = "automation";

#[derive(Debug, Clone)]
pub struct Asset {
    pub id: String,
    pub properties: serde_json::Map<String, Value>,
    /// EDC-style data address of the source (`type: HttpData`, `baseUrl`).
    pub data_address: Value,
    pub created_at: i64,
}

impl Asset {
    pub fn automation(&self) -> Automation {
        let manual = self
            .properties
            .iter()
            .any(|(k, v)| (k == AUTOMATION_PROPERTY || k.ends_with(&format!("/{AUTOMATION_PROPERTY}"))) && v.as_str() == Some("manual"));
        if manual {
            Automation::Manual
        } else {
            Automation::Auto
        }
    }

    pub fn source_url(&self) -> Option<String> {
        let get = |k: &str| self.data_address.get(k).or_else(|| self.data_address.get(format!("https://w3id.org/edc/v0.0.1/ns/{k}")));
        get("baseUrl").and_then(Value::as_str).map(str::to_string)
    }
}

#[derive(Debug, Clone)]
pub struct PolicyDefinition {
    pub id: String,
    /// The ODRL policy as the management API received it.
    pub policy: Value,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct ContractDefinition {
    pub id: String,
    pub access_policy_id: String,
    pub contract_policy_id: String,
    /// Asset ids this definition covers; empty means all assets.
    pub asset_ids: Vec<String>,
    pub created_at: i64,
}

impl ContractDefinition {
    pub fn covers(&self, asset_id: &str) -> bool {
        self.asset_ids.is_empty() || self.asset_ids.iter().any(|a| a == asset_id)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Provider,
    Consumer,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Provider => "PROVIDER",
            Side::Consumer => "CONSUMER",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Negotiation {
    /// The local id: this side's own pid.
    pub id: String,
    pub side: Side,
    /// The DSP version the negotiation was made in: every later message of it is written in
    /// that version and sent to that version's path.
    pub version: ProtocolVersion,
    pub consumer_pid: ConsumerPid,
    pub provider_pid: Option<ProviderPid>,
    pub state: NegotiationState,
    /// Where to send messages to the counterparty: its DSP base (provider) or callback address.
    pub counter_party_address: String,
    pub counter_party_id: Option<String>,
    /// The latest offer on the table.
    pub offer: Policy,
    pub agreement: Option<Policy>,
    pub asset_id: Option<String>,
    pub automation: Automation,
    pub error_detail: Option<String>,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct Agreement {
    pub id: AgreementId,
    pub asset_id: String,
    pub policy: Policy,
    pub provider_id: String,
    pub consumer_id: String,
    pub signing_date: i64,
    pub negotiation_id: String,
}

#[derive(Debug, Clone)]
pub struct Transfer {
    pub id: String,
    pub side: Side,
    /// The DSP version the transfer was requested in, as for [`Negotiation::version`].
    pub version: ProtocolVersion,
    pub consumer_pid: ConsumerPid,
    pub provider_pid: Option<ProviderPid>,
    pub state: TransferState,
    pub agreement_id: AgreementId,
    pub asset_id: Option<String>,
    /// `HttpData-PULL`, `HttpData-PUSH` or `AmazonS3-PUSH`.
    pub transfer_type: String,
    pub counter_party_address: String,
    pub counter_party_id: Option<String>,
    /// Push destination named by the consumer.
    pub destination: Option<DataAddress>,
    /// The endpoint data reference a consumer received for a pull.
    pub edr: Option<DataAddress>,
    pub automation: Automation,
    pub error_detail: Option<String>,
    pub created_at: i64,
}

impl Process for Negotiation {
    type State = NegotiationState;

    fn state(&self) -> NegotiationState {
        self.state
    }

    fn set_state(&mut self, state: NegotiationState) {
        self.state = state;
    }
}

impl Process for Transfer {
    type State = TransferState;

    fn state(&self) -> TransferState {
        self.state
    }

    fn set_state(&mut self, state: TransferState) {
        self.state = state;
    }
}

/// A pull token: scoped to one transfer, short-lived, revoked when the transfer ends.
#[derive(Debug, Clone)]
pub struct PullToken {
    pub transfer_id: String,
    pub expires: SystemTime,
}

#[derive(Debug, Default)]
pub struct Store {
    pub assets: BTreeMap<String, Asset>,
    pub policies: BTreeMap<String, PolicyDefinition>,
    pub contract_definitions: BTreeMap<String, ContractDefinition>,
    /// By this side's pid, as `transfers`; both move through the state machines.
    pub negotiations: ProcessBook<Negotiation>,
    pub agreements: BTreeMap<String, Agreement>,
    pub transfers: ProcessBook<Transfer>,
    pub tokens: BTreeMap<String, PullToken>,
}

/// How long a pull token lives.
pub const PULL_TOKEN_LIFETIME: Duration = Duration::from_secs(600);

pub fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Store {
    /// The offers the provider makes for an asset: one per contract definition covering it,
    /// with the contract policy's rules. Offer ids are `{definition}:{asset}:{policy}` so that
    /// an offer named in a request can be traced back without extra state.
    pub fn offers_for(&self, asset_id: &str) -> Vec<Policy> {
        self.contract_definitions
            .values()
            .filter(|d| d.covers(asset_id))
            .filter_map(|d| {
                let policy = self.policies.get(&d.contract_policy_id)?;
                let mut offer = policy_from_definition(&policy.policy);
                offer.id = offer_id(&d.id, asset_id, &policy.id);
                Some(offer)
            })
            .collect()
    }

    /// Finds the negotiation a DSP message names by this side's pid.
    pub fn negotiation_by_pid(&self, pid: &str) -> Option<&Negotiation> {
        self.negotiations.get(pid)
    }

    pub fn transfer_by_pid(&self, pid: &str) -> Option<&Transfer> {
        self.transfers.get(pid)
    }
}

pub fn offer_id(definition: &str, asset: &str, policy: &str) -> String {
    use base64::Engine;
    let enc = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    format!("{}:{}:{}", enc(definition), enc(asset), enc(policy))
}

/// Splits an offer id made by [`offer_id`] into (definition, asset, policy).
pub fn parse_offer_id(id: &str) -> Option<(String, String, String)> {
    use base64::Engine;
    let dec = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).ok().and_then(|b| String::from_utf8(b).ok());
    let mut parts = id.split(':');
    let (d, a, p) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    Some((dec(d)?, dec(a)?, dec(p)?))
}

/// Reads the rules of an ODRL policy given to the management API (with or without `odrl:`
/// prefixes) into the model; anything unreadable becomes a plain `use` permission-free offer.
pub fn policy_from_definition(policy: &Value) -> Policy {
    let strip = |v: &Value| -> Value { strip_prefixes(v) };
    let clean = strip(policy);
    let mut offer = Policy::use_offer("");
    offer.permission = rules(&clean, "permission");
    offer.prohibition = rules(&clean, "prohibition");
    offer.obligation = rules(&clean, "obligation");
    offer
}

fn rules(policy: &Value, key: &str) -> Vec<crate::protocol::Rule> {
    let value = match policy.get(key) {
        Some(Value::Array(items)) => Value::Array(items.clone()),
        Some(single @ Value::Object(_)) => Value::Array(vec![single.clone()]),
        _ => return Vec::new(),
    };
    let Value::Array(items) = value else { return Vec::new() };
    items
        .into_iter()
        .filter_map(|mut item| {
            // EDC writes actions as `{"@id": "use"}` or `"odrl:use"`; DSP wants a plain string.
            if let Some(action) = item.get("action").cloned() {
                let name = match action {
                    Value::String(s) => s,
                    Value::Object(o) => o.get("@id").or_else(|| o.get("type")).and_then(Value::as_str).unwrap_or("use").to_string(),
                    _ => "use".to_string(),
                };
                item["action"] = Value::String(name.rsplit([':', '/']).next().unwrap_or("use").to_string());
            }
            if let Some(Value::Object(_)) = item.get("constraint") {
                let single = item["constraint"].take();
                item["constraint"] = Value::Array(vec![single]);
            }
            serde_json::from_value(item).ok()
        })
        .collect()
}

/// Removes `odrl:` / `edc:` / `dspace:` prefixes and expanded namespace IRIs from keys.
pub fn strip_prefixes(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let key = if k.starts_with('@') {
                        k.clone()
                    } else {
                        k.rsplit(['#', '/']).next().unwrap_or(k).trim_start_matches("odrl:").trim_start_matches("edc:").trim_start_matches("dspace:").to_string()
                    };
                    (key, strip_prefixes(v))
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(strip_prefixes).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn offer_ids_round_trip() {
        let id = offer_id("def-1", "carbon:emissions", "use-policy");
        assert_eq!(parse_offer_id(&id), Some(("def-1".into(), "carbon:emissions".into(), "use-policy".into())));
        assert_eq!(parse_offer_id("a:b"), None);
    }

    #[test]
    fn reads_edc_style_policies() {
        let policy = json!({
            "@context": "http://www.w3.org/ns/odrl.jsonld",
            "@type": "Set",
            "odrl:permission": {"odrl:action": {"@id": "odrl:use"}}
        });
        let offer = policy_from_definition(&policy);
        assert_eq!(offer.permission.len(), 1);
        assert_eq!(offer.permission[0].action, "use");
    }
}
