//! Gives every schema file a URI and makes its `$ref`s resolvable offline.
//!
//! Each file is registered under its `$id` (or, lacking one, under a URI made from its path), so
//! cross-file `$ref`s resolve among the files of the set and never leave the machine. Four upstream
//! defects are corrected here, in the loaded copy only (the files on disk are never touched):
//!
//! - 2025-1 writes some references as `...transfer-schema.json#definitions/X`. Without the
//!   leading `/` the fragment is read as an anchor name, which cannot contain `/`, so the
//!   reference fails; it is read as the JSON Pointer `#/definitions/X` that was meant.
//! - 0.8 refers to `https://w3id.org/dspace/schemas/v0.8/contract-schema.json` (and to a copy on
//!   a GitHub branch), URIs no file declares as its `$id`. An absolute reference that no file
//!   declares is pointed at the one file of the set with the same file name, if there is one.
//! - 0.8's catalog schema refers to `#/definitions/Dataset`, which it lacks and the dataset
//!   schema declares. A local reference to a definition the file lacks is pointed at the one
//!   file of the set that declares it, if there is one.
//! - 0.8's transfer process schema names a required property twice; repeated names are dropped.
//!
//! Any other absolute reference to a URI outside the set is an error naming the file, because
//! remote schemas are never fetched.

use std::collections::BTreeMap;

use serde_json::Value;

use super::catalogue::key_for_file_name;
use super::error::SchemaError;
use super::source::SchemaFile;

/// The host of URIs given to files without `$id`. `.invalid` can never resolve (RFC 2606).
const LOCAL_BASE: &str = "https://local.dsp-harness.invalid/";

/// A schema file ready to be registered and, when it describes a message, compiled.
#[derive(Debug)]
pub(crate) struct LinkedFile {
    pub(crate) name: String,
    pub(crate) uri: String,
    pub(crate) contents: Value,
    /// The schema key this file describes, if it describes one.
    pub(crate) key: Option<&'static str>,
}

pub(crate) fn link(files: Vec<SchemaFile>) -> Result<Vec<LinkedFile>, SchemaError> {
    let mut by_uri: BTreeMap<String, String> = BTreeMap::new();
    let mut by_key: BTreeMap<&'static str, String> = BTreeMap::new();
    let mut linked = Vec::with_capacity(files.len());
    for file in files {
        let uri = match file.contents.get("$id").and_then(Value::as_str) {
            Some(id) => id.trim_end_matches('#').to_owned(),
            None => format!("{LOCAL_BASE}{}", percent_encode_path(&file.name)),
        };
        if let Some(first) = by_uri.insert(uri.clone(), file.name.clone()) {
            return Err(SchemaError::DuplicateId { id: uri, first, second: file.name });
        }
        let key = key_for_file_name(file.file_name());
        if let Some(key) = key {
            if let Some(first) = by_key.insert(key, file.name.clone()) {
                return Err(SchemaError::DuplicateKey { key: key.to_owned(), first, second: file.name });
            }
        }
        linked.push(LinkedFile { name: file.name, uri, contents: file.contents, key });
    }

    // URIs by file name, for references to URIs that no file declares (the 0.8 defect).
    let mut by_file_name: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for file in &linked {
        let file_name = file.name.rsplit('/').next().unwrap_or(&file.name).to_owned();
        by_file_name.entry(file_name).or_default().push(file.uri.clone());
    }

    // Files by the definitions they hold, for local references to a definition the file lacks
    // (the other 0.8 defect).
    let mut by_definition: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for file in &linked {
        if let Some(Value::Object(definitions)) = file.contents.get("definitions") {
            for name in definitions.keys() {
                by_definition.entry(name.clone()).or_default().push(file.uri.clone());
            }
        }
    }

    for file in &mut linked {
        let mut unresolved = None;
        let own: Vec<String> = match file.contents.get("definitions") {
            Some(Value::Object(definitions)) => definitions.keys().cloned().collect(),
            _ => Vec::new(),
        };
        rewrite_refs(&mut file.contents, &mut |reference| {
            let fixed = fix_pointer_fragment(reference);
            let (target, fragment) = split_fragment(&fixed);
            if let (true, Some(name)) = (target.is_empty(), fragment.and_then(|f| f.strip_prefix("/definitions/"))) {
                let name = name.split('/').next().unwrap_or(name);
                if !own.iter().any(|d| d == name) {
                    if let Some([only]) = by_definition.get(name).map(Vec::as_slice) {
                        return format!("{only}#{}", fragment.unwrap_or_default());
                    }
                }
                return fixed;
            }
            if !is_absolute(target) || target.is_empty() || by_uri.contains_key(target) || is_meta_schema(target) {
                return fixed;
            }
            let last_segment = target.rsplit('/').next().unwrap_or(target);
            match by_file_name.get(last_segment).map(Vec::as_slice) {
                Some([only]) => match fragment {
                    Some(fragment) => format!("{only}#{fragment}"),
                    None => only.clone(),
                },
                _ => {
                    unresolved.get_or_insert_with(|| reference.to_owned());
                    fixed
                }
            }
        });
        if let Some(reference) = unresolved {
            return Err(SchemaError::UnresolvedRef { file: file.name.clone(), reference });
        }
        dedupe_required(&mut file.contents);
    }
    Ok(linked)
}

