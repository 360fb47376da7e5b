//! `report`: re-renders a saved `report.json` into any format, and compares a run with a
//! baseline run (the exit code says whether anything regressed). `report merge` adds up the
//! load reports of several workers.

use std::path::{Path, PathBuf};

use clap::Args;

use super::args::{CompareFormat, Format, ReportAction, ReportArgs, ReportFormat};
use super::{exit, CliError};
use crate::report::{self, CompareOptions, Redactor};

pub fn report(args: ReportArgs) -> Result<u8, CliError> {
    if let Some(ReportAction::Merge(merge)) = &args.action {
        return merge_reports(merge);
    }
    let Some(report_path) = args.report.clone() else {
        return Err(CliError { code: exit::USAGE, message: "report needs a report.json (or: report merge DIR...)".into() });
    };
    let current = report::load(&report_path).map_err(CliError::setup)?;
    let out: PathBuf = args.out.clone().unwrap_or_else(|| report_path.parent().map(PathBuf::from).unwrap_or_default());
    let redactor = Redactor::new();
    let write = |name: &str, text: String| -> Result<(), CliError> {
        std::fs::create_dir_all(&out).map_err(|e| CliError::setup(format!("cannot create {}: {e}", out.display())))?;
        let path = out.join(name);
        std::fs::write(&path, text).map_err(|e| CliError::setup(format!("cannot write {}: {e}", path.display())))?;
        eprintln!("wrote {}", path.display());
        Ok(())
    };
    let redacted = redactor.redact(&current);
    match args.format {
        ReportFormat::All => {
            let files = report::write_all(&current, &out, &redactor).map_err(CliError::setup)?;
            for path in files.paths() {
                eprintln!("wrote {}", path.display());
            }
            println!("{}", report::render_terminal(&redacted));
        }
        ReportFormat::Terminal => println!("{}", report::render_terminal(&redacted)),
        ReportFormat::Junit => write(report::write::JUNIT_FILE, report::render_junit(&redacted))?,
        ReportFormat::Json => write(report::write::JSON_FILE, report::render_json(&redacted))?,
        ReportFormat::Html => write(report::write::HTML_FILE, report::render_html(&redacted))?,
        ReportFormat::Markdown => write(report::write::MARKDOWN_FILE, report::render_markdown(&redacted))?,
    }
    let Some(baseline_path) = &args.baseline else { return Ok(exit::SUCCESS) };
    let baseline = report::load(baseline_path).map_err(CliError::setup)?;
    let options = CompareOptions { duration_ratio: args.slower_factor, slower_cases_regress: args.slower_regresses, ..CompareOptions::default() };
    let comparison = report::compare(&current, &baseline, &options);
    println!(
        "{}",
        match args.compare_format {
            CompareFormat::Terminal => report::render_comparison_terminal(&comparison),
            CompareFormat::Markdown => report::render_comparison_markdown(&comparison),
            CompareFormat::Json => report::render_comparison_json(&comparison),
        }
    );
    Ok(if comparison.regressed() { exit::REGRESSED } else { exit::SUCCESS })
}

#[derive(Debug, Clone, Args)]
pub struct MergeArgs {
    /// The workers' report directories (or their report.json files).
    #[arg(value_name = "DIR", required = true)]
    pub inputs: Vec<PathBuf>,
    /// Where the merged report goes (default: reports/load-merged-<timestamp>).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// A limit to judge the totals against, as for `load --threshold`; repeatable.
    #[arg(long = "threshold", value_name = "RULE")]
    pub thresholds: Vec<String>,
    /// Output on stdout: the human tables or the JSON report.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

fn merge_reports(args: &MergeArgs) -> Result<u8, CliError> {
    let thresholds = crate::load::threshold::parse_all(&args.thresholds).map_err(|e| CliError {
        code: exit::USAGE,
        message: e.to_string(),
    })?;
    let mut reports = Vec::new();
    for input in &args.inputs {
        let path = if input.is_dir() {
            input.join(report::write::JSON_FILE)
        } else {
            input.clone()
        };
        reports.push(report::load(&path).map_err(CliError::setup)?);
    }
    let mut merged =
        report::merge::merge(&report::merge::label(reports)).map_err(CliError::setup)?;
    let Some(load) = merged.load.as_mut() else {
        return Err(CliError::setup("the merged report has no load figures"));
    };
    // Judged on the totals only: a worker's own figures are named worker.<i>.<scenario>.
    load.thresholds = crate::load::threshold::evaluate(&thresholds, load, &[]);
    let passed = load.thresholds.iter().all(|t| t.passed);
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| super::run::default_report_dir("load-merged"));
    let redactor = Redactor::new();
    let files = report::write_all(&merged, &out, &redactor)
        .map_err(|e| CliError::setup(format!("cannot write the merged report: {e}")))?;
    let merged = redactor.redact(&merged);
    match args.format {
        Format::Json => println!("{}", report::render_json(&merged)),
        Format::Human => {
            print!("{}", report::render_terminal(&merged));
            if let Some(load) = &merged.load {
                println!();
                for s in load
                    .scenarios
                    .iter()
                    .filter(|s| !s.name.starts_with("worker."))
                {
                    let bytes = report::merge::bytes(s);
                    println!(
                        "{}: {} requests, {} bytes, {:.1} req/s in total",
                        s.name, s.requests, bytes, s.requests_per_second
                    );
                }
            }
            println!("report: {}", files.html.display());
        }
    }
    show_written(&files.json);
    Ok(if passed {
        exit::SUCCESS
    } else {
        exit::THRESHOLD_BREACHED
    })
}

fn show_written(path: &Path) {
    eprintln!("wrote {}", path.display());
}
