//! Shared steps of the consumer-role checks: starting the harness provider for a case,
//! making the connector under test (the consumer) request a contract or a transfer from it,
//! judging what the consumer sent the harness, making the harness's own moves, and reading
//! the consumer's view of a process.
//!
//! Everything the consumer gets wrong becomes a finding. The harness's own trouble (it cannot
//! bind, the management API refuses to start a process) is an error; what the target cannot
//! be made to do is a skip.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::protocol::{binding, AgreementId, ConsumerPid, MessageKind, NegotiationState, ProviderPid, TransferState};
use crate::report::model::Finding;
use crate::runner::conformance::{CaseContext, CaseOutcome, NegotiationStep, Step, TokenSource, TransferStep};
use crate::runner::counterparty::{
    CounterpartyError, HarnessNegotiation, HarnessProvider, HarnessProviderConfig, HarnessTransfer, IncomingTokens, NegotiationMove, OutgoingTokens, Received,
    SendOptions, Token, TransferMove,
};
use crate::recording::RecordedResponse;
use crate::target::ManagementClient;

/// How often the consumer's view of a process is polled while waiting for it to move.
const POLL: Duration = Duration::from_millis(50);

/// Starts the harness provider for one case: it is the participant the run's harness
/// identity names, presents the tokens the run's token source makes for the connector under
/// test, checks the consumer's tokens with the run's verifier, and listens where the run's
/// callback server does (so a connector in a container reaches it the same way).
pub(crate) async fn start(ctx: &CaseContext) -> Step<HarnessProvider> {
    let identity = ctx.identity();
    let (outgoing, incoming) = match ctx.tokens() {
        TokenSource::Daps { client, .. } => {
            let outgoing = OutgoingTokens::Daps { client: client.clone(), audience: ctx.connector().audience().to_string() };
            (outgoing, identity.verifier.clone().map(IncomingTokens::Daps).unwrap_or(IncomingTokens::PresenceOnly))
        }
        TokenSource::Static { token } => (OutgoingTokens::Fixed(token.clone()), identity.verifier.clone().map(IncomingTokens::Daps).unwrap_or(IncomingTokens::PresenceOnly)),
        TokenSource::None => (OutgoingTokens::None, IncomingTokens::Unchecked),
    };
    let config = HarnessProviderConfig {
        participant_id: identity.participant_id.clone(),
        outgoing,
        incoming,
        peer_name: ctx.name().to_string(),
        client: ctx.client().clone(),
        bind: identity.callback.bind.clone(),
        advertised_host: identity.callback.advertised_host.clone(),
        url_rewrites: ctx.connector().url_rewrites.clone(),
        version: ctx.version(),
    };
    HarnessProvider::start(config).await.map_err(|e| CaseOutcome::Error(e.to_string()))
}

fn harness_error(e: CounterpartyError) -> CaseOutcome {
    CaseOutcome::Error(e.to_string())
}

fn wait(ctx: &CaseContext) -> Duration {
    ctx.timing().wait
}

// ---------------------------------------------------------------------------------------------
// What the consumer sent

/// Judges a message the consumer sent: a valid token, a schema-valid body, and an answer of
/// success from the harness (which refuses wrong pids, unknown offers, bad transitions).
/// Records a finding for each problem and returns whether there was none.
pub(crate) fn expect_sent_well(ctx: &CaseContext, received: &Received, what: &str) -> bool {
    let before = ctx.findings().len();
    let at = received.seq as usize;
    if let crate::runner::counterparty::CallerToken::Refused(reason) = &received.token {
        ctx.fail(Finding::new("identity", format!("the {} sent {what} without a valid token: {reason}", ctx.name())).expected("a valid DAT for the harness", reason.clone()).at(at));
    }
    for v in &received.violations {
        let path = if v.instance_path.is_empty() { "/" } else { &v.instance_path };
        ctx.fail(Finding::new("schema", format!("{what} violates the {} schema at {path}: {}", v.schema, v.message)).at(at));
    }
    if !(200..300).contains(&received.status) && ctx.findings().len() == before {
        let reason = received.refusal.clone().unwrap_or_default();
        ctx.fail(Finding::new("protocol", format!("the harness provider had to refuse {what}: {reason}")).expected("a message the provider can accept", reason).at(at));
    }
    ctx.findings().len() == before
}

