//! The webhook stage's consumer loop: the only part of the stage that reads from Kafka.
//!
//! Guarantees: a batch of `notify.status` records is planned ([`crate::handler`]) and what
//! endpoints want is written to the durable backlog before any offset of the batch is stored,
//! so a crash or rebalance at any point re-reads records instead of losing them (re-writing a
//! backlog row is idempotent: its place is the record's offset). Posting is not this loop's
//! business: a slow or dead endpoint never holds it. A database outage pauses the loop with
//! backoff; nothing is skipped. Records that do not decode are counted and passed over (they
//! are the status producers' to fix, and analysts see them).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use notify_common::clock::Clock;
use notify_common::config::WebhooksConfig;
use notify_common::kafka::ErrorPacer;
use notify_common::metrics::LagContext;
use notify_common::Health;
use notify_schemas::{Codec, DeliveryStatus};
use notify_store::webhooks::{QueueId, WebhookStore};
use notify_store::StoreResult;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use tokio_util::sync::CancellationToken;

use crate::cache::EndpointCache;
use crate::handler::{plan, Incoming};
use crate::metrics as m;
use crate::sender::Sender;

/// How often the partitions this instance owns are handed to the sender.
const ASSIGNMENT_CHECK: Duration = Duration::from_secs(1);
/// Longest pause while the database is unavailable.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Why the loop stopped.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The consumer failed in a way retrying cannot fix.
    #[error("kafka consumer: {0}")]
    Consumer(#[from] rdkafka::error::KafkaError),
}

/// What the loop needs besides the consumer.
#[derive(Debug)]
pub struct ConsumerParts {
    /// Decodes `notify.status` records.
    pub codec: Codec<DeliveryStatus>,
    /// The backlog.
    pub store: Arc<dyn WebhookStore>,
    /// Tenants' endpoints.
    pub cache: EndpointCache,
    /// Posts the backlog.
    pub sender: Arc<Sender>,
    /// Stamps backlog entries.
    pub clock: Arc<dyn Clock>,
    /// `notify.status`.
    pub status_topic: String,
    /// Batch size.
    pub config: WebhooksConfig,
}

/// Consumes `notify.status` into the webhook backlog.
pub struct WebhookConsumer {
    consumer: StreamConsumer<LagContext>,
    parts: ConsumerParts,
    health: Health,
    errors: ErrorPacer,
}

impl std::fmt::Debug for WebhookConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookConsumer")
            .field("parts", &self.parts)
            .finish_non_exhaustive()
    }
}

impl WebhookConsumer {
    /// Assembles the loop; `consumer` must already be subscribed to the status topic.
    pub fn new(consumer: StreamConsumer<LagContext>, parts: ConsumerParts, health: Health) -> Self {
        Self {
            consumer,
            parts,
            health,
            errors: ErrorPacer::new(),
        }
    }

    /// Runs until `cancel` fires. A batch in progress then is abandoned without storing its
    /// offsets.
    pub async fn run(&self, cancel: CancellationToken) -> Result<(), WebhookError> {
        let mut checked = Instant::now() - ASSIGNMENT_CHECK;
        while !cancel.is_cancelled() {
            if checked.elapsed() >= ASSIGNMENT_CHECK {
                checked = Instant::now();
                self.parts.sender.set_assignment(self.assignment()).await;
            }
            let batch = self.next_batch(&cancel).await;
            if batch.is_empty() {
                continue;
            }
            let mut backoff = Duration::from_millis(100);
            let queues = loop {
                match self.write(&batch).await {
                    Ok(queues) => {
                        self.health.ok("database");
                        break queues;
                    }
                    Err(err) => {
                        self.health.failing("database", err.to_string());
                        metrics::counter!(m::RETRIES_TOTAL).increment(1);
                        tracing::warn!(error = %err, records = batch.records.len(), "webhook backlog write failed, will retry the batch");
                        tokio::select! {
                            () = tokio::time::sleep(backoff) => {}
                            () = cancel.cancelled() => return Ok(()),
                        }
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                    }
                }
            };
            for (partition, offset) in &batch.offsets {
                // a partition taken away meanwhile refuses the store; its new owner re-reads
                if let Err(err) =
                    self.consumer
                        .store_offset(&self.parts.status_topic, *partition, *offset)
                {
                    tracing::debug!(error = %err, partition, "offset not stored");
                }
            }
            for queue in queues {
                self.parts.sender.wake(queue);
            }
        }
        Ok(())
    }

