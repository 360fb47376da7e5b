//! The DSP vocabulary across versions: which namespace every member name and vocabulary value of
//! the 2025-1 compact form belongs to, and the dialects of the older versions (DSP 0.8 in its
//! `processId` and `consumerPid`/`providerPid` forms, 2024-1), which spell the same terms with
//! `dspace:`, `dcat:`, `dct:` and `odrl:` prefixes under their own context.
//!
//! Two rewrites are built on the one term table: [`to_current`] turns a message of a dialect
//! into the 2025-1 compact form the model decodes, and [`from_current`] turns the 2025-1 form the
//! model encodes into the dialect. `to_current` reads terms by meaning, not spelling: a prefix is
//! resolved through the message's own `@context` (a connector may bind `dsp:` or any other
//! prefix to the DSP namespace), and full IRIs of the known namespaces are read as their terms.
//! A term of an unknown namespace is left as it is, so it can never pass for a DSP term.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::codec::{ProtocolVersion, CONTEXT_2025_1};

pub const DCAT: &str = "http://www.w3.org/ns/dcat#";
pub const DCT: &str = "http://purl.org/dc/terms/";
pub const ODRL: &str = "http://www.w3.org/ns/odrl/2/";

/// The JSON-LD context of DSP 0.8 (the `consumerPid`/`providerPid` form).
pub const CONTEXT_0_8: &str = "https://w3id.org/dspace/v0.8/context.json";
/// The JSON-LD context of the first DSP 0.8 form, with one `processId` per process.
pub const CONTEXT_0_8_PROCESS_ID: &str = "https://w3id.org/dspace/1/0/context.json";
/// The JSON-LD context of DSP 2024-1.
pub const CONTEXT_2024_1: &str = "https://w3id.org/dspace/2024/1/context.json";

/// The four vocabularies DSP messages draw their terms from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Namespace {
    Dspace,
    Dcat,
    Dct,
    Odrl,
}

impl Namespace {
    pub fn prefix(self) -> &'static str {
        match self {
            Namespace::Dspace => "dspace",
            Namespace::Dcat => "dcat",
            Namespace::Dct => "dct",
            Namespace::Odrl => "odrl",
        }
    }
}

/// How the policy names its parties: ODRL's `assigner`/`assignee` (2024-1, 2025-1) or DSP 0.8's
/// `dspace:providerId`/`dspace:consumerId`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartyTerms {
    Odrl,
    DspaceIds,
}

/// One version's way of writing DSP messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dialect {
    pub version: ProtocolVersion,
    pub context: &'static str,
    /// The IRI the `dspace:` prefix stands for.
    pub dspace: &'static str,
    /// Terms carry prefixes (every version before 2025-1).
    pub prefixed: bool,
    /// One `dspace:processId` names the process on both sides (the first 0.8 form).
    pub process_id: bool,
    pub parties: PartyTerms,
    /// Message types this version names differently: (its name, the 2025-1 name).
    pub type_aliases: &'static [(&'static str, &'static str)],
    /// Members whose text this version wants as language-tagged strings (`{"@value", "@language"}`)
    /// where 2025-1 has plain strings; written with `und` (language not known) and read back.
    pub tagged_text: &'static [&'static str],
}

pub const DIALECT_0_8_PROCESS_ID: Dialect = Dialect {
    version: ProtocolVersion::V0_8ProcessId,
    context: CONTEXT_0_8_PROCESS_ID,
    dspace: "https://w3id.org/dspace/v0.8/",
    prefixed: true,
    process_id: true,
    parties: PartyTerms::DspaceIds,
    type_aliases: &[("CatalogErrorMessage", "CatalogError")],
    tagged_text: &["description", "reason", "keyword"],
};

pub const DIALECT_0_8: Dialect = Dialect {
    version: ProtocolVersion::V0_8,
    context: CONTEXT_0_8,
    dspace: "https://w3id.org/dspace/v0.8/",
    prefixed: true,
    process_id: false,
    parties: PartyTerms::DspaceIds,
    type_aliases: &[],
    tagged_text: &["description", "reason", "keyword"],
};

