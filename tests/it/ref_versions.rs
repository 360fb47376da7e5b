//! The reference connector in every DSP version (issue #11): a consumer and a provider both
//! restricted to one version run the carbon-emissions flow through recording proxies, and every
//! message they exchange is written in that version (its context, its prefixes, the processId
//! form's one id) and valid under that version's official schema where the set loads; a consumer
//! restricted to one version finds it in a provider serving all four; a management request can
//! force a version; and the interoperability matrix passes in time.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use dsp_harness::protocol::vocabulary;
use dsp_harness::protocol::ProtocolVersion;
use dsp_harness::report::model::Body;
use dsp_harness::runner::matrix::{carbon_flow, run_matrix, FlowDone, FlowError, ANY_PROTOCOL};
use dsp_harness::recording::{Recorder, RecordingProxy};
use dsp_harness::runtime::embedded::{self, Advertised, EmbeddedOptions};
use dsp_harness::schema::{message_type, SchemaSet};
use serde_json::Value;

/// Violations the official schemas report for sound messages (the same defects
/// `versions::UPSTREAM_SCHEMA_DEFECTS` lists), and what the model cannot say yet in 0.8
/// (`versions::KNOWN_GAPS`).
const TOLERATED: &[(ProtocolVersion, &str, &str)] = &[
    (ProtocolVersion::V2024_1, "\"odrl:lteq\" is not one of", "the 2024-1 operator list has odrl:term-lteq"),
    (ProtocolVersion::V0_8, "\"odrl:lteq\" is not one of", "the 0.8 operator list lacks odrl:lteq"),
    (ProtocolVersion::V0_8, "no value is allowed here", "the 0.8 catalog schema forbids every member of every catalog"),
    (ProtocolVersion::V0_8, "dspace:hashedMessage", "0.8 verifies with a digest of the agreement, which the model does not carry yet"),
];

fn official_set(version: ProtocolVersion) -> Option<SchemaSet> {
    // Beside the checkout (CI, the main repository), or two levels up from a worktree.
    let beside = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/dsp-schemas");
    let dir = if beside.is_dir() { beside } else { crate::support::require_dir("ref_versions::official_set", "../shared/dsp-schemas", "the official DSP schemas")? };
    // The 0.8-processid set does not load (see versions::UNLOADABLE_SETS): its messages are
    // checked structurally instead.
    SchemaSet::from_dir(&dir.join(version.as_str())).ok()
}

/// Runs the flow with both connectors restricted to `consumer` and `provider` behind recording
/// proxies; returns its outcome and every JSON body that crossed the proxies.
async fn recorded_flow(consumer: Option<Vec<ProtocolVersion>>, provider: Option<Vec<ProtocolVersion>>, protocol: &str) -> (Result<FlowDone, FlowError>, Vec<(String, Value)>) {
    let recorder = Recorder::new();
    let options = EmbeddedOptions { consumer_versions: consumer, provider_versions: provider, ..EmbeddedOptions::default() };
    let bound = embedded::bind(options).await.expect("ports");
    let schemas = SchemaSet::embedded_2025_1();
    let (provider_proxy, to_provider) = RecordingProxy::start("consumer", "provider", &format!("{}/dsp", bound.provider_url()), recorder.clone(), schemas.clone()).await.expect("proxy");
    let (consumer_proxy, to_consumer) = RecordingProxy::start("provider", "consumer", &format!("{}/dsp", bound.consumer_url()), recorder.clone(), schemas).await.expect("proxy");
    let space = bound.start(Advertised { provider_dsp_url: Some(provider_proxy.clone()), consumer_dsp_url: Some(consumer_proxy) }).await.expect("starts");
    let outcome = tokio::time::timeout(Duration::from_secs(30), carbon_flow(&space, &provider_proxy, protocol)).await.expect("the flow ends in time");
    // Let the last callbacks (the provider's answers to the pull's start) settle.
    tokio::time::sleep(Duration::from_millis(100)).await;
    space.shutdown().await;
    to_provider.stop().await;
    to_consumer.stop().await;
    let mut bodies = Vec::new();
    for exchange in recorder.snapshot() {
        for body in [&exchange.request_body, &exchange.response_body].into_iter().flatten() {
            if let Body::Json(json) = body {
                if json.get("@type").is_some() {
                    bodies.push((format!("{} {}", exchange.method, exchange.url), json.clone()));
                }
            }
        }
    }
    (outcome, bodies)
}

