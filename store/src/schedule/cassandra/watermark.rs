//! The per-shard watermark of [`CassandraSchedule`] on `schedule_watermarks`: read, created
//! and moved only with lightweight transactions (see the module documentation of `schedule`
//! for why a late defer lowers it and a sweep moves it only at the version it read).

use std::sync::atomic::Ordering;

use scylla::response::query_result::QueryResult;
use scylla::value::{CqlTimestamp, CqlValue};

use super::{CassandraSchedule, MAX_CAS_ATTEMPTS};
use crate::cql::{unexpected, LwtRow};
use crate::schedule::Walk;
use crate::session::{StoreError, StoreResult};

/// A shard's watermark as read: every row due before `swept_until_ms` is gone, and `version`
/// changes whenever a late defer lowered (or confirmed) it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Watermark {
    pub(super) swept_until_ms: i64,
    pub(super) version: i64,
}

impl CassandraSchedule {
    pub(super) async fn fetch_watermark(&self, shard: u16) -> StoreResult<Option<Watermark>> {
        let result = self
            .session
            .execute_unpaged(&self.read_watermark, (i32::from(shard),))
            .await?
            .into_rows_result()
            .map_err(unexpected)?;
        let row = result
            .maybe_first_row::<(Option<CqlTimestamp>, Option<i64>)>()
            .map_err(unexpected)?;
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
    pub(super) async fn create_watermark(
        &self,
        shard: u16,
        swept_until_ms: i64,
    ) -> StoreResult<(bool, Option<Watermark>)> {
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
    pub(super) async fn move_watermark(
        &self,
        shard: u16,
        seen: Watermark,
        to: Watermark,
    ) -> StoreResult<(bool, Option<Watermark>)> {
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
    pub(super) async fn guard_watermark(
        &self,
        shard: u16,
        due_at_ms: i64,
        late: bool,
        now_ms: i64,
    ) -> StoreResult<()> {
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

    pub(super) fn is_guarded(&self, shard: u16) -> bool {
        self.guarded
            .get(usize::from(shard))
            .is_some_and(|flag| flag.load(Ordering::Acquire))
    }
}

/// The `[applied]` column of a lightweight transaction's result and, for one on
/// `schedule_watermarks`, the watermark it found.
pub(super) fn lwt_outcome(result: QueryResult) -> StoreResult<(bool, Option<Watermark>)> {
    let answer = LwtRow::read(result)?;
    let watermark = match (answer.column("swept_until"), answer.column("version")) {
        (Some(CqlValue::Timestamp(swept_until)), Some(CqlValue::BigInt(version))) => {
            Some(Watermark {
                swept_until_ms: swept_until.0,
                version,
            })
        }
        _ => None,
    };
    Ok((answer.applied(), watermark))
}
