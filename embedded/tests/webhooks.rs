//! Tenant webhooks on the embedded pipeline: an endpoint registered through the admin API on a
//! loopback receiver gets the status events of a notification, signed with the secret the
//! registration showed (checked here with `ring`, not with the sender's signer), each
//! delivery's events in order.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use common::start;
use notify_embedded::seed::{ALICE, ORDERS};
use serde_json::{json, Value};

type Taken = Arc<Mutex<Vec<(String, Bytes)>>>;

async fn receiver(taken: Taken) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let taken = Arc::clone(&taken);
            async move {
                let signature = headers
                    .get("notify-signature")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                taken.lock().expect("taken").push((signature, body));
                StatusCode::OK
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// HMAC-SHA256 over `t.body`, as a tenant checks it.
fn verifies(secret: &str, header: &str, body: &[u8]) -> bool {
    let field = |name: &str| {
        header
            .split(',')
            .find_map(|p| p.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
    };
    let (Some(t), Some(v1)) = (field("t"), field("v1")) else {
        return false;
    };
    let Ok(signature) = (0..v1.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(v1.get(i..i + 2).unwrap_or("zz"), 16))
        .collect::<Result<Vec<u8>, _>>()
    else {
        return false;
    };
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let signed = [t.as_bytes(), b".", body].concat();
    ring::hmac::verify(&key, &signed, &signature).is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_registered_endpoint_gets_signed_status_events() {
    let (embedded, _dir) = start().await;
    let taken: Taken = Arc::default();
    let addr = receiver(Arc::clone(&taken)).await;
    let client = reqwest::Client::new();
    let base = format!("http://{}", embedded.api_addr);
    let auth = (&embedded.tenant.app_key, Some(&embedded.tenant.app_secret));
    let created: Value = client
        .post(format!("{base}/v1/webhooks"))
        .basic_auth(auth.0, auth.1)
        .json(&json!({"url": format!("http://{addr}/hook")}))
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
    for (signature, body) in of_event() {
        assert!(verifies(&secret, &signature, &body), "{signature}");
        let mut tampered = body.to_vec();
        tampered[1] ^= 1;
        assert!(
            !verifies(&secret, &signature, &tampered),
            "a tampered body verified"
        );
    }
    embedded.stop().await;
}
