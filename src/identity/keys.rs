//! A participant's identity material: an ES256 (P-256) key pair and a self-signed X.509
//! certificate for it, with the identifiers derived from them and a small on-disk layout
//! (`key.pem`, `cert.pem`, `participant.json`). P-256 keeps generation in the microseconds, so
//! every test can mint fresh participants.

use std::path::Path;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair as _, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::IdentityError;
use super::public_key::{cert_pem_to_der, cert_sha256_hex, ClientId, EcPublicKey};

/// File names inside a participant directory.
pub const KEY_FILE: &str = "key.pem";
pub const CERT_FILE: &str = "cert.pem";
pub const PARTICIPANT_FILE: &str = "participant.json";

/// A participant's name in the data space, such as `company-x`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ParticipantId(String);

impl ParticipantId {
    /// Accepts 1 to 128 characters without control characters; anything else would end up
    /// in certificates, file names of reports and HTTP headers.
    pub fn new(id: impl Into<String>) -> Result<Self, IdentityError> {
        let id = id.into();
        let valid =
            !id.is_empty() && id.chars().count() <= 128 && !id.chars().any(char::is_control);
        if valid {
            Ok(Self(id))
        } else {
            Err(IdentityError::InvalidParticipantId(id))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ParticipantId {
    type Error = IdentityError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<ParticipantId> for String {
    fn from(value: ParticipantId) -> Self {
        value.0
    }
}

impl std::fmt::Display for ParticipantId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The non-secret description stored next to the PEM files.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ParticipantFile {
    participant_id: ParticipantId,
    client_id: ClientId,
    kid: String,
}

/// A participant's ES256 key pair and self-signed certificate.
#[derive(Clone)]
pub struct ParticipantKeys {
    participant_id: ParticipantId,
    public: EcPublicKey,
    client_id: ClientId,
    kid: String,
    pkcs8_der: Vec<u8>,
    cert_der: Vec<u8>,
    encoding_key: jsonwebtoken::EncodingKey,
}

impl std::fmt::Debug for ParticipantKeys {
    // The private key stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParticipantKeys")
            .field("participant_id", &self.participant_id)
            .field("client_id", &self.client_id)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl ParticipantKeys {
    /// Generates a fresh key pair and a self-signed certificate whose common name is the
    /// participant id.
    pub fn generate(participant_id: &str) -> Result<Self, IdentityError> {
        let participant_id = ParticipantId::new(participant_id)?;
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .map_err(|_| IdentityError::KeyGeneration)?;
        let pkcs8_der = pkcs8.as_ref().to_vec();
        let cert_der = self_signed_certificate(&participant_id, &pkcs8_der)?;
        Self::from_parts(participant_id, pkcs8_der, cert_der)
    }

    /// Assembles keys from a PKCS#8 private key and a certificate, checking that they belong
    /// together.
    pub fn from_parts(
        participant_id: ParticipantId,
        pkcs8_der: Vec<u8>,
        cert_der: Vec<u8>,
    ) -> Result<Self, IdentityError> {
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8_der).map_err(
            |e| IdentityError::InvalidPrivateKey(format!("not a p-256 pkcs#8 key: {e}")),
        )?;
        let public = EcPublicKey::from_point(pair.public_key().as_ref())?;
        if EcPublicKey::from_cert_der(&cert_der)? != public {
            return Err(IdentityError::KeyCertificateMismatch);
        }
        let encoding_key = jsonwebtoken::EncodingKey::from_ec_der(&pkcs8_der);
        Ok(Self {
            participant_id,
            client_id: public.client_id(),
            kid: public.thumbprint(),
            public,
            pkcs8_der,
            cert_der,
            encoding_key,
        })
    }

    /// The DAPS client id; see [`ClientId`] for how it is derived.
    pub fn client_id(&self) -> &ClientId {
        &self.client_id
    }

    pub fn participant_id(&self) -> &ParticipantId {
        &self.participant_id
    }

    /// The key id: the RFC 7638 thumbprint of the public key.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn public_key(&self) -> &EcPublicKey {
        &self.public
    }

    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8_der
    }

    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    pub fn cert_pem(&self) -> String {
        pem::encode(&pem::Pem::new("CERTIFICATE", self.cert_der.clone()))
    }

    pub fn key_pem(&self) -> String {
        pem::encode(&pem::Pem::new("PRIVATE KEY", self.pkcs8_der.clone()))
    }

    /// Lowercase hex SHA-256 of the certificate DER (the `transportCertsSha256` claim).
    pub fn transport_cert_sha256(&self) -> String {
        cert_sha256_hex(&self.cert_der)
    }

    /// The public key as a JWK with `kid`, `use` sig and `alg` ES256.
    pub fn public_jwk(&self) -> Value {
        self.public.to_jwk(&self.kid)
    }

    /// The key jsonwebtoken signs with.
    pub fn encoding_key(&self) -> &jsonwebtoken::EncodingKey {
        &self.encoding_key
    }

    /// Writes `key.pem`, `cert.pem` and `participant.json` into `dir`, creating it.
    pub fn save(&self, dir: &Path) -> Result<(), IdentityError> {
        std::fs::create_dir_all(dir).map_err(|source| IdentityError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        write_file(&dir.join(KEY_FILE), self.key_pem().as_bytes(), true)?;
        write_file(&dir.join(CERT_FILE), self.cert_pem().as_bytes(), false)?;
        let description = ParticipantFile {
            participant_id: self.participant_id.clone(),
            client_id: self.client_id.clone(),
            kid: self.kid.clone(),
        };
        let json =
            serde_json::to_vec_pretty(&description).map_err(|e| IdentityError::InvalidFile {
                path: dir.join(PARTICIPANT_FILE),
                reason: e.to_string(),
            })?;
        write_file(&dir.join(PARTICIPANT_FILE), &json, false)
    }

    /// Reads what [`ParticipantKeys::save`] wrote and checks that it is consistent.
    pub fn load(dir: &Path) -> Result<Self, IdentityError> {
        let key_path = dir.join(KEY_FILE);
        let key_pem = read_file(&key_path)?;
        let key_block = pem::parse(&key_pem).map_err(|e| IdentityError::InvalidFile {
            path: key_path.clone(),
            reason: format!("not pem: {e}"),
        })?;
        if key_block.tag() != "PRIVATE KEY" {
            return Err(IdentityError::InvalidFile {
                path: key_path,
                reason: format!("expected a PRIVATE KEY block, found {}", key_block.tag()),
            });
        }
        let cert_path = dir.join(CERT_FILE);
        let cert_der =
            cert_pem_to_der(&read_file(&cert_path)?).map_err(|e| IdentityError::InvalidFile {
                path: cert_path,
                reason: e.to_string(),
            })?;
        let description_path = dir.join(PARTICIPANT_FILE);
        let description: ParticipantFile = serde_json::from_str(&read_file(&description_path)?)
            .map_err(|e| IdentityError::InvalidFile {
                path: description_path.clone(),
                reason: e.to_string(),
            })?;
        let keys = Self::from_parts(
            description.participant_id,
            key_block.into_contents(),
            cert_der,
        )?;
        // The client id is derived, never trusted from the file; a mismatch means the files
        // were mixed up between participants.
        if keys.client_id != description.client_id {
            return Err(IdentityError::InvalidFile {
                path: description_path,
                reason: format!(
                    "client id {} does not match the key, which gives {}",
                    description.client_id, keys.client_id
                ),
            });
        }
        Ok(keys)
    }
}

fn self_signed_certificate(
    participant_id: &ParticipantId,
    pkcs8_der: &[u8],
) -> Result<Vec<u8>, IdentityError> {
    let key_pair = rcgen::KeyPair::try_from(pkcs8_der)
        .map_err(|e| IdentityError::CertificateGeneration(e.to_string()))?;
    let mut params = rcgen::CertificateParams::default();
    // The participant id goes into the common name, not a SAN: ids such as URNs or BPNs are
    // not DNS names.
    let mut name = rcgen::DistinguishedName::new();
    name.push(rcgen::DnType::CommonName, participant_id.as_str());
    params.distinguished_name = name;
    let cert = params
        .self_signed(&key_pair)
        .map_err(|e| IdentityError::CertificateGeneration(e.to_string()))?;
    Ok(cert.der().to_vec())
}

fn read_file(path: &Path) -> Result<String, IdentityError> {
    std::fs::read_to_string(path).map_err(|source| IdentityError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn write_file(path: &Path, contents: &[u8], secret: bool) -> Result<(), IdentityError> {
    let io_error = |source| IdentityError::Io {
        path: path.to_path_buf(),
        source,
    };
    std::fs::write(path, contents).map_err(io_error)?;
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io_error)?;
    }
    #[cfg(not(unix))]
    let _ = secret;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_consistent() {
        let keys = ParticipantKeys::generate("company-x").unwrap();
        assert_eq!(keys.participant_id().as_str(), "company-x");
        let from_cert = EcPublicKey::from_cert_der(keys.cert_der()).unwrap();
        assert_eq!(&from_cert, keys.public_key());
        assert_eq!(keys.client_id(), &from_cert.client_id());
        assert_eq!(keys.kid(), from_cert.thumbprint());
        assert_eq!(keys.public_jwk()["kid"], keys.kid());
        assert_eq!(keys.transport_cert_sha256().len(), 64);
        assert!(keys
            .transport_cert_sha256()
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert!(keys.cert_pem().starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(keys.key_pem().starts_with("-----BEGIN PRIVATE KEY-----"));
        assert_eq!(
            EcPublicKey::from_cert_pem(&keys.cert_pem()).unwrap(),
            from_cert
        );
    }

    #[test]
    fn two_participants_differ() {
        let a = ParticipantKeys::generate("a").unwrap();
        let b = ParticipantKeys::generate("a").unwrap();
        assert_ne!(a.client_id(), b.client_id());
        assert_ne!(a.kid(), b.kid());
    }

    #[test]
    fn invalid_participant_ids_are_rejected() {
        assert!(ParticipantKeys::generate("").is_err());
        assert!(ParticipantKeys::generate("a\nb").is_err());
        assert!(ParticipantKeys::generate(&"x".repeat(129)).is_err());
        assert!(ParticipantKeys::generate("urn:company:x").is_ok());
    }

    #[test]
    fn save_and_load_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let keys = ParticipantKeys::generate("company-y").unwrap();
        keys.save(dir.path()).unwrap();
        let loaded = ParticipantKeys::load(dir.path()).unwrap();
        assert_eq!(loaded.client_id(), keys.client_id());
        assert_eq!(loaded.pkcs8_der(), keys.pkcs8_der());
        assert_eq!(loaded.cert_der(), keys.cert_der());
        assert_eq!(loaded.participant_id(), keys.participant_id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn load_rejects_mixed_up_files() {
        let dir = tempfile::tempdir().unwrap();
        let keys = ParticipantKeys::generate("company-y").unwrap();
        keys.save(dir.path()).unwrap();
        let other = ParticipantKeys::generate("company-z").unwrap();
        std::fs::write(dir.path().join(CERT_FILE), other.cert_pem()).unwrap();
        assert!(matches!(
            ParticipantKeys::load(dir.path()),
            Err(IdentityError::KeyCertificateMismatch)
        ));
        let missing = tempfile::tempdir().unwrap();
        assert!(matches!(
            ParticipantKeys::load(missing.path()),
            Err(IdentityError::Io { .. })
        ));
    }
}
