//! Wire codecs: one per DSP version, each mapping the version-neutral model to its JSON form.
//!
//! The model is written in 2025-1's terms, so [`Codec2025_1`] maps it directly; the codecs of the
//! older versions ([`DialectCodec`]: 0.8 in both its forms, 2024-1) rewrite the 2025-1 form into
//! their dialect and back through the term table in `vocabulary.rs`, leaving the model and the
//! state machines alone.

use std::fmt;
use std::str::FromStr;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use super::message::{DspMessage, MessageKind};
use super::vocabulary;

/// The JSON-LD context of DSP 2025-1.
pub const CONTEXT_2025_1: &str = "https://w3id.org/dspace/2025/1/context.jsonld";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProtocolVersion {
    /// DSP 0.8 as Tractus-X EDC 0.4 speaks it: one `dspace:processId` per process.
    V0_8ProcessId,
    /// DSP 0.8 with `dspace:consumerPid` and `dspace:providerPid` (Tractus-X "Jupiter").
    V0_8,
    V2024_1,
    V2025_1,
}

impl ProtocolVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            ProtocolVersion::V0_8ProcessId => "0.8-processid",
            ProtocolVersion::V0_8 => "0.8",
            ProtocolVersion::V2024_1 => "2024-1",
            ProtocolVersion::V2025_1 => "2025-1",
        }
    }

    /// Every version the codecs speak, oldest first.
    pub const ALL: [ProtocolVersion; 4] =
        [ProtocolVersion::V0_8ProcessId, ProtocolVersion::V0_8, ProtocolVersion::V2024_1, ProtocolVersion::V2025_1];

    /// The protocol name EDC uses in its management API for this version.
    pub fn edc_protocol(self) -> &'static str {
        match self {
            ProtocolVersion::V0_8ProcessId | ProtocolVersion::V0_8 => "dataspace-protocol-http",
            ProtocolVersion::V2024_1 => "dataspace-protocol-http:2024/1",
            ProtocolVersion::V2025_1 => "dataspace-protocol-http:2025-1",
        }
    }
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ProtocolVersion {
    type Err = DecodeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "0.8-processid" => Ok(ProtocolVersion::V0_8ProcessId),
            "0.8" | "v0.8" => Ok(ProtocolVersion::V0_8),
            "2024-1" | "2024/1" => Ok(ProtocolVersion::V2024_1),
            "2025-1" => Ok(ProtocolVersion::V2025_1),
            other => Err(DecodeError::UnsupportedVersion(other.to_string())),
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    #[error("body is not a JSON object")]
    NotAnObject,
    #[error("missing @type")]
    MissingType,
    #[error("unknown @type {0:?}")]
    UnknownType(String),
    #[error("expected @type {expected} but got {actual}")]
    WrongType { expected: String, actual: String },
    #[error("missing or wrong @context: expected it to contain {0}")]
    WrongContext(String),
    #[error("invalid {kind}: {detail}")]
    Invalid { kind: String, detail: String },
    #[error("unsupported protocol version {0:?}")]
    UnsupportedVersion(String),
}

/// Maps the model to one version's wire form and back.
pub trait WireCodec: Send + Sync {
    fn version(&self) -> ProtocolVersion;

    fn encode(&self, message: &DspMessage) -> Value;

    fn decode(&self, body: &Value) -> Result<DspMessage, DecodeError>;

    /// Decodes and insists on one kind.
    fn decode_kind(&self, expected: MessageKind, body: &Value) -> Result<DspMessage, DecodeError> {
        let message = self.decode(body)?;
        if message.kind() != expected {
            return Err(DecodeError::WrongType { expected: expected.name().to_string(), actual: message.kind().name().to_string() });
        }
        Ok(message)
    }
}

pub fn codec_for(version: ProtocolVersion) -> &'static dyn WireCodec {
    match version {
        ProtocolVersion::V0_8ProcessId => &DialectCodec(&vocabulary::DIALECT_0_8_PROCESS_ID),
        ProtocolVersion::V0_8 => &DialectCodec(&vocabulary::DIALECT_0_8),
        ProtocolVersion::V2024_1 => &DialectCodec(&vocabulary::DIALECT_2024_1),
        ProtocolVersion::V2025_1 => &Codec2025_1,
    }
}

