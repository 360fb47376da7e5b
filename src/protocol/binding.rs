//! The DSP HTTPS binding: its endpoints ([`ROUTES`]: method, path pattern, message, area and
//! the role that serves each), the paths relative to a connector's DSP base URL (provider) or
//! callback address (consumer), where each version lives below the base ([`version_suffix`]),
//! and the protocol area a path belongs to ([`area_of`]). One place for them, so the reference
//! connector, the harness's counterparty and the suites cannot disagree on a route: both
//! routers are built from [`ROUTES`].

use super::codec::ProtocolVersion;
use super::message::{DspMessage, ErrorBody, MessageKind};
use crate::vocab::Role;

/// Which protocol area an endpoint belongs to; it selects the type of the error body
/// (`CatalogError`, `ContractNegotiationError`, `TransferError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    Catalog,
    Negotiation,
    Transfer,
}

impl Area {
    /// The error message of the area with `body`; a catalog error names no process, so its
    /// pids are dropped.
    pub fn error(self, body: ErrorBody) -> DspMessage {
        match self {
            Area::Catalog => DspMessage::CatalogError(ErrorBody { provider_pid: None, consumer_pid: None, ..body }),
            Area::Negotiation => DspMessage::ContractNegotiationError(body),
            Area::Transfer => DspMessage::TransferError(body),
        }
    }
}

/// The protocol area a DSP path belongs to, for error bodies written before the endpoint is
/// known (a body refused before any handler runs). Anything not about a negotiation or a
/// transfer is the catalog's.
pub fn area_of(path: &str) -> Area {
    if path.contains("/negotiations") {
        Area::Negotiation
    } else if path.contains("/transfers") {
        Area::Transfer
    } else {
        Area::Catalog
    }
}

/// Where a version is served, relative to the 2025-1 DSP base: 2025-1 at the base itself (so
/// everything that speaks 2025-1 finds it where it always was), the others one segment below,
/// named as [`ProtocolVersion::as_str`] spells them (`/2024-1`, `/0.8`, `/0.8-processid`).
pub fn version_suffix(version: ProtocolVersion) -> String {
    match version {
        ProtocolVersion::V2025_1 => String::new(),
        other => format!("/{}", other.as_str()),
    }
}

/// An endpoint of the binding, named by what it is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    CatalogRequest,
    Dataset,
    NegotiationRequest,
    InitialOffer,
    Negotiation,
    CounterRequest,
    CounterOffer,
    NegotiationEvent,
    Agreement,
    Verification,
    NegotiationTermination,
    TransferRequest,
    Transfer,
    TransferStart,
    TransferCompletion,
    TransferSuspension,
    TransferTermination,
}

/// The HTTP methods the binding uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// One endpoint of the binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub endpoint: Endpoint,
    pub method: Method,
    /// The path pattern below the DSP base; `{pid}` (or `{id}`, a dataset's) marks the one
    /// variable segment, as the routers' own pattern syntax writes it.
    pub path: &'static str,
    /// The message a POST carries; a GET carries none.
    pub message: Option<MessageKind>,
    pub area: Area,
    /// Who serves the endpoint: the provider, the consumer (at its callback address), or both.
    pub role: Role,
}

impl Route {
    /// Whether a party playing `role` serves this endpoint; one that plays both (the reference
    /// connector) serves every endpoint.
    pub fn served_by(&self, role: Role) -> bool {
        role == Role::Both || self.role == Role::Both || self.role == role
    }

    /// The path with `pid` in its variable segment (percent-encoded), or the path itself.
    pub fn path_for(&self, pid: &str) -> String {
        match self.path.split_once('{') {
            Some((head, rest)) => format!("{head}{}{}", encode(pid), rest.split_once('}').map(|(_, tail)| tail).unwrap_or("")),
            None => self.path.to_string(),
        }
    }

    /// Whether the path has a variable segment.
    pub fn has_pid(&self) -> bool {
        self.path.contains('{')
    }
}

const fn route(endpoint: Endpoint, method: Method, path: &'static str, message: Option<MessageKind>, area: Area, role: Role) -> Route {
    Route { endpoint, method, path, message, area, role }
}

