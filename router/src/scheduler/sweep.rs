//! One sweep of the schedule: read the due rows of each shard, claim each, publish it with
//! its due time in [`DEFERRED_UNTIL_HEADER`], wait for the acknowledgement and only then
//! delete the row. A row that fails at any step stays in the schedule for a later sweep.

use std::time::Duration;

use futures::stream::{self, StreamExt};
use notify_common::publish::{PublishError, Record};
use notify_store::schedule::ScheduledItem;
use notify_store::StoreError;
use tokio_util::sync::CancellationToken;

use super::{Scheduler, DEFERRED_UNTIL_HEADER};
use crate::metrics::{REEMITTED_TOTAL, SCHEDULE_BACKLOG, SCHEDULE_LAG_SECONDS};

/// Attempts at deleting a row after its record was acknowledged, before leaving it to the lease.
const COMPLETE_ATTEMPTS: u32 = 3;

/// What stopped one item; the row stays in the schedule either way.
#[derive(Debug, thiserror::Error)]
pub(super) enum SweepError {
    #[error("schedule: {0}")]
    Store(#[from] StoreError),
    #[error("producing to kafka: {0}")]
    Publish(#[from] PublishError),
    #[error("no acknowledgement from kafka within {0:?}")]
    ProduceTimeout(Duration),
}

impl SweepError {
    pub(super) fn label(&self) -> &'static str {
        match self {
            SweepError::Store(_) => "database",
            SweepError::Publish(_) | SweepError::ProduceTimeout(_) => "kafka",
        }
    }
}

/// What one sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct SweepReport {
    pub(super) reemitted: u64,
    /// Rows due but claimed by another instance (or completed meanwhile).
    pub(super) skipped: u64,
}

impl Scheduler {
    /// One pass over every shard. A shard whose read came back full is read again at once
    /// (the backlog of a busy minute drains without waiting for the next poll) as long as
    /// that batch made progress. Every row read is finished (re-emitted, skipped or failed)
    /// before this returns, also when `cancel` fires.
    pub(super) async fn sweep(
        &self,
        cancel: &CancellationToken,
    ) -> Result<SweepReport, SweepError> {
        let mut total = SweepReport::default();
        let mut first_error = None;
        // rows read as due that this sweep could not re-emit (a failure left them in place)
        let mut left = 0_u64;
        let done = |left: u64| {
            #[allow(clippy::cast_precision_loss)]
            metrics::gauge!(SCHEDULE_BACKLOG).set(left as f64);
        };
        for shard in self.shard_order() {
            loop {
                if cancel.is_cancelled() {
                    done(left);
                    return first_error.map_or(Ok(total), Err);
                }
                let now_ms = self.clock.now_ms();
                let items = match self.schedule.due(now_ms, shard, self.batch_size).await {
                    Ok(items) => items,
                    Err(err) => {
                        first_error.get_or_insert(SweepError::from(err));
                        break;
                    }
                };
                let full = items.len() >= self.batch_size;
                let read = items.len() as u64;
                let (report, error) = self.reemit_all(items).await;
                left += read.saturating_sub(report.reemitted + report.skipped);
                total.reemitted += report.reemitted;
                total.skipped += report.skipped;
                if let Some(err) = error {
                    first_error.get_or_insert(err);
                    break;
                }
                if !full || report.reemitted == 0 {
                    break;
                }
            }
        }
        done(left);
        first_error.map_or(Ok(total), Err)
    }

    /// The shards in the order this instance sweeps them: rotated by a hash of the owner, so
    /// instances sweeping the same shards tend to be on different ones at any moment instead
    /// of racing for the same claims.
    pub(super) fn shard_order(&self) -> impl Iterator<Item = u16> {
        let shards: Vec<u16> = self.shards.clone().collect();
        // FNV-1a: stable and good enough to spread a handful of owners.
        let hash = self.owner.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        let start = usize::try_from(hash % shards.len().max(1) as u64).unwrap_or(0);
        let (head, tail) = shards.split_at(start.min(shards.len()));
        tail.iter()
            .chain(head)
            .copied()
            .collect::<Vec<_>>()
            .into_iter()
    }

    /// Claims, produces and completes `items`, at most `max_in_flight` at once. Returns what
    /// happened and the first error; rows that failed stay in the schedule.
    async fn reemit_all(&self, items: Vec<ScheduledItem>) -> (SweepReport, Option<SweepError>) {
        let mut outcomes = stream::iter(items)
            .map(|item| async move { self.reemit(&item).await })
            .buffer_unordered(self.max_in_flight);
        let mut report = SweepReport::default();
        let mut first_error = None;
        while let Some(outcome) = outcomes.next().await {
            match outcome {
                Ok(true) => report.reemitted += 1,
                Ok(false) => report.skipped += 1,
                Err(err) => {
                    first_error.get_or_insert(err);
                }
            }
        }
        (report, first_error)
    }

    /// Re-emits one row if this instance wins its claim. Ok(false): another instance has it,
    /// or it is gone.
    async fn reemit(&self, item: &ScheduledItem) -> Result<bool, SweepError> {
        if !self.schedule.claim(item, &self.owner, self.lease).await? {
            return Ok(false);
        }
        let record = Record::new(
            self.topic.clone(),
            item.routing_key.as_bytes(),
            item.payload.clone(),
        )
        .header(DEFERRED_UNTIL_HEADER, item.due_at_ms.to_string());
        // the publisher waits for room while the producer queue is full, then for the
        // acknowledgement; the row is deleted only after it
        let published = self.publisher.publish(std::slice::from_ref(&record));
        match tokio::time::timeout(self.produce_timeout, published).await {
            Err(_) => return Err(SweepError::ProduceTimeout(self.produce_timeout)),
            Ok(Err(err)) => return Err(SweepError::Publish(err)),
            Ok(Ok(())) => {}
        }
        self.complete(item).await?;
        metrics::counter!(REEMITTED_TOTAL).increment(1);
        let lag_ms = u64::try_from(self.clock.now_ms() - item.due_at_ms).unwrap_or(0);
        metrics::histogram!(SCHEDULE_LAG_SECONDS)
            .record(Duration::from_millis(lag_ms).as_secs_f64());
        Ok(true)
    }

    /// Deletes a re-emitted row, retrying briefly: until it is gone, a dead or slow instance
    /// means a duplicate after the lease.
    async fn complete(&self, item: &ScheduledItem) -> Result<(), SweepError> {
        let mut attempt = 1;
        loop {
            match self.schedule.complete(item).await {
                Ok(()) => return Ok(()),
                Err(err) if attempt >= COMPLETE_ATTEMPTS => {
                    tracing::warn!(
                        tenant = %item.tenant,
                        event_id = %item.event_id,
                        error = %err,
                        "re-emitted request stays scheduled; it will be re-emitted after the lease and deduplicated downstream"
                    );
                    return Err(err.into());
                }
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
                    attempt += 1;
                }
            }
        }
    }
}
