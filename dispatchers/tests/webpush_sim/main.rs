//! The web push provider against the in-process web push simulator, which verifies VAPID and
//! decrypts every message: what was sent, and how each fault is classified.

use std::time::Duration;

use notify_dispatchers::providers::webpush::crypto::generate_secret;
use notify_dispatchers::providers::webpush::{VapidKey, WebPushConfig, WebPushProvider};
use notify_dispatchers::{Outcome, Provider, Reason};
use notify_schemas::records::RenderedContent;
use notify_sim::faults::FaultSettings;
use notify_sim::webpush::SimSubscription;
use notify_sim::Fault;

mod fixtures;

use fixtures::{delivery_to, faults, provider, sim, with_endpoint, KeyFile};

#[tokio::test]
async fn a_message_arrives_decrypted_with_its_headers() {
    let sim = sim().await;
    let key = KeyFile::new("accepted.pem", &generate_secret());
    let provider = provider(&key, 5_000);
    let subscription = sim
        .subscribe(Some(&provider.public_key().unwrap()))
        .unwrap();
    let delivery = delivery_to(&subscription);

    let outcome = provider.send(&delivery).await;
    let Outcome::Sent {
        provider_message_id: Some(location),
    } = outcome
    else {
        panic!("expected sent with a location, got {outcome:?}");
    };
    assert!(location.starts_with(sim.base_url()));

    let entries = sim.ledger().entries();
    assert_eq!(entries.len(), 1);
    let entry = &entries[0];
    assert_eq!(entry.provider, "webpush");
    assert_eq!(entry.recipient, subscription.endpoint);
    assert_eq!(entry.delivery_id, Some(delivery.delivery_id.to_string()));
    let RenderedContent::Push(push) = &delivery.content else {
        unreachable!()
    };
    let payload = &entry.summary["payload"];
    assert_eq!(payload["title"], push.title.as_str());
    assert_eq!(payload["body"], push.body.as_str());
    assert_eq!(payload["data"]["order_id"], "1234");
    assert_eq!(payload["url"], "acme://orders/1234");
    assert_eq!(entry.summary["urgency"], "high");
    assert_eq!(entry.summary["topic"], "order-1234");
    assert_eq!(entry.summary["ttl"], 86_400);

    // A second message to the same origin reuses the cached token and still verifies.
    assert!(matches!(
        provider.send(&delivery).await,
        Outcome::Sent { .. }
    ));
    assert_eq!(sim.ledger().len(), 2);
}

#[tokio::test]
async fn faults_are_classified() {
    let sim = sim().await;
    let key = KeyFile::new("faults.pem", &generate_secret());
    let provider = provider(&key, 500);
    let subscription = sim.subscribe(None).unwrap();
    let delivery = delivery_to(&subscription);

    sim.faults().set(faults(Fault::Status {
        code: 429,
        retry_after_s: Some(7),
    }));
    assert_eq!(
        provider.send(&delivery).await,
        Outcome::Retry {
            reason: Reason::RateLimited,
            after: Some(Duration::from_secs(7)),
            detail: "http 429: {\"code\":429,\"errno\":201,\"error\":\"Too Many Requests\",\"message\":\"too many requests\"}".into(),
        }
    );

    sim.faults().set(faults(Fault::Status {
        code: 503,
        retry_after_s: None,
    }));
    assert!(matches!(
        provider.send(&delivery).await,
        Outcome::Retry {
            reason: Reason::ProviderUnavailable,
            after: None,
            ..
        }
    ));

    sim.faults().set(faults(Fault::Drop));
    assert!(matches!(
        provider.send(&delivery).await,
        Outcome::Retry {
            reason: Reason::Connection,
            ..
        }
    ));

    sim.faults().set(faults(Fault::Slow { ms: 2_000 }));
    assert_eq!(
        provider.send(&delivery).await,
        Outcome::retry(Reason::Connection, "request timed out")
    );

    let mut gone = FaultSettings::default();
    gone.invalid_tokens
        .insert(subscription.endpoint.clone(), 1_767_225_600_000);
    sim.faults().set(gone);
    assert!(matches!(
        provider.send(&delivery).await,
        Outcome::InvalidRecipient {
            reason: Reason::TokenInvalid,
            ..
        }
    ));

    sim.faults().set(FaultSettings::default());
    let unknown = with_endpoint(delivery.clone(), format!("{}/push/unknown", sim.base_url()));
    assert!(matches!(
        provider.send(&unknown).await,
        Outcome::InvalidRecipient {
            reason: Reason::TokenInvalid,
            ..
        }
    ));

    // Nothing above was accepted; after the faults, delivery works again.
    assert!(sim.ledger().is_empty());
    assert!(matches!(
        provider.send(&delivery).await,
        Outcome::Sent { .. }
    ));
}

