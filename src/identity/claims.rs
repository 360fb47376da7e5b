//! The claims of an IDS Dynamic Attribute Token (DAT), the JWT a DAPS issues and connectors
//! present to each other in DSP's `Authorization` header. Only `iss`, `sub`, `aud` and `exp`
//! are required on decode so that tokens from other DAPS implementations still parse; the
//! verifier then decides what a missing claim means.

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

/// The JSON-LD context of a DAT payload.
pub const DAT_CONTEXT: &str = "https://w3id.org/idsa/contexts/context.jsonld";
/// The JSON-LD type of a DAT payload.
pub const DAT_TYPE: &str = "ids:DatPayload";
/// The security profile the reference DAPS attests.
pub const BASE_SECURITY_PROFILE: &str = "idsc:BASE_SECURITY_PROFILE";
/// The scope clients request and the DAPS grants.
pub const DAT_SCOPE: &str = "idsc:IDS_CONNECTOR_ATTRIBUTES_ALL";
/// The audience of a DAT requested without a `resource`.
pub const DEFAULT_AUDIENCE: &str = "idsc:IDS_CONNECTORS_ALL";

/// A claim that may be a single string or an array of strings (`aud`,
/// `transportCertsSha256`). It serializes as a plain string when it holds exactly one value,
/// the form most DAPS implementations emit.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OneOrMany(pub Vec<String>);

impl OneOrMany {
    pub fn one(value: impl Into<String>) -> Self {
        Self(vec![value.into()])
    }

    pub fn contains(&self, value: &str) -> bool {
        self.0.iter().any(|v| v == value)
    }

    pub fn values(&self) -> &[String] {
        &self.0
    }
}

impl From<Vec<String>> for OneOrMany {
    fn from(values: Vec<String>) -> Self {
        Self(values)
    }
}

impl Serialize for OneOrMany {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0.as_slice() {
            [single] => serializer.serialize_str(single),
            many => many.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OneOrManyVisitor;

        impl<'de> Visitor<'de> for OneOrManyVisitor {
            type Value = OneOrMany;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string or an array of strings")
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<OneOrMany, E> {
                Ok(OneOrMany::one(value))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OneOrMany, A::Error> {
                let mut values = Vec::new();
                while let Some(value) = seq.next_element::<String>()? {
                    values.push(value);
                }
                Ok(OneOrMany(values))
            }
        }

        deserializer.deserialize_any(OneOrManyVisitor)
    }
}

/// The payload of a DAT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatClaims {
    #[serde(rename = "@context", default)]
    pub context: String,
    #[serde(rename = "@type", default)]
    pub type_: String,
    pub iss: String,
    pub sub: String,
    pub aud: OneOrMany,
    #[serde(default)]
    pub iat: i64,
    #[serde(default)]
    pub nbf: i64,
    pub exp: i64,
    #[serde(default)]
    pub jti: String,
    #[serde(default)]
    pub scope: String,
    #[serde(rename = "securityProfile", default)]
    pub security_profile: String,
    #[serde(rename = "referringConnector", default)]
    pub referring_connector: String,
    #[serde(rename = "transportCertsSha256", default)]
    pub transport_certs_sha256: OneOrMany,
}

impl DatClaims {
    /// A complete DAT payload valid from `now` for `lifetime_secs`, with a random `jti`.
    pub fn new(
        issuer: impl Into<String>,
        subject: impl Into<String>,
        audience: OneOrMany,
        now: i64,
        lifetime_secs: i64,
    ) -> Self {
        Self {
            context: DAT_CONTEXT.to_owned(),
            type_: DAT_TYPE.to_owned(),
            iss: issuer.into(),
            sub: subject.into(),
            aud: audience,
            iat: now,
            nbf: now,
            exp: now.saturating_add(lifetime_secs),
            jti: uuid::Uuid::new_v4().to_string(),
            scope: DAT_SCOPE.to_owned(),
            security_profile: BASE_SECURITY_PROFILE.to_owned(),
            referring_connector: String::new(),
            transport_certs_sha256: OneOrMany::default(),
        }
    }
}

/// Seconds since the Unix epoch, the unit of every JWT time claim.
pub fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn audience_accepts_string_and_array() {
        let one: OneOrMany = serde_json::from_value(json!("a")).unwrap();
        assert_eq!(one.values(), ["a"]);
        let many: OneOrMany = serde_json::from_value(json!(["a", "b"])).unwrap();
        assert!(many.contains("b"));
        assert!(!many.contains("c"));
        assert!(serde_json::from_value::<OneOrMany>(json!(5)).is_err());
        assert!(serde_json::from_value::<OneOrMany>(json!([5])).is_err());
    }

    #[test]
    fn audience_serializes_single_values_as_strings() {
        assert_eq!(
            serde_json::to_value(OneOrMany::one("a")).unwrap(),
            json!("a")
        );
        assert_eq!(
            serde_json::to_value(OneOrMany(vec!["a".into(), "b".into()])).unwrap(),
            json!(["a", "b"])
        );
    }

    #[test]
    fn new_claims_carry_every_ids_member() {
        let claims = DatClaims::new("http://daps", "client", OneOrMany::one("aud"), 1000, 60);
        let value = serde_json::to_value(&claims).unwrap();
        for member in [
            "@context",
            "@type",
            "iss",
            "sub",
            "aud",
            "iat",
            "nbf",
            "exp",
            "jti",
            "scope",
            "securityProfile",
            "referringConnector",
            "transportCertsSha256",
        ] {
            assert!(value.get(member).is_some(), "missing {member}");
        }
        assert_eq!(value["@type"], DAT_TYPE);
        assert_eq!(value["exp"], 1060);
        let back: DatClaims = serde_json::from_value(value).unwrap();
        assert_eq!(back, claims);
    }

    #[test]
    fn decoding_requires_only_the_core_claims() {
        let minimal = json!({"iss": "i", "sub": "s", "aud": ["a"], "exp": 5});
        let claims: DatClaims = serde_json::from_value(minimal).unwrap();
        assert_eq!(claims.type_, "");
        assert!(
            serde_json::from_value::<DatClaims>(json!({"iss": "i", "sub": "s", "aud": "a"}))
                .is_err()
        );
    }
}
