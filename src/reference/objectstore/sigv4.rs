//! AWS Signature Version 4 as an S3 server checks it: the canonical request, the string to
//! sign, the signing key derivation and the constant-time comparison, for both the
//! `Authorization` header form and the presigned query form, plus the per-chunk and trailer
//! signatures of the streaming upload modes. Pure functions over request parts; no I/O.

use std::fmt::Write as _;

use axum::http::{header, HeaderMap, Method};
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use super::error::ObjectStoreError;

type HmacSha256 = Hmac<Sha256>;

/// The only algorithm S3 accepts for SigV4.
pub(crate) const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// SHA-256 of the empty string, which chunk signatures use for their (empty) chunk headers.
pub(crate) const EMPTY_SHA256: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// S3 refuses requests whose signing time is more than 15 minutes away from its clock.
const MAX_SKEW_SECONDS: i64 = 15 * 60;
/// Presigned URLs may live at most seven days.
const MAX_PRESIGN_EXPIRES_SECONDS: i64 = 604_800;
const SERVICE: &str = "s3";
const TERMINATOR: &str = "aws4_request";
const AMZ_DATE_FORMAT: &str = "%Y%m%dT%H%M%SZ";

/// The keys the store accepts requests from.
pub(crate) struct Credentials<'a> {
    pub access_key: &'a str,
    pub secret_key: &'a str,
    pub region: &'a str,
}

/// The parts of a request the signature covers.
pub(crate) struct RequestView<'a> {
    pub method: &'a Method,
    /// The path exactly as it arrived, still percent-encoded.
    pub raw_path: &'a str,
    /// The query exactly as it arrived, still percent-encoded.
    pub raw_query: &'a str,
    pub headers: &'a HeaderMap,
    /// The URI authority, used for `host` when a request has no Host header.
    pub authority: Option<&'a str>,
}

/// What the client declared about the body in `x-amz-content-sha256`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PayloadHash {
    /// The hex SHA-256 of the whole body; the store must check it.
    Literal(String),
    /// `UNSIGNED-PAYLOAD`: the body is not covered by the signature.
    Unsigned,
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`: aws-chunked framing, unsigned chunks, and a trailer
    /// carrying a checksum.
    StreamingUnsignedTrailer,
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]`: aws-chunked framing where every chunk
    /// (and the trailer, if any) carries a signature chained from the request's signature.
    StreamingSigned { trailer: bool },
}

impl PayloadHash {
    fn parse(value: &str) -> Result<Self, ObjectStoreError> {
        match value {
            "UNSIGNED-PAYLOAD" => Ok(Self::Unsigned),
            "STREAMING-UNSIGNED-PAYLOAD-TRAILER" => Ok(Self::StreamingUnsignedTrailer),
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" => Ok(Self::StreamingSigned { trailer: false }),
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER" => {
                Ok(Self::StreamingSigned { trailer: true })
            }
            v if v.starts_with("STREAMING-AWS4-ECDSA-P256-SHA256") => Err(
                ObjectStoreError::NotImplemented("sigv4a streaming payloads are not supported".to_owned()),
            ),
            v if v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()) => {
                Ok(Self::Literal(v.to_ascii_lowercase()))
            }
            other => Err(ObjectStoreError::InvalidArgument(format!(
                "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, a STREAMING- mode or a sha-256 hex digest, not {other:?}"
            ))),
        }
    }

    pub(crate) fn is_streaming(&self) -> bool {
        matches!(
            self,
            Self::StreamingUnsignedTrailer | Self::StreamingSigned { .. }
        )
    }
}

/// The outcome of a successful signature check.
#[derive(Debug)]
pub(crate) struct Authenticated {
    pub payload: PayloadHash,
    /// Present for the signed streaming modes: verifies the chunk signature chain.
    pub chunk_signer: Option<ChunkSigner>,
}

/// Checks the chain of chunk signatures of a `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` body: each
/// chunk's signature covers its data and the previous signature, starting from the request's.
#[derive(Debug, Clone)]
pub(crate) struct ChunkSigner {
    key: [u8; 32],
    amz_date: String,
    scope: String,
    previous: String,
}

