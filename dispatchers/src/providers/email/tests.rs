//! SendGrid and SMTP clients against the in-process simulators: success, every error class,
//! X-RateLimit-Reset, dropped connections, size limits, and failover from SendGrid to SMTP.

use std::time::Duration;

use notify_schemas::samples::full_email_delivery;
use notify_schemas::{Delivery, EmailAddress, Recipient, RenderedContent, Uuid};
use notify_sim::faults::FaultSettings;
use notify_sim::sendgrid::{SendGridSim, SendGridSimSettings};
use notify_sim::smtp::{SmtpSim, SmtpSimSettings};
use notify_sim::Fault;

use super::*;
use crate::providers::failover::BreakerState;
use crate::providers::provider::{Outcome, Provider, Reason};
use crate::providers::secret::SecretConfig;
use crate::providers::test_support::{
    assert_sent, failover, fault, listener, reason, secret_file, status,
};

const KEY: &str = "SG.test-key";
const TO: &str = "jane@example.com";

async fn sendgrid_sim(settings: SendGridSimSettings) -> SendGridSim {
    notify_sim::sendgrid::serve(listener().await, settings).unwrap()
}

async fn smtp_sim(settings: SmtpSimSettings) -> SmtpSim {
    notify_sim::smtp::serve_with_control(listener().await, listener().await, settings).unwrap()
}

fn sendgrid(sim: &SendGridSim, key: &str) -> SendGridProvider {
    SendGridProvider::new(SendGridConfig {
        base_url: sim.base_url().to_owned(),
        api_key: SecretConfig::File(secret_file(key)),
        timeout_ms: 2_000,
        connect_timeout_ms: 1_000,
        event_webhook_public_key: None,
    })
    .unwrap()
}

fn smtp_config(sim: &SmtpSim) -> SmtpConfig {
    SmtpConfig {
        host: "127.0.0.1".into(),
        port: Some(sim.local_addr().port()),
        tls: SmtpTls::None,
        username: None,
        password: None,
        hello_name: Some("dispatcher.test".into()),
        message_id_domain: None,
        timeout_ms: 2_000,
        max_connections: 2,
        dsn_secret: None,
    }
}

fn smtp(sim: &SmtpSim) -> SmtpProvider {
    SmtpProvider::new(smtp_config(sim)).unwrap()
}

fn email(to: &str) -> Delivery {
    let mut delivery = full_email_delivery();
    delivery.delivery_id = Uuid::new_v4();
    delivery.recipient = Recipient::Email(EmailAddress {
        address: to.into(),
        name: Some("Jane Doe".into()),
    });
    delivery
}

#[tokio::test]
async fn sendgrid_sends_with_custom_args_and_both_bodies() {
    let sim = sendgrid_sim(SendGridSimSettings::new(KEY)).await;
    let provider = sendgrid(&sim, KEY);
    let d = email(TO);
    let outcome = provider.send(&d).await;
    let id = assert_sent(&outcome).expect("message id");
    let entries = sim.ledger().entries();
    assert_eq!(entries.len(), 1);
    let entry = &entries[0];
    assert_eq!(entry.message_id, id);
    assert_eq!(entry.delivery_id, Some(d.delivery_id.to_string()));
    assert_eq!(entry.recipient, TO);
    assert_eq!(entry.summary["subject"], "Order 1234 shipped");
    assert_eq!(entry.summary["from"], "no-reply@acme.example");
    assert_eq!(entry.summary["reply_to"], "support@acme.example");
    assert_eq!(entry.summary["text"], "Your Rust mug is on its way.");
    assert_eq!(
        entry.summary["html"],
        "<p>Your <b>Rust mug</b> is on its way.</p>"
    );
}

