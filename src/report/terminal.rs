//! The final summary a person reads in the terminal after `run` or `load`.
//!
//! Tables come from `tabled`: verdict counts per area and requirement level, then the failed
//! and errored cases with their first finding, then (for `load`) the figures per scenario and
//! the threshold results. Output is plain text without colours or widths taken from the
//! terminal, so it is the same for a given report wherever it is rendered; control characters
//! that a connector put into a message are shown escaped rather than sent to the terminal.

use std::fmt::Write as _;

use tabled::builder::Builder;
use tabled::settings::object::{Columns, Rows};
use tabled::settings::{Alignment, Modify, Style, Width};

use super::escape;
use super::model::{CaseReport, Finding, LoadReport, PreflightCheck, PreflightReport, PreflightStatus, ReasonCount, Report, Verdict};
use super::redact::Redactor;

/// Width at which long findings are wrapped.
const FINDING_WIDTH: usize = 72;
/// Longest text kept of one finding line before it is cut.
const MAX_TEXT: usize = 300;

/// Renders the summary tables of a report (after the built-in redaction rules).
pub fn render_terminal(report: &Report) -> String {
    let report = Redactor::new().redact(report);
    let mut out = String::new();
    let run = &report.run;
    let _ = writeln!(
        out,
        "{} {} · {} {} · target {} ({}, DSP {}) · {}",
        report.tool.name,
        report.tool.version,
        run.command,
        run.id,
        run.target.name,
        run.target.dsp_url,
        run.target.dsp_version,
        format_duration(run.duration_ms),
    );
    if let Some(preflight) = &report.preflight {
        out.push_str(&preflight_lines(preflight));
    }
    if let Some(matrix) = &report.matrix {
        out.push('\n');
        out.push_str(&crate::report::matrix::terminal_section(matrix));
    }
    if !report.cases.is_empty() {
        out.push('\n');
        out.push_str(&summary_table(&report));
        out.push('\n');
        let failed: Vec<_> =
            report.cases.iter().filter(|c| matches!(c.verdict, Verdict::Fail | Verdict::Error)).collect();
        if !failed.is_empty() {
            let mut builder = Builder::default();
            builder.push_record(["case", "level", "verdict", "first finding"]);
            for case in failed {
                let finding = case_text(case);
                builder.push_record([
                    case.label(),
                    case.level.as_str().to_owned(),
                    case.verdict.as_str().to_owned(),
                    escape::terminal(&finding),
                ]);
            }
            let mut table = builder.build();
            table.with(Style::rounded()).with(Modify::new(Columns::new(3..4)).with(Width::wrap(FINDING_WIDTH)));
            out.push_str("\nFailed cases\n");
            out.push_str(&table.to_string());
            out.push('\n');
        }
        if !report.summary.skips_by_reason.is_empty() {
            out.push_str("\nSkips by reason\n");
            out.push_str(&skips_table(&report.summary.skips_by_reason));
            out.push('\n');
        }
        // Not skips: cases that do not exist in a version the run ran in.
        for group in &report.summary.not_in_version {
            out.push_str(&format!("\nnot in DSP {} ({}): {}: {}\n", group.version, group.count, escape::terminal(&group.reason), group.cases.join(", ")));
        }
    }
    if let Some(load) = &report.load {
        out.push('\n');
        out.push_str(&load_tables(load));
    }
    let interrupted = report.interrupted_cases();
    if interrupted > 0 {
        let _ = write!(out, "\nINTERRUPTED: {interrupted} cases were not run or did not finish (skipped, reason \"interrupted\")\n");
    }
    let total = report.summary.total;
    let verdict = if report.all_passed() && thresholds_passed(&report) { "PASSED" } else { "FAILED" };
    let _ = write!(out, "\n{verdict}: ");
    if !report.cases.is_empty() || report.load.is_none() {
        let _ = write!(
            out,
            "{} passed, {} failed, {} errors, {} skipped ({} cases)",
            total.passed,
            total.failed,
            total.errors,
            total.skipped,
            total.total()
        );
    }
    if let Some(load) = &report.load {
        let separator = if report.cases.is_empty() { "" } else { "; " };
        if load.thresholds.is_empty() {
            let _ = write!(out, "{separator}{} scenarios measured, no thresholds set", load.scenarios.len());
        } else {
            let met = load.thresholds.iter().filter(|t| t.passed).count();
            let _ = write!(out, "{separator}{met} of {} thresholds met", load.thresholds.len());
        }
    }
    out.push('\n');
    out
}

