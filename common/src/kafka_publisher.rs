//! [`KafkaPublisher`]: the [`Publisher`] over the pipeline's idempotent Kafka producer, which
//! replaces its producer when delivery reports stop coming.
//!
//! librdkafka answers every produced record with a delivery report within
//! `message.timeout.ms`: acknowledged, or timed out. After a broker restart an idempotent
//! producer was seen to answer neither, for minutes (the end-to-end Kafka outage test: the
//! router's batch and the SMS dispatcher's statuses waited on reports that never came, with
//! the broker long back). A publisher built with [`KafkaPublisher::renewing`] waits for the
//! reports a bounded time; past it the call fails with [`PublishError::Timeout`] (the caller
//! publishes again, as after any timeout) and the next call goes through a new producer.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use rdkafka::producer::{FutureProducer, Producer};
use rdkafka::util::Timeout;

use crate::kafka::{produce_each, KafkaSetupError, OutRecord};
use crate::publish::{PublishError, Publisher, Record};

/// Counter of producers replaced because delivery reports stopped, by `stage`.
pub const PRODUCER_RENEWALS_TOTAL: &str = "notify_kafka_producer_renewals_total";

type MakeProducer = dyn Fn() -> Result<FutureProducer, KafkaSetupError> + Send + Sync;

/// Kafka through the pipeline's idempotent producer.
#[derive(Clone)]
pub struct KafkaPublisher {
    inner: Arc<Inner>,
}

struct Inner {
    /// The producer in use and how many were replaced before it.
    current: RwLock<(u64, FutureProducer)>,
    queue_timeout: Duration,
    renewal: Option<Renewal>,
    renewals: AtomicU64,
}

struct Renewal {
    make: Box<MakeProducer>,
    /// How long a call waits for its delivery reports before the producer is replaced.
    report_deadline: Duration,
    /// Who publishes (the metric's `stage` label).
    stage: String,
}

impl std::fmt::Debug for KafkaPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaPublisher")
            .field("queue_timeout", &self.inner.queue_timeout)
            .field(
                "report_deadline",
                &self.inner.renewal.as_ref().map(|r| r.report_deadline),
            )
            .finish_non_exhaustive()
    }
}

impl KafkaPublisher {
    /// Publishes through `producer`, waiting up to `queue_timeout` for room in its queue and as
    /// long as librdkafka takes for the delivery reports.
    pub fn new(producer: FutureProducer, queue_timeout: Duration) -> Self {
        Self::with(producer, queue_timeout, None)
    }

    /// Publishes through a producer from `make`, and through a new one from `make` once a call
    /// has waited `report_deadline` for its delivery reports (set it above the producer's
    /// `message.timeout.ms`, after which librdkafka reports every record one way or the other).
    pub fn renewing(
        stage: &str,
        make: impl Fn() -> Result<FutureProducer, KafkaSetupError> + Send + Sync + 'static,
        queue_timeout: Duration,
        report_deadline: Duration,
    ) -> Result<Self, KafkaSetupError> {
        let producer = make()?;
        let renewal = Renewal {
            make: Box::new(make),
            report_deadline,
            stage: stage.to_owned(),
        };
        Ok(Self::with(producer, queue_timeout, Some(renewal)))
    }

    /// [`KafkaPublisher::renewing`] with the stage's producer (`crate::kafka::producer`): the
    /// reports are waited for `message.timeout.ms` and 15 seconds more.
    pub fn for_stage(
        config: &crate::config::KafkaConfig,
        stage: &str,
        queue_timeout: Duration,
    ) -> Result<Self, KafkaSetupError> {
        let deadline = Duration::from_millis(config.message_timeout_ms) + Duration::from_secs(15);
        let (config, name) = (config.clone(), stage.to_owned());
        Self::renewing(
            stage,
            move || crate::kafka::producer(&config, &name),
            queue_timeout,
            deadline,
        )
    }

    fn with(producer: FutureProducer, queue_timeout: Duration, renewal: Option<Renewal>) -> Self {
        Self {
            inner: Arc::new(Inner {
                current: RwLock::new((0, producer)),
                queue_timeout,
                renewal,
                renewals: AtomicU64::new(0),
            }),
        }
    }

    /// The producer in use now (for flushing and metadata checks).
    pub fn producer(&self) -> FutureProducer {
        self.current().1
    }

    /// How many times the producer was replaced.
    pub fn renewals(&self) -> u64 {
        self.inner.renewals.load(Ordering::Relaxed)
    }

    fn current(&self) -> (u64, FutureProducer) {
        let current = self
            .inner
            .current
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        (current.0, current.1.clone())
    }

