//! The state of the reference DAPS: its ES256 signing key, its issuer URL (known only once
//! the server is bound, hence settable), the registry of clients, the replay cache of client
//! assertion ids, and the minting of DATs, both for the token endpoint and directly for
//! conformance suites that need deliberately broken tokens.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use jsonwebtoken::jwk::JwkSet;
use serde::Serialize;
use serde_json::{json, Value};

use crate::identity::{
    cert_pem_to_der, cert_sha256_hex, unix_now, ClientId, DatClaims, DatClient, DatVerifier,
    EcPublicKey, OneOrMany, ParticipantId, ParticipantKeys, DEFAULT_AUDIENCE,
};

use super::error::DapsError;

/// Default DAT lifetime.
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);
/// Path of the token endpoint below the issuer URL.
pub const TOKEN_PATH: &str = "/token";
/// Path of the key set below the issuer URL.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";
/// Live assertion ids the replay cache holds at most; beyond it the token endpoint answers
/// `temporarily_unavailable` instead of forgetting ids, which would allow replays.
const REPLAY_CACHE_CAPACITY: usize = 200_000;

/// How to set up a DAPS.
#[derive(Debug, Clone)]
pub struct DapsConfig {
    /// The issuer URL, which is also the base URL the DAPS is served at. May be empty when
    /// the address is not known yet; set it with [`Daps::set_issuer`] after binding
    /// (`serve` does that for an empty issuer).
    pub issuer: String,
    /// The key the admin API requires in `X-Api-Key`. An empty key disables the admin API.
    pub admin_key: String,
    /// Lifetime of issued DATs.
    pub token_lifetime: Duration,
    /// How far the DAPS's clock is off, in seconds (negative: behind). Zero in production; a
    /// DAPS whose clock runs hours behind issues tokens that are already expired, which is how
    /// the harness's own tests show that a connector refuses expired DATs.
    pub clock_offset_secs: i64,
}

impl Default for DapsConfig {
    fn default() -> Self {
        Self {
            issuer: String::new(),
            admin_key: String::new(),
            token_lifetime: DEFAULT_TOKEN_LIFETIME,
            clock_offset_secs: 0,
        }
    }
}

/// A registered client.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientRegistration {
    pub client_id: ClientId,
    pub participant_id: ParticipantId,
    /// The key id announced in the client's JWK (its thumbprint when none was given).
    pub kid: String,
    #[serde(skip)]
    pub public_key: EcPublicKey,
    /// Lowercase hex SHA-256 of the client's certificate DER.
    pub transport_cert_sha256: String,
    pub referring_connector: String,
}

impl ClientRegistration {
    /// The registration as the admin API lists it, public JWK included.
    pub fn to_json(&self) -> Value {
        let mut value = serde_json::to_value(self).unwrap_or_else(|_| json!({}));
        value["jwk"] = self.public_key.to_jwk(&self.kid);
        value
    }
}

/// A registration request: a certificate, optionally with the JWK of the same key.
#[derive(Debug, Clone)]
pub struct RegistrationRequest {
    pub participant_id: String,
    pub certificate_pem: String,
    pub jwk: Option<Value>,
    pub referring_connector: Option<String>,
}

/// Claims to override when minting a DAT directly. Unset fields get the values the token
/// endpoint would use; when `subject` names a registered client, `referringConnector` and
/// `transportCertsSha256` come from its registration.
#[derive(Debug, Clone, Default)]
pub struct MintOverrides {
    pub subject: Option<String>,
    pub audience: Option<Vec<String>>,
    pub issuer: Option<String>,
    pub issued_at: Option<i64>,
    pub not_before: Option<i64>,
    pub expires_at: Option<i64>,
    pub dat_type: Option<String>,
    pub referring_connector: Option<String>,
    pub transport_certs_sha256: Option<Vec<String>>,
}

/// Whether a registration created a client or replaced an existing one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registered {
    Created,
    Replaced,
}