    /// Plans the batch and writes its backlog; the queues written to.
    async fn write(&self, batch: &Batch) -> StoreResult<BTreeSet<QueueId>> {
        let tenants: HashSet<&str> = batch
            .records
            .iter()
            .filter_map(|r| r.status.as_ref().map(|s| s.tenant.as_str()))
            .collect();
        let mut endpoints = HashMap::new();
        for tenant in tenants {
            let of = self.parts.cache.endpoints_of(tenant).await?;
            if !of.is_empty() {
                endpoints.insert(tenant.to_owned(), of);
            }
        }
        let planned = plan(&batch.records, &endpoints, self.parts.clock.now_ms());
        self.parts.store.append(&planned.entries).await?;
        let count = |outcome, n: usize| {
            metrics::counter!(m::EVENTS_TOTAL, "outcome" => outcome).increment(n as u64);
        };
        count("queued", planned.queued);
        count("no_endpoint", planned.unwanted);
        count("undecodable", planned.undecodable);
        Ok(planned.entries.into_iter().map(|e| e.queue).collect())
    }

    fn assignment(&self) -> HashSet<i32> {
        self.consumer
            .assignment()
            .map(|list| {
                list.elements_for_topic(&self.parts.status_topic)
                    .iter()
                    .map(|e| e.partition())
                    .collect()
            })
            .unwrap_or_default()
    }

    async fn next_batch(&self, cancel: &CancellationToken) -> Batch {
        let mut batch = Batch::default();
        let first = tokio::select! {
            received = tokio::time::timeout(ASSIGNMENT_CHECK, self.consumer.recv()) => received,
            () = cancel.cancelled() => return batch,
        };
        match first {
            Err(_) => return batch,
            Ok(Ok(message)) => {
                self.errors.ok();
                batch.push(&self.parts.codec, &message);
            }
            Ok(Err(err)) => {
                // brokers down, a topic not yet known, a partition moving: the consumer keeps
                // its position, so nothing is skipped
                let (log, pause) = self.errors.error();
                if log {
                    tracing::warn!(error = %err, "consume error");
                }
                if !pause.is_zero() {
                    tokio::time::sleep(pause).await;
                }
                return batch;
            }
        }
        let deadline = tokio::time::Instant::now() + Duration::from_millis(5);
        while batch.records.len() < self.parts.config.batch_max {
            match tokio::time::timeout_at(deadline, self.consumer.recv()).await {
                Ok(Ok(message)) => batch.push(&self.parts.codec, &message),
                Ok(Err(err)) => {
                    if self.errors.error().0 {
                        tracing::warn!(error = %err, "consume error");
                    }
                    break;
                }
                Err(_) => break,
            }
        }
        batch
    }
}

/// A batch and the offsets to store once it is written.
#[derive(Debug, Default)]
struct Batch {
    records: Vec<Incoming>,
    offsets: Vec<(i32, i64)>,
}

impl Batch {
    fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    fn push(
        &mut self,
        codec: &Codec<DeliveryStatus>,
        message: &rdkafka::message::BorrowedMessage<'_>,
    ) {
        let status = message.payload().and_then(|bytes| codec.decode(bytes).ok());
        self.records.push(Incoming {
            partition: message.partition(),
            offset: message.offset(),
            status,
        });
        self.offsets.push((message.partition(), message.offset()));
    }
}
