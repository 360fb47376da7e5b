//! Report files as users and CI meet them: JUnit validated by xmllint against the committed
//! XSD, report.json against the committed JSON Schema, byte-identical regeneration from a saved
//! report.json, no secret in any written file, and the HTML page as headless Chromium shows it.
//!
//! xmllint (Debian `libxml2-utils`) and Chromium (Debian `chromium`) are external tools: when one
//! is missing the test says so and skips, except under `CI=true`, where it fails, because CI
//! installs both and a silent skip there would hide a broken check.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dsp_harness::report::model::*;
use dsp_harness::report::{load, render_json, write_all, Redactor, ReportFiles};
use serde_json::{json, Value};

/// A DAT as the DAPS would issue it: the token every secret check looks for.
const TOKEN: &str = "eyJhbGciOiJFUzI1NiIsImtpZCI6ImRhcHMtMSJ9.eyJpc3MiOiJkYXBzIiwic3ViIjoiY29uc3VtZXIiLCJhdWQiOiJwcm92aWRlciJ9.MEUCIQDx_sig-part_4711";
/// A management API key the run knows, also used where no rule could recognise it.
const API_KEY: &str = "sk-harness-4f1c9a2b7e55";
const PRIVATE_KEY_BODY: &str = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg";

fn manifest_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn chromium_binary() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"].into_iter().find(|p| {
        Command::new(p).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
    })
}

fn exchange(seq: u64, method: &str, url: &str) -> Exchange {
    Exchange {
        seq,
        from: "harness".into(),
        to: "connector-under-test".into(),
        method: method.into(),
        url: url.into(),
        request_headers: vec![],
        request_body: None,
        status: Some(200),
        response_headers: vec![("content-type".into(), "application/json".into())],
        response_body: None,
        error: None,
        duration_ms: 9,
        request_type: None,
        response_type: None,
        violations: vec![],
    }
}

fn case(id: &str, suite: &str, area: &str, level: Level, role: Role, verdict: Verdict) -> CaseReport {
    CaseReport {
        id: id.into(),
        title: format!("{id} checks its part of DSP 2025-1"),
        suite: suite.into(),
        area: area.into(),
        level,
        role,
        spec: "DSP 2025-1 §4.3 Contract Negotiation Provider Path Bindings".into(),
        tck_id: Some("CN:01-03".into()),
        tags: vec!["negotiation".into()],
        verdict,
        reason: None,
        findings: vec![],
        steps: vec![StepReport { name: "send".into(), verdict, duration_ms: 20, findings: vec![] }],
        started_at: "2025-06-01T10:00:01.250Z".into(),
        duration_ms: 31,
        exchanges: vec![],
        logs: vec![],
        dsp_version: None,
    }
}

