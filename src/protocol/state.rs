//! The contract-negotiation and transfer-process state machines of DSP 2025-1, as pure
//! functions from (state, message) to the next state, and [`ProcessBook`], the one state book
//! of processes that moves them only through those functions (or, on purpose, past them).
//!
//! Who may send a message is the binding's business (a provider has no endpoint for a
//! `ContractOfferMessage`); these tables only say which states a message may arrive in.

use std::collections::{btree_map, BTreeMap};
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

impl NegotiationInput {
    /// The state this input leads to wherever it arrives: what a move takes when the state
    /// machine is not asked (a fault that ignores it, a move the harness scripts).
    pub fn target(self) -> NegotiationState {
        match self {
            NegotiationInput::Request => NegotiationState::Requested,
            NegotiationInput::Offer => NegotiationState::Offered,
            NegotiationInput::Event(NegotiationEventType::Accepted) => NegotiationState::Accepted,
            NegotiationInput::Event(NegotiationEventType::Finalized) => NegotiationState::Finalized,
            NegotiationInput::Agreement => NegotiationState::Agreed,
            NegotiationInput::Verification => NegotiationState::Verified,
            NegotiationInput::Termination => NegotiationState::Terminated,
        }
    }
}

impl TransferInput {
    /// The state this input leads to wherever it arrives, as [`NegotiationInput::target`].
    pub fn target(self) -> TransferState {
        match self {
            TransferInput::Start => TransferState::Started,
            TransferInput::Suspension => TransferState::Suspended,
            TransferInput::Completion => TransferState::Completed,
            TransferInput::Termination => TransferState::Terminated,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The state book

/// One of the two state machines, as a [`ProcessBook`] drives it.
pub trait Machine: Copy + Eq + fmt::Debug {
    /// The messages that move a process that exists.
    type Input: Copy + fmt::Debug;

    /// The state after `input`, or why `input` is not allowed now.
    fn next(self, input: Self::Input) -> Result<Self, TransitionError>;

    /// The state `input` leads to wherever it arrives.
    fn target(input: Self::Input) -> Self;
}

impl Machine for NegotiationState {
    type Input = NegotiationInput;

    fn next(self, input: NegotiationInput) -> Result<NegotiationState, TransitionError> {
        NegotiationState::next(self, input)
    }

    fn target(input: NegotiationInput) -> NegotiationState {
        input.target()
    }
}

impl Machine for TransferState {
    type Input = TransferInput;

    fn next(self, input: TransferInput) -> Result<TransferState, TransitionError> {
        TransferState::next(self, input)
    }

    fn target(input: TransferInput) -> TransferState {
        input.target()
    }
}

/// A step a process took: its state before and after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step<S> {
    pub from: S,
    pub to: S,
}

/// A negotiation or transfer process as one side keeps it: whatever else it holds, it is in a
/// state of one machine. The provided methods are the one way a message moves it.
pub trait Process {
    type State: Machine;

    fn state(&self) -> Self::State;

    fn set_state(&mut self, state: Self::State);

    /// Takes `input` if the state machine allows it now; a refused input leaves the process
    /// as it was.
    fn apply(&mut self, input: <Self::State as Machine>::Input) -> Result<Step<Self::State>, TransitionError> {
        let from = self.state();
        let to = from.next(input)?;
        self.set_state(to);
        Ok(Step { from, to })
    }

    /// Takes the state `input` leads to, whatever the state machine says: a move made on
    /// purpose against it (a fault, a move the harness scripts).
    fn force(&mut self, input: <Self::State as Machine>::Input) -> Step<Self::State> {
        let from = self.state();
        let to = Self::State::target(input);
        self.set_state(to);
        Step { from, to }
    }
}

/// Why a book did not move a process.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BookError {
    #[error("unknown process {0}")]
    Unknown(String),
    #[error(transparent)]
    Refused(#[from] TransitionError),
}

/// One side's processes of one kind (negotiations or transfers), by that side's pid: a map
/// whose moves go through the state machine. The reference connector's store and the harness
/// provider's book both keep theirs in one.
#[derive(Debug, Clone)]
pub struct ProcessBook<P> {
    processes: BTreeMap<String, P>,
}

impl<P> Default for ProcessBook<P> {
    fn default() -> Self {
        ProcessBook { processes: BTreeMap::new() }
    }
}

impl<P> ProcessBook<P> {
    pub fn get(&self, pid: &str) -> Option<&P> {
        self.processes.get(pid)
    }

    /// The process to change what else it holds; its state changes through [`Self::apply`]
    /// or [`Process::apply`].
    pub fn get_mut(&mut self, pid: &str) -> Option<&mut P> {
        self.processes.get_mut(pid)
    }

    pub fn insert(&mut self, pid: String, process: P) -> Option<P> {
        self.processes.insert(pid, process)
    }

    pub fn remove(&mut self, pid: &str) -> Option<P> {
        self.processes.remove(pid)
    }

    pub fn contains_key(&self, pid: &str) -> bool {
        self.processes.contains_key(pid)
    }

    pub fn len(&self) -> usize {
        self.processes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.processes.is_empty()
    }

    pub fn keys(&self) -> btree_map::Keys<'_, String, P> {
        self.processes.keys()
    }

    pub fn values(&self) -> btree_map::Values<'_, String, P> {
        self.processes.values()
    }

