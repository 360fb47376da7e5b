//! The embedded default run in every DSP version, checked against the official schemas: each
//! version's suites run against the reference connectors speaking that version, every case
//! passes and records the version it ran in, and every DSP message recorded on the way
//! validates against the official schema set of its version in `../shared/dsp-schemas`
//! (known upstream defects tolerated, as in `versions.rs`). The official 0.8 `processId` set
//! does not load offline, so its messages get a structural check: its context, prefixed types,
//! one `processId` and no pid pair.

use dsp_harness::protocol::vocabulary::CONTEXT_0_8_PROCESS_ID;
use dsp_harness::protocol::ProtocolVersion;
use dsp_harness::report::model::{Body, CaseReport, Verdict};
use dsp_harness::runner::session::{self, DataSpace, RunPlan};
use dsp_harness::runtime::embedded::EmbeddedOptions;
use dsp_harness::schema::SchemaSet;
use serde_json::Value;

/// Violations the official schemas report for sound messages, and why they are the schema's
/// fault (the same defects `versions.rs` lists).
const UPSTREAM_SCHEMA_DEFECTS: &[(ProtocolVersion, &str)] = &[
    (ProtocolVersion::V2024_1, "\"odrl:lteq\" is not one of"),
    (ProtocolVersion::V0_8, "\"odrl:lteq\" is not one of"),
    (ProtocolVersion::V0_8, "no value is allowed here"),
    // 0.8 verifies an agreement with a digest the model does not carry yet (versions.rs KNOWN_GAPS).
    (ProtocolVersion::V0_8, "dspace:hashedMessage"),
];

/// Bodies the harness sends malformed on purpose: the requests of cases about refusing them.
fn deliberately_malformed(case: &CaseReport, from_harness: bool) -> bool {
    from_harness && (case.area == "errors" || case.tags.iter().any(|t| t == "errors" || t == "schema" || t == "malformed"))
}

/// Every DSP body a case recorded, with whether the harness wrote it.
fn dsp_bodies(case: &CaseReport) -> Vec<(Value, bool, String)> {
    let mut out = Vec::new();
    for e in &case.exchanges {
        let from_harness = e.from == "harness" || e.from == "dsp-harness";
        for (body, typed, harness_wrote) in [(&e.request_body, &e.request_type, from_harness), (&e.response_body, &e.response_type, !from_harness)] {
            if let (Some(Body::Json(value)), Some(kind)) = (body, typed) {
                if kind != "VersionResponse" && !deliberately_malformed(case, harness_wrote) {
                    out.push((value.clone(), harness_wrote, format!("{} {} {}", e.method, e.url, kind)));
                }
            }
        }
    }
    out
}

fn structural_0_8_process_id(body: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    if body.get("@type").and_then(Value::as_str).is_some_and(|t| !t.starts_with("dspace:") && !t.starts_with("dcat:")) {
        problems.push(format!("type {} is not prefixed", body["@type"]));
    }
    let context_ok = match body.get("@context") {
        Some(Value::String(c)) => c == CONTEXT_0_8_PROCESS_ID,
        Some(Value::Array(items)) => items.iter().any(|c| c.as_str() == Some(CONTEXT_0_8_PROCESS_ID)),
        _ => false,
    };
    if !context_ok {
        problems.push(format!("context {} is not the 0.8 processId context", body.get("@context").unwrap_or(&Value::Null)));
    }
    for pair in ["dspace:consumerPid", "dspace:providerPid", "consumerPid", "providerPid"] {
        if body.get(pair).is_some() {
            problems.push(format!("names {pair} instead of one dspace:processId"));
        }
    }
    problems
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_version_passes_and_its_messages_match_the_official_schemas() {
    let Some(shared) = crate::support::require_dir("run_versions::official schemas", "../shared/dsp-schemas", "the official DSP schemas") else { return };
    let mut problems = Vec::new();
    for version in ProtocolVersion::ALL {
        let plan = RunPlan { scenario: false, versions: vec![version], ..RunPlan::default() };
        let outcome = session::run(DataSpace::Embedded(EmbeddedOptions::default()), &plan, &SchemaSet::embedded_2025_1(), &mut |_| {}).await.expect("the run starts");
        assert!(!outcome.cases.is_empty(), "DSP {version}: no case ran");
        for case in &outcome.cases {
            if case.verdict != Verdict::Pass {
                problems.push(format!("DSP {version}: {} {}: {}", case.id, case.verdict.as_str(), case.reason.clone().unwrap_or_default()));
            }
            if case.dsp_version.as_deref() != Some(version.as_str()) {
                problems.push(format!("DSP {version}: {} records version {:?}", case.id, case.dsp_version));
            }
        }
        let official = match version {
            ProtocolVersion::V0_8ProcessId => None,
            other => Some(SchemaSet::from_dir(&shared.join(other.as_str())).unwrap_or_else(|e| panic!("official {other} schemas: {e}"))),
        };
        let mut checked = 0;
        for case in &outcome.cases {
            for (body, _, at) in dsp_bodies(case) {
                checked += 1;
                let found: Vec<String> = match &official {
                    Some(set) => match set.validate_message(&body) {
                        Ok(violations) => violations
                            .into_iter()
                            .filter(|v| !UPSTREAM_SCHEMA_DEFECTS.iter().any(|(v_, says)| *v_ == version && v.message.contains(says)))
                            .map(|v| format!("{} at {}: {}", v.schema, v.instance_path, v.message))
                            .collect(),
                        Err(e) => vec![e.to_string()],
                    },
                    None => structural_0_8_process_id(&body),
                };
                for f in found {
                    problems.push(format!("DSP {version}: {} {at}: {f}", case.id));
                }
            }
        }
        assert!(checked > 100, "DSP {version}: only {checked} DSP bodies were checked");
    }
    problems.sort();
    problems.dedup();
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.iter().take(60).cloned().collect::<Vec<_>>().join("\n"));
}
