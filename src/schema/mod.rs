//! JSON Schemas of DSP messages and validation against them; no I/O except reading a schema
//! directory in [`SchemaSet::from_dir`].
//!
//! The schemas of DSP 2025-1 are our own (`fixtures/schemas/2025-1/`), embedded in the binary
//! and as strict as the official ones; the official files can be loaded from a directory
//! instead. Schemas are looked up by key: a message's unprefixed `@type`, or `VersionResponse`
//! for the version document.

mod catalogue;
mod error;
mod link;
mod set;
mod source;
mod violation;

pub use error::SchemaError;
pub use set::{message_type, SchemaSet, UNKNOWN_SCHEMA};
