//! Twilio and Vonage clients against the in-process simulators: success, every error class,
//! Retry-After, dropped connections, timeouts, rotated credentials, and failover between the two.

use std::path::PathBuf;
use std::time::Duration;

use notify_schemas::samples::full_sms_delivery;
use notify_schemas::{Delivery, PhoneNumber, Recipient, RenderedContent, RenderedSms, Uuid};
use notify_sim::faults::FaultSettings;
use notify_sim::twilio::{TwilioSim, TwilioSimSettings};
use notify_sim::vonage::{VonageSim, VonageSimSettings};
use notify_sim::Fault;

use super::twilio::{TwilioConfig, TwilioError};
use super::vonage::VonageConfig;
use super::*;
use crate::providers::failover::BreakerState;
use crate::providers::provider::{Outcome, Provider, Reason};
use crate::providers::secret::SecretConfig;
use crate::providers::test_support::{
    assert_sent, failover, fault, listener, reason, secret_file, status,
};

const SID: &str = "AC0123456789abcdef";
const TOKEN: &str = "twilio-token";
const KEY: &str = "vonage-key";
const SECRET: &str = "vonage-secret";
pub(super) const TO: &str = "+821012345678";

async fn twilio_sim() -> TwilioSim {
    let settings = TwilioSimSettings {
        account_sid: SID.into(),
        auth_token: TOKEN.into(),
    };
    notify_sim::twilio::serve(listener().await, settings).unwrap()
}

pub(super) async fn vonage_sim() -> VonageSim {
    let settings = VonageSimSettings {
        api_key: KEY.into(),
        api_secret: SECRET.into(),
        signature_secret: "sig".into(),
    };
    notify_sim::vonage::serve(listener().await, settings).unwrap()
}

fn twilio_config(sim: &TwilioSim, token_file: PathBuf) -> TwilioConfig {
    TwilioConfig {
        base_url: sim.base_url().to_owned(),
        account_sid: SID.into(),
        auth_token: SecretConfig::File(token_file),
        from: Some("+15005550006".into()),
        messaging_service_sid: None,
        status_callback_base: None,
        timeout_ms: 2_000,
        connect_timeout_ms: 1_000,
    }
}

fn twilio(sim: &TwilioSim) -> TwilioProvider {
    TwilioProvider::new(twilio_config(sim, secret_file(TOKEN))).unwrap()
}

pub(super) fn vonage_config(sim: &VonageSim) -> VonageConfig {
    VonageConfig {
        delivery_receipt_url: None,
        signature_secret: None,
        signature_method: None,
        base_url: sim.base_url().to_owned(),
        api_key: KEY.into(),
        api_secret: SecretConfig::File(secret_file(SECRET)),
        from: "acme".into(),
        timeout_ms: 2_000,
        connect_timeout_ms: 1_000,
    }
}

fn vonage(sim: &VonageSim) -> VonageProvider {
    VonageProvider::new(vonage_config(sim)).unwrap()
}

pub(super) fn sms(to: &str, text: &str) -> Delivery {
    let mut delivery = full_sms_delivery();
    delivery.delivery_id = Uuid::new_v4();
    delivery.recipient = Recipient::Phone(PhoneNumber { e164: to.into() });
    delivery.content = RenderedContent::Sms(RenderedSms {
        text: text.into(),
        segments: 1,
    });
    delivery
}

#[tokio::test]
async fn twilio_sends_with_the_delivery_id_in_the_status_callback() {
    let sim = twilio_sim().await;
    let mut config = twilio_config(&sim, secret_file(TOKEN));
    // loopback, where nothing listens: the simulator's callback is refused, never sent out
    config.status_callback_base = Some("http://127.0.0.1:1/twilio/status".into());
    let provider = TwilioProvider::new(config).unwrap();
    let d = sms(TO, "order 1234 shipped");
    let outcome = provider.send(&d).await;
    let sid = assert_sent(&outcome).expect("message id");
    let entries = sim.ledger().entries();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].message_id, sid);
    assert!(sid.starts_with("SM"));
    assert_eq!(entries[0].delivery_id, Some(d.delivery_id.to_string()));
    assert_eq!(entries[0].recipient, TO);
    assert_eq!(entries[0].summary["text"], "order 1234 shipped");
    let callback = entries[0].summary["status_callback"].as_str().unwrap();
    assert_eq!(
        callback,
        format!(
            "http://127.0.0.1:1/twilio/status?delivery_id={}&tenant={}&event_id={}\
             &user_id={}&category={}",
            d.delivery_id, d.tenant, d.event_id, d.user_id, d.category
        )
    );
}

