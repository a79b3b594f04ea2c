//! The notification log conformance suite against a real Cassandra node
//! (`NOTIFY_IT_CASSANDRA`, default 127.0.0.1:9042), in a keyspace of its own that the test
//! migrates and drops.

mod common;

use std::sync::Arc;

use notify_store::notification_log::{
    conformance, CassandraLog, CoalescedLog, DeliveryLog, LogKey,
};

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

/// The same suite through [`CoalescedLog`], then reads and writes of many deliveries at once,
/// which it joins into `IN` queries and unlogged batches on the real node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn joined_reads_and_writes_pass_the_conformance_suite() {
    common::in_scratch_keyspace("it_log_joined", |session, keyspace| async move {
        let log = CassandraLog::new(session, &keyspace)
            .await
            .expect("prepare statements");
        let log = Arc::new(CoalescedLog::new(Arc::new(log), 4));
        conformance::run_all(log.as_ref()).await;
        let writes = (0..200).map(|i| {
            let log = log.clone();
            async move {
                let w = conformance::write("joined-a", &format!("e{i}"), "sms", "+1555", "sent");
                log.put(&w).await.expect("put");
                let read = log
                    .get(&LogKey::new("joined-a", &w.event_id, "sms", "+1555"))
                    .await;
                assert_eq!(
                    read.expect("get").and_then(|r| r.delivery_id),
                    Some(w.delivery_id)
                );
                let absent = log
                    .get(&LogKey::new("joined-a", &w.event_id, "sms", "+1556"))
                    .await;
                assert_eq!(absent.expect("get"), None);
            }
        });
        futures::future::join_all(writes).await;
    })
    .await;
}
