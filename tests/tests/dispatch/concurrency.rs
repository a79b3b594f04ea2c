//! Concurrency on the real stack: per-user order with many sends in flight, a rebalance while
//! sends are in flight, and retry partitions parked until their records are due.

use std::time::Duration;

use notify_common::clock::now_ms;
use notify_it::unique;
use notify_schemas::Channel;

use crate::harness::{sms, world};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn one_users_deliveries_are_sent_in_order_while_users_run_concurrently() {
    let mut w = world(|c| c.dispatch.max_in_flight = 8).await;
    let tenant = unique("t");
    let mut produced: Vec<Vec<String>> = Vec::new();
    for user in 0..4 {
        let phone = format!("+82105555000{user}");
        w.provider.slow(&phone, Duration::from_millis(30));
        let mut ids = Vec::new();
        for n in 0..8 {
            let d = sms(&tenant, &format!("u{user}"), &phone, &format!("{n}"));
            ids.push(d.delivery_id.to_string());
            w.produce(&d).await;
        }
        produced.push(ids);
    }
    w.start(Channel::Sms).await;
    w.read_until(|seen| seen.len() >= 32).await;
    w.stop().await;

    let sends = w.provider.sends();
    assert_eq!(sends.len(), 32);
    for (user, ids) in produced.iter().enumerate() {
        let sent: Vec<_> = sends
            .iter()
            .filter(|s| s.user_id == format!("u{user}"))
            .map(|s| s.delivery_id.clone())
            .collect();
        assert_eq!(&sent, ids, "user u{user} sent in produce order");
        let starts: Vec<i64> = sends
            .iter()
            .filter(|s| s.user_id == format!("u{user}"))
            .map(|s| s.at_ms)
            .collect();
        assert!(
            starts.windows(2).all(|w| w[1] - w[0] >= 29),
            "one send of u{user} at a time: {starts:?}"
        );
    }
    assert!(
        w.provider.max_concurrent() > 1,
        "different users were sent concurrently"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn a_rebalance_drains_in_flight_sends_before_giving_partitions_up() {
    // each instance takes few records at a time, so most are left for whoever owns the
    // partition next; the drain is long enough for what one instance took
    let mut w = world(|c| {
        c.dispatch.max_pending = 8;
        c.dispatch.drain_deadline_ms = 30_000;
    })
    .await;
    let tenant = unique("t");
    let second = std::sync::Arc::new(notify_dispatchers::providers::testing::FakeProvider::new());
    let mut deliveries = Vec::new();
    for n in 0..60 {
        let phone = format!("+8210666600{n:02}");
        w.provider.slow(&phone, Duration::from_millis(800));
        second.slow(&phone, Duration::from_millis(800));
        let d = sms(&tenant, &format!("u{}", n % 6), &phone, "x");
        w.produce(&d).await;
        deliveries.push(d);
    }
    w.start(Channel::Sms).await;
    // once the first instance is busy, a second joins: the group rebalances while sends are
    // in flight, and the partition that moves is drained before it is handed over
    w.read_until(|seen| !seen.is_empty()).await;
    w.start_with(Channel::Sms, second.clone()).await;
    w.read_until(|seen| seen.len() >= 60).await;
    w.read_for(Duration::from_secs(1)).await;
    w.stop().await;

    let mut sends = w.provider.sends();
    sends.extend(second.sends());
    assert!(
        !second.sends().is_empty() && !w.provider.sends().is_empty(),
        "the rebalance moved work: {} and {} sends",
        w.provider.sends().len(),
        second.sends().len()
    );
    let mut ids: Vec<_> = sends.iter().map(|s| s.delivery_id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 60, "every delivery sent");
    assert_eq!(sends.len(), 60, "no send repeated across the rebalance");
    for d in &deliveries {
        assert_eq!(
            w.distinct_statuses_of(d),
            1,
            "one status each (repeats byte for byte)"
        );
    }
    let (committed, ends) = w.committed_and_end(Channel::Sms);
    assert_eq!(committed, ends);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn a_retry_not_yet_due_parks_its_partition_only() {
    let mut w = world(|_| {}).await;
    let tenant = unique("t");
    let tier = w.topics.retry("5s");
    let codec = notify_schemas::Codec::<notify_schemas::Delivery>::new().unwrap();
    let now = now_ms();
    let mut waiting = sms(&tenant, "u1", "+821012120001", "later");
    waiting.attempt = 1;
    waiting.not_before = Some(now + 3_000);
    let mut behind = sms(&tenant, "u2", "+821012120002", "behind it");
    behind.attempt = 1;
    behind.not_before = Some(now);
    let mut elsewhere = sms(&tenant, "u3", "+821012120003", "other partition");
    elsewhere.attempt = 1;
    elsewhere.not_before = Some(now);
    for (d, partition) in [(&waiting, 0), (&behind, 0), (&elsewhere, 1)] {
        let bytes = codec.encode(d).unwrap();
        let key = format!("{}:{}", d.tenant, d.user_id);
        w.produce_to(&tier, partition, &key, &bytes).await;
    }
    w.start(Channel::Sms).await;
    w.read_until(|seen| seen.len() >= 3).await;
    w.stop().await;

    let sent_at = |phone: &str| {
        w.provider
            .sends()
            .iter()
            .find(|s| s.recipient == phone)
            .map(|s| s.at_ms)
            .expect("sent")
    };
    let (waited, queued, other) = (
        sent_at("+821012120001"),
        sent_at("+821012120002"),
        sent_at("+821012120003"),
    );
    assert!(waited >= now + 3_000, "not moved before its not_before");
    assert!(queued >= waited, "the record behind it follows it");
    assert!(other < now + 3_000, "another partition is not held up");
    assert_eq!(w.provider.sends().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn a_graceful_restart_mid_flight_neither_loses_nor_repeats() {
    let mut w = world(|c| c.dispatch.max_pending = 8).await;
    let tenant = unique("t");
    let mut deliveries = Vec::new();
    for n in 0..30 {
        let phone = format!("+8210777700{n:02}");
        w.provider.slow(&phone, Duration::from_millis(300));
        let d = sms(&tenant, &format!("u{}", n % 5), &phone, "x");
        w.produce(&d).await;
        deliveries.push(d);
    }
    w.start(Channel::Sms).await;
    w.read_until(|seen| seen.len() >= 5).await;
    // shutdown while sends are in flight: they finish, their offsets are committed
    w.stop().await;
    let before = w.provider.sends().len();
    assert!(before < 30, "stopped mid-flight ({before} sent)");
    w.start(Channel::Sms).await;
    w.read_until(|seen| seen.len() >= 30).await;
    w.read_for(Duration::from_secs(1)).await;
    w.stop().await;

    let sends = w.provider.sends();
    assert_eq!(sends.len(), 30, "nothing sent twice across the restart");
    for d in &deliveries {
        assert_eq!(
            w.distinct_statuses_of(d),
            1,
            "one status each (repeats byte for byte)"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn the_main_lane_goes_ahead_of_a_bulk_backlog() {
    let mut w = world(|c| {
        c.dispatch.max_in_flight = 2;
        c.dispatch.max_pending = 4;
    })
    .await;
    let tenant = unique("t");
    let codec = notify_schemas::Codec::<notify_schemas::Delivery>::new().unwrap();
    let bulk_topic = w.topics.deliveries_bulk("sms");
    for n in 0..40 {
        let phone = format!("+8210888800{n:02}");
        w.provider.slow(&phone, Duration::from_millis(150));
        let mut d = sms(&tenant, &format!("b{n}"), &phone, "promo");
        d.priority = notify_schemas::Priority::Bulk;
        let key = format!("{tenant}:b{n}");
        w.produce_raw(&bulk_topic, &key, &codec.encode(&d).unwrap())
            .await;
    }
    w.start(Channel::Sms).await;
    w.read_until(|seen| seen.len() >= 3).await;
    let mut main = Vec::new();
    for n in 0..10 {
        let phone = format!("+8210999900{n:02}");
        w.provider.slow(&phone, Duration::from_millis(150));
        let d = sms(&tenant, &format!("m{n}"), &phone, "your code");
        w.produce(&d).await;
        main.push(phone);
    }
    w.read_until(|seen| seen.len() >= 50).await;
    w.stop().await;

    let sends = w.provider.sends();
    let is_main = |s: &notify_dispatchers::providers::testing::Sent| main.contains(&s.recipient);
    let first = sends.iter().position(is_main).expect("main sent");
    let last = sends.iter().rposition(is_main).expect("main sent");
    let bulk_between = sends[first..=last].iter().filter(|s| !is_main(s)).count();
    assert!(
        bulk_between <= 4,
        "bulk paused while the main lane had work: {bulk_between} bulk sends in between"
    );
    assert!(last < sends.len() - 1, "bulk resumed afterwards");
}
