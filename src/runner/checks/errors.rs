//! Robustness of a provider under test: malformed JSON, wrong `@type`, missing required
//! members, unknown process ids and messages for finished processes are all refused with the
//! right status and the protocol's error body, and change nothing.

use serde_json::{json, Value};

use super::provider_flow::*;
use crate::protocol::binding;
use crate::protocol::codec::CONTEXT_2025_1;
use crate::protocol::{ConsumerPid, NegotiationState, TransferState};
use crate::runner::conformance::{register, CaseContext, CaseOutcome, CheckFn, DspRequest, NegotiationStep, Step};

pub fn checks() -> Vec<(&'static str, CheckFn)> {
    register![
        "errors.provider.malformed_json" => malformed_json,
        "errors.provider.wrong_type" => wrong_type,
        "errors.provider.missing_member" => missing_member,
        "errors.provider.no_context_leaves_state" => no_context_leaves_state,
        "errors.provider.unknown_event_type" => unknown_event_type,
        "errors.provider.unknown_process" => unknown_process,
        "errors.provider.wrong_consumer_pid" => wrong_consumer_pid,
        "errors.provider.finished_negotiation" => finished_negotiation,
        "errors.provider.finished_transfer" => finished_transfer,
    ]
}

/// The endpoint (args `endpoint`): its path, the error type it answers with, and a valid body.
fn endpoint(ctx: &CaseContext) -> Step<(&'static str, &'static str, Value)> {
    Ok(match ctx.arg("endpoint")? {
        "catalog" => (binding::CATALOG_REQUEST, "CatalogError", json!({"@context": [CONTEXT_2025_1], "@type": "CatalogRequestMessage"})),
        "negotiation-request" => (binding::NEGOTIATION_REQUEST, "ContractNegotiationError", request_body(ctx, &ConsumerPid::generate())?),
        "transfer-request" => (
            binding::TRANSFER_REQUEST,
            "TransferError",
            transfer_request_body(ctx, &ConsumerPid::generate(), &format!("urn:dsp-harness:agreement:{}", uuid::Uuid::new_v4())),
        ),
        other => return Err(CaseOutcome::Error(format!("unknown endpoint {other:?} in the suite entry"))),
    })
}

/// A body that is not JSON is refused with 400 and the endpoint's error body.
async fn malformed_json(ctx: &CaseContext) -> Step {
    let (path, error, _) = endpoint(ctx)?;
    // Cut short after `@type`, in the context of the case's version, so only the syntax is wrong.
    let truncated = format!("{{\"@context\": [\"{}\"], \"@type\": ", ctx.context_iri());
    let request = DspRequest::post(path, Value::Null).raw(truncated.into_bytes(), "application/json");
    let reply = ctx.send_dsp(request).await?;
    ctx.expect_error_body(&reply, error, &[400]);
    Ok(())
}

/// A body of another message type is refused with 400 and the endpoint's error body.
async fn wrong_type(ctx: &CaseContext) -> Step {
    let (path, error, mut body) = endpoint(ctx)?;
    let other = if body["@type"] == "TransferRequestMessage" { "ContractRequestMessage" } else { "TransferRequestMessage" };
    body["@type"] = Value::String(other.to_string());
    let reply = ctx.post_dsp(path, body).await?;
    ctx.expect_error_body(&reply, error, &[400]);
    Ok(())
}

/// A message without a required member (args `member`) is refused with 400.
async fn missing_member(ctx: &CaseContext) -> Step {
    let (path, error, mut body) = endpoint(ctx)?;
    let member = ctx.arg("member")?;
    if let Some(object) = body.as_object_mut() {
        object.remove(member);
    }
    let reply = ctx.post_dsp(path, body).await?;
    ctx.expect_error_body(&reply, error, &[400]);
    Ok(())
}

/// A termination without `@context` is refused with 400 and the negotiation stays REQUESTED.
async fn no_context_leaves_state(ctx: &CaseContext) -> Step {
    let n = request(ctx).await?;
    let (path, mut body) = consumer_message(ctx, &n, ConsumerMessage::Termination)?;
    if let Some(object) = body.as_object_mut() {
        object.remove("@context");
    }
    let reply = ctx.post_dsp(&path, body).await?;
    ctx.expect_error_body(&reply, "ContractNegotiationError", &[400]);
    expect_negotiation_survived(ctx, &n).await?;
    Ok(())
}

