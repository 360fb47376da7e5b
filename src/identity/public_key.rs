//! A P-256 public key and the identifiers derived from it: the JWK form published in key sets,
//! the key id (an RFC 7638 thumbprint), the DAPS client id, and extraction of the key from an
//! X.509 certificate. The DAPS and the participants derive these the same way from the same key,
//! so a client id computed locally always equals the one the DAPS assigns at registration.

use aws_lc_rs::digest::{digest, SHA256};
use aws_lc_rs::signature::{ParsedPublicKey, ECDSA_P256_SHA256_FIXED};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, EllipticCurveKeyParameters, EllipticCurveKeyType, Jwk,
    KeyAlgorithm, PublicKeyUse,
};
use serde_json::Value;

use super::error::IdentityError;

/// DER prefix of a P-256 `SubjectPublicKeyInfo`: SEQUENCE { SEQUENCE { id-ecPublicKey,
/// prime256v1 }, BIT STRING (0 unused bits) }, followed by the 65-byte uncompressed point.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// Length of an uncompressed P-256 point: 0x04 || x (32 bytes) || y (32 bytes).
const POINT_LEN: usize = 65;

/// A DAPS client id, in the IDS style `<SKI>:keyid:<AKI>`.
///
/// SKI is the subject key identifier of the participant's certificate (the first 20 bytes of
/// the SHA-256 of its `SubjectPublicKeyInfo`, the method rcgen and RFC 7093 use), written as
/// colon-separated upper-case hex. The certificates are self-signed, so the authority key
/// identifier equals the SKI. The id therefore depends only on the public key: it is stable
/// across restarts and identical on both sides of a registration.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct ClientId(String);

impl ClientId {
    /// Wraps a client id received from elsewhere (a DAPS answer, a token's `sub`).
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ClientId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A validated P-256 public key (an uncompressed curve point).
#[derive(Clone, PartialEq, Eq)]
pub struct EcPublicKey {
    point: [u8; POINT_LEN],
}

impl std::fmt::Debug for EcPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EcPublicKey({})", self.thumbprint())
    }
}

