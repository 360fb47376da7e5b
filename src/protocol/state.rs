//! The contract-negotiation and transfer-process state machines of DSP 2025-1, as pure
//! functions from (state, message) to the next state.
//!
//! Who may send a message is the binding's business (a provider has no endpoint for a
//! `ContractOfferMessage`); these tables only say which states a message may arrive in.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::message::{MessageKind, NegotiationEventType};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum NegotiationState {
    Requested,
    Offered,
    Accepted,
    Agreed,
    Verified,
    Finalized,
    Terminated,
}

impl NegotiationState {
    pub const ALL: [NegotiationState; 7] = [
        NegotiationState::Requested,
        NegotiationState::Offered,
        NegotiationState::Accepted,
        NegotiationState::Agreed,
        NegotiationState::Verified,
        NegotiationState::Finalized,
        NegotiationState::Terminated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NegotiationState::Requested => "REQUESTED",
            NegotiationState::Offered => "OFFERED",
            NegotiationState::Accepted => "ACCEPTED",
            NegotiationState::Agreed => "AGREED",
            NegotiationState::Verified => "VERIFIED",
            NegotiationState::Finalized => "FINALIZED",
            NegotiationState::Terminated => "TERMINATED",
        }
    }

    pub fn parse(s: &str) -> Option<NegotiationState> {
        let s = s.trim_start_matches("dspace:");
        NegotiationState::ALL.into_iter().find(|st| st.as_str() == s)
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, NegotiationState::Finalized | NegotiationState::Terminated)
    }
}

impl fmt::Display for NegotiationState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A message that moves a negotiation that already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NegotiationInput {
    /// A consumer's counter-request.
    Request,
    /// A provider's counter-offer.
    Offer,
    Event(NegotiationEventType),
    Agreement,
    Verification,
    Termination,
}

impl NegotiationInput {
    pub fn message_kind(self) -> MessageKind {
        match self {
            NegotiationInput::Request => MessageKind::ContractRequestMessage,
            NegotiationInput::Offer => MessageKind::ContractOfferMessage,
            NegotiationInput::Event(_) => MessageKind::ContractNegotiationEventMessage,
            NegotiationInput::Agreement => MessageKind::ContractAgreementMessage,
            NegotiationInput::Verification => MessageKind::ContractAgreementVerificationMessage,
            NegotiationInput::Termination => MessageKind::ContractNegotiationTerminationMessage,
        }
    }
}

/// A message arrived in a state that does not allow it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} is not allowed in state {state}")]
pub struct TransitionError {
    pub state: String,
    pub message: String,
}

