//! Operator tools for the dead-letter topic: list what is there, and replay it.
//!
//! Guarantees: reading never commits offsets or joins a consumer group (the topic is read from
//! a snapshot of its end offsets, so records arriving meanwhile are left for the next run);
//! replay is dedup-safe: a dispatcher's dead letter goes back to its channel's topic with a
//! fresh retry budget and the same delivery id, so the notification log stops a second send
//! of anything that was delivered meanwhile; a router dead letter (undecodable, unknown tenant)
//! goes back to the topic it came from unchanged, and yields the same delivery ids as before.
//! Not guaranteed: that a replayed record succeeds; it may be dead-lettered again, with new
//! headers.

use std::time::Duration;

use notify_common::config::KafkaConfig;
use notify_common::dead_letter::{
    DLQ_CHANNEL, DLQ_ERROR, DLQ_OFFSET, DLQ_PARTITION, DLQ_REASON, DLQ_STAGE, DLQ_TOPIC,
};
use notify_common::kafka;
use notify_common::topics::Topics;
use notify_schemas::{Codec, Delivery, Priority};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::FutureRecord;
use rdkafka::util::Timeout;
use rdkafka::{Offset, TopicPartitionList};

/// Header a replayed record carries: where on the dead-letter topic it came from.
pub const REPLAYED_FROM: &str = "notify-replayed-from";

/// Why a DLQ command failed.
#[derive(Debug, thiserror::Error)]
pub enum DlqError {
    /// A Kafka client could not be created.
    #[error(transparent)]
    Setup(#[from] kafka::KafkaSetupError),
    /// Kafka refused or timed out.
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// The Avro codec could not be built.
    #[error(transparent)]
    Codec(#[from] notify_schemas::CodecError),
}

/// Which dead letters a command applies to; every set field must match.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// `notify-error` equals this (`retries_exhausted`, `decode`, `unknown_tenant`, ...).
    pub error: Option<String>,
    /// `notify-channel` equals this (`apns`, `sms`, ...).
    pub channel: Option<String>,
    /// `notify-stage` equals this (`router`, `dispatcher`).
    pub stage: Option<String>,
    /// Dead-lettered at or after this instant (Unix epoch milliseconds).
    pub since_ms: Option<i64>,
    /// Dead-lettered before this instant (Unix epoch milliseconds).
    pub until_ms: Option<i64>,
}

/// One dead letter as read from the topic.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    /// Partition on the dead-letter topic.
    pub partition: i32,
    /// Offset on the dead-letter topic.
    pub offset: i64,
    /// When it was dead-lettered (record timestamp, Unix epoch milliseconds).
    pub at_ms: Option<i64>,
    /// Its key.
    pub key: Option<Vec<u8>>,
    /// Its value: the original record's value.
    pub value: Vec<u8>,
    /// Its headers, as text.
    pub headers: Vec<(String, String)>,
}

impl DeadLetter {
    /// The value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether `filter` selects it.
    pub fn matches(&self, filter: &Filter) -> bool {
        let field = |wanted: &Option<String>, header: &str| {
            wanted
                .as_deref()
                .is_none_or(|w| self.header(header) == Some(w))
        };
        field(&filter.error, DLQ_ERROR)
            && field(&filter.channel, DLQ_CHANNEL)
            && field(&filter.stage, DLQ_STAGE)
            && filter
                .since_ms
                .is_none_or(|since| self.at_ms.is_some_and(|at| at >= since))
            && filter
                .until_ms
                .is_none_or(|until| self.at_ms.is_some_and(|at| at < until))
    }

    /// A one-line summary for operators: where it came from and why.
    pub fn summary(&self, deliveries: &Codec<Delivery>) -> String {
        let mut line = format!(
            "{}:{} at={} stage={} error={} channel={} from={}:{}:{}",
            self.partition,
            self.offset,
            self.at_ms
                .map_or_else(|| "?".to_owned(), |ms| ms.to_string()),
            self.header(DLQ_STAGE).unwrap_or("?"),
            self.header(DLQ_ERROR).unwrap_or("?"),
            self.header(DLQ_CHANNEL).unwrap_or("-"),
            self.header(DLQ_TOPIC).unwrap_or("?"),
            self.header(DLQ_PARTITION).unwrap_or("?"),
            self.header(DLQ_OFFSET).unwrap_or("?"),
        );
        if self.header(DLQ_STAGE) == Some("dispatcher") {
            if let Ok(delivery) = deliveries.decode(&self.value) {
                line.push_str(&format!(
                    " tenant={} event={} delivery={} attempt={}",
                    delivery.tenant, delivery.event_id, delivery.delivery_id, delivery.attempt
                ));
            }
        }
        let reason: String = self
            .header(DLQ_REASON)
            .unwrap_or("")
            .chars()
            .take(160)
            .collect();
        line.push_str(&format!(" reason={reason:?}"));
        line
    }
}

