//! The runner: executes the carbon-emissions scenario and conformance cases against connectors,
//! records every HTTP exchange, and reports through [`RunEvent`](crate::report::model::RunEvent)s.
//! It never prints; renderers consume its events and results.

pub mod checks;
pub mod conformance;
pub mod counterparty;
pub mod error;
pub mod http;
pub mod preflight;
pub mod interrupt;
pub mod proxy;
pub mod recorder;
pub mod scenario;
pub mod server;
pub mod session;
pub mod sink;
pub mod wire;

pub use error::RunnerError;
pub use interrupt::Interrupt;
pub use http::{Checking, Download, RecordedResponse, RecordingClient};
pub use proxy::{ProxyHandle, RecordingProxy};
pub use recorder::Recorder;
pub use scenario::{run_scenario, Fixture, ScenarioConfig, Timeouts};
pub use sink::{Delivery, Sink};
