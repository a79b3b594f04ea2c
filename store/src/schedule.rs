//! The schedule: notification requests that wait for a later time (`send_at` in the future,
//! quiet hours) until a scheduler re-emits them to `notify.requests`.
//!
//! Layout. A row lives in the partition of its due minute and one of [`SHARDS`] shards (a hash
//! of tenant and event id, see [`shard_of`]), so one minute's traffic is spread over several
//! partitions; within a partition rows sort by due time and are keyed by tenant and event id,
//! so deferring the same event to the same time twice leaves one row.
//!
//! Guarantees every implementation gives (the scenarios in `store/tests/schedule.rs` run
//! against both [`MemorySchedule`] and [`CassandraSchedule`]):
//! - [`Schedule::defer`] is idempotent, and a deferred row is found by [`Schedule::due`] once
//!   its time has come, whenever the defer happened: also into a minute the sweep already
//!   passed (see the watermark below);
//! - of several callers of [`Schedule::claim`] for the same row, at most one wins until its
//!   lease runs out; after that the row can be claimed again (its owner is presumed dead);
//!   a row that was completed can never be claimed again;
//! - [`Schedule::complete`] removes the row for good.
//!
//! How a scheduler uses it, and what that promises: claim, produce the payload to
//! `notify.requests` and wait for the acknowledgement, then complete. That is **at least once
//! into Kafka**: a scheduler that dies (or stalls longer than its lease) after the produce and
//! before the complete leaves the row to be re-emitted by another instance once the lease
//! runs out. Deduplication recognises the copy: the re-emitted record carries the same event
//! id, so the router derives the same delivery ids and the notification log recognises the
//! second copy; the provider gets it twice only within the dispatchers' own bound (a crash
//! between a send and its log row). The window for such a copy is the time between the
//! broker's acknowledgement and the delete, a few milliseconds.
//!
//! The watermark. Each shard keeps the instant before which every row has been completed, so
//! a sweep reads from there to now instead of scanning minutes forever. A sweep moves it only
//! up to the first row it still found, and never closer to now than [`SETTLE_MS`]. A defer
//! whose due time is already more than [`MAX_CLOCK_SKEW_MS`] past the writer's clock (it was
//! slow, or its due time was computed late) lowers the watermark under a lightweight
//! transaction that also bumps a version, and a sweep moves the watermark only with a
//! transaction conditioned on the version it read, so such a row is always found. A defer due
//! later than that never touches the watermark (beyond one read per shard and process, to
//! make sure it exists): a sweep cannot have passed it. This needs the clocks of writers and
//! schedulers to agree within [`MAX_CLOCK_SKEW_MS`]. A defer overdue by more than
//! [`MAX_OVERDUE_MS`] is stored as due now, so one bad timestamp cannot drag a watermark back
//! by years and make its shard's sweeps crawl through every empty minute since.
//!
//! Not guaranteed: order between rows (the scheduler re-emits concurrently; per-user order is
//! restored only by Kafka's key partitioning after re-emission); that a defer of the same
//! event to a *different* time is merged with the first (that is two rows and two emissions,
//! the second recognised downstream as a duplicate). Limit: completed rows are deleted, and
//! until the watermark passes them (about [`SETTLE_MS`] after they were due) every sweep
//! reads their tombstones. Cassandra refuses a read over 100,000 tombstones by default
//! (`tombstone_failure_threshold`), so one minute of one shard must stay well below that,
//! that is well below 1.6 million rows due in the same minute overall; larger campaigns need
//! their due times spread over several minutes.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use crate::session::StoreResult;
/// Milliseconds since the epoch on this host's clock: the watermark protocol assumes the real one.
pub(crate) use notify_common::clock::now_ms as wall_clock_ms;

mod cassandra;
mod memory;

pub use cassandra::CassandraSchedule;
pub use memory::MemorySchedule;

/// Shards each due minute is spread over. Fixed forever: changing it moves rows to partitions
/// no sweep reads.
pub const SHARDS: u16 = 16;

