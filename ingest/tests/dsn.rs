//! `POST /v1/receipts/smtp/dsn` in process, against the in-memory log, suppression list and
//! publisher: a relay's bounce for the delivery's own address is reported once as `bounced`
//! and lists the address for the tenant; a replay reports nothing; a bounce for another
//! address, a delay, an unknown delivery, a missing or wrong secret, a wrong content type, a
//! malformed or oversized body record nothing.

mod support;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use notify_common::clock::now_ms;
use notify_common::config::{IngestConfig, SecretConfig};
use notify_schemas::{Receipt, Stage, Status};
use notify_store::notification_log::{DeliveryLog, LogKey, LogWrite};
use notify_store::suppressions::{SuppressionList, SuppressionReason};
use support::{harness, Harness};

use notify_ingest::receipts::{Receipts, SmtpReceipts};

const SECRET: &str = "bounce-mailbox-secret";
const DELIVERY: &str = "6f1c2d3e-0000-4000-8000-0000000000d5";
const EVENT: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";
const ADDRESS: &str = "Gone@Example.org";

async fn gateway() -> Harness {
    let file = std::env::temp_dir().join(format!("notify-dsn-{}", uuid::Uuid::new_v4()));
    std::fs::write(&file, format!("{SECRET}\n")).unwrap();
    let mut h = harness(IngestConfig::default()).await;
    h.state.receipts = Some(Arc::new(Receipts {
        smtp: Some(SmtpReceipts {
            dsn_secret: SecretConfig::File(file),
        }),
        ..support::receipts(&h)
    }));
    h.app = notify_ingest::routes::router(h.state.clone());
    // the SMTP dispatcher's row of the delivery: sent, with its Message-ID
    h.log
        .put(&LogWrite {
            tenant: "acme".into(),
            event_id: EVENT.into(),
            channel: "email".into(),
            recipient: ADDRESS.into(),
            delivery_id: DELIVERY.into(),
            state: "sent".into(),
            reason: None,
            attempts: 1,
            provider: Some("smtp".into()),
            provider_message_id: Some(format!("<{DELIVERY}@acme.example>")),
            updated_at_ms: now_ms(),
        })
        .await
        .unwrap();
    h
}

/// A DSN after RFC 3464 for `recipient` with `action` and `status`, returning the header of
/// the message of `delivery`.
fn dsn(recipient: &str, action: &str, status: &str, delivery: &str) -> String {
    format!(
        "From: MAILER-DAEMON@relay.example\r\nTo: bounces@acme.example\r\n\
         Subject: Delivery Status Notification (Failure)\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"b1\"\r\n\r\n\
         --b1\r\nContent-Type: text/plain\r\n\r\nThe message was not delivered.\r\n\
         --b1\r\nContent-Type: message/delivery-status\r\n\r\n\
         Reporting-MTA: dns; relay.example\r\n\r\n\
         Final-Recipient: rfc822; {recipient}\r\nAction: {action}\r\nStatus: {status}\r\n\
         Remote-MTA: dns; mx.example.org\r\n\
         Diagnostic-Code: smtp; 550 {status} mailbox unknown\r\n\r\n\
         --b1\r\nContent-Type: text/rfc822-headers\r\n\r\n\
         From: no-reply@acme.example\r\nTo: {recipient}\r\nSubject: Order shipped\r\n\
         Message-ID: <{delivery}@acme.example>\r\nX-Notify-Delivery-Id: {delivery}\r\n\
         X-Notify-Tenant: acme\r\nX-Notify-Event-Id: {EVENT}\r\n\r\n--b1--\r\n"
    )
}

async fn post(h: &Harness, auth: Option<&str>, content_type: &str, body: String) -> StatusCode {
    let mut request = Request::post("/v1/receipts/smtp/dsn").header("content-type", content_type);
    if let Some(auth) = auth {
        request = request.header("authorization", auth);
    }
    h.send(request.body(Body::from(body)).unwrap()).await.0
}

async fn post_dsn(h: &Harness, body: String) -> StatusCode {
    post(h, Some(&format!("Bearer {SECRET}")), "message/rfc822", body).await
}

async fn listed(h: &Harness, address: &str) -> usize {
    let entries = h
        .suppressions
        .lookup(notify_schemas::Channel::Email, address);
    entries.await.unwrap().len()
}

/// The state of the delivery's log row.
async fn logged_state(h: &Harness) -> Option<String> {
    let row = h
        .log
        .get(&LogKey::new("acme", EVENT, "email", ADDRESS))
        .await
        .unwrap();
    row.expect("the delivery's row").state
}

