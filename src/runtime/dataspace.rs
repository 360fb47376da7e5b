//! The description of a running reference data space: every URL and credential a user or the
//! runner needs to talk to it, whichever runtime started it.

use serde::{Deserialize, Serialize};

/// Everything needed to reach a running reference data space.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DataSpaceInfo {
    pub daps: DapsInfo,
    /// Company X, sharing the carbon-emissions data.
    pub provider: ConnectorInfo,
    /// Company Y, the regulator consuming it.
    pub consumer: ConnectorInfo,
    pub object_store: ObjectStoreInfo,
}

impl DataSpaceInfo {
    /// Every secret of the data space (API keys, the DAPS admin key, the S3 secret key), so a
    /// run can redact them from its reports.
    pub fn secrets(&self) -> Vec<String> {
        vec![self.provider.api_key.clone(), self.consumer.api_key.clone(), self.daps.admin_key.clone(), self.object_store.secret_key.clone()]
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DapsInfo {
    /// Base URL; the token endpoint is `{url}/token`, the keys `{url}/.well-known/jwks.json`.
    pub url: String,
    pub admin_key: String,
}

impl DapsInfo {
    pub fn token_url(&self) -> String {
        format!("{}/token", self.url.trim_end_matches('/'))
    }

    pub fn jwks_url(&self) -> String {
        format!("{}/.well-known/jwks.json", self.url.trim_end_matches('/'))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConnectorInfo {
    /// The participant id (`company-x`, `company-y`), also the DAT audience of this connector.
    pub participant_id: String,
    /// Base of the DSP HTTPS binding (provider endpoints and consumer callbacks).
    pub dsp_url: String,
    /// Root of the connector, where `/.well-known/dspace-version` is served.
    pub root_url: String,
    /// Base of the management API (`{management_url}/v3/assets`, ...).
    pub management_url: String,
    /// Value of the `X-Api-Key` header the management API requires.
    pub api_key: String,
    /// Base of the public data plane (pulls go to `{data_plane_url}/...`).
    pub data_plane_url: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ObjectStoreInfo {
    pub url: String,
    pub region: String,
    pub access_key: String,
    pub secret_key: String,
}

/// Rewrites URLs whose scheme, host and port match a known base: `http://provider:8080/x`
/// becomes `http://127.0.0.1:49153/x` (or the reverse). URLs of other hosts pass unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UrlRewrite {
    rules: Vec<(String, String)>,
}

impl UrlRewrite {
    pub fn new(rules: impl IntoIterator<Item = (String, String)>) -> UrlRewrite {
        UrlRewrite { rules: rules.into_iter().map(|(from, to)| (from.trim_end_matches('/').to_string(), to.trim_end_matches('/').to_string())).collect() }
    }

    /// The same rules, read the other way.
    pub fn reversed(&self) -> UrlRewrite {
        UrlRewrite { rules: self.rules.iter().map(|(from, to)| (to.clone(), from.clone())).collect() }
    }

    pub fn apply(&self, url: &str) -> String {
        for (from, to) in &self.rules {
            let Some(head) = url.get(..from.len()) else { continue };
            // Scheme and host compare without case; the base must end where the authority
            // does, so `http://provider:80` does not match `http://provider:8080`.
            if head.eq_ignore_ascii_case(from) && matches!(url[from.len()..].chars().next(), None | Some('/' | '?' | '#')) {
                return format!("{to}{}", &url[from.len()..]);
            }
        }
        url.to_string()
    }
}