impl EcPublicKey {
    /// Accepts an uncompressed point and checks that it lies on the curve.
    pub fn from_point(point: &[u8]) -> Result<Self, IdentityError> {
        let point: [u8; POINT_LEN] = point.try_into().map_err(|_| {
            IdentityError::InvalidPublicKey(format!(
                "expected a {POINT_LEN}-byte uncompressed p-256 point, got {} bytes",
                point.len()
            ))
        })?;
        if point[0] != 0x04 {
            return Err(IdentityError::InvalidPublicKey(
                "point is not in uncompressed form".into(),
            ));
        }
        ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point.as_slice())
            .map_err(|e| IdentityError::InvalidPublicKey(format!("not a p-256 point: {e}")))?;
        Ok(Self { point })
    }

    /// Reads the key from a JWK (`kty` EC, `crv` P-256, base64url `x` and `y`), in its JSON form.
    pub fn from_jwk(jwk: &Value) -> Result<Self, IdentityError> {
        let jwk: Jwk = serde_json::from_value(jwk.clone())
            .map_err(|e| IdentityError::InvalidPublicKey(format!("not a jwk: {e}")))?;
        Self::from_typed_jwk(&jwk)
    }

    /// Reads the key from a parsed JWK: only EC P-256 keys with 32-byte coordinates.
    pub fn from_typed_jwk(jwk: &Jwk) -> Result<Self, IdentityError> {
        let AlgorithmParameters::EllipticCurve(ec) = &jwk.algorithm else {
            return Err(IdentityError::InvalidPublicKey("jwk kty is not EC".into()));
        };
        if ec.curve != EllipticCurve::P256 {
            return Err(IdentityError::InvalidPublicKey("jwk crv is not P-256".into()));
        }
        let coordinate = |name: &str, value: &str| -> Result<Vec<u8>, IdentityError> {
            let bytes = URL_SAFE_NO_PAD
                .decode(value)
                .map_err(|e| IdentityError::InvalidPublicKey(format!("jwk {name} is not base64url: {e}")))?;
            if bytes.len() != 32 {
                return Err(IdentityError::InvalidPublicKey(format!("jwk {name} is {} bytes, expected 32", bytes.len())));
            }
            Ok(bytes)
        };
        let mut point = Vec::with_capacity(POINT_LEN);
        point.push(0x04);
        point.extend(coordinate("x", &ec.x)?);
        point.extend(coordinate("y", &ec.y)?);
        Self::from_point(&point)
    }

    /// Extracts the key from a DER certificate. Only P-256 keys are accepted: the harness
    /// signs everything with ES256.
    pub fn from_cert_der(der: &[u8]) -> Result<Self, IdentityError> {
        let spki = spki_of_certificate(der).ok_or_else(|| {
            IdentityError::InvalidCertificate("not a der-encoded x.509 certificate".into())
        })?;
        match spki.strip_prefix(P256_SPKI_PREFIX.as_slice()) {
            Some(point) => Self::from_point(point),
            None => Err(IdentityError::InvalidCertificate(
                "certificate key is not an ec p-256 key".into(),
            )),
        }
    }

    /// Extracts the key from a PEM certificate (the first `CERTIFICATE` block).
    pub fn from_cert_pem(pem_text: &str) -> Result<Self, IdentityError> {
        Self::from_cert_der(&cert_pem_to_der(pem_text)?)
    }

    /// The uncompressed point.
    pub fn point(&self) -> &[u8] {
        &self.point
    }

    /// The DER `SubjectPublicKeyInfo` of this key.
    pub fn spki_der(&self) -> Vec<u8> {
        let mut der = P256_SPKI_PREFIX.to_vec();
        der.extend_from_slice(&self.point);
        der
    }

    pub fn x_b64(&self) -> String {
        URL_SAFE_NO_PAD.encode(&self.point[1..33])
    }

    pub fn y_b64(&self) -> String {
        URL_SAFE_NO_PAD.encode(&self.point[33..])
    }

    /// RFC 7638 JWK thumbprint (SHA-256, base64url). Used as the key id, so a kid names a key
    /// and nothing else.
    pub fn thumbprint(&self) -> String {
        // The members must be in lexicographic order with no whitespace (RFC 7638 section 3).
        let canonical = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            self.x_b64(),
            self.y_b64()
        );
        URL_SAFE_NO_PAD.encode(digest(&SHA256, canonical.as_bytes()))
    }

    /// The public JWK for signatures with ES256, as JSON.
    pub fn to_jwk(&self, kid: &str) -> Value {
        // A Jwk of strings and enums always serializes.
        serde_json::to_value(self.to_typed_jwk(kid)).unwrap_or(Value::Null)
    }

    /// The public JWK for signatures with ES256 (`kid`, `use` sig, `alg` ES256).
    pub fn to_typed_jwk(&self, kid: &str) -> Jwk {
        Jwk {
            common: CommonParameters {
                public_key_use: Some(PublicKeyUse::Signature),
                key_algorithm: Some(KeyAlgorithm::ES256),
                key_id: Some(kid.to_string()),
                ..CommonParameters::default()
            },
            algorithm: AlgorithmParameters::EllipticCurve(EllipticCurveKeyParameters {
                key_type: EllipticCurveKeyType::EC,
                curve: EllipticCurve::P256,
                x: self.x_b64(),
                y: self.y_b64(),
            }),
        }
    }

    /// The subject key identifier: the first 20 bytes of SHA-256 over the SPKI.
    pub fn key_identifier(&self) -> [u8; 20] {
        let hash = digest(&SHA256, &self.spki_der());
        let mut ski = [0u8; 20];
        ski.copy_from_slice(&hash.as_ref()[..20]);
        ski
    }

    /// The DAPS client id for this key; see [`ClientId`].
    pub fn client_id(&self) -> ClientId {
        let ski = self
            .key_identifier()
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":");
        ClientId(format!("{ski}:keyid:{ski}"))
    }

    /// The key in the form jsonwebtoken verifies with.
    pub fn decoding_key(&self) -> jsonwebtoken::DecodingKey {
        jsonwebtoken::DecodingKey::from_ec_der(&self.point)
    }
}

/// Decodes the first `CERTIFICATE` block of a PEM text.
pub fn cert_pem_to_der(pem_text: &str) -> Result<Vec<u8>, IdentityError> {
    let blocks = pem::parse_many(pem_text)
        .map_err(|e| IdentityError::InvalidCertificate(format!("not pem: {e}")))?;
    blocks
        .into_iter()
        .find(|block| block.tag() == "CERTIFICATE")
        .map(pem::Pem::into_contents)
        .ok_or_else(|| IdentityError::InvalidCertificate("no certificate pem block".into()))
}

/// Lowercase hex SHA-256 of a DER certificate, the form of the `transportCertsSha256` claim.
pub fn cert_sha256_hex(cert_der: &[u8]) -> String {
    hex::encode(digest(&SHA256, cert_der))
}

/// One DER element: its tag, its content, and the bytes after it.
struct Tlv<'a> {
    tag: u8,
    whole: &'a [u8],
    content: &'a [u8],
    rest: &'a [u8],
}

/// Reads one DER element. Returns `None` on any malformation rather than panicking: the input
/// may come from an untrusted registration request.
fn read_tlv(input: &[u8]) -> Option<Tlv<'_>> {
    let (&tag, after_tag) = input.split_first()?;
    let (&first_len, after_len_byte) = after_tag.split_first()?;
    let (len, header_len) = if first_len < 0x80 {
        (usize::from(first_len), 2)
    } else {
        let count = usize::from(first_len & 0x7f);
        if count == 0 || count > 4 {
            return None;
        }
        let len_bytes = after_len_byte.get(..count)?;
        let len = len_bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, 2 + count)
    };
    let end = header_len.checked_add(len)?;
    let whole = input.get(..end)?;
    Some(Tlv {
        tag,
        whole,
        content: &whole[header_len..],
        rest: &input[end..],
    })
}

