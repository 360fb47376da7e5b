//! The harness provider's own moves: the messages a provider sends a consumer (offers,
//! agreements, `FINALIZED`, terminations, transfer starts, suspensions, completions), plus the
//! ones a provider must never send, so a case can check that the consumer refuses them.
//!
//! A move sets the harness's side of the process first and sends second, so that a consumer
//! that answers with its own next message before replying (a verification racing the reply to
//! an agreement) finds the harness already in the new state; when the consumer does not
//! accept the message, the harness's side goes back to where it was. Every message goes
//! through the [`RecordingClient`](crate::recording::RecordingClient) and is recorded with schema
//! checks; the consumer's answer is handed back to the check untouched.

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde_json::Value;

use super::catalog;
use super::error::CounterpartyError;
use super::server::{HarnessProvider, OutgoingTokens, RECORDED_AS};
use super::state::{HarnessNegotiation, Initiator};
use crate::protocol::*;
use crate::runner::wire;
use crate::recording::RecordedResponse;

/// How an outgoing request is authenticated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Token {
    /// A DAT from the DAPS for the connector under test's audience.
    #[default]
    Valid,
    /// No `Authorization` header at all.
    Missing,
    /// This exact header value (a token the check crafted: expired, wrong audience, ...).
    Raw(String),
}

/// Options of one outgoing message.
#[derive(Debug, Clone, Default)]
pub struct SendOptions {
    pub token: Token,
    /// Name this consumer pid (in the path and the body) instead of the process's own, to
    /// address a process the consumer does not know.
    pub consumer_pid: Option<ConsumerPid>,
}

impl SendOptions {
    pub fn token(token: Token) -> SendOptions {
        SendOptions { token, consumer_pid: None }
    }

    pub fn unknown_process() -> SendOptions {
        SendOptions { token: Token::Valid, consumer_pid: Some(ConsumerPid::generate()) }
    }
}

/// A message the harness sends about a negotiation.
#[derive(Debug, Clone, PartialEq)]
pub enum NegotiationMove {
    /// A counter-offer; the harness's standard counter-offer when `None`.
    Offer(Option<Box<Policy>>),
    /// An agreement to the offer on the table.
    Agreement,
    /// `ContractNegotiationEventMessage` with `FINALIZED`.
    Finalized,
    Termination,
    /// `ACCEPTED`, which only a consumer sends: the consumer must refuse it.
    Accepted,
    /// A verification, which only a consumer sends: the consumer must refuse it.
    Verification,
}

impl NegotiationMove {
    /// The state the harness's side moves to, for the moves a provider makes.
    fn target(&self) -> Option<NegotiationState> {
        match self {
            NegotiationMove::Offer(_) => Some(NegotiationState::Offered),
            NegotiationMove::Agreement => Some(NegotiationState::Agreed),
            NegotiationMove::Finalized => Some(NegotiationState::Finalized),
            NegotiationMove::Termination => Some(NegotiationState::Terminated),
            NegotiationMove::Accepted | NegotiationMove::Verification => None,
        }
    }
}

/// A message the harness sends about a transfer.
#[derive(Debug, Clone, PartialEq)]
pub enum TransferMove {
    /// A start; for a pull it carries a fresh data address pointing at the harness's data.
    Start,
    /// A start with exactly this data address (or none).
    StartWith(Option<DataAddress>),
    Suspension,
    Completion,
    Termination,
}

impl TransferMove {
    fn target(&self) -> TransferState {
        match self {
            TransferMove::Start | TransferMove::StartWith(_) => TransferState::Started,
            TransferMove::Suspension => TransferState::Suspended,
            TransferMove::Completion => TransferState::Completed,
            TransferMove::Termination => TransferState::Terminated,
        }
    }
}

/// The answer to an initial offer.
#[derive(Debug, Clone)]
pub struct InitialOffer {
    /// The harness's pid of the new negotiation.
    pub provider_pid: ProviderPid,
    pub response: RecordedResponse,
}

impl HarnessProvider {
    /// The token the harness presents to the connector under test, if it presents one.
    pub async fn token(&self) -> Result<Option<String>, CounterpartyError> {
        match &self.shared.config.outgoing {
            OutgoingTokens::Daps { client, audience } => client.token(audience).await.map(Some).map_err(CounterpartyError::Token),
            OutgoingTokens::Fixed(token) => Ok(Some(token.clone())),
            OutgoingTokens::None => Ok(None),
        }
    }

    async fn authorization(&self, token: &Token) -> Result<Option<String>, CounterpartyError> {
        Ok(match token {
            Token::Valid => self.token().await?,
            Token::Missing => None,
            Token::Raw(value) => Some(value.clone()),
        })
    }

