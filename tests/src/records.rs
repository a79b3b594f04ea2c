//! Records read back from the real topics, with their headers, and raw records produced to
//! them: what the tests observe of a stage and how they feed it directly.
//!
//! Guarantees: a read record keeps its topic, key, value and headers; headers are read the way
//! every stage reads them ([`notify_common::kafka::header_str`]). A consumer error (a topic
//! created moments ago may not be known to the consumer yet) is skipped, not fatal.

use std::time::Duration;

use notify_common::kafka::header_str;
use notify_common::publish::{KafkaPublisher, Publisher, Record};
use rdkafka::consumer::StreamConsumer;
use rdkafka::message::{BorrowedMessage, Message, OwnedHeaders};
use rdkafka::producer::FutureProducer;
use tokio::time::Instant;

/// A record read back.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Topic it was read from.
    pub topic: String,
    /// Its key (empty without one).
    pub key: Vec<u8>,
    /// Its value (empty without one).
    pub value: Vec<u8>,
    headers: Option<OwnedHeaders>,
}

impl Seen {
    /// Copies what a test looks at out of `message`.
    pub fn of(message: &BorrowedMessage<'_>) -> Self {
        Self {
            topic: message.topic().to_owned(),
            key: message.key().unwrap_or_default().to_vec(),
            value: message.payload().unwrap_or_default().to_vec(),
            headers: message.headers().map(|h| h.detach()),
        }
    }

    /// The value of header `name`, if present and UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.as_ref().and_then(|h| header_str(h, name))
    }
}

/// Reads records into `seen` until `done` says they suffice; `None` if `deadline` passed first.
pub async fn read_until<T>(
    consumer: &StreamConsumer,
    seen: &mut Vec<Seen>,
    deadline: Instant,
    mut done: impl FnMut(&[Seen]) -> Option<T>,
) -> Option<T> {
    loop {
        if let Some(result) = done(seen) {
            return Some(result);
        }
        let Ok(received) = tokio::time::timeout_at(deadline, consumer.recv()).await else {
            return None;
        };
        if let Ok(message) = received {
            seen.push(Seen::of(&message));
        }
    }
}

/// Reads records into `seen` until none arrives for `quiet`: what is still in flight, or what
/// must not come.
pub async fn read_quiet(consumer: &StreamConsumer, seen: &mut Vec<Seen>, quiet: Duration) {
    while let Ok(received) = tokio::time::timeout(quiet, consumer.recv()).await {
        if let Ok(message) = received {
            seen.push(Seen::of(&message));
        }
    }
}

/// Produces one record of `payload` keyed `key` to `topic` and waits for its acknowledgement.
pub async fn produce(producer: &FutureProducer, topic: &str, key: &str, payload: &[u8]) {
    KafkaPublisher::new(producer.clone(), Duration::from_secs(10))
        .publish(&[Record::new(topic, key, payload.to_vec())])
        .await
        .expect("produce");
}