pub const DIALECT_2024_1: Dialect = Dialect {
    version: ProtocolVersion::V2024_1,
    context: CONTEXT_2024_1,
    dspace: "https://w3id.org/dspace/2024/1/",
    prefixed: true,
    process_id: false,
    parties: PartyTerms::Odrl,
    type_aliases: &[],
    tagged_text: &["description"],
};

pub const DIALECT_2025_1: Dialect = Dialect {
    version: ProtocolVersion::V2025_1,
    context: CONTEXT_2025_1,
    dspace: "https://w3id.org/dspace/2025/1/",
    prefixed: false,
    process_id: false,
    parties: PartyTerms::Odrl,
    type_aliases: &[],
    tagged_text: &[],
};

pub fn dialect(version: ProtocolVersion) -> &'static Dialect {
    match version {
        ProtocolVersion::V0_8ProcessId => &DIALECT_0_8_PROCESS_ID,
        ProtocolVersion::V0_8 => &DIALECT_0_8,
        ProtocolVersion::V2024_1 => &DIALECT_2024_1,
        ProtocolVersion::V2025_1 => &DIALECT_2025_1,
    }
}

// The term table. Member names are listed by namespace; `name`, `value` and `dataset` depend on
// the object they appear in (see `member_namespace`).
const DSPACE_MEMBERS: &[&str] = &[
    "consumerPid", "providerPid", "processId", "correlationId", "callbackAddress", "offer", "agreement",
    "dataAddress", "endpointType", "endpoint", "endpointProperties", "state", "eventType", "code", "reason",
    "agreementId", "participantId", "filter", "timestamp", "providerId", "consumerId", "signature", "dataSet",
];
const DCAT_MEMBERS: &[&str] = &[
    "dataset", "distribution", "service", "accessService", "endpointURL", "endpointDescription", "keyword",
    "catalog", "theme", "servesDataset",
];
const DCT_MEMBERS: &[&str] = &["format", "title", "description", "publisher", "identifier", "issued", "modified"];
const ODRL_MEMBERS: &[&str] = &[
    "hasPolicy", "permission", "prohibition", "obligation", "duty", "action", "constraint", "leftOperand",
    "operator", "rightOperand", "rightOperandReference", "target", "assigner", "assignee", "profile", "uid",
    "and", "or", "xone", "andSequence",
];

const DCAT_TYPES: &[&str] = &["Catalog", "Dataset", "Distribution", "DataService"];
const ODRL_TYPES: &[&str] =
    &["Offer", "Agreement", "Set", "Policy", "Permission", "Prohibition", "Duty", "Constraint", "LogicalConstraint"];
const DSPACE_TYPES: &[&str] = &[
    "CatalogErrorMessage", "CatalogRequestMessage", "DatasetRequestMessage", "CatalogError", "ContractRequestMessage",
    "ContractOfferMessage", "ContractAgreementMessage", "ContractAgreementVerificationMessage",
    "ContractNegotiationEventMessage", "ContractNegotiationTerminationMessage", "ContractNegotiation",
    "ContractNegotiationError", "TransferRequestMessage", "TransferStartMessage", "TransferSuspensionMessage",
    "TransferCompletionMessage", "TransferTerminationMessage", "TransferProcess", "TransferError", "DataAddress",
    "EndpointProperty",
];

/// Members whose value is a set of objects: a lone object in an older dialect (JSON-LD's
/// one-element set) becomes an array, as the 2025-1 model expects. (`dataset` names one dataset
/// by id in a dataset request, so only objects are wrapped.)
const SET_MEMBERS: &[&str] = &[
    "dataset", "distribution", "service", "hasPolicy", "permission", "prohibition", "obligation", "constraint",
    "endpointProperties", "reason", "catalog", "filter",
];

