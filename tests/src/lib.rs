//! Shared helpers of the integration tests. The tests themselves (in `tests/tests/`) are
//! `#[ignore]`d so a bare `cargo test` needs nothing running; `scripts/test` starts the real
//! stack and runs them with `--include-ignored`.
//!
//! Every test works in names of its own (topics, consumer groups, keyspaces) so tests run in
//! parallel and can be re-run against the same long-lived stack.

use notify_common::config::{KafkaConfig, StoreConfig};

/// Reason shown for the ignored integration tests.
pub const NEEDS_STACK: &str = "needs the real Kafka + Cassandra stack: run scripts/test";

/// Kafka settings pointing at `NOTIFY_IT_KAFKA` (default the local stack), with a topic prefix
/// no other test uses.
pub fn kafka_config() -> KafkaConfig {
    KafkaConfig {
        brokers: std::env::var("NOTIFY_IT_KAFKA").unwrap_or_else(|_| "127.0.0.1:9092".into()),
        topic_prefix: unique("it"),
        request_timeout_ms: 30_000,
        ..KafkaConfig::default()
    }
}

/// Database settings pointing at `NOTIFY_IT_CASSANDRA` (default the local stack), with a
/// keyspace no other test uses.
pub fn store_config() -> StoreConfig {
    StoreConfig {
        nodes: vec![
            std::env::var("NOTIFY_IT_CASSANDRA").unwrap_or_else(|_| "127.0.0.1:9042".into())
        ],
        keyspace: unique("it").replace('-', "_"),
        request_timeout_ms: 30_000,
        ..StoreConfig::default()
    }
}

/// `prefix` followed by 16 random hex digits: unique per call.
pub fn unique(prefix: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}_{}", &id[..16])
}
