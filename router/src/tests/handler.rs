//! The routing decision of one record end to end, with the in-memory stores and a manual
//! clock: no Kafka, no database. "Now" is the wall clock's at the start of each test, because
//! the in-memory schedule (like the real one) stores rows far overdue as due now.

use std::sync::Arc;
use std::time::Duration;

use notify_common::clock::ManualClock;
use notify_common::config::RouterConfig;
use notify_common::dead_letter::{DLQ_ERROR, DLQ_OFFSET, DLQ_PARTITION, DLQ_STAGE, DLQ_TOPIC};
use notify_common::publish::Record;
use notify_common::topics::Topics;
use notify_schemas::{
    Codec, Delivery, DeliveryStatus, EmailContent, InlineContent, SmsContent, Status, Uuid,
};
use notify_store::directory::{Directory, MemoryDirectory};
use notify_store::notification_log::MemoryLog;
use notify_store::ratelog::MemoryRateLog;
use notify_store::schedule::{shard_of, MemorySchedule, Schedule, ScheduledItem};
use notify_store::settings::{
    MemorySettings, OverLimit, RateLimitRule, SettingsStore, TenantSettings,
};
use notify_store::suppressions::MemorySuppressions;
use notify_store::tenants::MemoryTenants;

use super::*;
use crate::cache::DirectoryCache;
use crate::handler::{Handler, Incoming, PolicyStores};

const REQUESTS: &str = "t.requests";
const HOUR_MS: i64 = 3_600_000;

/// A handler over in-memory stores holding tenant `acme` and its `user-1`.
pub(super) struct World {
    pub(super) handler: Handler,
    pub(super) directory: Arc<MemoryDirectory>,
    tenants: Arc<MemoryTenants>,
    pub(super) schedule: Arc<MemorySchedule>,
    /// The notification log the handler records its outcomes in.
    pub(super) log: Arc<MemoryLog>,
    pub(super) topics: Topics,
    pub(super) clock: Arc<ManualClock>,
    pub(super) now: i64,
}

impl World {
    pub(super) async fn new(settings: TenantSettings) -> Self {
        let now = notify_common::clock::now_ms();
        let directory = Arc::new(MemoryDirectory::new());
        directory.put_user("acme", &user()).await.expect("user");
        let tenants = acme_tenants().await;
        let stored = Arc::new(MemorySettings::new());
        stored
            .put_settings("acme", &settings)
            .await
            .expect("settings");
        let schedule = Arc::new(MemorySchedule::new());
        let log = Arc::new(MemoryLog::new());
        let stores = PolicyStores {
            tenants: tenants.clone(),
            settings: stored,
            rate_log: Arc::new(MemoryRateLog::new()),
            schedule: schedule.clone(),
            outcomes: log.clone(),
            suppressions: Arc::new(MemorySuppressions::new()),
        };
        let cache = DirectoryCache::new(directory.clone(), Duration::from_secs(60), 1_000);
        let topics = Topics::new("t");
        let clock = Arc::new(ManualClock::new(now));
        let handler = Handler::new(
            cache,
            stores,
            topics.clone(),
            RouterConfig::default(),
            clock.clone(),
        )
        .expect("codecs");
        Self {
            handler,
            directory,
            tenants,
            schedule,
            log,
            topics,
            clock,
            now,
        }
    }

    /// A request for SMS and email with inline content.
    pub(super) fn request(&self, channels: &[Channel]) -> NotificationRequest {
        NotificationRequest {
            content: Some(InlineContent {
                push: None,
                sms: Some(SmsContent {
                    text: "your order shipped".into(),
                }),
                email: Some(EmailContent {
                    subject: "Shipped".into(),
                    html: None,
                    text: Some("your order shipped".into()),
                }),
            }),
            created_at: self.now - 1_000,
            ..request(channels)
        }
    }

    pub(super) async fn handle(&self, request: &NotificationRequest) -> Vec<Record> {
        self.handle_incoming(&incoming(request)).await
    }

    pub(super) async fn handle_incoming(&self, record: &Incoming) -> Vec<Record> {
        self.handler.handle(record).await.expect("routed")
    }

    pub(super) fn deliveries(&self, records: &[Record], channel: Channel) -> Vec<Delivery> {
        let codec = Codec::<Delivery>::new().expect("codec");
        let topic = self.topics.deliveries(channel.as_str());
        records
            .iter()
            .filter(|r| r.topic == topic)
            .map(|r| {
                assert_eq!(r.key_str(), "acme:user-1", "keyed by user");
                codec.decode(&r.payload).expect("delivery")
            })
            .collect()
    }

    pub(super) fn statuses(&self, records: &[Record]) -> Vec<DeliveryStatus> {
        let codec = Codec::<DeliveryStatus>::new().expect("codec");
        records
            .iter()
            .filter(|r| r.topic == self.topics.status())
            .map(|r| codec.decode(&r.payload).expect("status"))
            .collect()
    }

