//! The runner's recording machinery and the EDC management driver, against wiremock upstreams:
//! the recording proxy forwards unchanged and records with validation, the recording client
//! logs failures and timeouts as exchanges, and the EDC v3 client sends what EDC expects and
//! reads what EDC answers. Then the carbon-emissions scenario end to end against the embedded
//! reference data space: it passes as a whole, and fails where it should when the provider's data
//! plane serves different bytes or its replies break the schemas.

use std::time::Duration;

use dsp_harness::reference::connector::{Fault, Faults};
use dsp_harness::report::model::{Body, CaseReport, Exchange, RunEvent, Verdict};
use dsp_harness::runner::scenario::{self, run_scenario, Fixture, ScenarioConfig};
use dsp_harness::runner::RunnerError;
use dsp_harness::recording::{ProxyHandle, Recorder, RecordingClient, RecordingProxy};
use dsp_harness::runtime::embedded::{self, Advertised, EmbeddedDataSpace, EmbeddedOptions};
use dsp_harness::schema::SchemaSet;
use dsp_harness::target::{asset_selector, ManagementClient, TargetError};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use wiremock::matchers::{body_partial_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn example(name: &str) -> Value {
    let file = format!("{}/fixtures/schemas/2025-1/examples/{name}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&file).expect("example file")).expect("example json")
}

fn client(recorder: &Recorder, timeout: Duration) -> RecordingClient {
    RecordingClient::new(recorder.clone(), SchemaSet::embedded_2025_1(), timeout)
}

fn only(exchanges: Vec<Exchange>) -> Exchange {
    assert_eq!(exchanges.len(), 1, "expected exactly one exchange, got {exchanges:#?}");
    exchanges.into_iter().next().unwrap()
}

fn header_of<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

// -------------------------------------------------------------------------------------------
// Recording proxy

#[tokio::test]
async fn proxy_forwards_unchanged_and_records_with_validation() {
    let upstream = MockServer::start().await;
    // The answer claims to be a ContractNegotiation but lacks its pids: the proxy must pass it
    // on untouched and record the violations.
    let broken = json!({"@context": ["https://w3id.org/dspace/2025/1/context.jsonld"], "@type": "ContractNegotiation", "state": "REQUESTED"});
    Mock::given(method("POST"))
        .and(path("/dsp/catalog/request"))
        .and(query_param("page", "2"))
        .and(header("authorization", "dat-token-1"))
        .and(body_partial_json(json!({"@type": "CatalogRequestMessage"})))
        .respond_with(ResponseTemplate::new(201).insert_header("x-upstream", "yes").set_body_json(broken.clone()))
        .expect(1)
        .mount(&upstream)
        .await;

    let recorder = Recorder::new();
    let (url, handle) = RecordingProxy::start("consumer", "provider", &format!("{}/dsp", upstream.uri()), recorder.clone(), SchemaSet::embedded_2025_1())
        .await
        .expect("proxy starts");
    let response = reqwest::Client::new()
        .post(format!("{url}/catalog/request?page=2"))
        .header("Authorization", "dat-token-1")
        .json(&example("catalog-request-message"))
        .send()
        .await
        .expect("proxy answers");
    assert_eq!(response.status().as_u16(), 201);
    assert_eq!(response.headers().get("x-upstream").and_then(|v| v.to_str().ok()), Some("yes"));
    let body: Value = response.json().await.expect("json body");
    assert_eq!(body, broken);

    let exchange = only(recorder.drain());
    assert_eq!((exchange.from.as_str(), exchange.to.as_str()), ("consumer", "provider"));
    assert_eq!(exchange.method, "POST");
    assert_eq!(exchange.url, format!("{}/dsp/catalog/request?page=2", upstream.uri()));
    assert_eq!(exchange.status, Some(201));
    assert_eq!(header_of(&exchange.request_headers, "authorization"), Some("dat-token-1"));
    assert_eq!(exchange.request_type.as_deref(), Some("CatalogRequestMessage"));
    assert_eq!(exchange.response_type.as_deref(), Some("ContractNegotiation"));
    assert_eq!(exchange.request_body, Some(Body::Json(example("catalog-request-message"))));
    assert_eq!(exchange.response_body, Some(Body::Json(broken)));
    assert!(exchange.violations.iter().all(|v| v.part == "response"), "the request was valid: {:#?}", exchange.violations);
    assert!(
        exchange.violations.iter().any(|v| v.schema == "ContractNegotiation" && v.message.contains("providerPid")),
        "expected a violation naming providerPid, got {:#?}",
        exchange.violations
    );
    handle.stop().await;
}

#[tokio::test]
async fn proxy_streams_binary_bodies_and_records_only_their_digest() {
    let upstream = MockServer::start().await;
    let payload: Vec<u8> = (0..(3 * 1024 * 1024u32)).map(|i| (i % 251) as u8).collect();
    let digest = hex::encode(Sha256::digest(&payload));
    Mock::given(method("GET"))
        .and(path("/blob"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(payload.clone(), "application/octet-stream"))
        .mount(&upstream)
        .await;
    let recorder = Recorder::new();
    let (url, handle) =
        RecordingProxy::start("harness", "store", &upstream.uri(), recorder.clone(), SchemaSet::embedded_2025_1()).await.expect("proxy starts");
    let bytes = reqwest::get(format!("{url}/blob")).await.expect("answer").bytes().await.expect("body");
    assert_eq!(bytes.len(), payload.len());
    assert_eq!(hex::encode(Sha256::digest(&bytes)), digest);

    let exchange = only(recorder.drain());
    assert_eq!(exchange.response_body, Some(Body::Binary { size: payload.len() as u64, sha256: digest }));
    assert!(exchange.violations.is_empty());
    assert_eq!(exchange.response_type, None);
    handle.stop().await;
}

#[tokio::test]
async fn proxy_answers_bad_gateway_and_records_the_failure_when_the_upstream_is_gone() {
    let closed = closed_port_url().await;
    let recorder = Recorder::new();
    let (url, handle) = RecordingProxy::start("consumer", "provider", &closed, recorder.clone(), SchemaSet::embedded_2025_1()).await.expect("proxy starts");
    let response = reqwest::Client::new().post(format!("{url}/negotiations/request")).json(&json!({})).send().await.expect("proxy answers");
    assert_eq!(response.status().as_u16(), 502);
    let exchange = only(recorder.drain());
    assert_eq!(exchange.status, None);
    assert!(exchange.error.is_some(), "the transport failure is recorded");
    assert!(exchange.violations.iter().any(|v| v.part == "request"), "the attempted request is still checked: {:#?}", exchange.violations);
    handle.stop().await;
}

/// A loopback URL where nothing listens.
async fn closed_port_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    format!("http://{addr}")
}

// -------------------------------------------------------------------------------------------
// Recording client

#[tokio::test]
async fn client_records_transport_errors_as_exchanges() {
    let recorder = Recorder::new();
    let client = client(&recorder, Duration::from_secs(5));
    let url = format!("{}/catalog/request", closed_port_url().await);
    let request = client.http().post(&url).json(&example("catalog-request-message")).build().expect("request");
    let error = client.send("harness", "provider", request).await.expect_err("nothing listens");
    assert!(matches!(error, RunnerError::Transport { .. }), "got {error:?}");
    let exchange = only(recorder.drain());
    assert_eq!(Some(exchange.seq), error.exchange());
    assert_eq!(exchange.url, url);
    assert_eq!(exchange.status, None);
    assert!(exchange.error.as_deref().is_some_and(|e| !e.is_empty()));
    // The request that was attempted is still on record, typed.
    assert_eq!(exchange.request_type.as_deref(), Some("CatalogRequestMessage"));
    assert!(matches!(exchange.request_body, Some(Body::Json(_))));
}

#[tokio::test]
async fn client_records_timeouts_as_exchanges() {
    let upstream = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/slow"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(3)))
        .mount(&upstream)
        .await;
    let recorder = Recorder::new();
    let client = client(&recorder, Duration::from_millis(200));
    let request = client.http().get(format!("{}/slow", upstream.uri())).build().expect("request");
    let error = client.send("harness", "provider", request).await.expect_err("times out");
    assert!(matches!(error, RunnerError::Timeout { after_ms: 200, .. }), "got {error:?}");
    let exchange = only(recorder.drain());
    assert!(exchange.error.as_deref().is_some_and(|e| e.contains("timeout")), "got {:?}", exchange.error);
    assert!(exchange.duration_ms >= 150 && exchange.duration_ms < 3000, "duration {}", exchange.duration_ms);
}

#[tokio::test]
async fn client_validates_the_version_document_by_its_path() {
    let upstream = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/good/.well-known/dspace-version"))
        .respond_with(ResponseTemplate::new(200).set_body_json(example("protocol-version")))
        .mount(&upstream)
        .await;
    Mock::given(method("GET"))
        .and(path("/bad/.well-known/dspace-version"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"versions": ["2025-1"]})))
        .mount(&upstream)
        .await;
    let recorder = Recorder::new();
    let client = client(&recorder, Duration::from_secs(5));
    for prefix in ["good", "bad"] {
        let request = client.http().get(format!("{}/{prefix}/.well-known/dspace-version", upstream.uri())).build().expect("request");
        let response = client.send("harness", "provider", request).await.expect("answer");
        assert_eq!(response.status.as_u16(), 200);
    }
    let exchanges = recorder.drain();
    assert_eq!(exchanges.len(), 2);
    assert!(exchanges.iter().all(|e| e.response_type.as_deref() == Some("VersionResponse")));
    assert!(exchanges[0].violations.is_empty(), "{:#?}", exchanges[0].violations);
    assert!(!exchanges[1].violations.is_empty());
    assert!(exchanges[1].violations.iter().all(|v| v.part == "response" && v.schema == "VersionResponse"));
}

