//! The harness as a counterparty: a provider under the harness's control, for conformance
//! cases whose connector under test plays the consumer.

mod catalog;
mod error;
mod moves;
mod server;
mod state;

pub use catalog::{agreement, counter_offer, offer, offer_json, payload, DATASET_ID, FORMATS, OFFER_ID};
pub use error::CounterpartyError;
pub use moves::{InitialOffer, NegotiationMove, SendOptions, Token, TransferMove};
pub use server::{HarnessProvider, HarnessProviderConfig, IncomingTokens, OutgoingTokens, ALL_CONNECTORS_AUDIENCE, RECORDED_AS};
pub use state::{Book, CallerToken, HarnessNegotiation, HarnessTransfer, Initiator, Pull, Received, ScriptedReply};
