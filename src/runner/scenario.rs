//! The carbon-emissions scenario of the "minimum viable data space": company X (provider)
//! shares the emission intensities of its vehicles, company Y (the regulator, consumer) finds
//! them in X's catalog, negotiates a contract, and receives the data by HTTP pull, HTTP push and
//! S3, after which both sides must agree on how everything ended.
//!
//! Each step is one case (`mvds.carbon.01-register` ... `mvds.carbon.08-schema`) and runs in
//! order; a step whose prerequisite did not pass is skipped, saying which. The harness drives
//! both connectors through their management APIs and checks what comes out on the wire: the
//! exchanges recorded while a step ran (management calls, the DSP messages a recording proxy saw,
//! data plane requests, pushes into the sink) are attached to its case, and a schema violation in
//! any of them is a finding of that case. Nothing here panics on a bad answer: it becomes a
//! finding quoting what was expected and what came.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::time::{Duration, Instant};

use reqwest::header::AUTHORIZATION;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::recording::http::RecordingClient;
use crate::recording::recorder::Recorder;
use crate::recording::sink::Sink;
use crate::protocol::ProtocolVersion;
use crate::reference::objectstore::s3_client;
use crate::report::model::{CaseReport, Exchange, Finding, Level, Role, RunEvent, StepReport, Verdict};
use crate::runtime::{DataSpaceInfo, UrlRewrite};
use crate::schema::SchemaSet;
use crate::target::edc_v3::ODRL_CONTEXT;
use crate::target::{asset_selector, lenient, ManagementClient, TargetError};

pub const SUITE: &str = "mvds";
pub const AREA: &str = "scenario";

pub const REGISTER: &str = "mvds.carbon.01-register";
pub const CATALOG: &str = "mvds.carbon.02-catalog";
pub const NEGOTIATE: &str = "mvds.carbon.03-negotiate";
pub const PULL: &str = "mvds.carbon.04-pull";
pub const PUSH: &str = "mvds.carbon.05-push";
pub const S3: &str = "mvds.carbon.06-s3";
pub const COMPLETION: &str = "mvds.carbon.07-completion";
pub const SCHEMA: &str = "mvds.carbon.08-schema";

/// One step of the scenario as the reports name it.
#[derive(Debug, Clone, Copy)]
pub struct ScenarioCase {
    pub id: &'static str,
    pub title: &'static str,
    pub spec: &'static str,
    /// Cases that must pass before this one can run.
    pub requires: &'static [&'static str],
}

/// The steps, in the order they run.
pub const CASES: [ScenarioCase; 8] = [
    ScenarioCase {
        id: REGISTER,
        title: "Provider registers the carbon-emissions asset, a use policy and a contract definition",
        spec: "MVDS carbon-emissions pattern, provider setup (EDC management API v3)",
        requires: &[],
    },
    ScenarioCase {
        id: CATALOG,
        title: "Consumer finds the carbon-emissions dataset and its offer in the provider's catalog",
        spec: "DSP 2025-1 §5 Catalog Protocol, §6 Catalog HTTPS Binding",
        requires: &[REGISTER],
    },
    ScenarioCase {
        id: NEGOTIATE,
        title: "Consumer negotiates a contract for the offer until both sides are FINALIZED",
        spec: "DSP 2025-1 §7 Contract Negotiation Protocol, §8 Contract Negotiation HTTPS Binding",
        requires: &[CATALOG],
    },
    ScenarioCase {
        id: PULL,
        title: "HTTP pull: the consumer fetches the data with the EDR token, and not without it",
        spec: "DSP 2025-1 §9 Transfer Process Protocol (pull), §10 Transfer Process HTTPS Binding",
        requires: &[NEGOTIATE],
    },
    ScenarioCase {
        id: PUSH,
        title: "HTTP push: the provider pushes the data to the consumer's backend and completes",
        spec: "DSP 2025-1 §9 Transfer Process Protocol (push), §10 Transfer Process HTTPS Binding",
        requires: &[NEGOTIATE],
    },
    ScenarioCase {
        id: S3,
        title: "S3 push: the provider writes the data into the consumer's bucket and completes",
        spec: "DSP 2025-1 §9 Transfer Process Protocol (push to an AmazonS3 data address)",
        requires: &[NEGOTIATE],
    },
    ScenarioCase {
        id: COMPLETION,
        title: "The pull transfer is ended and both sides agree on every final state",
        spec: "DSP 2025-1 §9.1 Transfer Process states, §7.1 Contract Negotiation states",
        requires: &[NEGOTIATE, PULL],
    },
    ScenarioCase {
        id: SCHEMA,
        title: "Every DSP message of the run validates against the DSP 2025-1 schemas",
        spec: "DSP 2025-1 message JSON Schemas",
        requires: &[],
    },
];

/// What the transferred bytes must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fixture {
    pub size: u64,
    /// Lowercase hex SHA-256.
    pub sha256: String,
}

impl Fixture {
    pub fn of(bytes: &[u8]) -> Fixture {
        Fixture { size: bytes.len() as u64, sha256: hex::encode(Sha256::digest(bytes)) }
    }
}

/// How long things may take.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// One HTTP request.
    pub request: Duration,
    /// Waiting for a negotiation or transfer to reach a state.
    pub state: Duration,
    /// One whole step.
    pub step: Duration,
    /// Between polls of a state.
    pub poll_interval: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            request: Duration::from_secs(10),
            state: Duration::from_secs(20),
            step: Duration::from_secs(60),
            poll_interval: Duration::from_millis(50),
        }
    }
}