/// An event whose `eventType` DSP does not define is refused with 400.
/// The event is undefined in every state: a provider that never offers is asked in AGREED,
/// where it waits for the consumer's verification.
async fn unknown_event_type(ctx: &CaseContext) -> Step {
    let state = if ctx.provider_is_held() { NegotiationState::Offered } else { NegotiationState::Agreed };
    if ctx.provider_is_held() {
        ctx.require_negotiation_steps(&[NegotiationStep::Offer(None)])?;
    }
    let n = negotiation_in(ctx, state).await?;
    let (path, mut body) = consumer_message(ctx, &n, ConsumerMessage::Accepted)?;
    body["eventType"] = Value::String("APPROVED".to_string());
    let reply = ctx.post_dsp(&path, body).await?;
    ctx.expect_error_body(&reply, "ContractNegotiationError", &[400]);
    expect_negotiation_state(ctx, &n, state).await?;
    Ok(())
}

/// A request naming a process the provider does not know (args `process`, `method`) is
/// answered 404 with the area's error body.
async fn unknown_process(ctx: &CaseContext) -> Step {
    let pid = format!("urn:uuid:{}", uuid::Uuid::new_v4());
    let fake = Negotiation { consumer_pid: ConsumerPid::generate(), provider_pid: crate::protocol::ProviderPid(pid.clone()), agreement: None };
    let (request, error) = match (ctx.arg("process")?, ctx.arg("method")?) {
        ("negotiation", "get") => (DspRequest::get(binding::negotiation(&pid)), "ContractNegotiationError"),
        ("negotiation", "termination") => {
            let (path, body) = consumer_message(ctx, &fake, ConsumerMessage::Termination)?;
            (DspRequest::post(path, body), "ContractNegotiationError")
        }
        ("transfer", "get") => (DspRequest::get(binding::transfer(&pid)), "TransferError"),
        ("transfer", "completion") => {
            let t = Transfer { consumer_pid: fake.consumer_pid.clone(), provider_pid: fake.provider_pid.clone(), agreement_id: String::new(), data_address: None };
            let (path, body) = transfer_message(ctx, &t, TransferMessage::Completion);
            (DspRequest::post(path, body), "TransferError")
        }
        (process, method) => return Err(CaseOutcome::Error(format!("unknown process/method {process}/{method} in the suite entry"))),
    };
    let reply = ctx.send_dsp(request).await?;
    ctx.expect_error_body(&reply, error, &[404]);
    Ok(())
}

/// A message to an existing negotiation naming another consumerPid is refused with 400, and
/// the negotiation does not move.
async fn wrong_consumer_pid(ctx: &CaseContext) -> Step {
    let n = request(ctx).await?;
    let stranger = Negotiation { consumer_pid: ConsumerPid::generate(), ..n.clone() };
    let (path, body) = consumer_message(ctx, &stranger, ConsumerMessage::Termination)?;
    let reply = ctx.post_dsp(&path, body).await?;
    ctx.expect_error_body(&reply, "ContractNegotiationError", &[400]);
    expect_negotiation_survived(ctx, &n).await?;
    Ok(())
}

/// A second termination of a terminated negotiation is refused.
async fn finished_negotiation(ctx: &CaseContext) -> Step {
    let n = negotiation_in(ctx, NegotiationState::Terminated).await?;
    send_refused(ctx, &n, ConsumerMessage::Termination).await?;
    expect_negotiation_state(ctx, &n, NegotiationState::Terminated).await?;
    Ok(())
}

/// A second completion of a completed transfer is refused.
async fn finished_transfer(ctx: &CaseContext) -> Step {
    let t = transfer_in(ctx, TransferState::Completed).await?;
    send_transfer_refused(ctx, &t, TransferMessage::Completion).await?;
    expect_transfer_state(ctx, &t, TransferState::Completed).await?;
    Ok(())
}

