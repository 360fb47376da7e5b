//! Transfer processes with the connector under test as provider (DSP 2025-1 §10): the harness
//! negotiates an agreement, requests a pull transfer from its callback address, sends
//! suspensions, restarts, completions and terminations, and makes the provider start,
//! suspend, complete and terminate through the management API. Also checks the pull the
//! provider's data plane serves under the data address it hands out.

use serde_json::Value;

use super::provider_flow::*;
use crate::protocol::binding;
use crate::protocol::{ConsumerPid, TransferState as S};
use crate::report::model::Finding;
use crate::runner::conformance::{register, CaseContext, CaseOutcome, CheckFn, Step, TransferStep};
use crate::recording::Download;

pub fn checks() -> Vec<(&'static str, CheckFn)> {
    register![
        "transfer.provider.started_provider_terminates" => started_provider_terminates,
        "transfer.provider.started_provider_completes" => started_provider_completes,
        "transfer.provider.suspended_provider_terminates" => suspended_provider_terminates,
        "transfer.provider.provider_restarts_and_completes" => provider_restarts_and_completes,
        "transfer.provider.requested_provider_terminates" => requested_provider_terminates,
        "transfer.provider.consumer_terminates" => consumer_terminates,
        "transfer.provider.started_consumer_completes" => started_consumer_completes,
        "transfer.provider.consumer_suspends_and_terminates" => consumer_suspends_and_terminates,
        "transfer.provider.consumer_restarts_and_completes" => consumer_restarts_and_completes,
        "transfer.provider.invalid_transition" => invalid_transition,
        "transfer.provider.request_status" => request_status,
        "transfer.provider.request_pids" => request_pids,
        "transfer.provider.request_content_type" => request_content_type,
        "transfer.provider.request_schema" => request_schema,
        "transfer.provider.request_state" => request_state,
        "transfer.provider.get_transfer" => get_transfer,
        "transfer.provider.unknown_agreement" => unknown_agreement,
        "transfer.provider.unfinalized_agreement" => unfinalized_agreement,
        "transfer.provider.pull_start_address" => pull_start_address,
        "transfer.provider.pull_serves_data" => pull_serves_data,
        "transfer.provider.pull_needs_token" => pull_needs_token,
        "transfer.provider.pull_refused_when_suspended" => pull_refused_when_suspended,
        "transfer.provider.pull_refused_after_termination" => pull_refused_after_termination,
    ]
}

fn state_arg(ctx: &CaseContext) -> Step<S> {
    let word = ctx.arg("state")?;
    S::parse(&word.to_ascii_uppercase()).ok_or_else(|| CaseOutcome::Error(format!("unknown transfer state {word:?} in the suite entry")))
}

/// The start message of a pull must carry where and how to pull.
fn check_pull_address(ctx: &CaseContext, t: &Transfer) {
    match t.data_address.as_ref().and_then(pull_endpoint) {
        Some((_, Some(_))) => {}
        Some((endpoint, None)) => ctx.fail(Finding::new("data-address", format!("the pull data address {endpoint} carries no authorization"))),
        None => ctx.fail(
            Finding::new("data-address", "the TransferStartMessage of a pull transfer carries no data address with an endpoint")
                .expected("dataAddress with endpoint and authorization", t.data_address.as_ref().map(Value::to_string).unwrap_or_else(|| "none".to_string())),
        ),
    }
}

/// TP:01-01: the provider starts, then terminates; the process is TERMINATED.
async fn started_provider_terminates(ctx: &CaseContext) -> Step {
    ctx.require_transfer_steps(&[TransferStep::Terminate])?;
    let mut t = transfer_in(ctx, S::Started).await?;
    check_pull_address(ctx, &t);
    provider_transfer_move(ctx, &mut t, TransferStep::Terminate, 0).await?;
    expect_transfer_state(ctx, &t, S::Terminated).await?;
    Ok(())
}

/// TP:01-02: the provider starts, then completes; the process is COMPLETED.
async fn started_provider_completes(ctx: &CaseContext) -> Step {
    ctx.require_transfer_steps(&[TransferStep::Complete])?;
    let mut t = transfer_in(ctx, S::Started).await?;
    provider_transfer_move(ctx, &mut t, TransferStep::Complete, 0).await?;
    expect_transfer_state(ctx, &t, S::Completed).await?;
    Ok(())
}