/// Everything the scenario needs.
#[derive(Debug, Clone)]
pub struct ScenarioConfig {
    pub dataspace: DataSpaceInfo,
    /// The DSP URL the consumer is told to reach the provider at: the provider's own
    /// `dsp_url`, or a recording proxy in front of it.
    pub provider_dsp_url: String,
    /// Where the run's exchanges are recorded (recording proxies should share it).
    pub recorder: Recorder,
    pub schemas: SchemaSet,
    /// The bytes the asset's source serves, as size and digest.
    pub fixture: Fixture,
    /// The provider's backend URL the asset's data address points at.
    pub asset_source_url: String,
    pub protocol: ProtocolVersion,
    /// The bucket the S3 push writes into; created when missing.
    pub s3_bucket: String,
    pub timeouts: Timeouts,
    /// How the connectors see the network, when it differs from the harness's view.
    pub network: NetworkView,
}

/// The network as the connectors see it, when they run elsewhere (containers) and not every
/// URL means the same thing to them and to the harness. The default is one shared loopback.
#[derive(Debug, Clone, Default)]
pub struct NetworkView {
    /// The address the harness's own servers (the push sink) listen on and advertise, so that
    /// the provider can reach them; loopback when `None`.
    pub harness_host: Option<String>,
    /// The object store's URL as the provider reaches it; the harness's own when `None`.
    pub provider_object_store_url: Option<String>,
    /// Connector's view -> harness's view, for URLs a connector hands to the harness, such as
    /// an EDR endpoint naming a container.
    pub to_harness: UrlRewrite,
}

impl ScenarioConfig {
    /// A configuration with a fresh recorder, the embedded 2025-1 schemas, the provider's own
    /// DSP URL and default timeouts.
    pub fn new(dataspace: DataSpaceInfo, asset_source_url: &str, fixture: Fixture) -> ScenarioConfig {
        ScenarioConfig {
            provider_dsp_url: dataspace.provider.dsp_url.clone(),
            dataspace,
            recorder: Recorder::new(),
            schemas: SchemaSet::embedded_2025_1(),
            fixture,
            asset_source_url: asset_source_url.to_string(),
            protocol: ProtocolVersion::V2025_1,
            s3_bucket: "carbon-emissions".to_string(),
            timeouts: Timeouts::default(),
            network: NetworkView::default(),
        }
    }
}

/// Runs the scenario, emitting events as it goes, and returns one report per step.
pub async fn run_scenario(config: ScenarioConfig, mut events: impl FnMut(RunEvent)) -> Vec<CaseReport> {
    events(RunEvent::RunStarted { total_cases: CASES.len() });
    let mut run = Run::new(config);
    let mut reports: Vec<CaseReport> = Vec::new();
    for case in CASES {
        events(RunEvent::CaseStarted { id: case.id.to_string(), title: case.title.to_string() });
        let report = match case.requires.iter().find(|id| run.verdicts.get(**id) != Some(&Verdict::Pass)) {
            Some(missing) => skipped(&case, format!("prerequisite {missing} did not pass")),
            None => run.step(&case).await,
        };
        run.verdicts.insert(case.id, report.verdict);
        events(RunEvent::CaseFinished(Box::new(report.clone())));
        reports.push(report);
    }
    events(RunEvent::RunFinished);
    reports
}

/// Identifiers the steps create and hand on.
#[derive(Debug, Default)]
struct Progress {
    asset_id: String,
    policy_id: String,
    contract_definition_id: String,
    offer: Option<Value>,
    negotiation_id: Option<String>,
    agreement_id: Option<String>,
    pull: Option<String>,
    push: Option<String>,
    s3: Option<String>,
}

struct Run {
    cfg: ScenarioConfig,
    client: RecordingClient,
    provider: ManagementClient,
    consumer: ManagementClient,
    progress: Progress,
    verdicts: BTreeMap<&'static str, Verdict>,
    /// Every exchange attached to a case so far, with that case's id, for the schema step.
    seen: Vec<(&'static str, Exchange)>,
}

/// How a step ended, apart from its findings.
enum Outcome {
    /// The step ran; its findings decide pass or fail.
    Done,
    /// The step could not be judged (the harness could not set something up).
    Error(String),
}

/// Findings and sub-steps collected while a step runs.
#[derive(Default)]
struct Ctx {
    /// Each finding with the `seq` of the exchange it refers to.
    findings: Vec<(Finding, Option<u64>)>,
    /// Sub-steps: name, duration, verdict override, and the range of findings raised in them.
    steps: Vec<(String, u64, Option<Verdict>, std::ops::Range<usize>)>,
    current: Option<(String, Instant, usize)>,
}

impl Ctx {
    fn begin(&mut self, name: impl Into<String>) {
        self.end();
        self.current = Some((name.into(), Instant::now(), self.findings.len()));
    }

    fn end(&mut self) {
        if let Some((name, started, first)) = self.current.take() {
            self.steps.push((name, started.elapsed().as_millis() as u64, None, first..self.findings.len()));
        }
    }

    /// A sub-step that did not run, with why.
    fn skip(&mut self, name: impl Into<String>) {
        self.end();
        let at = self.findings.len();
        self.steps.push((name.into(), 0, Some(Verdict::Skip), at..at));
    }

    fn add(&mut self, finding: Finding, seq: Option<u64>) {
        self.findings.push((finding, seq));
    }

    /// Records a failed call as a finding.
    fn failed(&mut self, what: &str, error: &TargetError) {
        let finding = Finding::new(error.kind(), format!("{what}: {error}"));
        let finding = match error {
            TargetError::Status { status, .. } => finding.expected("a 2xx answer", status.to_string()),
            TargetError::UnexpectedState { wanted, actual, .. } => finding.expected(wanted.join(" or "), actual.clone()),
            TargetError::WaitTimeout { wanted, last, after_ms, .. } => finding.expected(
                format!("{} within {after_ms} ms", wanted.join(" or ")),
                last.clone().unwrap_or_else(|| "no state".to_string()),
            ),
            _ => finding,
        };
        self.add(finding, error.exchange());
    }

