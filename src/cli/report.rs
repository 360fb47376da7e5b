//! `report`: re-renders a saved `report.json` into any format, and compares a run with a
//! baseline run (the exit code says whether anything regressed).

use std::path::PathBuf;

use super::args::{CompareFormat, ReportArgs, ReportFormat};
use super::{exit, CliError};
use crate::report::{self, CompareOptions, Redactor};

pub fn report(args: ReportArgs) -> Result<u8, CliError> {
    let current = report::load(&args.report).map_err(CliError::setup)?;
    let out: PathBuf = args.out.clone().unwrap_or_else(|| args.report.parent().map(PathBuf::from).unwrap_or_default());
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
