//! Lenient reading of JSON-LD documents from management APIs and catalogs.
//!
//! Connectors compact their JSON-LD differently: EDC answers `edc:state` or `state` depending on
//! version and context, catalogs say `dcat:dataset` or `dataset`, and a one-element list may be a
//! bare object. The harness judges what a document says, not how it was compacted, so every
//! lookup here accepts the plain key, a known prefix, or the full IRI.

use serde_json::Value;

/// Prefixes and namespace IRIs a term may appear under.
const PREFIXES: &[(&str, &str)] = &[
    ("edc", "https://w3id.org/edc/v0.0.1/ns/"),
    ("dspace", "https://w3id.org/dspace/v0.8/"),
    ("dspace", "https://w3id.org/dspace/2024/1/"),
    ("dspace", "https://w3id.org/dspace/2025/1/"),
    ("dcat", "http://www.w3.org/ns/dcat#"),
    ("odrl", "http://www.w3.org/ns/odrl/2/"),
    ("dct", "http://purl.org/dc/terms/"),
];

/// The member `key` of an object, under its plain name, a known prefix or its full IRI.
pub fn get<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    let object = value.as_object()?;
    if let Some(found) = object.get(key) {
        return Some(found);
    }
    PREFIXES.iter().find_map(|(prefix, iri)| object.get(&format!("{prefix}:{key}")).or_else(|| object.get(&format!("{iri}{key}"))))
}

/// The member `key` as a string; a JSON-LD value object `{"@value": "..."}` counts too.
pub fn get_str<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    text(get(value, key)?)
}

/// A string, or the `@value` or `@id` of a JSON-LD node or value object; in expanded JSON-LD
/// (every value a list, `[{"@value": "FINALIZED"}]`) the first of the list.
pub fn text(value: &Value) -> Option<&str> {
    match value {
        Value::String(s) => Some(s),
        Value::Object(o) => o.get("@value").or_else(|| o.get("@id")).and_then(Value::as_str),
        Value::Array(items) => items.first().and_then(text),
        _ => None,
    }
}

/// The `@id` of a node (or its `id`, as some APIs write it).
pub fn id(value: &Value) -> Option<&str> {
    value.get("@id").or_else(|| value.get("id")).and_then(Value::as_str)
}

/// The member `key` as a list: a missing member is empty, a bare object is one element.
pub fn list<'a>(value: &'a Value, key: &str) -> Vec<&'a Value> {
    match get(value, key) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.iter().collect(),
        Some(other) => vec![other],
    }
}

/// A value as a list of documents: an array's elements, or the value itself.
pub fn items(value: &Value) -> Vec<&Value> {
    match value {
        Value::Array(items) => items.iter().collect(),
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

/// A state name without prefix or namespace: `dspace:FINALIZED` and
/// `https://w3id.org/dspace/v0.8/FINALIZED` are both `FINALIZED`.
pub fn state_name(raw: &str) -> String {
    raw.rsplit([':', '/', '#']).next().unwrap_or(raw).to_string()
}

/// The action of an ODRL rule (`use`, `odrl:use`, `{"@id": "odrl:use"}` are all `use`).
pub fn action(rule: &Value) -> Option<String> {
    let raw = get(rule, "action")?;
    let raw = match raw {
        Value::Array(items) => items.first()?,
        other => other,
    };
    text(raw).map(|a| a.rsplit([':', '/', '#']).next().unwrap_or(a).to_string())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn lookups_accept_prefixes_iris_and_bare_objects() {
        let doc = json!({
            "edc:state": "dspace:FINALIZED",
            "https://w3id.org/edc/v0.0.1/ns/contractAgreementId": {"@value": "agr-1"},
            "dcat:dataset": {"@id": "asset-1"},
            "odrl:permission": [{"odrl:action": {"@id": "odrl:use"}}]
        });
        assert_eq!(get_str(&doc, "state").map(state_name), Some("FINALIZED".to_string()));
        assert_eq!(get_str(&doc, "contractAgreementId"), Some("agr-1"));
        assert_eq!(list(&doc, "dataset").len(), 1);
        assert_eq!(id(list(&doc, "dataset")[0]), Some("asset-1"));
        assert_eq!(action(list(&doc, "permission")[0]).as_deref(), Some("use"));
        assert!(list(&doc, "distribution").is_empty());
    }

    #[test]
    fn expanded_json_ld_values_read_like_compacted_ones() {
        let doc = json!({"https://w3id.org/edc/v0.0.1/ns/state": [{"@value": "edc:FINALIZED"}]});
        assert_eq!(get_str(&doc, "state").map(state_name), Some("FINALIZED".to_string()));
    }
}