    /// The call's value, or `None` after recording why there is none.
    fn check<T>(&mut self, what: &str, result: Result<T, TargetError>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                self.failed(what, &error);
                None
            }
        }
    }

    /// Adds a finding unless `actual` is `expected`; true when they are equal.
    fn expect_eq(&mut self, kind: &str, message: &str, expected: &str, actual: &str, seq: Option<u64>) -> bool {
        if expected == actual {
            return true;
        }
        self.add(Finding::new(kind, message).expected(expected, actual), seq);
        false
    }
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn case_report(case: &ScenarioCase, verdict: Verdict, reason: Option<String>) -> CaseReport {
    CaseReport {
        id: case.id.to_string(),
        title: case.title.to_string(),
        suite: SUITE.to_string(),
        area: AREA.to_string(),
        level: Level::Must,
        role: Role::Both,
        spec: case.spec.to_string(),
        tck_id: None,
        tags: vec!["mvds".to_string(), "carbon-emissions".to_string()],
        verdict,
        reason,
        findings: Vec::new(),
        steps: Vec::new(),
        started_at: now_rfc3339(),
        duration_ms: 0,
        exchanges: Vec::new(),
        logs: Vec::new(),
        dsp_version: Some(crate::protocol::ProtocolVersion::V2025_1.as_str().to_string()),
    }
}

fn skipped(case: &ScenarioCase, reason: String) -> CaseReport {
    case_report(case, Verdict::Skip, Some(reason))
}

/// The finding a schema violation of an exchange becomes.
fn schema_finding(exchange: &Exchange, violation: &crate::report::model::Violation) -> Finding {
    let at = if violation.instance_path.is_empty() { "the top level".to_string() } else { violation.instance_path.clone() };
    Finding::new(
        "schema",
        format!(
            "the {} of {} {} ({} -> {}) breaks the {} schema at {}: {}",
            violation.part, exchange.method, exchange.url, exchange.from, exchange.to, violation.schema, at, violation.message
        ),
    )
}

impl Run {
    fn new(cfg: ScenarioConfig) -> Run {
        let client = RecordingClient::new(cfg.recorder.clone(), cfg.schemas.clone(), cfg.timeouts.request);
        let provider = ManagementClient::for_connector("provider", &cfg.dataspace.provider, client.clone()).with_poll_interval(cfg.timeouts.poll_interval);
        let consumer = ManagementClient::for_connector("consumer", &cfg.dataspace.consumer, client.clone()).with_poll_interval(cfg.timeouts.poll_interval);
        let run_id = uuid::Uuid::new_v4();
        let progress = Progress {
            asset_id: format!("carbon-emissions-{run_id}"),
            policy_id: format!("carbon-emissions-use-{run_id}"),
            contract_definition_id: format!("carbon-emissions-contract-{run_id}"),
            ..Progress::default()
        };
        Run { cfg, client, provider, consumer, progress, verdicts: BTreeMap::new(), seen: Vec::new() }
    }

