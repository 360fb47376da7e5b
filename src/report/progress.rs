//! Live progress of `run` and `load` on stderr, fed by [`RunEvent`]s: one display for both.
//!
//! A conformance run draws one updating line like
//! `[ 12/80] dsp.cn.provider.003 Contract request is acknowledged`; each failed or errored
//! case also leaves a permanent `FAIL <id> <first finding>` line above it, so a person sees
//! problems before the run ends. When stderr is not a terminal (CI logs, pipes) no case line
//! is drawn: the final summary and the report files carry everything.
//!
//! A load run writes a permanent `load: ...` line per step (what it prepares, the hosts it
//! sends to, each scenario's start and headline figures), on terminals and in logs alike:
//! a load run is minutes long and its log is how CI shows where it is.

use std::io::{IsTerminal, Stderr, Write};

use super::escape;
use super::model::{LoadProgress, RunEvent, Verdict};
use super::redact::Redactor;
use super::terminal::cut;

/// Width used when the terminal does not tell (`COLUMNS` unset).
const DEFAULT_WIDTH: usize = 100;

/// Draws progress to a writer; case lines are hidden when constructed for a non-terminal
/// stderr.
pub struct Progress<W: Write = Stderr> {
    out: W,
    /// Draw case lines (a terminal).
    drawn: bool,
    width: usize,
    total: usize,
    started: usize,
    failed: usize,
    line_drawn: bool,
    redactor: Redactor,
}

impl Progress<Stderr> {
    /// Progress on stderr, hidden unless stderr is a terminal.
    pub fn stderr() -> Self {
        let stderr = std::io::stderr();
        let drawn = stderr.is_terminal();
        let width = std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()).unwrap_or(DEFAULT_WIDTH);
        Progress::build(stderr, drawn, width)
    }
}

impl<W: Write> Progress<W> {
    /// Progress drawn to any writer at a fixed width (tests, or a caller that knows better).
    pub fn to_writer(out: W, width: usize) -> Self {
        Progress::build(out, true, width)
    }

    fn build(out: W, drawn: bool, width: usize) -> Self {
        Progress {
            out,
            drawn,
            width: width.max(20),
            total: 0,
            started: 0,
            failed: 0,
            line_drawn: false,
            redactor: Redactor::new(),
        }
    }

    /// True when this progress display draws case lines.
    pub fn is_visible(&self) -> bool {
        self.drawn
    }

    /// Also redact these literal secrets from the failure lines.
    pub fn with_redactor(mut self, redactor: Redactor) -> Self {
        self.redactor = redactor;
        self
    }

    pub fn handle(&mut self, event: &RunEvent) {
        if let RunEvent::Load(step) = event {
            let line = load_line(step);
            self.clear();
            self.write(&format!("{}\n", escape::terminal(&self.redactor.scrub(&line))));
            return;
        }
        if !self.drawn {
            return;
        }
        match event {
            RunEvent::RunStarted { total_cases } => {
                self.total = *total_cases;
                self.started = 0;
                self.failed = 0;
            }
            RunEvent::CaseStarted { id, title } => {
                self.started += 1;
                let digits = self.total.to_string().len().max(3);
                let line = format!("[{:>digits$}/{}] {} {}", self.started, self.total, id, title);
                self.draw(&line);
            }
            RunEvent::CaseFinished(case) => {
                if matches!(case.verdict, Verdict::Fail | Verdict::Error) {
                    self.failed += 1;
                    let first = case
                        .findings
                        .first()
                        .map(|f| format!("[{}] {}", f.kind, f.message))
                        .or_else(|| case.reason.clone())
                        .unwrap_or_default();
                    let label = if case.verdict == Verdict::Fail { "FAIL " } else { "ERROR" };
                    let line = format!("{label} {} {}", case.id, self.redactor.scrub(&first));
                    self.clear();
                    self.write(&format!("{}\n", self.fit(&line)));
                }
            }
            RunEvent::RunFinished => self.clear(),
            RunEvent::Load(_) => {}
        }
    }

    fn fit(&self, line: &str) -> String {
        let flat = escape::terminal(&line.replace('\n', " "));
        let chars = flat.chars().count();
        if chars > self.width {
            cut(&flat, self.width - 1)
        } else {
            flat
        }
    }

    fn draw(&mut self, line: &str) {
        let fitted = self.fit(line);
        // `\r` and "erase line" redraw in place without scrolling.
        self.write(&format!("\r\x1b[2K{fitted}"));
        self.line_drawn = true;
    }

    fn clear(&mut self) {
        if self.line_drawn {
            self.write("\r\x1b[2K");
            self.line_drawn = false;
        }
    }

    fn write(&mut self, text: &str) {
        // Progress is best effort: a closed stderr must not stop the run.
        let _ = self.out.write_all(text.as_bytes());
        let _ = self.out.flush();
    }
}

fn mib(bytes: f64) -> f64 {
    bytes / (1024.0 * 1024.0)
}

