//! Deliveries in on the real channel topics, out through the fake provider; statuses, retries,
//! dead letters and committed offsets read back from the real stack.

use std::time::Duration;

use notify_common::clock::now_ms;
use notify_common::dead_letter::{DLQ_CHANNEL, DLQ_ERROR, DLQ_OFFSET, DLQ_STAGE, DLQ_TOPIC};
use notify_dispatchers::{Outcome, Reason};
use notify_it::{poll_until, unique};
use notify_schemas::{Channel, DeviceToken, Recipient, Stage, Status};
use notify_store::directory::{DeviceState, PushTarget, User};
use notify_store::Directory;

use crate::harness::{delivery, doomed_sms, sms, world};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn each_delivery_is_sent_once_reported_and_its_offset_committed() {
    let mut w = world(|_| {}).await;
    let tenant = unique("t");
    let deliveries: Vec<_> = (0..20)
        .map(|n| {
            sms(
                &tenant,
                &format!("u{}", n % 5),
                &format!("+8210000000{n:02}"),
                "hi",
            )
        })
        .collect();
    for d in &deliveries {
        w.produce(d).await;
    }
    w.start(Channel::Sms).await;
    w.read_until(|seen| seen.len() >= 20).await;
    // auto-commit (1 s) commits exactly what was stored while running, not only the drain
    let offsets = || std::future::ready(w.committed_and_end(Channel::Sms));
    let every = Duration::from_millis(500);
    let running = poll_until(Duration::from_secs(10), every, offsets, |(c, e)| c == e)
        .await
        .unwrap_or_else(|last| last);
    assert_eq!(
        running.0, running.1,
        "stored offsets are the next records to read"
    );
    w.stop().await;

    assert_eq!(w.provider.sends().len(), 20);
    for d in &deliveries {
        let statuses = w.statuses_of(d);
        assert_eq!(statuses.len(), 1, "one status per delivery");
        let status = &statuses[0];
        assert_eq!(status.status, Status::Sent);
        assert_eq!(status.stage, Stage::Dispatcher);
        assert_eq!(status.provider.as_deref(), Some("fake"));
        assert_eq!(status.attempt, 1);
        assert!(!status
            .recipient
            .as_deref()
            .unwrap_or_default()
            .contains(d.recipient_key()));
    }
    let (committed, ends) = w.committed_and_end(Channel::Sms);
    assert_eq!(committed, ends, "every offset committed after the drain");
}

trait Key {
    fn recipient_key(&self) -> &str;
}

