//! One run pipeline, [`run`], over a [`DataSpace`] (embedded, Docker, or an external target):
//! start the data space (with recording proxies in front of the reference connectors), run the
//! carbon-emissions scenario and the conformance suites, stop everything, and hand back the
//! outcome, whose cases are the `CaseFinished` events of the run. `cli::run` and the
//! integration tests share it.

use std::time::Duration;

use super::scenario::{run_scenario, Fixture, NetworkView, ScenarioConfig};
use super::RunnerError;
use crate::recording::{Recorder, RecordingProxy};
use super::interrupt::{self, Interrupt};
use crate::protocol::ProtocolVersion;
use crate::report::model::{CaseReport, Level, LogExcerpt, NotInVersion, PreflightReport, Role, RunEvent, TargetInfo, Verdict};
use super::conformance::configure::docker_config;
use super::conformance::{embedded_config, run_cases_until, selected_cases, target_config, ConformanceConfig, ConformanceError, RunOptions, Timing};
pub use super::conformance::target::{DEFAULT_CASE_TIMEOUT, DEFAULT_WAIT};
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
    /// How long one wait for a message or state inside a case may take (`run --wait`).
    pub wait: Duration,
    /// Which conformance cases run.
    pub filter: Filter,
    /// Stops the run part-way (Ctrl-C); the cases that did not finish are reported as not run.
    pub interrupt: Interrupt,
    /// Runs the interoperability matrix of the reference connectors (embedded runs only).
    pub matrix: bool,
    /// The DSP versions to run the suites in (`run --dsp-version`); empty: every version for
    /// the embedded data space, the target file's `[dsp] version` for a target.
    pub versions: Vec<ProtocolVersion>,
}

impl Default for RunPlan {
    fn default() -> Self {
        RunPlan { scenario: true, suites: true, case_timeout: DEFAULT_CASE_TIMEOUT, wait: DEFAULT_WAIT, filter: Filter::default(), interrupt: Interrupt::new(), matrix: false, versions: Vec::new() }
    }
}

/// The versions the embedded default run tests: every version the harness speaks.
pub const EMBEDDED_VERSIONS: [ProtocolVersion; 4] = ProtocolVersion::ALL;

impl RunPlan {
    /// The scenario's configuration: each step may take the plan's case timeout.
    fn scenario_config(&self, dataspace: crate::runtime::DataSpaceInfo, carbon_source_url: &str, schemas: &SchemaSet) -> ScenarioConfig {
        let mut config = ScenarioConfig::new(dataspace, carbon_source_url, Fixture::of(crate::reference::backend::CARBON_EMISSIONS));
        config.schemas = schemas.clone();
        config.timeouts.step = self.case_timeout;
        config
    }

