//! The container runtime against a real Docker engine: the image builds from the binary this
//! test build made, the four containers start and answer, the consumer reaches the provider's
//! catalog across the private network, and no container or network of a run survives its
//! shutdown, a start that fails half-way, or a data space dropped without shutdown.
//!
//! Without an engine these tests print why and pass, except under CI=true, where a missing
//! engine is a failure: CI must exercise this runtime.

use std::path::Path;
use std::time::Duration;

use dsp_harness::runtime::docker::{self, DockerOptions, Role, RunId};
use serde_json::{json, Value};

/// Whether a Docker engine answers; prints the reason when the caller should skip.
async fn engine(test: &str) -> bool {
    match docker::docker_available().await {
        Ok(()) => true,
        Err(reason) => {
            crate::support::skip(test, &format!("no Docker engine answers ({reason})"));
            false
        }
    }
}

/// The image of the binary `cargo test` built (no second, release build).
async fn image() -> String {
    let binary = Path::new(env!("CARGO_BIN_EXE_dsp-harness")).to_path_buf();
    tokio::task::spawn_blocking(move || docker::ensure_image(&binary)).await.expect("the build task ran").expect("the image builds")
}

async fn assert_nothing_left(run_id: &RunId) {
    let left = docker::leftovers(run_id).await.expect("the engine lists containers and networks");
    assert!(left.is_empty(), "run {run_id} left behind: {left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_started_data_space_is_healthy_serves_the_catalog_and_leaves_nothing_behind() {
    if !engine("docker::a_started_data_space_is_healthy_serves_the_catalog_and_leaves_nothing_behind").await {
        return;
    }
    let options = DockerOptions::new(image().await);
    let run_id = options.run_id.clone();
    let space = docker::start(options).await.expect("the data space starts");
    let info = &space.info;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();

    for (what, url) in [("daps", &info.daps.url), ("provider", &info.provider.root_url), ("consumer", &info.consumer.root_url)] {
        assert!(url.starts_with("http://127.0.0.1:"), "{what} is not reached through loopback: {url}");
        let status = http.get(format!("{url}/health")).send().await.unwrap_or_else(|e| panic!("{what} health: {e}")).status();
        assert!(status.is_success(), "{what} health answered {status}");
    }
    let jwks: Value = http.get(info.daps.jwks_url()).send().await.unwrap().json().await.unwrap();
    assert!(jwks["keys"].as_array().is_some_and(|keys| !keys.is_empty()), "no signing key at the daps: {jwks}");
    let store = &info.object_store;
    dsp_harness::reference::objectstore::s3_client(&store.url, &store.access_key, &store.secret_key, &store.region)
        .list_buckets()
        .send()
        .await
        .expect("the store answers a signed ListBuckets");

    // The consumer, inside the network, asks the provider by its container name; only the
    // management call crosses from this process.
    assert_eq!(space.network_info.provider.dsp_url, "http://provider:8080/dsp");
    let response = http
        .post(format!("{}/v3/catalog/request", info.consumer.management_url))
        .header("X-Api-Key", &info.consumer.api_key)
        .json(&json!({
            "@context": {"@vocab": "https://w3id.org/edc/v0.0.1/ns/"},
            "@type": "CatalogRequest",
            "counterPartyAddress": space.network_info.provider.dsp_url,
            "counterPartyId": "company-x",
            "protocol": "dataspace-protocol-http:2025-1",
        }))
        .send()
        .await
        .expect("the consumer's management API answers");
    let status = response.status();
    let catalog: Value = response.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "catalog request answered {status}: {catalog}");
    assert!(catalog["@type"].as_str().is_some_and(|t| t.ends_with("Catalog")), "not a catalog: {catalog}");

    // The provider's backend is served inside the network at the URL an asset would name.
    assert_eq!(space.carbon_source_url(), "http://provider:8080/backend/carbon-emissions");
    let carbon = http.get(space.rewrite_url(&space.carbon_source_url())).send().await.unwrap();
    assert!(carbon.status().is_success(), "carbon data answered {}", carbon.status());
    assert_eq!(space.network_url(&info.object_store.url), "http://store:8080");

    let logs = space.logs().await;
    assert_eq!(logs.iter().map(|(role, _)| *role).collect::<Vec<_>>(), Role::ALL);
    for (role, text) in &logs {
        assert!(text.contains(&format!("\"component\":\"{role}\"")), "the {role} log lacks its start line: {text}");
        assert!(!text.contains('\u{1b}'), "the {role} log carries terminal colour codes: {text}");
    }

    space.shutdown().await;
    assert_nothing_left(&run_id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_that_fails_half_way_leaves_nothing_behind() {
    if !engine("docker::a_start_that_fails_half_way_leaves_nothing_behind").await {
        return;
    }
    let mut options = DockerOptions::new(image().await);
    options.consumer_args = vec!["--fault".to_string(), "no-such-fault".to_string()];
    let run_id = options.run_id.clone();
    let error = match docker::start(options).await {
        Ok(_) => panic!("a consumer with a bad command must not start"),
        Err(e) => e.to_string(),
    };
    assert!(error.contains("consumer"), "the error does not name the failing component: {error}");
    assert!(error.contains("no-such-fault"), "the error does not carry the component's log: {error}");
    assert_nothing_left(&run_id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_space_dropped_without_shutdown_leaves_nothing_behind() {
    if !engine("docker::a_data_space_dropped_without_shutdown_leaves_nothing_behind").await {
        return;
    }
    let options = DockerOptions::new(image().await);
    let run_id = options.run_id.clone();
    let space = docker::start(options).await.expect("the data space starts");
    assert!(!docker::leftovers(&run_id).await.unwrap().is_empty(), "the run's containers are not labelled");
    drop(space);
    assert_nothing_left(&run_id).await;
}

/// Set in the child process of the Ctrl-C test: there this test starts a data space and
/// waits to be interrupted, instead of driving the child.
const CHILD_ENV: &str = "DSP_HARNESS_DOCKER_INTERRUPT_CHILD";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_removes_the_run_and_ends_the_process() {
    if std::env::var_os(CHILD_ENV).is_some() {
        let mut options = DockerOptions::new(image().await);
        options.on_interrupt = docker::OnInterrupt::CleanUpAndThen(std::sync::Arc::new(|| std::process::exit(130)));
        let space = docker::start(options).await.expect("the data space starts");
        println!("run-id: {}", space.run_id);
        tokio::time::sleep(Duration::from_secs(60)).await;
        panic!("the interrupt did not end the process");
    }
    if !engine("docker::ctrl_c_removes_the_run_and_ends_the_process").await {
        return;
    }
    image().await;
    // The same test in a child process, so the interrupt and the exit hit only the child.
    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "docker::ctrl_c_removes_the_run_and_ends_the_process", "--nocapture", "--test-threads", "1"])
        .env(CHILD_ENV, "1")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the test binary runs again");
    let pid = child.id().expect("the child runs").to_string();
    // SIGINT, never SIGKILL: a killed child could not clean up, and its containers would stay.
    let interrupt = || assert!(std::process::Command::new("kill").args(["-INT", &pid]).status().expect("kill runs").success());
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(child.stdout.take().unwrap()));
    let found = tokio::time::timeout(Duration::from_secs(60), async {
        while let Ok(Some(line)) = lines.next_line().await {
            // libtest writes `test <name> ... ` without a newline before the test's own output.
            if let Some(at) = line.find("run-id: ") {
                return Some(line[at + "run-id: ".len()..].trim().to_string());
            }
        }
        None
    })
    .await;
    let Ok(Some(run_id)) = found else {
        interrupt();
        let _ = tokio::time::timeout(Duration::from_secs(30), child.wait()).await;
        panic!("the child did not start its data space within a minute");
    };
    let run_id = docker::RunId::from_string(run_id);
    let labelled = docker::leftovers(&run_id).await.unwrap();
    interrupt();
    assert!(!labelled.is_empty(), "the child's containers are not labelled");
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait()).await.expect("the child ends after the interrupt").unwrap();
    assert_eq!(status.code(), Some(130), "the child ended with {status}");
    assert_nothing_left(&run_id).await;
}

