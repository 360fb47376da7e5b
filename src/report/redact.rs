//! Keeps secrets out of every rendered report.
//!
//! Reports record whole HTTP exchanges, and DSP exchanges carry credentials: DAT bearer tokens,
//! `endpointProperties` with an `authorization` value, API keys of management APIs. Every
//! renderer (and the JSON writer) passes the report through a [`Redactor`] before it formats
//! anything, so a report file can be attached to a CI job or a public issue.
//!
//! What is replaced by [`REDACTED`]:
//! - values of the headers in [`SECRET_HEADERS`];
//! - values of JSON object members whose key is in [`SECRET_KEYS`] (case-insensitive, also with a
//!   JSON-LD prefix such as `edc:apiKey`), and the `value` of name/value entries (for example
//!   `endpointProperties`) whose `name` is one of those keys;
//! - JWT-shaped strings (three base64url segments, the first starting `eyJ`) and PEM private-key
//!   blocks anywhere in any string;
//! - `key=value` query or form parameters, `"key": "value"` members inside text bodies and
//!   `Authorization: ...` lines inside logs, for the same keys;
//! - the password of `scheme://user:password@host` URLs;
//! - literal values the run knows ([`Redactor::with_secrets`]), also percent-encoded or
//!   JSON-escaped, wherever they appear.
//!
//! Redaction is idempotent: redacting a redacted report changes nothing, so `report` can
//! regenerate byte-identical files from a saved `report.json`.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};

use super::model::{Body, CaseReport, Exchange, Finding, PreflightReport, Report};

/// What every redacted value becomes.
pub const REDACTED: &str = "[REDACTED]";

/// Headers whose values are always credentials (compared case-insensitively).
pub const SECRET_HEADERS: &[&str] =
    &["authorization", "proxy-authorization", "x-api-key", "cookie", "set-cookie", "x-amz-security-token"];

/// JSON member names whose values are always credentials (compared case-insensitively, after
/// stripping a JSON-LD prefix or namespace IRI).
pub const SECRET_KEYS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "access_token",
    "refresh_token",
    "id_token",
    "client_assertion",
    "client_secret",
    "token",
    "apikey",
    "api_key",
    "x-api-key",
    "password",
    "secret",
    "privatekey",
    "private_key",
    "cookie",
    "set-cookie",
    // S3 credentials, as they appear in S3 data addresses and presigned URLs.
    "secretaccesskey",
    "secret_access_key",
    "sessiontoken",
    "session_token",
    "x-amz-security-token",
    "x-amz-signature",
];

static JWT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*").expect("static regex"));

/// A PEM private key block; an unterminated block (a truncated text body) is redacted to its end.
static PEM: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(?:[\s\S]*?-----END [A-Z0-9 ]*PRIVATE KEY-----|[\s\S]*$)")
        .expect("static regex")
});

/// Secret-looking `key=value` pairs in URLs, form bodies and prose.
static PARAM: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(r"(?i)(^|[?&;,\s])({})=([^&\s#;,]+)", key_alternation())).expect("static regex")
});

/// Secret members inside JSON that was recorded as text (it did not parse, or was truncated).
static TEXT_MEMBER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(r#"(?i)("(?:[^"\\]*[:/#])?(?:{})"\s*:\s*)"(?:[^"\\]|\\.)*""#, key_alternation()))
        .expect("static regex")
});

/// `Authorization: ...` style header lines inside logs and text.
static HEADER_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?im)^([ \t>]*(?:authorization|proxy-authorization|x-api-key|cookie|set-cookie)[ \t]*:[ \t]*)(\S.*?)[ \t]*$",
    )
    .expect("static regex")
});

/// Bearer or Basic credentials that are not JWTs (opaque tokens), at least 16 characters long so
/// that prose such as "a Bearer token" stays readable.
static SCHEME_TOKEN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\b(Bearer|Basic)[ \t]+[A-Za-z0-9._~+/=-]{16,}").expect("static regex"));

/// The password part of `scheme://user:password@host`.
static USERINFO: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(://[^/\s:@]+:)([^@/\s]+)@").expect("static regex"));

fn key_alternation() -> String {
    // `apikey` and `privatekey` also match the camel-case spellings because the regexes are
    // case-insensitive; the underscore and dash forms are listed separately.
    SECRET_KEYS.iter().map(|k| regex::escape(k)).collect::<Vec<_>>().join("|")
}

/// Replaces secrets in a report. Cheap to clone; build one per run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Redactor {
    /// Literal secrets and their encoded forms, longest first so that a secret containing
    /// another is replaced whole.
    literals: Vec<String>,
}