/// How close to now a sweep may move a watermark. Rows due in the last `SETTLE_MS` are read
/// again by every sweep, which is what lets an ordinary defer skip the watermark.
pub const SETTLE_MS: i64 = 30_000;

/// The largest difference between the clocks of writers and schedulers the watermark protocol
/// tolerates; a defer due more than this before the writer's now takes part in the protocol.
pub const MAX_CLOCK_SKEW_MS: i64 = 15_000;

/// Most due minutes one [`Schedule::due`] call reads, so a shard that fell far behind (the
/// scheduler was down for a day) catches up over several calls, oldest first.
pub const MAX_MINUTES_PER_CALL: i64 = 60;

/// A defer due longer ago than this is stored as due at the writer's now: it is overdue either
/// way, and a watermark dragged far back would make every sweep of its shard walk through each
/// empty minute since.
pub const MAX_OVERDUE_MS: i64 = 60 * MINUTE_MS;

const MINUTE_MS: i64 = 60_000;

/// One deferred notification request.
#[derive(Clone, PartialEq, Eq)]
pub struct ScheduledItem {
    /// The tenant the request belongs to.
    pub tenant: String,
    /// The request's event id; with the tenant, the identity of the row.
    pub event_id: String,
    /// The Kafka key to re-emit under (`tenant:user`), so the user's partition is kept.
    pub routing_key: String,
    /// When the request is due, milliseconds since the epoch.
    pub due_at_ms: i64,
    /// Why it waits (`send_at`, `quiet_hours`), for operators and status records.
    pub reason: String,
    /// The encoded `NotificationRequest` to re-emit, opaque to the schedule.
    pub payload: Vec<u8>,
}

impl fmt::Debug for ScheduledItem {
    // The payload carries user content; its size is all a log line needs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScheduledItem")
            .field("tenant", &self.tenant)
            .field("event_id", &self.event_id)
            .field("routing_key", &self.routing_key)
            .field("due_at_ms", &self.due_at_ms)
            .field("reason", &self.reason)
            .field("payload_bytes", &self.payload.len())
            .finish()
    }
}

impl ScheduledItem {
    /// The shard of this item's row.
    pub fn shard(&self) -> u16 {
        shard_of(&self.tenant, &self.event_id)
    }

    /// The due minute (minutes since the epoch) of this item's row.
    pub fn due_minute(&self) -> i64 {
        minute_of(self.due_at_ms)
    }
}

/// The shard of an event: the first two bytes of SHA-256 over tenant, a zero byte and event
/// id, modulo [`SHARDS`]. A stable hash on purpose: every process must agree on it forever.
pub fn shard_of(tenant: &str, event_id: &str) -> u16 {
    let mut hasher = Sha256::new();
    hasher.update(tenant.as_bytes());
    hasher.update([0]);
    hasher.update(event_id.as_bytes());
    let digest = hasher.finalize();
    u16::from_be_bytes([digest[0], digest[1]]) % SHARDS
}

/// The minute (since the epoch) an instant in milliseconds falls in.
pub fn minute_of(ms: i64) -> i64 {
    ms.div_euclid(MINUTE_MS)
}

/// The schedule, as the router (defer) and the scheduler (due, claim, complete) need it.
#[async_trait]
pub trait Schedule: Send + Sync + fmt::Debug {
    /// Stores `item` until it is due. Idempotent: the same tenant, event id and due time
    /// deferred again is the same row (its other fields are overwritten). An item overdue by
    /// more than [`MAX_OVERDUE_MS`] is stored as due now.
    async fn defer(&self, item: &ScheduledItem) -> StoreResult<()>;

    /// Up to `limit` rows of `shard` due at or before `now_ms`, oldest first, claimed or not.
    /// Also moves the shard's watermark past rows that are gone. `now_ms` must be the
    /// caller's wall clock: a sweep "from the future" would move the watermark past rows
    /// that ordinary defers then write behind it.
    async fn due(&self, now_ms: i64, shard: u16, limit: usize) -> StoreResult<Vec<ScheduledItem>>;

