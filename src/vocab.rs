//! The words every layer shares: a case's requirement [`Level`] and [`Role`], its [`Verdict`],
//! a [`Finding`] (what did not hold), a schema [`Violation`] and a recorded HTTP [`Exchange`]
//! with its [`Body`].
//!
//! They sit below every other module and use none, so the schema validator, the suites, the
//! runner and the renderers can all speak them without depending on the report model. Their
//! serde shape is part of `report.json` (`fixtures/report.schema.json`): a change here is a
//! change of the report format.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail,
    Skip,
    Error,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Skip => "skip",
            Verdict::Error => "error",
        }
    }
}

/// Requirement level of a case, as in RFC 2119.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    Must,
    Should,
    May,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Must => "MUST",
            Level::Should => "SHOULD",
            Level::May => "MAY",
        }
    }
}

/// The role of the connector under test in a case.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Provider,
    Consumer,
    /// Both roles at once (the carbon-emissions flow between two reference connectors).
    Both,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Provider => "provider",
            Role::Consumer => "consumer",
            Role::Both => "both",
        }
    }
}

/// One thing that did not hold, quoting what was expected and what came.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Finding {
    /// A short category: `status`, `content-type`, `schema`, `identifier`, `state`, `body`,
    /// `digest`, `timeout`, `transport`, ...
    pub kind: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual: Option<String>,
    /// Index into the case's `exchanges` this finding refers to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchange: Option<usize>,
}

impl Finding {
    pub fn new(kind: impl Into<String>, message: impl Into<String>) -> Self {
        Finding { kind: kind.into(), message: message.into(), expected: None, actual: None, exchange: None }
    }

    pub fn expected(mut self, expected: impl Into<String>, actual: impl Into<String>) -> Self {
        self.expected = Some(expected.into());
        self.actual = Some(actual.into());
        self
    }

    pub fn at(mut self, exchange: usize) -> Self {
        self.exchange = Some(exchange);
        self
    }
}

/// One HTTP exchange: a request and, unless the transport failed, its response.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Exchange {
    pub seq: u64,
    /// Who sent the request (`harness`, `consumer`, `provider`, `connector-under-test`, ...).
    pub from: String,
    /// Who received it.
    pub to: String,
    pub method: String,
    pub url: String,
    #[serde(default)]
    pub request_headers: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_body: Option<Body>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default)]
    pub response_headers: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_body: Option<Body>,
    /// A transport failure (timeout, connection reset) in place of a response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub duration_ms: u64,
    /// The DSP message type of the request body and of the response body, where recognised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_type: Option<String>,
    /// Schema violations found in the request or response body.
    #[serde(default)]
    pub violations: Vec<Violation>,
}

impl Exchange {
    /// A request from `from` to `to`, not yet answered: headers, bodies, status, timing and
    /// violations empty, for the recorders to fill in (with struct update syntax).
    pub fn request(seq: u64, from: impl Into<String>, to: impl Into<String>, method: impl Into<String>, url: impl Into<String>) -> Exchange {
        Exchange {
            seq,
            from: from.into(),
            to: to.into(),
            method: method.into(),
            url: url.into(),
            request_headers: Vec::new(),
            request_body: None,
            status: None,
            response_headers: Vec::new(),
            response_body: None,
            error: None,
            duration_ms: 0,
            request_type: None,
            response_type: None,
            violations: Vec::new(),
        }
    }
}

/// A recorded body: JSON when it parsed, otherwise text (truncated) or a digest for binary data.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", content = "value", rename_all = "lowercase", deny_unknown_fields)]
pub enum Body {
    Json(Value),
    Text(String),
    /// Payload bytes are not recorded, only their size and SHA-256.
    Binary { size: u64, sha256: String },
}

/// One schema violation of a message.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Violation {
    /// `request` or `response`.
    pub part: String,
    /// The schema (message type) the body was checked against.
    pub schema: String,
    /// JSON Pointer into the body.
    pub instance_path: String,
    pub message: String,
}
