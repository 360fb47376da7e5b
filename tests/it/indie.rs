//! The harness against a connector it did not write: `tests/indie/`, a DSP 2025-1 connector in
//! Python (stdlib and `cryptography`) with an EDC-v3-shaped management API, written from the
//! specification rather than from `src/protocol` or `src/reference`. With real DATs from the
//! reference DAPS, the whole suite must give no failure and no error, and skip at most 15 % of
//! the cases; then each `--fault` of that connector, one at a time, must make at least one case
//! fail (issue #10).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use dsp_harness::identity::ParticipantKeys;
use dsp_harness::reference::daps::{self, Daps, DapsConfig};
use dsp_harness::report::model::{CaseReport, Verdict};
use dsp_harness::runner::session::{self, RunPlan};
use dsp_harness::schema::SchemaSet;
use dsp_harness::suite::Filter;
use serde_json::{json, Value};

use crate::support::require_tool;

const ADMIN_KEY: &str = "indie-admin-key";
const CONNECTOR_ID: &str = "indie-connector";
const HARNESS_ID: &str = "dsp-harness";
const API_KEY: &str = "indie-management-key";

/// The Python connector, killed when dropped.
struct Indie {
    child: Child,
    urls: Value,
}

impl Drop for Indie {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A DAPS, the connector registered at it, and a target file describing the connector.
pub(crate) struct Setup {
    _daps: Daps,
    _dir: tempfile::TempDir,
    _indie: Indie,
    pub(crate) target: PathBuf,
}

/// How the connector is started and how the target file describes it.
pub(crate) struct Start<'a> {
    /// Command-line switches of `tests/indie/main.py` (`--fault`, `--management`, `--audience`).
    pub(crate) args: Vec<String>,
    /// `[management] kind` of the target file.
    pub(crate) management: &'a str,
    /// `[auth] audience` of the target file, when it sets one.
    pub(crate) audience: Option<&'a str>,
}

impl Start<'_> {
    /// The EDC-v3-shaped connector with these `--fault` switches on.
    fn v3(faults: &[&str]) -> Self {
        Start { args: faults.iter().flat_map(|f| ["--fault".to_string(), f.to_string()]).collect(), management: "edc-v3", audience: None }
    }
}

fn indie_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/indie")
}

/// Starts a DAPS, registers the harness and the connector at it, starts the connector and
/// writes a target file for it.
pub(crate) async fn setup(start: Start<'_>) -> Setup {
    let daps = Daps::new(DapsConfig { issuer: String::new(), admin_key: ADMIN_KEY.into(), token_lifetime: Duration::from_secs(900), clock_offset_secs: 0 }).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    daps.set_issuer(&format!("http://{}", listener.local_addr().unwrap()));
    tokio::spawn(daps::serve(daps.clone(), listener));

    let dir = tempfile::tempdir().unwrap();
    let harness = ParticipantKeys::generate(HARNESS_ID).unwrap();
    daps.register(&harness, "http://harness.test/");
    harness.save(&dir.path().join("harness-keys")).unwrap();
    let connector = ParticipantKeys::generate(CONNECTOR_ID).unwrap();
    daps.register(&connector, "http://indie.test/");
    connector.save(&dir.path().join("connector-keys")).unwrap();

    // The connector's own directory of participants: which DAT subject is which participant.
    let config = json!({
        "participant_id": CONNECTOR_ID,
        "api_key": API_KEY,
        "peers": { harness.client_id().as_str(): HARNESS_ID },
        "auth": {
            "token_url": daps.token_url(),
            "key_dir": dir.path().join("connector-keys"),
            "jwks_url": daps.jwks_url(),
            "issuer": daps.issuer(),
        },
    });
    let config_path = dir.path().join("connector.json");
    std::fs::write(&config_path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    // Starting the connector blocks until it prints its URLs; off the runtime's threads, so
    // other cases of a concurrent fault table are not held up meanwhile.
    let args = start.args.clone();
    let indie = tokio::task::spawn_blocking(move || spawn(&config_path, &args)).await.unwrap();
    let target = dir.path().join("indie.toml");
    std::fs::write(&target, target_file(&indie.urls, &daps, &start)).unwrap();
    Setup { _daps: daps, _dir: dir, _indie: indie, target }
}

fn spawn(config: &Path, args: &[String]) -> Indie {
    let mut command = Command::new("python3");
    command.arg(indie_dir().join("main.py")).arg("--config").arg(config).args(args);
    let mut child = command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().expect("start python3");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let urls: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("the connector printed {line:?}: {e}"));
    Indie { child, urls }
}

