//! Recording HTTP, below both the runner and the connector drivers of `target`: the recording
//! client (`http`), the recorder every exchange goes into, the recording proxy between two
//! connectors, and the push sink (each served as a `serving::ServerTask`). It knows the
//! wire (`protocol`), validates DSP bodies (`schema`) and records into the report model
//! (`report`); it knows nothing of cases, checks or drivers.

pub mod error;
pub mod http;
pub mod proxy;
pub mod recorder;
pub mod sink;

pub use error::HttpError;
pub use http::{Checking, Download, RecordedResponse, RecordingClient};
pub use proxy::{ProxyHandle, RecordingProxy};
pub use recorder::Recorder;
pub use sink::{Delivery, Sink};