/// Why a body is not a sound message of `version`, if it is not.
fn problems_in(version: ProtocolVersion, set: Option<&SchemaSet>, body: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let dialect = vocabulary::dialect(version);
    let context_ok = match body.get("@context") {
        Some(Value::String(s)) => s == dialect.context,
        Some(Value::Array(items)) => items.iter().any(|v| v.as_str() == Some(dialect.context)),
        _ => false,
    };
    if !context_ok {
        out.push(format!("not in the {version} context {}", dialect.context));
    }
    let declared = body["@type"].as_str().unwrap_or_default();
    if dialect.prefixed != declared.contains(':') {
        out.push(format!("@type {declared} is not spelled as {version} spells it"));
    }
    if version == ProtocolVersion::V0_8ProcessId {
        let keys: Vec<&String> = body.as_object().map(|o| o.keys().collect()).unwrap_or_default();
        if keys.iter().any(|k| k.ends_with("consumerPid") || k.ends_with("providerPid")) {
            out.push("the processId form names a process by dspace:processId alone".to_string());
        }
        let names_process = !declared.contains("Catalog") && declared != "dcat:Dataset";
        if names_process && !keys.iter().any(|k| *k == "dspace:processId") {
            out.push("no dspace:processId".to_string());
        }
    }
    if let Some(set) = set {
        let key = message_type(body).unwrap_or_default();
        let key = key.strip_prefix("dcat:").unwrap_or(key);
        if set.knows(key) {
            for v in set.validate(key, body) {
                if !TOLERATED.iter().any(|(v_, says, _)| *v_ == version && v.message.contains(says)) {
                    out.push(format!("{}: {}", v.instance_path, v.message));
                }
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_version_alone_runs_the_flow_and_every_message_is_of_that_version() {
    let mut failures = Vec::new();
    for version in ProtocolVersion::ALL {
        let (outcome, bodies) = recorded_flow(Some(vec![version]), Some(vec![version]), ANY_PROTOCOL).await;
        match outcome {
            Ok(done) => assert_eq!(done.protocol, version.edc_protocol(), "{version}: the management API names the version spoken"),
            Err(e) => {
                failures.push(format!("{version}: the flow failed: {e}"));
                continue;
            }
        }
        let types: Vec<&str> = bodies.iter().filter_map(|(_, b)| message_type(b)).collect();
        for wanted in ["CatalogRequestMessage", "ContractRequestMessage", "ContractAgreementMessage", "ContractAgreementVerificationMessage", "ContractNegotiationEventMessage", "TransferRequestMessage", "TransferStartMessage"] {
            if !types.contains(&wanted) {
                failures.push(format!("{version}: no {wanted} crossed the wire (saw {types:?})"));
            }
        }
        let set = official_set(version);
        assert!(set.is_some() || version == ProtocolVersion::V0_8ProcessId, "the official {version} schemas load");
        for (at, body) in &bodies {
            let problems = problems_in(version, set.as_ref(), body);
            if !problems.is_empty() {
                failures.push(format!("{version} {at}: {problems:#?}\n{body:#}"));
            }
        }
        assert!(bodies.len() >= 10, "{version}: only {} messages recorded", bodies.len());
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_of_one_version_finds_it_in_a_provider_serving_all() {
    for version in ProtocolVersion::ALL {
        let (outcome, bodies) = recorded_flow(Some(vec![version]), None, ANY_PROTOCOL).await;
        let done = outcome.unwrap_or_else(|e| panic!("{version} against a provider of every version: {e}"));
        assert_eq!(done.protocol, version.edc_protocol());
        let suffix = match version {
            ProtocolVersion::V2025_1 => String::new(),
            other => format!("/{other}"),
        };
        assert!(done.counter_party_address.ends_with(&suffix), "{version} is spoken at its own path: {}", done.counter_party_address);
        let context = vocabulary::dialect(version).context;
        assert!(bodies.iter().all(|(_, b)| b.to_string().contains(context)), "{version}: every message in its context");
    }
    // Both serve everything: the newest, unless the management request names another.
    let (outcome, _) = recorded_flow(None, None, ANY_PROTOCOL).await;
    assert_eq!(outcome.expect("all × all").protocol, ProtocolVersion::V2025_1.edc_protocol());
    let (outcome, bodies) = recorded_flow(None, None, "dataspace-protocol-http:2024/1").await;
    assert_eq!(outcome.expect("forced 2024-1").protocol, ProtocolVersion::V2024_1.edc_protocol());
    assert!(bodies.iter().all(|(_, b)| b["@context"] == vocabulary::CONTEXT_2024_1), "a forced version is the one spoken");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_without_one_in_common_are_refused_at_once() {
    let started = Instant::now();
    let (outcome, bodies) = recorded_flow(Some(vec![ProtocolVersion::V0_8]), Some(vec![ProtocolVersion::V2025_1]), ANY_PROTOCOL).await;
    match outcome {
        Err(FlowError::NoCommonVersion(why)) => assert!(why.contains("no DSP version in common"), "{why}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(bodies.is_empty(), "no DSP message is sent without a version in common");
    assert!(started.elapsed() < Duration::from_secs(5), "the refusal is quick");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_interoperability_matrix_passes_in_time() {
    let started = Instant::now();
    let matrix = run_matrix().await;
    let took = started.elapsed();
    assert_eq!(matrix.cells.len(), 25);
    let failed: Vec<String> = matrix.cells.iter().filter(|c| !c.passed()).map(|c| format!("{} × {}: {:?} {}", c.consumer, c.provider, c.outcome, c.detail)).collect();
    assert!(failed.is_empty(), "{failed:#?}");
    assert!(took < Duration::from_secs(15), "the matrix took {took:?}");

    // In a report: valid under the report schema, rendered as a matrix everywhere.
    use dsp_harness::report::model::{Report, RunInfo, TargetInfo};
    let run = RunInfo {
        id: "m".into(),
        command: "run".into(),
        started_at: "2026-01-01T00:00:00Z".into(),
        finished_at: "2026-01-01T00:00:01Z".into(),
        duration_ms: 1000,
        runtime: "embedded".into(),
        target: TargetInfo { name: "reference".into(), management: "reference".into(), dsp_url: "http://x/dsp".into(), dsp_version: "2025-1".into() },
        schemas: "embedded".into(),
    };
    let report = Report::new(run, Vec::new(), None).with_matrix(Some(matrix.clone()));
    assert!(report.all_passed());
    let json: Value = serde_json::from_str(&dsp_harness::report::render_json(&report)).unwrap();
    assert_eq!(dsp_harness::report::schema_violations(&json), Vec::<String>::new());
    assert!(dsp_harness::report::render_markdown(&report).contains("## Interoperability matrix"));
    assert!(dsp_harness::report::render_html(&report).contains("class=\"matrix\""));
    assert!(dsp_harness::report::render_terminal(&report).contains("Interoperability matrix"));
    let mut broken = matrix;
    broken.cells[0].outcome = dsp_harness::report::matrix::Outcome::Refusal;
    assert!(!Report::new(report.run.clone(), Vec::new(), None).with_matrix(Some(broken)).all_passed(), "a failed cell fails the run");
}
