//! The command line: parsing, dispatch, exit codes and everything written to stdout. No other
//! module knows clap, stdout or exit codes.

pub mod args;
mod error;
pub mod exit;
mod list;
mod load;
mod register;
mod report;
mod run;
mod serve;

pub use args::Cli;
pub use error::CliError;

/// Runs one command and returns its exit code.
pub async fn run(cli: Cli) -> u8 {
    let outcome = match cli.command {
        args::Command::Run(a) => run::run(a).await,
        args::Command::Load(a) => load::load(a).await,
        args::Command::Serve(a) => serve::serve(a).await,
        args::Command::List(a) => list::list(a),
        args::Command::Report(a) => report::report(a),
        args::Command::Register(a) => register::register(a).await,
        args::Command::ExitCodes => {
            for (code, name, meaning) in exit::ALL {
                println!("{code:>3}  {name:<20} {meaning}");
            }
            Ok(exit::SUCCESS)
        }
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {}", error.message);
            error.code
        }
    }
}