/// The carbon-emissions scenario and the conformance suites in containers: every case passes
/// (or is skipped with its reason), and nothing of the run is left afterwards.
/// `run --runtime docker` and one Ctrl-C: as in the other runtimes the run stops in order
/// within five seconds, writes the partial report and exits with `INTERRUPTED`, and the run's
/// containers are gone. (Before, the runtime's own handler removed the containers and ended the
/// process while the run was still writing, which could lose the report.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_during_a_docker_run_writes_the_partial_report() {
    if !engine("docker::ctrl_c_during_a_docker_run_writes_the_partial_report").await {
        return;
    }
    image().await;
    let (_dir, tmp, reports) = crate::cli::signal_dirs();
    let report_dir = reports.to_str().unwrap().to_string();
    let (code, stderr) = tokio::task::spawn_blocking(move || {
        crate::cli::interrupt_times(&["run", "--runtime", "docker", "--suites-only", "--report-dir", &report_dir], &tmp, "case finished", 1)
    })
    .await
    .unwrap();
    assert_eq!(code, Some(130), "{stderr}");
    let report: dsp_harness::report::model::Report = serde_json::from_str(&std::fs::read_to_string(reports.join("report.json")).unwrap()).expect("the partial report parses");
    assert!(report.interrupted_cases() > 0, "the cases that did not run are marked");
    let run_id = stderr.split("docker run ").nth(1).and_then(|rest| rest.split(':').next()).unwrap_or_else(|| panic!("no run id logged:\n{stderr}"));
    assert_nothing_left(&RunId::from_string(run_id.to_string())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scenario_and_suites_pass_in_containers_and_leave_nothing_behind() {
    use dsp_harness::report::model::Verdict;
    use dsp_harness::runner::session::{self, DataSpace, RunPlan};
    if !engine("docker::the_scenario_and_suites_pass_in_containers_and_leave_nothing_behind").await {
        return;
    }
    let options = DockerOptions::new(image().await);
    let run_id = options.run_id.clone();
    let plan = RunPlan { case_timeout: Duration::from_secs(30), ..RunPlan::default() };
    let outcome = session::run(DataSpace::Docker(options), &plan, &dsp_harness::schema::SchemaSet::embedded_2025_1(), &mut |_| {}).await.expect("the run completes");
    for case in &outcome.cases {
        match case.verdict {
            Verdict::Pass => {}
            Verdict::Skip => assert!(case.reason.as_deref().is_some_and(|r| !r.is_empty()), "{} skipped without a reason", case.id),
            _ => panic!("{} did not pass in containers: {:?} {:?}", case.id, case.reason, case.findings),
        }
    }
    let scenario: Vec<_> = outcome.cases.iter().filter(|c| c.id.starts_with("mvds.")).collect();
    assert_eq!(scenario.len(), 8);
    assert!(scenario.iter().all(|c| c.verdict == Verdict::Pass), "every scenario step passes in containers");
    assert!(outcome.cases.len() > 150, "the suites ran too: {} cases", outcome.cases.len());
    assert!(outcome.cases.iter().flat_map(|c| &c.exchanges).any(|e| e.request_type.as_deref() == Some("ContractRequestMessage")), "the consumer's DSP requests are recorded");
    assert_nothing_left(&run_id).await;
}

/// A run whose provider breaks the data plane fails half-way; the failed cases carry the
/// containers' logs, and still nothing of the run is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_fails_half_way_attaches_logs_and_leaves_nothing_behind() {
    use dsp_harness::report::model::Verdict;
    use dsp_harness::runner::session::{self, DataSpace, RunPlan};
    if !engine("docker::a_run_that_fails_half_way_attaches_logs_and_leaves_nothing_behind").await {
        return;
    }
    let mut options = DockerOptions::new(image().await);
    options.provider_args = vec!["--fault".into(), "wrong-bytes".into()];
    let run_id = options.run_id.clone();
    let plan = RunPlan { scenario: true, suites: false, case_timeout: Duration::from_secs(30), ..RunPlan::default() };
    let outcome = session::run(DataSpace::Docker(options), &plan, &dsp_harness::schema::SchemaSet::embedded_2025_1(), &mut |_| {}).await.expect("the run completes");
    let pull = outcome.cases.iter().find(|c| c.id == "mvds.carbon.04-pull").expect("the pull step ran");
    assert_eq!(pull.verdict, Verdict::Fail);
    assert!(pull.logs.iter().any(|l| l.component.contains("provider") && !l.text.is_empty()), "the failed case carries the provider's log");
    assert_nothing_left(&run_id).await;
}
