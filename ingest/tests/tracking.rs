//! The tracking routes in process, against the in-memory log and publisher: a genuine click
//! redirects to its signed destination and an open answers the pixel, each reported once as a
//! TRACKER status; forged, tampered, expired, wrong-purpose and open-redirect tokens are refused
//! with no redirect and no status.

mod support;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use notify_common::clock::now_ms;
use notify_common::links::{LinkKeys, Purpose};
use notify_common::tracking::{TrackedDelivery, Tracker};
use notify_ingest::tracking::{Tracking, PIXEL};
use notify_schemas::{samples, Delivery, Receipt, Stage, Status};
use notify_store::notification_log::{DeliveryLog, LogWrite};
use support::{harness, Harness};

const KEY: &[u8; 32] = b"the gateway's tracking key 32 B!";
const BASE: &str = "https://notify.example.com";

fn tracker(key: &[u8]) -> Tracker {
    Tracker::new(LinkKeys::new(&[key]).unwrap(), BASE, 3_600)
}

async fn gateway() -> (Harness, TrackedDelivery) {
    let mut h = harness(Default::default()).await;
    h.state.receipts = Some(Arc::new(support::receipts(&h)));
    h.state.tracking = Some(Arc::new(Tracking::new(tracker(KEY))));
    h.app = notify_ingest::routes::router(h.state.clone());
    let delivery = samples::full_email_delivery();
    let row = LogWrite {
        provider_message_id: Some("sg-1".into()),
        ..log_row(&delivery, "delivered", "sendgrid")
    };
    h.log.put(&row).await.unwrap();
    (h, TrackedDelivery::from(&delivery))
}

/// The log row a dispatcher writes for `delivery` once `provider` took it.
fn log_row(delivery: &Delivery, state: &str, provider: &str) -> LogWrite {
    LogWrite {
        tenant: delivery.tenant.clone(),
        event_id: delivery.event_id.to_string(),
        channel: "email".into(),
        recipient: delivery.recipient.key().to_owned(),
        delivery_id: delivery.delivery_id.to_string(),
        state: state.into(),
        reason: None,
        attempts: 1,
        provider: Some(provider.into()),
        provider_message_id: None,
        updated_at_ms: now_ms(),
    }
}

fn path(url: &str) -> &str {
    url.strip_prefix(BASE).unwrap()
}

async fn get(h: &Harness, path: &str) -> (StatusCode, Option<String>, Vec<u8>) {
    let response = tower::ServiceExt::oneshot(
        h.app.clone(),
        Request::get(path).body(Body::empty()).unwrap(),
    )
    .await
    .unwrap();
    let status = response.status();
    let location = response
        .headers()
        .get(header::LOCATION)
        .map(|v| v.to_str().unwrap().to_owned());
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    (status, location, body.to_vec())
}

#[tokio::test]
async fn a_click_redirects_to_its_destination_and_is_reported_once() {
    let (h, delivery) = gateway().await;
    let destination = "https://shop.example/orders/1?utm=x&q=%22a%22";
    let link = tracker(KEY)
        .click_url(&delivery, destination, now_ms())
        .unwrap();
    let (status, location, _) = get(&h, path(&link)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some(destination));
    // the recipient clicks again: redirected again, reported once
    assert_eq!(get(&h, path(&link)).await.1.as_deref(), Some(destination));
    let statuses = h.statuses();
    assert_eq!(statuses.len(), 1, "{statuses:?}");
    let clicked = &statuses[0];
    assert_eq!(
        (clicked.status, clicked.stage, clicked.receipt),
        (Status::Clicked, Stage::Tracker, Some(Receipt::Clicked))
    );
    assert_eq!(clicked.delivery_id, Some(delivery.delivery_id));
    assert_eq!(clicked.category.as_deref(), Some("order_shipped"));
    assert_eq!(clicked.template_id.as_deref(), Some("order_shipped_v2"));
    assert_eq!(clicked.provider.as_deref(), Some("sendgrid"));
    assert_eq!(clicked.recipient.as_deref(), Some("j***@example.com"));
}

