//! Unit tests of the Kafka client setup (`kafka.rs`).

use super::{header_str, producer_config, ErrorPacer};
use crate::config::KafkaConfig;
use rdkafka::message::{Header, OwnedHeaders};

#[test]
fn producers_place_keys_as_the_java_client_does_unless_told_otherwise() {
    let mut config = KafkaConfig::default();
    let client = producer_config(&config, "t");
    assert_eq!(client.get("partitioner"), Some("murmur2_random"));
    config
        .client_properties
        .insert("partitioner".into(), "consistent_random".into());
    let client = producer_config(&config, "t");
    assert_eq!(client.get("partitioner"), Some("consistent_random"));
}

#[test]
fn header_str_reads_utf8_values_only() {
    let headers = OwnedHeaders::new()
        .insert(Header {
            key: "a",
            value: Some("one".as_bytes()),
        })
        .insert(Header {
            key: "bad",
            value: Some(&[0xff_u8, 0xfe][..]),
        })
        .insert(Header::<&[u8]> {
            key: "none",
            value: None,
        });
    assert_eq!(header_str(&headers, "a"), Some("one"));
    assert_eq!(header_str(&headers, "bad"), None);
    assert_eq!(header_str(&headers, "none"), None);
    assert_eq!(header_str(&headers, "missing"), None);
}

#[test]
fn errors_drain_at_once_and_only_a_long_run_pauses() {
    let pacer = ErrorPacer::new();
    assert_eq!(
        pacer.error(),
        (true, std::time::Duration::ZERO),
        "the first is logged"
    );
    for _ in 2..100 {
        assert_eq!(pacer.error(), (false, std::time::Duration::ZERO));
    }
    let (logged, pause) = pacer.error();
    assert!(logged && !pause.is_zero(), "the hundredth in a row pauses");
    pacer.ok();
    assert_eq!(
        pacer.error(),
        (true, std::time::Duration::ZERO),
        "a new run"
    );
}

use super::*;

#[test]
fn invariants_survive_operator_overrides() {
    let mut config = KafkaConfig::default();
    config.client_properties.insert("acks".into(), "1".into());
    config
        .client_properties
        .insert("enable.auto.offset.store".into(), "true".into());
    config
        .client_properties
        .insert("linger.ms".into(), "50".into());

    let producer = producer_config(&config, "test");
    assert_eq!(producer.get("acks"), Some("all"));
    assert_eq!(producer.get("enable.idempotence"), Some("true"));
    assert_eq!(
        producer.get("linger.ms"),
        Some("50"),
        "non-invariant extras still apply"
    );

    let consumer = consumer_config(&config, "test", "g");
    assert_eq!(consumer.get("enable.auto.offset.store"), Some("false"));
    assert_eq!(consumer.get("group.id"), Some("g"));
    assert_eq!(consumer.get("client.id"), Some("notify-test"));
}
