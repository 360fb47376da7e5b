//! A small but complete report for the renderers' unit tests: every verdict, every body kind,
//! findings that point at exchanges, schema violations, logs, and a load section. Strings carry
//! markup and control characters on purpose, so escaping is exercised everywhere.

use serde_json::json;

use super::model::*;

pub(crate) const JWT: &str = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJjb25zdW1lciJ9.c2lnbmF0dXJlLXBhcnQ";

fn case(id: &str, suite: &str, area: &str, level: Level, role: Role, verdict: Verdict) -> CaseReport {
    CaseReport {
        id: id.into(),
        title: format!("title of {id}"),
        suite: suite.into(),
        area: area.into(),
        level,
        role,
        spec: "DSP 2025-1 §4.3 Contract Negotiation Provider Path Bindings".into(),
        tck_id: None,
        tags: vec![],
        verdict,
        reason: None,
        findings: vec![],
        steps: vec![],
        started_at: "2025-06-01T10:00:01Z".into(),
        duration_ms: 12,
        exchanges: vec![],
        logs: vec![],
        dsp_version: None,
    }
}

fn exchange(seq: u64) -> Exchange {
    Exchange {
        seq,
        from: "harness".into(),
        to: "connector-under-test".into(),
        method: "POST".into(),
        url: "http://127.0.0.1:4711/negotiations/request".into(),
        request_headers: vec![
            ("content-type".into(), "application/json".into()),
            ("authorization".into(), format!("Bearer {JWT}")),
        ],
        request_body: Some(Body::Json(json!({
            "@context": ["https://w3id.org/dspace/2025/1/context.jsonld"],
            "@type": "ContractRequestMessage",
            "consumerPid": "urn:uuid:c-1",
            "offer": {"@id": "offer-1", "target": "carbon-emissions"}
        }))),
        status: Some(400),
        response_headers: vec![("content-type".into(), "application/json".into())],
        response_body: Some(Body::Json(json!({
            "@type": "ContractNegotiationError",
            "code": "400",
            "reason": ["<b>bad</b> & \"worse\""]
        }))),
        error: None,
        duration_ms: 7,
        request_type: Some("ContractRequestMessage".into()),
        response_type: Some("ContractNegotiationError".into()),
        violations: vec![Violation {
            part: "response".into(),
            schema: "ContractNegotiationError".into(),
            instance_path: "/code".into(),
            message: "\"400\" is not of type \"integer\"".into(),
        }],
    }
}