    fn run_options(&self, schemas: &SchemaSet) -> RunOptions {
        RunOptions {
            filter: self.filter.clone(),
            timing: Timing { case_timeout: self.case_timeout, wait: self.wait },
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
    fn start(events: &'a mut dyn FnMut(RunEvent), plan: &RunPlan, versions: &[ProtocolVersion]) -> Result<Framing<'a>, SessionError> {
        let scenario = if plan.scenario { crate::runner::scenario::CASES.len() } else { 0 };
        let selected = if plan.suites { selected_cases(&plan.filter)? } else { Vec::new() };
        let suites: usize = versions.iter().map(|v| selected.iter().filter(|c| c.exists_in(*v).is_ok()).count()).sum();
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

/// Runs the suites `plan` selects with `config`, in the version of its connectors (each case
/// reported as an event): a case that does not exist in that version is not run, and is
/// returned with the reason.
async fn suites(config: ConformanceConfig, plan: &RunPlan, events: &mut dyn FnMut(RunEvent)) -> Result<Vec<NotInVersion>, SessionError> {
    if !plan.suites {
        return Ok(Vec::new());
    }
    let version = config.provider.as_ref().or(config.consumer.as_ref()).map(|c| c.version).unwrap_or(ProtocolVersion::V2025_1);
    let (cases, absent): (Vec<_>, Vec<_>) = selected_cases(&plan.filter)?.into_iter().partition(|c| c.exists_in(version).is_ok());
    let mut not_in_version: Vec<NotInVersion> = Vec::new();
    for case in absent {
        let reason = case.exists_in(version).err().unwrap_or_default();
        // One reason per group: the cases named in the reason stand in the list beside it.
        let reason = reason.split_once(": ").map(|(_, why)| why.to_string()).unwrap_or(reason);
        match not_in_version.iter_mut().find(|n| n.reason == reason) {
            Some(group) => {
                group.count += 1;
                group.cases.push(case.id.to_string());
            }
            None => not_in_version.push(NotInVersion { version: version.as_str().to_string(), reason, count: 1, cases: vec![case.id.to_string()] }),
        }
    }
    run_cases_until(config, cases, events, &plan.interrupt).await?;
    Ok(not_in_version)
}

/// Runs the carbon-emissions scenario until `interrupt` is triggered: its steps then get the
/// grace period, and the steps that did not finish by then are reported as not run.
async fn scenario_until(config: ScenarioConfig, events: &mut dyn FnMut(RunEvent), interrupt: &Interrupt) {
    let finished = std::sync::Mutex::new(Vec::new());
    let not_run = if interrupt.is_triggered() {
        scenario_cases_not_run(&[], interrupt::NOT_STARTED)
    } else {
        let collect = |event: RunEvent| {
            if let RunEvent::CaseFinished(report) = &event {
                finished.lock().unwrap_or_else(|e| e.into_inner()).push((**report).clone());
            }
            if !matches!(event, RunEvent::RunStarted { .. } | RunEvent::RunFinished) {
                events(event);
            }
        };
        tokio::select! {
            _ = run_scenario(config, collect) => return,
            _ = interrupt.grace_over() => {
                let done = std::mem::take(&mut *finished.lock().unwrap_or_else(|e| e.into_inner()));
                scenario_cases_not_run(&done, interrupt::CUT_SHORT).into_iter().filter(|c| !done.iter().any(|d| d.id == c.id)).collect()
            }
        }
    };
    for case in not_run {
        events(RunEvent::CaseFinished(Box::new(case)));
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
                dsp_version: Some(crate::protocol::ProtocolVersion::V2025_1.as_str().to_string()),
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
    /// Every case the run reported, in run order: the scenario's, then each version's suites.
    pub cases: Vec<CaseReport>,
    pub runtime: String,
    pub target: TargetInfo,
    /// Literal secrets used during the run, for the redactor.
    pub secrets: Vec<String>,
    /// What the preflight of a target run found.
    pub preflight: Option<PreflightReport>,
    /// The interoperability matrix, when the plan asked for it.
    pub matrix: Option<crate::report::matrix::InteropMatrix>,
    /// Selected cases that do not exist in a version the run ran in (the report's summary
    /// lists them; they are not skips).
    pub not_in_version: Vec<NotInVersion>,
}

impl Outcome {
    /// True when a target's preflight failed, so that no case ran.
    pub fn preflight_failed(&self) -> bool {
        self.preflight.as_ref().is_some_and(PreflightReport::failed)
    }
}

/// Where a run's connectors come from: the one thing that differs between runs.
#[derive(Debug)]
pub enum DataSpace {
    /// The reference connectors in this process, one data space per DSP version the plan names
    /// (every version by default), all at once: for each version V the reference connectors
    /// serve V only, and the connectors under test speak V at V's DSP base (2025-1 at
    /// `<root>/dsp`, the others below it). The carbon-emissions scenario runs in the 2025-1 one.
    Embedded(EmbeddedOptions),
    /// The reference connectors in Docker containers started from the options' image. A
    /// recording proxy on the run network's gateway sits between the consumer and the provider,
    /// so the consumer's DSP requests are recorded and validated; the provider's callbacks go
    /// straight to the consumer's container. When a case fails, every container's log is
    /// attached.
    Docker(DockerOptions),
    /// The connector a target file describes, read and preflighted by [`check_target`]. The
    /// suites run in each version `--dsp-version` forces, or the file's (`auto`: the newest the
    /// connector's version document offers); the scenario needs both reference connectors and
    /// is not part of a target run. A failed preflight runs no case: every selected case is an
    /// error naming the failed lines, so the run still leaves a complete report.
    External(Box<CheckedTarget>),
}

impl DataSpace {
    fn runtime(&self) -> &'static str {
        match self {
            DataSpace::Embedded(_) => "embedded",
            DataSpace::Docker(_) => "docker",
            DataSpace::External(_) => "external",
        }
    }
}

/// What a data space's part of a run hands back besides the cases, which the run takes from
/// the event stream.
struct SpaceRun {
    target: TargetInfo,
    secrets: Vec<String>,
    preflight: Option<PreflightReport>,
    matrix: Option<crate::report::matrix::InteropMatrix>,
    not_in_version: Vec<NotInVersion>,
    /// The versions the suites ran in, in run order.
    versions: Vec<ProtocolVersion>,
    /// Logs to attach to every failed or errored case (the Docker containers').
    failure_logs: Vec<LogExcerpt>,
}

/// Runs `plan` against `space`: starts it, runs the scenario and the suites, stops everything.
/// Every case is reported once, as a `CaseFinished` event (the progress display's and the
/// report's one source); the outcome's cases are those events, put in run order.
pub async fn run(space: DataSpace, plan: &RunPlan, schemas: &SchemaSet, events: &mut dyn FnMut(RunEvent)) -> Result<Outcome, SessionError> {
    let runtime = space.runtime();
    let mut reported = Vec::new();
    let mut tally = |event: RunEvent| {
        if let RunEvent::CaseFinished(case) = &event {
            reported.push((**case).clone());
        }
        events(event);
    };
    let part = match space {
        DataSpace::Embedded(options) => embedded(options, plan, schemas, &mut tally).await?,
        DataSpace::Docker(options) => in_containers(options, plan, schemas, &mut tally).await?,
        DataSpace::External(checked) => external(*checked, plan, schemas, &mut tally).await?,
    };
    let mut cases = in_run_order(reported, plan, &part.versions)?;
    if !part.failure_logs.is_empty() {
        for case in cases.iter_mut().filter(|c| matches!(c.verdict, Verdict::Fail | Verdict::Error)) {
            case.logs = part.failure_logs.clone();
        }
    }
    Ok(Outcome {
        cases,
        runtime: runtime.to_string(),
        target: part.target,
        secrets: part.secrets,
        preflight: part.preflight,
        matrix: part.matrix,
        not_in_version: part.not_in_version,
    })
}

/// The reported cases in run order: the scenario's in its order, then each version's (in the
/// order of `versions`) in suite order. Versions run at once, and cases within a version too,
/// so events arrive interleaved.
fn in_run_order(mut cases: Vec<CaseReport>, plan: &RunPlan, versions: &[ProtocolVersion]) -> Result<Vec<CaseReport>, SessionError> {
    let selected = if plan.suites { selected_cases(&plan.filter)? } else { Vec::new() };
    let position: std::collections::HashMap<&str, usize> = selected.iter().enumerate().map(|(i, c)| (c.id.as_str(), i)).collect();
    let step = |id: &str| crate::runner::scenario::CASES.iter().position(|c| c.id == id);
    cases.sort_by_key(|c| match step(&c.id) {
        Some(i) => (0, 0, i),
        None => {
            let version = versions.iter().position(|v| Some(v.as_str()) == c.dsp_version.as_deref()).unwrap_or(usize::MAX);
            (1, version, position.get(c.id.as_str()).copied().unwrap_or(usize::MAX))
        }
    });
    Ok(cases)
}

async fn embedded(options: EmbeddedOptions, plan: &RunPlan, schemas: &SchemaSet, events: &mut dyn FnMut(RunEvent)) -> Result<SpaceRun, SessionError> {
    let versions = if plan.versions.is_empty() { EMBEDDED_VERSIONS.to_vec() } else { plan.versions.clone() };
    let plan = RunPlan { scenario: plan.scenario && versions.contains(&ProtocolVersion::V2025_1), ..plan.clone() };
    let mut framing = Framing::start(events, &plan, &versions)?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<RunEvent>();
    let runs: Vec<_> = versions.iter().map(|v| embedded_version(options.clone(), *v, &plan, schemas, tx.clone())).collect();
    drop(tx);
    // The interoperability matrix starts connectors of its own, so it runs beside the suites.
    let matrix = async {
        if plan.matrix && !plan.interrupt.is_triggered() {
            Some(super::matrix::run_matrix().await)
        } else {
            None
        }
    };
    let all = futures::future::join(futures::future::join_all(runs), matrix);
    tokio::pin!(all);
    let mut inner = framing.inner();
    let (results, matrix) = loop {
        tokio::select! {
            results = &mut all => break results,
            Some(event) = rx.recv() => inner(event),
        }
    };
    while let Ok(event) = rx.try_recv() {
        inner(event);
    }
    drop(inner);
    framing.finish();
    let mut not_in_version = Vec::new();
    let mut secrets = Vec::new();
    let mut dsp_url = String::new();
    for result in results {
        let run = result?;
        not_in_version.extend(run.not_in_version);
        secrets.extend(run.secrets);
        if dsp_url.is_empty() || run.version == ProtocolVersion::V2025_1 {
            dsp_url = run.dsp_url;
        }
    }
    let names: Vec<&str> = versions.iter().map(|v| v.as_str()).collect();
    let target = TargetInfo { name: "reference (embedded)".to_string(), management: "reference".to_string(), dsp_url, dsp_version: names.join(",") };
    Ok(SpaceRun { target, secrets, preflight: None, matrix, not_in_version, versions, failure_logs: Vec::new() })
}

/// What one version's embedded data space ran, besides its cases.
struct EmbeddedVersionRun {
    version: ProtocolVersion,
    not_in_version: Vec<NotInVersion>,
    secrets: Vec<String>,
    dsp_url: String,
}

/// One embedded data space whose connectors speak `version`, with the suites of `plan` run
/// against it (and the scenario, when the plan has it), events sent to `tx`.
async fn embedded_version(
    options: EmbeddedOptions,
    version: ProtocolVersion,
    plan: &RunPlan,
    schemas: &SchemaSet,
    tx: tokio::sync::mpsc::UnboundedSender<RunEvent>,
) -> Result<EmbeddedVersionRun, SessionError> {
    let mut events = move |event: RunEvent| {
        let _ = tx.send(event);
    };
    // A data space of its own per version: the cases of one version cannot see the assets
    // and processes of another (a catalog paged while another version's setup adds to it
    // would list a dataset twice).
    let options = EmbeddedOptions { provider_versions: Some(vec![version]), consumer_versions: Some(vec![version]), ..options };
    let bound = embedded::bind(options).await?;
    // The recording proxies serve the scenario (2025-1), whose messages they validate.
    let with_scenario = plan.scenario && version == ProtocolVersion::V2025_1;
    let recorder = Recorder::new();
    let mut proxies = None;
    let advertised = if with_scenario {
        let (provider_proxy, to_provider) = RecordingProxy::start("consumer", "provider", &format!("{}/dsp", bound.provider_url()), recorder.clone(), schemas.clone()).await?;
        let (consumer_proxy, to_consumer) = RecordingProxy::start("provider", "consumer", &format!("{}/dsp", bound.consumer_url()), recorder.clone(), schemas.clone()).await?;
        proxies = Some((provider_proxy.clone(), consumer_proxy.clone(), to_provider, to_consumer));
        Advertised { provider_dsp_url: Some(provider_proxy), consumer_dsp_url: Some(consumer_proxy) }
    } else {
        Advertised::default()
    };
    let space = bound.start(advertised).await?;
    let secrets = space.info.secrets();
    if let Some((provider_proxy, _, _, _)) = &proxies {
        let mut config = plan.scenario_config(space.info.clone(), &space.carbon_source_url(), schemas);
        config.provider_dsp_url = provider_proxy.clone();
        config.recorder = recorder.clone();
        scenario_until(config, &mut events, &plan.interrupt).await;
    }
    let mut config = embedded_config(&space, plan.run_options(schemas));
    for cut in [config.provider.as_mut(), config.consumer.as_mut()].into_iter().flatten() {
        // The version's DSP face, below the 2025-1 base.
        cut.version = version;
        cut.dsp_url = format!("{}{}", cut.dsp_url.trim_end_matches('/'), crate::protocol::binding::version_suffix(version));
    }
    // The connectors hand out the proxies' addresses as their DSP base (in catalog `Link`s, data
    // services, callbacks); the harness itself talks to them directly.
    if let Some((provider_proxy, consumer_proxy, _, _)) = &proxies {
        for (cut, proxy, direct) in [
            (config.provider.as_mut(), provider_proxy, &space.info.provider.dsp_url),
            (config.consumer.as_mut(), consumer_proxy, &space.info.consumer.dsp_url),
        ] {
            if let Some(cut) = cut {
                cut.url_rewrites = crate::runtime::UrlRewrite::new([(proxy.trim_end_matches('/').to_string(), direct.trim_end_matches('/').to_string())]);
            }
        }
    }
    let not_in_version = suites(config, plan, &mut events).await;
    let dsp_url = space.info.provider.dsp_url.clone();
    space.shutdown().await;
    if let Some((_, _, to_provider, to_consumer)) = proxies {
        to_provider.stop().await;
        to_consumer.stop().await;
    }
    Ok(EmbeddedVersionRun { version, not_in_version: not_in_version?, secrets, dsp_url })
}

/// The Docker data space speaks 2025-1 only (its image's connectors are configured so).
async fn in_containers(options: DockerOptions, plan: &RunPlan, schemas: &SchemaSet, events: &mut dyn FnMut(RunEvent)) -> Result<SpaceRun, SessionError> {
    let space = docker::start(options).await?;
    let mut failed = false;
    let mut watch = |event: RunEvent| {
        failed |= matches!(&event, RunEvent::CaseFinished(c) if matches!(c.verdict, Verdict::Fail | Verdict::Error));
        events(event);
    };
    let result = run_in_containers(&space, plan, schemas, &mut watch).await;
    let result = match result {
        Ok(mut part) if failed => {
            part.failure_logs = space.logs().await.into_iter().map(|(role, text)| LogExcerpt { component: role.to_string(), text }).collect();
            Ok(part)
        }
        other => other,
    };
    space.shutdown().await;
    result
}

async fn run_in_containers(space: &docker::DockerDataSpace, plan: &RunPlan, schemas: &SchemaSet, events: &mut dyn FnMut(RunEvent)) -> Result<SpaceRun, SessionError> {
    let versions = vec![ProtocolVersion::V2025_1];
    let mut framing = Framing::start(events, plan, &versions)?;
    let recorder = Recorder::new();
    let host = space.host_address.to_string();
    let (provider_proxy, to_provider) =
        RecordingProxy::start_on(&host, "consumer", "provider", &space.info.provider.dsp_url, recorder.clone(), schemas.clone()).await?;
    let secrets = space.info.secrets();
    if plan.scenario {
        let mut config = plan.scenario_config(space.info.clone(), &space.carbon_source_url(), schemas);
        config.provider_dsp_url = provider_proxy.clone();
        config.recorder = recorder.clone();
        config.network = NetworkView {
            harness_host: Some(host.clone()),
            provider_object_store_url: Some(space.network_info.object_store.url.clone()),
            to_harness: space.url_rewrite(),
        };
        scenario_until(config, &mut *framing.inner(), &plan.interrupt).await;
    }
    to_provider.stop().await;
    let not_in_version = suites(docker_config(space, plan.run_options(schemas)), plan, &mut *framing.inner()).await;
    framing.finish();
    let target = TargetInfo {
        name: "reference (docker)".to_string(),
        management: "reference".to_string(),
        dsp_url: space.network_info.provider.dsp_url.clone(),
        dsp_version: ProtocolVersion::V2025_1.as_str().to_string(),
    };
    Ok(SpaceRun { target, secrets, preflight: None, matrix: None, not_in_version: not_in_version?, versions, failure_logs: Vec::new() })
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

/// A target run: its preflight stopped it (every selected case an error naming the failed
/// lines; a case of a role the file does not test is skipped, as in a run), or the suites ran in
/// each version chosen.
async fn external(checked: CheckedTarget, plan: &RunPlan, schemas: &SchemaSet, events: &mut dyn FnMut(RunEvent)) -> Result<SpaceRun, SessionError> {
    if checked.preflight.failed() {
        return preflight_failed(checked, plan, events);
    }
    let CheckedTarget { file, preflight } = checked;
    let plan = RunPlan { scenario: false, ..plan.clone() };
    let config = target_config(&file, plan.run_options(schemas))?;
    let management = config.provider.as_ref().or(config.consumer.as_ref()).map(|c| c.management.name()).unwrap_or("none").to_string();
    let secrets = [file.api_key().ok(), config.tokens.static_token()].into_iter().flatten().filter(|s| !s.is_empty()).collect();
    // The versions to run in: those `--dsp-version` forces, or the file's (`auto`: the newest
    // the connector's version document offers), each at the DSP base its document names.
    let wanted: Vec<Option<ProtocolVersion>> = if plan.versions.is_empty() { vec![file.forced_version()] } else { plan.versions.iter().copied().map(Some).collect() };
    let client = crate::recording::RecordingClient::with_http(config.http.clone(), Recorder::new(), None, plan.case_timeout.min(super::preflight::REQUEST_TIMEOUT));
    let mut chosen = Vec::new();
    for forced in wanted {
        // A version the connector does not offer is a failed preflight line already.
        if let Ok(found) = super::preflight::discover(&file, &client, forced).await {
            if !chosen.iter().any(|(v, _)| *v == found.0) {
                chosen.push(found);
            }
        }
    }
    let versions: Vec<ProtocolVersion> = chosen.iter().map(|(v, _)| *v).collect();
    let mut framing = Framing::start(events, &plan, &versions)?;
    let mut not_in_version = Vec::new();
    for (version, dsp_url) in &chosen {
        let mut config = target_config(&file, plan.run_options(schemas))?;
        for cut in [config.provider.as_mut(), config.consumer.as_mut()].into_iter().flatten() {
            cut.version = *version;
            cut.dsp_url = dsp_url.clone();
        }
        let run = suites(config, &plan, &mut *framing.inner()).await;
        match run {
            Ok(absent) => not_in_version.extend(absent),
            Err(e) => {
                framing.finish();
                return Err(e);
            }
        }
    }
    framing.finish();
    let names: Vec<&str> = versions.iter().map(|v| v.as_str()).collect();
    let dsp_url = chosen.first().map(|(_, url)| url.clone()).unwrap_or_else(|| file.dsp.url.clone());
    let target = TargetInfo { name: file.name.clone(), management, dsp_url, dsp_version: if names.is_empty() { file.dsp.version.clone() } else { names.join(",") } };
    Ok(SpaceRun { target, secrets, preflight: Some(preflight), matrix: None, not_in_version, versions, failure_logs: Vec::new() })
}

/// The part of a target run its preflight stopped: no case ran, and every selected case is
/// reported as an error whose reason names the failed preflight lines.
fn preflight_failed(checked: CheckedTarget, plan: &RunPlan, events: &mut dyn FnMut(RunEvent)) -> Result<SpaceRun, SessionError> {
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
    events(RunEvent::RunStarted { total_cases: cases.len() });
    for case in &cases {
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
        events(RunEvent::CaseFinished(Box::new(super::conformance::report_of(case, outcome, Vec::new(), started_at.clone(), Duration::ZERO))));
    }
    events(RunEvent::RunFinished);
    let secrets = [file.api_key().ok(), file.static_token().ok().flatten()].into_iter().flatten().filter(|s| !s.is_empty()).collect();
    let target = TargetInfo { name: file.name.clone(), management: file.management_driver().map(|d| d.name().to_string()).unwrap_or_else(|_| "unknown".to_string()), dsp_url: file.dsp.url.clone(), dsp_version: file.dsp.version.clone() };
    Ok(SpaceRun { target, secrets, preflight: Some(preflight), matrix: None, not_in_version: Vec::new(), versions: Vec::new(), failure_logs: Vec::new() })
}
