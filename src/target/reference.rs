//! The driver of the reference connector's management API: the EDC v3 shape plus manual steps
//! (`POST /v3/contractnegotiations/{id}/agree`, `/offer`, `/finalize`, ...,
//! `/v3/transferprocesses/{id}/start`, `/complete`, ...) for processes of assets marked
//! `automation: manual`, which wait for the harness at every step.

use futures::future::BoxFuture;
use serde_json::{json, Value};

use super::driver::{Capabilities, HeldRequest, ManagementAccess, ManagementDriver, NegotiationStep, TransferStep};
use super::edc_v3::ManagementClient;
use super::error::TargetError;
use crate::recording::RecordingClient;

/// The asset and request property that makes the reference connector wait for manual steps.
const AUTOMATION: &str = "automation";

#[derive(Debug, Clone)]
pub struct ReferenceDriver {
    access: ManagementAccess,
}

impl ReferenceDriver {
    pub fn new(access: ManagementAccess) -> ReferenceDriver {
        ReferenceDriver { access }
    }
}

fn segment(id: &str) -> String {
    crate::protocol::binding::encode(id)
}

impl ManagementDriver for ReferenceDriver {
    fn name(&self) -> &'static str {
        "reference"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities { api: true, holds_processes: true, holds_consumer_verification: true, consumer_dsp_reads: true }
    }

    fn client(&self, connector: &str, client: RecordingClient) -> Option<ManagementClient> {
        Some(ManagementClient::new(connector, &self.access.url, &self.access.api_key, client))
    }

    fn asset_properties(&self) -> Value {
        json!({ AUTOMATION: "manual" })
    }

    fn negotiation_step_support(&self, _: &NegotiationStep) -> Result<(), String> {
        Ok(())
    }

    fn transfer_step_support(&self, _: TransferStep) -> Result<(), String> {
        Ok(())
    }

    fn negotiation_step<'a>(&'a self, api: &'a ManagementClient, id: &'a str, step: &'a NegotiationStep) -> BoxFuture<'a, Result<(), TargetError>> {
        Box::pin(async move {
            let body = match step {
                NegotiationStep::Offer(Some(policy)) | NegotiationStep::Request(Some(policy)) => json!({ "policy": policy }),
                NegotiationStep::Terminate => json!({ "reason": "terminated by the dsp-harness" }),
                _ => json!({}),
            };
            api.post(&format!("/v3/contractnegotiations/{}/{}", segment(id), step.verb()), &body).await
        })
    }

    fn transfer_step<'a>(&'a self, api: &'a ManagementClient, id: &'a str, step: TransferStep) -> BoxFuture<'a, Result<(), TargetError>> {
        Box::pin(async move {
            let body = json!({ "reason": format!("{} by the dsp-harness", step.verb()) });
            api.post(&format!("/v3/transferprocesses/{}/{}", segment(id), step.verb()), &body).await
        })
    }

    fn initiate_held_negotiation<'a>(&'a self, api: &'a ManagementClient, r: HeldRequest<'a>) -> BoxFuture<'a, Result<String, TargetError>> {
        Box::pin(async move {
            api.initiate_negotiation_with(r.counter_party_address, r.counter_party_id, r.protocol, r.offer, &[(AUTOMATION, json!("manual"))]).await
        })
    }
}
