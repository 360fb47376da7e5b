//! The one report model every renderer reads.
//!
//! The runner emits [`RunEvent`]s and returns its cases; [`Report::new`] assembles them; renderers
//! (terminal, JUnit, JSON, HTML, Markdown) read only this model and never reach into the runner.
//! The model does no I/O. Its serialized form is `report.json`, described by the committed
//! schema `fixtures/report.schema.json`; bump [`FORMAT_VERSION`] on any incompatible change.

use serde::{Deserialize, Serialize};
// The shared vocabulary lives in `crate::vocab`; re-exported here so `report::model::Verdict`
// and the rest keep working for every caller.
pub use crate::vocab::{Body, Exchange, Finding, Level, Role, Verdict, Violation};

/// Version of the `report.json` format.
pub const FORMAT_VERSION: u32 = 1;

/// A whole run: what ran, against what, and every case with its verdict.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Report {
    pub format_version: u32,
    pub tool: ToolInfo,
    pub run: RunInfo,
    pub summary: Summary,
    pub cases: Vec<CaseReport>,
    /// Load-test results, present for `load` runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load: Option<LoadReport>,
    /// What the harness checked about a target before any case ran, and what it assumed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preflight: Option<PreflightReport>,
    /// The interoperability matrix of the reference connectors, in an embedded default run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matrix: Option<crate::report::matrix::InteropMatrix>,
}

/// The preflight of a `run --target`: the target file's warnings (what the harness assumed for
/// what the file leaves out) and one line per thing checked before any case ran.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PreflightReport {
    /// Everything the user should know but that did not stop the run: the target file's
    /// warnings and the preflight lines with status `warn`, each with its fix.
    #[serde(default)]
    pub warnings: Vec<String>,
    #[serde(default)]
    pub checks: Vec<PreflightCheck>,
}

impl PreflightReport {
    /// True when a check failed: the run must not start.
    pub fn failed(&self) -> bool {
        self.checks.iter().any(|c| c.status == PreflightStatus::Fail)
    }
}

/// One thing the preflight checked.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PreflightCheck {
    /// What was checked: `target file`, `dsp url`, `version document`, `management api`, ...
    pub check: String,
    pub status: PreflightStatus,
    /// What the harness found.
    pub detail: String,
    /// What to change, when something is wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl PreflightCheck {
    pub fn ok(check: &str, detail: impl Into<String>) -> PreflightCheck {
        PreflightCheck { check: check.to_string(), status: PreflightStatus::Ok, detail: detail.into(), fix: None }
    }

    pub fn warn(check: &str, detail: impl Into<String>, fix: impl Into<String>) -> PreflightCheck {
        PreflightCheck { check: check.to_string(), status: PreflightStatus::Warn, detail: detail.into(), fix: Some(fix.into()) }
    }

    pub fn fail(check: &str, detail: impl Into<String>, fix: impl Into<String>) -> PreflightCheck {
        PreflightCheck { check: check.to_string(), status: PreflightStatus::Fail, detail: detail.into(), fix: Some(fix.into()) }
    }

    /// `ok   dsp url: ... (fix: ...)`, as the terminal shows it.
    pub fn line(&self) -> String {
        let mut line = format!("{:<4} {}: {}", self.status.as_str(), self.check, self.detail);
        if let Some(fix) = &self.fix {
            line.push_str(" -> ");
            line.push_str(fix);
        }
        line
    }
}

/// The outcome of one preflight check: `fail` stops the run before any case.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PreflightStatus {
    Ok,
    Warn,
    Fail,
}

impl PreflightStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PreflightStatus::Ok => "ok",
            PreflightStatus::Warn => "warn",
            PreflightStatus::Fail => "fail",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ToolInfo {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RunInfo {
    pub id: String,
    /// The subcommand that produced the report: `run` or `load`.
    pub command: String,
    /// RFC 3339 timestamps.
    pub started_at: String,
    pub finished_at: String,
    pub duration_ms: u64,
    /// Where the reference components ran: `embedded` or `docker`, or `external` for a target.
    pub runtime: String,
    pub target: TargetInfo,
    /// The schema set messages were validated against (`embedded` or a directory).
    pub schemas: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TargetInfo {
    pub name: String,
    /// The kind of management API the harness drove (`reference`, `edc-v3`, `none`).
    pub management: String,
    pub dsp_url: String,
    pub dsp_version: String,
}

/// Counts of verdicts, overall and per area and requirement level.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    pub total: Counts,
    pub groups: Vec<GroupCounts>,
    /// Skipped cases grouped by their reason, most frequent first: a skip is a hole in the
    /// report, so the report says how big each hole is.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skips_by_reason: Vec<ReasonCount>,
    /// Selected cases that do not exist in a DSP version the run ran in, by version and reason:
    /// not run there, and not skips (so "0 skipped" keeps its meaning).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_in_version: Vec<NotInVersion>,
}

/// The cases of one reason that do not exist in one DSP version.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NotInVersion {
    pub version: String,
    pub reason: String,
    pub count: u32,
    /// The ids of the cases, in suite order.
    pub cases: Vec<String>,
}

