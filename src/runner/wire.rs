//! The runner's one door between the 2025-1 form its checks and counterparty think in and the
//! wire form of the version a connector under test speaks. Every body the harness writes (codec
//! output and the deliberately malformed ones alike) is written in 2025-1 form and goes out
//! through [`to_wire`]; every body it reads is read back through [`from_wire`], by meaning
//! (prefixes resolved through the message's own context), so a check never has to know how a
//! version spells a term and a connector that compacts differently is not failed for it.
//! The exchanges are recorded as they went over the wire: only what the checks look at is
//! rewritten.

use bytes::Bytes;
use serde_json::Value;

use crate::protocol::{vocabulary, ProtocolVersion};
use crate::schema::SchemaSet;

/// A body of the 2025-1 form written as `version` writes it.
pub fn to_wire(version: ProtocolVersion, body: &Value) -> Value {
    match version {
        // The 2025-1 form is the wire form: no rewrite, so malformed bodies go out untouched.
        ProtocolVersion::V2025_1 => body.clone(),
        other => vocabulary::from_current(vocabulary::dialect(other), body),
    }
}

/// A body a connector of `version` sent, in the 2025-1 form the checks read.
pub fn from_wire(version: ProtocolVersion, body: &Value) -> Value {
    match version {
        ProtocolVersion::V2025_1 => body.clone(),
        other => vocabulary::to_current(vocabulary::dialect(other), body),
    }
}

/// [`from_wire`] on raw bytes: JSON is rewritten, anything else is left as it came.
pub fn bytes_from_wire(version: ProtocolVersion, body: &Bytes) -> Bytes {
    if version == ProtocolVersion::V2025_1 {
        return body.clone();
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(json @ Value::Object(_)) => Bytes::from(from_wire(version, &json).to_string()),
        _ => body.clone(),
    }
}

/// The JSON-LD context `version` writes, for bodies built by hand as bytes.
pub fn context(version: ProtocolVersion) -> &'static str {
    vocabulary::dialect(version).context
}

/// True when one `processId` names a process on both sides (the first DSP 0.8 form): a
/// harness provider then takes the consumer's pid as its own.
pub fn shares_process_id(version: ProtocolVersion) -> bool {
    vocabulary::dialect(version).process_id
}

/// The schema set every DSP message of `version` is validated against (our own, under
/// `fixtures/schemas/<version>/`); `None` while the harness has no schemas of that version
/// (its messages are then recorded unvalidated).
pub fn schemas_for(version: ProtocolVersion) -> Option<SchemaSet> {
    SchemaSet::embedded(version.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_2025_1_body_goes_out_in_the_version_and_comes_back_the_same() {
        let body = json!({"@context": ["https://w3id.org/dspace/2025/1/context.jsonld"], "@type": "ContractNegotiationEventMessage", "consumerPid": "urn:c", "providerPid": "urn:p", "eventType": "ACCEPTED"});
        let wire = to_wire(ProtocolVersion::V2024_1, &body);
        assert_eq!(wire["@type"], "dspace:ContractNegotiationEventMessage");
        assert_eq!(wire["dspace:eventType"], "dspace:ACCEPTED");
        assert_eq!(wire["@context"], context(ProtocolVersion::V2024_1));
        assert_eq!(from_wire(ProtocolVersion::V2024_1, &wire), body);
        assert_eq!(to_wire(ProtocolVersion::V2025_1, &body), body);
    }

    #[test]
    fn a_body_without_context_stays_without_one() {
        let body = json!({"@type": "ContractNegotiationTerminationMessage", "consumerPid": "urn:c", "providerPid": "urn:p"});
        let wire = to_wire(ProtocolVersion::V0_8, &body);
        assert!(wire.get("@context").is_none());
        assert_eq!(wire["dspace:consumerPid"], "urn:c");
    }

    #[test]
    fn the_process_id_form_names_one_process() {
        let body = json!({"@context": ["https://w3id.org/dspace/2025/1/context.jsonld"], "@type": "TransferProcess", "consumerPid": "urn:c", "providerPid": "urn:c", "state": "STARTED"});
        let wire = to_wire(ProtocolVersion::V0_8ProcessId, &body);
        assert_eq!(wire["dspace:processId"], "urn:c");
        assert!(shares_process_id(ProtocolVersion::V0_8ProcessId) && !shares_process_id(ProtocolVersion::V0_8));
        let back = from_wire(ProtocolVersion::V0_8ProcessId, &wire);
        assert_eq!((back["consumerPid"].as_str(), back["providerPid"].as_str(), back["state"].as_str()), (Some("urn:c"), Some("urn:c"), Some("STARTED")));
        let text = Bytes::from_static(b"not json");
        assert_eq!(bytes_from_wire(ProtocolVersion::V0_8ProcessId, &text), text);
    }
}