    pub(super) fn dead_letters<'a>(&self, records: &'a [Record]) -> Vec<&'a Record> {
        records
            .iter()
            .filter(|r| r.topic == self.topics.dlq())
            .collect()
    }

    /// The schedule's rows of `event`, read as a sweep three hours from now would.
    pub(super) async fn scheduled(&self, event: Uuid) -> Vec<ScheduledItem> {
        let shard = shard_of("acme", &event.to_string());
        self.schedule
            .due(self.now + 3 * HOUR_MS, shard, 100)
            .await
            .expect("due")
    }
}

pub(super) fn incoming(request: &NotificationRequest) -> Incoming {
    Incoming {
        topic: REQUESTS.into(),
        partition: 2,
        offset: 41,
        key: Some(b"acme:user-1".to_vec()),
        payload: Some(encode(request)),
        deferred_until_ms: None,
        trace: None,
    }
}

fn encode(request: &NotificationRequest) -> Vec<u8> {
    Codec::<NotificationRequest>::new()
        .expect("codec")
        .encode(request)
        .expect("encode")
}

/// Checks that `statuses` is one status of the SMS channel, with `status` and `reason`.
fn assert_one_sms_status(statuses: &[DeliveryStatus], status: Status, reason: &str) {
    assert_eq!(statuses.len(), 1, "{statuses:?}");
    assert_eq!(statuses[0].status, status);
    assert_eq!(statuses[0].channel, Some(Channel::Sms));
    assert_eq!(statuses[0].reason.as_deref(), Some(reason));
}

pub(super) fn sms_limit(over_limit: OverLimit) -> TenantSettings {
    TenantSettings {
        rate_limits: vec![RateLimitRule {
            channel: Some("sms".into()),
            priorities: vec!["normal".into()],
            limit: 1,
            window_s: 3_600,
        }],
        over_limit,
        ..TenantSettings::default()
    }
}

#[tokio::test]
async fn each_channel_gets_a_delivery_on_its_topic() {
    let world = World::new(TenantSettings::default()).await;
    let records = world
        .handle(&world.request(&[Channel::Sms, Channel::Email]))
        .await;
    let sms = world.deliveries(&records, Channel::Sms);
    let email = world.deliveries(&records, Channel::Email);
    assert_eq!((sms.len(), email.len()), (1, 1), "{records:?}");
    assert_eq!(sms[0].channel, Channel::Sms);
    assert_eq!(sms[0].event_id, EVENT);
    assert_eq!(email[0].channel, Channel::Email);
    assert!(world.statuses(&records).is_empty(), "nothing suppressed");
    assert!(world.dead_letters(&records).is_empty());
}

/// Opts `user-1` out of `orders` by SMS.
pub(super) async fn opt_out_of_sms(world: &World) {
    world
        .directory
        .put_preferences(
            "acme",
            "user-1",
            &[preference("orders", Channel::Sms, false)],
        )
        .await
        .expect("preferences");
}

#[tokio::test]
async fn a_disabled_preference_suppresses_only_its_channel() {
    let world = World::new(TenantSettings::default()).await;
    opt_out_of_sms(&world).await;
    let records = world
        .handle(&world.request(&[Channel::Sms, Channel::Email]))
        .await;
    assert!(world.deliveries(&records, Channel::Sms).is_empty());
    assert_eq!(world.deliveries(&records, Channel::Email).len(), 1);
    assert_one_sms_status(&world.statuses(&records), Status::Suppressed, "opted_out");
}

#[tokio::test]
async fn an_unknown_tenant_is_dead_lettered_with_where_it_came_from() {
    let world = World::new(TenantSettings::default()).await;
    let mut request = world.request(&[Channel::Sms]);
    request.tenant = "ghost".into();
    let record = incoming(&request);
    let records = world.handle_incoming(&record).await;
    assert_eq!(records.len(), 1, "{records:?}");
    let dead = &records[0];
    assert_eq!(dead.topic, world.topics.dlq());
    assert_eq!(dead.key_str(), "acme:user-1");
    assert_eq!(
        Some(&dead.payload),
        record.payload.as_ref(),
        "the record as it came"
    );
    assert_eq!(dead.header_value(DLQ_ERROR), Some("unknown_tenant"));
    assert_eq!(dead.header_value(DLQ_STAGE), Some("router"));
    assert_eq!(dead.header_value(DLQ_TOPIC), Some(REQUESTS));
    assert_eq!(dead.header_value(DLQ_PARTITION), Some("2"));
    assert_eq!(dead.header_value(DLQ_OFFSET), Some("41"));
}

#[tokio::test]
async fn undecodable_and_empty_records_are_dead_lettered() {
    let world = World::new(TenantSettings::default()).await;
    let garbage = Incoming {
        payload: Some(b"not avro".to_vec()),
        ..incoming(&world.request(&[Channel::Sms]))
    };
    let records = world.handle_incoming(&garbage).await;
    assert_eq!(world.dead_letters(&records).len(), 1, "{records:?}");
    assert_eq!(records.len(), 1);
    assert!(records[0]
        .header_value(DLQ_ERROR)
        .is_some_and(|e| e != "empty"));

    let empty = Incoming {
        payload: None,
        ..garbage
    };
    let records = world.handle_incoming(&empty).await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].topic, world.topics.dlq());
    assert_eq!(records[0].header_value(DLQ_ERROR), Some("empty"));
}

