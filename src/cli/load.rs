//! `load`: load-tests a transfer data plane (the embedded reference one by default), prints the
//! figures with each pull's ratio to the baseline, writes them into the report directory, and
//! exits with THRESHOLD_BREACHED when a stated limit was not met.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};

use super::args::Format;
use super::{exit, CliError};
use crate::load::{self, BaselineMode, LoadOptions, LoadTarget, PayloadSource, ScenarioKind, TargetChoice, UrlTarget, Worker};
use crate::reference::backend::parse_size;
use crate::runner::Interrupt;
use crate::report::model::{Report, RunInfo, Summary, TargetInfo, ToolInfo, FORMAT_VERSION};
use crate::report::{render_json, render_terminal, write_all, Redactor};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LoadScenarioArg {
    /// HTTP pulls of the chosen payload sizes, each after its baseline.
    Pull,
    /// Whole flows: catalog, negotiate, transfer, pull.
    Flow,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PayloadSourceArg {
    /// The reference backend, as in the reference data space.
    Backend,
    /// The bare baseline server (the same generator on a server of its own), so the provider's
    /// fetches do not share the backend's listener with anything else.
    Baseline,
}

#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    /// A target file (the one `run --target` reads) with a [load] section, describing
    /// connectors of your own; without it, the embedded reference data space is load-tested.
    #[arg(long, value_name = "FILE", conflicts_with = "url")]
    pub target: Option<PathBuf>,
    /// Pull this URL as it is, with no connectors (a data plane endpoint with a token of its
    /// own, or a plain server: the load generator's own benchmark).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// The Authorization header to send with --url.
    #[arg(long, value_name = "VALUE", requires = "url")]
    pub authorization: Option<String>,
    /// Run as worker i of N (i from 0, as a Kubernetes Indexed Job numbers its pods): this
    /// run takes its share of the users and requests; `report merge` adds the workers up.
    #[arg(long, value_name = "i/N")]
    pub worker: Option<String>,
    /// Directory for report.json, junit.xml, report.html and summary.md (default:
    /// reports/load-<timestamp>, as for `run`).
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
    /// Which scenarios to run; repeatable (default: pull and flow).
    #[arg(long = "scenario", value_enum, value_name = "SCENARIO")]
    pub scenarios: Vec<LoadScenarioArg>,
    /// Payload sizes to pull, comma-separated or repeated: 1KiB, 1MiB, 64MiB, 1GiB, 1000, ...
    /// (default: the target file's load.sizes, else 1KiB,1MiB,64MiB).
    #[arg(long, value_name = "SIZES", value_delimiter = ',')]
    pub sizes: Vec<String>,
    /// Concurrent users of each pull scenario.
    #[arg(long, default_value_t = 8)]
    pub users: u32,
    /// Concurrent users of the flow scenario.
    #[arg(long, default_value_t = 4)]
    pub flow_users: u32,
    /// The payload each flow pulls.
    #[arg(long, value_name = "SIZE", default_value = "1KiB")]
    pub flow_size: String,
    /// How long each scenario runs: 5, 5s, 2m, 1m30s (at most 10m).
    #[arg(long, value_name = "TIME", default_value = "5s")]
    pub duration: String,
    /// The most requests (or flows) each scenario may send.
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    pub max_requests: u64,
    /// Do not measure the bare-server baseline (no ratio to it then).
    #[arg(long)]
    pub no_baseline: bool,
    /// Where the embedded provider fetches the payloads it serves.
    #[arg(long, value_enum, value_name = "SOURCE", default_value_t = PayloadSourceArg::Backend)]
    pub payload_source: PayloadSourceArg,
    /// A limit to gate on, for example 'p99<=250ms', 'ratio>=0.3', 'errors<=0%',
    /// 'throughput>=50MiB/s', 'flow.full:rps>=2', 'memory<=512MiB', 'memory-growth<=64MiB';
    /// repeatable.
    #[arg(long = "threshold", value_name = "RULE")]
    pub thresholds: Vec<String>,
    /// A TOML file with more limits: thresholds = ["p99<=250ms", ...].
    #[arg(long, value_name = "FILE")]
    pub thresholds_file: Option<PathBuf>,
    /// Seconds one request may take, body included (also the longest wait for a negotiation or
    /// transfer state).
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub timeout: u64,
    /// Output on stdout: the human tables or the JSON report.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

fn usage(message: impl std::fmt::Display) -> CliError {
    CliError { code: exit::USAGE, message: message.to_string() }
}

/// Reads `5`, `5s`, `90s`, `2m`, `1m30s`, `1h`.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let t = text.trim();
    if let Ok(seconds) = t.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let mut total = 0u64;
    let mut digits = String::new();
    for c in t.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let n: u64 = digits.parse().ok()?;
        digits.clear();
        total += n * match c {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return None,
        };
    }
    (digits.is_empty() && !t.is_empty()).then_some(Duration::from_secs(total))
}

