//! A whole run against the embedded reference data space: start it with recording proxies in
//! front of both connectors, run the carbon-emissions scenario (and the conformance suites),
//! stop everything, and hand back the cases. `cli::run` and the integration tests share it.

use std::time::Duration;

use super::scenario::{run_scenario, Fixture, ScenarioConfig};
use super::{Recorder, RecordingProxy, RunnerError};
use crate::report::model::{CaseReport, RunEvent, TargetInfo};
use crate::runtime::embedded::{self, Advertised, EmbeddedOptions, RuntimeError};
use crate::schema::SchemaSet;

/// What to run.
#[derive(Debug, Clone)]
pub struct RunPlan {
    pub scenario: bool,
    pub suites: bool,
    /// How long one scenario step or conformance case may take.
    pub case_timeout: Duration,
}

impl Default for RunPlan {
    fn default() -> Self {
        RunPlan { scenario: true, suites: true, case_timeout: Duration::from_secs(30) }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error(transparent)]
    Runner(#[from] RunnerError),
}

/// What a finished run hands to the report writer.
#[derive(Debug)]
pub struct Outcome {
    pub cases: Vec<CaseReport>,
    pub runtime: String,
    pub target: TargetInfo,
    /// Literal secrets used during the run, for the redactor.
    pub secrets: Vec<String>,
}

/// Runs `plan` against a fresh embedded data space set up by `options`.
pub async fn run_embedded(options: EmbeddedOptions, plan: &RunPlan, schemas: &SchemaSet, events: &mut dyn FnMut(RunEvent)) -> Result<Outcome, SessionError> {
    let recorder = Recorder::new();
    let bound = embedded::bind(options).await?;
    let (provider_proxy, to_provider) = RecordingProxy::start("consumer", "provider", &format!("{}/dsp", bound.provider_url()), recorder.clone(), schemas.clone()).await?;
    let (consumer_proxy, to_consumer) = RecordingProxy::start("provider", "consumer", &format!("{}/dsp", bound.consumer_url()), recorder.clone(), schemas.clone()).await?;
    let space = bound.start(Advertised { provider_dsp_url: Some(provider_proxy.clone()), consumer_dsp_url: Some(consumer_proxy) }).await?;
    let secrets = vec![
        space.info.provider.api_key.clone(),
        space.info.consumer.api_key.clone(),
        space.info.daps.admin_key.clone(),
        space.info.object_store.secret_key.clone(),
    ];
    let mut cases = Vec::new();
    if plan.scenario {
        let mut config = ScenarioConfig::new(space.info.clone(), &space.carbon_source_url(), Fixture::of(crate::reference::backend::CARBON_EMISSIONS));
        config.provider_dsp_url = provider_proxy.clone();
        config.recorder = recorder.clone();
        config.schemas = schemas.clone();
        config.timeouts.step = plan.case_timeout;
        cases.extend(run_scenario(config, &mut *events).await);
    }
    let target = TargetInfo {
        name: "reference (embedded)".to_string(),
        management: "reference".to_string(),
        dsp_url: space.info.provider.dsp_url.clone(),
        dsp_version: crate::protocol::ProtocolVersion::V2025_1.as_str().to_string(),
    };
    space.shutdown().await;
    to_provider.stop().await;
    to_consumer.stop().await;
    Ok(Outcome { cases, runtime: "embedded".to_string(), target, secrets })
}
