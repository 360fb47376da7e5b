//! The error of a command that could not do its job, carrying the exit code that says so.

use super::exit;

#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct CliError {
    pub code: u8,
    pub message: String,
}

impl CliError {
    pub fn setup(message: impl std::fmt::Display) -> CliError {
        CliError { code: exit::SETUP_FAILED, message: message.to_string() }
    }

    pub fn docker(message: impl std::fmt::Display) -> CliError {
        CliError { code: exit::DOCKER_UNAVAILABLE, message: message.to_string() }
    }
}
