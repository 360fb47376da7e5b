//! Transfer processes with the connector under test as the consumer (DSP 2025-1 Transfer
//! Process, its consumer callback endpoints in the HTTPS binding): every case first negotiates an agreement with the
//! harness provider, then the consumer requests an HTTP pull under it and each case scripts
//! the provider's moves, the consumer's moves, and moves the consumer must refuse. The first
//! sixteen follow the Eclipse DSP TCK's `TransferProcessConsumer*Test` (`TP_C:01-01` ...
//! `TP_C:03-06`).
//!
//! The consumer's view of a transfer is read from its `GET /transfers/{consumerPid}`, as the
//! TCK reads it.

use serde_json::json;

use super::consumer::{
    consumer_transfer_step, expect_edr_pulls, expect_refused, expect_taken, expect_transfer_state, provider_transfer_moves, requested_transfer, start, Look, Transfer,
};
use crate::protocol::{binding, codec_for, ConsumerPid, DspMessage, MessageKind, PidPair, ProtocolVersion, ProviderPid, TransferState};
use crate::runner::conformance::{register, CaseContext, CaseOutcome, CheckFn, Step, TransferStep};
use crate::runner::counterparty::{HarnessProvider, Token, TransferMove};

pub fn checks() -> Vec<(&'static str, CheckFn)> {
    register![
        "transfer.consumer.started_then_provider_terminates" => started_then_provider_terminates,
        "transfer.consumer.started_then_provider_completes" => started_then_provider_completes,
        "transfer.consumer.suspended_then_provider_terminates" => suspended_then_provider_terminates,
        "transfer.consumer.restarted_then_provider_completes" => restarted_then_provider_completes,
        "transfer.consumer.provider_terminates_requested" => provider_terminates_requested,
        "transfer.consumer.started_then_consumer_terminates" => started_then_consumer_terminates,
        "transfer.consumer.started_then_consumer_completes" => started_then_consumer_completes,
        "transfer.consumer.consumer_suspends_then_terminates" => consumer_suspends_then_terminates,
        "transfer.consumer.consumer_restarts_then_completes" => consumer_restarts_then_completes,
        "transfer.consumer.consumer_terminates_requested" => consumer_terminates_requested,
        "transfer.consumer.rejects_completion_when_requested" => rejects_completion_when_requested,
        "transfer.consumer.rejects_suspension_when_requested" => rejects_suspension_when_requested,
        "transfer.consumer.rejects_completion_when_suspended" => rejects_completion_when_suspended,
        "transfer.consumer.rejects_start_when_terminated" => rejects_start_when_terminated,
        "transfer.consumer.rejects_suspension_when_terminated" => rejects_suspension_when_terminated,
        "transfer.consumer.rejects_completion_when_terminated" => rejects_completion_when_terminated,
        "transfer.consumer.edr_from_start" => edr_from_start,
        "transfer.consumer.unknown_process" => unknown_process,
        "transfer.consumer.rejects_malformed_start" => rejects_malformed_start,
    ]
}

const ERROR: &str = "TransferError";

// ---------------------------------------------------------------------------------------------
// Steps the cases are made of

/// The harness makes a move the consumer must take; the consumer then reports `state`.
async fn harness_does(ctx: &CaseContext, hp: &HarnessProvider, t: &Transfer, mv: TransferMove, what: &str, state: TransferState) -> Step {
    let reply = provider_transfer_moves(hp, t, mv).await?;
    expect_taken(ctx, &reply, what)?;
    expect_transfer_state(ctx, hp, t, state, Look::Until).await
}

/// The harness makes a move the consumer must refuse with a 4xx `TransferError` naming the
/// process, after which the consumer still reports `stays`.
async fn harness_is_refused(ctx: &CaseContext, hp: &HarnessProvider, t: &Transfer, mv: TransferMove, stays: TransferState) -> Step {
    let reply = provider_transfer_moves(hp, t, mv).await?;
    expect_refused(ctx, &reply, ERROR, &[], Some((&t.consumer_pid, &t.provider_pid)));
    expect_transfer_state(ctx, hp, t, stays, Look::Now).await
}

