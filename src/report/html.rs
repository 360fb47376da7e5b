//! `report.html`: one self-contained page a person opens from a CI artifact or a laptop.
//!
//! Everything is inline (CSS, a small script, SVG charts), so the page works offline and makes
//! no request anywhere. It shows the verdict counts per area and level, a table of cases that
//! select boxes filter by status, area, level and role (also from the URL: `#status=fail`,
//! `?area=catalog&level=must`; `#case=<id>` opens one case, `expand=1` every shown case), and
//! for each case its spec section, TCK id, findings, step timings and every recorded message
//! with headers and pretty-printed JSON bodies, schema violations marked inside the body.
//! `load` results come with SVG charts of throughput and latency over the run and a table of
//! figures.
//!
//! The page is the askama template `templates/report/page.html` (with its `style.css` and
//! `script.js`); this file gives it what it cannot compute itself: formatted figures, chart
//! coordinates and the highlighted JSON. askama escapes every value the template shows; the
//! page holds no report data inside the script, so nothing in a connector's reply can end up
//! executed.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use askama::Template;
use serde_json::Value;

use super::escape;
use super::model::{Body, CaseReport, Counts, Exchange, Finding, LoadReport, LoadScenario, PreflightCheck, PreflightStatus, Report, StepReport, ThresholdResult, Verdict};
use super::redact::Redactor;
use super::terminal::{error_summary, format_duration, format_number, MIB};

/// Renders the report as one HTML page (after the built-in redaction rules), without an
/// interoperability matrix.
pub fn render_html(report: &Report) -> String {
    render_html_with(report, report.matrix.as_ref().map(crate::report::matrix::html_section).unwrap_or_default())
}

/// Renders the report as one HTML page with `matrix_html`, a ready-made `<section>` (from
/// `report::matrix::html_section`), in the matrix's place; empty for none.
pub fn render_html_with(report: &Report, matrix_html: String) -> String {
    let report = Redactor::new().redact(report);
    let is_load = report.run.command == "load" || (report.cases.is_empty() && report.load.is_some());
    let passed = report.all_passed() && report.load.as_ref().is_none_or(|l| l.thresholds.iter().all(|t| t.passed));
    let page = Page {
        r: &report,
        heading: if is_load { "DSP load report" } else { "DSP conformance report" },
        passed,
        is_load,
        matrix_html,
    };
    // Rendering into a String fails only if a value's Display fails, which none here does.
    let html = page.render().unwrap_or_else(|e| format!("<!DOCTYPE html>\n<p>report page could not be rendered: {}</p>\n", escape::html(&e.to_string())));
    escape::printable_html(html)
}

/// What the template sees: the (redacted) report and the page's few decisions.
#[derive(Template)]
#[template(path = "report/page.html")]
struct Page<'a> {
    r: &'a Report,
    heading: &'static str,
    passed: bool,
    is_load: bool,
    /// The interoperability matrix section, or empty.
    matrix_html: String,
}

/// One select box of the case filters.
struct Filter {
    key: &'static str,
    label: &'static str,
    values: Vec<String>,
}

/// A line chart as inline SVG, with every coordinate computed here.
struct Chart {
    title: &'static str,
    unit: &'static str,
    width: f64,
    height: f64,
    left: f64,
    right: String,
    bottom: String,
    y_ticks: Vec<Tick>,
    x_ticks: Vec<Tick>,
    lines: Vec<Line>,
}

/// A grid line (y axis) or an axis tick (x axis) with its label.
struct Tick {
    at: String,
    label_x: String,
    label_y: String,
    label: String,
}

struct Line {
    name: String,
    color: &'static str,
    points: String,
    dots: Vec<Dot>,
}

struct Dot {
    x: String,
    y: String,
    second: String,
    value: String,
}

