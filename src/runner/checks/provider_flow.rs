//! The harness as a consumer driving a provider under test: the messages it sends, the
//! messages it waits for at its callback address (each checked for identifiers, token, path
//! and schema), and the walks that bring a negotiation or transfer process on the provider
//! into a given state. The negotiation and transfer checks build on these.

use serde_json::{json, Value};

use crate::protocol::binding;
use crate::protocol::*;
use crate::report::model::Finding;
use crate::runner::conformance::{CaseContext, Incoming, NegotiationStep, Step, TransferStep};
use crate::recording::RecordedResponse;

/// The transfer format the provider cases request.
pub const PULL: &str = "HttpData-PULL";

/// A negotiation on the provider, as the harness knows it.
#[derive(Debug, Clone)]
pub struct Negotiation {
    pub consumer_pid: ConsumerPid,
    pub provider_pid: ProviderPid,
    /// The agreement, once the provider sent one.
    pub agreement: Option<Value>,
}

/// A transfer process on the provider, as the harness knows it.
#[derive(Debug, Clone)]
pub struct Transfer {
    pub consumer_pid: ConsumerPid,
    pub provider_pid: ProviderPid,
    pub agreement_id: String,
    /// The data address of the latest start message.
    pub data_address: Option<Value>,
}

/// A message in the 2025-1 form checks write in: `send_dsp` puts it into the case's version.
pub fn encode(_ctx: &CaseContext, message: DspMessage) -> Value {
    codec_for(crate::protocol::ProtocolVersion::V2025_1).encode(&message)
}

/// The initial contract request for the run's offer.
pub fn request_body(ctx: &CaseContext, consumer_pid: &ConsumerPid) -> Step<Value> {
    let offer = ctx.offer()?;
    let mut body = encode(
        ctx,
        DspMessage::ContractRequest(ContractRequestMessage {
            consumer_pid: consumer_pid.clone(),
            provider_pid: None,
            offer: Policy::use_offer("placeholder"),
            callback_address: Some(ctx.mailbox().url().to_string()),
        }),
    );
    body["offer"] = offer.policy.clone();
    Ok(body)
}

/// Sends the initial request; checks the reply (201, JSON, ContractNegotiation, consumerPid
/// echoed, REQUESTED) softly and stops unless a provider pid came back.
pub async fn request(ctx: &CaseContext) -> Step<Negotiation> {
    let (n, _) = request_with_reply(ctx).await?;
    Ok(n)
}

pub async fn request_with_reply(ctx: &CaseContext) -> Step<(Negotiation, RecordedResponse)> {
    let consumer_pid = ConsumerPid::generate();
    let body = request_body(ctx, &consumer_pid)?;
    let reply = ctx.post_dsp(binding::NEGOTIATION_REQUEST, body).await?;
    ctx.require(reply.status.is_success(), || {
        Finding::new("status", format!("the provider refused the contract request for its own offer: {}", crate::runner::conformance::expect::quote(&reply.text())))
            .expected("201", reply.status.as_u16().to_string())
            .at(reply.seq as usize)
    })?;
    let body = ctx.expect_json(&reply).ok_or_else(|| crate::runner::conformance::CaseOutcome::Fail(Vec::new()))?;
    let provider_pid = ctx.required_str(&body, "providerPid", reply.seq)?;
    Ok((Negotiation { consumer_pid, provider_pid: ProviderPid(provider_pid), agreement: None }, reply))
}

/// Checks a reply to the initial request in full.
pub fn check_created_negotiation(ctx: &CaseContext, n: &Negotiation, reply: &RecordedResponse) {
    ctx.expect_status(reply, &[201]);
    ctx.expect_content_type_json(reply);
    if let Some(body) = ctx.expect_type(reply, "ContractNegotiation") {
        ctx.expect_pids(&body, reply.seq, Some(&n.consumer_pid), None);
        ctx.expect_state(&body, reply.seq, "REQUESTED");
    }
}

/// Asks the provider for the negotiation (`GET /negotiations/{providerPid}`) and checks that it
/// reports `state` (softly: a wrong state is a finding, the case goes on).
pub async fn expect_negotiation_state(ctx: &CaseContext, n: &Negotiation, state: NegotiationState) -> Step<bool> {
    let reply = ctx.get_dsp(&binding::negotiation(n.provider_pid.as_str())).await?;
    if !ctx.expect_status(&reply, &[200]) {
        return Ok(false);
    }
    let Some(body) = ctx.expect_type(&reply, "ContractNegotiation") else { return Ok(false) };
    let pids = ctx.expect_pids(&body, reply.seq, Some(&n.consumer_pid), Some(&n.provider_pid));
    Ok(ctx.expect_state(&body, reply.seq, state.as_str()) && pids)
}

