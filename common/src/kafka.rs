//! Kafka client setup with the pipeline's delivery semantics baked in, and topic administration.
//!
//! Guarantees: every producer built here waits for all in-sync replicas and is idempotent
//! (`acks=all`, `enable.idempotence=true`), so a retried send is never written twice; every
//! consumer built here commits automatically but stores offsets only when the stage says the
//! record's outcome is durable (`enable.auto.offset.store=false`). Operator properties from
//! `kafka.client_properties` (then the secrets of `kafka.secret_properties`) are applied last and
//! may override anything except those two rules.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;

use crate::config::KafkaConfig;
use crate::metrics::LagContext;
use crate::topics::TopicSpec;

/// Why a Kafka client could not be built or an admin request failed.
#[derive(Debug, thiserror::Error)]
pub enum KafkaSetupError {
    /// librdkafka refused the configuration or could not create the client.
    #[error("kafka client for {role} could not be created: {source}")]
    Client {
        /// Which client: producer, consumer or admin.
        role: &'static str,
        /// The librdkafka error.
        source: KafkaError,
    },
    /// An admin or metadata request failed as a whole.
    #[error("kafka admin request failed: {0}")]
    Admin(#[source] KafkaError),
    /// One topic could not be created.
    #[error("topic {topic} could not be created: {code}")]
    CreateTopic {
        /// The topic name.
        topic: String,
        /// The broker's error code.
        code: RDKafkaErrorCode,
    },
}

/// Properties that make the pipeline's delivery promise hold; applied after the operator's
/// extras so they cannot be switched off by accident.
const PRODUCER_INVARIANTS: [(&str, &str); 2] = [("acks", "all"), ("enable.idempotence", "true")];
const CONSUMER_INVARIANTS: [(&str, &str); 1] = [("enable.auto.offset.store", "false")];

fn base(config: &KafkaConfig, stage: &str) -> ClientConfig {
    let mut client = ClientConfig::new();
    client
        .set("bootstrap.servers", &config.brokers)
        .set("client.id", format!("{}-{stage}", config.client_id))
        .set("socket.keepalive.enable", "true");
    client
}

fn apply_extras(client: &mut ClientConfig, config: &KafkaConfig, invariants: &[(&str, &str)]) {
    for (key, value) in &config.client_properties {
        client.set(key, value);
    }
    for (key, secret) in &config.secret_properties {
        // checked at start (`Config::validate`); one gone since fails the client's login,
        // and says which secret it was here
        match secret.read() {
            Ok(value) => {
                client.set(key, value);
            }
            Err(err) => {
                tracing::error!(property = %key, error = %err, "kafka secret property unreadable")
            }
        }
    }
    for (key, value) in invariants {
        client.set(*key, *value);
    }
}

/// Producer settings: idempotent, `acks=all`, small linger for batching, lz4 compression.
pub fn producer_config(config: &KafkaConfig, stage: &str) -> ClientConfig {
    let mut client = base(config, stage);
    client
        .set("message.timeout.ms", config.message_timeout_ms.to_string())
        .set("linger.ms", "5")
        .set("compression.type", "lz4")
        .set("queue.buffering.max.messages", "100000")
        // murmur2 of the key, as Kafka's Java client and Kafka Streams place keys (librdkafka's
        // own default hashes with CRC32): one user's requests land on one partition whichever
        // of them published it; librdkafka-based producers set the same (docs/producers.md)
        .set("partitioner", "murmur2_random");
    apply_extras(&mut client, config, &PRODUCER_INVARIANTS);
    client
}

/// Consumer settings for a group: auto commit of *stored* offsets only, earliest reset so a
/// new group never skips records.
pub fn consumer_config(config: &KafkaConfig, stage: &str, group_id: &str) -> ClientConfig {
    let mut client = base(config, stage);
    client
        .set("group.id", group_id)
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "1000")
        .set("auto.offset.reset", "earliest")
        .set(
            "session.timeout.ms",
            crate::config::DEFAULT_SESSION_TIMEOUT_MS.to_string(),
        )
        .set("enable.partition.eof", "false")
        // consumer lag per partition (crate::metrics::record_lag)
        .set(
            "statistics.interval.ms",
            crate::metrics::STATS_INTERVAL_MS.to_string(),
        );
    apply_extras(&mut client, config, &CONSUMER_INVARIANTS);
    client
}

/// Builds an idempotent producer.
pub fn producer(config: &KafkaConfig, stage: &str) -> Result<FutureProducer, KafkaSetupError> {
    producer_config(config, stage)
        .create()
        .map_err(|source| KafkaSetupError::Client {
            role: "producer",
            source,
        })
}