/// Waits for the consumer to send a message of `kind` about the harness's process `pid`
/// after the first `since` requests (a [`HarnessProvider::received_count`] taken before the
/// move that prompts it), and judges it.
pub(crate) async fn expect_message(ctx: &CaseContext, hp: &HarnessProvider, pid: &ProviderPid, kind: MessageKind, since: usize, what: &str) -> Step<Received> {
    let Some(received) = hp.wait_for_message(pid, kind, since, wait(ctx)).await else {
        return Err(ctx.fail_now(Finding::new("timeout", format!("the {} did not send {what} within {} ms", ctx.name(), wait(ctx).as_millis()))));
    };
    expect_sent_well(ctx, &received, what);
    ctx.checkpoint()?;
    Ok(received)
}

/// Makes the consumer take a negotiation step through its management API and waits for the
/// message the step sends. When the harness received that message, a failed management call
/// is the consumer's fault and what the harness saw is judged; when nothing came, the step's
/// own outcome stands.
pub(crate) async fn consumer_negotiation_step(
    ctx: &CaseContext,
    hp: &HarnessProvider,
    n: &Negotiation,
    step: NegotiationStep,
    kind: MessageKind,
    what: &str,
) -> Step<Received> {
    let since = hp.received_count();
    let result = ctx.negotiation_step(&n.id, step).await;
    message_after_step(ctx, hp, &n.provider_pid, kind, what, since, result).await
}

/// Waits for the message a management step made the consumer send (received after `since`),
/// and judges it. A skipped step skips; a failed step leaves nothing to wait for, because the
/// reference connector sends before its management call returns.
async fn message_after_step(ctx: &CaseContext, hp: &HarnessProvider, provider_pid: &ProviderPid, kind: MessageKind, what: &str, since: usize, result: Step) -> Step<Received> {
    if let Err(CaseOutcome::Skip(reason)) = result {
        return Err(CaseOutcome::Skip(reason));
    }
    let window = if result.is_ok() { wait(ctx) } else { Duration::ZERO };
    match hp.wait_for_message(provider_pid, kind, since, window).await {
        Some(received) => {
            expect_sent_well(ctx, &received, what);
            ctx.checkpoint()?;
            Ok(received)
        }
        None => {
            result?;
            Err(ctx.fail_now(Finding::new("timeout", format!("the {} did not send {what} within {} ms", ctx.name(), wait(ctx).as_millis()))))
        }
    }
}

/// Like [`consumer_negotiation_step`] for a transfer step.
pub(crate) async fn consumer_transfer_step(ctx: &CaseContext, hp: &HarnessProvider, t: &Transfer, step: TransferStep, kind: MessageKind, what: &str) -> Step<Received> {
    let since = hp.received_count();
    let result = ctx.transfer_step(&t.id, step).await;
    message_after_step(ctx, hp, &t.provider_pid, kind, what, since, result).await
}

// ---------------------------------------------------------------------------------------------
// Negotiations

/// Whether the consumer verifies an agreement on its own or waits to be told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verifying {
    /// As a production consumer does.
    OnItsOwn,
    /// The consumer waits in AGREED (the reference connector's manual mode); cases needing
    /// this are skipped for other targets.
    WhenTold,
}

/// A negotiation between the consumer and the harness provider.
#[derive(Debug, Clone)]
pub(crate) struct Negotiation {
    /// The consumer's own id of it (its management API's id).
    pub id: String,
    pub provider_pid: ProviderPid,
    pub consumer_pid: ConsumerPid,
    /// The consumer's callback address.
    pub callback: String,
}

impl Negotiation {
    fn of(id: String, n: &HarnessNegotiation) -> Negotiation {
        Negotiation {
            id,
            provider_pid: n.provider_pid.clone(),
            consumer_pid: n.consumer_pid.clone().unwrap_or_else(|| ConsumerPid(String::new())),
            callback: n.callback_address.clone(),
        }
    }
}

fn protocol(ctx: &CaseContext) -> &'static str {
    ctx.connector().version.edc_protocol()
}

