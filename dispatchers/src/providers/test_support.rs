//! Fixtures the provider tests share: scratch folders and secret files, simulator listeners,
//! fault rules, and the sample push delivery. Test builds only.

use std::path::PathBuf;
use std::sync::Arc;

use notify_schemas::{samples, Delivery, Uuid};
use notify_sim::faults::FaultSettings;
use notify_sim::{Fault, FaultRule};
use tokio::net::TcpListener;

use crate::providers::failover::{BreakerConfig, Failover, ManualClock};
use crate::providers::provider::{Outcome, Provider, Reason};

pub(crate) use notify_sim::scratch::Scratch;

/// Writes `value` to a new file for a provider to read its secret from. Files live in one
/// folder per test process; folders of test processes that have exited are removed here, so
/// runs do not pile up files in the temp folder.
pub(crate) fn secret_file(value: &str) -> PathBuf {
    const PREFIX: &str = "notify-dispatchers-tests-";
    let temp = std::env::temp_dir();
    if let Ok(entries) = std::fs::read_dir(&temp) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(pid) = name.strip_prefix(PREFIX) else {
                continue;
            };
            if !std::path::Path::new("/proc").join(pid).exists() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    let dir = temp.join(format!("{PREFIX}{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(Uuid::new_v4().simple().to_string());
    std::fs::write(&path, format!("{value}\n")).unwrap();
    path
}

/// A listener on a free port of 127.0.0.1, for a simulator.
pub(crate) async fn listener() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").await.unwrap()
}

/// The sample push delivery, without an expiry (tests run at any date).
pub(crate) fn push_delivery() -> Delivery {
    let mut delivery = samples::full_push_delivery();
    delivery.expires_at = None;
    delivery
}

/// Fault settings with `rules`.
pub(crate) fn rules(rules: Vec<FaultRule>) -> FaultSettings {
    FaultSettings {
        rules,
        ..FaultSettings::default()
    }
}

/// `n` sample push deliveries, each with its own delivery id.
pub(crate) fn distinct_push_deliveries(n: usize) -> Vec<Delivery> {
    (0..n)
        .map(|_| {
            let mut d = push_delivery();
            d.delivery_id = Uuid::new_v4();
            d
        })
        .collect()
}

/// Asserts that a simulator's ledger (its delivery ids) holds each of `deliveries` exactly
/// once: none lost, none doubled.
pub(crate) fn assert_each_recorded_once(
    recorded: impl IntoIterator<Item = Option<String>>,
    deliveries: &[Delivery],
) {
    let mut seen: Vec<String> = recorded.into_iter().flatten().collect();
    seen.sort();
    let mut sent: Vec<String> = deliveries
        .iter()
        .map(|d| d.delivery_id.to_string())
        .collect();
    sent.sort();
    assert_eq!(seen, sent);
}

/// A rule applying `fault` to the next `count` requests (every request with `None`).
pub(crate) fn rule(fault: Fault, count: Option<u32>) -> FaultRule {
    FaultRule {
        fault,
        count,
        recipients: vec![],
    }
}

/// Fault settings with the one rule of [`rule`].
pub(crate) fn fault(fault: Fault, count: Option<u32>) -> FaultSettings {
    rules(vec![rule(fault, count)])
}

/// An HTTP status answer, with `Retry-After` when given.
pub(crate) fn status(code: u16, retry_after_s: Option<u64>) -> Fault {
    Fault::Status {
        code,
        retry_after_s,
    }
}

/// The reason of a failed outcome.
pub(crate) fn reason(outcome: &Outcome) -> Option<Reason> {
    match outcome {
        Outcome::Retry { reason, .. }
        | Outcome::Failed { reason, .. }
        | Outcome::InvalidRecipient { reason, .. } => Some(*reason),
        Outcome::Sent { .. } => None,
    }
}

/// The variant of an [`Outcome`], for tests that expect one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// [`Outcome::Retry`].
    Retry,
    /// [`Outcome::Failed`].
    Failed,
    /// [`Outcome::InvalidRecipient`].
    InvalidRecipient,
}

/// Asserts that `outcome` is [`Outcome::Sent`], and returns the provider's message id.
#[track_caller]
pub(crate) fn assert_sent(outcome: &Outcome) -> Option<&str> {
    match outcome {
        Outcome::Sent {
            provider_message_id,
        } => provider_message_id.as_deref(),
        other => panic!("expected sent, got {other:?}"),
    }
}

/// Asserts that `outcome` is a `kind` failure for `reason`, and returns its detail.
#[track_caller]
pub(crate) fn assert_outcome(outcome: &Outcome, kind: Kind, reason: Reason) -> &str {
    let (found, found_reason, detail) = match outcome {
        Outcome::Retry { reason, detail, .. } => (Kind::Retry, *reason, detail),
        Outcome::Failed { reason, detail } => (Kind::Failed, *reason, detail),
        Outcome::InvalidRecipient { reason, detail, .. } => {
            (Kind::InvalidRecipient, *reason, detail)
        }
        Outcome::Sent { .. } => panic!("expected {kind:?} {reason}, got {outcome:?}"),
    };
    assert_eq!((found, found_reason), (kind, reason), "{outcome:?}");
    detail
}

/// A failover named `name` from `primary` to `secondary` on a manual clock, whose breaker opens
/// after `consecutive_failures` and stays open for `cooldown_ms`; and the clock.
pub(crate) fn failover(
    name: &'static str,
    primary: impl Provider + 'static,
    secondary: impl Provider + 'static,
    consecutive_failures: u32,
    cooldown_ms: u64,
) -> (Failover, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::default());
    let config = BreakerConfig {
        consecutive_failures,
        cooldown_ms,
        ..BreakerConfig::default()
    };
    let failover = Failover::with_clock(
        name,
        Arc::new(primary),
        Arc::new(secondary),
        config,
        clock.clone(),
    );
    (failover.unwrap(), clock)
}
