//! The preflight of `run --target` (issue #10): every mistake a new user made in a first
//! target file, and every way a connector or its surroundings can make a run pointless, gives
//! one clear line with its fix before any case runs. Driven by data through one `check`
//! helper against a scripted peer (wiremock: one server playing the connector's DSP endpoint,
//! version document, management API, DAPS and data source, each answer chosen by the row),
//! then against the reference connector described by a target file, where the harness serves
//! its asset's bytes itself and the pull case proves the bytes came through.

use std::path::Path;
use std::time::Duration;

use clap::Parser;
use dsp_harness::cli::{self, exit, Cli};
use dsp_harness::identity::ParticipantKeys;
use dsp_harness::reference::connector::{Fault, Faults};
use dsp_harness::report::model::{PreflightReport, PreflightStatus, Verdict};
use dsp_harness::runner::conformance::{run_cases, target_config, RunOptions, Timing};
use dsp_harness::runner::preflight::preflight;
use dsp_harness::runtime::embedded::{self, EmbeddedOptions};
use dsp_harness::target::TargetFile;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// How the scripted peer answers.
#[derive(Clone, Copy)]
struct Peer {
    catalog: u16,
    management: u16,
    versions: &'static [&'static str],
    data: u16,
    daps: u16,
}

const SOUND: Peer = Peer { catalog: 200, management: 200, versions: &["2025-1"], data: 200, daps: 200 };

async fn scripted(peer: Peer) -> MockServer {
    let server = MockServer::start().await;
    let catalog = json!({"@type": "Catalog", "dataset": [{"@id": "d1", "hasPolicy": [{"@id": "o1"}]}]});
    Mock::given(method("POST")).and(path("/dsp/catalog/request")).respond_with(ResponseTemplate::new(peer.catalog).set_body_json(catalog)).mount(&server).await;
    let versions: Vec<_> = peer.versions.iter().map(|v| json!({"version": v, "path": "/dsp", "binding": "HTTPS"})).collect();
    Mock::given(method("GET"))
        .and(path("/.well-known/dspace-version"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"protocolVersions": versions})))
        .mount(&server)
        .await;
    Mock::given(method("POST")).and(path("/management/v3/assets/request")).respond_with(ResponseTemplate::new(peer.management).set_body_json(json!([]))).mount(&server).await;
    Mock::given(method("GET")).and(path("/data")).respond_with(ResponseTemplate::new(peer.data).set_body_string("{\"co2\": 1}")).mount(&server).await;
    let token = if peer.daps == 200 { json!({"access_token": "a.b.c", "token_type": "bearer", "expires_in": 3600}) } else { json!({"error": "invalid_client"}) };
    Mock::given(method("POST")).and(path("/daps/token")).respond_with(ResponseTemplate::new(peer.daps).set_body_json(token)).mount(&server).await;
    Mock::given(method("GET")).and(path("/daps/jwks.json")).respond_with(ResponseTemplate::new(200).set_body_json(json!({"keys": []}))).mount(&server).await;
    server
}

/// A target file whose URLs point at `base` (`{base}` in the text), named `my-connector.toml`.
fn target(text: &str, base: &str, dir: &Path) -> TargetFile {
    let path = dir.join("my-connector.toml");
    std::fs::write(&path, text.replace("{base}", base)).unwrap();
    TargetFile::load(&path).unwrap_or_else(|e| panic!("the file parses: {e}"))
}

fn lines(report: &PreflightReport) -> Vec<String> {
    report.checks.iter().map(|c| c.line()).chain(report.warnings.iter().map(|w| format!("warn {w}"))).collect()
}

/// Runs the preflight of `text` against a peer answering as `peer`, and asserts that a line
/// with `status` contains `fragment`.
async fn check(text: &str, peer: Peer, status: PreflightStatus, fragment: &str) {
    let server = scripted(peer).await;
    let dir = tempfile::tempdir().unwrap();
    ParticipantKeys::generate("dsp-harness").unwrap().save(&dir.path().join("keys")).unwrap();
    let file = target(text, &server.uri(), dir.path());
    let report = preflight(&file).await;
    let all = lines(&report);
    let found = report.checks.iter().any(|c| c.status == status && c.line().contains(fragment))
        || (status == PreflightStatus::Warn && report.warnings.iter().any(|w| w.contains(fragment)));
    assert!(found, "no {} line contains {fragment:?}:\n{}", status.as_str(), all.join("\n"));
    if status == PreflightStatus::Fail {
        assert!(report.failed(), "a fail line fails the preflight");
    }
}

/// A port some listener holds for the rest of the test process.
fn taken_port() -> u16 {
    static HELD: std::sync::OnceLock<std::net::TcpListener> = std::sync::OnceLock::new();
    HELD.get_or_init(|| std::net::TcpListener::bind("127.0.0.1:0").unwrap()).local_addr().unwrap().port()
}

