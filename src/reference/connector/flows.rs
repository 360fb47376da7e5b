//! The connector's own moves in negotiations and transfers: the messages it sends, the local
//! transition it makes before sending, and what it does on its own in automatic mode.
//!
//! A move first applies its transition locally (so a fast peer's reply cannot overtake it),
//! then sends; if the peer cannot be reached the process ends in TERMINATED with the reason.

use serde_json::Value;

use super::app::Connector;
use super::faults::Fault;
use super::store::{now_millis, Agreement, Automation, PullToken, Side, PULL_TOKEN_LIFETIME};
use crate::protocol::binding;
use crate::protocol::state::{NegotiationInput, Process, TransferInput};
use crate::protocol::*;

/// Applies a local transition to a negotiation; `Err` when the state does not allow it.
pub fn move_negotiation(conn: &Connector, id: &str, input: NegotiationInput) -> Result<NegotiationRef, String> {
    let mut store = conn.store();
    let negotiation = store.negotiations.get_mut(id).ok_or_else(|| format!("unknown negotiation {id}"))?;
    negotiation.apply(input).map_err(|e| e.to_string())?;
    Ok(NegotiationRef::of(negotiation))
}

/// The parts of a negotiation a move needs after the lock is released.
#[derive(Debug, Clone)]
pub struct NegotiationRef {
    pub side: Side,
    pub version: ProtocolVersion,
    pub consumer_pid: ConsumerPid,
    pub provider_pid: ProviderPid,
    pub address: String,
    pub counter_party_id: Option<String>,
}

impl NegotiationRef {
    fn of(n: &super::store::Negotiation) -> NegotiationRef {
        NegotiationRef {
            side: n.side,
            version: n.version,
            consumer_pid: n.consumer_pid.clone(),
            provider_pid: n.provider_pid.clone().unwrap_or_else(|| ProviderPid(String::new())),
            address: n.counter_party_address.clone(),
            counter_party_id: n.counter_party_id.clone(),
        }
    }

    /// The counterparty's pid, which names the process in the paths it serves.
    fn their_pid(&self) -> &str {
        match self.side {
            Side::Provider => self.consumer_pid.as_str(),
            Side::Consumer => self.provider_pid.as_str(),
        }
    }
}

/// Ends a negotiation whose move failed: TERMINATED locally, with the reason, and the peer
/// told so (best effort), so neither side waits for a step that will never come.
async fn fail_negotiation(conn: &Connector, id: &str, n: &NegotiationRef, detail: String) {
    tracing::warn!(negotiation = id, %detail, "negotiation failed");
    let was_open = {
        let mut store = conn.store();
        let Some(negotiation) = store.negotiations.get_mut(id) else { return };
        let was_open = !negotiation.state.is_terminal();
        if !negotiation.state.is_terminal() {
            negotiation.state = NegotiationState::Terminated;
        }
        negotiation.error_detail = Some(detail.clone());
        was_open
    };
    if was_open {
        let message = DspMessage::ContractNegotiationTermination(CodedPidMessage {
            provider_pid: n.provider_pid.clone(),
            consumer_pid: n.consumer_pid.clone(),
            code: Some("error".to_string()),
            reason: vec![Value::String(detail)],
        });
        let _ = send_negotiation(conn, n, binding::negotiation_termination(n.their_pid()), message).await;
    }
}

/// Passes a move's outcome through, ending the negotiation when the move failed.
async fn guard_negotiation(conn: &Connector, id: &str, n: &NegotiationRef, outcome: Result<(), String>) -> Result<(), String> {
    if let Err(e) = &outcome {
        fail_negotiation(conn, id, n, e.clone()).await;
    }
    outcome
}

/// Sends a message of a negotiation in the version the negotiation was made in.
async fn send_negotiation(conn: &Connector, n: &NegotiationRef, path: String, message: DspMessage) -> Result<(), String> {
    let body = codec_for(n.version).encode(&message);
    match conn.at(n.version).send(&n.address, &path, n.counter_party_id.as_deref(), &body).await {
        Ok((status, _)) if status.is_success() => Ok(()),
        Ok((status, reply)) => Err(format!("{} answered {} with {}", n.address, status, reply.map(|v| v.to_string()).unwrap_or_default())),
        Err(e) => Err(e),
    }
}

