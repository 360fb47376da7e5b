//! Contract negotiation with the connector under test as provider (DSP 2025-1 §8): the harness
//! is the consumer, sends requests, events, verifications and terminations, and makes the
//! provider offer, agree, finalize and terminate through the management API. Covers every
//! path to FINALIZED and TERMINATED, the invalid transitions, and what the replies and the
//! provider's own messages must contain.

use serde_json::Value;

use super::provider_flow::*;
use crate::protocol::binding;
use crate::protocol::NegotiationState as S;
use crate::report::model::Finding;
use crate::runner::conformance::{register, CaseContext, CaseOutcome, CheckFn, NegotiationStep as Step_, Step};

pub fn checks() -> Vec<(&'static str, CheckFn)> {
    register![
        "negotiation.provider.offered_consumer_terminates" => offered_consumer_terminates,
        "negotiation.provider.counter_request_provider_terminates" => counter_request_provider_terminates,
        "negotiation.provider.finalize_via_offer" => finalize_via_offer,
        "negotiation.provider.finalize_direct" => finalize_direct,
        "negotiation.provider.finalize_via_counter_request" => finalize_via_counter_request,
        "negotiation.provider.provider_terminates" => provider_terminates,
        "negotiation.provider.consumer_terminates" => consumer_terminates,
        "negotiation.provider.terminated_refuses_more" => terminated_refuses_more,
        "negotiation.provider.invalid_transition" => invalid_transition,
        "negotiation.provider.second_counter_request" => second_counter_request,
        "negotiation.provider.request_status" => request_status,
        "negotiation.provider.request_pids" => request_pids,
        "negotiation.provider.request_content_type" => request_content_type,
        "negotiation.provider.request_schema" => request_schema,
        "negotiation.provider.request_state" => request_state,
        "negotiation.provider.get_negotiation" => get_negotiation,
        "negotiation.provider.unknown_offer" => unknown_offer,
        "negotiation.provider.agreement_rules" => agreement_rules,
        "negotiation.provider.agreement_parties" => agreement_parties,
        "negotiation.provider.outgoing_pids" => outgoing_pids,
        "negotiation.provider.outgoing_schema" => outgoing_schema,
    ]
}

fn state_arg(ctx: &CaseContext) -> Step<S> {
    let word = ctx.arg("state")?;
    parse_negotiation_state(word).ok_or_else(|| CaseOutcome::Error(format!("unknown negotiation state {word:?} in the suite entry")))
}

/// CN:01-01: the provider offers, the consumer terminates; the provider is TERMINATED.
async fn offered_consumer_terminates(ctx: &CaseContext) -> Step {
    let n = negotiation_in(ctx, S::Offered).await?;
    send_ok(ctx, &n, ConsumerMessage::Termination).await?;
    expect_negotiation_state(ctx, &n, S::Terminated).await?;
    Ok(())
}

/// CN:01-02: the provider offers, the consumer counter-requests (back to REQUESTED), the
/// provider terminates and tells the consumer.
async fn counter_request_provider_terminates(ctx: &CaseContext) -> Step {
    ctx.require_negotiation_steps(&[Step_::Offer(None), Step_::Terminate])?;
    let mut n = negotiation_in(ctx, S::Offered).await?;
    send_ok(ctx, &n, ConsumerMessage::Request).await?;
    expect_negotiation_state(ctx, &n, S::Requested).await?;
    provider_negotiation_move(ctx, &mut n, Step_::Terminate).await?;
    expect_negotiation_state(ctx, &n, S::Terminated).await?;
    Ok(())
}

/// CN:01-03: offer, ACCEPTED, agreement, verification, FINALIZED.
async fn finalize_via_offer(ctx: &CaseContext) -> Step {
    ctx.require_negotiation_steps(&[Step_::Offer(None), Step_::Agree, Step_::Finalize])?;
    let mut n = negotiation_in(ctx, S::Accepted).await?;
    expect_negotiation_state(ctx, &n, S::Accepted).await?;
    provider_negotiation_move(ctx, &mut n, Step_::Agree).await?;
    check_agreement(ctx, &n);
    send_ok(ctx, &n, ConsumerMessage::Verification).await?;
    provider_negotiation_move(ctx, &mut n, Step_::Finalize).await?;
    expect_negotiation_state(ctx, &n, S::Finalized).await?;
    Ok(())
}

