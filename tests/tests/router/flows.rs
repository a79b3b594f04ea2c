//! Fan-out, opt-out, replay, poison records, render errors and send_at.

use std::collections::BTreeMap;

use notify_common::dead_letter::{DLQ_ERROR, DLQ_STAGE};
use notify_schemas::{Channel, Status, TemplateRef, Uuid};
use notify_store::directory::{Category, Preference, TemplateVariant};
use notify_store::Directory;

use crate::harness::*;

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn fans_out_per_channel_and_reports_every_drop() {
    let w = world().await;
    w.user("alice", false).await;
    w.directory
        .put_preferences(
            &w.tenant,
            "alice",
            &[Preference {
                category: "marketing".into(),
                channel: Channel::Sms,
                enabled: false,
            }],
        )
        .await
        .expect("preferences");
    let read = w.consumer(&all_outputs(&w.topics));

    let routed = w.request(
        "alice",
        "security",
        vec![Channel::Apns, Channel::Fcm, Channel::Sms],
    );
    let opted = w.request("alice", "marketing", vec![Channel::Sms, Channel::Apns]);
    w.send(&routed).await;
    w.send(&opted).await;
    let (delivered, reported) = w
        .route_until_outputs(&read, |d, s| d.len() >= 3 && s.len() >= 2)
        .await;

    let of = |event: Uuid| {
        delivered
            .iter()
            .filter(move |d| d.event_id == event)
            .map(|d| d.channel)
            .collect::<Vec<_>>()
    };
    let mut routed_channels = of(routed.event_id);
    routed_channels.sort_by_key(|c| c.as_str());
    assert_eq!(
        routed_channels,
        vec![Channel::Apns, Channel::Sms],
        "{delivered:?}"
    );
    assert_eq!(
        of(opted.event_id),
        vec![Channel::Apns],
        "sms of marketing is opted out"
    );
    let reason = |event: Uuid, channel: Channel| {
        reported
            .iter()
            .find(|s| s.event_id == event && s.channel == Some(channel))
            .and_then(|s| s.reason.clone())
    };
    assert_eq!(
        reason(routed.event_id, Channel::Fcm).as_deref(),
        Some("no_device")
    );
    assert_eq!(
        reason(opted.event_id, Channel::Sms).as_deref(),
        Some("opted_out")
    );
    assert!(reported.iter().all(|s| s.status == Status::Suppressed));
    // every delivery carries the id derived from (tenant, event, channel, recipient)
    for d in &delivered {
        assert_eq!(
            d.delivery_id,
            notify_schemas::delivery_id(&d.tenant, d.event_id, d.channel, d.recipient.key())
        );
    }
    w.drop_keyspace().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn opt_out_with_critical_bypass_and_replay_with_identical_ids() {
    let w = world().await;
    w.user("bob", true).await;
    let critical = Category {
        category_id: "fraud".into(),
        description: None,
        critical: true,
        created_at_ms: 0,
        updated_at_ms: 0,
    };
    w.directory
        .put_category(&w.tenant, &critical)
        .await
        .expect("category");
    let read = w.consumer(&all_outputs(&w.topics));

    let blocked = w.request("bob", "news", vec![Channel::Sms]);
    let fraud = w.request("bob", "fraud", vec![Channel::Sms]);
    w.send(&blocked).await;
    w.send(&fraud).await;
    w.send(&fraud).await; // a replay of the same record
    let (delivered, reported) = w
        .route_until_outputs(&read, |d, s| d.len() >= 2 && !s.is_empty())
        .await;
    assert!(reported
        .iter()
        .any(|s| s.event_id == blocked.event_id && s.reason.as_deref() == Some("opted_out")));
    assert!(
        delivered.iter().all(|d| d.event_id == fraud.event_id),
        "opted-out news was delivered: {delivered:?}"
    );
    assert_eq!(delivered.len(), 2);
    assert_eq!(
        delivered[0], delivered[1],
        "a replayed request must yield identical deliveries"
    );
    w.drop_keyspace().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn poison_records_and_render_errors_are_reported_not_fatal() {
    let w = world().await;
    w.user("carol", false).await;
    let variant = TemplateVariant {
        locale: "en".into(),
        channel: Channel::Sms,
        title: None,
        body: None,
        subject: None,
        html: None,
        text: Some("Hello {{ name }}, your order {{ order }} shipped".into()),
        data: BTreeMap::new(),
    };
    w.directory
        .put_template(&w.tenant, "shipped", &[variant])
        .await
        .expect("template");
    let read = w.consumer(&all_outputs(&w.topics));

    w.publish("x:y", b"\x00\x01 definitely not avro").await;
    let mut stranger = w.request("carol", "orders", vec![Channel::Sms]);
    stranger.tenant = "no-such-tenant".into();
    w.send(&stranger).await;
    let mut broken = w.request("carol", "orders", vec![Channel::Sms]);
    broken.content = None;
    broken.template = Some(TemplateRef {
        template_id: "shipped".into(),
        params: BTreeMap::from([("name".into(), "Carol".into())]),
    });
    w.send(&broken).await;
    let good = w.request("carol", "orders", vec![Channel::Sms]);
    w.send(&good).await;

    let topics = w.topics.clone();
    let seen = w
        .route_until(&read, |seen| {
            let dead = seen.iter().filter(|s| s.topic == topics.dlq()).count();
            let done = deliveries(seen, &topics)
                .iter()
                .any(|d| d.event_id == good.event_id);
            (dead >= 2 && done && !statuses(seen, &topics).is_empty()).then(|| seen.to_vec())
        })
        .await;
    let dead: Vec<_> = seen.iter().filter(|s| s.topic == w.topics.dlq()).collect();
    assert!(dead.iter().all(|s| s.header(DLQ_STAGE) == Some("router")));
    let errors: Vec<&str> = dead.iter().filter_map(|s| s.header(DLQ_ERROR)).collect();
    assert!(errors.contains(&"unknown_tenant"), "{errors:?}");
    assert_eq!(errors.len(), 2, "{errors:?}");
    let failed = statuses(&seen, &w.topics);
    assert!(
        failed.iter().any(|s| s.event_id == broken.event_id
            && s.reason
                .as_deref()
                .is_some_and(|r| r.starts_with("render_failed"))),
        "{failed:?}"
    );
    w.drop_keyspace().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn send_at_waits_in_the_schedule_then_delivers_once_and_expired_ends_as_expired() {
    let w = world().await;
    w.user("dave", false).await;
    let read = w.consumer(&all_outputs(&w.topics));

    let mut later = w.request("dave", "reminders", vec![Channel::Sms]);
    let due = now_ms() + 3_000;
    later.send_at = Some(due);
    let mut stale = w.request("dave", "reminders", vec![Channel::Sms]);
    stale.expires_at = Some(now_ms() - 1_000);
    w.send(&later).await;
    w.send(&stale).await;
    let topics = w.topics.clone();
    let (delivered, reported, arrived_at) = w
        .route_until(&read, |seen| {
            let d = deliveries(seen, &topics);
            let s = statuses(seen, &topics);
            (d.iter().any(|d| d.event_id == later.event_id) && s.len() >= 2)
                .then(|| (d, s, now_ms()))
        })
        .await;
    assert!(
        reported
            .iter()
            .any(|s| s.event_id == later.event_id && s.status == Status::Scheduled),
        "{reported:?}"
    );
    assert!(
        reported
            .iter()
            .any(|s| s.event_id == stale.event_id && s.status == Status::Expired),
        "{reported:?}"
    );
    assert!(
        arrived_at >= due,
        "delivered {} ms before send_at",
        due - arrived_at
    );
    assert_eq!(
        delivered
            .iter()
            .filter(|d| d.event_id == later.event_id)
            .count(),
        1,
        "{delivered:?}"
    );
    assert!(
        delivered.iter().all(|d| d.event_id != stale.event_id),
        "an expired request was delivered"
    );
    w.drop_keyspace().await;
}
