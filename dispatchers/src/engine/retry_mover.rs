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

use notify_common::clock::now_ms;
use notify_common::config::DispatchConfig;
use notify_common::dead_letter::DLQ_PAYLOAD_OMITTED;
use notify_common::kafka::ErrorPacer;
use notify_common::publish::{self, PublishError, Publisher};
use notify_common::topics::Topics;
use notify_common::Health;
use notify_schemas::registry::StageSchemas;
use notify_schemas::{Codec, Delivery};
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::util::Timeout;
use rdkafka::{Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;

use crate::consumer::{detach, DispatchError, DrainConsumer};
use crate::engine::dead_letter::dead_letter;
use crate::engine::inflight::{Inflight, Lease, Ticket};
use crate::engine::retry_policy::{destination, due_at, Move};
use crate::handler::Record;
use crate::metrics as m;

/// How a publish ended.
enum Published {
    /// Acknowledged.
    Yes,
    /// Refused for good: producing it again fails again.
    Refused(PublishError),
    /// Given up: the record's partition went away, or shutdown.
    Cancelled,
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
    schemas: StageSchemas,
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
    /// [`crate::consumer::drain::DrainContext`] over `inflight`.
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
            schemas: StageSchemas::default(),
            max_backoff: Duration::from_millis(config.max_backoff_ms),
            health: Health::new(),
        })
    }

    /// Reads Confluent-framed deliveries through `schemas`' registry.
    pub fn with_schemas(
        mut self,
        schemas: StageSchemas,
    ) -> Result<Self, notify_schemas::CodecError> {
        self.codec = schemas.codec()?;
        self.schemas = schemas;
        Ok(self)
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
            let record = detach(&message);
            drop(message);
            if let Some(payload) = record.payload.as_deref() {
                if !self.schema_known(payload, &cancel).await {
                    break; // cancelled: the record is read again by the partition's next owner
                }
            }
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
        notify_common::kafka::close_off_runtime(self.consumer).await;
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
        let Some(Lease { abandon, .. }) = self.inflight.start(&ticket) else {
            return false;
        };
        let target = destination(&entry.delivery, &self.topics, now_ms());
        let (topic, outcome) = match target {
            Move::Channel(topic) => (topic, "moved"),
            Move::Requeue(topic) => (topic, "requeued"),
        };
        let key = record.key.clone().unwrap_or_default();
        let value = record.payload.clone().unwrap_or_default();
        let output = crate::handler::carried(publish::Record::new(topic, key, value), record);
        let destination_topic = output.topic.clone();
        let outcome = match self.publish(&[output], &abandon, cancel).await {
            Published::Yes => outcome,
            Published::Cancelled => {
                self.inflight.abort(&ticket);
                return false;
            }
            // its destination will never take it: set it aside rather than hold the tier
            Published::Refused(err) => {
                let reason = format!("{destination_topic}: {err}");
                let dead = self.dead_letter_record(record, "produce_refused", &reason);
                if !self.publish_dead_letter(dead, &abandon, cancel).await {
                    self.inflight.abort(&ticket);
                    return false;
                }
                "refused"
            }
        };
        metrics::counter!(m::RETRIES_MOVED_TOTAL, "channel" => entry.delivery.channel.as_str(), "outcome" => outcome)
            .increment(1);
        self.finish(&ticket);
        true
    }

    fn dead_letter_record(&self, record: &Record, error: &str, reason: &str) -> publish::Record {
        dead_letter(
            self.topics.dlq(),
            "retry-mover",
            record,
            record.payload.clone().unwrap_or_default(),
            error,
            reason,
        )
    }

    /// Publishes a dead letter; one the topic refuses goes again without its value (header
    /// `notify-payload-omitted`), and one refused even so is logged as lost. False if cancelled.
    async fn publish_dead_letter(
        &self,
        dead: publish::Record,
        abandon: &CancellationToken,
        cancel: &CancellationToken,
    ) -> bool {
        let size = dead.payload.len();
        let mut bare = dead.clone().header(DLQ_PAYLOAD_OMITTED, size.to_string());
        bare.payload.clear();
        for attempt in [dead, bare] {
            match self
                .publish(std::slice::from_ref(&attempt), abandon, cancel)
                .await
            {
                Published::Yes => return true,
                Published::Cancelled => return false,
                Published::Refused(err) => {
                    tracing::error!(tier = self.tier, error = %err, bytes = attempt.payload.len(), "dead letter refused by Kafka");
                }
            }
        }
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
        let Some(Lease { abandon, .. }) = self.inflight.start(&ticket) else {
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
        let output = self.dead_letter_record(record, error, reason);
        if self.publish_dead_letter(output, &abandon, cancel).await {
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

    /// Waits until the registry gave the writer schema `payload` names (if it names one);
    /// false when cancelled first. A registry that cannot answer holds the tier, never
    /// dead-letters a record.
    async fn schema_known(&self, payload: &[u8], cancel: &CancellationToken) -> bool {
        let mut backoff = Duration::from_millis(100);
        let mut failed = false;
        loop {
            match self.schemas.prefetch(payload).await {
                Ok(()) => {
                    if failed {
                        self.health.ok("schema_registry");
                    }
                    return true;
                }
                Err(err) => {
                    failed = true;
                    self.health.failing("schema_registry", err.to_string());
                    tracing::warn!(tier = self.tier, error = %err, "move paused on the schema registry, will retry");
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        () = cancel.cancelled() => return false,
                    }
                    backoff = (backoff * 2).min(self.max_backoff);
                }
            }
        }
    }

    /// Publishes until acknowledged or refused for good, or until cancelled.
    async fn publish(
        &self,
        outputs: &[publish::Record],
        abandon: &CancellationToken,
        cancel: &CancellationToken,
    ) -> Published {
        let mut backoff = Duration::from_millis(100);
        let mut failed = false;
        loop {
            match self.publisher.publish(outputs).await {
                Ok(()) => {
                    if failed {
                        self.health.ok("kafka");
                    }
                    return Published::Yes;
                }
                Err(err) if err.is_permanent() => return Published::Refused(err),
                Err(err) => {
                    failed = true;
                    self.health.failing("kafka", err.to_string());
                    tracing::warn!(tier = self.tier, error = %err, "move paused, will retry");
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        () = abandon.cancelled() => return Published::Cancelled,
                        () = cancel.cancelled() => return Published::Cancelled,
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
