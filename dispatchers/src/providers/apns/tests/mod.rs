//! In-process tests of [`ApnsProvider`] against the APNs simulator (HTTP/2 over TLS on
//! 127.0.0.1:0), with keys generated at test time.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use notify_schemas::records::RenderedContent;
use notify_schemas::{samples, Delivery, Priority};
use notify_sim::apns::{ApnsSim, ApnsSimSettings};
use notify_sim::faults::FaultSettings;
use notify_sim::keys::KeyPair;
use notify_sim::{Fault, FaultRule};
use tokio::net::TcpListener;

use super::token::mint;
use super::{ApnsConfig, ApnsProvider};
use crate::providers::provider::{Outcome, Provider, Reason};
use crate::providers::test_support::{
    assert_each_recorded_once, assert_outcome, assert_sent, distinct_push_deliveries,
    push_delivery as delivery, rule, rules, status, Kind, Scratch,
};

const KEY_ID: &str = "KEY1234567";
const TEAM_ID: &str = "TEAM123456";
const TOPIC: &str = "com.example.app";

struct Setup {
    sim: ApnsSim,
    provider: ApnsProvider,
    key: KeyPair,
    key_file: PathBuf,
    scratch: Scratch,
}

async fn setup_with(timeout_ms: u64, sim_key: Option<&KeyPair>) -> Setup {
    let key = KeyPair::generate_p256().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let public = sim_key.unwrap_or(&key).public_pem().to_owned();
    let mut settings = ApnsSimSettings::new(KEY_ID, TEAM_ID, public);
    settings.topic = Some(TOPIC.to_owned());
    let sim = notify_sim::apns::serve(listener, settings).unwrap();
    let scratch = Scratch::new("apns");
    let key_file = scratch.write("AuthKey.p8", key.private_pem());
    let ca_file = scratch.write("ca.pem", sim.ca_pem());
    let config = ApnsConfig {
        base_url: sim.base_url(),
        ca_file: Some(ca_file),
        request_timeout_ms: timeout_ms,
        ..ApnsConfig::new(&key_file, KEY_ID, TEAM_ID, TOPIC)
    };
    let provider = ApnsProvider::new(config).unwrap();
    Setup {
        sim,
        provider,
        key,
        key_file,
        scratch,
    }
}

async fn setup() -> Setup {
    setup_with(5_000, None).await
}

fn token_of(delivery: &Delivery) -> String {
    delivery.recipient.key().to_owned()
}

/// Asserts that `outcome` says the device token is gone since `since`, for APNs' `reason`.
#[track_caller]
fn assert_token_gone(outcome: &Outcome, since: Option<i64>, reason: &str) {
    let detail = assert_outcome(outcome, Kind::InvalidRecipient, Reason::TokenInvalid);
    assert!(detail.contains(reason), "{detail}");
    assert!(
        matches!(outcome, Outcome::InvalidRecipient { since: found, .. } if *found == since),
        "{outcome:?}"
    );
}

fn set_rules(sim: &ApnsSim, list: Vec<FaultRule>) {
    sim.faults().set(rules(list));
}