impl NegotiationState {
    /// The state after `input`, or why `input` is not allowed now.
    pub fn next(self, input: NegotiationInput) -> Result<NegotiationState, TransitionError> {
        use NegotiationState as S;
        let next = match (self, input) {
            (S::Offered, NegotiationInput::Request) => Some(S::Requested),
            (S::Requested, NegotiationInput::Offer) => Some(S::Offered),
            (S::Offered, NegotiationInput::Event(NegotiationEventType::Accepted)) => Some(S::Accepted),
            (S::Requested | S::Accepted, NegotiationInput::Agreement) => Some(S::Agreed),
            (S::Agreed, NegotiationInput::Verification) => Some(S::Verified),
            (S::Verified, NegotiationInput::Event(NegotiationEventType::Finalized)) => Some(S::Finalized),
            (s, NegotiationInput::Termination) if !s.is_terminal() => Some(S::Terminated),
            _ => None,
        };
        next.ok_or_else(|| TransitionError {
            state: self.as_str().to_string(),
            message: match input {
                NegotiationInput::Event(NegotiationEventType::Accepted) => "ContractNegotiationEventMessage:ACCEPTED".to_string(),
                NegotiationInput::Event(NegotiationEventType::Finalized) => "ContractNegotiationEventMessage:FINALIZED".to_string(),
                other => other.message_kind().name().to_string(),
            },
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TransferState {
    Requested,
    Started,
    Suspended,
    Completed,
    Terminated,
}

impl TransferState {
    pub const ALL: [TransferState; 5] =
        [TransferState::Requested, TransferState::Started, TransferState::Suspended, TransferState::Completed, TransferState::Terminated];

    pub fn as_str(self) -> &'static str {
        match self {
            TransferState::Requested => "REQUESTED",
            TransferState::Started => "STARTED",
            TransferState::Suspended => "SUSPENDED",
            TransferState::Completed => "COMPLETED",
            TransferState::Terminated => "TERMINATED",
        }
    }

    pub fn parse(s: &str) -> Option<TransferState> {
        let s = s.trim_start_matches("dspace:");
        TransferState::ALL.into_iter().find(|st| st.as_str() == s)
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, TransferState::Completed | TransferState::Terminated)
    }
}

impl fmt::Display for TransferState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A message that moves a transfer process that already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferInput {
    Start,
    Suspension,
    Completion,
    Termination,
}

impl TransferInput {
    pub fn message_kind(self) -> MessageKind {
        match self {
            TransferInput::Start => MessageKind::TransferStartMessage,
            TransferInput::Suspension => MessageKind::TransferSuspensionMessage,
            TransferInput::Completion => MessageKind::TransferCompletionMessage,
            TransferInput::Termination => MessageKind::TransferTerminationMessage,
        }
    }
}

impl TransferState {
    /// The state after `input`, or why `input` is not allowed now.
    pub fn next(self, input: TransferInput) -> Result<TransferState, TransitionError> {
        use TransferState as S;
        let next = match (self, input) {
            (S::Requested | S::Suspended, TransferInput::Start) => Some(S::Started),
            (S::Started, TransferInput::Suspension) => Some(S::Suspended),
            (S::Started, TransferInput::Completion) => Some(S::Completed),
            (S::Requested | S::Started | S::Suspended, TransferInput::Termination) => Some(S::Terminated),
            _ => None,
        };
        next.ok_or_else(|| TransitionError { state: self.as_str().to_string(), message: input.message_kind().name().to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_happy_paths_reach_finalized() {
        use NegotiationInput as I;
        let via_offer = [I::Offer, I::Event(NegotiationEventType::Accepted), I::Agreement, I::Verification, I::Event(NegotiationEventType::Finalized)];
        let mut s = NegotiationState::Requested;
        for input in via_offer {
            s = s.next(input).unwrap();
        }
        assert_eq!(s, NegotiationState::Finalized);
        let direct = [I::Agreement, I::Verification, I::Event(NegotiationEventType::Finalized)];
        let mut s = NegotiationState::Requested;
        for input in direct {
            s = s.next(input).unwrap();
        }
        assert_eq!(s, NegotiationState::Finalized);
    }

    #[test]
    fn terminal_negotiation_states_accept_nothing() {
        for s in [NegotiationState::Finalized, NegotiationState::Terminated] {
            for input in [NegotiationInput::Request, NegotiationInput::Termination, NegotiationInput::Agreement] {
                assert!(s.next(input).is_err(), "{s} accepted {input:?}");
            }
        }
    }

    #[test]
    fn invalid_negotiation_transition_names_state_and_message() {
        let err = NegotiationState::Requested.next(NegotiationInput::Verification).unwrap_err();
        assert_eq!(err.to_string(), "ContractAgreementVerificationMessage is not allowed in state REQUESTED");
    }

    #[test]
    fn transfer_paths() {
        let s = TransferState::Requested.next(TransferInput::Start).unwrap();
        let s = s.next(TransferInput::Suspension).unwrap();
        let s = s.next(TransferInput::Start).unwrap();
        assert_eq!(s.next(TransferInput::Completion).unwrap(), TransferState::Completed);
        assert!(TransferState::Requested.next(TransferInput::Completion).is_err());
        assert!(TransferState::Terminated.next(TransferInput::Start).is_err());
        assert!(TransferState::Suspended.next(TransferInput::Completion).is_err());
    }
}
