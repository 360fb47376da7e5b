//! A whole run against the embedded reference data space: start it with recording proxies in
//! front of both connectors, run the carbon-emissions scenario (and the conformance suites),
//! stop everything, and hand back the cases. `cli::run` and the integration tests share it.

use std::time::Duration;

use super::scenario::{run_scenario, Fixture, NetworkView, ScenarioConfig};
use super::{Recorder, RecordingProxy, RunnerError};
use super::interrupt::{self, Interrupt};
use crate::report::model::{CaseReport, Level, LogExcerpt, PreflightReport, Role, RunEvent, TargetInfo, Verdict};
use super::conformance::configure::docker_config;
use super::conformance::{embedded_config, run_cases_until, selected_cases, target_config, ConformanceConfig, ConformanceError, RunOptions, Timing};
use crate::runtime::docker::{self, DockerOptions};
use crate::suite::{Filter, SuiteError};
use crate::target::file::{TargetFile, TargetFileError};
use crate::runtime::embedded::{self, Advertised, EmbeddedOptions, RuntimeError};
use crate::schema::SchemaSet;

/// What to run.
#[derive(Debug, Clone)]
pub struct RunPlan {
    pub scenario: bool,
    pub suites: bool,
    /// How long one scenario step or conformance case may take.
    pub case_timeout: Duration,
    /// Which conformance cases run.
    pub filter: Filter,
    /// Stops the run part-way (Ctrl-C); the cases that did not finish are reported as not run.
    pub interrupt: Interrupt,
    /// Runs the interoperability matrix of the reference connectors (embedded runs only).
    pub matrix: bool,
}

impl Default for RunPlan {
    fn default() -> Self {
        RunPlan { scenario: true, suites: true, case_timeout: Duration::from_secs(30), filter: Filter::default(), interrupt: Interrupt::new(), matrix: false }
    }
}

impl RunPlan {
    fn run_options(&self, schemas: &SchemaSet) -> RunOptions {
        RunOptions {
            filter: self.filter.clone(),
            timing: Timing { case_timeout: self.case_timeout, ..Timing::default() },
            schemas: schemas.clone(),
            ..RunOptions::default()
        }
    }
}

/// Frames the scenario and the suites as one run for the progress display: one `RunStarted`
/// with the total, the parts' own framing events dropped, one `RunFinished`.
struct Framing<'a> {
    events: &'a mut dyn FnMut(RunEvent),
}

impl<'a> Framing<'a> {
    fn start(events: &'a mut dyn FnMut(RunEvent), plan: &RunPlan) -> Result<Framing<'a>, SessionError> {
        let scenario = if plan.scenario { crate::runner::scenario::CASES.len() } else { 0 };
        let suites = if plan.suites { selected_cases(&plan.filter)?.len() } else { 0 };
        events(RunEvent::RunStarted { total_cases: scenario + suites });
        Ok(Framing { events })
    }

    fn inner(&mut self) -> Box<dyn FnMut(RunEvent) + '_> {
        Box::new(|event| {
            if !matches!(event, RunEvent::RunStarted { .. } | RunEvent::RunFinished) {
                (self.events)(event)
            }
        })
    }

    fn finish(self) {
        (self.events)(RunEvent::RunFinished);
    }
}

/// Runs the suites `plan` selects with `config`.
async fn suites(config: ConformanceConfig, plan: &RunPlan, framing: &mut Framing<'_>) -> Result<Vec<CaseReport>, SessionError> {
    if !plan.suites {
        return Ok(Vec::new());
    }
    let cases = selected_cases(&plan.filter)?;
    Ok(run_cases_until(config, cases, &mut *framing.inner(), &plan.interrupt).await?)
}

/// Runs the carbon-emissions scenario until `interrupt` is triggered: its steps then get the
/// grace period, and the steps that did not finish by then are reported as not run.
async fn scenario_until(config: ScenarioConfig, framing: &mut Framing<'_>, interrupt: &Interrupt) -> Vec<CaseReport> {
    if interrupt.is_triggered() {
        return scenario_cases_not_run(&[], interrupt::NOT_STARTED);
    }
    let finished = std::sync::Mutex::new(Vec::new());
    let mut inner = framing.inner();
    let collect = |event: RunEvent| {
        if let RunEvent::CaseFinished(report) = &event {
            finished.lock().unwrap_or_else(|e| e.into_inner()).push((**report).clone());
        }
        inner(event);
    };
    tokio::select! {
        reports = run_scenario(config, collect) => reports,
        _ = interrupt.grace_over() => {
            let done = std::mem::take(&mut *finished.lock().unwrap_or_else(|e| e.into_inner()));
            scenario_cases_not_run(&done, interrupt::CUT_SHORT)
        }
    }
}

