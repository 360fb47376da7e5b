//! The codecs of the older DSP versions (0.8 in its `processId` and `consumerPid` forms, 2024-1)
//! checked against the official schemas and examples of each version in
//! `../shared/dsp-schemas/<version>`: every message the harness can write, written in a version,
//! is valid under that version's official schema, and every official example of a version reads
//! into the model and, written again in 2025-1, is valid under the 2025-1 schemas. Known defects
//! of the official files are listed with the reason, and must stay defects.

use std::path::{Path, PathBuf};

use dsp_harness::protocol::{codec_for, ProtocolVersion};
use dsp_harness::schema::{message_type, SchemaSet};
use serde_json::Value;

pub(crate) const SHARED: &str = "../shared/dsp-schemas";
pub(crate) const OUR_EXAMPLES: &str = "fixtures/schemas/2025-1/examples";
const OLDER: [ProtocolVersion; 3] = [ProtocolVersion::V0_8ProcessId, ProtocolVersion::V0_8, ProtocolVersion::V2024_1];

pub(crate) fn shared_dir(test: &str) -> Option<PathBuf> {
    crate::support::require_dir(test, SHARED, "the official DSP schemas")
}

pub(crate) fn read_json(path: &Path) -> Option<Value> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

/// Every `*.json` file under `dir` that is not a schema, sorted.
pub(crate) fn examples_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "schema") {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "json") && !path.file_name().unwrap().to_string_lossy().contains("schema") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Official examples that are not sound messages of their version, and why. Each must stay
/// unreadable, so that an upstream fix is noticed.
pub(crate) const DEFECTIVE_EXAMPLES: &[(&str, &str, &str)] = &[
    ("0.8-processid", "contract-request-message.json", "not JSON: the offer holds a literal `...`"),
    ("0.8-processid", "contract-agreement-message.json", "not JSON: the agreement holds a literal `...`"),
    ("0.8-processid", "transfer-start-message.json", "an empty dspace:dataAddress has no endpoint type"),
    ("0.8-processid", "transfer-request-message.json", "an empty dspace:dataAddress has no endpoint type"),
    ("0.8-processid", "transfer-process.json", "the process is named only by @id and dspace:correlationId, no dspace:processId"),
    ("0.8-processid", "contract-negotiation.json", "the state CONSUMER_REQUESTED is of a draft before 0.8; 0.8 names it REQUESTED"),
    ("0.8-processid", "catalog.json", "the offer has no @type (its own @vocab points at the ODRL recommendation's web page)"),
    ("0.8-processid", "contract.agreement.message.http.transfer.json", "no @type"),
    ("0.8", "transfer-start-message.json", "dspace:dataAddress is a string, not a data address"),
    ("0.8", "catalog.json", "the catalog has no @id"),
    ("0.8", "contract-request-message.json", "the offer has no @id (the 0.8 schema requires one)"),
    ("0.8", "contract-agreement-message.json", "odrl:operand where ODRL says odrl:operator"),
    ("0.8", "contract-offer-message.json", "odrl:operand where ODRL says odrl:operator"),
    ("0.8", "contract.agreement.message.http.transfer.json", "oderl:rightOperand, operator `equals`, no assigner or assignee"),
    ("2024-1", "contract-agreement-message.json", "odrl:operand where ODRL says odrl:operator"),
    ("2024-1", "contract-offer-message.json", "odrl:operand where ODRL says odrl:operator"),
    ("2024-1", "contract-request-message.json", "odrl:operand where ODRL says odrl:operator"),
    ("2024-1", "contract.agreement.message.http.transfer.json", "oderl:rightOperand, operator `equals`, no assigner or assignee"),
];

/// Official example files that are fragments, not messages.
pub(crate) const FRAGMENTS: &[&str] = &["dcat.distribution.example.json", "dcat.distribution.example.option1.json", "dcat.distribution.example.option2.json"];

/// Sound messages of their version that 2025-1 would not accept, and why.
const OLDER_ONLY: &[(&str, &str, &str)] = &[
    ("0.8-processid", "contract-offer-message.json", "the offer is named by @id and target only; 2025-1 wants its rules"),
    ("0.8", "contract-request-message_initial.json", "the offer is named by @id and target only; 2025-1 wants its rules"),
    ("0.8", "contract-offer-message_initial.json", "the offer is named by @id and target only; 2025-1 wants its rules"),
];