impl Page<'_> {
    fn overall_class(&self) -> &'static str {
        if self.passed { "pass" } else { "fail" }
    }

    fn overall_label(&self) -> &'static str {
        if self.passed { "PASSED" } else { "FAILED" }
    }

    fn meta(&self) -> [(&'static str, &str); 10] {
        let run = &self.r.run;
        [
            ("Target", run.target.name.as_str()),
            ("DSP endpoint", run.target.dsp_url.as_str()),
            ("DSP version", run.target.dsp_version.as_str()),
            ("Management API", run.target.management.as_str()),
            ("Runtime", run.runtime.as_str()),
            ("Schemas", run.schemas.as_str()),
            ("Command", run.command.as_str()),
            ("Run id", run.id.as_str()),
            ("Started", run.started_at.as_str()),
            ("Finished", run.finished_at.as_str()),
        ]
    }

    fn duration(&self, ms: &u64) -> String {
        format_duration(*ms)
    }

    fn bytes(&self, size: &u64) -> String {
        human_bytes(*size)
    }

    fn number(&self, value: &f64) -> String {
        format_number(*value)
    }

    fn errors(&self, s: &LoadScenario) -> String {
        error_summary(&s.errors)
    }

    fn preflight_class(&self, check: &PreflightCheck) -> &'static str {
        match check.status {
            PreflightStatus::Ok => "pass",
            PreflightStatus::Warn => "skip",
            PreflightStatus::Fail => "fail",
        }
    }

    fn tiles(&self) -> [(&'static str, &'static str, u32); 4] {
        let total = self.r.summary.total;
        [("pass", "passed", total.passed), ("fail", "failed", total.failed), ("error", "errors", total.errors), ("skip", "skipped", total.skipped)]
    }

    /// The rectangles of a small bar split by verdict: (class, x, width) in percent.
    fn segments(&self, c: &Counts) -> Vec<(&'static str, String, String)> {
        let total = c.total();
        let mut segments = Vec::new();
        if total == 0 {
            return segments;
        }
        let mut x = 0.0;
        for (n, class) in [(c.passed, "pass"), (c.failed, "fail"), (c.errors, "error"), (c.skipped, "skip")] {
            if n == 0 {
                continue;
            }
            let w = f64::from(n) * 100.0 / f64::from(total);
            segments.push((class, format!("{x:.2}"), format!("{w:.2}")));
            x += w;
        }
        segments
    }

    fn filters(&self) -> Vec<Filter> {
        let cases = &self.r.cases;
        let verdicts: BTreeSet<&str> = cases.iter().map(|c| c.verdict.as_str()).collect();
        let areas: BTreeSet<&str> = cases.iter().map(|c| c.area.as_str()).collect();
        let levels: BTreeSet<_> = cases.iter().map(|c| c.level).collect();
        let roles: BTreeSet<_> = cases.iter().map(|c| c.role).collect();
        let order = ["pass", "fail", "error", "skip"];
        vec![
            Filter { key: "status", label: "Status", values: order.iter().filter(|v| verdicts.contains(*v)).map(|v| v.to_string()).collect() },
            Filter { key: "area", label: "Area", values: areas.into_iter().map(str::to_string).collect() },
            Filter { key: "level", label: "Level", values: levels.iter().map(|l| l.as_str().to_string()).collect() },
            Filter { key: "role", label: "Role", values: roles.iter().map(|r| r.as_str().to_string()).collect() },
        ]
    }

    /// The first finding (or the reason) under the title of a failed, errored or skipped case,
    /// so the table tells why without expanding.
    fn hint(&self, case: &CaseReport) -> Option<String> {
        let text = match case.verdict {
            Verdict::Pass => None,
            // A skip or an error is explained by its reason; a failure by its first finding.
            Verdict::Skip | Verdict::Error => case.reason.clone().or_else(|| case.findings.first().map(|f| format!("{}: {}", f.kind, f.message))),
            Verdict::Fail => case.findings.first().map(|f| format!("{}: {}", f.kind, f.message)).or_else(|| case.reason.clone()),
        };
        text.map(|t| super::terminal::cut(&t, 160))
    }

    fn step_width(&self, case: &CaseReport, step: &StepReport) -> String {
        let longest = case.steps.iter().map(|s| s.duration_ms).max().unwrap_or(0).max(1);
        format!("{:.1}", step.duration_ms as f64 * 100.0 / longest as f64)
    }

    fn anchor(&self, case: &CaseReport, index: &usize) -> String {
        format!("x-{}-{index}", case.id)
    }

    /// The exchange a finding points at, with its index, when it was recorded.
    fn exchange<'c>(&self, case: &'c CaseReport, finding: &Finding) -> Option<(usize, &'c Exchange)> {
        let index = finding.exchange?;
        case.exchanges.get(index).map(|x| (index, x))
    }

    /// A JSON body, highlighted, with the members its schema violations point at marked.
    fn json(&self, x: &Exchange, part: &str, value: &Value) -> String {
        let mut marks: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for v in x.violations.iter().filter(|v| v.part == part) {
            marks.entry(v.instance_path.clone()).or_default().push(format!("{}: {}", v.schema, v.message));
        }
        let mut h = String::new();
        json_html(&mut h, value, &mut String::new(), &marks, 0);
        h
    }

    fn threshold_result(&self, t: &ThresholdResult) -> &'static str {
        if t.passed { "pass" } else { "fail" }
    }

    fn has_steps(&self, load: &LoadReport) -> bool {
        load.scenarios.iter().any(|s| !s.steps.is_empty())
    }

    fn charts(&self, load: &LoadReport) -> Vec<Chart> {
        let with_timeline: Vec<_> = load.scenarios.iter().filter(|s| !s.timeline.is_empty()).collect();
        if with_timeline.is_empty() {
            return Vec::new();
        }
        let throughput: Vec<Series> = with_timeline
            .iter()
            .map(|s| Series { name: s.name.clone(), points: s.timeline.iter().map(|p| (p.second as f64, p.requests_per_second)).collect() })
            .collect();
        let latency: Vec<Series> = with_timeline
            .iter()
            .map(|s| Series { name: s.name.clone(), points: s.timeline.iter().map(|p| (p.second as f64, p.p50_ms)).collect() })
            .collect();
        vec![line_chart("Throughput over the run", "requests/s", &throughput), line_chart("Median latency over the run", "p50 ms", &latency)]
    }
}

