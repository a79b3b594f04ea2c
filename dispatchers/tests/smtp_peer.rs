//! The SMTP client against an SMTP server that is not ours: Python aiosmtpd, started by
//! `scripts/peers.d/smtp start` (which `scripts/test` runs), with every accepted message in a
//! JSON Lines spool file.
//!
//! Needs `NOTIFY_IT_SMTP` (host:port) and `NOTIFY_IT_SMTP_SPOOL` (the spool file); fails with
//! a clear message when either is unset. The peer refuses recipients whose local part starts
//! with `defer-` (451) or `reject-` (550 5.1.1), and `bounce`/`bounce+…` (550 5.1.1).

use std::time::{Duration, Instant};

use notify_dispatchers::providers::email::{SmtpConfig, SmtpProvider, SmtpTls};
use notify_dispatchers::{Outcome, Provider, Reason};
use notify_schemas::samples::full_email_delivery;
use notify_schemas::{Delivery, EmailAddress, Recipient, RenderedContent, Uuid};
use serde_json::Value;

const IGNORE: &str = "needs the aiosmtpd peer: run scripts/test";

struct Peer {
    host: String,
    port: u16,
    spool: String,
}

fn peer() -> Peer {
    let address = std::env::var("NOTIFY_IT_SMTP").unwrap_or_else(|_| {
        panic!("NOTIFY_IT_SMTP is unset: start the peer with scripts/peers.d/smtp start and set it to host:port ({IGNORE})")
    });
    let spool = std::env::var("NOTIFY_IT_SMTP_SPOOL").unwrap_or_else(|_| {
        panic!("NOTIFY_IT_SMTP_SPOOL is unset: set it to the output of scripts/peers.d/smtp spool ({IGNORE})")
    });
    let (host, port) = address
        .rsplit_once(':')
        .unwrap_or_else(|| panic!("NOTIFY_IT_SMTP={address} is not host:port"));
    Peer {
        host: host.to_owned(),
        port: port
            .parse()
            .unwrap_or_else(|_| panic!("NOTIFY_IT_SMTP={address} has no valid port")),
        spool,
    }
}

fn provider(peer: &Peer) -> SmtpProvider {
    SmtpProvider::new(SmtpConfig {
        host: peer.host.clone(),
        port: Some(peer.port),
        tls: SmtpTls::None,
        username: None,
        password: None,
        hello_name: Some("dispatcher.test".into()),
        message_id_domain: Some("notify.test".into()),
        timeout_ms: 5_000,
        max_connections: 2,
        dsn_secret: None,
    })
    .expect("smtp provider")
}

fn email(address: &str) -> Delivery {
    let mut delivery = full_email_delivery();
    delivery.delivery_id = Uuid::new_v4();
    delivery.recipient = Recipient::Email(EmailAddress {
        address: address.into(),
        name: Some("Jane Doe".into()),
    });
    if let RenderedContent::Email(e) = &mut delivery.content {
        e.text = Some("Your order shipped.\r\n.a line starting with a dot\r\nBye".into());
    }
    delivery
}

/// The spool record whose message carries `delivery_id`, waiting up to 5 s for it.
fn spooled(spool: &str, delivery_id: &str) -> Value {
    let needle = format!("X-Notify-Delivery-Id: {delivery_id}");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = std::fs::read_to_string(spool).unwrap_or_default();
        let found = text
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .find(|record| record["data"].as_str().is_some_and(|d| d.contains(&needle)));
        if let Some(record) = found {
            return record;
        }
        assert!(
            Instant::now() < deadline,
            "no message with {needle} in {spool} after 5 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test]
#[ignore = "needs the aiosmtpd peer: run scripts/test"]
async fn aiosmtpd_receives_the_message_with_our_headers_and_bodies() {
    let peer = peer();
    let provider = provider(&peer);
    let d = email("jane@example.com");
    let id = d.delivery_id.to_string();
    let message_id = format!("<{id}@notify.test>");
    assert_eq!(
        provider.send(&d).await,
        Outcome::Sent {
            provider_message_id: Some(message_id.clone())
        }
    );
    let record = spooled(&peer.spool, &id);
    assert_eq!(record["mail_from"], "no-reply@acme.example");
    assert_eq!(record["rcpt_tos"], serde_json::json!(["jane@example.com"]));
    let data = record["data"].as_str().unwrap();
    for expected in [
        format!("Message-ID: {message_id}"),
        "Subject: Order 1234 shipped".to_owned(),
        "To: \"Jane Doe\" <jane@example.com>".to_owned(),
        "Reply-To: support@acme.example".to_owned(),
        "multipart/alternative".to_owned(),
        "\r\n.a line starting with a dot\r\n".to_owned(),
        "<p>Your <b>Rust mug</b> is on its way.</p>".to_owned(),
    ] {
        assert!(data.contains(&expected), "missing {expected:?} in:\n{data}");
    }
    assert!(data.find("text/plain").unwrap() < data.find("text/html").unwrap());
}

#[tokio::test]
#[ignore = "needs the aiosmtpd peer: run scripts/test"]
async fn aiosmtpd_refusals_are_classified() {
    let peer = peer();
    let provider = provider(&peer);
    let deferred = provider.send(&email("defer-me@example.com")).await;
    assert_eq!(
        deferred,
        Outcome::retry(Reason::ProviderUnavailable, "smtp 451")
    );
    // a mailbox the server says does not exist: the address is to be listed
    for gone in ["reject-me@example.com", "bounce+peer@example.com"] {
        let rejected = provider.send(&email(gone)).await;
        let expected = Outcome::InvalidRecipient {
            reason: Reason::BadAddress,
            since: None,
            detail: "smtp 550 5.1.1".into(),
        };
        assert_eq!(rejected, expected, "{gone}");
    }
    // The connection pool is still usable after both refusals.
    let d = email("jane@example.com");
    assert!(matches!(provider.send(&d).await, Outcome::Sent { .. }));
    spooled(&peer.spool, &d.delivery_id.to_string());
}
