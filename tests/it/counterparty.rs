//! The harness provider against the embedded reference consumer: a negotiation the consumer
//! starts through its management API reaches FINALIZED on both sides, a pull transfer under
//! that agreement starts with the harness's data address and the consumer pulls the harness's
//! bytes, every message is recorded and schema-checked, and a consumer request without a
//! valid token is refused.

use std::time::Duration;

use dsp_harness::protocol::binding::{self, Route};
use dsp_harness::protocol::{MessageKind, NegotiationState};
use dsp_harness::vocab::Role;
use dsp_harness::reference::connector::{Fault, Faults};
use dsp_harness::runner::counterparty::{
    payload, CallerToken, HarnessProvider, HarnessProviderConfig, IncomingTokens, NegotiationMove, OutgoingTokens, SendOptions, Token, TransferMove,
};
use dsp_harness::recording::{Recorder, RecordingClient};
use dsp_harness::runtime::embedded::{self, EmbeddedDataSpace, EmbeddedOptions, HARNESS_ID};
use dsp_harness::schema::SchemaSet;
use dsp_harness::target::ManagementClient;

const WAIT: Duration = Duration::from_secs(10);
const PROTOCOL: &str = "dataspace-protocol-http:2025-1";

struct Setup {
    space: EmbeddedDataSpace,
    harness: HarnessProvider,
    management: ManagementClient,
    recorder: Recorder,
}

async fn setup(consumer_faults: Faults) -> Setup {
    let space = embedded::start(EmbeddedOptions { consumer_faults, ..EmbeddedOptions::default() }).await.expect("the embedded data space starts");
    let recorder = Recorder::new();
    let client = RecordingClient::new(recorder.clone(), SchemaSet::embedded_2025_1(), Duration::from_secs(10));
    let http = reqwest::Client::new();
    let harness = HarnessProvider::start(HarnessProviderConfig {
        participant_id: HARNESS_ID.to_string(),
        outgoing: OutgoingTokens::Daps { client: space.daps.dat_client(space.harness_keys.clone(), http.clone()), audience: space.info.consumer.participant_id.clone() },
        incoming: IncomingTokens::Daps(space.daps.verifier(http)),
        peer_name: "consumer".to_string(),
        client: client.clone(),
        bind: "127.0.0.1".to_string(),
        advertised_host: None,
        url_rewrites: Default::default(),
        version: dsp_harness::protocol::ProtocolVersion::V2025_1,
    })
    .await
    .expect("the harness provider starts");
    let management = ManagementClient::for_connector("consumer", &space.info.consumer, client);
    Setup { space, harness, management, recorder }
}

/// Starts a negotiation on the consumer and returns (its id, the harness's pid).
async fn requested(s: &Setup) -> (String, dsp_harness::protocol::ProviderPid) {
    let id = s.management.initiate_negotiation(&s.harness.dsp_url(), HARNESS_ID, PROTOCOL, &s.harness.offer_json()).await.expect("the consumer starts a negotiation");
    let n = s.harness.wait_for_requested_negotiation(WAIT).await.expect("the consumer's contract request reaches the harness");
    assert_eq!(n.state, NegotiationState::Requested);
    assert_eq!(n.consumer_pid.as_ref().map(|p| p.as_str()), Some(id.as_str()), "the reference consumer uses its negotiation id as consumerPid");
    assert_eq!(n.consumer_id.as_deref(), Some("company-y"), "the consumer's token names it");
    (id, n.provider_pid)
}

/// Whether `base` serves `route`: a served route answers a request without token or body with
/// a DSP error body (401 or 415), one that is not routed gets the router's bare 404 or 405.
async fn serves(http: &reqwest::Client, base: &str, route: &Route) -> bool {
    let url = format!("{base}{}", route.path_for("urn:uuid:no-such-process"));
    let request = match route.method {
        binding::Method::Get => http.get(&url),
        binding::Method::Post => http.post(&url),
    };
    let response = request.send().await.expect("the router answers");
    let status = response.status().as_u16();
    let body: Option<serde_json::Value> = response.json().await.ok();
    match body.as_ref().and_then(|b| b.get("@type")) {
        Some(_) => true,
        None => {
            assert!(matches!(status, 404 | 405), "{} {url}: {status} without a DSP body", route.method.as_str());
            false
        }
    }
}