/// The consumer requested a pull and reports REQUESTED.
async fn requested(ctx: &CaseContext, hp: &HarnessProvider) -> Step<Transfer> {
    let t = requested_transfer(ctx, hp).await?;
    expect_transfer_state(ctx, hp, &t, TransferState::Requested, Look::Until).await?;
    Ok(t)
}

/// The consumer requested a pull and the harness started it.
async fn started(ctx: &CaseContext, hp: &HarnessProvider) -> Step<Transfer> {
    let t = requested(ctx, hp).await?;
    harness_does(ctx, hp, &t, TransferMove::Start, "the transfer start", TransferState::Started).await?;
    Ok(t)
}

/// The consumer makes a transfer step; its message reaches the harness and it then reports
/// `state`.
async fn consumer_does(ctx: &CaseContext, hp: &HarnessProvider, t: &Transfer, step: TransferStep, kind: MessageKind, state: TransferState) -> Step {
    consumer_transfer_step(ctx, hp, t, step, kind, &format!("a {}", kind.name())).await?;
    expect_transfer_state(ctx, hp, t, state, Look::Until).await
}

// ---------------------------------------------------------------------------------------------
// TP_C:01 — the provider's moves

/// TP_C:01-01: request, provider starts, provider terminates.
async fn started_then_provider_terminates(ctx: &CaseContext) -> Step {
    let hp = start(ctx).await?;
    let t = started(ctx, &hp).await?;
    harness_does(ctx, &hp, &t, TransferMove::Termination, "the termination", TransferState::Terminated).await
}

/// TP_C:01-02: request, provider starts, provider completes.
async fn started_then_provider_completes(ctx: &CaseContext) -> Step {
    let hp = start(ctx).await?;
    let t = started(ctx, &hp).await?;
    harness_does(ctx, &hp, &t, TransferMove::Completion, "the completion", TransferState::Completed).await
}

/// TP_C:01-03: request, provider starts, suspends, terminates.
async fn suspended_then_provider_terminates(ctx: &CaseContext) -> Step {
    let hp = start(ctx).await?;
    let t = started(ctx, &hp).await?;
    harness_does(ctx, &hp, &t, TransferMove::Suspension, "the suspension", TransferState::Suspended).await?;
    harness_does(ctx, &hp, &t, TransferMove::Termination, "the termination", TransferState::Terminated).await
}

/// TP_C:01-04: request, provider starts, suspends, starts again, completes.
async fn restarted_then_provider_completes(ctx: &CaseContext) -> Step {
    let hp = start(ctx).await?;
    let t = started(ctx, &hp).await?;
    harness_does(ctx, &hp, &t, TransferMove::Suspension, "the suspension", TransferState::Suspended).await?;
    harness_does(ctx, &hp, &t, TransferMove::Start, "the restart", TransferState::Started).await?;
    harness_does(ctx, &hp, &t, TransferMove::Completion, "the completion", TransferState::Completed).await
}

/// TP_C:01-05: request, provider terminates before starting.
async fn provider_terminates_requested(ctx: &CaseContext) -> Step {
    let hp = start(ctx).await?;
    let t = requested(ctx, &hp).await?;
    harness_does(ctx, &hp, &t, TransferMove::Termination, "the termination", TransferState::Terminated).await
}

// ---------------------------------------------------------------------------------------------
// TP_C:02 — the consumer's moves

/// TP_C:02-01: request, provider starts, consumer terminates.
async fn started_then_consumer_terminates(ctx: &CaseContext) -> Step {
    ctx.require_transfer_steps(&[TransferStep::Terminate])?;
    let hp = start(ctx).await?;
    let t = started(ctx, &hp).await?;
    consumer_does(ctx, &hp, &t, TransferStep::Terminate, MessageKind::TransferTerminationMessage, TransferState::Terminated).await
}

