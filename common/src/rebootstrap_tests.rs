use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::statistics::Broker;

use super::*;

fn broker(source: &str) -> Broker {
    Broker {
        source: source.to_owned(),
        ..Broker::default()
    }
}

fn stats(sources: &[&str]) -> Statistics {
    Statistics {
        brokers: sources
            .iter()
            .enumerate()
            .map(|(i, source)| (format!("b{i}"), broker(source)))
            .collect(),
        ..Statistics::default()
    }
}

#[test]
fn a_client_with_only_its_coordinator_handle_has_lost_every_broker() {
    assert!(lost_every_broker(&stats(&[])));
    assert!(lost_every_broker(&stats(&["logical"])));
    assert!(lost_every_broker(&stats(&["logical", "internal"])));
    assert!(!lost_every_broker(&stats(&["logical", "learned"])));
    assert!(!lost_every_broker(&stats(&["configured"])));
}

/// A consumer context that repairs its client and keeps the brokers of each report.
#[derive(Debug)]
struct Recording {
    rebootstrap: Rebootstrap,
    reports: Mutex<Vec<Vec<(String, String)>>>,
}

impl ClientContext for Recording {
    fn stats(&self, statistics: Statistics) {
        self.rebootstrap.observe(&statistics);
        let brokers = statistics
            .brokers
            .values()
            .map(|b| (b.source.clone(), b.nodename.clone()))
            .collect();
        self.reports
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(brokers);
    }
}

impl ConsumerContext for Recording {}

/// A client left with no broker (built without any here, as librdkafka leaves one that dropped
/// them all) gets the bootstrap servers of its configuration and reports them from then on.
#[test]
fn a_client_without_brokers_gets_its_bootstrap_servers_back() {
    let mut config = ClientConfig::new();
    config
        .set("group.id", "rebootstrap-test")
        .set("statistics.interval.ms", "100")
        .set("log_level", "0");
    let mut with_bootstrap = config.clone();
    with_bootstrap.set("bootstrap.servers", "127.0.0.1:9");
    let context = Recording {
        rebootstrap: Rebootstrap::new(&with_bootstrap, "rebootstrap-test"),
        reports: Mutex::new(Vec::new()),
    };
    let consumer: BaseConsumer<Recording> = config
        .create_with_context(context)
        .expect("a consumer without bootstrap servers");
    consumer.context().rebootstrap.attach(consumer.client());
    let configured = |reports: &[Vec<(String, String)>]| {
        reports.iter().any(|brokers| {
            brokers
                .iter()
                .any(|(source, name)| source == "configured" && name == "127.0.0.1:9")
        })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let _ = consumer.poll(Duration::from_millis(100));
        let reports = consumer.context().reports.lock().expect("reports").clone();
        if configured(&reports) {
            // the first report had no broker: the repair came from it
            assert!(reports
                .first()
                .is_some_and(|first| first.iter().all(|(source, _)| source != "configured")));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no report listed the bootstrap server: {reports:?}"
        );
    }
}

/// Not attached to a client, a repair only reads reports.
#[test]
fn an_unattached_repair_does_nothing() {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", "127.0.0.1:9");
    Rebootstrap::new(&config, "g").observe(&stats(&[]));
}
