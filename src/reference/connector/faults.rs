//! Switches that make the reference connector break one rule at a time.
//!
//! They exist so the project's own tests can show that every conformance case fails against
//! a connector that breaks the rule it checks. None is on by default; they are reachable only
//! from code (tests) or the explicit `--fault` option of `serve`, which says so loudly.

use std::collections::BTreeSet;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One rule the connector can be told to break.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fault {
    // Data plane
    /// Serve different bytes than the asset's source holds.
    WrongBytes,
    /// Serve a pull without checking its token.
    PullWithoutToken,
    // Identity
    /// Accept DSP requests that carry no token at all.
    AcceptMissingToken,
    /// Accept expired tokens.
    AcceptExpiredToken,
    /// Accept tokens issued for another audience.
    AcceptWrongAudience,
    /// Accept tokens signed by a key the DAPS does not publish.
    AcceptUnknownKey,
    /// Send no token on outgoing DSP requests.
    SendNoToken,
    // State machines
    /// Apply any negotiation message whatever the state.
    IgnoreNegotiationState,
    /// Apply any transfer message whatever the state.
    IgnoreTransferState,
    /// Answer an invalid transition with 200 but leave the state alone.
    InvalidTransitionOk,
    /// Answer an invalid transition with 400 but move the state anyway.
    InvalidTransitionMovesState,
    /// Answer 500 instead of 400 to an invalid transition.
    InvalidTransition500,
    // Messages
    /// Accept bodies that do not validate against the schemas.
    AcceptMalformed,
    /// Answer 200 (with the error body) to a message that cannot be parsed, validated or
    /// decoded, instead of 400.
    MalformedOk,
    /// Acknowledge a termination with 200 but leave the process in its state.
    IgnoreTermination,
    /// Error replies carry no protocol error body.
    PlainErrorBody,
    /// Error replies carry an error body of the wrong `@type`.
    WrongErrorType,
    /// Answer 200 instead of 404 for an unknown process (with an empty body).
    UnknownProcessOk,
    /// Answer 400 instead of 404 for an unknown process.
    UnknownProcess400,
    /// Replies echo the wrong `consumerPid`.
    WrongConsumerPid,
    /// Replies echo the wrong `providerPid`.
    WrongProviderPid,
    /// Replies are sent as `text/plain`.
    WrongContentType,
    /// Replies to create requests use 200 instead of 201.
    CreatedAs200,
    /// Replies omit the `@context`.
    NoContext,
    /// Replies report the wrong state.
    WrongReportedState,
    // Catalog
    /// The catalog lists no datasets.
    EmptyCatalog,
    /// A request for an unknown dataset is answered 200.
    UnknownDatasetOk,
    /// Datasets carry no offer.
    NoOffers,
    /// The version document is missing.
    NoVersionDocument,
    /// The version document does not list 2025-1.
    WrongVersion,
    /// A catalog filter that matches nothing is ignored (the whole catalog is answered), while
    /// filters that match something are applied.
    IgnoreCatalogFilter,
    /// The catalog reply is junk bytes declared as `application/json`.
    GarbageCatalog,
    /// A paged catalog's `next` link leads nowhere (404).
    BrokenCatalogNextLink,
    /// A later catalog page carries no `previous` link.
    NoCatalogPreviousLink,
    // Negotiation behaviour
    /// The provider agrees to an offer it never made.
    AgreeToUnknownOffer,
    /// The agreement carries different rules from the offer.
    AgreementChangesRules,
    /// The consumer never verifies an agreement.
    NoVerification,
    /// The provider never finalizes.
    NoFinalize,
    /// The provider sends FINALIZED straight after the request, skipping agreement and
    /// verification.
    FinalizeWithoutAgreement,
    /// The agreement names no assignee/assigner.
    AgreementWithoutParties,
    // Transfer behaviour
    /// A pull start carries no data address.
    StartWithoutDataAddress,
    /// A transfer is started for an unknown or foreign agreement.
    TransferWithoutAgreement,
    /// Pulls are served while the transfer is suspended or finished.
    ServeWhenNotStarted,
    /// The pull token never expires and survives termination.
    TokenNeverRevoked,
    /// Hang instead of answering DSP requests.
    Hang,
    // Outgoing messages (checked by the harness when it plays the counterparty)
    /// Outgoing negotiation messages name a wrong `providerPid`.
    WrongPidsSent,
    /// Outgoing transfer messages name a wrong `providerPid`.
    TransferWrongPidsSent,
    /// Outgoing DSP messages carry no `@context`, so they fail the schemas.
    SendMalformed,
    /// A consumer drops the data address a transfer start carries (no EDR for the pull).
    IgnoreDataAddress,
    /// A termination through the management API ends the process locally without telling
    /// the peer.
    SilentTermination,
}

impl Fault {
    pub fn id(self) -> String {
        serde_json::to_value(self).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
    }
}

impl FromStr for Fault {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        serde_json::from_value(serde_json::Value::String(s.to_string())).map_err(|_| format!("unknown fault {s:?}"))
    }
}

/// The set of faults a connector runs with; empty for a sound connector.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Faults(BTreeSet<Fault>);

impl Faults {
    pub fn none() -> Faults {
        Faults::default()
    }

    pub fn of(faults: impl IntoIterator<Item = Fault>) -> Faults {
        Faults(faults.into_iter().collect())
    }

    pub fn has(&self, fault: Fault) -> bool {
        self.0.contains(&fault)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = Fault> + '_ {
        self.0.iter().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        assert_eq!(Fault::WrongBytes.id(), "wrong-bytes");
        assert_eq!("accept-expired-token".parse::<Fault>().unwrap(), Fault::AcceptExpiredToken);
        assert!("nonsense".parse::<Fault>().is_err());
    }
}
