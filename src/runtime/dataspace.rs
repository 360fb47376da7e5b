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
