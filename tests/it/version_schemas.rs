//! Our own schemas of every DSP version (`fixtures/schemas/<version>/`, `SchemaSet::embedded`)
//! against real messages in both directions: every official example of a version is valid under
//! our set of that version (except the defective ones `versions.rs` lists, which must still fail
//! somewhere), every message the harness's codec writes in a version is valid under it, and a
//! broken variant of each message type (a required member dropped, a wrong `@type`, a state
//! that version does not spell so) is rejected. The official sets are checked against the same
//! codec output in `versions.rs`.

use std::path::Path;

use dsp_harness::protocol::{codec_for, ProtocolVersion};
use dsp_harness::report::model::Violation;
use dsp_harness::schema::{message_type, SchemaSet};
use serde_json::{json, Value};

use crate::versions::{examples_under, read_json, shared_dir, DEFECTIVE_EXAMPLES, FRAGMENTS, OUR_EXAMPLES};

/// Our embedded set of `version`; every version the protocol knows must have one.
fn ours(version: ProtocolVersion) -> SchemaSet {
    SchemaSet::embedded(version.as_str()).unwrap_or_else(|| panic!("no embedded schemas for {version}"))
}

/// The one check every test goes through: the violations `set` finds in `body`, found by its
/// `@type` (a message) or, without one, as the version document.
fn check(set: &SchemaSet, body: &Value) -> Vec<Violation> {
    if body.get("@type").is_some() {
        set.validate_message(body).unwrap_or_else(|e| panic!("{e}: {body:#}"))
    } else {
        set.validate("VersionResponse", body)
    }
}

/// Every message the harness can write, as the 2025-1 codec reads our 2025-1 examples.
fn harness_messages() -> Vec<dsp_harness::protocol::DspMessage> {
    let messages: Vec<_> = examples_under(&Path::new(env!("CARGO_MANIFEST_DIR")).join(OUR_EXAMPLES))
        .iter()
        .filter_map(|path| read_json(path))
        .filter_map(|body| codec_for(ProtocolVersion::V2025_1).decode(&body).ok())
        .collect();
    assert!(messages.len() >= 20, "expected a sample of every message kind, found {}", messages.len());
    messages
}

#[test]
fn every_protocol_version_has_an_embedded_set() {
    let names: Vec<&str> = ProtocolVersion::ALL.iter().map(|v| v.as_str()).collect();
    assert_eq!(SchemaSet::embedded_versions(), names.as_slice());
    for version in ProtocolVersion::ALL {
        let set = ours(version);
        assert!(set.knows("TransferProcess") && set.knows("ContractAgreementMessage"), "{version}: {set:?}");
        // Only 2024-1 and 2025-1 have a version document; 0.8 is what its absence means.
        let has_version_document = matches!(version, ProtocolVersion::V2024_1 | ProtocolVersion::V2025_1);
        assert_eq!(set.knows("VersionResponse"), has_version_document, "{version}");
    }
}

