//! Outputs Kafka refuses for good (a retry tier or the dead-letter topic capped below the
//! delivery's size): the record still ends durably, with a status, and the partition moves on.

use std::time::Duration;

use notify_common::dead_letter::{DLQ_ERROR, DLQ_OFFSET, DLQ_PAYLOAD_OMITTED};
use notify_schemas::Status;

use notify_schemas::Delivery;

use super::rig::{apns, header, rig, Rig, TOKEN};
use crate::providers::provider::{Outcome, Reason};

fn busy() -> Outcome {
    Outcome::Retry {
        reason: Reason::RateLimited,
        after: Some(Duration::from_secs(30)),
        detail: "429".into(),
    }
}

/// A busy provider sends `delivery` to the 1m tier, which refuses records over 10 bytes (and
/// so does the dead-letter topic when `dlq_too`); the record must still end, within 5 s.
async fn retried_into_a_refusing_tier(rig: &Rig, delivery: &Delivery, dlq_too: bool) {
    rig.publisher
        .refuse_larger_than(Some(&rig.topics.retry("1m")), 10);
    if dlq_too {
        rig.publisher
            .refuse_larger_than(Some(&rig.topics.dlq()), 10);
    }
    rig.provider.script(TOKEN, [busy()]);
    let handled = tokio::time::timeout(Duration::from_secs(5), rig.handle(delivery))
        .await
        .expect("not held by the refusal");
    assert_eq!(handled, super::Handled::DeadLettered);
}

#[tokio::test]
async fn a_retry_the_tier_refuses_is_dead_lettered_not_retried_forever() {
    let rig = rig();
    let delivery = apns();
    retried_into_a_refusing_tier(&rig, &delivery, false).await;
    assert!(rig.publisher.to_topic(&rig.topics.retry("1m")).is_empty());
    let dead = rig.publisher.to_topic(&rig.topics.dlq());
    assert_eq!(dead.len(), 1);
    assert_eq!(header(&dead[0], DLQ_ERROR), Some("produce_refused"));
    assert!(!dead[0].payload.is_empty(), "the delivery, as consumed");
    let statuses = rig.statuses();
    assert_eq!(
        statuses.last().map(|s| s.status),
        Some(Status::DeadLettered),
        "{statuses:?}"
    );
    assert_eq!(rig.state(&delivery).as_deref(), Some("dead_lettered"));
}

#[tokio::test]
async fn a_dead_letter_the_topic_refuses_goes_without_its_value() {
    let rig = rig();
    retried_into_a_refusing_tier(&rig, &apns(), true).await;
    let dead = rig.publisher.to_topic(&rig.topics.dlq());
    assert_eq!(dead.len(), 1);
    assert!(dead[0].payload.is_empty());
    assert!(header(&dead[0], DLQ_PAYLOAD_OMITTED).is_some_and(|n| n.parse::<usize>().unwrap() > 10));
    assert!(header(&dead[0], DLQ_OFFSET).is_some());
    assert_eq!(
        rig.statuses().last().map(|s| s.status),
        Some(Status::DeadLettered)
    );
}