struct Series {
    name: String,
    points: Vec<(f64, f64)>,
}

const PALETTE: [&str; 8] = ["#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563"];

/// A line chart: one polyline per series, axes with rounded ticks, a legend.
fn line_chart(title: &'static str, unit: &'static str, series: &[Series]) -> Chart {
    const W: f64 = 640.0;
    const H: f64 = 260.0;
    const LEFT: f64 = 56.0;
    const RIGHT: f64 = 20.0;
    const TOP: f64 = 28.0;
    const BOTTOM: f64 = 36.0;
    let max_x = series.iter().flat_map(|s| s.points.iter().map(|p| p.0)).fold(0.0_f64, f64::max).max(1.0);
    let max_y = series.iter().flat_map(|s| s.points.iter().map(|p| p.1)).filter(|v| v.is_finite()).fold(0.0_f64, f64::max);
    let y_step = nice_step(max_y.max(1e-9) / 4.0);
    let y_top = (max_y / y_step).ceil().max(1.0) * y_step;
    let x_step = nice_step(max_x / 6.0).max(1.0);
    // The axis ends on a tick, so the last label fits.
    let x_end = (max_x / x_step).ceil().max(1.0) * x_step;
    let px = |x: f64| LEFT + x / x_end * (W - LEFT - RIGHT);
    let py = |y: f64| H - BOTTOM - y / y_top * (H - TOP - BOTTOM);

    let mut y_ticks = Vec::new();
    let mut y = 0.0;
    while y <= y_top + y_step / 2.0 {
        let yy = py(y);
        y_ticks.push(Tick { at: format!("{yy:.1}"), label_x: format!("{:.1}", LEFT - 6.0), label_y: format!("{:.1}", yy + 4.0), label: format_number(round_tick(y)) });
        y += y_step;
    }
    let mut x_ticks = Vec::new();
    let mut x = 0.0;
    while x <= x_end + x_step / 2.0 {
        // For the x axis, `label_x` is where the tick mark ends.
        x_ticks.push(Tick { at: format!("{:.1}", px(x)), label_x: format!("{:.1}", H - BOTTOM + 4.0), label_y: format!("{:.1}", H - BOTTOM + 18.0), label: format_number(round_tick(x)) });
        x += x_step;
    }
    let lines = series
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let finite: Vec<(f64, f64)> = s.points.iter().copied().filter(|p| p.1.is_finite()).collect();
            let points: Vec<String> = finite.iter().map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y))).collect();
            // Dots with their values as tooltips, unless there are too many to tell apart.
            let dots = if s.points.len() <= 120 {
                finite
                    .iter()
                    .map(|&(x, y)| Dot { x: format!("{:.1}", px(x)), y: format!("{:.1}", py(y)), second: format_number(x), value: format_number((y * 100.0).round() / 100.0) })
                    .collect()
            } else {
                Vec::new()
            };
            Line { name: s.name.clone(), color: PALETTE[i % PALETTE.len()], points: points.join(" "), dots }
        })
        .collect();
    Chart { title, unit, width: W, height: H, left: LEFT, right: format!("{:.1}", W - RIGHT), bottom: format!("{:.1}", H - BOTTOM), y_ticks, x_ticks, lines }
}

