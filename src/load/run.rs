//! A whole load run: start (or reach) the connectors, offer payloads, and measure each
//! scenario in turn, each data-plane pull right after its baseline, then the full flow; judge the
//! thresholds; hand back the figures for the report.
//!
//! Scenarios are named `baseline.pull.<size>`, `dataplane.pull.<size>` and `flow.full`. Every
//! data-plane pull gets a transfer of its own, negotiated just before it runs, so no token
//! expires during a long scenario (the reference connector's pull tokens live ten minutes,
//! which is also the longest a scenario may run).

use std::sync::Arc;
use std::time::Duration;

use super::attack::{self, Attack};
use super::baseline::BaselineServer;
use crate::reference::backend::payload_sha256 as payload_digest;
use super::collector::{Collector, ScenarioMeta};
use super::cpu::{CpuMeter, CpuUse};
use super::error::LoadError;
use super::flow::{self, FlowJob};
use super::memory::{MemorySampler, MemoryUsage};
use super::pull::{self, Check, PullJob};
use super::setup::{Endpoints, Parties};
use super::target::{host_port, TargetChoice, UrlTarget};
use super::threshold::{check_scopes, evaluate, Planned, Threshold};
use crate::reference::backend::format_size;
use crate::report::model::{CpuShare, LoadProgress, LoadReport, LoadScenario, RunEvent, ScenarioEnd};
use crate::runner::Interrupt;
use crate::runtime::embedded::{self, EmbeddedDataSpace, EmbeddedOptions};

/// The payload sizes pulled unless told otherwise: 1 KiB, 1 MiB and 64 MiB.
pub const DEFAULT_SIZES: [u64; 3] = [1 << 10, 1 << 20, 64 << 20];
/// The longest a scenario may run: the lifetime of a reference pull token.
pub const MAX_DURATION: Duration = Duration::from_secs(600);
/// The most concurrent users a scenario may have.
pub const MAX_USERS: u32 = 1000;
/// The largest payload a scenario may pull.
pub const MAX_SIZE: u64 = 16 << 30;
/// The name of the full-flow scenario.
pub const FLOW: &str = "flow.full";
/// The name of the scenario that pulls a plain URL (`load --url`).
pub const URL_PULL: &str = "dataplane.pull.url";

/// One of N load workers (`load --worker i/N`, `i` from 0, as a Kubernetes Indexed Job numbers
/// its pods): it runs its share of the users and of the request budget, so N workers together
/// send what one run would.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Worker {
    pub index: u32,
    pub count: u32,
}

impl Worker {
    /// Reads `i/N`.
    pub fn parse(text: &str) -> Result<Worker, LoadError> {
        let fail = || LoadError::Options(format!("--worker takes i/N with 0 <= i < N (for example 0/4), not {text:?}"));
        let (i, n) = text.split_once('/').ok_or_else(fail)?;
        let (index, count): (u32, u32) = (i.trim().parse().map_err(|_| fail())?, n.trim().parse().map_err(|_| fail())?);
        if count == 0 || index >= count {
            return Err(fail());
        }
        Ok(Worker { index, count })
    }

    /// This worker's share of `total`: the remainder goes to the first workers.
    pub fn share(&self, total: u64) -> u64 {
        let (count, index) = (u64::from(self.count), u64::from(self.index));
        total / count + u64::from(index < total % count)
    }
}

impl std::fmt::Display for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScenarioKind {
    /// HTTP pulls of payloads of the chosen sizes, with their baselines.
    Pull,
    /// Whole flows: catalog, negotiate, transfer, pull.
    Flow,
}

/// Where the embedded provider fetches the payloads it serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadSource {
    /// The reference backend, as in the reference data space: the figures include the cost of
    /// generating the bytes there.
    Backend,
    /// The bare baseline server, which serves the same bytes at almost no cost: the figures show
    /// the data plane alone.
    Baseline,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BaselineMode {
    /// Pull the same bytes from a bare server on loopback before each data-plane pull.
    Measure,
    Skip,
}