/// After a refused termination of a negotiation the harness left in REQUESTED: it is still
/// REQUESTED (a provider that moves on its own may have agreed meanwhile, but must not be
/// TERMINATED).
pub async fn expect_negotiation_survived(ctx: &CaseContext, n: &Negotiation) -> Step<bool> {
    if ctx.provider_is_held() {
        return expect_negotiation_state(ctx, n, NegotiationState::Requested).await;
    }
    let reply = ctx.get_dsp(&binding::negotiation(n.provider_pid.as_str())).await?;
    let state = reply.json().and_then(|b| b.get("state").and_then(Value::as_str).map(str::to_string));
    if state.as_deref().map(|s| s.trim_start_matches("dspace:")) == Some("TERMINATED") {
        ctx.fail(Finding::new("state", "a refused termination terminated the negotiation").expected("not TERMINATED", "TERMINATED").at(reply.seq as usize));
        return Ok(false);
    }
    Ok(true)
}

/// Checks a message the provider sent the harness: where it went, its identifiers, its token
/// and its schema.
pub async fn check_incoming(ctx: &CaseContext, incoming: &Incoming, expected_path: &str, consumer: &ConsumerPid, provider: &ProviderPid) {
    if incoming.path != expected_path {
        ctx.fail(
            Finding::new("binding", format!("{} was sent to the wrong path", incoming.message_type.as_deref().unwrap_or("a message")))
                .expected(expected_path, incoming.path.clone())
                .at(incoming.seq as usize),
        );
    }
    if let Some(body) = &incoming.body {
        ctx.expect_pids(body, incoming.seq, Some(consumer), Some(provider));
        if let Some(kind) = &incoming.message_type {
            ctx.expect_schema_valid_body(body, kind, incoming.seq);
        }
    }
    ctx.expect_incoming_token(incoming).await;
}

fn is(kind: &'static str, consumer: ConsumerPid) -> impl Fn(&Incoming) -> bool {
    move |m: &Incoming| m.message_type.as_deref() == Some(kind) && m.str_field("consumerPid") == Some(consumer.as_str())
}

fn is_event(event: &'static str, consumer: ConsumerPid) -> impl Fn(&Incoming) -> bool {
    move |m: &Incoming| {
        m.message_type.as_deref() == Some("ContractNegotiationEventMessage") && m.str_field("consumerPid") == Some(consumer.as_str()) && m.str_field("eventType") == Some(event)
    }
}

/// Makes the provider take `step` and waits for the message it must send the harness.
pub async fn provider_negotiation_move(ctx: &CaseContext, n: &mut Negotiation, step: NegotiationStep) -> Step<Incoming> {
    let cpid = n.consumer_pid.clone();
    let (what, path): (&str, String) = match &step {
        NegotiationStep::Agree => ("ContractAgreementMessage", binding::negotiation_agreement(cpid.as_str())),
        NegotiationStep::Offer(_) => ("ContractOfferMessage", binding::negotiation_offers(cpid.as_str())),
        NegotiationStep::Finalize => ("ContractNegotiationEventMessage", binding::negotiation_events(cpid.as_str())),
        NegotiationStep::Terminate => ("ContractNegotiationTerminationMessage", binding::negotiation_termination(cpid.as_str())),
        other => return Err(crate::runner::conformance::CaseOutcome::Error(format!("a provider does not {}", other.verb()))),
    };
    ctx.negotiation_step(n.provider_pid.as_str(), step.clone()).await?;
    let incoming = match step {
        NegotiationStep::Finalize => ctx.wait_incoming("a FINALIZED event", is_event("FINALIZED", cpid.clone())).await?,
        _ => ctx.wait_incoming(&format!("a {what}"), is(what, cpid.clone())).await?,
    };
    check_incoming(ctx, &incoming, &path, &n.consumer_pid, &n.provider_pid).await;
    if what == "ContractAgreementMessage" {
        n.agreement = incoming.body.as_ref().and_then(|b| b.get("agreement")).cloned();
    }
    Ok(incoming)
}

