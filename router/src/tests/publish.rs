//! Publishing a routed batch when Kafka refuses one output for good: the others are published,
//! the refused one is set aside as a dead letter and a `failed` status, and a broker outage
//! still holds the whole batch.

use notify_common::dead_letter::{
    DLQ_ERROR, DLQ_OFFSET, DLQ_PAYLOAD_OMITTED, DLQ_REASON, DLQ_STAGE,
};
use notify_common::publish::{MemoryPublisher, Publisher};
use notify_schemas::{EmailContent, Status};
use notify_store::notification_log::DeliveryLog;
use notify_store::settings::TenantSettings;

use super::handler::{incoming, World};
use super::*;
use crate::publish::{publish_routed, BatchError};

/// Routes `requests` as one batch and publishes the outputs through `publisher`.
async fn route(
    world: &World,
    publisher: &MemoryPublisher,
    requests: &[NotificationRequest],
) -> Result<usize, BatchError> {
    let batch: Vec<_> = requests.iter().map(incoming).collect();
    let routed = world.handler.handle_batch(&batch).await.expect("routed");
    publish_routed(publisher, &world.handler, &batch, &routed)
        .await
        .map(|published| published.set_aside)
}

/// A request for SMS and email whose email is `html_bytes` large.
fn with_email(world: &World, event: u128, html_bytes: usize) -> NotificationRequest {
    let mut request = world.request(&[Channel::Sms, Channel::Email]);
    request.event_id = Uuid::from_u128(event);
    request.content.as_mut().expect("content").email = Some(EmailContent {
        subject: "Report".into(),
        html: Some("h".repeat(html_bytes)),
        text: None,
    });
    request
}

#[tokio::test]
async fn a_refused_delivery_is_set_aside_and_the_rest_of_the_batch_goes_out() {
    let world = World::new(TenantSettings::default()).await;
    let publisher = MemoryPublisher::new();
    publisher.refuse_larger_than(Some("t.deliveries.email"), 4_000);
    let before = with_email(&world, 1, 100);
    let large = with_email(&world, 2, 10_000);
    let after = with_email(&world, 3, 100);

    let set_aside = route(
        &world,
        &publisher,
        &[before.clone(), large.clone(), after.clone()],
    )
    .await
    .expect("published");
    assert_eq!(set_aside, 1);

    let records = publisher.records();
    let events = |channel| -> Vec<Uuid> {
        world
            .deliveries(&records, channel)
            .iter()
            .map(|d| d.event_id)
            .collect()
    };
    // every SMS, and every email but the large one
    assert_eq!(
        events(Channel::Sms),
        vec![before.event_id, large.event_id, after.event_id]
    );
    assert_eq!(
        events(Channel::Email),
        vec![before.event_id, after.event_id]
    );
    let failed: Vec<_> = world
        .statuses(&records)
        .into_iter()
        .filter(|s| s.status == Status::Failed)
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].event_id, large.event_id);
    assert_eq!(failed[0].channel, Some(Channel::Email));
    assert!(failed[0].delivery_id.is_some());
    let reason = failed[0].reason.as_deref().unwrap_or_default();
    assert!(
        reason.starts_with("produce_refused: kafka refused the record"),
        "{reason}"
    );
    let dead = world.dead_letters(&records);
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].header_value(DLQ_STAGE), Some("router"));
    assert_eq!(dead[0].header_value(DLQ_ERROR), Some("produce_refused"));
    assert!(dead[0]
        .header_value(DLQ_REASON)
        .is_some_and(|r| r.starts_with("t.deliveries.email: ")));
    // the dead letter carries the request as consumed, which fits where the delivery did not
    assert_eq!(dead[0].payload, incoming(&large).payload.expect("payload"));
    // and a status look-up reads the refusal, as it reads every router outcome
    let rows = world
        .log
        .entries("acme", &large.event_id.to_string())
        .await
        .expect("log");
    assert!(
        rows.iter().any(|r| r.state.as_deref() == Some("failed")
            && r.reason
                .as_deref()
                .is_some_and(|x| x.starts_with("produce_refused"))),
        "{rows:?}"
    );
}

#[tokio::test]
async fn an_outage_holds_the_batch_and_sets_nothing_aside() {
    let world = World::new(TenantSettings::default()).await;
    let publisher = MemoryPublisher::new();
    publisher.refuse_larger_than(Some("t.deliveries.email"), 4_000);
    publisher.fail_next(1);
    let requests = [with_email(&world, 1, 100), with_email(&world, 2, 10_000)];
    let err = route(&world, &publisher, &requests)
        .await
        .expect_err("broker down");
    assert!(matches!(err, BatchError::Publish(e) if !e.is_permanent()));
    assert!(publisher.records().is_empty());
    // the retry goes through and sets the large one aside once
    assert_eq!(route(&world, &publisher, &requests).await.ok(), Some(1));
    assert_eq!(world.dead_letters(&publisher.records()).len(), 1);
}

#[tokio::test]
async fn nothing_is_set_aside_when_kafka_takes_everything() {
    let world = World::new(TenantSettings::default()).await;
    let publisher = MemoryPublisher::new();
    let requests = [with_email(&world, 1, 100), with_email(&world, 2, 10_000)];
    assert_eq!(route(&world, &publisher, &requests).await.ok(), Some(0));
    let records = publisher.records();
    assert_eq!(world.deliveries(&records, Channel::Email).len(), 2);
    assert!(world.dead_letters(&records).is_empty());
    assert!(publisher.publish(&[]).await.is_ok());
}

#[tokio::test]
async fn a_dead_letter_too_large_for_its_topic_goes_without_its_value() {
    let world = World::new(TenantSettings::default()).await;
    let publisher = MemoryPublisher::new();
    // every topic takes 4,000 bytes at most: the dead letter of a 10 KB request cannot carry it
    publisher.refuse_larger_than(None, 4_000);
    let large = with_email(&world, 2, 10_000);
    assert_eq!(
        route(&world, &publisher, std::slice::from_ref(&large))
            .await
            .ok(),
        Some(1)
    );
    let records = publisher.records();
    let dead = world.dead_letters(&records);
    assert_eq!(dead.len(), 1);
    assert!(dead[0].payload.is_empty());
    let size = incoming(&large).payload.expect("payload").len().to_string();
    assert_eq!(
        dead[0].header_value(DLQ_PAYLOAD_OMITTED),
        Some(size.as_str())
    );
    assert_eq!(dead[0].header_value(DLQ_OFFSET), Some("41"));
    assert_eq!(world.statuses(&records).len(), 1);
}
