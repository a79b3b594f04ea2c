//! The retry mover: moves deliveries waiting in the retry tiers (`notify.retry.<tier>`) back to
//! their channel's topic when they are due. One consumer group per tier
//! (`<retry_group_id_prefix>-<tier>`), shared by every channel; `notify dispatch` runs it.
//!
//! Guarantees:
//! - a record is due at `min(not_before, append time + tier delay)`; at `not_before` it goes to
//!   its channel's lane (bulk priority to `.bulk`), earlier (its wait is longer than the tier)
//!   to the tier fitting the rest of its wait. Each record of a tier is due within the tier's
//!   delay of its append, so one long wait never holds the records behind it for longer;
//! - a record not yet due parks its partition: the partition is paused (no busy loop, no
//!   buffering) until the record is due, while other partitions keep moving;
//! - its offset is stored only after the moved record is acknowledged, so a crash moves it
//!   again (the dispatcher's dedup makes that harmless); a Kafka outage pauses with backoff;
//! - an undecodable record goes to `notify.dlq` with reason headers and the partition moves on.
//!
//! Not guaranteed: exact timing (due records move within the poll interval of their due time),
//! or order between records of one user once they were retried.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use notify_common::config::DispatchConfig;
use notify_common::dead_letter::{
    DLQ_ERROR, DLQ_OFFSET, DLQ_PARTITION, DLQ_REASON, DLQ_STAGE, DLQ_TOPIC,
};
use notify_common::kafka::ErrorPacer;
use notify_common::topics::Topics;
use notify_common::Health;
use notify_schemas::{Codec, Delivery, Priority};
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::util::Timeout;
use rdkafka::{Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;

use crate::handler::{now_ms, Record};
use crate::inflight::{Inflight, Ticket};
use crate::metrics as m;
use crate::policy::{tier_delay_ms, tier_for};
use crate::publish::{Output, Publisher};
use crate::service::{DispatchError, DrainConsumer};

/// Where a due retry record goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Move {
    /// Back to its channel's topic (this one).
    Channel(String),
    /// Into the tier fitting the rest of its wait.
    Requeue(String),
}

/// When a record of tier `tier` appended at `appended_ms` is due.
pub fn due_at(delivery: &Delivery, tier: &str, appended_ms: i64) -> i64 {
    let cap = tier_delay_ms(tier).map_or(i64::MAX, |d| appended_ms.saturating_add(d));
    delivery.not_before.unwrap_or(appended_ms).min(cap)
}

/// Where `delivery` goes when it is due at `now_ms`.
pub fn destination(delivery: &Delivery, topics: &Topics, now_ms: i64) -> Move {
    let rest = delivery.not_before.unwrap_or(now_ms) - now_ms;
    // a few milliseconds early is on time: clocks of movers and dispatchers differ by more
    if rest > 50 {
        return Move::Requeue(topics.retry(tier_for(rest)));
    }
    let channel = delivery.channel.as_str();
    Move::Channel(match delivery.priority {
        Priority::Bulk => topics.deliveries_bulk(channel),
        _ => topics.deliveries(channel),
    })
}

/// A record waiting for its due time. It is not taken into the [`Inflight`] until it moves, so
/// a revoke meanwhile commits up to it at once instead of waiting for it.
struct Parked {
    record: Record,
    generation: u64,
    delivery: Delivery,
    due_ms: i64,
}

/// The mover of one tier.
pub struct TierMover {
    tier: &'static str,
    consumer: DrainConsumer,
    inflight: Arc<Inflight>,
    publisher: Arc<dyn Publisher>,
    topics: Topics,
    codec: Codec<Delivery>,
    max_backoff: Duration,
    health: Health,
}

impl std::fmt::Debug for TierMover {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TierMover")
            .field("tier", &self.tier)
            .finish_non_exhaustive()
    }
}

impl TierMover {
    /// A mover of `tier`; `consumer` must be subscribed to the tier's topic and built with a
    /// [`crate::context::DrainContext`] over `inflight`.
    pub fn new(
        tier: &'static str,
        consumer: DrainConsumer,
        inflight: Arc<Inflight>,
        publisher: Arc<dyn Publisher>,
        topics: Topics,
        config: &DispatchConfig,
    ) -> Result<Self, notify_schemas::CodecError> {
        Ok(Self {
            tier,
            consumer,
            inflight,
            publisher,
            topics,
            codec: Codec::new()?,
            max_backoff: Duration::from_millis(config.max_backoff_ms),
            health: Health::new(),
        })
    }

    /// Reports Kafka as failing in `health` (the admin endpoint's `/readyz`) while moves pause.
    pub fn with_health(mut self, health: Health) -> Self {
        self.health = health;
        self
    }

