//! Shared helpers of the integration tests. The tests themselves (in `tests/tests/`) are
//! `#[ignore]`d so a bare `cargo test` needs nothing running; `scripts/test` starts the real
//! stack and runs them with `--include-ignored`.
//!
//! Every test works in names of its own (topics, consumer groups, keyspaces) so tests run in
//! parallel and can be re-run against the same long-lived stack, and a [`Scratch`] guard
//! removes its topics and keyspace when the test ends, passed or failed.

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

/// Removes a test's topics (every pipeline topic under its prefix) and keyspace when dropped,
/// passed or failed, so a long-lived local stack does not fill up: a broker with thousands of
/// leftover topics takes minutes to stop and start. Best effort: a failed removal is ignored.
#[derive(Debug)]
pub struct Scratch {
    kafka: KafkaConfig,
    store: StoreConfig,
}

impl Scratch {
    /// Guards the topics under `kafka.topic_prefix` and the keyspace `store.keyspace`.
    pub fn new(kafka: &KafkaConfig, store: &StoreConfig) -> Self {
        Self {
            kafka: kafka.clone(),
            store: store.clone(),
        }
    }

    async fn remove(&self) {
        let names: Vec<String> = notify_common::topics::layout(&self.kafka)
            .into_iter()
            .map(|spec| spec.name)
            .collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        if let Ok(admin) = notify_common::kafka::admin(&self.kafka, "it-cleanup") {
            let _ = admin
                .delete_topics(&names, &rdkafka::admin::AdminOptions::new())
                .await;
        }
        // a fresh session: the test's own may be idle after a database restart
        if let Ok(session) = notify_store::connect(&self.store).await {
            let drop = format!("DROP KEYSPACE IF EXISTS {}", self.store.keyspace);
            let _ = session.query_unpaged(drop, ()).await;
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // a runtime of its own on a thread of its own: drop may run inside the test's runtime
        std::thread::scope(|scope| {
            scope.spawn(|| {
                if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    runtime.block_on(self.remove());
                }
            });
        });
    }
}