#[tokio::test]
async fn unchecked_exchanges_are_recorded_without_types_or_violations() {
    let upstream = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/mgmt"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"@type": "ContractNegotiation"})))
        .mount(&upstream)
        .await;
    let recorder = Recorder::new();
    let client = client(&recorder, Duration::from_secs(5));
    let request = client.http().get(format!("{}/mgmt", upstream.uri())).build().expect("request");
    client.send_unchecked("harness", "provider-management", request).await.expect("answer");
    let exchange = only(recorder.drain());
    assert_eq!(exchange.response_type, None);
    assert!(exchange.violations.is_empty());
}

#[tokio::test]
async fn downloads_are_hashed_while_streaming_and_recorded_as_digests() {
    let upstream = MockServer::start().await;
    let payload = serde_json::to_vec(&json!({"region": "Europe", "vehicles": [{"type": "Van", "CO2": 800}]})).unwrap();
    Mock::given(method("GET"))
        .and(path("/data"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(payload.clone(), "application/json"))
        .mount(&upstream)
        .await;
    Mock::given(method("GET"))
        .and(path("/denied"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"error": "missing token"})))
        .mount(&upstream)
        .await;
    let recorder = Recorder::new();
    let client = client(&recorder, Duration::from_secs(5));
    let ok = client.download("harness", "provider-data-plane", client.http().get(format!("{}/data", upstream.uri())).build().unwrap()).await.expect("download");
    let digest = hex::encode(Sha256::digest(&payload));
    assert_eq!((ok.size, ok.sha256.as_str()), (payload.len() as u64, digest.as_str()));
    assert!(ok.error_body.is_none());
    let denied = client.download("harness", "provider-data-plane", client.http().get(format!("{}/denied", upstream.uri())).build().unwrap()).await.expect("answer");
    assert_eq!(denied.status.as_u16(), 401);

    let exchanges = recorder.drain();
    assert_eq!(exchanges[0].response_body, Some(Body::Binary { size: payload.len() as u64, sha256: digest }), "even JSON payloads are only digested");
    assert_eq!(exchanges[1].response_body, Some(Body::Json(json!({"error": "missing token"}))), "error bodies are kept");
}