/// CN:01-04: agreement, verification, FINALIZED, without offers. A provider that acts on its
/// own agrees and finalizes by itself: the harness waits for each.
async fn finalize_direct(ctx: &CaseContext) -> Step {
    if !ctx.provider_is_held() {
        let n = negotiation_in(ctx, S::Agreed).await?;
        check_agreement(ctx, &n);
        send_ok(ctx, &n, ConsumerMessage::Verification).await?;
        await_finalized(ctx, &n).await?;
        expect_negotiation_state(ctx, &n, S::Finalized).await?;
        return Ok(());
    }
    ctx.require_negotiation_steps(&[Step_::Agree, Step_::Finalize])?;
    let mut n = negotiation_in(ctx, S::Agreed).await?;
    check_agreement(ctx, &n);
    expect_negotiation_state(ctx, &n, S::Agreed).await?;
    send_ok(ctx, &n, ConsumerMessage::Verification).await?;
    expect_negotiation_state(ctx, &n, S::Verified).await?;
    provider_negotiation_move(ctx, &mut n, Step_::Finalize).await?;
    expect_negotiation_state(ctx, &n, S::Finalized).await?;
    Ok(())
}

/// Offer, counter-request, agreement, verification, FINALIZED.
async fn finalize_via_counter_request(ctx: &CaseContext) -> Step {
    ctx.require_negotiation_steps(&[Step_::Offer(None), Step_::Agree, Step_::Finalize])?;
    let mut n = negotiation_in(ctx, S::Offered).await?;
    send_ok(ctx, &n, ConsumerMessage::Request).await?;
    provider_negotiation_move(ctx, &mut n, Step_::Agree).await?;
    check_agreement(ctx, &n);
    send_ok(ctx, &n, ConsumerMessage::Verification).await?;
    provider_negotiation_move(ctx, &mut n, Step_::Finalize).await?;
    expect_negotiation_state(ctx, &n, S::Finalized).await?;
    Ok(())
}

/// CN:02-01, 02-05, 02-06, 02-07 and AGREED: the provider terminates from `state` and tells
/// the consumer; it is TERMINATED.
async fn provider_terminates(ctx: &CaseContext) -> Step {
    let state = state_arg(ctx)?;
    ctx.require_negotiation_steps(&[Step_::Terminate])?;
    let mut n = negotiation_in(ctx, state).await?;
    if let Err(outcome) = provider_negotiation_move(ctx, &mut n, Step_::Terminate).await {
        // From VERIFIED a provider that finalizes on its own may have done so first, and a
        // FINALIZED negotiation cannot be terminated.
        if state == S::Verified && !ctx.provider_is_held() && negotiation_state_now(ctx, &n).await?.as_deref() == Some("FINALIZED") {
            ctx.require_held_provider("it finalized by itself before the harness's termination, so the case cannot be judged")?;
        }
        return Err(outcome);
    }
    expect_negotiation_state(ctx, &n, S::Terminated).await?;
    Ok(())
}

/// CN:02-02, 02-03 and ACCEPTED, VERIFIED: the consumer terminates from `state`; the provider
/// acknowledges and is TERMINATED.
async fn consumer_terminates(ctx: &CaseContext) -> Step {
    let state = state_arg(ctx)?;
    let n = negotiation_in(ctx, state).await?;
    let reply = send(ctx, &n, ConsumerMessage::Termination).await?;
    if !reply.status.is_success() && state == S::Verified && !ctx.provider_is_held() && negotiation_state_now(ctx, &n).await?.as_deref() == Some("FINALIZED") {
        ctx.require_held_provider("it finalized by itself before the harness's termination arrived, so the case cannot be judged")?;
    }
    accepted(ctx, reply, "Termination")?;
    expect_negotiation_state(ctx, &n, S::Terminated).await?;
    Ok(())
}

