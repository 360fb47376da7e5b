//! The soft checks of replies: each compares what the connector sent with what the spec
//! requires, records a finding quoting both when they differ, and returns whether it held,
//! so a case can report every problem of one reply at once.

use serde_json::Value;

use super::context::{CaseContext, Step};
use crate::protocol::{ConsumerPid, ProtocolVersion, ProviderPid};
use crate::report::model::Finding;
use crate::recording::recorder::is_json_type;
use crate::recording::RecordedResponse;
use crate::schema::message_type;

/// How much of a body a finding quotes.
const QUOTE: usize = 300;

/// A body cut short for quoting in a finding.
pub fn quote(text: &str) -> String {
    if text.len() <= QUOTE {
        return text.to_string();
    }
    let mut end = QUOTE;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

fn statuses(expected: &[u16]) -> String {
    expected.iter().map(u16::to_string).collect::<Vec<_>>().join(" or ")
}

impl CaseContext {
    /// The status is one of `expected`.
    pub fn expect_status(&self, reply: &RecordedResponse, expected: &[u16]) -> bool {
        let actual = reply.status.as_u16();
        if expected.contains(&actual) {
            return true;
        }
        self.fail(
            Finding::new("status", format!("expected status {} but got {actual}: {}", statuses(expected), quote(&reply.text())))
                .expected(statuses(expected), actual.to_string())
                .at(reply.seq as usize),
        );
        false
    }

    /// The status is a success (2xx).
    pub fn expect_success(&self, reply: &RecordedResponse) -> bool {
        if reply.status.is_success() {
            return true;
        }
        self.fail(
            Finding::new("status", format!("expected a success status but got {}: {}", reply.status.as_u16(), quote(&reply.text())))
                .expected("2xx", reply.status.as_u16().to_string())
                .at(reply.seq as usize),
        );
        false
    }

    /// The status is a client error (4xx): the connector refused the request as it should.
    pub fn expect_client_error(&self, reply: &RecordedResponse) -> bool {
        if reply.status.is_client_error() {
            return true;
        }
        self.fail(
            Finding::new("status", format!("expected the request to be refused with a 4xx status but got {}", reply.status.as_u16()))
                .expected("4xx", reply.status.as_u16().to_string())
                .at(reply.seq as usize),
        );
        false
    }

    /// The reply declares a JSON content type (`application/json`, `application/ld+json`).
    pub fn expect_content_type_json(&self, reply: &RecordedResponse) -> bool {
        let actual = reply.content_type();
        if is_json_type(actual) {
            return true;
        }
        self.fail(
            Finding::new("content-type", "the reply is not declared as JSON")
                .expected("application/json", actual.unwrap_or("none").to_string())
                .at(reply.seq as usize),
        );
        false
    }

    /// The body is a JSON object; returns it.
    pub fn expect_json(&self, reply: &RecordedResponse) -> Option<Value> {
        match reply.json() {
            Some(value @ Value::Object(_)) => Some(value),
            _ => {
                let text = reply.text();
                self.fail(
                    Finding::new("body", "the reply is not a JSON object")
                        .expected("a JSON object", if text.is_empty() { "an empty body".to_string() } else { quote(&text) })
                        .at(reply.seq as usize),
                );
                None
            }
        }
    }

    /// The body is a JSON object of `@type` `type_name` with the DSP context; returns it.
    pub fn expect_type(&self, reply: &RecordedResponse, type_name: &str) -> Option<Value> {
        let body = self.expect_json(reply)?;
        let actual = message_type(&body).unwrap_or("none");
        if actual != type_name {
            self.fail(Finding::new("body", format!("the reply is not a {type_name}")).expected(type_name, actual).at(reply.seq as usize));
            return None;
        }
        self.expect_schema_valid_body(&body, type_name, reply.seq);
        Some(body)
    }

    /// The body validates against the schema of its `@type`.
    pub fn expect_schema_valid(&self, reply: &RecordedResponse) -> bool {
        let Some(body) = reply.json() else {
            self.fail(Finding::new("schema", "the reply has no JSON body to validate").at(reply.seq as usize));
            return false;
        };
        let key = message_type(&body).unwrap_or("none").to_string();
        self.expect_schema_valid_body(&body, &key, reply.seq)
    }

    /// `body` validates against the schema `key` (a message type or `VersionResponse`).
    pub fn expect_schema_valid_body(&self, body: &Value, key: &str, seq: u64) -> bool {
        if self.version() != ProtocolVersion::V2025_1 {
            return self.expect_recorded_valid(key, seq);
        }
        let Some(schemas) = self.client().schemas() else { return true };
        if !schemas.knows(key) {
            self.fail(Finding::new("schema", format!("no schema for {key}: the body's @type is not a DSP message type")).at(seq as usize));
            return false;
        }
        let violations = schemas.validate(key, body);
        for v in &violations {
            self.fail(
                Finding::new("schema", format!("{key} violates its schema at {}: {}", if v.instance_path.is_empty() { "/" } else { &v.instance_path }, v.message))
                    .at(seq as usize),
            );
        }
        violations.is_empty()
    }

    /// For a version whose bodies the checks read rewritten to the 2025-1 form: the schema
    /// violations recorded on exchange `seq`, found on the body as it went over the wire
    /// against the version's own schemas (none when the harness has no schemas of it).
    fn expect_recorded_valid(&self, key: &str, seq: u64) -> bool {
        let Some(exchange) = self.client().recorder().snapshot().into_iter().find(|e| e.seq == seq) else { return true };
        // The connector's part of the exchange: its reply to the harness, or its own request.
        let part = if exchange.to == self.name() { "response" } else { "request" };
        let mut ok = true;
        for v in exchange.violations.iter().filter(|v| v.part == part) {
            ok = false;
            self.fail(
                Finding::new("schema", format!("{key} violates its schema at {}: {}", if v.instance_path.is_empty() { "/" } else { &v.instance_path }, v.message))
                    .at(seq as usize),
            );
        }
        ok
    }

    /// The reply is a protocol error: 4xx (or one of `statuses` when given), JSON, of
    /// `@type` `error_type` (`ContractNegotiationError`, `TransferError`, `CatalogError`),
    /// schema-valid.
    pub fn expect_error_body(&self, reply: &RecordedResponse, error_type: &str, statuses: &[u16]) -> Option<Value> {
        let status_ok = if statuses.is_empty() { self.expect_client_error(reply) } else { self.expect_status(reply, statuses) };
        let typed = self.expect_type(reply, error_type);
        if status_ok {
            self.expect_content_type_json(reply);
        }
        typed
    }

    /// The pids a body carries are the ones the process has.
    pub fn expect_pids(&self, body: &Value, seq: u64, consumer: Option<&ConsumerPid>, provider: Option<&ProviderPid>) -> bool {
        let mut ok = true;
        let pairs = [("consumerPid", consumer.map(|p| p.as_str())), ("providerPid", provider.map(|p| p.as_str()))];
        for (member, expected) in pairs {
            let Some(expected) = expected else { continue };
            let actual = body.get(member).and_then(Value::as_str);
            if actual != Some(expected) {
                ok = false;
                self.fail(
                    Finding::new("identifier", format!("{member} is not echoed correctly")).expected(expected, actual.unwrap_or("missing")).at(seq as usize),
                );
            }
        }
        ok
    }

    /// The body reports `state`.
    pub fn expect_state(&self, body: &Value, seq: u64, state: &str) -> bool {
        let actual = body.get("state").and_then(Value::as_str).map(|s| s.trim_start_matches("dspace:"));
        if actual == Some(state) {
            return true;
        }
        self.fail(Finding::new("state", format!("the process is not in {state}")).expected(state, actual.unwrap_or("missing")).at(seq as usize));
        false
    }

    /// A string member of a body that must be there; stops the case when it is not.
    pub fn required_str(&self, body: &Value, member: &str, seq: u64) -> Step<String> {
        match body.get(member).and_then(Value::as_str).filter(|s| !s.is_empty()) {
            Some(s) => Ok(s.to_string()),
            None => Err(self.fail_now(Finding::new("body", format!("the message has no {member}")).expected(format!("a non-empty {member}"), "missing").at(seq as usize))),
        }
    }
}

impl CaseContext {
    /// A request the connector sent the harness carries a DAT the harness accepts: signed by
    /// the DAPS, current, for the harness (its participant id, all connectors, or the callback
    /// address it named). Without a verifier (static tokens) only its presence is checked.
    pub async fn expect_incoming_token(&self, incoming: &crate::runner::conformance::Incoming) -> bool {
        let token = incoming.authorization().map(crate::identity::bearer).unwrap_or("");
        if token.is_empty() {
            self.fail(
                Finding::new("identity", format!("the {} sent {} without a token", self.name(), incoming.message_type.as_deref().unwrap_or("a request")))
                    .expected("an Authorization header with a DAT", "none")
                    .at(incoming.seq as usize),
            );
            return false;
        }
        let Some(verifier) = &self.identity().verifier else { return true };
        // EDC 0.4 addresses its DATs to the address it sends to: the callback address the
        // harness named.
        let mailbox = self.mailbox().url().to_string();
        match verifier.verify_for_any(token, &[&self.identity().participant_id, crate::identity::DEFAULT_AUDIENCE, &mailbox]).await {
            Ok(_) => true,
            Err(rejection) => {
                self.fail(
                    Finding::new("identity", format!("the token the {} sent is not acceptable: {rejection}", self.name()))
                        .expected("a valid DAT for the harness", rejection.to_string())
                        .at(incoming.seq as usize),
                );
                false
            }
        }
    }
}
