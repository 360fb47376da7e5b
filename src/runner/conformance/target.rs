//! The connector under test as the engine sees it, whatever described it (a target file or
//! the embedded reference data space): where its DSP endpoints are, how to drive it through
//! its management API, which dataset to negotiate for, and where the harness's own callback
//! server listens.

use std::time::Duration;

use crate::protocol::ProtocolVersion;
use crate::report::model::Role;
use crate::runtime::UrlRewrite;

/// Which management API the harness may drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManagementKind {
    /// The reference connector: EDC v3 shape plus the manual steps (`agree`, `finalize`, ...).
    Reference,
    /// An EDC-v3-shaped API: setup, initiating, `terminate`, `suspend`, `resume`.
    EdcV3,
    /// No management API: cases that need the connector to act are skipped.
    None,
}

impl ManagementKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ManagementKind::Reference => "reference",
            ManagementKind::EdcV3 => "edc-v3",
            ManagementKind::None => "none",
        }
    }
}

/// How to reach a management API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagementAccess {
    pub kind: ManagementKind,
    /// Base URL (`{url}/v3/assets`, ...).
    pub url: String,
    /// Value of `X-Api-Key`; empty when none is needed.
    pub api_key: String,
}

/// What to negotiate for on a provider, when the harness does not register its own asset.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DatasetChoice {
    /// The dataset id; the first dataset of the catalog with an offer when absent.
    pub dataset: Option<String>,
    /// The offer id within it; the dataset's first offer when absent.
    pub offer: Option<String>,
}

/// One connector under test, in one role.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectorUnderTest {
    /// The name exchanges are recorded under (`provider`, `consumer`, `connector-under-test`).
    pub name: String,
    pub role: Role,
    /// Its participant id: the audience of DATs the harness sends it.
    pub participant_id: String,
    /// Base of its DSP HTTPS binding.
    pub dsp_url: String,
    /// Where `/.well-known/dspace-version` is served.
    pub root_url: String,
    pub version: ProtocolVersion,
    pub management: ManagementAccess,
    pub dataset: DatasetChoice,
    /// Whether the engine registers its own assets, policies and contract definitions through
    /// the management API before the cases run.
    pub setup: bool,
    /// The source URL the harness's own assets point at (what the provider serves when pulled).
    pub asset_source_url: Option<String>,
    /// Connector's view -> harness's view, for URLs the connector hands out, such as a pull
    /// endpoint naming its container; empty when both see the same network.
    pub url_rewrites: UrlRewrite,
}

impl ConnectorUnderTest {
    /// A URL the connector handed out, as the harness reaches it.
    pub fn for_harness(&self, url: &str) -> String {
        self.url_rewrites.apply(url)
    }
}

/// Where the harness's callback server listens and how connectors reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackConfig {
    /// Interface to bind (loopback unless a connector in a container must reach the harness).
    pub bind: String,
    /// Port to bind; 0 lets the OS choose.
    pub port: u16,
    /// Host name connectors use to reach the harness; the bind address when absent.
    pub advertised_host: Option<String>,
}

impl Default for CallbackConfig {
    fn default() -> Self {
        CallbackConfig { bind: "127.0.0.1".to_string(), port: 0, advertised_host: None }
    }
}

/// Timings of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// What a case may take when its suite entry names no timeout.
    pub case_timeout: Duration,
    /// How long one wait for a message or state inside a case may take.
    pub wait: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing { case_timeout: Duration::from_secs(30), wait: Duration::from_secs(10) }
    }
}
