//! `run`: the main job.

use super::args::RunArgs;
use super::{exit, CliError};

pub async fn run(_args: RunArgs) -> Result<u8, CliError> {
    Ok(exit::SUCCESS)
}
