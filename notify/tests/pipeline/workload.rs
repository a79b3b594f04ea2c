//! The mixed workload: users seeded through the admin API, notifications sent through the batch
//! endpoint, and for every accepted notification the terminal statuses the pipeline must end
//! with, worked out from the same rules the router applies (docs/design.md §5).
//!
//! | user `u<i>` | profile |
//! |---|---|
//! | every | email; locale `de` for odd `i`, else `en` |
//! | `i % 4 != 3` | phone (SMS) |
//! | `i % 3` | 0: an APNs token, 1: an FCM token, 2: a web push subscription |
//! | `i % 5 == 0` | a second device: an FCM token |
//! | `i % 7 == 1` | `promotions` disabled on email and SMS |
//! | `i % 17 == 5` | opted out of everything (only `security`, a critical category, reaches them) |
//! | `i % 13 == 2` (with `deferrals`) | quiet hours ending 40 to 100 s after seeding |
//!
//! Web push devices are written straight to the directory: the admin API accepts only https
//! endpoints, and the simulator serves plain HTTP on loopback.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use notify_schemas::{delivery_id, Channel, Status, Uuid};
use notify_store::directory::{Directory, PushTarget, WebPushSubscription};
use serde_json::{json, Value};

use crate::harness::{cassandra, Pipeline};

/// One delivery target of a user.
#[derive(Debug, Clone)]
pub struct Target {
    /// Channel.
    pub channel: Channel,
    /// Token, endpoint, number or address (the recipient key).
    pub key: String,
}

/// A seeded user.
#[derive(Debug, Clone)]
pub struct User {
    /// User id.
    pub id: String,
    /// Reachable targets, in the router's channel order.
    pub targets: Vec<Target>,
    /// Opted out of everything.
    pub opted_out: bool,
    /// `promotions` disabled on email and SMS.
    pub no_promotions_by_text: bool,
}

/// One terminal outcome expected for an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Channel.
    pub channel: Channel,
    /// Delivery id, when there is a recipient.
    pub delivery_id: Option<Uuid>,
    /// `Sent` or `Suppressed`.
    pub status: Status,
    /// Reason of a suppression.
    pub reason: Option<String>,
}

impl Outcome {
    fn order_key(&self) -> (&'static str, Option<Uuid>, String, Option<&str>) {
        (
            self.channel.as_str(),
            self.delivery_id,
            format!("{:?}", self.status),
            self.reason.as_deref(),
        )
    }
}

impl PartialOrd for Outcome {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Outcome {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.order_key().cmp(&other.order_key())
    }
}

/// An accepted notification and what it must end as.
#[derive(Debug, Clone)]
pub struct Sent {
    /// Event id the gateway answered.
    pub event_id: Uuid,
    /// Expected terminal outcomes, sorted.
    pub expected: Vec<Outcome>,
    /// Whether it was sent with a future `send_at`.
    pub scheduled: bool,
}

/// Workload shape.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Notifications to send.
    pub size: usize,
    /// Users to spread them over.
    pub users: usize,
    /// Seed quiet hours and send some notifications with `send_at` in the near future.
    pub deferrals: bool,
}

impl Shape {
    /// `size` notifications over about `size / 10` users (at least 31). The count is one more
    /// than a round number so that notification `j` (whose number picks its category and
    /// channels) and user `j % users` do not fall into step and leave profiles unexercised.
    pub fn new(size: usize, deferrals: bool) -> Self {
        Self {
            size,
            users: (size / 10).max(30) + 1,
            deferrals,
        }
    }
}

