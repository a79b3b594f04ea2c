//! Where the real stack is (`NOTIFY_IT_KAFKA`, `NOTIFY_IT_CASSANDRA`, default the local one),
//! names no other test uses, a test's own Kafka and database settings, provisioning them, and
//! a guard that keeps one server of the shared stack down for an outage test.
//!
//! Guarantees: [`unique`] names do not repeat across calls; [`ServerDown`] starts its server
//! again when dropped, even when the test panicked.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use notify_common::config::{Config, KafkaConfig, StoreConfig};
use notify_common::kafka;
use notify_common::topics::layout;
use scylla::client::session::Session;

/// Kafka of the stack (`NOTIFY_IT_KAFKA`, default `127.0.0.1:9092`).
pub fn brokers() -> String {
    std::env::var("NOTIFY_IT_KAFKA").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

/// Cassandra of the stack (`NOTIFY_IT_CASSANDRA`, default `127.0.0.1:9042`).
pub fn cassandra() -> String {
    std::env::var("NOTIFY_IT_CASSANDRA").unwrap_or_else(|_| "127.0.0.1:9042".into())
}

/// The stack's schema registry, its Confluent-compatible API (`NOTIFY_IT_SCHEMA_REGISTRY`,
/// default what `scripts/stack registry-url` prints).
pub fn schema_registry() -> String {
    if let Ok(url) = std::env::var("NOTIFY_IT_SCHEMA_REGISTRY") {
        return url;
    }
    let output = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/stack"))
        .arg("registry-url")
        .output()
        .expect("scripts/stack registry-url");
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// Kafka's SASL_SSL listener of the stack (`NOTIFY_IT_KAFKA_SASL_SSL`, default
/// `127.0.0.1:9094`): TLS with the stack's certificate, SASL/PLAIN as user `notify`.
pub fn brokers_sasl_ssl() -> String {
    std::env::var("NOTIFY_IT_KAFKA_SASL_SSL").unwrap_or_else(|_| "127.0.0.1:9094".into())
}

/// The stack's TLS material (`NOTIFY_IT_STACK_TLS`, default what `scripts/stack tls-dir`
/// prints for the default state folder): `ca.pem` and `kafka-sasl-password`.
pub fn stack_tls_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("NOTIFY_IT_STACK_TLS") {
        return PathBuf::from(dir);
    }
    let output = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/stack"))
        .arg("tls-dir")
        .output()
        .expect("scripts/stack tls-dir");
    PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
}

/// `prefix` followed by `_` and 16 random hex digits: unique per call.
pub fn unique(prefix: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}_{}", &id[..16])
}

/// Kafka settings pointing at the stack, with a topic prefix no other test uses.
pub fn kafka_config() -> KafkaConfig {
    KafkaConfig {
        brokers: brokers(),
        topic_prefix: unique("it"),
        request_timeout_ms: 30_000,
        ..KafkaConfig::default()
    }
}

/// Database settings pointing at the stack, with a keyspace no other test uses.
pub fn store_config() -> StoreConfig {
    StoreConfig {
        nodes: vec![cassandra()],
        keyspace: unique("it").replace('-', "_"),
        request_timeout_ms: 30_000,
        ..StoreConfig::default()
    }
}

/// Migrates the test's keyspace and creates every pipeline topic under its prefix with
/// `partitions` partitions each; the session to the keyspace's node.
pub async fn provision(config: &Config, partitions: i32) -> Arc<Session> {
    let session = Arc::new(notify_store::connect(&config.store).await.expect("connect"));
    notify_store::migrate(&session, &config.store)
        .await
        .expect("migrate");
    let admin = kafka::admin(&config.kafka, "it").expect("admin");
    let mut specs = layout(&config.kafka);
    for spec in &mut specs {
        spec.partitions = partitions;
    }
    kafka::ensure_topics(&admin, &specs, 1, Duration::from_secs(30))
        .await
        .expect("topics");
    session
}

/// Runs `scripts/stack <action> <server>`; panics if it fails.
fn stack(action: &str, server: &str) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/stack");
    let status = Command::new(&script)
        .args([action, server])
        .status()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(status.success(), "scripts/stack {action} {server} failed");
}

/// One server of the shared stack (`kafka`, `cassandra` or `registry`) is down while this lives; dropping
/// it starts the server again. Blocking: call it from `spawn_blocking` in async tests.
#[derive(Debug)]
pub struct ServerDown {
    server: &'static str,
    up: bool,
}

impl ServerDown {
    /// Stops `server`.
    pub fn begin(server: &'static str) -> Self {
        stack("down", server);
        Self { server, up: false }
    }

    /// Starts it again and waits until it answers.
    pub fn end(mut self) {
        stack("up", self.server);
        self.up = true;
    }
}

impl Drop for ServerDown {
    fn drop(&mut self) {
        if !self.up {
            stack("up", self.server);
        }
    }
}