pub(crate) fn sample_report() -> Report {
    let mut pass = case("dsp.catalog.001", "dsp.catalog", "catalog", Level::Must, Role::Provider, Verdict::Pass);
    pass.tck_id = Some("CAT:01-01".into());
    pass.tags = vec!["catalog".into(), "smoke".into()];
    pass.steps =
        vec![StepReport { name: "request catalog".into(), verdict: Verdict::Pass, duration_ms: 9, findings: vec![] }];
    let mut ok = exchange(1);
    ok.url = "http://127.0.0.1:4711/catalog/request".into();
    ok.status = Some(200);
    ok.violations.clear();
    ok.response_body = Some(Body::Text("plain <text> with \u{1b}[31m escape and \u{0} nul".into()));
    pass.exchanges = vec![ok];

    let mut fail =
        case("dsp.cn.provider.003", "dsp.cn.provider", "negotiation", Level::Must, Role::Provider, Verdict::Fail);
    fail.tck_id = Some("CN:01-03".into());
    fail.duration_ms = 1234;
    fail.findings = vec![
        Finding::new("status", "provider answered 400 to a valid <ContractRequestMessage>")
            .expected("201", "400")
            .at(0),
        Finding::new("schema", "error body does not match ContractNegotiationError").at(0),
    ];
    fail.steps = vec![
        StepReport { name: "send request".into(), verdict: Verdict::Pass, duration_ms: 800, findings: vec![] },
        StepReport {
            name: "check reply".into(),
            verdict: Verdict::Fail,
            duration_ms: 434,
            findings: vec![Finding::new("status", "unexpected status").expected("201", "400")],
        },
    ];
    let mut download = exchange(2);
    download.method = "GET".into();
    download.url = "http://127.0.0.1:4712/public/data".into();
    download.request_body = None;
    download.request_headers = vec![];
    download.status = Some(200);
    download.response_body = Some(Body::Binary {
        size: 1_048_576,
        sha256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
    });
    download.violations.clear();
    fail.exchanges = vec![exchange(1), download];
    fail.logs = vec![LogExcerpt { component: "provider".into(), text: "WARN rejected offer\nline 2".into() }];

    let mut skip =
        case("dsp.tp.consumer.010", "dsp.tp.consumer", "transfer", Level::Should, Role::Consumer, Verdict::Skip);
    skip.reason = Some("target has no consumer management API".into());
    skip.duration_ms = 0;

    let mut error = case("mvds.carbon.negotiate", "mvds.carbon", "scenario", Level::May, Role::Both, Verdict::Error);
    error.reason = Some("provider unreachable".into());
    let mut timeout = exchange(1);
    timeout.status = None;
    timeout.response_headers.clear();
    timeout.response_body = None;
    timeout.response_type = None;
    timeout.violations.clear();
    timeout.error = Some("connection refused".into());
    error.exchanges = vec![timeout];
    error.findings = vec![Finding::new("transport", "connection refused").at(0)];

    let mut report = Report {
        format_version: FORMAT_VERSION,
        tool: ToolInfo { name: "dsp-harness".into(), version: "0.1.0".into() },
        run: RunInfo {
            id: "run-1".into(),
            command: "run".into(),
            started_at: "2025-06-01T10:00:00Z".into(),
            finished_at: "2025-06-01T10:00:05Z".into(),
            duration_ms: 5000,
            runtime: "embedded".into(),
            target: TargetInfo {
                name: "reference".into(),
                management: "reference".into(),
                dsp_url: "http://127.0.0.1:4711".into(),
                dsp_version: "2025-1".into(),
            },
            schemas: "embedded".into(),
        },
        summary: Summary::default(),
        cases: vec![pass, fail, skip, error],
        load: Some(sample_load()),
        preflight: Some(PreflightReport {
            warnings: vec!["the file has no [auth] section: the harness sends no <tokens>".into()],
            checks: vec![
                PreflightCheck::ok("dsp url", "POST http://127.0.0.1:4711/catalog/request answered 200"),
                PreflightCheck::warn("version document", "does not announce 2025-1", "serve it at the root"),
            ],
        }),
        matrix: None,
    };
    report.summarize();
    report
}

pub(crate) fn sample_load() -> LoadReport {
    let timeline = |base: f64| {
        (0..10)
            .map(|s| TimelinePoint {
                second: s,
                requests_per_second: base + (s % 3) as f64 * 10.0,
                p50_ms: 4.0 + (s % 4) as f64,
            })
            .collect::<Vec<_>>()
    };
    let percentiles = Percentiles { p50: 4.5, p90: 8.25, p99: 20.0, max: 41.0 };
    LoadReport {
        scenarios: vec![
            LoadScenario {
                name: "baseline.pull.1MiB".into(),
                baseline: None,
                users: 8,
                payload_bytes: 1_048_576,
                duration_ms: 10_000,
                requests: 5000,
                requests_per_second: 500.0,
                bytes_per_second: 500.0 * 1_048_576.0,
                latency_ms: percentiles,
                errors: vec![],
                ratio_to_baseline: None,
                steps: vec![],
                timeline: timeline(500.0),
            },
            LoadScenario {
                name: "dataplane.pull.1MiB".into(),
                baseline: Some("baseline.pull.1MiB".into()),
                users: 8,
                payload_bytes: 1_048_576,
                duration_ms: 10_000,
                requests: 4000,
                requests_per_second: 400.0,
                bytes_per_second: 400.0 * 1_048_576.0,
                latency_ms: Percentiles { p50: 6.0, p90: 11.0, p99: 30.5, max: 55.0 },
                errors: vec![("status-500".into(), 3), ("timeout".into(), 1)],
                ratio_to_baseline: Some(0.8),
                steps: vec![("pull".into(), percentiles)],
                timeline: timeline(400.0),
            },
        ],
        thresholds: vec![
            ThresholdResult {
                threshold: "p99<=250ms".into(),
                scenario: "dataplane.pull.1MiB".into(),
                measured: 30.5,
                passed: true,
            },
            ThresholdResult {
                threshold: "ratio>=0.9".into(),
                scenario: "dataplane.pull.1MiB".into(),
                measured: 0.8,
                passed: false,
            },
        ],
        peak_memory_bytes: Some(64 * 1024 * 1024),
    }
}
