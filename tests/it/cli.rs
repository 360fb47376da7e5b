//! The commands driven in-process, as a user runs them: `run` on the embedded default writes
//! every report, which matches the committed report schema, re-renders identically through
//! `report`, and carries no secret of the run.

use std::path::Path;

use clap::Parser;
use dsp_harness::cli::{self, exit, Cli};
use dsp_harness::report::model::{Body, Report, RunInfo};
use dsp_harness::report::{self, Redactor};
use dsp_harness::runner::session::{self, DataSpace, RunPlan};
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
    let official = crate::support::require_dir("cli::run_writes_reports (--schemas)", "../shared/dsp-schemas/2025-1", "the official DSP 2025-1 schemas");
    if let Some(official) = &official {
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
/// The report a run of `outcome` writes, with fixed ids and times, for the secret searches.
pub(crate) fn secret_test_report(outcome: &dsp_harness::runner::session::Outcome) -> Report {
    Report::new(
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
        outcome.cases.clone(),
        None,
    )
}

pub(crate) fn secrets_of(report: &Report, known: &[String]) -> Vec<String> {
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
    let outcome = session::run(DataSpace::Embedded(options), &plan, &SchemaSet::embedded_2025_1(), &mut |_| {}).await.unwrap();
    let report = secret_test_report(&outcome);
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

/// A free loopback port, for components started as separate processes with `--port`.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Kills the spawned components when the test ends, however it ends.
struct Processes(Vec<std::process::Child>);

impl Drop for Processes {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

async fn wait_healthy(url: &str) {
    for _ in 0..100 {
        if reqwest::get(url).await.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{url} never answered");
}

/// The README's recipe for a connector running on its own: `serve daps`, `serve provider`,
/// `register` the harness, write a target file, `run --target` it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_separately_served_provider_passes_the_provider_suites_through_a_target_file() {
    let (daps_port, provider_port) = (free_port(), free_port());
    let bin = env!("CARGO_BIN_EXE_dsp-harness");
    let daps_url = format!("http://127.0.0.1:{daps_port}");
    let provider_url = format!("http://127.0.0.1:{provider_port}");
    let spawn = |args: &[&str]| std::process::Command::new(bin).args(args).stdout(std::process::Stdio::null()).spawn().expect("the binary starts");
    let _processes = Processes(vec![
        spawn(&["serve", "daps", "--port", &daps_port.to_string(), "--daps-admin-key", "admin-secret"]),
        spawn(&["serve", "provider", "--port", &provider_port.to_string(), "--daps-url", &daps_url, "--daps-admin-key", "admin-secret", "--api-key", "provider-key"]),
    ]);
    wait_healthy(&format!("{daps_url}/health")).await;
    wait_healthy(&format!("{provider_url}/health")).await;

    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    assert_eq!(cli(&["register", "--daps-url", &daps_url, "--admin-key", "admin-secret", "--participant", "dsp-harness", "--out", keys.to_str().unwrap()]).await, exit::SUCCESS);
    let target = format!(
        r#"name = "served-provider"

[dsp]
url = "{provider_url}/dsp"
participant_id = "company-x"

[management]
kind = "reference"
url = "{provider_url}/management"
api_key = "provider-key"
setup = true

[auth]
kind = "daps"
token_url = "{daps_url}/token"
key_dir = "keys"
jwks_url = "{daps_url}/.well-known/jwks.json"
issuer = "{daps_url}"

[dataset]
source_url = "{provider_url}/backend/carbon-emissions"

[roles]
provider = true
consumer = false
"#
    );
    let target_path = dir.path().join("target.toml");
    std::fs::write(&target_path, target).unwrap();
    let reports = dir.path().join("reports");
    let code = cli(&["run", "--target", target_path.to_str().unwrap(), "--report-dir", reports.to_str().unwrap()]).await;
    let json: Value = serde_json::from_str(&read(&reports, "report.json")).unwrap();
    let total = &json["summary"]["total"];
    assert_eq!(code, exit::SUCCESS, "the served provider should pass: {total}");
    assert!(total["passed"].as_u64().unwrap() > 100, "the provider suites ran: {total}");
    assert_eq!(json["run"]["runtime"], "external");
    // The preflight ran first and every line of it is in the report, all ok.
    let checks = json["preflight"]["checks"].as_array().expect("the report holds the preflight");
    assert!(checks.len() >= 6, "{checks:?}");
    assert!(checks.iter().all(|c| c["status"] == "ok"), "{checks:?}");
    // The consumer cases' one reason is counted with their ids.
    let skips = json["summary"]["skips_by_reason"].as_array().expect("skips by reason");
    let skipped: u64 = skips.iter().map(|g| g["count"].as_u64().unwrap()).sum();
    assert_eq!(skipped, total["skipped"].as_u64().unwrap());
    assert!(skips.iter().any(|g| g["reason"].as_str().unwrap().contains("consumer role")), "{skips:?}");
    assert!(report::schema_violations(&json).is_empty(), "{:?}", report::schema_violations(&json));
    let again = dir.path().join("again");
    assert_eq!(cli(&["report", reports.join("report.json").to_str().unwrap(), "--out", again.to_str().unwrap()]).await, exit::SUCCESS);
    for name in FILES {
        assert_eq!(read(&reports, name), read(&again, name), "{name} of a target run differs when re-rendered from report.json");
    }
    assert!(read(&reports, "summary.md").contains("### Skips by reason"));
    // No consumer is described, so consumer cases are skipped with a reason, never passed.
    for case in json["cases"].as_array().unwrap().iter().filter(|c| c["role"] == "consumer") {
        assert_eq!(case["verdict"], "skip", "{}", case["id"]);
    }
}

/// Without a Docker engine, `--runtime docker` stops at once with its own exit code and says
/// why, instead of failing somewhere inside the run.
#[test]
fn the_docker_runtime_without_an_engine_stops_at_once_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_dsp-harness"))
        .args(["run", "--runtime", "docker", "--report-dir", dir.path().join("r").to_str().unwrap()])
        .env("DOCKER_HOST", format!("unix://{}", dir.path().join("no-engine.sock").display()))
        .output()
        .expect("the binary runs");
    assert_eq!(output.status.code(), Some(i32::from(exit::DOCKER_UNAVAILABLE)));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("Docker engine"), "the message names the missing engine: {stderr}");
    assert!(!dir.path().join("r").exists(), "nothing ran, so no report was written");
}

/// Starts the binary with `args` (temporary files under `tmp`), waits for a stderr line
/// containing `marker`, sends `signal` (`INT` or `TERM`), and returns the exit code, failing
/// when the process does not end within five seconds of the signal.
fn signal_after(args: &[&str], tmp: &Path, marker: &'static str, signal: &str) -> Option<i32> {
    signal_times(args, tmp, marker, signal, 1).0
}

/// [`signal_after`] with `signals` SIGINTs; also returns stderr. Each SIGINT but the first
/// is sent as soon as the harness has said it took the one before ("interrupted:"), so the
/// signals neither merge nor leave the orderly stop time to finish between them.
pub(crate) fn interrupt_times(args: &[&str], tmp: &Path, marker: &'static str, signals: usize) -> (Option<i32>, String) {
    signal_times(args, tmp, marker, "INT", signals)
}

/// [`interrupt_times`] with any `signal`.
fn signal_times(args: &[&str], tmp: &Path, marker: &'static str, signal: &str, signals: usize) -> (Option<i32>, String) {
    use std::io::BufRead;
    use std::time::{Duration, Instant};
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_dsp-harness"))
        .args(args)
        .env("DSP_HARNESS_LOG", "dsp_harness=info")
        .env("TMPDIR", tmp)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let (tx, rx) = std::sync::mpsc::channel();
    let (taken_tx, taken) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().expect("stderr is piped");
    let lines = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let seen = lines.clone();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains(marker) {
                let _ = tx.send(());
            }
            if line.contains("interrupted:") {
                let _ = taken_tx.send(());
            }
            seen.lock().unwrap().push_str(&format!("{line}\n"));
        }
    });
    if rx.recv_timeout(Duration::from_secs(90)).is_err() {
        let _ = child.kill();
        panic!("no line with {marker:?} within 90 s");
    }
    for n in 0..signals {
        if n > 0 && taken.recv_timeout(Duration::from_secs(5)).is_err() {
            let _ = child.kill();
            panic!("{args:?} did not say it took SIGINT {n} within 5 s");
        }
        let status = std::process::Command::new("kill").args([&format!("-{signal}"), &child.id().to_string()]).status().expect("kill runs");
        assert!(status.success());
    }
    let signalled = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("the child can be waited for") {
            let _ = reader.join();
            let text = lines.lock().unwrap().clone();
            return (status.code(), text);
        }
        if signalled.elapsed() > Duration::from_secs(5) {
            let _ = child.kill();
            panic!("{args:?} did not stop within 5 s of SIG{signal}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A directory for a signalled run: its `TMPDIR` (created) and its report directory (not yet).
pub(crate) fn signal_dirs() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let reports = dir.path().join("reports");
    (dir, tmp, reports)
}

fn assert_no_temporary_store(tmp: &Path) {
    let left: Vec<_> = std::fs::read_dir(tmp).unwrap().filter_map(Result::ok).map(|e| e.file_name()).collect();
    assert!(left.iter().all(|n| !n.to_string_lossy().starts_with("dsp-harness-objectstore-")), "temporary stores left behind: {left:?}");
}

/// Issue #15: Ctrl-C once lost the whole run (no report, temporary stores left behind). Now a
/// SIGINT after the first case finished stops the run within five seconds with
/// `INTERRUPTED`, the report directory holds the finished cases and marks the rest as not
/// run (in every format), and no temporary object store is left.
#[test]
fn issue_15_ctrl_c_writes_the_partial_report_and_cleans_up() {
    interrupted_run_writes_the_partial_report("INT");
}

/// Issue #13: SIGTERM (what `docker stop`, `kill` and CI runners send) does what Ctrl-C does.
#[test]
fn sigterm_writes_the_partial_report_and_cleans_up() {
    interrupted_run_writes_the_partial_report("TERM");
}

fn interrupted_run_writes_the_partial_report(signal: &str) {
    let (_dir, tmp, reports) = signal_dirs();
    let code = signal_after(&["run", "--report-dir", reports.to_str().unwrap()], &tmp, "case finished", signal);
    assert_eq!(code, Some(i32::from(exit::INTERRUPTED)), "a run stopped by SIG{signal} exits with INTERRUPTED");
    let report: Report = serde_json::from_str(&read(&reports, "report.json")).expect("the partial report parses");
    assert!(report.cases.iter().any(|c| !c.was_interrupted()), "the finished cases are in the report");
    assert!(report.interrupted_cases() > 0, "the cases that did not run are marked");
    for file in ["junit.xml", "report.html", "summary.md"] {
        assert!(read(&reports, file).contains("interrupted"), "{file} shows the interrupted cases");
    }
    assert_no_temporary_store(&tmp);
}

/// A second Ctrl-C does not wait for the running cases: the process stops at once (through the
/// stopper `main` hands to `cli::exit`, the crate's one `process::exit`), still with
/// `INTERRUPTED`, and says so.
#[test]
fn a_second_ctrl_c_stops_a_run_at_once() {
    let (_dir, tmp, reports) = signal_dirs();
    let (code, stderr) = interrupt_times(&["run", "--report-dir", reports.to_str().unwrap()], &tmp, "case finished", 2);
    assert_eq!(code, Some(i32::from(exit::INTERRUPTED)), "{stderr}");
    assert!(stderr.contains("interrupted again: stopping at once"), "{stderr}");
}

/// The same for `load`: the second Ctrl-C reaches the handler that took SIGINT from goose. The
/// pulls go to a server that, after the probe, accepts and never answers, so the orderly stop
/// the first Ctrl-C starts waits on them for its grace period (about 3 s), as it would on a
/// hung data plane; the second one ends the run at once. (Against a quick data plane the
/// orderly stop could finish before the second Ctrl-C, and the test would be a race.)
#[test]
fn a_second_ctrl_c_stops_a_load_run_at_once() {
    let (_dir, tmp, reports) = signal_dirs();
    let hung = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/payload", hung.local_addr().unwrap());
    // The probe before the attack gets its answer; every later request is held unanswered.
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        let mut held = Vec::new();
        for (n, stream) in hung.incoming().map_while(Result::ok).enumerate() {
            let mut stream = stream;
            if n == 0 {
                let _ = stream.read(&mut [0; 4096]);
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\nbody");
                continue;
            }
            held.push(stream);
        }
    });
    let args = ["load", "--url", &url, "--users", "2", "--duration", "60s", "--timeout", "60", "--report-dir", reports.to_str().unwrap()];
    let (code, stderr) = interrupt_times(&args, &tmp, "load: dataplane.pull.url: 2 users", 2);
    assert_eq!(code, Some(i32::from(exit::INTERRUPTED)), "{stderr}");
    assert!(stderr.contains("stopping at once"), "{stderr}");
}