#[tokio::test]
async fn sendgrid_errors_map_to_outcomes() {
    let sim = sendgrid_sim(SendGridSimSettings {
        max_body_bytes: 4_000,
        ..SendGridSimSettings::new(KEY)
    })
    .await;
    let provider = sendgrid(&sim, KEY);
    // The sim refuses a domain without a dot in personalizations.0.to.0.email.
    let outcome = provider.send(&email("jane@localhost")).await;
    assert_eq!(
        outcome,
        Outcome::failed(
            Reason::BadAddress,
            "http 400 (personalizations.0.to.0.email)"
        )
    );
    let mut too_big = email(TO);
    if let RenderedContent::Email(e) = &mut too_big.content {
        e.html = Some("x".repeat(5_000));
    }
    assert_eq!(
        provider.send(&too_big).await,
        Outcome::failed(Reason::BadMessage, "http 413")
    );
    let mut empty = email(TO);
    if let RenderedContent::Email(e) = &mut empty.content {
        e.subject = String::new();
    }
    assert_eq!(
        provider.send(&empty).await,
        Outcome::failed(Reason::BadMessage, "http 400 (subject)")
    );
    let outcome = sendgrid(&sim, "SG.wrong").send(&email(TO)).await;
    assert_eq!(outcome, Outcome::retry(Reason::ProviderAuth, "http 401"));
    sim.faults().set(fault(status(500, None), Some(1)));
    let outcome = provider.send(&email(TO)).await;
    assert_eq!(
        outcome,
        Outcome::retry(Reason::ProviderUnavailable, "http 500")
    );
    sim.faults().set(fault(Fault::Drop, Some(1)));
    let outcome = provider.send(&email(TO)).await;
    assert_eq!(reason(&outcome), Some(Reason::AnswerLost));
    assert!(outcome.is_retry());
    assert!(sim.ledger().is_empty());
}

#[tokio::test]
async fn sendgrid_rate_limit_waits_for_the_reset_time() {
    let sim = sendgrid_sim(SendGridSimSettings::new(KEY)).await;
    let provider = sendgrid(&sim, KEY);
    sim.faults().set(fault(status(429, Some(30)), Some(1)));
    match provider.send(&email(TO)).await {
        Outcome::Retry {
            reason: Reason::RateLimited,
            after: Some(after),
            ..
        } => assert!(
            after >= Duration::from_secs(28) && after <= Duration::from_secs(30),
            "{after:?}"
        ),
        other => panic!("expected a rate-limit retry with a wait, got {other:?}"),
    }
    assert_sent(&provider.send(&email(TO)).await);
}

#[test]
fn sendgrid_prefers_the_later_of_retry_after_and_reset() {
    use reqwest::header::{HeaderMap, HeaderValue};
    use reqwest::StatusCode;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut headers = HeaderMap::new();
    headers.insert("retry-after", HeaderValue::from(100u64));
    headers.insert("x-ratelimit-reset", HeaderValue::from(now + 10));
    let outcome = sendgrid::classify(StatusCode::TOO_MANY_REQUESTS, &headers, b"");
    let Outcome::Retry { after, .. } = outcome else {
        panic!("not a retry");
    };
    assert_eq!(after, Some(Duration::from_secs(100)));
    let body = br#"{"errors":[{"field":"from.email","message":"bad"}]}"#;
    let outcome = sendgrid::classify(StatusCode::BAD_REQUEST, &HeaderMap::new(), body);
    assert_eq!(reason(&outcome), Some(Reason::BadMessage));
    let forbidden = sendgrid::classify(StatusCode::FORBIDDEN, &HeaderMap::new(), b"");
    assert_eq!(reason(&forbidden), Some(Reason::ProviderAuth));
    assert!(forbidden.is_retry());
}

#[tokio::test]
async fn smtp_sends_multipart_with_delivery_id_headers() {
    let sim = smtp_sim(SmtpSimSettings::default()).await;
    let provider = smtp(&sim);
    let mut d = email(TO);
    if let RenderedContent::Email(e) = &mut d.content {
        // A line starting with a dot must survive dot-stuffing.
        e.text = Some("first line\r\n.dotted line\r\nlast line".into());
    }
    let outcome = provider.send(&d).await;
    let expected_id = format!("<{}@acme.example>", d.delivery_id);
    assert_eq!(
        outcome,
        Outcome::Sent {
            provider_message_id: Some(expected_id.clone())
        }
    );
    let entries = sim.ledger().entries();
    assert_eq!(entries.len(), 1);
    let entry = &entries[0];
    assert_eq!(entry.delivery_id, Some(d.delivery_id.to_string()));
    assert_eq!(entry.recipient, TO);
    assert_eq!(entry.summary["subject"], "Order 1234 shipped");
    assert_eq!(entry.summary["message_id"], expected_id.as_str());
    assert_eq!(entry.summary["mail_from"], "no-reply@acme.example");
    let raw = entry.summary["raw"].as_str().unwrap();
    assert!(raw.contains("multipart/alternative"), "{raw}");
    assert!(raw.contains("\r\n.dotted line\r\n"), "{raw}");
    let text_at = raw.find("text/plain").unwrap();
    let html_at = raw.find("text/html").unwrap();
    assert!(text_at < html_at, "text/plain comes first");
    assert!(raw.contains("Reply-To: support@acme.example"), "{raw}");
    // what a bounce message returns to name the delivery
    assert!(
        raw.contains(&format!("X-Notify-Tenant: {}\r\n", d.tenant)),
        "{raw}"
    );
    assert!(
        raw.contains(&format!("X-Notify-Event-Id: {}\r\n", d.event_id)),
        "{raw}"
    );
}

