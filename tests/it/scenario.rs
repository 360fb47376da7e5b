//! The carbon-emissions scenario end to end on the embedded data space: it passes, every
//! recorded DSP message validates against the official 2025-1 schemas, and it fails with a
//! clear finding when DATs are missing or expired and when a negotiation message arrives in
//! the wrong state. (Other bytes from the provider: `runner::the_scenario_fails_when_the_
//! provider_serves_different_bytes`, which checks the pull, the push and the S3 copy.)

use dsp_harness::reference::connector::{Fault, Faults};
use dsp_harness::report::model::{Body, CaseReport, Verdict};
use dsp_harness::runner::session::{self, DataSpace, RunPlan};
use dsp_harness::runtime::embedded::EmbeddedOptions;
use dsp_harness::schema::SchemaSet;

async fn scenario(options: EmbeddedOptions) -> Vec<CaseReport> {
    let plan = RunPlan { scenario: true, suites: false, case_timeout: std::time::Duration::from_secs(10), ..RunPlan::default() };
    session::run(DataSpace::Embedded(options), &plan, &SchemaSet::embedded_2025_1(), &mut |_| {}).await.expect("the embedded data space starts").cases
}

fn case<'a>(cases: &'a [CaseReport], id: &str) -> &'a CaseReport {
    cases.iter().find(|c| c.id == id).unwrap_or_else(|| panic!("no case {id} in {:?}", cases.iter().map(|c| &c.id).collect::<Vec<_>>()))
}

fn findings_text(case: &CaseReport) -> String {
    let mut text: Vec<String> = case.findings.iter().map(|f| format!("{} {} {:?} {:?}", f.kind, f.message, f.expected, f.actual)).collect();
    text.extend(case.steps.iter().flat_map(|s| s.findings.iter().map(|f| format!("{} {} {:?} {:?}", f.kind, f.message, f.expected, f.actual))));
    text.join("\n")
}

