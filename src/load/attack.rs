//! Running goose: one attack at a time in this process, bounded in time and quiet.
//!
//! Goose is configured through its own command-line parser (so it validates the values) with
//! everything that would print or listen switched off: no metrics table on stdout, no telnet
//! controller, no error summary. Its log records go to `tracing` like the harness's own. The
//! request budget is the collector's: when it is spent, a transaction pulls goose's killswitch,
//! which ends the attack as `--run-time` would. Goose's killswitch is process-wide, which is one
//! reason attacks never overlap; the other is that overlapping attacks would measure each other.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use goose::config::GooseConfiguration;
use goose::prelude::*;

use super::error::LoadError;

/// Serializes attacks within the process.
static ATTACK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Set when the harness itself pulled the killswitch (a spent budget). Goose installs a Ctrl-C
/// handler that pulls the same switch, so a switch pulled while this is unset was a person.
static BUDGET_SPENT: AtomicBool = AtomicBool::new(false);

/// How long past its duration and request timeout an attack may take before it is abandoned.
const GRACE: Duration = Duration::from_secs(30);

/// One goose run of one transaction by many users.
pub struct Attack {
    /// The scenario name (also goose's scenario and transaction name).
    pub name: String,
    /// The base URL goose requires (an origin).
    pub host: String,
    pub users: u32,
    pub duration: Duration,
    /// How long one request may take, body included.
    pub request_timeout: Duration,
    pub transaction: TransactionFunction,
}

/// The goose command line for an attack.
fn arguments(attack: &Attack) -> Vec<String> {
    let seconds = attack.duration.as_secs_f64().ceil().max(1.0) as u64;
    let mut args: Vec<String> = vec![
        "--host".into(),
        attack.host.clone(),
        "--users".into(),
        attack.users.max(1).to_string(),
        // Start every user at once: the figures are about the steady state, and a slow ramp
        // would be spent before it.
        "--increase-rate".into(),
        "1000".into(),
        "--run-time".into(),
        format!("{seconds}s"),
        "--timeout".into(),
        format!("{:.3}", attack.request_timeout.as_secs_f64()),
    ];
    for flag in ["--no-gzip", "--no-print-metrics", "--no-error-summary", "--no-telnet", "--quiet"] {
        args.push(flag.into());
    }
    args
}

/// Runs the attack to its end.
pub async fn run(attack: Attack) -> Result<(), LoadError> {
    let fail = |detail: String| LoadError::Goose { scenario: attack.name.clone(), detail };
    let _only_one = ATTACK.lock().await;
    // Between attacks goose's Ctrl-C handler only pulls the switch, and the next attack would
    // reset it: honour an interruption that came in the meantime.
    if goose::is_killswitch_triggered() {
        goose::reset_killswitch();
        return Err(LoadError::Interrupted);
    }
    BUDGET_SPENT.store(false, Ordering::SeqCst);
    // Without a `log` logger goose installs one that prints to stdout; route its records to
    // tracing instead. Fails harmlessly when the binary already did so.
    let _ = tracing_log::LogTracer::init();
    let configuration = GooseConfiguration::parse_args_default(&arguments(&attack)).map_err(|e| fail(e.to_string()))?;
    let scenario = Scenario::new(&attack.name).register_transaction(Transaction::new(attack.transaction.clone()).set_name(&attack.name));
    let goose = GooseAttack::initialize_with_config(configuration).map_err(|e| fail(e.to_string()))?.register_scenario(scenario);
    let limit = attack.duration + attack.request_timeout + GRACE;
    let outcome = match tokio::time::timeout(limit, goose.execute()).await {
        Ok(Ok(_metrics)) => Ok(()),
        Ok(Err(e)) => Err(fail(e.to_string())),
        Err(_) => {
            goose::trigger_killswitch("the attack overran its time limit");
            return Err(fail(format!("did not end within {} s", limit.as_secs())));
        }
    };
    let interrupted = goose::is_killswitch_triggered() && !BUDGET_SPENT.load(Ordering::SeqCst);
    goose::reset_killswitch();
    if interrupted {
        return Err(LoadError::Interrupted);
    }
    outcome
}

/// Takes SIGINT for the whole load run, before goose's first attack can. Goose installs a
/// process-wide Ctrl-C handler at its first attack and resets its killswitch at the start of
/// every attack, so a SIGINT landing between two attacks (or just before one) was caught by
/// goose's handler and then forgotten: the attack ran its whole duration. With this handler the
/// signal always reaches the run's interrupt (a second one calls `stop_at_once`),
/// and [`watch_interrupt`] keeps the killswitch pulled for as long as an attack may start.
pub fn take_sigint(interrupt: crate::runner::Interrupt, stop_at_once: impl Fn() + Send + 'static) {
    let result = ctrlc::set_handler(move || {
        if interrupt.is_triggered() {
            tracing::warn!("interrupted again: stopping at once");
            stop_at_once();
            return;
        }
        tracing::warn!("interrupted: stopping the running attack and writing the report");
        interrupt.trigger();
        goose::trigger_killswitch("interrupted");
    });
    if let Err(error) = result {
        tracing::warn!("cannot take SIGINT from goose ({error}): an interruption between two attacks may be missed");
    }
}

/// Ties a run's interrupt to goose's killswitch both ways until the returned task is aborted:
/// a triggered interrupt (SIGTERM, or SIGINT before goose took it over) ends the running
/// attack, and goose's own Ctrl-C handler, which owns SIGINT once an attack started, triggers
/// the interrupt so that no further step starts.
pub fn watch_interrupt(interrupt: crate::runner::Interrupt) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = interrupt.triggered() => break,
                _ = tokio::time::sleep(Duration::from_millis(100)) => {
                    if goose::is_killswitch_triggered() && !BUDGET_SPENT.load(Ordering::SeqCst) {
                        interrupt.trigger();
                    }
                }
            }
        }
        // Keep the switch pulled until the watcher is aborted: an interruption that lands just
        // before an attack starts would otherwise be reset by it, and the attack would run its
        // whole duration.
        loop {
            goose::trigger_killswitch("interrupted");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
}

/// Ends the running attack early (its request budget is spent).
pub fn stop_early() {
    BUDGET_SPENT.store(true, Ordering::SeqCst);
    goose::trigger_killswitch("request budget spent");
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn goose_accepts_the_arguments() {
        let attack = Attack {
            name: "x".into(),
            host: "http://127.0.0.1:9".into(),
            users: 3,
            duration: Duration::from_millis(2500),
            request_timeout: Duration::from_secs(60),
            transaction: Arc::new(|_user| Box::pin(async { Ok(()) })),
        };
        let args = arguments(&attack);
        let config = GooseConfiguration::parse_args_default(&args).expect("goose parses its arguments");
        assert_eq!(config.users, Some(3));
        assert_eq!(config.run_time.as_deref(), Some("3s"));
        assert!(config.no_telnet && config.no_print_metrics && config.no_gzip);
    }
}