    /// Posts a JSON body to `base` + `path` of the connector under test, recorded with DSP
    /// checks. Any body goes: cases send malformed messages on purpose.
    pub async fn post(&self, base: &str, path: &str, body: &Value, token: &Token) -> Result<RecordedResponse, CounterpartyError> {
        let url = binding::join(base, path);
        let client = self.client();
        // Written in 2025-1 form, sent in the run's version; the reply read back by meaning.
        let version = self.shared.config.version;
        let mut builder = client.http().post(&url).header(CONTENT_TYPE, "application/json").body(wire::to_wire(version, body).to_string());
        if let Some(value) = self.authorization(token).await? {
            builder = builder.header(AUTHORIZATION, value);
        }
        let request = builder.build().map_err(|e| CounterpartyError::InvalidUrl { url: url.clone(), message: e.to_string() })?;
        let mut reply = client.send(RECORDED_AS, self.peer_name(), request).await?;
        reply.body = wire::bytes_from_wire(version, &reply.body);
        Ok(reply)
    }

    /// Gets `base` + `path` of the connector under test (a process's state), recorded with DSP
    /// checks.
    pub async fn get(&self, base: &str, path: &str, token: &Token) -> Result<RecordedResponse, CounterpartyError> {
        let url = binding::join(base, path);
        let client = self.client();
        let mut builder = client.http().get(&url);
        if let Some(value) = self.authorization(token).await? {
            builder = builder.header(AUTHORIZATION, value);
        }
        let request = builder.build().map_err(|e| CounterpartyError::InvalidUrl { url: url.clone(), message: e.to_string() })?;
        let mut reply = client.send(RECORDED_AS, self.peer_name(), request).await?;
        reply.body = wire::bytes_from_wire(self.shared.config.version, &reply.body);
        Ok(reply)
    }

    // -- negotiation ------------------------------------------------------------------------

    /// Sends an initial contract offer to a consumer's `POST /negotiations/offers`, opening a
    /// negotiation in OFFERED on the harness's side. The consumer pid comes from its answer.
    pub async fn send_initial_offer(&self, consumer_dsp_url: &str, options: &SendOptions) -> Result<InitialOffer, CounterpartyError> {
        let provider_pid = ProviderPid::generate();
        let offer = catalog::offer(self.participant_id());
        self.shared.book().negotiations.insert(
            provider_pid.0.clone(),
            HarnessNegotiation {
                provider_pid: provider_pid.clone(),
                consumer_pid: None,
                state: NegotiationState::Offered,
                callback_address: consumer_dsp_url.to_string(),
                consumer_id: match &self.shared.config.outgoing {
                    OutgoingTokens::Daps { audience, .. } => Some(audience.clone()),
                    _ => None,
                },
                initiator: Initiator::Provider,
                offer: offer.clone(),
                agreement: None,
            },
        );
        let message = DspMessage::ContractOffer(ContractOfferMessage {
            provider_pid: provider_pid.clone(),
            consumer_pid: None,
            offer,
            callback_address: Some(self.dsp_url()),
        });
        let body = codec_for(ProtocolVersion::V2025_1).encode(&message);
        let response = self.post(consumer_dsp_url, binding::NEGOTIATION_OFFERS, &body, &options.token).await?;
        if response.status.is_success() {
            let consumer_pid = response.json().and_then(|j| j.get("consumerPid").and_then(Value::as_str).map(ConsumerPid::from));
            if let Some(n) = self.shared.book().negotiations.get_mut(provider_pid.as_str()) {
                n.consumer_pid = consumer_pid;
            }
        }
        self.shared.changed.notify_waiters();
        Ok(InitialOffer { provider_pid, response })
    }

    /// Makes a move in a negotiation, with a valid token and the process's own pids.
    pub async fn negotiation_move(&self, provider_pid: &ProviderPid, mv: NegotiationMove) -> Result<RecordedResponse, CounterpartyError> {
        self.negotiation_move_with(provider_pid, mv, &SendOptions::default()).await
    }