#[tokio::test]
async fn a_store_outage_is_an_error_to_retry_not_a_dead_letter() {
    let world = World::new(TenantSettings::default()).await;
    world.tenants.set_unavailable(true);
    let err = world
        .handler
        .handle(&incoming(&world.request(&[Channel::Sms])))
        .await
        .expect_err("the tenant store is down");
    assert_eq!(err.dependency(), "database");
}

#[tokio::test]
async fn a_future_send_at_is_written_to_the_schedule_and_reported_scheduled() {
    let world = World::new(TenantSettings::default()).await;
    let mut request = world.request(&[Channel::Sms]);
    request.send_at = Some(world.now + HOUR_MS);
    let records = world.handle(&request).await;
    assert!(world.deliveries(&records, Channel::Sms).is_empty());
    let statuses = world.statuses(&records);
    assert_eq!(statuses.len(), 1);
    assert_eq!(statuses[0].status, Status::Scheduled);
    let rows = world.scheduled(EVENT).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].due_at_ms, world.now + HOUR_MS);
    assert_eq!(rows[0].reason, "send_at");
    assert_eq!(rows[0].routing_key, "acme:user-1");
    assert_eq!(rows[0].payload, encode(&request), "the request as it came");
}

/// Quiet hours from an hour ago to an hour ahead, in UTC.
fn quiet_now(now: i64) -> QuietHours {
    let minute = u16::try_from((now / 60_000).rem_euclid(1_440)).expect("a minute of the day");
    QuietHours {
        start_minute: (minute + 1_440 - 60) % 1_440,
        end_minute: (minute + 60) % 1_440,
    }
}

/// Gives `user-1` quiet hours around `world`'s now.
pub(super) async fn put_quiet_user(world: &World) {
    let quiet_user = User {
        time_zone: Some("UTC".into()),
        quiet_hours: Some(quiet_now(world.now)),
        ..user()
    };
    world
        .directory
        .put_user("acme", &quiet_user)
        .await
        .expect("user");
}

#[tokio::test]
async fn quiet_hours_defer_a_fresh_record_but_not_one_the_scheduler_re_emitted() {
    let world = World::new(TenantSettings::default()).await;
    put_quiet_user(&world).await;
    let request = world.request(&[Channel::Sms]);

    let fresh = world.handle(&request).await;
    assert!(world.deliveries(&fresh, Channel::Sms).is_empty());
    assert_eq!(
        world.scheduled(EVENT).await.len(),
        1,
        "held for quiet hours"
    );
    assert_eq!(world.scheduled(EVENT).await[0].reason, "quiet_hours");

    let reemitted = Incoming {
        deferred_until_ms: Some(world.now - 1_000),
        ..incoming(&request)
    };
    let records = world.handle_incoming(&reemitted).await;
    assert_eq!(
        world.deliveries(&records, Channel::Sms).len(),
        1,
        "{records:?}"
    );
    assert_eq!(world.scheduled(EVENT).await.len(), 1, "not held again");
}

/// Routes a first request (within the SMS limit) and a second one, over it.
pub(super) async fn second_over_the_limit(world: &World) -> (NotificationRequest, Vec<Record>) {
    let first = world.handle(&world.request(&[Channel::Sms])).await;
    assert_eq!(
        world.deliveries(&first, Channel::Sms).len(),
        1,
        "within the limit"
    );
    let second = NotificationRequest {
        event_id: Uuid::from_u128(2),
        ..world.request(&[Channel::Sms, Channel::Email])
    };
    let records = world.handle(&second).await;
    assert_eq!(
        world.deliveries(&records, Channel::Email).len(),
        1,
        "email has no limit"
    );
    assert!(world.deliveries(&records, Channel::Sms).is_empty());
    (second, records)
}

#[tokio::test]
async fn over_the_limit_a_suppressing_tenant_reports_rate_limited() {
    let world = World::new(sms_limit(OverLimit::Suppress)).await;
    let (second, records) = second_over_the_limit(&world).await;
    assert_one_sms_status(
        &world.statuses(&records),
        Status::Suppressed,
        "rate_limited",
    );
    assert!(world.scheduled(second.event_id).await.is_empty());
}

#[tokio::test]
async fn over_the_limit_a_deferring_tenant_schedules_the_limited_channels() {
    let world = World::new(sms_limit(OverLimit::Defer)).await;
    let (second, records) = second_over_the_limit(&world).await;
    assert_one_sms_status(&world.statuses(&records), Status::Scheduled, "rate_limited");
    let rows = world.scheduled(second.event_id).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].reason, "rate_limited");
    assert_eq!(
        rows[0].due_at_ms,
        world.now + HOUR_MS + 1,
        "when the window has room"
    );
    let held = Codec::<NotificationRequest>::new()
        .expect("codec")
        .decode(&rows[0].payload)
        .expect("request");
    assert_eq!(
        held.channels,
        vec![Channel::Sms],
        "only the limited channel waits"
    );
    assert_eq!(held.event_id, second.event_id);
}
