//! The commands driven in-process, as a user runs them: `run` on the embedded default writes
//! every report, which matches the committed report schema, re-renders identically through
//! `report`, and carries no secret of the run.

use std::path::{Path, PathBuf};

use clap::Parser;
use dsp_harness::cli::{self, exit, Cli};
use dsp_harness::report::model::{Body, Report, RunInfo};
use dsp_harness::report::{self, Redactor};
use dsp_harness::runner::session::{run_embedded, RunPlan};
use dsp_harness::runtime::embedded::EmbeddedOptions;
use dsp_harness::schema::SchemaSet;
use serde_json::Value;

async fn cli(args: &[&str]) -> u8 {
    let mut argv = vec!["dsp-harness"];
    argv.extend_from_slice(args);
    cli::run(Cli::try_parse_from(argv).expect("valid arguments")).await
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

const FILES: [&str; 4] = ["report.json", "junit.xml", "report.html", "summary.md"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_writes_reports_that_match_the_schema_and_rerender_identically() {
    let dir = tempfile::tempdir().unwrap();
    let reports = dir.path().join("run");
    let mut args = vec!["run", "--scenario-only", "--report-dir", reports.to_str().unwrap()];
    // With the official schemas beside the checkout, validate against them (the --schemas option).
    let official = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/dsp-schemas/2025-1");
    if official.is_dir() {
        args.extend(["--schemas", official.to_str().unwrap()]);
    }
    assert_eq!(cli(&args).await, exit::SUCCESS);

    let json: Value = serde_json::from_str(&read(&reports, "report.json")).unwrap();
    let violations = report::schema_violations(&json);
    assert!(violations.is_empty(), "report.json does not match fixtures/report.schema.json: {violations:?}");
    assert_eq!(json["summary"]["total"]["passed"], 8);

    let again = dir.path().join("again");
    assert_eq!(cli(&["report", reports.join("report.json").to_str().unwrap(), "--out", again.to_str().unwrap()]).await, exit::SUCCESS);
    for name in FILES {
        assert_eq!(read(&reports, name), read(&again, name), "{name} differs when re-rendered from report.json");
    }

    // Compared with itself nothing regressed.
    let same = cli(&["report", reports.join("report.json").to_str().unwrap(), "--out", again.to_str().unwrap(), "--baseline", reports.join("report.json").to_str().unwrap()]).await;
    assert_eq!(same, exit::SUCCESS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_target_file_or_report_is_a_setup_failure() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("nonexistent.toml");
    let code = cli(&["run", "--target", target.to_str().unwrap(), "--report-dir", dir.path().join("r").to_str().unwrap()]).await;
    assert_eq!(code, exit::SETUP_FAILED);
    let code = cli(&["report", dir.path().join("missing.json").to_str().unwrap()]).await;
    assert_eq!(code, exit::SETUP_FAILED);
}

/// Every credential a real run used: API keys, DATs, pull tokens, S3 keys.
fn secrets_of(report: &Report, known: &[String]) -> Vec<String> {
    let mut secrets: Vec<String> = known.to_vec();
    for exchange in report.cases.iter().flat_map(|c| &c.exchanges) {
        for (name, value) in exchange.request_headers.iter().chain(&exchange.response_headers) {
            if ["authorization", "x-api-key"].contains(&name.to_ascii_lowercase().as_str()) {
                secrets.push(value.trim_start_matches("Bearer ").to_string());
            }
        }
        for body in [&exchange.request_body, &exchange.response_body].into_iter().flatten() {
            if let Body::Json(json) = body {
                collect_json_secrets(json, &mut secrets);
            }
        }
    }
    secrets.retain(|s| s.len() >= 12);
    secrets.sort();
    secrets.dedup();
    secrets
}

fn collect_json_secrets(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if ["authorization", "secretAccessKey", "access_token"].contains(&k.as_str()) {
                    if let Some(s) = v.as_str() {
                        out.push(s.to_string());
                    }
                }
                if k == "endpointProperties" {
                    for p in v.as_array().into_iter().flatten() {
                        if matches!(p["name"].as_str(), Some("authorization" | "secretAccessKey")) {
                            out.push(p["value"].as_str().unwrap_or_default().to_string());
                        }
                    }
                }
                collect_json_secrets(v, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_json_secrets(v, out)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_or_key_of_a_real_run_appears_in_any_report_file() {
    let options = EmbeddedOptions {
        provider_api_key: "provider-management-key-0123456789".into(),
        consumer_api_key: "consumer-management-key-0123456789".into(),
        daps_admin_key: "daps-admin-key-0123456789".into(),
        ..EmbeddedOptions::default()
    };
    let plan = RunPlan { scenario: true, suites: false, case_timeout: std::time::Duration::from_secs(10), ..RunPlan::default() };
    let outcome = run_embedded(options, &plan, &SchemaSet::embedded_2025_1(), &mut |_| {}).await.unwrap();
    let report = Report::new(
        RunInfo {
            id: "secret-test".into(),
            command: "run".into(),
            started_at: "2026-01-01T00:00:00Z".into(),
            finished_at: "2026-01-01T00:00:01Z".into(),
            duration_ms: 1000,
            runtime: outcome.runtime.clone(),
            target: outcome.target.clone(),
            schemas: "embedded".into(),
        },
        outcome.cases,
        None,
    );
    let secrets = secrets_of(&report, &outcome.secrets);
    assert!(secrets.iter().any(|s| s.starts_with("eyJ")), "the run used DATs, and the test must look for them");
    assert!(secrets.len() >= 6, "too few secrets found to make this test mean anything: {}", secrets.len());
    let dir = tempfile::tempdir().unwrap();
    let files = report::write_all(&report, dir.path(), &Redactor::with_secrets(outcome.secrets.clone())).unwrap();
    for path in files.paths() {
        let text = std::fs::read_to_string(path).unwrap();
        for secret in &secrets {
            assert!(!text.contains(secret.as_str()), "{} contains a secret of the run ({}...)", path.display(), &secret[..6]);
        }
    }
}