    /// Takes `item` for `owner` for `lease`. True for at most one caller at a time, and only
    /// while the row still exists; a claim runs out after `lease` (rounded up to whole
    /// seconds) and the row can then be claimed again. The caller must finish with the item
    /// well within the lease, or another instance re-emits it too.
    async fn claim(&self, item: &ScheduledItem, owner: &str, lease: Duration) -> StoreResult<bool>;

    /// Removes `item` for good, once its record is acknowledged by Kafka. Idempotent.
    async fn complete(&self, item: &ScheduledItem) -> StoreResult<()>;
}

/// One sweep of a shard from its watermark: which minutes and slices to read, and where the
/// watermark may move afterwards. Shared by both implementations so they walk alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Walk {
    watermark_ms: i64,
    now_ms: i64,
}

impl Walk {
    pub(crate) fn new(watermark_ms: i64, now_ms: i64) -> Self {
        Self {
            watermark_ms,
            now_ms,
        }
    }

    /// Where a shard without a watermark starts: nothing before it can exist (every defer
    /// makes sure of a watermark at or before its row), and nothing closer to now is skipped.
    pub(crate) fn initial_watermark(now_ms: i64) -> i64 {
        now_ms - SETTLE_MS
    }

    /// The due minutes to read, oldest first: from the watermark's minute to now's, at most
    /// [`MAX_MINUTES_PER_CALL`] of them.
    pub(crate) fn minutes(&self) -> std::ops::RangeInclusive<i64> {
        let first = minute_of(self.watermark_ms);
        let last = minute_of(self.now_ms).min(first + MAX_MINUTES_PER_CALL - 1);
        first..=last
    }

    /// The earliest due time to read in `minute`: the watermark in its own minute, else the
    /// minute's start.
    pub(crate) fn slice_start(&self, minute: i64) -> i64 {
        (minute * MINUTE_MS).max(self.watermark_ms)
    }

    /// The watermark after reading every minute of [`Walk::minutes`] in order (or stopping
    /// early, after `last_read_minute`), where `first_found_ms` is the due time of the first
    /// row found. It never passes a row found, a minute not read, or now minus [`SETTLE_MS`],
    /// and never moves back.
    pub(crate) fn next_watermark(&self, first_found_ms: Option<i64>, last_read_minute: i64) -> i64 {
        let read_until = if last_read_minute >= minute_of(self.now_ms) {
            i64::MAX
        } else {
            (last_read_minute + 1) * MINUTE_MS
        };
        let target = first_found_ms
            .unwrap_or(i64::MAX)
            .min(read_until)
            .min(self.now_ms - SETTLE_MS);
        target.max(self.watermark_ms)
    }
}

/// The due time a defer at `now_ms` stores (see [`MAX_OVERDUE_MS`]).
pub(crate) fn stored_due(due_at_ms: i64, now_ms: i64) -> i64 {
    if due_at_ms < now_ms.saturating_sub(MAX_OVERDUE_MS) {
        now_ms
    } else {
        due_at_ms
    }
}

