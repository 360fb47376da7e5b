//! `report.json`: the whole report as pretty JSON, and the committed schema that describes it.
//!
//! The JSON form is the source of truth from which `dsp-harness report` regenerates every other
//! file, so it is written redacted (like every rendering) and byte-for-byte deterministic:
//! members come out in declaration order and nothing of the rendering time is added.

use std::sync::LazyLock;

use serde_json::Value;

use super::model::Report;
use super::redact::Redactor;

/// JSON Schema (draft 2020-12) of `report.json`, as committed in `fixtures/report.schema.json`.
pub const REPORT_SCHEMA: &str = include_str!("../../fixtures/report.schema.json");

static VALIDATOR: LazyLock<jsonschema::Validator> = LazyLock::new(|| {
    let schema: Value = serde_json::from_str(REPORT_SCHEMA).expect("committed report schema is JSON");
    jsonschema::draft202012::new(&schema).expect("committed report schema compiles")
});

/// The report as pretty JSON with a trailing newline, after the built-in redaction rules.
/// Callers that know literal secrets redact with their own [`Redactor`] first.
pub fn render_json(report: &Report) -> String {
    let report = Redactor::new().redact(report);
    // Serializing the model cannot fail: every map key is a string and floats that are not
    // finite become `null` rather than an error.
    let mut out = serde_json::to_string_pretty(&report).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    out.push('\n');
    out
}

/// Checks a JSON document against [`REPORT_SCHEMA`]; returns one line per violation
/// (`<instance path>: <message>`), empty when the document is a valid report.
pub fn schema_violations(document: &Value) -> Vec<String> {
    VALIDATOR
        .iter_errors(document)
        .map(|error| {
            let path = error.instance_path().to_string();
            let path = if path.is_empty() { "/".to_owned() } else { path };
            format!("{path}: {error}")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testdata::sample_report;

    #[test]
    fn rendered_json_round_trips_and_matches_the_schema() {
        let report = sample_report();
        let text = render_json(&report);
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(schema_violations(&value), Vec::<String>::new());
        let back: Report = serde_json::from_value(value).unwrap();
        assert_eq!(render_json(&back), text);
    }

    #[test]
    fn bodies_are_as_strict_in_the_model_as_in_the_schema() {
        use crate::report::model::Body;
        let check = |text: &str, valid: bool| {
            let value: Value = serde_json::from_str(text).unwrap();
            assert_eq!(serde_json::from_value::<Body>(value.clone()).is_ok(), valid, "model on {text}");
            let mut report: Value = serde_json::from_str(&render_json(&sample_report())).unwrap();
            report["cases"][0]["exchanges"][0]["request_body"] = value;
            assert_eq!(schema_violations(&report).is_empty(), valid, "schema on {text}");
        };
        check(r#"{"kind": "text", "value": "x"}"#, true);
        check(r#"{"kind": "json", "value": {"a": [1]}}"#, true);
        check(
            r#"{"kind": "binary", "value": {"size": 3, "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}}"#,
            true,
        );
        check(r#"{"kind": "text", "value": "x", "extra": 1}"#, false);
        check(r#"{"kind": "xml", "value": "<a/>"}"#, false);
        check(r#"{"kind": "text"}"#, false);
        check(r#"{"kind": "text", "value": 5}"#, false);
        check(
            r#"{"kind": "binary", "value": {"size": 3, "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "x": 1}}"#,
            false,
        );
    }

    #[test]
    fn schema_rejects_unknown_members_and_bad_enums() {
        let mut value: Value = serde_json::from_str(&render_json(&sample_report())).unwrap();
        value["cases"][0]["verdict"] = Value::from("passed");
        value["run"]["surprise"] = Value::from(true);
        let violations = schema_violations(&value);
        assert!(violations.iter().any(|v| v.starts_with("/cases/0/verdict")), "{violations:?}");
        assert!(violations.iter().any(|v| v.starts_with("/run")), "{violations:?}");
    }
}