// -------------------------------------------------------------------------------------------
// EDC management API v3 client

const KEY: &str = "secret-key";

async fn edc() -> (MockServer, Recorder, ManagementClient) {
    let server = MockServer::start().await;
    let recorder = Recorder::new();
    let management = ManagementClient::new("provider", &format!("{}/management", server.uri()), KEY, client(&recorder, Duration::from_secs(5)))
        .with_poll_interval(Duration::from_millis(10));
    (server, recorder, management)
}

fn id_response(id: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"@context": {"@vocab": "https://w3id.org/edc/v0.0.1/ns/"}, "@type": "IdResponse", "@id": id, "createdAt": 1}))
}

#[tokio::test]
async fn edc_setup_calls_send_edc_shaped_bodies_with_the_api_key() {
    let (server, recorder, management) = edc().await;
    Mock::given(method("POST"))
        .and(path("/management/v3/assets"))
        .and(header("x-api-key", KEY))
        .and(body_partial_json(json!({
            "@context": {"@vocab": "https://w3id.org/edc/v0.0.1/ns/"},
            "@id": "asset-1",
            "properties": {"name": "carbon"},
            "dataAddress": {"type": "HttpData", "baseUrl": "http://127.0.0.1:1/data"}
        })))
        .respond_with(id_response("asset-1"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/management/v3/policydefinitions"))
        .and(header("x-api-key", KEY))
        .and(body_partial_json(json!({"@id": "policy-1", "policy": {"@context": "http://www.w3.org/ns/odrl.jsonld", "@type": "Set", "permission": [{"action": "use"}]}})))
        .respond_with(id_response("policy-1"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/management/v3/contractdefinitions"))
        .and(body_partial_json(json!({
            "@id": "cd-1", "accessPolicyId": "policy-1", "contractPolicyId": "policy-1",
            "assetsSelector": [{"operandLeft": "https://w3id.org/edc/v0.0.1/ns/id", "operator": "=", "operandRight": "asset-1"}]
        })))
        .respond_with(id_response("cd-1"))
        .expect(1)
        .mount(&server)
        .await;

    let id = management
        .create_asset("asset-1", json!({"name": "carbon"}), json!({"type": "HttpData", "baseUrl": "http://127.0.0.1:1/data"}))
        .await
        .expect("asset");
    assert_eq!(id, "asset-1");
    let policy = json!({"@type": "Set", "permission": [{"action": "use"}]});
    assert_eq!(management.create_policy_definition("policy-1", policy).await.expect("policy"), "policy-1");
    assert_eq!(management.create_contract_definition("cd-1", "policy-1", "policy-1", asset_selector("asset-1")).await.expect("cd"), "cd-1");

    let exchanges = recorder.drain();
    assert_eq!(exchanges.len(), 3);
    assert!(exchanges.iter().all(|e| e.from == "harness" && e.to == "provider-management" && e.violations.is_empty()));
    assert_eq!(header_of(&exchanges[0].request_headers, "x-api-key"), Some(KEY));
}

#[tokio::test]
async fn edc_negotiation_and_transfer_calls_use_edc_paths_and_read_prefixed_answers() {
    let (server, _recorder, management) = edc().await;
    Mock::given(method("POST"))
        .and(path("/management/v3/catalog/request"))
        .and(body_partial_json(json!({"counterPartyAddress": "http://p/dsp", "counterPartyId": "company-x", "protocol": "dataspace-protocol-http:2025-1"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"@type": "Catalog", "dataset": [{"@id": "asset-1"}]})))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/management/v3/catalog/dataset/request"))
        .and(body_partial_json(json!({"@id": "asset-1", "counterPartyAddress": "http://p/dsp"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"@type": "Dataset", "@id": "asset-1"})))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/management/v3/contractnegotiations"))
        .and(body_partial_json(json!({
            "@type": "ContractRequest", "counterPartyAddress": "http://p/dsp", "protocol": "dataspace-protocol-http:2025-1",
            "policy": {"@context": "http://www.w3.org/ns/odrl.jsonld", "@id": "offer-1", "@type": "Offer", "target": "asset-1", "assigner": "company-x"}
        })))
        .respond_with(id_response("neg-1"))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/management/v3/contractnegotiations/neg-1/state"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"edc:state": "dspace:FINALIZED"})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/management/v3/contractnegotiations/neg-1/agreement"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"@id": "agr-1", "edc:assetId": "asset-1"})))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/management/v3/contractnegotiations/neg-1/terminate"))
        .and(body_partial_json(json!({"@type": "TerminateNegotiation", "@id": "neg-1", "reason": "done"})))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/management/v3/transferprocesses"))
        .and(body_partial_json(json!({
            "@type": "TransferRequest", "counterPartyAddress": "http://p/dsp", "contractId": "agr-1", "transferType": "HttpData-PUSH",
            "dataDestination": {"@type": "DataAddress", "type": "HttpData", "baseUrl": "http://127.0.0.1:9/sink"}
        })))
        .respond_with(id_response("tp-1"))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/management/v3/transferprocesses/tp-1/suspend"))
        .and(body_partial_json(json!({"@type": "SuspendTransfer", "reason": "pause"})))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/management/v3/transferprocesses/tp-1/resume"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/management/v3/transferprocesses/tp-1/terminate"))
        .and(body_partial_json(json!({"@type": "TerminateTransfer", "reason": "stop"})))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/management/v3/edrs/tp-1/dataaddress"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "@type": "DataAddress", "type": "https://w3id.org/idsa/v4.1/HTTP",
            "edc:endpoint": "http://127.0.0.1:9/public", "authorization": "token-1"
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/management/v3/transferprocesses/request"))
        .and(body_partial_json(json!({"@type": "QuerySpec"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{"@id": "tp-1", "state": "STARTED"}])))
        .mount(&server)
        .await;

    let protocol = "dataspace-protocol-http:2025-1";
    let catalog = management.request_catalog("http://p/dsp", "company-x", protocol, None).await.expect("catalog");
    assert_eq!(catalog.value["dataset"][0]["@id"], "asset-1");
    let dataset = management.request_dataset("asset-1", "http://p/dsp", "company-x", protocol).await.expect("dataset");
    assert_eq!(dataset.value["@id"], "asset-1");
    let offer = json!({"@id": "offer-1", "@type": "Offer", "target": "asset-1", "assigner": "company-x", "permission": [{"action": "use"}]});
    let negotiation = management.initiate_negotiation("http://p/dsp", "company-x", protocol, &offer).await.expect("negotiation");
    assert_eq!(negotiation, "neg-1");
    assert_eq!(management.negotiation_state("neg-1").await.expect("state").value, "FINALIZED");
    assert_eq!(management.negotiation_agreement("neg-1").await.expect("agreement").value["@id"], "agr-1");
    management.terminate_negotiation("neg-1", "done").await.expect("terminate");
    let destination = json!({"type": "HttpData", "baseUrl": "http://127.0.0.1:9/sink"});
    let transfer = management.initiate_transfer("http://p/dsp", "agr-1", protocol, "HttpData-PUSH", Some(destination)).await.expect("transfer");
    assert_eq!(transfer, "tp-1");
    management.suspend_transfer("tp-1", "pause").await.expect("suspend");
    management.resume_transfer("tp-1").await.expect("resume");
    management.terminate_transfer("tp-1", "stop").await.expect("terminate");
    let edr = management.edr_data_address("tp-1").await.expect("edr").value;
    assert_eq!(edr.endpoint, "http://127.0.0.1:9/public");
    assert_eq!(edr.authorization.as_deref(), Some("token-1"));
    let transfers = management.query_transfers(None).await.expect("query").value;
    assert_eq!(transfers.len(), 1);
}