    pub fn values_mut(&mut self) -> btree_map::ValuesMut<'_, String, P> {
        self.processes.values_mut()
    }

    pub fn iter(&self) -> btree_map::Iter<'_, String, P> {
        self.processes.iter()
    }

    pub fn retain(&mut self, keep: impl FnMut(&String, &mut P) -> bool) {
        self.processes.retain(keep)
    }
}

impl<P: Process> ProcessBook<P> {
    /// Applies `input` to the process `pid` if its state machine allows it now; a refused
    /// input leaves the book as it was.
    pub fn apply(&mut self, pid: &str, input: <P::State as Machine>::Input) -> Result<Step<P::State>, BookError> {
        let process = self.processes.get_mut(pid).ok_or_else(|| BookError::Unknown(pid.to_string()))?;
        Ok(process.apply(input)?)
    }

    /// Moves the process `pid` to the state `input` leads to, whatever the state machine says;
    /// `None` for an unknown process.
    pub fn force(&mut self, pid: &str, input: <P::State as Machine>::Input) -> Option<Step<P::State>> {
        self.processes.get_mut(pid).map(|process| process.force(input))
    }
}

impl<'a, P> IntoIterator for &'a ProcessBook<P> {
    type Item = (&'a String, &'a P);
    type IntoIter = btree_map::Iter<'a, String, P>;

    fn into_iter(self) -> Self::IntoIter {
        self.processes.iter()
    }
}

