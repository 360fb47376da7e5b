//! Comparing a run with a baseline run: what broke, what got fixed, what got slower.
//!
//! Cases are matched by id (ids are never reused, so a match is the same check). A case that
//! passed in the baseline and fails or errors now is a regression; verdict changes the other
//! way, cases added and removed, and durations that moved beyond a tolerance are reported
//! beside it. For `load` reports, scenarios are matched by name and throughput, latency
//! percentiles and error rate are compared with their own tolerances. [`Comparison`] is data
//! (serializable); the renderers below turn it into a terminal table, Markdown or JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use tabled::builder::Builder;
use tabled::settings::object::Columns;
use tabled::settings::{Modify, Style, Width};

use super::escape;
use super::model::{CaseReport, LoadScenario, Report, Verdict};
use super::redact::Redactor;
use super::terminal::{cut, format_number};

/// Tolerances of a comparison. The defaults suit runs on the same machine.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompareOptions {
    /// A case counts as slower (or faster) when its duration changed by more than this factor...
    pub duration_ratio: f64,
    /// ...and by more than this many milliseconds, because short cases jitter.
    pub duration_min_delta_ms: u64,
    /// Whether slower cases make [`Comparison::regressed`] true. Off by default: conformance
    /// timings depend on the machine more than on the connector.
    pub slower_cases_regress: bool,
    /// A load scenario regressed when its throughput dropped by more than this fraction.
    pub throughput_drop: f64,
    /// ...or a latency percentile (p50, p90, p99) rose by more than this fraction...
    pub latency_rise: f64,
    /// ...and by more than this many milliseconds.
    pub latency_min_delta_ms: f64,
    /// ...or its error rate (errors per request) rose by more than this, in absolute terms.
    pub error_rate_rise: f64,
}

impl Default for CompareOptions {
    fn default() -> Self {
        CompareOptions {
            duration_ratio: 1.5,
            duration_min_delta_ms: 50,
            slower_cases_regress: false,
            throughput_drop: 0.10,
            latency_rise: 0.20,
            latency_min_delta_ms: 2.0,
            error_rate_rise: 0.01,
        }
    }
}

/// A case whose verdict differs between the runs (or that exists in only one of them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseChange {
    pub id: String,
    pub title: String,
    pub before: Option<Verdict>,
    pub after: Option<Verdict>,
    /// The first finding (or reason) of the current run, for cases that fail now.
    pub finding: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimingChange {
    pub id: String,
    pub before_ms: u64,
    pub after_ms: u64,
    /// `after / before`; absent when the baseline took 0 ms.
    pub ratio: Option<f64>,
}

/// One metric of one load scenario in both runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadChange {
    pub scenario: String,
    /// `requests_per_second`, `p50_ms`, `p90_ms`, `p99_ms` or `error_rate`.
    pub metric: String,
    pub before: f64,
    pub after: f64,
    /// Relative change (`0.25` is 25 % more); absent when the baseline value is 0.
    pub change: Option<f64>,
    pub regressed: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Comparison {
    pub current_run: String,
    pub baseline_run: String,
    pub options: CompareOptions,
    /// Passed in the baseline, fails or errors now.
    pub newly_failing: Vec<CaseChange>,
    /// Failed or errored in the baseline, passes now.
    pub newly_passing: Vec<CaseChange>,
    /// Every other verdict change (for example pass to skip, fail to error).
    pub other_changes: Vec<CaseChange>,
    pub added: Vec<CaseChange>,
    pub removed: Vec<CaseChange>,
    pub slower: Vec<TimingChange>,
    pub faster: Vec<TimingChange>,
    /// Every compared metric of every scenario present in both runs.
    pub load: Vec<LoadChange>,
    pub load_added: Vec<String>,
    pub load_removed: Vec<String>,
}

