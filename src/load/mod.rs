//! Load tests of a transfer data plane, driven by goose. Only this module knows goose.
//!
//! A run ([`run()`]) starts the embedded reference data space (or reaches connectors described
//! by a target file's `[load]` section, or pulls one plain URL), gets pull tokens through the
//! normal flow, and measures scenarios:
//! HTTP pulls of generated payloads by many concurrent users, each next to a baseline (the same
//! goose client against a bare server on loopback serving the same bytes), and whole flows. The
//! figures land in the report model's [`LoadReport`](crate::report::model::LoadReport); the
//! thresholds a user states are judged against them. Runs are bounded in time and in requests;
//! load goes to whatever hosts the user named, listed before anything is sent. A run can be
//! one of N workers (`--worker i/N`) whose reports `report merge` adds up.

mod attack;
mod baseline;
mod collector;
mod cpu;
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
pub use cpu::CpuUse;
pub use run::{
    baseline_name, endpoints_of, pull_name, run, BaselineMode, LoadOptions, LoadRun, PayloadSource, RunTarget, ScenarioKind, Worker,
    DEFAULT_SIZES, FLOW, MAX_DURATION, MAX_SIZE, MAX_USERS, URL_PULL,
};
pub use setup::Endpoints;
pub use attack::take_sigint;
pub use setup::{Parties, PullAccess};
pub use target::{LoadTarget, TargetChoice, UrlTarget};
pub use threshold::Threshold;