impl ChunkSigner {
    pub(crate) fn new(key: [u8; 32], amz_date: &str, scope: &str, seed_signature: &str) -> Self {
        Self {
            key,
            amz_date: amz_date.to_owned(),
            scope: scope.to_owned(),
            previous: seed_signature.to_ascii_lowercase(),
        }
    }

    /// Verifies one chunk's signature given the hex SHA-256 of its data.
    pub(crate) fn verify_chunk(
        &mut self,
        chunk_sha256_hex: &str,
        provided: &str,
    ) -> Result<(), ObjectStoreError> {
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{}\n{}\n{}",
            self.amz_date, self.scope, self.previous, EMPTY_SHA256, chunk_sha256_hex
        );
        self.check(string_to_sign, provided)
    }

    /// Verifies the trailer signature given the canonical trailer (`name:value\n` lines sorted by
    /// name, without the signature line itself).
    pub(crate) fn verify_trailer(
        &mut self,
        canonical_trailer: &str,
        provided: &str,
    ) -> Result<(), ObjectStoreError> {
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256-TRAILER\n{}\n{}\n{}\n{}",
            self.amz_date,
            self.scope,
            self.previous,
            sha256_hex(canonical_trailer.as_bytes())
        );
        self.check(string_to_sign, provided)
    }

    fn check(&mut self, string_to_sign: String, provided: &str) -> Result<(), ObjectStoreError> {
        if signature_matches(&self.key, &string_to_sign, provided) {
            self.previous = provided.to_ascii_lowercase();
            Ok(())
        } else {
            Err(ObjectStoreError::SignatureDoesNotMatch {
                string_to_sign,
                canonical_request: String::new(),
            })
        }
    }
}

/// Hex SHA-256 of `data`.
pub(crate) fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = HmacSha256::new_from_slice(key).expect("hmac accepts any key length");
    mac.update(message);
    let mut out = [0u8; 32];
    out.copy_from_slice(&mac.finalize().into_bytes());
    out
}

/// Derives the signing key: HMAC chain over date, region, service and `aws4_request`.
pub(crate) fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, TERMINATOR.as_bytes())
}

/// The hex signature of `string_to_sign` under `key` (the server only compares; tests sign).
#[cfg(test)]
pub(crate) fn sign(key: &[u8; 32], string_to_sign: &str) -> String {
    hex::encode(hmac(key, string_to_sign.as_bytes()))
}

/// Compares a provided hex signature with the expected one in constant time.
pub(crate) fn signature_matches(key: &[u8; 32], string_to_sign: &str, provided_hex: &str) -> bool {
    let Ok(provided) = hex::decode(provided_hex) else {
        return false;
    };
    let mut mac = HmacSha256::new_from_slice(key).expect("hmac accepts any key length");
    mac.update(string_to_sign.as_bytes());
    mac.verify_slice(&provided).is_ok()
}

/// Percent-encodes everything except RFC 3986 unreserved characters (and `/` when asked), with
/// upper-case hex, as SigV4 requires.
pub(crate) fn uri_encode(bytes: &[u8], keep_slash: bool) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'.' | b'_' | b'~')
            || (keep_slash && b == b'/')
        {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Decodes `%XX` escapes (and `+` as space in query strings). Malformed escapes stay literal,
/// as browsers and the AWS SDKs treat them.
pub(crate) fn percent_decode(input: &str, plus_as_space: bool) -> Vec<u8> {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                match (hex_value(bytes[i + 1]), hex_value(bytes[i + 2])) {
                    (Some(hi), Some(lo)) => {
                        out.push(hi << 4 | lo);
                        i += 3;
                        continue;
                    }
                    _ => out.push(b'%'),
                }
            }
            b'+' if plus_as_space => out.push(b' '),
            other => out.push(other),
        }
        i += 1;
    }
    out
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The canonical URI for S3: the decoded path encoded once, slashes kept (S3 neither
/// double-encodes nor normalises paths).
pub(crate) fn canonical_uri(raw_path: &str) -> String {
    if raw_path.is_empty() {
        return "/".to_owned();
    }
    uri_encode(&percent_decode(raw_path, false), true)
}

/// Splits a raw query string into decoded pairs, the way `application/x-www-form-urlencoded`
/// parsing (which the AWS SDKs use when signing) does.
pub(crate) fn parse_query(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| {
            let (k, v) = piece.split_once('=').unwrap_or((piece, ""));
            (
                String::from_utf8_lossy(&percent_decode(k, true)).into_owned(),
                String::from_utf8_lossy(&percent_decode(v, true)).into_owned(),
            )
        })
        .collect()
}