impl Comparison {
    /// True when the current run is worse than the baseline: a case that passed fails now, a
    /// load metric regressed beyond its tolerance, or (when asked for) a case got slower.
    pub fn regressed(&self) -> bool {
        !self.newly_failing.is_empty()
            || self.load.iter().any(|c| c.regressed)
            || (self.options.slower_cases_regress && !self.slower.is_empty())
    }
}

/// Compares `current` with `baseline`. Lists follow the order of the current run's cases
/// (removed cases: the baseline's order).
pub fn compare(current: &Report, baseline: &Report, opts: &CompareOptions) -> Comparison {
    let redactor = Redactor::new();
    let before: BTreeMap<&str, &CaseReport> = baseline.cases.iter().map(|c| (c.id.as_str(), c)).collect();
    let after: BTreeMap<&str, &CaseReport> = current.cases.iter().map(|c| (c.id.as_str(), c)).collect();
    let change = |case: &CaseReport, before: Option<Verdict>, after: Option<Verdict>| CaseChange {
        id: case.id.clone(),
        title: redactor.scrub(&case.title),
        before,
        after,
        finding: match after {
            Some(Verdict::Fail | Verdict::Error | Verdict::Skip) => case
                .findings
                .first()
                .map(|f| format!("[{}] {}", f.kind, f.message))
                .or_else(|| case.reason.clone())
                .map(|t| redactor.scrub(&t)),
            _ => None,
        },
    };

    let mut comparison = Comparison {
        current_run: current.run.id.clone(),
        baseline_run: baseline.run.id.clone(),
        options: *opts,
        newly_failing: vec![],
        newly_passing: vec![],
        other_changes: vec![],
        added: vec![],
        removed: vec![],
        slower: vec![],
        faster: vec![],
        load: vec![],
        load_added: vec![],
        load_removed: vec![],
    };
    for case in &current.cases {
        let Some(old) = before.get(case.id.as_str()) else {
            comparison.added.push(change(case, None, Some(case.verdict)));
            continue;
        };
        let (was, now) = (old.verdict, case.verdict);
        let failing = |v: Verdict| matches!(v, Verdict::Fail | Verdict::Error);
        if was == Verdict::Pass && failing(now) {
            comparison.newly_failing.push(change(case, Some(was), Some(now)));
        } else if failing(was) && now == Verdict::Pass {
            comparison.newly_passing.push(change(case, Some(was), Some(now)));
        } else if was != now {
            comparison.other_changes.push(change(case, Some(was), Some(now)));
        }
        // Timings only mean something when both runs did the same work.
        if was == now && now != Verdict::Skip {
            let (b, a) = (old.duration_ms, case.duration_ms);
            let timing = TimingChange {
                id: case.id.clone(),
                before_ms: b,
                after_ms: a,
                ratio: (b > 0).then(|| a as f64 / b as f64),
            };
            let factor = opts.duration_ratio.max(1.0);
            if a.saturating_sub(b) > opts.duration_min_delta_ms && a as f64 > b as f64 * factor {
                comparison.slower.push(timing);
            } else if b.saturating_sub(a) > opts.duration_min_delta_ms && b as f64 > a as f64 * factor {
                comparison.faster.push(timing);
            }
        }
    }
    for case in &baseline.cases {
        if !after.contains_key(case.id.as_str()) {
            comparison.removed.push(CaseChange {
                id: case.id.clone(),
                title: redactor.scrub(&case.title),
                before: Some(case.verdict),
                after: None,
                finding: None,
            });
        }
    }

    let empty = Vec::new();
    let current_load = current.load.as_ref().map_or(&empty, |l| &l.scenarios);
    let baseline_load = baseline.load.as_ref().map_or(&empty, |l| &l.scenarios);
    for scenario in current_load {
        match baseline_load.iter().find(|s| s.name == scenario.name) {
            Some(old) => comparison.load.extend(load_changes(old, scenario, opts)),
            None => comparison.load_added.push(scenario.name.clone()),
        }
    }
    for scenario in baseline_load {
        if !current_load.iter().any(|s| s.name == scenario.name) {
            comparison.load_removed.push(scenario.name.clone());
        }
    }
    comparison
}

