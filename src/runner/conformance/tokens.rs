//! Where the harness gets the tokens it presents: real DATs from a DAPS (as the participant
//! `dsp-harness`), a static token from the target file, or none. The identity cases also need
//! bad tokens: expired ones (only a DAPS the harness controls can mint those: the one it runs
//! in its own process, or a reference DAPS elsewhere whose admin key the target file names,
//! through `POST /admin/mint`), ones for another audience, and ones signed by a key no DAPS
//! publishes.

use crate::identity::{forge, DatClaims, DatClient, OneOrMany};
use crate::reference::daps::{Daps, MintOverrides};

/// The kind of token a request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A DAT the connector under test must accept.
    Valid,
    /// No `Authorization` header at all.
    Missing,
    /// A DAT signed by the DAPS that expired an hour ago.
    Expired,
    /// A DAT signed by the DAPS for an audience that is not the connector.
    WrongAudience,
    /// A DAT with sound claims signed by a key the DAPS does not publish.
    UnknownKey,
    /// A valid DAT whose payload was altered after signing.
    Tampered,
}

/// The audience of wrong-audience tokens: no connector is called this.
pub const FOREIGN_AUDIENCE: &str = "urn:connector:somebody-else";

/// Where tokens come from.
#[derive(Clone)]
pub enum TokenSource {
    /// A DAPS the harness is registered at; `minter` is set when the harness can have that
    /// DAPS sign claims it chooses (it runs it itself, or knows its admin key).
    Daps { client: DatClient, minter: Option<Minter> },
    /// One fixed token, sent as it is.
    Static { token: String },
    /// The connector under test needs no token.
    None,
}

impl TokenSource {
    /// The fixed token of a static source, so the run can redact it from the reports.
    pub fn static_token(&self) -> Option<String> {
        match self {
            TokenSource::Static { token } => Some(token.clone()),
            _ => None,
        }
    }
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenSource::Daps { client, minter } => f.debug_struct("Daps").field("client", client).field("minter", &minter.is_some()).finish(),
            TokenSource::Static { .. } => f.write_str("Static"),
            TokenSource::None => f.write_str("None"),
        }
    }
}

/// A DAPS that signs the claims the harness chooses.
#[derive(Clone)]
pub enum Minter {
    /// The reference DAPS in this process.
    InProcess(Daps),
    /// A reference DAPS elsewhere (`dsp-harness serve daps`), through its admin API.
    Remote { mint_url: String, admin_key: String, http: reqwest::Client },
}

impl Minter {
    /// A remote reference DAPS whose base URL (its issuer) is `daps_url`.
    pub fn remote(daps_url: &str, admin_key: String, http: reqwest::Client) -> Minter {
        Minter::Remote { mint_url: format!("{}{}", daps_url.trim_end_matches('/'), crate::reference::daps::MINT_PATH), admin_key, http }
    }

    async fn mint(&self, overrides: MintOverrides) -> Result<String, String> {
        match self {
            Minter::InProcess(daps) => daps.mint(overrides).map_err(|e| e.to_string()),
            Minter::Remote { mint_url, admin_key, http } => {
                let body = serde_json::json!({
                    "subject": overrides.subject,
                    "audience": overrides.audience.unwrap_or_default(),
                    "issuedAt": overrides.issued_at,
                    "notBefore": overrides.not_before,
                    "expiresAt": overrides.expires_at,
                });
                let response = http
                    .post(mint_url)
                    .header(crate::identity::ADMIN_KEY_HEADER, admin_key)
                    .json(&body)
                    .send()
                    .await
                    .map_err(|e| format!("the daps at {mint_url} cannot be reached: {e}"))?;
                let status = response.status();
                let answer: serde_json::Value = response.json().await.unwrap_or_default();
                match answer.get("access_token").and_then(serde_json::Value::as_str) {
                    Some(token) if status.is_success() => Ok(token.to_string()),
                    _ => Err(format!("the daps refused to mint ({status}): {answer}; is auth.daps_admin_key_env its admin key?")),
                }
            }
        }
    }
}

/// Why a token of some kind cannot be had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenUnavailable {
    /// The source cannot make this kind at all: the case is skipped with this reason.
    Unsupported(String),
    /// The source should have made it but failed (the DAPS refused, ...): the case errors.
    Failed(String),
}

impl TokenKind {
    pub fn parse(word: &str) -> Option<TokenKind> {
        Some(match word {
            "valid" => TokenKind::Valid,
            "missing" => TokenKind::Missing,
            "expired" => TokenKind::Expired,
            "wrong-audience" => TokenKind::WrongAudience,
            "unknown-key" => TokenKind::UnknownKey,
            "tampered" => TokenKind::Tampered,
            _ => return None,
        })
    }
}

