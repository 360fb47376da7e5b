//! The identity layer against the reference DAPS over real HTTP on 127.0.0.1:0: obtaining
//! DATs with `private_key_jwt`, the claims they carry, the OAuth2 errors for broken client
//! assertions, the verifier's rejections, and registration through the admin API.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use dsp_harness::identity::{
    forge, register_keys, register_participant, request_token, sign_client_assertion, unix_now,
    AssertionClaims, DatClient, DatRejection, DatVerifier, IdentityError, OAuthErrorBody,
    ParticipantKeys, TokenRequest, BASE_SECURITY_PROFILE, CLIENT_ASSERTION_TYPE_JWT_BEARER,
    DAT_CONTEXT, DAT_SCOPE, DAT_TYPE, DEFAULT_AUDIENCE,
};
use dsp_harness::reference::daps::{self, Daps, DapsConfig, MintOverrides};
use serde_json::Value;

const ADMIN_KEY: &str = "test-admin-key";
const PROVIDER: &str = "http://provider.test/protocol";

/// A DAPS served on an ephemeral loopback port.
struct TestDaps {
    daps: Daps,
    http: reqwest::Client,
}

impl TestDaps {
    async fn start() -> Self {
        let daps = Daps::new(DapsConfig {
            issuer: String::new(),
            admin_key: ADMIN_KEY.into(),
            token_lifetime: Duration::from_secs(900),
            clock_offset_secs: 0,
        })
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        // serve() learns the issuer from the listener; set it here too so the URL is known
        // before the spawned task runs.
        daps.set_issuer(&format!("http://{}", listener.local_addr().unwrap()));
        tokio::spawn(daps::serve(daps.clone(), listener));
        Self {
            daps,
            http: reqwest::Client::new(),
        }
    }

    fn participant(&self, name: &str) -> ParticipantKeys {
        let keys = ParticipantKeys::generate(name).unwrap();
        self.daps.register(&keys, &format!("http://{name}.test/"));
        keys
    }

    fn client(&self, keys: &ParticipantKeys) -> DatClient {
        DatClient::new(self.daps.token_url(), keys.clone(), self.http.clone())
    }

    fn verifier(&self) -> DatVerifier {
        DatVerifier::new(self.daps.jwks_url(), self.daps.issuer(), self.http.clone())
    }

    /// Posts a raw token request form and returns the status and the JSON body.
    async fn post_token(&self, form: &[(&str, &str)]) -> (u16, Value) {
        let response = self
            .http
            .post(self.daps.token_url())
            .form(form)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }
}

fn payload(token: &str) -> Value {
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

#[tokio::test]
async fn a_client_gets_a_dat_the_verifier_accepts_for_the_right_audience() {
    let env = TestDaps::start().await;
    let keys = env.participant("company-x");
    let token = env.client(&keys).token(PROVIDER).await.unwrap();
    let verifier = env.verifier();

    let claims = verifier.verify(&token, PROVIDER).await.unwrap();
    assert_eq!(claims.sub, keys.client_id().as_str());
    // The Authorization header may carry the token raw or with the Bearer scheme.
    assert!(verifier
        .verify(&format!("Bearer {token}"), PROVIDER)
        .await
        .is_ok());
    assert!(matches!(
        verifier
            .verify(&token, "http://someone-else.test/protocol")
            .await,
        Err(DatRejection::WrongAudience { .. })
    ));
}

#[tokio::test]
async fn the_dat_carries_every_ids_claim() {
    let env = TestDaps::start().await;
    let keys = env.participant("company-x");
    let token = env.client(&keys).token(PROVIDER).await.unwrap();
    let claims = payload(&token);

    assert_eq!(claims["@context"], DAT_CONTEXT);
    assert_eq!(claims["@type"], DAT_TYPE);
    assert_eq!(claims["iss"], env.daps.issuer().as_str());
    assert_eq!(claims["sub"], keys.client_id().as_str());
    assert_eq!(claims["aud"], PROVIDER);
    assert_eq!(claims["scope"], DAT_SCOPE);
    assert_eq!(claims["securityProfile"], BASE_SECURITY_PROFILE);
    assert_eq!(claims["referringConnector"], "http://company-x.test/");
    assert_eq!(
        claims["transportCertsSha256"],
        keys.transport_cert_sha256().as_str()
    );
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));
    let (iat, nbf, exp) = (
        claims["iat"].as_i64().unwrap(),
        claims["nbf"].as_i64().unwrap(),
        claims["exp"].as_i64().unwrap(),
    );
    assert!((iat - unix_now()).abs() <= 5, "iat {iat}");
    assert_eq!(nbf, iat);
    assert_eq!(exp - iat, 900);
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256);
    assert_eq!(header.kid.as_deref(), Some(env.daps.kid()));
}