    /// Makes a move in a negotiation. The harness's side takes the move's state before the
    /// message leaves and goes back when the consumer does not answer with success.
    pub async fn negotiation_move_with(
        &self,
        provider_pid: &ProviderPid,
        mv: NegotiationMove,
        options: &SendOptions,
    ) -> Result<RecordedResponse, CounterpartyError> {
        let unknown = || CounterpartyError::UnknownProcess { what: "negotiation", pid: provider_pid.to_string() };
        let (before, message, path, address) = {
            let mut book = self.shared.book();
            let n = book.negotiations.get(provider_pid.as_str()).cloned().ok_or_else(unknown)?;
            let consumer_pid = options
                .consumer_pid
                .clone()
                .or_else(|| n.consumer_pid.clone())
                .ok_or_else(|| CounterpartyError::NoConsumerPid { what: "negotiation", pid: provider_pid.to_string() })?;
            let pids = PidPair { provider_pid: provider_pid.clone(), consumer_pid: consumer_pid.clone() };
            let older_callback = (self.shared.config.version != ProtocolVersion::V2025_1).then(|| self.dsp_url());
            let (message, path) = match &mv {
                NegotiationMove::Offer(offer) => {
                    let offer = offer.as_deref().cloned().unwrap_or_else(|| catalog::counter_offer(self.participant_id()));
                    let message = DspMessage::ContractOffer(ContractOfferMessage {
                        provider_pid: provider_pid.clone(),
                        consumer_pid: Some(consumer_pid.clone()),
                        offer,
                        // A 2025-1 counter-offer names the consumer's pid and no callback
                        // address (its schema allows one or the other); the older versions
                        // require the callback address on every offer.
                        callback_address: older_callback,
                    });
                    (message, binding::negotiation_offers(consumer_pid.as_str()))
                }
                NegotiationMove::Agreement => {
                    let agreement = n.agreement.clone().unwrap_or_else(|| catalog::agreement(&n.offer, self.participant_id(), n.consumer_id.as_deref()));
                    let message = DspMessage::ContractAgreement(ContractAgreementMessage {
                        provider_pid: provider_pid.clone(),
                        consumer_pid: consumer_pid.clone(),
                        agreement,
                        callback_address: older_callback,
                    });
                    (message, binding::negotiation_agreement(consumer_pid.as_str()))
                }
                NegotiationMove::Finalized | NegotiationMove::Accepted => {
                    let event_type = if mv == NegotiationMove::Finalized { NegotiationEventType::Finalized } else { NegotiationEventType::Accepted };
                    let message = DspMessage::ContractNegotiationEvent(ContractNegotiationEventMessage {
                        provider_pid: provider_pid.clone(),
                        consumer_pid: consumer_pid.clone(),
                        event_type,
                    });
                    (message, binding::negotiation_events(consumer_pid.as_str()))
                }
                NegotiationMove::Termination => {
                    let message = DspMessage::ContractNegotiationTermination(CodedPidMessage {
                        provider_pid: provider_pid.clone(),
                        consumer_pid: consumer_pid.clone(),
                        code: Some("terminated-by-harness".to_string()),
                        reason: vec![Value::String("the harness provider ends this negotiation".to_string())],
                    });
                    (message, binding::negotiation_termination(consumer_pid.as_str()))
                }
                NegotiationMove::Verification => {
                    (DspMessage::ContractAgreementVerification(pids), binding::negotiation_verification(consumer_pid.as_str()))
                }
            };
            // Only a move about the process itself changes the harness's side of it.
            if options.consumer_pid.is_none() {
                if let (Some(target), Some(entry)) = (mv.target(), book.negotiations.get_mut(provider_pid.as_str())) {
                    entry.state = target;
                    match &message {
                        DspMessage::ContractOffer(m) => entry.offer = m.offer.clone(),
                        DspMessage::ContractAgreement(m) => entry.agreement = Some(m.agreement.clone()),
                        _ => {}
                    }
                }
                if let DspMessage::ContractAgreement(m) = &message {
                    book.agreements.insert(m.agreement.id.clone(), provider_pid.0.clone());
                }
            }
            let address = n.callback_address.clone();
            (n, message, path, address)
        };
        let body = codec_for(ProtocolVersion::V2025_1).encode(&message);
        let outcome = self.post(&address, &path, &body, &options.token).await;
        let accepted = matches!(&outcome, Ok(r) if r.status.is_success());
        if !accepted && options.consumer_pid.is_none() && mv.target().is_some() {
            let mut book = self.shared.book();
            if let Some(entry) = book.negotiations.get_mut(provider_pid.as_str()) {
                if Some(entry.state) == mv.target() {
                    entry.state = before.state;
                    entry.offer = before.offer.clone();
                    entry.agreement = before.agreement.clone();
                }
            }
            if let DspMessage::ContractAgreement(m) = &message {
                if before.agreement.as_ref().map(|a| &a.id) != Some(&m.agreement.id) {
                    book.agreements.remove(&m.agreement.id);
                }
            }
        }
        self.shared.changed.notify_waiters();
        outcome
    }

    // -- transfer ---------------------------------------------------------------------------