/// The consumer messages the harness sends a provider's negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumerMessage {
    /// A counter-request (ContractRequestMessage with providerPid).
    Request,
    Accepted,
    Verification,
    Termination,
    /// A FINALIZED event, which only a provider may send.
    Finalized,
    /// A ContractAgreementMessage, which only a provider may send.
    Agreement,
}

impl ConsumerMessage {
    pub fn parse(word: &str) -> Option<ConsumerMessage> {
        Some(match word {
            "request" => ConsumerMessage::Request,
            "accepted" => ConsumerMessage::Accepted,
            "verification" => ConsumerMessage::Verification,
            "termination" => ConsumerMessage::Termination,
            "finalized" => ConsumerMessage::Finalized,
            "agreement" => ConsumerMessage::Agreement,
            _ => return None,
        })
    }
}

/// The path and body of a consumer message for `n`.
pub fn consumer_message(ctx: &CaseContext, n: &Negotiation, message: ConsumerMessage) -> Step<(String, Value)> {
    let (p, c) = (n.provider_pid.clone(), n.consumer_pid.clone());
    let ppid = p.as_str().to_string();
    Ok(match message {
        ConsumerMessage::Request => {
            let mut body = encode(
                ctx,
                DspMessage::ContractRequest(ContractRequestMessage { consumer_pid: c, provider_pid: Some(p), offer: Policy::use_offer("placeholder"), callback_address: older_callback(ctx) }),
            );
            body["offer"] = ctx.offer()?.policy.clone();
            (binding::negotiation_request(&ppid), body)
        }
        ConsumerMessage::Accepted | ConsumerMessage::Finalized => {
            let event_type = if message == ConsumerMessage::Accepted { NegotiationEventType::Accepted } else { NegotiationEventType::Finalized };
            (
                binding::negotiation_events(&ppid),
                encode(ctx, DspMessage::ContractNegotiationEvent(ContractNegotiationEventMessage { provider_pid: p, consumer_pid: c, event_type })),
            )
        }
        ConsumerMessage::Verification => {
            (binding::negotiation_verification(&ppid), encode(ctx, DspMessage::ContractAgreementVerification(PidPair { provider_pid: p, consumer_pid: c })))
        }
        ConsumerMessage::Termination => (
            binding::negotiation_termination(&ppid),
            encode(
                ctx,
                DspMessage::ContractNegotiationTermination(CodedPidMessage {
                    provider_pid: p,
                    consumer_pid: c,
                    code: Some("dsp-harness".to_string()),
                    reason: vec![json!("terminated by the dsp-harness")],
                }),
            ),
        ),
        ConsumerMessage::Agreement => {
            let offer = ctx.offer()?;
            let mut agreement = Policy::use_offer(AgreementId::generate().0).with_kind("Agreement", AgreementId::generate().0);
            agreement.target = Some(offer.dataset.clone());
            agreement.assigner = Some(ctx.connector().participant_id.clone());
            agreement.assignee = Some(ctx.identity().participant_id.clone());
            agreement.timestamp = Some(chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string());
            (
                binding::negotiation_agreement(&ppid),
                encode(ctx, DspMessage::ContractAgreement(ContractAgreementMessage { provider_pid: p, consumer_pid: c, agreement, callback_address: older_callback(ctx) })),
            )
        }
    })
}

/// Sends a consumer message and returns the provider's reply, unjudged.
pub async fn send(ctx: &CaseContext, n: &Negotiation, message: ConsumerMessage) -> Step<RecordedResponse> {
    let (path, body) = consumer_message(ctx, n, message)?;
    ctx.post_dsp(&path, body).await
}

/// Sends a consumer message the provider must accept (2xx); stops the case otherwise.
pub async fn send_ok(ctx: &CaseContext, n: &Negotiation, message: ConsumerMessage) -> Step<RecordedResponse> {
    let reply = send(ctx, n, message).await?;
    accepted(ctx, reply, &format!("{message:?}"))
}

/// Stops the case unless the provider accepted (2xx) a valid message.
pub fn accepted(ctx: &CaseContext, reply: RecordedResponse, what: &str) -> Step<RecordedResponse> {
    ctx.require(reply.status.is_success(), || {
        Finding::new("status", format!("the provider refused a valid {what} message: {}", crate::runner::conformance::expect::quote(&reply.text())))
            .expected("2xx", reply.status.as_u16().to_string())
            .at(reply.seq as usize)
    })?;
    Ok(reply)
}

