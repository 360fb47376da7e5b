//! The version-neutral model of every DSP message.
//!
//! Field names follow DSP 2025-1 (camelCase, unprefixed) because that is the newest form and
//! the one the reference components speak; the `@context` and `@type` members are added and
//! checked by the codec, not stored here. Unknown members of policies and datasets are kept
//! in `extra` so that a message from another connector survives a round trip unchanged.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::ids::{AgreementId, ConsumerPid, ProviderPid};
use super::state::{NegotiationState, TransferState};

/// Every message kind DSP 2025-1 defines, named by its `@type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MessageKind {
    Catalog,
    Dataset,
    CatalogRequestMessage,
    DatasetRequestMessage,
    CatalogError,
    ContractRequestMessage,
    ContractOfferMessage,
    ContractAgreementMessage,
    ContractAgreementVerificationMessage,
    ContractNegotiationEventMessage,
    ContractNegotiationTerminationMessage,
    ContractNegotiation,
    ContractNegotiationError,
    TransferRequestMessage,
    TransferStartMessage,
    TransferSuspensionMessage,
    TransferCompletionMessage,
    TransferTerminationMessage,
    TransferProcess,
    TransferError,
}

impl MessageKind {
    pub const ALL: [MessageKind; 20] = [
        MessageKind::Catalog,
        MessageKind::Dataset,
        MessageKind::CatalogRequestMessage,
        MessageKind::DatasetRequestMessage,
        MessageKind::CatalogError,
        MessageKind::ContractRequestMessage,
        MessageKind::ContractOfferMessage,
        MessageKind::ContractAgreementMessage,
        MessageKind::ContractAgreementVerificationMessage,
        MessageKind::ContractNegotiationEventMessage,
        MessageKind::ContractNegotiationTerminationMessage,
        MessageKind::ContractNegotiation,
        MessageKind::ContractNegotiationError,
        MessageKind::TransferRequestMessage,
        MessageKind::TransferStartMessage,
        MessageKind::TransferSuspensionMessage,
        MessageKind::TransferCompletionMessage,
        MessageKind::TransferTerminationMessage,
        MessageKind::TransferProcess,
        MessageKind::TransferError,
    ];

