//! Contract negotiation with the connector under test as the consumer (DSP 2025-1 Contract
//! Negotiation, its consumer callback endpoints in the HTTPS binding): the harness plays the provider, the consumer starts
//! negotiations through its management API, and each case scripts the provider's moves,
//! the consumer's moves, and moves the consumer must refuse. The first sixteen follow the
//! Eclipse DSP TCK's `ContractNegotiationConsumer*Test` (`CN_C:01-01` ... `CN_C:03-06`).
//!
//! The consumer's view of a negotiation is read from its `GET /negotiations/{consumerPid}`,
//! as the TCK reads it; the final state of a completed negotiation also from its management
//! API.

use serde_json::json;

use super::consumer::{
    consumer_negotiation_step, consumer_requests, consumer_sends_request, expect_sent_well, expect_management_negotiation_state, expect_message, expect_negotiation_state, expect_refused, expect_taken,
    provider_moves, start, Look, Negotiation, Verifying,
};
use crate::protocol::{binding, codec_for, ConsumerPid, DspMessage, MessageKind, NegotiationState, ProtocolVersion, ProviderPid};
use crate::report::model::Finding;
use crate::runner::conformance::{register, CaseContext, CaseOutcome, CheckFn, NegotiationStep, Step};
use crate::recording::RecordedResponse;
use crate::runner::counterparty::{HarnessProvider, NegotiationMove, Received, SendOptions, Token};

pub fn checks() -> Vec<(&'static str, CheckFn)> {
    register![
        "negotiation.consumer.offer_accepted_to_finalized" => offer_accepted_to_finalized,
        "negotiation.consumer.counter_request_to_finalized" => counter_request_to_finalized,
        "negotiation.consumer.terminates_offered" => terminates_offered,
        "negotiation.consumer.agreement_to_finalized" => agreement_to_finalized,
        "negotiation.consumer.provider_terminates_requested" => provider_terminates_requested,
        "negotiation.consumer.terminates_requested" => terminates_requested,
        "negotiation.consumer.terminates_agreed" => terminates_agreed,
        "negotiation.consumer.provider_terminates_offered" => provider_terminates_offered,
        "negotiation.consumer.provider_terminates_accepted" => provider_terminates_accepted,
        "negotiation.consumer.provider_terminates_verified" => provider_terminates_verified,
        "negotiation.consumer.rejects_finalized_when_requested" => rejects_finalized_when_requested,
        "negotiation.consumer.rejects_agreement_when_offered" => rejects_agreement_when_offered,
        "negotiation.consumer.rejects_finalized_when_offered" => rejects_finalized_when_offered,
        "negotiation.consumer.rejects_finalized_when_accepted" => rejects_finalized_when_accepted,
        "negotiation.consumer.rejects_offer_when_accepted" => rejects_offer_when_accepted,
        "negotiation.consumer.rejects_finalized_when_agreed" => rejects_finalized_when_agreed,
        "negotiation.consumer.initial_offer_creates_offered" => initial_offer_creates_offered,
        "negotiation.consumer.initial_offer_to_finalized" => initial_offer_to_finalized,
        "negotiation.consumer.unknown_process" => unknown_process,
        "negotiation.consumer.rejects_verification" => rejects_verification,
        "negotiation.consumer.rejects_accepted_event" => rejects_accepted_event,
        "negotiation.consumer.rejects_agreement_after_termination" => rejects_agreement_after_termination,
        "negotiation.consumer.rejects_malformed_agreement" => rejects_malformed_agreement,
        "negotiation.consumer.provider_terminates_agreed" => provider_terminates_agreed,
        "negotiation.consumer.terminates_accepted" => terminates_accepted,
        "negotiation.consumer.terminates_verified" => terminates_verified,
        "negotiation.consumer.rejects_termination_when_finalized" => rejects_termination_when_finalized,
        "negotiation.consumer.request_is_well_formed" => request_is_well_formed,
    ]
}

const ERROR: &str = "ContractNegotiationError";

// ---------------------------------------------------------------------------------------------
// Steps the cases are made of

/// The harness makes a move the consumer must take.
async fn harness_does(ctx: &CaseContext, hp: &HarnessProvider, n: &Negotiation, mv: NegotiationMove, what: &str) -> Step {
    let reply = provider_moves(hp, n, mv).await?;
    expect_taken(ctx, &reply, what)
}