fn defect(version: ProtocolVersion, path: &Path) -> Option<&'static str> {
    let name = path.file_name()?.to_str()?;
    DEFECTIVE_EXAMPLES.iter().find(|(v, n, _)| *v == version.as_str() && *n == name).map(|(_, _, why)| *why)
}

/// Official schema sets that do not load offline, and why; each must stay unloadable, so that an
/// upstream fix is noticed and the version's messages are then checked against it.
const UNLOADABLE_SETS: &[(ProtocolVersion, &str)] = &[
    (ProtocolVersion::V0_8ProcessId, "its agreement schema refers to https://w3id.org/dspace/schemas/1/0/AgreementSchema, which no file declares"),
];

/// The official schema set of a version, loaded offline, or `None` for a listed unloadable one.
fn official_set(dir: &Path, version: ProtocolVersion) -> Option<SchemaSet> {
    let loaded = SchemaSet::from_dir(&dir.join(version.as_str()));
    match (UNLOADABLE_SETS.iter().find(|(v, _)| *v == version), loaded) {
        (None, Ok(set)) => Some(set),
        (None, Err(e)) => panic!("official {version} schemas: {e}"),
        (Some((_, why)), Ok(_)) => panic!("the official {version} schemas load now; they were listed because {why}"),
        (Some(_), Err(_)) => None,
    }
}

/// What a version's schema requires that 2025-1 leaves optional: a sender speaking that version
/// must add it (the example gets it here, as the harness and the reference connector must).
fn obligations_of(version: ProtocolVersion, body: &mut Value) {
    if version == ProtocolVersion::V2025_1 {
        return;
    }

    let needs_callback = ["ContractAgreementMessage", "ContractOfferMessage"].iter().any(|t| body["@type"] == *t);
    if needs_callback && body.get("callbackAddress").is_none() {
        body["callbackAddress"] = Value::String("https://consumer.example/callback".to_string());
    }
    fn offers_name_their_assigner(value: &mut Value) {
        match value {
            Value::Object(map) => {
                if map.get("@type").and_then(Value::as_str) == Some("Offer") && !map.contains_key("assigner") {
                    map.insert("assigner".to_string(), Value::String("company-x".to_string()));
                }
                map.values_mut().for_each(offers_name_their_assigner);
            }
            Value::Array(items) => items.iter_mut().for_each(offers_name_their_assigner),
            _ => {}
        }
    }
    offers_name_their_assigner(body);
}

/// A body whose provider pid is its consumer pid, as in the processId form.
fn one_process_id(body: &Value) -> Value {
    let mut body = body.clone();
    if let Some(object) = body.as_object_mut() {
        if let Some(pid) = object.get("consumerPid").or(object.get("providerPid")).cloned() {
            for key in ["consumerPid", "providerPid"] {
                object.insert(key.to_string(), pid.clone());
            }
        }
    }
    body
}

/// Violations the official schemas report for sound messages, and why they are the schema's fault.
const UPSTREAM_SCHEMA_DEFECTS: &[(ProtocolVersion, &str, &str)] = &[
    (ProtocolVersion::V2024_1, "\"odrl:lteq\" is not one of", "the 2024-1 operator list has odrl:term-lteq where ODRL defines odrl:lteq"),
    (ProtocolVersion::V0_8, "\"odrl:lteq\" is not one of", "the 0.8 operator list lacks odrl:lteq, which ODRL defines"),
    (
        ProtocolVersion::V0_8,
        "no value is allowed here",
        "the 0.8 catalog schema sets additionalProperties false beside an allOf, which forbids every member of every catalog",
    ),
];

/// What the model cannot yet say in a version: (version, message type, the violation, why). Each
/// must still show, so that closing the gap removes its entry.
const KNOWN_GAPS: &[(ProtocolVersion, &str, &str, &str)] = &[(
    ProtocolVersion::V0_8,
    "ContractAgreementVerificationMessage",
    "dspace:hashedMessage",
    "0.8 verifies an agreement with a digest of the agreement message, which the model does not carry yet",
)];

