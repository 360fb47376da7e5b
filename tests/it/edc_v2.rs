//! The EDC management API v2 driver (`[management] kind = "edc-v2"`, Tractus-X EDC 0.4.1):
//! its request shapes against a wiremock-scripted API (and a v2 answer read the same in each
//! of its three spellings: `edc:` prefixes, expanded IRIs, an `@vocab` context), and every
//! suite, provider and consumer, through it against `tests/indie/` started with `--management v2` (the
//! independent connector's own reading of 0.4.1's API) and `--audience protocol-url` (it takes
//! only DATs for its DSP URL, so `[auth] audience = "protocol-url"` is what lets the harness in).

use std::time::Duration;

use dsp_harness::recording::{Recorder, RecordingClient};
use dsp_harness::report::model::Verdict;
use dsp_harness::schema::SchemaSet;
use dsp_harness::target::{asset_selector, Shape, TargetFile};
use serde_json::json;
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const EDC: &str = "https://w3id.org/edc/v0.0.1/ns/";

fn client() -> RecordingClient {
    RecordingClient::new(Recorder::new(), SchemaSet::embedded_2025_1(), Duration::from_secs(5))
}

fn v2(server: &MockServer) -> dsp_harness::target::ManagementClient {
    let driver = dsp_harness::target::driver::edc_v2(&format!("{}/management", server.uri()), "key");
    driver.client("provider", client()).expect("edc-v2 has an API").with_poll_interval(Duration::from_millis(5))
}

fn id_response(id: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"@context": {"edc": EDC}, "@type": "edc:IdResponseDto", "@id": id, "edc:createdAt": 1}))
}

#[tokio::test]
async fn setup_requests_have_the_0_4_1_shapes() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/management/v2/assets"))
        .and(header("x-api-key", "key"))
        .and(body_partial_json(json!({
            "@context": {"edc": EDC},
            "edc:asset": {"@id": "a1", "edc:properties": {"edc:name": "A"}},
            "edc:dataAddress": {"edc:type": "HttpData", "edc:baseUrl": "http://b"}
        })))
        .respond_with(id_response("a1"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/management/v2/policydefinitions"))
        .and(body_partial_json(json!({"@id": "p1", "edc:policy": {"@type": "Set"}})))
        .respond_with(id_response("p1"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/management/v2/contractdefinitions"))
        .and(body_partial_json(json!({
            "@id": "c1", "edc:accessPolicyId": "p1", "edc:contractPolicyId": "p1",
            "edc:assetsSelector": [{"edc:operandLeft": format!("{EDC}id"), "edc:operator": "=", "edc:operandRight": "a1"}]
        })))
        .respond_with(id_response("c1"))
        .expect(1)
        .mount(&server)
        .await;
    let api = v2(&server);
    assert_eq!(api.shape(), Shape::V2);
    assert_eq!(api.create_asset("a1", json!({"name": "A"}), json!({"type": "HttpData", "baseUrl": "http://b"})).await.unwrap(), "a1");
    assert_eq!(api.create_policy_definition("p1", json!({"@type": "Set", "permission": [{"action": "use"}]})).await.unwrap(), "p1");
    assert_eq!(api.create_contract_definition("c1", "p1", "p1", asset_selector("a1")).await.unwrap(), "c1");
}

#[tokio::test]
async fn processes_are_started_with_connector_address_offer_and_http_proxy() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/management/v2/catalog/request"))
        .and(body_partial_json(json!({"edc:providerUrl": "http://p/dsp", "edc:protocol": "dataspace-protocol-http"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"@type": "dcat:Catalog", "dcat:dataset": [{"@id": "a1"}]})))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/management/v2/contractnegotiations"))
        .and(body_partial_json(json!({
            "edc:connectorAddress": "http://p/dsp", "edc:connectorId": "p", "edc:protocol": "dataspace-protocol-http",
            "edc:offer": {"edc:offerId": "o1", "edc:assetId": "a1", "edc:policy": {"@id": "o1"}}
        })))
        .respond_with(id_response("n1"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/management/v2/contractagreements/agr1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"@id": "agr1", "edc:assetId": "a1"})))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/management/v2/transferprocesses"))
        .and(body_partial_json(json!({
            "edc:connectorAddress": "http://p/dsp", "edc:contractId": "agr1", "edc:assetId": "a1",
            "edc:dataDestination": {"edc:type": "HttpProxy"}
        })))
        .respond_with(id_response("t1"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST")).and(path("/management/v2/contractnegotiations/n1/cancel")).respond_with(ResponseTemplate::new(204)).expect(1).mount(&server).await;
    Mock::given(method("POST"))
        .and(path("/management/v2/transferprocesses/t1/terminate"))
        .and(body_partial_json(json!({"edc:reason": "r"})))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/management/adapter/edrs/t1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "@context": {"edc": EDC}, "edc:type": "EDR", "edc:endpoint": "http://dp/public", "edc:authKey": "Authorization", "edc:authCode": "tok"
        })))
        .mount(&server)
        .await;
    let api = v2(&server);
    let protocol = "dataspace-protocol-http";
    api.request_catalog("http://p/dsp", "p", protocol, None).await.unwrap();
    // No dataset request in 0.4.1: the dataset comes out of the whole catalog.
    assert_eq!(api.request_dataset("a1", "http://p/dsp", "p", protocol).await.unwrap().value["@id"], "a1");
    let offer = json!({"@id": "o1", "@type": "Offer", "target": "a1", "assigner": "p"});
    assert_eq!(api.initiate_negotiation("http://p/dsp", "p", protocol, &offer).await.unwrap(), "n1");
    assert_eq!(api.initiate_transfer("http://p/dsp", "agr1", protocol, "HttpData-PULL", None).await.unwrap(), "t1");
    api.terminate_negotiation("n1", "r").await.unwrap();
    api.terminate_transfer("t1", "r").await.unwrap();
    let edr = api.edr_data_address("t1").await.unwrap().value;
    assert_eq!(edr.endpoint, "http://dp/public");
    assert_eq!(edr.authorization.as_deref(), Some("tok"));
    assert!(matches!(api.suspend_transfer("t1", "r").await, Err(dsp_harness::target::TargetError::Unsupported(_))));
}