/// The permanent line of a load step: what runs now, and each scenario's headline figures when
/// it ends.
fn load_line(step: &LoadProgress) -> String {
    match step {
        LoadProgress::Preparing(what) => format!("load: {what}"),
        LoadProgress::Hosts(hosts) => format!("load: sending requests to {}", hosts.join(", ")),
        LoadProgress::Started { name, users, duration } => format!("load: {name}: {users} users for {} s", duration.as_secs()),
        LoadProgress::Finished(end) => {
            let s = &end.scenario;
            let errors: u64 = s.errors.iter().map(|(_, n)| n).sum();
            let mut line = format!(
                "load: {}: {:.1} req/s, {:.1} MiB/s, p50 {:.2} ms, p99 {:.2} ms, {} errors",
                s.name,
                s.requests_per_second,
                mib(s.bytes_per_second),
                s.latency_ms.p50,
                s.latency_ms.p99,
                errors
            );
            if let Some(ratio) = s.ratio_to_baseline {
                line.push_str(&format!(", {ratio:.2}x the baseline"));
            }
            if let Some(growth) = end.memory_growth_bytes {
                line.push_str(&format!(", memory +{:.1} MiB", mib(growth as f64)));
            }
            if let Some(c) = end.cpu {
                let saturated = if c.saturated { " (saturated: the figures may be this machine's limit)" } else { "" };
                line.push_str(&format!(", this process used {:.2} of {} cores{saturated}", c.cores_busy, c.cores));
            }
            line
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::testdata::sample_report;

    fn drive(width: usize) -> String {
        let report = sample_report();
        let mut progress = Progress::to_writer(Vec::new(), width);
        progress.handle(&RunEvent::RunStarted { total_cases: report.cases.len() });
        for case in &report.cases {
            progress.handle(&RunEvent::CaseStarted { id: case.id.clone(), title: case.title.clone() });
            progress.handle(&RunEvent::CaseFinished(Box::new(case.clone())));
        }
        progress.handle(&RunEvent::RunFinished);
        String::from_utf8(progress.out).unwrap()
    }

    #[test]
    fn draws_an_updating_line_and_keeps_failures() {
        let out = drive(120);
        assert!(out.contains("\r\x1b[2K[  1/4] dsp.catalog.001 title of dsp.catalog.001"), "{out:?}");
        assert!(out.contains("[  2/4] dsp.cn.provider.003"), "{out:?}");
        assert!(out.contains("FAIL  dsp.cn.provider.003 [status] provider answered 400"), "{out:?}");
        assert!(out.contains("ERROR mvds.carbon.negotiate [transport] connection refused\n"), "{out:?}");
        assert!(!out.contains("FAIL  dsp.catalog.001"));
        // No progress line is left standing once the run finished.
        let tail = out.rsplit(['\n', '\r']).next().unwrap();
        assert!(tail.is_empty() || tail == "\x1b[2K", "the line is not cleared at the end: {out:?}");
    }

    #[test]
    fn lines_fit_the_width() {
        let out = drive(30);
        for segment in out.split(['\r', '\n']) {
            let visible = segment.trim_start_matches("\x1b[2K");
            assert!(visible.chars().count() <= 30, "{visible:?} is wider than 30");
        }
    }

    #[test]
    fn hidden_progress_draws_no_case_line() {
        let mut progress = Progress::build(Vec::new(), false, 80);
        progress.handle(&RunEvent::RunStarted { total_cases: 1 });
        progress.handle(&RunEvent::CaseStarted { id: "a".into(), title: "b".into() });
        assert!(!progress.is_visible());
        assert!(progress.out.is_empty());
    }

    #[test]
    fn load_steps_are_written_as_lines_on_terminals_and_in_logs() {
        use crate::report::model::{CpuShare, ScenarioEnd};
        let scenario = crate::report::testdata::sample_load().scenarios[0].clone();
        let name = scenario.name.clone();
        for drawn in [true, false] {
            let mut progress = Progress::build(Vec::new(), drawn, 80);
            progress.handle(&LoadProgress::Preparing("offering the payloads".into()).into());
            progress.handle(&LoadProgress::Hosts(vec!["data plane 127.0.0.1:9".into()]).into());
            progress.handle(&LoadProgress::Started { name: name.clone(), users: 4, duration: std::time::Duration::from_secs(3) }.into());
            let end = ScenarioEnd { scenario: scenario.clone(), memory_growth_bytes: Some(3 * 1024 * 1024), cpu: Some(CpuShare { cores_busy: 1.95, cores: 2, saturated: true }) };
            progress.handle(&LoadProgress::Finished(Box::new(end)).into());
            let out = String::from_utf8(progress.out).unwrap();
            let lines: Vec<&str> = out.lines().collect();
            assert_eq!(lines[0], "load: offering the payloads", "{out}");
            assert_eq!(lines[1], "load: sending requests to data plane 127.0.0.1:9");
            assert_eq!(lines[2], format!("load: {name}: 4 users for 3 s"));
            assert!(lines[3].starts_with(&format!("load: {name}: ")) && lines[3].contains("memory +3.0 MiB") && lines[3].contains("1.95 of 2 cores (saturated"), "{out}");
        }
    }
}
