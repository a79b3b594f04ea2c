//! The mixed workload: users seeded through the admin API, notifications sent through the batch
//! endpoint, and for every accepted notification the terminal statuses the pipeline must end
//! with, worked out from the same rules the router applies (the router section of
//! `docs/design.md`).
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
//! Users are seeded by `seed.rs`; the HTTP client is `api.rs`.

use notify_schemas::{delivery_id, Channel, Status, Uuid};
use serde_json::{json, Value};

use crate::api::Api;

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

/// How many deliveries of `channel` the accepted notifications `sent` must end with at a
/// provider.
pub fn expected_sends(sent: &[Sent], channel: Channel) -> usize {
    sent.iter()
        .flat_map(|s| &s.expected)
        .filter(|o| o.channel == channel && o.status == Status::Sent)
        .count()
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