    fn protocol(&self) -> &'static str {
        self.cfg.protocol.edc_protocol()
    }

    fn provider_id(&self) -> String {
        self.cfg.dataspace.provider.participant_id.clone()
    }

    async fn step(&mut self, case: &ScenarioCase) -> CaseReport {
        let started_at = now_rfc3339();
        let started = Instant::now();
        let mut ctx = Ctx::default();
        let limit = self.cfg.timeouts.step;
        let outcome = {
            let body: std::pin::Pin<Box<dyn Future<Output = Outcome> + Send + '_>> = match case.id {
                REGISTER => Box::pin(self.register(&mut ctx)),
                CATALOG => Box::pin(self.catalog(&mut ctx)),
                NEGOTIATE => Box::pin(self.negotiate(&mut ctx)),
                PULL => Box::pin(self.pull(&mut ctx)),
                PUSH => Box::pin(self.push(&mut ctx)),
                S3 => Box::pin(self.s3(&mut ctx)),
                COMPLETION => Box::pin(self.completion(&mut ctx)),
                _ => Box::pin(async { Outcome::Done }),
            };
            tokio::time::timeout(limit, body).await
        };
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(_) => {
                ctx.add(
                    Finding::new("timeout", format!("the step did not finish within {} ms", limit.as_millis()))
                        .expected(format!("done within {} ms", limit.as_millis()), "still running"),
                    None,
                );
                Outcome::Done
            }
        };
        let mut report = if case.id == SCHEMA { self.schema(&mut ctx, case) } else { self.finish(case, ctx, outcome) };
        report.started_at = started_at;
        report.duration_ms = started.elapsed().as_millis() as u64;
        report
    }

    /// Attaches the step's exchanges and turns its findings into a report.
    fn finish(&mut self, case: &ScenarioCase, mut ctx: Ctx, outcome: Outcome) -> CaseReport {
        ctx.end();
        let exchanges = self.cfg.recorder.drain();
        let index: HashMap<u64, usize> = exchanges.iter().enumerate().map(|(i, e)| (e.seq, i)).collect();
        let resolve = |(finding, seq): &(Finding, Option<u64>)| match seq.and_then(|s| index.get(&s)) {
            Some(i) => finding.clone().at(*i),
            None => finding.clone(),
        };
        let mut findings: Vec<Finding> = ctx.findings.iter().map(resolve).collect();
        let steps: Vec<StepReport> = ctx
            .steps
            .iter()
            .map(|(name, duration_ms, verdict, range)| {
                let step_findings: Vec<Finding> = ctx.findings[range.clone()].iter().map(resolve).collect();
                let verdict = verdict.unwrap_or(if step_findings.is_empty() { Verdict::Pass } else { Verdict::Fail });
                StepReport { name: name.clone(), verdict, duration_ms: *duration_ms, findings: step_findings }
            })
            .collect();
        for (i, exchange) in exchanges.iter().enumerate() {
            for violation in &exchange.violations {
                findings.push(schema_finding(exchange, violation).at(i));
            }
        }
        let (verdict, reason) = match outcome {
            Outcome::Error(reason) => (Verdict::Error, Some(reason)),
            Outcome::Done if findings.is_empty() => (Verdict::Pass, None),
            Outcome::Done => (Verdict::Fail, None),
        };
        self.seen.extend(exchanges.iter().cloned().map(|e| (case.id, e)));
        let mut report = case_report(case, verdict, reason);
        report.findings = findings;
        report.steps = steps;
        report.exchanges = exchanges;
        report
    }

    // -- 01 register ------------------------------------------------------------------------

    async fn register(&mut self, ctx: &mut Ctx) -> Outcome {
        let p = &self.progress;
        ctx.begin("create the carbon-emissions asset");
        let properties = json!({
            "name": "Carbon emissions of freight vehicles",
            "description": "Emission intensities (g CO2e per tonne-km, well-to-wheel) by vehicle class, shared by company X",
            "contenttype": "application/json",
        });
        let data_address = json!({ "@type": "DataAddress", "type": "HttpData", "baseUrl": self.cfg.asset_source_url });
        if let Some(id) = ctx.check("create the asset", self.provider.create_asset(&p.asset_id, properties, data_address).await) {
            ctx.expect_eq("identifier", "the asset id the management API answered", &p.asset_id, &id, None);
        }
        ctx.begin("create the use policy");
        // Participation in the data space is established by the DAPS token every DSP request
        // carries, so the policy itself grants `use` without further constraints.
        let policy = json!({ "@context": ODRL_CONTEXT, "@type": "Set", "permission": [{ "action": "use" }] });
        if let Some(id) = ctx.check("create the policy definition", self.provider.create_policy_definition(&p.policy_id, policy).await) {
            ctx.expect_eq("identifier", "the policy definition id the management API answered", &p.policy_id, &id, None);
        }
        ctx.begin("create the contract definition");
        let created = self
            .provider
            .create_contract_definition(&p.contract_definition_id, &p.policy_id, &p.policy_id, asset_selector(&p.asset_id))
            .await;
        if let Some(id) = ctx.check("create the contract definition", created) {
            ctx.expect_eq("identifier", "the contract definition id the management API answered", &p.contract_definition_id, &id, None);
        }
        Outcome::Done
    }

    // -- 02 catalog -------------------------------------------------------------------------

    async fn catalog(&mut self, ctx: &mut Ctx) -> Outcome {
        let provider_id = self.provider_id();
        let asset_id = self.progress.asset_id.clone();
        ctx.begin("request the provider's catalog through the consumer");
        let answer = self.consumer.request_catalog(&self.cfg.provider_dsp_url, &provider_id, self.protocol(), None).await;
        let Some(catalog) = ctx.check("request the catalog", answer) else { return Outcome::Done };
        if let Some(participant) = lenient::get_str(&catalog.value, "participantId") {
            ctx.expect_eq("identifier", "the catalog's participantId", &provider_id, participant, Some(catalog.exchange));
        }
        let all = datasets(&catalog.value);
        let Some(dataset) = all.iter().find(|d| lenient::id(d) == Some(asset_id.as_str())) else {
            let ids: Vec<&str> = all.iter().filter_map(|d| lenient::id(d)).collect();
            ctx.add(
                Finding::new("body", "the catalog does not list the carbon-emissions dataset")
                    .expected(format!("a dataset with @id {asset_id}"), format!("datasets {ids:?}")),
                Some(catalog.exchange),
            );
            return Outcome::Done;
        };
        let offers = lenient::list(dataset, "hasPolicy");
        let offer = offers.iter().find(|o| lenient::list(o, "permission").iter().any(|r| lenient::action(r).as_deref() == Some("use"))).copied();
        let Some(offer) = offer else {
            ctx.add(
                Finding::new("body", "the dataset has no offer granting `use`")
                    .expected("a hasPolicy offer with a `use` permission", serde_json::to_string(&lenient::get(dataset, "hasPolicy")).unwrap_or_default()),
                Some(catalog.exchange),
            );
            return Outcome::Done;
        };
        if lenient::id(offer).is_none_or(str::is_empty) {
            ctx.add(Finding::new("identifier", "the offer has no @id to negotiate with").expected("an @id", offer.to_string()), Some(catalog.exchange));
            return Outcome::Done;
        }
        self.progress.offer = Some(offer.clone());

        ctx.begin("request the dataset by id through the consumer");
        let answer = self.consumer.request_dataset(&asset_id, &self.cfg.provider_dsp_url, &provider_id, self.protocol()).await;
        if let Some(dataset) = ctx.check("request the dataset", answer) {
            ctx.expect_eq("identifier", "the @id of the requested dataset", &asset_id, lenient::id(&dataset.value).unwrap_or("(none)"), Some(dataset.exchange));
        }
        Outcome::Done
    }

    // -- 03 negotiate -----------------------------------------------------------------------

    async fn negotiate(&mut self, ctx: &mut Ctx) -> Outcome {
        let provider_id = self.provider_id();
        let asset_id = self.progress.asset_id.clone();
        let Some(mut offer) = self.progress.offer.clone() else { return Outcome::Error("no offer from the catalog step".into()) };
        if let Some(object) = offer.as_object_mut() {
            object.entry("@type").or_insert_with(|| json!("Offer"));
            object.entry("target").or_insert_with(|| json!(asset_id));
            object.entry("assigner").or_insert_with(|| json!(provider_id));
        }
        ctx.begin("start the negotiation from the consumer");
        let started = self.consumer.initiate_negotiation(&self.cfg.provider_dsp_url, &provider_id, self.protocol(), &offer).await;
        let Some(negotiation_id) = ctx.check("start the negotiation", started) else { return Outcome::Done };
        self.progress.negotiation_id = Some(negotiation_id.clone());

        ctx.begin("wait until the consumer's negotiation is FINALIZED");
        let reached = self.consumer.wait_for_negotiation_state(&negotiation_id, &["FINALIZED"], self.cfg.timeouts.state).await;
        if ctx.check("wait for FINALIZED", reached).is_none() {
            return Outcome::Done;
        }

        ctx.begin("read the agreement on the consumer");
        let Some(agreement) = ctx.check("read the negotiation's agreement", self.consumer.negotiation_agreement(&negotiation_id).await) else {
            return Outcome::Done;
        };
        let Some(agreement_id) = lenient::id(&agreement.value).map(str::to_string) else {
            ctx.add(Finding::new("body", "the agreement has no @id").expected("an @id", agreement.value.to_string()), Some(agreement.exchange));
            return Outcome::Done;
        };
        if let Some(asset) = lenient::get_str(&agreement.value, "assetId") {
            ctx.expect_eq("body", "the asset the agreement covers", &asset_id, asset, Some(agreement.exchange));
        }
        if let Some(negotiation) = ctx.check("read the negotiation", self.consumer.get_negotiation(&negotiation_id).await) {
            match lenient::get_str(&negotiation.value, "contractAgreementId") {
                Some(id) => {
                    ctx.expect_eq("identifier", "the negotiation's contractAgreementId", &agreement_id, id, Some(negotiation.exchange));
                }
                None => ctx.add(
                    Finding::new("body", "the FINALIZED negotiation names no contractAgreementId").expected(agreement_id.clone(), "(none)"),
                    Some(negotiation.exchange),
                ),
            }
        }
        self.progress.agreement_id = Some(agreement_id.clone());

        ctx.begin("the provider knows the agreement");
        if let Some(agreement) = ctx.check("read the agreement on the provider", self.provider.get_agreement(&agreement_id).await) {
            ctx.expect_eq("identifier", "the provider's agreement @id", &agreement_id, lenient::id(&agreement.value).unwrap_or("(none)"), Some(agreement.exchange));
            if let Some(asset) = lenient::get_str(&agreement.value, "assetId") {
                ctx.expect_eq("body", "the asset the provider's agreement covers", &asset_id, asset, Some(agreement.exchange));
            }
        }

        ctx.begin("the provider's negotiation is FINALIZED");
        let wanted = agreement_id.clone();
        let seen = self.observe(Kind::Negotiations, move |n| lenient::get_str(n, "contractAgreementId") == Some(wanted.as_str()), "FINALIZED").await;
        judge_provider_view(ctx, "the provider's negotiation for the agreement", "FINALIZED", seen);
        Outcome::Done
    }

    // -- 04 pull ----------------------------------------------------------------------------

    async fn pull(&mut self, ctx: &mut Ctx) -> Outcome {
        let Some(agreement_id) = self.progress.agreement_id.clone() else { return Outcome::Error("no agreement from the negotiation step".into()) };
        ctx.begin("start an HttpData-PULL transfer");
        let started = self.consumer.initiate_transfer(&self.cfg.provider_dsp_url, &agreement_id, self.protocol(), "HttpData-PULL", None).await;
        let Some(transfer_id) = ctx.check("start the pull transfer", started) else { return Outcome::Done };
        self.progress.pull = Some(transfer_id.clone());

        ctx.begin("wait until the transfer is STARTED");
        let reached = self.consumer.wait_for_transfer_state(&transfer_id, &["STARTED"], self.cfg.timeouts.state).await;
        if ctx.check("wait for STARTED", reached).is_none() {
            return Outcome::Done;
        }

        ctx.begin("read the endpoint data reference");
        let Some(edr) = ctx.check("read the EDR", self.consumer.edr_data_address(&transfer_id).await) else { return Outcome::Done };
        let Some(token) = edr.value.authorization.clone() else {
            ctx.add(Finding::new("body", "the EDR carries no authorization token").expected("an authorization value", edr.value.raw.to_string()), Some(edr.exchange));
            return Outcome::Done;
        };

        ctx.begin("pull the data with the token");
        let endpoint = self.cfg.network.to_harness.apply(&edr.value.endpoint);
        let request = self.client.http().get(&endpoint).header(AUTHORIZATION, token).build();
        match request {
            Err(e) => ctx.add(Finding::new("body", format!("the EDR endpoint is not a usable URL: {e}")).expected("an http(s) URL", edr.value.endpoint.clone()), Some(edr.exchange)),
            Ok(request) => match self.client.download("harness", "provider-data-plane", request).await {
                Err(e) => ctx.add(Finding::new("transport", format!("pull the data: {e}")), e.exchange()),
                Ok(download) => {
                    if ctx.expect_eq("status", "the status of the pull", "200", download.status.as_str(), Some(download.seq)) {
                        self.judge_bytes(ctx, "pulled", download.size, &download.sha256, Some(download.seq));
                    }
                }
            },
        }

        ctx.begin("the same pull without the token is refused");
        if let Ok(request) = self.client.http().get(&endpoint).build() {
            match self.client.download("harness", "provider-data-plane", request).await {
                Err(e) => ctx.add(Finding::new("transport", format!("pull without the token: {e}")), e.exchange()),
                Ok(download) => {
                    let status = download.status.as_u16();
                    if status != 401 && status != 403 {
                        ctx.add(
                            Finding::new("status", "the data plane served a pull that carried no token").expected("401 or 403", status.to_string()),
                            Some(download.seq),
                        );
                    }
                }
            }
        }
        Outcome::Done
    }

    // -- 05 push ----------------------------------------------------------------------------

    async fn push(&mut self, ctx: &mut Ctx) -> Outcome {
        let Some(agreement_id) = self.progress.agreement_id.clone() else { return Outcome::Error("no agreement from the negotiation step".into()) };
        let sink = match Sink::start_on(self.cfg.network.harness_host.as_deref().unwrap_or("127.0.0.1"), self.cfg.recorder.clone(), "provider-data-plane", "consumer-backend").await {
            Ok(sink) => sink,
            Err(e) => return Outcome::Error(format!("cannot start the consumer backend: {e}")),
        };
        ctx.begin("start an HttpData-PUSH transfer to the consumer's backend");
        let destination = json!({ "type": "HttpData", "baseUrl": format!("{}/carbon-emissions", sink.url()) });
        let started = self.consumer.initiate_transfer(&self.cfg.provider_dsp_url, &agreement_id, self.protocol(), "HttpData-PUSH", Some(destination)).await;
        let Some(transfer_id) = ctx.check("start the push transfer", started) else {
            sink.stop().await;
            return Outcome::Done;
        };
        self.progress.push = Some(transfer_id.clone());

        ctx.begin("wait until the transfer is COMPLETED");
        let completed = self.consumer.wait_for_transfer_state(&transfer_id, &["COMPLETED"], self.cfg.timeouts.state).await;
        let completed = ctx.check("wait for COMPLETED", completed).is_some();

        ctx.begin("the backend received the data");
        // The push may land a moment before or after the state changes; give it the same time.
        let wait = if completed { self.cfg.timeouts.state } else { Duration::from_millis(200) };
        let deliveries = sink.wait_for(1, wait).await;
        sink.stop().await;
        self.judge_deliveries(ctx, &deliveries);
        Outcome::Done
    }

    fn judge_deliveries(&self, ctx: &mut Ctx, deliveries: &[crate::recording::sink::Delivery]) {
        let Some(last) = deliveries.last() else {
            ctx.add(Finding::new("transfer", "nothing was pushed to the consumer's backend").expected("one push of the data", "none"), None);
            return;
        };
        if deliveries.len() > 1 {
            ctx.add(Finding::new("transfer", "the data was pushed more than once").expected("1 push", format!("{} pushes", deliveries.len())), None);
        }
        if let Some(error) = &last.error {
            ctx.add(Finding::new("transport", format!("the push broke off: {error}")), None);
            return;
        }
        self.judge_bytes(ctx, "pushed", last.size, &last.sha256, None);
    }

    // -- 06 s3 ------------------------------------------------------------------------------

    async fn s3(&mut self, ctx: &mut Ctx) -> Outcome {
        let Some(agreement_id) = self.progress.agreement_id.clone() else { return Outcome::Error("no agreement from the negotiation step".into()) };
        let store = self.cfg.dataspace.object_store.clone();
        let bucket = self.cfg.s3_bucket.clone();
        let key = format!("{}.json", self.progress.asset_id);
        let s3 = s3_client(&store.url, &store.access_key, &store.secret_key, &store.region);

        ctx.begin("prepare the consumer's bucket");
        if let Err(e) = ensure_bucket(&s3, &bucket, &store.region).await {
            return Outcome::Error(format!("cannot prepare the bucket {bucket} at {}: {e}", store.url));
        }

        ctx.begin("start an AmazonS3-PUSH transfer into the bucket");
        let destination = json!({
            "type": "AmazonS3",
            "bucketName": bucket,
            "keyName": key,
            "region": store.region,
            "endpointOverride": self.cfg.network.provider_object_store_url.clone().unwrap_or_else(|| store.url.clone()),
            "accessKeyId": store.access_key,
            "secretAccessKey": store.secret_key,
        });
        let started = self.consumer.initiate_transfer(&self.cfg.provider_dsp_url, &agreement_id, self.protocol(), "AmazonS3-PUSH", Some(destination)).await;
        let Some(transfer_id) = ctx.check("start the S3 transfer", started) else { return Outcome::Done };
        self.progress.s3 = Some(transfer_id.clone());

        ctx.begin("wait until the transfer is COMPLETED");
        let completed = self.consumer.wait_for_transfer_state(&transfer_id, &["COMPLETED"], self.cfg.timeouts.state).await;
        if ctx.check("wait for COMPLETED", completed).is_none() {
            return Outcome::Done;
        }

        ctx.begin("read the object back");
        match read_object(&s3, &bucket, &key).await {
            Ok((size, sha256)) => self.judge_bytes(ctx, "written to S3", size, &sha256, None),
            Err(e) => ctx.add(Finding::new("transfer", format!("the object {bucket}/{key} cannot be read: {e}")).expected("the pushed object", "no object"), None),
        }
        Outcome::Done
    }

    fn judge_bytes(&self, ctx: &mut Ctx, how: &str, size: u64, sha256: &str, seq: Option<u64>) {
        let fixture = &self.cfg.fixture;
        if sha256 != fixture.sha256 {
            ctx.add(
                Finding::new("digest", format!("the {how} bytes differ from the asset's source"))
                    .expected(format!("{} bytes with SHA-256 {}", fixture.size, fixture.sha256), format!("{size} bytes with SHA-256 {sha256}")),
                seq,
            );
        }
    }

    // -- 07 completion ----------------------------------------------------------------------

    async fn completion(&mut self, ctx: &mut Ctx) -> Outcome {
        let (Some(negotiation_id), Some(agreement_id), Some(pull)) =
            (self.progress.negotiation_id.clone(), self.progress.agreement_id.clone(), self.progress.pull.clone())
        else {
            return Outcome::Error("no negotiation or pull transfer from the earlier steps".into());
        };
        ctx.begin("complete the pull transfer from the consumer");
        // A consumer done with a pull sends a TransferCompletionMessage. Management APIs that
        // cannot ask for that (EDC's) leave terminating as the way to end it.
        let pull_final = match self.consumer.complete_transfer(&pull).await {
            Err(TargetError::Status { status: 404 | 405 | 501, .. }) => {
                let ended = self.consumer.terminate_transfer(&pull, "the carbon-emissions scenario is done").await;
                ctx.check("terminate the pull transfer", ended);
                "TERMINATED"
            }
            completed => {
                ctx.check("complete the pull transfer", completed);
                "COMPLETED"
            }
        };
        let reached = self.consumer.wait_for_transfer_state(&pull, &[pull_final], self.cfg.timeouts.state).await;
        ctx.check(&format!("wait for {pull_final}"), reached);

        // Which final state each process should be in; transfers whose own step did not pass
        // already have their findings there and are not judged again.
        let mut transfers: Vec<(&'static str, String, &'static str)> = vec![("pull transfer", pull, pull_final)];
        for (case, id, name) in [(PUSH, &self.progress.push, "push transfer"), (S3, &self.progress.s3, "S3 transfer")] {
            match id {
                Some(id) if self.verdicts.get(case) == Some(&Verdict::Pass) => transfers.push((name, id.clone(), "COMPLETED")),
                _ => ctx.skip(format!("{name} not judged: {case} did not pass")),
            }
        }

        ctx.begin("the consumer's final states");
        if let Some(state) = ctx.check("read the negotiation state", self.consumer.negotiation_state(&negotiation_id).await) {
            ctx.expect_eq("state", "the consumer's negotiation", "FINALIZED", &state.value, Some(state.exchange));
        }
        let mut consumer_pids: Vec<Option<String>> = Vec::new();
        for (name, id, wanted) in &transfers {
            if let Some(state) = ctx.check(&format!("read the {name}'s state"), self.consumer.transfer_state(id).await) {
                ctx.expect_eq("state", &format!("the consumer's {name}"), wanted, &state.value, Some(state.exchange));
            }
            let doc = self.consumer.get_transfer(id).await.ok();
            consumer_pids.push(doc.and_then(|d| lenient::get_str(&d.value, "consumerPid").map(str::to_string)));
        }

        ctx.begin("the provider's final states");
        let wanted = agreement_id.clone();
        let seen = self.observe(Kind::Negotiations, move |n| lenient::get_str(n, "contractAgreementId") == Some(wanted.as_str()), "FINALIZED").await;
        judge_provider_view(ctx, "the provider's negotiation", "FINALIZED", seen);
        for ((name, id, wanted), consumer_pid) in transfers.iter().zip(consumer_pids) {
            let consumer_id = id.clone();
            let matches = move |t: &Value| {
                let pid = lenient::get_str(t, "consumerPid");
                let correlation = lenient::get_str(t, "correlationId");
                let side_ok = lenient::get_str(t, "type").is_none_or(|side| !side.eq_ignore_ascii_case("CONSUMER"));
                side_ok && (pid.is_some() && pid == consumer_pid.as_deref() || pid == Some(consumer_id.as_str()) || correlation == Some(consumer_id.as_str()))
            };
            let seen = self.observe(Kind::Transfers, matches, wanted).await;
            judge_provider_view(ctx, &format!("the provider's {name}"), wanted, seen);
        }
        Outcome::Done
    }

    /// Polls the provider's management API until the process `matches` picks is in `wanted`,
    /// or the state timeout passes, and says what it saw.
    async fn observe(&self, kind: Kind, matches: impl Fn(&Value) -> bool, wanted: &str) -> Seen {
        let deadline = Instant::now() + self.cfg.timeouts.state;
        let mut last = Seen::Missing { exchange: None };
        loop {
            let answer = match kind {
                Kind::Negotiations => self.provider.query_negotiations(None).await,
                Kind::Transfers => self.provider.query_transfers(None).await,
            };
            let now = match answer {
                Err(TargetError::Status { status: status @ (404 | 405 | 501), .. }) => {
                    return Seen::Unobservable(format!("the provider's management API answers {status} to the query"));
                }
                Err(error) => return Seen::Failed(error),
                Ok(list) => match list.value.iter().find(|item| matches(item)) {
                    None => Seen::Missing { exchange: Some(list.exchange) },
                    Some(item) => {
                        let state = lenient::get_str(item, "state").map(lenient::state_name).unwrap_or_else(|| "(no state)".to_string());
                        Seen::State { state, exchange: list.exchange }
                    }
                },
            };
            if let Seen::State { state, .. } = &now {
                if state == wanted {
                    return now;
                }
            }
            // Repeated identical answers add nothing to the report.
            if now.same_as(&last) {
                if let Some(seq) = last.exchange() {
                    self.client.recorder().discard(seq);
                }
            }
            last = now;
            if Instant::now() + self.cfg.timeouts.poll_interval > deadline {
                return last;
            }
            tokio::time::sleep(self.cfg.timeouts.poll_interval).await;
        }
    }

    // -- 08 schema --------------------------------------------------------------------------

    fn schema(&mut self, ctx: &mut Ctx, case: &ScenarioCase) -> CaseReport {
        ctx.end();
        let exchanges = self.cfg.recorder.drain();
        let mut report = case_report(case, Verdict::Pass, None);
        let mut findings = Vec::new();
        let mut messages = 0usize;
        for (owner, exchange) in self.seen.iter().map(|(id, e)| (*id, e)).chain(exchanges.iter().map(|e| (case.id, e))) {
            if exchange.request_type.is_some() || exchange.response_type.is_some() || !exchange.violations.is_empty() {
                messages += 1;
            }
            for violation in &exchange.violations {
                let mut finding = schema_finding(exchange, violation);
                if owner == case.id {
                    if let Some(i) = exchanges.iter().position(|e| e.seq == exchange.seq) {
                        finding = finding.at(i);
                    }
                } else {
                    finding.message = format!("{} (exchange seq {} of {owner})", finding.message, exchange.seq);
                }
                findings.push(finding);
            }
        }
        if messages == 0 {
            report.verdict = Verdict::Skip;
            report.reason =
                Some("no DSP message was recorded: the connectors talked without a recording proxy between them".to_string());
        } else if !findings.is_empty() {
            report.verdict = Verdict::Fail;
        }
        report.steps = vec![StepReport {
            name: format!("validate {messages} recorded DSP exchanges"),
            verdict: report.verdict,
            duration_ms: 0,
            findings: findings.clone(),
        }];
        report.findings = findings;
        report.exchanges = exchanges;
        report
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Negotiations,
    Transfers,
}

