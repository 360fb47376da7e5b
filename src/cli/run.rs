//! `run`: the main job. Starts the reference data space (or reads a target file), runs the
//! carbon-emissions scenario and the conformance suites, writes every report format and
//! prints the summary table. The exit code says whether every check passed.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use super::args::{Format, RunArgs, Runtime};
use super::{exit, CliError};
use crate::report::model::{Report, RunEvent, RunInfo};
use crate::report::{self, Progress, Redactor};
use crate::runner::interrupt::{Interrupt, GRACE};
use crate::runner::session::{self, DataSpace, RunPlan};
use crate::runtime::docker::{self, DockerOptions};
use crate::suite::Filter;
use crate::runtime::embedded::EmbeddedOptions;
use crate::schema::SchemaSet;

/// Where reports go when `--report-dir` is not given: `reports/<command>-<timestamp>`.
pub fn default_report_dir(command: &str) -> PathBuf {
    Path::new("reports").join(format!("{command}-{}", chrono::Utc::now().format("%Y%m%d-%H%M%S")))
}

pub fn load_schemas(dir: Option<&Path>) -> Result<SchemaSet, CliError> {
    match dir {
        Some(dir) => SchemaSet::from_dir(dir).map_err(|e| CliError::setup(format!("cannot load schemas from {}: {e}", dir.display()))),
        None => Ok(SchemaSet::embedded_2025_1()),
    }
}

/// The plan the options ask for. Filters select conformance cases; the carbon-emissions
/// scenario runs unless a filter leaves it out (select it with `--area scenario` or
/// `--case 'mvds.*'`).
fn plan(args: &RunArgs) -> Result<RunPlan, CliError> {
    let f = &args.filter;
    let filter = Filter::from_words(&f.cases, &f.levels, f.role.as_deref(), &f.tags, &f.areas).map_err(CliError::setup)?;
    let filtered = !(f.cases.is_empty() && f.levels.is_empty() && f.role.is_none() && f.tags.is_empty() && f.areas.is_empty());
    let scenario_selected = !filtered
        || f.areas.iter().any(|a| a.eq_ignore_ascii_case("scenario"))
        || f.cases.iter().any(|p| crate::suite::filter::glob(p, crate::runner::scenario::CASES[0].id));
    Ok(RunPlan {
        scenario: !args.suites_only && scenario_selected,
        suites: !args.scenario_only,
        case_timeout: Duration::from_secs(args.timeout),
        wait: Duration::from_secs(args.wait),
        // The matrix belongs to the whole default run, not to a selection of cases.
        matrix: !filtered && !args.scenario_only && !args.suites_only && !args.no_matrix,
        filter,
        interrupt: Interrupt::new(),
        versions: args
            .dsp_version
            .iter()
            .map(|name| name.trim().parse::<crate::protocol::ProtocolVersion>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| CliError { code: exit::USAGE, message: format!("--dsp-version: {e}; expected 0.8-processid, 0.8, 2024-1 or 2025-1") })?,
    })
}

pub async fn run(args: RunArgs) -> Result<u8, CliError> {
    let max_body = crate::reference::backend::parse_size(&args.max_body)
        .and_then(|n| usize::try_from(n).ok())
        .filter(|&n| n > 0)
        .ok_or_else(|| CliError { code: exit::USAGE, message: format!("--max-body {:?} is not a size like 16MiB, 512KiB or 100000", args.max_body) })?;
    crate::recording::http::set_max_body(max_body);
    let schemas = load_schemas(args.schemas.as_deref())?;
    let plan = plan(&args)?;
    let report_dir = args.report_dir.clone().unwrap_or_else(|| default_report_dir("run"));
    let started = chrono::Utc::now();
    let mut progress = Progress::stderr();
    let mut on_event = |event: RunEvent| {
        log_case_event(&event);
        progress.handle(&event)
    };
    // Every runtime stops in order on the first Ctrl-C (the unfinished cases reported, the
    // report written, the data space shut down). A second one stops at once; for Docker the
    // run's containers are removed first, which destructors would not do then.
    let docker_run = docker::RunId::new();
    let last_cleanup: Option<LastCleanup> = (args.target.is_none() && args.runtime == Runtime::Docker).then(|| {
        let run_id = docker_run.clone();
        Arc::new(move || -> BoxFuture<'static, ()> {
            let run_id = run_id.clone();
            Box::pin(async move {
                if let Err(e) = docker::remove_run_now(&run_id).await {
                    eprintln!("error: {e}");
                }
            })
        }) as LastCleanup
    });
    interrupt_on_signals(plan.interrupt.clone(), last_cleanup);
    let space = match (&args.target, args.runtime) {
        (None, Runtime::Embedded) => DataSpace::Embedded(EmbeddedOptions::default()),
        (None, Runtime::Docker) => {
            docker::docker_available().await.map_err(|e| CliError::docker(format!("--runtime docker needs a Docker engine and none answers: {e}")))?;
            let binary = std::env::current_exe().map_err(|e| CliError::setup(format!("cannot find this program's binary: {e}")))?;
            let image = tokio::task::spawn_blocking(move || docker::ensure_image(&binary))
                .await
                .map_err(CliError::setup)?
                .map_err(|e| CliError::setup(format!("cannot build the container image: {e}")))?;
            let mut options = DockerOptions::new(image);
            tracing::info!("docker run {docker_run}: its containers and network carry the label {}={docker_run}", docker::RUN_LABEL);
            options.run_id = docker_run;
            DataSpace::Docker(options)
        }
        (Some(target), _) => {
            let (checked, failed) = preflight(target, plan.case_timeout, args.check, args.format).await?;
            if failed {
                eprintln!("error: the preflight of {} failed (the lines marked fail above); no case ran", target.display());
            }
            if args.check {
                return Ok(if failed { exit::PREFLIGHT_FAILED } else { exit::SUCCESS });
            }
            // No case runs against a target the preflight found untestable, but the run still
            // leaves its report: every case an error naming the failed lines.
            DataSpace::External(Box::new(checked))
        }
    };
    let outcome = session::run(space, &plan, &schemas, &mut on_event).await.map_err(|e| match &args.target {
        Some(target) => CliError::setup(format!("cannot run against {}: {e}", target.display())),
        None => CliError::setup(e),
    })?;
    let preflight_stopped = outcome.preflight_failed();
    let finished = chrono::Utc::now();
    let mut report = Report::new(
        RunInfo {
            id: uuid::Uuid::new_v4().to_string(),
            command: "run".to_string(),
            started_at: started.to_rfc3339(),
            finished_at: finished.to_rfc3339(),
            duration_ms: (finished - started).num_milliseconds().max(0) as u64,
            runtime: outcome.runtime,
            target: outcome.target,
            schemas: schemas.source().to_string(),
        },
        outcome.cases,
        None,
)
    .with_preflight(outcome.preflight)
    .with_matrix(outcome.matrix);
    report.summary.not_in_version = outcome.not_in_version;
    let code = finish(&report, &report_dir, outcome.secrets, args.format)?;
    if preflight_stopped {
        return Ok(exit::PREFLIGHT_FAILED);
    }
    if plan.interrupt.is_triggered() {
        eprintln!("interrupted: the cases that did not finish are reported as not run");
        return Ok(exit::INTERRUPTED);
    }
    Ok(code)
}