/// Implements [`Process`] for a record whose `state` field holds its state: what both the
/// reference connector's and the counterparty's records are.
macro_rules! process_with_state_field {
    ($($record:ty => $state:ty),+ $(,)?) => {$(
        impl $crate::protocol::state::Process for $record {
            type State = $state;

            fn state(&self) -> $state {
                self.state
            }

            fn set_state(&mut self, state: $state) {
                self.state = state;
            }
        }
    )+};
}
pub(crate) use process_with_state_field;

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

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

    /// A process with something besides its state, to see that a refused input changes nothing.
    #[derive(Debug, Clone, PartialEq)]
    struct Held<S> {
        state: S,
        note: &'static str,
    }

    impl<S: Machine> Process for Held<S> {
        type State = S;

        fn state(&self) -> S {
            self.state
        }

        fn set_state(&mut self, state: S) {
            self.state = state;
        }
    }

    fn negotiation_input() -> impl Strategy<Value = NegotiationInput> {
        use NegotiationInput as I;
        prop::sample::select(vec![
            I::Request,
            I::Offer,
            I::Event(NegotiationEventType::Accepted),
            I::Event(NegotiationEventType::Finalized),
            I::Agreement,
            I::Verification,
            I::Termination,
        ])
    }

    fn transfer_input() -> impl Strategy<Value = TransferInput> {
        prop::sample::select(vec![TransferInput::Start, TransferInput::Suspension, TransferInput::Completion, TransferInput::Termination])
    }

    /// Applies every input in turn to one process of a book that holds another too, and checks
    /// each step against the state machine: an allowed input moves the process to `next`, a
    /// refused one leaves the whole book as it was.
    fn check_book<S: Machine>(start: S, inputs: &[S::Input]) -> Result<(), TestCaseError> {
        let mut book = ProcessBook::default();
        book.insert("p".to_string(), Held { state: start, note: "mine" });
        book.insert("q".to_string(), Held { state: start, note: "other" });
        for &input in inputs {
            let before = book.clone();
            let state = book.get("p").map(|p| p.state).expect("inserted");
            match (state.next(input), book.apply("p", input)) {
                (Ok(next), Ok(step)) => {
                    prop_assert_eq!(step, Step { from: state, to: next });
                    prop_assert_eq!(book.get("p"), Some(&Held { state: next, note: "mine" }));
                }
                (Err(expected), Err(BookError::Refused(refused))) => {
                    prop_assert_eq!(refused, expected);
                    prop_assert_eq!(book.get("p"), before.get("p"), "{:?} in {:?} changed the process", input, state);
                }
                (expected, got) => prop_assert!(false, "{:?} in {:?}: the machine says {:?}, the book {:?}", input, state, expected, got),
            }
            prop_assert_eq!(book.get("q"), before.get("q"));
            prop_assert_eq!(book.len(), 2);
            prop_assert_eq!(book.apply("nobody", input), Err(BookError::Unknown("nobody".to_string())));
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn every_invalid_negotiation_input_is_refused_with_the_book_unchanged(
            start in prop::sample::select(NegotiationState::ALL.to_vec()),
            inputs in prop::collection::vec(negotiation_input(), 1..12),
        ) {
            check_book(start, &inputs)?;
        }

        #[test]
        fn every_invalid_transfer_input_is_refused_with_the_book_unchanged(
            start in prop::sample::select(TransferState::ALL.to_vec()),
            inputs in prop::collection::vec(transfer_input(), 1..12),
        ) {
            check_book(start, &inputs)?;
        }
    }

    #[test]
    fn a_forced_move_takes_the_state_its_input_leads_to_whatever_the_machine_says() {
        let mut book = ProcessBook::default();
        book.insert("p".to_string(), Held { state: TransferState::Completed, note: "" });
        assert_eq!(book.force("p", TransferInput::Start), Some(Step { from: TransferState::Completed, to: TransferState::Started }));
        assert_eq!(book.force("nobody", TransferInput::Start), None);
        // Where the machine allows a message, it leads where the message says.
        let negotiation_inputs = [
            NegotiationInput::Request,
            NegotiationInput::Offer,
            NegotiationInput::Event(NegotiationEventType::Accepted),
            NegotiationInput::Event(NegotiationEventType::Finalized),
            NegotiationInput::Agreement,
            NegotiationInput::Verification,
            NegotiationInput::Termination,
        ];
        for s in NegotiationState::ALL {
            for input in negotiation_inputs {
                if let Ok(next) = s.next(input) {
                    assert_eq!(next, input.target(), "{s} + {input:?}");
                }
            }
        }
        for s in TransferState::ALL {
            for input in [TransferInput::Start, TransferInput::Suspension, TransferInput::Completion, TransferInput::Termination] {
                if let Ok(next) = s.next(input) {
                    assert_eq!(next, input.target(), "{s} + {input:?}");
                }
            }
        }
    }
}