/// What the provider's management API showed of a process.
enum Seen {
    /// The API offers no such query: the provider's side cannot be judged.
    Unobservable(String),
    Failed(TargetError),
    Missing { exchange: Option<u64> },
    State { state: String, exchange: u64 },
}

impl Seen {
    fn exchange(&self) -> Option<u64> {
        match self {
            Seen::Missing { exchange } => *exchange,
            Seen::State { exchange, .. } => Some(*exchange),
            Seen::Unobservable(_) | Seen::Failed(_) => None,
        }
    }

    fn same_as(&self, other: &Seen) -> bool {
        match (self, other) {
            (Seen::Missing { .. }, Seen::Missing { exchange: Some(_) }) => true,
            (Seen::State { state: a, .. }, Seen::State { state: b, .. }) => a == b,
            _ => false,
        }
    }
}

fn judge_provider_view(ctx: &mut Ctx, what: &str, wanted: &str, seen: Seen) {
    match seen {
        Seen::Unobservable(why) => ctx.skip(format!("{what} not observable: {why}")),
        Seen::Failed(error) => ctx.failed(&format!("query {what}"), &error),
        Seen::Missing { exchange } => {
            ctx.add(Finding::new("state", format!("{what} is not in the provider's list")).expected(wanted, "(not found)"), exchange);
        }
        Seen::State { state, exchange } => {
            ctx.expect_eq("state", what, wanted, &state, Some(exchange));
        }
    }
}

