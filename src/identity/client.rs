//! Obtaining DATs from a DAPS: the OAuth2 client-credentials grant with `private_key_jwt`
//! client authentication (RFC 7523). [`DatClient`] caches one token per audience, so a
//! connector under load asks the DAPS once an hour rather than once a request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::claims::{unix_now, DAT_SCOPE};
use super::error::IdentityError;
use super::keys::ParticipantKeys;

/// The `grant_type` of the client-credentials grant.
pub const GRANT_TYPE_CLIENT_CREDENTIALS: &str = "client_credentials";
/// The `client_assertion_type` of RFC 7523 JWT client authentication.
pub const CLIENT_ASSERTION_TYPE_JWT_BEARER: &str =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Lifetime of a client assertion; short because it only has to reach the DAPS.
pub const ASSERTION_LIFETIME_SECS: i64 = 60;
/// A cached token is renewed this long before it expires, so it never expires in flight.
const RENEW_BEFORE_EXPIRY: Duration = Duration::from_secs(30);
/// Used when a token response omits `expires_in`.
const FALLBACK_LIFETIME: Duration = Duration::from_secs(60);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// The claims of a client assertion. Public so that conformance suites can craft broken
/// assertions (expired, wrong audience, replayed `jti`) with [`sign_client_assertion`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssertionClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub jti: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
}

impl AssertionClaims {
    /// A well-formed assertion for `keys` addressed to `token_url`, valid from now for
    /// [`ASSERTION_LIFETIME_SECS`].
    pub fn new(keys: &ParticipantKeys, token_url: &str) -> Self {
        let now = unix_now();
        Self {
            iss: keys.client_id().to_string(),
            sub: keys.client_id().to_string(),
            aud: token_url.to_owned(),
            jti: uuid::Uuid::new_v4().to_string(),
            iat: now,
            nbf: now,
            exp: now + ASSERTION_LIFETIME_SECS,
        }
    }
}

/// Signs `claims` with the participant key (ES256, `kid` = the key's thumbprint).
pub fn sign_client_assertion(
    keys: &ParticipantKeys,
    claims: &AssertionClaims,
) -> Result<String, IdentityError> {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some(keys.kid().to_owned());
    jsonwebtoken::encode(&header, claims, keys.encoding_key())
        .map_err(|e| IdentityError::Signing(e.to_string()))
}

/// The form fields of a token request, as the DAPS receives them.
#[derive(Debug, Clone, Serialize)]
pub struct TokenRequest<'a> {
    pub grant_type: &'a str,
    pub client_assertion_type: &'a str,
    pub client_assertion: &'a str,
    pub scope: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<&'a str>,
}

impl<'a> TokenRequest<'a> {
    /// A correct request for a DAT for `audience`.
    pub fn new(client_assertion: &'a str, audience: Option<&'a str>) -> Self {
        Self {
            grant_type: GRANT_TYPE_CLIENT_CREDENTIALS,
            client_assertion_type: CLIENT_ASSERTION_TYPE_JWT_BEARER,
            client_assertion,
            scope: DAT_SCOPE,
            resource: audience,
        }
    }
}

/// A successful token response (RFC 6749 section 5.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// An error response (RFC 6749 section 5.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthErrorBody {
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
}

/// Sends one token request and decodes the answer, without caching.
pub async fn request_token(
    http: &reqwest::Client,
    token_url: &str,
    request: &TokenRequest<'_>,
) -> Result<TokenResponse, IdentityError> {
    let http_error = |source| IdentityError::Http {
        url: token_url.to_owned(),
        source,
    };
    let response = http
        .post(token_url)
        .timeout(REQUEST_TIMEOUT)
        .form(request)
        .send()
        .await
        .map_err(http_error)?;
    let status = response.status();
    let body = response.bytes().await.map_err(http_error)?;
    if !status.is_success() {
        let (error, description) = match serde_json::from_slice::<OAuthErrorBody>(&body) {
            Ok(parsed) => (parsed.error, parsed.error_description.unwrap_or_default()),
            Err(_) => (
                "unparseable error body".to_owned(),
                String::from_utf8_lossy(&body).into_owned(),
            ),
        };
        return Err(IdentityError::TokenRefused {
            url: token_url.to_owned(),
            status: status.as_u16(),
            error,
            description,
        });
    }
    let parsed: TokenResponse =
        serde_json::from_slice(&body).map_err(|e| IdentityError::BadTokenResponse {
            url: token_url.to_owned(),
            reason: e.to_string(),
        })?;
    if parsed.access_token.is_empty() {
        return Err(IdentityError::BadTokenResponse {
            url: token_url.to_owned(),
            reason: "empty access_token".to_owned(),
        });
    }
    Ok(parsed)
}

struct CachedToken {
    token: String,
    renew_at: Instant,
}