/// Paces a consumer loop through consume errors.
///
/// librdkafka reports broker trouble (all brokers down, a transport failure, a topic not yet
/// known) as error events in the consumer's queue and reconnects by itself. Those events pile
/// up while a loop is not polling (a lane whose pending slots are all taken during an outage);
/// pausing after each one left a dispatcher reading stale "all brokers down" events for minutes
/// after the broker was back, with its partition assignment queued behind them. So errors are
/// drained at once, and only a long unbroken run of them (a client failing every call) pauses
/// the loop briefly. The log gets the first error of a run and every hundredth.
#[derive(Debug, Default)]
pub struct ErrorPacer {
    run: AtomicU32,
}

/// Errors in a row after which [`ErrorPacer::error`] pauses, and the pause.
const ERROR_RUN: u32 = 100;
const ERROR_PAUSE: Duration = Duration::from_millis(100);

impl ErrorPacer {
    /// No errors yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The consumer answered with a record or nothing: the run of errors ends.
    pub fn ok(&self) {
        self.run.store(0, Ordering::Relaxed);
    }

    /// One more error in the run: whether to log it, and how long to pause before polling
    /// again (zero unless the run is long).
    pub fn error(&self) -> (bool, Duration) {
        let run = self.run.fetch_add(1, Ordering::Relaxed).saturating_add(1);
        let log = run == 1 || run % ERROR_RUN == 0;
        let pause = if run % ERROR_RUN == 0 {
            ERROR_PAUSE
        } else {
            Duration::ZERO
        };
        (log, pause)
    }
}

/// The value of header `name` in `headers`, if present and UTF-8. The one way every stage
/// reads a Kafka header.
pub fn header_str<'a, H: Headers>(headers: &'a H, name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|header| header.key == name)
        .and_then(|header| header.value)
        .and_then(|value| std::str::from_utf8(value).ok())
}

/// One record to produce, borrowed from whatever the stage keeps it in.
#[derive(Debug, Clone, Copy)]
pub struct OutRecord<'a> {
    /// Destination topic.
    pub topic: &'a str,
    /// Record key.
    pub key: &'a [u8],
    /// Record value.
    pub payload: &'a [u8],
    /// Record headers.
    pub headers: &'a [(&'static str, String)],
}

/// Produces every record at once and waits until Kafka acknowledged or refused each of them;
/// the results are in record order. A full local queue is waited out for up to `queue_timeout`
/// (back-pressure, not loss).
pub async fn produce_each<'a>(
    producer: &FutureProducer,
    records: impl IntoIterator<Item = OutRecord<'a>>,
    queue_timeout: Duration,
) -> Vec<Result<(), KafkaError>> {
    let sends = records.into_iter().map(|record| {
        let mut headers = OwnedHeaders::new();
        for (name, value) in record.headers {
            headers = headers.insert(Header {
                key: name,
                value: Some(value.as_bytes()),
            });
        }
        let future = FutureRecord::to(record.topic)
            .key(record.key)
            .payload(record.payload)
            .headers(headers);
        producer.send(future, Timeout::After(queue_timeout))
    });
    futures::future::join_all(sends)
        .await
        .into_iter()
        .map(|result| result.map(|_| ()).map_err(|(err, _)| err))
        .collect()
}

/// [`produce_each`], answering with the first failure (some records may have been written
/// then, so the caller produces them all again).
pub async fn produce_all<'a>(
    producer: &FutureProducer,
    records: impl IntoIterator<Item = OutRecord<'a>>,
    queue_timeout: Duration,
) -> Result<(), KafkaError> {
    produce_each(producer, records, queue_timeout)
        .await
        .into_iter()
        .collect()
}

/// Builds a consumer in `group_id` and subscribes it to `topics`.
pub fn consumer(
    config: &KafkaConfig,
    stage: &str,
    group_id: &str,
    topics: &[&str],
) -> Result<StreamConsumer, KafkaSetupError> {
    let consumer: StreamConsumer =
        consumer_config(config, stage, group_id)
            .create()
            .map_err(|source| KafkaSetupError::Client {
                role: "consumer",
                source,
            })?;
    consumer
        .subscribe(topics)
        .map_err(|source| KafkaSetupError::Client {
            role: "consumer",
            source,
        })?;
    Ok(consumer)
}

/// [`consumer`] whose context exports the group's lag ([`crate::metrics::CONSUMER_LAG`]).
pub fn lag_consumer(
    config: &KafkaConfig,
    stage: &str,
    group_id: &str,
    topics: &[&str],
) -> Result<StreamConsumer<LagContext>, KafkaSetupError> {
    let setup = |source| KafkaSetupError::Client {
        role: "consumer",
        source,
    };
    let client = consumer_config(config, stage, group_id);
    let consumer: StreamConsumer<LagContext> = client
        .create_with_context(LagContext::new(&client, group_id))
        .map_err(setup)?;
    consumer.context().rebootstrap().attach(consumer.client());
    consumer.subscribe(topics).map_err(setup)?;
    Ok(consumer)
}