/// `NOTIFY_E2E_SIZE`, else `default`.
pub fn size_from_env(default: usize) -> usize {
    std::env::var("NOTIFY_E2E_SIZE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The HTTP API as the tenant's app.
#[derive(Debug, Clone)]
pub struct Api {
    client: reqwest::Client,
    base: String,
    /// The app's tenant.
    pub tenant: String,
    key: String,
    secret: String,
}

impl Api {
    /// A client for `pipeline`'s gateway.
    pub fn new(pipeline: &Pipeline) -> Self {
        Self {
            client: reqwest::Client::new(),
            base: pipeline.api.clone(),
            tenant: pipeline.app.tenant.clone(),
            key: pipeline.app.key.clone(),
            secret: pipeline.app.secret.clone(),
        }
    }

    /// A request with the app's credentials; the answer's status and JSON body.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Value,
        idempotency_key: Option<&str>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .basic_auth(&self.key, Some(&self.secret))
            .json(body);
        if let Some(key) = idempotency_key {
            request = request.header("idempotency-key", key);
        }
        let response = request.send().await.context("call the API")?;
        let status = response.status().as_u16();
        let body = response.json::<Value>().await.unwrap_or(Value::Null);
        Ok((status, body))
    }

    async fn put(&self, path: &str, body: Value) -> anyhow::Result<()> {
        let (status, answer) = self.call(reqwest::Method::PUT, path, &body, None).await?;
        if !(200..300).contains(&status) {
            bail!("PUT {path}: {status} {answer}");
        }
        Ok(())
    }

    async fn post(&self, path: &str, body: Value) -> anyhow::Result<()> {
        let (status, answer) = self.call(reqwest::Method::POST, path, &body, None).await?;
        if !(200..300).contains(&status) {
            bail!("POST {path}: {status} {answer}");
        }
        Ok(())
    }

    /// Sends `items` as one batch with `key`, again and again until every item is accepted
    /// (a 503 item is retried with the same key, so it is never accepted twice); the event id of
    /// each item.
    pub async fn send_batch(
        &self,
        items: &[Value],
        key: Option<&str>,
    ) -> anyhow::Result<Vec<Uuid>> {
        for _attempt in 0..20 {
            let body = json!({ "items": items });
            let (status, answer) = self
                .call(reqwest::Method::POST, "/v1/notifications/batch", &body, key)
                .await?;
            if status != 207 {
                bail!("batch answered {status}: {answer}");
            }
            let results = answer["results"].as_array().context("results")?;
            let ids: Vec<Option<Uuid>> = results
                .iter()
                .map(|r| {
                    (r["status"] == 202)
                        .then(|| r["event_id"].as_str().and_then(|s| Uuid::parse_str(s).ok()))
                        .flatten()
                })
                .collect();
            if ids.iter().all(Option::is_some) {
                return Ok(ids.into_iter().flatten().collect());
            }
            let failed: Vec<&Value> = results.iter().filter(|r| r["status"] != 202).collect();
            if key.is_none() {
                bail!("items not accepted in a batch without a key: {failed:?}");
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        bail!("batch items still not accepted after 20 attempts")
    }
}

/// Now, in Unix milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn variants(locale: &str, hello: &str) -> Vec<Value> {
    let push = |channel: &str| {
        json!({"locale": locale, "channel": channel, "title": format!("{hello} {{{{name}}}}"),
               "body": "order {{order_id}} is on its way"})
    };
    vec![
        push("apns"),
        push("fcm"),
        push("webpush"),
        json!({"locale": locale, "channel": "sms", "text": format!("{hello}: order {{{{order_id}}}} shipped")}),
        json!({"locale": locale, "channel": "email", "subject": format!("{hello}: order {{{{order_id}}}}"),
               "text": "your order {{order_id}} shipped"}),
    ]
}

/// Seeds categories, a template in two locales, and `shape.users` users with their devices and
/// preferences.
pub async fn seed(pipeline: &Pipeline, api: &Api, shape: Shape) -> anyhow::Result<Vec<User>> {
    for (id, critical) in [("orders", false), ("promotions", false), ("security", true)] {
        api.put(
            &format!("/v1/categories/{id}"),
            json!({"description": id, "critical": critical}),
        )
        .await?;
    }
    let mut all = variants("en", "Hello");
    all.extend(variants("de", "Hallo"));
    api.put("/v1/templates/order_update", json!({ "variants": all }))
        .await?;

    let store = notify_common::config::StoreConfig {
        nodes: vec![cassandra()],
        keyspace: pipeline.keyspace.clone(),
        ..Default::default()
    };
    let session = Arc::new(notify_store::connect(&store).await?);
    let directory = notify_store::CassandraDirectory::new(session, &pipeline.keyspace).await?;
    let webpush = pipeline.sims.get("webpush").context("webpush simulator")?;
    // quiet hours end 40 to 100 s from now: after the stages start, soon enough for CI
    let minute = ((now_ms() + 100_000) / 60_000 % 1440) as u16;

    let mut users = Vec::new();
    for i in 0..shape.users {
        users.push(seed_user(api, &directory, webpush, i, shape.deferrals, minute).await?);
    }
    Ok(users)
}

async fn seed_user(
    api: &Api,
    directory: &notify_store::CassandraDirectory,
    webpush: &str,
    i: usize,
    deferrals: bool,
    minute: u16,
) -> anyhow::Result<User> {
    let id = format!("u{i}");
    let email = format!("user{i}@example.com");
    let phone = (i % 4 != 3).then(|| format!("+1555{i:07}"));
    let opted_out = i % 17 == 5;
    let quiet = deferrals && i % 13 == 2;
    let mut body = json!({
        "locale": if i % 2 == 1 { "de" } else { "en" },
        "time_zone": "UTC",
        "email": email,
        "opted_out": opted_out,
    });
    if let Some(phone) = &phone {
        body["phone"] = json!(phone);
    }
    if quiet {
        // started a while ago, ends in about a minute
        body["quiet_hours"] = json!({
            "start_minute": (minute + 1440 - 30) % 1440,
            "end_minute": minute,
        });
    }
    api.put(&format!("/v1/users/{id}"), body).await?;

    let mut push = Vec::new();
    match i % 3 {
        0 => {
            let token = format!("{:0>64x}", i as u128 * 7919 + 1);
            api.post(
                &format!("/v1/users/{id}/devices"),
                json!({"platform": "apns", "token": token}),
            )
            .await?;
            push.push(Target {
                channel: Channel::Apns,
                key: token,
            });
        }
        1 => push.push(fcm_device(api, &id, i, "a").await?),
        _ => {
            let sub: Value = reqwest::Client::new()
                .post(format!("{webpush}/_sim/webpush/subscriptions"))
                .send()
                .await?
                .json()
                .await?;
            let endpoint = sub["endpoint"].as_str().context("endpoint")?.to_owned();
            let target = PushTarget::WebPush {
                subscription: WebPushSubscription {
                    endpoint: endpoint.clone(),
                    p256dh: sub["p256dh"].as_str().context("p256dh")?.to_owned(),
                    auth: sub["auth"].as_str().context("auth")?.to_owned(),
                },
            };
            directory
                .put_device(&api.tenant, &id, &target, None)
                .await?;
            push.push(Target {
                channel: Channel::WebPush,
                key: endpoint,
            });
        }
    }
    if i % 5 == 0 && i % 3 != 1 {
        push.push(fcm_device(api, &id, i, "b").await?);
    }
    let no_promotions_by_text = i % 7 == 1;
    if no_promotions_by_text {
        api.put(
            &format!("/v1/users/{id}/preferences"),
            json!({"preferences": [
                {"category": "promotions", "channel": "email", "enabled": false},
                {"category": "promotions", "channel": "sms", "enabled": false},
            ]}),
        )
        .await?;
    }
    // the router's channel order: APNs, FCM, web push, SMS, email; devices by device id
    let mut targets = Vec::new();
    for channel in [Channel::Apns, Channel::Fcm, Channel::WebPush] {
        targets.extend(push.iter().filter(|t| t.channel == channel).cloned());
    }
    if let Some(phone) = phone {
        targets.push(Target {
            channel: Channel::Sms,
            key: phone,
        });
    }
    targets.push(Target {
        channel: Channel::Email,
        key: email,
    });
    Ok(User {
        id,
        targets,
        opted_out,
        no_promotions_by_text,
    })
}

async fn fcm_device(api: &Api, id: &str, i: usize, tag: &str) -> anyhow::Result<Target> {
    let token = format!("fcm{tag}{i}:{}", "x".repeat(140));
    api.post(
        &format!("/v1/users/{id}/devices"),
        json!({"platform": "fcm", "token": token}),
    )
    .await?;
    Ok(Target {
        channel: Channel::Fcm,
        key: token,
    })
}

/// The `j`th notification of the workload: its JSON and which channels it names.
pub fn item(j: usize, user: &User, send_at: Option<&str>) -> Value {
    let (category, priority) = category_of(j);
    let mut item = json!({"user_id": user.id, "category": category, "priority": priority});
    if let Some(channels) = channels_of(j, user) {
        let names: Vec<&str> = channels.iter().map(|c| c.as_str()).collect();
        item["channels"] = json!(names);
    }
    if category == "promotions" {
        item["content"] = json!({
            "push": {"title": "Sale", "body": format!("offer {j}")},
            "sms": {"text": format!("offer {j}")},
            "email": {"subject": format!("offer {j}"), "text": "see the shop"},
        });
    } else {
        item["template"] =
            json!({"id": "order_update", "params": {"name": user.id, "order_id": j.to_string()}});
    }
    if let Some(at) = send_at {
        item["send_at"] = json!(at);
    }
    item
}

fn category_of(j: usize) -> (&'static str, &'static str) {
    match j % 10 {
        7 | 8 => ("promotions", "bulk"),
        9 => ("security", "high"),
        n if n % 2 == 0 => ("orders", "normal"),
        _ => ("orders", "high"),
    }
}

/// Named channels, `None` for "every channel the user has".
fn channels_of(j: usize, user: &User) -> Option<Vec<Channel>> {
    match j % 4 {
        0 => None,
        1 => Some(vec![Channel::Sms, Channel::Email]),
        2 => Some(vec![user.targets[0].channel]),
        _ => Some(vec![Channel::Apns, Channel::Email]),
    }
}

/// What notification `j` to `user` must end as.
pub fn expected(tenant: &str, event_id: Uuid, j: usize, user: &User) -> Vec<Outcome> {
    let (category, _) = category_of(j);
    let critical = category == "security";
    let channels = channels_of(j, user).unwrap_or_else(|| {
        let mut present: Vec<Channel> = user.targets.iter().map(|t| t.channel).collect();
        present.dedup();
        present
    });
    let mut out = Vec::new();
    for channel in channels {
        let targets: Vec<&Target> = user
            .targets
            .iter()
            .filter(|t| t.channel == channel)
            .collect();
        if targets.is_empty() {
            let reason = match channel {
                Channel::Sms | Channel::Email => "no_contact",
                _ => "no_device",
            };
            out.push(Outcome {
                channel,
                delivery_id: None,
                status: Status::Suppressed,
                reason: Some(reason.into()),
            });
            continue;
        }
        let text = matches!(channel, Channel::Sms | Channel::Email);
        let opted_out = !critical
            && (user.opted_out || (category == "promotions" && text && user.no_promotions_by_text));
        for target in targets {
            out.push(Outcome {
                channel,
                delivery_id: Some(delivery_id(tenant, event_id, channel, &target.key)),
                status: if opted_out {
                    Status::Suppressed
                } else {
                    Status::Sent
                },
                reason: opted_out.then(|| "opted_out".to_owned()),
            });
        }
    }
    out.sort();
    out
}

/// Sends the notifications numbered `range` in batches of `batch` with idempotency keys
/// `<run>-<first number>`; with `shape.deferrals`, one batch in 25 carries a `send_at` 15 s ahead.
pub async fn send_range(
    api: &Api,
    tenant: &str,
    users: &[User],
    shape: Shape,
    run: &str,
    batch: usize,
    range: std::ops::Range<usize>,
) -> anyhow::Result<Vec<Sent>> {
    let mut sent = Vec::new();
    let numbers: Vec<usize> = range.collect();
    for chunk in numbers.chunks(batch) {
        let first = chunk[0];
        let scheduled = shape.deferrals && (first / batch) % 25 == 1;
        let send_at = scheduled.then(|| {
            let at = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(15);
            at.to_string()
        });
        let items: Vec<Value> = chunk
            .iter()
            .map(|&j| item(j, &users[j % users.len()], send_at.as_deref()))
            .collect();
        let key = format!("{run}-{first}");
        let ids = api.send_batch(&items, Some(&key)).await?;
        for (&j, event_id) in chunk.iter().zip(ids) {
            sent.push(Sent {
                event_id,
                expected: expected(tenant, event_id, j, &users[j % users.len()]),
                scheduled,
            });
        }
    }
    Ok(sent)
}
