//! The connector's in-memory state: assets, policy and contract definitions, negotiations,
//! agreements, transfer processes and the pull tokens of started transfers.
//!
//! Everything sits behind one `std::sync::Mutex` that is never held across an `.await`, so
//! the state machines see one consistent store and no lock can be held while a peer hangs.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::protocol::state::ProcessBook;
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
    /// The consumer's request is on its way: the provider's reply (and with it the
    /// providerPid) has not arrived. The management API shows EDC's `REQUESTING` meanwhile,
    /// so a client waiting for `REQUESTED` sees the consumer only once it can name both pids.
    pub requesting: bool,
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
    /// The consumer's request is on its way: the provider's reply (and with it the
    /// providerPid) has not arrived. The management API shows EDC's `REQUESTING` meanwhile,
    /// so a client waiting for `REQUESTED` sees the consumer only once it can name both pids.
    pub requesting: bool,
    pub created_at: i64,
}

crate::protocol::state::process_with_state_field!(Negotiation => NegotiationState, Transfer => TransferState);

impl Negotiation {
    /// The state as the management API names it: EDC's `REQUESTING` while the request is on
    /// its way, the DSP state otherwise.
    pub fn management_state(&self) -> &'static str {
        shown_state(self.requesting && self.state == NegotiationState::Requested, self.state.as_str())
    }
}

impl Transfer {
    /// As [`Negotiation::management_state`].
    pub fn management_state(&self) -> &'static str {
        shown_state(self.requesting && self.state == TransferState::Requested, self.state.as_str())
    }
}

fn shown_state(requesting: bool, state: &'static str) -> &'static str {
    if requesting {
        REQUESTING
    } else {
        state
    }
}

/// EDC's state of a consumer process whose request the provider has not answered yet.
const REQUESTING: &str = "REQUESTING";

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

/// How many ended (terminal) negotiations and how many ended transfers a connector keeps by
/// default, so that the management API can still list recent ones while memory stays bounded
/// however many flows a long run makes. Live processes are never forgotten.
pub const ENDED_PROCESSES_KEPT: usize = 10_000;

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

    /// Forgets the oldest ended transfers and negotiations once a book holds more than `kept`
    /// ended ones, with what hangs on them: a forgotten transfer's pull tokens, a forgotten
    /// negotiation's agreement. A sweep goes down to nine tenths of `kept`, so that it runs once
    /// every `kept / 10` ended processes rather than on every lock, and it costs two lengths
    /// while a book is no longer than `kept`. A negotiation whose agreement a kept transfer
    /// names stays (and is not counted), so no transfer loses its agreement; live processes
    /// always stay. Only `len`, `values`, `get` and `remove` touch the books, whatever
    /// map-like type holds them.
    pub fn forget_old_ended(&mut self, kept: usize) {
        let after_sweep = kept - kept / 10;
        if self.transfers.len() > kept {
            let ended: Vec<(i64, String)> = self.transfers.values().filter(|t| t.state.is_terminal()).map(|t| (t.created_at, t.id.clone())).collect();
            if ended.len() > kept {
                let beyond = ended.len() - after_sweep;
                let forgotten = oldest(ended, beyond);
                for id in &forgotten {
                    self.transfers.remove(id);
                }
                let gone: BTreeSet<&String> = forgotten.iter().collect();
                self.tokens.retain(|_, token| !gone.contains(&token.transfer_id));
            }
        }
        if self.negotiations.len() > kept {
            // A negotiation whose agreement a kept transfer runs under stays, and does not count:
            // the transfers' own cap bounds those. So a sweep caused by old transfers cannot
            // take a fresh agreement before its transfer is asked for.
            let in_use: BTreeSet<&str> = self.transfers.values().filter_map(|t| self.agreements.get(t.agreement_id.as_str())).map(|a| a.negotiation_id.as_str()).collect();
            let free: Vec<(i64, String)> = self.negotiations.values().filter(|n| n.state.is_terminal() && !in_use.contains(n.id.as_str())).map(|n| (n.created_at, n.id.clone())).collect();
            if free.len() > kept {
                let beyond = free.len() - after_sweep;
                let forgotten = oldest(free, beyond);
                for id in &forgotten {
                    self.negotiations.remove(id);
                }
                let gone: BTreeSet<&String> = forgotten.iter().collect();
                self.agreements.retain(|_, agreement| !gone.contains(&agreement.negotiation_id));
            }
        }
    }
}