/// Reads the target file and runs its preflight. The lines go to stderr before a run, or to
/// stdout with `--check` (where they are the result); the flag says whether a line failed.
async fn preflight(target: &Path, timeout: std::time::Duration, check_only: bool, format: Format) -> Result<(session::CheckedTarget, bool), CliError> {
    let checked = session::check_target_within(target, timeout).await.map_err(|e| CliError::setup(format!("cannot run against {}: {e}", target.display())))?;
    let secrets = [checked.file.api_key().ok(), checked.file.static_token().ok().flatten()];
    let redactor = Redactor::with_secrets(secrets.into_iter().flatten().filter(|k| !k.is_empty()).collect());
    let report = redactor.redact_preflight(&checked.preflight);
    let mut text = format!("preflight of {}\n", target.display());
    for warning in &checked.file.warnings {
        text.push_str(&format!("warn target file: {}\n", redactor.scrub(warning)));
    }
    for line in &report.checks {
        text.push_str(&line.line());
        text.push('\n');
    }
    match (check_only, format) {
        (true, Format::Json) => println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default()),
        (true, Format::Human) => print!("{text}"),
        (false, _) => eprint!("{text}"),
    }
    let failed = report.failed();
    Ok((checked, failed))
}

/// Case starts and ends at `info` (`DSP_HARNESS_LOG=info`), for logs where no progress line
/// is drawn.
fn log_case_event(event: &RunEvent) {
    match event {
        RunEvent::CaseStarted { id, .. } => tracing::info!(case = %id, "case started"),
        RunEvent::CaseFinished(report) => tracing::info!(case = %report.id, verdict = report.verdict.as_str(), "case finished"),
        _ => {}
    }
}

/// What a second Ctrl-C does before the process stops at once (remove a run's containers).
pub type LastCleanup = Arc<dyn Fn() -> BoxFuture<'static, ()> + Send + Sync>;

/// How long the last cleanup of a second Ctrl-C may take before the process stops anyway.
const LAST_CLEANUP_LIMIT: Duration = Duration::from_secs(10);

/// Triggers `interrupt` on the first SIGINT or SIGTERM; a second one runs `last_cleanup` (at
/// most [`LAST_CLEANUP_LIMIT`]) and ends the process at once with [`exit::INTERRUPTED`], for a
/// person who will not wait for the grace period.
pub fn interrupt_on_signals(interrupt: Interrupt, last_cleanup: Option<LastCleanup>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
            tracing::warn!("cannot listen for SIGINT and SIGTERM: an interruption will lose the run");
            return;
        };
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
                on_signal(&interrupt, last_cleanup.as_ref()).await;
            }
        });
    }
    #[cfg(not(unix))]
    tokio::spawn(async move {
        while tokio::signal::ctrl_c().await.is_ok() {
            on_signal(&interrupt, last_cleanup.as_ref()).await;
        }
    });
}

async fn on_signal(interrupt: &Interrupt, last_cleanup: Option<&LastCleanup>) {
    if interrupt.is_triggered() {
        eprintln!("interrupted again: stopping at once");
        if let Some(cleanup) = last_cleanup {
            let _ = tokio::time::timeout(LAST_CLEANUP_LIMIT, cleanup()).await;
        }
        exit::stop_at_once(exit::INTERRUPTED);
        return;
    }
    eprintln!("interrupted: finishing the running cases (at most {} s) and writing the report", GRACE.as_secs());
    interrupt.trigger();
}

/// Writes every report file and prints the summary; the exit code follows the verdicts.
pub fn finish(report: &Report, report_dir: &Path, secrets: Vec<String>, format: Format) -> Result<u8, CliError> {
    let redactor = Redactor::with_secrets(secrets);
    let files = report::write_all(report, report_dir, &redactor).map_err(|e| CliError::setup(format!("cannot write the report: {e}")))?;
    let redacted = redactor.redact(report);
    match format {
        Format::Human => {
            println!("{}", report::render_terminal(&redacted));
            println!("reports: {}", files.paths().iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "));
        }
        Format::Json => println!("{}", report::render_json(&redacted)),
    }
    Ok(if report.all_passed() { exit::SUCCESS } else { exit::CHECKS_FAILED })
}
