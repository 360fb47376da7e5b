//! The one error type of the schema layer.
//!
//! A message that breaks a schema is not an error: it yields [`Violation`]s. A `SchemaError`
//! means the schema set itself could not be built or lacks what was asked of it, which is a fault
//! of the harness's configuration rather than of the connector under test.
//!
//! [`Violation`]: crate::report::model::Violation

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("cannot read schema directory or file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("schema file {file} is not valid JSON: {source}")]
    Parse {
        file: String,
        #[source]
        source: serde_json::Error,
    },

    #[error("schema file {file} is not a JSON Schema: expected a JSON object at the top level")]
    NotAnObject { file: String },

    #[error("schema files {first} and {second} both declare $id {id}")]
    DuplicateId { id: String, first: String, second: String },

    #[error("schema files {first} and {second} both describe {key}")]
    DuplicateKey { key: String, first: String, second: String },

    #[error(
        "schema file {file} refers to {reference}, which no file of the set declares \
         (remote schemas are never fetched)"
    )]
    UnresolvedRef { file: String, reference: String },

    #[error("cannot link the schema files of {source_name}: {message}")]
    Link { source_name: String, message: String },

    #[error("cannot compile the schema of {key} from {file}: {message}")]
    Compile { key: String, file: String, message: String },

    #[error("no message schema found in {source_name} (expected files such as contract-request-message-schema.json or contract-request-message.schema.json)")]
    Empty { source_name: String },

    #[error("the schema set {source_name} has no schema for {key}")]
    MissingSchema { key: String, source_name: String },
}