#[tokio::test]
async fn vapid_problems_never_remove_the_subscription() {
    let sim = sim().await;
    let key = KeyFile::new("vapid.pem", &generate_secret());
    let provider = provider(&key, 5_000);

    // Subscribed for another application server key: 403, a permanent credential failure.
    let other = VapidKey::from_secret(&generate_secret());
    let foreign = sim.subscribe(Some(other.public_key())).unwrap();
    assert!(matches!(
        provider.send(&delivery_to(&foreign)).await,
        Outcome::Failed {
            reason: Reason::ProviderAuth,
            ..
        }
    ));

    // The same server reached as `localhost`: the token's audience is not the origin the
    // simulator serves, so it answers 401, which is retried with a fresh token.
    let subscription = sim.subscribe(None).unwrap();
    let port = sim.local_addr().port();
    let id = &subscription.id;
    let aliased = with_endpoint(
        delivery_to(&subscription),
        format!("http://localhost:{port}/push/{id}"),
    );
    assert!(matches!(
        provider.send(&aliased).await,
        Outcome::Retry {
            reason: Reason::ProviderAuth,
            ..
        }
    ));
    assert!(sim.ledger().is_empty());
}

#[tokio::test]
async fn a_replaced_key_file_is_used_without_a_restart() {
    let sim = sim().await;
    let key = KeyFile::new("rotated.pem", &generate_secret());
    let provider = provider(&key, 5_000);
    let before = provider.public_key().unwrap();

    let next = generate_secret();
    key.replace(&next);
    let after = provider.public_key().unwrap();
    assert_ne!(before, after);
    assert_eq!(after, VapidKey::from_secret(&next).public_key());

    let subscription = sim.subscribe(Some(&after)).unwrap();
    assert!(matches!(
        provider.send(&delivery_to(&subscription)).await,
        Outcome::Sent { .. }
    ));
}

#[tokio::test]
async fn refused_endpoints_and_oversized_payloads_never_reach_the_network() {
    let sim = sim().await;
    let key = KeyFile::new("refused.pem", &generate_secret());
    let subscription = sim.subscribe(None).unwrap();
    let delivery = delivery_to(&subscription);

    // Production settings: loopback http is refused by the URL check ...
    let strict =
        WebPushProvider::new(WebPushConfig::new(&key.0, "mailto:ops@example.com")).unwrap();
    assert!(matches!(
        strict.send(&delivery).await,
        Outcome::Failed {
            reason: Reason::Unsupported,
            ..
        }
    ));
    // ... and a host name that resolves to loopback by the resolver (its port allowed, so the
    // URL check lets it through to the resolver).
    let port = sim.local_addr().port();
    let mut on_sim_port = WebPushConfig::new(&key.0, "mailto:ops@example.com");
    on_sim_port.allowed_ports = vec![443, port];
    let strict = WebPushProvider::new(on_sim_port).unwrap();
    let by_name = with_endpoint(delivery.clone(), format!("https://localhost:{port}/push/x"));
    assert_eq!(
        strict.send(&by_name).await,
        Outcome::failed(
            Reason::Unsupported,
            "endpoint address is loopback, which is not allowed"
        )
    );

    let testing = provider(&key, 5_000);
    let mut big = delivery.clone();
    if let RenderedContent::Push(push) = &mut big.content {
        push.body = "x".repeat(4_000);
    }
    assert!(matches!(
        testing.send(&big).await,
        Outcome::Failed {
            reason: Reason::BadMessage,
            ..
        }
    ));
    assert!(sim.ledger().is_empty());
}