/// Members whose string values are terms of a vocabulary (`REQUESTED`, `use`, `eq`).
fn value_namespace(member: &str) -> Option<Namespace> {
    match member {
        "state" | "eventType" => Some(Namespace::Dspace),
        "action" | "leftOperand" | "operator" => Some(Namespace::Odrl),
        _ => None,
    }
}

/// The namespace of a member of the 2025-1 form inside an object of `@type` `object_type`.
fn member_namespace(member: &str, object_type: Option<&str>) -> Option<Namespace> {
    match (member, object_type) {
        ("name" | "value", Some("EndpointProperty")) => return Some(Namespace::Dspace),
        ("dataset", Some("DatasetRequestMessage")) => return Some(Namespace::Dspace),
        _ => {}
    }
    if DSPACE_MEMBERS.contains(&member) {
        Some(Namespace::Dspace)
    } else if DCAT_MEMBERS.contains(&member) {
        Some(Namespace::Dcat)
    } else if DCT_MEMBERS.contains(&member) {
        Some(Namespace::Dct)
    } else if ODRL_MEMBERS.contains(&member) {
        Some(Namespace::Odrl)
    } else {
        None
    }
}

fn type_namespace(name: &str) -> Option<Namespace> {
    if DSPACE_TYPES.contains(&name) {
        Some(Namespace::Dspace)
    } else if DCAT_TYPES.contains(&name) {
        Some(Namespace::Dcat)
    } else if ODRL_TYPES.contains(&name) {
        Some(Namespace::Odrl)
    } else {
        None
    }
}

/// Prefix -> namespace IRI, as a message's `@context` declares them on top of the dialect's.
struct Prefixes {
    known: Vec<&'static str>,
    declared: HashMap<String, String>,
}

impl Prefixes {
    fn of(dialect: &Dialect, context: Option<&Value>) -> Prefixes {
        let mut declared: HashMap<String, String> = [
            ("dspace", dialect.dspace),
            ("dcat", DCAT),
            ("dct", DCT),
            ("dcterms", DCT),
            ("odrl", ODRL),
        ]
        .into_iter()
        .map(|(p, iri)| (p.to_string(), iri.to_string()))
        .collect();
        let mut inline = Vec::new();
        match context {
            Some(Value::Object(map)) => inline.push(map),
            Some(Value::Array(items)) => inline.extend(items.iter().filter_map(Value::as_object)),
            _ => {}
        }
        for map in inline {
            for (prefix, iri) in map {
                let iri = match iri {
                    Value::String(s) => Some(s.as_str()),
                    Value::Object(o) => o.get("@id").and_then(Value::as_str),
                    _ => None,
                };
                if let Some(iri) = iri {
                    declared.insert(prefix.clone(), iri.to_string());
                }
            }
        }
        Prefixes { known: vec![dialect.dspace, DCAT, DCT, ODRL], declared }
    }

    /// The term a compact IRI or full IRI stands for, when it is in one of the known namespaces.
    fn term<'a>(&self, word: &'a str) -> Option<&'a str> {
        for ns in &self.known {
            if let Some(term) = word.strip_prefix(ns) {
                return Some(term);
            }
        }
        let (prefix, term) = word.split_once(':')?;
        let iri = self.declared.get(prefix)?;
        self.known.contains(&iri.as_str()).then_some(term)
    }
}

/// A message of `dialect` in the 2025-1 compact form, its context replaced by the 2025-1 one.
pub fn to_current(dialect: &Dialect, body: &Value) -> Value {
    let prefixes = Prefixes::of(dialect, body.get("@context"));
    let mut out = rewrite_in(dialect, &prefixes, body);
    if dialect.prefixed {
        let services: Vec<String> = match out.get("service") {
            Some(Value::Array(items)) => items.iter().filter_map(|s| s.get("@id")?.as_str().map(str::to_string)).collect(),
            _ => Vec::new(),
        };
        out = compact_services(dialect, out, &services);
    }
    if let (Value::Object(map), Some(_)) = (&mut out, body.get("@context")) {
        map.insert("@context".to_string(), Value::Array(vec![Value::String(CONTEXT_2025_1.to_string())]));
    }
    out
}

