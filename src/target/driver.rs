//! The one interface through which the runner drives a connector's management API: a
//! [`ManagementDriver`] chosen once, from the target file or the data space the harness
//! started, and asked for what it can do ([`Capabilities`], the steps it supports) rather than
//! what it is. Checks and configuration never look at the kind of management API; only the
//! report names it.
//!
//! Adding a driver (as the EDC management API v2 was) means one type implementing the
//! trait, one variant of the target file's `[management]` section, and one arm in
//! [`TargetFile::management_driver`](super::file::TargetFile::management_driver).

use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::Value;

use super::edc_v2::EdcV2Driver;
use super::edc_v3::{EdcV3Driver, ManagementClient};
use super::error::TargetError;
use super::reference::ReferenceDriver;
use crate::recording::RecordingClient;

/// A step the harness can make a negotiation take through a management API.
#[derive(Debug, Clone, PartialEq)]
pub enum NegotiationStep {
    /// Provider: agree to the offer on the table.
    Agree,
    /// Provider: counter-offer (the given ODRL policy, or the current offer again).
    Offer(Option<Value>),
    /// Provider: finalize a verified agreement.
    Finalize,
    /// Consumer: accept the provider's offer.
    Accept,
    /// Consumer: verify an agreement.
    Verify,
    /// Consumer: counter-request.
    Request(Option<Value>),
    /// Either: terminate.
    Terminate,
}

impl NegotiationStep {
    pub fn verb(&self) -> &'static str {
        match self {
            NegotiationStep::Agree => "agree",
            NegotiationStep::Offer(_) => "offer",
            NegotiationStep::Finalize => "finalize",
            NegotiationStep::Accept => "accept",
            NegotiationStep::Verify => "verify",
            NegotiationStep::Request(_) => "request",
            NegotiationStep::Terminate => "terminate",
        }
    }
}

/// A step the harness can make a transfer process take through a management API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferStep {
    /// Provider: start (or restart) the transfer.
    Start,
    /// Provider: complete it.
    Complete,
    Suspend,
    /// Restart a suspended transfer (EDC's `resume`).
    Resume,
    Terminate,
}

impl TransferStep {
    pub fn verb(self) -> &'static str {
        match self {
            TransferStep::Start => "start",
            TransferStep::Complete => "complete",
            TransferStep::Suspend => "suspend",
            TransferStep::Resume => "resume",
            TransferStep::Terminate => "terminate",
        }
    }
}

/// What a management API lets the harness do, beyond the steps it supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Capabilities {
    /// There is an API at all: assets can be registered, processes started, states read.
    pub api: bool,
    /// Processes of the harness's own asset wait for the harness at every step (the reference
    /// connector's `automation: manual`), so a process stays in the state the harness walked
    /// it into.
    pub holds_processes: bool,
    /// A consumer started through this API can be told to wait in AGREED until the harness
    /// makes it verify.
    pub holds_consumer_verification: bool,
    /// The connector also answers `GET /negotiations/{consumerPid}` and
    /// `GET /transfers/{consumerPid}` on its consumer side. DSP 2025-1 defines those reads on
    /// the provider only; where a connector offers them anyway (the reference connector) the
    /// harness reads the DSP document, which carries pids and more than a state name.
    pub consumer_dsp_reads: bool,
}

/// A connector's management API, as the runner drives it.
pub trait ManagementDriver: Send + Sync + std::fmt::Debug {
    /// The name the report gives the API (`reference`, `edc-v3`, `edc-v2`, `none`).
    fn name(&self) -> &'static str;

    fn capabilities(&self) -> Capabilities;

    /// A client recording into `client` as `<connector>-management`; `None` without an API.
    fn client(&self, connector: &str, client: RecordingClient) -> Option<ManagementClient>;

    /// Asset properties the harness's own asset gets, beyond name and content type.
    fn asset_properties(&self) -> Value {
        Value::Object(Default::default())
    }

    /// Whether the API can make `step`; the reason to skip otherwise.
    fn negotiation_step_support(&self, step: &NegotiationStep) -> Result<(), String>;

    /// Whether the API can make `step`; the reason to skip otherwise.
    fn transfer_step_support(&self, step: TransferStep) -> Result<(), String>;

    /// Makes a negotiation take `step`; `id` is the connector's own id of it.
    fn negotiation_step<'a>(&'a self, api: &'a ManagementClient, id: &'a str, step: &'a NegotiationStep) -> BoxFuture<'a, Result<(), TargetError>>;

