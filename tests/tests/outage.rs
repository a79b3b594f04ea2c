//! Cassandra stopped in the middle of a stream, then started again: the router pauses (its
//! readiness says why), skips nothing, and routes every request once the database is back.
//!
//! This binary stops the shared Cassandra of `scripts/stack`, so it holds a single test: cargo
//! runs test binaries one after another, and no other test runs while the database is down.
//! A guard starts Cassandra again even if the test fails.

#[path = "router/harness.rs"]
mod harness;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use harness::*;
use notify_common::Health;
use notify_it::{poll_until, read_quiet, ServerDown};
use notify_schemas::Channel;

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn cassandra_stopped_mid_stream_pauses_the_router_and_loses_nothing() {
    const USERS: usize = 20;
    const PER_WAVE: usize = 100;
    let mut w = world().await;
    // retry soon after the database is back rather than after the default's long backoff
    w.config.router.max_backoff_ms = 2_000;
    for i in 0..USERS {
        w.user(&format!("u{i}"), false).await;
    }
    let read = w.consumer(&all_outputs(&w.topics));
    let health = Health::new();
    let running = w.start_router(health.clone()).await;
    let topics = w.topics.clone();
    let wave = || -> Vec<_> {
        (0..PER_WAVE)
            .map(|i| w.request(&format!("u{}", i % USERS), "orders", vec![Channel::Sms]))
            .collect()
    };

    let before = wave();
    for request in &before {
        w.send(request).await;
    }
    let mut seen = Vec::new();
    collect_until(&read, &mut seen, Duration::from_secs(60), |seen| {
        all_delivered(seen, &topics, &before).then_some(())
    })
    .await;

    let outage = tokio::task::spawn_blocking(|| ServerDown::begin("cassandra"))
        .await
        .expect("stop cassandra");
    let stopped_at = Instant::now();
    let during = wave();
    for request in &during {
        w.send(request).await;
    }
    // the router must notice and say so, and deliver nothing that needs the database
    let ready = || std::future::ready(health.is_ready());
    poll_until(
        Duration::from_secs(30),
        Duration::from_millis(200),
        ready,
        |r| !r,
    )
    .await
    .expect("readiness still ok 30 s into the outage");
    let report = health.report();
    assert!(
        report.checks.get("database").is_some_and(|s| s != "ok"),
        "{report:?}"
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    let early = {
        read_quiet(&read, &mut seen, Duration::from_millis(500)).await;
        deliveries(&seen, &topics)
            .iter()
            .filter(|d| during.iter().any(|r| r.event_id == d.event_id))
            .count()
    };
    assert_eq!(early, 0, "deliveries made while the database was down");

    tokio::task::spawn_blocking(move || outage.end())
        .await
        .expect("start cassandra");
    let down_for = stopped_at.elapsed();
    let restarted_at = Instant::now();
    collect_until(&read, &mut seen, Duration::from_secs(120), |seen| {
        all_delivered(seen, &topics, &during).then_some(())
    })
    .await;
    let recovered_in = restarted_at.elapsed();
    running.stop().await;
    assert!(health.is_ready(), "{:?}", health.report());

    let mut per_event: HashMap<_, usize> = HashMap::new();
    for delivery in deliveries(&seen, &topics) {
        *per_event.entry(delivery.event_id).or_default() += 1;
    }
    let sent = before.len() + during.len();
    let lost = before
        .iter()
        .chain(&during)
        .filter(|r| !per_event.contains_key(&r.event_id))
        .count();
    let duplicates: usize = per_event.values().map(|n| n - 1).sum();
    println!(
        "cassandra outage: sent {sent}, routed {}, lost {lost}, duplicates {duplicates}, \
         database down {:.1} s, recovered {:.1} s after restart",
        per_event.len(),
        down_for.as_secs_f64(),
        recovered_in.as_secs_f64()
    );
    assert_eq!(lost, 0);
    // a paused batch is routed again as a whole and produced only once it fully succeeds
    assert_eq!(duplicates, 0);
    w.drop_keyspace().await;
}
