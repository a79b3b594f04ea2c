//! What the store's integration tests share: a scratch keyspace on the real Cassandra node
//! (`NOTIFY_IT_CASSANDRA`, default 127.0.0.1:9042) that a test migrates, uses and drops.
//!
//! Guarantees: every call gets a keyspace no other test uses, and it is dropped whether the
//! test body passed or panicked (the panic is reported after the drop).

#![allow(dead_code)] // each test binary uses its own part of this module

use std::fmt::Debug;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;
use notify_common::config::StoreConfig;
use notify_store::StoreResult;
use scylla::client::session::Session;

/// A configuration naming a fresh keyspace `<prefix>_<16 hex digits>` on the test node.
pub fn store_config(prefix: &str) -> StoreConfig {
    let id = uuid::Uuid::new_v4().simple().to_string();
    StoreConfig {
        nodes: vec![
            std::env::var("NOTIFY_IT_CASSANDRA").unwrap_or_else(|_| "127.0.0.1:9042".into())
        ],
        keyspace: format!("{prefix}_{}", &id[..16]),
        request_timeout_ms: 30_000,
        ..StoreConfig::default()
    }
}

/// Connects, migrates a fresh keyspace named after `prefix`, runs `body` with the session and
/// the keyspace name, then drops the keyspace whether `body` passed or not, and reports.
pub async fn in_scratch_keyspace<F, Fut>(prefix: &str, body: F)
where
    F: FnOnce(Arc<Session>, String) -> Fut,
    Fut: Future<Output = ()>,
{
    let config = store_config(prefix);
    let session = Arc::new(notify_store::connect(&config).await.expect("connect"));
    notify_store::migrate(&session, &config)
        .await
        .expect("migrate");

    let outcome = AssertUnwindSafe(body(Arc::clone(&session), config.keyspace.clone()))
        .catch_unwind()
        .await;

    let dropped = session
        .query_unpaged(format!("DROP KEYSPACE IF EXISTS {}", config.keyspace), ())
        .await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
    dropped.expect("drop keyspace");
}

/// Asserts that a store's constructor `new`, on a session to the test node, refuses a keyspace
/// name that is not a plain identifier (it would be spliced into statements) as a configuration
/// error that says so.
pub async fn assert_keyspace_refused<T, F, Fut>(prefix: &str, new: F)
where
    T: Debug,
    F: FnOnce(Arc<Session>, &'static str) -> Fut,
    Fut: Future<Output = StoreResult<T>>,
{
    let config = store_config(prefix);
    let session = Arc::new(notify_store::connect(&config).await.expect("connect"));
    let err = new(session, "bad-name; DROP").await.expect_err("refused");
    assert!(matches!(err, notify_store::StoreError::Config(_)), "{err}");
    assert!(err.to_string().contains("not a plain identifier"), "{err}");
}
