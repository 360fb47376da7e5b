//! Checking an incoming DAT: ES256 signature against the DAPS key set (fetched over HTTP and
//! cached), validity period, audience, issuer and payload type. A rejected token is a
//! [`DatRejection`], whose message the connector puts into its protocol error body.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use tokio::sync::RwLock;

use super::claims::{unix_now, DatClaims, DAT_TYPE};
use super::public_key::EcPublicKey;

/// Default tolerance for clock differences in `exp` and `nbf` checks.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(5);
/// An unknown `kid` triggers a key-set refetch at most this often, so a flood of tokens
/// signed by strangers cannot turn into a flood of requests to the DAPS.
const MIN_REFETCH_INTERVAL: Duration = Duration::from_secs(1);
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a DAT was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DatRejection {
    #[error("missing token")]
    Missing,
    #[error("malformed token: {0}")]
    Malformed(String),
    #[error("token signature is invalid")]
    BadSignature,
    #[error("token is signed by an unknown key (kid {kid})")]
    UnknownKey { kid: String },
    #[error("token expired at {exp} (now {now})")]
    Expired { exp: i64, now: i64 },
    #[error("token is not valid before {nbf} (now {now})")]
    NotYetValid { nbf: i64, now: i64 },
    #[error("token audience {found:?} does not contain {expected:?}")]
    WrongAudience {
        expected: String,
        found: Vec<String>,
    },
    #[error("token issuer {found:?} is not {expected:?}")]
    WrongIssuer { expected: String, found: String },
    #[error("token type {found:?} is not {DAT_TYPE:?}")]
    WrongType { found: String },
    #[error("daps key set unavailable: {0}")]
    JwksUnavailable(String),
}

impl DatRejection {
    /// A stable short name for the rejection, for findings and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Malformed(_) => "malformed",
            Self::BadSignature => "bad_signature",
            Self::UnknownKey { .. } => "unknown_key",
            Self::Expired { .. } => "expired",
            Self::NotYetValid { .. } => "not_yet_valid",
            Self::WrongAudience { .. } => "wrong_audience",
            Self::WrongIssuer { .. } => "wrong_issuer",
            Self::WrongType { .. } => "wrong_type",
            Self::JwksUnavailable(_) => "jwks_unavailable",
        }
    }
}

/// Strips an optional `Bearer ` prefix. DSP puts the raw token into the `Authorization`
/// header (EDC sends it that way) while OAuth2 clients add the scheme; both are accepted.
pub fn bearer(header_value: &str) -> &str {
    let value = header_value.trim();
    match value.get(..6) {
        // The scheme alone (`Bearer` after trimming) carries no token.
        Some(scheme) if scheme.eq_ignore_ascii_case("bearer") && value.len() == 6 => "",
        Some(scheme)
            if scheme.eq_ignore_ascii_case("bearer")
                && value[6..].starts_with(char::is_whitespace) =>
        {
            value[6..].trim_start()
        }
        _ => value,
    }
}

#[derive(Default)]
struct KeySet {
    keys: Vec<(Option<String>, DecodingKey)>,
    last_attempt: Option<Instant>,
    last_error: Option<String>,
}

impl KeySet {
    /// Keys that may have signed a token with this `kid`; all keys when it has none.
    fn candidates(&self, kid: Option<&str>) -> Vec<DecodingKey> {
        self.keys
            .iter()
            .filter(|(key_kid, _)| kid.is_none() || key_kid.as_deref() == kid)
            .map(|(_, key)| key.clone())
            .collect()
    }
}

struct Inner {
    jwks_url: String,
    issuer: String,
    leeway: Duration,
    min_refetch: Duration,
    http: reqwest::Client,
    keys: RwLock<KeySet>,
}

/// Verifies DATs issued by one DAPS. Cheap to clone; clones share the key cache.
#[derive(Clone)]
pub struct DatVerifier {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for DatVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatVerifier")
            .field("jwks_url", &self.inner.jwks_url)
            .field("issuer", &self.inner.issuer)
            .finish_non_exhaustive()
    }
}

