//! One tenant's oversized content cannot stop routing for the others: a render that overflows
//! its channel's cap, and a delivery the broker refuses for its size, each end that one delivery
//! with a terminal status while every other tenant's notifications keep flowing.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use notify_common::dead_letter::{DLQ_ERROR, DLQ_STAGE};
use notify_common::kafka;
use notify_ingest::auth::provision::create_tenant;
use notify_schemas::{Channel, EmailContent, Status, TemplateRef};
use notify_store::directory::{TemplateVariant, User};
use notify_store::tenants::CassandraTenants;
use notify_store::Directory;
use rdkafka::admin::{AdminOptions, AlterConfig, ResourceSpecifier};

use notify_it::Seen;
use notify_schemas::DeliveryStatus;

use crate::harness::{all_outputs, collect_until, deliveries, statuses, world, World};

/// A second tenant with `count` SMS users; returns the tenant id and the user ids.
async fn other_tenant(w: &World, count: usize) -> (String, Vec<String>) {
    let tenants = CassandraTenants::new(w.session.clone(), &w.config.store.keyspace)
        .await
        .expect("tenants");
    let tenant = create_tenant(&tenants, "bystander")
        .await
        .expect("tenant")
        .tenant_id;
    let mut users = Vec::new();
    for n in 0..count {
        let user = User {
            user_id: format!("bystander-{n}"),
            locale: Some("en".into()),
            time_zone: Some("UTC".into()),
            email: None,
            phone: Some(format!("+1415555{n:04}")),
            quiet_hours: None,
            opted_out: false,
            created_at_ms: 0,
            updated_at_ms: 0,
        };
        w.directory.put_user(&tenant, &user).await.expect("user");
        users.push(user.user_id);
    }
    (tenant, users)
}

/// Sends one SMS per bystander user of `tenant`; returns their event ids.
async fn send_bystanders(w: &World, tenant: &str, users: &[String]) -> Vec<notify_schemas::Uuid> {
    let mut ids = Vec::new();
    for user in users {
        let mut request = w.request(user, "orders", vec![Channel::Sms]);
        request.tenant = tenant.to_owned();
        w.send(&request).await;
        ids.push(request.event_id);
    }
    ids
}

/// With a router running, sends `big` first and, once it has had time to be batched alone, one
/// SMS per bystander; waits up to 30 s for every bystander's delivery and for `big`'s status
/// (and dead letter, if `dead_letter`), which it returns.
async fn route_big_then_bystanders(
    w: &World,
    big: &notify_schemas::NotificationRequest,
    bystander: &str,
    users: &[String],
    dead_letter: bool,
) -> (Vec<DeliveryStatus>, Vec<Seen>) {
    let read = w.consumer(&all_outputs(&w.topics));
    let running = w.start_router(notify_common::Health::new()).await;
    w.send(big).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let others = send_bystanders(w, bystander, users).await;
    let topics = w.topics.clone();
    let mut seen = Vec::new();
    let result = collect_until(&read, &mut seen, Duration::from_secs(30), |seen| {
        let routed: BTreeSet<_> = deliveries(seen, &topics)
            .into_iter()
            .map(|d| d.event_id)
            .filter(|id| others.contains(id))
            .collect();
        let ended: Vec<_> = statuses(seen, &topics)
            .into_iter()
            .filter(|s| s.event_id == big.event_id)
            .collect();
        let dead: Vec<_> = seen
            .iter()
            .filter(|s| s.topic == topics.dlq())
            .cloned()
            .collect();
        (routed.len() == others.len() && !ended.is_empty() && dead.is_empty() != dead_letter)
            .then_some((ended, dead))
    })
    .await;
    running.stop().await;
    result
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn an_oversized_template_fails_its_delivery_and_others_keep_flowing() {
    let w = world().await;
    w.user("hoarder", false).await;
    // 200 KB of markup ten times over: 2 MB rendered, twice the producer's record limit
    let html = format!(
        "{{% for i in range(10) %}}<p>{}</p>{{% endfor %}}",
        "x".repeat(200_000)
    );
    let variant = TemplateVariant {
        locale: "en".into(),
        channel: Channel::Email,
        title: None,
        body: None,
        subject: Some("Your digest".into()),
        html: Some(html),
        text: None,
        data: BTreeMap::new(),
    };
    w.directory
        .put_template(&w.tenant, "digest", &[variant])
        .await
        .expect("template");
    let (bystander, users) = other_tenant(&w, 5).await;

    let mut big = w.request("hoarder", "news", vec![Channel::Email]);
    big.content = None;
    big.template = Some(TemplateRef {
        template_id: "digest".into(),
        params: BTreeMap::new(),
    });
    let (ended, _) = route_big_then_bystanders(&w, &big, &bystander, &users, false).await;
    let ended = &ended[0];
    assert_eq!(ended.status, Status::Failed, "{ended:?}");
    let reason = ended.reason.as_deref().unwrap_or_default();
    assert!(
        reason.starts_with("render_failed") && reason.contains("too large"),
        "{reason}"
    );
    w.drop_keyspace().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn a_delivery_the_broker_refuses_is_dead_lettered_and_others_keep_flowing() {
    let w = world().await;
    w.user("writer", false).await;
    // an operator capped the email topic below what the router's email limit allows
    let email_topic = w.topics.deliveries("email");
    let admin = kafka::admin(&w.config.kafka, "it").expect("admin");
    let cap =
        AlterConfig::new(ResourceSpecifier::Topic(&email_topic)).set("max.message.bytes", "8000");
    let altered = admin
        .alter_configs(&[cap], &AdminOptions::new())
        .await
        .expect("alter configs");
    assert!(altered.iter().all(Result::is_ok), "{altered:?}");
    let (bystander, users) = other_tenant(&w, 5).await;

    // 40 KB of hex: fits the router's caps, lz4 leaves it well above the topic's 8 KB
    let noise: String = (0..20_000)
        .map(|_| format!("{:02x}", rand_byte()))
        .collect();
    let mut big = w.request("writer", "news", vec![Channel::Email]);
    big.content.as_mut().expect("content").email = Some(EmailContent {
        subject: "Report".into(),
        html: Some(format!("<pre>{noise}</pre>")),
        text: None,
    });
    let (ended, dead) = route_big_then_bystanders(&w, &big, &bystander, &users, true).await;
    assert_eq!(ended[0].status, Status::Failed, "{ended:?}");
    assert!(
        ended[0]
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("refused")),
        "{ended:?}"
    );
    assert_eq!(dead[0].header(DLQ_STAGE), Some("router"));
    assert_eq!(dead[0].header(DLQ_ERROR), Some("produce_refused"));
    w.drop_keyspace().await;
}

fn rand_byte() -> u8 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static STATE: AtomicU64 = AtomicU64::new(0x9e37_79b9_7f4a_7c15);
    // xorshift: enough to keep lz4 from shrinking the content
    let mut x = STATE.load(Ordering::Relaxed);
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    STATE.store(x, Ordering::Relaxed);
    (x >> 24) as u8
}