fn load_changes(old: &LoadScenario, new: &LoadScenario, opts: &CompareOptions) -> Vec<LoadChange> {
    let relative = |before: f64, after: f64| (before != 0.0).then(|| (after - before) / before);
    let make = |metric: &str, before: f64, after: f64, regressed: bool| LoadChange {
        scenario: new.name.clone(),
        metric: metric.to_owned(),
        before,
        after,
        change: relative(before, after).filter(|c| c.is_finite()),
        regressed,
    };
    let mut changes = Vec::new();
    let (b, a) = (old.requests_per_second, new.requests_per_second);
    changes.push(make("requests_per_second", b, a, a < b * (1.0 - opts.throughput_drop)));
    for (metric, before, after) in [
        ("p50_ms", old.latency_ms.p50, new.latency_ms.p50),
        ("p90_ms", old.latency_ms.p90, new.latency_ms.p90),
        ("p99_ms", old.latency_ms.p99, new.latency_ms.p99),
    ] {
        let regressed = after > before * (1.0 + opts.latency_rise) && after - before > opts.latency_min_delta_ms;
        changes.push(make(metric, before, after, regressed));
    }
    let rate = |s: &LoadScenario| {
        let errors: u64 = s.errors.iter().map(|(_, n)| n).sum();
        if s.requests == 0 {
            0.0
        } else {
            errors as f64 / s.requests as f64
        }
    };
    let (b, a) = (rate(old), rate(new));
    changes.push(make("error_rate", b, a, a > b + opts.error_rate_rise));
    changes
}

fn verdict(v: Option<Verdict>) -> &'static str {
    v.map_or("–", Verdict::as_str)
}

fn percent(change: Option<f64>) -> String {
    change.map_or_else(|| "–".to_owned(), |c| format!("{:+.1}%", c * 100.0))
}

fn ratio(r: Option<f64>) -> String {
    r.map_or_else(|| "–".to_owned(), |r| format!("{r:.2}x"))
}

/// The comparison as terminal tables.
pub fn render_comparison_terminal(c: &Comparison) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "comparing run {} with baseline {}",
        escape::terminal(&c.current_run),
        escape::terminal(&c.baseline_run)
    );
    let case_table = |out: &mut String, title: &str, list: &[CaseChange]| {
        if list.is_empty() {
            return;
        }
        let mut b = Builder::default();
        b.push_record(["case", "before", "now", "finding"]);
        for change in list {
            b.push_record([
                change.id.clone(),
                verdict(change.before).to_owned(),
                verdict(change.after).to_owned(),
                escape::terminal(&cut(change.finding.as_deref().unwrap_or(""), 200)),
            ]);
        }
        let mut table = b.build();
        table.with(Style::rounded()).with(Modify::new(Columns::new(3..4)).with(Width::wrap(64)));
        let _ = writeln!(out, "\n{title} ({})\n{table}", list.len());
    };
    case_table(&mut out, "Newly failing", &c.newly_failing);
    case_table(&mut out, "Newly passing", &c.newly_passing);
    case_table(&mut out, "Other verdict changes", &c.other_changes);
    case_table(&mut out, "Added cases", &c.added);
    case_table(&mut out, "Removed cases", &c.removed);
    for (title, list) in [("Slower cases", &c.slower), ("Faster cases", &c.faster)] {
        if list.is_empty() {
            continue;
        }
        let mut b = Builder::default();
        b.push_record(["case", "before ms", "now ms", "ratio"]);
        for t in list {
            b.push_record([t.id.clone(), t.before_ms.to_string(), t.after_ms.to_string(), ratio(t.ratio)]);
        }
        let mut table = b.build();
        table.with(Style::rounded());
        let _ = writeln!(out, "\n{title} ({})\n{table}", list.len());
    }
    if !c.load.is_empty() {
        let mut b = Builder::default();
        b.push_record(["scenario", "metric", "before", "now", "change", "regressed"]);
        for l in &c.load {
            b.push_record([
                escape::terminal(&l.scenario),
                l.metric.clone(),
                format_number(l.before),
                format_number(l.after),
                percent(l.change),
                if l.regressed { "YES" } else { "no" }.to_owned(),
            ]);
        }
        let mut table = b.build();
        table.with(Style::rounded());
        let _ = writeln!(out, "\nLoad\n{table}");
    }
    for (title, list) in [("new load scenarios", &c.load_added), ("load scenarios gone", &c.load_removed)] {
        if !list.is_empty() {
            let _ = writeln!(out, "{title}: {}", escape::terminal(&list.join(", ")));
        }
    }
    let _ = writeln!(out, "\n{}", if c.regressed() { "REGRESSED" } else { "no regression" });
    out
}