fn rewrite_in(dialect: &Dialect, prefixes: &Prefixes, value: &Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.iter().map(|v| rewrite_in(dialect, prefixes, v)).collect()),
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, value) in map {
                if key == "@context" {
                    out.insert(key.clone(), value.clone());
                    continue;
                }
                let term = if key.starts_with('@') { key.as_str() } else { prefixes.term(key).unwrap_or(key) };
                let term = match (term, dialect.parties) {
                    ("providerId", PartyTerms::DspaceIds) => "assigner",
                    ("consumerId", PartyTerms::DspaceIds) => "assignee",
                    (term, _) => term,
                };
                let rewritten = if term == "@type" {
                    alias_in(dialect, strip_terms(prefixes, value))
                } else if value_namespace(term).is_some() {
                    strip_terms(prefixes, value)
                } else {
                    rewrite_in(dialect, prefixes, value)
                };
                let rewritten = match rewritten {
                    single @ Value::Object(_) if SET_MEMBERS.contains(&term) => Value::Array(vec![single]),
                    single @ Value::String(_) if term == "reason" => Value::Array(vec![single]),
                    // A format given as a node reference (`{"@id": "..."}`) is that reference.
                    Value::Object(node) if term == "format" && node.len() == 1 && node.contains_key("@id") => node["@id"].clone(),
                    service if term == "accessService" => access_service(service),
                    other => other,
                };
                out.insert(term.to_string(), rewritten);
            }
            if dialect.process_id {
                if let Some(pid) = out.remove("processId") {
                    out.entry("consumerPid").or_insert_with(|| pid.clone());
                    out.entry("providerPid").or_insert(pid);
                }
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

/// The inverse of `inline_services`: an access service that is one of the catalog's services
/// becomes a reference by id, and text of unknown language plain strings again (a description
/// of one string that string).
fn compact_services(dialect: &Dialect, value: Value, services: &[String]) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.into_iter().map(|v| compact_services(dialect, v, services)).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(key, value)| {
                    let value = match (key.as_str(), value) {
                        ("accessService", Value::Object(node))
                            if node.get("@id").and_then(Value::as_str).is_some_and(|id| services.iter().any(|s| s == id)) =>
                        {
                            node["@id"].clone()
                        }
                        (member, Value::Array(items)) if dialect.tagged_text.contains(&member) && items.iter().all(is_untagged_text) => {
                            let texts: Vec<Value> = items.into_iter().map(|i| i["@value"].clone()).collect();
                            match (member, texts.as_slice()) {
                                ("description", [one]) => one.clone(),
                                _ => Value::Array(texts),
                            }
                        }
                        (_, value) => compact_services(dialect, value, services),
                    };
                    (key, value)
                })
                .collect(),
        ),
        other => other,
    }
}

/// A string of unknown language, as `inline_services` writes it.
fn is_untagged_text(value: &Value) -> bool {
    value.as_object().is_some_and(|o| o.len() == 2 && o.get("@language").and_then(Value::as_str) == Some("und") && o.get("@value").is_some_and(Value::is_string))
}

fn tag_text(text: &str) -> Value {
    serde_json::json!({"@value": text, "@language": "und"})
}

/// One access service, given as a one-element set, a bare reference or an untyped node, in the
/// 2025-1 form: its id, or a typed `DataService` (the property's range types the node).
fn access_service(value: Value) -> Value {
    let value = match value {
        Value::Array(mut items) if items.len() == 1 => items.remove(0),
        other => other,
    };
    match node_reference(value) {
        Value::Object(mut node) if !node.contains_key("@type") && node.contains_key("endpointURL") => {
            node.insert("@type".to_string(), Value::String("DataService".to_string()));
            Value::Object(node)
        }
        other => other,
    }
}

