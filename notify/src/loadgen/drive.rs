//! The open-loop sender: notifications leave on a fixed schedule whatever the API's answers
//! do, so a slow answer shows as latency rather than as a lower offered rate (a closed-loop
//! tool such as wrk waits for answers and hides the queueing it causes).
//!
//! Each notification goes to one channel, rotating through the chosen ones, and to user
//! `i mod users`. In batch mode one request carries `batch` notifications (fewer below 10
//! requests a second) and requests leave at `rate / batch` per second. At most [`Drive::max_in_flight`] requests are outstanding; a
//! send due while that many are is not made and is counted as skipped, which fails the step.

use std::sync::Arc;
use std::time::{Duration, Instant};

use notify_common::clock::now_ms;
use notify_schemas::{delivery_id, Channel, Uuid};
use serde_json::{json, Value};
use tokio::sync::Semaphore;

use super::produce::{Item, KafkaTarget};
use super::providers::ProviderTarget;
use super::setup::{LoadTenant, CATEGORY};
use super::track::{Sent, Tracker};

/// How the generator reaches the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// `POST /v1/notifications`, one notification a request.
    Single,
    /// `POST /v1/notifications/batch`.
    Batch,
    /// Straight to `notify.requests`, as a producer would (`--batch` records a send).
    Kafka,
    /// Rendered deliveries straight to `notify.deliveries.<channel>`: the dispatchers alone.
    Deliveries,
    /// Rendered deliveries sent by the provider clients from the generator: the simulators
    /// alone.
    Providers,
}

/// Where the sends of a run go, besides the API.
#[derive(Debug, Clone)]
pub enum Target {
    /// The ingest API (`--mode single` and `batch`).
    Api,
    /// A producer (`--mode kafka` and `deliveries`).
    Kafka(Arc<KafkaTarget>),
    /// The provider clients (`--mode providers`).
    Providers(Arc<ProviderTarget>),
}

/// One sender, shared by every phase of a run.
#[derive(Debug, Clone)]
pub struct Drive {
    pub client: reqwest::Client,
    pub api: String,
    pub mode: Mode,
    pub batch: usize,
    pub channels: Vec<Channel>,
    pub tenant: Arc<LoadTenant>,
    pub tracker: Tracker,
    pub max_in_flight: usize,
    pub target: Target,
}

/// The body of the `i`-th notification of a run: (channel, JSON).
fn notification(i: u64, channel: Channel, user: &str) -> Value {
    let text = format!("load {i}");
    let content = match channel {
        Channel::Apns | Channel::Fcm | Channel::WebPush => {
            json!({"push": {"title": "load", "body": text}})
        }
        Channel::Sms => json!({"sms": {"text": text}}),
        Channel::Email => json!({"email": {"subject": text, "text": "load run"}}),
    };
    json!({
        "user_id": user,
        "category": CATEGORY,
        "channels": [channel.as_str()],
        "content": content,
    })
}

