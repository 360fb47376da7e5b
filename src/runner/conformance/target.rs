//! The connector under test as the engine sees it, whatever described it (a target file or
//! the embedded reference data space): where its DSP endpoints are, how to drive it through
//! its management API, which dataset to negotiate for, and where the harness's own callback
//! server listens.

use std::time::Duration;

use crate::protocol::ProtocolVersion;
use crate::report::model::Role;
use crate::runtime::UrlRewrite;
use crate::target::Driver;

/// What to negotiate for on a provider, when the harness does not register its own asset.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DatasetChoice {
    /// The dataset id; the first dataset of the catalog with an offer when absent.
    pub dataset: Option<String>,
    /// The offer id within it; the dataset's first offer when absent.
    pub offer: Option<String>,
}

/// One connector under test, in one role.
#[derive(Debug, Clone)]
pub struct ConnectorUnderTest {
    /// The name exchanges are recorded under (`provider`, `consumer`, `connector-under-test`).
    pub name: String,
    pub role: Role,
    /// Its participant id: the audience of DATs the harness sends it, unless `dat_audience`.
    pub participant_id: String,
    /// The `aud` of the DATs the harness sends it when that is not its participant id
    /// (Tractus-X EDC 0.4.1 wants its DSP URL).
    pub dat_audience: Option<String>,
    /// Base of its DSP HTTPS binding.
    pub dsp_url: String,
    /// Where `/.well-known/dspace-version` is served.
    pub root_url: String,
    pub version: ProtocolVersion,
    /// The driver of its management API, chosen once for the run.
    pub management: Driver,
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
    /// The `aud` of the DATs the harness sends it.
    pub fn audience(&self) -> &str {
        self.dat_audience.as_deref().unwrap_or(&self.participant_id)
    }

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

/// What a case (or a scenario step) may take when nothing says otherwise: `run --timeout`'s
/// default, `RunPlan::default()`'s and `Timing::default()`'s.
pub const DEFAULT_CASE_TIMEOUT: Duration = Duration::from_secs(30);

/// How long one wait inside a case may take when nothing says otherwise: `run --wait`'s
/// default, `RunPlan::default()`'s and `Timing::default()`'s. A case whose connector never
/// makes the move it waits for fails after this long.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(10);

impl Default for Timing {
    fn default() -> Self {
        Timing { case_timeout: DEFAULT_CASE_TIMEOUT, wait: DEFAULT_WAIT }
    }
}
