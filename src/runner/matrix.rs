//! The interoperability matrix of the default run: for each pair (consumer restricted to X) ×
//! (provider restricted to Y), X and Y each one of the four DSP versions or `all`, an embedded
//! data space whose two reference connectors speak just that, and the carbon-emissions flow
//! (catalog → FINALIZED → HTTP pull) driven through the consumer's management API. Where the two
//! share a version the flow must complete (and with `all` on both sides in 2025-1); where they
//! do not, the consumer must refuse at once, naming no version in common. Cells run a few at a
//! time, each bounded in time.

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{json, Value};

use crate::protocol::ProtocolVersion;
use crate::reference::backend::CARBON_EMISSIONS;
use crate::report::matrix::{Expected, InteropMatrix, MatrixCell, Outcome};
use crate::recording::{Recorder, RecordingClient};
use crate::runtime::embedded::{self, EmbeddedDataSpace, EmbeddedOptions};
use crate::schema::SchemaSet;
use crate::target::{lenient, ManagementClient, TargetError};

/// How long one step of a cell's flow may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a whole cell may take.
const CELL_TIMEOUT: Duration = Duration::from_secs(20);

/// How many cells run at once (the machine may have two cores).
const CONCURRENT_CELLS: usize = 4;

/// The protocol a management request names when it leaves the choice to discovery (EDC's
/// default, which names no version).
pub const ANY_PROTOCOL: &str = "dataspace-protocol-http";

/// Why a flow did not complete.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlowError {
    /// The consumer found no version it shares with the provider.
    #[error("refused: {0}")]
    NoCommonVersion(String),
    #[error("{0}")]
    Failed(String),
}

/// What a completed flow ran in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowDone {
    /// The management API's `protocol` of the negotiation (`dataspace-protocol-http:2024/1`, ...).
    pub protocol: String,
    /// The DSP base the consumer negotiated with.
    pub counter_party_address: String,
}

fn failed(step: &str) -> impl Fn(TargetError) -> FlowError + '_ {
    move |e| {
        let text = e.to_string();
        if text.contains("NoCommonVersion") {
            FlowError::NoCommonVersion(text)
        } else {
            FlowError::Failed(format!("{step}: {text}"))
        }
    }
}

/// The carbon-emissions flow between the two connectors of `space`: the provider gets the
/// asset, a use policy and a contract definition; the consumer (told the provider's DSP base
/// `provider_dsp_url` and `protocol`) asks for the catalog, negotiates to FINALIZED, asks for a
/// pull transfer, waits for STARTED and pulls the data, which must be the fixture's bytes.
pub async fn carbon_flow(space: &EmbeddedDataSpace, provider_dsp_url: &str, protocol: &str) -> Result<FlowDone, FlowError> {
    let recording = RecordingClient::new(Recorder::new(), SchemaSet::embedded_2025_1(), STEP_TIMEOUT);
    let provider = ManagementClient::for_connector("provider", &space.info.provider, recording.clone()).with_poll_interval(Duration::from_millis(20));
    let consumer = ManagementClient::for_connector("consumer", &space.info.consumer, recording).with_poll_interval(Duration::from_millis(20));
    let provider_id = space.info.provider.participant_id.clone();
    let asset = "carbon-emissions";
    provider
        .create_asset(asset, json!({"name": "carbon emissions"}), json!({"type": "HttpData", "baseUrl": space.carbon_source_url()}))
        .await
        .map_err(failed("create the asset"))?;
    provider.create_policy_definition("use", json!({"@type": "Set", "permission": [{"action": "use"}]})).await.map_err(failed("create the policy"))?;
    provider.create_contract_definition("all", "use", "use", json!([])).await.map_err(failed("create the contract definition"))?;

    let catalog = consumer.request_catalog(provider_dsp_url, &provider_id, protocol, None).await.map_err(failed("request the catalog"))?.value;
    let dataset = lenient::list(&catalog, "dataset")
        .into_iter()
        .find(|d| d.get("@id").and_then(Value::as_str) == Some(asset))
        .ok_or_else(|| FlowError::Failed(format!("the catalog has no dataset {asset}: {catalog}")))?;
    let mut offer = lenient::list(dataset, "hasPolicy").into_iter().next().cloned().ok_or_else(|| FlowError::Failed(format!("dataset {asset} has no offer")))?;
    offer["target"] = json!(asset);
    offer["assigner"] = json!(provider_id);

    let negotiation = consumer.initiate_negotiation(provider_dsp_url, &provider_id, protocol, &offer).await.map_err(failed("start the negotiation"))?;
    consumer.wait_for_negotiation_state(&negotiation, &["FINALIZED"], STEP_TIMEOUT).await.map_err(failed("negotiate to FINALIZED"))?;
    let made = consumer.get_negotiation(&negotiation).await.map_err(failed("read the negotiation"))?.value;
    let agreement = lenient::get_str(&made, "contractAgreementId").ok_or_else(|| FlowError::Failed(format!("the finalized negotiation names no agreement: {made}")))?.to_string();
    let done = FlowDone {
        protocol: lenient::get_str(&made, "protocol").unwrap_or_default().to_string(),
        counter_party_address: lenient::get_str(&made, "counterPartyAddress").unwrap_or_default().to_string(),
    };

    let transfer = consumer.initiate_transfer(provider_dsp_url, &agreement, protocol, "HttpData-PULL", None).await.map_err(failed("start the transfer"))?;
    consumer.wait_for_transfer_state(&transfer, &["STARTED"], STEP_TIMEOUT).await.map_err(failed("wait for STARTED"))?;
    let edr = consumer.edr_data_address(&transfer).await.map_err(failed("read the EDR"))?.value;
    let mut pull = reqwest::Client::new().get(&edr.endpoint).timeout(STEP_TIMEOUT);
    if let Some(token) = &edr.authorization {
        pull = pull.header("authorization", token);
    }
    let reply = pull.send().await.map_err(|e| FlowError::Failed(format!("pull the data: {e}")))?;
    let status = reply.status();
    let bytes = reply.bytes().await.map_err(|e| FlowError::Failed(format!("pull the data: {e}")))?;
    if !status.is_success() || bytes.as_ref() != CARBON_EMISSIONS {
        return Err(FlowError::Failed(format!("the pull answered {status} with {} bytes, not the {} bytes of the fixture", bytes.len(), CARBON_EMISSIONS.len())));
    }
    Ok(done)
}

