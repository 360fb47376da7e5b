//! The conformance engine: selects cases, prepares the target, runs each case with its own
//! recorder, mailbox and timeout, and turns outcomes into case reports.

pub mod callback;
pub mod configure;
pub mod context;
pub mod engine;
pub mod expect;
pub mod registry;
pub mod setup;
pub mod target;
pub mod tokens;

pub(crate) use context::register;
pub use callback::{CallbackHub, CallbackReply, Incoming, Mailbox, Responder};
pub use context::{CaseContext, CaseOutcome, CheckFn, ContextParts, DspRequest, Fixtures, HarnessIdentity, NegotiationStep, Offer, RequestBody, Step, TransferStep};
pub use target::{CallbackConfig, ConnectorUnderTest, DatasetChoice, Timing};
pub use tokens::{Minter, TokenKind, TokenSource};
pub use engine::{report_of, run_cases, run_cases_until, run_conformance, selected_cases, ConformanceConfig, ConformanceError};
pub use configure::{embedded_config, target_config, RunOptions};
