//! The scheduler against the real stack: two instances sweep one Cassandra schedule (in a
//! keyspace of its own, dropped at the end) and re-emit to a topic of its own (deleted at the
//! end). Every due row must arrive exactly once, under its original key, with its due time in
//! the `notify-deferred-until` header, and the schedule must be empty afterwards.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use notify_common::clock::now_ms;
use notify_common::config::{KafkaConfig, StoreConfig};
use notify_common::kafka;
use notify_common::publish::KafkaPublisher;
use notify_common::topics::{TopicSpec, Topics};
use notify_router::scheduler::Scheduler;
use notify_store::schedule::{CassandraSchedule, Schedule, ScheduledItem, SHARDS};
use rdkafka::admin::AdminOptions;
use tokio_util::sync::CancellationToken;

use crate::read_back;

const ITEMS: usize = 200;

/// 16 hex digits that no other run uses.
fn unique_hex() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_nanos();
    format!(
        "{:016x}",
        (nanos as u64) ^ (u64::from(std::process::id()) << 40)
    )
}

fn configs() -> (KafkaConfig, StoreConfig) {
    let id = unique_hex();
    let kafka = KafkaConfig {
        brokers: std::env::var("NOTIFY_IT_KAFKA").unwrap_or_else(|_| "127.0.0.1:9092".into()),
        topic_prefix: format!("it_sched_{id}"),
        request_timeout_ms: 30_000,
        ..KafkaConfig::default()
    };
    let store = StoreConfig {
        nodes: vec![
            std::env::var("NOTIFY_IT_CASSANDRA").unwrap_or_else(|_| "127.0.0.1:9042".into())
        ],
        keyspace: format!("it_sched_{id}"),
        request_timeout_ms: 30_000,
        ..StoreConfig::default()
    };
    (kafka, store)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn two_schedulers_reemit_every_due_row_exactly_once() {
    let (kafka_config, store_config) = configs();
    let topic = Topics::new(&kafka_config.topic_prefix).requests();
    let admin = kafka::admin(&kafka_config, "it-scheduler").expect("admin");
    let spec = TopicSpec {
        name: topic.clone(),
        partitions: 3,
        config: Vec::new(),
    };
    kafka::ensure_topics(&admin, &[spec], 1, Duration::from_secs(30))
        .await
        .expect("topic");
    let session = Arc::new(notify_store::connect(&store_config).await.expect("connect"));
    notify_store::migrate(&session, &store_config)
        .await
        .expect("migrate");

    let outcome = AssertUnwindSafe(async {
        let tenant = format!("tn_{}", unique_hex());
        let now = now_ms();
        let items: Vec<ScheduledItem> = (0..ITEMS)
            .map(|n| ScheduledItem {
                tenant: tenant.clone(),
                event_id: format!("evt-{n}"),
                routing_key: format!("{tenant}:user-{}", n % 13),
                // Due now, a little spread so several rows share a minute and a shard.
                due_at_ms: now - i64::try_from(n).expect("small") * 10,
                reason: "send_at".into(),
                payload: format!("request {n}").into_bytes(),
            })
            .collect();
        let writer = CassandraSchedule::new(Arc::clone(&session), &store_config.keyspace)
            .await
            .expect("schedule");
        for item in &items {
            writer.defer(item).await.expect("defer");
        }

        // Two instances, as two router processes would be: a session, schedule and producer
        // each, sweeping every shard.
        let cancel = CancellationToken::new();
        let mut runs = Vec::new();
        for owner in ["scheduler-a", "scheduler-b"] {
            let session = Arc::new(notify_store::connect(&store_config).await.expect("connect"));
            let schedule = CassandraSchedule::new(session, &store_config.keyspace)
                .await
                .expect("schedule");
            let producer = kafka::producer(&kafka_config, owner).expect("producer");
            // the queue wait of the scheduler's default 30 s produce timeout
            let publisher = Arc::new(KafkaPublisher::new(producer, Duration::from_secs(30)));
            let mut scheduler = Scheduler::new(Arc::new(schedule), publisher, topic.clone(), owner);
            scheduler.poll_interval = Duration::from_millis(200);
            scheduler.batch_size = 16;
            scheduler.max_in_flight = 8;
            runs.push(tokio::spawn(scheduler.run(cancel.clone())));
        }

        let seen = read_back(
            &kafka_config,
            &topic,
            &format!("{topic}-reader"),
            ITEMS,
            Duration::from_secs(90),
            Duration::from_secs(3),
        )
        .await;
        cancel.cancel();
        for run in runs {
            run.await.expect("scheduler task").expect("scheduler run");
        }

        assert_eq!(seen.len(), ITEMS, "every due row re-emitted");
        for item in &items {
            let payload = String::from_utf8(item.payload.clone()).expect("utf8");
            let (count, key, header) = &seen[&payload];
            assert_eq!(*count, 1, "{} re-emitted {count} times", item.event_id);
            assert_eq!(key, &item.routing_key, "original key kept");
            assert_eq!(*header, Some(item.due_at_ms), "due time in the header");
        }
        for shard in 0..SHARDS {
            let left = writer.due(now_ms(), shard, 1_000).await.expect("due");
            assert!(
                left.iter().all(|i| i.tenant != tenant),
                "rows left in shard {shard}"
            );
        }
    })
    .catch_unwind()
    .await;

    // Clean up whether the test passed or not, then report.
    let dropped = session
        .query_unpaged(
            format!("DROP KEYSPACE IF EXISTS {}", store_config.keyspace),
            (),
        )
        .await;
    let deleted = admin
        .delete_topics(&[topic.as_str()], &AdminOptions::new())
        .await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
    dropped.expect("drop keyspace");
    deleted.expect("delete topic");
}
