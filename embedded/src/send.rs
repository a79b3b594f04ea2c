//! Sending sample notifications through the real HTTP API, bounded twice: at most
//! [`SendSettings::concurrency`] requests in flight, and at most [`SendSettings::window`]
//! notifications accepted but not yet finished. The window is what keeps the mock cluster's
//! unconsumed records far below its per-partition log limit whatever `N` is.
//!
//! The mix is deterministic: the `i`-th notification goes to user `i mod users` with the kind
//! (order update, promotion, sign-in code) rotating per round, so every user sees every kind.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::stream::{FuturesUnordered, StreamExt};
use notify_common::clock::now_ms;
use notify_schemas::Uuid;
use serde_json::{json, Value};

use crate::observe::Observer;
use crate::seed::{DemoTenant, ORDERS, PROMOTIONS, SECURITY};
use crate::EmbeddedError;

/// How hard to push.
#[derive(Debug, Clone, Copy)]
pub struct SendSettings {
    /// HTTP requests in flight at once.
    pub concurrency: usize,
    /// Notifications accepted and not yet finished before sending waits.
    pub window: usize,
    /// Attempts per notification while the API answers 429 or 503.
    pub attempts: u32,
}

impl Default for SendSettings {
    fn default() -> Self {
        Self {
            concurrency: 32,
            window: 200,
            attempts: 20,
        }
    }
}

/// The `i`-th sample notification for `users`: (user, JSON body).
pub fn sample(i: usize, users: &[String]) -> (String, Value) {
    const PRODUCTS: [&str; 4] = ["Rust mug", "ferris plush", "crab hoodie", "tokio sticker"];
    let user = users[i % users.len()].clone();
    let round = i / users.len();
    let product = PRODUCTS[i % PRODUCTS.len()];
    let body = match round % 3 {
        0 => json!({
            "user_id": user, "category": ORDERS, "priority": "high",
            "template": {"id": "order_shipped", "params": {"product": product}},
        }),
        1 => json!({
            "user_id": user, "category": PROMOTIONS, "priority": "bulk",
            "template": {"id": "weekly_deals", "params": {"product": product, "discount": "20%"}},
        }),
        _ => json!({
            "user_id": user, "category": SECURITY, "priority": "critical",
            "template": {"id": "security_code", "params": {"code": format!("{:06}", (i * 7919) % 1_000_000)}},
        }),
    };
    (user, body)
}

/// Accepted notifications: event id → accept time (ms since the epoch, when the 202 arrived).
pub type Accepted = HashMap<Uuid, i64>;

/// Users whose order updates together reach every channel: alice (APNs, web push, SMS,
/// email) and bruno (FCM).
pub const WARM_UP_USERS: [&str; 2] = [crate::seed::ALICE, crate::seed::BRUNO];

/// Sends one order update to each of [`WARM_UP_USERS`], so every consumer group has joined
/// and every provider connection is open before anything is measured; returns their event ids.
pub async fn warm_up(base_url: &str, tenant: &DemoTenant) -> Result<Vec<Uuid>, EmbeddedError> {
    let client = reqwest::Client::new();
    let url = Arc::new(format!("{base_url}/v1/notifications"));
    let run = Uuid::new_v4().simple().to_string();
    let mut events = Vec::new();
    for user in WARM_UP_USERS {
        let body = json!({
            "user_id": user, "category": ORDERS, "priority": "high",
            "template": {"id": "order_shipped", "params": {"product": "warm-up"}},
        });
        let event = post(
            client.clone(),
            url.clone(),
            tenant.app_key.clone(),
            tenant.app_secret.clone(),
            format!("warm-up-{run}-{user}"),
            body,
            SendSettings::default().attempts,
        )
        .await?;
        events.push(event);
    }
    Ok(events)
}

/// Sends `n` sample notifications to the API at `base_url` as the demo app; `progress` gets
/// (answered, accepted) after every answer. Fails if one is refused for good.
pub async fn send_mixed(
    base_url: &str,
    tenant: &DemoTenant,
    n: usize,
    settings: SendSettings,
    observer: &Observer,
    mut progress: impl FnMut(usize, usize),
) -> Result<Accepted, EmbeddedError> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(settings.concurrency)
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| EmbeddedError::Send(e.to_string()))?;
    let url = Arc::new(format!("{base_url}/v1/notifications"));
    let run = Uuid::new_v4().simple().to_string();
    let mut accepted = Accepted::new();
    // accepted and not seen finished yet; only these are looked at again, so the check costs
    // the window, not everything sent so far
    let mut open: HashSet<Uuid> = HashSet::new();
    let mut in_flight = FuturesUnordered::new();
    let mut next = 0;
    let mut answered = 0;
    while answered < n {
        while next < n && in_flight.len() < settings.concurrency {
            if open.len() + in_flight.len() >= settings.window {
                let tally = observer.tally();
                open.retain(|event| !tally.finished(event));
            }
            if open.len() + in_flight.len() >= settings.window {
                break;
            }
            let (_, body) = sample(next, &tenant.users);
            let key = format!("demo-{run}-{next}");
            in_flight.push(post(
                client.clone(),
                url.clone(),
                tenant.app_key.clone(),
                tenant.app_secret.clone(),
                key,
                body,
                settings.attempts,
            ));
            next += 1;
        }
        if in_flight.is_empty() {
            // the window is full: wait for the pipeline to finish some
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        if let Some(result) = in_flight.next().await {
            let event_id = result?;
            accepted.insert(event_id, now_ms());
            open.insert(event_id);
            answered += 1;
            progress(answered, accepted.len());
        }
    }
    Ok(accepted)
}

/// One notification, retried with the same idempotency key while the API says to come back.
pub(crate) async fn post(
    client: reqwest::Client,
    url: Arc<String>,
    key: String,
    secret: String,
    idempotency_key: String,
    body: Value,
    attempts: u32,
) -> Result<Uuid, EmbeddedError> {
    let mut wait = Duration::from_millis(100);
    for _ in 0..attempts {
        let response = client
            .post(url.as_str())
            .basic_auth(&key, Some(&secret))
            .header("idempotency-key", &idempotency_key)
            .json(&body)
            .send()
            .await;
        let response = match response {
            Ok(response) => response,
            Err(err) if err.is_timeout() || err.is_connect() => {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(2));
                continue;
            }
            Err(err) => return Err(EmbeddedError::Send(err.to_string())),
        };
        let status = response.status().as_u16();
        if status == 202 || status == 200 {
            let answer: Value = response
                .json()
                .await
                .map_err(|e| EmbeddedError::Send(format!("unreadable answer: {e}")))?;
            return answer["event_id"]
                .as_str()
                .and_then(|id| Uuid::parse_str(id).ok())
                .ok_or_else(|| EmbeddedError::Send(format!("answer without event id: {answer}")));
        }
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .map(Duration::from_secs);
        // a 409 with Retry-After is this key's own earlier attempt still in progress
        if status == 429 || status == 503 || (status == 409 && retry_after.is_some()) {
            tokio::time::sleep(retry_after.unwrap_or(wait)).await;
            wait = (wait * 2).min(Duration::from_secs(2));
            continue;
        }
        let text = response.text().await.unwrap_or_default();
        return Err(EmbeddedError::Send(format!(
            "the api answered {status}: {text}"
        )));
    }
    Err(EmbeddedError::Send(format!(
        "no answer but 429/503 after {attempts} attempts"
    )))
}
