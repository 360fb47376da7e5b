//! The `dsp-harness` binary: parses the command line, starts tracing and the runtime, and
//! hands over to [`dsp_harness::cli::run`]. Everything else lives in the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = dsp_harness::cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("DSP_HARNESS_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(dsp_harness::cli::exit::INTERNAL_ERROR);
        }
    };
    ExitCode::from(runtime.block_on(dsp_harness::cli::run(cli)))
}