#[tokio::test]
async fn twilio_without_callback_still_carries_the_delivery_id() {
    let sim = twilio_sim().await;
    let mut config = twilio_config(&sim, secret_file(TOKEN));
    config.messaging_service_sid = Some("MG0123".into());
    let provider = TwilioProvider::new(config).unwrap();
    let d = sms(TO, "hello");
    assert_sent(&provider.send(&d).await);
    let entry = &sim.ledger().entries()[0];
    assert_eq!(entry.delivery_id, Some(d.delivery_id.to_string()));
    assert_eq!(entry.summary["from"], "MG0123");
}

#[tokio::test]
async fn twilio_error_codes_map_to_permanent_reasons() {
    let sim = twilio_sim().await;
    let provider = twilio(&sim);
    for (to, expected) in [
        ("+15005550001", Reason::BadAddress),
        ("+15005550002", Reason::BadAddress),
        ("+15005550009", Reason::BadAddress),
        ("+15005550004", Reason::Unsubscribed),
    ] {
        let outcome = provider.send(&sms(to, "hi")).await;
        assert!(
            matches!(outcome, Outcome::Failed { .. }),
            "{to}: {outcome:?}"
        );
        assert_eq!(reason(&outcome), Some(expected), "{to}");
    }
    // Not E.164: refused before any request.
    let outcome = provider.send(&sms("01012345678", "hi")).await;
    assert_eq!(reason(&outcome), Some(Reason::BadAddress));
    assert!(sim.ledger().is_empty());
}

#[tokio::test]
async fn twilio_rate_limit_and_outage_are_retried_with_retry_after() {
    let sim = twilio_sim().await;
    let provider = twilio(&sim);
    sim.faults().set(fault(status(429, Some(7)), Some(1)));
    match provider.send(&sms(TO, "hi")).await {
        Outcome::Retry {
            reason: Reason::RateLimited,
            after,
            detail,
        } => {
            assert_eq!(after, Some(Duration::from_secs(7)));
            assert!(detail.contains("20429"), "{detail}");
        }
        other => panic!("expected a rate-limit retry, got {other:?}"),
    }
    sim.faults().set(fault(status(503, None), Some(1)));
    let outcome = provider.send(&sms(TO, "hi")).await;
    assert!(outcome.is_retry());
    assert_eq!(reason(&outcome), Some(Reason::ProviderUnavailable));
    assert_sent(&provider.send(&sms(TO, "hi")).await);
    assert_eq!(sim.ledger().len(), 1);
}

#[tokio::test]
async fn twilio_written_requests_without_an_answer_are_ambiguous_retries() {
    let sim = twilio_sim().await;
    let mut config = twilio_config(&sim, secret_file(TOKEN));
    config.timeout_ms = 300;
    let provider = TwilioProvider::new(config).unwrap();
    // the request was written, then the connection dropped: the client cannot know whether
    // the provider took it
    sim.faults().set(fault(Fault::Drop, Some(1)));
    let outcome = provider.send(&sms(TO, "hi")).await;
    assert_eq!(reason(&outcome), Some(Reason::AnswerLost), "{outcome:?}");
    assert!(outcome.is_retry());
    sim.faults().set(fault(Fault::Slow { ms: 2_000 }, Some(1)));
    let outcome = provider.send(&sms(TO, "hi")).await;
    assert_eq!(reason(&outcome), Some(Reason::AnswerLost), "{outcome:?}");
    assert!(outcome.is_retry());
    assert!(sim.ledger().is_empty());
}

#[tokio::test]
async fn twilio_unreachable_is_a_connection_retry() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let sim = twilio_sim().await;
    let mut config = twilio_config(&sim, secret_file(TOKEN));
    config.base_url = format!("http://127.0.0.1:{port}");
    let outcome = TwilioProvider::new(config)
        .unwrap()
        .send(&sms(TO, "hi"))
        .await;
    assert_eq!(reason(&outcome), Some(Reason::Connection), "{outcome:?}");
}