/// Makes the consumer request the harness's offer through its management API, and judges
/// the contract request that arrives.
pub(crate) async fn consumer_requests(ctx: &CaseContext, hp: &HarnessProvider, verifying: Verifying) -> Step<Negotiation> {
    let (id, received) = consumer_sends_request(ctx, hp, verifying).await?;
    expect_sent_well(ctx, &received, "its contract request");
    ctx.checkpoint()?;
    let n = received.provider_pid.as_ref().and_then(|pid| hp.negotiation(pid)).ok_or_else(|| CaseOutcome::Error("the harness accepted a request but recorded no negotiation".to_string()))?;
    Ok(Negotiation::of(id, &n))
}

/// Makes the consumer request the harness's offer and returns its id of the negotiation and
/// the contract request as the harness received it, unjudged.
pub(crate) async fn consumer_sends_request(ctx: &CaseContext, hp: &HarnessProvider, verifying: Verifying) -> Step<(String, Received)> {
    let management = ctx.management()?;
    let id = match verifying {
        Verifying::OnItsOwn => management.initiate_negotiation(&hp.dsp_url(), hp.participant_id(), protocol(ctx), &hp.offer_json()).await,
        Verifying::WhenTold => {
            if !ctx.capabilities().holds_consumer_verification {
                return Err(CaseOutcome::Skip(format!(
                    "the case needs a consumer that waits in AGREED until told to verify; the {} management API verifies agreements on its own",
                    ctx.connector().management.name()
                )));
            }
            let (offer, address) = (hp.offer_json(), hp.dsp_url());
            let request = crate::target::driver::HeldRequest { counter_party_address: &address, counter_party_id: hp.participant_id(), protocol: protocol(ctx), offer: &offer };
            ctx.connector().management.initiate_held_negotiation(&management, request).await
        }
    }
    .map_err(|e| CaseOutcome::Error(format!("the management API did not start a negotiation: {e}")))?;
    match hp.wait_for_received(wait(ctx), |r| r.kind == Some(MessageKind::ContractRequestMessage) && r.path.ends_with(binding::NEGOTIATION_REQUEST)).await {
        Some(received) => Ok((id, received)),
        None => Err(ctx.fail_now(Finding::new("timeout", format!("the {} sent no ContractRequestMessage within {} ms", ctx.name(), wait(ctx).as_millis())))),
    }
}

/// Makes a harness move in a negotiation; the harness's trouble stops the case with an error.
pub(crate) async fn provider_moves(hp: &HarnessProvider, n: &Negotiation, mv: NegotiationMove) -> Step<RecordedResponse> {
    hp.negotiation_move(&n.provider_pid, mv).await.map_err(harness_error)
}

/// Makes a harness move with options (a bad token, an unknown pid).
pub(crate) async fn provider_moves_with(hp: &HarnessProvider, n: &Negotiation, mv: NegotiationMove, options: &SendOptions) -> Step<RecordedResponse> {
    hp.negotiation_move_with(&n.provider_pid, mv, options).await.map_err(harness_error)
}

/// The consumer accepted a move of the harness: a success status. Stops the case otherwise,
/// since what follows builds on the move.
pub(crate) fn expect_taken(ctx: &CaseContext, reply: &RecordedResponse, what: &str) -> Step {
    if !reply.status.is_success() {
        ctx.fail(
            Finding::new("status", format!("the {} refused {what} with {}: {}", ctx.name(), reply.status.as_u16(), crate::runner::conformance::expect::quote(&reply.text())))
                .expected("2xx", reply.status.as_u16().to_string())
                .at(reply.seq as usize),
        );
    }
    ctx.checkpoint()
}

/// The consumer refused a move with `status` and the protocol's error body naming the
/// process's pids.
pub(crate) fn expect_refused(ctx: &CaseContext, reply: &RecordedResponse, error_type: &str, statuses: &[u16], pids: Option<(&ConsumerPid, &ProviderPid)>) {
    if let Some(body) = ctx.expect_error_body(reply, error_type, statuses) {
        if let Some((consumer, provider)) = pids {
            ctx.expect_pids(&body, reply.seq, Some(consumer), Some(provider));
        }
    }
}

/// Whether to wait for the consumer's view to reach a state or to look once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Look {
    /// Poll until the state shows or the run's wait time passes (after an asynchronous move).
    Until,
    /// Look once (after a refused message, which must have changed nothing).
    Now,
}