    /// Makes a transfer take `step`.
    fn transfer_step<'a>(&'a self, api: &'a ManagementClient, id: &'a str, step: TransferStep) -> BoxFuture<'a, Result<(), TargetError>>;

    /// Starts a negotiation in which the consumer waits in AGREED until told to verify; only
    /// drivers with `holds_consumer_verification` have one.
    fn initiate_held_negotiation<'a>(&'a self, api: &'a ManagementClient, request: HeldRequest<'a>) -> BoxFuture<'a, Result<String, TargetError>> {
        let _ = (api, request);
        Box::pin(async { Err(TargetError::Unsupported(format!("the {} management API verifies agreements on its own", self.name()))) })
    }
}

/// A contract request to start through the management API.
#[derive(Debug, Clone, Copy)]
pub struct HeldRequest<'a> {
    pub counter_party_address: &'a str,
    pub counter_party_id: &'a str,
    pub protocol: &'a str,
    pub offer: &'a Value,
}

/// Where a management API is and the key it wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagementAccess {
    /// Base URL (`{url}/v3/assets`, `{url}/v2/assets`, ...), without a trailing `/` or version segment.
    pub url: String,
    /// Value of `X-Api-Key`; empty when none is needed.
    pub api_key: String,
}

/// A shared driver, as connectors under test hold it.
pub type Driver = Arc<dyn ManagementDriver>;

/// The reference connector's API: EDC v3 shape plus manual steps.
pub fn reference(url: &str, api_key: &str) -> Driver {
    Arc::new(ReferenceDriver::new(ManagementAccess { url: url.to_string(), api_key: api_key.to_string() }))
}

/// An EDC management API v3.
pub fn edc_v3(url: &str, api_key: &str) -> Driver {
    Arc::new(EdcV3Driver::new(ManagementAccess { url: url.to_string(), api_key: api_key.to_string() }))
}

/// An EDC management API v2 (Tractus-X EDC 0.4.1).
pub fn edc_v2(url: &str, api_key: &str) -> Driver {
    Arc::new(EdcV2Driver::new(ManagementAccess { url: url.to_string(), api_key: api_key.to_string() }))
}

/// No management API.
pub fn none() -> Driver {
    Arc::new(NoDriver)
}

/// No management API: nothing can be started, every step is refused with that reason.
#[derive(Debug, Clone, Copy)]
pub struct NoDriver;

impl ManagementDriver for NoDriver {
    fn name(&self) -> &'static str {
        "none"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }

    fn client(&self, _: &str, _: RecordingClient) -> Option<ManagementClient> {
        None
    }

    fn negotiation_step_support(&self, step: &NegotiationStep) -> Result<(), String> {
        Err(format!("the target has no management API to make it {} a negotiation (management kind none)", step.verb()))
    }

    fn transfer_step_support(&self, step: TransferStep) -> Result<(), String> {
        Err(format!("the target has no management API to make it {} a transfer (management kind none)", step.verb()))
    }

    fn negotiation_step<'a>(&'a self, _: &'a ManagementClient, _: &'a str, step: &'a NegotiationStep) -> BoxFuture<'a, Result<(), TargetError>> {
        let reason = self.negotiation_step_support(step).err().unwrap_or_default();
        Box::pin(async move { Err(TargetError::Unsupported(reason)) })
    }

    fn transfer_step<'a>(&'a self, _: &'a ManagementClient, _: &'a str, step: TransferStep) -> BoxFuture<'a, Result<(), TargetError>> {
        let reason = self.transfer_step_support(step).err().unwrap_or_default();
        Box::pin(async move { Err(TargetError::Unsupported(reason)) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_and_steps_differ_by_driver_not_by_name() {
        let (r, e, n) = (reference("http://m", "k"), edc_v3("http://m", "k"), none());
        assert!(r.capabilities().holds_processes && r.capabilities().consumer_dsp_reads);
        assert!(e.capabilities().api && !e.capabilities().holds_processes && !e.capabilities().consumer_dsp_reads);
        assert!(!n.capabilities().api);
        assert!(r.negotiation_step_support(&NegotiationStep::Agree).is_ok());
        assert!(e.negotiation_step_support(&NegotiationStep::Agree).is_err());
        assert!(e.negotiation_step_support(&NegotiationStep::Terminate).is_ok());
        assert!(e.transfer_step_support(TransferStep::Suspend).is_ok());
        assert!(e.transfer_step_support(TransferStep::Start).is_err());
        assert!(n.transfer_step_support(TransferStep::Terminate).unwrap_err().contains("none"));
        let client = RecordingClient::new(crate::recording::Recorder::new(), crate::schema::SchemaSet::embedded_2025_1(), std::time::Duration::from_secs(1));
        assert!(n.client("x", client).is_none());
    }
}