/// CN:02-04: offer, consumer terminates; a terminated negotiation then refuses an ACCEPTED
/// event and stays TERMINATED.
async fn terminated_refuses_more(ctx: &CaseContext) -> Step {
    let n = negotiation_in(ctx, S::Offered).await?;
    send_ok(ctx, &n, ConsumerMessage::Termination).await?;
    expect_negotiation_state(ctx, &n, S::Terminated).await?;
    send_refused(ctx, &n, ConsumerMessage::Accepted).await?;
    expect_negotiation_state(ctx, &n, S::Terminated).await?;
    Ok(())
}

/// A message the state does not allow (args `state`, `message`) is refused with a 4xx and a
/// ContractNegotiationError, and the negotiation stays where it was.
async fn invalid_transition(ctx: &CaseContext) -> Step {
    let state = state_arg(ctx)?;
    let word = ctx.arg("message")?;
    let message = ConsumerMessage::parse(word).ok_or_else(|| CaseOutcome::Error(format!("unknown consumer message {word:?} in the suite entry")))?;
    let n = negotiation_in(ctx, state).await?;
    let reply = send(ctx, &n, message).await?;
    // A verification is valid once the provider has agreed, which one that acts on its own
    // may have done by itself before the message arrived.
    if reply.status.is_success() && state == S::Requested && message == ConsumerMessage::Verification {
        skip_if_moved_on(ctx, &n, state).await?;
    }
    refused(ctx, &reply, "ContractNegotiationError");
    expect_negotiation_stays(ctx, &n, state).await?;
    Ok(())
}

/// CN:03-04: after a counter-request the negotiation is REQUESTED again; a second
/// counter-request is refused and it stays REQUESTED.
async fn second_counter_request(ctx: &CaseContext) -> Step {
    let n = negotiation_in(ctx, S::Offered).await?;
    send_ok(ctx, &n, ConsumerMessage::Request).await?;
    send_refused(ctx, &n, ConsumerMessage::Request).await?;
    expect_negotiation_state(ctx, &n, S::Requested).await?;
    Ok(())
}

async fn request_status(ctx: &CaseContext) -> Step {
    let (_, reply) = request_with_reply(ctx).await?;
    ctx.expect_status(&reply, &[201]);
    Ok(())
}

async fn request_pids(ctx: &CaseContext) -> Step {
    let (n, reply) = request_with_reply(ctx).await?;
    if let Some(body) = ctx.expect_json(&reply) {
        ctx.expect_pids(&body, reply.seq, Some(&n.consumer_pid), None);
        if body.get("providerPid").and_then(Value::as_str) == Some(n.consumer_pid.as_str()) {
            ctx.fail(Finding::new("identifier", "the provider reused the consumer's pid as its own").at(reply.seq as usize));
        }
    }
    Ok(())
}

async fn request_content_type(ctx: &CaseContext) -> Step {
    let (_, reply) = request_with_reply(ctx).await?;
    ctx.expect_content_type_json(&reply);
    Ok(())
}

async fn request_schema(ctx: &CaseContext) -> Step {
    let (_, reply) = request_with_reply(ctx).await?;
    ctx.expect_type(&reply, "ContractNegotiation");
    Ok(())
}

async fn request_state(ctx: &CaseContext) -> Step {
    let (n, reply) = request_with_reply(ctx).await?;
    if let Some(body) = ctx.expect_json(&reply) {
        ctx.expect_state(&body, reply.seq, "REQUESTED");
    }
    // A provider that agrees on its own may be past REQUESTED by the time the harness asks.
    if ctx.provider_is_held() {
        expect_negotiation_state(ctx, &n, S::Requested).await?;
    }
    Ok(())
}

/// `GET /negotiations/{providerPid}` answers a ContractNegotiation naming both pids.
async fn get_negotiation(ctx: &CaseContext) -> Step {
    let n = request(ctx).await?;
    let reply = ctx.get_dsp(&binding::negotiation(n.provider_pid.as_str())).await?;
    ctx.expect_status(&reply, &[200]);
    ctx.expect_content_type_json(&reply);
    if let Some(body) = ctx.expect_type(&reply, "ContractNegotiation") {
        ctx.expect_pids(&body, reply.seq, Some(&n.consumer_pid), Some(&n.provider_pid));
        if ctx.provider_is_held() {
            ctx.expect_state(&body, reply.seq, "REQUESTED");
        }
    }
    Ok(())
}

