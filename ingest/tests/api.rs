//! The gateway in-process over its in-memory fakes: the paths that need no real Kafka or
//! database to be exercised (rate limits, producer failures, idempotency bookkeeping).

mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use notify_common::config::IngestConfig;
use notify_common::publish::PublishError;
use notify_schemas::{Codec, NotificationRequest};
use notify_store::notification_log::{DeliveryLog, LogWrite, RouterOutcome};
use serde_json::{json, Value};
use support::{config_with, harness, notification, request_quota};
use tower::ServiceExt;

#[tokio::test]
async fn accepted_requests_are_published_as_avro_keyed_tenant_user() {
    let h = harness(IngestConfig::default()).await;
    let (status, _, body) = h.post(None, &notification()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let records = h.publisher.records();
    assert_eq!(records.len(), 1);
    let request = Codec::<NotificationRequest>::new()
        .expect("codec")
        .decode(&records[0].payload)
        .expect("decode");
    assert_eq!(records[0].key_str(), format!("{}:u1", request.tenant));
    assert_eq!(
        request.event_id.to_string(),
        body["event_id"].as_str().expect("id")
    );
}

#[tokio::test]
async fn a_tenant_over_its_rate_gets_429_with_retry_after() {
    let h = harness(request_quota(1, 2)).await;
    for _ in 0..2 {
        assert_eq!(h.post(None, &notification()).await.0, StatusCode::ACCEPTED);
    }
    let (status, retry_after, body) = h.post(None, &notification()).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(retry_after
        .and_then(|s| s.parse::<u64>().ok())
        .is_some_and(|s| s >= 1));
    assert_eq!(
        h.publisher.records().len(),
        2,
        "the limited request was not published"
    );
}

#[tokio::test]
async fn a_batch_costs_one_notification_token_per_item_and_other_tenants_keep_their_quota() {
    let config = IngestConfig {
        tenant_notifications_per_s: 1,
        tenant_notification_burst: 10,
        max_batch_items: 10,
        ..IngestConfig::default()
    };
    let h = harness(config).await;
    let batch = json!({"items": vec![notification(); 10]});
    let (status, _, body) = h
        .post_as(&h.auth, "/v1/notifications/batch", None, &batch)
        .await;
    assert_eq!(status, StatusCode::MULTI_STATUS, "{body}");
    assert_eq!(h.publisher.records().len(), 10);

    // the batch spent the whole burst: the tenant is at its quota, for batches and singles
    let (status, retry_after, body) = h
        .post_as(&h.auth, "/v1/notifications/batch", None, &batch)
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["type"], "urn:notify:problem:rate-limited", "{body}");
    assert!(retry_after
        .and_then(|s| s.parse::<u64>().ok())
        .is_some_and(|s| s >= 1));
    for _ in 0..5 {
        let (status, retry_after, body) = h.post(None, &notification()).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
        assert!(retry_after.is_some());
    }
    assert_eq!(
        h.publisher.records().len(),
        10,
        "nothing over quota published"
    );

    // the other tenant's bucket is untouched
    for _ in 0..10 {
        h.assert_other_tenant_accepted().await;
    }
}