/// The canonical query string: every pair encoded, sorted by encoded name then value.
pub(crate) fn canonical_query(pairs: &[(String, String)], skip: Option<&str>) -> String {
    let mut encoded: Vec<(String, String)> = pairs
        .iter()
        .filter(|(k, _)| Some(k.as_str()) != skip)
        .map(|(k, v)| {
            (
                uri_encode(k.as_bytes(), false),
                uri_encode(v.as_bytes(), false),
            )
        })
        .collect();
    encoded.sort();
    let mut out = String::new();
    for (i, (k, v)) in encoded.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// Trims spaces and collapses runs of spaces, as SigV4 canonical header values require.
fn canonical_header_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut previous_space = false;
    for c in value.trim_matches(' ').chars() {
        if c == ' ' {
            if !previous_space {
                out.push(' ');
            }
            previous_space = true;
        } else {
            out.push(c);
            previous_space = false;
        }
    }
    out
}

/// The canonical headers block (`name:value\n` per signed header, in the signed order).
fn canonical_headers(
    headers: &HeaderMap,
    signed: &[&str],
    authority: Option<&str>,
) -> Result<String, String> {
    let mut out = String::new();
    for name in signed {
        let values: Vec<String> = headers
            .get_all(*name)
            .iter()
            .map(|v| canonical_header_value(&String::from_utf8_lossy(v.as_bytes())))
            .collect();
        let value = if values.is_empty() {
            match (*name, authority) {
                ("host", Some(authority)) => authority.to_owned(),
                _ => return Err(format!("signed header {name} is missing from the request")),
            }
        } else {
            values.join(",")
        };
        out.push_str(name);
        out.push(':');
        out.push_str(&value);
        out.push('\n');
    }
    Ok(out)
}

/// Assembles the canonical request.
pub(crate) fn canonical_request(
    method: &str,
    canonical_uri: &str,
    canonical_query: &str,
    canonical_headers: &str,
    signed_headers: &str,
    payload_hash: &str,
) -> String {
    format!("{method}\n{canonical_uri}\n{canonical_query}\n{canonical_headers}\n{signed_headers}\n{payload_hash}")
}

/// Assembles the string to sign.
pub(crate) fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical_request.as_bytes())
    )
}

/// `AKID/date/region/service/aws4_request`.
struct Credential {
    access_key: String,
    date: String,
    region: String,
    service: String,
    terminator: String,
}

impl Credential {
    fn parse(value: &str) -> Option<Self> {
        let mut parts = value.rsplitn(5, '/');
        let terminator = parts.next()?.to_owned();
        let service = parts.next()?.to_owned();
        let region = parts.next()?.to_owned();
        let date = parts.next()?.to_owned();
        let access_key = parts.next()?.to_owned();
        if access_key.is_empty() {
            return None;
        }
        Some(Self {
            access_key,
            date,
            region,
            service,
            terminator,
        })
    }

    fn scope(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.date, self.region, self.service, self.terminator
        )
    }

    /// Checks the scope against the request date and the store's region; `malformed` builds the
    /// error variant of the auth form in use.
    fn check(
        &self,
        amz_date: &str,
        region: &str,
        malformed: fn(String) -> ObjectStoreError,
    ) -> Result<(), ObjectStoreError> {
        if !amz_date.starts_with(&self.date) || self.date.len() != 8 {
            return Err(malformed(format!(
                "credential date {} does not match x-amz-date {amz_date}",
                self.date
            )));
        }
        if self.region != region {
            return Err(malformed(format!(
                "the region '{}' is wrong; expecting '{region}'",
                self.region
            )));
        }
        if self.service != SERVICE {
            return Err(malformed(format!(
                "the service '{}' is wrong; expecting 's3'",
                self.service
            )));
        }
        if self.terminator != TERMINATOR {
            return Err(malformed(
                "credential scope must end with aws4_request".to_owned(),
            ));
        }
        Ok(())
    }
}

