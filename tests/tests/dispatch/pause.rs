//! Paused partitions across a rebalance on the real broker. librdkafka keeps a partition's
//! pause flag when the partition is revoked and later assigned back to the same consumer, but
//! the dispatchers forget a pause when its assignment ends (the bulk lane yielding to the main
//! lane, a retry mover parking a partition). A partition that comes back must therefore be
//! read again, or its records wait forever behind a pause nobody remembers.

use std::sync::Arc;
use std::time::Duration;

use notify_dispatchers::consumer::DrainConsumer;
use notify_dispatchers::engine::inflight::Inflight;
use notify_dispatchers::stage::drain_consumer;
use notify_it::{poll_until, unique};
use rdkafka::consumer::Consumer;
use rdkafka::message::Message;
use rdkafka::TopicPartitionList;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::harness::world;

/// A consumer polled by a task of its own (polling runs the rebalance callbacks); what it
/// reads arrives on the channel as (partition, payload).
struct Member {
    consumer: Arc<DrainConsumer>,
    inflight: Arc<Inflight>,
    poller: JoinHandle<()>,
}

fn join(
    config: &notify_common::config::Config,
    group: &str,
    topic: &str,
    read: mpsc::UnboundedSender<(i32, String)>,
) -> Member {
    let inflight = Arc::new(Inflight::new());
    let consumer = Arc::new(
        drain_consumer(config, group, &[topic], inflight.clone(), "test").expect("consumer"),
    );
    let polled = consumer.clone();
    let poller = tokio::spawn(async move {
        loop {
            if let Ok(message) = polled.recv().await {
                let payload = String::from_utf8_lossy(message.payload().unwrap_or_default());
                let _ = read.send((message.partition(), payload.into_owned()));
            }
        }
    });
    Member {
        consumer,
        inflight,
        poller,
    }
}

async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let check = || std::future::ready(done());
    poll_until(
        Duration::from_secs(60),
        Duration::from_millis(100),
        check,
        |ok| *ok,
    )
    .await
    .unwrap_or_else(|_| panic!("not within 60 s: {what}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn a_partition_assigned_back_is_read_again_though_it_was_paused() {
    let w = world(|_| {}).await;
    let topic = w.topics.deliveries_bulk("sms");
    let group = unique("it-pause");
    let (read_a, mut from_a) = mpsc::unbounded_channel();
    let a = join(&w.config, &group, &topic, read_a);
    until("the first member owns both partitions", || {
        a.inflight.assigned().len() == 2
    })
    .await;

    // pause both partitions, as the bulk lane does while the main lane is busy
    let mut both = TopicPartitionList::new();
    both.add_partition(&topic, 0);
    both.add_partition(&topic, 1);
    a.consumer.pause(&both).expect("pause");

    // a second member takes one partition away, then leaves: it comes back to the first
    let (read_b, _from_b) = mpsc::unbounded_channel();
    let b = join(&w.config, &group, &topic, read_b);
    until("the second member took a partition", || {
        b.inflight.assigned().len() == 1 && a.inflight.assigned().len() == 1
    })
    .await;
    let kept = *a.inflight.assigned().keys().next().map(|(_, p)| p).unwrap();
    let moved = 1 - kept;
    b.poller.abort();
    let _ = b.poller.await;
    drop(b.consumer); // closes: revokes, commits, leaves the group
    until("the moved partition came back", || {
        a.inflight.assigned().len() == 2
    })
    .await;

    w.produce_to(&topic, moved, "k", b"moved").await;
    w.produce_to(&topic, kept, "k", b"kept").await;
    let first = tokio::time::timeout(Duration::from_secs(20), from_a.recv()).await;
    assert_eq!(
        first.ok().flatten(),
        Some((moved, "moved".to_owned())),
        "the partition assigned back is read, not left paused"
    );
    let more = tokio::time::timeout(Duration::from_secs(3), from_a.recv()).await;
    assert!(
        more.is_err(),
        "the partition that stayed keeps the pause its owner asked for: {more:?}"
    );
    a.poller.abort();
}
