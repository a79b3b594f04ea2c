//! `GET /v1/notifications/{event_id}` on the embedded pipeline answers for every accepted
//! notification, including the ones the router decided without a delivery: an opted-out user's
//! (suppressed, `opted_out`) and a user in quiet hours (scheduled, `quiet_hours`). The router
//! records those outcomes before it publishes their statuses, so once the status is on
//! `notify.status` the look-up must find it. The same for a promotion over the demo tenant's
//! SMS rate limit (suppressed, `rate_limited`).

mod common;

use std::time::Duration;

use common::start;
use notify_embedded::seed::{ALICE, BULK_SMS_PER_HOUR, CHEN, DANA, ORDERS, PROMOTIONS};
use notify_embedded::{send, Embedded, Observer};
use serde_json::{json, Value};
use uuid::Uuid;

async fn notify(embedded: &Embedded, body: Value) -> Uuid {
    let answer: Value = reqwest::Client::new()
        .post(format!("http://{}/v1/notifications", embedded.api_addr))
        .basic_auth(&embedded.tenant.app_key, Some(&embedded.tenant.app_secret))
        .json(&body)
        .send()
        .await
        .expect("post")
        .json()
        .await
        .expect("json answer");
    Uuid::parse_str(answer["event_id"].as_str().expect("event id")).expect("uuid")
}

async fn look_up(embedded: &Embedded, event: Uuid) -> (u16, Value) {
    let response = reqwest::Client::new()
        .get(format!(
            "http://{}/v1/notifications/{event}",
            embedded.api_addr
        ))
        .basic_auth(&embedded.tenant.app_key, Some(&embedded.tenant.app_secret))
        .send()
        .await
        .expect("get");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn order(user: &str) -> Value {
    json!({
        "user_id": user, "category": ORDERS, "priority": "high",
        "template": {"id": "order_shipped", "params": {"product": "status look-up"}},
    })
}

/// (channel, state, reason) of every entry of a look-up, sorted.
fn outcomes(body: &Value) -> Vec<(String, String, String)> {
    let mut rows: Vec<(String, String, String)> = body["deliveries"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|d| {
            let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            (text(&d["channel"]), text(&d["state"]), text(&d["reason"]))
        })
        .collect();
    rows.sort();
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn suppressed_and_deferred_notifications_are_readable_once_their_status_is_out() {
    let (embedded, dir) = start().await;
    let observer = Observer::start(&embedded.config).expect("observer");
    let base_url = format!("http://{}", embedded.api_addr);
    let warm = send::warm_up(&base_url, &embedded.tenant)
        .await
        .expect("warm-up");
    let timeout = Duration::from_secs(60);
    assert_eq!(observer.wait_finished(&warm, timeout, |_| {}).await, 0);

    let opted_out = notify(&embedded, order(DANA)).await;
    let quiet = notify(&embedded, order(CHEN)).await;
    let unfinished = observer
        .wait_finished(&[opted_out, quiet], timeout, |_| {})
        .await;
    let (dana_status, dana) = look_up(&embedded, opted_out).await;
    let (chen_status, chen) = look_up(&embedded, quiet).await;
    let _ = embedded.stop().await;
    let _ = std::fs::remove_dir_all(&dir);

    assert_eq!(unfinished, 0, "both statuses are out");
    assert_eq!(dana_status, 200, "opted out: {dana}");
    let suppressed = |channel: &str| {
        (
            channel.to_owned(),
            "suppressed".to_owned(),
            "opted_out".to_owned(),
        )
    };
    assert_eq!(
        outcomes(&dana),
        [suppressed("email"), suppressed("fcm"), suppressed("sms")],
        "{dana}"
    );
    assert_eq!(chen_status, 200, "in quiet hours: {chen}");
    assert_eq!(
        outcomes(&chen),
        [(
            "*".to_owned(),
            "scheduled".to_owned(),
            "quiet_hours".to_owned()
        )],
        "{chen}"
    );
}

fn promotion(user: &str) -> Value {
    json!({
        "user_id": user, "category": PROMOTIONS, "priority": "bulk",
        "template": {"id": "weekly_deals", "params": {"product": "mug", "discount": "5%"}},
    })
}

/// The entry of `channel` in a look-up.
fn entry<'a>(body: &'a Value, channel: &str) -> &'a Value {
    body["deliveries"]
        .as_array()
        .and_then(|d| d.iter().find(|e| e["channel"] == channel))
        .unwrap_or(&Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_promotion_over_the_sms_limit_is_readable_as_rate_limited() {
    let (embedded, dir) = start().await;
    let observer = Observer::start(&embedded.config).expect("observer");
    let timeout = Duration::from_secs(60);
    let allowed = BULK_SMS_PER_HOUR;
    let mut looked_up = Vec::new();
    // one after another, so the last is the one over the limit
    for _ in 0..=allowed {
        let event = notify(&embedded, promotion(ALICE)).await;
        let unfinished = observer.wait_finished(&[event], timeout, |_| {}).await;
        assert_eq!(unfinished, 0, "finished");
        looked_up.push(look_up(&embedded, event).await);
    }
    let _ = embedded.stop().await;
    let _ = std::fs::remove_dir_all(&dir);

    let (over_status, over) = looked_up.pop().expect("the last");
    for (status, body) in &looked_up {
        assert_eq!(*status, 200, "{body}");
        let sms = entry(body, "sms");
        // sent, or delivered once the Twilio simulator's receipt (200 ms later) has landed
        let state = sms["state"].as_str().unwrap_or_default();
        assert!(matches!(state, "sent" | "delivered"), "{body}");
        assert_eq!(sms["origin"], json!("dispatcher"), "{body}");
    }
    assert_eq!(over_status, 200, "{over}");
    let sms = entry(&over, "sms");
    assert_eq!(
        (&sms["state"], &sms["reason"], &sms["origin"]),
        (
            &json!("suppressed"),
            &json!("rate_limited"),
            &json!("router")
        ),
        "{over}"
    );
    // sent, or delivered once the SendGrid simulator's event webhook has landed
    let email = entry(&over, "email")["state"].as_str().unwrap_or_default();
    assert!(
        matches!(email, "sent" | "delivered"),
        "other channels go out: {over}"
    );
}
