//! The webhook store's conformance suite against a real Cassandra node (`NOTIFY_IT_CASSANDRA`,
//! default 127.0.0.1:9042), in a keyspace of its own that the test migrates and drops.

mod common;

use notify_store::webhooks::{conformance, CassandraWebhooks};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn cassandra_webhooks_pass_the_conformance_suite() {
    common::in_scratch_keyspace("it_hooks", |session, keyspace| async move {
        let store = CassandraWebhooks::new(session, &keyspace)
            .await
            .expect("prepare statements");
        conformance::run_all(&store).await;
    })
    .await;
}

#[tokio::test]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn refuses_a_keyspace_that_is_not_an_identifier() {
    common::assert_keyspace_refused("it_hooks", CassandraWebhooks::new).await;
}