/// The callback address the versions before 2025-1 require on agreement and offer messages
/// (2025-1 leaves it out of a message that is not the first).
fn older_callback(conn: &Connector, version: ProtocolVersion) -> Option<String> {
    (version != ProtocolVersion::V2025_1).then(|| conn.dsp_url(version))
}

/// Provider: agrees to the offer on the table and sends the agreement.
pub async fn agree(conn: &Connector, id: &str) -> Result<(), String> {
    let (n, agreement) = {
        let mut store = conn.store();
        let negotiation = store.negotiations.get_mut(id).ok_or_else(|| format!("unknown negotiation {id}"))?;
        if negotiation.side != Side::Provider {
            return Err("only a provider agrees".to_string());
        }
        negotiation.apply(NegotiationInput::Agreement).map_err(|e| e.to_string())?;
        let agreement_id = AgreementId::generate();
        let mut policy = negotiation.offer.with_kind("Agreement", agreement_id.as_str());
        let asset_id = negotiation.asset_id.clone().or_else(|| negotiation.offer.target.clone()).unwrap_or_default();
        policy.target = Some(asset_id.clone());
        if !conn.fault(Fault::AgreementWithoutParties) {
            policy.assigner = Some(conn.participant_id().to_string());
            policy.assignee = Some(negotiation.counter_party_id.clone().unwrap_or_else(|| "unknown".to_string()));
        } else {
            policy.assigner = None;
            policy.assignee = None;
        }
        policy.timestamp = Some(chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string());
        if conn.fault(Fault::AgreementChangesRules) {
            policy.permission = vec![Rule { action: "distribute".to_string(), constraint: Vec::new(), extra: Default::default() }];
        }
        negotiation.agreement = Some(policy.clone());
        let n = NegotiationRef::of(negotiation);
        let agreement = Agreement {
            id: agreement_id.clone(),
            asset_id,
            policy: policy.clone(),
            provider_id: conn.participant_id().to_string(),
            consumer_id: n.counter_party_id.clone().unwrap_or_default(),
            signing_date: now_millis(),
            negotiation_id: id.to_string(),
        };
        store.agreements.insert(agreement_id.0.clone(), agreement);
        (n, policy)
    };
    let message = DspMessage::ContractAgreement(ContractAgreementMessage {
        provider_pid: n.provider_pid.clone(),
        consumer_pid: n.consumer_pid.clone(),
        agreement,
        callback_address: older_callback(conn, n.version),
    });
    let path = binding::negotiation_agreement(n.their_pid());
    guard_negotiation(conn, id, &n, send_negotiation(conn, &n, path, message).await).await
}

/// Provider: makes a counter-offer.
pub async fn counter_offer(conn: &Connector, id: &str, offer: Option<Policy>) -> Result<(), String> {
    let n = {
        let mut store = conn.store();
        let negotiation = store.negotiations.get_mut(id).ok_or_else(|| format!("unknown negotiation {id}"))?;
        negotiation.apply(NegotiationInput::Offer).map_err(|e| e.to_string())?;
        if let Some(offer) = offer {
            negotiation.offer = offer;
        }
        (NegotiationRef::of(negotiation), negotiation.offer.clone())
    };
    let (n, mut offer) = n;
    if offer.target.is_none() {
        offer.target = conn.store().negotiations.get(id).and_then(|x| x.asset_id.clone());
    }
    if n.version != ProtocolVersion::V2025_1 && offer.assigner.is_none() {
        offer.assigner = Some(conn.participant_id().to_string());
    }
    let message = DspMessage::ContractOffer(ContractOfferMessage {
        provider_pid: n.provider_pid.clone(),
        consumer_pid: Some(n.consumer_pid.clone()),
        offer,
        callback_address: older_callback(conn, n.version),
    });
    guard_negotiation(conn, id, &n, send_negotiation(conn, &n, binding::negotiation_offers(n.their_pid()), message).await).await
}

