//! DSP wire types and per-version codecs. Nothing in here does I/O.
//!
//! The internal model ([`message`]) is version-neutral Rust; each [`codec`] maps it to and
//! from one wire form. The state machines ([`state`]) work on the model only, so adding the
//! 0.8 or 2024-1 wire forms means adding a codec, not touching the state machines.

pub mod binding;
pub mod codec;
pub mod ids;
pub mod message;
pub mod state;

pub use codec::{codec_for, DecodeError, ProtocolVersion, WireCodec};
pub use ids::{AgreementId, ConsumerPid, ProviderPid};
pub use message::*;
pub use state::{NegotiationState, TransferState, TransitionError};