fn human_bytes(size: u64) -> String {
    if size >= 1024 * 1024 {
        format!("{:.1} MiB", size as f64 / MIB)
    } else if size >= 1024 {
        format!("{:.1} KiB", size as f64 / 1024.0)
    } else {
        format!("{size} B")
    }
}

/// Pretty-prints JSON like `serde_json::to_string_pretty`, as HTML with syntax classes, and
/// wraps the members that schema violations point at (by JSON Pointer) in `<mark>`.
fn json_html(
    h: &mut String,
    value: &Value,
    pointer: &mut String,
    marks: &BTreeMap<String, Vec<String>>,
    indent: usize,
) {
    let mark = marks.get(pointer.as_str());
    if let Some(messages) = mark {
        let _ = write!(h, "<mark class=\"viol\" title=\"{}\">", escape::html(&messages.join("\n")));
    }
    match value {
        Value::Object(map) if !map.is_empty() => {
            h.push_str("{\n");
            for (i, (key, member)) in map.iter().enumerate() {
                let saved = pointer.len();
                pointer.push('/');
                pointer.push_str(&key.replace('~', "~0").replace('/', "~1"));
                let member_marked = marks.get(pointer.as_str());
                pad(h, indent + 1);
                if let Some(messages) = member_marked {
                    // Mark the key too, so a violation on a scalar member is visible at a glance.
                    let _ = write!(h, "<mark class=\"viol\" title=\"{}\">", escape::html(&messages.join("\n")));
                }
                let _ = write!(h, "<span class=\"jk\">{}</span>: ", escape::html(&json_string(key)));
                json_html(h, member, pointer, &strip(marks, member_marked.is_some(), pointer), indent + 1);
                if member_marked.is_some() {
                    h.push_str("</mark>");
                }
                pointer.truncate(saved);
                h.push_str(if i + 1 < map.len() { ",\n" } else { "\n" });
            }
            pad(h, indent);
            h.push('}');
        }
        Value::Array(items) if !items.is_empty() => {
            h.push_str("[\n");
            for (i, item) in items.iter().enumerate() {
                let saved = pointer.len();
                let _ = write!(pointer, "/{i}");
                pad(h, indent + 1);
                json_html(h, item, pointer, marks, indent + 1);
                pointer.truncate(saved);
                h.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
            }
            pad(h, indent);
            h.push(']');
        }
        Value::Object(_) => h.push_str("{}"),
        Value::Array(_) => h.push_str("[]"),
        Value::String(s) => {
            let _ = write!(h, "<span class=\"js\">{}</span>", escape::html(&json_string(s)));
        }
        Value::Number(n) => {
            let _ = write!(h, "<span class=\"jn\">{n}</span>");
        }
        Value::Bool(b) => {
            let _ = write!(h, "<span class=\"jb\">{b}</span>");
        }
        Value::Null => h.push_str("<span class=\"jb\">null</span>"),
    }
    if mark.is_some() {
        h.push_str("</mark>");
    }
}