/// Provider: finalizes a verified agreement.
pub async fn finalize(conn: &Connector, id: &str) -> Result<(), String> {
    let n = move_negotiation(conn, id, NegotiationInput::Event(NegotiationEventType::Finalized))?;
    let message = DspMessage::ContractNegotiationEvent(ContractNegotiationEventMessage {
        provider_pid: n.provider_pid.clone(),
        consumer_pid: n.consumer_pid.clone(),
        event_type: NegotiationEventType::Finalized,
    });
    guard_negotiation(conn, id, &n, send_negotiation(conn, &n, binding::negotiation_events(n.their_pid()), message).await).await
}

/// Provider with the `finalize-without-agreement` fault: announces FINALIZED out of order.
async fn finalize_early(conn: &Connector, id: &str) -> Result<(), String> {
    let n = {
        let store = conn.store();
        NegotiationRef::of(store.negotiations.get(id).ok_or_else(|| format!("unknown negotiation {id}"))?)
    };
    let message = DspMessage::ContractNegotiationEvent(ContractNegotiationEventMessage {
        provider_pid: n.provider_pid.clone(),
        consumer_pid: n.consumer_pid.clone(),
        event_type: NegotiationEventType::Finalized,
    });
    guard_negotiation(conn, id, &n, send_negotiation(conn, &n, binding::negotiation_events(n.their_pid()), message).await).await
}

/// Consumer: verifies a received agreement.
pub async fn verify(conn: &Connector, id: &str) -> Result<(), String> {
    let n = move_negotiation(conn, id, NegotiationInput::Verification)?;
    let message = DspMessage::ContractAgreementVerification(PidPair { provider_pid: n.provider_pid.clone(), consumer_pid: n.consumer_pid.clone() });
    guard_negotiation(conn, id, &n, send_negotiation(conn, &n, binding::negotiation_verification(n.their_pid()), message).await).await
}

/// Consumer: accepts the provider's offer.
pub async fn accept(conn: &Connector, id: &str) -> Result<(), String> {
    let n = move_negotiation(conn, id, NegotiationInput::Event(NegotiationEventType::Accepted))?;
    let message = DspMessage::ContractNegotiationEvent(ContractNegotiationEventMessage {
        provider_pid: n.provider_pid.clone(),
        consumer_pid: n.consumer_pid.clone(),
        event_type: NegotiationEventType::Accepted,
    });
    guard_negotiation(conn, id, &n, send_negotiation(conn, &n, binding::negotiation_events(n.their_pid()), message).await).await
}

/// Consumer: answers an offer with a counter-request.
pub async fn counter_request(conn: &Connector, id: &str, offer: Option<Policy>) -> Result<(), String> {
    let (n, offer) = {
        let mut store = conn.store();
        let negotiation = store.negotiations.get_mut(id).ok_or_else(|| format!("unknown negotiation {id}"))?;
        negotiation.apply(NegotiationInput::Request).map_err(|e| e.to_string())?;
        if let Some(offer) = offer {
            negotiation.offer = offer;
        }
        (NegotiationRef::of(negotiation), negotiation.offer.clone())
    };
    let message = DspMessage::ContractRequest(ContractRequestMessage {
        consumer_pid: n.consumer_pid.clone(),
        provider_pid: Some(n.provider_pid.clone()),
        offer,
        callback_address: older_callback(conn, n.version),
    });
    guard_negotiation(conn, id, &n, send_negotiation(conn, &n, binding::negotiation_request(n.their_pid()), message).await).await
}