impl Redactor {
    /// A redactor for the built-in rules only.
    pub fn new() -> Self {
        Redactor::default()
    }

    /// A redactor that also replaces these literal values (API keys, tokens the run created)
    /// wherever they appear. Empty values are ignored, and so are values that occur inside
    /// [`REDACTED`] itself, because replacing those could never reach a fixed point.
    pub fn with_secrets(secrets: Vec<String>) -> Self {
        let mut literals = Vec::new();
        for secret in secrets {
            if secret.is_empty() || REDACTED.contains(secret.as_str()) {
                continue;
            }
            let percent = percent_encode(&secret);
            if percent != secret {
                literals.push(percent.replace("%20", "+"));
                literals.push(percent);
            }
            let quoted = serde_json::to_string(&secret).unwrap_or_default();
            if let Some(escaped) = quoted.strip_prefix('"').and_then(|q| q.strip_suffix('"')) {
                if escaped != secret {
                    literals.push(escaped.to_owned());
                }
            }
            literals.push(secret);
        }
        literals.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        literals.dedup();
        Redactor { literals }
    }

    /// A redacted copy of the report.
    pub fn redact(&self, report: &Report) -> Report {
        let mut copy = report.clone();
        self.redact_in_place(&mut copy);
        copy
    }

    pub fn redact_in_place(&self, report: &mut Report) {
        let run = &mut report.run;
        self.scrub_mut(&mut run.target.dsp_url);
        self.scrub_mut(&mut run.target.name);
        self.scrub_mut(&mut run.schemas);
        for case in &mut report.cases {
            self.redact_case(case);
        }
        if let Some(load) = &mut report.load {
            for threshold in &mut load.thresholds {
                self.scrub_mut(&mut threshold.threshold);
            }
        }
        for group in &mut report.summary.skips_by_reason {
            self.scrub_mut(&mut group.reason);
        }
        if let Some(preflight) = &mut report.preflight {
            self.redact_preflight_in_place(preflight);
        }
    }

    /// A redacted copy of a preflight, for printing it before the run.
    pub fn redact_preflight(&self, preflight: &PreflightReport) -> PreflightReport {
        let mut copy = preflight.clone();
        self.redact_preflight_in_place(&mut copy);
        copy
    }

    fn redact_preflight_in_place(&self, preflight: &mut PreflightReport) {
        for warning in &mut preflight.warnings {
            self.scrub_mut(warning);
        }
        for check in &mut preflight.checks {
            self.scrub_mut(&mut check.detail);
            if let Some(fix) = &mut check.fix {
                self.scrub_mut(fix);
            }
        }
    }

    fn redact_case(&self, case: &mut CaseReport) {
        self.scrub_mut(&mut case.title);
        self.scrub_mut(&mut case.spec);
        if let Some(reason) = &mut case.reason {
            self.scrub_mut(reason);
        }
        for tag in &mut case.tags {
            self.scrub_mut(tag);
        }
        for finding in &mut case.findings {
            self.redact_finding(finding);
        }
        for step in &mut case.steps {
            self.scrub_mut(&mut step.name);
            for finding in &mut step.findings {
                self.redact_finding(finding);
            }
        }
        for exchange in &mut case.exchanges {
            self.redact_exchange(exchange);
        }
        for log in &mut case.logs {
            self.scrub_mut(&mut log.text);
        }
    }

    fn redact_finding(&self, finding: &mut Finding) {
        self.scrub_mut(&mut finding.message);
        for text in [&mut finding.expected, &mut finding.actual].into_iter().flatten() {
            self.scrub_mut(text);
        }
    }

    fn redact_exchange(&self, exchange: &mut Exchange) {
        self.scrub_mut(&mut exchange.url);
        self.redact_headers(&mut exchange.request_headers);
        self.redact_headers(&mut exchange.response_headers);
        for body in [&mut exchange.request_body, &mut exchange.response_body].into_iter().flatten() {
            self.redact_body(body);
        }
        if let Some(error) = &mut exchange.error {
            self.scrub_mut(error);
        }
        for violation in &mut exchange.violations {
            self.scrub_mut(&mut violation.message);
            self.scrub_mut(&mut violation.instance_path);
        }
    }

    fn redact_headers(&self, headers: &mut [(String, String)]) {
        for (name, value) in headers {
            if SECRET_HEADERS.iter().any(|h| name.trim().eq_ignore_ascii_case(h)) {
                *value = REDACTED.to_owned();
            } else {
                self.scrub_mut(value);
            }
        }
    }

