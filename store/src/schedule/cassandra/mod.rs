//! [`Schedule`] on the `schedule`, `schedule_claims` and `schedule_watermarks` tables.
//!
//! No table mixes lightweight transactions with plain writes (their timestamps do not order
//! against each other): `schedule` rows are only inserted, read and deleted plainly; claims and
//! watermarks are only written with lightweight transactions. A claim is its own partition
//! (tenant, event id), so racing claims of different rows never contend for one Paxos round;
//! it expires with its lease through a TTL, which is what frees the row of a dead owner.

mod watermark;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;
use scylla::value::CqlTimestamp;

use self::watermark::{lwt_outcome, Watermark};
use super::{is_late, minute_of, stored_due, wall_clock_ms, Schedule, ScheduledItem, Walk, SHARDS};
use crate::cql::{check_keyspace, unexpected};
use crate::session::{StoreError, StoreResult};

/// Compare-and-set rounds a defer tries before giving up (the caller retries the request).
const MAX_CAS_ATTEMPTS: usize = 16;

/// [`Schedule`] on Cassandra / ScyllaDB.
#[derive(Debug)]
pub struct CassandraSchedule {
    session: Arc<Session>,
    insert: PreparedStatement,
    select_due: PreparedStatement,
    select_one: PreparedStatement,
    delete: PreparedStatement,
    claim: PreparedStatement,
    read_watermark: PreparedStatement,
    create_watermark: PreparedStatement,
    move_watermark: PreparedStatement,
    /// Shards whose watermark this process has seen exist, at or before a row it deferred.
    /// Watermarks are never deleted, so once true it stays true.
    guarded: Vec<AtomicBool>,
}

impl CassandraSchedule {
    /// Prepares the statements against `keyspace` (which must already be migrated).
    pub async fn new(session: Arc<Session>, keyspace: &str) -> StoreResult<Self> {
        check_keyspace(keyspace)?;
        let prepare = |cql: String, idempotent: bool| {
            let session = Arc::clone(&session);
            async move {
                let mut statement = session.prepare(cql).await?;
                statement.set_is_idempotent(idempotent);
                Ok::<_, StoreError>(statement)
            }
        };
        let key = "due_minute = ? AND shard = ? AND due_at = ? AND tenant_id = ? AND event_id = ?";
        let insert = prepare(
            format!(
                "INSERT INTO {keyspace}.schedule (due_minute, shard, due_at, tenant_id, event_id, \
                 routing_key, reason, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            ),
            true,
        )
        .await?;
        let select_due = prepare(
            format!(
                "SELECT due_at, tenant_id, event_id, routing_key, reason, payload \
                 FROM {keyspace}.schedule WHERE due_minute = ? AND shard = ? \
                 AND due_at >= ? AND due_at <= ? LIMIT ?"
            ),
            true,
        )
        .await?;
        let select_one = prepare(
            format!("SELECT event_id FROM {keyspace}.schedule WHERE {key}"),
            true,
        )
        .await?;
        let delete = prepare(format!("DELETE FROM {keyspace}.schedule WHERE {key}"), true).await?;
        let claim = prepare(
            format!(
                "INSERT INTO {keyspace}.schedule_claims (tenant_id, event_id, due_at, owner, \
                 claimed_at) VALUES (?, ?, ?, ?, toTimestamp(now())) IF NOT EXISTS USING TTL ?"
            ),
            false,
        )
        .await?;
        let read_watermark = prepare(
            format!(
                "SELECT swept_until, version FROM {keyspace}.schedule_watermarks WHERE shard = ?"
            ),
            true,
        )
        .await?;
        let create_watermark = prepare(
            format!(
                "INSERT INTO {keyspace}.schedule_watermarks (shard, swept_until, version) \
                 VALUES (?, ?, 0) IF NOT EXISTS"
            ),
            false,
        )
        .await?;
        let move_watermark = prepare(
            format!(
                "UPDATE {keyspace}.schedule_watermarks SET swept_until = ?, version = ? \
                 WHERE shard = ? IF swept_until = ? AND version = ?"
            ),
            false,
        )
        .await?;
        Ok(Self {
            session,
            insert,
            select_due,
            select_one,
            delete,
            claim,
            read_watermark,
            create_watermark,
            move_watermark,
            guarded: (0..SHARDS).map(|_| AtomicBool::new(false)).collect(),
        })
    }

    /// The watermark of `shard` (milliseconds since the epoch), if a sweep or defer set one:
    /// every row due before it has been completed. For operators and tests.
    pub async fn watermark(&self, shard: u16) -> StoreResult<Option<i64>> {
        Ok(self.fetch_watermark(shard).await?.map(|w| w.swept_until_ms))
    }

    async fn read_minute(
        &self,
        minute: i64,
        shard: u16,
        from_ms: i64,
        now_ms: i64,
        limit: usize,
    ) -> StoreResult<Vec<ScheduledItem>> {
        type DueRow = (
            CqlTimestamp,
            String,
            String,
            Option<String>,
            Option<String>,
            Option<Vec<u8>>,
        );
        let limit = i32::try_from(limit).unwrap_or(i32::MAX);
        let result = self
            .session
            .execute_unpaged(
                &self.select_due,
                (
                    minute,
                    i32::from(shard),
                    CqlTimestamp(from_ms),
                    CqlTimestamp(now_ms),
                    limit,
                ),
            )
            .await?
            .into_rows_result()
            .map_err(unexpected)?;
        let mut items = Vec::new();
        for row in result.rows::<DueRow>().map_err(unexpected)? {
            let (due_at, tenant, event_id, routing_key, reason, payload) =
                row.map_err(unexpected)?;
            // Every insert writes all columns, so this cannot happen short of manual edits.
            // The row is still returned: re-emitted, an empty payload is refused by the router
            // and dead-lettered where an operator sees it, instead of blocking this shard.
            if routing_key.is_none() || payload.is_none() {
                tracing::warn!(
                    tenant = %tenant,
                    event_id = %event_id,
                    "schedule row without routing key or payload"
                );
            }
            items.push(ScheduledItem {
                tenant,
                event_id,
                routing_key: routing_key.unwrap_or_default(),
                due_at_ms: due_at.0,
                reason: reason.unwrap_or_default(),
                payload: payload.unwrap_or_default(),
            });
        }
        Ok(items)
    }
}

#[async_trait]
impl Schedule for CassandraSchedule {
    async fn defer(&self, item: &ScheduledItem) -> StoreResult<()> {
        let shard = item.shard();
        let due_at_ms = stored_due(item.due_at_ms, wall_clock_ms());
        self.session
            .execute_unpaged(
                &self.insert,
                (
                    minute_of(due_at_ms),
                    i32::from(shard),
                    CqlTimestamp(due_at_ms),
                    &item.tenant,
                    &item.event_id,
                    &item.routing_key,
                    &item.reason,
                    &item.payload,
                ),
            )
            .await?;
        // The clock is read after the row is written: a slow write only makes this stricter.
        let now_ms = wall_clock_ms();
        let late = is_late(due_at_ms, now_ms);
        if !late && self.is_guarded(shard) {
            return Ok(());
        }
        self.guard_watermark(shard, due_at_ms, late, now_ms).await
    }