fn options(args: &LoadArgs) -> Result<LoadOptions, CliError> {
    let size = |text: &str| parse_size(text).ok_or_else(|| usage(format!("{text:?} is not a size like 1KiB, 64MiB or 1GiB")));
    let mut sizes = args.sizes.iter().filter(|s| !s.trim().is_empty()).map(|s| size(s)).collect::<Result<Vec<_>, _>>()?;
    let duration =
        parse_duration(&args.duration).ok_or_else(|| usage(format!("{:?} is not a duration like 5s, 2m or 1m30s", args.duration)))?;
    let mut thresholds = load::threshold::parse_all(&args.thresholds).map_err(usage)?;
    if let Some(path) = &args.thresholds_file {
        thresholds.extend(load::threshold::read_file(path).map_err(CliError::setup)?);
    }
    let target = match (&args.target, &args.url) {
        (Some(path), _) => TargetChoice::External(Box::new(LoadTarget::read(path).map_err(CliError::setup)?)),
        (None, Some(url)) => TargetChoice::Url(UrlTarget { url: url.clone(), authorization: args.authorization.clone() }),
        (None, None) => TargetChoice::Embedded,
    };
    if sizes.is_empty() {
        sizes = match &target {
            TargetChoice::External(t) if !t.sizes.is_empty() => t.sizes.clone(),
            _ => load::DEFAULT_SIZES.to_vec(),
        };
    }
    let kinds = if args.url.is_some() && args.scenarios.is_empty() {
        vec![ScenarioKind::Pull]
    } else if args.scenarios.is_empty() {
        vec![ScenarioKind::Pull, ScenarioKind::Flow]
    } else {
        args.scenarios
            .iter()
            .map(|s| match s {
                LoadScenarioArg::Pull => ScenarioKind::Pull,
                LoadScenarioArg::Flow => ScenarioKind::Flow,
            })
            .collect()
    };
    let options = LoadOptions {
        target,
        kinds,
        sizes,
        users: args.users,
        flow_users: args.flow_users,
        flow_size: size(&args.flow_size)?,
        duration,
        max_requests: args.max_requests,
        baseline: if args.no_baseline { BaselineMode::Skip } else { BaselineMode::Measure },
        source: match args.payload_source {
            PayloadSourceArg::Backend => PayloadSource::Backend,
            PayloadSourceArg::Baseline => PayloadSource::Baseline,
        },
        request_timeout: Duration::from_secs(args.timeout),
        thresholds,
        worker: args.worker.as_deref().map(Worker::parse).transpose().map_err(usage)?,
        interrupt: Interrupt::new(),
    };
    options.validate().map_err(usage)?;
    Ok(options)
}

fn mib(bytes: f64) -> f64 {
    bytes / (1024.0 * 1024.0)
}