/// Whether the provider refused a message with a 4xx and an error body of `error_type`;
/// soft: a finding when it did not, and the case goes on.
pub fn refused(ctx: &CaseContext, reply: &RecordedResponse, error_type: &str) -> bool {
    let before = ctx.findings().len();
    ctx.expect_error_body(reply, error_type, &[]);
    ctx.findings().len() == before
}

/// Sends a consumer message the provider must refuse: a 4xx with a ContractNegotiationError
/// naming the process. Soft: findings, the case goes on.
pub async fn send_refused(ctx: &CaseContext, n: &Negotiation, message: ConsumerMessage) -> Step<bool> {
    let reply = send(ctx, n, message).await?;
    Ok(refused(ctx, &reply, "ContractNegotiationError"))
}

/// The states a provider-side negotiation can be walked into.
pub fn parse_negotiation_state(word: &str) -> Option<NegotiationState> {
    NegotiationState::parse(&word.to_ascii_uppercase())
}

/// Walks a new negotiation on the provider into `state`, checking every step on the way.
///
/// A provider that acts on its own (EDC) is not held: the harness requests and waits for the
/// states it reaches by itself (it agrees, then waits for the consumer's verification, then
/// finalizes), which reaches TERMINATED, AGREED and FINALIZED. Only the states it passes
/// through without waiting (REQUESTED, VERIFIED) or never enters without being told
/// (OFFERED, ACCEPTED) are skipped.
pub async fn negotiation_in(ctx: &CaseContext, state: NegotiationState) -> Step<Negotiation> {
    use NegotiationState as S;
    if !ctx.provider_is_held() {
        return negotiation_reached(ctx, state).await;
    }
    let steps: &[NegotiationStep] = match state {
        S::Requested | S::Terminated => &[],
        S::Offered | S::Accepted => &[NegotiationStep::Offer(None)],
        S::Agreed | S::Verified => &[NegotiationStep::Agree],
        S::Finalized => &[NegotiationStep::Agree, NegotiationStep::Finalize],
    };
    ctx.require_negotiation_steps(steps)?;
    let mut n = request(ctx).await?;
    match state {
        S::Requested => {}
        S::Terminated => {
            send_ok(ctx, &n, ConsumerMessage::Termination).await?;
        }
        S::Offered => {
            provider_negotiation_move(ctx, &mut n, NegotiationStep::Offer(None)).await?;
        }
        S::Accepted => {
            provider_negotiation_move(ctx, &mut n, NegotiationStep::Offer(None)).await?;
            send_ok(ctx, &n, ConsumerMessage::Accepted).await?;
        }
        S::Agreed => {
            provider_negotiation_move(ctx, &mut n, NegotiationStep::Agree).await?;
        }
        S::Verified => {
            provider_negotiation_move(ctx, &mut n, NegotiationStep::Agree).await?;
            send_ok(ctx, &n, ConsumerMessage::Verification).await?;
        }
        S::Finalized => {
            provider_negotiation_move(ctx, &mut n, NegotiationStep::Agree).await?;
            send_ok(ctx, &n, ConsumerMessage::Verification).await?;
            provider_negotiation_move(ctx, &mut n, NegotiationStep::Finalize).await?;
        }
    }
    Ok(n)
}

/// [`negotiation_in`] for a provider that acts on its own: wait for the state it reaches.
/// REQUESTED and VERIFIED it leaves by itself, after a while of its own choosing (EDC's state
/// machine runs in ticks): the harness acts in that window, having seen the state with a GET
/// first, and skips only when the provider has moved on already. Checks that follow accept
/// the state the provider reaches by itself from there ([`expect_negotiation_stays`]).
async fn negotiation_reached(ctx: &CaseContext, state: NegotiationState) -> Step<Negotiation> {
    use NegotiationState as S;
    match state {
        S::Requested | S::Verified => {}
        S::Offered | S::Accepted => ctx.require_held_provider(&format!(
            "it is never told to counter-offer, so a negotiation never reaches {} (the only DSP way there is an offer from the provider)",
            state.as_str()
        ))?,
        S::Terminated | S::Agreed | S::Finalized => {}
    }
    let mut n = request(ctx).await?;
    match state {
        S::Requested => still_in(ctx, &n, state).await?,
        S::Terminated => {
            // Whether the provider has agreed yet or not, a termination is valid.
            send_ok(ctx, &n, ConsumerMessage::Termination).await?;
        }
        S::Agreed => await_agreement(ctx, &mut n).await?,
        S::Verified => {
            await_agreement(ctx, &mut n).await?;
            send_ok(ctx, &n, ConsumerMessage::Verification).await?;
            still_in(ctx, &n, state).await?;
        }
        _ => {
            await_agreement(ctx, &mut n).await?;
            send_ok(ctx, &n, ConsumerMessage::Verification).await?;
            await_finalized(ctx, &n).await?;
        }
    }
    Ok(n)
}

