//! Cooperative shutdown: one root cancellation token and one tracker for every task.
//!
//! SIGTERM or Ctrl-C cancels the root token; so does any tracked task that fails, so one broken
//! task stops the process instead of leaving it half alive. [`Shutdown::drain`] then waits for
//! every tracked task up to the grace period and reports whether they all finished.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Owner of the process-wide cancellation token and task tracker.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    token: CancellationToken,
    tracker: TaskTracker,
}

/// How draining ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drained {
    /// Every tracked task finished within the grace period.
    Clean,
    /// The grace period ran out with tasks still running.
    TimedOut,
}

impl Shutdown {
    /// A fresh, uncancelled shutdown handle.
    pub fn new() -> Self {
        Self::default()
    }

    /// The root token; child tokens of it are handed to components.
    pub fn token(&self) -> &CancellationToken {
        &self.token
    }

    /// Whether shutdown has begun.
    pub fn is_cancelled(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Begins shutdown.
    pub fn cancel(&self) {
        self.token.cancel();
    }

    /// Spawns a tracked task. If it returns an error, the error is logged once here and the
    /// whole process begins shutting down.
    pub fn spawn<F, E>(&self, name: &'static str, task: F)
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
        E: std::fmt::Display + Send + 'static,
    {
        let token = self.token.clone();
        self.tracker.spawn(async move {
            if let Err(err) = task.await {
                tracing::error!(task = name, error = %err, "task failed, shutting down");
                token.cancel();
            }
        });
    }

    /// Cancels the root token on SIGTERM or SIGINT. Runs until one arrives or shutdown begins
    /// for another reason.
    pub async fn cancel_on_signal(&self) {
        let terminate = async {
            #[cfg(unix)]
            {
                use tokio::signal::unix::{signal, SignalKind};
                match signal(SignalKind::terminate()) {
                    Ok(mut stream) => {
                        stream.recv().await;
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "cannot listen for SIGTERM");
                        std::future::pending::<()>().await;
                    }
                }
            }
            #[cfg(not(unix))]
            std::future::pending::<()>().await;
        };
        tokio::select! {
            _ = terminate => tracing::info!("SIGTERM received, shutting down"),
            _ = tokio::signal::ctrl_c() => tracing::info!("interrupt received, shutting down"),
            () = self.token.cancelled() => return,
        }
        self.token.cancel();
    }

    /// Stops accepting new tasks and waits for tracked ones, at most `grace`.
    pub async fn drain(&self, grace: Duration) -> Drained {
        self.tracker.close();
        match tokio::time::timeout(grace, self.tracker.wait()).await {
            Ok(()) => Drained::Clean,
            Err(_) => {
                tracing::warn!(
                    grace_ms = u64::try_from(grace.as_millis()).unwrap_or(u64::MAX),
                    tasks = self.tracker.len(),
                    "grace period ran out with tasks still running"
                );
                Drained::TimedOut
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn failing_task_cancels_everything_and_drain_waits() {
        let shutdown = Shutdown::new();
        let token = shutdown.token().clone();
        shutdown.spawn("waiter", async move {
            token.cancelled().await;
            Ok::<(), String>(())
        });
        shutdown.spawn("broken", async { Err::<(), _>("boom".to_owned()) });
        assert_eq!(shutdown.drain(Duration::from_secs(5)).await, Drained::Clean);
        assert!(shutdown.is_cancelled());
    }

    #[tokio::test(start_paused = true)]
    async fn drain_reports_a_task_that_outlives_the_grace_period() {
        let shutdown = Shutdown::new();
        shutdown.spawn("stuck", async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok::<(), String>(())
        });
        shutdown.cancel();
        assert_eq!(
            shutdown.drain(Duration::from_secs(1)).await,
            Drained::TimedOut
        );
    }
}