/// Every dead letter that `filter` selects, up to the topic's end as of the call.
pub async fn read(
    config: &KafkaConfig,
    topics: &Topics,
    filter: &Filter,
) -> Result<Vec<DeadLetter>, DlqError> {
    read_filtered(config, topics.dlq(), filter.clone()).await
}

/// Every record on `topic` from its start to its end at the time of reading, in the shape of
/// a dead letter (`notify report` reads `notify.status` with it).
pub async fn read_topic(config: &KafkaConfig, topic: String) -> Result<Vec<DeadLetter>, DlqError> {
    read_filtered(config, topic, Filter::default()).await
}

async fn read_filtered(
    config: &KafkaConfig,
    topic: String,
    filter: Filter,
) -> Result<Vec<DeadLetter>, DlqError> {
    let config = config.clone();
    // librdkafka's BaseConsumer polls block; keep them off the async workers
    tokio::task::spawn_blocking(move || read_blocking(&config, &topic, &filter))
        .await
        .unwrap_or_else(|join| std::panic::resume_unwind(join.into_panic()))
}

fn read_blocking(
    config: &KafkaConfig,
    topic: &str,
    filter: &Filter,
) -> Result<Vec<DeadLetter>, DlqError> {
    let wait = Duration::from_millis(config.request_timeout_ms.max(1_000));
    // a group id is required by the client but never joined or committed to (assign, no
    // offset commits)
    let mut client = kafka::consumer_config(config, "dlq", "notify-dlq-tool");
    client.set("enable.auto.commit", "false");
    let consumer: BaseConsumer =
        client
            .create()
            .map_err(|source| kafka::KafkaSetupError::Client {
                role: "consumer",
                source,
            })?;
    let metadata = consumer.fetch_metadata(Some(topic), wait)?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    let mut assignment = TopicPartitionList::new();
    let mut ends = Vec::new();
    for &partition in &partitions {
        let (low, high) = consumer.fetch_watermarks(topic, partition, wait)?;
        if high > low {
            assignment.add_partition_offset(topic, partition, Offset::Offset(low))?;
            ends.push((partition, high));
        }
    }
    let mut letters = Vec::new();
    if ends.is_empty() {
        return Ok(letters);
    }
    consumer.assign(&assignment)?;
    let mut remaining = ends.clone();
    let deadline = std::time::Instant::now() + wait * 10;
    while !remaining.is_empty() && std::time::Instant::now() < deadline {
        let Some(received) = consumer.poll(Duration::from_millis(500)) else {
            continue;
        };
        let message = received?;
        let partition = message.partition();
        let offset = message.offset();
        if let Some(end) = remaining
            .iter()
            .find(|(p, _)| *p == partition)
            .map(|(_, e)| *e)
        {
            if offset + 1 >= end {
                remaining.retain(|(p, _)| *p != partition);
            }
            if offset >= end {
                continue;
            }
        }
        let headers = text_headers(&message);
        let letter = DeadLetter {
            partition,
            offset,
            at_ms: message.timestamp().to_millis(),
            key: message.key().map(<[u8]>::to_vec),
            value: message.payload().unwrap_or_default().to_vec(),
            headers,
        };
        if letter.matches(filter) {
            letters.push(letter);
        }
    }
    letters.sort_by_key(|l| (l.at_ms, l.partition, l.offset));
    Ok(letters)
}

/// Where a dead letter goes when replayed, and with what value.
pub fn replay_target(
    letter: &DeadLetter,
    topics: &Topics,
    deliveries: &Codec<Delivery>,
) -> Option<(String, Vec<u8>)> {
    if letter.header(DLQ_STAGE) == Some("dispatcher") {
        let mut delivery = deliveries.decode(&letter.value).ok()?;
        // a fresh budget: the operator decided it is worth trying again
        delivery.attempt = 0;
        delivery.first_attempt_at = None;
        delivery.not_before = None;
        let channel = delivery.channel.as_str();
        let topic = if delivery.priority == Priority::Bulk {
            topics.deliveries_bulk(channel)
        } else {
            topics.deliveries(channel)
        };
        let value = deliveries.encode(&delivery).ok()?;
        return Some((topic, value));
    }
    if letter.header(DLQ_STAGE) == Some("webhooks") {
        // its value is the JSON a tenant's endpoint did not take, not a record of the topic it
        // names as its origin: producing it there would corrupt that topic
        return None;
    }
    let topic = letter.header(DLQ_TOPIC)?.to_owned();
    Some((topic, letter.value.clone()))
}

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replayed {
    /// Records produced again.
    pub produced: usize,
    /// Records that could not be replayed (no original topic, undecodable delivery).
    pub skipped: usize,
}