/// Either side: terminates a negotiation.
pub async fn terminate_negotiation(conn: &Connector, id: &str, reason: &str) -> Result<(), String> {
    let n = move_negotiation(conn, id, NegotiationInput::Termination)?;
    let message = DspMessage::ContractNegotiationTermination(CodedPidMessage {
        provider_pid: n.provider_pid.clone(),
        consumer_pid: n.consumer_pid.clone(),
        code: Some("terminated".to_string()),
        reason: vec![Value::String(reason.to_string())],
    });
    if conn.fault(Fault::SilentTermination) {
        return Ok(());
    }
    // A termination stands even if the peer cannot be told.
    send_negotiation(conn, &n, binding::negotiation_termination(n.their_pid()), message).await
}

/// What a provider in automatic mode does after a negotiation moved.
pub fn after_negotiation_move(conn: &Connector, id: &str) {
    let (state, side, automation) = {
        let store = conn.store();
        let Some(n) = store.negotiations.get(id) else { return };
        (n.state, n.side, n.automation)
    };
    if automation != Automation::Auto {
        return;
    }
    let conn = conn.clone();
    let id = id.to_string();
    match (side, state) {
        (Side::Provider, NegotiationState::Requested) if conn.fault(Fault::FinalizeWithoutAgreement) => {
            tokio::spawn(async move {
                let _ = finalize_early(&conn, &id).await;
            });
        }
        (Side::Provider, NegotiationState::Requested | NegotiationState::Accepted) => {
            tokio::spawn(async move {
                let _ = agree(&conn, &id).await;
            });
        }
        (Side::Provider, NegotiationState::Verified) if !conn.fault(Fault::NoFinalize) => {
            tokio::spawn(async move {
                let _ = finalize(&conn, &id).await;
            });
        }
        (Side::Consumer, NegotiationState::Agreed) if !conn.fault(Fault::NoVerification) => {
            tokio::spawn(async move {
                let _ = verify(&conn, &id).await;
            });
        }
        _ => {}
    }
}

/// Consumer: records the agreement of a finalized negotiation so transfers can name it.
pub fn record_consumer_agreement(conn: &Connector, id: &str) {
    let mut store = conn.store();
    let Some(n) = store.negotiations.get(id).cloned() else { return };
    if let Some(policy) = n.agreement {
        let agreement = Agreement {
            id: AgreementId(policy.id.clone()),
            asset_id: policy.target.clone().unwrap_or_default(),
            provider_id: n.counter_party_id.clone().unwrap_or_default(),
            consumer_id: conn.participant_id().to_string(),
            policy,
            signing_date: now_millis(),
            negotiation_id: id.to_string(),
        };
        store.agreements.insert(agreement.id.0.clone(), agreement);
    }
}

// ---------------------------------------------------------------------------------------------
// Transfers

#[derive(Debug, Clone)]
pub struct TransferRef {
    pub side: Side,
    pub version: ProtocolVersion,
    pub consumer_pid: ConsumerPid,
    pub provider_pid: ProviderPid,
    pub address: String,
    pub counter_party_id: Option<String>,
    pub transfer_type: String,
    pub asset_id: Option<String>,
    pub destination: Option<DataAddress>,
}

impl TransferRef {
    fn of(t: &super::store::Transfer) -> TransferRef {
        TransferRef {
            side: t.side,
            version: t.version,
            consumer_pid: t.consumer_pid.clone(),
            provider_pid: t.provider_pid.clone().unwrap_or_else(|| ProviderPid(String::new())),
            address: t.counter_party_address.clone(),
            counter_party_id: t.counter_party_id.clone(),
            transfer_type: t.transfer_type.clone(),
            asset_id: t.asset_id.clone(),
            destination: t.destination.clone(),
        }
    }

    fn their_pid(&self) -> &str {
        match self.side {
            Side::Provider => self.consumer_pid.as_str(),
            Side::Consumer => self.provider_pid.as_str(),
        }
    }
}

/// How long a consumer's own move waits for the provider's pid. A consumer records its transfer
/// before the provider's acknowledgement (the `TransferProcess` with the provider's pid) has
/// come back; a termination, suspension or completion asked for in that window would go to
/// `/transfers//...` and be refused, so it waits for the pid first.
const PROVIDER_PID_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