    pub fn redact_body(&self, body: &mut Body) {
        match body {
            Body::Json(value) => self.redact_json(value),
            Body::Text(text) => self.scrub_mut(text),
            Body::Binary { .. } => {}
        }
    }

    /// Redacts secret members and secret-looking strings of a JSON value.
    pub fn redact_json(&self, value: &mut Value) {
        match value {
            Value::String(text) => self.scrub_mut(text),
            Value::Array(items) => items.iter_mut().for_each(|item| self.redact_json(item)),
            Value::Object(map) => self.redact_object(map),
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    fn redact_object(&self, map: &mut Map<String, Value>) {
        // A name/value entry (`endpointProperties`, EDC `properties`) whose name is a secret key
        // carries the secret in its `value` member.
        let names_secret = map.iter().any(|(k, v)| local_name(k) == "name" && v.as_str().is_some_and(is_secret_key));
        if self.literals.iter().any(|s| map.keys().any(|k| k.contains(s.as_str()))) {
            let old = std::mem::take(map);
            *map = old.into_iter().map(|(k, v)| (self.scrub(&k), v)).collect();
        }
        for (key, member) in map.iter_mut() {
            if is_secret_key(key) || (names_secret && local_name(key) == "value") {
                *member = Value::String(REDACTED.to_owned());
            } else {
                self.redact_json(member);
            }
        }
    }

    fn scrub_mut(&self, text: &mut String) {
        let scrubbed = self.scrub(text);
        if scrubbed != *text {
            *text = scrubbed;
        }
    }

    /// Redacts secrets inside free text (urls, findings, text bodies, logs).
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_owned();
        // Literals first: a known secret may also be matched partially by a pattern below,
        // which would leave a fragment of it behind.
        for secret in &self.literals {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), REDACTED);
            }
        }
        if out.contains("PRIVATE KEY-----") {
            out = PEM.replace_all(&out, REDACTED).into_owned();
        }
        if out.contains("eyJ") {
            out = JWT.replace_all(&out, REDACTED).into_owned();
        }
        out = PARAM.replace_all(&out, format!("${{1}}${{2}}={REDACTED}")).into_owned();
        out = TEXT_MEMBER.replace_all(&out, format!("${{1}}\"{REDACTED}\"")).into_owned();
        out = HEADER_LINE.replace_all(&out, format!("${{1}}{REDACTED}")).into_owned();
        out = SCHEME_TOKEN.replace_all(&out, format!("${{1}} {REDACTED}")).into_owned();
        out = USERINFO.replace_all(&out, format!("${{1}}{REDACTED}@")).into_owned();
        out
    }
}

/// The part of a JSON key after a JSON-LD prefix (`edc:apiKey`) or namespace IRI.
fn local_name(key: &str) -> &str {
    key.rsplit([':', '/', '#']).next().unwrap_or(key)
}

fn is_secret_key(key: &str) -> bool {
    let local = local_name(key);
    SECRET_KEYS.iter().any(|k| local.eq_ignore_ascii_case(k)) || SECRET_KEYS.iter().any(|k| key.eq_ignore_ascii_case(k))
}

