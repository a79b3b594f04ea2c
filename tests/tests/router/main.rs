//! The router against the real stack: requests in on a real topic, directory data in a real
//! keyspace, deliveries, statuses and dead letters read back from real topics.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use notify_common::config::Config;
use notify_common::kafka;
use notify_common::topics::{layout, Topics};
use notify_ingest::auth::provision::create_tenant;
use notify_it::{kafka_config, store_config, unique};
use notify_router::service::{DLQ_ERROR, DLQ_STAGE};
use notify_schemas::{
    samples, Channel, Codec, Delivery, DeliveryStatus, InlineContent, NotificationRequest,
    Priority, SmsContent, Status, TemplateRef, Uuid,
};
use notify_store::directory::{Category, Preference, PushTarget, TemplateVariant, User};
use notify_store::tenants::CassandraTenants;
use notify_store::{CassandraDirectory, Directory};
use rdkafka::consumer::StreamConsumer;
use rdkafka::message::{Headers, Message};
use rdkafka::producer::FutureRecord;
use rdkafka::util::Timeout;
use tokio_util::sync::CancellationToken;

/// A record read back: topic, value, headers.
type Seen = (String, Vec<u8>, Vec<(String, String)>);

struct World {
    config: Config,
    topics: Topics,
    directory: CassandraDirectory,
    tenant: String,
    session: Arc<scylla::client::session::Session>,
}

async fn world() -> World {
    let mut config = Config {
        kafka: kafka_config(),
        store: store_config(),
        ..Config::default()
    };
    config.router.group_id = unique("it-router");
    config.router.cache_ttl_ms = 200;
    let session = Arc::new(notify_store::connect(&config.store).await.expect("connect"));
    notify_store::migrate(&session, &config.store)
        .await
        .expect("migrate");
    let admin = kafka::admin(&config.kafka, "it").expect("admin");
    let mut specs = layout(&config.kafka);
    for spec in &mut specs {
        spec.partitions = 2;
    }
    kafka::ensure_topics(&admin, &specs, 1, Duration::from_secs(30))
        .await
        .expect("topics");
    let tenants = CassandraTenants::new(session.clone(), &config.store.keyspace)
        .await
        .expect("tenants");
    let tenant = create_tenant(&tenants, "router it")
        .await
        .expect("tenant")
        .tenant_id;
    let directory = CassandraDirectory::new(session.clone(), &config.store.keyspace)
        .await
        .expect("directory");
    World {
        topics: Topics::new(&config.kafka.topic_prefix),
        config,
        directory,
        tenant,
        session,
    }
}

impl World {
    async fn user(&self, user_id: &str, opted_out: bool) {
        let user = User {
            user_id: user_id.into(),
            locale: Some("ko-KR".into()),
            time_zone: Some("UTC".into()),
            email: Some(format!("{user_id}@example.com")),
            phone: Some("+821012345678".into()),
            quiet_hours: None,
            opted_out,
            created_at_ms: 0,
            updated_at_ms: 0,
        };
        self.directory
            .put_user(&self.tenant, &user)
            .await
            .expect("user");
        let token = "a".repeat(64);
        self.directory
            .put_device(
                &self.tenant,
                user_id,
                &PushTarget::Apns { token },
                Some("com.example.app"),
            )
            .await
            .expect("device");
    }

    fn request(
        &self,
        user_id: &str,
        category: &str,
        channels: Vec<Channel>,
    ) -> NotificationRequest {
        let mut request = samples::minimal_request();
        request.tenant = self.tenant.clone();
        request.event_id = Uuid::new_v4();
        request.user_id = user_id.into();
        request.category = category.into();
        request.priority = Priority::High;
        request.channels = channels;
        request.created_at = now_ms();
        request.content = Some(InlineContent {
            push: Some(notify_schemas::PushContent {
                title: "Sign-in".into(),
                body: "A new sign-in".into(),
                data: BTreeMap::new(),
                image_url: None,
                click_url: None,
                sound: None,
                badge: None,
            }),
            sms: Some(SmsContent {
                text: "A new sign-in".into(),
            }),
            email: None,
        });
        request
    }

    async fn publish(&self, key: &str, payload: &[u8]) {
        let producer = kafka::producer(&self.config.kafka, "it").expect("producer");
        producer
            .send(
                FutureRecord::to(&self.topics.requests())
                    .key(key)
                    .payload(payload),
                Timeout::After(Duration::from_secs(10)),
            )
            .await
            .map_err(|(e, _)| e)
            .expect("produce");
    }