/// The state a provider that acts on its own moves on to from `state` without the consumer.
pub fn own_successor(state: NegotiationState) -> Option<NegotiationState> {
    match state {
        NegotiationState::Requested => Some(NegotiationState::Agreed),
        NegotiationState::Verified => Some(NegotiationState::Finalized),
        _ => None,
    }
}

/// The negotiation's state as the provider reports it, without judging the reply.
pub async fn negotiation_state_now(ctx: &CaseContext, n: &Negotiation) -> Step<Option<String>> {
    let reply = ctx.get_dsp(&binding::negotiation(n.provider_pid.as_str())).await?;
    Ok(reply.json().and_then(|b| b.get("state").and_then(Value::as_str).map(|s| s.rsplit([':', '/']).next().unwrap_or(s).to_string())))
}

/// Skips unless the negotiation is still in `state` (a provider that acts on its own may have
/// left it before the harness could act there).
async fn still_in(ctx: &CaseContext, n: &Negotiation, state: NegotiationState) -> Step {
    match negotiation_state_now(ctx, n).await? {
        Some(now) if now == state.as_str() => Ok(()),
        now => ctx.require_held_provider(&format!(
            "it left {} (it was {}) before the harness could act in that state",
            state.as_str(),
            now.as_deref().unwrap_or("unreadable")
        )),
    }
}

/// Skips when the provider has moved on by itself from `state` to where a message the harness
/// sent in `state` is valid, so that its acceptance says nothing about `state`.
pub async fn skip_if_moved_on(ctx: &CaseContext, n: &Negotiation, state: NegotiationState) -> Step {
    if ctx.provider_is_held() {
        return Ok(());
    }
    let Some(next) = own_successor(state) else { return Ok(()) };
    match negotiation_state_now(ctx, n).await? {
        Some(now) if now != state.as_str() && (now == next.as_str() || now == "VERIFIED" || now == "FINALIZED") => ctx.require_held_provider(&format!(
            "it moved from {} to {} by itself before the harness's message arrived, where that message is valid, so the case cannot be judged",
            state.as_str(),
            next.as_str()
        )),
        _ => Ok(()),
    }
}

/// Like [`expect_negotiation_state`], for a negotiation the harness left in `state`: a provider
/// that acts on its own may also be in the state it reaches by itself from there.
pub async fn expect_negotiation_stays(ctx: &CaseContext, n: &Negotiation, state: NegotiationState) -> Step<bool> {
    let next = own_successor(state).filter(|_| !ctx.provider_is_held());
    let Some(next) = next else { return expect_negotiation_state(ctx, n, state).await };
    let reply = ctx.get_dsp(&binding::negotiation(n.provider_pid.as_str())).await?;
    if !ctx.expect_status(&reply, &[200]) {
        return Ok(false);
    }
    let Some(body) = ctx.expect_type(&reply, "ContractNegotiation") else { return Ok(false) };
    let pids = ctx.expect_pids(&body, reply.seq, Some(&n.consumer_pid), Some(&n.provider_pid));
    let now = body.get("state").and_then(Value::as_str).map(|s| s.rsplit([':', '/']).next().unwrap_or(s).to_string()).unwrap_or_default();
    if now != state.as_str() && now != next.as_str() {
        ctx.fail(
            Finding::new("state", format!("the negotiation did not stay {} (or move on to {} by the provider's own move)", state.as_str(), next.as_str()))
                .expected(format!("{} or {}", state.as_str(), next.as_str()), now)
                .at(reply.seq as usize),
        );
        return Ok(false);
    }
    Ok(pids)
}

/// Waits for the agreement a provider sends on its own and checks it.
pub async fn await_agreement(ctx: &CaseContext, n: &mut Negotiation) -> Step {
    let cpid = n.consumer_pid.clone();
    let agreement = ctx.wait_incoming("a ContractAgreementMessage", is("ContractAgreementMessage", cpid.clone())).await?;
    check_incoming(ctx, &agreement, &binding::negotiation_agreement(cpid.as_str()), &n.consumer_pid, &n.provider_pid).await;
    n.agreement = agreement.body.as_ref().and_then(|b| b.get("agreement")).cloned();
    Ok(())
}