/// The same for `load`: a SIGINT while a data-plane attack runs (goose's own handler has
/// SIGINT then) ends the run with `INTERRUPTED`, and the report holds the baseline measured
/// before it.
#[test]
fn issue_15_ctrl_c_during_load_keeps_the_measured_scenarios() {
    interrupted_load_keeps_the_measured_scenarios("INT");
}

/// The same for SIGTERM, which stays with the harness's own handler while goose holds SIGINT.
#[test]
fn sigterm_during_load_keeps_the_measured_scenarios() {
    interrupted_load_keeps_the_measured_scenarios("TERM");
}

fn interrupted_load_keeps_the_measured_scenarios(signal: &str) {
    let (_dir, tmp, reports) = signal_dirs();
    let args = ["load", "--scenario", "pull", "--sizes", "1KiB", "--users", "2", "--duration", "3s", "--report-dir", reports.to_str().unwrap()];
    let code = signal_after(&args, &tmp, "load: dataplane.pull.1KiB: 2 users", signal);
    assert_eq!(code, Some(i32::from(exit::INTERRUPTED)), "a load run stopped by SIG{signal} exits with INTERRUPTED");
    let report: Report = serde_json::from_str(&read(&reports, "report.json")).expect("the partial report parses");
    let names: Vec<String> = report.load.expect("a load report").scenarios.into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["baseline.pull.1KiB"], "the finished baseline is reported, the interrupted pull is not");
    assert_no_temporary_store(&tmp);
}

