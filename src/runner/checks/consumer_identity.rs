//! Identity with the connector under test as the consumer: its callback endpoints refuse
//! messages without a valid DAT (missing, expired, for another audience, signed by a key the
//! DAPS does not publish) with 401 and a protocol error body, leaving the process alone; and
//! its own requests to the provider carry a valid DAT.
//!
//! When the target can be made to start a negotiation, the bad token comes on a termination
//! of a real negotiation (so the case also sees that nothing moved); otherwise on an initial
//! offer, which every consumer's `POST /negotiations/offers` must authenticate first.

use super::consumer::{consumer_requests, expect_negotiation_state, expect_refused, provider_moves_with, start, Look, Verifying};
use crate::protocol::NegotiationState;
use crate::runner::conformance::{register, CaseContext, CaseOutcome, CheckFn, Step, TokenKind};
use crate::runner::counterparty::{NegotiationMove, SendOptions, Token};

pub fn checks() -> Vec<(&'static str, CheckFn)> {
    register![
        "identity.consumer.missing_token" => missing_token,
        "identity.consumer.expired_token" => expired_token,
        "identity.consumer.wrong_audience" => wrong_audience,
        "identity.consumer.unknown_key" => unknown_key,
        "identity.consumer.sends_valid_token" => sends_valid_token,
    ]
}

async fn missing_token(ctx: &CaseContext) -> Step {
    refused_with(ctx, TokenKind::Missing).await
}

async fn expired_token(ctx: &CaseContext) -> Step {
    refused_with(ctx, TokenKind::Expired).await
}

async fn wrong_audience(ctx: &CaseContext) -> Step {
    refused_with(ctx, TokenKind::WrongAudience).await
}

async fn unknown_key(ctx: &CaseContext) -> Step {
    refused_with(ctx, TokenKind::UnknownKey).await
}

/// A message to the consumer with a token of `kind` is refused with 401 and a
/// `ContractNegotiationError`, and the negotiation it names does not move.
async fn refused_with(ctx: &CaseContext, kind: TokenKind) -> Step {
    if ctx.token(TokenKind::Valid).await?.is_none() {
        return Err(CaseOutcome::Skip("the target is configured without authentication".to_string()));
    }
    let token = match ctx.token(kind).await? {
        Some(value) => Token::Raw(value),
        None => Token::Missing,
    };
    let hp = start(ctx).await?;
    if !ctx.capabilities().api {
        let offer = hp.send_initial_offer(&ctx.connector().dsp_url, &SendOptions::token(token)).await.map_err(|e| CaseOutcome::Error(e.to_string()))?;
        expect_refused(ctx, &offer.response, "ContractNegotiationError", &[401], None);
        return Ok(());
    }
    let n = consumer_requests(ctx, &hp, Verifying::OnItsOwn).await?;
    expect_negotiation_state(ctx, &hp, &n, NegotiationState::Requested, Look::Until).await?;
    let reply = provider_moves_with(&hp, &n, NegotiationMove::Termination, &SendOptions::token(token)).await?;
    expect_refused(ctx, &reply, "ContractNegotiationError", &[401], None);
    expect_negotiation_state(ctx, &hp, &n, NegotiationState::Requested, Look::Now).await
}

/// The consumer's contract request carries a valid DAT for the provider (its own participant
/// id or the IDS all-connectors audience), checked against the DAPS key set.
async fn sends_valid_token(ctx: &CaseContext) -> Step {
    let hp = start(ctx).await?;
    if !hp.checks_tokens() {
        return Err(CaseOutcome::Skip("the harness cannot check the consumer's tokens: it has no DAPS key set in this run".to_string()));
    }
    // The request is judged as it arrives: a refused token is an identity finding.
    consumer_requests(ctx, &hp, Verifying::OnItsOwn).await?;
    Ok(())
}