/// The comparison as Markdown for a pull-request comment.
pub fn render_comparison_markdown(c: &Comparison) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "## {} compared with baseline {}\n",
        if c.regressed() { "❌ Regressed" } else { "✅ No regression" },
        escape::markdown_code(&c.baseline_run)
    );
    let _ = writeln!(
        md,
        "{} newly failing, {} newly passing, {} other changes, {} added, {} removed, {} slower, {} faster.\n",
        c.newly_failing.len(),
        c.newly_passing.len(),
        c.other_changes.len(),
        c.added.len(),
        c.removed.len(),
        c.slower.len(),
        c.faster.len()
    );
    for (title, list) in [
        ("Newly failing", &c.newly_failing),
        ("Newly passing", &c.newly_passing),
        ("Other verdict changes", &c.other_changes),
        ("Added cases", &c.added),
        ("Removed cases", &c.removed),
    ] {
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(md, "### {title} ({})\n\n| Case | Before | Now | Finding |\n|---|---|---|---|", list.len());
        for change in list {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} |",
                escape::markdown_code(&change.id),
                verdict(change.before),
                verdict(change.after),
                escape::markdown_text(&cut(change.finding.as_deref().unwrap_or(""), 200))
            );
        }
        md.push('\n');
    }
    if !c.slower.is_empty() {
        let _ = writeln!(
            md,
            "### Slower cases ({})\n\n| Case | Before ms | Now ms | Ratio |\n|---|--:|--:|--:|",
            c.slower.len()
        );
        for t in &c.slower {
            let _ = writeln!(md, "| {} | {} | {} | {} |", escape::markdown_code(&t.id), t.before_ms, t.after_ms, ratio(t.ratio));
        }
        md.push('\n');
    }
    let regressed: Vec<_> = c.load.iter().filter(|l| l.regressed).collect();
    if !c.load.is_empty() {
        let _ = writeln!(md, "### Load ({} regressed metrics)\n\n| Scenario | Metric | Before | Now | Change | |\n|---|---|--:|--:|--:|---|", regressed.len());
        for l in &c.load {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} |",
                escape::markdown_code(&l.scenario),
                l.metric,
                format_number(l.before),
                format_number(l.after),
                percent(l.change),
                if l.regressed { "❌" } else { "" }
            );
        }
        md.push('\n');
    }
    md
}