/// `{"@id": x}` is the node `x`: the 2025-1 form names it by its id alone.
fn node_reference(value: Value) -> Value {
    match value {
        Value::Object(node) if node.len() == 1 && node.get("@id").is_some_and(Value::is_string) => node["@id"].clone(),
        other => other,
    }
}

fn alias_in(dialect: &Dialect, value: Value) -> Value {
    match value {
        Value::String(s) => match dialect.type_aliases.iter().find(|(old, _)| *old == s) {
            Some((_, current)) => Value::String(current.to_string()),
            None => Value::String(s),
        },
        other => other,
    }
}

fn strip_terms(prefixes: &Prefixes, value: &Value) -> Value {
    match value {
        Value::String(s) => Value::String(prefixes.term(s).unwrap_or(s).to_string()),
        Value::Array(items) => Value::Array(items.iter().map(|v| strip_terms(prefixes, v)).collect()),
        other => other.clone(),
    }
}

/// A message of the 2025-1 compact form written in `dialect`.
pub fn from_current(dialect: &Dialect, body: &Value) -> Value {
    if !dialect.prefixed {
        return body.clone();
    }
    // The older versions want every access service inline: collect the catalog's services so
    // that a reference by id can be written as the service it names.
    let services: Vec<Value> = match body.get("service") {
        Some(Value::Array(items)) => items.clone(),
        _ => Vec::new(),
    };
    let mut out = rewrite_out(dialect, &inline_services(dialect, body, &services), None);
    if let Value::Object(map) = &mut out {
        if map.contains_key("@context") {
            map.insert("@context".to_string(), Value::String(dialect.context.to_string()));
        }
    }
    out
}