impl Drive {
    /// Sends at `rate` notifications per second for `length`, numbering from `first`; returns
    /// the next number. Waits for the last answers before returning.
    pub async fn run(&self, phase: usize, rate: f64, length: Duration, first: u64) -> u64 {
        // at least ten requests a second, so a low rate is not lumped into a few big batches
        let per_request = match self.mode {
            Mode::Single => 1,
            Mode::Batch | Mode::Kafka | Mode::Deliveries | Mode::Providers => {
                self.batch.clamp(1, (rate / 10.0).max(1.0) as usize)
            }
        };
        let interval = Duration::from_secs_f64(per_request as f64 / rate.max(0.001));
        let requests = (length.as_secs_f64() / interval.as_secs_f64()).round() as u64;
        let slots = Arc::new(Semaphore::new(self.max_in_flight));
        let start = Instant::now();
        let mut next = first;
        for k in 0..requests {
            let due = start + interval.mul_f64(k as f64);
            tokio::time::sleep_until(due.into()).await;
            let count = per_request as u64;
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                self.tracker.skipped(phase, count);
                next += count;
                continue;
            };
            let this = self.clone();
            let due_ms = now_ms() - due.elapsed().as_millis() as i64;
            tokio::spawn(async move {
                this.send(phase, next, count, due_ms).await;
                drop(slot);
            });
            next += count;
        }
        // every answer is in once every slot is free again
        let _all = slots.acquire_many(self.max_in_flight as u32).await;
        next
    }

    /// The channel and user of the `i`-th notification.
    fn target(&self, i: u64) -> (Channel, usize) {
        let channels = self.channels.len().max(1) as u64;
        let channel = self.channels[(i % channels) as usize];
        // a user gets every channel in turn rather than always the same one
        let user = ((i / channels) % self.tenant.users.len() as u64) as usize;
        (channel, user)
    }

    async fn send(&self, phase: usize, first: u64, count: u64, due_ms: i64) {
        let items: Vec<(Channel, usize)> = (first..first + count).map(|i| self.target(i)).collect();
        // deliveries are built from the user; only requests need the API body
        let body = |i: u64, (channel, user): (Channel, usize)| match self.mode {
            Mode::Deliveries | Mode::Providers => Value::Null,
            _ => notification(i, channel, &self.tenant.users[user].id),
        };
        let built = || -> Vec<Item<'_>> {
            (first..)
                .zip(&items)
                .map(|(index, &(channel, user))| Item {
                    index,
                    channel,
                    user: &self.tenant.users[user],
                    body: body(index, (channel, user)),
                })
                .collect()
        };
        let events = match &self.target {
            Target::Kafka(kafka) => kafka.send(&self.tenant.tenant_id, built()).await,
            Target::Providers(providers) => providers.send(&self.tenant.tenant_id, built()).await,
            Target::Api => {
                let bodies: Vec<Value> = (first..).zip(&items).map(|(i, &t)| body(i, t)).collect();
                self.post(&bodies).await
            }
        };
        let accepted_ms = now_ms();
        let api_ms = u32::try_from((accepted_ms - due_ms).max(0)).unwrap_or(u32::MAX);
        let mut failed = 0;
        for ((channel, user), event) in items.into_iter().zip(events) {
            let Some(event) = event else {
                failed += 1;
                continue;
            };
            let key = self.tenant.users[user].key(channel);
            let sent = Sent {
                event,
                delivery: delivery_id(&self.tenant.tenant_id, event, channel, key),
                channel,
            };
            self.tracker.accepted(phase, sent, accepted_ms, api_ms);
        }
        if failed > 0 {
            self.tracker.failed(phase, failed);
        }
    }

    /// Sends `bodies` to the API; the event id of each accepted one.
    async fn post(&self, bodies: &[Value]) -> Vec<Option<Uuid>> {
        let request = match self.mode {
            Mode::Single => self
                .client
                .post(format!("{}/v1/notifications", self.api))
                .json(&bodies[0]),
            _ => self
                .client
                .post(format!("{}/v1/notifications/batch", self.api))
                .json(&json!({ "items": bodies })),
        };
        let answer = request
            .basic_auth(&self.tenant.app_key, Some(&self.tenant.app_secret))
            .send()
            .await;
        match answer {
            Ok(response) if response.status().is_success() => {
                match response.json::<Value>().await {
                    Ok(body) => event_ids(self.mode, &body, bodies.len()),
                    Err(_) => vec![None; bodies.len()],
                }
            }
            _ => vec![None; bodies.len()],
        }
    }
}

/// The event id of each notification an answer accepted, in request order.
fn event_ids(mode: Mode, body: &Value, count: usize) -> Vec<Option<Uuid>> {
    let parse = |v: &Value| v.as_str().and_then(|s| Uuid::parse_str(s).ok());
    match mode {
        Mode::Single => vec![parse(&body["event_id"])],
        _ => {
            let mut ids = vec![None; count];
            for item in body["results"].as_array().into_iter().flatten() {
                let ok = item["status"]
                    .as_u64()
                    .is_some_and(|s| s == 200 || s == 202);
                if let (Some(index), true) = (item["index"].as_u64(), ok) {
                    if let Some(slot) = ids.get_mut(index as usize) {
                        *slot = parse(&item["event_id"]);
                    }
                }
            }
            ids
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_answer_gives_the_ids_of_the_accepted_items_in_request_order() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let body = json!({"results": [
            {"index": 2, "status": 202, "event_id": a.to_string()},
            {"index": 0, "status": 202, "event_id": b.to_string()},
            {"index": 1, "status": 422, "errors": []},
        ]});
        assert_eq!(event_ids(Mode::Batch, &body, 3), [Some(b), None, Some(a)]);
        let single = json!({"event_id": a.to_string()});
        assert_eq!(event_ids(Mode::Single, &single, 1), [Some(a)]);
    }

    #[test]
    fn each_channel_gets_its_own_content_only() {
        let sms = notification(7, Channel::Sms, "u1");
        assert_eq!(sms["channels"], json!(["sms"]));
        assert_eq!(sms["content"], json!({"sms": {"text": "load 7"}}));
        let push = notification(8, Channel::WebPush, "u1");
        assert_eq!(push["content"]["push"]["body"], "load 8");
    }
}
