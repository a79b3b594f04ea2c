//! The directory conformance suite against a real Cassandra node (`NOTIFY_IT_CASSANDRA`,
//! default 127.0.0.1:9042), in a keyspace of its own that the test migrates and drops.

mod common;

use notify_store::directory::{conformance, CassandraDirectory};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn cassandra_directory_passes_the_conformance_suite() {
    common::in_scratch_keyspace("it_dir", |session, keyspace| async move {
        let dir = CassandraDirectory::new(session, &keyspace)
            .await
            .expect("prepare statements")
            .with_max_in_flight(16);
        conformance::run_all(&dir).await;
    })
    .await;
}

#[tokio::test]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn refuses_a_keyspace_that_is_not_an_identifier() {
    common::assert_keyspace_refused("it_dir", CassandraDirectory::new).await;
}
