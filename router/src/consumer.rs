//! The router's consumer loop: the only part of the router that reads from Kafka.
//!
//! Guarantees: records are routed in batches; every output of a batch (deliveries, statuses,
//! dead letters) is acknowledged by Kafka before any offset of the batch is stored, so a crash
//! or rebalance at any point re-routes records instead of losing them. A record that can never
//! be routed (undecodable, unknown tenant), or whose output Kafka refuses for good (too large,
//! malformed), goes to `notify.dlq` with its reason in headers and the partition moves on; only
//! a failure of the whole producer or database holds the batch. A database or Kafka outage pauses the loop with backoff; nothing is
//! skipped. Not guaranteed: that a record is routed only once. A re-routed record yields the
//! same deterministic delivery ids, which the dispatchers' dedup recognises; its statuses may
//! repeat on `notify.status`.

use std::sync::Arc;
use std::time::Duration;

use notify_common::config::RouterConfig;
use notify_common::kafka::{header_str, ErrorPacer};
use notify_common::metrics::LagContext;
use notify_common::publish::Publisher;
use notify_common::Health;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Message};
use tokio_util::sync::CancellationToken;

use crate::handler::{Handler, Incoming};
use crate::metrics as m;
use crate::publish::publish_routed;
use crate::scheduler::DEFERRED_UNTIL_HEADER;

/// Why the loop stopped.
#[derive(Debug, thiserror::Error)]
pub enum RouterError {
    /// The consumer failed in a way retrying cannot fix.
    #[error("kafka consumer: {0}")]
    Consumer(#[from] rdkafka::error::KafkaError),
}

/// Consumes `notify.requests`, hands each batch to the [`Handler`], publishes what it returns
/// and stores the offsets.
pub struct RouterConsumer {
    consumer: StreamConsumer<LagContext>,
    publisher: Arc<dyn Publisher>,
    handler: Handler,
    config: RouterConfig,
    health: Health,
    errors: ErrorPacer,
}

impl std::fmt::Debug for RouterConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouterConsumer")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The parts of a consumed message the handler and the offset store need.
fn incoming(message: &BorrowedMessage<'_>) -> Incoming {
    Incoming {
        topic: message.topic().to_owned(),
        partition: message.partition(),
        offset: message.offset(),
        key: message.key().map(<[u8]>::to_vec),
        payload: message.payload().map(<[u8]>::to_vec),
        deferred_until_ms: message
            .headers()
            .and_then(|headers| header_str(headers, DEFERRED_UNTIL_HEADER))
            .and_then(|due| due.parse().ok()),
        trace: notify_common::trace::of_headers(message.headers()),
    }
}

impl RouterConsumer {
    /// Assembles the loop. `consumer` must already be subscribed to the requests topic.
    pub fn new(
        consumer: StreamConsumer<LagContext>,
        publisher: Arc<dyn Publisher>,
        handler: Handler,
        config: RouterConfig,
    ) -> Self {
        Self {
            consumer,
            publisher,
            handler,
            config,
            health: Health::new(),
            errors: ErrorPacer::new(),
        }
    }

    /// Reports readiness into `health` (the admin endpoint's `/readyz`).
    pub fn with_health(mut self, health: Health) -> Self {
        self.health = health;
        self
    }

    /// Routes until `cancel` fires. A batch in progress at that moment is abandoned without
    /// storing its offsets, so the next owner of its partitions routes it again.
    pub async fn run(&self, cancel: CancellationToken) -> Result<(), RouterError> {
        let max_backoff = Duration::from_millis(self.config.max_backoff_ms);
        while !cancel.is_cancelled() {
            let batch = self.next_batch(&cancel).await?;
            if batch.is_empty() {
                continue;
            }
            let mut backoff = Duration::from_millis(100);
            let published = loop {
                let attempt = async {
                    let routed = self.handler.handle_batch(&batch).await?;
                    publish_routed(self.publisher.as_ref(), &self.handler, &batch, &routed).await
                };
                match attempt.await {
                    Ok(published) => {
                        self.health.ok("database");
                        self.health.ok("kafka");
                        break published;
                    }
                    Err(err) => {
                        self.health.failing(err.dependency(), err.to_string());
                        metrics::counter!(m::RETRIES_TOTAL).increment(1);
                        tracing::warn!(error = %err, records = batch.len(), backoff_ms = u64::try_from(backoff.as_millis()).unwrap_or(u64::MAX), "routing paused, will retry the batch");
                        tokio::select! {
                            () = tokio::time::sleep(backoff) => {}
                            () = cancel.cancelled() => return Ok(()),
                        }
                        backoff = (backoff * 2).min(max_backoff);
                    }
                }
            };
            for record in &batch {
                // a partition taken away meanwhile refuses the store; its new owner re-routes
                if let Err(err) =
                    self.consumer
                        .store_offset(&record.topic, record.partition, record.offset)
                {
                    tracing::debug!(error = %err, partition = record.partition, "offset not stored");
                }
            }
            metrics::counter!(m::REQUESTS_TOTAL).increment(batch.len() as u64);
            published.tally.record();
        }
        Ok(())
    }

    async fn next_batch(&self, cancel: &CancellationToken) -> Result<Vec<Incoming>, RouterError> {
        let mut batch = Vec::new();
        let first = tokio::select! {
            received = self.consumer.recv() => received,
            () = cancel.cancelled() => return Ok(batch),
        };
        match first {
            Ok(message) => {
                self.errors.ok();
                batch.push(incoming(&message));
            }
            Err(err) => {
                // broker-side errors (brokers down, a topic not yet known, a partition moving)
                // pass; the consumer keeps its position, so nothing is skipped
                let (log, pause) = self.errors.error();
                if log {
                    tracing::warn!(error = %err, "consume error");
                }
                if !pause.is_zero() {
                    tokio::time::sleep(pause).await;
                }
                return Ok(batch);
            }
        }
        let deadline =
            tokio::time::Instant::now() + Duration::from_millis(self.config.batch_wait_ms);
        while batch.len() < self.config.batch_max {
            match tokio::time::timeout_at(deadline, self.consumer.recv()).await {
                Ok(Ok(message)) => batch.push(incoming(&message)),
                Ok(Err(err)) => {
                    if self.errors.error().0 {
                        tracing::warn!(error = %err, "consume error");
                    }
                    break;
                }
                Err(_) => break,
            }
        }
        Ok(batch)
    }
}
