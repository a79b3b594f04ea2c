//! In-process tests of [`FcmProvider`] against the FCM simulator (token endpoint and v1 send on
//! 127.0.0.1:0), with service account keys generated at test time.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use notify_schemas::records::RenderedContent;
use notify_sim::faults::FaultSettings;
use notify_sim::fcm::{FcmSim, FcmSimSettings};
use notify_sim::keys::KeyPair;
use notify_sim::{Fault, FaultRule};
use tokio::net::TcpListener;

use super::{FcmConfig, FcmProvider};
use crate::providers::provider::{Outcome, Provider, Reason};
use crate::providers::test_support::{
    assert_each_recorded_once, assert_outcome, assert_sent, distinct_push_deliveries,
    push_delivery as delivery, rule, rules, status, Kind, Scratch,
};

fn rule_once(fault: Fault) -> FaultRule {
    rule(fault, Some(1))
}

const PROJECT: &str = "demo-project";
const EMAIL: &str = "sender@demo-project.iam.gserviceaccount.com";

/// One RSA key for the tests that do not rotate keys (generating one takes a while).
fn shared_key() -> &'static KeyPair {
    static KEY: OnceLock<KeyPair> = OnceLock::new();
    KEY.get_or_init(|| KeyPair::generate_rsa().unwrap())
}

struct Setup {
    sim: FcmSim,
    provider: FcmProvider,
    account_file: PathBuf,
    _scratch: Scratch,
}

async fn setup_with(sim_key: &KeyPair, client_key: &KeyPair, tls: bool) -> Setup {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut settings = FcmSimSettings::new(EMAIL, sim_key.public_pem(), PROJECT);
    settings.tls = tls;
    let sim = notify_sim::fcm::serve(listener, settings).unwrap();
    let scratch = Scratch::new("fcm");
    let account_file = scratch.write(
        "service-account.json",
        &sim.service_account_json(client_key.private_pem()),
    );
    let ca_file = sim.ca_pem().map(|pem| scratch.write("ca.pem", pem));
    let config = FcmConfig {
        base_url: sim.base_url().to_owned(),
        ca_file,
        request_timeout_ms: 5_000,
        ..FcmConfig::new(&account_file)
    };
    let provider = FcmProvider::new(config).unwrap();
    Setup {
        sim,
        provider,
        account_file,
        _scratch: scratch,
    }
}

async fn setup() -> Setup {
    setup_with(shared_key(), shared_key(), false).await
}

fn set_rules(sim: &FcmSim, list: Vec<FaultRule>) {
    sim.faults().set(rules(list));
}

#[tokio::test]
async fn a_message_is_sent_with_the_delivery_id_and_recorded() {
    let s = setup().await;
    let delivery = delivery();
    let outcome = s.provider.send(&delivery).await;
    let name = assert_sent(&outcome).expect("message id");
    assert!(
        name.starts_with("projects/demo-project/messages/"),
        "{name}"
    );
    let entries = s.sim.ledger().entries();
    assert_eq!(entries.len(), 1);
    let entry = &entries[0];
    let id = delivery.delivery_id.to_string();
    assert_eq!(entry.delivery_id.as_deref(), Some(id.as_str()));
    assert_eq!(entry.message_id, name);
    assert_eq!(entry.recipient, delivery.recipient.key());
    let message = &entry.summary;
    assert_eq!(message["notification"]["title"], "Your order shipped");
    assert_eq!(message["data"]["order_id"], "1234");
    assert_eq!(message["android"]["priority"], "HIGH");
    assert_eq!(message["android"]["ttl"], "86400s");
    assert_eq!(message["android"]["collapse_key"], "order-1234");
    assert_eq!(message["apns"]["headers"]["apns-priority"], "10");
}

#[tokio::test]
async fn the_access_token_is_fetched_once_and_reused() {
    let s = setup().await;
    for _ in 0..3 {
        let outcome = s.provider.send(&delivery()).await;
        assert_sent(&outcome);
    }
    assert_eq!(s.sim.tokens_issued(), 1);
    assert_eq!(s.provider.token_fetches(), 1);
    assert_eq!(s.sim.ledger().len(), 3);
}

#[tokio::test]
async fn concurrent_first_sends_share_one_token_request() {
    let s = setup().await;
    let delivery = delivery();
    let p = &s.provider;
    let outcomes = tokio::join!(
        p.send(&delivery),
        p.send(&delivery),
        p.send(&delivery),
        p.send(&delivery)
    );
    for outcome in [outcomes.0, outcomes.1, outcomes.2, outcomes.3] {
        assert_sent(&outcome);
    }
    assert_eq!(s.sim.tokens_issued(), 1);
}

#[tokio::test]
async fn an_unregistered_token_is_an_invalid_recipient() {
    let s = setup().await;
    let delivery = delivery();
    s.sim.faults().set(FaultSettings {
        invalid_tokens: BTreeMap::from([(delivery.recipient.key().to_owned(), 1)]),
        ..FaultSettings::default()
    });
    let outcome = s.provider.send(&delivery).await;
    assert!(
        matches!(outcome, Outcome::InvalidRecipient { reason: Reason::TokenInvalid, since: None, ref detail } if detail.contains("UNREGISTERED")),
        "{outcome:?}"
    );
    assert!(s.sim.ledger().is_empty());
}

