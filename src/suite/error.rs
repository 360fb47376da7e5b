//! The one error type of the suite module: a suite file that does not parse or breaks a rule
//! (duplicate ids, unknown levels), and filters that cannot be understood.

#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    #[error("suite file {file}: {message}")]
    Parse { file: String, message: String },

    #[error("suite file {file}: case {id}: {message}")]
    InvalidCase { file: String, id: String, message: String },

    #[error("case id {id} appears in {first} and {second}")]
    DuplicateId { id: String, first: String, second: String },

    #[error("unknown requirement level {0:?}: expected must, should or may")]
    UnknownLevel(String),

    #[error("unknown role {0:?}: expected provider or consumer")]
    UnknownRole(String),
}