/// Issue #15: `--max-body` sets the cap on replies the harness reads whole; a catalog longer
/// than it fails its case with a finding that names the limit, and the run goes on.
#[test]
fn issue_15_max_body_caps_what_the_harness_reads() {
    let dir = tempfile::tempdir().unwrap();
    let reports = dir.path().join("reports");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_dsp-harness"))
        // 600 bytes: the version document of four versions (563 bytes) fits, the catalog does not.
        .args(["run", "--case", "dsp.cat.provider.001", "--case", "dsp.met.provider.001", "--max-body", "600", "--report-dir", reports.to_str().unwrap()])
        .output()
        .expect("the binary runs");
    assert_eq!(output.status.code(), Some(i32::from(exit::CHECKS_FAILED)), "{}", String::from_utf8_lossy(&output.stderr));
    let report: Report = serde_json::from_str(&read(&reports, "report.json")).expect("the report parses");
    let catalog = report.cases.iter().find(|c| c.id == "dsp.cat.provider.001").expect("the catalog case ran");
    let finding = catalog.findings.iter().find(|f| f.kind == "body-too-large").unwrap_or_else(|| panic!("no body-too-large finding: {catalog:?}"));
    assert!(finding.message.contains("600 bytes"), "the finding names the limit: {}", finding.message);
    let version = report.cases.iter().find(|c| c.id == "dsp.met.provider.001").expect("the version case ran");
    assert_eq!(version.verdict, dsp_harness::report::model::Verdict::Pass, "a short reply still passes: {version:?}");
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_dsp-harness")).args(["run", "--max-body", "lots"]).output().expect("the binary runs");
    assert_eq!(bad.status.code(), Some(i32::from(exit::USAGE)));
}

/// The README's first command: `run` on the embedded default (recording proxies between the
/// connectors, the scenario and every suite) passes every case and skips none. The proof that
/// every case passes against the reference connectors drives them without the proxies; this
/// one catches what only the proxies change (the DSP base the connectors hand out).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_run_passes_every_case_and_skips_none() {
    let outcome = session::run(DataSpace::Embedded(EmbeddedOptions::default()), &RunPlan::default(), &SchemaSet::embedded_2025_1(), &mut |_| {}).await.unwrap();
    let not_passed: Vec<String> = outcome
        .cases
        .iter()
        .filter(|c| c.verdict != dsp_harness::report::model::Verdict::Pass)
        .map(|c| format!("{} {:?}: {:?} {:?}", c.id, c.verdict, c.reason, c.findings.first().map(|f| &f.message)))
        .collect();
    assert!(outcome.cases.len() > 180, "only {} cases ran", outcome.cases.len());
    assert!(not_passed.is_empty(), "the default run must pass every case:\n{}", not_passed.join("\n"));
}