/// The harness makes a move the consumer must refuse with a 4xx `ContractNegotiationError`
/// naming the process, after which the consumer still reports `stays`.
async fn harness_is_refused(ctx: &CaseContext, hp: &HarnessProvider, n: &Negotiation, mv: NegotiationMove, stays: NegotiationState) -> Step {
    let reply = provider_moves(hp, n, mv).await?;
    expect_refused(ctx, &reply, ERROR, &[], Some((&n.consumer_pid, &n.provider_pid)));
    expect_negotiation_state(ctx, hp, n, stays, Look::Now).await
}

/// Like [`harness_is_refused`] in OFFERED, for a consumer that may accept on its own.
async fn harness_is_refused_offered(ctx: &CaseContext, hp: &HarnessProvider, n: &Negotiation, mv: NegotiationMove) -> Step {
    let reply = provider_moves(hp, n, mv).await?;
    skip_if_accepted_first(ctx, hp, n, &reply).await?;
    expect_refused(ctx, &reply, ERROR, &[], Some((&n.consumer_pid, &n.provider_pid)));
    if ctx.connector().management.negotiation_step_support(&NegotiationStep::Accept).is_ok() || ctx.capabilities().consumer_dsp_reads {
        return expect_negotiation_state(ctx, hp, n, NegotiationState::Offered, Look::Now).await;
    }
    // The consumer may have accepted on its own meanwhile; any other state is the move's doing.
    let management = ctx.management()?;
    match management.negotiation_state(&n.id).await {
        Ok(answer) if answer.value == "OFFERED" || answer.value == "ACCEPTED" => {}
        Ok(answer) => ctx.fail(
            Finding::new("state", "a refused move changed the consumer's negotiation")
                .expected("OFFERED (or ACCEPTED, by its own move)", answer.value.clone())
                .at(answer.exchange as usize),
        ),
        Err(e) => return Err(CaseOutcome::Error(format!("the management API did not report the negotiation's state: {e}"))),
    }
    ctx.checkpoint()
}

/// The harness offers; the consumer reports OFFERED.
async fn offered(ctx: &CaseContext, hp: &HarnessProvider, n: &Negotiation) -> Step {
    harness_does(ctx, hp, n, NegotiationMove::Offer(None), "the counter-offer").await?;
    expect_offered(ctx, hp, n).await
}