/// The consumer's view of a negotiation is `state`.
///
/// DSP 2025-1 defines `GET /negotiations/{pid}` on the provider only, so a conformant consumer
/// may answer it 404. The state is read where the target's driver says it can be: through the
/// management API (EDC v3: `GET /v3/contractnegotiations/{id}/state`), or, where the connector
/// serves the read on its consumer side too (the reference connector), from that DSP
/// document: 200, a schema-valid `ContractNegotiation` with both pids, in `state`.
pub(crate) async fn expect_negotiation_state(ctx: &CaseContext, hp: &HarnessProvider, n: &Negotiation, state: NegotiationState, look: Look) -> Step {
    if !ctx.capabilities().consumer_dsp_reads {
        return expect_management_state(ctx, Process::Negotiation, &n.id, state.as_str(), look).await;
    }
    let path = binding::negotiation(n.consumer_pid.as_str());
    let reply = poll_state(ctx, hp, &n.callback, &path, (state.as_str(), n.consumer_pid.as_str(), n.provider_pid.as_str()), look).await?;
    ctx.require(ctx.expect_status(&reply, &[200]), || Finding::new("status", "the consumer does not report the negotiation"))?;
    if let Some(body) = ctx.expect_type(&reply, "ContractNegotiation") {
        ctx.expect_pids(&body, reply.seq, Some(&n.consumer_pid), Some(&n.provider_pid));
        ctx.expect_state(&body, reply.seq, state.as_str());
    }
    ctx.checkpoint()
}