#[tokio::test]
async fn a_v2_answer_reads_the_same_in_each_spelling() {
    let spellings = [
        json!({"@context": {"edc": EDC}, "@type": "edc:NegotiationState", "edc:state": "FINALIZED"}),
        json!({"@type": [format!("{EDC}NegotiationState")], format!("{EDC}state"): [{"@value": "FINALIZED"}]}),
        json!({"@context": {"@vocab": EDC}, "@type": "NegotiationState", "state": "FINALIZED"}),
    ];
    for (i, answer) in spellings.iter().enumerate() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path(format!("/management/v2/contractnegotiations/n{i}/state")))
            .respond_with(ResponseTemplate::new(200).set_body_json(answer))
            .mount(&server)
            .await;
        let api = v2(&server);
        assert_eq!(api.negotiation_state(&format!("n{i}")).await.unwrap().value, "FINALIZED", "spelling {i}: {answer}");
        let reached = api.wait_for_negotiation_state(&format!("n{i}"), &["FINALIZED"], Duration::from_secs(1)).await.unwrap();
        assert_eq!(reached.value, "FINALIZED");
    }
}

// -- the provider suites against the independent connector's v2 API --------------------------

/// The connector serving its v2 API and taking only DATs for its DSP URL, and a target file for
/// it whose DATs name `audience` as their form.
async fn setup(audience: &str) -> crate::indie::Setup {
    let args = ["--management", "v2", "--audience", "protocol-url"].map(String::from).to_vec();
    crate::indie::setup(crate::indie::Start { args, management: "edc-v2", audience: Some(audience) }).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_suite_passes_through_the_v2_api_of_the_independent_connector() {
    if !crate::indie::ready("edc_v2::indie") {
        return;
    }
    let setup = setup("protocol-url").await;
    let file = TargetFile::load(&setup.target).unwrap();
    assert_eq!(file.management_driver().unwrap().name(), "edc-v2");
    let cases = crate::indie::run(&setup.target, &[]).await;
    let bad: Vec<String> = cases.iter().filter(|c| matches!(c.verdict, Verdict::Fail | Verdict::Error)).map(crate::indie::describe).collect();
    let passed = cases.iter().filter(|c| c.verdict == Verdict::Pass).count();
    let skipped: Vec<String> = cases.iter().filter(|c| c.verdict == Verdict::Skip).map(crate::indie::describe).collect();
    eprintln!("edc-v2 indie: {} cases, {passed} passed, {} failed or errored, {} skipped", cases.len(), bad.len(), skipped.len());
    for s in &skipped {
        eprintln!("  skip {s}");
    }
    assert!(bad.is_empty(), "false verdicts through the v2 API:\n{}", bad.join("\n"));
    // Consumer cases start negotiations and transfers through the v2 API (edc:offer, HttpProxy).
    for area in ["dsp.cat.provider.", "dsp.cn.provider.", "dsp.tp.provider.", "dsp.cn.consumer.", "dsp.tp.consumer."] {
        assert!(cases.iter().any(|c| c.id.starts_with(area) && c.verdict == Verdict::Pass), "no {area} case passed");
    }
    // The cases negotiated for the harness's own asset, which only the v2 API could register.
    assert!(cases.iter().any(|c| c.id.starts_with("dsp.tp.provider.") && c.verdict == Verdict::Pass));
}

/// The audience choice is what lets the harness in: with the default (participant id) the same
/// connector refuses the harness's tokens, and a catalog case that needs a valid token cannot pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_participant_id_audience_is_refused_by_a_connector_wanting_its_protocol_url() {
    if !crate::indie::ready("edc_v2::audience") {
        return;
    }
    let setup = setup("participant-id").await;
    let cases = crate::indie::run(&setup.target, &["dsp.cat.provider.001"]).await;
    assert_eq!(cases.len(), 1);
    let case = &cases[0];
    assert_ne!(case.verdict, Verdict::Pass, "{}", crate::indie::describe(case));
}
