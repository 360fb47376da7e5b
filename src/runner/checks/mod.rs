//! The check functions of the conformance suites, one file per area and role. Each file
//! exposes `checks()`, listed in [`crate::runner::conformance::registry`].

pub mod metadata;
pub(crate) mod consumer;
pub mod consumer_identity;
pub mod consumer_negotiation;
pub mod consumer_transfer;
pub mod provider_flow;
pub mod provider_negotiation;
pub mod provider_transfer;
pub mod catalog;
pub mod identity;
pub mod errors;