/// Produces `letters` again (see [`replay_target`]) and waits for every acknowledgement.
pub async fn replay(
    config: &KafkaConfig,
    topics: &Topics,
    letters: &[DeadLetter],
) -> Result<Replayed, DlqError> {
    let producer = kafka::producer(config, "dlq")?;
    let deliveries = Codec::<Delivery>::new()?;
    let wait = Timeout::After(Duration::from_millis(config.message_timeout_ms));
    let mut done = Replayed::default();
    for letter in letters {
        let Some((topic, value)) = replay_target(letter, topics, &deliveries) else {
            done.skipped += 1;
            continue;
        };
        let origin = format!("{}:{}:{}", topics.dlq(), letter.partition, letter.offset);
        let headers = OwnedHeaders::new().insert(Header {
            key: REPLAYED_FROM,
            value: Some(origin.as_bytes()),
        });
        let mut record = FutureRecord::to(&topic).payload(&value).headers(headers);
        if let Some(key) = &letter.key {
            record = record.key(key);
        }
        producer
            .send(record, wait)
            .await
            .map_err(|(err, _)| DlqError::Kafka(err))?;
        done.produced += 1;
    }
    Ok(done)
}

/// Every header of `message` in order, its value as text (invalid UTF-8 replaced, a missing
/// value empty): what an operator is shown, and what tests reading dead letters compare.
pub fn text_headers<M: Message>(message: &M) -> Vec<(String, String)> {
    message
        .headers()
        .map(|headers| {
            headers
                .iter()
                .map(|h| {
                    (
                        h.key.to_owned(),
                        String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letter(headers: &[(&str, &str)], at_ms: i64, value: Vec<u8>) -> DeadLetter {
        DeadLetter {
            partition: 0,
            offset: 7,
            at_ms: Some(at_ms),
            key: Some(b"t:u".to_vec()),
            value,
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    #[test]
    fn filters_match_headers_and_time() {
        let l = letter(
            &[
                (DLQ_STAGE, "dispatcher"),
                (DLQ_ERROR, "retries_exhausted"),
                (DLQ_CHANNEL, "sms"),
            ],
            1_000,
            Vec::new(),
        );
        assert!(l.matches(&Filter::default()));
        let by = |f: Filter| l.matches(&f);
        assert!(by(Filter {
            channel: Some("sms".into()),
            ..Filter::default()
        }));
        assert!(!by(Filter {
            channel: Some("email".into()),
            ..Filter::default()
        }));
        assert!(by(Filter {
            error: Some("retries_exhausted".into()),
            ..Filter::default()
        }));
        assert!(!by(Filter {
            stage: Some("router".into()),
            ..Filter::default()
        }));
        assert!(by(Filter {
            since_ms: Some(1_000),
            until_ms: Some(1_001),
            ..Filter::default()
        }));
        assert!(!by(Filter {
            since_ms: Some(1_001),
            ..Filter::default()
        }));
        assert!(!by(Filter {
            until_ms: Some(1_000),
            ..Filter::default()
        }));
    }

    #[test]
    fn a_dispatcher_dead_letter_replays_to_its_lane_with_a_fresh_budget() {
        let topics = Topics::new("notify");
        let codec = Codec::<Delivery>::new().unwrap();
        let mut delivery = notify_schemas::samples::full_sms_delivery();
        delivery.attempt = 6;
        delivery.not_before = Some(5);
        delivery.priority = Priority::Bulk;
        let l = letter(
            &[(DLQ_STAGE, "dispatcher"), (DLQ_TOPIC, "notify.retry.1h")],
            1,
            codec.encode(&delivery).unwrap(),
        );
        let (topic, value) = replay_target(&l, &topics, &codec).unwrap();
        assert_eq!(topic, "notify.deliveries.sms.bulk");
        let replayed = codec.decode(&value).unwrap();
        assert_eq!(replayed.delivery_id, delivery.delivery_id);
        assert_eq!((replayed.attempt, replayed.not_before), (0, None));

        let router = letter(
            &[(DLQ_STAGE, "router"), (DLQ_TOPIC, "notify.requests")],
            1,
            b"raw".to_vec(),
        );
        assert_eq!(
            replay_target(&router, &topics, &codec),
            Some(("notify.requests".to_owned(), b"raw".to_vec()))
        );
        let webhook = letter(
            &[(DLQ_STAGE, "webhooks"), (DLQ_TOPIC, "notify.status")],
            1,
            b"{}".to_vec(),
        );
        assert_eq!(
            replay_target(&webhook, &topics, &codec),
            None,
            "not replayable"
        );
        let lost = letter(&[(DLQ_STAGE, "router")], 1, b"raw".to_vec());
        assert_eq!(replay_target(&lost, &topics, &codec), None);
    }
}