pub async fn load(args: LoadArgs) -> Result<u8, CliError> {
    let options = options(&args)?;
    super::run::interrupt_on_signals(options.interrupt.clone(), None);
    // After the tokio handler, so that this one, not goose's, answers SIGINT (SIGTERM stays with
    // the tokio handler).
    load::take_sigint(options.interrupt.clone(), || exit::stop_at_once(exit::INTERRUPTED));
    let started_at = chrono::Utc::now();
    let clock = Instant::now();
    let mut progress = crate::report::Progress::stderr();
    let run = load::run(&options, &mut |event| progress.handle(&event)).await.map_err(CliError::setup)?;
    let finished_at = chrono::Utc::now();
    let report = Report {
        format_version: FORMAT_VERSION,
        tool: ToolInfo { name: env!("CARGO_PKG_NAME").to_string(), version: env!("CARGO_PKG_VERSION").to_string() },
        run: RunInfo {
            id: uuid::Uuid::new_v4().to_string(),
            command: options.worker.map_or_else(|| "load".to_string(), |w| format!("load --worker {w}")),
            started_at: started_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            finished_at: finished_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            duration_ms: clock.elapsed().as_millis() as u64,
            runtime: run.target.runtime.clone(),
            target: TargetInfo {
                name: run.target.name.clone(),
                management: run.target.management.clone(),
                dsp_url: run.target.dsp_url.clone(),
                dsp_version: run.target.dsp_version.clone(),
            },
            schemas: "embedded".to_string(),
        },
        summary: Summary::default(),
        cases: Vec::new(),
        load: Some(run.load.clone()),
        preflight: None,
        matrix: None,
    };
    let redactor = Redactor::with_secrets(run.secrets.clone());
    let report_dir = args.report_dir.clone().unwrap_or_else(|| super::run::default_report_dir("load"));
    let files = write_all(&report, &report_dir, &redactor).map_err(|e| CliError::setup(format!("cannot write the report: {e}")))?;
    let report = redactor.redact(&report);
    match args.format {
        Format::Json => println!("{}", render_json(&report)),
        Format::Human => {
            print!("{}", render_terminal(&report));
            println!();
            for s in &run.load.scenarios {
                if let (Some(ratio), Some(baseline)) = (s.ratio_to_baseline, &s.baseline) {
                    println!(
                        "{}: {:.1} MiB/s, {ratio:.2}x the {:.1} MiB/s of {baseline}",
                        s.name,
                        mib(s.bytes_per_second),
                        mib(baseline_bps(&run.load, baseline))
                    );
                }
            }
            println!("memory: {}", run.memory_note);
            for (name, m) in &run.memory {
                println!(
                    "  {name}: {:.1} MiB at start, {:.1} MiB at peak (+{:.1} MiB)",
                    mib(m.start_rss as f64),
                    mib(m.peak_rss as f64),
                    mib(m.growth() as f64)
                );
            }
            println!("report: {}", files.html.display());
        }
    }
    if options.interrupt.is_triggered() {
        let measured: Vec<&str> = run.load.scenarios.iter().map(|s| s.name.as_str()).collect();
        let not_run: Vec<String> = options.plan().into_iter().map(|p| p.name).filter(|n| !measured.contains(&n.as_str())).collect();
        eprintln!("load: interrupted: the report holds the scenarios that finished; not run: {}", not_run.join(", "));
        return Ok(exit::INTERRUPTED);
    }
    if run.passed() {
        Ok(exit::SUCCESS)
    } else {
        let failed: Vec<String> = run
            .load
            .thresholds
            .iter()
            .filter(|t| !t.passed)
            .map(|t| format!("{} on {} (measured {})", t.threshold, t.scenario, t.measured))
            .collect();
        eprintln!("load: threshold breached: {}", failed.join("; "));
        Ok(exit::THRESHOLD_BREACHED)
    }
}

fn baseline_bps(load: &crate::report::model::LoadReport, name: &str) -> f64 {
    load.scenarios.iter().find(|s| s.name == name).map_or(0.0, |s| s.bytes_per_second)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("5x"), None);
        assert_eq!(parse_duration("s"), None);
        assert_eq!(parse_duration("10s5"), None);
        assert_eq!(parse_duration(""), None);
    }
}
