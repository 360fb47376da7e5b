//! `load`: the data plane load test against the embedded reference data space, its thresholds
//! and exit codes, a load target file, a broken data plane, and the proof that the reference
//! data plane streams (a 1 GiB pull does not grow the process's memory by more than 64 MiB).

use std::path::Path;
use std::time::{Duration, Instant};

use clap::Parser;
use dsp_harness::cli::{exit, Cli};
use dsp_harness::load::{self, BaselineMode, LoadOptions, LoadTarget, PayloadSource, ScenarioKind, TargetChoice};
use dsp_harness::reference::connector::{Fault, Faults};
use dsp_harness::report::model::{LoadScenario, Report};
use dsp_harness::runtime::embedded::{self, EmbeddedDataSpace, EmbeddedOptions};

fn read_report(dir: &Path) -> Report {
    dsp_harness::report::load(&dir.join("report.json")).expect("report.json")
}

fn scenario<'a>(report: &'a [LoadScenario], name: &str) -> &'a LoadScenario {
    report.iter().find(|s| s.name == name).unwrap_or_else(|| panic!("no scenario {name}"))
}

async fn cli(args: &[&str]) -> u8 {
    let mut argv = vec!["dsp-harness", "load"];
    argv.extend_from_slice(args);
    dsp_harness::cli::run(Cli::parse_from(argv)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_measures_pulls_next_to_their_baselines_and_whole_flows() {
    let dir = tempfile::tempdir().unwrap();
    let report_dir = dir.path().to_str().unwrap();
    let code = cli(&[
        "--sizes",
        "1KiB,1MiB",
        "--users",
        "2",
        "--flow-users",
        "2",
        "--duration",
        "1",
        "--report-dir",
        report_dir,
        "--format",
        "json",
    ])
    .await;
    assert_eq!(code, exit::SUCCESS);

    let text = std::fs::read_to_string(dir.path().join("report.json")).unwrap();
    let violations = dsp_harness::report::schema_violations(&serde_json::from_str(&text).unwrap());
    assert!(violations.is_empty(), "report.json breaks the committed schema: {violations:?}");
    let report = read_report(dir.path());
    assert_eq!(report.run.command, "load");
    assert_eq!(report.run.runtime, "embedded");
    let load = report.load.expect("load figures");
    let names: Vec<&str> = load.scenarios.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["baseline.pull.1KiB", "dataplane.pull.1KiB", "baseline.pull.1MiB", "dataplane.pull.1MiB", "flow.full"]);
    for s in &load.scenarios {
        assert!(s.errors.is_empty(), "{} had errors: {:?}", s.name, s.errors);
        assert!(s.requests > 0 && s.requests_per_second > 0.0, "{} sent nothing", s.name);
        assert!(
            s.latency_ms.p50 > 0.0 && s.latency_ms.p50 <= s.latency_ms.p90 && s.latency_ms.p99 <= s.latency_ms.max,
            "{}: {:?}",
            s.name,
            s.latency_ms
        );
        // Every request is counted once and every successful pull delivered the whole payload.
        let expected = s.requests_per_second * s.payload_bytes as f64;
        assert!(
            (s.bytes_per_second - expected).abs() <= expected * 0.01 + 1.0,
            "{}: {} B/s for {} req/s",
            s.name,
            s.bytes_per_second,
            s.requests_per_second
        );
        assert!(!s.timeline.is_empty(), "{} has no timeline", s.name);
    }
    for size in ["1KiB", "1MiB"] {
        let pull = scenario(&load.scenarios, &format!("dataplane.pull.{size}"));
        let baseline = scenario(&load.scenarios, &format!("baseline.pull.{size}"));
        assert_eq!(pull.baseline.as_deref(), Some(baseline.name.as_str()));
        let ratio = pull.ratio_to_baseline.expect("a ratio to the baseline");
        assert!((ratio - pull.bytes_per_second / baseline.bytes_per_second).abs() < 0.001, "{ratio}");
    }
    let flow = scenario(&load.scenarios, "flow.full");
    let steps: Vec<&str> = flow.steps.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(steps, ["catalog", "negotiate", "transfer", "pull", "terminate"]);
    assert!(flow.latency_ms.p50 >= flow.steps.iter().map(|(_, p)| p.p50).fold(0.0, f64::max), "a flow takes at least its slowest step");
    assert!(load.peak_memory_bytes.is_some_and(|b| b > 1 << 20), "memory of the in-process data plane is measured");
    for file in ["report.html", "summary.md", "junit.xml"] {
        assert!(dir.path().join(file).metadata().unwrap().len() > 0, "{file} is empty");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_breached_threshold_exits_with_threshold_breached() {
    let dir = tempfile::tempdir().unwrap();
    let report_dir = dir.path().to_str().unwrap();
    let thresholds = dir.path().join("thresholds.toml");
    std::fs::write(&thresholds, "thresholds = [\"errors<=0%\", \"memory-growth<=512MiB\"]\n").unwrap();
    let common =
        ["--scenario", "pull", "--sizes", "1KiB", "--users", "2", "--duration", "1", "--report-dir", report_dir, "--format", "json"];

    let mut held = common.to_vec();
    held.extend(["--threshold", "rps>=1", "--threshold", "ratio>=0.001", "--thresholds-file", thresholds.to_str().unwrap()]);
    assert_eq!(cli(&held).await, exit::SUCCESS);
    let results = read_report(dir.path()).load.unwrap().thresholds;
    let judged: Vec<(&str, &str, bool)> = results.iter().map(|t| (t.threshold.as_str(), t.scenario.as_str(), t.passed)).collect();
    assert_eq!(
        judged,
        [
            ("rps>=1", "dataplane.pull.1KiB", true),
            ("ratio>=0.001", "dataplane.pull.1KiB", true),
            ("errors<=0%", "dataplane.pull.1KiB", true),
            ("memory-growth<=512MiB", "dataplane.pull.1KiB", true),
        ]
    );

    let mut breached = common.to_vec();
    breached.extend(["--threshold", "p50<=1us", "--threshold", "baseline.*:throughput>=1GB/s"]);
    assert_eq!(cli(&breached).await, exit::THRESHOLD_BREACHED);
    let results = read_report(dir.path()).load.unwrap().thresholds;
    let p50 = results.iter().find(|t| t.threshold == "p50<=1us").unwrap();
    assert!(!p50.passed && p50.measured > 0.001, "{p50:?}");

    // Rules that could judge nothing, or do not parse, stop the run before it starts.
    let mut typo = common.to_vec();
    typo.extend(["--threshold", "dataplane.pull.2KiB:p99<=1s"]);
    assert_eq!(cli(&typo).await, exit::USAGE);
    let mut nonsense = common.to_vec();
    nonsense.extend(["--threshold", "p99 about 1s"]);
    assert_eq!(cli(&nonsense).await, exit::USAGE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_budget_ends_a_scenario_before_its_time() {
    let options = LoadOptions {
        kinds: vec![ScenarioKind::Pull],
        sizes: vec![1024],
        users: 2,
        duration: Duration::from_secs(60),
        max_requests: 20,
        baseline: BaselineMode::Skip,
        // The bare server still starts, as the provider's source this time.
        source: PayloadSource::Baseline,
        ..LoadOptions::default()
    };
    let started = Instant::now();
    let run = load::run(&options, &mut |_| {}).await.expect("load run");
    assert!(started.elapsed() < Duration::from_secs(30), "took {:?}", started.elapsed());
    let pull = &run.load.scenarios[0];
    assert_eq!((pull.name.as_str(), pull.requests), ("dataplane.pull.1KiB", 20));
    assert!(pull.ratio_to_baseline.is_none());
    assert!(pull.errors.is_empty(), "{:?}", pull.errors);
    assert_eq!(run.target.name, "reference data space (embedded, payloads from the bare server)");
}

/// The same target file `run --target` reads, with a `[load]` section naming the consumer.
fn target_file(space: &EmbeddedDataSpace) -> String {
    let info = &space.info;
    format!(
        "name = \"embedded, as a target\"\n\n[dsp]\nurl = \"{dsp}\"\nparticipant_id = \"{pid}\"\n\n\
         [management]\nkind = \"reference\"\nurl = \"{pm}\"\napi_key = \"{pk}\"\n\n[auth]\nkind = \"none\"\n\n\
         [load]\npayload_url = \"{backend}/payload/{{size}}\"\nsizes = [\"64KiB\"]\n\n\
         [load.consumer]\nmanagement_url = \"{cm}\"\napi_key = \"{ck}\"\n",
        backend = space.backend_url,
        pid = info.provider.participant_id,
        dsp = info.provider.dsp_url,
        pm = info.provider.management_url,
        pk = info.provider.api_key,
        cm = info.consumer.management_url,
        ck = info.consumer.api_key,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_file_reaches_connectors_outside_the_run_and_a_broken_data_plane_shows() {
    let broken = EmbeddedOptions { provider_faults: Faults::of([Fault::WrongBytes]), ..EmbeddedOptions::default() };
    let space = embedded::start(broken).await.expect("data space");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("target.toml");
    std::fs::write(&path, target_file(&space)).unwrap();
    let target = LoadTarget::read(&path).expect("target file");
    assert_eq!(target.sizes, vec![64 * 1024]);
    let options = LoadOptions {
        target: TargetChoice::External(Box::new(target)),
        kinds: vec![ScenarioKind::Pull],
        sizes: vec![64 * 1024],
        users: 2,
        duration: Duration::from_secs(1),
        thresholds: load::threshold::parse_all(&["errors<=0%".into(), "memory-growth<=1GiB".into()]).unwrap(),
        ..LoadOptions::default()
    };
    let run = load::run(&options, &mut |_| {}).await.expect("load run");
    assert_eq!(run.target.runtime, "external");
    assert_eq!(run.target.name, "embedded, as a target");
    assert!(run.secrets.contains(&space.info.provider.api_key));
    let pull = scenario(&run.load.scenarios, "dataplane.pull.64KiB");
    // Each user checks its first pull by digest; the flipped byte is caught there.
    assert_eq!(pull.errors, vec![("digest".to_string(), 2)], "{pull:?}");
    let baseline = scenario(&run.load.scenarios, "baseline.pull.64KiB");
    assert!(baseline.errors.is_empty(), "the baseline serves the right bytes: {:?}", baseline.errors);
    // Memory of a data plane in another process is not measured, so a memory rule cannot hold.
    assert_eq!(run.load.peak_memory_bytes, None);
    assert!(run.memory_note.contains("not measured"));
    assert!(!run.passed());
    let failed: Vec<&str> = run.load.thresholds.iter().filter(|t| !t.passed).map(|t| t.threshold.as_str()).collect();
    assert_eq!(failed, ["errors<=0%", "memory-growth<=1GiB"]);
    space.shutdown().await;
}

/// The reference data plane streams: a 1 GiB pull through it, digest checked, grows the
/// resident memory of the process that runs it by less than 64 MiB. It runs `dsp-harness load`
/// as a child process, so no other test of this binary can disturb the measurement.
#[test]
fn a_gibibyte_pull_streams_through_the_reference_data_plane_in_constant_memory() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_dsp-harness"))
        .args(["load", "--scenario", "pull", "--sizes", "1GiB", "--users", "1", "--max-requests", "1", "--no-baseline"])
        .args(["--duration", "120", "--timeout", "120", "--format", "json"])
        .args(["--threshold", "memory-growth<=64MiB", "--threshold", "errors<=0%", "--report-dir"])
        .arg(dir.path())
        .output()
        .expect("dsp-harness runs");
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(i32::from(exit::SUCCESS)), "stderr:\n{stderr}");
    let report: Report = serde_json::from_slice(&output.stdout).expect("the JSON report on stdout");
    let load = report.load.expect("load figures");
    let pull = scenario(&load.scenarios, "dataplane.pull.1GiB");
    assert_eq!((pull.payload_bytes, pull.requests), (1 << 30, 1));
    assert!(pull.errors.is_empty(), "the pull failed (size or digest): {:?}", pull.errors);
    let growth = load.thresholds.iter().find(|t| t.threshold == "memory-growth<=64MiB").expect("growth judged");
    assert!(growth.passed && growth.measured < (64 << 20) as f64, "{growth:?}");
    eprintln!(
        "1 GiB pull: {:.1} MiB/s, memory grew by {:.1} MiB, {:.1} s in all",
        pull.bytes_per_second / 1048576.0,
        growth.measured / 1048576.0,
        took.as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_target_reads_the_run_target_file_and_explains_the_former_format() {
    let space = embedded::start(EmbeddedOptions::default())
        .await
        .expect("data space");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("target.toml");
    std::fs::write(&path, target_file(&space)).unwrap();
    let reports = dir.path().join("report");
    let args = [
        "--scenario",
        "pull",
        "--users",
        "1",
        "--max-requests",
        "5",
        "--no-baseline",
        "--format",
        "json",
        "--report-dir",
    ];
    let with_target = |target: &std::path::Path| -> Vec<String> {
        let mut argv: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        argv.extend([reports.display().to_string(), "--target".into(), target.display().to_string()]);
        argv
    };
    let argv = with_target(&path);
    assert_eq!(cli(&argv.iter().map(String::as_str).collect::<Vec<_>>()).await, exit::SUCCESS);
    let load = read_report(&reports).load.unwrap();
    // The sizes come from the file's [load] section.
    let pull = scenario(&load.scenarios, "dataplane.pull.64KiB");
    assert_eq!((pull.requests, pull.errors.len()), (5, 0));

    let former = dir.path().join("former.toml");
    std::fs::write(&former, "name = \"x\"\npayload_url = \"http://127.0.0.1:1/{size}\"\n[provider]\nparticipant_id = \"p\"\ndsp_url = \"http://127.0.0.1:1/dsp\"\nmanagement_url = \"http://127.0.0.1:1/m\"\napi_key = \"k\"\n[consumer]\nmanagement_url = \"http://127.0.0.1:2/m\"\napi_key = \"k\"\n").unwrap();
    let argv = with_target(&former);
    assert_eq!(cli(&argv.iter().map(String::as_str).collect::<Vec<_>>()).await, exit::SETUP_FAILED);
    space.shutdown().await;
}

/// A plain HTTP server on loopback serving `size` bytes at `/file`, as nginx would.
async fn plain_server(size: usize) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let body = bytes::Bytes::from(vec![b'x'; size]);
    let app = axum::Router::new().route(
        "/file",
        axum::routing::get(move || std::future::ready(body.clone())),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/file")
}

fn harness(args: &[&str]) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_dsp-harness"))
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("dsp-harness runs")
}

fn finish(child: std::process::Child) -> (Option<i32>, String) {
    let output = child.wait_with_output().unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_url_pulls_a_plain_url_and_names_the_host() {
    let url = plain_server(4096).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap().to_string();
    let code = cli(&[
        "--url",
        &url,
        "--users",
        "2",
        "--max-requests",
        "30",
        "--duration",
        "20",
        "--report-dir",
        &out,
        "--format",
        "json",
    ])
    .await;
    assert_eq!(code, exit::SUCCESS);
    let report = read_report(dir.path());
    assert_eq!(report.run.runtime, "url");
    let load = report.load.unwrap();
    assert_eq!(load.scenarios.len(), 1);
    let pull = scenario(&load.scenarios, load::URL_PULL);
    assert_eq!(
        (pull.requests, pull.payload_bytes, pull.errors.len()),
        (30, 4096, 0)
    );
    // The flow needs connectors; a plain URL has none.
    assert_eq!(
        cli(&["--url", &url, "--scenario", "flow", "--report-dir", &out]).await,
        exit::USAGE
    );
    // The hosts are named on stderr before load goes there.
    let (code, stderr) = tokio::task::spawn_blocking(move || {
        finish(harness(&[
            "load",
            "--url",
            &url,
            "--users",
            "1",
            "--max-requests",
            "3",
            "--report-dir",
            &out,
        ]))
    })
    .await
    .unwrap();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("load: sending requests to url 127.0.0.1:"),
        "{stderr}"
    );
    assert!(
        stderr.contains("cores"),
        "the CPU the load generator used is shown: {stderr}"
    );
}

/// N worker processes with `--worker i/N` send together what one run sends, and `report merge`
/// adds their reports up to one run's totals (runs bounded by request count, so totals are
/// exact).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_merged_equal_one_run() {
    let url = plain_server(8192).await;
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let common: Vec<String> = [
        "load",
        "--url",
        &url,
        "--users",
        "6",
        "--max-requests",
        "61",
        "--duration",
        "60",
        "--format",
        "json",
    ]
    .map(String::from)
    .to_vec();
    let (single, w0, w1, w2, merged) = (
        path("single"),
        path("w0"),
        path("w1"),
        path("w2"),
        path("merged"),
    );
    let workers: Vec<(String, String)> = [("0/3", &w0), ("1/3", &w1), ("2/3", &w2)]
        .iter()
        .map(|(w, d)| (w.to_string(), d.to_string()))
        .collect();
    let (single_c, workers_c) = (single.clone(), common.clone());
    let outcome = tokio::task::spawn_blocking(move || {
        let mut args: Vec<&str> = common.iter().map(String::as_str).collect();
        args.extend(["--report-dir", &single_c]);
        let single = finish(harness(&args));
        let children: Vec<std::process::Child> = workers
            .iter()
            .map(|(worker, dir)| {
                let mut args: Vec<&str> = workers_c.iter().map(String::as_str).collect();
                args.extend(["--worker", worker, "--report-dir", dir]);
                harness(&args)
            })
            .collect();
        let workers: Vec<(Option<i32>, String)> = children.into_iter().map(finish).collect();
        (single, workers)
    })
    .await
    .unwrap();
    assert_eq!(outcome.0 .0, Some(0), "{}", outcome.0 .1);
    for (code, stderr) in &outcome.1 {
        assert_eq!(*code, Some(0), "{stderr}");
    }
    let code = dsp_harness::cli::run(Cli::parse_from([
        "dsp-harness",
        "report",
        "merge",
        &w0,
        &w1,
        &w2,
        "--out",
        &merged,
        "--format",
        "json",
        "--threshold",
        "errors<=0%",
    ]))
    .await;
    assert_eq!(code, exit::SUCCESS);

    let one = read_report(Path::new(&single)).load.unwrap();
    let all = read_report(Path::new(&merged)).load.unwrap();
    let (one, total) = (
        scenario(&one.scenarios, load::URL_PULL),
        scenario(&all.scenarios, load::URL_PULL),
    );
    use dsp_harness::report::merge::bytes;
    assert_eq!(
        (total.requests, bytes(total), total.users),
        (one.requests, bytes(one), one.users)
    );
    assert_eq!((total.requests, bytes(total)), (61, 61 * 8192));
    // Each worker's share is in the merged report too: 21, 20 and 20 requests of 2 users each.
    let shares: Vec<(u64, u32)> = (0..3)
        .map(|i| scenario(&all.scenarios, &format!("worker.{i}.{}", load::URL_PULL)))
        .map(|s| (s.requests, s.users))
        .collect();
    assert_eq!(shares, [(21, 2), (20, 2), (20, 2)]);
    assert_eq!(
        all.thresholds.len(),
        1,
        "thresholds are judged on the totals only: {:?}",
        all.thresholds
    );
    // A missing worker's report makes the totals wrong, so merge refuses.
    let code = dsp_harness::cli::run(Cli::parse_from([
        "dsp-harness",
        "report",
        "merge",
        &w0,
        &w2,
        "--out",
        &merged,
    ]))
    .await;
    assert_eq!(code, exit::SETUP_FAILED);
}
