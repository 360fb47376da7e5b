//! The schema layer against real messages: every official DSP 2025-1 example and every example of
//! ours validates against both our embedded schemas and the official ones, and for each message
//! type a broken variant is rejected by both, with a violation at the place that is broken.
//!
//! The official files live outside the repository, in `../shared/dsp-schemas/2025-1`. Without
//! them the checks that need them fail under CI (`CI=true`) and are skipped, saying so, elsewhere.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use dsp_harness::report::model::Violation;
use dsp_harness::schema::{message_type, SchemaSet};
use serde_json::{json, Value};

const OUR_EXAMPLES: &str = "fixtures/schemas/2025-1/examples";
const OFFICIAL_DIR: &str = "../shared/dsp-schemas/2025-1";

/// The official 2025-1 schema directory, or `None` (after saying why) when it is absent outside
/// CI. Under CI its absence fails the test: there the check must run.
fn official_dir(test: &str) -> Option<PathBuf> {
    crate::support::require_dir(test, OFFICIAL_DIR, "the official DSP 2025-1 schemas")
}

/// The official schemas of `dir` loaded with `from_dir`, compiled once for all tests.
fn official_set(dir: &Path) -> SchemaSet {
    static SET: OnceLock<SchemaSet> = OnceLock::new();
    SET.get_or_init(|| SchemaSet::from_dir(dir).expect("official 2025-1 schemas load")).clone()
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

/// Every `*.json` file of `dir`, sorted by name.
fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    files
}

/// The official examples: `*/example/*.json`.
fn official_examples(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for area in ["catalog", "common", "negotiation", "transfer"] {
        files.extend(json_files(&dir.join(area).join("example")));
    }
    assert!(files.len() >= 27, "expected the 27 official examples, found {}", files.len());
    files
}

fn our_examples() -> Vec<PathBuf> {
    json_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join(OUR_EXAMPLES))
}

/// The schema an example is an instance of: its `@type`, or for the documents without one, the
/// key their file name implies.
fn schema_key(path: &Path, body: &Value) -> String {
    if let Some(key) = message_type(body) {
        return key.to_owned();
    }
    let name = path.file_name().unwrap().to_string_lossy();
    if name.starts_with("protocol-version") {
        "VersionResponse".to_owned()
    } else if name.ends_with("did-service.json") {
        "DidService".to_owned()
    } else {
        panic!("{}: no @type and no known file name", path.display())
    }
}

/// Official examples the official schemas themselves reject, with the reason. Each must stay
/// rejected by the official set (so that an upstream fix is noticed) and accepted by ours.
const REJECTED_UPSTREAM: &[(&str, &str)] = &[(
    "dataservice-did-service.json",
    "the official DidService schema demands a serviceEndpoint ending in /catalog of every entry, \
     but a DataService entry points at /.well-known/dspace-version",
)];

/// Checks that `set` accepts every file except those named in `rejected`, which it must reject.
fn assert_valid(set: &SchemaSet, files: &[PathBuf], rejected: &[(&str, &str)]) {
    let mut failures = Vec::new();
    for path in files {
        let body = read_json(path);
        let key = schema_key(path, &body);
        assert!(set.knows(&key), "{}: set {} has no schema {key}", path.display(), set.source());
        let violations = set.validate(&key, &body);
        let file_name = path.file_name().unwrap().to_string_lossy();
        if let Some((_, why)) = rejected.iter().find(|(name, _)| *name == file_name) {
            if violations.is_empty() {
                failures.push(format!("{} ({key}) is now accepted; it was rejected because {why}", path.display()));
            }
            continue;
        }
        if !violations.is_empty() {
            failures.push(format!("{} ({key}): {violations:#?}", path.display()));
        }
        if body.get("@type").is_some() {
            assert_eq!(set.validate_message(&body).unwrap(), violations, "{}", path.display());
        }
    }
    assert!(failures.is_empty(), "examples rejected by {}:\n{}", set.source(), failures.join("\n"));
}

