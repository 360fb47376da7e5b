//! `summary.md`: a short Markdown summary for a pull-request comment or a CI job summary
//! (`$GITHUB_STEP_SUMMARY`).
//!
//! It holds the verdict, the counts per area and level, the failed and errored cases with their
//! first finding (at most [`MAX_FAILED_ROWS`], the rest is in the HTML report), and the load
//! figures when there are any. Text from the report is escaped so that a connector's message
//! cannot break the tables or inject markup.

use std::fmt::Write as _;

use super::escape;
use super::model::{PreflightReport, PreflightStatus, ReasonCount, Report, Verdict};
use super::redact::Redactor;
use super::terminal::{compact_ids, cut, error_summary, format_duration, format_number, MIB};

/// Failed cases listed before the list is cut, to keep PR comments short.
pub const MAX_FAILED_ROWS: usize = 50;

/// Renders the Markdown summary (after the built-in redaction rules).
pub fn render_markdown(report: &Report) -> String {
    let report = Redactor::new().redact(report);
    let mut md = String::new();
    let thresholds_ok = report.load.as_ref().is_none_or(|l| l.thresholds.iter().all(|t| t.passed));
    let passed = report.all_passed() && thresholds_ok;
    let what = if report.run.command == "load" { "DSP load test" } else { "DSP conformance" };
    let _ =
        writeln!(md, "## {} {what}: {}\n", if passed { "✅" } else { "❌" }, if passed { "passed" } else { "failed" });
    let run = &report.run;
    let total = report.summary.total;
    let _ = writeln!(
        md,
        "Target **{}** ({}, DSP {}) · run {} · {}{}\n",
        escape::markdown_text(&run.target.name),
        escape::markdown_code(&run.target.dsp_url),
        escape::markdown_text(&run.target.dsp_version),
        escape::markdown_code(&run.id),
        format_duration(run.duration_ms),
        if report.cases.is_empty() {
            String::new()
        } else {
            format!(
                " · {} passed, {} failed, {} errors, {} skipped of {} cases",
                total.passed,
                total.failed,
                total.errors,
                total.skipped,
                total.total()
            )
        }
    );

    if let Some(preflight) = &report.preflight {
        warnings(&mut md, preflight);
    }
    if let Some(matrix) = &report.matrix {
        md.push_str(&crate::report::matrix::markdown_section(matrix));
        md.push('\n');
    }
    let interrupted = report.interrupted_cases();
    if interrupted > 0 {
        let _ = writeln!(md, "⚠️ **The run was interrupted**: {interrupted} cases were not run or did not finish; `report.html` lists them.\n");
    }
    if !report.cases.is_empty() {
        md.push_str("| Area | Level | Passed | Failed | Skipped | Error |\n|---|---|--:|--:|--:|--:|\n");
        for g in &report.summary.groups {
            let c = g.counts;
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} |",
                escape::markdown_text(&g.area),
                g.level.as_str(),
                c.passed,
                c.failed,
                c.skipped,
                c.errors
            );
        }
        let _ = writeln!(
            md,
            "| **Total** | | **{}** | **{}** | **{}** | **{}** |\n",
            total.passed, total.failed, total.skipped, total.errors
        );
        let failed: Vec<_> =
            report.cases.iter().filter(|c| matches!(c.verdict, Verdict::Fail | Verdict::Error)).collect();
        if !failed.is_empty() {
            let _ = writeln!(md, "### Failed cases ({})\n", failed.len());
            md.push_str("| Case | Level | Verdict | First finding |\n|---|---|---|---|\n");
            for case in failed.iter().take(MAX_FAILED_ROWS) {
                let reason = match (case.verdict, &case.reason) {
                    (Verdict::Error, Some(reason)) => format!("{} ", escape::markdown_text(&cut(reason, 200))),
                    _ => String::new(),
                };
                let finding = match case.findings.first() {
                    Some(f) => {
                        let mut t = format!("**{}**: {}", escape::markdown_text(&f.kind), escape::markdown_text(&cut(&f.message, 200)));
                        if let (Some(e), Some(a)) = (&f.expected, &f.actual) {
                            let _ = write!(t, " (expected {}, actual {})", escape::markdown_code(&cut(e, 80)), escape::markdown_code(&cut(a, 80)));
                        }
                        t
                    }
                    None if reason.is_empty() => escape::markdown_text(case.reason.as_deref().unwrap_or("no finding recorded")),
                    None => String::new(),
                };
                let reason = if finding.is_empty() { reason.trim_end().to_string() } else { reason };
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {reason}{finding} |",
                    escape::markdown_code(&case.label()),
                    case.level.as_str(),
                    case.verdict.as_str()
                );
            }
            if failed.len() > MAX_FAILED_ROWS {
                let _ = writeln!(md, "\n…and {} more, see `report.html`.", failed.len() - MAX_FAILED_ROWS);
            }
            md.push('\n');
        }
        skips(&mut md, &report.summary.skips_by_reason);
        for group in &report.summary.not_in_version {
            let _ = writeln!(md, "Not in DSP {} ({}, not skips): {}: {}\n", escape::markdown_text(&group.version), group.count, escape::markdown_text(&group.reason), escape::markdown_code(&compact_ids(&group.cases)));
        }
    }

    if let Some(load) = &report.load {
        md.push_str("### Load\n\n| Scenario | Users | req/s | MiB/s | p50 ms | p90 ms | p99 ms | max ms | Errors | vs baseline |\n");
        md.push_str("|---|--:|--:|--:|--:|--:|--:|--:|---|--:|\n");
        for s in &load.scenarios {
            let _ = writeln!(
                md,
                "| {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {} | {} |",
                escape::markdown_code(&s.name),
                s.users,
                s.requests_per_second,
                s.bytes_per_second / MIB,
                s.latency_ms.p50,
                s.latency_ms.p90,
                s.latency_ms.p99,
                s.latency_ms.max,
                escape::markdown_text(&error_summary(&s.errors)),
                s.ratio_to_baseline.map_or_else(|| "–".to_owned(), |r| format!("{r:.2}×"))
            );
        }
        md.push('\n');
        if !load.thresholds.is_empty() {
            md.push_str("| Threshold | Scenario | Measured | Result |\n|---|---|--:|---|\n");
            for t in &load.thresholds {
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {} |",
                    escape::markdown_code(&t.threshold),
                    escape::markdown_code(&t.scenario),
                    format_number(t.measured),
                    if t.passed { "✅ pass" } else { "❌ fail" }
                );
            }
            md.push('\n');
        }
    }
    md
}