struct SigningKey {
    kid: String,
    public: EcPublicKey,
    encoding_key: jsonwebtoken::EncodingKey,
}

/// Client-assertion ids seen while their assertions were still valid.
#[derive(Default)]
struct ReplayCache {
    /// (client id, jti) -> the time after which the assertion is rejected as expired anyway.
    seen: HashMap<(ClientId, String), i64>,
    /// Size at which expired entries are dropped next; doubling keeps the purge amortized.
    purge_at: usize,
}

impl ReplayCache {
    /// Records an id; false when it was already seen.
    fn record(
        &mut self,
        client: &ClientId,
        jti: &str,
        dead_after: i64,
        now: i64,
    ) -> Result<bool, DapsError> {
        if self.seen.len() >= self.purge_at {
            self.seen.retain(|_, dead| *dead >= now);
            self.purge_at = (self.seen.len() * 2).max(1024);
        }
        let key = (client.clone(), jti.to_owned());
        if self.seen.get(&key).is_some_and(|dead| *dead >= now) {
            return Ok(false);
        }
        if self.seen.len() >= REPLAY_CACHE_CAPACITY {
            return Err(DapsError::TemporarilyUnavailable(
                "too many live client assertions".into(),
            ));
        }
        self.seen.insert(key, dead_after);
        Ok(true)
    }
}

struct Inner {
    issuer: RwLock<String>,
    admin_key: String,
    token_lifetime: Duration,
    clock_offset_secs: i64,
    signing: SigningKey,
    clients: RwLock<BTreeMap<ClientId, ClientRegistration>>,
    replay: Mutex<ReplayCache>,
}

/// The reference DAPS. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct Daps {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Daps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Daps")
            .field("issuer", &self.issuer())
            .field("kid", &self.inner.signing.kid)
            .finish_non_exhaustive()
    }
}

impl Daps {
    /// A DAPS with a freshly generated signing key and no clients.
    pub fn new(config: DapsConfig) -> Result<Self, DapsError> {
        // The signing key is an ordinary participant key pair; its certificate is unused but
        // generating it costs microseconds and keeps one code path for keys.
        let keys =
            ParticipantKeys::generate("daps").map_err(|e| DapsError::Internal(e.to_string()))?;
        let signing = SigningKey {
            kid: keys.kid().to_owned(),
            public: keys.public_key().clone(),
            encoding_key: keys.encoding_key().clone(),
        };
        Ok(Self {
            inner: Arc::new(Inner {
                issuer: RwLock::new(normalize_url(&config.issuer)),
                admin_key: config.admin_key,
                token_lifetime: config.token_lifetime,
                clock_offset_secs: config.clock_offset_secs,
                signing,
                clients: RwLock::new(BTreeMap::new()),
                replay: Mutex::new(ReplayCache::default()),
            }),
        })
    }

    /// Sets the issuer URL, which is also the base URL of the endpoints.
    pub fn set_issuer(&self, issuer: &str) {
        *self
            .inner
            .issuer
            .write()
            .unwrap_or_else(PoisonError::into_inner) = normalize_url(issuer);
    }