#[tokio::test]
async fn an_open_answers_the_pixel_uncached_and_is_reported_once() {
    let (h, delivery) = gateway().await;
    let pixel = tracker(KEY).open_url(&delivery, now_ms());
    let response = tower::ServiceExt::oneshot(
        h.app.clone(),
        Request::get(path(&pixel)).body(Body::empty()).unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "image/gif");
    assert!(response.headers()[header::CACHE_CONTROL]
        .to_str()
        .unwrap()
        .contains("no-store"));
    assert_eq!(get(&h, path(&pixel)).await.2, PIXEL);
    // an open after a click is still the first open; a second open is not reported
    let link = tracker(KEY)
        .click_url(&delivery, "https://shop.example/", now_ms())
        .unwrap();
    get(&h, path(&link)).await;
    get(&h, path(&pixel)).await;
    let kinds: Vec<_> = h.statuses().iter().map(|s| s.status).collect();
    assert_eq!(kinds, [Status::Opened, Status::Clicked]);
}

#[tokio::test]
async fn forged_tampered_stale_misused_and_redirecting_tokens_are_refused() {
    let (h, delivery) = gateway().await;
    let now = now_ms();
    let ours = tracker(KEY);
    let click = ours
        .click_url(&delivery, "https://shop.example/", now)
        .unwrap();
    let open = ours.open_url(&delivery, now);
    let forged = tracker(b"somebody else's key, 32 bytes!!!")
        .click_url(&delivery, "https://evil.example/", now)
        .unwrap();
    let stale = ours
        .click_url(&delivery, "https://shop.example/", now - 3_601_000)
        .unwrap();
    let (body, rest) = path(&click)["/t/c/".len()..].split_once('.').unwrap();
    let mut tampered = body.to_owned();
    tampered.replace_range(12..13, if &body[12..13] == "A" { "B" } else { "A" });
    let keys = LinkKeys::new(&[KEY]).unwrap();
    let mut claims = serde_json::to_value(&delivery).unwrap();
    claims["l"] = "javascript:alert(document.cookie)".into();
    let script = keys.sign(
        Purpose::Click,
        claims.to_string().as_bytes(),
        now / 1_000 + 60,
    );
    let unsubscribe = keys.sign(Purpose::Unsubscribe, b"{}", now / 1_000 + 60);
    let refused = [
        path(&forged).to_owned(),
        path(&stale).to_owned(),
        format!("/t/c/{tampered}.{rest}"),
        format!("/t/c/{}", &path(&open)["/t/o/".len()..]),
        format!("/t/o/{}", &path(&click)["/t/c/".len()..]),
        format!("/t/c/{script}"),
        format!("/t/c/{unsubscribe}"),
        "/t/c/not-a-token".to_owned(),
        "/t/o/a.b.c".to_owned(),
    ];
    for path in &refused {
        let (status, location, _) = get(&h, path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(location, None, "{path}");
    }
    assert!(h.statuses().is_empty(), "{:?}", h.statuses());
    let unicode = ours
        .click_url(&delivery, "https://shop.example/größe?q=ä", now)
        .unwrap();
    assert_eq!(
        get(&h, path(&unicode)).await.1.as_deref(),
        Some("https://shop.example/gr%C3%B6%C3%9Fe?q=%C3%A4")
    );
}

#[tokio::test]
async fn tracking_is_off_without_links() {
    let h = harness(Default::default()).await;
    let link = tracker(KEY).open_url(
        &TrackedDelivery::from(&samples::full_email_delivery()),
        now_ms(),
    );
    assert_eq!(get(&h, path(&link)).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_open_before_the_delivery_is_logged_still_gets_the_pixel_and_counts_later() {
    let (h, logged) = gateway().await;
    let mut unlogged = logged.clone();
    unlogged.delivery_id = uuid::Uuid::new_v4();
    let pixel = tracker(KEY).open_url(&unlogged, now_ms());
    assert_eq!(get(&h, path(&pixel)).await.2, PIXEL);
    assert!(h.statuses().is_empty());
    let delivery = samples::full_email_delivery();
    let row = LogWrite {
        recipient: "late@example.com".into(),
        delivery_id: unlogged.delivery_id.to_string(),
        ..log_row(&delivery, "sent", "smtp")
    };
    h.log.put(&row).await.unwrap();
    get(&h, path(&pixel)).await;
    let statuses = h.statuses();
    assert_eq!(statuses.len(), 1);
    assert_eq!(statuses[0].delivery_id, Some(unlogged.delivery_id));
    assert_eq!(statuses[0].provider.as_deref(), Some("smtp"));
}