/// The target file's warnings and failed preflight lines, as a list.
fn warnings(md: &mut String, preflight: &PreflightReport) {
    let failed: Vec<_> = preflight.checks.iter().filter(|c| c.status == PreflightStatus::Fail).collect();
    if preflight.warnings.is_empty() && failed.is_empty() {
        return;
    }
    md.push_str("### Warnings\n\n");
    for warning in &preflight.warnings {
        let _ = writeln!(md, "- ⚠️ {}", escape::markdown_text(&cut(warning, 300)));
    }
    for check in failed {
        let _ = writeln!(md, "- ❌ {}", escape::markdown_text(&cut(&check.line(), 300)));
    }
    md.push('\n');
}

/// Every reason cases were skipped for: how many, and which.
fn skips(md: &mut String, groups: &[ReasonCount]) {
    if groups.is_empty() {
        return;
    }
    let total: u32 = groups.iter().map(|g| g.count).sum();
    let _ = writeln!(md, "### Skips by reason ({total})\n");
    md.push_str("| Skipped | Reason | Cases |\n|--:|---|---|\n");
    for group in groups {
        let _ = writeln!(md, "| {} | {} | {} |", group.count, escape::markdown_text(&cut(&group.reason, 200)), escape::markdown_code(&compact_ids(&group.cases)));
    }
    md.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testdata::{sample_report, JWT};

    #[test]
    fn summary_has_counts_failures_and_load() {
        let md = render_markdown(&sample_report());
        for expected in [
            "## ❌ DSP conformance: failed",
            "| negotiation | MUST | 0 | 1 | 0 | 0 |",
            "| **Total** | | **1** | **1** | **1** | **1** |",
            "### Failed cases (2)",
            "| `dsp.cn.provider.003` | MUST | fail | **status**: provider answered 400 to a valid \\<ContractRequestMessage\\> (expected `201`, actual `400`) |",
            "| `mvds.carbon.negotiate` | MAY | error | provider unreachable **transport**: connection refused |",
            "### Warnings",
            "- ⚠️ the file has no \\[auth\\] section: the harness sends no \\<tokens\\>",
            "### Skips by reason (1)",
            "| 1 | target has no consumer management API | `dsp.tp.consumer.010` |",
            "| `dataplane.pull.1MiB` | 8 | 400.0 | 400.0 | 6.0 | 11.0 | 30.5 | 55.0 | 4 (status-500: 3, timeout: 1) | 0.80× |",
            "| `ratio>=0.9` | `dataplane.pull.1MiB` | 0.8 | ❌ fail |",
        ] {
            assert!(md.contains(expected), "missing {expected:?} in\n{md}");
        }
        assert!(!md.contains("dsp.catalog.001"));
        assert!(!md.contains(JWT));
    }

    #[test]
    fn cells_cannot_break_tables() {
        assert_eq!(escape::markdown_text("a|b\nc <x> & *y*"), "a\\|b c \\<x\\> &amp; \\*y\\*");
        assert_eq!(escape::markdown_code("x|`y`"), "`` x\\|`y` ``");
    }
}
