//! Live progress while a run goes: one updating line on stderr, fed by [`RunEvent`]s.
//!
//! The line looks like `[ 12/80] dsp.cn.provider.003 Contract request is acknowledged`; each
//! failed or errored case also leaves a permanent `FAIL <id> <first finding>` line above it, so
//! a person sees problems before the run ends. When stderr is not a terminal (CI logs, pipes)
//! nothing is drawn at all: the final summary and the report files carry everything.

use std::io::{IsTerminal, Stderr, Write};

use super::escape;
use super::model::{RunEvent, Verdict};
use super::redact::Redactor;
use super::terminal::cut;

/// Width used when the terminal does not tell (`COLUMNS` unset).
const DEFAULT_WIDTH: usize = 100;

/// Draws progress to a writer; hidden (a no-op) when constructed for a non-terminal stderr.
pub struct Progress<W: Write = Stderr> {
    out: Option<W>,
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
        let out = stderr.is_terminal().then_some(stderr);
        let width = std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()).unwrap_or(DEFAULT_WIDTH);
        Progress::build(out, width)
    }
}

impl<W: Write> Progress<W> {
    /// Progress drawn to any writer at a fixed width (tests, or a caller that knows better).
    pub fn to_writer(out: W, width: usize) -> Self {
        Progress::build(Some(out), width)
    }

    fn build(out: Option<W>, width: usize) -> Self {
        Progress {
            out,
            width: width.max(20),
            total: 0,
            started: 0,
            failed: 0,
            line_drawn: false,
            redactor: Redactor::new(),
        }
    }

    /// True when this progress display draws anything.
    pub fn is_visible(&self) -> bool {
        self.out.is_some()
    }

    /// Also redact these literal secrets from the failure lines.
    pub fn with_redactor(mut self, redactor: Redactor) -> Self {
        self.redactor = redactor;
        self
    }

    pub fn handle(&mut self, event: &RunEvent) {
        if self.out.is_none() {
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
        if let Some(out) = &mut self.out {
            // Progress is best effort: a closed stderr must not stop the run.
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
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
        String::from_utf8(progress.out.take().unwrap()).unwrap()
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
    fn hidden_progress_writes_nothing() {
        let mut progress: Progress<Vec<u8>> = Progress::build(None, 80);
        progress.handle(&RunEvent::RunStarted { total_cases: 1 });
        progress.handle(&RunEvent::CaseStarted { id: "a".into(), title: "b".into() });
        assert!(!progress.is_visible());
        assert!(progress.out.is_none());
    }
}