/// Every endpoint of the DSP HTTPS binding (2025-1; the older versions have the same ones
/// below their [`version_suffix`]). The reference connector's router serves all of them (it
/// plays both roles on one router), the harness's counterparty those of the provider.
pub const ROUTES: &[Route] = {
    use Area::{Catalog, Negotiation, Transfer};
    use Method::{Get, Post};
    use MessageKind as K;
    use Role::{Both, Consumer, Provider};
    &[
        route(Endpoint::CatalogRequest, Post, CATALOG_REQUEST, Some(K::CatalogRequestMessage), Catalog, Provider),
        route(Endpoint::Dataset, Get, "/catalog/datasets/{id}", None, Catalog, Provider),
        route(Endpoint::NegotiationRequest, Post, NEGOTIATION_REQUEST, Some(K::ContractRequestMessage), Negotiation, Provider),
        route(Endpoint::InitialOffer, Post, NEGOTIATION_OFFERS, Some(K::ContractOfferMessage), Negotiation, Consumer),
        route(Endpoint::Negotiation, Get, "/negotiations/{pid}", None, Negotiation, Provider),
        route(Endpoint::CounterRequest, Post, "/negotiations/{pid}/request", Some(K::ContractRequestMessage), Negotiation, Provider),
        route(Endpoint::CounterOffer, Post, "/negotiations/{pid}/offers", Some(K::ContractOfferMessage), Negotiation, Consumer),
        // ACCEPTED goes to the provider, FINALIZED to the consumer.
        route(Endpoint::NegotiationEvent, Post, "/negotiations/{pid}/events", Some(K::ContractNegotiationEventMessage), Negotiation, Both),
        route(Endpoint::Agreement, Post, "/negotiations/{pid}/agreement", Some(K::ContractAgreementMessage), Negotiation, Consumer),
        route(Endpoint::Verification, Post, "/negotiations/{pid}/agreement/verification", Some(K::ContractAgreementVerificationMessage), Negotiation, Provider),
        route(Endpoint::NegotiationTermination, Post, "/negotiations/{pid}/termination", Some(K::ContractNegotiationTerminationMessage), Negotiation, Both),
        route(Endpoint::TransferRequest, Post, TRANSFER_REQUEST, Some(K::TransferRequestMessage), Transfer, Provider),
        route(Endpoint::Transfer, Get, "/transfers/{pid}", None, Transfer, Provider),
        // A provider starts a transfer; a consumer restarts a suspended one.
        route(Endpoint::TransferStart, Post, "/transfers/{pid}/start", Some(K::TransferStartMessage), Transfer, Both),
        route(Endpoint::TransferCompletion, Post, "/transfers/{pid}/completion", Some(K::TransferCompletionMessage), Transfer, Both),
        route(Endpoint::TransferSuspension, Post, "/transfers/{pid}/suspension", Some(K::TransferSuspensionMessage), Transfer, Both),
        route(Endpoint::TransferTermination, Post, "/transfers/{pid}/termination", Some(K::TransferTerminationMessage), Transfer, Both),
    ]
};

/// The routes a party playing `role` serves.
pub fn routes_for(role: Role) -> impl Iterator<Item = &'static Route> {
    ROUTES.iter().filter(move |r| r.served_by(role))
}

/// The route of an endpoint.
pub fn route_of(endpoint: Endpoint) -> &'static Route {
    ROUTES.iter().find(|r| r.endpoint == endpoint).expect("every endpoint has its route in ROUTES")
}

/// Where the version document lives, relative to the connector's root (not its DSP base).
pub const WELL_KNOWN_VERSION: &str = "/.well-known/dspace-version";

pub const CATALOG_REQUEST: &str = "/catalog/request";

pub fn dataset(id: &str) -> String {
    format!("/catalog/datasets/{}", encode(id))
}

// Provider side of contract negotiation.
pub const NEGOTIATION_REQUEST: &str = "/negotiations/request";

pub fn negotiation(pid: &str) -> String {
    format!("/negotiations/{}", encode(pid))
}

pub fn negotiation_request(provider_pid: &str) -> String {
    format!("/negotiations/{}/request", encode(provider_pid))
}

pub fn negotiation_events(pid: &str) -> String {
    format!("/negotiations/{}/events", encode(pid))
}

pub fn negotiation_verification(provider_pid: &str) -> String {
    format!("/negotiations/{}/agreement/verification", encode(provider_pid))
}

pub fn negotiation_termination(pid: &str) -> String {
    format!("/negotiations/{}/termination", encode(pid))
}

// Consumer side of contract negotiation.
pub const NEGOTIATION_OFFERS: &str = "/negotiations/offers";

pub fn negotiation_offers(consumer_pid: &str) -> String {
    format!("/negotiations/{}/offers", encode(consumer_pid))
}

pub fn negotiation_agreement(consumer_pid: &str) -> String {
    format!("/negotiations/{}/agreement", encode(consumer_pid))
}

// Transfer process, both sides share the shape `/transfers/{pid}/{verb}`.
pub const TRANSFER_REQUEST: &str = "/transfers/request";

