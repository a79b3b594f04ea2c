//! Records the dispatchers produce (statuses, retries, dead letters, moved retries) behind a
//! narrow trait, with the Kafka implementation and an in-memory one.
//!
//! Guarantees: [`Publisher::publish`] returns `Ok` only once Kafka acknowledged every record of
//! the call (idempotent producer, `acks=all`); on `Err` some may have been written, so callers
//! publish again (consumers of these topics tolerate repeats). Not guaranteed: ordering between
//! records of one call that go to different partitions.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use notify_common::kafka::{produce_all, OutRecord};
use rdkafka::producer::FutureProducer;

/// One record to produce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// Destination topic.
    pub topic: String,
    /// Record key.
    pub key: Vec<u8>,
    /// Record value.
    pub payload: Vec<u8>,
    /// Record headers.
    pub headers: Vec<(&'static str, String)>,
}

/// Why a publish did not complete.
#[derive(Debug, Clone, thiserror::Error)]
#[error("produce failed: {0}")]
pub struct PublishError(pub String);

/// Produces records and waits for their acknowledgement.
#[async_trait]
pub trait Publisher: Send + Sync + std::fmt::Debug {
    /// Produces every output; `Ok` once all are acknowledged.
    async fn publish(&self, outputs: &[Output]) -> Result<(), PublishError>;
}

/// Kafka through the pipeline's idempotent producer.
#[derive(Clone)]
pub struct KafkaPublisher {
    producer: FutureProducer,
    timeout: Duration,
}

impl std::fmt::Debug for KafkaPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaPublisher")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl KafkaPublisher {
    /// Publishes through `producer`, waiting up to `timeout` for room in its queue.
    pub fn new(producer: FutureProducer, timeout: Duration) -> Self {
        Self { producer, timeout }
    }
}

#[async_trait]
impl Publisher for KafkaPublisher {
    async fn publish(&self, outputs: &[Output]) -> Result<(), PublishError> {
        let records = outputs.iter().map(|output| OutRecord {
            topic: &output.topic,
            key: &output.key,
            payload: &output.payload,
            headers: &output.headers,
        });
        produce_all(&self.producer, records, self.timeout)
            .await
            .map_err(|err| PublishError(err.to_string()))
    }
}

/// Records kept in memory, for tests. [`MemoryPublisher::fail_next`] makes the next calls fail
/// as an unreachable broker would.
#[derive(Debug, Default)]
pub struct MemoryPublisher {
    records: Mutex<Vec<Output>>,
    failures: AtomicUsize,
}

impl MemoryPublisher {
    /// Nothing published yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes the next `n` calls fail.
    pub fn fail_next(&self, n: usize) {
        self.failures.store(n, Ordering::SeqCst);
    }

    /// Every record published so far, in order.
    pub fn records(&self) -> Vec<Output> {
        self.records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Records published to `topic`.
    pub fn to_topic(&self, topic: &str) -> Vec<Output> {
        self.records()
            .into_iter()
            .filter(|o| o.topic == topic)
            .collect()
    }
}

#[async_trait]
impl Publisher for MemoryPublisher {
    async fn publish(&self, outputs: &[Output]) -> Result<(), PublishError> {
        let failed = self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if failed {
            return Err(PublishError("injected: broker unavailable".into()));
        }
        self.records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(outputs);
        Ok(())
    }
}