/// A report with every optional part present, and secrets planted in headers, JSON bodies
/// (including `endpointProperties`), text bodies, findings, urls and logs.
fn realistic_report() -> Report {
    let mut catalog = case("dsp.catalog.001", "dsp.catalog", "catalog", Level::Must, Role::Provider, Verdict::Pass);
    let mut x = exchange(1, "POST", "http://127.0.0.1:39211/catalog/request");
    x.request_headers =
        vec![("content-type".into(), "application/json".into()), ("Authorization".into(), format!("Bearer {TOKEN}"))];
    x.request_body = Some(Body::Json(json!({
        "@context": ["https://w3id.org/dspace/2025/1/context.jsonld"],
        "@type": "CatalogRequestMessage",
        "filter": []
    })));
    x.response_body = Some(Body::Json(
        json!({"@type": "Catalog", "@id": "urn:uuid:cat-1", "dataset": [{"@id": "carbon-emissions"}]}),
    ));
    x.request_type = Some("CatalogRequestMessage".into());
    x.response_type = Some("Catalog".into());
    catalog.exchanges = vec![x];

    let mut negotiation =
        case("dsp.cn.provider.003", "dsp.cn.provider", "negotiation", Level::Must, Role::Provider, Verdict::Fail);
    negotiation.findings = vec![
        Finding::new("status", format!("provider rejected the DAT {TOKEN} with 401")).expected("201", "401").at(0),
        Finding::new("schema", "error body has no code").at(0),
    ];
    negotiation.steps = vec![
        StepReport { name: "request".into(), verdict: Verdict::Pass, duration_ms: 12, findings: vec![] },
        StepReport {
            name: "verify reply".into(),
            verdict: Verdict::Fail,
            duration_ms: 19,
            findings: vec![Finding::new("status", "unexpected status").expected("201", "401")],
        },
    ];
    let mut x = exchange(1, "POST", &format!("http://127.0.0.1:39211/negotiations/request?token={TOKEN}"));
    x.request_headers = vec![("content-type".into(), "application/json".into()), ("x-api-key".into(), API_KEY.into())];
    x.request_body = Some(Body::Json(json!({
        "@context": ["https://w3id.org/dspace/2025/1/context.jsonld"],
        "@type": "ContractRequestMessage",
        "consumerPid": "urn:uuid:consumer-pid-77",
        "callbackAddress": "http://127.0.0.1:39212/callback",
        "offer": {"@id": "offer-carbon-1", "target": "carbon-emissions"}
    })));
    x.status = Some(401);
    x.response_body = Some(Body::Json(json!({"@type": "ContractNegotiationError", "reason": ["unauthorized"]})));
    x.request_type = Some("ContractRequestMessage".into());
    x.response_type = Some("ContractNegotiationError".into());
    x.violations = vec![Violation {
        part: "response".into(),
        schema: "ContractNegotiationError".into(),
        instance_path: "".into(),
        message: "\"code\" is a required property".into(),
    }];
    negotiation.exchanges = vec![x];
    negotiation.logs = vec![LogExcerpt {
        component: "provider".into(),
        text: format!("loaded key\n-----BEGIN PRIVATE KEY-----\n{PRIVATE_KEY_BODY}\n-----END PRIVATE KEY-----\nrejecting Authorization: Bearer {TOKEN}"),
    }];

    let mut transfer =
        case("dsp.tp.consumer.004", "dsp.tp.consumer", "transfer", Level::Should, Role::Consumer, Verdict::Error);
    transfer.reason = Some(format!("management API refused key {API_KEY}"));
    let mut start = exchange(1, "POST", "http://127.0.0.1:39212/transfers/urn:uuid:tp-1/start");
    start.request_body = Some(Body::Json(json!({
        "@type": "TransferStartMessage",
        "providerPid": "urn:uuid:tp-1",
        "consumerPid": "urn:uuid:tc-1",
        "dataAddress": {
            "@type": "DataAddress",
            "endpointType": "https://w3id.org/idsa/v4.1/HTTP",
            "endpoint": "http://127.0.0.1:39213/public",
            "endpointProperties": [
                {"@type": "EndpointProperty", "name": "authorization", "value": TOKEN},
                {"@type": "EndpointProperty", "name": "authType", "value": "bearer"}
            ]
        }
    })));
    start.response_body = None;
    let mut pull = exchange(2, "GET", &format!("http://127.0.0.1:39213/public/keys/{API_KEY}/data?api_key={API_KEY}"));
    pull.request_headers = vec![("authorization".into(), TOKEN.into())];
    pull.response_headers = vec![("content-type".into(), "application/octet-stream".into())];
    pull.response_body = Some(Body::Binary {
        size: 1_048_576,
        sha256: "3b7d1e8f0a6c2b9e4d5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5".into(),
    });
    let mut mgmt = exchange(3, "POST", "http://127.0.0.1:39214/management/v3/transferprocesses");
    mgmt.request_headers = vec![("X-Api-Key".into(), API_KEY.into())];
    mgmt.request_body = Some(Body::Text(format!("{{\"apiKey\": \"{API_KEY}\", \"note\": \"truncated…")));
    mgmt.status = None;
    mgmt.response_headers = vec![];
    mgmt.error = Some(format!("connection reset while sending key {API_KEY}"));
    transfer.exchanges = vec![start, pull, mgmt];
    transfer.findings = vec![Finding::new("transport", format!("POST with key {API_KEY} was reset")).at(2)];

    let mut scenario = case("mvds.carbon.transfer", "mvds.carbon", "scenario", Level::May, Role::Both, Verdict::Skip);
    scenario.reason = Some("no S3 object store configured".into());
    scenario.steps = vec![];
    scenario.tck_id = None;

    let timeline = |base: f64| {
        (0..30)
            .map(|s| TimelinePoint {
                second: s,
                requests_per_second: base + (s as f64 * 0.7).sin() * base * 0.08,
                p50_ms: 4.0 + (s as f64 * 0.3).cos() * 0.8,
            })
            .collect::<Vec<_>>()
    };
    let mut report = Report {
        format_version: FORMAT_VERSION,
        tool: ToolInfo { name: "dsp-harness".into(), version: "0.1.0".into() },
        run: RunInfo {
            id: "run-2025-06-01-a".into(),
            command: "run".into(),
            started_at: "2025-06-01T10:00:00Z".into(),
            finished_at: "2025-06-01T10:00:42Z".into(),
            duration_ms: 42_000,
            runtime: "embedded".into(),
            target: TargetInfo {
                name: "reference".into(),
                management: "edc-v3".into(),
                dsp_url: "http://127.0.0.1:39211".into(),
                dsp_version: "2025-1".into(),
            },
            schemas: "embedded".into(),
        },
        summary: Summary::default(),
        cases: vec![catalog, negotiation, transfer, scenario],
        load: Some(LoadReport {
            scenarios: vec![
                LoadScenario {
                    name: "baseline.pull.1MiB".into(),
                    baseline: None,
                    users: 16,
                    payload_bytes: 1_048_576,
                    duration_ms: 30_000,
                    requests: 21_000,
                    requests_per_second: 700.0,
                    bytes_per_second: 700.0 * 1_048_576.0,
                    latency_ms: Percentiles { p50: 3.1, p90: 5.9, p99: 12.4, max: 40.2 },
                    errors: vec![],
                    ratio_to_baseline: None,
                    steps: vec![],
                    timeline: timeline(700.0),
                },
                LoadScenario {
                    name: "dataplane.pull.1MiB".into(),
                    baseline: Some("baseline.pull.1MiB".into()),
                    users: 16,
                    payload_bytes: 1_048_576,
                    duration_ms: 30_000,
                    requests: 18_000,
                    requests_per_second: 600.0,
                    bytes_per_second: 600.0 * 1_048_576.0,
                    latency_ms: Percentiles { p50: 4.0, p90: 7.5, p99: 15.25, max: 61.0 },
                    errors: vec![("status-500".into(), 2)],
                    ratio_to_baseline: Some(600.0 / 700.0),
                    steps: vec![("pull".into(), Percentiles { p50: 4.0, p90: 7.5, p99: 15.25, max: 61.0 })],
                    timeline: timeline(600.0),
                },
            ],
            thresholds: vec![ThresholdResult {
                threshold: "p99<=250ms".into(),
                scenario: "dataplane.pull.1MiB".into(),
                measured: 15.25,
                passed: true,
            }],
            peak_memory_bytes: Some(48 * 1024 * 1024),
        }),
        preflight: None,
        matrix: None,
    };
    report.summarize();
    report
}