#[tokio::test]
async fn edc_errors_carry_status_body_and_exchange() {
    let (server, recorder, management) = edc().await;
    Mock::given(method("POST"))
        .and(path("/management/v3/assets"))
        .respond_with(ResponseTemplate::new(409).set_body_json(json!([{"message": "already exists", "type": "ObjectConflict"}])))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/management/v3/transferprocesses/tp-1/state"))
        .respond_with(ResponseTemplate::new(200).set_body_string("not json"))
        .mount(&server)
        .await;
    let error = management.create_asset("a", json!({}), json!({"type": "HttpData"})).await.expect_err("conflict");
    match &error {
        TargetError::Status { status, body, .. } => {
            assert_eq!(*status, 409);
            assert!(body.contains("already exists"));
        }
        other => panic!("expected a status error, got {other:?}"),
    }
    let malformed = management.transfer_state("tp-1").await.expect_err("not json");
    assert!(matches!(malformed, TargetError::Malformed { .. }), "got {malformed:?}");
    let exchanges = recorder.drain();
    assert_eq!(error.exchange(), Some(exchanges[0].seq));
    assert_eq!(malformed.exchange(), Some(exchanges[1].seq));
}

#[tokio::test]
async fn edc_waits_poll_until_the_wanted_state_and_keep_one_exchange_per_state() {
    let (server, recorder, management) = edc().await;
    let state = |s: &str| ResponseTemplate::new(200).set_body_json(json!({"state": s}));
    Mock::given(method("GET"))
        .and(path("/management/v3/contractnegotiations/neg-1/state"))
        .respond_with(state("REQUESTED"))
        .up_to_n_times(5)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/management/v3/contractnegotiations/neg-1/state"))
        .respond_with(state("FINALIZED"))
        .with_priority(2)
        .mount(&server)
        .await;
    let reached = management.wait_for_negotiation_state("neg-1", &["FINALIZED"], Duration::from_secs(5)).await.expect("finalized");
    assert_eq!(reached.value, "FINALIZED");
    let exchanges = recorder.drain();
    let states: Vec<String> = exchanges
        .iter()
        .map(|e| match &e.response_body {
            Some(Body::Json(v)) => v["state"].as_str().unwrap_or_default().to_string(),
            other => panic!("unexpected body {other:?}"),
        })
        .collect();
    assert_eq!(states, vec!["REQUESTED", "FINALIZED"], "repeated polls are not kept");
    assert_eq!(reached.exchange, exchanges[1].seq);
}

