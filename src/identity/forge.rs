//! Tokens signed by keys nobody trusts. Conformance suites present them to check that a
//! connector rejects a DAT whose signature does not come from its DAPS, even when every claim
//! is otherwise perfect. The security tests use the rest: an unsigned copy of a real token
//! (`alg: none`), the classic key confusion (HS256 with the DAPS's public key as the secret),
//! and a real token whose claims were edited after signing.

use super::claims::DatClaims;
use super::error::IdentityError;
use super::keys::ParticipantKeys;

/// Signs `claims` (ES256) with a freshly generated key that no DAPS publishes. The header
/// carries that key's thumbprint as `kid`, so verifiers see an unknown key id.
pub fn sign_with_unknown_key(claims: &DatClaims) -> Result<String, IdentityError> {
    let stranger = ParticipantKeys::generate("unknown-signer")?;
    sign_with_key(&stranger, claims, Some(stranger.kid()))
}

/// Signs `claims` with `keys`, announcing `kid` (or none) in the header. Announcing the
/// DAPS's own kid over a foreign signature yields a token that fails on the signature rather
/// than on the key lookup.
pub fn sign_with_key(
    keys: &ParticipantKeys,
    claims: &DatClaims,
    kid: Option<&str>,
) -> Result<String, IdentityError> {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, keys.encoding_key())
        .map_err(|e| IdentityError::Signing(e.to_string()))
}

/// Changes one character in the payload of a compact JWS, keeping its structure valid, so
/// the signature no longer matches.
pub fn tamper_payload(token: &str) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    if let Some(payload) = parts.get_mut(1) {
        // Re-encode a modified payload so the token still decodes; only the signature breaks.
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine as _;
        if let Ok(mut bytes) = URL_SAFE_NO_PAD.decode(payload.as_bytes()) {
            match serde_json::from_slice::<serde_json::Value>(&bytes) {
                Ok(mut value) if value.is_object() => {
                    value["sub"] = serde_json::Value::from("tampered");
                    bytes = serde_json::to_vec(&value).unwrap_or(bytes);
                }
                _ => {
                    if let Some(first) = bytes.first_mut() {
                        *first ^= 0x01;
                    }
                }
            }
            *payload = URL_SAFE_NO_PAD.encode(bytes);
        }
    }
    parts.join(".")
}

/// The payload of a compact JWS as JSON, if it has one.
pub fn payload_of(token: &str) -> Option<serde_json::Value> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    let part = token.split('.').nth(1)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part.as_bytes()).ok()?).ok()
}

/// The claims of `token` again, with `{"alg": "none"}` and no signature (RFC 7519 section 6).
pub fn unsigned(token: &str) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = token.split('.').nth(1).unwrap_or_default();
    format!("{header}.{payload}.")
}

/// The claims of `token` signed HS256 with the PEM text of `public_key` as the HMAC secret,
/// announcing `kid`: a verifier that takes the algorithm from the header and the key from its
/// key set would accept it.
pub fn key_confusion(
    token: &str,
    public_key: &super::public_key::EcPublicKey,
    kid: Option<&str>,
) -> Result<String, IdentityError> {
    let claims = payload_of(token)
        .ok_or_else(|| IdentityError::Signing("the token has no json payload".into()))?;
    let pem_text = pem::encode(&pem::Pem::new("PUBLIC KEY", public_key.spki_der()));
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = kid.map(str::to_owned);
    let secret = jsonwebtoken::EncodingKey::from_secret(pem_text.as_bytes());
    jsonwebtoken::encode(&header, &claims, &secret)
        .map_err(|e| IdentityError::Signing(e.to_string()))
}

/// `token` with its claims changed by `edit` and its original header and signature kept, so
/// only the signature check can catch it (a forged subject, a widened audience, ...).
pub fn edit_claims(token: &str, edit: impl FnOnce(&mut serde_json::Value)) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    if let (Some(mut claims), Some(payload)) = (payload_of(token), parts.get_mut(1)) {
        edit(&mut claims);
        *payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    }
    parts.join(".")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::claims::{unix_now, OneOrMany};

    #[test]
    fn unknown_key_tokens_differ_in_kid_and_key() {
        let claims = DatClaims::new("i", "s", OneOrMany::one("a"), unix_now(), 60);
        let a = sign_with_unknown_key(&claims).unwrap();
        let b = sign_with_unknown_key(&claims).unwrap();
        let kid = |t: &str| jsonwebtoken::decode_header(t).unwrap().kid.unwrap();
        assert_ne!(kid(&a), kid(&b));
    }

    #[test]
    fn forgeries_keep_the_claims_and_change_what_they_claim_to_be() {
        let keys = ParticipantKeys::generate("t").unwrap();
        let claims = DatClaims::new("i", "s", OneOrMany::one("a"), unix_now(), 60);
        let token = sign_with_key(&keys, &claims, Some(keys.kid())).unwrap();
        let header = |t: &str| jsonwebtoken::decode_header(t);
        assert!(unsigned(&token).ends_with('.'));
        assert_eq!(payload_of(&unsigned(&token)), payload_of(&token));
        let confused = key_confusion(&token, keys.public_key(), Some("k")).unwrap();
        assert_eq!(header(&confused).unwrap().alg, jsonwebtoken::Algorithm::HS256);
        assert_eq!(payload_of(&confused), payload_of(&token));
        let forged = edit_claims(&token, |c| c["sub"] = "someone-else".into());
        assert_eq!(payload_of(&forged).unwrap()["sub"], "someone-else");
        assert_eq!(forged.rsplit('.').next(), token.rsplit('.').next());
    }

    #[test]
    fn tampering_keeps_structure_and_breaks_the_signature() {
        let keys = ParticipantKeys::generate("t").unwrap();
        let claims = DatClaims::new("i", "s", OneOrMany::one("a"), unix_now(), 60);
        let token = sign_with_key(&keys, &claims, Some(keys.kid())).unwrap();
        let tampered = tamper_payload(&token);
        assert_ne!(token, tampered);
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
        validation.validate_aud = false;
        let key = keys.public_key().decoding_key();
        assert!(jsonwebtoken::decode::<DatClaims>(&token, &key, &validation).is_ok());
        let err = jsonwebtoken::decode::<DatClaims>(&tampered, &key, &validation).unwrap_err();
        assert!(matches!(
            err.kind(),
            jsonwebtoken::errors::ErrorKind::InvalidSignature
        ));
    }
}
