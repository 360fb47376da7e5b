//! The token endpoint: the OAuth2 client-credentials grant with `private_key_jwt` client
//! authentication (RFC 6749 section 4.4, RFC 7523 section 2.2). The checks run in a fixed
//! order and the assertion id is recorded only once everything else passed, so a broken
//! assertion never burns its `jti`.

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::identity::{
    unix_now, CLIENT_ASSERTION_TYPE_JWT_BEARER, DAT_SCOPE, GRANT_TYPE_CLIENT_CREDENTIALS,
};

use super::error::DapsError;
use super::state::{ClientRegistration, Daps};

/// Tolerance for clock differences in assertion time checks.
const LEEWAY_SECS: i64 = 5;
/// Assertions valid for longer than this are refused: their ids would have to be remembered
/// for that long to prevent replays.
const MAX_ASSERTION_LIFETIME_SECS: i64 = 3600;

/// The form fields of a token request. Everything is optional so that a missing field gets
/// a precise OAuth2 error instead of a generic deserialization failure; unknown fields are
/// ignored, as RFC 6749 section 3.2 requires.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct TokenForm {
    grant_type: Option<String>,
    client_assertion_type: Option<String>,
    client_assertion: Option<String>,
    client_id: Option<String>,
    scope: Option<String>,
    resource: Option<String>,
}

/// `POST /token`.
pub(crate) async fn token_endpoint(
    State(daps): State<Daps>,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Response {
    let result = match form {
        Ok(Form(form)) => grant(&daps, form),
        Err(rejection) if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
            Err(DapsError::PayloadTooLarge(rejection.body_text()))
        }
        Err(rejection) => Err(DapsError::InvalidRequest(format!(
            "expected an application/x-www-form-urlencoded body: {}",
            rejection.body_text()
        ))),
    };
    match result {
        Ok(body) => {
            let mut response = Json(body).into_response();
            // RFC 6749 section 5.1: token responses must not be cached.
            let headers = response.headers_mut();
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
            response
        }
        Err(error) => error.into_response(),
    }
}

/// Runs the grant and returns the RFC 6749 success body.
pub(crate) fn grant(daps: &Daps, form: TokenForm) -> Result<Value, DapsError> {
    let grant_type = required(form.grant_type, "grant_type")?;
    if grant_type != GRANT_TYPE_CLIENT_CREDENTIALS {
        return Err(DapsError::UnsupportedGrantType(format!(
            "grant_type {grant_type:?} is not supported, use {GRANT_TYPE_CLIENT_CREDENTIALS}"
        )));
    }
    let assertion = form
        .client_assertion
        .filter(|a| !a.is_empty())
        .ok_or_else(|| {
            DapsError::InvalidClient("no client authentication included (client_assertion)".into())
        })?;
    match form.client_assertion_type.as_deref() {
        Some(CLIENT_ASSERTION_TYPE_JWT_BEARER) => {}
        Some(other) => {
            return Err(DapsError::InvalidClient(format!(
                "client_assertion_type {other:?} is not supported, use {CLIENT_ASSERTION_TYPE_JWT_BEARER}"
            )))
        }
        None => return Err(DapsError::InvalidRequest("missing client_assertion_type".into())),
    }
    if let Some(scope) = form.scope.as_deref().filter(|s| !s.is_empty()) {
        if !scope.split(' ').any(|s| s == DAT_SCOPE) {
            return Err(DapsError::InvalidScope(format!(
                "scope {scope:?} does not include {DAT_SCOPE}"
            )));
        }
    }
    let client = authenticate(daps, &assertion, form.client_id.as_deref())?;
    let audience = form.resource.as_deref().filter(|r| !r.is_empty());
    let token = daps.issue(&client, audience)?;
    Ok(json!({
        "access_token": token,
        "token_type": "bearer",
        "expires_in": daps.token_lifetime().as_secs(),
        "scope": DAT_SCOPE,
    }))
}

fn required(value: Option<String>, name: &str) -> Result<String, DapsError> {
    value
        .filter(|v| !v.is_empty())
        .ok_or_else(|| DapsError::InvalidRequest(format!("missing {name}")))
}