/// Both DSP routers are built from the binding's one table: the reference connector (both roles
/// on one router) serves every route of it, the harness provider exactly the provider's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_router_serves_exactly_the_routes_of_its_role_in_the_binding_table() {
    let s = setup(Faults::none()).await;
    let http = reqwest::Client::new();
    for route in binding::ROUTES {
        assert!(serves(&http, &s.space.info.provider.dsp_url, route).await, "the reference connector serves {} {}", route.method.as_str(), route.path);
        assert_eq!(
            serves(&http, &s.harness.dsp_url(), route).await,
            route.served_by(Role::Provider),
            "the harness provider serves {} {} exactly when a provider does",
            route.method.as_str(),
            route.path
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_negotiation_and_a_pull_transfer_run_to_the_end_against_the_harness_provider() {
    let s = setup(Faults::none()).await;
    let catalog = s.management.request_catalog(&s.harness.dsp_url(), HARNESS_ID, PROTOCOL, None).await.expect("the consumer fetches the harness's catalog").value;
    assert_eq!(catalog["dataset"][0]["@id"], dsp_harness::runner::counterparty::DATASET_ID, "{catalog}");
    let (id, pid) = requested(&s).await;

    let reply = s.harness.negotiation_move(&pid, NegotiationMove::Agreement).await.expect("the agreement is sent");
    assert_eq!(reply.status.as_u16(), 200, "{}", reply.text());
    let verification = s.harness.wait_for_message(&pid, MessageKind::ContractAgreementVerificationMessage, 0, WAIT).await.expect("the consumer verifies");
    assert_eq!(verification.status, 200, "{:?}", verification.refusal);
    assert!(verification.violations.is_empty(), "{:?}", verification.violations);
    assert!(matches!(verification.token, CallerToken::Valid { .. }));
    let reply = s.harness.negotiation_move(&pid, NegotiationMove::Finalized).await.expect("the finalized event is sent");
    assert_eq!(reply.status.as_u16(), 200, "{}", reply.text());
    s.management.wait_for_negotiation_state(&id, &["FINALIZED"], WAIT).await.expect("the consumer reports FINALIZED");
    let agreement_id = s.harness.negotiation(&pid).and_then(|n| n.agreement_id()).expect("the harness made an agreement");

    let transfer = s.management.initiate_transfer(&s.harness.dsp_url(), agreement_id.as_str(), PROTOCOL, "HttpData-PULL", None).await.expect("the consumer requests a transfer");
    let t = s.harness.wait_for_requested_transfer(&agreement_id, WAIT).await.expect("the transfer request reaches the harness");
    let reply = s.harness.transfer_move(&t.provider_pid, TransferMove::Start).await.expect("the start is sent");
    assert_eq!(reply.status.as_u16(), 200, "{}", reply.text());
    s.management.wait_for_transfer_state(&transfer, &["STARTED"], WAIT).await.expect("the consumer reports STARTED");
    let edr = s.management.edr_data_address(&transfer).await.expect("the consumer has an EDR").value;
    assert_eq!(edr.endpoint, s.harness.data_url());
    let request = s.harness.client().http().get(&edr.endpoint).header("Authorization", edr.authorization.clone().unwrap_or_default()).build().unwrap();
    let pulled = s.harness.client().download("consumer", "harness", request).await.expect("the pull completes");
    assert_eq!(pulled.status.as_u16(), 200);
    assert_eq!(pulled.size, payload().len() as u64);

    let reply = s.harness.transfer_move(&t.provider_pid, TransferMove::Completion).await.expect("the completion is sent");
    assert_eq!(reply.status.as_u16(), 200, "{}", reply.text());
    s.management.wait_for_transfer_state(&transfer, &["COMPLETED"], WAIT).await.expect("the consumer reports COMPLETED");
    let token = edr.authorization.unwrap_or_default();
    let request = s.harness.client().http().get(s.harness.data_url()).header("Authorization", token).build().unwrap();
    let after = s.harness.client().download("consumer", "harness", request).await.expect("the late pull is answered");
    assert_eq!(after.status.as_u16(), 401, "a completed transfer's token is revoked");

    let exchanges = s.recorder.drain();
    for kind in ["ContractRequestMessage", "ContractAgreementMessage", "ContractAgreementVerificationMessage", "ContractNegotiationEventMessage", "TransferRequestMessage", "TransferStartMessage", "TransferCompletionMessage"] {
        let found: Vec<_> = exchanges.iter().filter(|e| e.request_type.as_deref() == Some(kind)).collect();
        assert!(!found.is_empty(), "no {kind} was recorded");
        for e in found {
            assert!(e.violations.is_empty(), "{kind} at {} has violations: {:?}", e.url, e.violations);
        }
    }
    assert!(exchanges.iter().any(|e| e.from == "consumer" && e.to == "harness" && e.request_type.as_deref() == Some("ContractRequestMessage")));
    let flawed: Vec<_> = exchanges.iter().filter(|e| !e.violations.is_empty()).map(|e| format!("{} {}: {:?}", e.method, e.url, e.violations)).collect();
    assert!(flawed.is_empty(), "every message both ways validates:\n{}", flawed.join("\n"));
    s.space.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_moves_are_refused_by_the_consumer_and_leave_the_harness_side_alone() {
    let s = setup(Faults::none()).await;
    let (id, pid) = requested(&s).await;
    let reply = s.harness.negotiation_move(&pid, NegotiationMove::Finalized).await.expect("sent");
    assert_eq!(reply.status.as_u16(), 400, "{}", reply.text());
    assert_eq!(reply.json().and_then(|j| j["@type"].as_str().map(str::to_string)).as_deref(), Some("ContractNegotiationError"));
    assert_eq!(s.harness.negotiation(&pid).map(|n| n.state), Some(NegotiationState::Requested), "a refused move is rolled back");
    assert_eq!(s.management.negotiation_state(&id).await.unwrap().value, "REQUESTED");

    let unknown = s.harness.negotiation_move_with(&pid, NegotiationMove::Termination, &SendOptions::unknown_process()).await.expect("sent");
    assert_eq!(unknown.status.as_u16(), 404, "{}", unknown.text());
    let no_token = s.harness.negotiation_move_with(&pid, NegotiationMove::Termination, &SendOptions::token(Token::Missing)).await.expect("sent");
    assert_eq!(no_token.status.as_u16(), 401, "{}", no_token.text());
    assert_eq!(s.harness.negotiation(&pid).map(|n| n.state), Some(NegotiationState::Requested));

    let reply = s.harness.negotiation_move(&pid, NegotiationMove::Termination).await.expect("sent");
    assert_eq!(reply.status.as_u16(), 200, "{}", reply.text());
    assert_eq!(s.harness.negotiation(&pid).map(|n| n.state), Some(NegotiationState::Terminated));
    s.management.wait_for_negotiation_state(&id, &["TERMINATED"], WAIT).await.expect("the consumer reports TERMINATED");
    s.space.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_that_sends_no_token_is_refused_with_401() {
    let s = setup(Faults::of([Fault::SendNoToken])).await;
    let id = s.management.initiate_negotiation(&s.harness.dsp_url(), HARNESS_ID, PROTOCOL, &s.harness.offer_json()).await.expect("the consumer starts a negotiation");
    let refused = s.harness.wait_for_received(WAIT, |r| r.kind == Some(MessageKind::ContractRequestMessage)).await.expect("the request arrives");
    assert_eq!(refused.status, 401);
    assert!(matches!(refused.token, CallerToken::Refused(_)));
    assert!(s.harness.negotiations().is_empty(), "a refused request opens nothing");
    s.management.wait_for_negotiation_state(&id, &["TERMINATED"], WAIT).await.expect("the consumer gives up");
    s.space.shutdown().await;
}

/// Posts `body` to the harness as the consumer would, with `token` as the Authorization.
async fn post_as_consumer(s: &Setup, path: &str, body: serde_json::Value, token: Option<&str>) -> (u16, serde_json::Value) {
    let mut request = reqwest::Client::new().post(format!("{}{path}", s.harness.dsp_url())).json(&body);
    if let Some(token) = token {
        request = request.header("Authorization", token);
    }
    let reply = request.send().await.expect("the harness answers");
    let status = reply.status().as_u16();
    (status, reply.json().await.unwrap_or(serde_json::Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_harness_provider_refuses_what_a_provider_must_refuse() {
    use dsp_harness::reference::daps::MintOverrides;
    use serde_json::json;
    let s = setup(Faults::none()).await;
    let consumer_keys = s.space.consumer.config().keys.clone();
    let token = s.space.daps.dat_client(consumer_keys.clone(), reqwest::Client::new()).token(HARNESS_ID).await.expect("a token for the harness");
    let context = json!([dsp_harness::protocol::codec::CONTEXT_2025_1]);
    let request = |offer_id: &str| {
        json!({"@context": context, "@type": "ContractRequestMessage", "consumerPid": "urn:uuid:c1", "callbackAddress": "http://127.0.0.1:9/dsp",
               "offer": {"@id": offer_id, "@type": "Offer", "target": dsp_harness::runner::counterparty::DATASET_ID, "permission": [{"action": "use"}]}})
    };

    let (status, body) = post_as_consumer(&s, "/catalog/request", json!({"@context": context, "@type": "CatalogRequestMessage"}), Some(&token)).await;
    assert_eq!(status, 200);
    assert_eq!(body["dataset"][0]["@id"], dsp_harness::runner::counterparty::DATASET_ID);

    let (status, body) = post_as_consumer(&s, "/negotiations/request", request("urn:other-offer"), Some(&token)).await;
    assert_eq!((status, body["@type"].as_str()), (400, Some("ContractNegotiationError")), "{body}");
    let (status, _) = post_as_consumer(&s, "/negotiations/request", request(dsp_harness::runner::counterparty::OFFER_ID), None).await;
    assert_eq!(status, 401, "no token");
    let elsewhere = s.space.daps.mint(MintOverrides { subject: Some(consumer_keys.client_id().as_str().to_string()), audience: Some(vec!["someone-else".into()]), ..Default::default() }).unwrap();
    let (status, _) = post_as_consumer(&s, "/negotiations/request", request(dsp_harness::runner::counterparty::OFFER_ID), Some(&elsewhere)).await;
    assert_eq!(status, 401, "a token for another audience");
    assert!(s.harness.negotiations().is_empty());

    let (status, body) = post_as_consumer(&s, "/negotiations/request", request(dsp_harness::runner::counterparty::OFFER_ID), Some(&token)).await;
    assert_eq!((status, body["state"].as_str()), (201, Some("REQUESTED")), "{body}");
    let pid = body["providerPid"].as_str().unwrap().to_string();
    let pids = |consumer: &str| json!({"@context": context, "consumerPid": consumer, "providerPid": pid});
    let with_type = |mut v: serde_json::Value, t: &str| {
        v["@type"] = json!(t);
        v
    };
    let verification = with_type(pids("urn:uuid:c1"), "ContractAgreementVerificationMessage");
    let (status, body) = post_as_consumer(&s, &format!("/negotiations/{pid}/agreement/verification"), verification, Some(&token)).await;
    assert_eq!((status, body["consumerPid"].as_str()), (400, Some("urn:uuid:c1")), "a verification before any agreement: {body}");
    let mut finalized = with_type(pids("urn:uuid:c1"), "ContractNegotiationEventMessage");
    finalized["eventType"] = json!("FINALIZED");
    let (status, _) = post_as_consumer(&s, &format!("/negotiations/{pid}/events"), finalized, Some(&token)).await;
    assert_eq!(status, 400, "a consumer cannot finalize");
    let wrong = with_type(pids("urn:uuid:someone-else"), "ContractNegotiationTerminationMessage");
    let (status, _) = post_as_consumer(&s, &format!("/negotiations/{pid}/termination"), wrong, Some(&token)).await;
    assert_eq!(status, 400, "a termination naming another consumer pid");
    let (status, body) = post_as_consumer(&s, "/negotiations/urn:uuid:nobody/termination", with_type(pids("urn:uuid:c1"), "ContractNegotiationTerminationMessage"), Some(&token)).await;
    assert_eq!((status, body["@type"].as_str()), (404, Some("ContractNegotiationError")));

    s.harness.script_reply(MessageKind::ContractNegotiationTerminationMessage, 409, "scripted");
    let termination = with_type(pids("urn:uuid:c1"), "ContractNegotiationTerminationMessage");
    let (status, _) = post_as_consumer(&s, &format!("/negotiations/{pid}/termination"), termination.clone(), Some(&token)).await;
    assert_eq!(status, 409, "the scripted reply");
    assert_eq!(s.harness.negotiations()[0].state, NegotiationState::Requested);
    let (status, _) = post_as_consumer(&s, &format!("/negotiations/{pid}/termination"), termination, Some(&token)).await;
    assert_eq!(status, 200, "the script is used once");
    assert_eq!(s.harness.negotiations()[0].state, NegotiationState::Terminated);
    assert!(s.harness.received().iter().all(|r| r.refusal.is_some() != (200..300).contains(&r.status)));
    s.space.shutdown().await;
}

/// The harness's own half of every consumer case is well-formed: each message it sends and
/// each answer it gives validates, except the malformed messages the schema cases send on
/// purpose, so a violation in a report is always the connector's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_harness_side_of_every_consumer_case_validates() {
    use dsp_harness::report::model::{Role, Verdict};
    use dsp_harness::runner::conformance::{embedded_config, run_cases, RunOptions, Timing};
    let cases: Vec<_> = dsp_harness::suite::all_cases().expect("suites parse").into_iter().filter(|c| c.role == Role::Consumer && !c.tags.iter().any(|t| t == "schema")).collect();
    let space = embedded::start(EmbeddedOptions::default()).await.expect("the embedded data space starts");
    let mut config = embedded_config(&space, RunOptions { timing: Timing { case_timeout: Duration::from_secs(20), wait: Duration::from_secs(3) }, ..RunOptions::default() });
    config.provider = None;
    let reports = run_cases(config, cases, &mut |_| {}).await.expect("the cases run");
    space.shutdown().await;
    let mut flawed = Vec::new();
    for report in &reports {
        assert_eq!(report.verdict, Verdict::Pass, "{} {:?}", report.id, report.findings);
        for e in &report.exchanges {
            for v in &e.violations {
                let harness_part = (e.from == "harness" && v.part == "request") || (e.to == "harness" && v.part == "response");
                if harness_part {
                    flawed.push(format!("{}: {} {} {} at {}: {}", report.id, e.method, e.url, v.schema, v.instance_path, v.message));
                }
            }
        }
    }
    assert!(flawed.is_empty(), "the harness sent or answered invalid messages:\n{}", flawed.join("\n"));
}

/// Against a consumer driven as an EDC v3 target (no manual steps) or with no management API
/// at all, every consumer case passes or is skipped with its reason: none fails or errors
/// because the harness assumed a step the target cannot be made to take.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edc_v3_and_unmanaged_consumers_run_or_skip_every_consumer_case() {
    use dsp_harness::report::model::{Role, Verdict};
    use dsp_harness::runner::conformance::{embedded_config, run_cases, RunOptions, Timing};
    for kind in ["edc-v3", "none"] {
        let cases: Vec<_> = dsp_harness::suite::all_cases().expect("suites parse").into_iter().filter(|c| c.role == Role::Consumer).collect();
        let space = embedded::start(EmbeddedOptions::default()).await.expect("the embedded data space starts");
        let mut config = embedded_config(&space, RunOptions { timing: Timing { case_timeout: Duration::from_secs(20), wait: Duration::from_secs(3) }, ..RunOptions::default() });
        config.provider = None;
        if let Some(consumer) = config.consumer.as_mut() {
            consumer.management = match kind {
                "edc-v3" => dsp_harness::target::driver::edc_v3(&space.info.consumer.management_url, &space.info.consumer.api_key),
                _ => dsp_harness::target::driver::none(),
            };
        }
        let reports = run_cases(config, cases, &mut |_| {}).await.expect("the cases run");
        space.shutdown().await;
        let bad: Vec<String> = reports.iter().filter(|r| !matches!(r.verdict, Verdict::Pass | Verdict::Skip)).map(|r| format!("{} {:?} {:?} {:?}", r.id, r.verdict, r.reason, r.findings)).collect();
        assert!(bad.is_empty(), "{} consumer cases neither passed nor skipped with management kind {}:\n{}", bad.len(), kind, bad.join("\n"));
        let skips: Vec<_> = reports.iter().filter(|r| r.verdict == Verdict::Skip).collect();
        assert!(skips.iter().all(|r| r.reason.as_deref().is_some_and(|s| !s.is_empty())), "every skip gives its reason");
        let passed = reports.len() - skips.len();
        eprintln!("management kind {}: {passed} passed, {} skipped of {}", kind, skips.len(), reports.len());
        match kind {
            "edc-v3" => assert!(passed >= 30 && !skips.is_empty(), "edc-v3: {passed} passed, {} skipped", skips.len()),
            _ => assert!((3..10).contains(&passed), "none: {passed} passed, {} skipped", skips.len()),
        }
    }
}

/// Issue #10: a consumer's state is read through its management API when the connector
/// serves no state read on its consumer side (DSP defines none), and that read can fail: a
/// consumer driven as EDC v3 that acknowledges a termination but stays where it was fails the
/// termination cases.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edc_v3_consumer_state_is_read_through_its_management_api_and_can_fail() {
    use dsp_harness::reference::connector::{Fault, Faults};
    use dsp_harness::report::model::Verdict;
    use dsp_harness::runner::conformance::{embedded_config, run_cases, RunOptions, Timing};
    let wanted = ["dsp.tp.consumer.005", "dsp.cn.consumer.005"];
    for (faults, verdict) in [(Faults::default(), Verdict::Pass), (Faults::of([Fault::IgnoreTermination]), Verdict::Fail)] {
        let cases: Vec<_> = dsp_harness::suite::all_cases().expect("suites parse").into_iter().filter(|c| wanted.contains(&c.id.as_str())).collect();
        let space = embedded::start(EmbeddedOptions { consumer_faults: faults, ..EmbeddedOptions::default() }).await.expect("starts");
        let mut config = embedded_config(&space, RunOptions { timing: Timing { case_timeout: Duration::from_secs(20), wait: Duration::from_secs(2) }, ..RunOptions::default() });
        config.provider = None;
        if let Some(consumer) = config.consumer.as_mut() {
            consumer.management = dsp_harness::target::driver::edc_v3(&space.info.consumer.management_url, &space.info.consumer.api_key);
        }
        let reports = run_cases(config, cases, &mut |_| {}).await.expect("the cases run");
        space.shutdown().await;
        assert_eq!(reports.len(), 2);
        for r in &reports {
            assert_eq!(r.verdict, verdict, "{} {:?} {:?}", r.id, r.reason, r.findings);
            let consumer_gets = r.exchanges.iter().filter(|e| e.method == "GET" && e.to == "consumer").count();
            assert_eq!(consumer_gets, 0, "{}: no GET on the consumer's DSP endpoints", r.id);
        }
    }
}

/// EDC's consumer shows `REQUESTING` until the provider has answered its request, and the
/// reference consumer does the same: were it `REQUESTED` at once, a client that saw it could
/// send a message before the consumer knew the providerPid, and the consumer's refusal would
/// name an empty one (the race behind a flaky `dsp.tp.consumer.012` under load).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_request_shows_requesting_until_the_provider_answers() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let space = embedded::start(EmbeddedOptions::default()).await.expect("the embedded data space starts");
    let provider = MockServer::start().await;
    let slow = |kind: &str, pid: &str| {
        ResponseTemplate::new(201)
            .set_body_json(serde_json::json!({"@context": ["https://w3id.org/dspace/2025/1/context.jsonld"], "@type": kind, "providerPid": pid, "consumerPid": "c", "state": "REQUESTED"}))
            .set_delay(Duration::from_millis(1500))
    };
    Mock::given(method("POST")).and(path("/transfers/request")).respond_with(slow("TransferProcess", "urn:uuid:slow-transfer")).mount(&provider).await;
    Mock::given(method("POST")).and(path("/negotiations/request")).respond_with(slow("ContractNegotiation", "urn:uuid:slow-negotiation")).mount(&provider).await;
    let info = &space.info.consumer;
    let http = reqwest::Client::new();
    let edc = "https://w3id.org/edc/v0.0.1/ns/";
    let starts = [
        ("transferprocesses", serde_json::json!({"@context": {"@vocab": edc}, "counterPartyAddress": provider.uri(), "counterPartyId": "slow", "contractId": "agr-1", "transferType": "HttpData-PULL", "protocol": PROTOCOL}), "urn:uuid:slow-transfer"),
        (
            "contractnegotiations",
            serde_json::json!({"@context": {"@vocab": edc}, "counterPartyAddress": provider.uri(), "counterPartyId": "slow", "protocol": PROTOCOL, "policy": {"@id": "offer-1", "@type": "Offer", "target": "asset-1", "assigner": "slow", "permission": [{"action": "use"}]}}),
            "urn:uuid:slow-negotiation",
        ),
    ];
    for (kind, body, provider_pid) in starts {
        let started: serde_json::Value = http.post(format!("{}/v3/{kind}", info.management_url)).header("x-api-key", &info.api_key).json(&body).send().await.unwrap().json().await.unwrap();
        let id = started["@id"].as_str().unwrap_or_else(|| panic!("{kind}: {started}")).to_string();
        let read = |what: &'static str| {
            let (http, url, key) = (http.clone(), format!("{}/v3/{kind}/{id}{what}", info.management_url), info.api_key.clone());
            async move { http.get(url).header("x-api-key", key).send().await.unwrap().json::<serde_json::Value>().await.unwrap() }
        };
        assert_eq!(read("/state").await["state"], "REQUESTING", "{kind}: before the provider answers");
        let process = read("").await;
        assert_eq!(process["state"], "REQUESTING", "{kind}: {process}");
        assert!(process.get("providerPid").is_none(), "{kind}: {process}");
        let mut state = String::new();
        for _ in 0..100 {
            state = read("/state").await["state"].as_str().unwrap_or_default().to_string();
            if state != "REQUESTING" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(state, "REQUESTED", "{kind}: after the provider answered");
        assert_eq!(read("").await["providerPid"], provider_pid, "{kind}: REQUESTED names the provider's pid");
    }
    space.shutdown().await;
}