#[tokio::test]
async fn twilio_refused_token_is_retried_and_a_rotated_file_is_picked_up() {
    let sim = twilio_sim().await;
    let token_file = secret_file("stale-token-value");
    let provider = TwilioProvider::new(twilio_config(&sim, token_file.clone())).unwrap();
    let outcome = provider.send(&sms(TO, "hi")).await;
    assert!(outcome.is_retry());
    assert_eq!(reason(&outcome), Some(Reason::ProviderAuth));
    std::fs::write(&token_file, TOKEN).unwrap();
    assert_sent(&provider.send(&sms(TO, "hi")).await);
}

#[test]
fn twilio_config_defaults_and_refusals() {
    let config: TwilioConfig = serde_json::from_value(serde_json::json!({
        "account_sid": "AC1", "auth_token": {"env": "NOTIFY_TEST_UNSET_TWILIO_TOKEN"}, "from": "+1500"
    }))
    .unwrap();
    assert_eq!(config.base_url, "https://api.twilio.com");
    assert_eq!(config.timeout_ms, 10_000);
    let unknown = serde_json::from_value::<TwilioConfig>(serde_json::json!({
        "account_sid": "AC1", "auth_token": {"env": "NOTIFY_TEST_UNSET_TWILIO_TOKEN"}, "from": "+1500", "timeout": 3
    }));
    assert!(unknown.is_err());
    let mut no_sender = config.clone();
    no_sender.from = None;
    no_sender.auth_token = SecretConfig::File(secret_file("t"));
    assert!(matches!(
        TwilioProvider::new(no_sender),
        Err(TwilioError::Config { .. })
    ));
    assert!(matches!(
        TwilioProvider::new(config),
        Err(TwilioError::Secret {
            provider: "twilio",
            what: "auth token",
            ..
        })
    ));
}

#[test]
fn twilio_unparseable_answers_are_classified_by_status() {
    use reqwest::StatusCode;
    let garbage = b"<html>bad gateway</html>";
    let outcome = twilio::classify(StatusCode::BAD_GATEWAY, None, garbage);
    assert_eq!(reason(&outcome), Some(Reason::ProviderUnavailable));
    let outcome = twilio::classify(StatusCode::BAD_REQUEST, None, garbage);
    assert_eq!(reason(&outcome), Some(Reason::BadMessage));
    assert!(!outcome.is_retry());
    let outcome = twilio::classify(StatusCode::UNAUTHORIZED, None, garbage);
    assert_eq!(reason(&outcome), Some(Reason::ProviderAuth));
    assert!(outcome.is_retry());
    let body = br#"{"code":20429,"message":"Too Many Requests","status":400}"#;
    let outcome = twilio::classify(StatusCode::BAD_REQUEST, None, body);
    assert_eq!(reason(&outcome), Some(Reason::RateLimited));
}

#[tokio::test]
async fn vonage_sends_without_plus_with_client_ref_and_unicode_type() {
    let sim = vonage_sim().await;
    let provider = vonage(&sim);
    let ascii = sms(TO, "order shipped");
    let korean = sms(TO, "주문이 발송되었습니다");
    for d in [&ascii, &korean] {
        let outcome = provider.send(d).await;
        assert!(
            matches!(
                outcome,
                Outcome::Sent {
                    provider_message_id: Some(_)
                }
            ),
            "{outcome:?}"
        );
    }
    let entries = sim.ledger().entries();
    assert_eq!(entries[0].recipient, "821012345678");
    assert_eq!(entries[0].delivery_id, Some(ascii.delivery_id.to_string()));
    assert_eq!(entries[0].summary["type"], serde_json::Value::Null);
    assert_eq!(entries[1].delivery_id, Some(korean.delivery_id.to_string()));
    assert_eq!(entries[1].summary["type"], "unicode");
    assert_eq!(entries[1].summary["text"], "주문이 발송되었습니다");
}