/// The 2025-1 form with every `accessService` a one-element set of a data service node and the
/// plain text of the dialect's `tagged_text` members language-tagged (`und`: the language is not
/// known), as the older versions' schemas require.
fn inline_services(dialect: &Dialect, value: &Value, services: &[Value]) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.iter().map(|v| inline_services(dialect, v, services)).collect()),
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, value) in map {
                let value = match (key.as_str(), value) {
                    ("accessService", Value::String(id)) => {
                        let known = services.iter().find(|s| s.get("@id").and_then(Value::as_str) == Some(id.as_str()));
                        let node = known.cloned().unwrap_or_else(|| serde_json::json!({"@id": id, "@type": "DataService"}));
                        Value::Array(vec![node])
                    }
                    ("accessService", Value::Object(_)) => Value::Array(vec![value.clone()]),
                    (member, Value::String(text)) if dialect.tagged_text.contains(&member) => Value::Array(vec![tag_text(text)]),
                    (member, Value::Array(items)) if dialect.tagged_text.contains(&member) && items.iter().all(Value::is_string) => {
                        Value::Array(items.iter().filter_map(Value::as_str).map(tag_text).collect())
                    }
                    _ => inline_services(dialect, value, services),
                };
                out.insert(key.clone(), value);
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

fn prefixed(ns: Namespace, term: &str) -> String {
    format!("{}:{term}", ns.prefix())
}

fn rewrite_out(dialect: &Dialect, value: &Value, enclosing: Option<&str>) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.iter().map(|v| rewrite_out(dialect, v, enclosing)).collect()),
        Value::Object(map) => {
            let object_type = map.get("@type").and_then(Value::as_str).or(enclosing);
            let mut out = Map::new();
            for (key, value) in map {
                if key.starts_with('@') {
                    let value = if key == "@type" { prefix_types(&alias_out(dialect, value)) } else { value.clone() };
                    out.insert(key.clone(), value);
                    continue;
                }
                let term = match (key.as_str(), dialect.parties) {
                    ("assigner", PartyTerms::DspaceIds) => "providerId",
                    ("assignee", PartyTerms::DspaceIds) => "consumerId",
                    (term, _) => term,
                };
                let name = match member_namespace(term, object_type) {
                    Some(ns) => prefixed(ns, term),
                    None => key.clone(),
                };
                let value = match value_namespace(term) {
                    Some(ns) => prefix_values(ns, value),
                    None => rewrite_out(dialect, value, None),
                };
                out.insert(name, value);
            }
            if dialect.process_id {
                let consumer = out.remove("dspace:consumerPid");
                let provider = out.remove("dspace:providerPid");
                if let Some(pid) = consumer.or(provider) {
                    out.insert("dspace:processId".to_string(), pid);
                }
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

fn alias_out(dialect: &Dialect, value: &Value) -> Value {
    match value {
        Value::String(s) => match dialect.type_aliases.iter().find(|(_, current)| current == s) {
            Some((old, _)) => Value::String(old.to_string()),
            None => value.clone(),
        },
        other => other.clone(),
    }
}

fn prefix_types(value: &Value) -> Value {
    match value {
        Value::String(s) => match type_namespace(s) {
            Some(ns) => Value::String(prefixed(ns, s)),
            None => value.clone(),
        },
        Value::Array(items) => Value::Array(items.iter().map(prefix_types).collect()),
        other => other.clone(),
    }
}

fn prefix_values(ns: Namespace, value: &Value) -> Value {
    match value {
        Value::String(s) if !s.contains(':') => Value::String(prefixed(ns, s)),
        Value::Array(items) => Value::Array(items.iter().map(|v| prefix_values(ns, v)).collect()),
        other => other.clone(),
    }
}

/// True when two messages of the same dialect say the same thing: both are read by meaning
/// (prefixes resolved, full IRIs as terms, lone values as sets) and then compared.
pub fn same_meaning(dialect: &Dialect, a: &Value, b: &Value) -> bool {
    to_current(dialect, a) == to_current(dialect, b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_2024_1_start_message_reads_as_the_2025_1_one_and_back() {
        let old = json!({
            "@context": CONTEXT_2024_1,
            "@type": "dspace:TransferStartMessage",
            "dspace:providerPid": "urn:p",
            "dspace:consumerPid": "urn:c",
            "dspace:dataAddress": {
                "@type": "dspace:DataAddress",
                "dspace:endpointType": "https://w3id.org/idsa/v4.1/HTTP",
                "dspace:endpoint": "http://example.com",
                "dspace:endpointProperties": [{"@type": "dspace:EndpointProperty", "dspace:name": "authorization", "dspace:value": "T"}]
            }
        });
        let current = json!({
            "@context": [CONTEXT_2025_1],
            "@type": "TransferStartMessage",
            "providerPid": "urn:p",
            "consumerPid": "urn:c",
            "dataAddress": {
                "@type": "DataAddress",
                "endpointType": "https://w3id.org/idsa/v4.1/HTTP",
                "endpoint": "http://example.com",
                "endpointProperties": [{"@type": "EndpointProperty", "name": "authorization", "value": "T"}]
            }
        });
        assert_eq!(to_current(&DIALECT_2024_1, &old), current);
        assert_eq!(from_current(&DIALECT_2024_1, &current), old);
    }

    #[test]
    fn prefixes_are_read_through_the_message_s_own_context() {
        let own_prefix = json!({
            "@context": [CONTEXT_2024_1, {"dsp": "https://w3id.org/dspace/2024/1/"}],
            "@type": "dsp:ContractNegotiationEventMessage",
            "dsp:providerPid": "urn:p",
            "https://w3id.org/dspace/2024/1/consumerPid": "urn:c",
            "dsp:eventType": "https://w3id.org/dspace/2024/1/FINALIZED"
        });
        let usual = json!({
            "@context": CONTEXT_2024_1,
            "@type": "dspace:ContractNegotiationEventMessage",
            "dspace:providerPid": "urn:p",
            "dspace:consumerPid": "urn:c",
            "dspace:eventType": "dspace:FINALIZED"
        });
        assert!(same_meaning(&DIALECT_2024_1, &own_prefix, &usual));
        // A prefix bound to another namespace is another term: it must not pass for the DSP one.
        let foreign = json!({
            "@context": [CONTEXT_2024_1, {"dsp": "https://example.org/not-dsp/"}],
            "@type": "dspace:ContractNegotiationEventMessage",
            "dsp:providerPid": "urn:p",
            "dspace:consumerPid": "urn:c",
            "dspace:eventType": "dspace:FINALIZED"
        });
        assert!(!same_meaning(&DIALECT_2024_1, &foreign, &usual));
        // The 0.8 namespace is not the 2024-1 one.
        let other_version = json!({
            "@context": CONTEXT_2024_1,
            "@type": "dspace:ContractNegotiationEventMessage",
            "https://w3id.org/dspace/v0.8/providerPid": "urn:p",
            "dspace:consumerPid": "urn:c",
            "dspace:eventType": "dspace:FINALIZED"
        });
        assert!(!same_meaning(&DIALECT_2024_1, &other_version, &usual));
    }

    #[test]
    fn the_process_id_form_names_both_sides_with_one_id() {
        let old = json!({
            "@context": CONTEXT_0_8_PROCESS_ID,
            "@type": "dspace:ContractAgreementVerificationMessage",
            "dspace:processId": "urn:x"
        });
        let current = to_current(&DIALECT_0_8_PROCESS_ID, &old);
        assert_eq!(current["consumerPid"], "urn:x");
        assert_eq!(current["providerPid"], "urn:x");
        assert_eq!(from_current(&DIALECT_0_8_PROCESS_ID, &current), old);
    }

    #[test]
    fn policies_name_parties_and_terms_as_their_version_does() {
        let current = json!({"@id": "urn:o", "@type": "Offer", "assigner": "company-x", "permission": [{"action": "use"}]});
        let v08 = from_current(&DIALECT_0_8, &current);
        assert_eq!(v08, json!({"@id": "urn:o", "@type": "odrl:Offer", "dspace:providerId": "company-x", "odrl:permission": [{"odrl:action": "odrl:use"}]}));
        let v2024 = from_current(&DIALECT_2024_1, &current);
        assert_eq!(v2024["odrl:assigner"], "company-x");
        assert_eq!(to_current(&DIALECT_0_8, &v08), current);
        // A lone rule is a one-element set.
        let lone = json!({"@id": "urn:o", "@type": "odrl:Offer", "odrl:assigner": "company-x", "odrl:permission": {"odrl:action": "odrl:use"}});
        assert_eq!(to_current(&DIALECT_2024_1, &lone), current);
    }

    #[test]
    fn dataset_is_a_dspace_term_only_in_a_dataset_request() {
        let request = json!({"@context": [CONTEXT_2025_1], "@type": "DatasetRequestMessage", "dataset": "urn:d"});
        assert_eq!(from_current(&DIALECT_2024_1, &request)["dspace:dataset"], "urn:d");
        let catalog = json!({"@context": [CONTEXT_2025_1], "@type": "Catalog", "@id": "urn:c", "dataset": [{"@id": "urn:d", "@type": "Dataset"}]});
        let old = from_current(&DIALECT_2024_1, &catalog);
        assert_eq!(old["dcat:dataset"][0]["@type"], "dcat:Dataset");
        assert_eq!(to_current(&DIALECT_2024_1, &old), catalog);
    }

    #[test]
    fn unknown_namespaces_stay_as_they_are() {
        let current = json!({"@id": "urn:d", "@type": "Dataset", "https://w3id.org/edc/v0.0.1/ns/name": "x", "edc:id": "y"});
        let old = from_current(&DIALECT_2024_1, &current);
        assert_eq!(old["https://w3id.org/edc/v0.0.1/ns/name"], "x");
        assert_eq!(old["edc:id"], "y");
        assert_eq!(to_current(&DIALECT_2024_1, &old), current);
    }
}