/// TP:01-03: the provider starts, suspends, terminates.
async fn suspended_provider_terminates(ctx: &CaseContext) -> Step {
    ctx.require_transfer_steps(&[TransferStep::Suspend, TransferStep::Terminate])?;
    let mut t = transfer_in(ctx, S::Started).await?;
    provider_transfer_move(ctx, &mut t, TransferStep::Suspend, 0).await?;
    expect_transfer_state(ctx, &t, S::Suspended).await?;
    provider_transfer_move(ctx, &mut t, TransferStep::Terminate, 0).await?;
    expect_transfer_state(ctx, &t, S::Terminated).await?;
    Ok(())
}

/// TP:01-04: the provider starts, suspends, starts again (with a fresh data address) and
/// completes.
async fn provider_restarts_and_completes(ctx: &CaseContext) -> Step {
    ctx.require_transfer_steps(&[TransferStep::Suspend, TransferStep::Start, TransferStep::Complete])?;
    let mut t = transfer_in(ctx, S::Started).await?;
    provider_transfer_move(ctx, &mut t, TransferStep::Suspend, 0).await?;
    provider_transfer_move(ctx, &mut t, TransferStep::Start, 1).await?;
    check_pull_address(ctx, &t);
    expect_transfer_state(ctx, &t, S::Started).await?;
    provider_transfer_move(ctx, &mut t, TransferStep::Complete, 0).await?;
    expect_transfer_state(ctx, &t, S::Completed).await?;
    Ok(())
}

/// TP:01-05: the provider terminates a requested transfer.
async fn requested_provider_terminates(ctx: &CaseContext) -> Step {
    ctx.require_transfer_steps(&[TransferStep::Terminate])?;
    let mut t = transfer_in(ctx, S::Requested).await?;
    provider_transfer_move(ctx, &mut t, TransferStep::Terminate, 0).await?;
    expect_transfer_state(ctx, &t, S::Terminated).await?;
    Ok(())
}

/// TP:02-01, TP:02-05: the consumer terminates from `state`; the process is TERMINATED.
async fn consumer_terminates(ctx: &CaseContext) -> Step {
    let state = state_arg(ctx)?;
    let t = transfer_in(ctx, state).await?;
    expect_transfer_stays(ctx, &t, state).await?;
    send_transfer_ok(ctx, &t, TransferMessage::Termination).await?;
    expect_transfer_state(ctx, &t, S::Terminated).await?;
    Ok(())
}

/// TP:02-02: the provider starts, the consumer completes.
async fn started_consumer_completes(ctx: &CaseContext) -> Step {
    let t = transfer_in(ctx, S::Started).await?;
    expect_transfer_state(ctx, &t, S::Started).await?;
    send_transfer_ok(ctx, &t, TransferMessage::Completion).await?;
    expect_transfer_state(ctx, &t, S::Completed).await?;
    Ok(())
}

/// TP:02-03: the provider starts, the consumer suspends, then terminates.
async fn consumer_suspends_and_terminates(ctx: &CaseContext) -> Step {
    let t = transfer_in(ctx, S::Started).await?;
    send_transfer_ok(ctx, &t, TransferMessage::Suspension).await?;
    expect_transfer_state(ctx, &t, S::Suspended).await?;
    send_transfer_ok(ctx, &t, TransferMessage::Termination).await?;
    expect_transfer_state(ctx, &t, S::Terminated).await?;
    Ok(())
}

/// TP:02-04: the provider starts, the consumer suspends, restarts and completes.
async fn consumer_restarts_and_completes(ctx: &CaseContext) -> Step {
    let t = transfer_in(ctx, S::Started).await?;
    send_transfer_ok(ctx, &t, TransferMessage::Suspension).await?;
    expect_transfer_state(ctx, &t, S::Suspended).await?;
    send_transfer_ok(ctx, &t, TransferMessage::Start).await?;
    expect_transfer_state(ctx, &t, S::Started).await?;
    send_transfer_ok(ctx, &t, TransferMessage::Completion).await?;
    expect_transfer_state(ctx, &t, S::Completed).await?;
    Ok(())
}