#[tokio::test]
async fn the_resource_parameter_becomes_the_audience() {
    let env = TestDaps::start().await;
    let keys = env.participant("company-x");
    let token_url = env.daps.token_url();
    for (resource, expected) in [
        (Some("urn:connector:company-y"), "urn:connector:company-y"),
        (None, DEFAULT_AUDIENCE),
    ] {
        let assertion =
            sign_client_assertion(&keys, &AssertionClaims::new(&keys, &token_url)).unwrap();
        let response = request_token(
            &env.http,
            &token_url,
            &TokenRequest::new(&assertion, resource),
        )
        .await
        .unwrap();
        assert_eq!(response.token_type, "bearer");
        assert_eq!(response.expires_in, Some(900));
        assert_eq!(payload(&response.access_token)["aud"], expected);
    }
}

#[tokio::test]
async fn tokens_are_cached_per_audience() {
    let env = TestDaps::start().await;
    let client = env.client(&env.participant("company-x"));
    let first = client.token(PROVIDER).await.unwrap();
    assert_eq!(client.token(PROVIDER).await.unwrap(), first);
    let other = client.token("http://other.test").await.unwrap();
    assert_ne!(other, first);
    client.clear_cache();
    assert_ne!(client.token(PROVIDER).await.unwrap(), first);
}

/// One broken token request: what to change, and the OAuth2 error it must produce.
struct Refusal {
    name: &'static str,
    error: &'static str,
    status: u16,
}

#[tokio::test]
async fn broken_client_authentication_gets_oauth_error_bodies() {
    let env = TestDaps::start().await;
    let keys = env.participant("company-x");
    let stranger = ParticipantKeys::generate("stranger").unwrap();
    let token_url = env.daps.token_url();
    let now = unix_now();
    let valid = || AssertionClaims::new(&keys, &token_url);

    let replayed = sign_client_assertion(&keys, &valid()).unwrap();
    let (status, _) = env.post_token(&form(&replayed, "client_credentials")).await;
    assert_eq!(status, 200, "first use of the assertion must succeed");

    let cases: Vec<(Refusal, String, &str)> = vec![
        (
            Refusal {
                name: "assertion signed by another key",
                error: "invalid_client",
                status: 401,
            },
            sign_client_assertion(&stranger, &valid()).unwrap(),
            "client_credentials",
        ),
        (
            Refusal {
                name: "expired assertion",
                error: "invalid_client",
                status: 401,
            },
            sign_client_assertion(
                &keys,
                &AssertionClaims {
                    iat: now - 300,
                    nbf: now - 300,
                    exp: now - 120,
                    ..valid()
                },
            )
            .unwrap(),
            "client_credentials",
        ),
        (
            Refusal {
                name: "assertion for another audience",
                error: "invalid_client",
                status: 401,
            },
            sign_client_assertion(
                &keys,
                &AssertionClaims {
                    aud: "http://other-daps.test/token".into(),
                    ..valid()
                },
            )
            .unwrap(),
            "client_credentials",
        ),
        (
            Refusal {
                name: "unknown client",
                error: "invalid_client",
                status: 401,
            },
            sign_client_assertion(&stranger, &AssertionClaims::new(&stranger, &token_url)).unwrap(),
            "client_credentials",
        ),
        (
            Refusal {
                name: "replayed jti",
                error: "invalid_client",
                status: 401,
            },
            replayed.clone(),
            "client_credentials",
        ),
        (
            Refusal {
                name: "wrong grant type",
                error: "unsupported_grant_type",
                status: 400,
            },
            sign_client_assertion(&keys, &valid()).unwrap(),
            "authorization_code",
        ),
    ];
    for (refusal, assertion, grant_type) in cases {
        let (status, body) = env.post_token(&form(&assertion, grant_type)).await;
        assert_eq!(status, refusal.status, "{}: {body}", refusal.name);
        let body: OAuthErrorBody = serde_json::from_value(body).unwrap();
        assert_eq!(body.error, refusal.error, "{}", refusal.name);
        assert!(
            body.error_description.is_some_and(|d| !d.is_empty()),
            "{}",
            refusal.name
        );
    }

    let (status, body) = env
        .post_token(&[("grant_type", "client_credentials")])
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client")),
        "no client authentication"
    );
}