    /// Moves records until `cancel` fires; parked records are left unstored for the next run.
    pub async fn run(self, cancel: CancellationToken) -> Result<(), DispatchError> {
        let mut parked: HashMap<i32, Parked> = HashMap::new();
        let errors = ErrorPacer::new();
        while !cancel.is_cancelled() {
            self.move_due(&mut parked, &cancel).await;
            let wait = parked
                .values()
                .map(|p| p.due_ms - now_ms())
                .min()
                .map_or(200, |ms| ms.clamp(1, 200));
            let received = tokio::select! {
                received = tokio::time::timeout(
                    Duration::from_millis(u64::try_from(wait).unwrap_or(200)),
                    self.consumer.recv(),
                ) => received,
                () = cancel.cancelled() => break,
            };
            let message = match received {
                Err(_) => {
                    errors.ok();
                    continue;
                }
                Ok(Err(err)) => {
                    let (log, pause) = errors.error();
                    if log {
                        tracing::warn!(tier = self.tier, error = %err, "consume error");
                    }
                    if !pause.is_zero() {
                        tokio::time::sleep(pause).await;
                    }
                    continue;
                }
                Ok(Ok(message)) => {
                    errors.ok();
                    message
                }
            };
            let Some(generation) = self
                .inflight
                .generation(message.topic(), message.partition())
            else {
                continue;
            };
            if let Some(entry) = parked.get(&message.partition()) {
                if entry.generation == generation {
                    // pausing discards what was fetched behind the parked record; should one
                    // slip through, the seek after the move reads it again
                    continue;
                }
                // the partition was revoked and assigned again meanwhile: start afresh
                parked.remove(&message.partition());
            }
            let appended = message.timestamp().to_millis().unwrap_or_else(now_ms);
            let record = Record {
                topic: message.topic().to_owned(),
                partition: message.partition(),
                offset: message.offset(),
                key: message.key().map(<[u8]>::to_vec),
                payload: message.payload().map(<[u8]>::to_vec),
                timestamp_ms: message.timestamp().to_millis(),
            };
            drop(message);
            let delivery = match record.payload.as_deref().map(|p| self.codec.decode(p)) {
                Some(Ok(delivery)) => delivery,
                failed => {
                    let (error, reason) = match failed {
                        Some(Err(err)) => (err.kind().to_owned(), err.to_string()),
                        _ => ("empty".to_owned(), "record has no value".to_owned()),
                    };
                    self.dead_letter(&record, &error, &reason, &cancel).await;
                    continue;
                }
            };
            let due_ms = due_at(&delivery, self.tier, appended);
            let partition = record.partition;
            let entry = Parked {
                record,
                generation,
                delivery,
                due_ms,
            };
            if due_ms <= now_ms() {
                self.move_one(entry, &cancel).await;
            } else {
                self.pause(partition, true);
                parked.insert(partition, entry);
            }
        }
        if let Err(err) = self.consumer.commit_consumer_state(CommitMode::Sync) {
            tracing::debug!(tier = self.tier, error = %err, "final commit");
        }
        Ok(())
    }

    async fn move_due(&self, parked: &mut HashMap<i32, Parked>, cancel: &CancellationToken) {
        let now = now_ms();
        let due: Vec<i32> = parked
            .iter()
            .filter(|(_, p)| p.due_ms <= now)
            .map(|(partition, _)| *partition)
            .collect();
        for partition in due {
            let Some(entry) = parked.remove(&partition) else {
                continue;
            };
            let next = entry.record.offset + 1;
            let topic = entry.record.topic.clone();
            if self.move_one(entry, cancel).await {
                self.pause(partition, false);
                // records fetched before the pause were skipped above: read on after this one
                if let Err(err) = self.consumer.seek(
                    &topic,
                    partition,
                    Offset::Offset(next),
                    Timeout::After(Duration::ZERO),
                ) {
                    tracing::warn!(tier = self.tier, error = %err, "seek after resume failed");
                }
            }
        }
    }

    /// Moves one due record and stores its offset; false if its partition is gone.
    async fn move_one(&self, entry: Parked, cancel: &CancellationToken) -> bool {
        let record = &entry.record;
        if self.inflight.generation(&record.topic, record.partition) != Some(entry.generation) {
            return false;
        }
        let Some(ticket) = self
            .inflight
            .take(&record.topic, record.partition, record.offset)
        else {
            return false;
        };
        let Some(abandon) = self.inflight.start(&ticket) else {
            return false;
        };
        let target = destination(&entry.delivery, &self.topics, now_ms());
        let (topic, outcome) = match target {
            Move::Channel(topic) => (topic, "moved"),
            Move::Requeue(topic) => (topic, "requeued"),
        };
        let output = Output {
            topic,
            key: record.key.clone().unwrap_or_default(),
            payload: record.payload.clone().unwrap_or_default(),
            headers: Vec::new(),
        };
        if !self.publish(&[output], &abandon, cancel).await {
            self.inflight.abort(&ticket);
            return false;
        }
        metrics::counter!(m::RETRIES_MOVED_TOTAL, "channel" => entry.delivery.channel.as_str(), "outcome" => outcome)
            .increment(1);
        self.finish(&ticket);
        true
    }