#[tokio::test]
async fn vonage_statuses_map_to_outcomes() {
    let sim = vonage_sim().await;
    let provider = vonage(&sim);
    let outcome = provider.send(&sms("+99912345678", "hi")).await;
    assert_eq!(outcome, Outcome::failed(Reason::BadAddress, "status 6"));
    sim.faults().set(fault(status(429, None), Some(1)));
    let outcome = provider.send(&sms(TO, "hi")).await;
    assert_eq!(outcome, Outcome::retry(Reason::RateLimited, "status 1"));
    sim.faults().set(fault(status(503, Some(3)), Some(1)));
    match provider.send(&sms(TO, "hi")).await {
        Outcome::Retry {
            reason: Reason::ProviderUnavailable,
            after,
            ..
        } => assert_eq!(after, Some(Duration::from_secs(3))),
        other => panic!("expected an outage retry, got {other:?}"),
    }
    sim.faults().set(fault(Fault::Drop, Some(1)));
    let outcome = provider.send(&sms(TO, "hi")).await;
    assert_eq!(reason(&outcome), Some(Reason::AnswerLost));
    assert!(sim.ledger().is_empty());

    let wrong = VonageProvider::new(VonageConfig {
        delivery_receipt_url: None,
        signature_secret: None,
        signature_method: None,
        base_url: sim.base_url().to_owned(),
        api_key: KEY.into(),
        api_secret: SecretConfig::File(secret_file("wrong")),
        from: "acme".into(),
        timeout_ms: 2_000,
        connect_timeout_ms: 1_000,
    })
    .unwrap();
    let outcome = wrong.send(&sms(TO, "hi")).await;
    assert_eq!(outcome, Outcome::retry(Reason::ProviderAuth, "status 4"));
}

#[test]
fn vonage_classifies_parts_and_unknown_statuses() {
    use reqwest::StatusCode;
    let ok = StatusCode::OK;
    let body = br#"{"messages":[{"status":"0","message-id":"a"},{"status":"5"}]}"#;
    assert_eq!(
        vonage::classify(ok, None, body),
        Outcome::retry(Reason::ProviderUnavailable, "status 5")
    );
    let body = br#"{"messages":[{"status":"3","error-text":"Invalid to address"}]}"#;
    assert_eq!(
        reason(&vonage::classify(ok, None, body)),
        Some(Reason::BadAddress)
    );
    let body = br#"{"messages":[{"status":"3","error-text":"Invalid from param"}]}"#;
    assert_eq!(
        reason(&vonage::classify(ok, None, body)),
        Some(Reason::BadMessage)
    );
    let body = br#"{"messages":[{"status":"99"}]}"#;
    assert!(!vonage::classify(ok, None, body).is_retry());
    let outcome = vonage::classify(ok, None, b"not json");
    assert_eq!(reason(&outcome), Some(Reason::UnexpectedResponse));
    assert!(outcome.is_retry());
}

#[tokio::test]
async fn failover_moves_to_vonage_while_twilio_is_down_and_probes_back() {
    let (primary_sim, secondary_sim) = (twilio_sim().await, vonage_sim().await);
    let (primary, secondary) = (twilio(&primary_sim), vonage(&secondary_sim));
    let (failover, clock) = failover("sms", primary, secondary, 2, 10_000);
    primary_sim.faults().set(fault(status(503, None), None));
    for _ in 0..4 {
        assert_sent(&failover.send(&sms(TO, "hi")).await);
    }
    assert_eq!(failover.states().0, BreakerState::Open);
    assert_eq!(secondary_sim.ledger().len(), 4);
    assert!(primary_sim.ledger().is_empty());

    // Recovered, but the breaker keeps traffic away until the cooldown ends.
    primary_sim.faults().set(FaultSettings::default());
    failover.send(&sms(TO, "hi")).await;
    assert_eq!(secondary_sim.ledger().len(), 5);
    clock.advance(Duration::from_secs(10));
    assert_eq!(failover.states().0, BreakerState::HalfOpen);
    let probe = sms(TO, "probe");
    assert_sent(&failover.send(&probe).await);
    assert_eq!(failover.states().0, BreakerState::Closed);
    let entries = primary_sim.ledger().entries();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].delivery_id, Some(probe.delivery_id.to_string()));
    failover.send(&sms(TO, "hi")).await;
    assert_eq!(
        (primary_sim.ledger().len(), secondary_sim.ledger().len()),
        (2, 5)
    );
}

#[test]
fn phone_numbers_are_redacted() {
    assert_eq!(redact_phone("+821012345678"), "+82…78");
    assert!(!redact_phone("+821012345678").contains("1234"));
    assert!(is_e164("+15005550006"));
    assert!(!is_e164("15005550006") && !is_e164("+0123456789") && !is_e164("+1"));
}