/// Everything a load run can be told.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub target: TargetChoice,
    pub kinds: Vec<ScenarioKind>,
    pub sizes: Vec<u64>,
    /// Concurrent users of each pull scenario.
    pub users: u32,
    /// Concurrent users of the flow scenario.
    pub flow_users: u32,
    /// The payload each flow pulls.
    pub flow_size: u64,
    /// How long each scenario runs.
    pub duration: Duration,
    /// The most requests (or flows) each scenario may send.
    pub max_requests: u64,
    pub baseline: BaselineMode,
    /// Where the embedded provider fetches payloads (ignored for a target file, which names its
    /// own `payload_url`).
    pub source: PayloadSource,
    /// How long one request may take, body included; also how long a negotiation or transfer
    /// may take to reach its next state.
    pub request_timeout: Duration,
    pub thresholds: Vec<Threshold>,
    /// When this run is one of several workers, which one.
    pub worker: Option<Worker>,
    /// Stops the run part-way (Ctrl-C): the scenarios measured so far are reported, the one
    /// running is dropped, the rest do not start.
    pub interrupt: Interrupt,
}

impl Default for LoadOptions {
    fn default() -> LoadOptions {
        LoadOptions {
            target: TargetChoice::Embedded,
            kinds: vec![ScenarioKind::Pull, ScenarioKind::Flow],
            sizes: DEFAULT_SIZES.to_vec(),
            users: 8,
            flow_users: 4,
            flow_size: 1 << 10,
            duration: Duration::from_secs(5),
            max_requests: 1_000_000,
            baseline: BaselineMode::Measure,
            source: PayloadSource::Backend,
            request_timeout: Duration::from_secs(60),
            thresholds: Vec::new(),
            worker: None,
            interrupt: Interrupt::new(),
        }
    }
}

pub fn pull_name(size: u64) -> String {
    format!("dataplane.pull.{}", format_size(size))
}

pub fn baseline_name(size: u64) -> String {
    format!("baseline.pull.{}", format_size(size))
}

impl LoadOptions {
    fn pulls(&self) -> bool {
        self.kinds.contains(&ScenarioKind::Pull)
    }

    fn flows(&self) -> bool {
        self.kinds.contains(&ScenarioKind::Flow)
    }

    /// The sizes to pull, each once, in the order given.
    fn sizes(&self) -> Vec<u64> {
        let mut sizes = Vec::new();
        for &size in &self.sizes {
            if !sizes.contains(&size) {
                sizes.push(size);
            }
        }
        sizes
    }

    /// The options of this worker alone: its share of the users and of the request budget.
    pub fn worker_share(&self) -> LoadOptions {
        let Some(worker) = self.worker else { return self.clone() };
        let users = |n: u32| u32::try_from(worker.share(u64::from(n))).unwrap_or(n);
        LoadOptions {
            users: users(self.users),
            flow_users: users(self.flow_users),
            max_requests: worker.share(self.max_requests),
            ..self.clone()
        }
    }

    /// The scenarios this run measures, in order.
    pub fn plan(&self) -> Vec<Planned> {
        if matches!(self.target, TargetChoice::Url(_)) {
            return vec![Planned { name: URL_PULL.to_string(), has_baseline: false }];
        }
        let mut planned = Vec::new();
        if self.pulls() {
            for size in self.sizes() {
                if self.baseline == BaselineMode::Measure {
                    planned.push(Planned { name: baseline_name(size), has_baseline: false });
                }
                planned.push(Planned { name: pull_name(size), has_baseline: self.baseline == BaselineMode::Measure });
            }
        }
        if self.flows() {
            planned.push(Planned { name: FLOW.to_string(), has_baseline: false });
        }
        planned
    }