/// Removes repeated names from every `required` list (0.8's transfer process names
/// `dspace:consumerPid` twice, which a validator refuses to compile); the meaning is the same.
fn dedupe_required(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (name, child) in map.iter_mut() {
                match child {
                    Value::Array(items) if name == "required" => {
                        let mut seen = Vec::new();
                        items.retain(|item| if seen.contains(item) { false } else { seen.push(item.clone()); true });
                    }
                    _ => dedupe_required(child),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(dedupe_required),
        _ => {}
    }
}

/// Calls `rewrite` on every `$ref` string in `value` and stores what it returns.
fn rewrite_refs(value: &mut Value, rewrite: &mut impl FnMut(&str) -> String) {
    match value {
        Value::Object(map) => {
            for (name, child) in map.iter_mut() {
                match child {
                    Value::String(reference) if name == "$ref" => *reference = rewrite(reference),
                    _ => rewrite_refs(child, rewrite),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| rewrite_refs(item, rewrite)),
        _ => {}
    }
}

/// `x#definitions/Y` becomes `x#/definitions/Y`; every other reference is returned unchanged.
/// An anchor name cannot contain `/`, so a fragment with `/` that does not start with one can
/// only be a JSON Pointer missing its leading slash.
fn fix_pointer_fragment(reference: &str) -> String {
    match split_fragment(reference) {
        (target, Some(fragment)) if !fragment.starts_with('/') && fragment.contains('/') => {
            format!("{target}#/{fragment}")
        }
        _ => reference.to_owned(),
    }
}

fn split_fragment(reference: &str) -> (&str, Option<&str>) {
    match reference.split_once('#') {
        Some((target, fragment)) => (target, Some(fragment)),
        None => (reference, None),
    }
}

/// Whether a URI reference starts with a scheme (RFC 3986: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":").
fn is_absolute(reference: &str) -> bool {
    let Some((scheme, _)) = reference.split_once(':') else { return false };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// The JSON Schema meta-schemas ship inside the validator and need no file.
fn is_meta_schema(uri: &str) -> bool {
    uri.starts_with("https://json-schema.org/") || uri.starts_with("http://json-schema.org/")
}

fn percent_encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for byte in path.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn file(name: &str, contents: Value) -> SchemaFile {
        SchemaFile { name: name.to_owned(), contents }
    }

    #[test]
    fn pointer_fragments_without_slash_are_fixed() {
        let cases = [
            ("https://x/t.json#definitions/A", "https://x/t.json#/definitions/A"),
            ("#definitions/A", "#/definitions/A"),
            ("#/definitions/A", "#/definitions/A"),
            ("#anchor", "#anchor"),
            ("https://x/t.json", "https://x/t.json"),
        ];
        for (input, expected) in cases {
            assert_eq!(fix_pointer_fragment(input), expected, "{input}");
        }
    }

    #[test]
    fn files_without_id_get_a_local_uri_and_keys_come_from_file_names() {
        let linked = link(vec![
            file("common/my schema.json-schema.json", json!({})),
            file("transfer-process.schema.json", json!({})),
        ])
        .unwrap();
        assert_eq!(linked[0].uri, "https://local.dsp-harness.invalid/common/my%20schema.json-schema.json");
        assert_eq!(linked[0].key, None);
        assert_eq!(linked[1].key, Some("TransferProcess"));
    }

    #[test]
    fn local_refs_to_a_definition_the_file_lacks_map_to_the_file_that_has_it() {
        let linked = link(vec![
            file("catalog/dataset-schema.json", json!({"$id": "https://x.example/dataset", "definitions": {"Dataset": {}}})),
            file(
                "catalog/catalog-schema.json",
                json!({"$id": "https://x.example/catalog", "definitions": {"Catalog": {"$ref": "#/definitions/Dataset"}, "Own": {}}, "$ref": "#/definitions/Own"}),
            ),
        ])
        .unwrap();
        assert_eq!(linked[1].contents["definitions"]["Catalog"]["$ref"], "https://x.example/dataset#/definitions/Dataset");
        assert_eq!(linked[1].contents["$ref"], "#/definitions/Own");
    }

    #[test]
    fn repeated_required_names_are_dropped() {
        let linked = link(vec![file("t-schema.json", json!({"required": ["a", "b", "a"], "properties": {"x": {"required": ["c", "c"]}}}))]).unwrap();
        assert_eq!(linked[0].contents["required"], json!(["a", "b"]));
        assert_eq!(linked[0].contents["properties"]["x"]["required"], json!(["c"]));
    }

    #[test]
    fn undeclared_absolute_refs_map_to_the_file_of_the_same_name() {
        let linked = link(vec![
            file("negotiation/contract-schema.json", json!({"$id": "https://w3id.org/dspace/schemas/v0.8/ContractSchema"})),
            file(
                "negotiation/contract-request-message-schema.json",
                json!({"properties": {"offer": {"$ref": "https://w3id.org/dspace/schemas/v0.8/contract-schema.json#/definitions/Offer"}}}),
            ),
        ])
        .unwrap();
        assert_eq!(
            linked[1].contents["properties"]["offer"]["$ref"],
            "https://w3id.org/dspace/schemas/v0.8/ContractSchema#/definitions/Offer"
        );
    }

    #[test]
    fn refs_to_unknown_remote_schemas_are_an_error_naming_file_and_ref() {
        let error =
            link(vec![file("transfer-process.schema.json", json!({"$ref": "https://example.org/elsewhere.json#/a"}))])
                .unwrap_err();
        let message = error.to_string();
        assert!(message.contains("transfer-process.schema.json"), "{message}");
        assert!(message.contains("https://example.org/elsewhere.json#/a"), "{message}");
    }

    #[test]
    fn duplicate_ids_and_keys_are_errors() {
        let same_id =
            link(vec![file("a.schema.json", json!({"$id": "urn:x"})), file("b.schema.json", json!({"$id": "urn:x"}))]);
        assert!(matches!(same_id, Err(SchemaError::DuplicateId { .. })));
        let same_key = link(vec![
            file("common/version-schema.json", json!({})),
            file("common/protocol-version-schema.json", json!({})),
        ]);
        assert!(matches!(same_key, Err(SchemaError::DuplicateKey { .. })));
    }
}