#[tokio::test]
async fn quota_exceeded_is_retried_after_the_providers_wait() {
    let s = setup().await;
    set_rules(&s.sim, vec![rule_once(status(429, Some(30)))]);
    let outcome = s.provider.send(&delivery()).await;
    assert!(
        matches!(outcome, Outcome::Retry { reason: Reason::RateLimited, after: Some(d), ref detail } if d == Duration::from_secs(30) && detail.contains("QUOTA_EXCEEDED")),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn unavailable_and_internal_are_retried() {
    let s = setup().await;
    set_rules(
        &s.sim,
        vec![
            rule_once(status(503, Some(4))),
            rule_once(status(500, None)),
        ],
    );
    let first = s.provider.send(&delivery()).await;
    assert!(
        matches!(first, Outcome::Retry { reason: Reason::ProviderUnavailable, after: Some(d), ref detail } if d == Duration::from_secs(4) && detail.contains("UNAVAILABLE")),
        "{first:?}"
    );
    let second = s.provider.send(&delivery()).await;
    assert!(
        matches!(second, Outcome::Retry { reason: Reason::ProviderUnavailable, after: None, ref detail } if detail.contains("INTERNAL")),
        "{second:?}"
    );
}

#[tokio::test]
async fn invalid_argument_fails_sender_mismatch_drops_and_third_party_auth_waits() {
    let s = setup().await;
    set_rules(
        &s.sim,
        vec![
            rule_once(status(400, None)),
            rule_once(status(403, None)),
            rule_once(status(401, None)),
        ],
    );
    let outcome = s.provider.send(&delivery()).await;
    assert_outcome(&outcome, Kind::Failed, Reason::BadMessage);
    let outcome = s.provider.send(&delivery()).await;
    let detail = assert_outcome(&outcome, Kind::InvalidRecipient, Reason::TokenInvalid);
    assert!(detail.contains("SENDER_ID_MISMATCH"), "{detail}");
    let outcome = s.provider.send(&delivery()).await;
    let detail = assert_outcome(&outcome, Kind::Retry, Reason::ProviderAuth);
    assert!(detail.contains("THIRD_PARTY_AUTH_ERROR"), "{detail}");
    // A 401 with an FCM error code is not our token's fault: no new token was fetched.
    assert_eq!(s.sim.tokens_issued(), 1);
}

#[tokio::test]
async fn a_revoked_access_token_is_replaced_once_and_the_send_goes_through() {
    let s = setup().await;
    assert_sent(&s.provider.send(&delivery()).await);
    s.sim.revoke_access_tokens();
    let outcome = s.provider.send(&delivery()).await;
    assert_sent(&outcome);
    assert_eq!(s.sim.tokens_issued(), 2);
    assert_eq!(s.sim.sends(), 3);
    assert_eq!(s.sim.ledger().len(), 2);
}

#[tokio::test]
async fn a_dropped_connection_is_retried() {
    let s = setup().await;
    set_rules(&s.sim, vec![rule_once(Fault::Drop)]);
    let delivery = delivery();
    let outcome = s.provider.send(&delivery).await;
    let detail = assert_outcome(&outcome, Kind::Retry, Reason::Connection);
    assert!(!detail.contains(delivery.recipient.key()), "{detail}");
    assert_sent(&s.provider.send(&delivery).await);
}

#[tokio::test]
async fn a_refused_service_account_is_a_provider_auth_retry() {
    let other = KeyPair::generate_rsa().unwrap();
    let s = setup_with(&other, shared_key(), false).await;
    let outcome = s.provider.send(&delivery()).await;
    let detail = assert_outcome(&outcome, Kind::Retry, Reason::ProviderAuth);
    assert!(detail.contains("invalid_grant"), "{detail}");
    assert_eq!(s.sim.sends(), 0);
}

#[tokio::test]
async fn a_replaced_service_account_file_is_used_without_a_restart() {
    let s = setup().await;
    assert_sent(&s.provider.send(&delivery()).await);
    let rotated = KeyPair::generate_rsa().unwrap();
    s.sim.set_key(rotated.public_pem()).unwrap();
    // A different length as well as a new mtime, so the change is seen on any file system.
    let json = format!("{}\n", s.sim.service_account_json(rotated.private_pem()));
    std::fs::write(&s.account_file, json).unwrap();
    let outcome = s.provider.send(&delivery()).await;
    assert_sent(&outcome);
    // The new file meant a new token at once, signed with the new key.
    assert_eq!(s.sim.tokens_issued(), 2);
    assert_eq!(s.sim.sends(), 2);
}

#[tokio::test]
async fn oversized_data_fails_without_a_request() {
    let s = setup().await;
    let mut delivery = delivery();
    if let RenderedContent::Push(push) = &mut delivery.content {
        push.data.insert("blob".into(), "x".repeat(5_000));
    }
    let outcome = s.provider.send(&delivery).await;
    assert_outcome(&outcome, Kind::Failed, Reason::BadMessage);
    assert_eq!(s.sim.sends(), 0);
    assert_eq!(s.sim.tokens_issued(), 0);
}

#[tokio::test]
async fn sends_over_tls_with_the_simulator_ca() {
    let s = setup_with(shared_key(), shared_key(), true).await;
    assert!(s.sim.base_url().starts_with("https://"));
    let outcome = s.provider.send(&delivery()).await;
    assert_sent(&outcome);
}

#[tokio::test]
async fn many_concurrent_sends_share_one_token_and_none_is_lost_or_doubled() {
    let s = setup().await;
    let deliveries = distinct_push_deliveries(200);
    let outcomes = futures::future::join_all(deliveries.iter().map(|d| s.provider.send(d))).await;
    assert!(outcomes.iter().all(|o| matches!(o, Outcome::Sent { .. })));
    assert_eq!(s.sim.tokens_issued(), 1);
    assert_each_recorded_once(
        s.sim.ledger().entries().into_iter().map(|e| e.delivery_id),
        &deliveries,
    );
}