    /// Refuses options that would make a run unbounded, empty or unjudgeable.
    pub fn validate(&self) -> Result<(), LoadError> {
        let fail = |m: String| Err(LoadError::Options(m));
        if self.kinds.is_empty() {
            return fail("choose at least one scenario".into());
        }
        if self.pulls() && self.sizes.is_empty() {
            return fail("the pull scenario needs at least one payload size".into());
        }
        for &size in self.sizes.iter().chain([self.flow_size].iter()) {
            if size == 0 || size > MAX_SIZE {
                return fail(format!("payload sizes go from 1 byte to {}, not {size} bytes", format_size(MAX_SIZE)));
            }
        }
        for (what, users) in [("--users", self.users), ("--flow-users", self.flow_users)] {
            if users == 0 || users > MAX_USERS {
                return fail(format!("{what} must be between 1 and {MAX_USERS}"));
            }
        }
        if self.duration < Duration::from_secs(1) || self.duration > MAX_DURATION {
            return fail(format!("a scenario runs between 1 s and {} s", MAX_DURATION.as_secs()));
        }
        if self.max_requests == 0 {
            return fail("--max-requests must be at least 1".into());
        }
        if self.request_timeout.is_zero() {
            return fail("the request timeout must be positive".into());
        }
        if matches!(self.target, TargetChoice::Url(_)) && self.flows() {
            return fail("--url pulls one URL; the flow scenario needs connectors (use --scenario pull)".into());
        }
        if let Some(w) = self.worker {
            let n = u64::from(w.count);
            if u64::from(self.users) < n || (self.flows() && u64::from(self.flow_users) < n) || self.max_requests < n {
                return fail(format!("{n} workers need at least {n} users, flow users and requests, one each"));
            }
        }
        check_scopes(&self.thresholds, &self.plan())
    }
}

/// The progress event of a scenario that ended.
fn scenario_end(scenario: &LoadScenario, memory: Option<MemoryUsage>, cpu: Option<CpuUse>) -> RunEvent {
    let cpu = cpu.map(|c| CpuShare { cores_busy: c.cores_busy, cores: c.cores, saturated: c.saturated() });
    LoadProgress::Finished(Box::new(ScenarioEnd { scenario: scenario.clone(), memory_growth_bytes: memory.map(|m| m.growth()), cpu })).into()
}

/// What a run was aimed at, for the report.
#[derive(Debug, Clone, PartialEq)]
pub struct RunTarget {
    pub name: String,
    /// `reference` or `edc-v3`.
    pub management: String,
    pub dsp_url: String,
    pub dsp_version: String,
    /// `embedded` (in this process) or `external`.
    pub runtime: String,
}

/// The outcome of a run.
#[derive(Debug, Clone)]
pub struct LoadRun {
    /// Figures and judged thresholds.
    pub load: LoadReport,
    pub target: RunTarget,
    /// Credentials the run used, for the report's redactor.
    pub secrets: Vec<String>,
    /// Resident memory of this process during each data-plane and flow scenario, when the data
    /// plane ran in this process.
    pub memory: Vec<(String, MemoryUsage)>,
    /// What `load.peak_memory_bytes` measured, or why there is none.
    pub memory_note: String,
    /// This process's CPU use during each scenario.
    pub cpu: Vec<(String, CpuUse)>,
}

impl LoadRun {
    /// True when every threshold held.
    pub fn passed(&self) -> bool {
        self.load.thresholds.iter().all(|t| t.passed)
    }
}

/// What every scenario of a run shares.
struct Context<'a> {
    options: &'a LoadOptions,
    parties: Parties,
    /// The bare server: the baseline, and the payload source when so chosen.
    bare: Option<BaselineServer>,
    in_process: bool,
    generated_payloads: bool,
    run_id: String,
}