/// Logs a message of librdkafka from the consumer of `group`, naming the group (librdkafka's own
/// lines do not say which of a process's clients wrote them).
pub(crate) fn log_for(
    group: &str,
    level: rdkafka::config::RDKafkaLogLevel,
    fac: &str,
    message: &str,
) {
    use rdkafka::config::RDKafkaLogLevel as Level;
    match level {
        Level::Emerg | Level::Alert | Level::Critical | Level::Error => {
            tracing::error!(target: "librdkafka", group, "librdkafka: {fac} {message}");
        }
        Level::Warning => {
            tracing::warn!(target: "librdkafka", group, "librdkafka: {fac} {message}")
        }
        Level::Notice | Level::Info => {
            tracing::info!(target: "librdkafka", group, "librdkafka: {fac} {message}");
        }
        Level::Debug => tracing::debug!(target: "librdkafka", group, "librdkafka: {fac} {message}"),
    }
}

/// Closes a consumer (or anything holding the last handle to one) on a blocking thread.
/// Closing leaves the group, and librdkafka waits for the coordinator meanwhile (a leave queued
/// behind a join in progress waits for the join or a request timeout, seconds); done on an
/// async worker, that wait would stall every task queued on the worker, records still being
/// drained among them.
pub async fn close_off_runtime<C: Send + 'static>(consumer: C) {
    if tokio::task::spawn_blocking(move || drop(consumer))
        .await
        .is_err()
    {
        tracing::warn!("closing a consumer panicked");
    }
}

/// Builds an admin client.
pub fn admin(
    config: &KafkaConfig,
    stage: &str,
) -> Result<AdminClient<DefaultClientContext>, KafkaSetupError> {
    let mut client = base(config, stage);
    apply_extras(&mut client, config, &[]);
    client.create().map_err(|source| KafkaSetupError::Client {
        role: "admin",
        source,
    })
}

/// What `ensure_topics` found or did for one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicOutcome {
    /// The topic did not exist and was created as specified.
    Created,
    /// The topic exists with the specified partition count.
    Exists,
    /// The topic exists with another partition count. Not changed: lowering is impossible and
    /// raising moves keys between partitions, which breaks per-user ordering; an operator
    /// decides that.
    PartitionsDiffer {
        /// Partitions the topic has.
        actual: i32,
        /// Partitions the configuration asks for.
        wanted: i32,
    },
}

/// Creates every topic in `specs` that does not exist yet; safe to run any number of times.
/// Returns one outcome per spec, in order.
pub async fn ensure_topics(
    admin: &AdminClient<DefaultClientContext>,
    specs: &[TopicSpec],
    replication_factor: i16,
    timeout: Duration,
) -> Result<Vec<(String, TopicOutcome)>, KafkaSetupError> {
    let new_topics: Vec<NewTopic<'_>> = specs
        .iter()
        .map(|spec| {
            let mut topic = NewTopic::new(
                &spec.name,
                spec.partitions,
                TopicReplication::Fixed(i32::from(replication_factor)),
            );
            for (key, value) in &spec.config {
                topic = topic.set(key, value);
            }
            topic
        })
        .collect();
    let options = AdminOptions::new()
        .operation_timeout(Some(timeout))
        .request_timeout(Some(timeout));
    let results = admin
        .create_topics(&new_topics, &options)
        .await
        .map_err(KafkaSetupError::Admin)?;

    let mut outcomes = Vec::with_capacity(specs.len());
    for (spec, result) in specs.iter().zip(results) {
        let outcome = match result {
            Ok(_) => TopicOutcome::Created,
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {
                let actual = settled_partition_count(admin, &spec.name, timeout).await?;
                if actual == spec.partitions {
                    TopicOutcome::Exists
                } else {
                    TopicOutcome::PartitionsDiffer {
                        actual,
                        wanted: spec.partitions,
                    }
                }
            }
            Err((topic, code)) => return Err(KafkaSetupError::CreateTopic { topic, code }),
        };
        outcomes.push((spec.name.clone(), outcome));
    }
    Ok(outcomes)
}

/// Number of partitions of `topic`, which exists: a topic created a moment ago (by an earlier
/// run, or by another client racing this one) can still show no partitions in the broker's
/// metadata, so that is asked again, within `timeout`, before a count is believed.
async fn settled_partition_count(
    admin: &AdminClient<DefaultClientContext>,
    topic: &str,
    timeout: Duration,
) -> Result<i32, KafkaSetupError> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let count = partition_count(admin, topic, timeout)?;
        if count > 0 || tokio::time::Instant::now() >= deadline {
            return Ok(count);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Number of partitions `topic` has, from a metadata request.
pub fn partition_count(
    admin: &AdminClient<DefaultClientContext>,
    topic: &str,
    timeout: Duration,
) -> Result<i32, KafkaSetupError> {
    let metadata = admin
        .inner()
        .fetch_metadata(Some(topic), timeout)
        .map_err(KafkaSetupError::Admin)?;
    let count = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .map_or(0, |t| t.partitions().len());
    Ok(i32::try_from(count).unwrap_or(i32::MAX))
}

#[cfg(test)]
#[path = "kafka_tests.rs"]
mod tests;