/// The scenario's cases: those in `done` as they finished, the rest skipped for `reason`.
fn scenario_cases_not_run(done: &[CaseReport], reason: &str) -> Vec<CaseReport> {
    let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    crate::runner::scenario::CASES
        .iter()
        .map(|case| match done.iter().find(|r| r.id == case.id) {
            Some(report) => report.clone(),
            None => CaseReport {
                id: case.id.to_string(),
                title: case.title.to_string(),
                suite: crate::runner::scenario::SUITE.to_string(),
                area: crate::runner::scenario::AREA.to_string(),
                level: Level::Must,
                role: Role::Both,
                spec: case.spec.to_string(),
                tck_id: None,
                tags: vec!["mvds".to_string(), "carbon-emissions".to_string()],
                verdict: Verdict::Skip,
                reason: Some(reason.to_string()),
                findings: Vec::new(),
                steps: Vec::new(),
                started_at: started_at.clone(),
                duration_ms: 0,
                exchanges: Vec::new(),
                logs: Vec::new(),
            },
        })
        .collect()
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error(transparent)]
    Runner(#[from] RunnerError),
    #[error(transparent)]
    Conformance(#[from] ConformanceError),
    #[error(transparent)]
    Suite(#[from] SuiteError),
    #[error(transparent)]
    TargetFile(#[from] TargetFileError),
}

/// What a finished run hands to the report writer.
#[derive(Debug)]
pub struct Outcome {
    pub cases: Vec<CaseReport>,
    pub runtime: String,
    pub target: TargetInfo,
    /// Literal secrets used during the run, for the redactor.
    pub secrets: Vec<String>,
    /// What the preflight of a target run found.
    pub preflight: Option<PreflightReport>,
    /// The interoperability matrix, when the plan asked for it.
    pub matrix: Option<crate::report::matrix::InteropMatrix>,
}

/// Runs `plan` against a fresh embedded data space set up by `options`.
pub async fn run_embedded(options: EmbeddedOptions, plan: &RunPlan, schemas: &SchemaSet, events: &mut dyn FnMut(RunEvent)) -> Result<Outcome, SessionError> {
    let mut framing = Framing::start(events, plan)?;
    let recorder = Recorder::new();
    let bound = embedded::bind(options).await?;
    let (provider_proxy, to_provider) = RecordingProxy::start("consumer", "provider", &format!("{}/dsp", bound.provider_url()), recorder.clone(), schemas.clone()).await?;
    let (consumer_proxy, to_consumer) = RecordingProxy::start("provider", "consumer", &format!("{}/dsp", bound.consumer_url()), recorder.clone(), schemas.clone()).await?;
    let consumer_proxy_url = consumer_proxy.clone();
    let space = bound.start(Advertised { provider_dsp_url: Some(provider_proxy.clone()), consumer_dsp_url: Some(consumer_proxy) }).await?;
    let secrets = space.info.secrets();
    let mut cases = Vec::new();
    if plan.scenario {
        let mut config = ScenarioConfig::new(space.info.clone(), &space.carbon_source_url(), Fixture::of(crate::reference::backend::CARBON_EMISSIONS));
        config.provider_dsp_url = provider_proxy.clone();
        config.recorder = recorder.clone();
        config.schemas = schemas.clone();
        config.timeouts.step = plan.case_timeout;
        cases.extend(scenario_until(config, &mut framing, &plan.interrupt).await);
    }
    let mut config = embedded_config(&space, plan.run_options(schemas));
    // The connectors hand out the proxies' addresses as their DSP base (in catalog `Link`s, data
    // services, callbacks); the harness itself talks to them directly.
    for (cut, proxy, direct) in [
        (config.provider.as_mut(), &provider_proxy, &space.info.provider.dsp_url),
        (config.consumer.as_mut(), &consumer_proxy_url, &space.info.consumer.dsp_url),
    ] {
        if let Some(cut) = cut {
            cut.url_rewrites = crate::runtime::UrlRewrite::new([(proxy.trim_end_matches('/').to_string(), direct.trim_end_matches('/').to_string())]);
        }
    }
    let suite_cases = suites(config, plan, &mut framing).await;
    let target = TargetInfo {
        name: "reference (embedded)".to_string(),
        management: "reference".to_string(),
        dsp_url: space.info.provider.dsp_url.clone(),
        dsp_version: crate::protocol::ProtocolVersion::V2025_1.as_str().to_string(),
    };
    space.shutdown().await;
    to_provider.stop().await;
    to_consumer.stop().await;
    framing.finish();
    cases.extend(suite_cases?);
    let matrix = if plan.matrix && !plan.interrupt.is_triggered() { Some(super::matrix::run_matrix().await) } else { None };
    Ok(Outcome { cases, runtime: "embedded".to_string(), target, secrets, preflight: None, matrix })
}

/// Runs `plan` against the reference data space in Docker containers started from `image`.
///
/// A recording proxy on the run network's gateway sits between the consumer and the provider,
/// so the consumer's DSP requests are recorded and validated; the provider's callbacks go
/// straight to the consumer's container. When a case fails, every container's log is attached.
pub async fn run_docker(options: DockerOptions, plan: &RunPlan, schemas: &SchemaSet, events: &mut dyn FnMut(RunEvent)) -> Result<Outcome, SessionError> {
    let space = docker::start(options).await?;
    let result = run_in_containers(&space, plan, schemas, events).await;
    let result = match result {
        Ok(mut outcome) => {
            if outcome.cases.iter().any(|c| matches!(c.verdict, Verdict::Fail | Verdict::Error)) {
                let logs: Vec<LogExcerpt> = space.logs().await.into_iter().map(|(role, text)| LogExcerpt { component: role.to_string(), text }).collect();
                for case in outcome.cases.iter_mut().filter(|c| matches!(c.verdict, Verdict::Fail | Verdict::Error)) {
                    case.logs = logs.clone();
                }
            }
            Ok(outcome)
        }
        Err(e) => Err(e),
    };
    space.shutdown().await;
    result
}

async fn run_in_containers(space: &docker::DockerDataSpace, plan: &RunPlan, schemas: &SchemaSet, events: &mut dyn FnMut(RunEvent)) -> Result<Outcome, SessionError> {
    let mut framing = Framing::start(events, plan)?;
    let recorder = Recorder::new();
    let host = space.host_address.to_string();
    let (provider_proxy, to_provider) =
        RecordingProxy::start_on(&host, "consumer", "provider", &space.info.provider.dsp_url, recorder.clone(), schemas.clone()).await?;
    let secrets = space.info.secrets();
    let mut cases = Vec::new();
    if plan.scenario {
        let mut config = ScenarioConfig::new(space.info.clone(), &space.carbon_source_url(), Fixture::of(crate::reference::backend::CARBON_EMISSIONS));
        config.provider_dsp_url = provider_proxy.clone();
        config.recorder = recorder.clone();
        config.schemas = schemas.clone();
        config.timeouts.step = plan.case_timeout;
        config.network = NetworkView {
            harness_host: Some(host.clone()),
            provider_object_store_url: Some(space.network_info.object_store.url.clone()),
            to_harness: space.url_rewrite(),
        };
        cases.extend(run_scenario(config, framing.inner()).await);
    }
    to_provider.stop().await;
    let suite_cases = suites(docker_config(space, plan.run_options(schemas)), plan, &mut framing).await;
    framing.finish();
    cases.extend(suite_cases?);
    let target = TargetInfo {
        name: "reference (docker)".to_string(),
        management: "reference".to_string(),
        dsp_url: space.network_info.provider.dsp_url.clone(),
        dsp_version: crate::protocol::ProtocolVersion::V2025_1.as_str().to_string(),
    };
    Ok(Outcome { cases, runtime: "docker".to_string(), target, secrets, preflight: None, matrix: None })
}

/// A target file, read, and what its preflight found.
#[derive(Debug, Clone)]
pub struct CheckedTarget {
    pub file: TargetFile,
    pub preflight: PreflightReport,
}

/// Reads a target file and runs its preflight (`run --target FILE --check`, and the start of
/// every target run). An unreadable file is an error; everything else is a preflight line.
pub async fn check_target(path: &std::path::Path) -> Result<CheckedTarget, SessionError> {
    check_target_within(path, super::preflight::REQUEST_TIMEOUT).await
}

/// [`check_target`] with the preflight's requests bounded by a run's case timeout.
pub async fn check_target_within(path: &std::path::Path, timeout: Duration) -> Result<CheckedTarget, SessionError> {
    let file = TargetFile::load(path)?;
    let preflight = super::preflight::preflight_within(&file, timeout).await;
    Ok(CheckedTarget { file, preflight })
}

/// The outcome of a target run its preflight stopped: no case ran, and every selected case is an
/// error whose reason names the failed preflight lines (a case of a role the file does not test
/// is skipped, as in a run), so the run still leaves a complete report.
pub fn preflight_failed_outcome(checked: CheckedTarget, plan: &RunPlan) -> Result<Outcome, SessionError> {
    let CheckedTarget { file, preflight } = checked;
    let failed: Vec<String> = preflight
        .checks
        .iter()
        .filter(|c| c.status == crate::report::model::PreflightStatus::Fail)
        .map(|c| c.line())
        .collect();
    let reason = format!("not run: the preflight failed ({})", failed.join("; "));
    let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let cases = if plan.suites { selected_cases(&plan.filter)? } else { Vec::new() };
    let reports = cases
        .iter()
        .map(|case| {
            let tested = match case.role {
                Role::Provider => file.roles.provider,
                Role::Consumer => file.roles.consumer,
                Role::Both => file.roles.provider && file.roles.consumer,
            };
            let outcome = if tested {
                super::conformance::CaseOutcome::Error(reason.clone())
            } else {
                super::conformance::CaseOutcome::Skip(format!("the target file does not test the {:?} role", case.role).to_lowercase())
            };
            super::conformance::report_of(case, outcome, Vec::new(), started_at.clone(), Duration::ZERO)
        })
        .collect();
    let secrets = [file.api_key().ok(), file.static_token().ok().flatten()].into_iter().flatten().filter(|s| !s.is_empty()).collect();
    let target = TargetInfo { name: file.name.clone(), management: file.management_driver().map(|d| d.name().to_string()).unwrap_or_else(|_| "unknown".to_string()), dsp_url: file.dsp.url.clone(), dsp_version: file.dsp.version.clone() };
    Ok(Outcome { cases: reports, runtime: "external".to_string(), target, secrets, preflight: Some(preflight), matrix: None })
}

/// Runs the suites against the connector a target file describes, read and checked by
/// [`check_target`] first. The carbon-emissions scenario needs both reference connectors and
/// is not part of a target run.
pub async fn run_target(path: &std::path::Path, plan: &RunPlan, schemas: &SchemaSet, events: &mut dyn FnMut(RunEvent)) -> Result<Outcome, SessionError> {
    let checked = check_target_within(path, plan.case_timeout).await?;
    run_checked_target(checked, plan, schemas, events).await
}

/// Runs the suites against a target whatever its preflight found (the caller decides whether a
/// failed preflight stops the run); the preflight goes into the outcome for the report.
pub async fn run_checked_target(checked: CheckedTarget, plan: &RunPlan, schemas: &SchemaSet, events: &mut dyn FnMut(RunEvent)) -> Result<Outcome, SessionError> {
    let CheckedTarget { file, preflight } = checked;
    let plan = RunPlan { scenario: false, ..plan.clone() };
    let config = target_config(&file, plan.run_options(schemas))?;
    let management = config.provider.as_ref().or(config.consumer.as_ref()).map(|c| c.management.name()).unwrap_or("none").to_string();
    let secrets = [file.api_key().ok(), config.tokens.static_token()].into_iter().flatten().filter(|s| !s.is_empty()).collect();
    let mut framing = Framing::start(events, &plan)?;
    let cases = suites(config, &plan, &mut framing).await;
    framing.finish();
    let target = TargetInfo { name: file.name.clone(), management, dsp_url: file.dsp.url.clone(), dsp_version: file.dsp.version.clone() };
    Ok(Outcome { cases: cases?, runtime: "external".to_string(), target, secrets, preflight: Some(preflight), matrix: None })
}