impl DatVerifier {
    /// A verifier for tokens issued by `issuer`, whose keys are published at `jwks_url`.
    pub fn new(
        jwks_url: impl Into<String>,
        issuer: impl Into<String>,
        http: reqwest::Client,
    ) -> Self {
        Self::with_leeway(jwks_url, issuer, http, DEFAULT_LEEWAY)
    }

    pub fn with_leeway(
        jwks_url: impl Into<String>,
        issuer: impl Into<String>,
        http: reqwest::Client,
        leeway: Duration,
    ) -> Self {
        Self::build(
            jwks_url.into(),
            issuer.into(),
            http,
            leeway,
            MIN_REFETCH_INTERVAL,
        )
    }

    fn build(
        jwks_url: String,
        issuer: String,
        http: reqwest::Client,
        leeway: Duration,
        min_refetch: Duration,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                jwks_url,
                issuer,
                leeway,
                min_refetch,
                http,
                keys: RwLock::new(KeySet::default()),
            }),
        }
    }

    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    pub fn jwks_url(&self) -> &str {
        &self.inner.jwks_url
    }

    /// Accepts `token` if it is a valid DAT for any of `audiences`, the first of them being
    /// the one a refusal names. An audience that is a URL matches with or without a trailing
    /// `/`: EDC 0.4 asks for DATs whose audience is the address it sends to.
    pub async fn verify_for_any(&self, token: &str, audiences: &[&str]) -> Result<DatClaims, DatRejection> {
        let result = self.verify(token, audiences.first().copied().unwrap_or_default()).await;
        let Err(DatRejection::WrongAudience { found, .. }) = &result else { return result };
        match found.iter().find(|f| audiences.iter().skip(1).any(|a| same_audience(a, f))) {
            Some(named) => self.verify(token, named).await,
            None => result,
        }
    }

    /// Accepts `token` (raw or with a `Bearer ` prefix) if it is a valid DAT for `audience`.
    pub async fn verify(&self, token: &str, audience: &str) -> Result<DatClaims, DatRejection> {
        let token = bearer(token);
        if token.is_empty() {
            return Err(DatRejection::Missing);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|e| {
            DatRejection::Malformed(format!("not a jws compact serialization: {e}"))
        })?;
        if header.alg != Algorithm::ES256 {
            return Err(DatRejection::Malformed(format!(
                "algorithm {:?} is not ES256",
                header.alg
            )));
        }
        let kid = header.kid.as_deref();
        let candidates = self.keys_for(kid).await?;
        let claims = verify_signature(token, &candidates)?;
        self.check_claims(claims, audience, unix_now())
    }

    fn check_claims(
        &self,
        claims: Value,
        audience: &str,
        now: i64,
    ) -> Result<DatClaims, DatRejection> {
        let claims: DatClaims = serde_json::from_value(claims)
            .map_err(|e| DatRejection::Malformed(format!("claims are not a dat payload: {e}")))?;
        // Whole seconds suffice: JWT time claims have no finer resolution.
        let leeway = i64::try_from(self.inner.leeway.as_secs()).unwrap_or(i64::MAX);
        if now >= claims.exp.saturating_add(leeway) {
            return Err(DatRejection::Expired {
                exp: claims.exp,
                now,
            });
        }
        if now.saturating_add(leeway) < claims.nbf {
            return Err(DatRejection::NotYetValid {
                nbf: claims.nbf,
                now,
            });
        }
        if claims.iss != self.inner.issuer {
            return Err(DatRejection::WrongIssuer {
                expected: self.inner.issuer.clone(),
                found: claims.iss,
            });
        }
        if !claims.aud.contains(audience) {
            return Err(DatRejection::WrongAudience {
                expected: audience.to_owned(),
                found: claims.aud.0,
            });
        }
        if claims.type_ != DAT_TYPE {
            return Err(DatRejection::WrongType {
                found: claims.type_,
            });
        }
        Ok(claims)
    }

    /// The cached keys that match `kid`, refetching the key set once when there are none.
    async fn keys_for(&self, kid: Option<&str>) -> Result<Vec<DecodingKey>, DatRejection> {
        let unknown = || DatRejection::UnknownKey {
            kid: kid.unwrap_or("none").to_owned(),
        };
        {
            let set = self.inner.keys.read().await;
            let found = set.candidates(kid);
            if !found.is_empty() {
                return Ok(found);
            }
        }
        let mut set = self.inner.keys.write().await;
        // Another task may have refreshed the set while this one waited for the lock.
        let found = set.candidates(kid);
        if !found.is_empty() {
            return Ok(found);
        }
        if set
            .last_attempt
            .is_some_and(|at| at.elapsed() < self.inner.min_refetch)
        {
            return Err(match &set.last_error {
                Some(error) => DatRejection::JwksUnavailable(error.clone()),
                None => unknown(),
            });
        }
        set.last_attempt = Some(Instant::now());
        match self.fetch().await {
            Ok(keys) => {
                set.keys = keys;
                set.last_error = None;
            }
            Err(error) => {
                set.last_error = Some(error.clone());
                return Err(DatRejection::JwksUnavailable(error));
            }
        }
        let found = set.candidates(kid);
        if found.is_empty() {
            Err(unknown())
        } else {
            Ok(found)
        }
    }

    async fn fetch(&self) -> Result<Vec<(Option<String>, DecodingKey)>, String> {
        let url = &self.inner.jwks_url;
        let response = self
            .inner
            .http
            .get(url)
            .timeout(FETCH_TIMEOUT)
            .send()
            .await
            .map_err(|e| format!("get {url}: {e}"))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("get {url}: status {status}"));
        }
        let body: Value = response
            .json()
            .await
            .map_err(|e| format!("get {url}: {e}"))?;
        let keys = body
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| format!("get {url}: body has no keys array"))?;
        // Keys of other types cannot verify ES256 signatures; skipping them keeps a mixed
        // key set usable.
        Ok(keys
            .iter()
            .filter_map(|jwk| {
                // Each key on its own: one a JwkSet cannot parse (an unknown kty or alg) must
                // not make the whole set unusable.
                let jwk: Jwk = serde_json::from_value(jwk.clone()).ok()?;
                let key = EcPublicKey::from_typed_jwk(&jwk).ok()?;
                Some((jwk.common.key_id, key.decoding_key()))
            })
            .collect())
    }
}

