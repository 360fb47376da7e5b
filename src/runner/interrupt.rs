//! Stopping a run part-way (Ctrl-C, SIGTERM) without losing it: an [`Interrupt`] that `cli`
//! triggers from a signal and the runner watches. Once triggered no further case starts, the
//! cases already running get [`GRACE`] to finish, and every case that did not finish is
//! reported as skipped with a reason that begins with [`REASON_PREFIX`], so each report
//! format shows it as not run and why.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// How long running cases may go on after an interruption; the whole stop, report included,
/// stays within a few seconds of the signal.
pub const GRACE: Duration = Duration::from_secs(3);

/// How every "not run because interrupted" reason begins, so tools can tell them from other skips.
pub const REASON_PREFIX: &str = crate::report::model::INTERRUPTED_REASON;

/// The reason of a case that never started.
pub const NOT_STARTED: &str = "interrupted: the run was stopped before this case started";

/// The reason of a case still running when the grace ran out.
pub const CUT_SHORT: &str = "interrupted: the run was stopped while this case ran and it did not finish within the grace period";

/// A run's stop switch (cheap to clone; every clone sees the same switch).
#[derive(Debug, Clone, Default)]
pub struct Interrupt {
    token: CancellationToken,
}

impl Interrupt {
    /// A switch nobody has pulled yet.
    pub fn new() -> Interrupt {
        Interrupt::default()
    }

    /// Pulls the switch: nothing new starts from now on.
    pub fn trigger(&self) {
        self.token.cancel();
    }

    pub fn is_triggered(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Resolves when the switch is pulled.
    pub async fn triggered(&self) {
        self.token.cancelled().await
    }

    /// Resolves [`GRACE`] after the switch is pulled: when running work must give up.
    pub async fn grace_over(&self) {
        self.triggered().await;
        tokio::time::sleep(GRACE).await;
    }
}

/// Whether a skip reason says the case was not run because the run was interrupted.
pub fn is_interrupted_reason(reason: &str) -> bool {
    reason.starts_with(REASON_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn clones_share_the_switch() {
        let interrupt = Interrupt::new();
        let watcher = interrupt.clone();
        assert!(!watcher.is_triggered());
        let waiting = tokio::spawn(async move { watcher.triggered().await });
        interrupt.trigger();
        tokio::time::timeout(Duration::from_secs(1), waiting).await.expect("the watcher sees the switch").expect("no panic");
        assert!(interrupt.is_triggered());
        assert!(is_interrupted_reason(NOT_STARTED) && is_interrupted_reason(CUT_SHORT));
    }
}
