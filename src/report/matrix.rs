//! The interoperability matrix: a reference consumer restricted to one DSP version (a row) ×
//! a reference provider restricted to one (a column), and the outcome of the carbon-emissions
//! flow between them. A cell passes when its outcome is the expected one: the flow where the
//! two share a version, a clean "no version in common" refusal where they do not. The model
//! and its renderers (terminal, Markdown, HTML; JSON is serde); no I/O.

use serde::{Deserialize, Serialize};

/// What a cell should end in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Expected {
    /// catalog → FINALIZED → pull completes.
    Flow,
    /// The consumer refuses at once: no version in common.
    Refusal,
}

/// What a cell ended in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Flow,
    Refusal,
    /// Anything else: a step failed, timed out, or a refusal came where a flow was due.
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatrixCell {
    /// The versions the consumer speaks (`2024-1`, or `all`).
    pub consumer: String,
    /// The versions the provider serves.
    pub provider: String,
    pub expected: Expected,
    pub outcome: Outcome,
    /// The version the flow ran in, or why it did not.
    pub detail: String,
    pub duration_ms: u64,
}

impl MatrixCell {
    pub fn passed(&self) -> bool {
        matches!((self.expected, self.outcome), (Expected::Flow, Outcome::Flow) | (Expected::Refusal, Outcome::Refusal))
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InteropMatrix {
    /// Consumer versions, top to bottom.
    pub rows: Vec<String>,
    /// Provider versions, left to right.
    pub columns: Vec<String>,
    pub cells: Vec<MatrixCell>,
}

impl InteropMatrix {
    pub fn passed(&self) -> bool {
        self.cells.iter().all(MatrixCell::passed)
    }

    pub fn cell(&self, consumer: &str, provider: &str) -> Option<&MatrixCell> {
        self.cells.iter().find(|c| c.consumer == consumer && c.provider == provider)
    }

    /// One short mark per cell: `ok` (flow, as expected), `--` (refused, as expected), `FAIL`.
    fn mark(&self, consumer: &str, provider: &str) -> String {
        match self.cell(consumer, provider) {
            None => String::new(),
            Some(c) if !c.passed() => "FAIL".to_string(),
            Some(c) if c.outcome == Outcome::Flow => "ok".to_string(),
            Some(_) => "--".to_string(),
        }
    }

    fn failures(&self) -> impl Iterator<Item = &MatrixCell> {
        self.cells.iter().filter(|c| !c.passed())
    }
}

/// The matrix as a terminal table, and a line per failed cell.
pub fn terminal_section(matrix: &InteropMatrix) -> String {
    let mut builder = tabled::builder::Builder::default();
    let mut header = vec!["consumer \\ provider".to_string()];
    header.extend(matrix.columns.iter().cloned());
    builder.push_record(header);
    for row in &matrix.rows {
        let mut record = vec![row.clone()];
        record.extend(matrix.columns.iter().map(|col| matrix.mark(row, col)));
        builder.push_record(record);
    }
    let mut out = String::from("Interoperability matrix (ok: flow completed, --: no version in common, refused as expected)\n");
    out.push_str(&builder.build().with(tabled::settings::Style::sharp()).to_string());
    out.push('\n');
    for cell in matrix.failures() {
        out.push_str(&format!("FAIL consumer {} × provider {}: expected {:?}, got {:?}: {}\n", cell.consumer, cell.provider, cell.expected, cell.outcome, cell.detail));
    }
    out
}

/// The matrix as a Markdown section.
pub fn markdown_section(matrix: &InteropMatrix) -> String {
    let mut out = String::from("## Interoperability matrix\n\nReference consumer (rows) × reference provider (columns): `ok` the flow completed, `--` refused as expected (no version in common), `FAIL` otherwise.\n\n");
    out.push_str(&format!("| consumer \\ provider | {} |\n", matrix.columns.join(" | ")));
    out.push_str(&format!("|---|{}\n", "---|".repeat(matrix.columns.len())));
    for row in &matrix.rows {
        let marks: Vec<String> = matrix.columns.iter().map(|col| matrix.mark(row, col)).collect();
        out.push_str(&format!("| {row} | {} |\n", marks.join(" | ")));
    }
    let failures: Vec<&MatrixCell> = matrix.failures().collect();
    if !failures.is_empty() {
        out.push('\n');
        for cell in failures {
            out.push_str(&format!("- **FAIL** {} × {}: expected {:?}, got {:?}: {}\n", cell.consumer, cell.provider, cell.expected, cell.outcome, escape_md(&cell.detail)));
        }
    }
    out
}

fn escape_md(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The matrix as an HTML section; each cell's title holds its detail and duration.
pub fn html_section(matrix: &InteropMatrix) -> String {
    let mut out = String::from("<section class=\"matrix\"><h2>Interoperability matrix</h2><table><thead><tr><th>consumer \\ provider</th>");
    for col in &matrix.columns {
        out.push_str(&format!("<th>{}</th>", escape_html(col)));
    }
    out.push_str("</tr></thead><tbody>");
    for row in &matrix.rows {
        out.push_str(&format!("<tr><th>{}</th>", escape_html(row)));
        for col in &matrix.columns {
            let (class, title) = match matrix.cell(row, col) {
                Some(c) if !c.passed() => ("fail", format!("{} ({} ms)", c.detail, c.duration_ms)),
                Some(c) => ("pass", format!("{} ({} ms)", c.detail, c.duration_ms)),
                None => ("", String::new()),
            };
            out.push_str(&format!("<td class=\"{class}\" title=\"{}\">{}</td>", escape_html(&title), escape_html(&matrix.mark(row, col))));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></section>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matrix(outcome: Outcome) -> InteropMatrix {
        let cell = |c: &str, p: &str, expected, outcome| MatrixCell { consumer: c.into(), provider: p.into(), expected, outcome, detail: "d|<x>".into(), duration_ms: 3 };
        InteropMatrix {
            rows: vec!["2025-1".into(), "0.8".into()],
            columns: vec!["2025-1".into(), "0.8".into()],
            cells: vec![
                cell("2025-1", "2025-1", Expected::Flow, Outcome::Flow),
                cell("2025-1", "0.8", Expected::Refusal, Outcome::Refusal),
                cell("0.8", "2025-1", Expected::Refusal, Outcome::Refusal),
                cell("0.8", "0.8", Expected::Flow, outcome),
            ],
        }
    }

    #[test]
    fn a_cell_passes_only_with_its_expected_outcome() {
        assert!(matrix(Outcome::Flow).passed());
        for bad in [Outcome::Refusal, Outcome::Failed] {
            let m = matrix(bad);
            assert!(!m.passed());
            assert!(terminal_section(&m).contains("FAIL consumer 0.8 × provider 0.8"));
            assert!(markdown_section(&m).contains("**FAIL** 0.8 × 0.8"));
            assert!(html_section(&m).contains("class=\"fail\""));
        }
        let md = markdown_section(&matrix(Outcome::Flow));
        assert!(md.contains("| 2025-1 | ok | -- |"), "{md}");
        assert!(html_section(&matrix(Outcome::Flow)).contains("d|&lt;x&gt;"));
    }

    #[test]
    fn the_matrix_round_trips_through_json() {
        let m = matrix(Outcome::Failed);
        let json = serde_json::to_value(&m).unwrap();
        assert_eq!(json["cells"][3]["outcome"], "failed");
        assert_eq!(json["cells"][1]["expected"], "refusal");
        assert_eq!(serde_json::from_value::<InteropMatrix>(json).unwrap(), m);
    }
}
