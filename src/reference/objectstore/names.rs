//! Bucket names and object keys, validated once where a request enters the store so that the
//! rest of the code can rely on S3's naming rules holding.

use std::fmt;

use super::error::ObjectStoreError;

/// The longest object key S3 accepts, in bytes of UTF-8.
const MAX_KEY_BYTES: usize = 1024;

/// A bucket name that follows S3's general-purpose bucket naming rules.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BucketName(String);

impl BucketName {
    /// Checks the S3 rules: 3 to 63 characters of lowercase letters, digits, dots and hyphens,
    /// starting and ending with a letter or digit, no adjacent dots, not shaped like an IPv4
    /// address.
    pub fn parse(name: &str) -> Result<Self, ObjectStoreError> {
        let invalid = || ObjectStoreError::InvalidBucketName(name.to_owned());
        let bytes = name.as_bytes();
        if !(3..=63).contains(&bytes.len()) {
            return Err(invalid());
        }
        let allowed =
            |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'.' || *b == b'-';
        let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
        if !bytes.iter().all(allowed)
            || !alnum(&bytes[0])
            || !alnum(&bytes[bytes.len() - 1])
            || name.contains("..")
            || name.parse::<std::net::Ipv4Addr>().is_ok()
        {
            return Err(invalid());
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BucketName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An object key: 1 to 1024 bytes of UTF-8. Keys never become file names (objects are stored
/// under generated names), so no character needs to be refused for the file system's sake.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey(String);

impl ObjectKey {
    pub fn parse(key: &str) -> Result<Self, ObjectStoreError> {
        if key.is_empty() {
            return Err(ObjectStoreError::InvalidArgument(
                "object key is empty".to_owned(),
            ));
        }
        if key.len() > MAX_KEY_BYTES {
            return Err(ObjectStoreError::KeyTooLong);
        }
        Ok(Self(key.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names_follow_s3_rules() {
        for good in ["abc", "my-bucket", "data.space.1", &"a".repeat(63)] {
            assert!(BucketName::parse(good).is_ok(), "{good} should be accepted");
        }
        for bad in [
            "ab",
            "Upper",
            "-lead",
            "trail-",
            "a..b",
            "192.168.1.1",
            "under_score",
            &"a".repeat(64),
            "",
        ] {
            assert!(
                matches!(
                    BucketName::parse(bad),
                    Err(ObjectStoreError::InvalidBucketName(_))
                ),
                "{bad} should be refused"
            );
        }
    }

    #[test]
    fn object_keys_are_bounded() {
        assert!(ObjectKey::parse("a/b/../c d+e").is_ok());
        assert!(ObjectKey::parse(&"k".repeat(1024)).is_ok());
        assert!(matches!(
            ObjectKey::parse(&"k".repeat(1025)),
            Err(ObjectStoreError::KeyTooLong)
        ));
        assert!(ObjectKey::parse("").is_err());
    }
}