/// One reason and the cases it applies to.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ReasonCount {
    pub reason: String,
    pub count: u32,
    /// The ids of the cases, in report order.
    pub cases: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Counts {
    pub passed: u32,
    pub failed: u32,
    pub skipped: u32,
    pub errors: u32,
}

impl Counts {
    pub fn add(&mut self, verdict: Verdict) {
        match verdict {
            Verdict::Pass => self.passed += 1,
            Verdict::Fail => self.failed += 1,
            Verdict::Skip => self.skipped += 1,
            Verdict::Error => self.errors += 1,
        }
    }

    pub fn total(&self) -> u32 {
        self.passed + self.failed + self.skipped + self.errors
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GroupCounts {
    pub area: String,
    pub level: Level,
    pub counts: Counts,
}

/// One conformance case (or one step of the carbon-emissions scenario) and its outcome.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CaseReport {
    /// Stable id, for example `dsp.cn.provider.012` or `mvds.carbon.negotiate`.
    pub id: String,
    pub title: String,
    /// The suite the case belongs to, used as the JUnit class name.
    pub suite: String,
    /// The area the case checks: `metadata`, `catalog`, `negotiation`, `transfer`, `identity`,
    /// `errors`, `scenario`.
    pub area: String,
    pub level: Level,
    pub role: Role,
    /// Spec section, for example `DSP 2025-1 §4.3 Contract Negotiation Provider Path Bindings`.
    pub spec: String,
    /// The corresponding Eclipse DSP TCK case, for example `CN:01-03`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tck_id: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub verdict: Verdict,
    /// Why the case was skipped or could not be judged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default)]
    pub findings: Vec<Finding>,
    #[serde(default)]
    pub steps: Vec<StepReport>,
    pub started_at: String,
    pub duration_ms: u64,
    /// Every message the case exchanged, in order.
    #[serde(default)]
    pub exchanges: Vec<Exchange>,
    /// Log excerpts of components (for example container logs) captured when the case failed.
    #[serde(default)]
    pub logs: Vec<LogExcerpt>,
    /// The DSP version the case ran in; absent for cases of no one version (older reports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dsp_version: Option<String>,
}

/// How the reason of a case begins when it was not run (or not finished) because the run was
/// interrupted; such a case is skipped.
pub const INTERRUPTED_REASON: &str = "interrupted";

impl CaseReport {
    /// The id as a reader tells the runs of one case apart: with its DSP version when it has one
    /// (`dsp.cn.provider.001 @ 2024-1`).
    pub fn label(&self) -> String {
        match &self.dsp_version {
            Some(version) => format!("{} @ {version}", self.id),
            None => self.id.clone(),
        }
    }

