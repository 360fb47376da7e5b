//! Running the suites: select the cases, prepare the target, run each case in its own task
//! with its own recorder, mailbox and timeout, and turn each outcome into a [`CaseReport`]
//! with the exchanges recorded during the case. A case that hangs or panics costs that case
//! (verdict error), never the run.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::sync::mpsc;

use super::callback::CallbackHub;
use super::context::{CaseContext, CaseOutcome, CheckFn, ContextParts, Fixtures, HarnessIdentity};
use super::registry;
use super::setup;
use super::target::{ConnectorUnderTest, Timing};
use super::tokens::TokenSource;
use crate::report::model::{CaseReport, Exchange, Finding, Role, RunEvent, Verdict};
use crate::runner::interrupt::{self, Interrupt};
use crate::runner::RunnerError;
use crate::recording::{Recorder, RecordingClient};
use crate::schema::SchemaSet;
use crate::suite::{Case, Filter, SuiteError};

/// Everything a conformance run needs.
pub struct ConformanceConfig {
    /// The connector under test in the provider role; provider cases skip without one.
    pub provider: Option<ConnectorUnderTest>,
    /// The connector under test in the consumer role; consumer cases skip without one.
    pub consumer: Option<ConnectorUnderTest>,
    pub tokens: TokenSource,
    pub identity: HarnessIdentity,
    pub filter: Filter,
    pub timing: Timing,
    pub schemas: SchemaSet,
    /// How many cases run at once.
    pub concurrency: usize,
    /// The HTTP client for the connectors under test (trusting a target's own CA, if any).
    pub http: reqwest::Client,
}