fn run_redactor() -> Redactor {
    Redactor::with_secrets(vec![API_KEY.to_owned()])
}

fn write_realistic(dir: &Path) -> ReportFiles {
    write_all(&realistic_report(), dir, &run_redactor()).expect("report files written")
}

fn report_schema() -> jsonschema::Validator {
    let text = std::fs::read_to_string(manifest_path("fixtures/report.schema.json")).expect("committed schema");
    let schema: Value = serde_json::from_str(&text).expect("schema is JSON");
    jsonschema::draft202012::new(&schema).expect("schema compiles")
}

#[test]
fn report_json_validates_against_the_committed_schema() {
    let dir = tempfile::tempdir().unwrap();
    let files = write_realistic(dir.path());
    let value: Value = serde_json::from_str(&std::fs::read_to_string(&files.json).unwrap()).unwrap();
    // The document really has every optional part, so the schema is exercised everywhere.
    for pointer in [
        "/load/thresholds/0",
        "/load/peak_memory_bytes",
        "/load/scenarios/1/baseline",
        "/load/scenarios/1/ratio_to_baseline",
        "/load/scenarios/1/steps/0",
        "/load/scenarios/1/timeline/0",
        "/load/scenarios/1/errors/0",
        "/cases/0/tck_id",
        "/cases/1/findings/0/expected",
        "/cases/1/findings/0/exchange",
        "/cases/1/steps/1/findings/0",
        "/cases/1/exchanges/0/violations/0",
        "/cases/1/logs/0",
        "/cases/2/reason",
        "/cases/2/exchanges/0/request_body/value",
        "/cases/2/exchanges/1/response_body/value/sha256",
        "/cases/2/exchanges/2/request_body/value",
        "/cases/2/exchanges/2/error",
    ] {
        assert!(value.pointer(pointer).is_some(), "report.json lacks {pointer}");
    }
    let validator = report_schema();
    let errors: Vec<String> = validator.iter_errors(&value).map(|e| format!("{}: {e}", e.instance_path())).collect();
    assert!(errors.is_empty(), "report.json violates the schema:\n{}", errors.join("\n"));
    // The library's own check agrees with the committed file.
    assert!(dsp_harness::report::schema_violations(&value).is_empty());
}