/// A message the state does not allow (args `state`, `message`) is refused with a 4xx and a
/// TransferError, and the process stays where it was.
async fn invalid_transition(ctx: &CaseContext) -> Step {
    let state = state_arg(ctx)?;
    let word = ctx.arg("message")?;
    let message = TransferMessage::parse(word).ok_or_else(|| CaseOutcome::Error(format!("unknown transfer message {word:?} in the suite entry")))?;
    let t = transfer_in(ctx, state).await?;
    let reply = send_transfer(ctx, &t, message).await?;
    // Completion and suspension are valid once started, which a provider that starts on its
    // own may have done by itself before the message arrived.
    if reply.status.is_success() && state == S::Requested && !ctx.provider_is_held() && transfer_state_now(ctx, &t).await?.as_deref() != Some("REQUESTED") {
        ctx.require_held_provider("it started the transfer by itself before the harness's message arrived, where that message is valid, so the case cannot be judged")?;
    }
    refused(ctx, &reply, "TransferError");
    expect_transfer_stays(ctx, &t, state).await?;
    Ok(())
}

async fn requested(ctx: &CaseContext) -> Step<(Transfer, crate::recording::RecordedResponse)> {
    let (_, agreement) = finalized_agreement(ctx).await?;
    transfer_request(ctx, &agreement).await
}

async fn request_status(ctx: &CaseContext) -> Step {
    let (_, reply) = requested(ctx).await?;
    ctx.expect_status(&reply, &[201]);
    Ok(())
}

async fn request_pids(ctx: &CaseContext) -> Step {
    let (t, reply) = requested(ctx).await?;
    if let Some(body) = ctx.expect_json(&reply) {
        ctx.expect_pids(&body, reply.seq, Some(&t.consumer_pid), None);
    }
    Ok(())
}

async fn request_content_type(ctx: &CaseContext) -> Step {
    let (_, reply) = requested(ctx).await?;
    ctx.expect_content_type_json(&reply);
    Ok(())
}

async fn request_schema(ctx: &CaseContext) -> Step {
    let (_, reply) = requested(ctx).await?;
    ctx.expect_type(&reply, "TransferProcess");
    Ok(())
}

async fn request_state(ctx: &CaseContext) -> Step {
    let (t, reply) = requested(ctx).await?;
    if let Some(body) = ctx.expect_json(&reply) {
        ctx.expect_state(&body, reply.seq, "REQUESTED");
    }
    // A provider that starts on its own may be past REQUESTED by the time the harness asks.
    if ctx.provider_is_held() {
        expect_transfer_state(ctx, &t, S::Requested).await?;
    }
    Ok(())
}

/// `GET /transfers/{providerPid}` answers the process with both pids.
async fn get_transfer(ctx: &CaseContext) -> Step {
    let (t, _) = requested(ctx).await?;
    let reply = ctx.get_dsp(&binding::transfer(t.provider_pid.as_str())).await?;
    ctx.expect_status(&reply, &[200]);
    ctx.expect_content_type_json(&reply);
    if let Some(body) = ctx.expect_type(&reply, "TransferProcess") {
        ctx.expect_pids(&body, reply.seq, Some(&t.consumer_pid), Some(&t.provider_pid));
        if ctx.provider_is_held() {
            ctx.expect_state(&body, reply.seq, "REQUESTED");
        }
    }
    Ok(())
}

/// A transfer request naming an agreement that does not exist is refused.
async fn unknown_agreement(ctx: &CaseContext) -> Step {
    let body = transfer_request_body(ctx, &ConsumerPid::generate(), &format!("urn:dsp-harness:no-such-agreement:{}", uuid::Uuid::new_v4()));
    let reply = ctx.post_dsp(binding::TRANSFER_REQUEST, body).await?;
    ctx.expect_error_body(&reply, "TransferError", &[]);
    Ok(())
}

