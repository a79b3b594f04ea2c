//! The scheduler: re-emits deferred requests to `notify.requests` when they are due.
//!
//! Every poll interval it sweeps its shards of the [`Schedule`]; for each due row it claims
//! the row (a lightweight transaction: one of several scheduler instances wins), produces the
//! payload under the original key (`tenant:user`) with the header
//! [`DEFERRED_UNTIL_HEADER`], waits for the broker's acknowledgement (`acks=all`, idempotent
//! producer) and only then completes (deletes) the row.
//!
//! What that promises: **at least once into Kafka; a repeat is recognised by deduplication**,
//! so the provider gets it twice only within the dispatchers' own bound (a crash between a
//! send and its log row; delivery is at least once with deduplication, not exactly once).
//! Several instances never re-emit a row at the same time; but an instance
//! that dies (or stalls past its lease) between the acknowledgement and the delete leaves the
//! row, and another instance re-emits it once the lease ran out. The copy carries the same
//! event id, so the router derives the same delivery ids and the notification log drops the
//! duplicate. The window is the time of one delete after the acknowledgement; a failed delete
//! is retried at once a few times to keep it small.
//!
//! Nothing is dropped: a database or Kafka error leaves the row in the schedule (its claim runs
//! out after the lease), is logged once when the sweep starts failing, and the sweep backs off
//! and tries again until it succeeds.
//!
//! The router must honour [`DEFERRED_UNTIL_HEADER`]: a record that carries it was already
//! deferred until then and must not be deferred again to that time or earlier, whatever the
//! router's clock says. Deferred to the same time, it would be written to the very row this
//! scheduler is about to delete (and lost); deferred earlier, it would come straight back.
//!
//! Shutdown: after `cancel` the rows in flight are finished, which takes at most
//! `produce_timeout`; the stage's shutdown grace period should be longer. Only the payload and
//! the key are re-emitted; headers of the original record are not kept.

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use notify_common::clock::{Clock, SystemClock};
use notify_common::kafka::header_str;
use notify_common::publish::Publisher;
use notify_store::schedule::{Schedule, SHARDS};
use rdkafka::message::Headers;
use tokio_util::sync::CancellationToken;

use crate::metrics::SCHEDULE_ERRORS_TOTAL;

mod sweep;
/// The due time to write for a deferral of a record the scheduler re-emitted from a row due at
/// `re_emitted_from` (its `notify-deferred-until` header): `due_ms`, but later than that row. A
/// row is keyed by its due time, and the scheduler deletes (and never claims again) the row it
/// re-emitted once Kafka acknowledged it, which may be after this deferral was written: a
/// deferral to the same time (a router whose clock is a little behind computes the same
/// rate-limit window end) would be that row, and be lost.
pub(crate) fn after_earlier_row(due_ms: i64, re_emitted_from: Option<i64>) -> i64 {
    re_emitted_from.map_or(due_ms, |earlier| due_ms.max(earlier.saturating_add(1)))
}

#[cfg(test)]
mod tests;

/// Kafka header of a re-emitted request: the due time (milliseconds since the epoch, decimal
/// ASCII) it was deferred until.
pub const DEFERRED_UNTIL_HEADER: &str = "notify-deferred-until";

/// The due time a re-emitted record was deferred until, from its headers.
pub fn deferred_until_ms<H: Headers>(headers: &H) -> Option<i64> {
    header_str(headers, DEFERRED_UNTIL_HEADER).and_then(|due| due.parse().ok())
}

/// Why the scheduler cannot run at all. Database and Kafka errors are not here: the
/// scheduler retries those for as long as it runs.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    /// The settings contradict each other.
    #[error("invalid scheduler settings: {0}")]
    Config(String),
}

/// Re-emits due rows of the schedule. Build it with [`Scheduler::new`] and adjust the public
/// settings; [`Scheduler::run`] checks them.
pub struct Scheduler {
    /// The schedule to sweep.
    pub schedule: Arc<dyn Schedule>,
    /// Publishes each re-emitted record and waits for its acknowledgement: a
    /// `notify_common::publish::KafkaPublisher` over the idempotent `acks=all` producer (the
    /// routing loop's), whose queue wait is shorter than `produce_timeout`.
    pub publisher: Arc<dyn Publisher>,
    /// Where due requests go: `notify.requests`.
    pub topic: String,
    /// This instance's name in claims; unique per process (e.g. host name and a random id).
    pub owner: String,
    /// The shards this instance sweeps. Every instance may sweep all of them (claims keep
    /// re-emissions single); splitting them only spreads the reads.
    pub shards: Range<u16>,
    /// Pause between sweeps.
    pub poll_interval: Duration,
    /// How long a claim keeps other instances off a row. Must exceed `produce_timeout` with
    /// room to spare, or a slow acknowledgement lets another instance re-emit the row too.
    pub lease: Duration,
    /// Longest wait for the broker's acknowledgement of one record; set it to the producer's
    /// `message.timeout.ms` (`kafka.message_timeout_ms`) so a timeout here is a real failure.
    pub produce_timeout: Duration,
    /// Rows read from one shard at a time.
    pub batch_size: usize,
    /// Rows being claimed, produced and completed at once.
    pub max_in_flight: usize,
    /// Longest pause between sweeps while the database or Kafka fails.
    pub max_backoff: Duration,
    /// What decides which rows are due.
    pub clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("schedule", &self.schedule)
            .field("topic", &self.topic)
            .field("owner", &self.owner)
            .field("shards", &self.shards)
            .field("poll_interval", &self.poll_interval)
            .field("lease", &self.lease)
            .field("produce_timeout", &self.produce_timeout)
            .field("batch_size", &self.batch_size)
            .field("max_in_flight", &self.max_in_flight)
            .field("max_backoff", &self.max_backoff)
            .finish_non_exhaustive()
    }
}

