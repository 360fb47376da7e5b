//! DSP wire types and per-version codecs. Nothing in here does I/O.
//!
//! The internal model ([`message`]) is version-neutral Rust; each [`codec`] maps it to and
//! from one wire form: 2025-1 directly, 0.8 (both forms) and 2024-1 through the term table of
//! [`vocabulary`]. The state machines ([`state`]) work on the model only.

pub mod binding;
pub mod codec;
pub mod discovery;
pub mod ids;
pub mod message;
pub mod state;
pub mod vocabulary;

pub use codec::{codec_for, DecodeError, ProtocolVersion, WireCodec};
pub use ids::{AgreementId, ConsumerPid, ProviderPid};
pub use message::*;
pub use state::{NegotiationState, ProcessBook, TransferState, TransitionError};
