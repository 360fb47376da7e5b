//! Writing every report file of a run, and reading a saved `report.json` back.
//!
//! [`write_all`] redacts once with the run's [`Redactor`] (which knows the run's literal
//! secrets) and then renders each file; each renderer applies the built-in rules again, which
//! changes nothing because redaction is idempotent. Files are written to a temporary name and
//! renamed, so a reader (a CI step, a browser) never sees half a report. [`load`] checks the
//! format version before anything else, so an old or foreign file gets a clear error instead of
//! a confusing field-level one.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::error::ReportError;
use super::html::render_html;
use super::json::render_json;
use super::junit::render_junit;
use super::markdown::render_markdown;
use super::model::{Report, FORMAT_VERSION};
use super::redact::Redactor;

pub const JSON_FILE: &str = "report.json";
pub const JUNIT_FILE: &str = "junit.xml";
pub const HTML_FILE: &str = "report.html";
pub const MARKDOWN_FILE: &str = "summary.md";

/// Where [`write_all`] put each file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportFiles {
    pub json: PathBuf,
    pub junit: PathBuf,
    pub html: PathBuf,
    pub markdown: PathBuf,
}

impl ReportFiles {
    /// The paths in a fixed order: JSON, JUnit, HTML, Markdown.
    pub fn paths(&self) -> [&Path; 4] {
        [&self.json, &self.junit, &self.html, &self.markdown]
    }
}

/// Writes `report.json`, `junit.xml`, `report.html` and `summary.md` into `dir` (created if
/// missing), all redacted by `redactor`.
pub fn write_all(report: &Report, dir: &Path, redactor: &Redactor) -> Result<ReportFiles, ReportError> {
    fs::create_dir_all(dir).map_err(|source| ReportError::CreateDir { path: dir.to_owned(), source })?;
    let report = redactor.redact(report);
    let files = ReportFiles {
        json: dir.join(JSON_FILE),
        junit: dir.join(JUNIT_FILE),
        html: dir.join(HTML_FILE),
        markdown: dir.join(MARKDOWN_FILE),
    };
    write_file(&files.json, &render_json(&report))?;
    write_file(&files.junit, &render_junit(&report))?;
    write_file(&files.html, &render_html(&report))?;
    write_file(&files.markdown, &render_markdown(&report))?;
    Ok(files)
}

fn write_file(path: &Path, contents: &str) -> Result<(), ReportError> {
    let mut temp = path.as_os_str().to_owned();
    temp.push(".tmp");
    let temp = PathBuf::from(temp);
    fs::write(&temp, contents).map_err(|source| ReportError::Write { path: temp.clone(), source })?;
    fs::rename(&temp, path).map_err(|source| ReportError::Write { path: path.to_owned(), source })
}

/// Reads a `report.json` written by [`write_all`] (or `render_json`).
pub fn load(path: &Path) -> Result<Report, ReportError> {
    let text = fs::read_to_string(path).map_err(|source| ReportError::Read { path: path.to_owned(), source })?;
    let value: Value =
        serde_json::from_str(&text).map_err(|source| ReportError::NotJson { path: path.to_owned(), source })?;
    let found = value
        .get("format_version")
        .and_then(Value::as_u64)
        .ok_or_else(|| ReportError::MissingVersion { path: path.to_owned() })?;
    if found != u64::from(FORMAT_VERSION) {
        return Err(ReportError::UnsupportedVersion { path: path.to_owned(), found, supported: FORMAT_VERSION });
    }
    serde_json::from_value(value).map_err(|source| ReportError::Invalid {
        path: path.to_owned(),
        version: FORMAT_VERSION,
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testdata::sample_report;

    #[test]
    fn writes_four_files_and_loads_the_json_back() {
        let dir = tempfile::tempdir().unwrap();
        let report = sample_report();
        let files = write_all(&report, dir.path(), &Redactor::new()).unwrap();
        for path in files.paths() {
            assert!(fs::metadata(path).unwrap().len() > 0, "{} is empty", path.display());
        }
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
        let loaded = load(&files.json).unwrap();
        assert_eq!(loaded, Redactor::new().redact(&report));
    }

    #[test]
    fn load_explains_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let check = |name: &str, contents: &str, expected: &str| {
            let path = dir.path().join(name);
            fs::write(&path, contents).unwrap();
            let message = load(&path).unwrap_err().to_string();
            assert!(message.contains(expected), "{message:?} does not contain {expected:?}");
        };
        check("a.json", "not json", "is not valid JSON");
        check("b.json", "{\"cases\": []}", "is not a dsp-harness report: it has no numeric format_version");
        check("c.json", "{\"format_version\": 99}", "has report format version 99, this dsp-harness reads version 1");
        check("d.json", "{\"format_version\": 1}", "does not match the report format version 1");
        let missing = load(&dir.path().join("missing.json")).unwrap_err().to_string();
        assert!(missing.starts_with("cannot read "), "{missing}");
    }
}
