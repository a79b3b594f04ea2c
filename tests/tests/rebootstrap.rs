//! Consumers that a broker's Metadata answer left with no broker connect again.
//!
//! A broker in controlled shutdown answers Metadata with an empty broker list; librdkafka 2.12
//! then drops every broker it knew, and with none left it never connects again, even once the
//! broker is back (upstream issue 5301). [`FakeBroker`] gives that answer once and closes its
//! connections, as the real one does while shutting down, then answers as a healthy broker
//! again: each consumer, built the way the stages build theirs, must ask it for metadata again.
//! Not every client is left without a broker by that answer (one whose other connection is
//! answered first keeps one), so several run at once, each with a broker of its own; without
//! the repair about half of them never come back.

use std::time::{Duration, Instant};

use notify_common::config::{Config, KafkaConfig};
use notify_common::kafka;
use notify_dispatchers::engine::inflight::Inflight;
use notify_it::fake_broker::{FakeBroker, TOPIC};
use rdkafka::consumer::ConsumerContext;
use rdkafka::consumer::StreamConsumer;

const CONSUMERS: usize = 8;

/// The stages' Kafka settings against `broker`, asking for metadata every half second so the
/// empty answer comes early.
fn kafka_config(broker: &FakeBroker) -> KafkaConfig {
    let mut config = KafkaConfig {
        brokers: format!("127.0.0.1:{}", broker.port),
        ..KafkaConfig::default()
    };
    for (key, value) in [
        ("topic.metadata.refresh.interval.ms", "500"),
        ("log_level", "0"),
    ] {
        config.client_properties.insert(key.into(), value.into());
    }
    config
}

/// Starts [`CONSUMERS`] consumers `make` builds, each against a broker of its own, and checks
/// that every one asks for metadata again after its broker's empty answer.
async fn all_come_back<C>(make: impl Fn(usize, KafkaConfig) -> StreamConsumer<C>)
where
    C: ConsumerContext + 'static,
{
    let mut brokers = Vec::new();
    let mut polling = Vec::new();
    for i in 0..CONSUMERS {
        let broker = FakeBroker::start().expect("fake broker");
        let consumer = make(i, kafka_config(&broker));
        polling.push(tokio::spawn(async move {
            loop {
                let _ = consumer.recv().await;
            }
        }));
        brokers.push(broker);
    }
    let back = |brokers: &[FakeBroker]| brokers.iter().filter(|b| b.asked_again() > 0).count();
    let deadline = Instant::now() + Duration::from_secs(30);
    while back(&brokers) < CONSUMERS && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for task in polling {
        task.abort();
    }
    let emptied = brokers.iter().filter(|b| b.emptied()).count();
    println!(
        "{} of {CONSUMERS} consumers asked for metadata again after the empty answer \
         ({emptied} got one); {} given their bootstrap servers back in this process",
        back(&brokers),
        notify_common::rebootstrap::repairs()
    );
    assert_eq!(emptied, CONSUMERS, "every broker gave its empty answer");
    assert_eq!(back(&brokers), CONSUMERS, "consumers that never came back");
}

/// The router's and the webhook sender's consumers ([`kafka::lag_consumer`]).
#[tokio::test(flavor = "multi_thread")]
async fn lag_consumers_left_without_brokers_connect_again() {
    all_come_back(|i, config| {
        kafka::lag_consumer(&config, "test", &format!("lag-probe-{i}"), &[TOPIC]).expect("consumer")
    })
    .await;
}

/// The dispatchers' lanes and retry movers ([`notify_dispatchers::stage::drain_consumer`]).
#[tokio::test(flavor = "multi_thread")]
async fn drain_consumers_left_without_brokers_connect_again() {
    all_come_back(|i, kafka| {
        let config = Config {
            kafka,
            ..Config::default()
        };
        notify_dispatchers::stage::drain_consumer(
            &config,
            &format!("drain-probe-{i}"),
            &[TOPIC],
            std::sync::Arc::new(Inflight::new()),
            "test",
        )
        .expect("consumer")
    })
    .await;
}
