//! What the integration tests share about their outside needs: a tool, a Docker engine or the
//! official schemas beside the checkout. A test that cannot run without one calls [`skip`],
//! which prints why it skipped in the test output, or fails the test when `CI=true`, because CI
//! installs everything and a silent skip there would hide a check that never ran.

use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Whether this is a CI run (`CI=true`), where nothing may be skipped.
pub(crate) fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Says why `test` skipped, on stderr; panics instead under `CI=true`.
pub(crate) fn skip(test: &str, reason: &str) {
    assert!(!in_ci(), "{test}: {reason}, and CI=true: this check must run in CI");
    eprintln!("SKIPPED {test}: {reason}; this check did not run");
}

/// True when `program version_arg` runs; otherwise skips `test` through [`skip`], naming the
/// Debian package that brings the tool.
pub(crate) fn require_tool(test: &str, program: &str, version_arg: &str, debian_package: &str) -> bool {
    let found = Command::new(program).arg(version_arg).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok();
    if !found {
        skip(test, &format!("{program} is not installed (apt-get install -y {debian_package})"));
    }
    found
}

/// The directory `relative` to the checkout when it exists; otherwise skips `test` through
/// [`skip`], saying what is missing.
pub(crate) fn require_dir(test: &str, relative: &str, what: &str) -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative);
    if dir.is_dir() {
        return Some(dir);
    }
    skip(test, &format!("{what} not found at {}", dir.display()));
    None
}

/// The data space of a target file, read and preflighted with the plan's case timeout, as
/// `run --target` does.
pub async fn target(path: &std::path::Path, plan: &dsp_harness::runner::session::RunPlan) -> dsp_harness::runner::session::DataSpace {
    let checked = dsp_harness::runner::session::check_target_within(path, plan.case_timeout).await.expect("the target file reads");
    dsp_harness::runner::session::DataSpace::External(Box::new(checked))
}