/// A row or column of the matrix: one version, or all four.
fn versions_of(name: &str) -> Option<Vec<ProtocolVersion>> {
    match name {
        "all" => None,
        one => Some(vec![one.parse().unwrap_or(ProtocolVersion::V2025_1)]),
    }
}

/// What a cell must end in, and in which version a flow must run.
fn expectation(consumer: &str, provider: &str) -> (Expected, Option<&'static str>) {
    let version = match (consumer, provider) {
        ("all", "all") => Some(ProtocolVersion::V2025_1),
        ("all", one) | (one, "all") => one.parse().ok(),
        (a, b) if a == b => a.parse().ok(),
        _ => None,
    };
    match version {
        Some(v) => (Expected::Flow, Some(v.edc_protocol())),
        None => (Expected::Refusal, None),
    }
}

async fn run_cell(consumer: String, provider: String) -> MatrixCell {
    let started = Instant::now();
    let (expected, protocol) = expectation(&consumer, &provider);
    let options = EmbeddedOptions { consumer_versions: versions_of(&consumer), provider_versions: versions_of(&provider), ..EmbeddedOptions::default() };
    let (outcome, detail) = match embedded::start(options).await {
        Err(e) => (Outcome::Failed, format!("the data space did not start: {e}")),
        Ok(space) => {
            let dsp_url = space.info.provider.dsp_url.clone();
            let result = tokio::time::timeout(CELL_TIMEOUT, carbon_flow(&space, &dsp_url, ANY_PROTOCOL)).await;
            space.shutdown().await;
            match result {
                Err(_) => (Outcome::Failed, format!("no outcome within {} s", CELL_TIMEOUT.as_secs())),
                Ok(Err(FlowError::NoCommonVersion(why))) => (Outcome::Refusal, why),
                Ok(Err(FlowError::Failed(why))) => (Outcome::Failed, why),
                // A flow in another version than the one both sides should agree on is no pass.
                Ok(Ok(done)) if protocol.is_some_and(|p| p != done.protocol) => {
                    (Outcome::Failed, format!("the flow ran in {}, expected {}", done.protocol, protocol.unwrap_or_default()))
                }
                Ok(Ok(done)) => (Outcome::Flow, format!("{} at {}", done.protocol, done.counter_party_address)),
            }
        }
    };
    MatrixCell { consumer, provider, expected, outcome, detail, duration_ms: started.elapsed().as_millis() as u64 }
}

/// The names of the matrix's rows and columns: each version, oldest first, then `all`.
pub fn axis() -> Vec<String> {
    ProtocolVersion::ALL.iter().map(|v| v.as_str().to_string()).chain(std::iter::once("all".to_string())).collect()
}

/// Runs every cell of the matrix.
pub async fn run_matrix() -> InteropMatrix {
    let axis = axis();
    let pairs: Vec<(String, String)> = axis.iter().flat_map(|c| axis.iter().map(move |p| (c.clone(), p.clone()))).collect();
    let mut cells: Vec<MatrixCell> = futures::stream::iter(pairs).map(|(c, p)| run_cell(c, p)).buffer_unordered(CONCURRENT_CELLS).collect().await;
    let position = |name: &str| axis.iter().position(|a| a == name).unwrap_or(0);
    cells.sort_by_key(|c| (position(&c.consumer), position(&c.provider)));
    InteropMatrix { rows: axis.clone(), columns: axis, cells }
}
