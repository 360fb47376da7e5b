//! The runner: executes the carbon-emissions scenario and conformance cases against connectors,
//! records every HTTP exchange, and reports through [`RunEvent`](crate::report::model::RunEvent)s.
//! It never prints; renderers consume its events and results.

pub mod checks;
pub mod conformance;
pub mod counterparty;
pub mod error;
pub mod preflight;
pub mod interrupt;
pub mod matrix;
pub mod scenario;
pub mod session;
pub mod wire;

pub use error::RunnerError;
pub use interrupt::Interrupt;
pub use scenario::{run_scenario, Fixture, ScenarioConfig, Timeouts};
