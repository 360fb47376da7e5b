//! The reference data plane's pull tokens live no longer than the STARTED state they were
//! issued in (issue #15, defect 4): after a suspension and a resumption the consumer holds a
//! fresh token, and the one handed out before the suspension is refused, as it is while the
//! transfer is suspended and after it ends.

use std::time::Duration;

use dsp_harness::recording::{Recorder, RecordingClient};
use dsp_harness::runtime::embedded::{self, EmbeddedOptions};
use dsp_harness::schema::SchemaSet;
use dsp_harness::target::{asset_selector, lenient, ManagementClient};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(10);
const PROTOCOL: &str = "dataspace-protocol-http:2025-1";
const ASSET: &str = "pull-token-asset";

/// The status the data plane answers a pull with `authorization`.
async fn pull_status(endpoint: &str, authorization: &str) -> u16 {
    let reply = reqwest::Client::new().get(endpoint).header("authorization", authorization).send().await.expect("the data plane answers");
    let status = reply.status().as_u16();
    drop(reply.bytes().await);
    status
}

fn offer_for(catalog: &Value, asset: &str) -> Value {
    let dataset = lenient::list(catalog, "dataset").into_iter().find(|d| lenient::id(d) == Some(asset)).expect("the catalog lists the asset");
    let mut offer = lenient::list(dataset, "hasPolicy").first().map(|o| (*o).clone()).expect("the dataset has an offer");
    offer["target"] = Value::String(asset.to_string());
    offer["assigner"] = Value::String("company-x".to_string());
    offer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_15_a_pull_token_stops_working_when_its_transfer_leaves_started() {
    let space = embedded::start(EmbeddedOptions::default()).await.expect("the embedded data space starts");
    let client = RecordingClient::new(Recorder::new(), SchemaSet::embedded_2025_1(), WAIT);
    let provider = ManagementClient::for_connector("provider", &space.info.provider, client.clone());
    let consumer = ManagementClient::for_connector("consumer", &space.info.consumer, client);
    provider.create_asset(ASSET, json!({"name": "pull token test"}), json!({"type": "HttpData", "baseUrl": space.carbon_source_url()})).await.expect("asset");
    provider.create_policy_definition("pt-policy", json!({"@type": "Set", "permission": [{"action": "use"}]})).await.expect("policy");
    provider.create_contract_definition("pt-contract", "pt-policy", "pt-policy", asset_selector(ASSET)).await.expect("contract definition");
    let dsp = &space.info.provider.dsp_url;
    let catalog = consumer.request_catalog(dsp, "company-x", PROTOCOL, None).await.expect("catalog").value;
    let negotiation = consumer.initiate_negotiation(dsp, "company-x", PROTOCOL, &offer_for(&catalog, ASSET)).await.expect("negotiation");
    consumer.wait_for_negotiation_state(&negotiation, &["FINALIZED"], WAIT).await.expect("finalized");
    let agreement = consumer.negotiation_agreement(&negotiation).await.expect("agreement").value;
    let agreement = lenient::id(&agreement).expect("the agreement has an id").to_string();
    let transfer = consumer.initiate_transfer(dsp, &agreement, PROTOCOL, "HttpData-PULL", None).await.expect("transfer");
    consumer.wait_for_transfer_state(&transfer, &["STARTED"], WAIT).await.expect("started");
    let first = consumer.edr_data_address(&transfer).await.expect("the first EDR").value;
    let first_token = first.authorization.clone().expect("the EDR carries a token");
    assert_eq!(pull_status(&first.endpoint, &first_token).await, 200, "the first token pulls while STARTED");

    consumer.suspend_transfer(&transfer, "pause").await.expect("suspend");
    consumer.wait_for_transfer_state(&transfer, &["SUSPENDED"], WAIT).await.expect("suspended");
    assert_ne!(pull_status(&first.endpoint, &first_token).await, 200, "the first token is refused while SUSPENDED");

    consumer.resume_transfer(&transfer).await.expect("resume");
    consumer.wait_for_transfer_state(&transfer, &["STARTED"], WAIT).await.expect("started again");
    // The fresh EDR arrives with the provider's start message, which moves the consumer to STARTED.
    let second = consumer.edr_data_address(&transfer).await.expect("the second EDR").value;
    let second_token = second.authorization.clone().expect("the fresh EDR carries a token");
    assert_ne!(second_token, first_token, "a resumed transfer hands out a fresh token");
    assert_eq!(pull_status(&second.endpoint, &second_token).await, 200, "the fresh token pulls");
    assert_eq!(pull_status(&first.endpoint, &first_token).await, 401, "the token from before the suspension no longer works after the resumption");

    consumer.terminate_transfer(&transfer, "done").await.expect("terminate");
    consumer.wait_for_transfer_state(&transfer, &["TERMINATED"], WAIT).await.expect("terminated");
    assert_ne!(pull_status(&second.endpoint, &second_token).await, 200, "no token works after the transfer ended");
    space.shutdown().await;
}
