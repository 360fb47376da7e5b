//! A compiled set of JSON Schemas for one protocol version, and validation against it.
//!
//! Validators are compiled once, when the set is built; a [`SchemaSet`] is an `Arc` inside, so
//! cloning it to share between tasks costs a reference count. Validation does no I/O and never
//! fetches anything: remote references are refused when the set is built.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use jsonschema::{Registry, Retrieve, Uri, Validator};
use serde_json::Value;

use super::catalogue::{is_typed_key, EMBEDDED, EMBEDDED_VERSIONS};
use super::error::SchemaError;
use super::link::{link, LinkedFile};
use super::source::{parse_files, read_dir, SchemaFile};
use super::violation::{from_error, quote, violation};
use crate::report::model::Violation;

/// The `source` of the embedded sets, as the report's `run.schemas` field expects it.
const EMBEDDED_SOURCE: &str = "embedded";

/// The `schema` of violations found before any schema could be chosen (no or unknown `@type`).
pub const UNKNOWN_SCHEMA: &str = "unknown";

/// JSON Schemas of one protocol version, compiled and ready to validate message bodies.
///
/// Violations it returns have an empty `part`: whether a body was a request or a response is
/// known only to the caller, which sets `part` (`request` or `response`) before recording them.
#[derive(Clone)]
pub struct SchemaSet {
    inner: Arc<Inner>,
}

struct Inner {
    source: String,
    schemas: BTreeMap<&'static str, Validator>,
}