impl Key for notify_schemas::Delivery {
    fn recipient_key(&self) -> &str {
        self.recipient.key()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn a_delivery_replayed_three_times_reaches_the_provider_once() {
    let mut w = world(|_| {}).await;
    let d = sms(&unique("t"), "u1", "+821011112222", "once");
    for _ in 0..3 {
        w.produce(&d).await;
    }
    w.start(Channel::Sms).await;
    w.read_until(|seen| seen.len() >= 3).await;
    w.read_for(Duration::from_secs(1)).await;
    w.stop().await;
    assert_eq!(w.provider.sends_to("+821011112222"), 1);
    let statuses = w.statuses_of(&d);
    assert_eq!(
        statuses.len(),
        3,
        "the recorded status is reported again, never changed"
    );
    assert!(statuses
        .iter()
        .all(|s| *s == statuses[0] && s.status == Status::Sent));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn transient_failures_are_retried_through_a_tier_then_sent() {
    let mut w = world(|_| {}).await;
    let phone = "+821033334444";
    let d = sms(&unique("t"), "u1", phone, "retry me");
    w.provider.script(
        phone,
        [
            Outcome::retry(Reason::ProviderUnavailable, "503"),
            Outcome::Retry {
                reason: Reason::RateLimited,
                after: Some(Duration::from_millis(700)),
                detail: "429".into(),
            },
        ],
    );
    w.produce(&d).await;
    w.start(Channel::Sms).await;
    w.read_until(|seen| seen.len() >= 3).await;
    w.stop().await;

    let statuses: Vec<_> = w
        .statuses_of(&d)
        .iter()
        .map(|s| (s.status, s.attempt))
        .collect();
    assert_eq!(
        statuses,
        vec![
            (Status::Retrying, 1),
            (Status::Retrying, 2),
            (Status::Sent, 3)
        ]
    );
    let sends = w.provider.sends();
    assert_eq!(sends.len(), 3);
    assert_eq!(
        sends.iter().map(|s| s.attempt).collect::<Vec<_>>(),
        vec![0, 1, 2]
    );
    assert!(
        sends[2].at_ms - sends[1].at_ms >= 700,
        "Retry-After honoured: {} ms",
        sends[2].at_ms - sends[1].at_ms
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn exhausted_retries_are_dead_lettered_with_reason_headers() {
    let phone = "+821055556666";
    let (mut w, d) = doomed_sms(phone, "doomed").await;
    w.read_until(|seen| seen.len() >= 4).await;
    w.stop().await;

    assert_eq!(w.provider.sends_to(phone), 3, "max_attempts = 3");
    let last = w.statuses_of(&d).last().cloned().expect("statuses");
    assert_eq!(last.status, Status::DeadLettered);
    assert_eq!(last.reason.as_deref(), Some("provider_unavailable"));
    let dead = w.dead_letters();
    assert_eq!(dead.len(), 1);
    let dead = &dead[0];
    assert_eq!(dead.header(DLQ_STAGE), Some("dispatcher"));
    assert_eq!(dead.header(DLQ_ERROR), Some("retries_exhausted"));
    assert_eq!(dead.header(DLQ_CHANNEL), Some("sms"));
    assert_eq!(
        dead.header(DLQ_TOPIC),
        Some(w.topics.deliveries("sms").as_str())
    );
    assert!(dead.header(DLQ_OFFSET).is_some());
    let replayable = notify_schemas::Codec::<notify_schemas::Delivery>::new()
        .unwrap()
        .decode(&dead.value)
        .expect("the dead letter is the delivery itself");
    assert_eq!(replayable.delivery_id, d.delivery_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn permanent_failure_fails_at_once_and_poison_pills_are_dead_lettered() {
    let mut w = world(|_| {}).await;
    let tenant = unique("t");
    let phone = "+821077778888";
    let d = sms(&tenant, "u1", phone, "bad");
    w.provider
        .script(phone, [Outcome::failed(Reason::BadAddress, "21211")]);
    let key = format!("{tenant}:u1");
    w.produce_raw(&w.topics.deliveries("sms"), &key, b"\xC3\x01not avro")
        .await;
    w.produce(&d).await;
    w.start(Channel::Sms).await;
    w.read_until(|seen| seen.len() >= 2).await;
    w.read_for(Duration::from_secs(2)).await;
    w.stop().await;

    let statuses = w.statuses_of(&d);
    assert_eq!(statuses.len(), 1, "no retry: {statuses:?}");
    assert_eq!(statuses[0].status, Status::Failed);
    assert_eq!(statuses[0].reason.as_deref(), Some("bad_address"));
    assert_eq!(w.provider.sends_to(phone), 1);
    let dead = w.dead_letters();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].value, b"\xC3\x01not avro");
    assert_ne!(dead[0].header(DLQ_ERROR), Some("retries_exhausted"));
    let (committed, ends) = w.committed_and_end(Channel::Sms);
    assert_eq!(
        committed, ends,
        "the poison pill does not stall its partition"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn an_invalid_token_disables_its_device_unless_registered_again_since() {
    let mut w = world(|_| {}).await;
    let tenant = unique("t");
    w.directory
        .put_user(&tenant, &User::new("u1"))
        .await
        .expect("user");
    let mut devices = Vec::new();
    for token in ["a".repeat(64), "b".repeat(64)] {
        let device = w
            .directory
            .put_device(
                &tenant,
                "u1",
                &PushTarget::Apns {
                    token: token.clone(),
                },
                None,
            )
            .await
            .expect("device")
            .record;
        let recipient = Recipient::DeviceToken(DeviceToken {
            token: token.clone(),
            device_id: Some(device.device_id.clone()),
        });
        devices.push((
            delivery(&tenant, "u1", Channel::Apns, recipient, "x"),
            device,
        ));
    }
    // gone since after the first registration; the second was registered after its timestamp
    let (gone, gone_device) = &devices[0];
    let (kept, kept_device) = &devices[1];
    w.provider.script(
        gone.recipient.key(),
        [Outcome::InvalidRecipient {
            reason: Reason::TokenInvalid,
            since: Some(gone_device.updated_at_ms + 1),
            detail: "410 Unregistered".into(),
        }],
    );
    w.provider.script(
        kept.recipient.key(),
        [Outcome::InvalidRecipient {
            reason: Reason::TokenInvalid,
            since: Some(kept_device.updated_at_ms - 60_000),
            detail: "410 Unregistered".into(),
        }],
    );
    w.produce(gone).await;
    w.produce(kept).await;
    w.start(Channel::Apns).await;
    w.read_until(|seen| seen.len() >= 2).await;
    w.stop().await;

    for (d, _) in &devices {
        let statuses = w.statuses_of(d);
        assert_eq!(statuses[0].status, Status::Failed);
        assert_eq!(statuses[0].reason.as_deref(), Some("token_invalid"));
    }
    let state = |id: &str| {
        let id = id.to_owned();
        let dir = &w.directory;
        let tenant = tenant.clone();
        async move {
            dir.get_device(&tenant, "u1", &id)
                .await
                .unwrap()
                .unwrap()
                .state
        }
    };
    assert!(matches!(
        state(&gone_device.device_id).await,
        DeviceState::Invalid { .. }
    ));
    assert_eq!(state(&kept_device.device_id).await, DeviceState::Active);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn an_expired_delivery_is_reported_expired_and_not_sent() {
    let mut w = world(|_| {}).await;
    let mut d = sms(&unique("t"), "u1", "+821099990000", "too late");
    d.expires_at = Some(now_ms() - 1_000);
    w.produce(&d).await;
    w.start(Channel::Sms).await;
    w.read_until(|seen| !seen.is_empty()).await;
    w.stop().await;
    assert_eq!(w.statuses_of(&d)[0].status, Status::Expired);
    assert!(w.provider.sends().is_empty());
}