/// The consumer reports OFFERED; one that may accept on its own (its API cannot be told to)
/// may already report ACCEPTED, by its own move.
async fn expect_offered(ctx: &CaseContext, hp: &HarnessProvider, n: &Negotiation) -> Step {
    if ctx.connector().management.negotiation_step_support(&NegotiationStep::Accept).is_ok() || ctx.capabilities().consumer_dsp_reads {
        return expect_negotiation_state(ctx, hp, n, NegotiationState::Offered, Look::Until).await;
    }
    let management = ctx.management()?;
    let deadline = std::time::Instant::now() + ctx.timing().wait;
    loop {
        let last = match management.negotiation_state(&n.id).await {
            Ok(answer) if answer.value == "OFFERED" || answer.value == "ACCEPTED" => return ctx.checkpoint(),
            Ok(answer) => answer.value,
            Err(e) => e.to_string(),
        };
        if std::time::Instant::now() >= deadline {
            return Err(ctx.fail_now(
                Finding::new("state", "the consumer did not take the offer").expected("OFFERED (or ACCEPTED, by its own move)", last),
            ));
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The consumer accepts the offer on the table: an `ACCEPTED` event reaches the harness and
/// the consumer reports ACCEPTED.
///
/// A consumer whose management API cannot be told to accept may accept on its own (an offer
/// that is the one it asked for): the harness waits for that event, and skips with the API's
/// reason only when none comes.
async fn accepts(ctx: &CaseContext, hp: &HarnessProvider, n: &Negotiation) -> Step {
    let event = match ctx.connector().management.negotiation_step_support(&NegotiationStep::Accept) {
        Ok(()) => consumer_negotiation_step(ctx, hp, n, NegotiationStep::Accept, MessageKind::ContractNegotiationEventMessage, "an ACCEPTED event").await?,
        Err(reason) => match hp.wait_for_message(&n.provider_pid, MessageKind::ContractNegotiationEventMessage, 0, wait_for_own_move(ctx)).await {
            Some(received) => {
                super::consumer::expect_sent_well(ctx, &received, "an ACCEPTED event");
                ctx.checkpoint()?;
                received
            }
            None => return Err(CaseOutcome::Skip(format!("{reason}, and the consumer did not accept the offer on its own"))),
        },
    };
    expect_event(ctx, &event, "ACCEPTED");
    expect_negotiation_state(ctx, hp, n, NegotiationState::Accepted, Look::Until).await
}

/// How long the harness waits for a consumer to accept an offer on its own.
fn wait_for_own_move(ctx: &CaseContext) -> std::time::Duration {
    ctx.timing().wait.min(std::time::Duration::from_secs(3))
}

/// After the harness's move was taken in OFFERED: a consumer that accepts on its own may have
/// accepted first, where the move is valid, so the case cannot be judged.
async fn skip_if_accepted_first(ctx: &CaseContext, hp: &HarnessProvider, n: &Negotiation, reply: &RecordedResponse) -> Step {
    if !reply.status.is_success() || ctx.connector().management.negotiation_step_support(&NegotiationStep::Accept).is_ok() {
        return Ok(());
    }
    let accepted = hp.wait_for_message(&n.provider_pid, MessageKind::ContractNegotiationEventMessage, 0, std::time::Duration::from_millis(300)).await;
    if accepted.is_some_and(|r| r.is_event("ACCEPTED")) {
        return Err(CaseOutcome::Skip("the consumer accepted the offer on its own before the harness's move arrived, where that move is valid, so the case cannot be judged".to_string()));
    }
    Ok(())
}

fn expect_event(ctx: &CaseContext, event: &Received, event_type: &str) {
    if !event.is_event(event_type) {
        ctx.fail(Finding::new("body", format!("the consumer's event is not {event_type}")).expected(event_type, event.field("eventType").unwrap_or("missing")).at(event.seq as usize));
    }
}

/// The harness agrees and the consumer verifies on its own; the consumer reports VERIFIED.
async fn agreed_and_verified(ctx: &CaseContext, hp: &HarnessProvider, n: &Negotiation) -> Step {
    let since = hp.received_count();
    harness_does(ctx, hp, n, NegotiationMove::Agreement, "the agreement").await?;
    expect_message(ctx, hp, &n.provider_pid, MessageKind::ContractAgreementVerificationMessage, since, "an agreement verification").await?;
    expect_negotiation_state(ctx, hp, n, NegotiationState::Verified, Look::Until).await
}

/// The harness finalizes; the consumer reports FINALIZED, on the wire and in its management
/// API, where it holds the harness's agreement.
async fn finalized(ctx: &CaseContext, hp: &HarnessProvider, n: &Negotiation) -> Step {
    harness_does(ctx, hp, n, NegotiationMove::Finalized, "the FINALIZED event").await?;
    expect_negotiation_state(ctx, hp, n, NegotiationState::Finalized, Look::Until).await?;
    expect_management_negotiation_state(ctx, n, "FINALIZED").await?;
    let Ok(management) = ctx.management() else { return Ok(()) };
    let ours = hp.negotiation(&n.provider_pid).and_then(|x| x.agreement_id());
    match (ours, management.negotiation_agreement(&n.id).await) {
        (Some(ours), Ok(answer)) => {
            let theirs = crate::target::lenient::id(&answer.value).unwrap_or("none").to_string();
            if theirs != ours.as_str() {
                ctx.fail(Finding::new("identifier", "the consumer holds another agreement than the one it verified").expected(ours.as_str(), theirs).at(answer.exchange as usize));
            }
        }
        (Some(ours), Err(e)) => ctx.fail(Finding::new(e.kind(), format!("the consumer's management API shows no agreement for the finalized negotiation: {e}")).expected(ours.as_str(), e.to_string())),
        (None, _) => return Err(crate::runner::conformance::CaseOutcome::Error("the harness holds no agreement after finalizing".to_string())),
    }
    ctx.checkpoint()
}

/// The consumer terminates: a termination naming the process reaches the harness and the
/// consumer reports TERMINATED.
async fn consumer_terminates(ctx: &CaseContext, hp: &HarnessProvider, n: &Negotiation) -> Step {
    consumer_negotiation_step(ctx, hp, n, NegotiationStep::Terminate, MessageKind::ContractNegotiationTerminationMessage, "a ContractNegotiationTerminationMessage").await?;
    expect_negotiation_state(ctx, hp, n, NegotiationState::Terminated, Look::Until).await
}

/// The harness terminates; the consumer reports TERMINATED.
async fn provider_terminates(ctx: &CaseContext, hp: &HarnessProvider, n: &Negotiation) -> Step {
    harness_does(ctx, hp, n, NegotiationMove::Termination, "the termination").await?;
    expect_negotiation_state(ctx, hp, n, NegotiationState::Terminated, Look::Until).await
}

async fn requested(ctx: &CaseContext, hp: &HarnessProvider) -> Step<Negotiation> {
    let n = consumer_requests(ctx, hp, Verifying::OnItsOwn).await?;
    expect_negotiation_state(ctx, hp, &n, NegotiationState::Requested, Look::Until).await?;
    Ok(n)
}

// ---------------------------------------------------------------------------------------------
// CN_C:01 — contract request scenarios

/// CN_C:01-01: request, offer, consumer accepts, provider agrees, consumer verifies, provider
/// finalizes.
async fn offer_accepted_to_finalized(ctx: &CaseContext) -> Step {
    let hp = start(ctx).await?;
    let n = requested(ctx, &hp).await?;
    offered(ctx, &hp, &n).await?;
    accepts(ctx, &hp, &n).await?;
    agreed_and_verified(ctx, &hp, &n).await?;
    finalized(ctx, &hp, &n).await
}

/// CN_C:01-02: request, offer, consumer counter-requests (naming the provider's pid), then
/// agreement, verification, finalization.
async fn counter_request_to_finalized(ctx: &CaseContext) -> Step {
    ctx.require_negotiation_steps(&[NegotiationStep::Request(None)])?;
    let hp = start(ctx).await?;
    let n = requested(ctx, &hp).await?;
    offered(ctx, &hp, &n).await?;
    let request = consumer_negotiation_step(ctx, &hp, &n, NegotiationStep::Request(None), MessageKind::ContractRequestMessage, "a counter-request").await?;
    if !request.path.ends_with(&binding::negotiation_request(n.provider_pid.as_str())) {
        ctx.fail(Finding::new("protocol", "the counter-request went to another endpoint").expected(binding::negotiation_request(n.provider_pid.as_str()), request.path.clone()).at(request.seq as usize));
    }
    expect_negotiation_state(ctx, &hp, &n, NegotiationState::Requested, Look::Until).await?;
    agreed_and_verified(ctx, &hp, &n).await?;
    finalized(ctx, &hp, &n).await
}

/// CN_C:01-03: request, offer, consumer terminates.
async fn terminates_offered(ctx: &CaseContext) -> Step {
    ctx.require_negotiation_steps(&[NegotiationStep::Terminate])?;
    let hp = start(ctx).await?;
    let n = requested(ctx, &hp).await?;
    offered(ctx, &hp, &n).await?;
    consumer_terminates(ctx, &hp, &n).await
}

/// CN_C:01-04: request, provider agrees straight away, consumer verifies, provider finalizes.
async fn agreement_to_finalized(ctx: &CaseContext) -> Step {
    let hp = start(ctx).await?;
    let n = requested(ctx, &hp).await?;
    agreed_and_verified(ctx, &hp, &n).await?;
    finalized(ctx, &hp, &n).await
}

// ---------------------------------------------------------------------------------------------
// CN_C:02 — terminations

/// CN_C:02-01: request, provider terminates.
async fn provider_terminates_requested(ctx: &CaseContext) -> Step {
    let hp = start(ctx).await?;
    let n = requested(ctx, &hp).await?;
    provider_terminates(ctx, &hp, &n).await
}

/// CN_C:02-02: request, consumer terminates.
async fn terminates_requested(ctx: &CaseContext) -> Step {
    ctx.require_negotiation_steps(&[NegotiationStep::Terminate])?;
    let hp = start(ctx).await?;
    let n = requested(ctx, &hp).await?;
    consumer_terminates(ctx, &hp, &n).await
}

/// CN_C:02-03: request, provider agrees, consumer terminates instead of verifying.
async fn terminates_agreed(ctx: &CaseContext) -> Step {
    ctx.require_negotiation_steps(&[NegotiationStep::Terminate])?;
    let hp = start(ctx).await?;
    if !ctx.capabilities().holds_consumer_verification {
        let n = consumer_requests(ctx, &hp, Verifying::OnItsOwn).await?;
        let since = agreed_in_window(ctx, &hp, &n).await?;
        consumer_terminates(ctx, &hp, &n).await?;
        if hp.wait_for_message(&n.provider_pid, MessageKind::ContractAgreementVerificationMessage, since, std::time::Duration::ZERO).await.is_some() {
            return Err(CaseOutcome::Skip("the consumer verified the agreement on its own before it was told to terminate, so it did not terminate instead of verifying".to_string()));
        }
        return Ok(());
    }
    let n = consumer_requests(ctx, &hp, Verifying::WhenTold).await?;
    harness_does(ctx, &hp, &n, NegotiationMove::Agreement, "the agreement").await?;
    expect_negotiation_state(ctx, &hp, &n, NegotiationState::Agreed, Look::Until).await?;
    consumer_terminates(ctx, &hp, &n).await
}

/// CN_C:02-04: request, offer, provider terminates.
async fn provider_terminates_offered(ctx: &CaseContext) -> Step {
    let hp = start(ctx).await?;
    let n = requested(ctx, &hp).await?;
    offered(ctx, &hp, &n).await?;
    provider_terminates(ctx, &hp, &n).await
}

/// CN_C:02-05: request, offer, consumer accepts, provider terminates.
async fn provider_terminates_accepted(ctx: &CaseContext) -> Step {
    let hp = start(ctx).await?;
    let n = requested(ctx, &hp).await?;
    offered(ctx, &hp, &n).await?;
    accepts(ctx, &hp, &n).await?;
    provider_terminates(ctx, &hp, &n).await
}

/// CN_C:02-06: request, provider agrees, consumer verifies, provider terminates.
async fn provider_terminates_verified(ctx: &CaseContext) -> Step {
    let hp = start(ctx).await?;
    let n = requested(ctx, &hp).await?;
    agreed_and_verified(ctx, &hp, &n).await?;
    provider_terminates(ctx, &hp, &n).await
}

// ---------------------------------------------------------------------------------------------
// CN_C:03 — moves the consumer must refuse

/// CN_C:03-01: request, then `FINALIZED` before any agreement.
async fn rejects_finalized_when_requested(ctx: &CaseContext) -> Step {
    let hp = start(ctx).await?;
    let n = requested(ctx, &hp).await?;
    harness_is_refused(ctx, &hp, &n, NegotiationMove::Finalized, NegotiationState::Requested).await
}

/// CN_C:03-02: request, offer, then an agreement the consumer never accepted.
async fn rejects_agreement_when_offered(ctx: &CaseContext) -> Step {
    let hp = start(ctx).await?;
    let n = requested(ctx, &hp).await?;
    offered(ctx, &hp, &n).await?;
    harness_is_refused_offered(ctx, &hp, &n, NegotiationMove::Agreement).await
}

/// CN_C:03-03: request, offer, then `FINALIZED`.
async fn rejects_finalized_when_offered(ctx: &CaseContext) -> Step {
    let hp = start(ctx).await?;
    let n = requested(ctx, &hp).await?;
    offered(ctx, &hp, &n).await?;
    harness_is_refused_offered(ctx, &hp, &n, NegotiationMove::Finalized).await
}

/// CN_C:03-04: request, offer, consumer accepts, then `FINALIZED` without an agreement.
async fn rejects_finalized_when_accepted(ctx: &CaseContext) -> Step {
    let hp = start(ctx).await?;
    let n = requested(ctx, &hp).await?;
    offered(ctx, &hp, &n).await?;
    accepts(ctx, &hp, &n).await?;
    harness_is_refused(ctx, &hp, &n, NegotiationMove::Finalized, NegotiationState::Accepted).await
}

/// CN_C:03-05: request, offer, consumer accepts, then another offer.
async fn rejects_offer_when_accepted(ctx: &CaseContext) -> Step {
    let hp = start(ctx).await?;
    let n = requested(ctx, &hp).await?;
    offered(ctx, &hp, &n).await?;
    accepts(ctx, &hp, &n).await?;
    harness_is_refused(ctx, &hp, &n, NegotiationMove::Offer(None), NegotiationState::Accepted).await
}

/// CN_C:03-06: request, offer, consumer accepts, provider agrees, then `FINALIZED` before the
/// consumer verified. Needs a consumer that waits in AGREED.
async fn rejects_finalized_when_agreed(ctx: &CaseContext) -> Step {
    ctx.require_negotiation_steps(&[NegotiationStep::Accept])?;
    let hp = start(ctx).await?;
    let n = consumer_requests(ctx, &hp, Verifying::WhenTold).await?;
    offered(ctx, &hp, &n).await?;
    accepts(ctx, &hp, &n).await?;
    harness_does(ctx, &hp, &n, NegotiationMove::Agreement, "the agreement").await?;
    expect_negotiation_state(ctx, &hp, &n, NegotiationState::Agreed, Look::Until).await?;
    harness_is_refused(ctx, &hp, &n, NegotiationMove::Finalized, NegotiationState::Agreed).await
}

// ---------------------------------------------------------------------------------------------
// Beyond the TCK

/// A provider's initial offer to `POST /negotiations/offers` creates a negotiation: 201 with
/// a schema-valid `ContractNegotiation` in OFFERED naming the provider's pid and a fresh
/// consumer pid.
async fn initial_offer_creates_offered(ctx: &CaseContext) -> Step {
    let hp = start(ctx).await?;
    let offer = hp.send_initial_offer(&ctx.connector().dsp_url, &SendOptions::default()).await.map_err(|e| crate::runner::conformance::CaseOutcome::Error(e.to_string()))?;
    let reply = &offer.response;
    not_served(reply)?;
    ctx.expect_status(reply, &[201]);
    ctx.expect_content_type_json(reply);
    if let Some(body) = ctx.expect_type(reply, "ContractNegotiation") {
        ctx.expect_pids(&body, reply.seq, None, Some(&offer.provider_pid));
        ctx.expect_state(&body, reply.seq, NegotiationState::Offered.as_str());
        ctx.required_str(&body, "consumerPid", reply.seq)?;
    }
    Ok(())
}

/// Provider-initiated negotiations are optional for a consumer (these cases are SHOULD): one
/// that does not serve `POST /negotiations/offers` at all (404, 405, 501) is skipped with that
/// reason, while one that serves it wrongly fails.
fn not_served(reply: &RecordedResponse) -> Step {
    match reply.status.as_u16() {
        status @ (404 | 405 | 501) => Err(CaseOutcome::Skip(format!(
            "the consumer does not take provider-initiated offers (POST /negotiations/offers answered {status}); a consumer may start every negotiation itself"
        ))),
        _ => Ok(()),
    }
}

/// After an initial offer the consumer accepts, verifies the agreement and reaches FINALIZED.
async fn initial_offer_to_finalized(ctx: &CaseContext) -> Step {
    let hp = start(ctx).await?;
    let offer = hp.send_initial_offer(&ctx.connector().dsp_url, &SendOptions::default()).await.map_err(|e| crate::runner::conformance::CaseOutcome::Error(e.to_string()))?;
    not_served(&offer.response)?;
    expect_taken(ctx, &offer.response, "the initial offer")?;
    let Some(harness_side) = hp.negotiation(&offer.provider_pid).filter(|x| x.consumer_pid.is_some()) else {
        return Err(ctx.fail_now(Finding::new("body", "the answer to the initial offer names no consumerPid").at(offer.response.seq as usize)));
    };
    // The reference connector's management id of a negotiation is its own pid.
    let consumer_pid = harness_side.consumer_pid.clone().unwrap_or_else(|| ConsumerPid(String::new()));
    let n = Negotiation { id: consumer_pid.0.clone(), provider_pid: offer.provider_pid.clone(), consumer_pid, callback: ctx.connector().dsp_url.clone() };
    expect_offered(ctx, &hp, &n).await?;
    accepts(ctx, &hp, &n).await?;
    let since = hp.received_count();
    harness_does(ctx, &hp, &n, NegotiationMove::Agreement, "the agreement").await?;
    // A consumer may verify on its own; one that waits is told to.
    let verification = match hp.wait_for_message(&n.provider_pid, MessageKind::ContractAgreementVerificationMessage, since, std::time::Duration::from_millis(300)).await {
        Some(received) => received,
        None => consumer_negotiation_step(ctx, &hp, &n, NegotiationStep::Verify, MessageKind::ContractAgreementVerificationMessage, "an agreement verification").await?,
    };
    super::consumer::expect_sent_well(ctx, &verification, "its agreement verification");
    ctx.checkpoint()?;
    finalized(ctx, &hp, &n).await
}

/// Messages for a negotiation the consumer does not know are answered 404 with a
/// `ContractNegotiationError`.
async fn unknown_process(ctx: &CaseContext) -> Step {
    let hp = start(ctx).await?;
    let base = ctx.connector().dsp_url.clone();
    let (consumer_pid, provider_pid) = (ConsumerPid::generate(), ProviderPid::generate());
    let codec = codec_for(ProtocolVersion::V2025_1);
    let termination = codec.encode(&DspMessage::ContractNegotiationTermination(crate::protocol::CodedPidMessage {
        provider_pid: provider_pid.clone(),
        consumer_pid: consumer_pid.clone(),
        code: Some("terminated-by-harness".to_string()),
        reason: Vec::new(),
    }));
    let event = codec.encode(&DspMessage::ContractNegotiationEvent(crate::protocol::ContractNegotiationEventMessage {
        provider_pid,
        consumer_pid: consumer_pid.clone(),
        event_type: crate::protocol::NegotiationEventType::Finalized,
    }));
    for (path, body) in [(binding::negotiation_termination(consumer_pid.as_str()), termination), (binding::negotiation_events(consumer_pid.as_str()), event)] {
        let reply = hp.post(&base, &path, &body, &Token::Valid).await.map_err(|e| crate::runner::conformance::CaseOutcome::Error(e.to_string()))?;
        expect_refused(ctx, &reply, ERROR, &[404], None);
    }
    Ok(())
}

/// A verification, which only a consumer sends, is refused by the consumer and changes
/// nothing.
async fn rejects_verification(ctx: &CaseContext) -> Step {
    let hp = start(ctx).await?;
    let n = requested(ctx, &hp).await?;
    harness_is_refused(ctx, &hp, &n, NegotiationMove::Verification, NegotiationState::Requested).await
}

/// An `ACCEPTED` event, which only a consumer sends, is refused by the consumer in OFFERED.
async fn rejects_accepted_event(ctx: &CaseContext) -> Step {
    let hp = start(ctx).await?;
    let n = requested(ctx, &hp).await?;
    offered(ctx, &hp, &n).await?;
    harness_is_refused_offered(ctx, &hp, &n, NegotiationMove::Accepted).await
}

/// An agreement after the provider terminated is refused; the negotiation stays TERMINATED.
async fn rejects_agreement_after_termination(ctx: &CaseContext) -> Step {
    let hp = start(ctx).await?;
    let n = requested(ctx, &hp).await?;
    provider_terminates(ctx, &hp, &n).await?;
    harness_is_refused(ctx, &hp, &n, NegotiationMove::Agreement, NegotiationState::Terminated).await
}

/// An agreement that does not validate (no target, assigner or assignee) is refused with 400
/// and changes nothing.
async fn rejects_malformed_agreement(ctx: &CaseContext) -> Step {
    let hp = start(ctx).await?;
    let n = requested(ctx, &hp).await?;
    let body = json!({
        "@context": [crate::protocol::codec::CONTEXT_2025_1],
        "@type": "ContractAgreementMessage",
        "providerPid": n.provider_pid,
        "consumerPid": n.consumer_pid,
        "agreement": {"@id": format!("urn:uuid:{}", uuid::Uuid::new_v4()), "@type": "Agreement", "permission": [{"action": "use"}]},
    });
    let reply = hp.post(&n.callback, &binding::negotiation_agreement(n.consumer_pid.as_str()), &body, &Token::Valid).await.map_err(|e| crate::runner::conformance::CaseOutcome::Error(e.to_string()))?;
    expect_refused(ctx, &reply, ERROR, &[400], Some((&n.consumer_pid, &n.provider_pid)));
    expect_negotiation_state(ctx, &hp, &n, NegotiationState::Requested, Look::Now).await
}

/// For a consumer that verifies on its own: the harness agrees and acts at once, in the window
/// before the consumer's verification; it skips when the verification came first. Returns the
/// received count before the agreement, to look for a late verification.
async fn agreed_in_window(ctx: &CaseContext, hp: &HarnessProvider, n: &Negotiation) -> Step<usize> {
    let since = hp.received_count();
    harness_does(ctx, hp, n, NegotiationMove::Agreement, "the agreement").await?;
    if hp.wait_for_message(&n.provider_pid, MessageKind::ContractAgreementVerificationMessage, since, std::time::Duration::ZERO).await.is_some() {
        return Err(CaseOutcome::Skip(format!(
            "the {} verified the agreement on its own before the harness could act while it held AGREED (its management API cannot hold it there)",
            ctx.name()
        )));
    }
    Ok(since)
}

/// The provider terminates a negotiation the consumer holds in AGREED.
async fn provider_terminates_agreed(ctx: &CaseContext) -> Step {
    let hp = start(ctx).await?;
    if !ctx.capabilities().holds_consumer_verification {
        let n = consumer_requests(ctx, &hp, Verifying::OnItsOwn).await?;
        let since = agreed_in_window(ctx, &hp, &n).await?;
        let reply = provider_moves(&hp, &n, NegotiationMove::Termination).await?;
        // The consumer may verify between the harness's look and its termination, and the
        // harness then finalizes: a refusal of the termination in FINALIZED is right, and the
        // case cannot be judged.
        let verified = hp.wait_for_message(&n.provider_pid, MessageKind::ContractAgreementVerificationMessage, since, std::time::Duration::ZERO).await.is_some();
        if !reply.status.is_success() && verified {
            return Err(CaseOutcome::Skip(format!(
                "the {} verified the agreement on its own before the termination reached it, so it no longer held AGREED (its management API cannot hold it there)",
                ctx.name()
            )));
        }
        expect_taken(ctx, &reply, "the termination")?;
        return expect_negotiation_state(ctx, &hp, &n, NegotiationState::Terminated, Look::Until).await;
    }
    let n = consumer_requests(ctx, &hp, Verifying::WhenTold).await?;
    harness_does(ctx, &hp, &n, NegotiationMove::Agreement, "the agreement").await?;
    expect_negotiation_state(ctx, &hp, &n, NegotiationState::Agreed, Look::Until).await?;
    provider_terminates(ctx, &hp, &n).await
}

/// The consumer terminates after accepting an offer.
async fn terminates_accepted(ctx: &CaseContext) -> Step {
    ctx.require_negotiation_steps(&[NegotiationStep::Terminate])?;
    let hp = start(ctx).await?;
    let n = requested(ctx, &hp).await?;
    offered(ctx, &hp, &n).await?;
    accepts(ctx, &hp, &n).await?;
    consumer_terminates(ctx, &hp, &n).await
}

/// The consumer terminates after verifying an agreement.
async fn terminates_verified(ctx: &CaseContext) -> Step {
    ctx.require_negotiation_steps(&[NegotiationStep::Terminate])?;
    let hp = start(ctx).await?;
    let n = requested(ctx, &hp).await?;
    agreed_and_verified(ctx, &hp, &n).await?;
    consumer_terminates(ctx, &hp, &n).await
}

/// A termination of a FINALIZED negotiation is refused; it stays FINALIZED.
async fn rejects_termination_when_finalized(ctx: &CaseContext) -> Step {
    let hp = start(ctx).await?;
    let n = requested(ctx, &hp).await?;
    agreed_and_verified(ctx, &hp, &n).await?;
    finalized(ctx, &hp, &n).await?;
    harness_is_refused(ctx, &hp, &n, NegotiationMove::Termination, NegotiationState::Finalized).await
}

/// The consumer's contract request is schema-valid, carries a DAT, names the offer it was
/// given (id, target, rules) and a callback address, and no providerPid; the consumer then
/// reports REQUESTED.
async fn request_is_well_formed(ctx: &CaseContext) -> Step {
    let hp = start(ctx).await?;
    let (id, request) = consumer_sends_request(ctx, &hp, Verifying::OnItsOwn).await?;
    let at = request.seq as usize;
    let body = request.body.clone().unwrap_or_default();
    let offer = &body["offer"];
    let expected = crate::runner::counterparty::offer(hp.participant_id());
    let text = |v: &serde_json::Value| v.as_str().unwrap_or("missing").to_string();
    if offer["@id"].as_str() != Some(expected.id.as_str()) {
        ctx.fail(Finding::new("body", "the request does not name the offer it was given").expected(expected.id.clone(), text(&offer["@id"])).at(at));
    }
    if offer["target"].as_str() != expected.target.as_deref() {
        ctx.fail(Finding::new("body", "the offer in the request does not target the dataset").expected(expected.target.clone().unwrap_or_default(), text(&offer["target"])).at(at));
    }
    if !request.field("callbackAddress").is_some_and(|a| a.starts_with("http://") || a.starts_with("https://")) {
        ctx.fail(Finding::new("body", "the request names no callback address to reach the consumer at").expected("an http(s) URL", text(&body["callbackAddress"])).at(at));
    }
    if let Some(pid) = request.field("providerPid") {
        ctx.fail(Finding::new("identifier", "an initial contract request names a providerPid").expected("no providerPid", pid).at(at));
    }
    if request.field("consumerPid").is_none_or(str::is_empty) {
        ctx.fail(Finding::new("identifier", "the request names no consumerPid").at(at));
    }
    expect_sent_well(ctx, &request, "its contract request");
    ctx.checkpoint()?;
    let n = request.provider_pid.as_ref().and_then(|pid| hp.negotiation(pid)).map(|x| Negotiation {
        id,
        provider_pid: x.provider_pid.clone(),
        consumer_pid: x.consumer_pid.clone().unwrap_or_else(|| ConsumerPid(String::new())),
        callback: x.callback_address.clone(),
    });
    match n {
        Some(n) => expect_negotiation_state(ctx, &hp, &n, NegotiationState::Requested, Look::Until).await,
        None => Err(crate::runner::conformance::CaseOutcome::Error("the harness accepted a request but recorded no negotiation".to_string())),
    }
}
