//! `junit.xml`: the report in the JUnit XML dialect CI servers read (Jenkins, GitLab, GitHub
//! test reporters).
//!
//! One `<testsuite>` per suite, in the order suites first appear in the run; one `<testcase>`
//! per case with the case id as name and the suite as class name, so the ids users filter by are
//! the ids CI shows. A failed case carries `<failure>` (first finding as message, every finding
//! in the text), an errored one `<error>`, a skipped one `<skipped>`; the recorded exchanges go
//! to `<system-out>` and component logs to `<system-err>`. Threshold results of a `load` run
//! become the test cases of an extra `load.thresholds` suite, so CI can gate on them too.
//! The output validates against `fixtures/junit.xsd`.

use std::fmt::Write as _;

use super::model::{Body, CaseReport, Exchange, Finding, Report, Verdict};
use super::redact::Redactor;

/// Class name of the test cases made from load thresholds.
pub const THRESHOLD_SUITE: &str = "load.thresholds";

/// Renders the report as JUnit XML (after the built-in redaction rules).
pub fn render_junit(report: &Report) -> String {
    let report = Redactor::new().redact(report);
    let mut suites: Vec<(&str, Vec<&CaseReport>)> = Vec::new();
    for case in &report.cases {
        match suites.iter_mut().find(|(name, _)| *name == case.suite) {
            Some((_, cases)) => cases.push(case),
            None => suites.push((&case.suite, vec![case])),
        }
    }
    let thresholds = report.load.as_ref().map(|l| l.thresholds.as_slice()).unwrap_or_default();

    let tests = report.cases.len() + thresholds.len();
    let failures = count(&report.cases, Verdict::Fail) + thresholds.iter().filter(|t| !t.passed).count();
    let errors = count(&report.cases, Verdict::Error);

    let mut out = String::new();
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{}\">",
        attr(&report.tool.name),
        seconds(report.run.duration_ms),
    );
    for (index, (name, cases)) in suites.iter().enumerate() {
        let time: u64 = cases.iter().map(|c| c.duration_ms).sum();
        let timestamp = cases.first().map(|c| c.started_at.as_str()).unwrap_or_default();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{}\" timestamp=\"{}\" id=\"{index}\">",
            attr(name),
            cases.len(),
            cases.iter().filter(|c| c.verdict == Verdict::Fail).count(),
            cases.iter().filter(|c| c.verdict == Verdict::Error).count(),
            cases.iter().filter(|c| c.verdict == Verdict::Skip).count(),
            seconds(time),
            attr(timestamp),
        );
        properties(&mut out, &report);
        for case in cases {
            testcase(&mut out, case);
        }
        out.push_str("  </testsuite>\n");
    }
    if !thresholds.is_empty() {
        let _ = writeln!(
            out,
            "  <testsuite name=\"{THRESHOLD_SUITE}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"0\" time=\"0.000\" timestamp=\"{}\" id=\"{}\">",
            thresholds.len(),
            thresholds.iter().filter(|t| !t.passed).count(),
            attr(&report.run.started_at),
            suites.len(),
        );
        properties(&mut out, &report);
        for t in thresholds {
            let name = format!("{}: {}", t.scenario, t.threshold);
            let _ =
                write!(out, "    <testcase name=\"{}\" classname=\"{THRESHOLD_SUITE}\" time=\"0.000\"", attr(&name));
            if t.passed {
                let _ = writeln!(
                    out,
                    ">\n      <system-out>{}</system-out>\n    </testcase>",
                    text(&format!("measured {}", t.measured))
                );
            } else {
                let message = format!("threshold {} not met: measured {}", t.threshold, t.measured);
                let _ = writeln!(
                    out,
                    ">\n      <failure message=\"{}\" type=\"threshold\">{}</failure>\n    </testcase>",
                    attr(&message),
                    text(&message)
                );
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

fn count(cases: &[CaseReport], verdict: Verdict) -> usize {
    cases.iter().filter(|c| c.verdict == verdict).count()
}

fn properties(out: &mut String, report: &Report) {
    let run = &report.run;
    let props = [
        ("dsp-harness.version", report.tool.version.as_str()),
        ("run.id", run.id.as_str()),
        ("run.command", run.command.as_str()),
        ("run.runtime", run.runtime.as_str()),
        ("target.name", run.target.name.as_str()),
        ("target.management", run.target.management.as_str()),
        ("target.dsp_url", run.target.dsp_url.as_str()),
        ("target.dsp_version", run.target.dsp_version.as_str()),
        ("schemas", run.schemas.as_str()),
    ];
    out.push_str("    <properties>\n");
    for (name, value) in props {
        let _ = writeln!(out, "      <property name=\"{name}\" value=\"{}\"/>", attr(value));
    }
    out.push_str("    </properties>\n");
}

fn testcase(out: &mut String, case: &CaseReport) {
    let _ = writeln!(
        out,
        "    <testcase name=\"{}\" classname=\"{}\" time=\"{}\">",
        attr(&case.id),
        attr(&case.suite),
        seconds(case.duration_ms)
    );
    let first = case.findings.first();
    match case.verdict {
        Verdict::Pass => {}
        Verdict::Fail => {
            let message =
                first.map(|f| f.message.clone()).or_else(|| case.reason.clone()).unwrap_or_else(|| "failed".into());
            let kind = first.map(|f| f.kind.as_str()).unwrap_or("fail");
            let _ = writeln!(
                out,
                "      <failure message=\"{}\" type=\"{}\">{}</failure>",
                attr(&message),
                attr(kind),
                text(&problem_text(case))
            );
        }
        Verdict::Error => {
            let message =
                case.reason.clone().or_else(|| first.map(|f| f.message.clone())).unwrap_or_else(|| "error".into());
            let kind = first.map(|f| f.kind.as_str()).unwrap_or("error");
            let _ = writeln!(
                out,
                "      <error message=\"{}\" type=\"{}\">{}</error>",
                attr(&message),
                attr(kind),
                text(&problem_text(case))
            );
        }
        Verdict::Skip => {
            let reason = case.reason.as_deref().unwrap_or("skipped");
            let _ = writeln!(out, "      <skipped message=\"{}\"/>", attr(reason));
        }
    }
    let _ = writeln!(out, "      <system-out>{}</system-out>", text(&system_out(case)));
    if !case.logs.is_empty() {
        let mut logs = String::new();
        for log in &case.logs {
            let _ = writeln!(logs, "--- {} ---\n{}", log.component, log.text.trim_end());
        }
        let _ = writeln!(out, "      <system-err>{}</system-err>", text(&logs));
    }
    out.push_str("    </testcase>\n");
}

/// The text of a `<failure>` or `<error>`: the reason, every finding, and where in the spec.
fn problem_text(case: &CaseReport) -> String {
    let mut t = String::new();
    if let Some(reason) = &case.reason {
        let _ = writeln!(t, "{reason}");
    }
    for finding in &case.findings {
        finding_lines(&mut t, finding, case, "");
    }
    for step in &case.steps {
        for finding in &step.findings {
            finding_lines(&mut t, finding, case, &format!("step '{}': ", step.name));
        }
    }
    let _ = writeln!(t, "spec: {}", case.spec);
    if let Some(tck) = &case.tck_id {
        let _ = writeln!(t, "tck: {tck}");
    }
    t
}

fn finding_lines(t: &mut String, finding: &Finding, case: &CaseReport, prefix: &str) {
    let _ = writeln!(t, "{prefix}[{}] {}", finding.kind, finding.message);
    if let Some(expected) = &finding.expected {
        let _ = writeln!(t, "  expected: {expected}");
    }
    if let Some(actual) = &finding.actual {
        let _ = writeln!(t, "  actual:   {actual}");
    }
    if let Some(index) = finding.exchange {
        match case.exchanges.get(index) {
            Some(x) => {
                let _ = writeln!(t, "  exchange #{}: {} {}", x.seq, x.method, x.url);
            }
            None => {
                let _ = writeln!(t, "  exchange #{index} (not recorded)");
            }
        }
    }
}

fn system_out(case: &CaseReport) -> String {
    let mut t = String::new();
    let _ = writeln!(t, "{} {}", case.id, case.title);
    let _ = writeln!(t, "spec: {}", case.spec);
    if let Some(tck) = &case.tck_id {
        let _ = writeln!(t, "tck: {tck}");
    }
    let _ = write!(t, "level: {}  role: {}  area: {}", case.level.as_str(), case.role.as_str(), case.area);
    if !case.tags.is_empty() {
        let _ = write!(t, "  tags: {}", case.tags.join(", "));
    }
    t.push('\n');
    if !case.steps.is_empty() {
        t.push_str("\nsteps:\n");
        for step in &case.steps {
            let _ = writeln!(t, "  {:<5} {:>7} ms  {}", step.verdict.as_str(), step.duration_ms, step.name);
        }
    }
    for exchange in &case.exchanges {
        t.push('\n');
        exchange_text(&mut t, exchange);
    }
    t
}

/// An exchange the way curl -v shows one: `>` request lines, `<` response lines, then bodies.
pub(crate) fn exchange_text(t: &mut String, x: &Exchange) {
    let _ = writeln!(t, "exchange #{}  {} -> {}  ({} ms)", x.seq, x.from, x.to, x.duration_ms);
    let _ = write!(t, "> {} {}", x.method, x.url);
    if let Some(kind) = &x.request_type {
        let _ = write!(t, "  [{kind}]");
    }
    t.push('\n');
    for (name, value) in &x.request_headers {
        let _ = writeln!(t, "> {name}: {value}");
    }
    if let Some(body) = &x.request_body {
        let _ = writeln!(t, "\n{}", body_text(body));
    }
    if let Some(error) = &x.error {
        let _ = writeln!(t, "! {error}");
    }
    if let Some(status) = x.status {
        let _ = write!(t, "< {status}");
        if let Some(kind) = &x.response_type {
            let _ = write!(t, "  [{kind}]");
        }
        t.push('\n');
        for (name, value) in &x.response_headers {
            let _ = writeln!(t, "< {name}: {value}");
        }
        if let Some(body) = &x.response_body {
            let _ = writeln!(t, "\n{}", body_text(body));
        }
    }
    if !x.violations.is_empty() {
        t.push_str("schema violations:\n");
        for v in &x.violations {
            let path = if v.instance_path.is_empty() { "/" } else { v.instance_path.as_str() };
            let _ = writeln!(t, "  {} {path} ({}): {}", v.part, v.schema, v.message);
        }
    }
}

pub(crate) fn body_text(body: &Body) -> String {
    match body {
        Body::Json(value) => serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string()),
        Body::Text(text) => text.clone(),
        Body::Binary { size, sha256 } => format!("(binary body, {size} bytes, sha256 {sha256})"),
    }
}

fn seconds(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// Characters XML 1.0 allows at all; everything else (most C0 controls, U+FFFE, U+FFFF) is
/// dropped, because no escape can represent it.
fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Escapes element text.
fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().filter(|c| xml_char(*c)) {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            // A bare CR would be normalised away by parsers.
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes an attribute value; whitespace is kept as character references because parsers
/// normalise literal newlines and tabs in attributes to spaces.
fn attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().filter(|c| xml_char(*c)) {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testdata::{sample_report, JWT};

    #[test]
    fn one_suite_per_suite_name_and_one_case_per_case() {
        let xml = render_junit(&sample_report());
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"dsp-harness\" tests=\"6\" failures=\"2\" errors=\"1\" time=\"5.000\">"), "{xml}");
        for suite in ["dsp.catalog", "dsp.cn.provider", "dsp.tp.consumer", "mvds.carbon", THRESHOLD_SUITE] {
            assert_eq!(xml.matches(&format!("<testsuite name=\"{suite}\"")).count(), 1, "{suite}");
        }
        assert!(xml.contains("<testcase name=\"dsp.cn.provider.003\" classname=\"dsp.cn.provider\" time=\"1.234\">"));
        assert!(xml.contains(
            "<failure message=\"provider answered 400 to a valid &lt;ContractRequestMessage&gt;\" type=\"status\">"
        ));
        assert!(
            xml.contains("[schema] error body does not match ContractNegotiationError"),
            "all findings in the text"
        );
        assert!(xml.contains("<error message=\"provider unreachable\" type=\"transport\">"));
        assert!(xml.contains("<skipped message=\"target has no consumer management API\"/>"));
        assert!(xml.contains("  \"@type\": \"ContractRequestMessage\","), "pretty JSON request body");
        assert!(xml.contains("(binary body, 1048576 bytes, sha256 9f86d0"));
        assert!(xml.contains("<failure message=\"threshold ratio&gt;=0.9 not met: measured 0.8\" type=\"threshold\">"));
        assert!(!xml.contains(JWT));
        assert!(xml.contains("&gt; authorization: [REDACTED]"));
    }

    #[test]
    fn strips_characters_xml_cannot_carry() {
        assert_eq!(text("a\u{0}b\u{1b}[31mc\u{FFFE}<&>"), "ab[31mc&lt;&amp;&gt;");
        assert_eq!(attr("x\"y'\n\tz"), "x&quot;y&apos;&#10;&#9;z");
        assert_eq!(seconds(1234), "1.234");
        assert_eq!(seconds(5), "0.005");
    }
}