    async fn send(&self, request: &NotificationRequest) {
        let payload = Codec::<NotificationRequest>::new()
            .expect("codec")
            .encode(request)
            .expect("encode");
        self.publish(&format!("{}:{}", request.tenant, request.user_id), &payload)
            .await;
    }

    fn consumer(&self, topics: &[String]) -> StreamConsumer {
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        kafka::consumer(&self.config.kafka, "it", &unique("it-read"), &names).expect("consumer")
    }

    /// Runs a router until `done` says the collected records suffice (or 60 s pass).
    async fn route_until<T>(
        &self,
        read: &StreamConsumer,
        mut done: impl FnMut(&[Seen]) -> Option<T>,
    ) -> T {
        let parts = notify_router::stage::build(&self.config)
            .await
            .expect("router");
        let cancel = CancellationToken::new();
        let scheduler = tokio::spawn(parts.scheduler.run(cancel.clone()));
        let router = tokio::spawn({
            let cancel = cancel.clone();
            async move { parts.router.run(cancel).await }
        });
        let mut seen = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let result = loop {
            if let Some(result) = done(&seen) {
                break result;
            }
            let Ok(message) = tokio::time::timeout_at(deadline, read.recv())
                .await
                .unwrap_or_else(|_| {
                    panic!("expected records not seen within 60 s: {} seen", seen.len())
                })
            else {
                // a topic created moments ago may not be known to the consumer yet
                continue;
            };
            let headers = message
                .headers()
                .map(|h| {
                    h.iter()
                        .map(|h| {
                            (
                                h.key.to_owned(),
                                String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            seen.push((
                message.topic().to_owned(),
                message.payload().unwrap_or_default().to_vec(),
                headers,
            ));
        };
        cancel.cancel();
        router.await.expect("router task").expect("router run");
        scheduler
            .await
            .expect("scheduler task")
            .expect("scheduler run");
        result
    }

    async fn drop_keyspace(&self) {
        self.session
            .query_unpaged(format!("DROP KEYSPACE {}", self.config.store.keyspace), ())
            .await
            .expect("drop");
    }
}

fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_millis(),
    )
    .expect("ms")
}

fn deliveries(seen: &[Seen], topics: &Topics) -> Vec<Delivery> {
    let codec = Codec::<Delivery>::new().expect("codec");
    seen.iter()
        .filter(|(t, _, _)| t.starts_with(&format!("{}.deliveries.", topics_prefix(topics))))
        .map(|(_, p, _)| codec.decode(p).expect("delivery"))
        .collect()
}

fn statuses(seen: &[Seen], topics: &Topics) -> Vec<DeliveryStatus> {
    let codec = Codec::<DeliveryStatus>::new().expect("codec");
    seen.iter()
        .filter(|(t, _, _)| *t == topics.status())
        .map(|(_, p, _)| codec.decode(p).expect("status"))
        .collect()
}

fn topics_prefix(topics: &Topics) -> String {
    topics.requests().trim_end_matches(".requests").to_owned()
}

fn all_outputs(topics: &Topics) -> Vec<String> {
    let mut names = vec![topics.status(), topics.dlq()];
    for channel in notify_common::topics::CHANNELS {
        names.push(topics.deliveries(channel));
        names.push(topics.deliveries_bulk(channel));
    }
    names
}

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
    let topics = w.topics.clone();
    let (delivered, reported) = w
        .route_until(&read, |seen| {
            let d = deliveries(seen, &topics);
            let s = statuses(seen, &topics);
            (d.len() >= 3 && s.len() >= 2).then_some((d, s))
        })
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
    let topics = w.topics.clone();
    let (delivered, reported) = w
        .route_until(&read, |seen| {
            let d = deliveries(seen, &topics);
            let s = statuses(seen, &topics);
            (d.len() >= 2 && !s.is_empty()).then_some((d, s))
        })
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
            let dead = seen.iter().filter(|(t, _, _)| *t == topics.dlq()).count();
            let done = deliveries(seen, &topics)
                .iter()
                .any(|d| d.event_id == good.event_id);
            (dead >= 2 && done && !statuses(seen, &topics).is_empty()).then(|| seen.to_vec())
        })
        .await;
    let dead: Vec<_> = seen
        .iter()
        .filter(|(t, _, _)| *t == w.topics.dlq())
        .collect();
    let header = |h: &[(String, String)], name: &str| {
        h.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    };
    assert!(dead
        .iter()
        .all(|(_, _, h)| header(h, DLQ_STAGE).as_deref() == Some("router")));
    let errors: Vec<String> = dead
        .iter()
        .filter_map(|(_, _, h)| header(h, DLQ_ERROR))
        .collect();
    assert!(errors.iter().any(|e| e == "unknown_tenant"), "{errors:?}");
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