/// The target file's warnings and the preflight lines that are not `ok`, after the header.
fn preflight_lines(preflight: &PreflightReport) -> String {
    let mut out = String::new();
    let shown: Vec<&PreflightCheck> = preflight.checks.iter().filter(|c| c.status != PreflightStatus::Ok).collect();
    if preflight.warnings.is_empty() && shown.is_empty() {
        return out;
    }
    out.push_str("\nWarnings\n");
    for warning in &preflight.warnings {
        let _ = writeln!(out, "  warn {}", escape::terminal(&cut(warning, MAX_TEXT)));
    }
    // Warn lines are in `warnings` already; a failed preflight line is shown once more here.
    for check in shown.into_iter().filter(|c| c.status == PreflightStatus::Fail) {
        let _ = writeln!(out, "  {}", escape::terminal(&cut(&check.line(), MAX_TEXT)));
    }
    out
}

/// Reason, count and the case ids of every skip.
fn skips_table(groups: &[ReasonCount]) -> String {
    let mut builder = Builder::default();
    builder.push_record(["skipped", "reason", "cases"]);
    for group in groups {
        builder.push_record([group.count.to_string(), escape::terminal(&cut(&group.reason, MAX_TEXT)), escape::terminal(&compact_ids(&group.cases))]);
    }
    let mut table = builder.build();
    table
        .with(Style::rounded())
        .with(Modify::new(Columns::new(0..1)).with(Alignment::right()))
        .with(Modify::new(Columns::new(1..2)).with(Width::wrap(56)))
        .with(Modify::new(Columns::new(2..3)).with(Width::wrap(44).keep_words(true)));
    table.modify(Rows::first(), Alignment::left());
    table.to_string()
}

/// Case ids with runs of consecutive numbers folded: `dsp.cn.consumer.001-028 dsp.id.provider.002`.
pub(crate) fn compact_ids(ids: &[String]) -> String {
    fn split(id: &str) -> Option<(&str, &str, u32)> {
        let (prefix, number) = id.rsplit_once('.')?;
        Some((prefix, number, number.parse().ok()?))
    }
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < ids.len() {
        let mut j = i;
        if let Some((prefix, first, mut n)) = split(&ids[i]) {
            while let Some((p, next, m)) = ids.get(j + 1).and_then(|id| split(id)) {
                if p != prefix || m != n + 1 || next.len() != first.len() {
                    break;
                }
                n = m;
                j += 1;
            }
        }
        if j > i + 1 {
            let last = split(&ids[j]).map(|(_, number, _)| number).unwrap_or_default();
            parts.push(format!("{}-{last}", ids[i]));
        } else {
            parts.extend(ids[i..=j].iter().cloned());
        }
        i = j + 1;
    }
    parts.join(" ")
}

fn thresholds_passed(report: &Report) -> bool {
    report.load.as_ref().is_none_or(|load| load.thresholds.iter().all(|t| t.passed))
}

fn summary_table(report: &Report) -> String {
    let mut builder = Builder::default();
    builder.push_record(["area", "level", "passed", "failed", "skipped", "error", "total"]);
    for group in &report.summary.groups {
        let c = group.counts;
        builder.push_record([
            escape::terminal(&group.area),
            group.level.as_str().to_owned(),
            c.passed.to_string(),
            c.failed.to_string(),
            c.skipped.to_string(),
            c.errors.to_string(),
            c.total().to_string(),
        ]);
    }
    let t = report.summary.total;
    builder.push_record([
        "total".to_owned(),
        String::new(),
        t.passed.to_string(),
        t.failed.to_string(),
        t.skipped.to_string(),
        t.errors.to_string(),
        t.total().to_string(),
    ]);
    let mut table = builder.build();
    table.with(Style::rounded()).with(Modify::new(Columns::new(2..)).with(Alignment::right()));
    table.modify(Rows::first(), Alignment::left());
    table.to_string()
}