/// TP_C:02-02: request, provider starts, consumer completes.
async fn started_then_consumer_completes(ctx: &CaseContext) -> Step {
    ctx.require_transfer_steps(&[TransferStep::Complete])?;
    let hp = start(ctx).await?;
    let t = started(ctx, &hp).await?;
    consumer_does(ctx, &hp, &t, TransferStep::Complete, MessageKind::TransferCompletionMessage, TransferState::Completed).await
}

/// TP_C:02-03: request, provider starts, consumer suspends, consumer terminates.
async fn consumer_suspends_then_terminates(ctx: &CaseContext) -> Step {
    ctx.require_transfer_steps(&[TransferStep::Suspend, TransferStep::Terminate])?;
    let hp = start(ctx).await?;
    let t = started(ctx, &hp).await?;
    consumer_does(ctx, &hp, &t, TransferStep::Suspend, MessageKind::TransferSuspensionMessage, TransferState::Suspended).await?;
    consumer_does(ctx, &hp, &t, TransferStep::Terminate, MessageKind::TransferTerminationMessage, TransferState::Terminated).await
}

/// TP_C:02-04: request, provider starts, consumer suspends, consumer asks to restart, the
/// provider starts again with a fresh data address (which the consumer's EDR then holds),
/// consumer completes.
async fn consumer_restarts_then_completes(ctx: &CaseContext) -> Step {
    ctx.require_transfer_steps(&[TransferStep::Suspend, TransferStep::Resume, TransferStep::Complete])?;
    let management = ctx.management()?;
    let hp = start(ctx).await?;
    let t = started(ctx, &hp).await?;
    consumer_does(ctx, &hp, &t, TransferStep::Suspend, MessageKind::TransferSuspensionMessage, TransferState::Suspended).await?;
    consumer_transfer_step(ctx, &hp, &t, TransferStep::Resume, MessageKind::TransferStartMessage, "a TransferStartMessage asking to restart").await?;
    harness_does(ctx, &hp, &t, TransferMove::Start, "the restart", TransferState::Started).await?;
    expect_edr_pulls(ctx, &hp, &t, &management).await?;
    consumer_does(ctx, &hp, &t, TransferStep::Complete, MessageKind::TransferCompletionMessage, TransferState::Completed).await
}

/// TP_C:02-05: request, consumer terminates before the start.
async fn consumer_terminates_requested(ctx: &CaseContext) -> Step {
    ctx.require_transfer_steps(&[TransferStep::Terminate])?;
    let hp = start(ctx).await?;
    let t = requested(ctx, &hp).await?;
    consumer_does(ctx, &hp, &t, TransferStep::Terminate, MessageKind::TransferTerminationMessage, TransferState::Terminated).await
}

// ---------------------------------------------------------------------------------------------
// TP_C:03 — moves the consumer must refuse

/// TP_C:03-01: request, then a completion before any start.
async fn rejects_completion_when_requested(ctx: &CaseContext) -> Step {
    let hp = start(ctx).await?;
    let t = requested(ctx, &hp).await?;
    harness_is_refused(ctx, &hp, &t, TransferMove::Completion, TransferState::Requested).await
}

/// TP_C:03-02: request, then a suspension before any start.
async fn rejects_suspension_when_requested(ctx: &CaseContext) -> Step {
    let hp = start(ctx).await?;
    let t = requested(ctx, &hp).await?;
    harness_is_refused(ctx, &hp, &t, TransferMove::Suspension, TransferState::Requested).await
}

/// TP_C:03-03: request, start, suspension, then a completion of the suspended transfer.
async fn rejects_completion_when_suspended(ctx: &CaseContext) -> Step {
    let hp = start(ctx).await?;
    let t = started(ctx, &hp).await?;
    harness_does(ctx, &hp, &t, TransferMove::Suspension, "the suspension", TransferState::Suspended).await?;
    harness_is_refused(ctx, &hp, &t, TransferMove::Completion, TransferState::Suspended).await
}