/// Runs every planned scenario and judges the thresholds.
pub async fn run(options: &LoadOptions, progress: &mut (dyn FnMut(RunEvent) + Send)) -> Result<LoadRun, LoadError> {
    options.validate()?;
    let shared = options.worker_share();
    let options = &shared;
    if let TargetChoice::Url(target) = &options.target {
        return url_run(options, target, progress).await;
    }
    let embedded_source = matches!(options.target, TargetChoice::Embedded) && options.source == PayloadSource::Baseline;
    let bare = if (options.pulls() && options.baseline == BaselineMode::Measure) || embedded_source {
        Some(BaselineServer::start().await?)
    } else {
        None
    };
    let (space, endpoints, target, generated, mut secrets) = match &options.target {
        TargetChoice::Embedded => {
            progress(LoadProgress::Preparing("starting the embedded reference data space".to_string()).into());
            let space = embedded::start(EmbeddedOptions::default()).await?;
            let (mut endpoints, mut target, secrets) = embedded_endpoints(&space);
            if let (true, Some(server)) = (embedded_source, &bare) {
                endpoints.payload_url = format!("{}/payload/{{size}}", server.url);
                target.name = "reference data space (embedded, payloads from the bare server)".into();
            }
            (Some(space), endpoints, target, true, secrets)
        }
        TargetChoice::External(t) => {
            let endpoints = t.endpoints.clone();
            let target = RunTarget {
                name: t.name.clone(),
                management: "edc-v3".into(),
                dsp_url: endpoints.provider_dsp_url.clone(),
                dsp_version: t.dsp_version.clone(),
                runtime: "external".into(),
            };
            let secrets = vec![endpoints.provider_api_key.clone(), endpoints.consumer_api_key.clone()];
            (None, endpoints, target, t.generated_payloads, secrets)
        }
        TargetChoice::Url(_) => unreachable!("a plain URL is pulled by url_run"),
    };
    let e = &endpoints;
    let named = [
        ("provider management", &e.provider_management_url),
        ("consumer management", &e.consumer_management_url),
        ("provider DSP", &e.provider_dsp_url),
        ("payload source", &e.payload_url.replace("{size}", "1KiB")),
    ];
    let hosts = named.iter().map(|(what, url)| Ok(format!("{what} {}", host_port(url)?))).collect::<Result<Vec<_>, LoadError>>()?;
    progress(LoadProgress::Hosts(hosts.to_vec()).into());
    let context = Context {
        options,
        parties: Parties::new(endpoints, options.request_timeout),
        bare,
        in_process: space.is_some(),
        generated_payloads: generated,
        run_id: uuid::Uuid::new_v4().simple().to_string()[..8].to_string(),
    };
    let mut measured = Measured::default();
    // Boxed: the measuring future is large, and callers (tests) run it on small stacks.
    let outcome = until_interrupted(&options.interrupt, Box::pin(measure(&context, progress, &mut measured))).await;
    if let Some(space) = space {
        space.shutdown().await;
    }
    interrupted_is_ok(outcome)?;
    let Measured { scenarios, memory, cpu } = measured;
    let peak = memory.iter().map(|(_, m)| m.peak_rss).max();
    let memory_note = if context.in_process {
        "resident memory (VmRSS/VmHWM) of this process, which runs the embedded data plane together with the \
         reference backend, the baseline server and the goose client: an upper bound for the data plane"
            .to_string()
    } else {
        "not measured: the data plane runs outside this process".to_string()
    };
    let mut load = LoadReport { scenarios, thresholds: Vec::new(), peak_memory_bytes: peak };
    load.thresholds = evaluate(&options.thresholds, &load, &memory);
    secrets.retain(|s| !s.is_empty());
    Ok(LoadRun { load, target, secrets, memory, memory_note, cpu })
}

/// Pulls one plain URL: a probe learns the size it serves, then the pull scenario checks that
/// every pull delivers that many bytes.
async fn url_run(
    options: &LoadOptions,
    target: &UrlTarget,
    progress: &mut (dyn FnMut(RunEvent) + Send),
) -> Result<LoadRun, LoadError> {
    let hosts = [format!("url {}", host_port(&target.url)?)];
    progress(LoadProgress::Hosts(hosts.to_vec()).into());
    let probe = |detail: String| LoadError::Prepare { step: format!("probe {}", target.url), detail };
    let client = reqwest::Client::builder().timeout(options.request_timeout).build().map_err(|e| probe(e.to_string()))?;
    let mut request = client.get(&target.url);
    if let Some(value) = &target.authorization {
        request = request.header(reqwest::header::AUTHORIZATION, value);
    }
    let mut response = request.send().await.map_err(|e| probe(e.to_string()))?;
    if !response.status().is_success() {
        return Err(probe(format!("status {}", response.status())));
    }
    let mut size = 0u64;
    while let Some(chunk) = response.chunk().await.map_err(|e| probe(e.to_string()))? {
        size += chunk.len() as u64;
    }
    let job = PullJob {
        name: URL_PULL.to_string(),
        url: target.url.clone(),
        authorization: target.authorization.clone(),
        size,
        check: Check::Size,
        collector: Arc::new(Collector::new(options.max_requests)),
    };
    let mut measured = Measured::default();
    let work = async {
        let (figures, cpu) = pull_scenario(job, options, progress).await?;
        progress(scenario_end(&figures, None, cpu));
        measured.cpu.extend(cpu.map(|c| (URL_PULL.to_string(), c)));
        measured.scenarios.push(figures);
        Ok(())
    };
    interrupted_is_ok(until_interrupted(&options.interrupt, Box::pin(work)).await)?;
    let cpu = measured.cpu;
    let mut load = LoadReport { scenarios: measured.scenarios, thresholds: Vec::new(), peak_memory_bytes: None };
    load.thresholds = evaluate(&options.thresholds, &load, &[]);
    let run_target = RunTarget {
        name: target.url.clone(),
        management: "none".into(),
        dsp_url: target.url.clone(),
        dsp_version: String::new(),
        runtime: "url".into(),
    };
    Ok(LoadRun {
        load,
        target: run_target,
        secrets: target.authorization.iter().cloned().collect(),
        memory: Vec::new(),
        memory_note: "not measured: the pulled server runs outside this process".into(),
        cpu,
    })
}

