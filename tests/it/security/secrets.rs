//! No secret of a run reaches a report file or the log: the scenario and every suite run
//! against the embedded data space with the log captured at debug level from every thread,
//! then every file and the log are searched for every secret the run knew (management API
//! keys, the DAPS admin key, the S3 secret, every DAT and pull token that crossed the wire)
//! and for anything shaped like a JWT or a PEM private key.

use std::io::Write;
use std::sync::{Arc, Mutex};

use dsp_harness::report::{self, Redactor};
use dsp_harness::runner::session::{self, DataSpace, RunPlan};
use dsp_harness::runtime::embedded::EmbeddedOptions;
use dsp_harness::schema::SchemaSet;

/// A log sink shared by every thread of the runtime.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What must never be written anywhere: the start of a JWS header (`{"alg":`) and PEM keys.
const SHAPES: [&str; 3] = ["eyJhbGciOi", "PRIVATE KEY-----", "eyJ0eXAiOi"];

/// Where `secrets` or a secret's shape shows in `text`, if anywhere.
fn check(name: &str, text: &str, secrets: &[String]) -> Vec<String> {
    let mut found: Vec<String> = secrets.iter().filter(|s| text.contains(s.as_str())).map(|s| format!("{name} holds a secret of the run ({}...)", &s[..6])).collect();
    found.extend(SHAPES.iter().filter(|shape| text.contains(*shape)).map(|shape| format!("{name} holds something shaped like a secret ({shape})")));
    found
}

#[test]
fn no_secret_of_the_scenario_and_the_suites_reaches_a_report_file_or_the_log() {
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .finish();
    // One subscriber for every worker and blocking thread, so spawned tasks are captured too
    // and a span opened on one thread can close on another.
    let dispatch = tracing::Dispatch::new(subscriber);
    let for_threads = dispatch.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .on_thread_start(move || std::mem::forget(tracing::dispatcher::set_default(&for_threads)))
        .build()
        .unwrap();
    let _main = tracing::dispatcher::set_default(&dispatch);
    let options = EmbeddedOptions {
        provider_api_key: "provider-management-key-0123456789".into(),
        consumer_api_key: "consumer-management-key-0123456789".into(),
        daps_admin_key: "daps-admin-key-0123456789".into(),
        ..EmbeddedOptions::default()
    };
    let plan = RunPlan { scenario: true, suites: true, case_timeout: std::time::Duration::from_secs(10), ..RunPlan::default() };
    let outcome = runtime.block_on(session::run(DataSpace::Embedded(options), &plan, &SchemaSet::embedded_2025_1(), &mut |_| {})).unwrap();
    let report = crate::cli::secret_test_report(&outcome);
    let secrets = crate::cli::secrets_of(&report, &outcome.secrets);
    assert!(report.cases.len() > 100, "the suites ran ({} cases)", report.cases.len());
    assert!(secrets.iter().filter(|s| s.starts_with("eyJ")).count() > 10, "the run used DATs, and the test must look for them");
    assert!(secrets.len() >= 20, "too few secrets found to make this test mean anything: {}", secrets.len());

    let dir = tempfile::tempdir().unwrap();
    let files = report::write_all(&report, dir.path(), &Redactor::with_secrets(outcome.secrets.clone())).unwrap();
    drop(runtime);
    let mut problems = Vec::new();
    let mut searched = 0;
    for path in files.paths() {
        let text = std::fs::read_to_string(path).unwrap();
        searched += 1;
        problems.extend(check(&path.display().to_string(), &text, &secrets));
    }
    let log = String::from_utf8_lossy(&captured.0.lock().unwrap()).to_string();
    assert!(log.lines().count() > 100, "the log was captured ({} lines)", log.lines().count());
    problems.extend(check("the log", &log, &secrets));
    assert!(searched >= 4, "every report format was written");
    eprintln!("searched {searched} report files and {} log lines for {} secrets", log.lines().count(), secrets.len());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The search is not vacuous: a leaked secret, a JWT or a PEM key in a text is found.
#[test]
fn the_secret_search_finds_leaks() {
    let secrets = vec!["provider-management-key-0123456789".to_string()];
    assert!(check("t", "all clear", &secrets).is_empty());
    assert_eq!(check("t", "x-api-key: provider-management-key-0123456789", &secrets).len(), 1);
    assert_eq!(check("t", "authorization: eyJhbGciOiJFUzI1NiJ9.e30.sig", &[]).len(), 1);
    assert_eq!(check("t", "-----BEGIN PRIVATE KEY-----", &[]).len(), 1);
}