/// What stops a run before any case ran.
#[derive(Debug, thiserror::Error)]
pub enum ConformanceError {
    #[error(transparent)]
    Suite(#[from] SuiteError),
    #[error(transparent)]
    Runner(#[from] RunnerError),
}

/// Runs every case the config's filter selects, as a whole run: `RunStarted`, a
/// `CaseStarted` and `CaseFinished` per case, `RunFinished`. Returns the reports in suite order.
pub async fn run_conformance(config: ConformanceConfig, mut events: impl FnMut(RunEvent)) -> Result<Vec<CaseReport>, ConformanceError> {
    let selected = selected_cases(&config.filter)?;
    events(RunEvent::RunStarted { total_cases: selected.len() });
    let reports = run_cases(config, selected, &mut events).await;
    events(RunEvent::RunFinished);
    reports
}

/// The shipped cases `filter` selects, in suite order.
pub fn selected_cases(filter: &Filter) -> Result<Vec<Case>, SuiteError> {
    let cases = crate::suite::all_cases()?;
    Ok(filter.select(&cases).into_iter().cloned().collect())
}

/// Runs the given cases (already selected; `config.filter` is not applied again) and returns
/// their reports in the given order. Emits only `CaseStarted` and `CaseFinished`, so a caller
/// that also runs other things (the carbon-emissions scenario) frames the run itself.
pub async fn run_cases(config: ConformanceConfig, cases: Vec<Case>, events: &mut dyn FnMut(RunEvent)) -> Result<Vec<CaseReport>, ConformanceError> {
    run_cases_until(config, cases, events, &Interrupt::new()).await
}

/// [`run_cases`] that stops when `interrupt` is triggered: no case starts after it, running
/// cases get the grace period, and every case that did not finish is reported as skipped
/// with an `interrupted` reason, so the reports still cover every case.
pub async fn run_cases_until(
    config: ConformanceConfig,
    cases: Vec<Case>,
    events: &mut dyn FnMut(RunEvent),
    interrupt: &Interrupt,
) -> Result<Vec<CaseReport>, ConformanceError> {
    let hub = Arc::new(CallbackHub::start(&config.identity.callback).await?);
    let mut config = config;
    if let Some(cut) = config.provider.as_mut() {
        serve_asset_data(cut, &hub);
    }
    let checks = registry::all();
    let run_id = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
    let tokens = Arc::new(config.tokens);
    let identity = Arc::new(config.identity);

    // The offer provider cases negotiate for is prepared once, and only when needed.
    let wants_offer = cases.iter().any(|c| c.role == Role::Provider);
    let provider_fixtures = match (&config.provider, wants_offer) {
        (Some(cut), true) => {
            let client = RecordingClient::with_http(config.http.clone(), Recorder::new(), schemas_of(&config.schemas, Some(cut)), config.timing.wait);
            tokio::select! {
                fixtures = setup::prepare_provider(cut, &client, &tokens, &run_id) => Arc::new(fixtures),
                // No case will start, so nothing needs the offer.
                _ = interrupt.triggered() => Arc::new(Fixtures::default()),
            }
        }
        _ => Arc::new(Fixtures::default()),
    };
    // Every report names the version its case ran in (the run's connectors speak one).
    let run_version = config.provider.as_ref().or(config.consumer.as_ref()).map(|c| c.version.as_str().to_string());
    let provider = config.provider.map(Arc::new);
    let consumer = config.consumer.map(Arc::new);

    let (tx, mut rx) = mpsc::unbounded_channel::<RunEvent>();
    let order: BTreeMap<String, usize> = cases.iter().enumerate().map(|(i, c)| (c.id.to_string(), i)).collect();
    let jobs = cases.into_iter().map(|case| {
        let connector = match case.role {
            Role::Consumer => consumer.clone(),
            _ => provider.clone(),
        };
        let job = Job {
            check: checks.get(case.check.as_str()).copied(),
            case,
            tokens: tokens.clone(),
            identity: identity.clone(),
            hub: hub.clone(),
            fixtures: provider_fixtures.clone(),
            timing: config.timing,
            schemas: schemas_of(&config.schemas, connector.as_deref()),
            connector,
            http: config.http.clone(),
            events: tx.clone(),
            interrupt: interrupt.clone(),
            version: run_version.clone(),
        };
        job.run()
    });
    let jobs: Vec<_> = jobs.collect();
    drop(tx);
    let mut running = futures::stream::iter(jobs).buffer_unordered(config.concurrency.max(1));
    let mut reports = Vec::new();
    let mut finished = false;
    while !finished {
        tokio::select! {
            next = running.next() => match next {
                Some(report) => reports.push(report),
                None => finished = true,
            },
            Some(event) = rx.recv() => events(event),
        }
    }
    while let Ok(event) = rx.try_recv() {
        events(event);
    }
    reports.sort_by_key(|r| order.get(&r.id).copied().unwrap_or(usize::MAX));
    Ok(reports)
}

/// The schemas a case's messages are validated against: the run's set (embedded or the user's
/// `--schemas`) for 2025-1, the version's own set otherwise.
fn schemas_of(run: &SchemaSet, connector: Option<&ConnectorUnderTest>) -> Option<SchemaSet> {
    match connector.map(|c| c.version) {
        None | Some(crate::protocol::ProtocolVersion::V2025_1) => Some(run.clone()),
        Some(other) => crate::runner::wire::schemas_for(other),
    }
}

/// When the harness registers its own asset and nothing names where its data lives, the data
/// is the carbon-emissions fixture served by the harness's own callback server, at the host
/// the connector is told to reach the harness on. An asset whose data lives nowhere would make
/// every pull fail, and the failure would be blamed on the connector.
fn serve_asset_data(cut: &mut ConnectorUnderTest, hub: &CallbackHub) {
    if !cut.setup || cut.asset_source_url.is_some() || !cut.management.capabilities().api {
        return;
    }
    let url = format!("{}{}", hub.base_url(), super::callback::ASSET_DATA_PATH);
    tracing::info!("no [dataset] source_url: the harness serves the carbon-emissions fixture itself at {url}");
    // The harness reads its own server on loopback to compare the pulled bytes, whatever host
    // the connector reaches it on. Target runs have no other rewrites.
    if hub.base_url() != hub.local_base_url() {
        cut.url_rewrites = crate::runtime::UrlRewrite::new([(hub.base_url().to_string(), hub.local_base_url().to_string())]);
    }
    cut.asset_source_url = Some(url);
}

/// One case, ready to run.
struct Job {
    case: Case,
    check: Option<CheckFn>,
    connector: Option<Arc<ConnectorUnderTest>>,
    tokens: Arc<TokenSource>,
    identity: Arc<HarnessIdentity>,
    hub: Arc<CallbackHub>,
    fixtures: Arc<Fixtures>,
    timing: Timing,
    /// The schemas of the connector's version; `None`: the harness has none of it.
    schemas: Option<SchemaSet>,
    http: reqwest::Client,
    events: mpsc::UnboundedSender<RunEvent>,
    interrupt: Interrupt,
    /// The DSP version the run's connectors speak, named in every report.
    version: Option<String>,
}

impl Job {
    /// Judges the case and sends its report, complete (its version named), as the event the
    /// run's report is built from.
    async fn run(self) -> CaseReport {
        let mut report = self.judge().await;
        report.dsp_version = self.version.clone();
        let _ = self.events.send(RunEvent::CaseFinished(Box::new(report.clone())));
        report
    }

    async fn judge(&self) -> CaseReport {
        if self.interrupt.is_triggered() {
            let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            return report_of(&self.case, CaseOutcome::Skip(interrupt::NOT_STARTED.to_string()), Vec::new(), now, Duration::ZERO);
        }
        let _ = self.events.send(RunEvent::CaseStarted { id: self.case.id.to_string(), title: self.case.title.clone() });
        let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let started = Instant::now();
        let recorder = Recorder::new();
        let limit = self.case.timeout.unwrap_or(self.timing.case_timeout);
        let outcome = match (self.check, &self.connector) {
            (None, _) => CaseOutcome::Error(format!("no check named {:?} is registered", self.case.check)),
            (_, None) => CaseOutcome::Skip(format!("the run has no connector under test in the {} role", self.case.role.as_str())),
            (Some(check), Some(connector)) => {
                let client = RecordingClient::with_http(self.http.clone(), recorder.clone(), self.schemas.clone(), self.timing.wait.min(limit));
                let mailbox = self.hub.open_in(&connector.name, recorder.clone(), self.schemas.clone(), connector.version);
                let ctx = CaseContext::new(ContextParts {
                    case: self.case.clone(),
                    connector: connector.clone(),
                    client,
                    tokens: self.tokens.clone(),
                    identity: self.identity.clone(),
                    mailbox: mailbox.clone(),
                    fixtures: self.fixtures.clone(),
                    timing: self.timing,
                });
                // The case runs in its own task so that a panic in a check costs the case only.
                let mut task = tokio::spawn(async move { check(&ctx).await });
                let outcome = tokio::select! {
                    finished = tokio::time::timeout(limit, &mut task) => match finished {
                        Ok(Ok(outcome)) => outcome,
                        Ok(Err(join)) => CaseOutcome::Error(format!("the check crashed: {join}")),
                        Err(_) => {
                            task.abort();
                            CaseOutcome::Error(format!("the case did not finish within {} s", limit.as_secs_f32()))
                        }
                    },
                    _ = self.interrupt.grace_over() => {
                        task.abort();
                        CaseOutcome::Skip(interrupt::CUT_SHORT.to_string())
                    }
                };
                self.hub.close(&mailbox);
                outcome
            }
        };
        report_of(&self.case, outcome, recorder.drain(), started_at, started.elapsed())
    }
}

/// Builds the report of a case, pointing findings at exchange indexes instead of `seq`s.
pub fn report_of(case: &Case, outcome: CaseOutcome, exchanges: Vec<Exchange>, started_at: String, took: Duration) -> CaseReport {
    let index_of = |seq: usize| exchanges.iter().position(|e| e.seq as usize == seq);
    let (verdict, reason, findings) = match outcome {
        CaseOutcome::Pass => (Verdict::Pass, None, Vec::new()),
        CaseOutcome::Fail(findings) => (Verdict::Fail, None, findings),
        CaseOutcome::Skip(reason) => (Verdict::Skip, Some(reason), Vec::new()),
        CaseOutcome::Error(reason) => (Verdict::Error, Some(reason), Vec::new()),
    };
    let findings = findings
        .into_iter()
        .map(|f: Finding| Finding { exchange: f.exchange.and_then(index_of), ..f })
        .collect();
    CaseReport {
        id: case.id.to_string(),
        title: case.title.clone(),
        suite: case.suite.clone(),
        area: case.area.as_str().to_string(),
        level: case.level,
        role: case.role,
        spec: case.spec.clone(),
        tck_id: case.tck_id.clone(),
        tags: case.tags.clone(),
        verdict,
        reason,
        findings,
        steps: Vec::new(),
        started_at,
        duration_ms: took.as_millis() as u64,
        exchanges,
        logs: Vec::new(),
        dsp_version: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ProtocolVersion;
    use crate::runner::conformance::context::register;
    use crate::runner::conformance::target::{CallbackConfig, DatasetChoice};
    use crate::runner::conformance::Step;
    use crate::suite::{Area, CaseId};

    fn case(timeout: Option<Duration>) -> Case {
        Case {
            id: CaseId::parse("dsp.test.001").unwrap(),
            title: "t".into(),
            suite: "s".into(),
            area: Area::Errors,
            level: crate::report::model::Level::Must,
            role: Role::Provider,
            spec: "x".into(),
            tck_id: None,
            tags: vec![],
            check: "test".into(),
            fault: None,
            args: Default::default(),
            timeout,
            versions: vec![],
        }
    }

    async fn hangs(_: &CaseContext) -> Step {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok(())
    }

    async fn panics(_: &CaseContext) -> Step {
        panic!("a check must never do this")
    }

    async fn finds(ctx: &CaseContext) -> Step {
        ctx.fail(Finding::new("x", "soft"));
        ctx.require(false, || Finding::new("x", "hard"))
    }

    fn check(name: &str) -> CheckFn {
        let list: Vec<(&'static str, CheckFn)> = register!["hangs" => hangs, "panics" => panics, "finds" => finds];
        list.into_iter().find(|(n, _)| *n == name).map(|(_, f)| f).unwrap()
    }

    async fn run_job(check_fn: Option<CheckFn>, connector: bool, timeout: Duration) -> CaseReport {
        run_job_until(check_fn, connector, timeout, Interrupt::new()).await
    }

    async fn run_job_until(check_fn: Option<CheckFn>, connector: bool, timeout: Duration, interrupt: Interrupt) -> CaseReport {
        let hub = Arc::new(CallbackHub::start(&CallbackConfig::default()).await.unwrap());
        let (tx, _rx) = mpsc::unbounded_channel();
        let cut = ConnectorUnderTest {
            name: "provider".into(),
            role: Role::Provider,
            participant_id: "p".into(),
            dat_audience: None,
            dsp_url: "http://127.0.0.1:9/dsp".into(),
            root_url: "http://127.0.0.1:9".into(),
            version: ProtocolVersion::V2025_1,
            management: crate::target::driver::none(),
            dataset: DatasetChoice::default(),
            setup: false,
            asset_source_url: None,
            url_rewrites: crate::runtime::UrlRewrite::default(),
        };
        Job {
            case: case(Some(timeout)),
            check: check_fn,
            connector: connector.then(|| Arc::new(cut)),
            tokens: Arc::new(TokenSource::None),
            identity: Arc::new(HarnessIdentity { participant_id: "h".into(), verifier: None, callback: CallbackConfig::default() }),
            hub,
            fixtures: Arc::new(Fixtures::default()),
            timing: Timing::default(),
            schemas: Some(SchemaSet::embedded_2025_1()),
            http: reqwest::Client::new(),
            events: tx,
            interrupt,
            version: Some("2025-1".to_string()),
        }
        .run()
        .await
    }

    #[tokio::test]
    async fn an_interrupted_run_starts_no_case_and_cuts_a_running_one_short_after_the_grace() {
        let interrupt = Interrupt::new();
        interrupt.trigger();
        let report = run_job_until(Some(check("finds")), true, Duration::from_secs(30), interrupt).await;
        assert_eq!((report.verdict, report.reason.as_deref()), (Verdict::Skip, Some(interrupt::NOT_STARTED)));
        assert!(report.was_interrupted());

        let interrupt = Interrupt::new();
        let later = interrupt.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            later.trigger();
        });
        let started = Instant::now();
        let report = run_job_until(Some(check("hangs")), true, Duration::from_secs(60), interrupt).await;
        assert_eq!((report.verdict, report.reason.as_deref()), (Verdict::Skip, Some(interrupt::CUT_SHORT)));
        assert!(started.elapsed() < interrupt::GRACE + Duration::from_secs(2), "the grace bounds the wait");
    }

    #[tokio::test]
    async fn a_hanging_check_is_an_error_after_its_timeout() {
        let report = run_job(Some(check("hangs")), true, Duration::from_millis(100)).await;
        assert_eq!(report.verdict, Verdict::Error);
        assert!(report.reason.unwrap().contains("did not finish"));
    }

    #[tokio::test]
    async fn a_panicking_check_is_an_error() {
        let report = run_job(Some(check("panics")), true, Duration::from_secs(5)).await;
        assert_eq!(report.verdict, Verdict::Error);
        assert!(report.reason.unwrap().contains("crashed"));
    }

    #[tokio::test]
    async fn soft_and_hard_findings_both_reach_the_report() {
        let report = run_job(Some(check("finds")), true, Duration::from_secs(5)).await;
        assert_eq!(report.verdict, Verdict::Fail);
        assert_eq!(report.findings.iter().map(|f| f.message.as_str()).collect::<Vec<_>>(), vec!["soft", "hard"]);
    }

    #[tokio::test]
    async fn unknown_checks_error_and_missing_roles_skip() {
        assert_eq!(run_job(None, true, Duration::from_secs(1)).await.verdict, Verdict::Error);
        let skipped = run_job(Some(check("finds")), false, Duration::from_secs(1)).await;
        assert_eq!(skipped.verdict, Verdict::Skip);
        assert!(skipped.reason.unwrap().contains("provider role"));
    }

    #[test]
    fn findings_point_at_exchange_indexes() {
        let exchange = |seq| Exchange {
            status: Some(200),
            ..Exchange::request(seq, "a", "b", "GET", "u")
        };
        let outcome = CaseOutcome::Fail(vec![Finding::new("k", "at 9").at(9), Finding::new("k", "nowhere").at(7), Finding::new("k", "none")]);
        let report = report_of(&case(None), outcome, vec![exchange(5), exchange(9)], "now".into(), Duration::from_millis(3));
        assert_eq!(report.findings.iter().map(|f| f.exchange).collect::<Vec<_>>(), vec![Some(1), None, None]);
        assert_eq!(report.verdict, Verdict::Fail);
        assert_eq!(report.area, "errors");
    }
}