/// The endpoints of an embedded data space's two connectors and backend, as a load run (or a
/// test driving the same flow) reaches them.
pub fn endpoints_of(space: &EmbeddedDataSpace) -> Endpoints {
    let info = &space.info;
    Endpoints {
        provider_id: info.provider.participant_id.clone(),
        provider_dsp_url: info.provider.dsp_url.clone(),
        provider_management_url: info.provider.management_url.clone(),
        provider_api_key: info.provider.api_key.clone(),
        consumer_management_url: info.consumer.management_url.clone(),
        consumer_api_key: info.consumer.api_key.clone(),
        payload_url: format!("{}/payload/{{size}}", space.backend_url),
        protocol: crate::protocol::ProtocolVersion::V2025_1.edc_protocol().to_string(),
    }
}

fn embedded_endpoints(space: &EmbeddedDataSpace) -> (Endpoints, RunTarget, Vec<String>) {
    let info = &space.info;
    let endpoints = endpoints_of(space);
    let target = RunTarget {
        name: "reference data space (embedded)".into(),
        management: "reference".into(),
        dsp_url: info.provider.dsp_url.clone(),
        dsp_version: crate::protocol::ProtocolVersion::V2025_1.as_str().to_string(),
        runtime: "embedded".into(),
    };
    let secrets = vec![info.provider.api_key.clone(), info.consumer.api_key.clone(), info.daps.admin_key.clone()];
    (endpoints, target, secrets)
}

/// The figures of the scenarios that ran to their end.
#[derive(Default)]
struct Measured {
    scenarios: Vec<LoadScenario>,
    memory: Vec<(String, MemoryUsage)>,
    cpu: Vec<(String, CpuUse)>,
}

/// Runs `work` until `interrupt` is triggered, which goose's own Ctrl-C handler also does
/// (through [`attack::watch_interrupt`]). The attack in flight ends through the killswitch;
/// anything else (a negotiation, a setup request) is dropped after the grace period.
async fn until_interrupted(interrupt: &Interrupt, work: impl std::future::Future<Output = Result<(), LoadError>>) -> Result<(), LoadError> {
    let watcher = attack::watch_interrupt(interrupt.clone());
    let outcome = tokio::select! {
        outcome = work => outcome,
        _ = interrupt.grace_over() => Err(LoadError::Interrupted),
    };
    watcher.abort();
    if matches!(outcome, Err(LoadError::Interrupted)) {
        interrupt.trigger();
    }
    outcome
}

/// An interruption still reports what was measured; any other error ends the run.
fn interrupted_is_ok(outcome: Result<(), LoadError>) -> Result<(), LoadError> {
    match outcome {
        Err(LoadError::Interrupted) => Ok(()),
        other => other,
    }
}