fn load_tables(load: &LoadReport) -> String {
    let mut out = String::new();
    let mut builder = Builder::default();
    builder.push_record([
        "scenario",
        "users",
        "requests",
        "req/s",
        "MiB/s",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms",
        "errors",
        "vs baseline",
    ]);
    for s in &load.scenarios {
        builder.push_record([
            escape::terminal(&s.name),
            s.users.to_string(),
            s.requests.to_string(),
            format!("{:.1}", s.requests_per_second),
            format!("{:.1}", s.bytes_per_second / MIB),
            format!("{:.1}", s.latency_ms.p50),
            format!("{:.1}", s.latency_ms.p90),
            format!("{:.1}", s.latency_ms.p99),
            format!("{:.1}", s.latency_ms.max),
            escape::terminal(&error_summary(&s.errors)),
            s.ratio_to_baseline.map_or_else(|| "-".to_owned(), |ratio| format!("{ratio:.2}x")),
        ]);
    }
    let mut table = builder.build();
    table
        .with(Style::rounded())
        .with(Modify::new(Columns::new(1..9)).with(Alignment::right()))
        .with(Modify::new(Columns::new(9..10)).with(Width::wrap(32)));
    table.modify(Rows::first(), Alignment::left());
    out.push_str("Load scenarios\n");
    out.push_str(&table.to_string());
    out.push('\n');
    if !load.thresholds.is_empty() {
        let mut builder = Builder::default();
        builder.push_record(["threshold", "scenario", "measured", "result"]);
        for t in &load.thresholds {
            builder.push_record([
                escape::terminal(&t.threshold),
                escape::terminal(&t.scenario),
                format_number(t.measured),
                if t.passed { "pass" } else { "FAIL" }.to_owned(),
            ]);
        }
        let mut table = builder.build();
        table.with(Style::rounded());
        out.push_str("\nThresholds\n");
        out.push_str(&table.to_string());
        out.push('\n');
    }
    if let Some(bytes) = load.peak_memory_bytes {
        let _ = writeln!(out, "\npeak data plane memory: {:.1} MiB", bytes as f64 / MIB);
    }
    out
}

pub(crate) const MIB: f64 = 1024.0 * 1024.0;

/// `4 (status-500: 3, timeout: 1)`, or `0`.
pub(crate) fn error_summary(errors: &[(String, u64)]) -> String {
    let total: u64 = errors.iter().map(|(_, n)| n).sum();
    if errors.is_empty() {
        return "0".to_owned();
    }
    let kinds: Vec<String> = errors.iter().map(|(kind, n)| format!("{kind}: {n}")).collect();
    format!("{total} ({})", kinds.join(", "))
}

/// Numbers without a needless fraction: `30.5`, `250`, `0.83`.
pub(crate) fn format_number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        let text = format!("{value:.3}");
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

pub(crate) fn format_duration(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}

/// What a failed or errored case has to say: an error's reason (why it could not be judged)
/// before its first finding, a failure's first finding.
fn case_text(case: &CaseReport) -> String {
    let finding = case.findings.first().map(finding_text);
    match (case.verdict, &case.reason, finding) {
        (Verdict::Error, Some(reason), Some(finding)) => format!("{}\n{finding}", cut(reason, MAX_TEXT)),
        (_, _, Some(finding)) => finding,
        (_, Some(reason), None) => cut(reason, MAX_TEXT),
        (_, None, None) => "(no finding recorded)".to_owned(),
    }
}

/// `[status] message` plus expected and actual lines when the finding has them.
pub(crate) fn finding_text(finding: &Finding) -> String {
    let mut text = format!("[{}] {}", finding.kind, cut(&finding.message, MAX_TEXT));
    if let Some(expected) = &finding.expected {
        let _ = write!(text, "\nexpected: {}", cut(expected, MAX_TEXT));
    }
    if let Some(actual) = &finding.actual {
        let _ = write!(text, "\nactual:   {}", cut(actual, MAX_TEXT));
    }
    text
}