fn form<'a>(assertion: &'a str, grant_type: &'a str) -> Vec<(&'static str, &'a str)> {
    vec![
        ("grant_type", grant_type),
        ("client_assertion_type", CLIENT_ASSERTION_TYPE_JWT_BEARER),
        ("client_assertion", assertion),
        ("scope", DAT_SCOPE),
        ("resource", PROVIDER),
    ]
}

#[tokio::test]
async fn a_refused_client_sees_the_oauth_error() {
    let env = TestDaps::start().await;
    let unregistered = ParticipantKeys::generate("nobody").unwrap();
    match env.client(&unregistered).token(PROVIDER).await {
        Err(IdentityError::TokenRefused { status, error, .. }) => {
            assert_eq!((status, error.as_str()), (401, "invalid_client"));
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// Whether a rejection is the one a case expects.
type ExpectedRejection = fn(&DatRejection) -> bool;

#[tokio::test]
async fn the_verifier_rejects_each_defect_with_its_own_reason() {
    let env = TestDaps::start().await;
    let keys = env.participant("company-x");
    let sub = Some(keys.client_id().to_string());
    let aud = Some(vec![PROVIDER.to_owned()]);
    let now = unix_now();
    // Every token names the registered client and the provider unless the case says otherwise.
    let mint = |mut overrides: MintOverrides| {
        overrides.subject = overrides.subject.or_else(|| sub.clone());
        overrides.audience = overrides.audience.or_else(|| aud.clone());
        env.daps.mint(overrides).unwrap()
    };
    let good = mint(MintOverrides::default());
    let good_claims = env.verifier().verify(&good, PROVIDER).await.unwrap();

    let cases: Vec<(&str, String, ExpectedRejection)> = vec![
        (
            "expired",
            mint(MintOverrides {
                issued_at: Some(now - 7200),
                not_before: Some(now - 7200),
                expires_at: Some(now - 60),
                ..Default::default()
            }),
            |r| matches!(r, DatRejection::Expired { .. }),
        ),
        (
            "not yet valid",
            mint(MintOverrides {
                not_before: Some(now + 600),
                ..Default::default()
            }),
            |r| matches!(r, DatRejection::NotYetValid { .. }),
        ),
        (
            "wrong audience",
            mint(MintOverrides {
                audience: Some(vec!["http://elsewhere.test".into()]),
                ..Default::default()
            }),
            |r| matches!(r, DatRejection::WrongAudience { .. }),
        ),
        (
            "wrong issuer",
            mint(MintOverrides {
                issuer: Some("http://rogue-daps.test".into()),
                ..Default::default()
            }),
            |r| matches!(r, DatRejection::WrongIssuer { .. }),
        ),
        (
            "wrong type",
            mint(MintOverrides {
                dat_type: Some("ids:Other".into()),
                ..Default::default()
            }),
            |r| matches!(r, DatRejection::WrongType { .. }),
        ),
        (
            "unknown key",
            forge::sign_with_unknown_key(&good_claims).unwrap(),
            |r| matches!(r, DatRejection::UnknownKey { .. }),
        ),
        // A stranger's signature under the DAPS's own kid fails on the signature itself.
        (
            "foreign signature under the daps kid",
            forge::sign_with_key(&keys, &good_claims, Some(env.daps.kid())).unwrap(),
            |r| matches!(r, DatRejection::BadSignature),
        ),
        ("tampered payload", forge::tamper_payload(&good), |r| {
            matches!(r, DatRejection::BadSignature)
        }),
        ("not a jwt", "definitely-not-a-jwt".to_owned(), |r| {
            matches!(r, DatRejection::Malformed(_))
        }),
        ("empty", String::new(), |r| {
            matches!(r, DatRejection::Missing)
        }),
    ];
    let verifier = env.verifier();
    for (name, token, expected) in cases {
        let rejection = verifier.verify(&token, PROVIDER).await.expect_err(name);
        assert!(expected(&rejection), "{name}: got {rejection:?}");
        assert!(!rejection.to_string().is_empty());
    }
}

#[tokio::test]
async fn an_unreachable_key_set_is_reported_as_such() {
    let env = TestDaps::start().await;
    let keys = env.participant("company-x");
    let token = env.client(&keys).token(PROVIDER).await.unwrap();
    let wrong_url = format!("{}/no-such-jwks", env.daps.issuer());
    let verifier = DatVerifier::new(wrong_url, env.daps.issuer(), env.http.clone());
    assert!(matches!(
        verifier.verify(&token, PROVIDER).await,
        Err(DatRejection::JwksUnavailable(_))
    ));
}

#[tokio::test]
async fn registration_over_the_admin_api_requires_the_admin_key() {
    let env = TestDaps::start().await;
    let base = env.daps.issuer();
    let dir = tempfile::tempdir().unwrap();

    let registered = register_participant(&base, ADMIN_KEY, "company-z", dir.path())
        .await
        .unwrap();
    assert_eq!(&registered.client_id, registered.keys.client_id());
    let loaded = ParticipantKeys::load(dir.path()).unwrap();
    assert_eq!(loaded.client_id(), &registered.client_id);
    let registration = env
        .daps
        .client(registered.client_id.as_str())
        .expect("registered");
    assert_eq!(
        registration.transport_cert_sha256,
        loaded.transport_cert_sha256()
    );

    // The registered participant can now authenticate, using the keys loaded from disk.
    let token = env.client(&loaded).token(PROVIDER).await.unwrap();
    assert_eq!(
        payload(&token)["referringConnector"],
        "urn:connector:company-z"
    );

    let listed: Value = env
        .http
        .get(format!("{base}/admin/clients"))
        .header("x-api-key", ADMIN_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(listed
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["clientId"] == registered.client_id.as_str()));

    let other_dir = tempfile::tempdir().unwrap();
    for key in ["wrong-key", ""] {
        match register_participant(&base, key, "company-w", other_dir.path()).await {
            Err(IdentityError::RegistrationRefused { status, body, .. }) => {
                assert_eq!(status, 401, "{body}");
                assert_eq!(
                    serde_json::from_str::<Value>(&body).unwrap()["error"],
                    "unauthorized"
                );
            }
            other => panic!("expected a refusal with key {key:?}, got {other:?}"),
        }
    }
    assert_eq!(
        env.daps.clients().len(),
        1,
        "refused registrations must not register"
    );
    let status = env
        .http
        .get(format!("{base}/admin/clients"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 401);

    // Registering the same keys again replaces the registration (200, not 201).
    let response = env
        .http
        .post(format!("{base}/admin/clients"))
        .header("x-api-key", ADMIN_KEY)
        .json(&serde_json::json!({"participantId": "company-z", "certificate": loaded.cert_pem(), "referringConnector": "http://z.test/"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        env.daps
            .client(registered.client_id.as_str())
            .unwrap()
            .referring_connector,
        "http://z.test/"
    );

    // register_keys with an explicit referring connector, for keys made elsewhere.
    let extra = ParticipantKeys::generate("company-v").unwrap();
    let id = register_keys(&env.http, &base, ADMIN_KEY, &extra, Some("http://v.test/"))
        .await
        .unwrap();
    assert_eq!(&id, extra.client_id());
    assert_eq!(env.daps.clients().len(), 2);
}
