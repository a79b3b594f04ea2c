//! Tenant webhooks on the embedded pipeline: an endpoint registered through the admin API on a
//! loopback receiver gets the status events of a notification, signed with the secret the
//! registration showed (checked here with `ring`, not with the sender's signer), each
//! delivery's events in order.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use common::start;
use notify_embedded::seed::{ALICE, ORDERS};
use notify_it::{signature_verifies, Taken, WebhookReceiver};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_registered_endpoint_gets_signed_status_events() {
    let (embedded, _dir) = start().await;
    let taken: Taken = Arc::default();
    let receiver = WebhookReceiver::start(([127, 0, 0, 1], 0).into(), Arc::clone(&taken))
        .await
        .expect("receiver");
    let client = reqwest::Client::new();
    let base = format!("http://{}", embedded.api_addr);
    let auth = (&embedded.tenant.app_key, Some(&embedded.tenant.app_secret));
    let created: Value = client
        .post(format!("{base}/v1/webhooks"))
        .basic_auth(auth.0, auth.1)
        .json(&json!({"url": receiver.url()}))
        .send()
        .await
        .expect("register")
        .json()
        .await
        .expect("json");
    let secret = created["secret"].as_str().expect("secret, once").to_owned();

    let answer: Value = client
        .post(format!("{base}/v1/notifications"))
        .basic_auth(auth.0, auth.1)
        .json(&json!({
            "user_id": ALICE, "category": ORDERS, "channels": ["sms"],
            "content": {"sms": {"text": "your order shipped"}}
        }))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let event = answer["event_id"].as_str().expect("event id").to_owned();

    let deadline = Instant::now() + Duration::from_secs(90);
    let of_event = || -> Vec<(String, Bytes)> {
        let taken = taken.lock().expect("taken");
        taken
            .iter()
            .filter(|(_, body)| {
                serde_json::from_slice::<Value>(body).is_ok_and(|v| v["event_id"] == event.as_str())
            })
            .cloned()
            .collect()
    };
    while !of_event()
        .iter()
        .any(|(_, body)| serde_json::from_slice::<Value>(body).is_ok_and(|v| v["status"] == "sent"))
    {
        assert!(
            Instant::now() < deadline,
            "no SENT event posted: {:?}",
            of_event()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let now_s = notify_common::clock::now_ms() / 1000;
    for (signature, body) in of_event() {
        assert!(
            signature_verifies(&secret, &signature, &body, now_s),
            "{signature}"
        );
        let mut tampered = body.to_vec();
        tampered[1] ^= 1;
        assert!(
            !signature_verifies(&secret, &signature, &tampered, now_s),
            "a tampered body verified"
        );
    }
    embedded.stop().await;
}