#[test]
fn the_schema_rejects_broken_reports() {
    let validator = report_schema();
    let good: Value = serde_json::from_str(&render_json(&realistic_report())).unwrap();
    assert!(validator.is_valid(&good));
    let check = |what: &str, pointer: &str, replacement: Option<Value>| {
        let mut broken = good.clone();
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        let target = broken.pointer_mut(parent).unwrap_or_else(|| panic!("{parent} exists"));
        match (target, replacement) {
            (Value::Object(map), Some(v)) => {
                map.insert(key.to_owned(), v);
            }
            (Value::Object(map), None) => {
                map.remove(key);
            }
            (Value::Array(items), Some(v)) => items[key.parse::<usize>().unwrap()] = v,
            _ => panic!("cannot edit {pointer}"),
        }
        assert!(!validator.is_valid(&broken), "the schema accepts a report with {what}");
    };
    check("an unknown member in a case", "/cases/0/surprise", Some(json!(1)));
    check("an unknown verdict", "/cases/1/verdict", Some(json!("passed")));
    check("no run id", "/run/id", None);
    check("an unknown body kind", "/cases/1/exchanges/0/request_body/kind", Some(json!("xml")));
    check("a status that is a string", "/cases/1/exchanges/0/status", Some(json!("401")));
    check("a header that is not a pair", "/cases/1/exchanges/0/request_headers/0", Some(json!(["a", "b", "c"])));
    check("another format version", "/format_version", Some(json!(2)));
    check("a negative duration", "/cases/0/duration_ms", Some(json!(-1)));
    check("a null optional member", "/cases/0/tck_id", Some(Value::Null));
    check("an unknown member in a load scenario", "/load/scenarios/0/rps", Some(json!(1.0)));
    check("a lower-case level", "/summary/groups/0/level", Some(json!("must")));
    // And a document that is not a report at all.
    assert!(!validator.is_valid(&json!({"tests": 3, "failures": 0})));
}

#[test]
fn regenerating_from_saved_report_json_is_byte_identical() {
    let first = tempfile::tempdir().unwrap();
    let second = tempfile::tempdir().unwrap();
    let third = tempfile::tempdir().unwrap();
    let original = write_realistic(first.path());
    // `dsp-harness report` knows no secrets of the original run: the built-in rules suffice
    // because the saved file is already redacted.
    let loaded = load(&original.json).expect("saved report loads");
    let again = write_all(&loaded, second.path(), &Redactor::new()).unwrap();
    let once_more = write_all(&load(&again.json).unwrap(), third.path(), &run_redactor()).unwrap();
    for ((a, b), c) in original.paths().iter().zip(again.paths()).zip(once_more.paths()) {
        let (a_bytes, b_bytes, c_bytes) =
            (std::fs::read(a).unwrap(), std::fs::read(b).unwrap(), std::fs::read(c).unwrap());
        assert!(a_bytes == b_bytes, "{} differs after regenerating from report.json", b.display());
        assert!(a_bytes == c_bytes, "{} differs after a second regeneration", c.display());
    }
}