fn target_file(urls: &Value, daps: &Daps, start: &Start<'_>) -> String {
    let s = |k: &str| urls[k].as_str().unwrap().to_string();
    let audience = start.audience.map(|a| format!("audience = \"{a}\"\n")).unwrap_or_default();
    format!(
        r#"name = "indie"

[dsp]
url = "{dsp}"
root_url = "{root}"
participant_id = "{CONNECTOR_ID}"

[management]
kind = "{kind}"
url = "{management}"
api_key = "{API_KEY}"
setup = true

[auth]
kind = "daps"
token_url = "{token_url}"
key_dir = "harness-keys"
jwks_url = "{jwks_url}"
issuer = "{issuer}"
# The reference DAPS mints the expired and wrong-audience tokens of the identity cases.
daps_admin_key = "{ADMIN_KEY}"
{audience}
[dataset]
source_url = "{backend}"

[harness]
participant_id = "{HARNESS_ID}"
"#,
        kind = start.management,
        dsp = s("dsp"),
        root = s("root"),
        management = s("management"),
        backend = s("backend"),
        token_url = daps.token_url(),
        jwks_url = daps.jwks_url(),
        issuer = daps.issuer(),
    )
}

/// The suites' cases matching `patterns` (all of them when empty) against the target file.
pub(crate) async fn run(target: &Path, patterns: &[&str]) -> Vec<CaseReport> {
    let words: Vec<String> = patterns.iter().map(|p| p.to_string()).collect();
    let plan = RunPlan {
        scenario: false,
        suites: true,
        case_timeout: Duration::from_secs(20),
        // The connector moves within milliseconds; a case it never moves for (a fault that
        // withholds an agreement or a verification) fails after this wait.
        wait: Duration::from_secs(3),
        filter: Filter::from_words(&words, &[], None, &[], &[]).unwrap(),
        ..RunPlan::default()
    };
    let outcome = session::run(crate::support::target(target, &plan).await, &plan, &SchemaSet::embedded_2025_1(), &mut |_| {}).await.expect("run against the indie connector");
    outcome.cases
}

pub(crate) fn describe(case: &CaseReport) -> String {
    let findings: Vec<String> = case.findings.iter().map(|f| format!("[{}] {}", f.kind, f.message)).collect();
    format!("{} {:?}: {} {}", case.id, case.verdict, case.reason.clone().unwrap_or_default(), findings.join("; "))
}