/// TP_C:03-04: request, start, termination, then a start.
async fn rejects_start_when_terminated(ctx: &CaseContext) -> Step {
    let hp = start(ctx).await?;
    let t = started(ctx, &hp).await?;
    harness_does(ctx, &hp, &t, TransferMove::Termination, "the termination", TransferState::Terminated).await?;
    harness_is_refused(ctx, &hp, &t, TransferMove::Start, TransferState::Terminated).await
}

/// TP_C:03-05: request, start, termination, then a suspension.
async fn rejects_suspension_when_terminated(ctx: &CaseContext) -> Step {
    let hp = start(ctx).await?;
    let t = started(ctx, &hp).await?;
    harness_does(ctx, &hp, &t, TransferMove::Termination, "the termination", TransferState::Terminated).await?;
    harness_is_refused(ctx, &hp, &t, TransferMove::Suspension, TransferState::Terminated).await
}

/// TP_C:03-06: request, start, termination, then a completion.
async fn rejects_completion_when_terminated(ctx: &CaseContext) -> Step {
    let hp = start(ctx).await?;
    let t = started(ctx, &hp).await?;
    harness_does(ctx, &hp, &t, TransferMove::Termination, "the termination", TransferState::Terminated).await?;
    harness_is_refused(ctx, &hp, &t, TransferMove::Completion, TransferState::Terminated).await
}

// ---------------------------------------------------------------------------------------------
// Beyond the TCK

/// After a pull starts, the consumer's endpoint data reference holds the data address of the
/// start message, and pulling through it yields the provider's bytes.
async fn edr_from_start(ctx: &CaseContext) -> Step {
    let management = ctx.management()?;
    let hp = start(ctx).await?;
    let t = started(ctx, &hp).await?;
    expect_edr_pulls(ctx, &hp, &t, &management).await
}

/// Messages for a transfer the consumer does not know are answered 404 with a
/// `TransferError`.
async fn unknown_process(ctx: &CaseContext) -> Step {
    let hp = start(ctx).await?;
    let base = ctx.connector().dsp_url.clone();
    let (consumer_pid, provider_pid) = (ConsumerPid::generate(), ProviderPid::generate());
    let codec = codec_for(ProtocolVersion::V2025_1);
    let completion = codec.encode(&DspMessage::TransferCompletion(PidPair { provider_pid: provider_pid.clone(), consumer_pid: consumer_pid.clone() }));
    let start_message = codec.encode(&DspMessage::TransferStart(crate::protocol::TransferStartMessage { provider_pid, consumer_pid: consumer_pid.clone(), data_address: None }));
    for (path, body) in [(binding::transfer_completion(consumer_pid.as_str()), completion), (binding::transfer_start(consumer_pid.as_str()), start_message)] {
        let reply = hp.post(&base, &path, &body, &Token::Valid).await.map_err(|e| CaseOutcome::Error(e.to_string()))?;
        expect_refused(ctx, &reply, ERROR, &[404], None);
    }
    Ok(())
}

/// A start whose data address does not validate is refused with 400 and changes nothing.
async fn rejects_malformed_start(ctx: &CaseContext) -> Step {
    let hp = start(ctx).await?;
    let t = requested(ctx, &hp).await?;
    let body = json!({
        "@context": [crate::protocol::codec::CONTEXT_2025_1],
        "@type": "TransferStartMessage",
        "providerPid": t.provider_pid,
        "consumerPid": t.consumer_pid,
        "dataAddress": {"@type": "NotADataAddress", "endpointType": crate::protocol::HTTP_ENDPOINT_TYPE, "endpointProperties": []},
    });
    let reply = hp.post(&t.callback, &binding::transfer_start(t.consumer_pid.as_str()), &body, &Token::Valid).await.map_err(|e| CaseOutcome::Error(e.to_string()))?;
    expect_refused(ctx, &reply, ERROR, &[400], Some((&t.consumer_pid, &t.provider_pid)));
    expect_transfer_state(ctx, &hp, &t, TransferState::Requested, Look::Now).await
}
