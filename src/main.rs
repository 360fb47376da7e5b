//! The `dsp-harness` binary: parses the command line, starts tracing and the runtime, and
//! hands over to [`dsp_harness::cli::run`]. Everything else lives in the library.
//!
//! A panic anywhere (this thread or a runtime worker) is a harness bug: the panic hook says so
//! on stderr and the process exits with `INTERNAL_ERROR`, never with Rust's 101, which is
//! `THRESHOLD_BREACHED` here and would make a bug read as a breached threshold.

use std::panic::{self, AssertUnwindSafe};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::Parser;
use dsp_harness::cli::exit;

/// Set by the panic hook; a run that panicked in some task and still finished is a bug too.
static PANICKED: AtomicBool = AtomicBool::new(false);

fn main() -> ExitCode {
    // The only `process::exit` of the crate: a second Ctrl-C ends the run at once.
    exit::set_stopper(|code| std::process::exit(i32::from(code)));
    panic::set_hook(Box::new(|info| {
        PANICKED.store(true, Ordering::SeqCst);
        let thread = std::thread::current();
        eprintln!("dsp-harness bug: thread '{}' {info}", thread.name().unwrap_or("unnamed"));
        eprintln!(
            "this is a bug in dsp-harness, not a finding about the connector under test: please report it with the command line and this message"
        );
        // Captured only when RUST_BACKTRACE asks for it, as Rust's own hook does.
        let backtrace = std::backtrace::Backtrace::capture();
        if backtrace.status() == std::backtrace::BacktraceStatus::Captured {
            eprintln!("{backtrace}");
        }
    }));
    let code = panic::catch_unwind(AssertUnwindSafe(run)).unwrap_or(exit::INTERNAL_ERROR);
    ExitCode::from(if PANICKED.load(Ordering::SeqCst) { exit::INTERNAL_ERROR } else { code })
}

fn run() -> u8 {
    let cli = dsp_harness::cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("DSP_HARNESS_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit::INTERNAL_ERROR;
        }
    };
    runtime.block_on(async {
        panic_on_purpose_when_asked().await;
        dsp_harness::cli::run(cli).await
    })
}

/// Debug builds only: `DSP_HARNESS_PANIC_ON_PURPOSE=main` panics on the main thread and `=task`
/// in a spawned task (whose panic the runtime would otherwise swallow), so that tests can show
/// the exit code and message a harness bug gets.
async fn panic_on_purpose_when_asked() {
    if !cfg!(debug_assertions) {
        return;
    }
    match std::env::var("DSP_HARNESS_PANIC_ON_PURPOSE").as_deref() {
        Ok("main") => panic!("DSP_HARNESS_PANIC_ON_PURPOSE=main: a panic on purpose"),
        Ok("task") => {
            let task = tokio::spawn(async { panic!("DSP_HARNESS_PANIC_ON_PURPOSE=task: a panic on purpose") });
            let _ = task.await;
        }
        _ => {}
    }
}