/// The smallest file a new user writes: no name, no [auth], no participant id.
const BARE: &str = "[dsp]\nurl = \"{base}/dsp\"\n";

const EDC: &str = r#"
[dsp]
url = "{base}/dsp"
[management]
kind = "edc-v3"
url = "{base}/management"
api_key = "the-key"
[dataset]
source_url = "{base}/data"
[auth]
kind = "none"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_first_target_file_mistake_gets_a_clear_line() {
    use PreflightStatus::{Fail, Ok, Warn};
    let daps = |extra: &str| {
        format!("[dsp]\nurl = \"{{base}}/dsp\"\nparticipant_id = \"p\"\n[auth]\nkind = \"daps\"\ntoken_url = \"{{base}}/daps/token\"\nkey_dir = \"keys\"\njwks_url = \"{{base}}/daps/jwks.json\"\n{extra}")
    };
    let rows: Vec<(&str, String, Peer, PreflightStatus, &str)> = vec![
        ("missing name", BARE.into(), SOUND, Ok, "target \"my-connector\" (the file's name"),
        ("missing auth", BARE.into(), SOUND, Warn, "the file has no [auth] section"),
        ("participant_id with auth none", BARE.into(), SOUND, Ok, "participant id \"my-connector\""),
        (
            "missing env var",
            EDC.replace("api_key = \"the-key\"", "api_key_env = \"NOPE_KEY_SURELY_UNSET\""),
            SOUND,
            Fail,
            "environment variable NOPE_KEY_SURELY_UNSET is not set (named by management.api_key_env) -> export NOPE_KEY_SURELY_UNSET=..., or give the value itself in management.api_key",
        ),
        ("trailing /v3", EDC.replace("/management\"", "/management/v3\""), SOUND, Warn, "ends in an API version; the harness adds it itself"),
        (
            "auth none against a token-wanting connector",
            EDC.into(),
            Peer { catalog: 401, ..SOUND },
            Fail,
            "the connector wants a token: configure [auth] kind = \"daps\" or \"static\"",
        ),
        ("a refused management key", EDC.into(), Peer { management: 401, ..SOUND }, Fail, "the management API refused the key in management.api_key"),
        (
            "a refused key from the environment",
            EDC.replace("api_key = \"the-key\"", "api_key_env = \"HOME\""),
            Peer { management: 403, ..SOUND },
            Fail,
            "the management API refused the key in the environment variable HOME (management.api_key_env)",
        ),
        ("a management url that is not the API's base", EDC.replace("/management\"", "/mgmt\""), SOUND, Fail, "no management API v3 there"),
        ("a dsp url that is not the binding's base", EDC.replace("/dsp\"", "/api\""), SOUND, Fail, "dsp.url must be the base of the DSP binding"),
        ("a sound edc-v3 target", EDC.into(), SOUND, Ok, "answered 200 with 1 dataset(s)"),
        ("the key is taken", EDC.into(), SOUND, Ok, "took the key from management.api_key"),
        ("auto speaks the version the document offers", EDC.into(), Peer { versions: &["2024-1"], ..SOUND }, Ok, "offers 2024-1 (dsp.version auto); the harness speaks 2024-1 at"),
        (
            "a forced version the document does not offer",
            EDC.replace("[dsp]\n", "[dsp]\nversion = \"2025-1\"\n"),
            Peer { versions: &["2024-1"], ..SOUND },
            Fail,
            "does not offer DSP 2025-1 (it offers 2024-1)",
        ),
        ("a data source that serves nothing", EDC.into(), Peer { data: 404, ..SOUND }, Warn, "pulls of the harness's asset will fail"),
        ("a data source that serves", EDC.into(), SOUND, Ok, "serves 10 bytes"),
        ("no data source", EDC.replace("source_url = \"{base}/data\"", ""), SOUND, Ok, "the harness serves the carbon-emissions fixture"),
        ("a DAPS that gives no token", daps(""), Peer { daps: 401, ..SOUND }, Fail, "no DAT from"),
        ("a DAPS key set", daps(""), Peer { daps: 401, ..SOUND }, Ok, "publishes 0 key(s)"),
        ("a DAPS that gives a token", daps(""), SOUND, Ok, "issued a DAT for audience \"p\""),
        (
            "a connector that does not trust the DAPS",
            daps(""),
            Peer { catalog: 401, ..SOUND },
            Fail,
            "was answered 401 -> the connector must trust the DAPS at",
        ),
        ("a harness port that is taken", format!("{BARE}[harness]\nport = {}\n", taken_port()), SOUND, Fail, "-> set [harness] bind to an address of this machine"),
        ("a harness server that binds", BARE.into(), SOUND, Ok, "harness server: binds 127.0.0.1:a port the OS picks"),
        ("a static token that is refused", "[dsp]\nurl = \"{base}/dsp\"\n[auth]\nkind = \"static\"\ntoken = \"t\"\n".into(), Peer { catalog: 403, ..SOUND }, Fail, "with the static token was answered 403"),
    ];
    for (name, text, peer, status, fragment) in rows {
        eprintln!("preflight row: {name}");
        check(&text, peer, status, fragment).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_connector_fails_the_preflight() {
    let dir = tempfile::tempdir().unwrap();
    // Port 9 (discard) on loopback: nothing listens there.
    let file = target(EDC, "http://127.0.0.1:9", dir.path());
    let report = preflight(&file).await;
    let all = lines(&report).join("\n");
    assert!(report.failed());
    assert!(all.contains("fail catalog: cannot reach http://127.0.0.1:9/dsp/catalog/request"), "{all}");
    assert!(all.contains("-> check dsp.url, and that the connector runs and is reachable from here"), "{all}");
    assert!(all.contains("fail management api: cannot reach"), "{all}");
}

async fn cli(args: &[&str]) -> u8 {
    let mut argv = vec!["dsp-harness"];
    argv.extend_from_slice(args);
    cli::run(Cli::try_parse_from(argv).expect("valid arguments")).await
}

/// `run --target --check` exits 0 when nothing failed and `PREFLIGHT_FAILED` otherwise; a run
/// whose preflight fails stops before any case, and still writes its report: every case an
/// error naming the failed preflight line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_and_run_stop_on_a_failed_preflight() {
    let sound = scripted(SOUND).await;
    let refusing = scripted(Peer { catalog: 401, ..SOUND }).await;
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(&good, EDC.replace("{base}", &sound.uri())).unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, EDC.replace("{base}", &refusing.uri())).unwrap();
    assert_eq!(cli(&["run", "--target", good.to_str().unwrap(), "--check"]).await, exit::SUCCESS);
    assert_eq!(cli(&["run", "--target", bad.to_str().unwrap(), "--check", "--format", "json"]).await, exit::PREFLIGHT_FAILED);
    let reports = dir.path().join("reports");
    assert_eq!(cli(&["run", "--target", bad.to_str().unwrap(), "--report-dir", reports.to_str().unwrap()]).await, exit::PREFLIGHT_FAILED);
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(reports.join("report.json")).expect("a report even so")).unwrap();
    let cases = report["cases"].as_array().unwrap();
    assert!(!cases.is_empty());
    for case in cases {
        let reason = case["reason"].as_str().unwrap_or_default();
        assert!(case["verdict"] == "error" || case["verdict"] == "skip", "{case}");
        if case["verdict"] == "error" {
            assert!(reason.starts_with("not run: the preflight failed") && reason.contains("catalog"), "{reason}");
        }
    }
    let received = refusing.received_requests().await.unwrap_or_default();
    assert!(received.iter().all(|r| !r.url.path().contains("/negotiations")), "no case ran against the refusing connector");
}

