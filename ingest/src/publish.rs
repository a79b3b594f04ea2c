//! Writing accepted requests to `notify.requests`.
//!
//! Guarantees: [`Publisher::publish`] returns `Ok` only after the broker acknowledged the record
//! to every in-sync replica (the producer is idempotent with `acks=all`); every error means the
//! caller must not acknowledge the request. Not guaranteed: that a record reported as failed was
//! not written; a delivery timeout can hide a write the broker did make. A retried request with
//! the same `Idempotency-Key` carries the same event id, so such a record is deduplicated
//! downstream; requests without a key have no such protection (documented in the README).

use std::sync::Mutex;
use std::time::Duration;

use futures::future::BoxFuture;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::util::Timeout;

/// Why a record was not acknowledged.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PublishError {
    /// The producer's queue stayed full for the whole wait.
    #[error("producer queue full")]
    QueueFull,
    /// No delivery report within the produce timeout.
    #[error("no delivery report within the timeout")]
    Timeout,
    /// The broker or client reported an error.
    #[error("kafka error: {0}")]
    Kafka(String),
}

/// The narrow view of Kafka the gateway needs.
pub trait Publisher: Send + Sync + std::fmt::Debug {
    /// Produces `payload` under `key` and waits for the broker's acknowledgement.
    fn publish<'a>(
        &'a self,
        key: &'a str,
        payload: &'a [u8],
    ) -> BoxFuture<'a, Result<(), PublishError>>;

    /// Waits until every record handed to the producer is acknowledged or failed.
    fn flush(&self, timeout: Duration) -> Result<(), PublishError>;

    /// Whether a broker answers a metadata request (for `/readyz`). Blocking.
    fn check(&self, timeout: Duration) -> Result<(), PublishError>;
}

/// [`Publisher`] over an idempotent rdkafka producer.
pub struct KafkaPublisher {
    producer: FutureProducer,
    topic: String,
    queue_wait: Duration,
}

impl std::fmt::Debug for KafkaPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaPublisher")
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl KafkaPublisher {
    /// Wraps `producer`, writing to `topic`. `queue_wait` bounds how long a request waits for
    /// room in a full producer queue before it is answered 503.
    pub fn new(producer: FutureProducer, topic: String, queue_wait: Duration) -> Self {
        Self {
            producer,
            topic,
            queue_wait,
        }
    }
}

fn classify(err: KafkaError) -> PublishError {
    match err {
        KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull) => PublishError::QueueFull,
        KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut) => PublishError::Timeout,
        other => PublishError::Kafka(other.to_string()),
    }
}

impl Publisher for KafkaPublisher {
    fn publish<'a>(
        &'a self,
        key: &'a str,
        payload: &'a [u8],
    ) -> BoxFuture<'a, Result<(), PublishError>> {
        Box::pin(async move {
            let record = FutureRecord::to(&self.topic).key(key).payload(payload);
            self.producer
                .send(record, Timeout::After(self.queue_wait))
                .await
                .map(|_| ())
                .map_err(|(err, _)| classify(err))
        })
    }

    fn flush(&self, timeout: Duration) -> Result<(), PublishError> {
        self.producer
            .flush(Timeout::After(timeout))
            .map_err(classify)
    }

    fn check(&self, timeout: Duration) -> Result<(), PublishError> {
        self.producer
            .client()
            .fetch_metadata(Some(&self.topic), Timeout::After(timeout))
            .map(|_| ())
            .map_err(classify)
    }
}

/// In-memory [`Publisher`] for tests and the embedded demo's unit tests: records what it was
/// given and can be told to fail.
#[derive(Debug, Default)]
pub struct MemoryPublisher {
    records: Mutex<Vec<(String, Vec<u8>)>>,
    failure: Mutex<Option<PublishError>>,
}

impl MemoryPublisher {
    /// Every (key, payload) published so far.
    pub fn records(&self) -> Vec<(String, Vec<u8>)> {
        self.records.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Makes every later publish fail with `error` (or succeed again with `None`).
    pub fn fail_with(&self, error: Option<PublishError>) {
        if let Ok(mut failure) = self.failure.lock() {
            *failure = error;
        }
    }

    fn failure(&self) -> Option<PublishError> {
        self.failure.lock().ok().and_then(|f| f.clone())
    }
}

impl Publisher for MemoryPublisher {
    fn publish<'a>(
        &'a self,
        key: &'a str,
        payload: &'a [u8],
    ) -> BoxFuture<'a, Result<(), PublishError>> {
        Box::pin(async move {
            if let Some(error) = self.failure() {
                return Err(error);
            }
            if let Ok(mut records) = self.records.lock() {
                records.push((key.to_owned(), payload.to_vec()));
            }
            Ok(())
        })
    }

    fn flush(&self, _timeout: Duration) -> Result<(), PublishError> {
        Ok(())
    }

    fn check(&self, _timeout: Duration) -> Result<(), PublishError> {
        self.failure().map_or(Ok(()), Err)
    }
}