async fn provider_pid_known(conn: &Connector, id: &str) {
    let deadline = tokio::time::Instant::now() + PROVIDER_PID_WAIT;
    loop {
        let waiting = conn.store().transfers.get(id).is_some_and(|t| t.side == Side::Consumer && t.provider_pid.as_ref().is_none_or(|p| p.as_str().is_empty()));
        if !waiting || tokio::time::Instant::now() >= deadline {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

pub fn move_transfer(conn: &Connector, id: &str, input: TransferInput) -> Result<TransferRef, String> {
    let mut store = conn.store();
    let transfer = store.transfers.get_mut(id).ok_or_else(|| format!("unknown transfer process {id}"))?;
    transfer.apply(input).map_err(|e| e.to_string())?;
    let t = TransferRef::of(transfer);
    // Leaving STARTED (suspension, completion, termination) revokes the transfer's pull
    // tokens; a restart issues a fresh one.
    if transfer.state != TransferState::Started && !keeps_tokens(conn) {
        store.tokens.retain(|_, token| token.transfer_id != id);
    }
    Ok(t)
}

/// Whether a fault keeps pull tokens alive past STARTED (never revoked, or served whatever
/// the state).
pub fn keeps_tokens(conn: &Connector) -> bool {
    conn.fault(Fault::TokenNeverRevoked) || conn.fault(Fault::ServeWhenNotStarted)
}

/// Ends a transfer whose move failed: TERMINATED locally with the reason, its pull tokens
/// revoked, and the peer told so (best effort), as for a failed negotiation.
async fn fail_transfer(conn: &Connector, id: &str, t: &TransferRef, detail: String) {
    tracing::warn!(transfer = id, %detail, "transfer failed");
    let was_open = {
        let mut store = conn.store();
        let was_open = store.transfers.get_mut(id).map(|transfer| {
            let was_open = !transfer.state.is_terminal();
            if was_open {
                transfer.state = TransferState::Terminated;
            }
            transfer.error_detail = Some(detail.clone());
            was_open
        });
        store.tokens.retain(|_, token| token.transfer_id != id);
        was_open.unwrap_or(false)
    };
    if was_open {
        let message = DspMessage::TransferTermination(CodedPidMessage {
            provider_pid: t.provider_pid.clone(),
            consumer_pid: t.consumer_pid.clone(),
            code: Some("error".to_string()),
            reason: vec![Value::String(detail)],
        });
        let _ = send_transfer(conn, t, binding::transfer_termination(t.their_pid()), message).await;
    }
}

/// Sends a message of a transfer in the version the transfer was requested in.
async fn send_transfer(conn: &Connector, t: &TransferRef, path: String, message: DspMessage) -> Result<(), String> {
    let body = codec_for(t.version).encode(&message);
    match conn.at(t.version).send(&t.address, &path, t.counter_party_id.as_deref(), &body).await {
        Ok((status, _)) if status.is_success() => Ok(()),
        Ok((status, reply)) => Err(format!("{} answered {} with {}", t.address, status, reply.map(|v| v.to_string()).unwrap_or_default())),
        Err(e) => Err(e),
    }
}

/// Provider: starts (or restarts) a transfer. For a pull it issues a token scoped to this
/// transfer and sends the endpoint data reference; for a push it sends the start and then
/// moves the data and completes.
pub async fn start_transfer(conn: &Connector, id: &str) -> Result<(), String> {
    let consumer_view = {
        let store = conn.store();
        let t = store.transfers.get(id).ok_or_else(|| format!("unknown transfer process {id}"))?;
        (t.side == Side::Consumer).then(|| (t.state, TransferRef::of(t)))
    };
    if let Some((state, t)) = consumer_view {
        // A consumer restarts a suspended transfer by asking the provider to start it; it
        // moves to STARTED when the provider's start message (with a fresh reference) arrives.
        if state != TransferState::Suspended {
            return Err(format!("TransferStartMessage is not allowed in state {state}"));
        }
        let message = DspMessage::TransferStart(TransferStartMessage { provider_pid: t.provider_pid.clone(), consumer_pid: t.consumer_pid.clone(), data_address: None });
        return send_transfer(conn, &t, binding::transfer_start(t.their_pid()), message).await;
    }
    let t = move_transfer(conn, id, TransferInput::Start)?;
    let pull = t.transfer_type.ends_with("PULL");
    let data_address = if pull && !conn.fault(Fault::StartWithoutDataAddress) {
        let token = issue_pull_token(conn, id);
        Some(
            DataAddress::new(HTTP_ENDPOINT_TYPE, Some(conn.config().data_plane_public_url.clone()))
                .with_property("authorization", token)
                .with_property("authType", "bearer"),
        )
    } else {
        None
    };
    let message = DspMessage::TransferStart(TransferStartMessage { provider_pid: t.provider_pid.clone(), consumer_pid: t.consumer_pid.clone(), data_address });
    if let Err(e) = send_transfer(conn, &t, binding::transfer_start(t.their_pid()), message).await {
        fail_transfer(conn, id, &t, e.clone()).await;
        return Err(e);
    }
    if !pull {
        let conn = conn.clone();
        let id = id.to_string();
        tokio::spawn(async move {
            match super::dataplane::push(&conn, &t).await {
                Ok(()) => {
                    let _ = complete_transfer(&conn, &id).await;
                }
                Err(e) => {
                    let _ = terminate_transfer(&conn, &id, &format!("push failed: {e}")).await;
                }
            }
        });
    }
    Ok(())
}

/// Issues a fresh pull token for a transfer.
pub fn issue_pull_token(conn: &Connector, transfer_id: &str) -> String {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    bytes[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let lifetime = if conn.fault(Fault::TokenNeverRevoked) { std::time::Duration::from_secs(u32::MAX as u64) } else { PULL_TOKEN_LIFETIME };
    conn.store().tokens.insert(token.clone(), PullToken { transfer_id: transfer_id.to_string(), expires: std::time::SystemTime::now() + lifetime });
    token
}

pub async fn complete_transfer(conn: &Connector, id: &str) -> Result<(), String> {
    provider_pid_known(conn, id).await;
    let t = move_transfer(conn, id, TransferInput::Completion)?;
    let message = DspMessage::TransferCompletion(PidPair { provider_pid: t.provider_pid.clone(), consumer_pid: t.consumer_pid.clone() });
    send_transfer(conn, &t, binding::transfer_completion(t.their_pid()), message).await
}

pub async fn suspend_transfer(conn: &Connector, id: &str, reason: &str) -> Result<(), String> {
    provider_pid_known(conn, id).await;
    let t = move_transfer(conn, id, TransferInput::Suspension)?;
    let message = DspMessage::TransferSuspension(CodedPidMessage {
        provider_pid: t.provider_pid.clone(),
        consumer_pid: t.consumer_pid.clone(),
        code: Some("suspended".to_string()),
        reason: vec![Value::String(reason.to_string())],
    });
    send_transfer(conn, &t, binding::transfer_suspension(t.their_pid()), message).await
}

pub async fn terminate_transfer(conn: &Connector, id: &str, reason: &str) -> Result<(), String> {
    provider_pid_known(conn, id).await;
    let t = move_transfer(conn, id, TransferInput::Termination)?;
    let message = DspMessage::TransferTermination(CodedPidMessage {
        provider_pid: t.provider_pid.clone(),
        consumer_pid: t.consumer_pid.clone(),
        code: Some("terminated".to_string()),
        reason: vec![Value::String(reason.to_string())],
    });
    if conn.fault(Fault::SilentTermination) {
        return Ok(());
    }
    send_transfer(conn, &t, binding::transfer_termination(t.their_pid()), message).await
}

/// What a provider in automatic mode does with a new transfer request: start it.
pub fn after_transfer_request(conn: &Connector, id: &str) {
    let automation = conn.store().transfers.get(id).map(|t| t.automation);
    if automation == Some(Automation::Auto) {
        let conn = conn.clone();
        let id = id.to_string();
        tokio::spawn(async move {
            let _ = start_transfer(&conn, &id).await;
        });
    }
}
