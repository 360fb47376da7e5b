//! Identity checks with the connector under test as provider: every DSP endpoint refuses a
//! request without a token, with an expired one, one for another audience, one signed by a
//! key the DAPS does not publish, or one altered after signing; a refused message changes
//! nothing; and the provider's own messages carry a DAT the harness accepts.

use serde_json::json;

use super::provider_flow::*;
use crate::protocol::binding;
use crate::protocol::codec::CONTEXT_2025_1;
use crate::protocol::{ConsumerPid, TransferState};
use crate::report::model::Finding;
use crate::runner::conformance::{register, CaseContext, CaseOutcome, CheckFn, DspRequest, Step, TokenKind};
use crate::recording::RecordedResponse;

pub fn checks() -> Vec<(&'static str, CheckFn)> {
    register![
        "identity.provider.refuses_token" => refuses_token,
        "identity.provider.signs_its_messages" => signs_its_messages,
    ]
}

fn expect_refused(ctx: &CaseContext, reply: &RecordedResponse, token: &str) {
    let status = reply.status.as_u16();
    if status != 401 && status != 403 {
        ctx.fail(
            Finding::new("identity", format!("a request whose token is {token} was not refused"))
                .expected("401 or 403", status.to_string())
                .at(reply.seq as usize),
        );
    }
}

/// Sends a request to `endpoint` (args) with a bad `token` (args) and expects 401 or 403; for
/// messages to an existing process, the process must not have moved.
async fn refuses_token(ctx: &CaseContext) -> Step {
    let word = ctx.arg("token")?;
    let token = TokenKind::parse(word).ok_or_else(|| CaseOutcome::Error(format!("unknown token kind {word:?} in the suite entry")))?;
    // Make sure the harness can make such a token before setting anything up.
    ctx.token(token).await?;
    let endpoint = ctx.arg("endpoint")?;
    match endpoint {
        "catalog" => {
            let body = json!({"@context": [CONTEXT_2025_1], "@type": "CatalogRequestMessage"});
            let reply = ctx.send_dsp(DspRequest::post(binding::CATALOG_REQUEST, body).with_token(token)).await?;
            expect_refused(ctx, &reply, word);
        }
        "dataset" => {
            let id = ctx.dataset().map(str::to_string).unwrap_or_else(|| "urn:dsp-harness:any-dataset".to_string());
            let reply = ctx.send_dsp(DspRequest::get(binding::dataset(&id)).with_token(token)).await?;
            expect_refused(ctx, &reply, word);
        }
        "negotiation-request" => {
            let body = request_body(ctx, &ConsumerPid::generate())?;
            let reply = ctx.send_dsp(DspRequest::post(binding::NEGOTIATION_REQUEST, body).with_token(token)).await?;
            expect_refused(ctx, &reply, word);
        }
        "negotiation-get" => {
            let n = request(ctx).await?;
            let reply = ctx.send_dsp(DspRequest::get(binding::negotiation(n.provider_pid.as_str())).with_token(token)).await?;
            expect_refused(ctx, &reply, word);
        }
        "negotiation-termination" => {
            let n = request(ctx).await?;
            let (path, body) = consumer_message(ctx, &n, ConsumerMessage::Termination)?;
            let reply = ctx.send_dsp(DspRequest::post(path, body).with_token(token)).await?;
            expect_refused(ctx, &reply, word);
            expect_negotiation_survived(ctx, &n).await?;
        }
        "transfer-request" => {
            let (_, agreement) = finalized_agreement(ctx).await?;
            let body = transfer_request_body(ctx, &ConsumerPid::generate(), &agreement);
            let reply = ctx.send_dsp(DspRequest::post(binding::TRANSFER_REQUEST, body).with_token(token)).await?;
            expect_refused(ctx, &reply, word);
        }
        "transfer-get" => {
            let t = transfer_in(ctx, TransferState::Requested).await?;
            let reply = ctx.send_dsp(DspRequest::get(binding::transfer(t.provider_pid.as_str())).with_token(token)).await?;
            expect_refused(ctx, &reply, word);
        }
        "transfer-termination" => {
            let t = transfer_in(ctx, TransferState::Requested).await?;
            let (path, body) = transfer_message(ctx, &t, TransferMessage::Termination);
            let reply = ctx.send_dsp(DspRequest::post(path, body).with_token(token)).await?;
            expect_refused(ctx, &reply, word);
            expect_transfer_stays(ctx, &t, TransferState::Requested).await?;
        }
        other => return Err(CaseOutcome::Error(format!("unknown endpoint {other:?} in the suite entry"))),
    }
    Ok(())
}

/// The provider's agreement and FINALIZED event carry a DAT the harness accepts.
async fn signs_its_messages(ctx: &CaseContext) -> Step {
    // Every message the provider sends the harness is checked for its token on arrival.
    finalized_agreement(ctx).await?;
    Ok(())
}