/// Waits for the FINALIZED event a provider sends on its own after the verification.
pub async fn await_finalized(ctx: &CaseContext, n: &Negotiation) -> Step {
    let cpid = n.consumer_pid.clone();
    let finalized = ctx.wait_incoming("a FINALIZED event", is_event("FINALIZED", cpid.clone())).await?;
    check_incoming(ctx, &finalized, &binding::negotiation_events(cpid.as_str()), &n.consumer_pid, &n.provider_pid).await;
    Ok(())
}

/// A finalized agreement to transfer under: the negotiation and the agreement id. A provider
/// that acts on its own (EDC) is left to agree and finalize by itself; the harness only
/// requests and verifies.
pub async fn finalized_agreement(ctx: &CaseContext) -> Step<(Negotiation, String)> {
    let n = negotiation_in(ctx, NegotiationState::Finalized).await?;
    let id = n.agreement.as_ref().and_then(|a| a.get("@id")).and_then(Value::as_str).map(str::to_string);
    match id {
        Some(id) => Ok((n, id)),
        None => Err(ctx.fail_now(Finding::new("body", "the provider's ContractAgreementMessage carries no agreement @id"))),
    }
}

// ---------------------------------------------------------------------------------------------
// Transfers

/// The transfer request for `agreement_id`.
pub fn transfer_request_body(ctx: &CaseContext, consumer_pid: &ConsumerPid, agreement_id: &str) -> Value {
    encode(
        ctx,
        DspMessage::TransferRequest(TransferRequestMessage {
            consumer_pid: consumer_pid.clone(),
            agreement_id: AgreementId(agreement_id.to_string()),
            format: PULL.to_string(),
            data_address: None,
            callback_address: ctx.mailbox().url().to_string(),
        }),
    )
}

/// Requests a pull transfer under `agreement_id`; stops unless the provider created it.
pub async fn transfer_request(ctx: &CaseContext, agreement_id: &str) -> Step<(Transfer, RecordedResponse)> {
    let consumer_pid = ConsumerPid::generate();
    let reply = ctx.post_dsp(binding::TRANSFER_REQUEST, transfer_request_body(ctx, &consumer_pid, agreement_id)).await?;
    ctx.require(reply.status.is_success(), || {
        Finding::new("status", format!("the provider refused a transfer request under a finalized agreement: {}", crate::runner::conformance::expect::quote(&reply.text())))
            .expected("201", reply.status.as_u16().to_string())
            .at(reply.seq as usize)
    })?;
    let body = ctx.expect_json(&reply).ok_or_else(|| crate::runner::conformance::CaseOutcome::Fail(Vec::new()))?;
    let provider_pid = ctx.required_str(&body, "providerPid", reply.seq)?;
    Ok((Transfer { consumer_pid, provider_pid: ProviderPid(provider_pid), agreement_id: agreement_id.to_string(), data_address: None }, reply))
}

/// Checks a reply to a transfer request in full.
pub fn check_created_transfer(ctx: &CaseContext, t: &Transfer, reply: &RecordedResponse) {
    ctx.expect_status(reply, &[201]);
    ctx.expect_content_type_json(reply);
    if let Some(body) = ctx.expect_type(reply, "TransferProcess") {
        ctx.expect_pids(&body, reply.seq, Some(&t.consumer_pid), None);
        ctx.expect_state(&body, reply.seq, "REQUESTED");
    }
}

/// Asks the provider for the transfer process and checks that it reports `state` (softly).
pub async fn expect_transfer_state(ctx: &CaseContext, t: &Transfer, state: TransferState) -> Step<bool> {
    let reply = ctx.get_dsp(&binding::transfer(t.provider_pid.as_str())).await?;
    if !ctx.expect_status(&reply, &[200]) {
        return Ok(false);
    }
    let Some(body) = ctx.expect_type(&reply, "TransferProcess") else { return Ok(false) };
    let pids = ctx.expect_pids(&body, reply.seq, Some(&t.consumer_pid), Some(&t.provider_pid));
    Ok(ctx.expect_state(&body, reply.seq, state.as_str()) && pids)
}