#[tokio::test]
async fn a_bounce_for_the_delivery_address_is_reported_once_and_listed() {
    let h = gateway().await;
    let bounce = dsn("gone@example.org", "failed", "5.1.1", DELIVERY);
    assert_eq!(post_dsn(&h, bounce.clone()).await, StatusCode::NO_CONTENT);

    let published = h.statuses();
    assert_eq!(published.len(), 1);
    let status = &published[0];
    assert_eq!(status.receipt, Some(Receipt::Bounced));
    assert_eq!(status.status, Status::Failed);
    assert_eq!(status.stage, Stage::Tracker);
    assert_eq!(status.reason.as_deref(), Some("smtp_bounce"));
    assert_eq!(status.provider.as_deref(), Some("smtp"));
    assert_eq!(
        status.delivery_id.map(|d| d.to_string()).as_deref(),
        Some(DELIVERY)
    );
    assert_eq!(logged_state(&h).await.as_deref(), Some("bounced"));
    let entries = h
        .suppressions
        .lookup(notify_schemas::Channel::Email, "gone@example.org")
        .await
        .unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].scope, "acme");
    assert_eq!(entries[0].reason, SuppressionReason::Bounced);

    // the mailbox forwards the same bounce again: taken, nothing new
    assert_eq!(post_dsn(&h, bounce).await, StatusCode::NO_CONTENT);
    assert_eq!(h.statuses().len(), 1);
}

#[tokio::test]
async fn reports_that_are_not_final_failures_of_the_delivery_address_record_nothing() {
    let h = gateway().await;
    let other_delivery = "6f1c2d3e-0000-4000-8000-0000000000ff";
    for body in [
        // the named delivery went to another address
        dsn("victim@example.org", "failed", "5.1.1", DELIVERY),
        dsn("gone@example.org", "delayed", "4.4.7", DELIVERY),
        dsn("gone@example.org", "delivered", "2.0.0", DELIVERY),
        // no such delivery in the log
        dsn("gone@example.org", "failed", "5.1.1", other_delivery),
    ] {
        assert_eq!(post_dsn(&h, body).await, StatusCode::NO_CONTENT);
    }
    assert!(h.statuses().is_empty());
    assert_eq!(listed(&h, "victim@example.org").await, 0);
    assert_eq!(listed(&h, "gone@example.org").await, 0);
    assert_eq!(logged_state(&h).await.as_deref(), Some("sent"));
}

#[tokio::test]
async fn unauthenticated_misdeclared_malformed_and_oversized_bodies_are_refused() {
    let h = gateway().await;
    let bounce = || dsn("gone@example.org", "failed", "5.1.1", DELIVERY);
    let rfc822 = "message/rfc822";
    assert_eq!(
        post(&h, None, rfc822, bounce()).await,
        StatusCode::UNAUTHORIZED
    );
    let wrong = post(&h, Some("Bearer not-the-secret"), rfc822, bounce()).await;
    assert_eq!(wrong, StatusCode::FORBIDDEN);
    let basic = post(&h, Some("Basic Ym91bmNlOnNlY3JldA=="), rfc822, bounce()).await;
    assert_eq!(basic, StatusCode::UNAUTHORIZED);
    let auth = format!("Bearer {SECRET}");
    let json = post(&h, Some(&auth), "application/json", bounce()).await;
    assert_eq!(json, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let not_a_report = "From: a@b.example\r\nSubject: hi\r\n\r\nhello\r\n".to_owned();
    assert_eq!(post_dsn(&h, not_a_report).await, StatusCode::BAD_REQUEST);
    let no_status = bounce().replace("message/delivery-status", "text/plain");
    assert_eq!(post_dsn(&h, no_status).await, StatusCode::BAD_REQUEST);
    let huge = format!("{}{}", bounce(), "x".repeat(2 * 1024 * 1024));
    assert_eq!(post_dsn(&h, huge).await, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(h.statuses().is_empty());
    assert_eq!(listed(&h, "gone@example.org").await, 0);
}

#[tokio::test]
async fn without_a_secret_the_route_is_not_there() {
    let mut h = harness(IngestConfig::default()).await;
    h.state.receipts = Some(Arc::new(support::receipts(&h)));
    h.app = notify_ingest::routes::router(h.state.clone());
    let body = dsn("gone@example.org", "failed", "5.1.1", DELIVERY);
    let auth = format!("Bearer {SECRET}");
    let answer = post(&h, Some(&auth), "message/rfc822", body).await;
    assert_eq!(answer, StatusCode::NOT_FOUND);
}