#[test]
fn official_examples_validate_against_our_embedded_schemas() {
    let Some(dir) = official_dir("official_examples_validate_against_our_embedded_schemas") else { return };
    assert_valid(&SchemaSet::embedded_2025_1(), &official_examples(&dir), &[]);
}

#[test]
fn official_examples_validate_against_the_official_schemas() {
    let Some(dir) = official_dir("official_examples_validate_against_the_official_schemas") else { return };
    let official = official_set(&dir);
    assert_valid(&official, &official_examples(&dir), REJECTED_UPSTREAM);
}

#[test]
fn our_examples_cover_every_message_and_validate_against_our_schemas() {
    let ours = SchemaSet::embedded_2025_1();
    let files = our_examples();
    let mut covered: Vec<String> = files.iter().map(|path| schema_key(path, &read_json(path))).collect();
    covered.sort();
    covered.dedup();
    let mut expected: Vec<&str> = ours.keys().filter(|key| *key != "DidService").collect();
    expected.sort_unstable();
    assert_eq!(covered, expected);
    assert_valid(&ours, &files, &[]);
}

#[test]
fn our_examples_validate_against_the_official_schemas() {
    let Some(dir) = official_dir("our_examples_validate_against_the_official_schemas") else { return };
    let official = official_set(&dir);
    assert_valid(&official, &our_examples(), &[]);
}

#[test]
fn official_and_embedded_sets_have_the_same_keys() {
    let Some(dir) = official_dir("official_and_embedded_sets_have_the_same_keys") else { return };
    let official = official_set(&dir);
    let ours = SchemaSet::embedded_2025_1();
    assert_eq!(official.keys().collect::<Vec<_>>(), ours.keys().collect::<Vec<_>>());
}