/// A request for an offer the provider never made is refused.
async fn unknown_offer(ctx: &CaseContext) -> Step {
    let consumer_pid = crate::protocol::ConsumerPid::generate();
    let mut body = request_body(ctx, &consumer_pid)?;
    body["offer"]["@id"] = Value::String(format!("urn:dsp-harness:never-offered:{}", uuid::Uuid::new_v4()));
    let reply = ctx.post_dsp(binding::NEGOTIATION_REQUEST, body).await?;
    ctx.expect_error_body(&reply, "ContractNegotiationError", &[]);
    Ok(())
}

/// The agreement carries the rules of the offer and targets the dataset.
fn check_agreement(ctx: &CaseContext, n: &Negotiation) {
    let Ok(offer) = ctx.offer() else { return };
    let Some(agreement) = &n.agreement else {
        ctx.fail(Finding::new("body", "the ContractAgreementMessage carries no agreement"));
        return;
    };
    if agreement.get("target").and_then(Value::as_str) != Some(offer.dataset.as_str()) {
        ctx.fail(
            Finding::new("agreement", "the agreement does not target the negotiated dataset")
                .expected(offer.dataset.clone(), agreement.get("target").map(Value::to_string).unwrap_or_else(|| "none".to_string())),
        );
    }
    for rules in ["permission", "prohibition", "obligation"] {
        let wanted = normalized_rules(offer.policy.get(rules));
        let got = normalized_rules(agreement.get(rules));
        if wanted != got {
            ctx.fail(
                Finding::new("agreement", format!("the agreement's {rules} rules differ from the offer's"))
                    .expected(Value::Array(wanted).to_string(), Value::Array(got).to_string()),
            );
        }
    }
}

/// Rules for comparison: a single rule or a list, actions as plain strings.
fn normalized_rules(rules: Option<&Value>) -> Vec<Value> {
    let items = match rules {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.clone(),
        Some(other) => vec![other.clone()],
    };
    items
        .into_iter()
        .map(|mut rule| {
            if let Some(action) = rule.get("action").cloned() {
                let name = action.as_str().map(str::to_string).or_else(|| action.get("@id").and_then(Value::as_str).map(str::to_string)).unwrap_or_default();
                rule["action"] = Value::String(name.rsplit([':', '/']).next().unwrap_or_default().to_string());
            }
            rule
        })
        .collect()
}

async fn agreement_rules(ctx: &CaseContext) -> Step {
    let n = negotiation_in(ctx, S::Agreed).await?;
    check_agreement(ctx, &n);
    Ok(())
}

/// The agreement names the provider as assigner and the harness as assignee.
async fn agreement_parties(ctx: &CaseContext) -> Step {
    let n = negotiation_in(ctx, S::Agreed).await?;
    let agreement = n.agreement.clone().unwrap_or(Value::Null);
    for (member, expected) in [("assigner", ctx.connector().participant_id.clone()), ("assignee", ctx.identity().participant_id.clone())] {
        let actual = agreement.get(member).and_then(Value::as_str);
        if actual != Some(expected.as_str()) {
            ctx.fail(Finding::new("agreement", format!("the agreement's {member} is not the expected party")).expected(expected, actual.unwrap_or("missing")));
        }
    }
    Ok(())
}

/// The offer and agreement the provider sends name the negotiation's pids.
async fn outgoing_pids(ctx: &CaseContext) -> Step {
    // `provider_negotiation_move` checks the pids of every message it waits for.
    negotiation_in(ctx, S::Agreed).await?;
    Ok(())
}

/// The messages the provider sends validate against the schemas.
async fn outgoing_schema(ctx: &CaseContext) -> Step {
    // A provider that never offers sends only its agreement, which the wait checks.
    if !ctx.provider_is_held() {
        negotiation_in(ctx, S::Agreed).await?;
        return Ok(());
    }
    ctx.require_negotiation_steps(&[Step_::Offer(None)])?;
    let mut n = negotiation_in(ctx, S::Offered).await?;
    send_ok(ctx, &n, ConsumerMessage::Accepted).await?;
    provider_negotiation_move(ctx, &mut n, Step_::Agree).await?;
    Ok(())
}
