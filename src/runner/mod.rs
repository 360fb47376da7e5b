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

// The old paths of the recording pieces, now `crate::recording`, kept while the parallel
// branches that use them merge; the lead removes them afterwards.
pub use crate::recording::{http, proxy, recorder, server, sink};

pub use error::RunnerError;
pub use interrupt::Interrupt;
pub use crate::recording::{Checking, Download, ProxyHandle, RecordedResponse, RecordingClient, RecordingProxy, Recorder};
pub use scenario::{run_scenario, Fixture, ScenarioConfig, Timeouts};
pub use crate::recording::{Delivery, Sink};