/// The transfer's state as the provider reports it, without judging the reply.
pub async fn transfer_state_now(ctx: &CaseContext, t: &Transfer) -> Step<Option<String>> {
    let reply = ctx.get_dsp(&binding::transfer(t.provider_pid.as_str())).await?;
    Ok(reply.json().and_then(|b| b.get("state").and_then(Value::as_str).map(|s| s.rsplit([':', '/']).next().unwrap_or(s).to_string())))
}

/// Like [`expect_transfer_state`], for a transfer the harness left in `state`: a provider that
/// starts on its own may have started a REQUESTED one meanwhile.
pub async fn expect_transfer_stays(ctx: &CaseContext, t: &Transfer, state: TransferState) -> Step<bool> {
    if ctx.provider_is_held() || state != TransferState::Requested {
        return expect_transfer_state(ctx, t, state).await;
    }
    let reply = ctx.get_dsp(&binding::transfer(t.provider_pid.as_str())).await?;
    if !ctx.expect_status(&reply, &[200]) {
        return Ok(false);
    }
    let Some(body) = ctx.expect_type(&reply, "TransferProcess") else { return Ok(false) };
    let pids = ctx.expect_pids(&body, reply.seq, Some(&t.consumer_pid), Some(&t.provider_pid));
    let now = body.get("state").and_then(Value::as_str).map(|s| s.rsplit([':', '/']).next().unwrap_or(s).to_string()).unwrap_or_default();
    if now != "REQUESTED" && now != "STARTED" {
        ctx.fail(
            Finding::new("state", "the transfer did not stay REQUESTED (or start by the provider's own move)")
                .expected("REQUESTED or STARTED", now)
                .at(reply.seq as usize),
        );
        return Ok(false);
    }
    Ok(pids)
}

/// Makes the provider take a transfer step and waits for the message it must send. `nth`
/// passes over earlier messages of the same kind (a restart's second start message).
pub async fn provider_transfer_move(ctx: &CaseContext, t: &mut Transfer, step: TransferStep, nth: usize) -> Step<Incoming> {
    let cpid = t.consumer_pid.as_str().to_string();
    let (what, path) = match step {
        TransferStep::Start | TransferStep::Resume => ("TransferStartMessage", binding::transfer_start(&cpid)),
        TransferStep::Complete => ("TransferCompletionMessage", binding::transfer_completion(&cpid)),
        TransferStep::Suspend => ("TransferSuspensionMessage", binding::transfer_suspension(&cpid)),
        TransferStep::Terminate => ("TransferTerminationMessage", binding::transfer_termination(&cpid)),
    };
    ctx.transfer_step(t.provider_pid.as_str(), step).await?;
    let incoming = ctx.wait_incoming_nth(&format!("a {what}"), nth, is(what, t.consumer_pid.clone())).await?;
    check_incoming(ctx, &incoming, &path, &t.consumer_pid, &t.provider_pid).await;
    if what == "TransferStartMessage" {
        t.data_address = incoming.body.as_ref().and_then(|b| b.get("dataAddress")).cloned();
    }
    Ok(incoming)
}

/// Waits for a start message the provider sends on its own (after a consumer's restart).
pub async fn await_start(ctx: &CaseContext, t: &mut Transfer, nth: usize) -> Step<Incoming> {
    let incoming = ctx.wait_incoming_nth("a TransferStartMessage", nth, is("TransferStartMessage", t.consumer_pid.clone())).await?;
    check_incoming(ctx, &incoming, &binding::transfer_start(t.consumer_pid.as_str()), &t.consumer_pid, &t.provider_pid).await;
    t.data_address = incoming.body.as_ref().and_then(|b| b.get("dataAddress")).cloned();
    Ok(incoming)
}

/// The consumer messages of a transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferMessage {
    Start,
    Suspension,
    Completion,
    Termination,
}

impl TransferMessage {
    pub fn parse(word: &str) -> Option<TransferMessage> {
        Some(match word {
            "start" => TransferMessage::Start,
            "suspension" => TransferMessage::Suspension,
            "completion" => TransferMessage::Completion,
            "termination" => TransferMessage::Termination,
            _ => return None,
        })
    }
}

