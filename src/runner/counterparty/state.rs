//! What the harness provider knows: its side of every negotiation and transfer the connector
//! under test started with it (or it started itself), the agreements it made, the pull tokens
//! it handed out, and a log of every message it received, in arrival order.
//!
//! Everything sits behind one `std::sync::Mutex`, never held across an `.await`, and a
//! `Notify` wakes checks that wait for the consumer's next message or move.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::protocol::state::ProcessBook;
use crate::protocol::{AgreementId, ConsumerPid, DataAddress, MessageKind, NegotiationState, Policy, ProviderPid, TransferState};
use crate::report::model::Violation;

/// Who opened a negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Initiator {
    /// The connector under test sent a contract request.
    Consumer,
    /// The harness sent an initial contract offer.
    Provider,
}

/// The harness's side of one contract negotiation.
#[derive(Debug, Clone, PartialEq)]
pub struct HarnessNegotiation {
    pub provider_pid: ProviderPid,
    /// Unknown only while an initial offer is on its way.
    pub consumer_pid: Option<ConsumerPid>,
    pub state: NegotiationState,
    /// The consumer's callback address (the base its DSP callback paths hang off).
    pub callback_address: String,
    /// The consumer's participant id, as its token named it.
    pub consumer_id: Option<String>,
    pub initiator: Initiator,
    /// The offer on the table: the consumer's latest request or the harness's latest offer.
    pub offer: Policy,
    pub agreement: Option<Policy>,
}

impl HarnessNegotiation {
    pub fn agreement_id(&self) -> Option<AgreementId> {
        self.agreement.as_ref().map(|a| AgreementId(a.id.clone()))
    }
}

/// The harness's side of one transfer process.
#[derive(Debug, Clone, PartialEq)]
pub struct HarnessTransfer {
    pub provider_pid: ProviderPid,
    pub consumer_pid: ConsumerPid,
    pub state: TransferState,
    pub callback_address: String,
    pub consumer_id: Option<String>,
    pub agreement_id: AgreementId,
    /// `HttpData-PULL`, `HttpData-PUSH`, ...
    pub format: String,
    /// Where a push should go, as the consumer asked.
    pub destination: Option<DataAddress>,
    /// The data address the harness last sent in a start message.
    pub data_address: Option<DataAddress>,
}

crate::protocol::state::process_with_state_field!(HarnessNegotiation => NegotiationState, HarnessTransfer => TransferState);

/// What the harness made of the token on an incoming request.
#[derive(Debug, Clone, PartialEq)]
pub enum CallerToken {
    /// A valid DAT; the participant id it names, when it names one.
    Valid { participant_id: Option<String>, audience: Vec<String> },
    /// No token, or one the harness refused, and why.
    Refused(String),
    /// The endpoint needs no token (the version document).
    NotNeeded,
    /// The harness does not check tokens in this run.
    Unchecked,
}

impl CallerToken {
    pub fn is_valid(&self) -> bool {
        matches!(self, CallerToken::Valid { .. })
    }
}

/// One request the connector under test sent to the harness provider.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    /// The `seq` of the recorded exchange.
    pub seq: u64,
    pub method: String,
    /// The path as requested, for example `/dsp/negotiations/urn:uuid:1/events`.
    pub path: String,
    /// The message kind the body's `@type` names, when it names one DSP defines.
    pub kind: Option<MessageKind>,
    pub body: Option<Value>,
    pub token: CallerToken,
    /// Schema violations of the request body.
    pub violations: Vec<Violation>,
    /// The status the harness answered with.
    pub status: u16,
    /// Why the harness refused the request, when it did.
    pub refusal: Option<String>,
    /// The harness process the request concerned, when it found one.
    pub provider_pid: Option<ProviderPid>,
}

impl Received {
    /// A string member of the body, for example `consumerPid`.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.body.as_ref().and_then(|b| b.get(name)).and_then(Value::as_str)
    }

    /// True for a negotiation event of the given type (`ACCEPTED`, `FINALIZED`).
    pub fn is_event(&self, event_type: &str) -> bool {
        self.kind == Some(MessageKind::ContractNegotiationEventMessage) && self.field("eventType") == Some(event_type)
    }
}

/// One pull of the harness's data.
#[derive(Debug, Clone, PartialEq)]
pub struct Pull {
    pub seq: u64,
    /// The transfer whose token was presented, when the token was one the harness issued.
    pub provider_pid: Option<ProviderPid>,
    pub status: u16,
}

/// A reply the check ordered in advance: the next message of `kind` is answered with
/// `status` and the protocol's error body, and moves nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptedReply {
    pub kind: MessageKind,
    pub status: u16,
    pub reason: String,
}

#[derive(Debug, Default)]
pub struct Book {
    /// By provider pid (the harness's own pid), as `transfers`.
    pub negotiations: ProcessBook<HarnessNegotiation>,
    pub transfers: ProcessBook<HarnessTransfer>,
    /// Agreement id to the provider pid of its negotiation.
    pub agreements: BTreeMap<String, String>,
    /// Pull token to the provider pid of its transfer.
    pub pull_tokens: BTreeMap<String, String>,
    pub received: Vec<Received>,
    pub pulls: Vec<Pull>,
    pub scripted: Vec<ScriptedReply>,
}

impl Book {
    pub fn negotiation_by_consumer_pid(&self, consumer_pid: &str) -> Option<&HarnessNegotiation> {
        self.negotiations.values().find(|n| n.consumer_pid.as_ref().map(ConsumerPid::as_str) == Some(consumer_pid))
    }

    pub fn transfer_by_consumer_pid(&self, consumer_pid: &str) -> Option<&HarnessTransfer> {
        self.transfers.values().find(|t| t.consumer_pid.as_str() == consumer_pid)
    }

    /// Takes the scripted reply for `kind`, if one is waiting.
    pub fn take_script(&mut self, kind: MessageKind) -> Option<ScriptedReply> {
        let index = self.scripted.iter().position(|s| s.kind == kind)?;
        Some(self.scripted.remove(index))
    }

    /// Forgets every pull token of a transfer, when it ends.
    pub fn revoke_tokens(&mut self, provider_pid: &str) {
        self.pull_tokens.retain(|_, pid| pid != provider_pid);
    }
}
