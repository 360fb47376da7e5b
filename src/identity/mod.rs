//! The identity layer: participant keys and certificates, IDS DAT claims, obtaining DATs from
//! a DAPS (`private_key_jwt` client credentials) and verifying incoming DATs against the DAPS
//! key set. Used by the reference connector and by the harness when it acts as a
//! counterparty; the reference DAPS builds on the same types.

mod claims;
mod client;
mod error;
pub mod forge;
mod keys;
mod public_key;
pub mod register;
mod verify;

pub use claims::{
    unix_now, DatClaims, OneOrMany, BASE_SECURITY_PROFILE, DAT_CONTEXT, DAT_SCOPE, DAT_TYPE,
    DEFAULT_AUDIENCE,
};
pub use client::{
    request_token, sign_client_assertion, AssertionClaims, DatClient, OAuthErrorBody, TokenRequest,
    TokenResponse, ASSERTION_LIFETIME_SECS, CLIENT_ASSERTION_TYPE_JWT_BEARER,
    GRANT_TYPE_CLIENT_CREDENTIALS,
};
pub use error::IdentityError;
pub use keys::{ParticipantId, ParticipantKeys, CERT_FILE, KEY_FILE, PARTICIPANT_FILE};
pub use public_key::{cert_pem_to_der, cert_sha256_hex, ClientId, EcPublicKey};
pub use register::{register_keys, register_participant, RegisteredParticipant, ADMIN_KEY_HEADER};
pub use verify::{bearer, DatRejection, DatVerifier, DEFAULT_LEEWAY};
