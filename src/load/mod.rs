//! Load tests of a transfer data plane, driven by goose. Only this module knows goose.
//!
//! A run ([`run()`]) starts the embedded reference data space (or reaches connectors described
//! by a load target file), gets pull tokens through the normal flow, and measures scenarios:
//! HTTP pulls of generated payloads by many concurrent users, each next to a baseline (the same
//! goose client against a bare server on loopback serving the same bytes), and whole flows. The
//! figures land in the report model's [`LoadReport`](crate::report::model::LoadReport); the
//! thresholds a user states are judged against them. Runs are bounded in time and in requests,
//! and send load only to loopback (or, for URLs connectors use among themselves, to the
//! project's containers).

mod attack;
mod baseline;
mod collector;
mod error;
mod flow;
mod memory;
mod pull;
mod run;
mod setup;
pub mod target;
pub mod threshold;

pub use error::LoadError;
pub use memory::MemoryUsage;
pub use run::{
    baseline_name, pull_name, run, BaselineMode, LoadEvent, LoadOptions, LoadRun, PayloadSource, RunTarget, ScenarioKind, DEFAULT_SIZES,
    FLOW, MAX_DURATION, MAX_SIZE, MAX_USERS,
};
pub use target::{ExternalTarget, TargetChoice};
pub use threshold::Threshold;