pub(crate) fn ready(test: &str) -> bool {
    require_tool(test, "python3", "--version", "python3")
        && (Command::new("python3").args(["-c", "import cryptography"]).status().map(|s| s.success()).unwrap_or(false) || {
            crate::support::skip(test, "python3 has no cryptography module (pip install cryptography)");
            false
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_independent_connector_passes_every_case_it_can_be_tested_for() {
    if !ready("indie::sound") {
        return;
    }
    let setup = setup(Start::v3(&[])).await;
    let cases = run(&setup.target, &[]).await;
    let bad: Vec<String> = cases.iter().filter(|c| matches!(c.verdict, Verdict::Fail | Verdict::Error)).map(describe).collect();
    let skipped: Vec<&CaseReport> = cases.iter().filter(|c| c.verdict == Verdict::Skip).collect();
    let mut by_reason: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for case in &skipped {
        by_reason.entry(case.reason.clone().unwrap_or_default()).or_default().push(&case.id);
    }
    let passed = cases.iter().filter(|c| c.verdict == Verdict::Pass).count();
    eprintln!("indie: {} cases, {passed} passed, {} failed or errored, {} skipped", cases.len(), bad.len(), skipped.len());
    for (reason, ids) in &by_reason {
        eprintln!("  skip ({}) {reason}: {}", ids.len(), ids.join(" "));
    }
    assert!(bad.is_empty(), "false verdicts against the independent connector:\n{}", bad.join("\n"));
    assert!(!cases.is_empty());
    assert!(skipped.len() * 100 <= cases.len() * 15, "{} of {} cases skipped (more than 15 %)", skipped.len(), cases.len());
}

/// Each fault of the connector, the cases that must catch it (at least one must fail), so a
/// broken rule is never missed. Cases are run per fault, a few at a time, so the table stays
/// quick; two connectors at a time, so the rest of the suite running beside it keeps its
/// share of the machine.
const FAULTS: &[(&str, &[&str])] = &[
    ("accept-no-token", &["dsp.id.provider.001", "dsp.id.provider.008"]),
    ("accept-expired", &["dsp.id.provider.002", "dsp.id.provider.007"]),
    ("accept-any-audience", &["dsp.id.provider.003", "dsp.id.provider.009"]),
    ("catalog-wrong-type", &["dsp.cat.provider.001", "dsp.cat.provider.005"]),
    ("unknown-dataset-200", &["dsp.cat.provider.003"]),
    ("unknown-pid-200", &["dsp.err.provider.014"]),
    ("ignore-pids", &["dsp.err.provider.018"]),
    ("terminate-finalized", &["dsp.cn.provider.012"]),
    ("verify-anytime", &["dsp.cn.provider.045"]),
    ("never-agree", &["dsp.cn.provider.027"]),
    ("agreement-wrong-target", &["dsp.cn.provider.027"]),
    ("transfer-unfinalized", &["dsp.tp.provider.030"]),
    ("keep-token", &["dsp.tp.provider.035", "dsp.tp.provider.034"]),
    ("wrong-bytes", &["dsp.tp.provider.032"]),
    ("wrong-version", &["dsp.met.provider.001"]),
    ("send-no-token", &["dsp.id.provider.014", "dsp.id.consumer.005"]),
    ("never-verify", &["dsp.cn.consumer.004"]),
    ("verify-wrong-pid", &["dsp.cn.consumer.004"]),
    ("accept-any-callback", &["dsp.cn.consumer.011", "dsp.tp.consumer.011"]),
];

/// Runs `cases` against the connector with `fault` on; the problem, if none of them fails.
async fn check(fault: &'static str, cases: &'static [&'static str]) -> Option<String> {
    let setup = setup(Start::v3(&[fault])).await;
    let reports = run(&setup.target, cases).await;
    if reports.iter().any(|c| c.verdict == Verdict::Fail) {
        return None;
    }
    let seen: Vec<String> = reports.iter().map(describe).collect();
    Some(format!("fault {fault} was caught by none of {cases:?}: {}", seen.join(" | ")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_of_the_independent_connector_is_caught() {
    if !ready("indie::faults") {
        return;
    }
    let listed: Vec<&str> = FAULTS.iter().map(|(f, _)| *f).collect();
    let source = std::fs::read_to_string(indie_dir().join("main.py")).unwrap();
    for line in source.lines().filter(|l| l.trim_start().starts_with('"') && l.contains("\": \"")) {
        let name = line.trim().split('"').nth(1).unwrap();
        assert!(listed.contains(&name) || UNTESTED.contains(&name), "fault {name} of tests/indie/main.py has no row in the fault table");
    }
    let mut problems = Vec::new();
    for chunk in FAULTS.chunks(2) {
        let results = futures::future::join_all(chunk.iter().map(|(fault, cases)| check(fault, cases))).await;
        problems.extend(results.into_iter().flatten());
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Switches of the connector that break no rule, with the test that shows their verdict.
const UNTESTED: &[&str] = &[
    // Turns off an optional feature: its cases must skip, not fail (see
    // `an_absent_optional_feature_is_a_skip_not_a_failure`).
    "no-initial-offers",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_absent_optional_feature_is_a_skip_not_a_failure() {
    if !ready("indie::optional") {
        return;
    }
    let setup = setup(Start::v3(&["no-initial-offers"])).await;
    let cases = run(&setup.target, &["dsp.cn.consumer.017", "dsp.cn.consumer.018"]).await;
    assert_eq!(cases.len(), 2);
    for case in &cases {
        assert_eq!(case.verdict, Verdict::Skip, "{}", describe(case));
        assert!(case.reason.as_deref().unwrap_or_default().contains("provider-initiated offers"), "{}", describe(case));
    }
}