/// When a member is already marked together with its key, its value must not be marked a
/// second time.
fn strip(marks: &BTreeMap<String, Vec<String>>, marked: bool, pointer: &str) -> BTreeMap<String, Vec<String>> {
    if marked {
        let mut copy = marks.clone();
        copy.remove(pointer);
        copy
    } else {
        marks.clone()
    }
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

fn pad(h: &mut String, indent: usize) {
    for _ in 0..indent {
        h.push_str("  ");
    }
}

/// 1, 2 or 5 times a power of ten, at least `raw`.
fn nice_step(raw: f64) -> f64 {
    if !raw.is_finite() || raw <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(raw.log10().floor());
    let fraction = raw / magnitude;
    let nice = if fraction <= 1.0 {
        1.0
    } else if fraction <= 2.0 {
        2.0
    } else if fraction <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}

/// Removes float noise from accumulated tick values (0.1 + 0.2).
fn round_tick(value: f64) -> f64 {
    (value * 1e6).round() / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testdata::{sample_report, JWT};

    #[test]
    fn page_is_self_contained_and_escaped() {
        let page = render_html(&sample_report());
        assert!(page.starts_with("<!DOCTYPE html>"));
        for forbidden in ["<link", "src=\"http", "href=\"http", "@import", "url(", JWT] {
            assert!(!page.contains(forbidden), "page contains {forbidden:?}");
        }
        // Markup from the connector is shown, not interpreted.
        assert!(page.contains("&#60;b&#62;bad&#60;/b&#62; &#38; \\&#34;worse\\&#34;"), "escaped JSON string");
        assert!(page.contains("plain &#60;text&#62; with [31m escape and  nul"));
        assert!(!page.contains('\u{1b}') && !page.contains('\u{0}'));
    }

    #[test]
    fn preflight_and_skips_by_reason_are_shown() {
        let page = render_html(&sample_report());
        assert!(page.contains("<h2>Preflight</h2>"));
        assert!(page.contains("<li>the file has no [auth] section: the harness sends no &#60;tokens&#62;</li>"), "warnings are escaped");
        assert!(page.contains("<span class=\"badge skip\">warn</span></td><td>version document</td><td>does not announce 2025-1</td><td>serve it at the root</td>"));
        assert!(page.contains("<h2>Skips by reason</h2>"));
        assert!(page.contains("<tr><td class=\"num\">1</td><td>target has no consumer management API</td><td><a href=\"#case-dsp.tp.consumer.010\">dsp.tp.consumer.010</a></td></tr>"));
        assert!(page.contains("<div class=\"hint\">provider unreachable</div>"), "an error shows its reason");
    }

    #[test]
    fn cases_carry_filter_attributes_and_details() {
        let page = render_html(&sample_report());
        assert!(page.contains(
            "<tbody class=\"case fail\" id=\"case-dsp.cn.provider.003\" data-status=\"fail\" data-area=\"negotiation\" data-level=\"MUST\" data-role=\"provider\">"
        ));
        assert!(page.contains("<option value=\"negotiation\">negotiation</option>"));
        assert!(page.contains("<dt>TCK id</dt><dd>CN:01-03</dd>"));
        assert!(page.contains("<a class=\"xref\" href=\"#x-dsp.cn.provider.003-0\">message #1</a>"));
        assert!(page.contains("<tr><th>expected</th><td><pre>201</pre></td></tr>"));
        assert!(page.contains(
            "<span class=\"jk\">&#34;consumerPid&#34;</span>: <span class=\"js\">&#34;urn:uuid:c-1&#34;</span>"
        ));
        assert!(page.contains("binary body, 1.0 MiB (1048576 bytes)"));
        assert!(page.contains("<tr><th>authorization</th><td>[REDACTED]</td></tr>"));
    }

    #[test]
    fn violations_are_marked_inside_the_body() {
        let page = render_html(&sample_report());
        assert!(
            page.contains("<mark class=\"viol\" title=\"ContractNegotiationError: &#34;400&#34; is not of type &#34;integer&#34;\"><span class=\"jk\">&#34;code&#34;</span>: <span class=\"js\">&#34;400&#34;</span></mark>"),
            "{}",
            &page[page.find("ContractNegotiationError</span>").unwrap_or(0)..][..600.min(page.len())]
        );
    }

    #[test]
    fn load_charts_are_inline_svg() {
        let page = render_html(&sample_report());
        assert_eq!(page.matches("<figure class=\"chart\"><svg").count(), 2);
        assert_eq!(page.matches("<polyline").count(), 4, "two scenarios on two charts");
        assert!(page.contains("<td class=\"num\"><span title=\"of baseline.pull.1MiB\">0.80×</span></td>"));
        assert!(page.contains("Peak memory of the reference data plane: 64.0 MiB."));
    }

    #[test]
    fn load_only_report_has_no_case_table() {
        let mut report = sample_report();
        report.cases.clear();
        report.run.command = "load".into();
        report.summarize();
        let page = render_html(&report);
        assert!(page.contains("<h1>DSP load report</h1>"));
        assert!(page.contains("<section id=\"load\">"));
        assert!(!page.contains("id=\"case-table\"") && !page.contains("<section id=\"summary\">"));
    }

    #[test]
    fn json_html_matches_serde_pretty_layout() {
        let value = serde_json::json!({"a": [1, {"b": null}], "c": {}, "d": [], "e": "x/y"});
        let mut h = String::new();
        json_html(&mut h, &value, &mut String::new(), &BTreeMap::new(), 0);
        let plain = h
            .replace("<span class=\"jk\">", "")
            .replace("<span class=\"js\">", "")
            .replace("<span class=\"jn\">", "")
            .replace("<span class=\"jb\">", "")
            .replace("</span>", "")
            .replace("&#34;", "\"");
        assert_eq!(plain, serde_json::to_string_pretty(&value).unwrap());
    }

    /// The page's main elements, in the order a reader meets them: a snapshot of the
    /// structure that survives changes of wording and styling.
    #[test]
    fn the_page_has_its_sections_in_order() {
        let page = render_html(&sample_report());
        let landmarks = [
            "<title>DSP conformance report · reference · failed</title>",
            "<style>",
            "<header>",
            "<dl class=\"meta\">",
            "<section id=\"preflight\">",
            "<section id=\"summary\">",
            "<svg class=\"stack\"",
            "<section id=\"skips\">",
            "<section id=\"cases\">",
            "<form class=\"filters\" id=\"filters\"",
            "<table id=\"case-table\" class=\"cases\">",
            "<tr class=\"case-detail\" hidden>",
            "<div class=\"exchange flagged\" id=\"x-dsp.cn.provider.003-0\">",
            "<pre class=\"body json\">",
            "<section id=\"load\">",
            "<figure class=\"chart\">",
            "<table class=\"figures\">",
            "</main>",
            "<footer>Generated by",
            "<script>",
            "</html>",
        ];
        let mut at = 0;
        for landmark in landmarks {
            match page[at..].find(landmark) {
                Some(found) => at += found + landmark.len(),
                None => panic!("{landmark:?} missing, or not after the landmarks before it"),
            }
        }
        assert!(!page.contains("{{") && !page.contains("{%"), "template syntax leaked into the page");
    }

    #[test]
    fn a_matrix_section_goes_in_its_slot_and_is_absent_without_one() {
        let report = sample_report();
        assert!(!render_html(&report).contains("id=\"matrix\""));
        let section = "<section id=\"matrix\"><h2>Interoperability</h2></section>";
        let page = render_html_with(&report, section.to_string());
        let at = page.find(section).expect("the matrix section is on the page, unescaped");
        assert!(at > page.find("<section id=\"load\">").unwrap() && at < page.find("</main>").unwrap());
    }

    #[test]
    fn nice_steps() {
        assert_eq!(nice_step(0.3), 0.5);
        assert_eq!(nice_step(7.0), 10.0);
        assert_eq!(nice_step(120.0), 200.0);
        assert_eq!(nice_step(0.0), 1.0);
    }
}