#[tokio::test]
async fn a_push_is_sent_with_the_delivery_id_and_recorded() {
    let s = setup().await;
    let delivery = delivery();
    let outcome = s.provider.send(&delivery).await;
    let id = delivery.delivery_id.to_string();
    assert_eq!(
        outcome,
        Outcome::Sent {
            provider_message_id: Some(id.clone())
        }
    );
    let entries = s.sim.ledger().entries();
    assert_eq!(entries.len(), 1);
    let entry = &entries[0];
    assert_eq!(entry.delivery_id.as_deref(), Some(id.as_str()));
    assert_eq!(entry.recipient, token_of(&delivery));
    assert_eq!(entry.summary["title"], "Your order shipped");
    assert_eq!(entry.summary["apns-priority"], "10");
    assert_eq!(entry.summary["apns-push-type"], "alert");
    assert_eq!(entry.summary["apns-collapse-id"], "order-1234");
    let expiration: i64 = entry.summary["apns-expiration"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((now + 86_000..=now + 86_500).contains(&expiration));
}

#[tokio::test]
async fn the_provider_token_is_reused_and_bulk_goes_at_priority_five() {
    let s = setup().await;
    let mut delivery = delivery();
    delivery.priority = Priority::Bulk;
    for _ in 0..3 {
        assert_sent(&s.provider.send(&delivery).await);
    }
    assert_eq!(s.provider.tokens.minted(), 1);
    let entries = s.sim.ledger().entries();
    assert_eq!(entries.len(), 3);
    assert!(entries.iter().all(|e| e.summary["apns-priority"] == "5"));
}

#[tokio::test]
async fn gone_token_is_invalid_since_the_apns_timestamp() {
    let s = setup().await;
    let delivery = delivery();
    s.sim.faults().set(FaultSettings {
        invalid_tokens: BTreeMap::from([(token_of(&delivery), 1_700_000_000_123)]),
        ..FaultSettings::default()
    });
    assert_token_gone(
        &s.provider.send(&delivery).await,
        Some(1_700_000_000_123),
        "Unregistered",
    );
    assert!(s.sim.ledger().is_empty());
}

#[tokio::test]
async fn bad_device_token_is_an_invalid_recipient() {
    let s = setup().await;
    set_rules(&s.sim, vec![rule(status(400, None), Some(1))]);
    assert_token_gone(&s.provider.send(&delivery()).await, None, "BadDeviceToken");
}

#[tokio::test]
async fn too_many_requests_is_retried_after_the_providers_wait() {
    let s = setup().await;
    set_rules(&s.sim, vec![rule(status(429, Some(7)), Some(1))]);
    match s.provider.send(&delivery()).await {
        Outcome::Retry { reason, after, .. } => {
            assert_eq!(reason, Reason::RateLimited);
            assert_eq!(after, Some(Duration::from_secs(7)));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_sent(&s.provider.send(&delivery()).await);
}

#[tokio::test]
async fn server_errors_are_retried() {
    let s = setup().await;
    set_rules(
        &s.sim,
        vec![
            rule(status(500, None), Some(1)),
            rule(status(503, Some(2)), Some(1)),
        ],
    );
    let first = s.provider.send(&delivery()).await;
    assert!(
        matches!(first, Outcome::Retry { reason: Reason::ProviderUnavailable, after: None, ref detail } if detail.contains("500")),
        "{first:?}"
    );
    let second = s.provider.send(&delivery()).await;
    assert!(
        matches!(second, Outcome::Retry { reason: Reason::ProviderUnavailable, after: Some(d), .. } if d == Duration::from_secs(2)),
        "{second:?}"
    );
}

#[tokio::test]
async fn a_dropped_connection_is_retried_and_the_next_send_reconnects() {
    let s = setup().await;
    set_rules(&s.sim, vec![rule(Fault::Drop, Some(1))]);
    let delivery = delivery();
    match s.provider.send(&delivery).await {
        Outcome::Retry { reason, detail, .. } => {
            assert_eq!(reason, Reason::Connection);
            assert!(!detail.contains(&token_of(&delivery)), "{detail}");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_sent(&s.provider.send(&delivery).await);
}

#[tokio::test]
async fn a_slow_answer_times_out_as_a_connection_retry() {
    let s = setup_with(300, None).await;
    set_rules(&s.sim, vec![rule(Fault::Slow { ms: 2_000 }, Some(1))]);
    match s.provider.send(&delivery()).await {
        Outcome::Retry { reason, detail, .. } => {
            assert_eq!(reason, Reason::Connection);
            assert!(detail.contains("timed out"), "{detail}");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn an_oversized_payload_fails_without_a_request() {
    let s = setup().await;
    let mut delivery = delivery();
    if let RenderedContent::Push(push) = &mut delivery.content {
        push.body = "x".repeat(5_000);
    }
    let outcome = s.provider.send(&delivery).await;
    assert_outcome(&outcome, Kind::Failed, Reason::BadMessage);
    assert_eq!(s.sim.requests(), 0);
}

#[tokio::test]
async fn a_refused_connection_is_a_connection_retry() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let key = KeyPair::generate_p256().unwrap();
    let scratch = Scratch::new("apns");
    let key_file = scratch.write("AuthKey.p8", key.private_pem());
    let config = ApnsConfig {
        base_url: format!("https://{addr}"),
        request_timeout_ms: 2_000,
        ..ApnsConfig::new(&key_file, KEY_ID, TEAM_ID, TOPIC)
    };
    let provider = ApnsProvider::new(config).unwrap();
    let outcome = provider.send(&delivery()).await;
    assert_outcome(&outcome, Kind::Retry, Reason::Connection);
}

#[tokio::test]
async fn faults_set_over_the_control_api_apply() {
    let s = setup().await;
    let client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .add_root_certificate(reqwest::Certificate::from_pem(s.sim.ca_pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    let faults = serde_json::json!({
        "rules": [{ "fault": { "kind": "status", "code": 503, "retry_after_s": 9 }, "count": 1 }]
    });
    let put = client
        .put(format!("{}/_sim/faults", s.sim.base_url()))
        .json(&faults)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), reqwest::StatusCode::NO_CONTENT);
    let outcome = s.provider.send(&delivery()).await;
    assert!(
        matches!(outcome, Outcome::Retry { reason: Reason::ProviderUnavailable, after: Some(d), .. } if d == Duration::from_secs(9)),
        "{outcome:?}"
    );
    assert_sent(&s.provider.send(&delivery()).await);
    let ledger: Vec<notify_sim::Accepted> = client
        .get(format!("{}/_sim/ledger", s.sim.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0].provider, "apns");
}

#[tokio::test]
async fn a_delivery_with_nothing_to_show_goes_as_a_background_push() {
    let s = setup().await;
    let mut delivery = samples::minimal_delivery();
    delivery.priority = Priority::Critical;
    delivery.recipient = samples::full_push_delivery().recipient;
    let outcome = s.provider.send(&delivery).await;
    assert_sent(&outcome);
    let entries = s.sim.ledger().entries();
    assert_eq!(entries[0].summary["apns-push-type"], "background");
    assert_eq!(entries[0].summary["apns-priority"], "5");
}

mod provider_token;