/// Every dataset of a catalog, including those of nested catalogs.
fn datasets(catalog: &Value) -> Vec<&Value> {
    let mut found = lenient::list(catalog, "dataset");
    for nested in lenient::list(catalog, "catalog") {
        found.extend(datasets(nested));
    }
    found
}

async fn ensure_bucket(client: &aws_sdk_s3::Client, bucket: &str, region: &str) -> Result<(), String> {
    let mut request = client.create_bucket().bucket(bucket);
    // Outside us-east-1, S3 wants the region restated in the request body.
    if region != "us-east-1" {
        let location = aws_sdk_s3::types::BucketLocationConstraint::from(region);
        request = request.create_bucket_configuration(aws_sdk_s3::types::CreateBucketConfiguration::builder().location_constraint(location).build());
    }
    match request.send().await {
        Ok(_) => Ok(()),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_bucket_already_owned_by_you() || s.is_bucket_already_exists()) => Ok(()),
        Err(e) => Err(aws_sdk_s3::error::DisplayErrorContext(e).to_string()),
    }
}

/// Size and SHA-256 of an object, read as a stream.
async fn read_object(client: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Result<(u64, String), String> {
    let output = client.get_object().bucket(bucket).key(key).send().await.map_err(|e| aws_sdk_s3::error::DisplayErrorContext(e).to_string())?;
    let mut body = output.body;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    while let Some(chunk) = body.try_next().await.map_err(|e| e.to_string())? {
        hasher.update(&chunk);
        size += chunk.len() as u64;
    }
    Ok((size, hex::encode(hasher.finalize())))
}

/// Case ids and titles of the scenario, for listing.
pub fn case_list() -> Vec<(&'static str, &'static str)> {
    CASES.iter().map(|c| (c.id, c.title)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_prerequisite_runs_earlier() {
        for (i, case) in CASES.iter().enumerate() {
            for required in case.requires {
                let position = CASES.iter().position(|c| c.id == *required).expect("known id");
                assert!(position < i, "{} requires {required}, which runs later", case.id);
            }
        }
    }

    #[test]
    fn nested_catalog_datasets_are_found() {
        let catalog = json!({"dcat:dataset": {"@id": "a"}, "catalog": [{"dataset": [{"@id": "b"}]}]});
        let ids: Vec<&str> = datasets(&catalog).into_iter().filter_map(lenient::id).collect();
        assert_eq!(ids, vec!["a", "b"]);
    }

    #[test]
    fn sub_steps_collect_their_own_findings() {
        let mut ctx = Ctx::default();
        ctx.begin("one");
        ctx.begin("two");
        ctx.expect_eq("state", "x", "A", "B", Some(7));
        ctx.skip("three");
        ctx.end();
        assert_eq!(ctx.steps.len(), 3);
        assert_eq!(ctx.steps[0].3, 0..0);
        assert_eq!(ctx.steps[1].3, 0..1);
        assert_eq!(ctx.steps[2].2, Some(Verdict::Skip));
        assert_eq!(ctx.findings[0].0.expected.as_deref(), Some("A"));
    }
}