/// Validates the client assertion and returns the client it authenticates.
fn authenticate(
    daps: &Daps,
    assertion: &str,
    client_id_param: Option<&str>,
) -> Result<ClientRegistration, DapsError> {
    let invalid = |reason: String| DapsError::InvalidClient(reason);
    let header = jsonwebtoken::decode_header(assertion)
        .map_err(|e| invalid(format!("client_assertion is not a jwt: {e}")))?;
    if header.alg != Algorithm::ES256 {
        return Err(invalid(format!(
            "client_assertion algorithm {:?} is not ES256",
            header.alg
        )));
    }
    // The issuer names the key to check the signature with, so it is read before the
    // signature is verified; nothing else from the unverified payload is trusted.
    let unverified = jsonwebtoken::dangerous::insecure_decode::<Value>(assertion)
        .map_err(|e| invalid(format!("client_assertion payload is not json: {e}")))?
        .claims;
    let iss = string_claim(&unverified, "iss")
        .ok_or_else(|| invalid("client_assertion has no iss".into()))?;
    let client = daps
        .client(&iss)
        .ok_or_else(|| invalid(format!("unknown client {iss:?}")))?;

    let mut validation = Validation::new(Algorithm::ES256);
    // Times and audience are checked below to give precise reasons.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let claims =
        jsonwebtoken::decode::<Value>(assertion, &client.public_key.decoding_key(), &validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                    invalid("client_assertion signature does not verify".into())
                }
                _ => invalid(format!("client_assertion is malformed: {e}")),
            })?
            .claims;

    if string_claim(&claims, "sub").as_deref() != Some(iss.as_str()) {
        return Err(invalid("client_assertion sub must equal iss".into()));
    }
    if let Some(client_id) = client_id_param.filter(|c| !c.is_empty()) {
        if client_id != iss {
            return Err(invalid(format!(
                "client_id {client_id:?} does not match the assertion issuer"
            )));
        }
    }
    let now = unix_now();
    let exp = claims
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or_else(|| invalid("client_assertion has no numeric exp".into()))?;
    if now >= exp.saturating_add(LEEWAY_SECS) {
        return Err(invalid(format!(
            "client_assertion expired at {exp} (now {now})"
        )));
    }
    if exp.saturating_sub(now) > MAX_ASSERTION_LIFETIME_SECS {
        return Err(invalid(format!(
            "client_assertion expires more than {MAX_ASSERTION_LIFETIME_SECS} s in the future"
        )));
    }
    if let Some(nbf) = claims.get("nbf").and_then(Value::as_i64) {
        if now.saturating_add(LEEWAY_SECS) < nbf {
            return Err(invalid(format!(
                "client_assertion is not valid before {nbf} (now {now})"
            )));
        }
    }
    check_audience(daps, &claims)?;
    let jti = string_claim(&claims, "jti")
        .filter(|j| !j.is_empty())
        .ok_or_else(|| invalid("client_assertion has no jti".into()))?;
    if !daps.record_assertion(&client.client_id, &jti, exp.saturating_add(LEEWAY_SECS))? {
        return Err(invalid(format!(
            "client_assertion jti {jti:?} was already used"
        )));
    }
    Ok(client)
}

/// The assertion must be addressed to this token endpoint; the issuer URL is accepted too,
/// as RFC 7523 section 3 allows.
fn check_audience(daps: &Daps, claims: &Value) -> Result<(), DapsError> {
    let accepted = [daps.token_url(), daps.issuer()];
    let matches = |aud: &str| accepted.iter().any(|a| a == aud.trim_end_matches('/'));
    let ok = match claims.get("aud") {
        Some(Value::String(aud)) => matches(aud),
        Some(Value::Array(auds)) => auds.iter().filter_map(Value::as_str).any(matches),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        // The expected audience is not named: an unauthenticated caller learns only that its
        // own value was wrong.
        Err(DapsError::InvalidClient(format!(
            "client_assertion audience {} is not this token endpoint",
            claims.get("aud").unwrap_or(&Value::Null)
        )))
    }
}