/// Finds the `SubjectPublicKeyInfo` element (tag and all) inside a certificate.
fn spki_of_certificate(der: &[u8]) -> Option<&[u8]> {
    const SEQUENCE: u8 = 0x30;
    const VERSION: u8 = 0xa0;
    let certificate = read_tlv(der)?;
    if certificate.tag != SEQUENCE {
        return None;
    }
    let tbs = read_tlv(certificate.content)?;
    if tbs.tag != SEQUENCE {
        return None;
    }
    let mut field = read_tlv(tbs.content)?;
    if field.tag == VERSION {
        field = read_tlv(field.rest)?;
    }
    // serial, signature algorithm, issuer, validity, subject: skip them to reach the key.
    for _ in 0..5 {
        field = read_tlv(field.rest)?;
    }
    (field.tag == SEQUENCE).then_some(field.whole)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair as _, ECDSA_P256_SHA256_FIXED_SIGNING};

    fn fresh_point() -> Vec<u8> {
        let doc =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref()).unwrap();
        pair.public_key().as_ref().to_vec()
    }

    #[test]
    fn jwk_round_trips() {
        let key = EcPublicKey::from_point(&fresh_point()).unwrap();
        let jwk = key.to_jwk("k1");
        assert_eq!(jwk["kty"], "EC");
        assert_eq!(jwk["crv"], "P-256");
        assert_eq!(jwk["alg"], "ES256");
        assert_eq!(jwk["use"], "sig");
        assert_eq!(jwk["kid"], "k1");
        assert_eq!(EcPublicKey::from_jwk(&jwk).unwrap(), key);
        assert_eq!(EcPublicKey::from_typed_jwk(&key.to_typed_jwk("k1")).unwrap(), key);
    }

    #[test]
    fn rejects_points_off_the_curve_and_wrong_lengths() {
        let mut point = fresh_point();
        point[64] ^= 0x01;
        assert!(EcPublicKey::from_point(&point).is_err());
        assert!(EcPublicKey::from_point(&point[..64]).is_err());
        let mut compressed = fresh_point();
        compressed[0] = 0x02;
        assert!(EcPublicKey::from_point(&compressed).is_err());
    }

    #[test]
    fn rejects_bad_jwks() {
        let key = EcPublicKey::from_point(&fresh_point()).unwrap();
        for (member, value) in [("kty", "RSA"), ("crv", "P-384"), ("x", "!!"), ("y", "AAAA")] {
            let mut jwk = key.to_jwk("k");
            jwk[member] = Value::from(value);
            assert!(
                EcPublicKey::from_jwk(&jwk).is_err(),
                "{member}={value} accepted"
            );
        }
        assert!(EcPublicKey::from_jwk(&serde_json::json!({})).is_err());
    }

    #[test]
    fn client_id_has_ids_shape_and_depends_only_on_the_key() {
        let point = fresh_point();
        let a = EcPublicKey::from_point(&point).unwrap().client_id();
        let b = EcPublicKey::from_point(&point).unwrap().client_id();
        assert_eq!(a, b);
        let (ski, aki) = a.as_str().split_once(":keyid:").unwrap();
        assert_eq!(ski, aki);
        assert_eq!(ski.split(':').count(), 20);
        assert!(ski.split(':').all(|b| b.len() == 2
            && b.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase())));
        let other = EcPublicKey::from_point(&fresh_point()).unwrap().client_id();
        assert_ne!(a, other);
    }

    #[test]
    fn thumbprint_matches_rfc7638_example_shape() {
        // RFC 7638 only gives an RSA example; check the EC form against a hand-built digest.
        let key = EcPublicKey::from_point(&fresh_point()).unwrap();
        let json = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            key.x_b64(),
            key.y_b64()
        );
        let expected = URL_SAFE_NO_PAD.encode(digest(&SHA256, json.as_bytes()));
        assert_eq!(key.thumbprint(), expected);
        assert_eq!(key.thumbprint().len(), 43);
    }

    #[test]
    fn garbage_certificates_are_errors_not_panics() {
        for input in [
            &[][..],
            &[0x30],
            &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
            &[0x30, 0x03, 0x30, 0x01, 0x00],
            &[0x02, 0x01, 0x00],
        ] {
            assert!(EcPublicKey::from_cert_der(input).is_err());
        }
        assert!(EcPublicKey::from_cert_pem("hello").is_err());
        assert!(
            cert_pem_to_der("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
                .is_err()
        );
    }
}