#[tokio::test]
async fn a_tenant_at_its_request_quota_does_not_hold_up_another() {
    let h = harness(request_quota(1, 3)).await;
    let mut limited = 0;
    for _ in 0..50 {
        match h.post(None, &notification()).await.0 {
            StatusCode::ACCEPTED => {}
            StatusCode::TOO_MANY_REQUESTS => limited += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert!(limited >= 45, "only {limited} of 50 refused");
    // interleaved: the hammering tenant keeps getting 429, the other one 202
    for _ in 0..3 {
        let (status, _, _) = h.post(None, &notification()).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        h.assert_other_tenant_accepted().await;
    }
}

#[tokio::test]
async fn producer_failure_is_503_and_frees_the_idempotency_key() {
    let h = harness(IngestConfig::default()).await;
    for error in [
        PublishError::QueueFull,
        PublishError::Timeout,
        PublishError::Kafka("broker down".into()),
    ] {
        h.publisher.fail_with(Some(error));
        let (status, retry_after, body) = h.post(Some("k1"), &notification()).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(retry_after.as_deref(), Some("1"));
        assert!(
            !body.to_string().contains("broker down"),
            "internals leaked: {body}"
        );
    }
    assert!(h.publisher.records().is_empty());

    // the key was released each time, so the retry goes through, once
    h.publisher.fail_with(None);
    let (status, _, first) = h.post(Some("k1"), &notification()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{first}");
    let (status, _, again) = h.post(Some("k1"), &notification()).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["event_id"], first["event_id"]);
    assert_eq!(h.publisher.records().len(), 1);
}

#[tokio::test]
async fn a_key_reused_after_its_window_is_refused_when_its_notification_went_out() {
    let config = IngestConfig {
        idempotency_window_s: 1,
        ..IngestConfig::default()
    };
    let h = harness(config).await;
    let (status, _, first) = h.post(Some("k1"), &notification()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{first}");
    let event = first["event_id"].as_str().expect("event id").to_owned();
    let (_, _, again) = h.post(Some("k1"), &notification()).await;
    assert_eq!(again["duplicate"], true, "within the window: a retry");

    // the dispatcher delivered it; then the window passes
    h.log
        .put(&LogWrite {
            tenant: h.tenant.clone(),
            event_id: event.clone(),
            channel: "sms".into(),
            recipient: "+15555550100".into(),
            delivery_id: "d1".into(),
            state: "sent".into(),
            reason: None,
            attempts: 1,
            provider: Some("twilio".into()),
            provider_message_id: None,
            updated_at_ms: 1,
        })
        .await
        .expect("log");
    tokio::time::sleep(Duration::from_millis(1_600)).await;
    let (status, _, reused) = h.post(Some("k1"), &notification()).await;
    // before: 202 with the same event id, which the dispatcher then dropped as a duplicate
    // of the old notification, without a status
    assert_eq!(status, StatusCode::CONFLICT, "{reused}");
    assert!(
        reused["detail"]
            .as_str()
            .is_some_and(|d| d.contains(&event)),
        "{reused}"
    );
    assert_eq!(
        h.publisher.records().len(),
        1,
        "nothing produced for the reuse"
    );
    // the refused claim was released: after the notification leaves the log's view, the key
    // works again (here: another key, never used, goes through at once)
    let (status, _, other) = h.post(Some("k2"), &notification()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{other}");
}

#[tokio::test]
async fn a_key_reused_after_its_window_before_anything_went_out_is_accepted_again() {
    let config = IngestConfig {
        idempotency_window_s: 1,
        ..IngestConfig::default()
    };
    let h = harness(config).await;
    let (_, _, first) = h.post(Some("k1"), &notification()).await;
    tokio::time::sleep(Duration::from_millis(1_600)).await;
    // nothing in the log (suppressed, or not routed yet): the same event id, produced again;
    // the router reports it as it reports the first
    let (status, _, again) = h.post(Some("k1"), &notification()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{again}");
    assert_eq!(again["duplicate"], false);
    assert_eq!(again["event_id"], first["event_id"]);
    assert_eq!(h.publisher.records().len(), 2);
}

#[tokio::test]
async fn health_is_public_and_tenant_routes_are_not() {
    let h = harness(IngestConfig::default()).await;
    let get = |uri: &str| Request::get(uri).body(Body::empty()).expect("request");
    for uri in ["/healthz", "/readyz"] {
        let response = h.app.clone().oneshot(get(uri)).await.expect("response");
        assert_eq!(response.status(), StatusCode::OK, "{uri}");
    }
    let response = h
        .app
        .clone()
        .oneshot(get("/v1/users"))
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.headers().contains_key(header::WWW_AUTHENTICATE));
}

#[tokio::test]
async fn readyz_says_only_ready_or_not_and_checks_at_most_once_per_interval() {
    let h = harness(config_with(|c| c.ready_check_interval_ms = 300)).await;
    h.publisher.fail_with(Some(PublishError::Kafka(
        "broker down at kafka-7:9092".into(),
    )));
    let (status, body) = h.get("/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body, r#"{"status":"not_ready"}"#, "no error text outside");

    // a burst of probes is answered from the last check
    let checks = h.publisher.checks.load(Ordering::SeqCst);
    for _ in 0..50 {
        assert_eq!(h.get("/readyz").await.0, StatusCode::SERVICE_UNAVAILABLE);
    }
    assert_eq!(h.publisher.checks.load(Ordering::SeqCst), checks);

    // the broker is back: ready once the interval has passed, with one more check
    h.publisher.fail_with(None);
    tokio::time::sleep(Duration::from_millis(350)).await;
    let (status, body) = h.get("/readyz").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, r#"{"status":"ready"}"#);
    assert_eq!(h.publisher.checks.load(Ordering::SeqCst), checks + 1);
}

#[tokio::test]
async fn admin_bodies_over_the_body_limit_are_413() {
    let h = harness(IngestConfig::default()).await;
    let put = |uri: &str, body: String| {
        Request::put(uri)
            .header(header::AUTHORIZATION, &h.auth)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .expect("request")
    };
    // 100 KB of user: over ingest.max_body_bytes (64 KiB), under axum's own 2 MB default
    let padded = format!(
        r#"{{"email": "a@example.com", "pad": "{}"}}"#,
        "x".repeat(100_000)
    );
    let (status, _, body) = h.send(put("/v1/users/u1", padded)).await;
    assert_eq!(
        status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        String::from_utf8_lossy(&body)
    );
    // 1.5 MB of template: over ingest.max_template_body_bytes (1 MiB)
    let html = "x".repeat(1_500_000);
    let template =
        json!({"variants": [{"locale": "en", "channel": "email", "subject": "s", "html": html}]});
    let (status, _, _) = h.send(put("/v1/templates/t1", template.to_string())).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    // a template of 200 KB (one large HTML variant) still fits
    let html = "x".repeat(200_000);
    let template =
        json!({"variants": [{"locale": "en", "channel": "email", "subject": "s", "html": html}]});
    let (status, _, body) = h.send(put("/v1/templates/t2", template.to_string())).await;
    assert!(
        status.is_success(),
        "{status} {}",
        String::from_utf8_lossy(&body)
    );
}

#[tokio::test]
async fn a_look_up_shows_what_the_router_decided_beside_the_deliveries() {
    let h = harness(IngestConfig::default()).await;
    let limited = "6f1d0a4e-2b9c-4c1e-9a47-3d2f5b8c7e01";
    let quiet = "6f1d0a4e-2b9c-4c1e-9a47-3d2f5b8c7e02";
    let sent = LogWrite {
        tenant: h.tenant.clone(),
        event_id: limited.into(),
        channel: "email".into(),
        recipient: "a@example.com".into(),
        delivery_id: "d-email".into(),
        state: "sent".into(),
        reason: None,
        attempts: 1,
        provider: Some("smtp".into()),
        provider_message_id: Some("m1".into()),
        updated_at_ms: 9,
    };
    for row in [
        sent,
        outcome(&h.tenant, limited, Some("sms"), Some("+15555550100")),
        outcome(&h.tenant, quiet, None, None),
    ] {
        h.log.put(&row).await.expect("log");
    }

    let (status, body) = get_json(&h, &format!("/v1/notifications/{limited}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["event_id"], limited);
    assert_eq!(
        body["deliveries"],
        json!([
            {"channel": "email", "recipient": "a@example.com", "origin": "dispatcher",
             "delivery_id": "d-email", "state": "sent", "reason": null, "attempts": 1,
             "provider": "smtp", "provider_message_id": "m1", "updated_at_ms": 9},
            {"channel": "sms", "recipient": "+15555550100", "origin": "router",
             "delivery_id": "d-router", "state": "suppressed", "reason": "rate_limited",
             "attempts": 0, "provider": null, "provider_message_id": null, "updated_at_ms": 5},
        ])
    );

    // deferred as a whole: one entry for every channel and recipient, with no delivery id
    let (status, body) = get_json(&h, &format!("/v1/notifications/{quiet}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let entry = &body["deliveries"][0];
    assert_eq!(
        body["deliveries"].as_array().map(Vec::len),
        Some(1),
        "{body}"
    );
    assert_eq!(
        (&entry["channel"], &entry["recipient"], &entry["origin"]),
        (&json!("*"), &json!("*"), &json!("router"))
    );
    assert_eq!(
        (&entry["state"], &entry["reason"]),
        (&json!("scheduled"), &json!("quiet_hours"))
    );
    assert_eq!(entry["delivery_id"], Value::Null);

    let (status, _) = get_json(&h, "/v1/notifications/6f1d0a4e-2b9c-4c1e-9a47-3d2f5b8c7e03").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing recorded: unknown");
}

/// A row the router writes for what it decided: a rate-limited SMS to `recipient`, or, without
/// one, the whole request scheduled for quiet hours.
fn outcome(tenant: &str, event: &str, channel: Option<&str>, recipient: Option<&str>) -> LogWrite {
    let (state, reason) = if recipient.is_some() {
        ("suppressed", "rate_limited")
    } else {
        ("scheduled", "quiet_hours")
    };
    RouterOutcome {
        tenant: tenant.into(),
        event_id: event.into(),
        channel: channel.map(str::to_owned),
        recipient: recipient.map(str::to_owned),
        delivery_id: recipient.map(|_| "d-router".to_owned()),
        state: state.into(),
        reason: reason.into(),
        at_ms: 5,
    }
    .to_write()
}

/// An authenticated GET of `uri`, its body as JSON.
async fn get_json(h: &support::Harness, uri: &str) -> (StatusCode, Value) {
    let request = Request::get(uri)
        .header(header::AUTHORIZATION, &h.auth)
        .body(Body::empty())
        .expect("request");
    let (status, _, body) = h.send(request).await;
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}