/// The ids of the `count` oldest of `ended` (by creation time, then id).
fn oldest(mut ended: Vec<(i64, String)>, count: usize) -> Vec<String> {
    ended.sort_unstable();
    ended.into_iter().take(count).map(|(_, id)| id).collect()
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
    use crate::protocol::NegotiationState;
    use serde_json::json;

    /// A store with `n` flows, flow `i` made at time `i`: a finalized negotiation and its
    /// agreement, and, when `transfer(i)` names a state, a transfer in it with a pull token.
    fn flows(n: i64, transfer: impl Fn(i64) -> Option<TransferState>) -> Store {
        let mut store = Store::default();
        for i in 0..n {
            let (negotiation, agreement) = (format!("n{i:03}"), AgreementId(format!("a{i:03}")));
            store.negotiations.insert(
                negotiation.clone(),
                Negotiation {
                    id: negotiation.clone(),
                    side: Side::Provider,
                    version: ProtocolVersion::V2025_1,
                    consumer_pid: ConsumerPid(format!("c-{negotiation}")),
                    provider_pid: None,
                    state: NegotiationState::Finalized,
                    counter_party_address: String::new(),
                    counter_party_id: None,
                    offer: Policy::use_offer(""),
                    agreement: None,
                    asset_id: None,
                    automation: Automation::Auto,
                    error_detail: None,
                    requesting: false,
                    created_at: i,
                },
            );
            let policy = Policy::use_offer(agreement.as_str());
            let a = Agreement { id: agreement.clone(), asset_id: String::new(), policy, provider_id: String::new(), consumer_id: String::new(), signing_date: i, negotiation_id: negotiation };
            store.agreements.insert(agreement.0.clone(), a);
            let Some(state) = transfer(i) else { continue };
            let id = format!("t{i:03}");
            store.transfers.insert(
                id.clone(),
                Transfer {
                    id: id.clone(),
                    side: Side::Provider,
                    version: ProtocolVersion::V2025_1,
                    consumer_pid: ConsumerPid(format!("c-{id}")),
                    provider_pid: None,
                    state,
                    agreement_id: agreement,
                    asset_id: None,
                    transfer_type: "HttpData-PULL".to_string(),
                    counter_party_address: String::new(),
                    counter_party_id: None,
                    destination: None,
                    edr: None,
                    automation: Automation::Auto,
                    error_detail: None,
                    requesting: false,
                    created_at: i,
                },
            );
            store.tokens.insert(format!("token-{i}"), PullToken { transfer_id: id, expires: SystemTime::now() });
        }
        store
    }

    /// The smallest id, the oldest of these flows.
    fn first<'a>(ids: impl Iterator<Item = &'a String>) -> Option<&'a str> {
        ids.map(String::as_str).min()
    }

    fn counts(store: &Store) -> (usize, usize, usize, usize) {
        (store.negotiations.len(), store.agreements.len(), store.transfers.len(), store.tokens.len())
    }

    #[test]
    fn ended_processes_beyond_the_cap_are_forgotten_oldest_first_with_what_hangs_on_them() {
        let ended = |_| Some(TransferState::Terminated);
        // Up to the cap nothing goes.
        let mut store = flows(20, ended);
        store.forget_old_ended(20);
        assert_eq!(counts(&store), (20, 20, 20, 20));

        // One past it, a sweep keeps the newest nine tenths of the cap, and a forgotten
        // transfer's token goes with it. The negotiations stay: their agreements are in use.
        let mut store = flows(21, ended);
        store.forget_old_ended(20);
        assert_eq!(first(store.transfers.values().map(|t| &t.id)), Some("t003"), "the oldest transfers went first");
        assert_eq!(counts(&store), (21, 21, 18, 18));
        assert!(store.tokens.values().all(|t| store.transfers.get(&t.transfer_id).map(|k| &k.id) == Some(&t.transfer_id)));

        // Ended negotiations under no transfer go the same way, with their agreements.
        let mut store = flows(21, |_| None);
        store.forget_old_ended(20);
        assert_eq!(first(store.negotiations.values().map(|n| &n.id)), Some("n003"));
        assert_eq!(first(store.agreements.values().map(|a| &a.id.0)), Some("a003"), "a forgotten negotiation's agreement goes with it");
        assert_eq!(counts(&store), (18, 18, 0, 0));

        // Live transfers stay, however old, and so do the negotiations they run under.
        let mut store = flows(30, |i| Some(if i % 3 == 0 { TransferState::Started } else { TransferState::Terminated }));
        store.forget_old_ended(10);
        assert_eq!(store.transfers.values().filter(|t| !t.state.is_terminal()).count(), 10, "every live transfer stays");
        assert_eq!(store.transfers.values().filter(|t| t.state.is_terminal()).count(), 9, "the newest ended transfers stay");
        // 19 negotiations run kept transfers; of the 11 free ones the 2 oldest go.
        assert_eq!(first(store.negotiations.values().map(|n| &n.id)), Some("n000"), "the oldest negotiation runs a live transfer");
        let kept = |id: &str| store.negotiations.get(id).map(|n| n.id.clone());
        assert_eq!((kept("n001"), kept("n002"), kept("n004")), (None, None, Some("n004".to_string())));
        assert_eq!(store.negotiations.len(), 28);
        for t in store.transfers.values() {
            let agreement = store.agreements.get(t.agreement_id.as_str()).expect("a kept transfer keeps its agreement");
            assert_eq!(store.negotiations.get(&agreement.negotiation_id).map(|n| &n.id), Some(&agreement.negotiation_id));
        }
    }

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