#[tokio::test]
async fn the_simulator_refuses_bad_vapid_tokens() {
    let sim = sim().await;
    let subscription = sim.subscribe(None).unwrap();
    let client = reqwest::Client::new();
    let key = VapidKey::from_secret(&generate_secret());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let post = |authorization: String| {
        client
            .post(&subscription.endpoint)
            .header("ttl", "60")
            .header("content-encoding", "aes128gcm")
            .header("authorization", authorization)
            .body(vec![0u8; 120])
            .send()
    };
    let origin = sim.base_url().to_owned();
    let cases = [
        key.sign(&origin, "mailto:a@example.com", now + 48 * 3600), // too far away
        key.sign(&origin, "mailto:a@example.com", now - 3600),      // expired
        key.sign(
            "https://elsewhere.example",
            "mailto:a@example.com",
            now + 600,
        ),
        key.sign(&origin, "a@example.com", now + 600), // not a contact URI
    ];
    for token in cases {
        let response = post(format!("vapid t={token}, k={}", key.public_key()))
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
    }
    // A good token gets past VAPID to decryption, which this garbage body fails.
    let token = key.sign(&origin, "mailto:a@example.com", now + 600);
    let response = post(format!("vapid t={token}, k={}", key.public_key()))
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let other = VapidKey::from_secret(&generate_secret());
    let response = post(format!("vapid t={token}, k={}", other.public_key()))
        .await
        .unwrap();
    assert_eq!(response.status(), 401, "k must verify the token");
}

#[tokio::test]
async fn concurrent_sends_each_arrive_once() {
    let sim = sim().await;
    let key = KeyFile::new("concurrent.pem", &generate_secret());
    let provider = std::sync::Arc::new(provider(&key, 5_000));
    let public = provider.public_key().unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    let mut expected = Vec::new();
    for i in 0..40u128 {
        let subscription = sim.subscribe(Some(&public)).unwrap();
        let mut delivery = delivery_to(&subscription);
        delivery.delivery_id = notify_schemas::Uuid::from_u128(i + 1);
        expected.push(delivery.delivery_id.to_string());
        let provider = provider.clone();
        tasks.spawn(async move { provider.send(&delivery).await });
    }
    while let Some(outcome) = tasks.join_next().await {
        let outcome = outcome.unwrap();
        assert!(matches!(outcome, Outcome::Sent { .. }), "{outcome:?}");
    }
    let mut arrived: Vec<String> = sim
        .ledger()
        .entries()
        .into_iter()
        .filter_map(|entry| entry.delivery_id)
        .collect();
    arrived.sort();
    expected.sort();
    assert_eq!(arrived, expected);
}

#[tokio::test]
async fn subscriptions_and_faults_are_driven_over_http() {
    let sim = sim().await;
    let key = KeyFile::new("control.pem", &generate_secret());
    let provider = provider(&key, 5_000);
    let http = reqwest::Client::new();
    let base = sim.base_url();

    let minted: SimSubscription = http
        .post(format!("{base}/_sim/webpush/subscriptions"))
        .json(&serde_json::json!({ "application_server_key": provider.public_key().unwrap() }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(minted.endpoint.starts_with(&format!("{base}/push/")));
    let refused = http
        .post(format!("{base}/_sim/webpush/subscriptions"))
        .json(&serde_json::json!({ "application_server_key": "not a key" }))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);

    let settings = serde_json::json!({
        "rules": [{ "fault": { "kind": "status", "code": 500 }, "count": 1 }]
    });
    let put = http
        .put(format!("{base}/_sim/faults"))
        .json(&settings)
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success());
    let delivery = delivery_to(&minted);
    assert!(provider.send(&delivery).await.is_retry());
    assert!(matches!(
        provider.send(&delivery).await,
        Outcome::Sent { .. }
    ));
    let ledger: Vec<notify_sim::Accepted> = http
        .get(format!("{base}/_sim/ledger"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0].recipient, minted.endpoint);
}
