//! Turns validator errors into readable [`Violation`] messages.
//!
//! The validator's own messages quote the whole offending value, which for a `oneOf` over an
//! offer can be kilobytes of JSON in a terminal table. These messages quote values only when they
//! are short and say in words what the schema wanted.

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::ValidationError;
use serde_json::Value;

use crate::report::model::Violation;

/// Longest quoted value, in characters, before it is cut.
const QUOTE_LIMIT: usize = 60;

/// How many failures of one `oneOf`/`anyOf` alternative are quoted, and in how many characters.
const REASONS_PER_ALTERNATIVE: usize = 2;
const ALTERNATIVE_LIMIT: usize = 160;

pub(crate) fn violation(schema: &str, instance_path: impl Into<String>, message: impl Into<String>) -> Violation {
    Violation {
        part: String::new(),
        schema: schema.to_owned(),
        instance_path: instance_path.into(),
        message: message.into(),
    }
}

pub(crate) fn from_error(schema: &str, error: &ValidationError<'_>) -> Violation {
    violation(schema, error.instance_path().as_str(), describe(error))
}

fn describe(error: &ValidationError<'_>) -> String {
    let instance = error.instance();
    match error.kind() {
        ValidationErrorKind::Required { property } => format!("missing required property {}", quote(property)),
        ValidationErrorKind::Constant { expected_value } => {
            format!("expected {}, found {}", quote(expected_value), quote(instance))
        }
        ValidationErrorKind::Enum { options } => {
            let allowed = match &**options {
                Value::Array(items) => items.iter().map(quote).collect::<Vec<_>>().join(", "),
                other => quote(other),
            };
            format!("{} is not one of {allowed}", quote(instance))
        }
        ValidationErrorKind::Type { kind } => {
            let expected = match kind {
                TypeKind::Single(single) => single.to_string(),
                TypeKind::Multiple(many) => many.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(" or "),
            };
            match &**instance {
                Value::Null => format!("expected {expected}, found null"),
                _ => format!("expected {expected}, found {} {}", json_type(instance), quote(instance)),
            }
        }
        ValidationErrorKind::MinItems { limit } => {
            format!("expected at least {limit} item{}, found {}", plural(*limit), array_len(instance))
        }
        ValidationErrorKind::MaxItems { limit } => {
            format!("expected at most {limit} item{}, found {}", plural(*limit), array_len(instance))
        }
        ValidationErrorKind::Contains => "contains no item matching the required one (contains)".to_owned(),
        ValidationErrorKind::Pattern { pattern } => format!("{} does not match the pattern {pattern}", quote(instance)),
        ValidationErrorKind::OneOfNotValid { context } => alternatives("oneOf", error, context),
        ValidationErrorKind::OneOfMultipleValid { .. } => {
            "matches more than one of the alternatives allowed here, which exclude each other (oneOf)".to_owned()
        }
        ValidationErrorKind::AnyOf { context } => alternatives("anyOf", error, context),
        ValidationErrorKind::Not { schema } => format!("must not match {}", quote(schema)),
        ValidationErrorKind::FalseSchema => "no value is allowed here".to_owned(),
        // The remaining kinds do not occur in DSP schemas; the validator's wording, with the value
        // masked, keeps them short.
        _ => error.masked_with("value").to_string(),
    }
}

/// Says why each alternative of a `oneOf` or `anyOf` failed, so that the reader sees, say, the
/// bad operator inside a constraint rather than only that the constraint matched nothing.
fn alternatives(keyword: &str, error: &ValidationError<'_>, context: &[Vec<ValidationError<'static>>]) -> String {
    let base = error.instance_path().as_str();
    let reasons: Vec<String> = context
        .iter()
        .map(|failures| {
            let mut reason = failures
                .iter()
                .take(REASONS_PER_ALTERNATIVE)
                .map(|failure| {
                    let path = failure.instance_path().as_str();
                    match path.strip_prefix(base).filter(|relative| !relative.is_empty()) {
                        Some(relative) => format!("at {relative}: {}", describe(failure)),
                        None => describe(failure),
                    }
                })
                .collect::<Vec<_>>()
                .join(", ");
            cut(&mut reason, ALTERNATIVE_LIMIT);
            reason
        })
        .collect();
    let listed = match reasons.as_slice() {
        [] => String::new(),
        [only] => format!(": {only}"),
        many => {
            let numbered: Vec<String> =
                many.iter().enumerate().map(|(i, reason)| format!("({}) {reason}", i + 1)).collect();
            format!(": {}", numbered.join("; "))
        }
    };
    format!("matches none of the alternatives allowed here ({keyword}){listed}")
}

/// Cuts `text` to `limit` characters, marking the cut.
fn cut(text: &mut String, limit: usize) {
    if let Some((index, _)) = text.char_indices().nth(limit) {
        text.truncate(index);
        text.push('…');
    }
}

/// Compact JSON of `value`, cut to [`QUOTE_LIMIT`] characters.
pub(crate) fn quote(value: &Value) -> String {
    let mut text = value.to_string();
    cut(&mut text, QUOTE_LIMIT);
    text
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn array_len(value: &Value) -> usize {
    value.as_array().map_or(0, Vec::len)
}

fn plural(count: u64) -> &'static str {
    if count == 1 {
        ""
    } else {
        "s"
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn messages(schema: Value, instance: Value) -> Vec<(String, String)> {
        let validator = jsonschema::validator_for(&schema).unwrap();
        validator.iter_errors(&instance).map(|e| (e.instance_path().as_str().to_owned(), describe(&e))).collect()
    }

    #[test]
    fn messages_say_what_was_expected() {
        let schema = json!({
            "type": "object",
            "properties": {
                "@type": {"const": "TransferProcess"},
                "state": {"enum": ["REQUESTED", "STARTED"]},
                "providerPid": {"type": "string"},
                "reason": {"type": "array", "minItems": 1}
            },
            "required": ["consumerPid"]
        });
        let found = messages(schema, json!({"@type": "Other", "state": "DONE", "providerPid": 7, "reason": []}));
        let expect = [
            ("/@type", "expected \"TransferProcess\", found \"Other\""),
            ("/state", "\"DONE\" is not one of \"REQUESTED\", \"STARTED\""),
            ("/providerPid", "expected string, found number 7"),
            ("/reason", "expected at least 1 item, found 0"),
            ("", "missing required property \"consumerPid\""),
        ];
        for (path, message) in expect {
            assert!(found.contains(&(path.to_owned(), message.to_owned())), "{path}: {message} not in {found:?}");
        }
    }

    #[test]
    fn failed_alternatives_say_why_each_failed() {
        let schema = json!({
            "oneOf": [
                {"required": ["and"]},
                {"properties": {"operator": {"enum": ["eq", "neq"]}}, "required": ["operator"]}
            ]
        });
        let found = messages(schema, json!({"operator": "equals"}));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, "");
        assert_eq!(
            found[0].1,
            "matches none of the alternatives allowed here (oneOf): (1) missing required property \"and\"; \
             (2) at /operator: \"equals\" is not one of \"eq\", \"neq\""
        );
    }

    #[test]
    fn long_values_are_cut() {
        let long = "x".repeat(200);
        assert!(quote(&json!(long)).chars().count() <= QUOTE_LIMIT + 1);
        assert!(quote(&json!(long)).ends_with('…'));
    }
}