/// Percent-encodes everything but RFC 3986 unreserved characters, as URL query encoders do.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const JWT_SAMPLE: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJjb25zdW1lciJ9.c2lnbmF0dXJl";

    fn check_scrub(redactor: &Redactor, input: &str, expected: &str) {
        let once = redactor.scrub(input);
        assert_eq!(once, expected, "scrubbing {input:?}");
        assert_eq!(redactor.scrub(&once), once, "scrubbing is not idempotent for {input:?}");
    }

    #[test]
    fn scrubs_patterns_in_free_text() {
        let r = Redactor::new();
        check_scrub(&r, &format!("Bearer {JWT_SAMPLE}"), "Bearer [REDACTED]");
        check_scrub(&r, &format!("token was {JWT_SAMPLE}."), "token was [REDACTED].");
        check_scrub(
            &r,
            "https://p.example/cb?access_token=abc123&state=x",
            "https://p.example/cb?access_token=[REDACTED]&state=x",
        );
        check_scrub(&r, "grant_type=x&client_secret=s3cr3t", "grant_type=x&client_secret=[REDACTED]");
        check_scrub(&r, "https://user:hunter2@host/x", "https://user:[REDACTED]@host/x");
        check_scrub(&r, r#"{"apiKey": "k-1", "other": "v"}"#, r#"{"apiKey": "[REDACTED]", "other": "v"}"#);
        check_scrub(&r, "> Authorization: Basic Zm9vOmJhcg==\nnext", "> Authorization: [REDACTED]\nnext");
        check_scrub(&r, "Bearer abcdefghijklmnop1234", "Bearer [REDACTED]");
        // Prose mentioning a scheme stays readable.
        check_scrub(&r, "expected a Bearer token", "expected a Bearer token");
        check_scrub(&r, "nothing secret here", "nothing secret here");
    }

    #[test]
    fn scrubs_pem_private_keys_even_when_truncated() {
        let r = Redactor::new();
        let pem = "key:\n-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----\nafter";
        check_scrub(&r, pem, "key:\n[REDACTED]\nafter");
        let ec = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----";
        check_scrub(&r, ec, "[REDACTED]");
        check_scrub(&r, "x -----BEGIN RSA PRIVATE KEY-----\nMIIEow", "x [REDACTED]");
        // Public material is not secret.
        let cert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----";
        check_scrub(&r, cert, cert);
    }

    #[test]
    fn literal_secrets_are_replaced_in_every_encoding() {
        let r = Redactor::with_secrets(vec!["k3y with/space".into(), String::new(), "RED".into()]);
        check_scrub(&r, "a k3y with/space b", "a [REDACTED] b");
        check_scrub(&r, "u?x=k3y%20with%2Fspace", "u?x=[REDACTED]");
        check_scrub(&r, "u?x=k3y+with%2Fspace", "u?x=[REDACTED]");
        // "RED" is ignored: it occurs in the replacement itself.
        check_scrub(&r, "RED", "RED");
        let quoted = Redactor::with_secrets(vec!["a\"b".into()]);
        check_scrub(&quoted, r#"{"x":"a\"b"}"#, r#"{"x":"[REDACTED]"}"#);
    }

    #[test]
    fn redacts_secret_members_and_endpoint_properties() {
        let r = Redactor::new();
        let mut value = json!({
            "@type": "DataAddress",
            "endpoint": "http://127.0.0.1:9/public",
            "endpointProperties": [
                {"@type": "EndpointProperty", "name": "authorization", "value": "opaque-token-1"},
                {"@type": "EndpointProperty", "name": "authType", "value": "bearer"}
            ],
            "dspace:endpointProperties": [
                {"dspace:name": "Authorization", "dspace:value": "opaque-token-2"}
            ],
            "nested": {"access_token": "t", "Password": 42, "edc:apiKey": "k", "privateKey": {"d": "x"}},
            "note": format!("carried {JWT_SAMPLE}")
        });
        r.redact_json(&mut value);
        let once = value.clone();
        r.redact_json(&mut value);
        assert_eq!(value, once, "json redaction is not idempotent");
        assert_eq!(value["endpointProperties"][0]["value"], REDACTED);
        assert_eq!(value["endpointProperties"][1]["value"], "bearer");
        assert_eq!(value["dspace:endpointProperties"][0]["dspace:value"], REDACTED);
        assert_eq!(value["nested"]["access_token"], REDACTED);
        assert_eq!(value["nested"]["Password"], REDACTED);
        assert_eq!(value["nested"]["edc:apiKey"], REDACTED);
        assert_eq!(value["nested"]["privateKey"], REDACTED);
        assert_eq!(value["note"], "carried [REDACTED]");
        assert_eq!(value["endpoint"], "http://127.0.0.1:9/public");
    }

    #[test]
    fn s3_credentials_are_redacted() {
        let r = Redactor::new();
        check_scrub(
            &r,
            "http://127.0.0.1:9000/b/k?X-Amz-Credential=AKIA%2F20250601&X-Amz-Signature=abcdef0123&X-Amz-Security-Token=tok",
            "http://127.0.0.1:9000/b/k?X-Amz-Credential=AKIA%2F20250601&X-Amz-Signature=[REDACTED]&X-Amz-Security-Token=[REDACTED]",
        );
        let mut value = json!({"endpointProperties": [
            {"name": "secretAccessKey", "value": "wJalrXUtnFEMI"},
            {"name": "accessKeyId", "value": "AKIAEXAMPLE"}
        ], "sessionToken": "FwoGZX"});
        r.redact_json(&mut value);
        assert_eq!(value["endpointProperties"][0]["value"], REDACTED);
        assert_eq!(value["endpointProperties"][1]["value"], "AKIAEXAMPLE");
        assert_eq!(value["sessionToken"], REDACTED);
    }

    #[test]
    fn literal_secret_used_as_json_key_is_replaced() {
        let r = Redactor::with_secrets(vec!["sekret-key-123".into()]);
        let mut value = json!({"sekret-key-123": 1});
        r.redact_json(&mut value);
        assert_eq!(value, json!({"[REDACTED]": 1}));
    }
}