/// The reference connector described by a target file with `setup = true` and no
/// `[dataset] source_url`: the preflight passes and says the harness serves the data, the asset
/// the harness registers points at the harness's own server, and the pull case compares the
/// bytes that came through the connector with the fixture, passing against the sound connector
/// and failing against one that serves other bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_harness_serves_its_assets_bytes_and_the_pull_case_checks_them() {
    for fault in [None, Some(Fault::WrongBytes)] {
        let mut options = EmbeddedOptions::default();
        if let Some(fault) = fault {
            options.provider_faults = Faults::of([fault]);
        }
        let space = embedded::start(options).await.expect("starts");
        let dir = tempfile::tempdir().unwrap();
        space.harness_keys.save(&dir.path().join("keys")).unwrap();
        let info = &space.info;
        let text = format!(
            "name = \"reference-as-target\"\n[dsp]\nurl = \"{dsp}\"\nroot_url = \"{root}\"\nparticipant_id = \"{pid}\"\n\
             [management]\nkind = \"reference\"\nurl = \"{mgmt}\"\napi_key = \"{key}\"\n\
             [auth]\nkind = \"daps\"\ntoken_url = \"{token}\"\nkey_dir = \"keys\"\njwks_url = \"{jwks}\"\nissuer = \"{issuer}\"\n\
             [roles]\nprovider = true\nconsumer = false\n",
            dsp = info.provider.dsp_url,
            root = info.provider.root_url,
            pid = info.provider.participant_id,
            mgmt = info.provider.management_url,
            key = info.provider.api_key,
            token = info.daps.token_url(),
            jwks = info.daps.jwks_url(),
            issuer = space.daps.issuer(),
        );
        let file = target(&text, "", dir.path());
        let report = preflight(&file).await;
        let all = lines(&report).join("\n");
        assert!(report.checks.iter().all(|c| c.status == PreflightStatus::Ok), "every preflight line is ok against the reference connector:\n{all}");
        assert!(all.contains("the harness serves the carbon-emissions fixture"), "{all}");

        let options = RunOptions { timing: Timing { case_timeout: Duration::from_secs(30), wait: Duration::from_secs(3) }, ..RunOptions::default() };
        let config = target_config(&file, options).expect("a configuration");
        let cases: Vec<_> = dsp_harness::suite::all_cases().unwrap().into_iter().filter(|c| c.id.as_str() == "dsp.tp.provider.032").collect();
        assert_eq!(cases.len(), 1);
        let reports = run_cases(config, cases, &mut |_| {}).await.expect("the run starts");
        space.shutdown().await;
        let case = &reports[0];
        let source = case.exchanges.iter().find(|e| e.to == "asset-source").expect("the case read the asset's source");
        assert!(source.url.ends_with("/data/carbon-emissions.json"), "the source is the harness's own server: {}", source.url);
        assert_eq!(source.status, Some(200));
        match fault {
            None => assert_eq!(case.verdict, Verdict::Pass, "{case:?}"),
            Some(_) => {
                assert_eq!(case.verdict, Verdict::Fail, "{:?}", case.reason);
                assert!(case.findings.iter().any(|f| f.kind == "digest" && f.message.contains("differ from the asset's source")), "{:?}", case.findings);
            }
        }
    }
}