    /// The `@type` value in the 2025-1 wire form.
    pub fn name(self) -> &'static str {
        match self {
            MessageKind::Catalog => "Catalog",
            MessageKind::Dataset => "Dataset",
            MessageKind::CatalogRequestMessage => "CatalogRequestMessage",
            MessageKind::DatasetRequestMessage => "DatasetRequestMessage",
            MessageKind::CatalogError => "CatalogError",
            MessageKind::ContractRequestMessage => "ContractRequestMessage",
            MessageKind::ContractOfferMessage => "ContractOfferMessage",
            MessageKind::ContractAgreementMessage => "ContractAgreementMessage",
            MessageKind::ContractAgreementVerificationMessage => "ContractAgreementVerificationMessage",
            MessageKind::ContractNegotiationEventMessage => "ContractNegotiationEventMessage",
            MessageKind::ContractNegotiationTerminationMessage => "ContractNegotiationTerminationMessage",
            MessageKind::ContractNegotiation => "ContractNegotiation",
            MessageKind::ContractNegotiationError => "ContractNegotiationError",
            MessageKind::TransferRequestMessage => "TransferRequestMessage",
            MessageKind::TransferStartMessage => "TransferStartMessage",
            MessageKind::TransferSuspensionMessage => "TransferSuspensionMessage",
            MessageKind::TransferCompletionMessage => "TransferCompletionMessage",
            MessageKind::TransferTerminationMessage => "TransferTerminationMessage",
            MessageKind::TransferProcess => "TransferProcess",
            MessageKind::TransferError => "TransferError",
        }
    }

    pub fn from_name(name: &str) -> Option<MessageKind> {
        MessageKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// One DSP message of any kind.
#[derive(Debug, Clone, PartialEq)]
pub enum DspMessage {
    Catalog(Catalog),
    Dataset(Dataset),
    CatalogRequest(CatalogRequestMessage),
    DatasetRequest(DatasetRequestMessage),
    CatalogError(ErrorBody),
    ContractRequest(ContractRequestMessage),
    ContractOffer(ContractOfferMessage),
    ContractAgreement(ContractAgreementMessage),
    ContractAgreementVerification(PidPair),
    ContractNegotiationEvent(ContractNegotiationEventMessage),
    ContractNegotiationTermination(CodedPidMessage),
    ContractNegotiation(ContractNegotiation),
    ContractNegotiationError(ErrorBody),
    TransferRequest(TransferRequestMessage),
    TransferStart(TransferStartMessage),
    TransferSuspension(CodedPidMessage),
    TransferCompletion(PidPair),
    TransferTermination(CodedPidMessage),
    TransferProcess(TransferProcess),
    TransferError(ErrorBody),
}

impl DspMessage {
    pub fn kind(&self) -> MessageKind {
        match self {
            DspMessage::Catalog(_) => MessageKind::Catalog,
            DspMessage::Dataset(_) => MessageKind::Dataset,
            DspMessage::CatalogRequest(_) => MessageKind::CatalogRequestMessage,
            DspMessage::DatasetRequest(_) => MessageKind::DatasetRequestMessage,
            DspMessage::CatalogError(_) => MessageKind::CatalogError,
            DspMessage::ContractRequest(_) => MessageKind::ContractRequestMessage,
            DspMessage::ContractOffer(_) => MessageKind::ContractOfferMessage,
            DspMessage::ContractAgreement(_) => MessageKind::ContractAgreementMessage,
            DspMessage::ContractAgreementVerification(_) => MessageKind::ContractAgreementVerificationMessage,
            DspMessage::ContractNegotiationEvent(_) => MessageKind::ContractNegotiationEventMessage,
            DspMessage::ContractNegotiationTermination(_) => MessageKind::ContractNegotiationTerminationMessage,
            DspMessage::ContractNegotiation(_) => MessageKind::ContractNegotiation,
            DspMessage::ContractNegotiationError(_) => MessageKind::ContractNegotiationError,
            DspMessage::TransferRequest(_) => MessageKind::TransferRequestMessage,
            DspMessage::TransferStart(_) => MessageKind::TransferStartMessage,
            DspMessage::TransferSuspension(_) => MessageKind::TransferSuspensionMessage,
            DspMessage::TransferCompletion(_) => MessageKind::TransferCompletionMessage,
            DspMessage::TransferTermination(_) => MessageKind::TransferTerminationMessage,
            DspMessage::TransferProcess(_) => MessageKind::TransferProcess,
            DspMessage::TransferError(_) => MessageKind::TransferError,
        }
    }

    /// The process ids the message names: the consumer's and the provider's, each when the
    /// message carries it (an initial request names no provider pid, an initial offer no
    /// consumer pid, a catalog message neither).
    pub fn pids(&self) -> (Option<ConsumerPid>, Option<ProviderPid>) {
        let both = |c: &ConsumerPid, p: &ProviderPid| (Some(c.clone()), Some(p.clone()));
        match self {
            DspMessage::ContractRequest(m) => (Some(m.consumer_pid.clone()), m.provider_pid.clone()),
            DspMessage::ContractOffer(m) => (m.consumer_pid.clone(), Some(m.provider_pid.clone())),
            DspMessage::ContractAgreement(m) => both(&m.consumer_pid, &m.provider_pid),
            DspMessage::ContractAgreementVerification(m) | DspMessage::TransferCompletion(m) => both(&m.consumer_pid, &m.provider_pid),
            DspMessage::ContractNegotiationEvent(m) => both(&m.consumer_pid, &m.provider_pid),
            DspMessage::ContractNegotiationTermination(m) | DspMessage::TransferSuspension(m) | DspMessage::TransferTermination(m) => {
                both(&m.consumer_pid, &m.provider_pid)
            }
            DspMessage::ContractNegotiation(m) => both(&m.consumer_pid, &m.provider_pid),
            DspMessage::TransferRequest(m) => (Some(m.consumer_pid.clone()), None),
            DspMessage::TransferStart(m) => both(&m.consumer_pid, &m.provider_pid),
            DspMessage::TransferProcess(m) => both(&m.consumer_pid, &m.provider_pid),
            DspMessage::ContractNegotiationError(e) | DspMessage::TransferError(e) | DspMessage::CatalogError(e) => {
                (e.consumer_pid.clone(), e.provider_pid.clone())
            }
            DspMessage::Catalog(_) | DspMessage::Dataset(_) | DspMessage::CatalogRequest(_) | DspMessage::DatasetRequest(_) => (None, None),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Catalog

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogRequestMessage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<Vec<Value>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DatasetRequestMessage {
    pub dataset: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Catalog {
    #[serde(rename = "@id")]
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participant_id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub service: Vec<DataService>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dataset: Vec<Dataset>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub distribution: Vec<Distribution>,
    /// Nested catalogs (serialized with `@type: Catalog` by the codec's caller when present).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub catalog: Vec<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Dataset {
    #[serde(rename = "@id")]
    pub id: String,
    #[serde(default)]
    pub has_policy: Vec<Policy>,
    #[serde(default)]
    pub distribution: Vec<Distribution>,
    /// Title, description, keywords and whatever else the provider describes the dataset with.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Distribution {
    pub format: String,
    /// A data service, inline or by id.
    pub access_service: Value,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataService {
    #[serde(rename = "@id")]
    pub id: String,
    #[serde(rename = "@type", default = "data_service_type")]
    pub kind: String,
    #[serde(rename = "endpointURL")]
    pub endpoint_url: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn data_service_type() -> String {
    "DataService".to_string()
}

// ---------------------------------------------------------------------------------------------
// Policies (ODRL)

/// An ODRL policy: an `Offer` in a catalog or message, or an `Agreement`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    #[serde(rename = "@id")]
    pub id: String,
    /// `Offer` or `Agreement`.
    #[serde(rename = "@type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assigner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub permission: Vec<Rule>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prohibition: Vec<Rule>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub obligation: Vec<Rule>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Policy {
    /// An offer with one `use` permission, the policy of the carbon-emissions pattern.
    pub fn use_offer(id: impl Into<String>) -> Policy {
        Policy {
            id: id.into(),
            kind: "Offer".to_string(),
            target: None,
            assigner: None,
            assignee: None,
            timestamp: None,
            profile: None,
            permission: vec![Rule { action: "use".to_string(), constraint: Vec::new(), extra: Map::new() }],
            prohibition: Vec::new(),
            obligation: Vec::new(),
            extra: Map::new(),
        }
    }

    /// The same rules, as a policy of another kind and id (an agreement from an offer).
    pub fn with_kind(&self, kind: &str, id: impl Into<String>) -> Policy {
        Policy { id: id.into(), kind: kind.to_string(), ..self.clone() }
    }

    /// True when both policies grant, forbid and oblige the same things.
    pub fn same_rules(&self, other: &Policy) -> bool {
        self.permission == other.permission && self.prohibition == other.prohibition && self.obligation == other.obligation
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    pub action: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub constraint: Vec<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

// ---------------------------------------------------------------------------------------------
// Contract negotiation

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContractRequestMessage {
    pub consumer_pid: ConsumerPid,
    /// Absent on the initial request, present on a counter-request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_pid: Option<ProviderPid>,
    pub offer: Policy,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_address: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContractOfferMessage {
    pub provider_pid: ProviderPid,
    /// Absent on an initial offer, present on a counter-offer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumer_pid: Option<ConsumerPid>,
    pub offer: Policy,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_address: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContractAgreementMessage {
    pub provider_pid: ProviderPid,
    pub consumer_pid: ConsumerPid,
    pub agreement: Policy,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_address: Option<String>,
}

/// A message that carries only the two process ids (agreement verification, transfer completion).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PidPair {
    pub provider_pid: ProviderPid,
    pub consumer_pid: ConsumerPid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum NegotiationEventType {
    Accepted,
    Finalized,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContractNegotiationEventMessage {
    pub provider_pid: ProviderPid,
    pub consumer_pid: ConsumerPid,
    pub event_type: NegotiationEventType,
}

/// A message with the two process ids and an optional code and reason (termination, suspension).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CodedPidMessage {
    pub provider_pid: ProviderPid,
    pub consumer_pid: ConsumerPid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reason: Vec<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContractNegotiation {
    pub provider_pid: ProviderPid,
    pub consumer_pid: ConsumerPid,
    pub state: NegotiationState,
}

/// The body of `CatalogError`, `ContractNegotiationError` and `TransferError`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_pid: Option<ProviderPid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumer_pid: Option<ConsumerPid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reason: Vec<Value>,
}

// ---------------------------------------------------------------------------------------------
// Transfer process

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransferRequestMessage {
    pub consumer_pid: ConsumerPid,
    pub agreement_id: AgreementId,
    /// For example `HttpData-PULL`, `HttpData-PUSH`, `AmazonS3-PUSH`.
    pub format: String,
    /// Where the provider should push to (push transfers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_address: Option<DataAddress>,
    pub callback_address: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransferStartMessage {
    pub provider_pid: ProviderPid,
    pub consumer_pid: ConsumerPid,
    /// Where the consumer can pull from (pull transfers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_address: Option<DataAddress>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransferProcess {
    pub provider_pid: ProviderPid,
    pub consumer_pid: ConsumerPid,
    pub state: TransferState,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataAddress {
    #[serde(rename = "@type", default = "data_address_type")]
    pub kind: String,
    pub endpoint_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub endpoint_properties: Vec<EndpointProperty>,
}

fn data_address_type() -> String {
    "DataAddress".to_string()
}

/// The endpoint type of an HTTP data address.
pub const HTTP_ENDPOINT_TYPE: &str = "https://w3id.org/idsa/v4.1/HTTP";
/// The endpoint type of an S3 data address (bucket and key in the properties).
pub const S3_ENDPOINT_TYPE: &str = "AmazonS3";

impl DataAddress {
    pub fn new(endpoint_type: &str, endpoint: Option<String>) -> DataAddress {
        DataAddress { kind: data_address_type(), endpoint_type: endpoint_type.to_string(), endpoint, endpoint_properties: Vec::new() }
    }

    pub fn with_property(mut self, name: &str, value: impl Into<String>) -> DataAddress {
        self.endpoint_properties.push(EndpointProperty { kind: "EndpointProperty".to_string(), name: name.to_string(), value: value.into() });
        self
    }

    pub fn property(&self, name: &str) -> Option<&str> {
        self.endpoint_properties.iter().find(|p| p.name == name).map(|p| p.value.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointProperty {
    #[serde(rename = "@type", default = "endpoint_property_type")]
    pub kind: String,
    pub name: String,
    pub value: String,
}

fn endpoint_property_type() -> String {
    "EndpointProperty".to_string()
}

// ---------------------------------------------------------------------------------------------
// Metadata

/// The version document served at `/.well-known/dspace-version`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionResponse {
    pub protocol_versions: Vec<VersionEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionEntry {
    pub version: String,
    pub path: String,
    pub binding: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier_type: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> ConsumerPid {
        ConsumerPid(s.to_string())
    }

    fn p(s: &str) -> ProviderPid {
        ProviderPid(s.to_string())
    }

    #[test]
    fn pids_name_what_each_message_carries() {
        let offer = Policy::use_offer("offer-1");
        let request = |provider_pid| {
            DspMessage::ContractRequest(ContractRequestMessage { consumer_pid: c("c"), provider_pid, offer: offer.clone(), callback_address: None })
        };
        let pair = PidPair { provider_pid: p("p"), consumer_pid: c("c") };
        let coded = CodedPidMessage { provider_pid: p("p"), consumer_pid: c("c"), code: None, reason: Vec::new() };
        let cases = [
            (request(None), (Some(c("c")), None)),
            (request(Some(p("p"))), (Some(c("c")), Some(p("p")))),
            (
                DspMessage::ContractOffer(ContractOfferMessage { provider_pid: p("p"), consumer_pid: None, offer: offer.clone(), callback_address: None }),
                (None, Some(p("p"))),
            ),
            (DspMessage::ContractAgreementVerification(pair.clone()), (Some(c("c")), Some(p("p")))),
            (DspMessage::TransferCompletion(pair), (Some(c("c")), Some(p("p")))),
            (DspMessage::TransferTermination(coded), (Some(c("c")), Some(p("p")))),
            (
                DspMessage::ContractNegotiationEvent(ContractNegotiationEventMessage {
                    provider_pid: p("p"),
                    consumer_pid: c("c"),
                    event_type: NegotiationEventType::Accepted,
                }),
                (Some(c("c")), Some(p("p"))),
            ),
            (DspMessage::TransferStart(TransferStartMessage { provider_pid: p("p"), consumer_pid: c("c"), data_address: None }), (Some(c("c")), Some(p("p")))),
            (DspMessage::TransferError(ErrorBody { consumer_pid: Some(c("c")), ..ErrorBody::default() }), (Some(c("c")), None)),
            (DspMessage::CatalogRequest(CatalogRequestMessage::default()), (None, None)),
        ];
        for (message, expected) in cases {
            assert_eq!(message.pids(), expected, "{:?}", message.kind());
        }
    }
}
