//! dsp-harness: a conformance and load-testing harness for Dataspace Protocol connectors.
//!
//! The library holds everything; `main.rs` only parses arguments and calls [`cli::run`],
//! so tests drive every command in-process.

pub mod cli;
pub mod identity;
pub mod load;
pub mod protocol;
pub mod recording;
pub mod reference;
pub mod report;
pub mod runner;
pub mod runtime;
pub mod schema;
pub mod serving;
pub mod suite;
pub mod target;
pub mod vocab;