/// Whether a defer written at `now_ms` must take part in the watermark protocol: its row may
/// be behind a sweep that is running right now.
pub(crate) fn is_late(due_at_ms: i64, now_ms: i64) -> bool {
    due_at_ms < now_ms - MAX_CLOCK_SKEW_MS
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 28_333_333 * MINUTE_MS; // a minute boundary in November 2023
    const M: i64 = MINUTE_MS;

    #[test]
    fn shards_are_stable_and_spread() {
        let mut seen = [0u32; SHARDS as usize];
        for i in 0..1_600 {
            seen[usize::from(shard_of("tn_a", &format!("event-{i}")))] += 1;
        }
        assert!(seen.iter().all(|&n| n > 50), "uneven spread: {seen:?}");
        // Pinned (computed independently with Python's hashlib): a change to the hash would
        // strand every row already written.
        let pinned: Vec<u16> = ["e1", "e2", "e3"]
            .iter()
            .map(|e| shard_of("tn", e))
            .collect();
        assert_eq!(pinned, [11, 8, 11]);
    }

    #[test]
    fn minutes_are_floored_also_before_the_epoch() {
        assert_eq!(minute_of(0), 0);
        assert_eq!(minute_of(59_999), 0);
        assert_eq!(minute_of(60_000), 1);
        assert_eq!(minute_of(-1), -1);
    }

    #[test]
    fn a_walk_reads_from_the_watermark_to_now() {
        let walk = Walk::new(T - 3 * M, T);
        assert_eq!(walk.minutes(), minute_of(T) - 3..=minute_of(T));
        // In the watermark's own minute the read starts at the watermark.
        assert_eq!(walk.slice_start(minute_of(T) - 3), T - 3 * M);
        assert_eq!(walk.slice_start(minute_of(T) - 2), (minute_of(T) - 2) * M);
    }

    #[test]
    fn a_walk_far_behind_reads_a_bounded_number_of_minutes() {
        let walk = Walk::new(T - 24 * 60 * M, T);
        let minutes = walk.minutes();
        assert_eq!(minutes.end() - minutes.start() + 1, MAX_MINUTES_PER_CALL);
        // Nothing found: the watermark moves to the end of what was read, not to now.
        let next = walk.next_watermark(None, *minutes.end());
        assert_eq!(next, (minutes.end() + 1) * M);
    }

    #[test]
    fn the_watermark_stops_at_the_first_row_found() {
        let walk = Walk::new(T - 10 * M, T);
        assert_eq!(
            walk.next_watermark(Some(T - 7 * M + 5), minute_of(T)),
            T - 7 * M + 5
        );
    }

    #[test]
    fn the_watermark_keeps_away_from_now() {
        let walk = Walk::new(T - 10 * M, T);
        assert_eq!(walk.next_watermark(None, minute_of(T)), T - SETTLE_MS);
        // A row found inside the settle window does not pull it closer either.
        assert_eq!(
            walk.next_watermark(Some(T - 1), minute_of(T)),
            T - SETTLE_MS
        );
    }

    #[test]
    fn the_watermark_never_moves_back() {
        // The caller's clock went back: nothing is re-read, nothing is given up.
        let walk = Walk::new(T, T - 5 * M);
        assert!(walk.minutes().is_empty());
        assert_eq!(walk.next_watermark(None, minute_of(T)), T);
    }

    #[test]
    fn only_defers_well_in_the_past_are_late() {
        assert!(!is_late(T + M, T));
        assert!(!is_late(T, T));
        assert!(!is_late(T - MAX_CLOCK_SKEW_MS, T));
        assert!(is_late(T - MAX_CLOCK_SKEW_MS - 1, T));
        // A defer that is not late is never behind a watermark a sweep set, even when the
        // sweep's clock is MAX_CLOCK_SKEW_MS ahead of the writer's.
        const { assert!(2 * MAX_CLOCK_SKEW_MS <= SETTLE_MS) };
    }

    #[test]
    fn only_long_overdue_defers_are_moved_to_now() {
        assert_eq!(stored_due(T - MAX_OVERDUE_MS, T), T - MAX_OVERDUE_MS);
        assert_eq!(stored_due(T - MAX_OVERDUE_MS - 1, T), T);
        assert_eq!(stored_due(i64::MIN, T), T);
        assert_eq!(stored_due(T + M, T), T + M);
    }

    #[test]
    fn debug_hides_the_payload() {
        let item = ScheduledItem {
            tenant: "tn".into(),
            event_id: "e".into(),
            routing_key: "tn:u".into(),
            due_at_ms: T,
            reason: "send_at".into(),
            payload: b"secret body".to_vec(),
        };
        let text = format!("{item:?}");
        assert!(!text.contains("secret"), "{text}");
        assert!(text.contains("payload_bytes: 11"), "{text}");
    }
}
