//! [`Schedule`] in memory, for unit tests and the embedded demo. One lock makes every operation
//! atomic, so the watermark needs no versions here; the walk is the same as Cassandra's.
//! Leases run on tokio's clock, so tests with paused time can let them expire.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use super::{stored_due, wall_clock_ms, Schedule, ScheduledItem, Walk};
use crate::session::StoreResult;

/// (shard, due minute, due at, tenant, event id): the Cassandra key, in its order.
type RowKey = (u16, i64, i64, String, String);
/// (tenant, event id, due at): the key of a claim.
type ClaimKey = (String, String, i64);

/// Claims kept before expired ones are pruned.
const PRUNE_CLAIMS_ABOVE: usize = 4096;

/// [`Schedule`] in a mutex-guarded map.
#[derive(Debug, Default)]
pub struct MemorySchedule {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    rows: BTreeMap<RowKey, ScheduledItem>,
    /// Owner and expiry of each claim. Kept after `complete`, like the Cassandra claim.
    claims: HashMap<ClaimKey, (String, Instant)>,
    watermarks: HashMap<u16, i64>,
}

impl MemorySchedule {
    /// An empty schedule.
    pub fn new() -> Self {
        Self::default()
    }

    /// Rows stored, due or not.
    pub fn len(&self) -> usize {
        self.lock().rows.len()
    }

    /// Whether no row is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The watermark of `shard`, if a sweep or defer set one.
    pub fn watermark(&self, shard: u16) -> Option<i64> {
        self.lock().watermarks.get(&shard).copied()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every critical section leaves the state consistent, so a poisoned lock is usable.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn row_key(item: &ScheduledItem) -> RowKey {
    (
        item.shard(),
        item.due_minute(),
        item.due_at_ms,
        item.tenant.clone(),
        item.event_id.clone(),
    )
}

fn claim_key(item: &ScheduledItem) -> ClaimKey {
    (item.tenant.clone(), item.event_id.clone(), item.due_at_ms)
}

#[async_trait]
impl Schedule for MemorySchedule {
    async fn defer(&self, item: &ScheduledItem) -> StoreResult<()> {
        let mut item = item.clone();
        item.due_at_ms = stored_due(item.due_at_ms, wall_clock_ms());
        let (shard, due_at_ms) = (item.shard(), item.due_at_ms);
        let mut state = self.lock();
        state.rows.insert(row_key(&item), item);
        // Atomic with the sweep, so lowering the watermark to the row is all it takes.
        let watermark = state.watermarks.entry(shard).or_insert(due_at_ms);
        *watermark = (*watermark).min(due_at_ms);
        Ok(())
    }

    async fn due(&self, now_ms: i64, shard: u16, limit: usize) -> StoreResult<Vec<ScheduledItem>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut state = self.lock();
        let watermark = *state
            .watermarks
            .entry(shard)
            .or_insert_with(|| Walk::initial_watermark(now_ms));
        let walk = Walk::new(watermark, now_ms);
        let mut found = Vec::new();
        let mut last_read = *walk.minutes().start();
        for minute in walk.minutes() {
            last_read = minute;
            let from = (
                shard,
                minute,
                walk.slice_start(minute),
                String::new(),
                String::new(),
            );
            let rows = state
                .rows
                .range(from..)
                .take_while(|(key, _)| key.0 == shard && key.1 == minute && key.2 <= now_ms)
                .take(limit - found.len())
                .map(|(_, item)| item.clone());
            found.extend(rows);
            if found.len() >= limit {
                break;
            }
        }
        let next = walk.next_watermark(found.first().map(|i| i.due_at_ms), last_read);
        state.watermarks.insert(shard, next);
        Ok(found)
    }

    async fn claim(&self, item: &ScheduledItem, owner: &str, lease: Duration) -> StoreResult<bool> {
        let now = Instant::now();
        let mut state = self.lock();
        if state.claims.len() > PRUNE_CLAIMS_ABOVE {
            state.claims.retain(|_, (_, until)| *until > now);
        }
        let key = claim_key(item);
        let taken = matches!(state.claims.get(&key), Some((_, until)) if *until > now);
        if taken || !state.rows.contains_key(&row_key(item)) {
            return Ok(false);
        }
        // Whole seconds, like a Cassandra TTL.
        let lease = Duration::from_secs(lease.as_secs() + u64::from(lease.subsec_nanos() > 0));
        state.claims.insert(key, (owner.to_owned(), now + lease));
        Ok(true)
    }

    async fn complete(&self, item: &ScheduledItem) -> StoreResult<()> {
        self.lock().rows.remove(&row_key(item));
        Ok(())
    }
}