    /// True when the case was not run, or cut short, because the run was interrupted.
    pub fn was_interrupted(&self) -> bool {
        self.verdict == Verdict::Skip && self.reason.as_deref().is_some_and(|r| r.starts_with(INTERRUPTED_REASON))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StepReport {
    pub name: String,
    pub verdict: Verdict,
    pub duration_ms: u64,
    #[serde(default)]
    pub findings: Vec<Finding>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LogExcerpt {
    pub component: String,
    pub text: String,
}

/// Results of a `load` run. Figures are per scenario; the baseline is measured in the same run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LoadReport {
    pub scenarios: Vec<LoadScenario>,
    #[serde(default)]
    pub thresholds: Vec<ThresholdResult>,
    /// Peak resident memory of the reference data plane during the run, where measurable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_memory_bytes: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LoadScenario {
    /// For example `dataplane.pull.1MiB` or `baseline.pull.1MiB` or `flow.full`.
    pub name: String,
    /// The name of the baseline scenario this one is compared with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<String>,
    pub users: u32,
    pub payload_bytes: u64,
    pub duration_ms: u64,
    pub requests: u64,
    pub requests_per_second: f64,
    pub bytes_per_second: f64,
    pub latency_ms: Percentiles,
    /// Error counts by kind (`status-500`, `timeout`, `digest`, ...).
    #[serde(default)]
    pub errors: Vec<(String, u64)>,
    /// Throughput as a ratio of the baseline's, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratio_to_baseline: Option<f64>,
    /// Per-step latency for flow scenarios (`catalog`, `negotiate`, `transfer`, `pull`).
    #[serde(default)]
    pub steps: Vec<(String, Percentiles)>,
    /// Throughput and latency over the run, one point per interval, for charts.
    #[serde(default)]
    pub timeline: Vec<TimelinePoint>,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Percentiles {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TimelinePoint {
    pub second: u64,
    pub requests_per_second: f64,
    pub p50_ms: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ThresholdResult {
    /// The threshold as the user wrote it, for example `p99<=250ms`.
    pub threshold: String,
    pub scenario: String,
    pub measured: f64,
    pub passed: bool,
}

/// What `run` and `load` emit while they work; one progress display
/// ([`crate::report::Progress`]) shows both, and the run's report is built from the cases
/// they carry.
#[derive(Debug, Clone)]
pub enum RunEvent {
    RunStarted { total_cases: usize },
    CaseStarted { id: String, title: String },
    CaseFinished(Box<CaseReport>),
    RunFinished,
    /// A step of a load run.
    Load(LoadProgress),
}

/// How a load run goes, step by step.
#[derive(Debug, Clone)]
pub enum LoadProgress {
    Preparing(String),
    /// The hosts the run is about to send requests to (or make connectors send to), each
    /// with what it is, before any load goes there.
    Hosts(Vec<String>),
    Started { name: String, users: u32, duration: std::time::Duration },
    Finished(Box<ScenarioEnd>),
}

impl From<LoadProgress> for RunEvent {
    fn from(progress: LoadProgress) -> RunEvent {
        RunEvent::Load(progress)
    }
}

/// A load scenario that ended, with what this process used meanwhile.
#[derive(Debug, Clone)]
pub struct ScenarioEnd {
    pub scenario: LoadScenario,
    /// How much this process's resident memory grew, when the data plane ran in it.
    pub memory_growth_bytes: Option<u64>,
    /// This process's CPU use: the load generator's, and in the embedded data space the
    /// connectors' as well.
    pub cpu: Option<CpuShare>,
}

/// Cores busy on average, of how many; `saturated` when nearly all were, so the figures may be
/// this machine's limit rather than the target's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuShare {
    pub cores_busy: f64,
    pub cores: usize,
    pub saturated: bool,
}

impl Report {
    /// A report of this tool's version with its summary computed from the cases.
    pub fn new(run: RunInfo, cases: Vec<CaseReport>, load: Option<LoadReport>) -> Report {
        let mut report = Report {
            format_version: FORMAT_VERSION,
            tool: ToolInfo { name: env!("CARGO_PKG_NAME").to_string(), version: env!("CARGO_PKG_VERSION").to_string() },
            run,
            summary: Summary::default(),
            cases,
            load,
            preflight: None,
            matrix: None,
        };
        report.summarize();
        report
    }

    /// Recomputes the summary from the cases.
    pub fn summarize(&mut self) {
        let mut summary = Summary::default();
        for case in &self.cases {
            summary.total.add(case.verdict);
            match summary.groups.iter_mut().find(|g| g.area == case.area && g.level == case.level) {
                Some(group) => group.counts.add(case.verdict),
                None => {
                    let mut counts = Counts::default();
                    counts.add(case.verdict);
                    summary.groups.push(GroupCounts { area: case.area.clone(), level: case.level, counts });
                }
            }
        }
        summary.groups.sort_by(|a, b| (&a.area, a.level).cmp(&(&b.area, b.level)));
        summary.skips_by_reason = skips_by_reason(&self.cases);
        // Not derived from the cases (those cases have no report): kept as the run gave it.
        summary.not_in_version = std::mem::take(&mut self.summary.not_in_version);
        self.summary = summary;
    }

    /// The report with the preflight of its target.
    pub fn with_preflight(mut self, preflight: Option<PreflightReport>) -> Report {
        self.preflight = preflight;
        self
    }

    /// How many cases were not run, or cut short, because the run was interrupted.
    pub fn interrupted_cases(&self) -> usize {
        self.cases.iter().filter(|c| c.was_interrupted()).count()
    }

    /// True when no case failed or errored (skips do not fail a run).
    pub fn all_passed(&self) -> bool {
        self.summary.total.failed == 0 && self.summary.total.errors == 0 && self.matrix.as_ref().is_none_or(|m| m.passed())
    }

    /// The report with the run's interoperability matrix.
    pub fn with_matrix(mut self, matrix: Option<crate::report::matrix::InteropMatrix>) -> Report {
        self.matrix = matrix;
        self
    }
}

/// Skipped cases grouped by reason (a case without one counts under "no reason given"), most
/// frequent first, then by reason.
pub fn skips_by_reason(cases: &[CaseReport]) -> Vec<ReasonCount> {
    let mut groups: Vec<ReasonCount> = Vec::new();
    for case in cases.iter().filter(|c| c.verdict == Verdict::Skip) {
        let reason = case.reason.as_deref().unwrap_or("no reason given");
        match groups.iter_mut().find(|g| g.reason == reason) {
            Some(group) => {
                group.count += 1;
                group.cases.push(case.id.clone());
            }
            None => groups.push(ReasonCount { reason: reason.to_string(), count: 1, cases: vec![case.id.clone()] }),
        }
    }
    groups.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.reason.cmp(&b.reason)));
    groups
}