/// The three components of an `Authorization: AWS4-HMAC-SHA256 ...` header.
struct AuthorizationHeader {
    credential: Credential,
    signed_headers: String,
    signature: String,
}

impl AuthorizationHeader {
    fn parse(value: &str) -> Result<Self, ObjectStoreError> {
        let malformed = |m: &str| ObjectStoreError::AuthorizationHeaderMalformed(m.to_owned());
        let (algorithm, rest) = value
            .trim()
            .split_once(' ')
            .ok_or_else(|| malformed("the authorization header is malformed"))?;
        if algorithm != ALGORITHM {
            return Err(ObjectStoreError::InvalidRequest(
                "the authorization mechanism you have provided is not supported; please use AWS4-HMAC-SHA256"
                    .to_owned(),
            ));
        }
        let (mut credential, mut signed_headers, mut signature) = (None, None, None);
        for component in rest.split(',') {
            let Some((name, value)) = component.trim().split_once('=') else {
                return Err(malformed("the authorization header is malformed"));
            };
            match name {
                "Credential" => credential = Some(value),
                "SignedHeaders" => signed_headers = Some(value),
                "Signature" => signature = Some(value),
                _ => {
                    return Err(malformed(
                        "the authorization header has an unknown component",
                    ))
                }
            }
        }
        let credential = credential
            .and_then(Credential::parse)
            .ok_or_else(|| malformed("the authorization header has no valid Credential"))?;
        let signed_headers = signed_headers
            .filter(|s| valid_signed_headers(s))
            .ok_or_else(|| malformed("the authorization header has no valid SignedHeaders"))?;
        let signature =
            signature.ok_or_else(|| malformed("the authorization header has no Signature"))?;
        Ok(Self {
            credential,
            signed_headers: signed_headers.to_owned(),
            signature: signature.to_owned(),
        })
    }
}

fn valid_signed_headers(value: &str) -> bool {
    !value.is_empty()
        && value.split(';').all(|name| {
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b))
        })
}

fn parse_amz_date(value: &str) -> Option<DateTime<Utc>> {
    NaiveDateTime::parse_from_str(value, AMZ_DATE_FORMAT)
        .ok()
        .map(|naive| Utc.from_utc_datetime(&naive))
}

/// Formats a time the way `x-amz-date` carries it.
pub(crate) fn format_amz_date(time: DateTime<Utc>) -> String {
    time.format(AMZ_DATE_FORMAT).to_string()
}

