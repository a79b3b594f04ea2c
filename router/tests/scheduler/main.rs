//! The scheduler sweeping: against an in-memory publisher ([`in_memory`]), the librdkafka
//! mock cluster ([`mock_cluster`]), both run everywhere, and the real Kafka + Cassandra stack
//! ([`real_stack`], `#[ignore]`d). The broker tests read the re-emitted records back with
//! [`read_back`].

mod in_memory;
mod mock_cluster;
mod real_stack;

use std::collections::HashMap;
use std::time::Duration;

use notify_common::config::KafkaConfig;
use notify_common::kafka;
use notify_router::scheduler::deferred_until_ms;
use notify_store::schedule::ScheduledItem;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::Message;

/// What arrived for one payload: how often, under which key, with which due-time header.
pub type Seen = HashMap<String, (usize, String, Option<i64>)>;

/// Reads `topic` in consumer group `group` until `want` records arrived or `wait` passed,
/// then `linger` longer so a duplicate has time to show up. Returns the records by payload.
pub async fn read_back(
    config: &KafkaConfig,
    topic: &str,
    group: &str,
    want: usize,
    wait: Duration,
    linger: Duration,
) -> Seen {
    let consumer: StreamConsumer = kafka::consumer_config(config, "it-scheduler", group)
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let mut seen = Seen::new();
    let mut deadline = tokio::time::Instant::now() + wait;
    let mut total = 0;
    loop {
        let message = tokio::select! {
            m = consumer.recv() => m.expect("message"),
            () = tokio::time::sleep_until(deadline) => break,
        };
        let payload = String::from_utf8(message.payload().unwrap_or_default().to_vec())
            .expect("utf8 payload");
        let key = String::from_utf8(message.key().unwrap_or_default().to_vec()).expect("utf8 key");
        let header = message.headers().and_then(deferred_until_ms);
        seen.entry(payload).or_insert((0, key, header)).0 += 1;
        total += 1;
        if total == want {
            deadline = tokio::time::Instant::now() + linger;
        }
    }
    seen
}

/// Row `n` of tenant `tn`, due at `due_at_ms`, for one of seven users.
pub fn item(n: usize, due_at_ms: i64) -> ScheduledItem {
    ScheduledItem {
        tenant: "tn".into(),
        event_id: format!("evt-{n}"),
        routing_key: format!("tn:user-{}", n % 7),
        due_at_ms,
        reason: "send_at".into(),
        payload: format!("request {n}").into_bytes(),
    }
}