#[test]
fn every_official_example_is_valid_under_our_set_of_its_version() {
    let Some(shared) = shared_dir("every_official_example_is_valid_under_our_set_of_its_version") else { return };
    let mut failures = Vec::new();
    let mut checked = 0;
    for version in ProtocolVersion::ALL {
        let set = ours(version);
        for path in examples_under(&shared.join(version.as_str())) {
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            let shown = path.strip_prefix(&shared).unwrap().display().to_string();
            if FRAGMENTS.contains(&name.as_str()) || name.contains("did-service") {
                continue;
            }
            let body = read_json(&path);
            let defect = DEFECTIVE_EXAMPLES.iter().find(|(v, n, _)| *v == version.as_str() && *n == name);
            let Some(body) = body else {
                if defect.is_none() {
                    failures.push(format!("{shown} is not JSON"));
                }
                continue;
            };
            let violations = check(&set, &body);
            match defect {
                // A defective example must still fail somewhere: under our schema or in the codec.
                Some((_, _, why)) => {
                    if violations.is_empty() && codec_for(version).decode(&body).is_ok() {
                        failures.push(format!("{shown} passes our {version} schemas and reads; it was listed because {why}"));
                    }
                }
                None => {
                    checked += 1;
                    if !violations.is_empty() {
                        failures.push(format!("{shown}: {violations:#?}"));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(checked >= 70, "only {checked} official examples checked");
}

#[test]
fn every_message_the_harness_writes_is_valid_under_our_set_of_its_version() {
    let mut failures = Vec::new();
    for version in ProtocolVersion::ALL {
        let set = ours(version);
        for message in harness_messages() {
            let written = codec_for(version).encode(&message);
            let violations = check(&set, &written);
            if !violations.is_empty() {
                failures.push(format!("{version}: {violations:#?}\n{written:#}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// For each message type, the member whose absence the spec forbids (`pid`: the version's
/// process id, `consumerPid` or `dspace:processId`).
const REQUIRED: &[(&str, &str)] = &[
    ("Catalog", "@id"),
    ("Dataset", "hasPolicy"),
    ("CatalogRequestMessage", "@context"),
    ("DatasetRequestMessage", "dataset"),
    ("CatalogError", "@context"),
    ("ContractRequestMessage", "offer"),
    ("ContractOfferMessage", "offer"),
    ("ContractAgreementMessage", "agreement"),
    ("ContractAgreementVerificationMessage", "pid"),
    ("ContractNegotiationEventMessage", "eventType"),
    ("ContractNegotiationTerminationMessage", "pid"),
    ("ContractNegotiation", "state"),
    ("ContractNegotiationError", "pid"),
    ("TransferRequestMessage", "agreementId"),
    ("TransferStartMessage", "pid"),
    ("TransferSuspensionMessage", "pid"),
    ("TransferCompletionMessage", "pid"),
    ("TransferTerminationMessage", "pid"),
    ("TransferProcess", "state"),
    ("TransferError", "pid"),
];

/// Schemas that leave `@type` open, as their version's official schema does: the 2025-1 dataset
/// (our 2025-1 set is exactly as strict as the official one, which does not constrain it).
const UNTYPED: &[(ProtocolVersion, &str)] = &[(ProtocolVersion::V2025_1, "Dataset")];

/// The spelling of a 2025-1 member in `version`.
fn spelled(version: ProtocolVersion, member: &str) -> String {
    let member = match (member, version) {
        ("pid", ProtocolVersion::V0_8ProcessId) => "processId",
        ("pid", _) => "consumerPid",
        (other, _) => other,
    };
    if version == ProtocolVersion::V2025_1 || member.starts_with('@') {
        return member.to_string();
    }
    let prefix = match member {
        "hasPolicy" => "odrl",
        _ => "dspace",
    };
    format!("{prefix}:{member}")
}

/// What a version must not accept as a state: an unknown one in either spelling, and in 0.8 and
/// 2024-1 the bare 2025-1 name, which their contexts define no term for. (The processId form's
/// own examples write bare names, so our schema of it accepts both.)
fn wrong_states(version: ProtocolVersion, good: &str) -> Vec<Value> {
    let mut wrong = vec![json!("RUNNING"), json!("dspace:RUNNING")];
    if let (Some(bare), false) = (good.strip_prefix("dspace:"), version == ProtocolVersion::V0_8ProcessId) {
        wrong.push(json!(bare));
    }
    wrong
}

#[test]
fn a_broken_message_of_every_type_is_rejected_in_every_version() {
    let mut failures = Vec::new();
    let mut broken_checked = 0;
    for version in ProtocolVersion::ALL {
        let set = ours(version);
        let mut seen = Vec::new();
        for message in harness_messages() {
            let written = codec_for(version).encode(&message);
            let declared = message_type(&written).unwrap().to_string();
            let key = if declared == "CatalogErrorMessage" { "CatalogError".to_string() } else { declared.clone() };
            let Some((_, member)) = REQUIRED.iter().find(|(k, _)| *k == key) else {
                failures.push(format!("{version}: no broken variant for {key}"));
                continue;
            };
            seen.push(key.clone());
            let mut variants: Vec<(String, Value)> = Vec::new();
            let member = spelled(version, member);
            let mut dropped = written.clone();
            if dropped.as_object_mut().unwrap().remove(&member).is_none() {
                failures.push(format!("{version} {key}: the harness wrote no {member}"));
            }
            variants.push((format!("without {member}"), dropped));
            if !UNTYPED.contains(&(version, key.as_str())) {
                let mut retyped = written.clone();
                retyped["@type"] = json!(written["@type"].as_str().unwrap().replace(&declared, &format!("Draft{declared}")));
                variants.push(("with a wrong @type".to_string(), retyped));
            }
            for state_member in ["state", "eventType"] {
                let state_member = spelled(version, state_member);
                if let Some(good) = written.get(&state_member).and_then(Value::as_str) {
                    for wrong in wrong_states(version, good) {
                        let mut restated = written.clone();
                        restated[&state_member] = wrong.clone();
                        variants.push((format!("with {state_member} {wrong}"), restated));
                    }
                }
            }
            for (what, body) in variants {
                broken_checked += 1;
                if set.validate(&key, &body).is_empty() {
                    failures.push(format!("{version} {key} {what} is accepted:\n{body:#}"));
                }
            }
        }
        for (key, _) in REQUIRED {
            if !seen.iter().any(|s| s == key) {
                failures.push(format!("{version}: the harness wrote no {key} to break"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(broken_checked >= 4 * 40, "only {broken_checked} broken variants");
}

/// The older contexts may be given in an array beside prefixes of the sender's own; a message in
/// another version's context is not a message of this version.
#[test]
fn the_context_is_read_as_the_version_defines_it() {
    let process = |context: Value| {
        json!({"@context": context, "@type": "dspace:TransferProcess", "dspace:providerPid": "urn:p", "dspace:consumerPid": "urn:c", "dspace:state": "dspace:STARTED"})
    };
    let set = ours(ProtocolVersion::V2024_1);
    let context = "https://w3id.org/dspace/2024/1/context.json";
    assert_eq!(check(&set, &process(json!(context))), Vec::new());
    assert_eq!(check(&set, &process(json!([context, {"ex": "https://example.org/"}]))), Vec::new());
    assert!(!check(&set, &process(json!("https://w3id.org/dspace/v0.8/context.json"))).is_empty());
    assert!(!check(&set, &process(json!(["https://w3id.org/dspace/2025/1/context.jsonld"]))).is_empty());
}
