//! The paths of the DSP HTTPS binding, relative to a connector's DSP base URL (provider) or
//! callback address (consumer). One place for them, so the reference connector, the harness
//! and the suites cannot disagree on a path.

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
    fn paths_keep_urn_ids_readable_and_escape_the_rest() {
        assert_eq!(negotiation_verification("urn:uuid:1"), "/negotiations/urn:uuid:1/agreement/verification");
        assert_eq!(transfer_start("a b/c"), "/transfers/a%20b%2Fc/start");
        assert_eq!(join("http://x/dsp/", "/catalog/request"), "http://x/dsp/catalog/request");
    }
}