/// A transfer request under an agreement whose negotiation is not FINALIZED is refused.
async fn unfinalized_agreement(ctx: &CaseContext) -> Step {
    let n = negotiation_in(ctx, crate::protocol::NegotiationState::Agreed).await?;
    let agreement = n.agreement.as_ref().and_then(|a| a.get("@id")).and_then(Value::as_str).map(str::to_string);
    let Some(agreement) = agreement else { return Err(ctx.fail_now(Finding::new("body", "the ContractAgreementMessage carries no agreement @id"))) };
    let body = transfer_request_body(ctx, &ConsumerPid::generate(), &agreement);
    let reply = ctx.post_dsp(binding::TRANSFER_REQUEST, body).await?;
    ctx.expect_error_body(&reply, "TransferError", &[]);
    Ok(())
}

async fn pull_start_address(ctx: &CaseContext) -> Step {
    let t = transfer_in(ctx, S::Started).await?;
    check_pull_address(ctx, &t);
    Ok(())
}

/// Pulls through the data address of `t`, with its token or (`with_token` false) without.
async fn pull(ctx: &CaseContext, t: &Transfer, with_token: bool) -> Step<Download> {
    let Some((endpoint, auth)) = t.data_address.as_ref().and_then(pull_endpoint) else {
        return Err(ctx.fail_now(Finding::new("data-address", "the TransferStartMessage carries no data address to pull from")));
    };
    let endpoint = ctx.connector().for_harness(&endpoint);
    let mut builder = ctx.client().http().get(&endpoint);
    if let (true, Some(auth)) = (with_token, auth) {
        builder = builder.header(reqwest::header::AUTHORIZATION, auth);
    }
    let request = builder.build().map_err(|e| CaseOutcome::Error(format!("cannot build a pull of {endpoint}: {e}")))?;
    ctx.client().download("harness", &format!("{}-data-plane", ctx.name()), request).await.map_err(|e| crate::runner::conformance::context::transport(&e))
}

fn expect_refused_pull(ctx: &CaseContext, download: &Download, when: &str) {
    if download.status.is_success() {
        ctx.fail(
            Finding::new("data-plane", format!("the data plane served a pull {when}"))
                .expected("401 or 403", download.status.as_u16().to_string())
                .at(download.seq as usize),
        );
    }
}

/// A started pull serves the asset's bytes (compared with the source when the harness
/// registered the asset itself).
async fn pull_serves_data(ctx: &CaseContext) -> Step {
    let t = transfer_in(ctx, S::Started).await?;
    let download = pull(ctx, &t, true).await?;
    ctx.require(download.status.is_success(), || {
        Finding::new("data-plane", "the data plane refused a pull with the token it handed out").expected("200", download.status.as_u16().to_string()).at(download.seq as usize)
    })?;
    let Some(source) = ctx.connector().asset_source_url.clone().filter(|_| ctx.connector().setup) else { return Ok(()) };
    let source = ctx.connector().for_harness(&source);
    let request = ctx.client().http().get(&source).build().map_err(|e| CaseOutcome::Error(format!("cannot build a request for {source}: {e}")))?;
    let original = ctx.client().download("harness", "asset-source", request).await.map_err(|e| CaseOutcome::Error(format!("the harness cannot read the asset source: {e}")))?;
    if original.sha256 != download.sha256 || original.size != download.size {
        ctx.fail(
            Finding::new("digest", "the pulled bytes differ from the asset's source")
                .expected(format!("{} bytes, sha256 {}", original.size, original.sha256), format!("{} bytes, sha256 {}", download.size, download.sha256))
                .at(download.seq as usize),
        );
    }
    Ok(())
}

async fn pull_needs_token(ctx: &CaseContext) -> Step {
    let t = transfer_in(ctx, S::Started).await?;
    let download = pull(ctx, &t, false).await?;
    expect_refused_pull(ctx, &download, "without a token");
    Ok(())
}

async fn pull_refused_when_suspended(ctx: &CaseContext) -> Step {
    let t = transfer_in(ctx, S::Suspended).await?;
    let download = pull(ctx, &t, true).await?;
    expect_refused_pull(ctx, &download, "of a suspended transfer");
    Ok(())
}

async fn pull_refused_after_termination(ctx: &CaseContext) -> Step {
    let t = transfer_in(ctx, S::Terminated).await?;
    let download = pull(ctx, &t, true).await?;
    expect_refused_pull(ctx, &download, "of a terminated transfer");
    Ok(())
}
