//! The clients' security settings against the real stack: Kafka's SASL_SSL listener (TLS with
//! the stack's own CA, SASL/PLAIN with the password read from a file through
//! `kafka.secret_properties`) and Cassandra's CQL port over TLS (`store.tls`). Each right
//! setting works and each wrong one (password, certificate authority) is refused.

use std::path::Path;
use std::time::Duration;

use notify_common::config::{KafkaConfig, SecretConfig, StoreTls};
use notify_common::kafka::{self, TopicOutcome};
use notify_common::topics::TopicSpec;
use notify_it::{brokers_sasl_ssl, kafka_config, produce, stack_tls_dir, store_config, unique};
use rdkafka::message::Message;
use rdkafka::producer::Producer;

/// A certificate authority that did not sign the stack's certificates.
const FOREIGN_CA: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Settings for the SASL_SSL listener, the password read from `password_file`.
fn sasl_ssl(ca: &Path, password_file: &Path) -> KafkaConfig {
    let mut config = kafka_config();
    config.brokers = brokers_sasl_ssl();
    config.message_timeout_ms = 10_000;
    config.request_timeout_ms = 10_000;
    for (key, value) in [
        ("security.protocol", "SASL_SSL"),
        ("sasl.mechanisms", "PLAIN"),
        ("sasl.username", "notify"),
        ("ssl.ca.location", &ca.display().to_string()),
    ] {
        config.client_properties.insert(key.into(), value.into());
    }
    config.secret_properties.insert(
        "sasl.password".into(),
        SecretConfig::File(password_file.to_path_buf()),
    );
    config
}

#[tokio::test]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn kafka_over_sasl_ssl_round_trips_with_the_password_from_a_file() {
    let tls = stack_tls_dir();
    let config = sasl_ssl(&tls.join("ca.pem"), &tls.join("kafka-sasl-password"));
    let topic = format!("{}.secure", config.topic_prefix);
    let admin = kafka::admin(&config, "it").expect("admin client");
    let spec = TopicSpec {
        name: topic.clone(),
        partitions: 1,
        config: vec![],
    };
    let created = kafka::ensure_topics(&admin, &[spec], 1, Duration::from_secs(30))
        .await
        .expect("topic created over SASL_SSL");
    assert_eq!(created, vec![(topic.clone(), TopicOutcome::Created)]);
    let producer = kafka::producer(&config, "it").expect("producer");
    produce(&producer, &topic, "tenant:user", b"over tls").await;
    let consumer =
        kafka::consumer(&config, "it", &unique("it-secure"), &[&topic]).expect("consumer");
    let message = tokio::time::timeout(Duration::from_secs(60), consumer.recv())
        .await
        .expect("a record within 60 s")
        .expect("consumed over SASL_SSL");
    assert_eq!(message.payload(), Some(&b"over tls"[..]));
}

/// Whether a client with `config` gets the cluster's metadata.
async fn metadata_ok(config: KafkaConfig) -> Result<(), String> {
    tokio::task::spawn_blocking(move || {
        let producer = kafka::producer(&config, "it").map_err(|e| e.to_string())?;
        producer
            .client()
            .fetch_metadata(None, Duration::from_secs(10))
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
    .await
    .expect("metadata task")
}

#[tokio::test]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn kafka_refuses_a_wrong_password_and_a_foreign_certificate_authority() {
    let tls = stack_tls_dir();
    let scratch = std::env::temp_dir().join(unique("notify-it-sasl"));
    std::fs::create_dir_all(&scratch).unwrap();
    let wrong = scratch.join("wrong-password");
    std::fs::write(&wrong, "not-the-password\n").unwrap();

    let right = sasl_ssl(&tls.join("ca.pem"), &tls.join("kafka-sasl-password"));
    metadata_ok(right).await.expect("the right settings work");
    let refused = metadata_ok(sasl_ssl(&tls.join("ca.pem"), &wrong)).await;
    assert!(refused.is_err(), "a wrong password was accepted");
    let untrusted = metadata_ok(sasl_ssl(
        Path::new(FOREIGN_CA),
        &tls.join("kafka-sasl-password"),
    ))
    .await;
    assert!(
        untrusted.is_err(),
        "a broker certificate from an unknown CA was accepted"
    );
    std::fs::remove_dir_all(&scratch).unwrap();
}

#[tokio::test]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn cassandra_over_tls_verifies_the_node_certificate() {
    let tls = stack_tls_dir();
    let mut config = store_config();
    config.tls = Some(StoreTls {
        ca_file: tls.join("ca.pem"),
        cert_file: None,
        key_file: None,
    });
    let session = notify_store::session::connect(&config)
        .await
        .expect("connected over TLS");
    let rows = session
        .query_unpaged("SELECT release_version FROM system.local", &[])
        .await
        .expect("query over TLS")
        .into_rows_result()
        .expect("rows");
    assert_eq!(rows.rows_num(), 1);

    config.tls = Some(StoreTls {
        ca_file: FOREIGN_CA.into(),
        cert_file: None,
        key_file: None,
    });
    let refused = notify_store::session::connect(&config).await;
    assert!(
        refused.is_err(),
        "a node certificate from an unknown CA was accepted"
    );
}