/// The consumer's view of a transfer, read like [`expect_negotiation_state`].
pub(crate) async fn expect_transfer_state(ctx: &CaseContext, hp: &HarnessProvider, t: &Transfer, state: TransferState, look: Look) -> Step {
    if !ctx.capabilities().consumer_dsp_reads {
        return expect_management_state(ctx, Process::Transfer, &t.id, state.as_str(), look).await;
    }
    let path = binding::transfer(t.consumer_pid.as_str());
    let reply = poll_state(ctx, hp, &t.callback, &path, (state.as_str(), t.consumer_pid.as_str(), t.provider_pid.as_str()), look).await?;
    ctx.require(ctx.expect_status(&reply, &[200]), || Finding::new("status", "the consumer does not report the transfer process"))?;
    if let Some(body) = ctx.expect_type(&reply, "TransferProcess") {
        ctx.expect_pids(&body, reply.seq, Some(&t.consumer_pid), Some(&t.provider_pid));
        ctx.expect_state(&body, reply.seq, state.as_str());
    }
    ctx.checkpoint()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Process {
    Negotiation,
    Transfer,
}

/// Reads the consumer's state of a process through its management API: polls until it shows
/// `state` (or a final state that is not it), or looks once.
async fn expect_management_state(ctx: &CaseContext, process: Process, id: &str, state: &str, look: Look) -> Step {
    let management = ctx.management().map_err(|_| {
        CaseOutcome::Skip(format!(
            "the case reads the consumer's state, and DSP gives no way to read it on a consumer; the target has no management API to read it (management kind {})",
            ctx.connector().management.name()
        ))
    })?;
    // EDC goes on from the end of a transfer to deprovisioning it; that is still the end.
    let mut wanted = vec![state];
    if process == Process::Transfer && matches!(state, "COMPLETED" | "TERMINATED") {
        wanted.extend(["DEPROVISIONING", "DEPROVISIONED"]);
    }
    let what = match process {
        Process::Negotiation => "negotiation",
        Process::Transfer => "transfer process",
    };
    let result = match (process, look) {
        (Process::Negotiation, Look::Until) => management.wait_for_negotiation_state(id, &wanted, wait(ctx)).await,
        (Process::Transfer, Look::Until) => management.wait_for_transfer_state(id, &wanted, wait(ctx)).await,
        (Process::Negotiation, Look::Now) => management.negotiation_state(id).await,
        (Process::Transfer, Look::Now) => management.transfer_state(id).await,
    };
    match result {
        Ok(answer) if wanted.contains(&answer.value.as_str()) => Ok(()),
        Ok(answer) => Err(ctx.fail_now(
            Finding::new("state", format!("the consumer's management API reports the {what} {}", answer.value)).expected(state, answer.value.clone()).at(answer.exchange as usize),
        )),
        Err(e) => {
            let mut finding = Finding::new(e.kind(), format!("the consumer's management API does not report the {what} {state}: {e}")).expected(state, e.to_string());
            if let Some(seq) = e.exchange() {
                finding = finding.at(seq as usize);
            }
            Err(ctx.fail_now(finding))
        }
    }
}

/// What one look at a process showed: status, state, consumer pid, provider pid.
type Seen = (u16, Option<String>, Option<String>, Option<String>);

/// GETs a process until it reports `wanted` (state, consumer pid, provider pid), or once,
/// keeping the first answer of each kind and forgetting identical repeats, so the report
/// shows the states the process went through. The pids are waited for too: a consumer may
/// learn the provider's pid from the answer to its request a moment after the provider has it.
async fn poll_state(ctx: &CaseContext, hp: &HarnessProvider, base: &str, path: &str, wanted: (&str, &str, &str), look: Look) -> Step<RecordedResponse> {
    let deadline = Instant::now() + wait(ctx);
    let mut last: Option<Seen> = None;
    loop {
        let reply = hp.get(base, path, &Token::Valid).await.map_err(harness_error)?;
        let body = reply.json();
        let member = |name: &str| body.as_ref().and_then(|j| j.get(name).and_then(Value::as_str).map(|s| s.trim_start_matches("dspace:").to_string()));
        let seen = (member("state"), member("consumerPid"), member("providerPid"));
        let arrived = seen.0.as_deref() == Some(wanted.0) && seen.1.as_deref() == Some(wanted.1) && seen.2.as_deref() == Some(wanted.2);
        if look == Look::Now || arrived || Instant::now() + POLL > deadline {
            return Ok(reply);
        }
        let now = (reply.status.as_u16(), seen.0, seen.1, seen.2);
        if last.as_ref() == Some(&now) {
            ctx.client().recorder().discard(reply.seq);
        }
        last = Some(now);
        tokio::time::sleep(POLL).await;
    }
}

/// The consumer's management API reports `state` for the negotiation (when the target has
/// one the harness may drive).
pub(crate) async fn expect_management_negotiation_state(ctx: &CaseContext, n: &Negotiation, state: &str) -> Step {
    let Ok(management) = ctx.management() else { return Ok(()) };
    if let Err(e) = management.wait_for_negotiation_state(&n.id, &[state], wait(ctx)).await {
        ctx.fail(Finding::new(e.kind(), format!("the consumer's management API does not report the negotiation {state}: {e}")).expected(state, e.to_string()));
    }
    ctx.checkpoint()
}

/// Runs the direct path (request, agreement, verification, `FINALIZED`) and returns the
/// agreement the consumer now holds: the setup of every transfer case.
pub(crate) async fn finalized_agreement(ctx: &CaseContext, hp: &HarnessProvider) -> Step<AgreementId> {
    let n = consumer_requests(ctx, hp, Verifying::OnItsOwn).await?;
    let since = hp.received_count();
    let reply = provider_moves(hp, &n, NegotiationMove::Agreement).await?;
    expect_taken(ctx, &reply, "the agreement")?;
    expect_message(ctx, hp, &n.provider_pid, MessageKind::ContractAgreementVerificationMessage, since, "the agreement verification").await?;
    let reply = provider_moves(hp, &n, NegotiationMove::Finalized).await?;
    expect_taken(ctx, &reply, "the FINALIZED event")?;
    expect_management_negotiation_state(ctx, &n, "FINALIZED").await?;
    hp.negotiation(&n.provider_pid).and_then(|x| x.agreement_id()).ok_or_else(|| CaseOutcome::Error("the harness holds no agreement after finalizing".to_string()))
}

// ---------------------------------------------------------------------------------------------
// Transfers

/// A transfer process between the consumer and the harness provider.
#[derive(Debug, Clone)]
pub(crate) struct Transfer {
    /// The consumer's own id of it.
    pub id: String,
    pub provider_pid: ProviderPid,
    pub consumer_pid: ConsumerPid,
    pub callback: String,
}

impl Transfer {
    fn of(id: String, t: &HarnessTransfer) -> Transfer {
        Transfer { id, provider_pid: t.provider_pid.clone(), consumer_pid: t.consumer_pid.clone(), callback: t.callback_address.clone() }
    }
}

/// Makes the consumer request an HTTP pull under `agreement` and judges the transfer request.
pub(crate) async fn consumer_requests_transfer(ctx: &CaseContext, hp: &HarnessProvider, agreement: &AgreementId) -> Step<Transfer> {
    let management = ctx.management()?;
    let id = management
        .initiate_transfer(&hp.dsp_url(), agreement.as_str(), protocol(ctx), "HttpData-PULL", None)
        .await
        .map_err(|e| CaseOutcome::Error(format!("the management API did not start a transfer: {e}")))?;
    let Some(received) = hp
        .wait_for_received(wait(ctx), |r| r.kind == Some(MessageKind::TransferRequestMessage) && r.path.ends_with(binding::TRANSFER_REQUEST))
        .await
    else {
        return Err(ctx.fail_now(Finding::new("timeout", format!("the {} sent no TransferRequestMessage within {} ms", ctx.name(), wait(ctx).as_millis()))));
    };
    expect_sent_well(ctx, &received, "its transfer request");
    if received.field("agreementId") != Some(agreement.as_str()) {
        ctx.fail(Finding::new("identifier", "the transfer request does not name the agreement").expected(agreement.as_str(), received.field("agreementId").unwrap_or("missing")).at(received.seq as usize));
    }
    ctx.checkpoint()?;
    let t = received.provider_pid.as_ref().and_then(|pid| hp.transfer(pid)).ok_or_else(|| CaseOutcome::Error("the harness accepted a transfer request but recorded no process".to_string()))?;
    Ok(Transfer::of(id, &t))
}

/// Negotiates an agreement and has the consumer request a pull under it.
pub(crate) async fn requested_transfer(ctx: &CaseContext, hp: &HarnessProvider) -> Step<Transfer> {
    // Skip early rather than negotiate for nothing when the target cannot start a transfer.
    ctx.management()?;
    let agreement = finalized_agreement(ctx, hp).await?;
    consumer_requests_transfer(ctx, hp, &agreement).await
}

/// Makes a harness move in a transfer.
pub(crate) async fn provider_transfer_moves(hp: &HarnessProvider, t: &Transfer, mv: TransferMove) -> Step<RecordedResponse> {
    hp.transfer_move(&t.provider_pid, mv).await.map_err(harness_error)
}

/// The consumer's endpoint data reference names the harness's data address from the last
/// start, and pulling through it yields the harness's bytes.
pub(crate) async fn expect_edr_pulls(ctx: &CaseContext, hp: &HarnessProvider, t: &Transfer, management: &ManagementClient) -> Step {
    let sent = hp.transfer(&t.provider_pid).and_then(|x| x.data_address).ok_or_else(|| CaseOutcome::Error("the harness sent no data address".to_string()))?;
    let token = sent.property("authorization").unwrap_or_default().to_string();
    let edr = match management.edr_data_address(&t.id).await {
        Ok(answer) => answer.value,
        Err(e) => {
            return Err(ctx.fail_now(
                Finding::new(e.kind(), format!("the consumer holds no endpoint data reference for the started pull: {e}")).expected("the data address of the TransferStartMessage", e.to_string()),
            ))
        }
    };
    if Some(edr.endpoint.as_str()) != sent.endpoint.as_deref() {
        ctx.fail(Finding::new("body", "the consumer's EDR names another endpoint than the start message").expected(sent.endpoint.clone().unwrap_or_default(), edr.endpoint.clone()));
    }
    if edr.authorization.as_deref() != Some(token.as_str()) {
        ctx.fail(Finding::new("body", "the consumer's EDR carries another token than the start message").expected("the token of the latest start", edr.authorization.clone().unwrap_or_else(|| "none".to_string())));
    }
    ctx.checkpoint()?;
    let request = ctx
        .client()
        .http()
        .get(&edr.endpoint)
        .header(reqwest::header::AUTHORIZATION, edr.authorization.clone().unwrap_or_default())
        .build()
        .map_err(|e| CaseOutcome::Error(format!("cannot build the pull: {e}")))?;
    let pulled = ctx.client().download(ctx.name(), crate::runner::counterparty::RECORDED_AS, request).await.map_err(|e| CaseOutcome::Error(e.to_string()))?;
    let expected = crate::recording::recorder::sha256_hex(crate::runner::counterparty::payload());
    if !pulled.status.is_success() || pulled.sha256 != expected {
        ctx.fail(Finding::new("digest", "pulling through the consumer's EDR did not yield the harness's data").expected(expected, format!("status {} sha256 {}", pulled.status.as_u16(), pulled.sha256)).at(pulled.seq as usize));
    }
    ctx.checkpoint()
}