/// The same mistakes against the reference connector itself (a real DSP endpoint, DAPS and
/// management API, reached through a target file): each gives its line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_connector_shows_each_mistake() {
    use PreflightStatus::{Fail, Ok, Warn};
    let space = embedded::start(EmbeddedOptions::default()).await.expect("starts");
    let dir = tempfile::tempdir().unwrap();
    space.harness_keys.save(&dir.path().join("keys")).unwrap();
    let info = &space.info;
    let auth = format!(
        "[auth]\nkind = \"daps\"\ntoken_url = \"{}\"\nkey_dir = \"keys\"\njwks_url = \"{}\"\nissuer = \"{}\"\n",
        info.daps.token_url(),
        info.daps.jwks_url(),
        space.daps.issuer()
    );
    let sound = format!(
        "[dsp]\nurl = \"{dsp}\"\nroot_url = \"{root}\"\nparticipant_id = \"{pid}\"\n[management]\nkind = \"reference\"\nurl = \"{mgmt}\"\napi_key = \"{key}\"\n{auth}[roles]\nprovider = true\nconsumer = false\n",
        dsp = info.provider.dsp_url,
        root = info.provider.root_url,
        pid = info.provider.participant_id,
        mgmt = info.provider.management_url,
        key = info.provider.api_key,
    );
    let rows: Vec<(&str, String, PreflightStatus, &str)> = vec![
        ("sound", sound.clone(), Ok, "answered 200 with"),
        ("auth none against a connector that wants DATs", sound.replace(&auth, ""), Fail, "the connector wants a token: configure [auth] kind = \"daps\" or \"static\""),
        ("a wrong management key", sound.replace(&info.provider.api_key, "not-the-key"), Fail, "the management API refused the key in management.api_key"),
        ("a trailing /v3", sound.replace(&format!("{}\"", info.provider.management_url), &format!("{}/v3\"", info.provider.management_url)), Warn, "ends in an API version"),
        ("a trailing /v3 still reaches the API", sound.replace(&format!("{}\"", info.provider.management_url), &format!("{}/v3\"", info.provider.management_url)), Ok, "took the key"),
        ("another audience", sound.replace(&format!("participant_id = \"{}\"", info.provider.participant_id), "participant_id = \"somebody-else\""), Fail, "accept tokens for audience \"somebody-else\""),
        ("a dsp url that is not the binding's base", sound.replace(&format!("url = \"{}\"", info.provider.dsp_url), &format!("url = \"{}/nothing\"", info.provider.root_url)), Fail, "dsp.url must be the base of the DSP binding"),
    ];
    for (name, text, status, fragment) in rows {
        eprintln!("reference preflight row: {name}");
        let file = target(&text, "", dir.path());
        let report = preflight(&file).await;
        let all = lines(&report);
        let found = report.checks.iter().any(|c| c.status == status && c.line().contains(fragment)) || (status == Warn && report.warnings.iter().any(|w| w.contains(fragment)));
        assert!(found, "{name}: no {} line contains {fragment:?}:\n{}", status.as_str(), all.join("\n"));
        assert_eq!(report.failed(), status == Fail, "{name}:\n{}", all.join("\n"));
    }
    space.shutdown().await;
}