#[test]
fn every_message_the_harness_writes_is_valid_in_every_older_version() {
    let Some(shared) = shared_dir("every_message_the_harness_writes_is_valid_in_every_older_version") else { return };
    let ours: Vec<Value> = examples_under(&Path::new(env!("CARGO_MANIFEST_DIR")).join(OUR_EXAMPLES))
        .iter()
        .filter_map(|p| read_json(p))
        .filter(|body| body.get("@type").is_some())
        .collect();
    assert!(ours.len() >= 18, "expected an example of every message, found {}", ours.len());
    let mut failures = Vec::new();
    let mut gaps_seen = Vec::new();
    for version in OLDER {
        let set = official_set(&shared, version);
        let codec = codec_for(version);
        for body in &ours {
            let mut body = body.clone();
            obligations_of(version, &mut body);
            let Ok(message) = codec_for(ProtocolVersion::V2025_1).decode(&body) else { continue };
            let written = codec.encode(&message);
            let key = message_type(&written).unwrap_or_default().to_string();
            let key = key.strip_prefix("dcat:").unwrap_or(&key).to_string();
            if let Some(set) = set.as_ref().filter(|set| set.knows(&key)) {
                let mut violations = set.validate(&key, &written);
                violations.retain(|v| !UPSTREAM_SCHEMA_DEFECTS.iter().any(|(v_, says, _)| *v_ == version && v.message.contains(says)));
                let before = violations.len();
                violations.retain(|v| !KNOWN_GAPS.iter().any(|(v_, k, says, _)| *v_ == version && *k == key && v.message.contains(says)));
                if before != violations.len() {
                    gaps_seen.push((version, key.clone()));
                }
                if !violations.is_empty() {
                    failures.push(format!("{version} {key}: {violations:#?}\n{written:#}"));
                }
            }
            // The processId form has one id for both sides: what reads back is the consumer's.
            let expected = if version == ProtocolVersion::V0_8ProcessId { one_process_id(&body) } else { body.clone() };
            let expected = codec_for(ProtocolVersion::V2025_1).decode(&expected).unwrap();
            match codec.decode(&written) {
                Ok(read) if read == expected => {}
                other => failures.push(format!("{version} {key}: does not read back: {other:?}")),
            }
        }
    }
    for (version, key, _, why) in KNOWN_GAPS {
        if !gaps_seen.iter().any(|(v, k)| v == version && k == key) {
            failures.push(format!("{version} {key} is valid now: remove its KNOWN_GAPS entry ({why})"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_official_example_of_an_older_version_reads_into_the_model() {
    let Some(shared) = shared_dir("every_official_example_of_an_older_version_reads_into_the_model") else { return };
    let current = SchemaSet::embedded_2025_1();
    let mut failures = Vec::new();
    let mut read = 0;
    for version in OLDER {
        for path in examples_under(&shared.join(version.as_str())) {
            let body = read_json(&path);
            let outcome = body.as_ref().map(|b| codec_for(version).decode(b));
            let shown = path.strip_prefix(&shared).unwrap().display().to_string();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if FRAGMENTS.contains(&name.as_str()) {
                continue;
            }
            let older_only = OLDER_ONLY.iter().any(|(v, n, _)| *v == version.as_str() && *n == name);
            match (defect(version, &path), outcome) {
                (Some(_), None | Some(Err(_))) => {}
                (Some(why), Some(Ok(message))) => {
                    let again = codec_for(ProtocolVersion::V2025_1).encode(&message);
                    let key = message_type(&again).unwrap_or_default().to_string();
                    if current.validate(&key, &again).is_empty() {
                        failures.push(format!("{shown} reads as a sound message now; it was listed because {why}"));
                    }
                }
                (None, None) => failures.push(format!("{shown} is not JSON")),
                (None, Some(Err(e))) if body.as_ref().and_then(|b| b.get("@type")).is_some() => {
                    failures.push(format!("{shown}: {e}"))
                }
                (None, Some(Err(_))) => {} // documents without @type (distributions, version documents)
                (None, Some(Ok(message))) => {
                    read += 1;
                    let again = codec_for(ProtocolVersion::V2025_1).encode(&message);
                    let key = message_type(&again).unwrap_or_default().to_string();
                    if current.knows(&key) && !older_only {
                        let violations = current.validate(&key, &again);
                        if !violations.is_empty() {
                            failures.push(format!("{shown} as 2025-1: {violations:#?}\n{again:#}"));
                        }
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(read >= 40, "only {read} official examples read");
}