#[tokio::test]
async fn edc_waits_stop_early_on_an_unwanted_final_state_and_time_out_otherwise() {
    let (server, _recorder, management) = edc().await;
    Mock::given(method("GET"))
        .and(path("/management/v3/transferprocesses/tp-1/state"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"state": "TERMINATED"})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/management/v3/transferprocesses/tp-2/state"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"state": "REQUESTED"})))
        .mount(&server)
        .await;
    let started = std::time::Instant::now();
    let error = management.wait_for_transfer_state("tp-1", &["COMPLETED"], Duration::from_secs(10)).await.expect_err("terminated");
    assert!(matches!(&error, TargetError::UnexpectedState { actual, .. } if actual == "TERMINATED"), "got {error:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
    let error = management.wait_for_transfer_state("tp-2", &["STARTED"], Duration::from_millis(200)).await.expect_err("timeout");
    assert!(matches!(&error, TargetError::WaitTimeout { last: Some(last), .. } if last == "REQUESTED"), "got {error:?}");
}

// -------------------------------------------------------------------------------------------
// The carbon-emissions scenario against the embedded reference data space

/// The embedded data space with a recording proxy on the wire in each direction, as `run` sets
/// it up, and a scenario configuration pointing the consumer at the provider's proxy.
struct Space {
    space: EmbeddedDataSpace,
    config: ScenarioConfig,
    proxies: Vec<ProxyHandle>,
}

async fn space(options: EmbeddedOptions) -> Space {
    let recorder = Recorder::new();
    let schemas = SchemaSet::embedded_2025_1();
    let bound = embedded::bind(options).await.expect("bind");
    let (to_provider, provider_proxy) =
        RecordingProxy::start("consumer", "provider", &format!("{}/dsp", bound.provider_url()), recorder.clone(), schemas.clone()).await.expect("proxy");
    let (to_consumer, consumer_proxy) =
        RecordingProxy::start("provider", "consumer", &format!("{}/dsp", bound.consumer_url()), recorder.clone(), schemas.clone()).await.expect("proxy");
    let space = bound
        .start(Advertised { provider_dsp_url: Some(to_provider.clone()), consumer_dsp_url: Some(to_consumer) })
        .await
        .expect("embedded data space starts");
    let mut config = ScenarioConfig::new(space.info.clone(), &space.carbon_source_url(), Fixture::of(dsp_harness::reference::backend::CARBON_EMISSIONS));
    config.provider_dsp_url = to_provider;
    config.recorder = recorder;
    config.schemas = schemas;
    config.timeouts.state = Duration::from_secs(15);
    config.timeouts.step = Duration::from_secs(30);
    Space { space, config, proxies: vec![provider_proxy, consumer_proxy] }
}

impl Space {
    async fn run(self) -> (Vec<CaseReport>, Vec<RunEvent>) {
        let mut events = Vec::new();
        let reports = run_scenario(self.config.clone(), |event| events.push(event)).await;
        self.space.shutdown().await;
        for proxy in self.proxies {
            proxy.stop().await;
        }
        (reports, events)
    }
}

fn case<'a>(reports: &'a [CaseReport], id: &str) -> &'a CaseReport {
    reports.iter().find(|r| r.id == id).unwrap_or_else(|| panic!("no case {id}"))
}

