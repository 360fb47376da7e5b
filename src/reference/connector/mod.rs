//! The reference connector: one implementation of DSP (every version the codecs speak, each
//! under its own path) whose provider and consumer are roles, with a management API shaped like
//! EDC's v3 and a streaming data plane.

mod app;
mod dataplane;
mod dsp;
mod error;
pub mod faults;
mod flows;
mod management;
mod store;

pub use app::{all_versions, participant_of, Chosen, Connector, ConnectorConfig, ALL_CONNECTORS_AUDIENCE};
pub use dsp::TRANSFER_TYPES;
pub use error::DspError;
pub use faults::{Fault, Faults};
pub use store::{AUTOMATION_PROPERTY, ENDED_PROCESSES_KEPT};