    pub fn issuer(&self) -> String {
        self.inner
            .issuer
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn token_url(&self) -> String {
        format!("{}{TOKEN_PATH}", self.issuer())
    }

    pub fn jwks_url(&self) -> String {
        format!("{}{JWKS_PATH}", self.issuer())
    }

    pub fn kid(&self) -> &str {
        &self.inner.signing.kid
    }

    pub fn token_lifetime(&self) -> Duration {
        self.inner.token_lifetime
    }

    /// The public key set served at [`JWKS_PATH`].
    pub fn jwks(&self) -> Value {
        let set = JwkSet { keys: vec![self.inner.signing.public.to_typed_jwk(&self.inner.signing.kid)] };
        // A set of EC keys always serializes.
        serde_json::to_value(set).unwrap_or_else(|_| json!({"keys": []}))
    }

    /// A verifier for this DAPS's tokens (fetches the key set over HTTP).
    pub fn verifier(&self, http: reqwest::Client) -> DatVerifier {
        DatVerifier::new(self.jwks_url(), self.issuer(), http)
    }

    /// A token client for `keys` at this DAPS.
    pub fn dat_client(&self, keys: ParticipantKeys, http: reqwest::Client) -> DatClient {
        DatClient::new(self.token_url(), keys, http)
    }

    /// Registers a participant in-process and returns its client id.
    pub fn register(&self, keys: &ParticipantKeys, referring_connector: &str) -> ClientId {
        let registration = ClientRegistration {
            client_id: keys.client_id().clone(),
            participant_id: keys.participant_id().clone(),
            kid: keys.kid().to_owned(),
            public_key: keys.public_key().clone(),
            transport_cert_sha256: keys.transport_cert_sha256(),
            referring_connector: referring_connector.to_owned(),
        };
        self.insert(registration);
        keys.client_id().clone()
    }

    /// Registers a client from its certificate, as the admin API does. The public key comes
    /// from the certificate; a JWK, when given, must hold the same key and lends its `kid`.
    pub fn register_certificate(
        &self,
        request: RegistrationRequest,
    ) -> Result<(ClientRegistration, Registered), DapsError> {
        let participant_id = ParticipantId::new(request.participant_id)
            .map_err(|e| DapsError::InvalidRequest(e.to_string()))?;
        let cert_der = cert_pem_to_der(&request.certificate_pem)
            .map_err(|e| DapsError::InvalidRequest(e.to_string()))?;
        let public_key = EcPublicKey::from_cert_der(&cert_der)
            .map_err(|e| DapsError::InvalidRequest(e.to_string()))?;
        let kid = match &request.jwk {
            None => public_key.thumbprint(),
            Some(jwk) => {
                let from_jwk = EcPublicKey::from_jwk(jwk)
                    .map_err(|e| DapsError::InvalidRequest(format!("jwk: {e}")))?;
                if from_jwk != public_key {
                    return Err(DapsError::InvalidRequest(
                        "jwk does not hold the certificate's public key".into(),
                    ));
                }
                jwk.get("kid")
                    .and_then(Value::as_str)
                    .map_or_else(|| public_key.thumbprint(), str::to_owned)
            }
        };
        let referring_connector = request
            .referring_connector
            .filter(|uri| !uri.is_empty())
            .unwrap_or_else(|| default_referring_connector(&participant_id));
        let registration = ClientRegistration {
            client_id: public_key.client_id(),
            participant_id,
            kid,
            public_key,
            transport_cert_sha256: cert_sha256_hex(&cert_der),
            referring_connector,
        };
        let outcome = self.insert(registration.clone());
        Ok((registration, outcome))
    }

    pub fn client(&self, client_id: &str) -> Option<ClientRegistration> {
        self.read_clients().get(&ClientId::new(client_id)).cloned()
    }

    pub fn clients(&self) -> Vec<ClientRegistration> {
        self.read_clients().values().cloned().collect()
    }

    /// Signs a DAT with the DAPS key, applying `overrides`.
    pub fn mint(&self, overrides: MintOverrides) -> Result<String, DapsError> {
        let now = unix_now().saturating_add(self.inner.clock_offset_secs);
        let subject = overrides
            .subject
            .unwrap_or_else(|| "urn:dsp-harness:minted".to_owned());
        let audience = overrides
            .audience
            .unwrap_or_else(|| vec![DEFAULT_AUDIENCE.to_owned()]);
        let lifetime = i64::try_from(self.inner.token_lifetime.as_secs()).unwrap_or(i64::MAX);
        let mut claims = DatClaims::new(self.issuer(), subject, OneOrMany(audience), now, lifetime);
        if let Some(registration) = self.client(&claims.sub) {
            claims.referring_connector = registration.referring_connector;
            claims.transport_certs_sha256 = OneOrMany::one(registration.transport_cert_sha256);
        }
        if let Some(issuer) = overrides.issuer {
            claims.iss = issuer;
        }
        if let Some(iat) = overrides.issued_at {
            claims.iat = iat;
        }
        if let Some(nbf) = overrides.not_before {
            claims.nbf = nbf;
        }
        if let Some(exp) = overrides.expires_at {
            claims.exp = exp;
        }
        if let Some(dat_type) = overrides.dat_type {
            claims.type_ = dat_type;
        }
        if let Some(uri) = overrides.referring_connector {
            claims.referring_connector = uri;
        }
        if let Some(certs) = overrides.transport_certs_sha256 {
            claims.transport_certs_sha256 = OneOrMany(certs);
        }
        self.sign(&claims)
    }

    /// Issues the DAT the token endpoint hands to an authenticated client.
    pub fn issue(
        &self,
        client: &ClientRegistration,
        audience: Option<&str>,
    ) -> Result<String, DapsError> {
        self.mint(MintOverrides {
            subject: Some(client.client_id.to_string()),
            audience: audience.map(|aud| vec![aud.to_owned()]),
            referring_connector: Some(client.referring_connector.clone()),
            transport_certs_sha256: Some(vec![client.transport_cert_sha256.clone()]),
            ..MintOverrides::default()
        })
    }

    /// Signs arbitrary DAT claims with the DAPS key.
    pub fn sign(&self, claims: &DatClaims) -> Result<String, DapsError> {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some(self.inner.signing.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.inner.signing.encoding_key)
            .map_err(|e| DapsError::Internal(format!("signing failed: {e}")))
    }

    /// Whether `presented` is the admin key, compared in constant time.
    pub(crate) fn admin_key_matches(&self, presented: &str) -> bool {
        let expected = self.inner.admin_key.as_bytes();
        !expected.is_empty()
            && aws_lc_rs::constant_time::verify_slices_are_equal(expected, presented.as_bytes())
                .is_ok()
    }

    pub(crate) fn admin_enabled(&self) -> bool {
        !self.inner.admin_key.is_empty()
    }

    /// Records a client-assertion id; false when it is a replay.
    pub(crate) fn record_assertion(
        &self,
        client: &ClientId,
        jti: &str,
        dead_after: i64,
    ) -> Result<bool, DapsError> {
        self.inner
            .replay
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .record(client, jti, dead_after, unix_now())
    }

    fn insert(&self, registration: ClientRegistration) -> Registered {
        let mut clients = self
            .inner
            .clients
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        match clients.insert(registration.client_id.clone(), registration) {
            Some(_) => Registered::Replaced,
            None => Registered::Created,
        }
    }

    fn read_clients(
        &self,
    ) -> std::sync::RwLockReadGuard<'_, BTreeMap<ClientId, ClientRegistration>> {
        // Every write is a single insert, so a poisoned lock still guards a consistent map.
        self.inner
            .clients
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// The `referringConnector` of a client registered without one.
pub fn default_referring_connector(participant_id: &ParticipantId) -> String {
    format!("urn:connector:{participant_id}")
}

fn normalize_url(url: &str) -> String {
    url.trim().trim_end_matches('/').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn daps() -> Daps {
        Daps::new(DapsConfig {
            issuer: "http://daps.test/".into(),
            admin_key: "secret".into(),
            token_lifetime: Duration::from_secs(600),
            clock_offset_secs: 0,
        })
        .unwrap()
    }

    fn claims_of(token: &str, daps: &Daps) -> DatClaims {
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
        validation.validate_aud = false;
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        let key = EcPublicKey::from_jwk(&daps.jwks()["keys"][0])
            .unwrap()
            .decoding_key();
        jsonwebtoken::decode::<DatClaims>(token, &key, &validation)
            .unwrap()
            .claims
    }

    #[test]
    fn urls_derive_from_the_issuer() {
        let daps = daps();
        assert_eq!(daps.issuer(), "http://daps.test");
        assert_eq!(daps.token_url(), "http://daps.test/token");
        assert_eq!(daps.jwks_url(), "http://daps.test/.well-known/jwks.json");
        daps.set_issuer("http://127.0.0.1:4567");
        assert_eq!(daps.token_url(), "http://127.0.0.1:4567/token");
    }

    #[test]
    fn mint_fills_registration_claims_and_applies_overrides() {
        let daps = daps();
        let keys = ParticipantKeys::generate("company-x").unwrap();
        let id = daps.register(&keys, "http://connector-x/");
        let token = daps
            .mint(MintOverrides {
                subject: Some(id.to_string()),
                audience: Some(vec!["http://provider".into()]),
                expires_at: Some(42),
                ..MintOverrides::default()
            })
            .unwrap();
        let claims = claims_of(&token, &daps);
        assert_eq!(claims.sub, id.as_str());
        assert_eq!(claims.exp, 42);
        assert_eq!(claims.iss, "http://daps.test");
        assert_eq!(claims.aud.values(), ["http://provider"]);
        assert_eq!(claims.referring_connector, "http://connector-x/");
        assert_eq!(
            claims.transport_certs_sha256.values(),
            [keys.transport_cert_sha256()]
        );
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.kid.as_deref(), Some(daps.kid()));
    }

    #[test]
    fn default_mint_lasts_the_token_lifetime() {
        let daps = daps();
        let claims = claims_of(&daps.mint(MintOverrides::default()).unwrap(), &daps);
        assert_eq!(claims.exp - claims.iat, 600);
        assert_eq!(claims.aud.values(), [DEFAULT_AUDIENCE]);
    }

    #[test]
    fn certificate_registration_checks_the_jwk() {
        let daps = daps();
        let keys = ParticipantKeys::generate("company-x").unwrap();
        let other = ParticipantKeys::generate("company-y").unwrap();
        let request = |jwk: Option<Value>| RegistrationRequest {
            participant_id: "company-x".into(),
            certificate_pem: keys.cert_pem(),
            jwk,
            referring_connector: None,
        };
        let (registration, outcome) = daps.register_certificate(request(None)).unwrap();
        assert_eq!(outcome, Registered::Created);
        assert_eq!(&registration.client_id, keys.client_id());
        assert_eq!(registration.referring_connector, "urn:connector:company-x");
        assert_eq!(
            registration.transport_cert_sha256,
            keys.transport_cert_sha256()
        );
        let (_, outcome) = daps
            .register_certificate(request(Some(keys.public_jwk())))
            .unwrap();
        assert_eq!(outcome, Registered::Replaced);
        assert!(matches!(
            daps.register_certificate(request(Some(other.public_jwk()))),
            Err(DapsError::InvalidRequest(_))
        ));
        let mut bad = request(None);
        bad.certificate_pem = "not a certificate".into();
        assert!(matches!(
            daps.register_certificate(bad),
            Err(DapsError::InvalidRequest(_))
        ));
        assert_eq!(daps.clients().len(), 1);
    }

    #[test]
    fn replay_cache_detects_reuse_and_forgets_expired_ids() {
        let mut cache = ReplayCache::default();
        let client = ClientId::new("c");
        assert!(cache.record(&client, "j1", 100, 50).unwrap());
        assert!(!cache.record(&client, "j1", 100, 60).unwrap());
        // Same jti from another client is not a replay of this client's assertion.
        assert!(cache.record(&ClientId::new("d"), "j1", 100, 60).unwrap());
        // Once the assertion is dead its id may be forgotten.
        assert!(cache.record(&client, "j1", 300, 200).unwrap());
    }

    #[test]
    fn admin_key_comparison() {
        let daps = daps();
        assert!(daps.admin_key_matches("secret"));
        assert!(!daps.admin_key_matches("secret2"));
        assert!(!daps.admin_key_matches(""));
        let open = Daps::new(DapsConfig::default()).unwrap();
        assert!(!open.admin_enabled());
        assert!(!open.admin_key_matches(""));
    }
}