/// Cuts text to at most `max` characters, marking the cut.
pub(crate) fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((index, _)) => format!("{}…", &text[..index]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testdata::{sample_report, JWT};

    #[test]
    fn shows_counts_failed_cases_and_load_figures() {
        let text = render_terminal(&sample_report());
        for expected in [
            "dsp-harness 0.1.0 · run run-1",
            "negotiation",
            "dsp.cn.provider.003",
            "[status] provider answered 400",
            "expected: 201",
            "actual:   400",
            "mvds.carbon.negotiate",
            "[transport] connection refused",
            "dataplane.pull.1MiB",
            "400.0",
            "0.80x",
            "4 (status-500: 3, timeout: 1)",
            "ratio>=0.9",
            "FAIL",
            "peak data plane memory: 64.0 MiB",
            "FAILED: 1 passed, 1 failed, 1 errors, 1 skipped (4 cases)",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
        // Passing and skipped cases are not listed among the failures.
        assert!(!text.contains("dsp.catalog.001"), "{text}");
        assert!(!text.contains(JWT));
        assert_eq!(text, render_terminal(&sample_report()), "rendering is not deterministic");
    }

    #[test]
    fn shows_warnings_error_reasons_and_skips_by_reason() {
        let mut report = sample_report();
        let mut second = report.cases[2].clone();
        second.id = "dsp.tp.consumer.011".into();
        report.cases.push(second);
        report.summarize();
        let text = render_terminal(&report);
        for expected in [
            "Warnings",
            "warn the file has no [auth] section",
            "provider unreachable",
            "Skips by reason",
            "target has no consumer management API",
            "dsp.tp.consumer.010 dsp.tp.consumer.011",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
        let row = text.lines().find(|l| l.contains("target has no consumer")).unwrap();
        assert!(row.trim_start_matches('│').trim_start().starts_with('2'), "the count comes first: {row}");
        assert!(!text.contains("ok   dsp url"), "ok lines are not repeated in the summary: {text}");
    }

    #[test]
    fn load_only_report_shows_figures_and_thresholds() {
        let mut report = sample_report();
        report.cases.clear();
        report.run.command = "load".into();
        report.summarize();
        let text = render_terminal(&report);
        assert!(!text.contains("area"), "no empty summary table:\n{text}");
        assert!(text.contains("Load scenarios"));
        assert!(text.trim_end().ends_with("FAILED: 1 of 2 thresholds met"), "{text}");
    }

    #[test]
    fn total_row_sums_groups() {
        let text = render_terminal(&sample_report());
        let total_line =
            text.lines().find(|l| l.trim_start_matches('│').trim_start().starts_with("total")).expect("total row");
        let numbers: Vec<&str> = total_line.split('│').map(str::trim).filter(|c| !c.is_empty()).collect();
        assert_eq!(numbers, ["total", "1", "1", "1", "1", "4"]);
    }

    #[test]
    fn consecutive_case_ids_are_folded() {
        let ids: Vec<String> = ["dsp.cn.consumer.001", "dsp.cn.consumer.002", "dsp.cn.consumer.003", "dsp.tp.consumer.001", "dsp.tp.consumer.002", "dsp.id.provider.002", "dsp.id.provider.007", "mvds.carbon.08-schema"]
            .into_iter()
            .map(String::from)
            .collect();
        assert_eq!(compact_ids(&ids), "dsp.cn.consumer.001-003 dsp.tp.consumer.001 dsp.tp.consumer.002 dsp.id.provider.002 dsp.id.provider.007 mvds.carbon.08-schema");
        assert_eq!(compact_ids(&[]), "");
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape::terminal("a\u{1b}[2Jb\nc"), "a\\u{1b}[2Jb\nc");
        assert_eq!(cut("abcdef", 3), "abc…");
        assert_eq!(format_number(250.0), "250");
        assert_eq!(format_number(0.8), "0.8");
        assert_eq!(error_summary(&[]), "0");
    }
}