async fn measure(cx: &Context<'_>, progress: &mut (dyn FnMut(RunEvent) + Send), out: &mut Measured) -> Result<(), LoadError> {
    let options = cx.options;
    let sizes = if options.pulls() { options.sizes() } else { Vec::new() };
    let mut offered = sizes.clone();
    if options.flows() && !offered.contains(&options.flow_size) {
        offered.push(options.flow_size);
    }
    // Digests take a while for large payloads; compute them while the connectors get ready.
    let digests: Vec<(u64, tokio::task::JoinHandle<String>)> =
        offered.iter().map(|&size| (size, tokio::task::spawn_blocking(move || payload_digest(size)))).collect();
    progress(LoadProgress::Preparing("offering the payloads at the provider".to_string()).into());
    for &size in &offered {
        cx.parties.offer(&asset_id(&cx.run_id, size), size).await?;
    }
    let mut digest_of = std::collections::HashMap::new();
    for (size, task) in digests {
        let digest = task.await.map_err(|e| LoadError::Prepare { step: "payload digest".into(), detail: e.to_string() })?;
        digest_of.insert(size, digest);
    }
    let baseline = cx.bare.as_ref().filter(|_| options.baseline == BaselineMode::Measure);

    let Measured { scenarios, memory, cpu: cpu_use } = out;
    for &size in &sizes {
        let digest = digest_of.get(&size).cloned().unwrap_or_default();
        let mut baseline_figures = None;
        if let Some(server) = baseline {
            let job = PullJob {
                name: baseline_name(size),
                url: server.payload_url(size),
                authorization: None,
                size,
                check: Check::FirstDigest(digest.clone()),
                collector: Arc::new(Collector::new(options.max_requests)),
            };
            let (figures, cpu) = pull_scenario(job, options, progress).await?;
            progress(scenario_end(&figures, None, cpu));
            cpu_use.extend(cpu.map(|c| (figures.name.clone(), c)));
            baseline_figures = Some(figures.clone());
            scenarios.push(figures);
        }

        let preparing = format!("negotiating a pull of {} through the normal flow", format_size(size));
        progress(LoadProgress::Preparing(preparing.clone()).into());
        let access = cx.parties.pull_access(&asset_id(&cx.run_id, size)).await?;
        progress(LoadProgress::Hosts(vec![format!("data plane {}", host_port(&access.endpoint)?)]).into());
        let check = if cx.generated_payloads { Check::FirstDigest(digest) } else { Check::Size };
        let job = PullJob {
            name: pull_name(size),
            url: access.endpoint.clone(),
            authorization: access.authorization.clone(),
            size,
            check,
            collector: Arc::new(Collector::new(options.max_requests)),
        };
        let sampler = if cx.in_process { MemorySampler::start() } else { None };
        let (mut figures, cpu) = pull_scenario(job, options, progress).await?;
        cpu_use.extend(cpu.map(|c| (figures.name.clone(), c)));
        let usage = sampler.map(MemorySampler::finish);
        if let Some(base) = &baseline_figures {
            figures.baseline = Some(base.name.clone());
            if base.bytes_per_second > 0.0 {
                figures.ratio_to_baseline = Some((figures.bytes_per_second / base.bytes_per_second * 1000.0).round() / 1000.0);
            }
        }
        if let Err(e) = cx.parties.finish(&access.transfer_id).await {
            tracing::warn!("could not terminate transfer {}: {}", access.transfer_id, e.detail);
        }
        cx.parties.forget_exchanges();
        progress(scenario_end(&figures, usage, cpu));
        if let Some(usage) = usage {
            memory.push((figures.name.clone(), usage));
        }
        scenarios.push(figures);
    }

    if options.flows() {
        let size = options.flow_size;
        let job = Arc::new(FlowJob {
            name: FLOW.to_string(),
            parties: cx.parties.clone(),
            asset_id: asset_id(&cx.run_id, size),
            size,
            digest: cx.generated_payloads.then(|| digest_of.get(&size).cloned()).flatten(),
            collector: Arc::new(Collector::new(options.max_requests)),
        });
        let host = origin(&cx.parties.endpoints.consumer_management_url)?;
        progress(LoadProgress::Started { name: FLOW.to_string(), users: options.flow_users, duration: options.duration }.into());
        let sampler = if cx.in_process { MemorySampler::start() } else { None };
        let meter = CpuMeter::start();
        attack::run(Attack {
            name: FLOW.to_string(),
            host,
            users: options.flow_users,
            duration: options.duration,
            request_timeout: options.request_timeout,
            transaction: flow::transaction(job.clone()),
        })
        .await?;
        let usage = sampler.map(MemorySampler::finish);
        let cpu = meter.and_then(CpuMeter::finish);
        let meta = ScenarioMeta { name: FLOW.to_string(), baseline: None, users: options.flow_users, payload_bytes: size };
        let figures = job.collector.summarize(&meta);
        progress(scenario_end(&figures, usage, cpu));
        cpu_use.extend(cpu.map(|c| (figures.name.clone(), c)));
        if let Some(usage) = usage {
            memory.push((figures.name.clone(), usage));
        }
        scenarios.push(figures);
    }
    Ok(())
}