#[test]
fn no_secret_reaches_any_written_file() {
    let dir = tempfile::tempdir().unwrap();
    let files = write_realistic(dir.path());
    let secrets = [
        TOKEN.to_owned(),
        API_KEY.to_owned(),
        PRIVATE_KEY_BODY.to_owned(),
        // Fragments: no part of the token's payload or signature may survive either.
        TOKEN.split('.').nth(1).unwrap().to_owned(),
        TOKEN.split('.').nth(2).unwrap().to_owned(),
    ];
    for path in files.paths() {
        let text = std::fs::read_to_string(path).unwrap();
        for secret in &secrets {
            assert!(!text.contains(secret.as_str()), "{} contains the secret {secret}", path.display());
        }
        // Markdown escapes the brackets.
        let marked = text.contains("[REDACTED]") || text.contains("\\[REDACTED\\]");
        assert!(marked, "{} shows no redaction at all", path.display());
    }
    // Redaction kept the non-secret context that makes a report useful.
    let json = std::fs::read_to_string(&files.json).unwrap();
    for kept in
        ["\"name\": \"authType\"", "\"value\": \"bearer\"", "http://127.0.0.1:39213/public", "urn:uuid:consumer-pid-77"]
    {
        assert!(json.contains(kept), "report.json lost {kept}");
    }
}

#[test]
fn junit_xml_validates_against_the_committed_xsd() {
    if !crate::support::require_tool("junit_xml_validates_against_the_committed_xsd", "xmllint", "--version", "libxml2-utils") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let files = write_realistic(dir.path());
    let xsd = manifest_path("fixtures/junit.xsd");
    let xmllint = |file: &Path| {
        Command::new("xmllint").arg("--noout").arg("--schema").arg(&xsd).arg(file).output().expect("xmllint runs")
    };
    let output = xmllint(&files.junit);
    assert!(
        output.status.success(),
        "junit.xml does not validate:\n{}\n{}",
        String::from_utf8_lossy(&output.stderr),
        std::fs::read_to_string(&files.junit).unwrap()
    );
    let xml = std::fs::read_to_string(&files.junit).unwrap();
    for expected in [
        "<testcase name=\"dsp.cn.provider.003\" classname=\"dsp.cn.provider\" time=\"0.031\">",
        "<failure message=\"provider rejected the DAT [REDACTED] with 401\" type=\"status\">",
        "<error message=\"management API refused key [REDACTED]\" type=\"transport\">",
        "<skipped message=\"no S3 object store configured\"/>",
        "&gt; POST http://127.0.0.1:39211/negotiations/request?token=[REDACTED]",
    ] {
        assert!(xml.contains(expected), "junit.xml lacks {expected:?}");
    }
    // A load run without cases: its thresholds are the test cases.
    let mut load_only = realistic_report();
    load_only.cases.clear();
    load_only.run.command = "load".into();
    load_only.summarize();
    let load_dir = dir.path().join("load");
    let load_files = write_all(&load_only, &load_dir, &run_redactor()).unwrap();
    let output = xmllint(&load_files.junit);
    assert!(output.status.success(), "load junit.xml does not validate: {}", String::from_utf8_lossy(&output.stderr));
    let load_xml = std::fs::read_to_string(&load_files.junit).unwrap();
    assert!(load_xml.contains("<testcase name=\"dataplane.pull.1MiB: p99&lt;=250ms\" classname=\"load.thresholds\""));

    // The schema is not a rubber stamp: a test case with two verdicts is rejected.
    let broken = dir.path().join("broken.xml");
    std::fs::write(&broken, xml.replacen("<skipped message=", "<failure/><skipped message=", 1)).unwrap();
    assert!(!xmllint(&broken).status.success(), "xmllint accepted a test case with two verdicts");
}

/// Runs headless Chromium on the page and returns the DOM after the page's script ran.
fn dump_dom(chromium: &str, page: &Path, fragment: &str, profile: &Path) -> String {
    let url = format!("file://{}{fragment}", page.display());
    let child = Command::new(chromium)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-dev-shm-usage"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(&url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium starts");
    let output = wait_with_deadline(child, Duration::from_secs(120));
    assert!(output.status.success(), "chromium --dump-dom {url} failed");
    String::from_utf8(output.stdout).expect("DOM is UTF-8")
}