/// How to break a valid example.
enum Edit {
    Remove(&'static str),
    Set(&'static str, Value),
}

struct Broken {
    /// File of ours to start from; also names the schema through its `@type`.
    example: &'static str,
    edit: Edit,
    /// Where the violation must point, and a word its message must contain.
    at: &'static str,
    says: &'static str,
}

fn broken(example: &'static str, edit: Edit, at: &'static str, says: &'static str) -> Broken {
    Broken { example, edit, at, says }
}

fn apply(body: &mut Value, edit: &Edit) {
    let (pointer, value) = match edit {
        Edit::Remove(pointer) => (*pointer, None),
        Edit::Set(pointer, value) => (*pointer, Some(value.clone())),
    };
    let (parent, last) = pointer.rsplit_once('/').expect("pointer has a parent");
    let parent = body.pointer_mut(parent).unwrap_or_else(|| panic!("no {parent}"));
    match (parent, value) {
        (Value::Object(map), None) => {
            map.remove(last).unwrap_or_else(|| panic!("nothing to remove at {pointer}"));
        }
        (Value::Object(map), Some(value)) => {
            map.insert(last.to_owned(), value);
        }
        (Value::Array(items), Some(value)) => items[last.parse::<usize>().unwrap()] = value,
        (_, None) => panic!("can only remove object members ({pointer})"),
        _ => panic!("no object or array at the parent of {pointer}"),
    }
}

fn broken_variants() -> Vec<Broken> {
    use Edit::{Remove, Set};
    vec![
        broken("catalog.json", Remove("/participantId"), "", "participantId"),
        broken("catalog.json", Set("/@type", json!("DataCatalog")), "/@type", "Catalog"),
        broken(
            "catalog.json",
            Set("/dataset/0/distribution/0/format", json!(7)),
            "/dataset/0/distribution/0/format",
            "string",
        ),
        broken("catalog.json", Set("/hasPolicy", json!([])), "", "hasPolicy"),
        broken("dataset.json", Remove("/hasPolicy"), "", "hasPolicy"),
        broken("dataset.json", Set("/hasPolicy/0/target", json!("urn:uuid:6a1b3c2d")), "/hasPolicy/0", "target"),
        broken("dataset.json", Set("/distribution", json!([])), "/distribution", "at least 1"),
        broken("catalog-request-message.json", Set("/filter", json!("carbon")), "/filter", "array"),
        broken(
            "catalog-request-message.json",
            Set("/@type", json!("CatalogRequest")),
            "/@type",
            "CatalogRequestMessage",
        ),
        broken("dataset-request-message.json", Remove("/dataset"), "", "dataset"),
        broken(
            "dataset-request-message.json",
            Set("/dataset", json!({"@id": "urn:uuid:6a1b3c2d"})),
            "/dataset",
            "string",
        ),
        broken("catalog-error.json", Set("/@type", json!("CatalogFailure")), "/@type", "CatalogError"),
        broken("catalog-error.json", Remove("/@context"), "", "@context"),
        broken("contract-request-message.json", Remove("/consumerPid"), "", "consumerPid"),
        broken(
            "contract-request-message.json",
            Set("/offer/permission/0/action", json!(1)),
            "/offer/permission/0/action",
            "string",
        ),
        broken("contract-request-message.json", Set("/providerPid", json!("urn:uuid:8e4d2c1b")), "", "oneOf"),
        broken("contract-request-message.json", Remove("/offer/@id"), "/offer", "@id"),
        broken(
            "contract-request-message.json",
            Set("/offer/permission/0/constraint/0/operator", json!("equals")),
            "/offer/permission/0/constraint/0",
            "oneOf",
        ),
        broken("contract-offer-message.json", Remove("/offer/target"), "/offer", "target"),
        broken(
            "contract-offer-message.json",
            Set("/@type", json!("ContractRequestMessage")),
            "/@type",
            "ContractOfferMessage",
        ),
        broken("contract-agreement-message.json", Remove("/agreement/assignee"), "/agreement", "assignee"),
        broken(
            "contract-agreement-message.json",
            Set("/agreement/timestamp", json!("14 March 2025")),
            "/agreement/timestamp",
            "pattern",
        ),
        broken(
            "contract-agreement-message.json",
            Set("/agreement/@type", json!("Offer")),
            "/agreement/@type",
            "Agreement",
        ),
        broken("contract-agreement-verification-message.json", Remove("/providerPid"), "", "providerPid"),
        broken(
            "contract-negotiation-event-message.json",
            Set("/eventType", json!("VERIFIED")),
            "/eventType",
            "ACCEPTED",
        ),
        broken("contract-negotiation-termination-message.json", Set("/reason", json!([])), "/reason", "at least 1"),
        broken("contract-negotiation.json", Set("/state", json!("DONE")), "/state", "FINALIZED"),
        broken(
            "contract-negotiation.json",
            Set("/@context", json!(["https://w3id.org/dspace/2024/1/context.json"])),
            "/@context",
            "contains",
        ),
        broken("contract-negotiation-error.json", Set("/consumerPid", json!(42)), "/consumerPid", "string"),
        broken("transfer-request-message.json", Remove("/callbackAddress"), "", "callbackAddress"),
        broken(
            "transfer-request-message.json",
            Set("/dataAddress", json!({"endpoint": "https://consumer.mvds.example/inbox"})),
            "/dataAddress",
            "endpointType",
        ),
        broken(
            "transfer-start-message.json",
            Set("/dataAddress/endpointProperties/0/value", json!(1)),
            "/dataAddress/endpointProperties/0/value",
            "string",
        ),
        broken(
            "transfer-start-message.json",
            Set("/dataAddress/@type", json!("Endpoint")),
            "/dataAddress/@type",
            "DataAddress",
        ),
        broken(
            "transfer-suspension-message.json",
            Set("/@type", json!("TransferSuspendMessage")),
            "/@type",
            "TransferSuspensionMessage",
        ),
        broken("transfer-completion-message.json", Remove("/consumerPid"), "", "consumerPid"),
        broken("transfer-termination-message.json", Set("/providerPid", Value::Null), "/providerPid", "null"),
        broken("transfer-process.json", Set("/state", json!("RUNNING")), "/state", "STARTED"),
        broken("transfer-error.json", Remove("/@context"), "", "@context"),
        broken(
            "protocol-version.json",
            Set("/protocolVersions/0/binding", json!("HTTP")),
            "/protocolVersions/0/binding",
            "HTTPS",
        ),
        broken("protocol-version.json", Remove("/protocolVersions/0/path"), "/protocolVersions/0", "path"),
        broken("protocol-version.json", Set("/protocolVersions", json!([])), "/protocolVersions", "at least 1"),
    ]
}

/// Checks that `set` accepts every example as it is and rejects each broken variant with a
/// violation at the expected place.
fn check_rejections(set: &SchemaSet) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(OUR_EXAMPLES);
    let mut failures = Vec::new();
    for case in broken_variants() {
        let path = dir.join(case.example);
        let mut body = read_json(&path);
        let key = schema_key(&path, &body);
        assert_eq!(
            set.validate(&key, &body),
            Vec::<Violation>::new(),
            "{}: the unbroken example must be valid",
            case.example
        );
        apply(&mut body, &case.edit);
        let violations = set.validate(&key, &body);
        let hit =
            violations.iter().any(|v| v.instance_path == case.at && v.message.contains(case.says) && v.schema == key);
        if !hit {
            failures.push(format!(
                "{} {key}: expected a violation at {:?} saying {:?}, got {violations:#?}",
                case.example, case.at, case.says
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} broken variants not rejected as expected by {}:\n{}",
        failures.len(),
        set.source(),
        failures.join("\n")
    );
}

#[test]
fn broken_messages_are_rejected_by_our_schemas_at_the_broken_place() {
    check_rejections(&SchemaSet::embedded_2025_1());
}

#[test]
fn broken_messages_are_rejected_by_the_official_schemas_at_the_broken_place() {
    let Some(dir) = official_dir("broken_messages_are_rejected_by_the_official_schemas_at_the_broken_place") else {
        return;
    };
    check_rejections(&official_set(&dir));
}

#[test]
fn every_message_type_has_a_broken_variant() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(OUR_EXAMPLES);
    let mut covered: Vec<String> = broken_variants()
        .iter()
        .map(|case| schema_key(&dir.join(case.example), &read_json(&dir.join(case.example))))
        .collect();
    covered.sort();
    covered.dedup();
    let mut expected: Vec<&str> = SchemaSet::embedded_2025_1().keys().filter(|key| *key != "DidService").collect();
    expected.sort_unstable();
    assert_eq!(covered, expected);
}

/// Validation through `validate_message` picks the schema by `@type`; a message that claims to
/// be another type is checked as that type.
#[test]
fn validate_message_checks_a_body_as_the_type_it_claims() {
    let set = SchemaSet::embedded_2025_1();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(OUR_EXAMPLES);
    let mut body = read_json(&dir.join("transfer-process.json"));
    body["@type"] = json!("TransferStartMessage");
    assert!(
        set.validate_message(&body).unwrap().is_empty(),
        "a TransferProcess body is a valid TransferStartMessage shape"
    );
    body["@type"] = json!("ContractNegotiation");
    let violations = set.validate_message(&body).unwrap();
    assert!(
        violations.iter().any(|v| v.instance_path == "/state" && v.schema == "ContractNegotiation"),
        "{violations:#?}"
    );
}

/// Every variant of `body` made by removing one object member or replacing one value with a
/// value of another type.
fn variants(body: &Value) -> Vec<(String, Value)> {
    fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (name, child) in map {
                    let child_at = format!("{at}/{}", name.replace('~', "~0").replace('/', "~1"));
                    out.push(child_at.clone());
                    pointers(child, child_at, out);
                }
            }
            Value::Array(items) => {
                for (index, child) in items.iter().enumerate() {
                    let child_at = format!("{at}/{index}");
                    out.push(child_at.clone());
                    pointers(child, child_at, out);
                }
            }
            _ => {}
        }
    }
    let mut all = Vec::new();
    pointers(body, String::new(), &mut all);
    let replacements = [json!(42), json!("urn:uuid:0"), json!([]), json!({}), Value::Null];
    let mut out = Vec::new();
    for pointer in all {
        let (parent, last) = pointer.rsplit_once('/').unwrap();
        if body.pointer(parent).is_some_and(Value::is_object) {
            let mut removed = body.clone();
            removed
                .pointer_mut(parent)
                .unwrap()
                .as_object_mut()
                .unwrap()
                .remove(&last.replace("~1", "/").replace("~0", "~"));
            out.push((format!("remove {pointer}"), removed));
        }
        for replacement in &replacements {
            let mut replaced = body.clone();
            *replaced.pointer_mut(&pointer).unwrap() = replacement.clone();
            out.push((format!("set {pointer} to {replacement}"), replaced));
        }
    }
    out
}