impl TokenSource {
    /// A token of `kind` for a connector whose audience is `audience`, or `None` for
    /// [`TokenKind::Missing`] (and for every kind when the connector needs no token).
    pub async fn token(&self, kind: TokenKind, audience: &str) -> Result<Option<String>, TokenUnavailable> {
        if kind == TokenKind::Missing {
            return Ok(None);
        }
        match self {
            TokenSource::None if kind == TokenKind::Valid => Ok(None),
            TokenSource::None => Err(TokenUnavailable::Unsupported("the target is configured without authentication".to_string())),
            TokenSource::Static { token } => match kind {
                TokenKind::Valid => Ok(Some(token.clone())),
                TokenKind::Tampered => Ok(Some(forge::tamper_payload(token))),
                TokenKind::UnknownKey => match claims_of(token) {
                    Some(claims) => resign(&claims).map(Some),
                    None => Err(TokenUnavailable::Unsupported("the static token is not a JWT whose claims could be re-signed".to_string())),
                },
                _ => Err(TokenUnavailable::Unsupported(format!("a static token cannot be turned into a {} token; configure a DAPS", describe(kind)))),
            },
            TokenSource::Daps { client, minter } => match kind {
                TokenKind::Missing => Ok(None),
                TokenKind::Valid => client.token(audience).await.map(Some).map_err(|e| TokenUnavailable::Failed(format!("no token from the daps: {e}"))),
                TokenKind::WrongAudience => match minter {
                    Some(minter) => mint(minter, client, |o| o.audience = Some(vec![FOREIGN_AUDIENCE.to_string()])).await.map(Some),
                    None => client.token(FOREIGN_AUDIENCE).await.map(Some).map_err(|e| TokenUnavailable::Failed(format!("no token from the daps: {e}"))),
                },
                TokenKind::Expired => match minter {
                    Some(minter) => {
                        let now = crate::identity::unix_now();
                        mint(minter, client, |o| {
                            o.audience = Some(vec![audience.to_string()]);
                            o.issued_at = Some(now - 7200);
                            o.not_before = Some(now - 7200);
                            o.expires_at = Some(now - 3600);
                        })
                        .await
                        .map(Some)
                    }
                    None => Err(TokenUnavailable::Unsupported(
                        "only a DAPS the harness controls can mint an expired token; with a reference DAPS (dsp-harness serve daps) name its admin key in [auth] daps_admin_key_env".to_string(),
                    )),
                },
                TokenKind::Tampered => {
                    let valid = client.token(audience).await.map_err(|e| TokenUnavailable::Failed(format!("no token from the daps: {e}")))?;
                    Ok(Some(forge::tamper_payload(&valid)))
                }
                TokenKind::UnknownKey => {
                    let valid = client.token(audience).await.map_err(|e| TokenUnavailable::Failed(format!("no token from the daps: {e}")))?;
                    let claims = claims_of(&valid).ok_or_else(|| TokenUnavailable::Failed("the daps issued a token that is not a JWT".to_string()))?;
                    resign(&claims).map(Some)
                }
            },
        }
    }
}

fn describe(kind: TokenKind) -> &'static str {
    match kind {
        TokenKind::Valid => "valid",
        TokenKind::Missing => "missing",
        TokenKind::Expired => "expired",
        TokenKind::WrongAudience => "wrong-audience",
        TokenKind::UnknownKey => "unknown-key",
        TokenKind::Tampered => "tampered",
    }
}

async fn mint(minter: &Minter, client: &DatClient, tweak: impl FnOnce(&mut MintOverrides)) -> Result<String, TokenUnavailable> {
    let mut overrides = MintOverrides { subject: Some(client.keys().client_id().as_str().to_string()), ..MintOverrides::default() };
    tweak(&mut overrides);
    minter.mint(overrides).await.map_err(|e| TokenUnavailable::Failed(format!("cannot mint a token: {e}")))
}

/// Signs the claims of a real token again with a key nobody trusts, fresh times included, so
/// that only the signature is wrong.
fn resign(claims: &DatClaims) -> Result<String, TokenUnavailable> {
    let mut claims = claims.clone();
    let now = crate::identity::unix_now();
    claims.iat = now;
    claims.nbf = now;
    claims.exp = now + 3600;
    if claims.aud.values().is_empty() {
        claims.aud = OneOrMany::one(FOREIGN_AUDIENCE);
    }
    forge::sign_with_unknown_key(&claims).map_err(|e| TokenUnavailable::Failed(format!("cannot sign a forged token: {e}")))
}

/// The claims of a compact JWS, read without checking anything.
fn claims_of(token: &str) -> Option<DatClaims> {
    use base64::Engine;
    let payload = crate::identity::bearer(token).split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn static_tokens_only_make_valid_and_resigned_tokens() {
        let claims = DatClaims::new("iss", "sub", OneOrMany::one("aud"), crate::identity::unix_now(), 60);
        let keys = crate::identity::ParticipantKeys::generate("t").unwrap();
        let token = forge::sign_with_key(&keys, &claims, Some(keys.kid())).unwrap();
        let source = TokenSource::Static { token: token.clone() };
        assert_eq!(source.token(TokenKind::Valid, "aud").await.unwrap(), Some(token.clone()));
        assert_eq!(source.token(TokenKind::Missing, "aud").await.unwrap(), None);
        let forged = source.token(TokenKind::UnknownKey, "aud").await.unwrap().unwrap();
        assert_ne!(forged, token);
        assert_eq!(claims_of(&forged).unwrap().sub, "sub");
        assert!(matches!(source.token(TokenKind::Expired, "aud").await, Err(TokenUnavailable::Unsupported(_))));
        let opaque = TokenSource::Static { token: "opaque".into() };
        assert!(matches!(opaque.token(TokenKind::UnknownKey, "aud").await, Err(TokenUnavailable::Unsupported(_))));
    }
}