impl Scheduler {
    /// A scheduler over every shard with the defaults: a sweep per second, a 90 s lease,
    /// 30 s produce timeout (the producer's default `message.timeout.ms`), 256 rows per read,
    /// 64 in flight, backoff up to 30 s, the system clock.
    pub fn new(
        schedule: Arc<dyn Schedule>,
        publisher: Arc<dyn Publisher>,
        topic: impl Into<String>,
        owner: impl Into<String>,
    ) -> Self {
        Self {
            schedule,
            publisher,
            topic: topic.into(),
            owner: owner.into(),
            shards: 0..SHARDS,
            poll_interval: Duration::from_secs(1),
            lease: Duration::from_secs(90),
            produce_timeout: Duration::from_secs(30),
            batch_size: 256,
            max_in_flight: 64,
            max_backoff: Duration::from_secs(30),
            clock: Arc::new(SystemClock),
        }
    }

    fn validate(&self) -> Result<(), SchedulerError> {
        let fail = |msg: String| Err(SchedulerError::Config(msg));
        if self.shards.is_empty() || self.shards.end > SHARDS {
            return fail(format!(
                "shards {:?} must be a non-empty part of 0..{SHARDS}",
                self.shards
            ));
        }
        if self.owner.is_empty() || self.topic.is_empty() {
            return fail("owner and topic must not be empty".into());
        }
        if self.batch_size == 0 || self.max_in_flight == 0 {
            return fail("batch_size and max_in_flight must be at least 1".into());
        }
        if self.poll_interval.is_zero() || self.max_backoff < self.poll_interval {
            return fail("poll_interval must be positive and max_backoff at least as long".into());
        }
        // The claim must outlive the produce and the delete after it, with room for a slow
        // database: otherwise a second instance re-emits rows that are merely slow.
        if self.lease < self.produce_timeout * 2 {
            return fail(format!(
                "lease ({:?}) must be at least twice produce_timeout ({:?})",
                self.lease, self.produce_timeout
            ));
        }
        Ok(())
    }

    /// Sweeps until `cancel` fires, then finishes the rows in flight and returns. Returns an
    /// error only for settings it cannot run with; failures of the database or Kafka are
    /// retried with backoff for as long as it runs.
    pub async fn run(self, cancel: CancellationToken) -> Result<(), SchedulerError> {
        self.validate()?;
        tracing::info!(owner = %self.owner, shards = ?self.shards, topic = %self.topic, "scheduler started");
        let mut backoff = self.poll_interval;
        let mut failing_since: Option<tokio::time::Instant> = None;
        while !cancel.is_cancelled() {
            let pause = match self.sweep(&cancel).await {
                Ok(report) => {
                    if report.reemitted > 0 || report.skipped > 0 {
                        tracing::debug!(
                            reemitted = report.reemitted,
                            skipped = report.skipped,
                            "schedule sweep"
                        );
                    }
                    if let Some(since) = failing_since.take() {
                        tracing::info!(
                            failed_for_s = since.elapsed().as_secs(),
                            "scheduler recovered"
                        );
                    }
                    backoff = self.poll_interval;
                    self.poll_interval
                }
                Err(err) => {
                    metrics::counter!(SCHEDULE_ERRORS_TOTAL, "error" => err.label()).increment(1);
                    // Logged once when the failure starts, not on every retry.
                    if failing_since.is_none() {
                        failing_since = Some(tokio::time::Instant::now());
                        tracing::warn!(error = %err, "schedule sweep failed; retrying with backoff");
                    } else {
                        tracing::debug!(error = %err, "schedule sweep failed again");
                    }
                    let pause = backoff;
                    backoff = (backoff * 2).min(self.max_backoff);
                    pause
                }
            };
            tokio::select! {
                () = cancel.cancelled() => break,
                () = tokio::time::sleep(pause) => {}
            }
        }
        tracing::info!(owner = %self.owner, "scheduler stopped");
        Ok(())
    }
}
