//! [`KafkaPublisher`]: the [`Publisher`] over the pipeline's idempotent Kafka producer, which
//! replaces its producer when delivery reports stop coming.
//!
//! librdkafka answers every produced record with a delivery report within
//! `message.timeout.ms`: acknowledged, or timed out. After a broker restart an idempotent
//! producer was seen to answer neither, for minutes (the end-to-end Kafka outage test: the
//! router's batch and the SMS dispatcher's statuses waited on reports that never came, with
//! the broker long back), or answered every record with a timeout (a dispatcher's statuses,
//! for two minutes after the broker was back). A publisher built with
//! [`KafkaPublisher::renewing`] waits for the reports a bounded time; past it the call fails
//! with [`PublishError::Timeout`] (the caller publishes again, as after any timeout) and the
//! next call goes through a new producer. It also replaces a producer whose calls have all timed
//! out, none acknowledged, for twice that time: during a real outage that costs a new client
//! every so often; after one, it ends a wedged producer's timeouts within that time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

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
    /// Since when every call through the current producer timed out (none acknowledged).
    timing_out_since: Mutex<Option<Instant>>,
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
                timing_out_since: Mutex::new(None),
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

    /// Notes how a call through producer `number` ended, and replaces that producer once calls
    /// have only timed out for twice the report deadline.
    fn note(&self, renewal: &Renewal, number: u64, results: &[Result<(), PublishError>]) {
        let acknowledged = results.iter().any(Result::is_ok);
        let timed_out = results.contains(&Err(PublishError::Timeout));
        let mut since = self
            .inner
            .timing_out_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if acknowledged {
            *since = None;
            return;
        }
        if !timed_out {
            return;
        }
        let started = *since.get_or_insert_with(Instant::now);
        if started.elapsed() >= renewal.report_deadline * 2 {
            *since = None;
            drop(since);
            self.renew(renewal, number, "every record timed out");
        }
    }

    /// Replaces producer number `stale` unless another call did already.
    fn renew(&self, renewal: &Renewal, stale: u64, why: &str) {
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
                    why,
                    deadline_ms = u64::try_from(renewal.report_deadline.as_millis()).unwrap_or(u64::MAX),
                    "the Kafka producer stopped delivering; replaced it with a new one"
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
        let Some(renewal) = &self.inner.renewal else {
            return sends
                .await
                .into_iter()
                .map(|result| result.map_err(PublishError::from))
                .collect();
        };
        let Ok(results) = tokio::time::timeout(renewal.report_deadline, sends).await else {
            self.renew(renewal, number, "no delivery report in time");
            return vec![Err(PublishError::Timeout); records.len()];
        };
        let results: Vec<_> = results
            .into_iter()
            .map(|result| result.map_err(PublishError::from))
            .collect();
        self.note(renewal, number, &results);
        results
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
        unreachable_producer(60_000)
    }

    /// A producer whose broker never answers, timing its records out after `timeout_ms`.
    fn unreachable_producer(timeout_ms: u32) -> Result<FutureProducer, KafkaSetupError> {
        ClientConfig::new()
            .set("bootstrap.servers", "127.0.0.1:9")
            .set("message.timeout.ms", timeout_ms.to_string())
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
    async fn a_producer_whose_records_only_time_out_is_replaced_after_twice_the_deadline() {
        // every record times out after 100 ms (librdkafka reports it within about a second),
        // well within the 2 s report deadline
        let deadline = Duration::from_secs(2);
        let publisher = KafkaPublisher::renewing(
            "test",
            || unreachable_producer(100),
            Duration::from_secs(1),
            deadline,
        )
        .unwrap();
        let first = Instant::now();
        let mut calls = 0;
        while publisher.renewals() == 0 {
            assert_eq!(
                publisher.publish(&[record()]).await,
                Err(PublishError::Timeout)
            );
            calls += 1;
            assert!(first.elapsed() < Duration::from_secs(20), "never replaced");
        }
        assert!(
            first.elapsed() >= deadline * 2,
            "replaced after {:?}",
            first.elapsed()
        );
        assert!(calls >= 2, "{calls} calls");
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
