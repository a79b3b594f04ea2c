//! The notification log conformance suite against a real Cassandra node
//! (`NOTIFY_IT_CASSANDRA`, default 127.0.0.1:9042), in a keyspace of its own that the test
//! migrates and drops.

mod common;

use notify_store::notification_log::{conformance, CassandraLog};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn cassandra_log_passes_the_conformance_suite() {
    common::in_scratch_keyspace("it_log", |session, keyspace| async move {
        let log = CassandraLog::new(session, &keyspace)
            .await
            .expect("prepare statements");
        conformance::run_all(&log).await;
    })
    .await;
}