/// Checks the signature with each candidate key and returns the raw claims.
fn verify_signature(token: &str, candidates: &[DecodingKey]) -> Result<Value, DatRejection> {
    let mut validation = Validation::new(Algorithm::ES256);
    // Time, audience and issuer are checked afterwards, to report precise rejections.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    for key in candidates {
        match jsonwebtoken::decode::<Value>(token, key, &validation) {
            Ok(data) => return Ok(data.claims),
            Err(e) if matches!(e.kind(), jsonwebtoken::errors::ErrorKind::InvalidSignature) => {}
            Err(e) => return Err(DatRejection::Malformed(e.to_string())),
        }
    }
    Err(DatRejection::BadSignature)
}

/// Whether the audience `found` in a token is `wanted`: the same string, or the same URL with
/// or without a trailing `/`.
fn same_audience(wanted: &str, found: &str) -> bool {
    wanted == found || (wanted.contains("://") && wanted.trim_end_matches('/') == found.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::claims::OneOrMany;

    fn verifier() -> DatVerifier {
        DatVerifier::new(
            "http://127.0.0.1:9/jwks.json",
            "http://daps",
            reqwest::Client::new(),
        )
    }

    fn claims(now: i64) -> Value {
        serde_json::to_value(DatClaims::new(
            "http://daps",
            "me",
            OneOrMany::one("aud-1"),
            now,
            60,
        ))
        .unwrap()
    }

    #[test]
    fn an_audience_url_matches_with_or_without_its_trailing_slash() {
        assert!(same_audience("dsp-harness", "dsp-harness"));
        assert!(same_audience("http://127.0.0.1:9/dsp", "http://127.0.0.1:9/dsp/"));
        assert!(same_audience("http://127.0.0.1:9/dsp/", "http://127.0.0.1:9/dsp"));
        assert!(!same_audience("dsp-harness/", "dsp-harness"));
        assert!(!same_audience("http://127.0.0.1:9/dsp", "http://127.0.0.1:9/dsp/x"));
        assert!(!same_audience("http://127.0.0.1:9/dsp", "http://127.0.0.1:99/dsp"));
    }

    #[test]
    fn bearer_accepts_raw_and_prefixed_tokens() {
        assert_eq!(bearer("abc"), "abc");
        assert_eq!(bearer("Bearer abc"), "abc");
        assert_eq!(bearer("bearer   abc "), "abc");
        assert_eq!(bearer("BEARER abc"), "abc");
        assert_eq!(bearer("Bearerabc"), "Bearerabc");
        assert_eq!(bearer(""), "");
        assert_eq!(bearer("Bearer "), "");
        assert_eq!(bearer("Beär"), "Beär");
    }

    #[test]
    fn claim_checks_pick_the_right_rejection() {
        let v = verifier();
        let now = 10_000;
        let check = |patch: &dyn Fn(&mut Value), aud: &str| {
            v.check_claims(
                {
                    let mut c = claims(now);
                    patch(&mut c);
                    c
                },
                aud,
                now,
            )
        };
        assert!(check(&|_| {}, "aud-1").is_ok());
        assert!(matches!(
            check(&|c| c["exp"] = (now - 6).into(), "aud-1"),
            Err(DatRejection::Expired { .. })
        ));
        // Within the leeway both ways.
        assert!(check(&|c| c["exp"] = (now - 4).into(), "aud-1").is_ok());
        assert!(check(&|c| c["nbf"] = (now + 4).into(), "aud-1").is_ok());
        assert!(matches!(
            check(&|c| c["nbf"] = (now + 6).into(), "aud-1"),
            Err(DatRejection::NotYetValid { .. })
        ));
        assert!(matches!(
            check(&|_| {}, "aud-2"),
            Err(DatRejection::WrongAudience { .. })
        ));
        assert!(check(&|c| c["aud"] = serde_json::json!(["x", "aud-1"]), "aud-1").is_ok());
        assert!(matches!(
            check(&|c| c["iss"] = "http://evil".into(), "aud-1"),
            Err(DatRejection::WrongIssuer { .. })
        ));
        assert!(matches!(
            check(&|c| c["@type"] = "ids:Other".into(), "aud-1"),
            Err(DatRejection::WrongType { .. })
        ));
        assert!(matches!(
            check(&|c| c["exp"] = "soon".into(), "aud-1"),
            Err(DatRejection::Malformed(_))
        ));
    }

    #[tokio::test]
    async fn garbage_is_malformed_or_missing() {
        let v = verifier();
        assert_eq!(v.verify("", "a").await, Err(DatRejection::Missing));
        assert_eq!(v.verify("Bearer ", "a").await, Err(DatRejection::Missing));
        for token in ["abc", "a.b.c", "eyJhbGciOiJub25lIn0.e30.", "...."] {
            let rejection = v.verify(token, "a").await.unwrap_err();
            assert!(
                matches!(rejection, DatRejection::Malformed(_)),
                "{token}: {rejection:?}"
            );
        }
        // An HS256 token must never be verified with a public key as the secret.
        let hs = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(Algorithm::HS256),
            &claims(unix_now()),
            &jsonwebtoken::EncodingKey::from_secret(b"secret"),
        )
        .unwrap();
        assert!(matches!(
            v.verify(&hs, "aud-1").await,
            Err(DatRejection::Malformed(_))
        ));
    }

    #[tokio::test]
    async fn unreachable_jwks_is_reported() {
        let keys = crate::identity::keys::ParticipantKeys::generate("x").unwrap();
        let mut header = jsonwebtoken::Header::new(Algorithm::ES256);
        header.kid = Some("k".into());
        let token =
            jsonwebtoken::encode(&header, &claims(unix_now()), keys.encoding_key()).unwrap();
        let v = verifier();
        assert!(matches!(
            v.verify(&token, "aud-1").await,
            Err(DatRejection::JwksUnavailable(_))
        ));
        // The throttled second attempt still names the cause instead of blaming the key.
        assert!(matches!(
            v.verify(&token, "aud-1").await,
            Err(DatRejection::JwksUnavailable(_))
        ));
    }

    #[tokio::test]
    async fn key_set_is_cached_and_refetched_for_unknown_kids() {
        use crate::identity::forge::sign_with_key;
        use crate::identity::keys::ParticipantKeys;
        use wiremock::matchers::{method, path};
        use wiremock::{Mock, MockServer, ResponseTemplate};

        let old_key = ParticipantKeys::generate("daps-old").unwrap();
        let new_key = ParticipantKeys::generate("daps-new").unwrap();
        let serve = |keys: &[&ParticipantKeys]| {
            let jwks = serde_json::json!({"keys": keys.iter().map(|k| k.public_jwk()).collect::<Vec<_>>()});
            Mock::given(method("GET"))
                .and(path("/jwks.json"))
                .respond_with(ResponseTemplate::new(200).set_body_json(jwks))
        };
        let server = MockServer::start().await;
        serve(&[&old_key])
            .expect(1)
            .named("first key set")
            .mount(&server)
            .await;
        let verifier = DatVerifier::build(
            format!("{}/jwks.json", server.uri()),
            "http://daps".into(),
            reqwest::Client::new(),
            DEFAULT_LEEWAY,
            Duration::ZERO,
        );
        let claims: DatClaims = serde_json::from_value(claims(unix_now())).unwrap();
        let old_token = sign_with_key(&old_key, &claims, Some(old_key.kid())).unwrap();
        // Two verifications, one fetch: the key set is cached.
        verifier.verify(&old_token, "aud-1").await.unwrap();
        verifier.verify(&old_token, "aud-1").await.unwrap();
        server.verify().await;

        // The DAPS rotates its key; the unknown kid triggers exactly one refetch.
        server.reset().await;
        serve(&[&new_key])
            .expect(1)
            .named("rotated key set")
            .mount(&server)
            .await;
        let new_token = sign_with_key(&new_key, &claims, Some(new_key.kid())).unwrap();
        verifier.verify(&new_token, "aud-1").await.unwrap();
        verifier.verify(&new_token, "aud-1").await.unwrap();
        server.verify().await;

        // A kid that stays unknown after the refetch is an unknown key.
        server.reset().await;
        serve(&[&new_key])
            .expect(1)
            .named("refetch for a stranger")
            .mount(&server)
            .await;
        let stranger = sign_with_key(&old_key, &claims, Some("stranger")).unwrap();
        assert_eq!(
            verifier.verify(&stranger, "aud-1").await,
            Err(DatRejection::UnknownKey {
                kid: "stranger".into()
            })
        );
        server.verify().await;
    }

    #[test]
    fn every_rejection_has_a_lowercase_message_and_code() {
        let all = [
            DatRejection::Missing,
            DatRejection::Malformed("x".into()),
            DatRejection::BadSignature,
            DatRejection::UnknownKey { kid: "k".into() },
            DatRejection::Expired { exp: 1, now: 2 },
            DatRejection::NotYetValid { nbf: 2, now: 1 },
            DatRejection::WrongAudience {
                expected: "a".into(),
                found: vec![],
            },
            DatRejection::WrongIssuer {
                expected: "a".into(),
                found: "b".into(),
            },
            DatRejection::WrongType { found: "x".into() },
            DatRejection::JwksUnavailable("x".into()),
        ];
        let mut codes = std::collections::HashSet::new();
        for rejection in all {
            let message = rejection.to_string();
            assert!(message.starts_with(|c: char| c.is_lowercase()), "{message}");
            assert!(!message.ends_with('.'), "{message}");
            assert!(codes.insert(rejection.code()));
        }
    }
}
