//! The one start-up path of the stage binaries (`notify ingest`, `notify router`,
//! `notify dispatch`): telemetry from the configuration, a root [`Shutdown`] that SIGTERM or
//! Ctrl-C cancels, the stage run until it returns, then every tracked task drained within the
//! configured grace period.
//!
//! It guarantees the drain happens however the stage ended (cleanly, on a signal, or with an
//! error), and that the stage's own error is what the caller gets back. It does not load the
//! configuration (the binary does, once, for every subcommand) nor know what a stage builds.

use std::future::Future;
use std::time::Duration;

use crate::config::Config;
use crate::health::Health;
use crate::shutdown::Shutdown;
use crate::telemetry::{self, TelemetryError};

/// Why a stage could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum StageError<E> {
    /// Logging or the metrics endpoint could not be set up; the stage never started.
    #[error(transparent)]
    Telemetry(#[from] TelemetryError),
    /// The stage failed to build or its loop failed.
    #[error(transparent)]
    Stage(E),
}

/// Runs one stage (`service` names it in exported spans) as every stage binary does: installs
/// telemetry from `config.telemetry` with a
/// fresh [`Health`] behind the admin endpoint's `/readyz` (and `kafka.out_of_group_limit_ms`
/// behind its `/healthz`), hands `stage` that health and a root
/// [`Shutdown`] cancelled on SIGTERM or Ctrl-C, and once `stage` returns, cancels and drains
/// every tracked task for at most `config.shutdown.grace_period_ms`.
///
/// Must be called from within a tokio runtime.
pub async fn run_stage<F, Fut, E>(
    config: &Config,
    service: &str,
    stage: F,
) -> Result<(), StageError<E>>
where
    F: FnOnce(Shutdown, Health) -> Fut,
    Fut: Future<Output = Result<(), E>>,
{
    let health = Health::new();
    telemetry::init(&config.telemetry, &health, service)?;
    crate::group_watch::set_limit(Duration::from_millis(config.kafka.out_of_group_limit_ms));
    let grace = Duration::from_millis(config.shutdown.grace_period_ms);
    let ran = supervise(Shutdown::new(), grace, |shutdown| stage(shutdown, health)).await;
    telemetry::flush();
    ran.map_err(StageError::Stage)
}

/// Runs `stage` with `shutdown` until it returns, cancelling `shutdown` on a signal meanwhile;
/// then cancels it (so tasks the stage spawned stop too) and drains them within `grace`.
async fn supervise<F, Fut, E>(shutdown: Shutdown, grace: Duration, stage: F) -> Result<(), E>
where
    F: FnOnce(Shutdown) -> Fut,
    Fut: Future<Output = Result<(), E>>,
{
    let signals = shutdown.clone();
    tokio::spawn(async move { signals.cancel_on_signal().await });
    let ran = stage(shutdown.clone()).await;
    shutdown.cancel();
    shutdown.drain(grace).await;
    ran
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_failing_stage_returns_its_error_after_its_tasks_drained() {
        let stopped = Arc::new(AtomicBool::new(false));
        let seen = stopped.clone();
        let ran = supervise(
            Shutdown::new(),
            Duration::from_secs(5),
            |shutdown| async move {
                let token = shutdown.token().clone();
                shutdown.spawn("worker", async move {
                    token.cancelled().await;
                    seen.store(true, Ordering::SeqCst);
                    Ok::<(), String>(())
                });
                Err::<(), _>("boom")
            },
        )
        .await;
        assert_eq!(ran, Err("boom"));
        assert!(stopped.load(Ordering::SeqCst), "the worker was not drained");
    }

    #[tokio::test(start_paused = true)]
    async fn a_stuck_task_does_not_hold_the_stage_past_the_grace_period() {
        let ran = supervise(
            Shutdown::new(),
            Duration::from_secs(1),
            |shutdown| async move {
                shutdown.spawn("stuck", async {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    Ok::<(), String>(())
                });
                Ok::<(), String>(())
            },
        )
        .await;
        assert_eq!(ran, Ok(()));
    }
}
