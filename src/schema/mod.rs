//! JSON Schemas of DSP messages and validation against them; no I/O except reading a schema
//! directory in [`SchemaSet::from_dir`].
//!
//! The schemas of every DSP version are our own (`fixtures/schemas/<version>/`), embedded in the
//! binary ([`SchemaSet::embedded`]): 2025-1 as strict as the official ones, 0.8 (both forms) and
//! 2024-1 written from their specifications, no stricter than those. The official files can be
//! loaded from a directory instead. Schemas are looked up by key: a message's unprefixed
//! `@type`, or `VersionResponse` for the version document.

mod catalogue;
mod error;
mod link;
mod set;
mod source;
mod violation;

pub use error::SchemaError;
pub use set::{message_type, SchemaSet, UNKNOWN_SCHEMA};
