//! The Helm chart under `deploy/helm/dsp-harness`: `deploy/check.py` renders it (the template
//! subset the chart keeps to) and validates every manifest against the Kubernetes API schemas
//! offline (PyPI `kubernetes-validate`, which `.ci/run` installs). The load workers' target file
//! the chart ships is read by the harness's own target-file loader, so `load --target` in a pod
//! reads what the chart writes. A broken value must make the check fail.

use std::path::Path;
use std::process::{Command, Output};

use dsp_harness::target::file::TargetFile;

const CHECK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/check.py");

fn validator_available(test: &str) -> bool {
    let found = Command::new("python3")
        .args(["-c", "import kubernetes_validate, yaml"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        crate::support::skip(test, "the PyPI package kubernetes-validate is not installed (python3 -m pip install kubernetes-validate)");
    }
    found
}

fn check(args: &[&str]) -> Output {
    Command::new("python3").arg(CHECK).args(args).output().expect("run deploy/check.py")
}

#[test]
fn the_chart_renders_valid_manifests_and_a_target_file_load_reads() {
    if !validator_available("the_chart_renders_valid_manifests_and_a_target_file_load_reads") {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let result = check(&["--out", out.path().to_str().unwrap(), "--set", "load.workers=4"]);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(result.status.success(), "{stderr}");
    for kind in ["Deployment dsp-harness-provider", "Service dsp-harness-daps", "Job dsp-harness-load", "Secret dsp-harness-credentials"] {
        assert!(stderr.contains(kind), "{kind} missing: {stderr}");
    }
    let manifests = std::fs::read_to_string(out.path().join("manifests.yaml")).unwrap();
    assert!(manifests.contains("completionMode: Indexed") && manifests.contains("completions: 4"), "{manifests}");
    assert!(manifests.contains("$(WORKER_INDEX)/4"), "each worker takes its share: {manifests}");

    // The file the workers read is a target file the harness accepts, with its [load] section.
    std::env::set_var("PROVIDER_API_KEY", "p");
    std::env::set_var("CONSUMER_API_KEY", "c");
    let target = TargetFile::load(&out.path().join("target.toml")).unwrap_or_else(|e| panic!("the chart's target.toml: {e}"));
    let load = target.load.expect("a [load] section");
    assert_eq!(load.consumer.management_url, "http://dsp-harness-consumer:18082/management");
    assert!(load.payload_url.contains("{size}"));
    assert!(Path::new(&out.path().join("manifests.yaml")).exists());
}

#[test]
fn a_manifest_the_api_would_refuse_fails_the_check() {
    if !validator_available("a_manifest_the_api_would_refuse_fails_the_check") {
        return;
    }
    let result = check(&["--set", "ports.provider=not-a-port"]);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert_eq!(result.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("containerPort"), "{stderr}");
    let result = check(&["--set", "load.enabled=false"]);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(result.status.success() && !stderr.contains("Job dsp-harness-load"), "{stderr}");
}
