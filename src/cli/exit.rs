//! Exit codes: named, documented constants, each with one meaning. README.md lists them too.
//!
//! "The tested thing failed" (100 and up) is kept apart from "the harness could not do its
//! job" (1 to 4), so CI can tell a non-conformant connector from a broken pipeline.

/// Everything ran and every check passed (skips do not fail a run).
pub const SUCCESS: u8 = 0;
/// The harness itself failed unexpectedly (a bug: please report it). A panic exits with this
/// code (the panic hook in `main.rs`), not with Rust's 101, which is `THRESHOLD_BREACHED`.
pub const INTERNAL_ERROR: u8 = 1;
/// The command line was wrong (clap's own code).
pub const USAGE: u8 = 2;
/// The harness could not run: a bad target file, a port it could not bind, a report it
/// could not write, a component that did not start.
pub const SETUP_FAILED: u8 = 3;
/// `--runtime docker` was asked for and no Docker engine answers.
pub const DOCKER_UNAVAILABLE: u8 = 4;
/// `run --target`: the preflight found something that makes the target untestable (a URL
/// that does not answer, a refused key or token, a missing variable); no case ran, and the report
/// gives every case as an error naming the failed preflight lines.
pub const PREFLIGHT_FAILED: u8 = 5;
/// The run was interrupted (Ctrl-C, SIGTERM): the partial report was written (unfinished cases
/// skipped as interrupted) and what the run started was stopped and removed.
pub const INTERRUPTED: u8 = 130;
/// At least one case failed or could not be judged (verdict fail or error).
pub const CHECKS_FAILED: u8 = 100;
/// A load-test threshold was breached.
pub const THRESHOLD_BREACHED: u8 = 101;
/// `report --baseline`: something regressed against the baseline.
pub const REGRESSED: u8 = 102;

/// Every code with its meaning, for `dsp-harness exit-codes` and the README.
pub const ALL: [(u8, &str, &str); 10] = [
    (SUCCESS, "SUCCESS", "everything ran and every check passed"),
    (INTERNAL_ERROR, "INTERNAL_ERROR", "the harness failed unexpectedly, a panic included (a bug: please report it)"),
    (USAGE, "USAGE", "the command line was wrong"),
    (SETUP_FAILED, "SETUP_FAILED", "the harness could not run (target file, ports, report directory, components)"),
    (DOCKER_UNAVAILABLE, "DOCKER_UNAVAILABLE", "--runtime docker was asked for and no Docker engine answers"),
    (PREFLIGHT_FAILED, "PREFLIGHT_FAILED", "run --target: the preflight found the target untestable (unreachable URL, refused key or token); no case ran"),
    (CHECKS_FAILED, "CHECKS_FAILED", "at least one case failed or could not be judged"),
    (THRESHOLD_BREACHED, "THRESHOLD_BREACHED", "a load-test threshold was breached"),
    (REGRESSED, "REGRESSED", "report --baseline found a regression"),
    (INTERRUPTED, "INTERRUPTED", "the run was interrupted (Ctrl-C or SIGTERM); the partial report was written"),
];

/// How `main` ends the process at once; set once, by `main` only.
static STOPPER: std::sync::OnceLock<fn(u8)> = std::sync::OnceLock::new();

/// Called by `main` (and only there): how [`stop_at_once`] ends the process. Keeping the one
/// `process::exit` in `main` means no library module can end a process it does not own (a
/// test binary, a program embedding the library).
pub fn set_stopper(stop: fn(u8)) {
    let _ = STOPPER.set(stop);
}

/// Ends the process at once with `code`, without writing a report: for a person who pressed
/// Ctrl-C a second time and will not wait for the grace period. Where no stopper was set (the
/// library inside another program, or a test) it only says so and returns, and the caller's
/// orderly stop goes on.
pub fn stop_at_once(code: u8) {
    match STOPPER.get() {
        Some(stop) => stop(code),
        None => tracing::error!("asked to stop at once with code {code}, but this process has no stopper: going on with the orderly stop"),
    }
}