struct Inner {
    token_url: String,
    /// The `aud` of client assertions: the token endpoint as the DAPS names itself, which
    /// differs from `token_url` when the DAPS is reached through a mapped port.
    assertion_audience: String,
    keys: ParticipantKeys,
    http: reqwest::Client,
    cache: Mutex<HashMap<String, CachedToken>>,
}

/// Obtains and caches DATs for one participant. Cheap to clone.
#[derive(Clone)]
pub struct DatClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for DatClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatClient")
            .field("token_url", &self.inner.token_url)
            .field("client_id", self.inner.keys.client_id())
            .finish_non_exhaustive()
    }
}

impl DatClient {
    pub fn new(token_url: impl Into<String>, keys: ParticipantKeys, http: reqwest::Client) -> Self {
        let token_url = token_url.into();
        Self::with_assertion_audience(token_url.clone(), token_url, keys, http)
    }

    /// A client that posts to `token_url` but addresses its assertions to
    /// `assertion_audience`, the token endpoint as the DAPS itself names it (a DAPS in a
    /// container is reached on a mapped port but knows itself by its container name).
    pub fn with_assertion_audience(token_url: impl Into<String>, assertion_audience: impl Into<String>, keys: ParticipantKeys, http: reqwest::Client) -> Self {
        Self {
            inner: Arc::new(Inner {
                token_url: token_url.into(),
                assertion_audience: assertion_audience.into(),
                keys,
                http,
                cache: Mutex::new(HashMap::new()),
            }),
        }
    }

    pub fn token_url(&self) -> &str {
        &self.inner.token_url
    }

    pub fn keys(&self) -> &ParticipantKeys {
        &self.inner.keys
    }

    /// A DAT whose `aud` is `audience`, from the cache while it has more than 30 s left.
    pub async fn token(&self, audience: &str) -> Result<String, IdentityError> {
        if let Some(token) = self.cached(audience) {
            return Ok(token);
        }
        let assertion = sign_client_assertion(
            &self.inner.keys,
            &AssertionClaims::new(&self.inner.keys, &self.inner.assertion_audience),
        )?;
        let response = request_token(
            &self.inner.http,
            &self.inner.token_url,
            &TokenRequest::new(&assertion, Some(audience)),
        )
        .await?;
        let lifetime = response
            .expires_in
            .map_or(FALLBACK_LIFETIME, Duration::from_secs);
        let renew_at = Instant::now() + lifetime.saturating_sub(RENEW_BEFORE_EXPIRY);
        self.lock_cache().insert(
            audience.to_owned(),
            CachedToken {
                token: response.access_token.clone(),
                renew_at,
            },
        );
        Ok(response.access_token)
    }

    /// Drops every cached token, for example after the DAPS was restarted with a new key.
    pub fn clear_cache(&self) {
        self.lock_cache().clear();
    }

    fn cached(&self, audience: &str) -> Option<String> {
        let cache = self.lock_cache();
        cache
            .get(audience)
            .filter(|entry| Instant::now() < entry.renew_at)
            .map(|entry| entry.token.clone())
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, CachedToken>> {
        // A panic while holding the lock cannot leave the map inconsistent (every update is
        // a single insert), so a poisoned lock is still safe to use.
        self.inner
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assertion_is_signed_with_the_participant_key() {
        let keys = ParticipantKeys::generate("a").unwrap();
        let claims = AssertionClaims::new(&keys, "http://daps/token");
        assert_eq!(claims.iss, keys.client_id().as_str());
        assert_eq!(claims.sub, claims.iss);
        assert_eq!(claims.exp - claims.iat, ASSERTION_LIFETIME_SECS);
        let token = sign_client_assertion(&keys, &claims).unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256);
        assert_eq!(header.kid.as_deref(), Some(keys.kid()));
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
        validation.set_audience(&["http://daps/token"]);
        let decoded = jsonwebtoken::decode::<AssertionClaims>(
            &token,
            &keys.public_key().decoding_key(),
            &validation,
        )
        .unwrap();
        assert_eq!(decoded.claims, claims);
        let other = ParticipantKeys::generate("b").unwrap();
        assert!(jsonwebtoken::decode::<AssertionClaims>(
            &token,
            &other.public_key().decoding_key(),
            &validation
        )
        .is_err());
    }

    #[test]
    fn token_request_serializes_the_rfc7523_form() {
        let form = TokenRequest::new("abc", Some("http://provider"));
        let value = serde_json::to_value(&form).unwrap();
        assert_eq!(value["grant_type"], "client_credentials");
        assert_eq!(
            value["client_assertion_type"],
            CLIENT_ASSERTION_TYPE_JWT_BEARER
        );
        assert_eq!(value["resource"], "http://provider");
        assert_eq!(value["scope"], DAT_SCOPE);
        let without = serde_json::to_value(TokenRequest::new("abc", None)).unwrap();
        assert!(without.get("resource").is_none());
    }
}
