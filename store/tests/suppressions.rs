//! The suppression list conformance suite against a real Cassandra node
//! (`NOTIFY_IT_CASSANDRA`, default 127.0.0.1:9042), in a keyspace of its own that the test
//! migrates and drops.

mod common;

use notify_store::suppressions::{conformance, CassandraSuppressions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn cassandra_suppressions_pass_the_conformance_suite() {
    common::in_scratch_keyspace("it_suppress", |session, keyspace| async move {
        let list = CassandraSuppressions::new(session, &keyspace)
            .await
            .expect("prepare statements");
        conformance::run_all(&list).await;
    })
    .await;
}