/// The comparison as pretty JSON with a trailing newline.
pub fn render_comparison_json(c: &Comparison) -> String {
    // Every float in a comparison is finite (changes against 0 are left out), so this cannot fail.
    let mut out = serde_json::to_string_pretty(c).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testdata::sample_report;

    fn pair() -> (Report, Report) {
        let baseline = sample_report();
        let mut current = sample_report();
        current.run.id = "run-2".into();
        // dsp.catalog.001 passed in the baseline and fails now.
        current.cases[0].verdict = Verdict::Fail;
        current.cases[0].findings = vec![crate::report::model::Finding::new("status", "catalog answered 500")];
        // dsp.cn.provider.003 failed and passes now, and took far longer.
        current.cases[1].verdict = Verdict::Pass;
        // mvds.carbon.negotiate is gone, a new case appeared.
        current.cases.remove(3);
        let mut added = baseline.cases[2].clone();
        added.id = "dsp.tp.consumer.011".into();
        current.cases.push(added);
        current.summarize();
        (current, baseline)
    }

    #[test]
    fn finds_verdict_changes_added_and_removed() {
        let (current, baseline) = pair();
        let c = compare(&current, &baseline, &CompareOptions::default());
        let ids = |list: &[CaseChange]| list.iter().map(|c| c.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&c.newly_failing), ["dsp.catalog.001"]);
        assert_eq!(c.newly_failing[0].finding.as_deref(), Some("[status] catalog answered 500"));
        assert_eq!(ids(&c.newly_passing), ["dsp.cn.provider.003"]);
        assert_eq!(ids(&c.added), ["dsp.tp.consumer.011"]);
        assert_eq!(ids(&c.removed), ["mvds.carbon.negotiate"]);
        assert!(c.other_changes.is_empty());
        assert!(c.regressed());
        assert!(!compare(&baseline, &baseline, &CompareOptions::default()).regressed());
    }

    #[test]
    fn timing_changes_need_both_ratio_and_delta() {
        let baseline = sample_report();
        let mut current = sample_report();
        current.cases[0].duration_ms = 12 * 10; // 10x, +108 ms: slower
        current.cases[1].duration_ms = 1234 + 40; // +40 ms: below the delta
        let c = compare(&current, &baseline, &CompareOptions::default());
        assert_eq!(c.slower.len(), 1);
        assert_eq!(c.slower[0].id, "dsp.catalog.001");
        assert_eq!(c.slower[0].ratio, Some(10.0));
        assert!(!c.regressed(), "timings alone do not regress by default");
        let strict = CompareOptions { slower_cases_regress: true, ..CompareOptions::default() };
        assert!(compare(&current, &baseline, &strict).regressed());
        let c = compare(&baseline, &current, &CompareOptions::default());
        assert_eq!(c.faster.len(), 1);
    }

    #[test]
    fn load_regressions_respect_tolerances() {
        let baseline = sample_report();
        let mut current = sample_report();
        let scenario = &mut current.load.as_mut().unwrap().scenarios[1];
        scenario.requests_per_second = 380.0; // -5 %: within 10 %
        scenario.latency_ms.p99 = 60.0; // +97 %: regressed
        scenario.latency_ms.p50 = 6.5; // +8 %: fine
        let c = compare(&current, &baseline, &CompareOptions::default());
        let regressed: Vec<_> =
            c.load.iter().filter(|l| l.regressed).map(|l| (l.scenario.as_str(), l.metric.as_str())).collect();
        assert_eq!(regressed, [("dataplane.pull.1MiB", "p99_ms")]);
        assert!(c.regressed());
        let throughput =
            c.load.iter().find(|l| l.scenario == "dataplane.pull.1MiB" && l.metric == "requests_per_second").unwrap();
        assert!((throughput.change.unwrap() + 0.05).abs() < 1e-9);
    }

    #[test]
    fn renderers_show_the_changes() {
        let (current, baseline) = pair();
        let c = compare(&current, &baseline, &CompareOptions::default());
        let terminal = render_comparison_terminal(&c);
        assert!(terminal.contains("Newly failing (1)"), "{terminal}");
        assert!(terminal.contains("dsp.catalog.001"));
        assert!(terminal.trim_end().ends_with("REGRESSED"));
        let md = render_comparison_markdown(&c);
        assert!(md.starts_with("## ❌ Regressed compared with baseline `run-1`"), "{md}");
        assert!(md.contains("| `dsp.catalog.001` | pass | fail | \\[status\\] catalog answered 500 |"), "{md}");
        let json = render_comparison_json(&c);
        let back: Comparison = serde_json::from_str(&json).unwrap();
        assert_eq!(back, c);
    }
}
