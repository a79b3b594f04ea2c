//! The per-record rules against fakes: a scripted provider, the in-memory log, directory and
//! publisher.

use std::time::Duration;

use notify_common::dead_letter::{DLQ_CHANNEL, DLQ_ERROR, DLQ_OFFSET, DLQ_STAGE, DLQ_TOPIC};
use notify_schemas::{samples, Codec, Delivery, DeviceToken, Recipient, Status};
use notify_store::directory::{DeviceState, PushTarget, User};
use notify_store::Directory;
use tokio_util::sync::CancellationToken;

use super::rig::*;
use super::*;
use crate::providers::provider::{Outcome, Reason};

#[tokio::test]
async fn sent_once_and_replays_are_recognised() {
    let rig = rig();
    let delivery = apns();
    // a copy appended before the outcome, read after it (a crash before the offset commit)
    let mut early = rig.record(&delivery);
    early.timestamp_ms = Some(now_ms() - 1_000);
    assert_eq!(rig.handle(&delivery).await, Handled::Sent);
    tokio::time::sleep(Duration::from_millis(5)).await;
    for _ in 0..3 {
        assert_eq!(rig.handle(&delivery).await, Handled::Duplicate);
    }
    assert_eq!(
        rig.provider.sends_to(TOKEN),
        1,
        "replays never reach the provider"
    );
    assert_eq!(rig.state(&delivery).as_deref(), Some("sent"));
    let statuses = rig.statuses();
    assert_eq!(statuses.len(), 1, "replays add no status");
    assert_eq!(statuses[0].status, Status::Sent);
    assert_eq!(statuses[0].attempt, 1);
    assert!(statuses[0].provider_message_id.is_some());
    let key = &rig.publisher.to_topic(&rig.topics.status())[0].key;
    assert_eq!(
        key,
        delivery.event_id.to_string().as_bytes(),
        "keyed by event id"
    );

    let handled = rig
        .handler
        .handle(&early, &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(handled, Handled::Duplicate);
    let statuses = rig.statuses();
    assert_eq!(
        statuses.len(),
        2,
        "its report may have been lost: reported again"
    );
    assert_eq!(statuses[1], statuses[0], "the same record");
    assert_eq!(rig.provider.sends_to(TOKEN), 1);
}

/// The gateway writes a provider's receipt over the row; a replayed copy still finds the delivery
/// settled, and so does the retry of a send whose answer was lost but whose receipt arrived.
#[tokio::test]
async fn a_receipt_in_the_log_settles_the_delivery() {
    use notify_store::notification_log::{DeliveryLog, LogWrite};
    let rig = rig();
    let receipt = |delivery: &Delivery, state: &str| LogWrite {
        tenant: delivery.tenant.clone(),
        event_id: delivery.event_id.to_string(),
        channel: "apns".into(),
        recipient: TOKEN.into(),
        delivery_id: delivery.delivery_id.to_string(),
        state: state.into(),
        reason: None,
        attempts: 1,
        provider: Some("apns".into()),
        provider_message_id: None,
        updated_at_ms: now_ms(),
    };
    let delivery = apns();
    assert_eq!(rig.handle(&delivery).await, Handled::Sent);
    rig.log.put(&receipt(&delivery, "delivered")).await.unwrap();
    assert_eq!(rig.handle(&delivery).await, Handled::Duplicate);

    let mut unanswered = apns();
    unanswered.event_id = uuid::Uuid::new_v4();
    rig.log
        .put(&receipt(&unanswered, "undelivered"))
        .await
        .unwrap();
    assert_eq!(rig.handle(&unanswered).await, Handled::Duplicate);
    assert_eq!(
        rig.provider.sends_to(TOKEN),
        1,
        "no copy reached the provider"
    );
}

#[tokio::test]
async fn transient_failure_goes_to_a_retry_tier_then_sends() {
    let rig = rig();
    let delivery = apns();
    rig.provider.script(
        TOKEN,
        [Outcome::Retry {
            reason: Reason::RateLimited,
            after: Some(Duration::from_secs(30)),
            detail: "429".into(),
        }],
    );
    let before = now_ms();
    assert_eq!(rig.handle(&delivery).await, Handled::Retrying);
    let retries = rig.publisher.to_topic(&rig.topics.retry("1m"));
    assert_eq!(retries.len(), 1, "30 s Retry-After fits the 1m tier");
    let next = Codec::<Delivery>::new()
        .unwrap()
        .decode(&retries[0].payload)
        .unwrap();
    assert_eq!(next.attempt, 1);
    assert!(
        next.not_before.unwrap() >= before + 30_000,
        "Retry-After honoured"
    );
    assert!(next.first_attempt_at.is_some());
    assert_eq!(retries[0].key, b"tenant:user");
    assert_eq!(rig.statuses()[0].status, Status::Retrying);
    assert_eq!(rig.statuses()[0].reason.as_deref(), Some("rate_limited"));
    assert_eq!(rig.state(&delivery).as_deref(), Some("retrying"));

    // the original replayed after the retry was scheduled is a stale copy
    assert_eq!(rig.handle(&delivery).await, Handled::Stale);
    // the retry record itself is sent
    assert_eq!(rig.handle(&next).await, Handled::Sent);
    assert_eq!(rig.provider.sends_to(TOKEN), 2);
    assert_eq!(rig.statuses().last().unwrap().attempt, 2);
}

#[tokio::test]
async fn exhausted_retries_are_dead_lettered_with_the_original_bytes() {
    let rig = rig();
    let mut delivery = apns();
    delivery.attempt = 2; // the third attempt is the last (max_attempts = 3)
    delivery.first_attempt_at = Some(now_ms());
    rig.provider
        .script(TOKEN, [Outcome::retry(Reason::ProviderUnavailable, "503")]);
    let record = rig.record(&delivery);
    let handled = rig
        .handler
        .handle(&record, &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(handled, Handled::DeadLettered);
    let dead = rig.publisher.to_topic(&rig.topics.dlq());
    assert_eq!(dead.len(), 1);
    assert_eq!(Some(&dead[0].payload), record.payload.as_ref());
    assert_eq!(header(&dead[0], DLQ_STAGE), Some("dispatcher"));
    assert_eq!(header(&dead[0], DLQ_ERROR), Some("retries_exhausted"));
    assert_eq!(header(&dead[0], DLQ_CHANNEL), Some("apns"));
    assert_eq!(header(&dead[0], DLQ_TOPIC), Some("t.deliveries.apns"));
    assert_eq!(
        header(&dead[0], DLQ_OFFSET),
        Some(record.offset.to_string().as_str())
    );
    assert_eq!(rig.statuses()[0].status, Status::DeadLettered);
    assert!(rig.publisher.to_topic(&rig.topics.retry("5s")).is_empty());
    // a replay from the DLQ is attempted again, not suppressed
    assert_eq!(rig.handle(&delivery).await, Handled::Sent);
}

#[tokio::test]
async fn permanent_failure_is_final_at_once() {
    let rig = rig();
    let delivery = apns();
    rig.provider
        .script(TOKEN, [Outcome::failed(Reason::BadMessage, "413")]);
    assert_eq!(rig.handle(&delivery).await, Handled::Failed);
    assert_eq!(rig.statuses()[0].status, Status::Failed);
    assert_eq!(rig.statuses()[0].reason.as_deref(), Some("bad_message"));
    assert_eq!(rig.handle(&delivery).await, Handled::Duplicate);
    assert_eq!(
        rig.provider.sends_to(TOKEN),
        1,
        "no retry of a permanent failure"
    );
}

async fn registered(rig: &Rig, token: &str) -> (Delivery, String, i64) {
    let mut delivery = apns();
    rig.directory
        .put_user(&delivery.tenant, &User::new(&delivery.user_id))
        .await
        .unwrap();
    let device = rig
        .directory
        .put_device(
            &delivery.tenant,
            &delivery.user_id,
            &PushTarget::Apns {
                token: token.into(),
            },
            None,
        )
        .await
        .unwrap()
        .record;
    delivery.recipient = Recipient::DeviceToken(DeviceToken {
        token: token.into(),
        device_id: Some(device.device_id.clone()),
    });
    (delivery, device.device_id, device.updated_at_ms)
}

#[tokio::test]
async fn invalid_token_disables_the_device_unless_registered_since() {
    let rig = rig();
    let (delivery, device_id, registered_at) = registered(&rig, TOKEN).await;
    rig.provider.script(
        TOKEN,
        [Outcome::InvalidRecipient {
            reason: Reason::TokenInvalid,
            since: Some(registered_at + 1),
            detail: "410 Unregistered".into(),
        }],
    );
    assert_eq!(rig.handle(&delivery).await, Handled::InvalidRecipient);
    let device = rig
        .directory
        .get_device(&delivery.tenant, &delivery.user_id, &device_id)
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(device.state, DeviceState::Invalid { .. }));
    assert_eq!(rig.statuses()[0].status, Status::Failed);
    assert_eq!(rig.statuses()[0].reason.as_deref(), Some("token_invalid"));

    // a token the app registered again after the provider's timestamp stays active
    let other = "aa".repeat(32);
    let (mut later, other_id, registered_at) = registered(&rig, &other).await;
    later.event_id = notify_schemas::Uuid::new_v4();
    rig.provider.script(
        &other,
        [Outcome::InvalidRecipient {
            reason: Reason::TokenInvalid,
            since: Some(registered_at - 1),
            detail: "410 Unregistered".into(),
        }],
    );
    assert_eq!(rig.handle(&later).await, Handled::InvalidRecipient);
    let device = rig
        .directory
        .get_device(&later.tenant, &later.user_id, &other_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(device.state, DeviceState::Active);
}

#[tokio::test]
async fn expired_is_reported_without_a_send() {
    let rig = rig();
    let mut delivery = apns();
    delivery.expires_at = Some(now_ms() - 1);
    assert_eq!(rig.handle(&delivery).await, Handled::Expired);
    assert_eq!(rig.provider.sends().len(), 0);
    assert_eq!(rig.statuses()[0].status, Status::Expired);
    assert_eq!(rig.state(&delivery).as_deref(), Some("expired"));
}

#[tokio::test]
async fn a_retry_that_would_land_after_expiry_is_expired_instead() {
    let rig = rig();
    let mut delivery = apns();
    delivery.expires_at = Some(now_ms() + 10_000);
    rig.provider.script(
        TOKEN,
        [Outcome::Retry {
            reason: Reason::RateLimited,
            after: Some(Duration::from_secs(60)),
            detail: "429".into(),
        }],
    );
    assert_eq!(rig.handle(&delivery).await, Handled::Expired);
    assert_eq!(rig.provider.sends_to(TOKEN), 1);
    assert!(rig.publisher.to_topic(&rig.topics.retry("1m")).is_empty());
    assert!(rig.publisher.to_topic(&rig.topics.dlq()).is_empty());
    assert_eq!(rig.statuses()[0].status, Status::Expired);
    assert_eq!(rig.state(&delivery).as_deref(), Some("expired"));
}

#[tokio::test]
async fn undecodable_and_misrouted_records_are_dead_lettered() {
    let rig = rig();
    let cancel = CancellationToken::new();
    for payload in [None, Some(b"\xC3\x01garbage".to_vec())] {
        let record = rig.raw(payload);
        let handled = rig.handler.handle(&record, &cancel).await.unwrap();
        assert_eq!(handled, Handled::Undecodable);
    }
    let sms = samples::full_sms_delivery();
    assert_eq!(rig.handle(&sms).await, Handled::Undecodable);
    let dead = rig.publisher.to_topic(&rig.topics.dlq());
    let errors: Vec<_> = dead.iter().map(|d| header(d, DLQ_ERROR)).collect();
    assert_eq!(errors[0], Some("empty"));
    assert_eq!(errors[2], Some("wrong_channel"));
    assert!(rig.statuses().is_empty());
    assert_eq!(rig.provider.sends().len(), 0);
}

#[tokio::test]
async fn outages_pause_the_record_and_never_send_twice() {
    let rig = rig();
    let delivery = apns();
    rig.log.fail_reads(2);
    rig.log.fail_writes(2);
    rig.publisher.fail_next(2);
    assert_eq!(rig.handle(&delivery).await, Handled::Sent);
    assert_eq!(rig.provider.sends_to(TOKEN), 1);
    assert_eq!(rig.state(&delivery).as_deref(), Some("sent"));
    assert_eq!(rig.statuses().len(), 1);
}

#[tokio::test]
async fn cancellation_during_an_outage_abandons_the_record() {
    let rig = rig();
    rig.log.fail_writes(usize::MAX);
    let cancel = CancellationToken::new();
    let record = rig.record(&apns());
    let handle = rig.handler.handle(&record, &cancel);
    let cancel_later = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        cancel.cancel();
    };
    let (handled, ()) = tokio::join!(handle, cancel_later);
    assert!(handled.is_err(), "not durable, offset must not be stored");
    assert!(rig.statuses().is_empty());
}