pub fn transfer_message(ctx: &CaseContext, t: &Transfer, message: TransferMessage) -> (String, Value) {
    let (p, c) = (t.provider_pid.clone(), t.consumer_pid.clone());
    let ppid = p.as_str().to_string();
    let coded = |p: ProviderPid, c: ConsumerPid| CodedPidMessage { provider_pid: p, consumer_pid: c, code: Some("dsp-harness".to_string()), reason: vec![json!("by the dsp-harness")] };
    match message {
        TransferMessage::Start => {
            (binding::transfer_start(&ppid), encode(ctx, DspMessage::TransferStart(TransferStartMessage { provider_pid: p, consumer_pid: c, data_address: None })))
        }
        TransferMessage::Suspension => (binding::transfer_suspension(&ppid), encode(ctx, DspMessage::TransferSuspension(coded(p, c)))),
        TransferMessage::Completion => (binding::transfer_completion(&ppid), encode(ctx, DspMessage::TransferCompletion(PidPair { provider_pid: p, consumer_pid: c }))),
        TransferMessage::Termination => (binding::transfer_termination(&ppid), encode(ctx, DspMessage::TransferTermination(coded(p, c)))),
    }
}

pub async fn send_transfer(ctx: &CaseContext, t: &Transfer, message: TransferMessage) -> Step<RecordedResponse> {
    let (path, body) = transfer_message(ctx, t, message);
    ctx.post_dsp(&path, body).await
}

pub async fn send_transfer_ok(ctx: &CaseContext, t: &Transfer, message: TransferMessage) -> Step<RecordedResponse> {
    let reply = send_transfer(ctx, t, message).await?;
    accepted(ctx, reply, &format!("{message:?}"))
}

pub async fn send_transfer_refused(ctx: &CaseContext, t: &Transfer, message: TransferMessage) -> Step<bool> {
    let reply = send_transfer(ctx, t, message).await?;
    Ok(refused(ctx, &reply, "TransferError"))
}

/// Walks a new transfer on the provider (under a fresh finalized agreement) into `state`.
pub async fn transfer_in(ctx: &CaseContext, state: TransferState) -> Step<Transfer> {
    use TransferState as S;
    let held = ctx.provider_is_held();
    if held {
        ctx.require_negotiation_steps(&[NegotiationStep::Agree, NegotiationStep::Finalize])?;
        if state != S::Requested {
            ctx.require_transfer_steps(&[TransferStep::Start])?;
        }
    }
    let (_, agreement) = finalized_agreement(ctx).await?;
    let (mut t, _) = transfer_request(ctx, &agreement).await?;
    if state == S::Requested {
        // A provider that starts on its own does so after a while of its own choosing: the
        // harness acts in that window, and skips only when the start came first.
        if !held {
            match transfer_state_now(ctx, &t).await? {
                Some(now) if now == "REQUESTED" => {}
                now => ctx.require_held_provider(&format!(
                    "it started the requested transfer (it was {}) before the harness could act in REQUESTED",
                    now.as_deref().unwrap_or("unreadable")
                ))?,
            }
        }
        return Ok(t);
    }
    if held {
        provider_transfer_move(ctx, &mut t, TransferStep::Start, 0).await?;
    } else {
        await_start(ctx, &mut t, 0).await?;
    }
    match state {
        S::Requested | S::Started => {}
        S::Suspended => {
            send_transfer_ok(ctx, &t, TransferMessage::Suspension).await?;
        }
        S::Completed => {
            send_transfer_ok(ctx, &t, TransferMessage::Completion).await?;
        }
        S::Terminated => {
            send_transfer_ok(ctx, &t, TransferMessage::Termination).await?;
        }
    }
    Ok(t)
}

/// The endpoint and authorization of a pull's data address.
pub fn pull_endpoint(address: &Value) -> Option<(String, Option<String>)> {
    let endpoint = address.get("endpoint").and_then(Value::as_str)?.to_string();
    let auth = address
        .get("endpointProperties")
        .and_then(Value::as_array)
        // Connectors name the property plainly or with a vocabulary prefix (EDC's namespace).
        .and_then(|props| props.iter().find(|p| p.get("name").and_then(Value::as_str).and_then(|n| n.rsplit(['/', '#', ':']).next()) == Some("authorization")))
        .and_then(|p| p.get("value"))
        .and_then(Value::as_str)
        .map(str::to_string);
    Some((endpoint, auth))
}

/// The callback address the older DSP versions require on every request, offer and agreement
/// (2025-1 wants it only on initial messages).
fn older_callback(ctx: &CaseContext) -> Option<String> {
    (ctx.version() != crate::protocol::ProtocolVersion::V2025_1).then(|| ctx.mailbox().url().to_string())
}