impl std::fmt::Debug for SchemaSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchemaSet")
            .field("source", &self.inner.source)
            .field("keys", &self.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl SchemaSet {
    /// Our DSP 2025-1 schemas, compiled into the binary from `fixtures/schemas/2025-1/`.
    ///
    /// They are compiled on first use and shared afterwards. The embedded files are checked by
    /// this module's tests, so a failure to compile them is a defect of the build, not of any
    /// input, and panics.
    pub fn embedded_2025_1() -> SchemaSet {
        SchemaSet::embedded("2025-1").expect("2025-1 is embedded")
    }

    /// Our schemas of a DSP version, compiled into the binary from `fixtures/schemas/<version>/`;
    /// `version` is a name of `ProtocolVersion::as_str` (`0.8-processid`, `0.8`, `2024-1`,
    /// `2025-1`). `None` for any other name.
    ///
    /// Each version's set is compiled on first use and shared afterwards. The embedded files are
    /// checked by this module's tests, so a failure to compile them is a defect of the build, not
    /// of any input, and panics.
    pub fn embedded(version: &str) -> Option<SchemaSet> {
        static SETS: [OnceLock<SchemaSet>; EMBEDDED.len()] = [const { OnceLock::new() }; EMBEDDED.len()];
        let index = EMBEDDED.iter().position(|(name, _)| *name == version)?;
        let (name, files) = EMBEDDED[index];
        let set = SETS[index].get_or_init(|| {
            parse_files(files.iter().copied())
                .and_then(|files| SchemaSet::compile(EMBEDDED_SOURCE.to_owned(), files))
                .unwrap_or_else(|error| panic!("the embedded DSP {name} schemas do not compile: {error}"))
        });
        Some(set.clone())
    }

    /// The versions [`SchemaSet::embedded`] has a set for, oldest first.
    pub fn embedded_versions() -> &'static [&'static str] {
        EMBEDDED_VERSIONS
    }

    /// Loads and compiles every schema file under `dir`.
    ///
    /// `dir` may be laid out like the official schema folders (`catalog/`, `negotiation/`,
    /// `transfer/`, `common/` holding `*-schema.json`, with examples beside them) or like ours
    /// (a flat folder of `*.schema.json`). Every schema file is registered so that cross-file
    /// `$ref`s resolve offline; files named after a message (`contract-request-message-schema.json`)
    /// become the schema of that message. Known upstream defects are corrected on load (see the
    /// `link` module). A reference to a schema outside the directory is an error: nothing is
    /// ever fetched.
    pub fn from_dir(dir: &Path) -> Result<SchemaSet, SchemaError> {
        let files = read_dir(dir)?;
        SchemaSet::compile(dir.display().to_string(), files)
    }

    fn compile(source: String, files: Vec<SchemaFile>) -> Result<SchemaSet, SchemaError> {
        let files = link(files)?;
        if files.iter().all(|file| file.key.is_none()) {
            return Err(SchemaError::Empty { source_name: source });
        }
        let link_error = |error: jsonschema::ReferencingError| SchemaError::Link { source_name: source.clone(), message: error.to_string() };
        let registry = Registry::new()
            .retriever(Offline)
            .extend(files.iter().map(|file| (file.uri.as_str(), &file.contents)))
            .and_then(|builder| builder.prepare())
            .map_err(link_error)?;

        let mut schemas = BTreeMap::new();
        for file in &files {
            if let Some(key) = file.key {
                schemas.insert(key, compile_one(&registry, file, key)?);
            }
        }
        Ok(SchemaSet { inner: Arc::new(Inner { source, schemas }) })
    }

    /// Where the schemas came from: `embedded`, or the directory given to [`SchemaSet::from_dir`].
    pub fn source(&self) -> &str {
        &self.inner.source
    }

    /// Whether the set has a schema for `schema_key` (a message `@type` such as
    /// `ContractRequestMessage`, or `VersionResponse`).
    pub fn knows(&self, schema_key: &str) -> bool {
        self.inner.schemas.contains_key(schema_key)
    }

    /// The schema keys of the set, in alphabetical order.
    pub fn keys(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.inner.schemas.keys().copied()
    }

    /// Validates `body` against the schema named `schema_key`.
    ///
    /// Returns no violations when the body is valid. An unknown `schema_key` yields one violation
    /// saying so, since the caller asked for a check that could not be made.
    pub fn validate(&self, schema_key: &str, body: &Value) -> Vec<Violation> {
        let Some(validator) = self.inner.schemas.get(schema_key) else {
            return vec![violation(
                schema_key,
                "",
                format!("no schema named {schema_key} in the schema set {}", self.inner.source),
            )];
        };
        // Most bodies are valid, and the yes/no check stops at the first failure without
        // building error values, so it runs first.
        if validator.is_valid(body) {
            return Vec::new();
        }
        let mut violations: Vec<Violation> = Vec::new();
        for error in validator.iter_errors(body) {
            let found = from_error(schema_key, &error);
            // The same failure can be reached through two `allOf` branches; report it once.
            if !violations.contains(&found) {
                violations.push(found);
            }
        }
        violations
    }

    /// Validates a DSP message against the schema its `@type` names.
    ///
    /// A body that is not an object, has no `@type`, or names a type DSP does not define is the
    /// sender's fault and yields a violation. An error means the set lacks the schema of a type
    /// DSP does define (a partial directory given to [`SchemaSet::from_dir`]). The version
    /// document has no `@type`: check it with `validate("VersionResponse", body)`.
    pub fn validate_message(&self, body: &Value) -> Result<Vec<Violation>, SchemaError> {
        let Some(object) = body.as_object() else {
            return Ok(vec![violation(UNKNOWN_SCHEMA, "", "expected a JSON object (a DSP message)")]);
        };
        let key = match object.get("@type") {
            None => return Ok(vec![violation(UNKNOWN_SCHEMA, "", "missing required property \"@type\"")]),
            Some(Value::String(_)) => message_type(body).unwrap_or_default(),
            Some(other) => {
                return Ok(vec![violation(
                    UNKNOWN_SCHEMA,
                    "/@type",
                    format!("expected a string naming the message type, found {}", quote(other)),
                )]);
            }
        };
        if !is_typed_key(key) {
            return Ok(vec![violation(
                UNKNOWN_SCHEMA,
                "/@type",
                format!("unknown message type {}", quote(&object["@type"])),
            )]);
        }
        if !self.knows(key) {
            return Err(SchemaError::MissingSchema { key: key.to_owned(), source_name: self.inner.source.clone() });
        }
        Ok(self.validate(key, body))
    }
}

/// The message type a body declares in `@type`, without a `dspace:` prefix (0.8 and 2024-1
/// prefix their types; 2025-1 does not). `None` when `@type` is absent or not a string.
pub fn message_type(body: &Value) -> Option<&str> {
    let declared = body.get("@type")?.as_str()?;
    Some(declared.strip_prefix("dspace:").unwrap_or(declared))
}

fn compile_one(registry: &Registry, file: &LinkedFile, key: &'static str) -> Result<Validator, SchemaError> {
    jsonschema::options()
        .with_registry(registry)
        .with_retriever(Offline)
        .with_base_uri(file.uri.clone())
        .build(&file.contents)
        .map_err(|error| SchemaError::Compile {
            key: key.to_owned(),
            file: file.name.clone(),
            message: error.to_string(),
        })
}

