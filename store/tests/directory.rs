//! The directory conformance suite against a real Cassandra node (`NOTIFY_IT_CASSANDRA`,
//! default 127.0.0.1:9042), in a keyspace of its own that the test migrates and drops.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;
use notify_common::config::StoreConfig;
use notify_store::directory::{conformance, CassandraDirectory};

fn store_config() -> StoreConfig {
    let id = uuid::Uuid::new_v4().simple().to_string();
    StoreConfig {
        nodes: vec![
            std::env::var("NOTIFY_IT_CASSANDRA").unwrap_or_else(|_| "127.0.0.1:9042".into())
        ],
        keyspace: format!("it_dir_{}", &id[..16]),
        request_timeout_ms: 30_000,
        ..StoreConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn cassandra_directory_passes_the_conformance_suite() {
    let config = store_config();
    let session = Arc::new(notify_store::connect(&config).await.expect("connect"));
    notify_store::migrate(&session, &config)
        .await
        .expect("migrate");

    let outcome = AssertUnwindSafe(async {
        let dir = CassandraDirectory::new(Arc::clone(&session), &config.keyspace)
            .await
            .expect("prepare statements")
            .with_max_in_flight(16);
        conformance::run_all(&dir).await;
    })
    .catch_unwind()
    .await;

    // Drop the keyspace whether the suite passed or not, then report.
    let dropped = session
        .query_unpaged(format!("DROP KEYSPACE IF EXISTS {}", config.keyspace), ())
        .await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
    dropped.expect("drop keyspace");
}

#[tokio::test]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn refuses_a_keyspace_that_is_not_an_identifier() {
    let config = StoreConfig {
        keyspace: "bad-name; DROP".into(),
        ..store_config()
    };
    let session = Arc::new(notify_store::connect(&config).await.expect("connect"));
    let err = CassandraDirectory::new(session, &config.keyspace)
        .await
        .expect_err("refused");
    assert!(matches!(err, notify_store::StoreError::Config(_)), "{err}");
}
