//! The web push provider against an independent push service mock: the npm package
//! `web-push-testing`, which checks the VAPID token with node's `jsonwebtoken` and decrypts
//! the payload with `http_ece`. Start it with `scripts/peers.d/webpush-testing start` and set
//! `NOTIFY_IT_WEBPUSH_TESTING` to its URL (`scripts/peers.d/webpush-testing url`).

use notify_dispatchers::providers::webpush::crypto::generate_secret;
use notify_dispatchers::providers::webpush::{VapidKey, WebPushConfig, WebPushProvider};
use notify_dispatchers::{Outcome, Provider, Reason};
use notify_schemas::records::{Delivery, Recipient, RenderedContent, WebPushSubscription};
use p256::pkcs8::{EncodePrivateKey, LineEnding};
use serde_json::{json, Value};

fn peer_url() -> String {
    std::env::var("NOTIFY_IT_WEBPUSH_TESTING")
        .map(|url| url.trim_end_matches('/').to_owned())
        .unwrap_or_else(|_| {
            panic!(
                "NOTIFY_IT_WEBPUSH_TESTING is not set: start the peer with \
                 `scripts/peers.d/webpush-testing start` and set it to the url that \
                 `scripts/peers.d/webpush-testing url` prints"
            )
        })
}

struct Peer {
    base: String,
    http: reqwest::Client,
}

struct PeerSubscription {
    client_hash: String,
    subscription: WebPushSubscription,
}

impl Peer {
    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|err| {
                panic!("web-push-testing at {} does not answer: {err}", self.base)
            });
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn subscribe(&self, application_server_key: &str) -> PeerSubscription {
        let (status, body) = self
            .post(
                "/subscribe",
                json!({ "applicationServerKey": application_server_key, "userVisibleOnly": "true" }),
            )
            .await;
        assert_eq!(status, 200, "subscribe answered {body}");
        let data = &body["data"];
        let text = |v: &Value| v.as_str().unwrap().to_owned();
        PeerSubscription {
            client_hash: text(&data["clientHash"]),
            subscription: WebPushSubscription {
                endpoint: text(&data["endpoint"]),
                p256dh: text(&data["keys"]["p256dh"]),
                auth: text(&data["keys"]["auth"]),
                device_id: None,
            },
        }
    }

    async fn messages(&self, client_hash: &str) -> Vec<String> {
        let (status, body) = self
            .post("/get-notifications", json!({ "clientHash": client_hash }))
            .await;
        assert_eq!(status, 200, "get-notifications answered {body}");
        body["data"]["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_str().unwrap().to_owned())
            .collect()
    }
}

fn delivery_to(subscription: &WebPushSubscription) -> Delivery {
    let mut delivery = notify_schemas::samples::full_webpush_delivery();
    delivery.expires_at = None;
    delivery.recipient = Recipient::WebPush(subscription.clone());
    delivery
}

#[tokio::test]
#[ignore = "needs the web-push-testing peer: run scripts/test"]
async fn web_push_testing_verifies_decrypts_and_expires() {
    let peer = Peer {
        base: peer_url(),
        http: reqwest::Client::new(),
    };
    let dir = std::env::temp_dir().join(format!("notify-webpush-peer-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key_file = dir.join("vapid.pem");
    let pem = generate_secret().to_pkcs8_pem(LineEnding::LF).unwrap();
    std::fs::write(&key_file, pem.as_bytes()).unwrap();
    let mut config = WebPushConfig::new(&key_file, "mailto:ops@example.com");
    config.allow_insecure_loopback = true;
    let provider = WebPushProvider::new(config).unwrap();

    // Delivered: the peer verified the token against the key we subscribed with and decrypted
    // exactly our payload.
    let ours = peer.subscribe(&provider.public_key().unwrap()).await;
    let delivery = delivery_to(&ours.subscription);
    let outcome = provider.send(&delivery).await;
    assert!(matches!(outcome, Outcome::Sent { .. }), "{outcome:?}");
    let messages = peer.messages(&ours.client_hash).await;
    assert_eq!(messages.len(), 1);
    let payload: Value = serde_json::from_str(&messages[0]).unwrap();
    let RenderedContent::Push(push) = &delivery.content else {
        unreachable!()
    };
    assert_eq!(payload["title"], push.title.as_str());
    assert_eq!(payload["body"], push.body.as_str());
    assert_eq!(payload["delivery_id"], delivery.delivery_id.to_string());
    assert_eq!(payload["data"]["order_id"], "1234");

    // A subscription made for another application server key: the peer refuses our `k`, and
    // nothing is stored.
    let other = VapidKey::from_secret(&generate_secret());
    let foreign = peer.subscribe(other.public_key()).await;
    let outcome = provider.send(&delivery_to(&foreign.subscription)).await;
    assert!(!matches!(outcome, Outcome::Sent { .. }), "{outcome:?}");
    assert!(peer.messages(&foreign.client_hash).await.is_empty());

    // Expired subscription: 410, which tells the dispatcher to remove it.
    let (status, body) = peer
        .post(
            &format!("/expire-subscription/{}", ours.client_hash),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "expire-subscription answered {body}");
    let outcome = provider.send(&delivery).await;
    assert!(
        matches!(
            outcome,
            Outcome::InvalidRecipient {
                reason: Reason::TokenInvalid,
                ..
            }
        ),
        "{outcome:?}"
    );
    assert_eq!(peer.messages(&ours.client_hash).await.len(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}