    async fn dead_letter(
        &self,
        record: &Record,
        error: &str,
        reason: &str,
        cancel: &CancellationToken,
    ) {
        let Some(ticket) = self
            .inflight
            .take(&record.topic, record.partition, record.offset)
        else {
            return;
        };
        let Some(abandon) = self.inflight.start(&ticket) else {
            return;
        };
        tracing::warn!(
            tier = self.tier,
            error,
            reason,
            partition = record.partition,
            offset = record.offset,
            "retry record dead-lettered"
        );
        metrics::counter!(m::RETRIES_MOVED_TOTAL, "channel" => "unknown", "outcome" => "undecodable")
            .increment(1);
        let output = Output {
            topic: self.topics.dlq(),
            key: record.key.clone().unwrap_or_default(),
            payload: record.payload.clone().unwrap_or_default(),
            headers: vec![
                (DLQ_STAGE, "retry-mover".to_owned()),
                (DLQ_ERROR, error.to_owned()),
                (DLQ_REASON, reason.to_owned()),
                (DLQ_TOPIC, record.topic.clone()),
                (DLQ_PARTITION, record.partition.to_string()),
                (DLQ_OFFSET, record.offset.to_string()),
            ],
        };
        if self.publish(&[output], &abandon, cancel).await {
            self.finish(&ticket);
        } else {
            self.inflight.abort(&ticket);
        }
    }

    fn finish(&self, ticket: &Ticket) {
        self.inflight.finish(ticket, |(topic, partition), offset| {
            let mut list = TopicPartitionList::new();
            list.add_partition_offset(topic, *partition, Offset::Offset(offset))?;
            self.consumer.store_offsets(&list)
        });
    }

    /// Publishes until acknowledged; false if cancelled first.
    async fn publish(
        &self,
        outputs: &[Output],
        abandon: &CancellationToken,
        cancel: &CancellationToken,
    ) -> bool {
        let mut backoff = Duration::from_millis(100);
        let mut failed = false;
        loop {
            match self.publisher.publish(outputs).await {
                Ok(()) => {
                    if failed {
                        self.health.ok("kafka");
                    }
                    return true;
                }
                Err(err) => {
                    failed = true;
                    self.health.failing("kafka", err.to_string());
                    tracing::warn!(tier = self.tier, error = %err, "move paused, will retry");
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        () = abandon.cancelled() => return false,
                        () = cancel.cancelled() => return false,
                    }
                    backoff = (backoff * 2).min(self.max_backoff);
                }
            }
        }
    }

    fn pause(&self, partition: i32, pause: bool) {
        let mut list = TopicPartitionList::new();
        list.add_partition(&self.topics.retry(self.tier), partition);
        let done = if pause {
            self.consumer.pause(&list)
        } else {
            self.consumer.resume(&list)
        };
        if let Err(err) = done {
            tracing::warn!(tier = self.tier, pause, error = %err, "pause or resume failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify_schemas::samples;

    #[test]
    fn due_at_not_before_but_never_later_than_the_tier_delay() {
        let mut d = samples::full_sms_delivery();
        d.not_before = Some(10_000);
        assert_eq!(due_at(&d, "5s", 9_000), 10_000);
        d.not_before = Some(100_000);
        assert_eq!(due_at(&d, "5s", 9_000), 14_000, "capped by the tier");
        d.not_before = None;
        assert_eq!(due_at(&d, "1m", 9_000), 9_000);
    }

    #[test]
    fn due_records_go_to_their_lane_and_early_ones_to_a_fitting_tier() {
        let topics = Topics::new("n");
        let mut d = samples::full_sms_delivery();
        d.priority = Priority::High;
        d.not_before = Some(1_000);
        assert_eq!(
            destination(&d, &topics, 1_000),
            Move::Channel("n.deliveries.sms".into())
        );
        d.priority = Priority::Bulk;
        assert_eq!(
            destination(&d, &topics, 1_000),
            Move::Channel("n.deliveries.sms.bulk".into())
        );
        assert_eq!(
            destination(&d, &topics, 1_000 - 30_000),
            Move::Requeue("n.retry.1m".into())
        );
    }
}