    async fn due(&self, now_ms: i64, shard: u16, limit: usize) -> StoreResult<Vec<ScheduledItem>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let seen = match self.fetch_watermark(shard).await? {
            Some(seen) => seen,
            None => self
                .create_watermark(shard, Walk::initial_watermark(now_ms))
                .await?
                .1
                .ok_or_else(|| {
                    StoreError::Result(format!("no watermark for schedule shard {shard}"))
                })?,
        };
        let walk = Walk::new(seen.swept_until_ms, now_ms);
        let mut found = Vec::new();
        let mut last_read = *walk.minutes().start();
        for minute in walk.minutes() {
            last_read = minute;
            let rows = self
                .read_minute(
                    minute,
                    shard,
                    walk.slice_start(minute),
                    now_ms,
                    limit - found.len(),
                )
                .await?;
            found.extend(rows);
            if found.len() >= limit {
                break;
            }
        }
        let next = walk.next_watermark(found.first().map(|i| i.due_at_ms), last_read);
        if next > seen.swept_until_ms {
            // Conditioned on the version read before the minutes were: if a late defer bumped
            // it since, its row may be behind `next`, and the next sweep reads again.
            let to = Watermark {
                swept_until_ms: next,
                version: seen.version,
            };
            let (moved, _) = self.move_watermark(shard, seen, to).await?;
            if !moved {
                tracing::debug!(shard, "schedule watermark changed during a sweep");
            }
        }
        Ok(found)
    }

    async fn claim(&self, item: &ScheduledItem, owner: &str, lease: Duration) -> StoreResult<bool> {
        let ttl_secs = lease.as_secs() + u64::from(lease.subsec_nanos() > 0);
        let ttl_secs = i32::try_from(ttl_secs.max(1)).unwrap_or(i32::MAX);
        let result = self
            .session
            .execute_unpaged(
                &self.claim,
                (
                    &item.tenant,
                    &item.event_id,
                    CqlTimestamp(item.due_at_ms),
                    owner,
                    ttl_secs,
                ),
            )
            .await?;
        if !lwt_outcome(result)?.0 {
            return Ok(false);
        }
        // A claim outlives its row (it expires with the lease), so a sweep holding a stale
        // list can win the claim of a row completed meanwhile: re-emit only a row that exists.
        let exists = self
            .session
            .execute_unpaged(&self.select_one, row_key(item))
            .await?
            .into_rows_result()
            .map_err(unexpected)?
            .rows_num()
            > 0;
        Ok(exists)
    }

    async fn complete(&self, item: &ScheduledItem) -> StoreResult<()> {
        self.session
            .execute_unpaged(&self.delete, row_key(item))
            .await?;
        Ok(())
    }
}

fn row_key(item: &ScheduledItem) -> (i64, i32, CqlTimestamp, &str, &str) {
    (
        item.due_minute(),
        i32::from(item.shard()),
        CqlTimestamp(item.due_at_ms),
        &item.tenant,
        &item.event_id,
    )
}