/// The outcome of a recipient the relay refused for good: the address gets listed.
fn refused(detail: &str) -> Outcome {
    Outcome::InvalidRecipient {
        reason: Reason::BadAddress,
        since: None,
        detail: detail.into(),
    }
}

#[tokio::test]
async fn smtp_replies_map_to_outcomes() {
    let sim = smtp_sim(SmtpSimSettings::default()).await;
    let provider = smtp(&sim);
    for (code, expected) in [
        (451, Outcome::retry(Reason::ProviderUnavailable, "smtp 451")),
        (421, Outcome::retry(Reason::ProviderUnavailable, "smtp 421")),
        (550, refused("smtp 550 5.1.1")),
        (553, refused("smtp 553 5.1.3")),
        (554, Outcome::failed(Reason::BadMessage, "smtp 554")),
    ] {
        sim.faults().set(fault(status(code, None), Some(1)));
        assert_eq!(provider.send(&email(TO)).await, expected, "{code}");
    }
    sim.faults().set(fault(Fault::Drop, Some(1)));
    let outcome = provider.send(&email(TO)).await;
    assert_eq!(reason(&outcome), Some(Reason::Connection), "{outcome:?}");
    assert!(sim.ledger().is_empty());
    // The pool recovers from every one of those.
    assert_sent(&provider.send(&email(TO)).await);
    assert_eq!(sim.ledger().len(), 1);
}

#[tokio::test]
async fn smtp_size_cap_and_refused_connection() {
    let sim = smtp_sim(SmtpSimSettings {
        max_message_bytes: 2_000,
        ..SmtpSimSettings::default()
    })
    .await;
    let provider = smtp(&sim);
    let mut big = email(TO);
    if let RenderedContent::Email(e) = &mut big.content {
        e.html = Some("<p>x</p>".repeat(500));
    }
    assert_eq!(
        provider.send(&big).await,
        Outcome::failed(Reason::BadMessage, "smtp 552 5.3.4")
    );
    let closed = listener().await;
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut config = smtp_config(&sim);
    config.port = Some(port);
    let outcome = SmtpProvider::new(config).unwrap().send(&email(TO)).await;
    assert_eq!(reason(&outcome), Some(Reason::Connection), "{outcome:?}");
    assert!(outcome.is_retry());
}

#[test]
fn smtp_config_checks() {
    let config: SmtpConfig =
        serde_json::from_value(serde_json::json!({"host": "mx.example"})).expect("minimal config");
    assert_eq!(config.tls, SmtpTls::Starttls);
    assert!(SmtpProvider::new(config.clone()).is_ok());
    let mut half = config;
    half.username = Some("user".into());
    assert!(matches!(SmtpProvider::new(half), Err(SmtpError::Config(_))));
    let unknown =
        serde_json::from_value::<SmtpConfig>(serde_json::json!({"host": "h", "tls": "ssl"}));
    assert!(unknown.is_err());
}

#[tokio::test]
async fn bad_addresses_fail_before_any_request() {
    let sim = smtp_sim(SmtpSimSettings::default()).await;
    let outcome = smtp(&sim).send(&email("not an address")).await;
    assert_eq!(reason(&outcome), Some(Reason::BadAddress));
    let mut bad_from = email(TO);
    if let RenderedContent::Email(e) = &mut bad_from.content {
        e.from = "acme <nowhere".into();
    }
    assert_eq!(
        reason(&smtp(&sim).send(&bad_from).await),
        Some(Reason::BadMessage)
    );
    assert!(sim.ledger().is_empty());
    assert_eq!(redact_email("jane@example.com"), "j…@example.com");
}