/// Verifies the request's signature (header or presigned form) against the store's
/// credentials at time `now`. Every failure is an S3 error; nothing here panics on input.
pub(crate) fn authenticate(
    request: &RequestView<'_>,
    credentials: &Credentials<'_>,
    now: DateTime<Utc>,
) -> Result<Authenticated, ObjectStoreError> {
    let query = parse_query(request.raw_query);
    let presigned = query.iter().any(|(k, _)| {
        matches!(
            k.as_str(),
            "X-Amz-Signature" | "X-Amz-Algorithm" | "X-Amz-Credential"
        )
    });
    match (request.headers.get(header::AUTHORIZATION), presigned) {
        (Some(_), true) => Err(ObjectStoreError::InvalidArgument(
            "only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header should be specified"
                .to_owned(),
        )),
        (None, false) => Err(ObjectStoreError::AccessDenied(
            "anonymous access is not allowed".to_owned(),
        )),
        (Some(value), false) => {
            let value = value.to_str().map_err(|_| {
                ObjectStoreError::AuthorizationHeaderMalformed("the authorization header is not ascii".to_owned())
            })?;
            authenticate_header(request, &query, AuthorizationHeader::parse(value)?, credentials, now)
        }
        (None, true) => authenticate_presigned(request, &query, credentials, now),
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn authenticate_header(
    request: &RequestView<'_>,
    query: &[(String, String)],
    auth: AuthorizationHeader,
    credentials: &Credentials<'_>,
    now: DateTime<Utc>,
) -> Result<Authenticated, ObjectStoreError> {
    if auth.credential.access_key != credentials.access_key {
        return Err(ObjectStoreError::InvalidAccessKeyId(
            auth.credential.access_key,
        ));
    }
    let amz_date = header_str(request.headers, "x-amz-date").ok_or_else(|| {
        ObjectStoreError::AccessDenied(
            "AWS authentication requires a valid x-amz-date header".to_owned(),
        )
    })?;
    let request_time = parse_amz_date(amz_date).ok_or_else(|| {
        ObjectStoreError::AccessDenied(
            "AWS authentication requires a valid x-amz-date header".to_owned(),
        )
    })?;
    auth.credential.check(
        amz_date,
        credentials.region,
        ObjectStoreError::AuthorizationHeaderMalformed,
    )?;
    if (now - request_time).num_seconds().abs() > MAX_SKEW_SECONDS {
        return Err(ObjectStoreError::RequestTimeTooSkewed {
            request_time: amz_date.to_owned(),
            server_time: format_amz_date(now),
        });
    }
    let payload_header = header_str(request.headers, "x-amz-content-sha256").ok_or_else(|| {
        ObjectStoreError::InvalidRequest(
            "missing required header for this request: x-amz-content-sha256".to_owned(),
        )
    })?;
    let payload = PayloadHash::parse(payload_header)?;
    let signed: Vec<&str> = auth.signed_headers.split(';').collect();
    if !signed.contains(&"host") {
        return Err(ObjectStoreError::AuthorizationHeaderMalformed(
            "signed headers must include host".to_owned(),
        ));
    }
    let key = signing_key(
        credentials.secret_key,
        &auth.credential.date,
        &auth.credential.region,
        &auth.credential.service,
    );
    let scope = auth.credential.scope();
    verify_signature(
        request,
        &canonical_query(query, None),
        &signed,
        &auth.signed_headers,
        payload_header,
        amz_date,
        &scope,
        &key,
        &auth.signature,
    )?;
    let chunk_signer = matches!(payload, PayloadHash::StreamingSigned { .. })
        .then(|| ChunkSigner::new(key, amz_date, &scope, &auth.signature));
    Ok(Authenticated {
        payload,
        chunk_signer,
    })
}

fn authenticate_presigned(
    request: &RequestView<'_>,
    query: &[(String, String)],
    credentials: &Credentials<'_>,
    now: DateTime<Utc>,
) -> Result<Authenticated, ObjectStoreError> {
    let malformed = |m: &str| ObjectStoreError::AuthorizationQueryParametersError(m.to_owned());
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if param("X-Amz-Algorithm") != Some(ALGORITHM) {
        return Err(malformed(
            "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"",
        ));
    }
    let credential = param("X-Amz-Credential")
        .and_then(Credential::parse)
        .ok_or_else(|| malformed("X-Amz-Credential is missing or malformed"))?;
    let amz_date = param("X-Amz-Date").ok_or_else(|| malformed("X-Amz-Date is missing"))?;
    let request_time = parse_amz_date(amz_date)
        .ok_or_else(|| malformed("X-Amz-Date must be in the ISO8601 long format"))?;
    let expires: i64 = param("X-Amz-Expires")
        .and_then(|v| v.parse().ok())
        .filter(|v| (1..=MAX_PRESIGN_EXPIRES_SECONDS).contains(v))
        .ok_or_else(|| {
            malformed("X-Amz-Expires must be a number of seconds between 1 and 604800")
        })?;
    let signed_headers = param("X-Amz-SignedHeaders")
        .filter(|s| valid_signed_headers(s))
        .ok_or_else(|| malformed("X-Amz-SignedHeaders is missing or malformed"))?;
    let signature =
        param("X-Amz-Signature").ok_or_else(|| malformed("X-Amz-Signature is missing"))?;
    if credential.access_key != credentials.access_key {
        return Err(ObjectStoreError::InvalidAccessKeyId(credential.access_key));
    }
    credential.check(
        amz_date,
        credentials.region,
        ObjectStoreError::AuthorizationQueryParametersError,
    )?;
    if (request_time - now).num_seconds() > MAX_SKEW_SECONDS {
        return Err(ObjectStoreError::AccessDenied(
            "request is not valid yet".to_owned(),
        ));
    }
    if (now - request_time).num_seconds() > expires {
        return Err(ObjectStoreError::AccessDenied(
            "request has expired".to_owned(),
        ));
    }
    let signed: Vec<&str> = signed_headers.split(';').collect();
    if !signed.contains(&"host") {
        return Err(malformed("X-Amz-SignedHeaders must include host"));
    }
    // Presigned URLs sign UNSIGNED-PAYLOAD unless the client also sent a payload hash header.
    let payload_header =
        header_str(request.headers, "x-amz-content-sha256").unwrap_or("UNSIGNED-PAYLOAD");
    let payload = PayloadHash::parse(payload_header)?;
    let key = signing_key(
        credentials.secret_key,
        &credential.date,
        &credential.region,
        &credential.service,
    );
    let scope = credential.scope();
    verify_signature(
        request,
        &canonical_query(query, Some("X-Amz-Signature")),
        &signed,
        signed_headers,
        payload_header,
        amz_date,
        &scope,
        &key,
        signature,
    )?;
    let chunk_signer = matches!(payload, PayloadHash::StreamingSigned { .. })
        .then(|| ChunkSigner::new(key, amz_date, &scope, signature));
    Ok(Authenticated {
        payload,
        chunk_signer,
    })
}

#[allow(clippy::too_many_arguments)]
fn verify_signature(
    request: &RequestView<'_>,
    canonical_query: &str,
    signed: &[&str],
    signed_headers: &str,
    payload_hash: &str,
    amz_date: &str,
    scope: &str,
    key: &[u8; 32],
    provided: &str,
) -> Result<(), ObjectStoreError> {
    let headers = canonical_headers(request.headers, signed, request.authority)
        .map_err(ObjectStoreError::AccessDenied)?;
    let canonical = canonical_request(
        request.method.as_str(),
        &canonical_uri(request.raw_path),
        canonical_query,
        &headers,
        signed_headers,
        payload_hash,
    );
    let to_sign = string_to_sign(amz_date, scope, &canonical);
    if signature_matches(key, &to_sign, provided) {
        Ok(())
    } else {
        Err(ObjectStoreError::SignatureDoesNotMatch {
            string_to_sign: to_sign,
            canonical_request: canonical,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    const ACCESS_KEY: &str = "AKIAIOSFODNN7EXAMPLE";
    const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    fn credentials() -> Credentials<'static> {
        Credentials {
            access_key: ACCESS_KEY,
            secret_key: SECRET_KEY,
            region: "us-east-1",
        }
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    fn at(time: &str) -> DateTime<Utc> {
        parse_amz_date(time).unwrap()
    }

    /// Runs `authenticate` on a request described by its parts.
    fn check(
        method: Method,
        path: &str,
        query: &str,
        header_pairs: &[(&str, &str)],
        now: &str,
    ) -> Result<Authenticated, ObjectStoreError> {
        let headers = headers(header_pairs);
        let view = RequestView {
            method: &method,
            raw_path: path,
            raw_query: query,
            headers: &headers,
            authority: None,
        };
        authenticate(&view, &credentials(), at(now))
    }

    // The "GET Object" example of the S3 SigV4 documentation ("Examples: Signature
    // Calculations in AWS Signature Version 4", header-based authentication).
    const GET_OBJECT_AUTH: &str = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";

    fn get_object_headers(authorization: &str) -> Vec<(&str, &str)> {
        vec![
            ("host", "examplebucket.s3.amazonaws.com"),
            ("range", "bytes=0-9"),
            ("x-amz-content-sha256", EMPTY_SHA256),
            ("x-amz-date", "20130524T000000Z"),
            ("authorization", authorization),
        ]
    }

    #[test]
    fn documented_get_object_canonical_request_and_signature() {
        let expected_canonical = "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\nx-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\nx-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let hdrs = headers(&get_object_headers(GET_OBJECT_AUTH));
        let signed = ["host", "range", "x-amz-content-sha256", "x-amz-date"];
        let canonical = canonical_request(
            "GET",
            &canonical_uri("/test.txt"),
            "",
            &canonical_headers(&hdrs, &signed, None).unwrap(),
            "host;range;x-amz-content-sha256;x-amz-date",
            EMPTY_SHA256,
        );
        assert_eq!(canonical, expected_canonical);
        let to_sign = string_to_sign(
            "20130524T000000Z",
            "20130524/us-east-1/s3/aws4_request",
            &canonical,
        );
        assert_eq!(
            to_sign,
            "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972"
        );
        let key = signing_key(SECRET_KEY, "20130524", "us-east-1", "s3");
        assert_eq!(
            sign(&key, &to_sign),
            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );

        let outcome = check(
            Method::GET,
            "/test.txt",
            "",
            &get_object_headers(GET_OBJECT_AUTH),
            "20130524T000500Z",
        )
        .expect("documented request verifies");
        assert_eq!(
            outcome.payload,
            PayloadHash::Literal(EMPTY_SHA256.to_owned())
        );
        assert!(outcome.chunk_signer.is_none());
    }

    #[test]
    fn documented_put_object_with_encoded_path_verifies() {
        // The "PUT Object" example: a `$` in the key is percent-encoded in the canonical URI.
        let auth = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class,Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd";
        let pairs = [
            ("host", "examplebucket.s3.amazonaws.com"),
            ("date", "Fri, 24 May 2013 00:00:00 GMT"),
            ("x-amz-date", "20130524T000000Z"),
            ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            (
                "x-amz-content-sha256",
                "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
            ),
            ("authorization", auth),
        ];
        check(
            Method::PUT,
            "/test$file.text",
            "",
            &pairs,
            "20130524T000000Z",
        )
        .expect("raw $ verifies");
        check(
            Method::PUT,
            "/test%24file.text",
            "",
            &pairs,
            "20130524T000000Z",
        )
        .expect("encoded $ verifies");
    }

    #[test]
    fn documented_list_objects_query_verifies() {
        let auth = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;x-amz-content-sha256;x-amz-date,Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7";
        let pairs = [
            ("host", "examplebucket.s3.amazonaws.com"),
            ("x-amz-date", "20130524T000000Z"),
            ("x-amz-content-sha256", EMPTY_SHA256),
            ("authorization", auth),
        ];
        // The query arrives unsorted; canonicalisation sorts it.
        check(
            Method::GET,
            "/",
            "prefix=J&max-keys=2",
            &pairs,
            "20130524T000000Z",
        )
        .expect("verifies");
    }

    #[test]
    fn documented_presigned_url_verifies_and_expires() {
        let query = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";
        let pairs = [("host", "examplebucket.s3.amazonaws.com")];
        let ok =
            check(Method::GET, "/test.txt", query, &pairs, "20130524T120000Z").expect("verifies");
        assert_eq!(ok.payload, PayloadHash::Unsigned);
        let expired = check(Method::GET, "/test.txt", query, &pairs, "20130525T000001Z");
        assert!(matches!(expired, Err(ObjectStoreError::AccessDenied(m)) if m.contains("expired")));
        let tampered = query.replace("aeeed9", "aeeed8");
        assert!(matches!(
            check(
                Method::GET,
                "/test.txt",
                &tampered,
                &pairs,
                "20130524T120000Z"
            ),
            Err(ObjectStoreError::SignatureDoesNotMatch { .. })
        ));
    }

    #[test]
    fn refusals_carry_the_right_s3_error() {
        let now = "20130524T000000Z";
        let cases = [
            (
                GET_OBJECT_AUTH.replace("Signature=f0e8", "Signature=f0e9"),
                "SignatureDoesNotMatch",
            ),
            (
                GET_OBJECT_AUTH.replace("AKIAIOSFODNN7EXAMPLE", "AKIDUNKNOWN"),
                "InvalidAccessKeyId",
            ),
            (
                GET_OBJECT_AUTH.replace("us-east-1", "eu-west-1"),
                "AuthorizationHeaderMalformed",
            ),
            (
                GET_OBJECT_AUTH.replace("Signature=f0e8", "Signature=zz"),
                "SignatureDoesNotMatch",
            ),
            (
                GET_OBJECT_AUTH.replace(",Signature=", ",Sig="),
                "AuthorizationHeaderMalformed",
            ),
            (
                "AWS4-HMAC-SHA256 garbage".to_owned(),
                "AuthorizationHeaderMalformed",
            ),
            ("AWS AKIAIOSFODNN7EXAMPLE:sig".to_owned(), "InvalidRequest"),
            (String::new(), "AuthorizationHeaderMalformed"),
        ];
        for (authorization, code) in &cases {
            let err = check(
                Method::GET,
                "/test.txt",
                "",
                &get_object_headers(authorization),
                now,
            )
            .expect_err(code);
            assert_eq!(err.s3_code(), *code, "{authorization}: {err}");
        }
        let err = check(
            Method::GET,
            "/test.txt",
            "",
            &[("host", "examplebucket.s3.amazonaws.com")],
            now,
        )
        .expect_err("anonymous");
        assert_eq!(err.s3_code(), "AccessDenied");
        // The same request signed correctly but checked a day later.
        let err = check(
            Method::GET,
            "/test.txt",
            "",
            &get_object_headers(GET_OBJECT_AUTH),
            "20130525T000000Z",
        )
        .expect_err("skewed");
        assert_eq!(err.s3_code(), "RequestTimeTooSkewed");
        // A different method or path changes the canonical request.
        let err = check(
            Method::PUT,
            "/test.txt",
            "",
            &get_object_headers(GET_OBJECT_AUTH),
            now,
        )
        .expect_err("method");
        assert_eq!(err.s3_code(), "SignatureDoesNotMatch");
        let err = check(
            Method::GET,
            "/test.txt",
            "x=1",
            &get_object_headers(GET_OBJECT_AUTH),
            now,
        )
        .expect_err("query");
        assert_eq!(err.s3_code(), "SignatureDoesNotMatch");
    }

    #[test]
    fn header_values_are_trimmed_and_collapsed() {
        assert_eq!(canonical_header_value("  a   b  c "), "a b c");
        assert_eq!(canonical_header_value("plain"), "plain");
    }

    #[test]
    fn query_canonicalisation_encodes_and_sorts() {
        let pairs = parse_query("prefix=a%2Fb+c&list-type=2&acl&empty=");
        assert_eq!(
            canonical_query(&pairs, None),
            "acl=&empty=&list-type=2&prefix=a%2Fb%20c"
        );
        assert_eq!(percent_decode("%zz%4", false), b"%zz%4");
        assert_eq!(canonical_uri("/b/a%20b~c%2a"), "/b/a%20b~c%2A");
    }

    #[test]
    fn documented_chunk_signatures_chain() {
        // The STREAMING-AWS4-HMAC-SHA256-PAYLOAD example of the S3 documentation.
        let key = signing_key(SECRET_KEY, "20130524", "us-east-1", "s3");
        let mut signer = ChunkSigner::new(
            key,
            "20130524T000000Z",
            "20130524/us-east-1/s3/aws4_request",
            "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
        );
        let first = sha256_hex(&[b'a'; 65536]);
        signer
            .verify_chunk(
                &first,
                "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
            )
            .expect("first chunk");
        let second = sha256_hex(&[b'a'; 1024]);
        let mut wrong = signer.clone();
        assert!(wrong.verify_chunk(&second, &"0".repeat(64)).is_err());
        signer
            .verify_chunk(
                &second,
                "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
            )
            .expect("second chunk");
        signer
            .verify_chunk(
                EMPTY_SHA256,
                "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
            )
            .expect("final chunk");
    }
}