/// The wire form of a version before 2025-1: the 2025-1 form rewritten into the version's
/// dialect (prefixed terms, its context, its party and process-id terms) and read back by meaning.
#[derive(Debug, Clone, Copy)]
pub struct DialectCodec(pub &'static vocabulary::Dialect);

impl WireCodec for DialectCodec {
    fn version(&self) -> ProtocolVersion {
        self.0.version
    }

    fn encode(&self, message: &DspMessage) -> Value {
        vocabulary::from_current(self.0, &Codec2025_1.encode(message))
    }

    fn decode(&self, body: &Value) -> Result<DspMessage, DecodeError> {
        if !body.is_object() {
            return Err(DecodeError::NotAnObject);
        }
        let context_ok = match body.get("@context") {
            Some(Value::String(s)) => s == self.0.context,
            Some(Value::Array(items)) => items.iter().any(|v| v.as_str() == Some(self.0.context)),
            _ => false,
        };
        let current = vocabulary::to_current(self.0, body);
        match Codec2025_1.decode(&current) {
            // The 2025-1 codec would name its own context: name this version's instead.
            Err(DecodeError::WrongContext(_)) => Err(DecodeError::WrongContext(self.0.context.to_string())),
            Ok(message) if !context_ok && message.kind() != MessageKind::Dataset => Err(DecodeError::WrongContext(self.0.context.to_string())),
            other => other,
        }
    }
}

/// The DSP 2025-1 wire form: unprefixed names and the 2025-1 context.
#[derive(Debug, Clone, Copy, Default)]
pub struct Codec2025_1;

fn to_object<T: Serialize>(value: &T) -> Map<String, Value> {
    match serde_json::to_value(value) {
        Ok(Value::Object(map)) => map,
        // Every model type serializes to an object; anything else would be a bug in the model.
        other => unreachable!("model type serialized to a non-object: {other:?}"),
    }
}

fn from_object<T: DeserializeOwned>(kind: MessageKind, body: &Value) -> Result<T, DecodeError> {
    let mut clean = body.as_object().cloned().ok_or(DecodeError::NotAnObject)?;
    clean.remove("@context");
    clean.remove("@type");
    serde_json::from_value(Value::Object(clean)).map_err(|e| DecodeError::Invalid { kind: kind.name().to_string(), detail: e.to_string() })
}

impl WireCodec for Codec2025_1 {
    fn version(&self) -> ProtocolVersion {
        ProtocolVersion::V2025_1
    }

    fn encode(&self, message: &DspMessage) -> Value {
        let mut body = match message {
            DspMessage::Catalog(m) => to_object(m),
            DspMessage::Dataset(m) => to_object(m),
            DspMessage::CatalogRequest(m) => to_object(m),
            DspMessage::DatasetRequest(m) => to_object(m),
            DspMessage::CatalogError(m) | DspMessage::ContractNegotiationError(m) | DspMessage::TransferError(m) => to_object(m),
            DspMessage::ContractRequest(m) => to_object(m),
            DspMessage::ContractOffer(m) => to_object(m),
            DspMessage::ContractAgreement(m) => to_object(m),
            DspMessage::ContractAgreementVerification(m) | DspMessage::TransferCompletion(m) => to_object(m),
            DspMessage::ContractNegotiationEvent(m) => to_object(m),
            DspMessage::ContractNegotiationTermination(m) | DspMessage::TransferSuspension(m) | DspMessage::TransferTermination(m) => {
                to_object(m)
            }
            DspMessage::ContractNegotiation(m) => to_object(m),
            DspMessage::TransferRequest(m) => to_object(m),
            DspMessage::TransferStart(m) => to_object(m),
            DspMessage::TransferProcess(m) => to_object(m),
        };
        let mut out = Map::new();
        out.insert("@context".to_string(), Value::Array(vec![Value::String(CONTEXT_2025_1.to_string())]));
        out.insert("@type".to_string(), Value::String(message.kind().name().to_string()));
        out.append(&mut body);
        Value::Object(out)
    }

    fn decode(&self, body: &Value) -> Result<DspMessage, DecodeError> {
        let object = body.as_object().ok_or(DecodeError::NotAnObject)?;
        let type_name = object.get("@type").and_then(Value::as_str).ok_or(DecodeError::MissingType)?;
        let kind = MessageKind::from_name(type_name).ok_or_else(|| DecodeError::UnknownType(type_name.to_string()))?;
        let context_ok = match object.get("@context") {
            Some(Value::String(s)) => s == CONTEXT_2025_1,
            Some(Value::Array(items)) => items.iter().any(|v| v.as_str() == Some(CONTEXT_2025_1)),
            _ => false,
        };
        // A dataset inside a catalog carries no context of its own; everything else must.
        if !context_ok && kind != MessageKind::Dataset {
            return Err(DecodeError::WrongContext(CONTEXT_2025_1.to_string()));
        }
        Ok(match kind {
            MessageKind::Catalog => DspMessage::Catalog(from_object(kind, body)?),
            MessageKind::Dataset => DspMessage::Dataset(from_object(kind, body)?),
            MessageKind::CatalogRequestMessage => DspMessage::CatalogRequest(from_object(kind, body)?),
            MessageKind::DatasetRequestMessage => DspMessage::DatasetRequest(from_object(kind, body)?),
            MessageKind::CatalogError => DspMessage::CatalogError(from_object(kind, body)?),
            MessageKind::ContractRequestMessage => DspMessage::ContractRequest(from_object(kind, body)?),
            MessageKind::ContractOfferMessage => DspMessage::ContractOffer(from_object(kind, body)?),
            MessageKind::ContractAgreementMessage => DspMessage::ContractAgreement(from_object(kind, body)?),
            MessageKind::ContractAgreementVerificationMessage => DspMessage::ContractAgreementVerification(from_object(kind, body)?),
            MessageKind::ContractNegotiationEventMessage => DspMessage::ContractNegotiationEvent(from_object(kind, body)?),
            MessageKind::ContractNegotiationTerminationMessage => DspMessage::ContractNegotiationTermination(from_object(kind, body)?),
            MessageKind::ContractNegotiation => DspMessage::ContractNegotiation(from_object(kind, body)?),
            MessageKind::ContractNegotiationError => DspMessage::ContractNegotiationError(from_object(kind, body)?),
            MessageKind::TransferRequestMessage => DspMessage::TransferRequest(from_object(kind, body)?),
            MessageKind::TransferStartMessage => DspMessage::TransferStart(from_object(kind, body)?),
            MessageKind::TransferSuspensionMessage => DspMessage::TransferSuspension(from_object(kind, body)?),
            MessageKind::TransferCompletionMessage => DspMessage::TransferCompletion(from_object(kind, body)?),
            MessageKind::TransferTerminationMessage => DspMessage::TransferTermination(from_object(kind, body)?),
            MessageKind::TransferProcess => DspMessage::TransferProcess(from_object(kind, body)?),
            MessageKind::TransferError => DspMessage::TransferError(from_object(kind, body)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::message::*;
    use crate::protocol::state::NegotiationState;

    #[test]
    fn round_trips_a_negotiation() {
        let message = DspMessage::ContractNegotiation(ContractNegotiation {
            provider_pid: "urn:uuid:p".into(),
            consumer_pid: "urn:uuid:c".into(),
            state: NegotiationState::Requested,
        });
        let wire = Codec2025_1.encode(&message);
        assert_eq!(wire["@type"], "ContractNegotiation");
        assert_eq!(wire["@context"][0], CONTEXT_2025_1);
        assert_eq!(wire["state"], "REQUESTED");
        assert_eq!(Codec2025_1.decode(&wire).unwrap(), message);
    }

    #[test]
    fn rejects_missing_context_and_unknown_type() {
        let no_context = serde_json::json!({"@type": "TransferProcess", "providerPid": "a", "consumerPid": "b", "state": "STARTED"});
        assert!(matches!(Codec2025_1.decode(&no_context), Err(DecodeError::WrongContext(_))));
        let unknown = serde_json::json!({"@context": [CONTEXT_2025_1], "@type": "Nonsense"});
        assert_eq!(Codec2025_1.decode(&unknown), Err(DecodeError::UnknownType("Nonsense".to_string())));
    }

    #[test]
    fn decodes_official_request_example() {
        let body = serde_json::json!({
            "@context": [CONTEXT_2025_1],
            "@type": "ContractRequestMessage",
            "consumerPid": "urn:uuid:32541fe6-c580-409e-85a8-8a9a32fbe833",
            "offer": {"@type": "Offer", "@id": "urn:uuid:2828282", "target": "urn:uuid:3dd1add8", "permission": [{"action": "use"}]},
            "callbackAddress": "https://example.com/callback"
        });
        let DspMessage::ContractRequest(m) = Codec2025_1.decode_kind(MessageKind::ContractRequestMessage, &body).unwrap() else {
            panic!("wrong kind")
        };
        assert_eq!(m.offer.permission[0].action, "use");
        assert!(m.provider_pid.is_none());
        assert_eq!(Codec2025_1.encode(&DspMessage::ContractRequest(m)), body);
    }
}
