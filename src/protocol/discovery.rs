//! Which DSP version to speak with a connector, from what its version document
//! (`/.well-known/dspace-version`) offers: the newest version both sides speak, or the one the
//! user forces. The document's spelling differs by version (2025-1 `"2025-1"`, EDC's 2024-1
//! `"2024/1"`, `"v0.8"`); entries of versions the harness does not speak are kept aside, so a
//! report can name them. DSP 0.8 has no version document: a connector without one is taken to
//! speak 0.8, in its `processId` form unless a message it sends shows the other
//! ([`form_of_0_8`]). No I/O here: the caller fetches the document.

use serde_json::Value;

use super::codec::ProtocolVersion;

/// What can make a choice impossible.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscoveryError {
    #[error("the version document is not an object with a protocolVersions array")]
    Malformed,
    #[error("the connector offers no DSP version the harness speaks (it offers {})", offered.join(", "))]
    NoCommonVersion { offered: Vec<String> },
    #[error("the connector does not offer DSP {forced} (it offers {})", offered.join(", "))]
    ForcedNotOffered { forced: ProtocolVersion, offered: Vec<String> },
}

/// One version a connector offers and where (the path below its root URL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offered {
    pub version: ProtocolVersion,
    pub path: String,
}

/// What a version document offers: the versions the harness speaks, in the document's order,
/// and the spellings of the ones it does not.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Offer {
    pub known: Vec<Offered>,
    pub unknown: Vec<String>,
}

/// A version as version documents spell it.
pub fn parse_version_name(name: &str) -> Option<ProtocolVersion> {
    match name {
        "2025-1" | "2025/1" => Some(ProtocolVersion::V2025_1),
        "2024-1" | "2024/1" => Some(ProtocolVersion::V2024_1),
        "v0.8" | "0.8" => Some(ProtocolVersion::V0_8),
        _ => None,
    }
}

/// Reads a version document.
pub fn read_offer(document: &Value) -> Result<Offer, DiscoveryError> {
    let entries = document.get("protocolVersions").and_then(Value::as_array).ok_or(DiscoveryError::Malformed)?;
    let mut offer = Offer::default();
    for entry in entries {
        let Some(name) = entry.get("version").and_then(Value::as_str) else { return Err(DiscoveryError::Malformed) };
        let path = entry.get("path").and_then(Value::as_str).unwrap_or("/").to_string();
        match parse_version_name(name) {
            Some(version) => offer.known.push(Offered { version, path }),
            None => offer.unknown.push(name.to_string()),
        }
    }
    Ok(offer)
}

/// The version to speak: `forced` if the document offers it, else the newest offered; without a
/// document (`None`), `forced` or DSP 0.8 in its `processId` form.
pub fn choose(document: Option<&Offer>, forced: Option<ProtocolVersion>) -> Result<Offered, DiscoveryError> {
    let Some(offer) = document else {
        return Ok(Offered { version: forced.unwrap_or(ProtocolVersion::V0_8ProcessId), path: "/".to_string() });
    };
    let names = || offer.known.iter().map(|o| o.version.to_string()).chain(offer.unknown.iter().cloned()).collect::<Vec<_>>();
    // The document cannot tell the two 0.8 forms apart: an offer of 0.8 serves either.
    let matches = |wanted: ProtocolVersion, offered: ProtocolVersion| {
        wanted == offered || (wanted == ProtocolVersion::V0_8ProcessId && offered == ProtocolVersion::V0_8)
    };
    match forced {
        Some(forced) => offer
            .known
            .iter()
            .find(|o| matches(forced, o.version))
            .map(|o| Offered { version: forced, path: o.path.clone() })
            .ok_or_else(|| DiscoveryError::ForcedNotOffered { forced, offered: names() }),
        None => {
            let rank = |v: ProtocolVersion| ProtocolVersion::ALL.iter().position(|x| *x == v).unwrap_or(0);
            offer.known.iter().max_by_key(|o| rank(o.version)).cloned().ok_or_else(|| DiscoveryError::NoCommonVersion { offered: names() })
        }
    }
}

/// The 0.8 form a message of a 0.8 connector is written in: `processId` or `consumerPid`/
/// `providerPid`; `None` when the message names no process.
pub fn form_of_0_8(message: &Value) -> Option<ProtocolVersion> {
    let object = message.as_object()?;
    let has = |term: &str| object.keys().any(|k| k == term || k.ends_with(&format!(":{term}")) || k.ends_with(&format!("/{term}")));
    if has("processId") {
        Some(ProtocolVersion::V0_8ProcessId)
    } else if has("consumerPid") || has("providerPid") {
        Some(ProtocolVersion::V0_8)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(document: Option<Value>, forced: Option<ProtocolVersion>, expected: Result<(ProtocolVersion, &str), &str>) {
        let offer = document.map(|d| read_offer(&d).expect("a readable document"));
        let chosen = choose(offer.as_ref(), forced);
        match (chosen, expected) {
            (Ok(o), Ok((version, path))) => assert_eq!((o.version, o.path.as_str()), (version, path)),
            (Err(e), Err(says)) => assert!(e.to_string().contains(says), "{e}"),
            (other, expected) => panic!("got {other:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn the_newest_common_version_or_the_forced_one_is_chosen() {
        let edc = json!({"protocolVersions": [
            {"version": "v0.8", "path": "/"},
            {"version": "2024/1", "path": "/2024/1"},
            {"version": "2025-1", "path": "/2025-1", "binding": "HTTPS"}
        ]});
        check(Some(edc.clone()), None, Ok((ProtocolVersion::V2025_1, "/2025-1")));
        check(Some(edc.clone()), Some(ProtocolVersion::V2024_1), Ok((ProtocolVersion::V2024_1, "/2024/1")));
        check(Some(edc.clone()), Some(ProtocolVersion::V0_8ProcessId), Ok((ProtocolVersion::V0_8ProcessId, "/")));
        let only_2024 = json!({"@context": "https://w3id.org/dspace/2024/1/context.json", "protocolVersions": [{"version": "2024/1", "path": "/"}]});
        check(Some(only_2024.clone()), None, Ok((ProtocolVersion::V2024_1, "/")));
        check(Some(only_2024), Some(ProtocolVersion::V2025_1), Err("does not offer DSP 2025-1 (it offers 2024-1)"));
        check(Some(json!({"protocolVersions": [{"version": "2031-7", "path": "/x"}]})), None, Err("offers 2031-7"));
        // No document: DSP 0.8 (processId form), or what the user forces.
        check(None, None, Ok((ProtocolVersion::V0_8ProcessId, "/")));
        check(None, Some(ProtocolVersion::V0_8), Ok((ProtocolVersion::V0_8, "/")));
    }

    #[test]
    fn a_malformed_document_is_refused() {
        assert_eq!(read_offer(&json!({"versions": []})), Err(DiscoveryError::Malformed));
        assert_eq!(read_offer(&json!({"protocolVersions": [{"path": "/"}]})), Err(DiscoveryError::Malformed));
    }

    #[test]
    fn the_0_8_form_shows_in_the_process_ids() {
        assert_eq!(form_of_0_8(&json!({"@type": "dspace:ContractNegotiation", "dspace:processId": "urn:x"})), Some(ProtocolVersion::V0_8ProcessId));
        assert_eq!(form_of_0_8(&json!({"dspace:consumerPid": "urn:c", "dspace:providerPid": "urn:p"})), Some(ProtocolVersion::V0_8));
        assert_eq!(form_of_0_8(&json!({"@type": "dcat:Catalog"})), None);
    }
}