/// Our schemas are meant to be exactly as strict as the official ones. Every single-point
/// mutation of every example must therefore be accepted by both sets or rejected by both.
#[test]
fn our_schemas_accept_and_reject_the_same_variants_as_the_official_ones() {
    let Some(dir) = official_dir("our_schemas_accept_and_reject_the_same_variants_as_the_official_ones") else {
        return;
    };
    let official = official_set(&dir);
    let ours = SchemaSet::embedded_2025_1();
    let mut files = official_examples(&dir);
    files.extend(our_examples());
    let mut disagreements = Vec::new();
    let mut checked = 0;
    for path in files {
        let body = read_json(&path);
        let key = schema_key(&path, &body);
        // DidService is deliberately looser than upstream (see REJECTED_UPSTREAM).
        if key == "DidService" {
            continue;
        }
        for (change, variant) in variants(&body) {
            checked += 1;
            let ours_ok = ours.validate(&key, &variant).is_empty();
            let official_ok = official.validate(&key, &variant).is_empty();
            if ours_ok != official_ok {
                disagreements.push(format!(
                    "{} ({key}), {change}: ours {}, official {}",
                    path.file_name().unwrap().to_string_lossy(),
                    if ours_ok { "accepts" } else { "rejects" },
                    if official_ok { "accepts" } else { "rejects" }
                ));
            }
        }
    }
    assert!(checked > 1000, "only {checked} variants checked");
    assert!(
        disagreements.is_empty(),
        "{} of {checked} variants judged differently:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
}

/// The 2024-1 schema folder (nested `*/message/schema/` layout, `version-schema.json`) loads with
/// the same loader, so its set can be added without touching it. Its types carry a `dspace:`
/// prefix, which `validate_message` looks through. (0.8 loads too, with the corrections of the
/// `link` module; `tests/it/versions.rs` validates the harness's 0.8 and 2024-1 messages.)
#[test]
fn the_official_2024_1_directory_loads_too() {
    let Some(dir) = official_dir("the_official_2024_1_directory_loads_too") else { return };
    let set = SchemaSet::from_dir(&dir.join("../2024-1")).unwrap_or_else(|e| panic!("2024-1: {e}"));
    for key in [
        "CatalogRequestMessage",
        "ContractRequestMessage",
        "TransferRequestMessage",
        "TransferProcess",
        "VersionResponse",
    ] {
        assert!(set.knows(key), "2024-1 lacks {key}");
    }
    let mut body = json!({
        "@context": "https://w3id.org/dspace/2024/1/context.json",
        "@type": "dspace:TransferCompletionMessage",
        "dspace:providerPid": "urn:uuid:9f8e7d6c-5b4a-4c3d-8e2f-1a0b9c8d7e6f",
        "dspace:consumerPid": "urn:uuid:1c9e7f5d-2b4a-4e8c-9d6f-3a5b7c9e1f20"
    });
    assert_eq!(set.validate_message(&body).unwrap(), Vec::<Violation>::new());
    body.as_object_mut().unwrap().remove("dspace:consumerPid");
    let violations = set.validate_message(&body).unwrap();
    assert!(
        violations.iter().any(|v| v.schema == "TransferCompletionMessage"
            && v.instance_path.is_empty()
            && v.message.contains("dspace:consumerPid")),
        "{violations:#?}"
    );
}
