//! Schedulers against the librdkafka mock cluster and an in-memory schedule: several
//! instances re-emit every due row once, an outage delays but never drops, a claimed row waits
//! for its lease.

use std::sync::Arc;
use std::time::Duration;

use notify_common::clock::now_ms;
use notify_common::config::KafkaConfig;
use notify_common::publish::KafkaPublisher;
use notify_router::scheduler::Scheduler;
use notify_store::schedule::{MemorySchedule, Schedule};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use tokio_util::sync::CancellationToken;

use crate::{item, read_back, Seen};

const TOPIC: &str = "t.requests";

/// A mock broker with the requests topic, its client config and an empty schedule.
struct Fixture {
    cluster: MockCluster<'static, DefaultProducerContext>,
    config: KafkaConfig,
    schedule: Arc<MemorySchedule>,
}

impl Fixture {
    fn new() -> Self {
        let cluster = MockCluster::new(1).expect("mock cluster");
        cluster.create_topic(TOPIC, 3, 1).expect("topic");
        let config = KafkaConfig {
            brokers: cluster.bootstrap_servers(),
            // Equal to the schedulers' produce timeout, as in production.
            message_timeout_ms: 1_000,
            ..KafkaConfig::default()
        };
        Self {
            cluster,
            config,
            schedule: Arc::new(MemorySchedule::new()),
        }
    }

    fn scheduler(&self, owner: &str) -> Scheduler {
        let producer =
            notify_common::kafka::producer(&self.config, "scheduler-test").expect("producer");
        let produce_timeout = Duration::from_secs(1);
        let publisher = Arc::new(KafkaPublisher::new(producer, produce_timeout));
        let mut scheduler = Scheduler::new(self.schedule.clone(), publisher, TOPIC, owner);
        scheduler.poll_interval = Duration::from_millis(100);
        scheduler.max_backoff = Duration::from_millis(400);
        scheduler.produce_timeout = produce_timeout;
        scheduler.lease = Duration::from_secs(2);
        scheduler.batch_size = 16;
        scheduler.max_in_flight = 4;
        scheduler
    }

    async fn read(&self, want: usize, wait: Duration, linger: Duration) -> Seen {
        let group = format!("g-{}", now_ms());
        read_back(&self.config, TOPIC, &group, want, wait, linger).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_reemit_every_due_row_once_and_keep_future_ones() {
    let fixture = Fixture::new();
    let schedule = &fixture.schedule;
    let now = now_ms();
    for n in 0..100 {
        schedule
            .defer(&item(n, now - 1_000 - n as i64))
            .await
            .expect("defer");
    }
    let future = item(1_000, now + 3_600_000);
    schedule.defer(&future).await.expect("defer");

    let cancel = CancellationToken::new();
    let runs: Vec<_> = ["a", "b"]
        .iter()
        .map(|owner| tokio::spawn(fixture.scheduler(owner).run(cancel.clone())))
        .collect();
    let seen = fixture
        .read(100, Duration::from_secs(20), Duration::from_secs(2))
        .await;
    cancel.cancel();
    for run in runs {
        run.await.expect("task").expect("run");
    }

    assert_eq!(seen.len(), 100, "every due row re-emitted");
    for n in 0..100 {
        let (count, key, header) = &seen[&format!("request {n}")];
        assert_eq!(*count, 1, "request {n} re-emitted {count} times");
        assert_eq!(key, &format!("tn:user-{}", n % 7), "original key kept");
        assert_eq!(
            *header,
            Some(now - 1_000 - n as i64),
            "due time in the header"
        );
    }
    assert_eq!(
        schedule.len(),
        1,
        "completed rows are deleted, the future one waits"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_kafka_outage_delays_but_never_drops() {
    let fixture = Fixture::new();
    let schedule = &fixture.schedule;
    let now = now_ms();
    for n in 0..10 {
        schedule.defer(&item(n, now - 1_000)).await.expect("defer");
    }
    // The only broker goes away: every produce times out until it is back.
    fixture.cluster.broker_down(1).expect("broker down");
    let cancel = CancellationToken::new();
    let run = tokio::spawn(fixture.scheduler("a").run(cancel.clone()));
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(schedule.len(), 10, "nothing completed during the outage");

    fixture.cluster.broker_up(1).expect("broker up");
    let seen = fixture
        .read(10, Duration::from_secs(20), Duration::from_secs(1))
        .await;
    cancel.cancel();
    run.await.expect("task").expect("run");
    assert_eq!(seen.len(), 10, "every row re-emitted after the outage");
    assert!(schedule.is_empty());
}

#[tokio::test]
async fn a_row_claimed_elsewhere_waits_for_the_lease() {
    let fixture = Fixture::new();
    let schedule = &fixture.schedule;
    let row = item(1, now_ms() - 1_000);
    schedule.defer(&row).await.expect("defer");
    // Another instance claimed it and died.
    assert!(schedule
        .claim(&row, "dead", Duration::from_secs(2))
        .await
        .expect("claim"));

    let cancel = CancellationToken::new();
    let run = tokio::spawn(fixture.scheduler("a").run(cancel.clone()));
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert_eq!(schedule.len(), 1, "not re-emitted while the lease holds");
    let seen = fixture
        .read(1, Duration::from_secs(10), Duration::from_millis(500))
        .await;
    cancel.cancel();
    run.await.expect("task").expect("run");
    assert_eq!(seen.len(), 1);
    assert!(schedule.is_empty());
}
