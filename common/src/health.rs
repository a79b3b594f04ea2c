//! Readiness of a stage, for the admin endpoint's `/readyz`.
//!
//! Each dependency a stage needs (database, Kafka) reports whether its last use worked; the
//! stage is ready when every reported check is. A check never reported counts as ready, so a
//! stage is ready at start until something fails; the loops report a failure as soon as they
//! pause on it and clear it when they resume.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;

/// Shared, cloneable readiness state.
#[derive(Debug, Clone, Default)]
pub struct Health {
    checks: Arc<Mutex<BTreeMap<&'static str, Option<String>>>>,
}

/// What `/readyz` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Whether every check passes.
    pub ready: bool,
    /// Each reported check: `ok`, or why it failed.
    pub checks: BTreeMap<&'static str, String>,
}

impl Health {
    /// Nothing reported yet: ready.
    pub fn new() -> Self {
        Self::default()
    }

    /// `check` works again.
    pub fn ok(&self, check: &'static str) {
        self.lock().insert(check, None);
    }

    /// `check` failed for `reason` (no secrets, no internals beyond the error kind).
    pub fn failing(&self, check: &'static str, reason: impl Into<String>) {
        self.lock().insert(check, Some(reason.into()));
    }

    /// Whether every reported check passes.
    pub fn is_ready(&self) -> bool {
        self.lock().values().all(Option::is_none)
    }

    /// The current state of every check.
    pub fn report(&self) -> Report {
        let checks = self.lock();
        Report {
            ready: checks.values().all(Option::is_none),
            checks: checks
                .iter()
                .map(|(name, state)| (*name, state.clone().unwrap_or_else(|| "ok".to_owned())))
                .collect(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<&'static str, Option<String>>> {
        self.checks.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_until_a_check_fails_and_again_once_it_recovers() {
        let health = Health::new();
        assert!(health.is_ready());
        health.failing("database", "unavailable");
        let report = health.report();
        assert!(!report.ready);
        assert_eq!(report.checks["database"], "unavailable");
        health.ok("database");
        assert!(health.is_ready());
    }
}