    /// Replaces producer number `stale` unless another call did already.
    fn renew(&self, renewal: &Renewal, stale: u64) {
        let mut current = self
            .inner
            .current
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if current.0 != stale {
            return;
        }
        match (renewal.make)() {
            Ok(fresh) => {
                let old = std::mem::replace(&mut current.1, fresh);
                current.0 += 1;
                self.inner.renewals.fetch_add(1, Ordering::Relaxed);
                metrics::counter!(PRODUCER_RENEWALS_TOTAL, "stage" => renewal.stage.clone())
                    .increment(1);
                tracing::error!(
                    stage = %renewal.stage,
                    waited_ms = u64::try_from(renewal.report_deadline.as_millis()).unwrap_or(u64::MAX),
                    "no delivery report from the Kafka producer in time; replaced it with a new one"
                );
                // closing a client waits on its threads: off the async runtime, after the calls
                // still holding it have given up (each within the deadline)
                let linger = renewal.report_deadline * 2;
                std::thread::spawn(move || {
                    std::thread::sleep(linger);
                    drop(old);
                });
            }
            Err(err) => {
                tracing::error!(stage = %renewal.stage, error = %err, "could not build a new Kafka producer; keeping the old one");
            }
        }
    }
}

#[async_trait]
impl Publisher for KafkaPublisher {
    async fn publish_each(&self, records: &[Record]) -> Vec<Result<(), PublishError>> {
        let (number, producer) = self.current();
        let borrowed = records.iter().map(|record| OutRecord {
            topic: &record.topic,
            key: &record.key,
            payload: &record.payload,
            headers: &record.headers,
        });
        let sends = produce_each(&producer, borrowed, self.inner.queue_timeout);
        let results = match &self.inner.renewal {
            None => sends.await,
            Some(renewal) => match tokio::time::timeout(renewal.report_deadline, sends).await {
                Ok(results) => results,
                Err(_) => {
                    self.renew(renewal, number);
                    return vec![Err(PublishError::Timeout); records.len()];
                }
            },
        };
        results
            .into_iter()
            .map(|result| result.map_err(PublishError::from))
            .collect()
    }

    fn flush(&self, timeout: Duration) -> Result<(), PublishError> {
        self.producer()
            .flush(Timeout::After(timeout))
            .map_err(PublishError::from)
    }

    fn check(&self, topic: &str, timeout: Duration) -> Result<(), PublishError> {
        self.producer()
            .client()
            .fetch_metadata(Some(topic), Timeout::After(timeout))
            .map(|_| ())
            .map_err(PublishError::from)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use rdkafka::config::ClientConfig;

    use super::*;

    /// A producer whose broker never answers (nothing listens on the port) and whose own
    /// message timeout is a minute: its delivery reports do not come within the test.
    fn silent_producer() -> Result<FutureProducer, KafkaSetupError> {
        ClientConfig::new()
            .set("bootstrap.servers", "127.0.0.1:9")
            .set("message.timeout.ms", "60000")
            .set("enable.idempotence", "true")
            .set("log_level", "0")
            .create()
            .map_err(|source| KafkaSetupError::Client {
                role: "producer",
                source,
            })
    }

    fn record() -> Record {
        Record {
            topic: "t".into(),
            key: b"k".to_vec(),
            payload: b"v".to_vec(),
            headers: Vec::new(),
        }
    }

    #[tokio::test]
    async fn reports_that_do_not_come_fail_the_call_at_the_deadline_and_replace_the_producer() {
        let publisher = KafkaPublisher::renewing(
            "test",
            silent_producer,
            Duration::from_secs(1),
            Duration::from_millis(300),
        )
        .unwrap();
        let started = Instant::now();
        let results = publisher.publish_each(&[record(), record()]).await;
        assert_eq!(results, vec![Err(PublishError::Timeout); 2]);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(publisher.renewals(), 1);
        // the next call goes through the new producer, and fails over again the same way
        assert_eq!(
            publisher.publish(&[record()]).await,
            Err(PublishError::Timeout)
        );
        assert_eq!(publisher.renewals(), 2);
    }

    #[tokio::test]
    async fn a_publisher_without_renewal_waits_for_librdkafka() {
        let publisher = KafkaPublisher::new(silent_producer().unwrap(), Duration::from_secs(1));
        let records = [record()];
        let call = publisher.publish(&records);
        assert!(
            tokio::time::timeout(Duration::from_millis(500), call)
                .await
                .is_err(),
            "answered before librdkafka's own timeout"
        );
        assert_eq!(publisher.renewals(), 0);
    }
}
