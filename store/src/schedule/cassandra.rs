//! [`Schedule`] on the `schedule`, `schedule_claims` and `schedule_watermarks` tables.
//!
//! No table mixes lightweight transactions with plain writes (their timestamps do not order
//! against each other): `schedule` rows are only inserted, read and deleted plainly; claims and
//! watermarks are only written with lightweight transactions. A claim is its own partition
//! (tenant, event id), so racing claims of different rows never contend for one Paxos round;
//! it expires with its lease through a TTL, which is what frees the row of a dead owner.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use notify_common::config::is_cql_identifier;
use scylla::client::session::Session;
use scylla::response::query_result::QueryResult;
use scylla::statement::prepared::PreparedStatement;
use scylla::value::{CqlTimestamp, CqlValue, Row};

use super::{is_late, minute_of, stored_due, wall_clock_ms, Schedule, ScheduledItem, Walk, SHARDS};
use crate::session::StoreError;

/// Compare-and-set rounds a defer tries before giving up (the caller retries the request).
const MAX_CAS_ATTEMPTS: usize = 16;

/// A shard's watermark as read: every row due before `swept_until_ms` is gone, and `version`
/// changes whenever a late defer lowered (or confirmed) it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Watermark {
    swept_until_ms: i64,
    version: i64,
}

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
    pub async fn new(session: Arc<Session>, keyspace: &str) -> Result<Self, StoreError> {
        if !is_cql_identifier(keyspace) {
            return Err(StoreError::Config(format!(
                "keyspace {keyspace:?} is not a plain identifier"
            )));
        }
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
    pub async fn watermark(&self, shard: u16) -> Result<Option<i64>, StoreError> {
        Ok(self.fetch_watermark(shard).await?.map(|w| w.swept_until_ms))
    }

    async fn fetch_watermark(&self, shard: u16) -> Result<Option<Watermark>, StoreError> {
        let result = self
            .session
            .execute_unpaged(&self.read_watermark, (i32::from(shard),))
            .await?
            .into_rows_result()
            .map_err(|err| StoreError::Result(err.to_string()))?;
        let row = result
            .maybe_first_row::<(Option<CqlTimestamp>, Option<i64>)>()
            .map_err(|err| StoreError::Result(err.to_string()))?;
        Ok(match row {
            Some((Some(swept_until), Some(version))) => Some(Watermark {
                swept_until_ms: swept_until.0,
                version,
            }),
            _ => None,
        })
    }

    /// Creates the watermark of `shard` at `swept_until_ms` unless it exists; returns the
    /// watermark that holds afterwards.
    async fn create_watermark(
        &self,
        shard: u16,
        swept_until_ms: i64,
    ) -> Result<(bool, Option<Watermark>), StoreError> {
        let result = self
            .session
            .execute_unpaged(
                &self.create_watermark,
                (i32::from(shard), CqlTimestamp(swept_until_ms)),
            )
            .await?;
        let (applied, existing) = lwt_outcome(result)?;
        let now_holds = if applied {
            Some(Watermark {
                swept_until_ms,
                version: 0,
            })
        } else {
            existing
        };
        Ok((applied, now_holds))
    }

    /// Sets the watermark of `shard` to `to` if it is still `seen`; returns whether it did and
    /// the current watermark when it did not.
    async fn move_watermark(
        &self,
        shard: u16,
        seen: Watermark,
        to: Watermark,
    ) -> Result<(bool, Option<Watermark>), StoreError> {
        let result = self
            .session
            .execute_unpaged(
                &self.move_watermark,
                (
                    CqlTimestamp(to.swept_until_ms),
                    to.version,
                    i32::from(shard),
                    CqlTimestamp(seen.swept_until_ms),
                    seen.version,
                ),
            )
            .await?;
        lwt_outcome(result)
    }

    /// Makes sure a sweep finds a row of `shard` due at `due_at_ms` that was just written at
    /// `now_ms` (see the module documentation of `schedule`).
    async fn guard_watermark(
        &self,
        shard: u16,
        due_at_ms: i64,
        late: bool,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut current = self.fetch_watermark(shard).await?;
        for _ in 0..MAX_CAS_ATTEMPTS {
            let Some(seen) = current else {
                // Nothing swept this shard yet. Start no later than this row, and no later
                // than where a sweep would start, so rows other writers defer from now on are
                // not behind it either.
                let start = due_at_ms.min(Walk::initial_watermark(now_ms));
                let (applied, holds) = self.create_watermark(shard, start).await?;
                if applied {
                    self.mark_guarded(shard);
                    return Ok(());
                }
                current = holds;
                continue;
            };
            if !late && due_at_ms >= seen.swept_until_ms {
                self.mark_guarded(shard);
                return Ok(());
            }
            // Late (a sweep may be reading past this row right now) or behind the watermark:
            // lower it to the row and bump the version, so a sweep that read the watermark
            // before this row existed cannot move it.
            let to = Watermark {
                swept_until_ms: seen.swept_until_ms.min(due_at_ms),
                version: seen.version + 1,
            };
            let (applied, holds) = self.move_watermark(shard, seen, to).await?;
            if applied {
                self.mark_guarded(shard);
                return Ok(());
            }
            current = holds;
        }
        Err(StoreError::Result(format!(
            "the watermark of schedule shard {shard} kept changing; the defer may be retried"
        )))
    }

    fn mark_guarded(&self, shard: u16) {
        if let Some(flag) = self.guarded.get(usize::from(shard)) {
            flag.store(true, Ordering::Release);
        }
    }

    fn is_guarded(&self, shard: u16) -> bool {
        self.guarded
            .get(usize::from(shard))
            .is_some_and(|flag| flag.load(Ordering::Acquire))
    }

    async fn read_minute(
        &self,
        minute: i64,
        shard: u16,
        from_ms: i64,
        now_ms: i64,
        limit: usize,
    ) -> Result<Vec<ScheduledItem>, StoreError> {
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
            .map_err(|err| StoreError::Result(err.to_string()))?;
        let mut items = Vec::new();
        for row in result
            .rows::<DueRow>()
            .map_err(|err| StoreError::Result(err.to_string()))?
        {
            let (due_at, tenant, event_id, routing_key, reason, payload) =
                row.map_err(|err| StoreError::Result(err.to_string()))?;
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
    async fn defer(&self, item: &ScheduledItem) -> Result<(), StoreError> {
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

    async fn due(
        &self,
        now_ms: i64,
        shard: u16,
        limit: usize,
    ) -> Result<Vec<ScheduledItem>, StoreError> {
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

    async fn claim(
        &self,
        item: &ScheduledItem,
        owner: &str,
        lease: Duration,
    ) -> Result<bool, StoreError> {
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
            .map_err(|err| StoreError::Result(err.to_string()))?
            .rows_num()
            > 0;
        Ok(exists)
    }

    async fn complete(&self, item: &ScheduledItem) -> Result<(), StoreError> {
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

/// The `[applied]` column of a lightweight transaction's result and, for one on
/// `schedule_watermarks`, the watermark it found.
fn lwt_outcome(result: QueryResult) -> Result<(bool, Option<Watermark>), StoreError> {
    let rows = result
        .into_rows_result()
        .map_err(|err| StoreError::Result(err.to_string()))?;
    let names: Vec<String> = rows
        .column_specs()
        .iter()
        .map(|c| c.name().to_owned())
        .collect();
    let row: Row = rows
        .single_row()
        .map_err(|err| StoreError::Result(err.to_string()))?;
    let column = |name: &str| {
        names
            .iter()
            .position(|n| n == name)
            .and_then(|i| row.columns.get(i).cloned().flatten())
    };
    let applied = matches!(column("[applied]"), Some(CqlValue::Boolean(true)));
    let watermark = match (column("swept_until"), column("version")) {
        (Some(CqlValue::Timestamp(swept_until)), Some(CqlValue::BigInt(version))) => {
            Some(Watermark {
                swept_until_ms: swept_until.0,
                version,
            })
        }
        _ => None,
    };
    Ok((applied, watermark))
}
