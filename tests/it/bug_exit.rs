//! A panic is a harness bug, and the binary says so: its own exit code (`INTERNAL_ERROR`, not
//! Rust's 101, which is `THRESHOLD_BREACHED` here) and a message asking for a report. Driven
//! through the built binary with the debug-only `DSP_HARNESS_PANIC_ON_PURPOSE`.

use dsp_harness::cli::exit;

fn run_panicking(mode: Option<&str>) -> std::process::Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_dsp-harness"));
    command.arg("exit-codes").env_remove("RUST_BACKTRACE");
    match mode {
        Some(mode) => command.env("DSP_HARNESS_PANIC_ON_PURPOSE", mode),
        None => command.env_remove("DSP_HARNESS_PANIC_ON_PURPOSE"),
    };
    command.output().expect("the binary runs")
}

#[test]
fn a_panic_exits_with_the_internal_error_code_and_asks_for_a_report() {
    for mode in ["main", "task"] {
        let output = run_panicking(Some(mode));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(i32::from(exit::INTERNAL_ERROR)), "{mode}: {stderr}");
        assert_ne!(exit::INTERNAL_ERROR, exit::THRESHOLD_BREACHED);
        assert!(stderr.contains("dsp-harness bug: "), "{mode}: {stderr}");
        assert!(stderr.contains(&format!("DSP_HARNESS_PANIC_ON_PURPOSE={mode}: a panic on purpose")), "{mode}: {stderr}");
        assert!(stderr.contains("please report it"), "{mode}: {stderr}");
    }
    // The same command without the panic succeeds: the code above is the panic's.
    let output = run_panicking(None);
    assert_eq!(output.status.code(), Some(i32::from(exit::SUCCESS)), "{}", String::from_utf8_lossy(&output.stderr));
}