fn wait_with_deadline(mut child: std::process::Child, limit: Duration) -> std::process::Output {
    let started = Instant::now();
    loop {
        if child.try_wait().expect("chromium can be waited for").is_some() {
            return child.wait_with_output().expect("chromium output");
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("chromium did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// (case id, verdict, hidden) for every case body in a DOM dump.
fn case_rows(dom: &str) -> Vec<(String, String, bool)> {
    let tag = regex::Regex::new(r#"<tbody class="case [a-z]+"[^>]*>"#).unwrap();
    let attr = |tag: &str, name: &str| {
        regex::Regex::new(&format!(r#"\b{name}="([^"]*)""#)).unwrap().captures(tag).map(|c| c[1].to_owned())
    };
    tag.find_iter(dom)
        .map(|m| {
            let t = m.as_str();
            (
                attr(t, "id").unwrap_or_default().trim_start_matches("case-").to_owned(),
                attr(t, "data-status").unwrap_or_default(),
                regex::Regex::new(r"\shidden(=|\s|>)").unwrap().is_match(t),
            )
        })
        .collect()
}

#[test]
fn html_page_works_in_headless_chromium() {
    let Some(chromium) = chromium_binary() else {
        crate::support::skip("html_page_works_in_headless_chromium", "chromium is not installed (apt-get install -y chromium)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let files = write_realistic(dir.path());
    let profile = dir.path().join("chromium-profile");

    let dom = dump_dom(chromium, &files.html, "", &profile);
    let rows = case_rows(&dom);
    let ids: Vec<&str> = rows.iter().map(|(id, _, _)| id.as_str()).collect();
    assert_eq!(ids, ["dsp.catalog.001", "dsp.cn.provider.003", "dsp.tp.consumer.004", "mvds.carbon.transfer"]);
    assert!(rows.iter().all(|(_, _, hidden)| !hidden), "no filter, yet rows are hidden: {rows:?}");
    assert!(dom.contains("<table id=\"case-table\""), "the case table is in the DOM");
    // An exchange's request body, pretty-printed, is part of the page.
    // (The DOM serializer writes quotes in text literally.)
    assert!(
        dom.contains(
            "<span class=\"jk\">\"consumerPid\"</span>: <span class=\"js\">\"urn:uuid:consumer-pid-77\"</span>"
        ),
        "request body missing from the DOM"
    );
    assert!(dom.contains("<b class=\"method\">POST</b> <code class=\"url\">http://127.0.0.1:39211/negotiations/request?token=[REDACTED]</code>"));
    assert!(!dom.contains(TOKEN) && !dom.contains(API_KEY));

    // A filter in the URL hides the passing rows once the script ran.
    let filtered = dump_dom(chromium, &files.html, "#status=fail", &profile);
    let rows = case_rows(&filtered);
    assert_eq!(rows.len(), 4);
    for (id, status, hidden) in &rows {
        assert_eq!(*hidden, status != "fail", "{id} ({status}) hidden={hidden} with #status=fail");
    }
    assert!(filtered.contains("<span id=\"shown\">1</span>"), "the counter shows one case");
    let by_level = dump_dom(chromium, &files.html, "?level=must&role=provider", &profile);
    let visible: Vec<String> = case_rows(&by_level).into_iter().filter(|r| !r.2).map(|r| r.0).collect();
    assert_eq!(visible, ["dsp.catalog.001", "dsp.cn.provider.003"]);

    // A screenshot for people to look at (kept under target/ when the tree allows it).
    let shot_dir = manifest_path("target/report-screenshots");
    let shot = if std::fs::create_dir_all(&shot_dir).is_ok() {
        shot_dir.join("report.png")
    } else {
        dir.path().join("report.png")
    };
    let _ = std::fs::remove_file(&shot);
    let child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--window-size=1280,3200")
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}#status=fail&expand=1", files.html.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium starts");
    let output = wait_with_deadline(child, Duration::from_secs(120));
    assert!(output.status.success(), "chromium --screenshot failed");
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "screenshot is not a real PNG");
}
