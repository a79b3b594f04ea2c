//! The idempotency conformance suite against a real Cassandra node (`NOTIFY_IT_CASSANDRA`,
//! default 127.0.0.1:9042), in a keyspace of its own that the test migrates and drops.

mod common;

use std::sync::Arc;

use notify_store::idempotency::{conformance, CassandraLedger};
use notify_store::notification_log::CassandraLog;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn cassandra_ledger_passes_the_conformance_suite() {
    common::in_scratch_keyspace("it_idem", |session, keyspace| async move {
        let ledger = CassandraLedger::new(Arc::clone(&session), &keyspace)
            .await
            .expect("prepare statements");
        let log = CassandraLog::new(session, &keyspace)
            .await
            .expect("prepare statements");
        conformance::run_all(&ledger, &log).await;
    })
    .await;
}

#[tokio::test]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn refuses_a_keyspace_that_is_not_an_identifier() {
    common::assert_keyspace_refused("it_idem", CassandraLedger::new).await;
}