/// A retriever that refuses everything, so that no reference can reach the network even if some
/// crate in the build enables the validator's HTTP feature.
struct Offline;

impl Retrieve for Offline {
    fn retrieve(&self, uri: &Uri<String>) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        Err(format!("{uri} is not a file of the schema set, and remote schemas are never fetched").into())
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use serde_json::json;

    use super::super::catalogue::KNOWN_SCHEMAS;
    use super::*;

    fn transfer_process() -> Value {
        json!({
            "@context": ["https://w3id.org/dspace/2025/1/context.jsonld"],
            "@type": "TransferProcess",
            "providerPid": "urn:uuid:a343fcbf-99fc-4ce8-8e9b-148c97605aab",
            "consumerPid": "urn:uuid:32541fe6-c580-409e-85a8-8a9a32fbe833",
            "state": "STARTED"
        })
    }

    fn write(dir: &Path, name: &str, contents: &str) {
        std::fs::write(dir.join(name), contents).unwrap();
    }

    #[test]
    fn the_set_is_shareable_between_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<SchemaSet>();
    }

    #[test]
    fn embedded_set_knows_every_schema_key() {
        let set = SchemaSet::embedded_2025_1();
        for known in KNOWN_SCHEMAS {
            assert!(set.knows(known.key), "{}", known.key);
        }
        assert_eq!(set.keys().count(), KNOWN_SCHEMAS.len());
        assert_eq!(set.source(), "embedded");
        assert!(!set.knows("ContractNegotiationEvent"));
    }

    #[test]
    fn embedded_set_is_compiled_once() {
        let first = SchemaSet::embedded_2025_1();
        let second = SchemaSet::embedded_2025_1();
        assert!(Arc::ptr_eq(&first.inner, &second.inner));
    }

    #[test]
    fn every_embedded_version_compiles_once_and_others_are_none() {
        for version in SchemaSet::embedded_versions() {
            let first = SchemaSet::embedded(version).unwrap_or_else(|| panic!("{version}"));
            let second = SchemaSet::embedded(version).unwrap();
            assert!(Arc::ptr_eq(&first.inner, &second.inner), "{version}");
            assert_eq!(first.source(), "embedded");
        }
        assert!(Arc::ptr_eq(&SchemaSet::embedded("2025-1").unwrap().inner, &SchemaSet::embedded_2025_1().inner));
        for other in ["", "0.9", "2025-01", "v2025-1"] {
            assert!(SchemaSet::embedded(other).is_none(), "{other}");
        }
    }

    #[test]
    fn message_type_tolerates_the_dspace_prefix() {
        assert_eq!(message_type(&json!({"@type": "TransferProcess"})), Some("TransferProcess"));
        assert_eq!(message_type(&json!({"@type": "dspace:TransferProcess"})), Some("TransferProcess"));
        assert_eq!(message_type(&json!({"@type": ["TransferProcess"]})), None);
        assert_eq!(message_type(&json!({"type": "TransferProcess"})), None);
        assert_eq!(message_type(&json!("TransferProcess")), None);
    }

    #[test]
    fn validate_message_finds_the_schema_by_type() {
        let set = SchemaSet::embedded_2025_1();
        assert_eq!(set.validate_message(&transfer_process()).unwrap(), Vec::<Violation>::new());

        let mut bad = transfer_process();
        bad["state"] = json!("RUNNING");
        let violations = set.validate_message(&bad).unwrap();
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert_eq!(violations[0].schema, "TransferProcess");
        assert_eq!(violations[0].instance_path, "/state");
        assert_eq!(violations[0].part, "");
    }

    #[test]
    fn bodies_without_a_known_type_are_violations_not_errors() {
        let set = SchemaSet::embedded_2025_1();
        let cases = [
            (json!([1, 2]), ""),
            (json!({"providerPid": "p"}), ""),
            (json!({"@type": 42}), "/@type"),
            (json!({"@type": "TransferStatus"}), "/@type"),
        ];
        for (body, path) in cases {
            let violations = set.validate_message(&body).unwrap();
            assert_eq!(violations.len(), 1, "{body}: {violations:?}");
            assert_eq!(violations[0].instance_path, path, "{body}");
            assert_eq!(violations[0].schema, UNKNOWN_SCHEMA, "{body}");
        }
    }

    #[test]
    fn a_prefixed_type_is_checked_against_the_unprefixed_schema() {
        let mut body = transfer_process();
        body["@type"] = json!("dspace:TransferProcess");
        let violations = SchemaSet::embedded_2025_1().validate_message(&body).unwrap();
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert_eq!(violations[0].instance_path, "/@type");
        assert!(violations[0].message.contains("\"TransferProcess\""), "{}", violations[0].message);
    }

    #[test]
    fn validating_against_an_unknown_key_is_a_violation() {
        let violations = SchemaSet::embedded_2025_1().validate("NoSuchMessage", &json!({}));
        assert_eq!(violations.len(), 1);
        assert!(violations[0].message.contains("no schema named NoSuchMessage"), "{}", violations[0].message);
    }

    #[test]
    fn a_partial_directory_gives_an_error_for_the_missing_message() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "transfer-completion-message.schema.json", r#"{"type": "object"}"#);
        let set = SchemaSet::from_dir(dir.path()).unwrap();
        assert_eq!(set.keys().collect::<Vec<_>>(), ["TransferCompletionMessage"]);
        let error = set.validate_message(&transfer_process()).unwrap_err();
        assert!(matches!(&error, SchemaError::MissingSchema { key, .. } if key == "TransferProcess"), "{error}");
    }

    #[test]
    fn a_directory_with_a_broken_file_gives_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "transfer-process.schema.json", r#"{"type": "object"}"#);
        write(dir.path(), "transfer-start-message.schema.json", r#"{"type": "object", "properties": {"#);
        let error = SchemaSet::from_dir(dir.path()).unwrap_err();
        assert!(matches!(error, SchemaError::Parse { .. }), "{error:?}");
        let message = error.to_string();
        assert!(
            message.contains("transfer-start-message.schema.json") && message.contains("not valid JSON"),
            "{message}"
        );
    }

    #[test]
    fn a_directory_with_an_invalid_schema_gives_a_compile_error() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "transfer-process.schema.json",
            r#"{"type": "object", "properties": {"state": {"type": "text"}}}"#,
        );
        let error = SchemaSet::from_dir(dir.path()).unwrap_err();
        let message = error.to_string();
        assert!(matches!(error, SchemaError::Compile { .. }), "{message}");
        assert!(message.contains("TransferProcess") && message.contains("transfer-process.schema.json"), "{message}");
    }

    #[test]
    fn a_directory_without_message_schemas_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "contract-schema.json", r#"{"type": "object"}"#);
        let error = SchemaSet::from_dir(dir.path()).unwrap_err();
        assert!(matches!(error, SchemaError::Empty { .. }), "{error}");
    }

    /// Unknown remote references must fail fast with the URI in the message, never wait on the
    /// network. Relative ones are checked by the registry, absolute ones before it.
    #[test]
    fn unknown_remote_refs_fail_fast_and_clearly() {
        let cases = [
            r#"{"$id": "https://example.org/dsp/transfer-process.schema.json", "$ref": "missing.schema.json"}"#,
            r#"{"$ref": "https://example.org/dsp/missing.schema.json#/$defs/X"}"#,
        ];
        for schema in cases {
            let dir = tempfile::tempdir().unwrap();
            write(dir.path(), "transfer-process.schema.json", schema);
            let started = Instant::now();
            let error = SchemaSet::from_dir(dir.path()).unwrap_err();
            assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
            let message = error.to_string();
            assert!(message.contains("https://example.org/dsp/missing.schema.json"), "{message}");
            assert!(message.contains("never fetched"), "{message}");
        }
    }

    #[test]
    fn files_without_id_refer_to_each_other_by_relative_path() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("common")).unwrap();
        write(&dir.path().join("common"), "pids-schema.json", r#"{"$defs": {"Pid": {"type": "string"}}}"#);
        write(
            dir.path(),
            "transfer-process-schema.json",
            r#"{"properties": {"providerPid": {"$ref": "common/pids-schema.json#/$defs/Pid"}}}"#,
        );
        let set = SchemaSet::from_dir(dir.path()).unwrap();
        assert!(set.validate("TransferProcess", &json!({"providerPid": "p"})).is_empty());
        let violations = set.validate("TransferProcess", &json!({"providerPid": 1}));
        assert_eq!(violations.len(), 1);
        assert_eq!(violations[0].instance_path, "/providerPid");
    }
}
