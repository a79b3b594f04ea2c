//! The one publishing path of the pipeline: a [`Record`] built the same way by every stage, and
//! a [`Publisher`] that produces records and waits for Kafka's acknowledgement, with the Kafka
//! implementation and an in-memory one for tests.
//!
//! Guarantees: [`Publisher::publish`] returns `Ok` only once Kafka acknowledged every record of
//! the call to every in-sync replica (the producer is idempotent with `acks=all`, see
//! [`crate::kafka::producer_config`], which also fixes the partitioner so a key always lands on
//! the same partition as Java clients put it). On `Err` some records may have been written, so
//! callers publish the whole call again; every consumer of these topics tolerates repeats. A
//! full local queue is waited out for up to the publisher's queue timeout (back-pressure, not
//! loss). Not guaranteed: ordering between records of one call that go to different partitions.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, Producer};
use rdkafka::util::Timeout;

use crate::kafka::{produce_all, OutRecord};

/// One record to produce: topic, key, value (already framed by its codec) and headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Destination topic.
    pub topic: String,
    /// Record key; the partitioner hashes it, so one key stays on one partition.
    pub key: Vec<u8>,
    /// Record value.
    pub payload: Vec<u8>,
    /// Record headers, in order.
    pub headers: Vec<(&'static str, String)>,
}

impl Record {
    /// A record without headers.
    pub fn new(topic: impl Into<String>, key: impl Into<Vec<u8>>, payload: Vec<u8>) -> Self {
        Self {
            topic: topic.into(),
            key: key.into(),
            payload,
            headers: Vec::new(),
        }
    }

    /// Adds header `name`.
    #[must_use]
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// The value of header `name`, if set.
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The key as text (keys of the pipeline are UTF-8; anything else is shown lossily).
    pub fn key_str(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.key)
    }
}

/// Why a publish did not complete.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// The producer's queue stayed full for the whole wait.
    #[error("producer queue full")]
    QueueFull,
    /// No delivery report within the producer's message timeout.
    #[error("no delivery report within the timeout")]
    Timeout,
    /// The broker or client reported another error.
    #[error("kafka error: {0}")]
    Kafka(String),
}

impl From<KafkaError> for PublishError {
    fn from(err: KafkaError) -> Self {
        match err {
            KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull) => PublishError::QueueFull,
            KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut) => {
                PublishError::Timeout
            }
            other => PublishError::Kafka(other.to_string()),
        }
    }
}

/// Produces records and waits for their acknowledgement.
#[async_trait]
pub trait Publisher: Send + Sync + std::fmt::Debug {
    /// Produces every record; `Ok` once all are acknowledged.
    async fn publish(&self, records: &[Record]) -> Result<(), PublishError>;

    /// Waits up to `timeout` until every record handed over is acknowledged or failed (for
    /// shutdown). Blocking: call it off the async runtime.
    fn flush(&self, _timeout: Duration) -> Result<(), PublishError> {
        Ok(())
    }

    /// Whether a broker answers a metadata request for `topic` within `timeout` (for
    /// `/readyz`). Blocking: call it off the async runtime.
    fn check(&self, _topic: &str, _timeout: Duration) -> Result<(), PublishError> {
        Ok(())
    }
}

/// Kafka through the pipeline's idempotent producer.
#[derive(Clone)]
pub struct KafkaPublisher {
    producer: FutureProducer,
    queue_timeout: Duration,
}

impl std::fmt::Debug for KafkaPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaPublisher")
            .field("queue_timeout", &self.queue_timeout)
            .finish_non_exhaustive()
    }
}

impl KafkaPublisher {
    /// Publishes through `producer`, waiting up to `queue_timeout` for room in its queue.
    pub fn new(producer: FutureProducer, queue_timeout: Duration) -> Self {
        Self {
            producer,
            queue_timeout,
        }
    }

    /// The producer underneath (for flushing and metadata checks).
    pub fn producer(&self) -> &FutureProducer {
        &self.producer
    }
}

#[async_trait]
impl Publisher for KafkaPublisher {
    async fn publish(&self, records: &[Record]) -> Result<(), PublishError> {
        let borrowed = records.iter().map(|record| OutRecord {
            topic: &record.topic,
            key: &record.key,
            payload: &record.payload,
            headers: &record.headers,
        });
        produce_all(&self.producer, borrowed, self.queue_timeout)
            .await
            .map_err(PublishError::from)
    }

    fn flush(&self, timeout: Duration) -> Result<(), PublishError> {
        self.producer
            .flush(Timeout::After(timeout))
            .map_err(PublishError::from)
    }

    fn check(&self, topic: &str, timeout: Duration) -> Result<(), PublishError> {
        self.producer
            .client()
            .fetch_metadata(Some(topic), Timeout::After(timeout))
            .map(|_| ())
            .map_err(PublishError::from)
    }
}

/// Records kept in memory, for tests. [`MemoryPublisher::fail_next`] makes the next calls fail
/// as an unreachable broker would; [`MemoryPublisher::fail_with`] makes every call fail (and the
/// readiness check too) until it is cleared.
#[derive(Debug, Default)]
pub struct MemoryPublisher {
    records: Mutex<Vec<Record>>,
    failures: AtomicUsize,
    failure: Mutex<Option<PublishError>>,
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

    /// Makes every later call fail with `error` (or succeed again with `None`).
    pub fn fail_with(&self, error: Option<PublishError>) {
        *self.failure.lock().unwrap_or_else(|e| e.into_inner()) = error;
    }

    fn failure(&self) -> Option<PublishError> {
        self.failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Every record published so far, in order.
    pub fn records(&self) -> Vec<Record> {
        self.records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Records published to `topic`.
    pub fn to_topic(&self, topic: &str) -> Vec<Record> {
        self.records()
            .into_iter()
            .filter(|o| o.topic == topic)
            .collect()
    }
}

#[async_trait]
impl Publisher for MemoryPublisher {
    async fn publish(&self, records: &[Record]) -> Result<(), PublishError> {
        let failed = self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if failed {
            return Err(PublishError::Kafka("injected: broker unavailable".into()));
        }
        if let Some(error) = self.failure() {
            return Err(error);
        }
        self.records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(records);
        Ok(())
    }

    fn check(&self, _topic: &str, _timeout: Duration) -> Result<(), PublishError> {
        self.failure().map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_builder_keeps_headers_in_order() {
        let record = Record::new("t", "tenant:user", b"v".to_vec())
            .header("a", "1")
            .header("b", "2");
        assert_eq!(record.header_value("b"), Some("2"));
        assert_eq!(record.header_value("c"), None);
        assert_eq!(record.key_str(), "tenant:user");
        assert_eq!(record.headers, vec![("a", "1".into()), ("b", "2".into())]);
    }

    #[tokio::test]
    async fn memory_publisher_fails_when_told_then_keeps_records() {
        let publisher = MemoryPublisher::new();
        publisher.fail_next(1);
        let record = Record::new("t", "k", vec![1]);
        assert!(publisher
            .publish(std::slice::from_ref(&record))
            .await
            .is_err());
        publisher
            .publish(std::slice::from_ref(&record))
            .await
            .unwrap();
        assert_eq!(publisher.to_topic("t"), vec![record]);
        assert!(publisher.to_topic("other").is_empty());
    }

    #[test]
    fn queue_full_and_timeouts_are_told_apart() {
        assert_eq!(
            PublishError::from(KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull)),
            PublishError::QueueFull
        );
        assert_eq!(
            PublishError::from(KafkaError::MessageProduction(
                RDKafkaErrorCode::MessageTimedOut
            )),
            PublishError::Timeout
        );
    }
}