fn summary(reports: &[CaseReport]) -> String {
    reports
        .iter()
        .map(|r| format!("{} {:?} {:?} {:#?}", r.id, r.verdict, r.reason, r.findings))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scenario_passes_against_the_reference_data_space() {
    let (reports, events) = space(EmbeddedOptions::default()).await.run().await;
    let ids: Vec<&str> = reports.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, scenario::CASES.iter().map(|c| c.id).collect::<Vec<_>>());
    assert!(reports.iter().all(|r| r.verdict == Verdict::Pass), "{}", summary(&reports));
    assert!(reports.iter().all(|r| r.suite == "mvds" && r.area == "scenario"));

    // Events: one start, a start and a finish per case, one end.
    assert!(matches!(events.first(), Some(RunEvent::RunStarted { total_cases: 8 })));
    assert!(matches!(events.last(), Some(RunEvent::RunFinished)));
    assert_eq!(events.iter().filter(|e| matches!(e, RunEvent::CaseFinished(_))).count(), 8);

    // The DSP messages of both directions crossed the proxies and were recorded in the cases.
    let all: Vec<&Exchange> = reports.iter().flat_map(|r| r.exchanges.iter()).collect();
    let typed = |from: &str, kind: &str| all.iter().any(|e| e.from == from && e.request_type.as_deref() == Some(kind));
    assert!(typed("consumer", "CatalogRequestMessage"));
    assert!(typed("consumer", "ContractRequestMessage"));
    assert!(typed("provider", "ContractAgreementMessage"));
    assert!(typed("consumer", "TransferRequestMessage"));
    assert!(typed("provider", "TransferStartMessage"));
    assert!(typed("provider", "TransferCompletionMessage"));
    assert!(all.iter().any(|e| e.to == "consumer-backend" && matches!(e.request_body, Some(Body::Binary { .. }))), "the push is on record");
    let pull = case(&reports, scenario::PULL);
    assert!(pull.exchanges.iter().any(|e| e.to == "provider-data-plane" && e.status == Some(401)), "the refused pull is on record");
    let schema = case(&reports, scenario::SCHEMA);
    assert!(schema.steps[0].name.starts_with("validate ") && !schema.steps[0].name.starts_with("validate 0 "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scenario_fails_when_the_provider_serves_different_bytes() {
    let options = EmbeddedOptions { provider_faults: Faults::of([Fault::WrongBytes]), ..EmbeddedOptions::default() };
    let (reports, _) = space(options).await.run().await;
    for id in [scenario::REGISTER, scenario::CATALOG, scenario::NEGOTIATE] {
        assert_eq!(case(&reports, id).verdict, Verdict::Pass, "{}", summary(&reports));
    }
    for id in [scenario::PULL, scenario::PUSH, scenario::S3] {
        let report = case(&reports, id);
        assert_eq!(report.verdict, Verdict::Fail, "{}", summary(&reports));
        let digest = report.findings.iter().find(|f| f.kind == "digest").unwrap_or_else(|| panic!("{id} has no digest finding: {:#?}", report.findings));
        let fixture = Fixture::of(dsp_harness::reference::backend::CARBON_EMISSIONS);
        assert!(digest.expected.as_deref().is_some_and(|e| e.contains(&fixture.sha256)));
        assert!(digest.actual.as_deref().is_some_and(|a| !a.contains(&fixture.sha256)));
    }
    let completion = case(&reports, scenario::COMPLETION);
    assert_eq!(completion.verdict, Verdict::Skip);
    assert_eq!(completion.reason.as_deref(), Some("prerequisite mvds.carbon.04-pull did not pass"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_violations_fail_the_case_that_recorded_them_and_the_schema_step() {
    let options = EmbeddedOptions { provider_faults: Faults::of([Fault::NoContext]), ..EmbeddedOptions::default() };
    let (reports, _) = space(options).await.run().await;
    let schema = case(&reports, scenario::SCHEMA);
    assert_eq!(schema.verdict, Verdict::Fail, "{}", summary(&reports));
    let owner = reports
        .iter()
        .find(|r| r.id != scenario::SCHEMA && r.findings.iter().any(|f| f.kind == "schema"))
        .unwrap_or_else(|| panic!("no case carries the schema finding:\n{}", summary(&reports)));
    assert_eq!(owner.verdict, Verdict::Fail);
    let finding = owner.findings.iter().find(|f| f.kind == "schema").unwrap();
    let index = finding.exchange.expect("the finding points at its exchange");
    assert!(!owner.exchanges[index].violations.is_empty());
    assert_eq!(owner.exchanges[index].from, "consumer", "the provider's reply to the consumer broke the schema");
}

#[tokio::test]
async fn a_broken_management_api_yields_findings_and_skips_not_panics() {
    // Every management call answers 500 with a body that is not JSON.
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any()).respond_with(ResponseTemplate::new(500).set_body_string("<html>oops</html>")).mount(&server).await;
    let connector = |id: &str| dsp_harness::runtime::ConnectorInfo {
        participant_id: id.to_string(),
        dsp_url: format!("{}/dsp", server.uri()),
        root_url: server.uri(),
        management_url: format!("{}/management", server.uri()),
        api_key: KEY.to_string(),
        data_plane_url: format!("{}/public", server.uri()),
    };
    let info = dsp_harness::runtime::DataSpaceInfo {
        daps: dsp_harness::runtime::DapsInfo { url: server.uri(), admin_key: "k".into() },
        provider: connector("company-x"),
        consumer: connector("company-y"),
        object_store: dsp_harness::runtime::ObjectStoreInfo { url: server.uri(), region: "eu-central-1".into(), access_key: "a".into(), secret_key: "s".into() },
    };
    let config = ScenarioConfig::new(info, &format!("{}/carbon", server.uri()), Fixture::of(b"data"));
    let reports = run_scenario(config, |_| {}).await;
    let register = case(&reports, scenario::REGISTER);
    assert_eq!(register.verdict, Verdict::Fail);
    assert_eq!(register.findings.len(), 3, "{:#?}", register.findings);
    for finding in &register.findings {
        assert_eq!(finding.kind, "status");
        assert_eq!((finding.expected.as_deref(), finding.actual.as_deref()), (Some("a 2xx answer"), Some("500")));
        let index = finding.exchange.expect("points at the exchange");
        assert_eq!(register.exchanges[index].status, Some(500));
    }
    assert_eq!(register.steps.iter().map(|s| s.verdict).collect::<Vec<_>>(), vec![Verdict::Fail; 3]);
    for id in [scenario::CATALOG, scenario::NEGOTIATE, scenario::PULL, scenario::PUSH, scenario::S3, scenario::COMPLETION] {
        assert_eq!(case(&reports, id).verdict, Verdict::Skip, "{id}");
    }
    assert_eq!(case(&reports, scenario::CATALOG).reason.as_deref(), Some("prerequisite mvds.carbon.01-register did not pass"));
    assert_eq!(case(&reports, scenario::COMPLETION).reason.as_deref(), Some("prerequisite mvds.carbon.03-negotiate did not pass"));
    let schema = case(&reports, scenario::SCHEMA);
    assert_eq!(schema.verdict, Verdict::Skip, "no DSP message was recorded");
}