async fn pull_scenario(
    job: PullJob,
    options: &LoadOptions,
    progress: &mut (dyn FnMut(RunEvent) + Send),
) -> Result<(LoadScenario, Option<CpuUse>), LoadError> {
    let host = origin(&job.url)?;
    let meta = ScenarioMeta { name: job.name.clone(), baseline: None, users: options.users, payload_bytes: job.size };
    let job = Arc::new(job);
    progress(LoadProgress::Started { name: meta.name.clone(), users: options.users, duration: options.duration }.into());
    let meter = CpuMeter::start();
    attack::run(Attack {
        name: meta.name.clone(),
        host,
        users: options.users,
        duration: options.duration,
        request_timeout: options.request_timeout,
        transaction: pull::transaction(job.clone()),
    })
    .await?;
    let cpu = meter.and_then(CpuMeter::finish);
    Ok((job.collector.summarize(&meta), cpu))
}

fn asset_id(run_id: &str, size: u64) -> String {
    format!("load-{run_id}-{}", format_size(size))
}

/// `scheme://host:port` of a URL, the base goose wants.
fn origin(url: &str) -> Result<String, LoadError> {
    let parsed =
        reqwest::Url::parse(url).map_err(|e| LoadError::NotAllowed { what: "url".into(), url: url.to_string(), reason: e.to_string() })?;
    Ok(parsed.origin().ascii_serialization())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_plan_pulls_three_sizes_after_their_baselines_then_runs_flows() {
        let names: Vec<String> = LoadOptions::default().plan().into_iter().map(|p| p.name).collect();
        assert_eq!(
            names,
            [
                "baseline.pull.1KiB",
                "dataplane.pull.1KiB",
                "baseline.pull.1MiB",
                "dataplane.pull.1MiB",
                "baseline.pull.64MiB",
                "dataplane.pull.64MiB",
                "flow.full"
            ]
        );
        let flows_only = LoadOptions { kinds: vec![ScenarioKind::Flow], ..LoadOptions::default() };
        assert_eq!(flows_only.plan(), vec![Planned { name: "flow.full".into(), has_baseline: false }]);
    }

    #[test]
    fn options_stay_bounded() {
        let check = |options: LoadOptions, expected: &str| {
            let message = options.validate().unwrap_err().to_string();
            assert!(message.contains(expected), "{message:?} does not contain {expected:?}");
        };
        let base = LoadOptions::default;
        assert!(base().validate().is_ok());
        check(LoadOptions { duration: Duration::from_secs(601), ..base() }, "between 1 s and 600 s");
        check(LoadOptions { duration: Duration::from_millis(500), ..base() }, "between 1 s and 600 s");
        check(LoadOptions { users: 0, ..base() }, "--users must be between 1 and 1000");
        check(LoadOptions { flow_users: 1001, ..base() }, "--flow-users");
        check(LoadOptions { max_requests: 0, ..base() }, "--max-requests");
        check(LoadOptions { sizes: vec![0], ..base() }, "from 1 byte");
        check(LoadOptions { sizes: vec![], ..base() }, "at least one payload size");
        check(LoadOptions { kinds: vec![], ..base() }, "at least one scenario");
        let ratio: Threshold = "ratio>=0.5".parse().unwrap();
        check(LoadOptions { baseline: BaselineMode::Skip, thresholds: vec![ratio], ..base() }, "has a baseline");
    }

    #[test]
    fn origins() {
        assert_eq!(origin("http://127.0.0.1:8080/public/x?y").unwrap(), "http://127.0.0.1:8080");
        assert!(origin("nonsense").is_err());
    }
}