fn string_claim(claims: &Value, name: &str) -> Option<String> {
    claims.get(name).and_then(Value::as_str).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{sign_client_assertion, AssertionClaims, ParticipantKeys};
    use crate::reference::daps::DapsConfig;

    struct Fixture {
        daps: Daps,
        keys: ParticipantKeys,
    }

    fn fixture() -> Fixture {
        let daps = Daps::new(DapsConfig {
            issuer: "http://daps.test".into(),
            ..DapsConfig::default()
        })
        .unwrap();
        let keys = ParticipantKeys::generate("company-x").unwrap();
        daps.register(&keys, "http://x");
        Fixture { daps, keys }
    }

    fn form(assertion: String) -> TokenForm {
        TokenForm {
            grant_type: Some(GRANT_TYPE_CLIENT_CREDENTIALS.into()),
            client_assertion_type: Some(CLIENT_ASSERTION_TYPE_JWT_BEARER.into()),
            client_assertion: Some(assertion),
            scope: Some(DAT_SCOPE.into()),
            resource: Some("http://provider".into()),
            client_id: None,
        }
    }

    /// Runs a grant with one change to a valid assertion or form; returns the error code.
    fn check(
        patch_claims: impl Fn(&mut AssertionClaims),
        patch_form: impl Fn(&mut TokenForm),
    ) -> Result<Value, &'static str> {
        let f = fixture();
        let mut claims = AssertionClaims::new(&f.keys, &f.daps.token_url());
        patch_claims(&mut claims);
        let mut form = form(sign_client_assertion(&f.keys, &claims).unwrap());
        patch_form(&mut form);
        grant(&f.daps, form).map_err(|e| e.code())
    }

    #[test]
    fn a_valid_request_gets_a_bearer_token() {
        let body = check(|_| {}, |_| {}).unwrap();
        assert_eq!(body["token_type"], "bearer");
        assert_eq!(body["scope"], DAT_SCOPE);
        assert_eq!(body["expires_in"], 3600);
        assert!(body["access_token"].as_str().unwrap().split('.').count() == 3);
    }

    #[test]
    fn each_defect_gets_its_oauth_error() {
        let now = unix_now();
        let none = |_: &mut TokenForm| {};
        let keep = |_: &mut AssertionClaims| {};
        assert_eq!(check(|c| c.exp = now - 10, none), Err("invalid_client"));
        assert_eq!(
            check(|c| c.exp = now + 2 * MAX_ASSERTION_LIFETIME_SECS, none),
            Err("invalid_client")
        );
        assert_eq!(check(|c| c.nbf = now + 60, none), Err("invalid_client"));
        assert_eq!(
            check(|c| c.aud = "http://elsewhere/token".into(), none),
            Err("invalid_client")
        );
        assert!(check(|c| c.aud = "http://daps.test".into(), none).is_ok());
        assert_eq!(
            check(|c| c.iss = "stranger".into(), none),
            Err("invalid_client")
        );
        assert_eq!(
            check(|c| c.sub = "someone-else".into(), none),
            Err("invalid_client")
        );
        assert_eq!(
            check(|c| c.jti = String::new(), none),
            Err("invalid_client")
        );
        assert_eq!(
            check(keep, |f| f.grant_type = Some("password".into())),
            Err("unsupported_grant_type")
        );
        assert_eq!(check(keep, |f| f.grant_type = None), Err("invalid_request"));
        assert_eq!(
            check(keep, |f| f.client_assertion_type = Some("basic".into())),
            Err("invalid_client")
        );
        assert_eq!(
            check(keep, |f| f.client_assertion_type = None),
            Err("invalid_request")
        );
        assert_eq!(
            check(keep, |f| f.client_assertion = None),
            Err("invalid_client")
        );
        assert_eq!(
            check(keep, |f| f.client_assertion = Some("garbage".into())),
            Err("invalid_client")
        );
        assert_eq!(
            check(keep, |f| f.scope = Some("openid".into())),
            Err("invalid_scope")
        );
        assert!(check(keep, |f| f.scope = None).is_ok());
        assert_eq!(
            check(keep, |f| f.client_id = Some("other".into())),
            Err("invalid_client")
        );
    }

    #[test]
    fn replays_are_refused_but_failed_attempts_do_not_burn_the_jti() {
        let f = fixture();
        let mut claims = AssertionClaims::new(&f.keys, &f.daps.token_url());
        // First an attempt that fails for another reason, with the same jti.
        let good_jti = claims.jti.clone();
        claims.aud = "http://elsewhere".into();
        let bad = sign_client_assertion(&f.keys, &claims).unwrap();
        assert!(grant(&f.daps, form(bad)).is_err());
        claims.aud = f.daps.token_url();
        claims.jti = good_jti;
        let assertion = sign_client_assertion(&f.keys, &claims).unwrap();
        assert!(grant(&f.daps, form(assertion.clone())).is_ok());
        let replay = grant(&f.daps, form(assertion)).unwrap_err();
        assert_eq!(replay.code(), "invalid_client");
        assert!(replay.to_string().contains("already used"), "{replay}");
    }

    #[test]
    fn foreign_signatures_are_refused() {
        let f = fixture();
        let stranger = ParticipantKeys::generate("stranger").unwrap();
        // Claims name the registered client, but the stranger signs.
        let claims = AssertionClaims::new(&f.keys, &f.daps.token_url());
        let assertion = sign_client_assertion(&stranger, &claims).unwrap();
        let error = grant(&f.daps, form(assertion)).unwrap_err();
        assert_eq!(error.code(), "invalid_client");
        assert!(error.to_string().contains("signature"), "{error}");
    }
}
