//! Removes a test's topics (every pipeline topic under its prefix) and keyspace when the test
//! ends, passed or failed, so a long-lived local stack does not fill up: a broker with thousands
//! of leftover topics takes minutes to stop and start. Best effort: a failed removal is ignored.

use notify_common::config::{KafkaConfig, StoreConfig};

/// Removes the topics under `kafka.topic_prefix` and the keyspace `store.keyspace` when dropped.
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