pub fn transfer(pid: &str) -> String {
    format!("/transfers/{}", encode(pid))
}

pub fn transfer_start(pid: &str) -> String {
    format!("/transfers/{}/start", encode(pid))
}

pub fn transfer_completion(pid: &str) -> String {
    format!("/transfers/{}/completion", encode(pid))
}

pub fn transfer_suspension(pid: &str) -> String {
    format!("/transfers/{}/suspension", encode(pid))
}

pub fn transfer_termination(pid: &str) -> String {
    format!("/transfers/{}/termination", encode(pid))
}

/// Percent-encodes a path segment. Process ids are usually `urn:uuid:...`, whose colons are
/// legal in a path segment, but a connector under test may hand out anything.
pub fn encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b':' | b'@' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Joins a base URL and a binding path without doubling or dropping the slash.
pub fn join(base: &str, path: &str) -> String {
    format!("{}/{}", base.trim_end_matches('/'), path.trim_start_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_endpoint_has_one_route_and_its_paths_agree_with_the_path_functions() {
        let mut seen = std::collections::HashSet::new();
        for r in ROUTES {
            assert!(seen.insert(r.endpoint), "{:?} twice", r.endpoint);
            assert_eq!(r.message.is_some(), r.method == Method::Post, "{:?}: a POST carries a message, a GET none", r.endpoint);
            assert_eq!(area_of(r.path), r.area, "{}", r.path);
        }
        let check = |e: Endpoint, made: String| assert_eq!(route_of(e).path_for("urn:uuid:1"), made, "{e:?}");
        check(Endpoint::Dataset, dataset("urn:uuid:1"));
        check(Endpoint::Negotiation, negotiation("urn:uuid:1"));
        check(Endpoint::CounterRequest, negotiation_request("urn:uuid:1"));
        check(Endpoint::CounterOffer, negotiation_offers("urn:uuid:1"));
        check(Endpoint::NegotiationEvent, negotiation_events("urn:uuid:1"));
        check(Endpoint::Agreement, negotiation_agreement("urn:uuid:1"));
        check(Endpoint::Verification, negotiation_verification("urn:uuid:1"));
        check(Endpoint::NegotiationTermination, negotiation_termination("urn:uuid:1"));
        check(Endpoint::Transfer, transfer("urn:uuid:1"));
        check(Endpoint::TransferStart, transfer_start("urn:uuid:1"));
        check(Endpoint::TransferCompletion, transfer_completion("urn:uuid:1"));
        check(Endpoint::TransferSuspension, transfer_suspension("urn:uuid:1"));
        check(Endpoint::TransferTermination, transfer_termination("urn:uuid:1"));
        check(Endpoint::CatalogRequest, CATALOG_REQUEST.to_string());
        check(Endpoint::NegotiationRequest, NEGOTIATION_REQUEST.to_string());
        check(Endpoint::InitialOffer, NEGOTIATION_OFFERS.to_string());
        check(Endpoint::TransferRequest, TRANSFER_REQUEST.to_string());
    }

    #[test]
    fn a_provider_serves_its_routes_and_the_shared_ones_and_a_party_of_both_roles_all() {
        let names = |role| routes_for(role).map(|r| r.path).collect::<Vec<_>>();
        assert_eq!(names(Role::Both).len(), ROUTES.len());
        let provider = names(Role::Provider);
        assert!(provider.contains(&"/negotiations/{pid}/agreement/verification") && provider.contains(&"/transfers/{pid}/start"));
        assert!(!provider.contains(&"/negotiations/{pid}/agreement") && !provider.contains(&NEGOTIATION_OFFERS));
        let consumer = names(Role::Consumer);
        assert!(consumer.contains(&"/negotiations/{pid}/agreement") && !consumer.contains(&CATALOG_REQUEST));
    }

    #[test]
    fn versions_other_than_2025_1_live_one_segment_below_the_base() {
        assert_eq!(version_suffix(ProtocolVersion::V2025_1), "");
        assert_eq!(version_suffix(ProtocolVersion::V2024_1), "/2024-1");
        assert_eq!(version_suffix(ProtocolVersion::V0_8ProcessId), "/0.8-processid");
    }

    #[test]
    fn paths_keep_urn_ids_readable_and_escape_the_rest() {
        assert_eq!(negotiation_verification("urn:uuid:1"), "/negotiations/urn:uuid:1/agreement/verification");
        assert_eq!(transfer_start("a b/c"), "/transfers/a%20b%2Fc/start");
        assert_eq!(join("http://x/dsp/", "/catalog/request"), "http://x/dsp/catalog/request");
    }
}
