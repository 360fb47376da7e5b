//! Newtypes for the identifiers DSP messages carry, so a consumer pid is never passed where
//! a provider pid is expected.

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! id_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// A fresh `urn:uuid:` identifier.
            pub fn generate() -> Self {
                $name(format!("urn:uuid:{}", uuid::Uuid::new_v4()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                $name(s.to_string())
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                $name(s)
            }
        }
    };
}

id_newtype!(
    /// The consumer's identifier of a negotiation or transfer process.
    ConsumerPid
);
id_newtype!(
    /// The provider's identifier of a negotiation or transfer process.
    ProviderPid
);
id_newtype!(
    /// The identifier of a contract agreement.
    AgreementId
);