    /// Makes a move in a transfer, with a valid token and the process's own pids.
    pub async fn transfer_move(&self, provider_pid: &ProviderPid, mv: TransferMove) -> Result<RecordedResponse, CounterpartyError> {
        self.transfer_move_with(provider_pid, mv, &SendOptions::default()).await
    }

    /// Makes a move in a transfer, like [`Self::negotiation_move_with`]. A start of a pull
    /// issues a fresh token for the harness's data; a transfer that ends or pauses loses its
    /// tokens.
    pub async fn transfer_move_with(&self, provider_pid: &ProviderPid, mv: TransferMove, options: &SendOptions) -> Result<RecordedResponse, CounterpartyError> {
        let unknown = || CounterpartyError::UnknownProcess { what: "transfer process", pid: provider_pid.to_string() };
        let (before, message, path, issued, revoked) = {
            let mut book = self.shared.book();
            let t = book.transfers.get(provider_pid.as_str()).cloned().ok_or_else(unknown)?;
            let consumer_pid = options.consumer_pid.clone().unwrap_or_else(|| t.consumer_pid.clone());
            let coded = |code: &str, reason: &str| CodedPidMessage {
                provider_pid: provider_pid.clone(),
                consumer_pid: consumer_pid.clone(),
                code: Some(code.to_string()),
                reason: vec![Value::String(reason.to_string())],
            };
            let mut issued = None;
            let mut revoked = Vec::new();
            let (message, path) = match &mv {
                TransferMove::Start | TransferMove::StartWith(_) => {
                    let data_address = match &mv {
                        TransferMove::StartWith(address) => address.clone(),
                        _ if t.format.ends_with("PULL") => {
                            let token = format!("harness-{}", uuid::Uuid::new_v4().simple());
                            issued = Some(token.clone());
                            Some(
                                // The endpoint is repeated as a property, where EDC-style
                                // consumers look for it.
                                DataAddress::new(HTTP_ENDPOINT_TYPE, Some(self.data_url()))
                                    .with_property("endpoint", self.data_url())
                                    .with_property("authorization", token)
                                    .with_property("authType", "bearer"),
                            )
                        }
                        _ => None,
                    };
                    let message = DspMessage::TransferStart(TransferStartMessage { provider_pid: provider_pid.clone(), consumer_pid: consumer_pid.clone(), data_address });
                    (message, binding::transfer_start(consumer_pid.as_str()))
                }
                TransferMove::Suspension => {
                    (DspMessage::TransferSuspension(coded("suspended-by-harness", "the harness provider pauses this transfer")), binding::transfer_suspension(consumer_pid.as_str()))
                }
                TransferMove::Completion => (
                    DspMessage::TransferCompletion(PidPair { provider_pid: provider_pid.clone(), consumer_pid: consumer_pid.clone() }),
                    binding::transfer_completion(consumer_pid.as_str()),
                ),
                TransferMove::Termination => {
                    (DspMessage::TransferTermination(coded("terminated-by-harness", "the harness provider ends this transfer")), binding::transfer_termination(consumer_pid.as_str()))
                }
            };
            if options.consumer_pid.is_none() {
                let target = mv.target();
                if let Some(entry) = book.transfers.get_mut(provider_pid.as_str()) {
                    entry.state = target;
                    if let DspMessage::TransferStart(start) = &message {
                        entry.data_address = start.data_address.clone();
                    }
                }
                if target != TransferState::Started {
                    revoked = book.pull_tokens.iter().filter(|(_, pid)| pid.as_str() == provider_pid.as_str()).map(|(token, _)| token.clone()).collect();
                    book.revoke_tokens(provider_pid.as_str());
                }
                if let Some(token) = &issued {
                    book.pull_tokens.insert(token.clone(), provider_pid.0.clone());
                }
            }
            (t, message, path, issued, revoked)
        };
        let body = codec_for(ProtocolVersion::V2025_1).encode(&message);
        let outcome = self.post(&before.callback_address, &path, &body, &options.token).await;
        let accepted = matches!(&outcome, Ok(r) if r.status.is_success());
        if !accepted && options.consumer_pid.is_none() {
            let mut book = self.shared.book();
            if let Some(entry) = book.transfers.get_mut(provider_pid.as_str()) {
                if entry.state == mv.target() {
                    entry.state = before.state;
                    entry.data_address = before.data_address.clone();
                }
            }
            if let Some(token) = issued {
                book.pull_tokens.remove(&token);
            }
            for token in revoked {
                book.pull_tokens.insert(token, provider_pid.0.clone());
            }
        }
        self.shared.changed.notify_waiters();
        outcome
    }
}