/// The official 2025-1 schemas beside the checkout, as CI has them.
fn official_schemas() -> Option<SchemaSet> {
    let dir = crate::support::require_dir("scenario::official_schemas", "../shared/dsp-schemas/2025-1", "the official DSP 2025-1 schemas")?;
    Some(SchemaSet::from_dir(&dir).expect("the official 2025-1 schemas load"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_carbon_emissions_flow_passes_and_its_messages_match_the_official_schemas() {
    let cases = scenario(EmbeddedOptions::default()).await;
    for c in &cases {
        assert_eq!(c.verdict, Verdict::Pass, "{} did not pass:\n{}", c.id, findings_text(c));
    }
    assert!(cases.len() >= 8, "expected every scenario step, got {}", cases.len());

    let exchanges: Vec<_> = cases.iter().flat_map(|c| c.exchanges.iter()).collect();
    let dsp: Vec<_> = exchanges.iter().filter(|e| e.request_type.is_some() || e.response_type.is_some()).collect();
    for kind in ["CatalogRequestMessage", "ContractRequestMessage", "ContractAgreementMessage", "ContractAgreementVerificationMessage", "ContractNegotiationEventMessage", "TransferRequestMessage", "TransferStartMessage", "TransferCompletionMessage"] {
        assert!(dsp.iter().any(|e| e.request_type.as_deref() == Some(kind)), "no {kind} was recorded");
    }
    let Some(official) = official_schemas() else { return };
    let mut checked = 0;
    for exchange in &dsp {
        for body in [&exchange.request_body, &exchange.response_body].into_iter().flatten() {
            if let Body::Json(json) = body {
                if json.get("@type").is_some() {
                    let violations = official.validate_message(json).expect("the official set knows every DSP type");
                    assert!(violations.is_empty(), "{} {} violates the official schema: {violations:?}\n{json:#}", exchange.method, exchange.url);
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 15, "only {checked} DSP bodies were checked against the official schemas");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_sending_no_token_is_refused() {
    let cases = scenario(EmbeddedOptions { consumer_faults: Faults::of([Fault::SendNoToken]), ..EmbeddedOptions::default() }).await;
    let catalog = case(&cases, "mvds.carbon.02-catalog");
    assert_eq!(catalog.verdict, Verdict::Fail);
    let text = findings_text(catalog);
    assert!(text.contains("401") || text.contains("missing token"), "no finding about the missing token:\n{text}");
    assert_eq!(case(&cases, "mvds.carbon.03-negotiate").verdict, Verdict::Skip, "later steps are skipped, not passed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_tokens_are_refused() {
    // A DAPS whose clock runs two hours behind issues tokens that are expired on arrival.
    let cases = scenario(EmbeddedOptions { daps_clock_offset_secs: -7200, ..EmbeddedOptions::default() }).await;
    let catalog = case(&cases, "mvds.carbon.02-catalog");
    assert_eq!(catalog.verdict, Verdict::Fail);
    let text = findings_text(catalog);
    assert!(text.contains("expired"), "no finding about the expired token:\n{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_negotiation_message_in_the_wrong_state_fails_the_negotiation() {
    // The provider announces FINALIZED before any agreement: the consumer must refuse it.
    let cases = scenario(EmbeddedOptions { provider_faults: Faults::of([Fault::FinalizeWithoutAgreement]), ..EmbeddedOptions::default() }).await;
    let negotiate = case(&cases, "mvds.carbon.03-negotiate");
    assert_eq!(negotiate.verdict, Verdict::Fail);
    let refused = negotiate
        .exchanges
        .iter()
        .find(|e| e.request_type.as_deref() == Some("ContractNegotiationEventMessage"))
        .expect("the early FINALIZED event was recorded");
    assert_eq!(refused.status, Some(400), "the consumer must answer 400");
    assert_eq!(refused.response_type.as_deref(), Some("ContractNegotiationError"));
    let text = findings_text(negotiate);
    assert!(text.contains("TERMINATED") || text.contains("REQUESTED") || text.contains("not allowed"), "no finding naming the state:\n{text}");
}

/// One pipeline: the outcome's cases are the run's `CaseFinished` events, each once, put in run
/// order (the scenario's steps first, then each version's suites in suite order), and the
/// progress display saw one `RunStarted` announcing them all and one `RunFinished`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outcome_is_built_from_the_event_stream_in_run_order() {
    use dsp_harness::protocol::ProtocolVersion;
    use dsp_harness::report::model::RunEvent;
    let words = vec!["dsp.cat.provider.00*".to_string(), "dsp.met.provider.001".to_string()];
    let plan = RunPlan {
        filter: dsp_harness::suite::Filter::from_words(&words, &[], None, &[], &[]).unwrap(),
        versions: vec![ProtocolVersion::V2024_1, ProtocolVersion::V2025_1],
        ..RunPlan::default()
    };
    let mut events = Vec::new();
    let outcome = session::run(DataSpace::Embedded(EmbeddedOptions::default()), &plan, &SchemaSet::embedded_2025_1(), &mut |e| events.push(e)).await.unwrap();
    let finished: Vec<&CaseReport> = events.iter().filter_map(|e| if let RunEvent::CaseFinished(c) = e { Some(&**c) } else { None }).collect();
    assert_eq!(finished.len(), outcome.cases.len(), "every case reported once, and only those");
    for case in &outcome.cases {
        assert_eq!(finished.iter().filter(|f| f.id == case.id && f.dsp_version == case.dsp_version).count(), 1, "{} in {:?} is not one event", case.id, case.dsp_version);
    }
    let started: Vec<usize> = events.iter().filter_map(|e| if let RunEvent::RunStarted { total_cases } = e { Some(*total_cases) } else { None }).collect();
    assert_eq!(started, [outcome.cases.len()], "one RunStarted announcing every case");
    assert_eq!(events.iter().filter(|e| matches!(e, RunEvent::RunFinished)).count(), 1);
    let order: Vec<(String, Option<String>)> = outcome.cases.iter().map(|c| (c.id.clone(), c.dsp_version.clone())).collect();
    let scenario_steps = order.iter().take_while(|(id, _)| id.starts_with("mvds.")).count();
    assert_eq!(scenario_steps, dsp_harness::runner::scenario::CASES.len(), "the scenario's steps come first: {order:?}");
    let versions: Vec<&str> = order[scenario_steps..].iter().map(|(_, v)| v.as_deref().unwrap_or("")).collect();
    let split = versions.iter().position(|v| *v == "2025-1").unwrap_or(versions.len());
    assert!(split > 0 && versions[..split].iter().all(|v| *v == "2024-1") && versions[split..].iter().all(|v| *v == "2025-1"), "each version's cases together, in the plan's order: {order:?}");
    let ids: Vec<&str> = order[scenario_steps..scenario_steps + split].iter().map(|(id, _)| id.as_str()).collect();
    let selected = dsp_harness::runner::conformance::selected_cases(&plan.filter).unwrap();
    let in_suite_order: Vec<&str> = selected.iter().filter(|c| c.exists_in(ProtocolVersion::V2024_1).is_ok()).map(|c| c.id.as_str()).collect();
    assert_eq!(ids, in_suite_order, "suite order within a version");
}