#[tokio::test]
async fn failover_moves_to_smtp_while_sendgrid_is_down_and_probes_back() {
    let primary_sim = sendgrid_sim(SendGridSimSettings::new(KEY)).await;
    let secondary_sim = smtp_sim(SmtpSimSettings::default()).await;
    let (primary, secondary) = (sendgrid(&primary_sim, KEY), smtp(&secondary_sim));
    let (failover, clock) = failover("email", primary, secondary, 3, 5_000);
    primary_sim.faults().set(fault(status(503, None), None));
    for _ in 0..5 {
        assert_sent(&failover.send(&email(TO)).await);
    }
    assert_eq!(
        failover.states(),
        (BreakerState::Open, BreakerState::Closed)
    );
    assert_eq!(secondary_sim.ledger().len(), 5);

    // Still failing at the first probe: the breaker opens for another cooldown.
    clock.advance(Duration::from_secs(5));
    failover.send(&email(TO)).await;
    assert_eq!(failover.states().0, BreakerState::Open);
    assert_eq!(secondary_sim.ledger().len(), 6);

    primary_sim.faults().set(FaultSettings::default());
    clock.advance(Duration::from_secs(5));
    let probe = email(TO);
    failover.send(&probe).await;
    assert_eq!(failover.states().0, BreakerState::Closed);
    let entries = primary_sim.ledger().entries();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].delivery_id, Some(probe.delivery_id.to_string()));
    failover.send(&email(TO)).await;
    assert_eq!(
        (primary_sim.ledger().len(), secondary_sim.ledger().len()),
        (2, 6)
    );
}

#[tokio::test]
async fn required_starttls_never_falls_back_to_plaintext() {
    let sim = smtp_sim(SmtpSimSettings::default()).await;
    let mut config = smtp_config(&sim);
    config.tls = SmtpTls::Starttls;
    let outcome = SmtpProvider::new(config).unwrap().send(&email(TO)).await;
    assert!(outcome.is_retry(), "{outcome:?}");
    assert!(sim.ledger().is_empty(), "nothing was sent in plaintext");
}

#[tokio::test]
async fn smtp_auth_refusal_is_retried_and_a_rotated_password_is_used() {
    let sim = smtp_sim(SmtpSimSettings {
        credentials: Some(("dispatcher".into(), "right-password".into())),
        ..SmtpSimSettings::default()
    })
    .await;
    let password_file = secret_file("stale-password");
    let mut config = smtp_config(&sim);
    config.username = Some("dispatcher".into());
    config.password = Some(SecretConfig::File(password_file.clone()));
    let provider = SmtpProvider::new(config).unwrap();
    let outcome = provider.send(&email(TO)).await;
    assert_eq!(outcome, Outcome::retry(Reason::ProviderAuth, "smtp 535"));
    std::fs::write(&password_file, "right-password\n").unwrap();
    assert_sent(&provider.send(&email(TO)).await);
    assert_eq!(sim.ledger().len(), 1);
}

#[tokio::test]
async fn smtp_sends_a_single_part_when_only_one_body_exists() {
    let sim = smtp_sim(SmtpSimSettings::default()).await;
    let provider = smtp(&sim);
    let mut html_only = email(TO);
    let mut text_only = email(TO);
    if let RenderedContent::Email(e) = &mut html_only.content {
        e.text = None;
    }
    if let RenderedContent::Email(e) = &mut text_only.content {
        e.html = None;
        e.reply_to = None;
    }
    for d in [&html_only, &text_only] {
        assert_sent(&provider.send(d).await);
    }
    let entries = sim.ledger().entries();
    let html = entries[0].summary["raw"].as_str().unwrap();
    assert!(
        !html.contains("multipart") && html.contains("Content-Type: text/html"),
        "{html}"
    );
    let text = entries[1].summary["raw"].as_str().unwrap();
    assert!(
        !text.contains("multipart") && text.contains("Content-Type: text/plain"),
        "{text}"
    );
    assert!(!text.contains("Reply-To"), "{text}");
}
