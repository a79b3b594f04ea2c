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

pub use crate::kafka_publisher::KafkaPublisher;

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
    /// Kafka refused this record for good (too large for the producer or the topic, or
    /// malformed): producing it again fails again, while the other records go through.
    #[error("kafka refused the record: {0}")]
    Refused(String),
    /// The broker or client reported another error.
    #[error("kafka error: {0}")]
    Kafka(String),
}

impl PublishError {
    /// Whether the error belongs to the record, not to the moment: retrying it cannot help, so
    /// the record must be set aside (dead-lettered) for the others to move on.
    pub fn is_permanent(&self) -> bool {
        matches!(self, PublishError::Refused(_))
    }
}

impl From<KafkaError> for PublishError {
    fn from(err: KafkaError) -> Self {
        match err {
            KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull) => PublishError::QueueFull,
            KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut) => {
                PublishError::Timeout
            }
            KafkaError::MessageProduction(
                code @ (RDKafkaErrorCode::MessageSizeTooLarge
                | RDKafkaErrorCode::InvalidMessageSize
                | RDKafkaErrorCode::MessageBatchTooLarge
                | RDKafkaErrorCode::InvalidMessage
                | RDKafkaErrorCode::InvalidRecord
                | RDKafkaErrorCode::BadMessage),
            ) => PublishError::Refused(code.to_string()),
            other => PublishError::Kafka(other.to_string()),
        }
    }
}

/// Produces records and waits for their acknowledgement.
#[async_trait]
pub trait Publisher: Send + Sync + std::fmt::Debug {
    /// Produces every record and waits for each one's answer; the results are in record order.
    async fn publish_each(&self, records: &[Record]) -> Vec<Result<(), PublishError>>;

    /// Produces every record; `Ok` once all are acknowledged, else the first failure.
    async fn publish(&self, records: &[Record]) -> Result<(), PublishError> {
        self.publish_each(records).await.into_iter().collect()
    }

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

/// Records kept in memory, for tests. [`MemoryPublisher::fail_next`] makes the next calls fail
/// as an unreachable broker would; [`MemoryPublisher::fail_with`] makes every call fail (and the
/// readiness check too) until it is cleared; [`MemoryPublisher::refuse_larger_than`] refuses
/// single records as a broker's size limit does.
#[derive(Debug, Default)]
pub struct MemoryPublisher {
    records: Mutex<Vec<Record>>,
    failures: AtomicUsize,
    failure: Mutex<Option<PublishError>>,
    max_payload: Mutex<Vec<(Option<String>, usize)>>,
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

    /// Refuses every record to `topic` (any topic with `None`) whose payload is larger than
    /// `bytes`, for good, as Kafka refuses a record over `max.message.bytes`; the other records
    /// of the call are kept.
    pub fn refuse_larger_than(&self, topic: Option<&str>, bytes: usize) {
        self.max_payload
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((topic.map(str::to_owned), bytes));
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
    async fn publish_each(&self, records: &[Record]) -> Vec<Result<(), PublishError>> {
        let failed = self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        let failure = if failed {
            Some(PublishError::Kafka("injected: broker unavailable".into()))
        } else {
            self.failure()
        };
        if let Some(error) = failure {
            return vec![Err(error); records.len()];
        }
        let limits = self
            .max_payload
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut kept = self.records.lock().unwrap_or_else(|e| e.into_inner());
        records
            .iter()
            .map(|record| {
                let too_large = limits.iter().any(|(topic, max)| {
                    topic.as_ref().is_none_or(|t| *t == record.topic) && record.payload.len() > *max
                });
                if too_large {
                    return Err(PublishError::Refused(
                        RDKafkaErrorCode::MessageSizeTooLarge.to_string(),
                    ));
                }
                kept.push(record.clone());
                Ok(())
            })
            .collect()
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

    #[tokio::test]
    async fn a_refused_record_does_not_take_the_others_down() {
        let publisher = MemoryPublisher::new();
        publisher.refuse_larger_than(Some("t"), 3);
        let small = Record::new("t", "k", vec![1]);
        let large = Record::new("t", "k", vec![0; 4]);
        let results = publisher
            .publish_each(&[small.clone(), large.clone(), small.clone()])
            .await;
        assert!(results[0].is_ok() && results[2].is_ok());
        assert!(results[1].as_ref().is_err_and(PublishError::is_permanent));
        assert_eq!(publisher.records(), vec![small.clone(), small]);
        assert!(publisher.publish(&[large]).await.is_err());
    }

    #[test]
    fn refusals_are_permanent_and_outages_are_not() {
        for code in [
            RDKafkaErrorCode::MessageSizeTooLarge,
            RDKafkaErrorCode::InvalidRecord,
        ] {
            assert!(PublishError::from(KafkaError::MessageProduction(code)).is_permanent());
        }
        for code in [
            RDKafkaErrorCode::QueueFull,
            RDKafkaErrorCode::MessageTimedOut,
            RDKafkaErrorCode::AllBrokersDown,
            RDKafkaErrorCode::UnknownTopicOrPartition,
        ] {
            assert!(!PublishError::from(KafkaError::MessageProduction(code)).is_permanent());
        }
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
