//! The gateway in-process over its in-memory fakes: the paths that need no real Kafka or
//! database to be exercised (rate limits, producer failures, idempotency bookkeeping).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http_body_util::BodyExt;
use notify_common::config::IngestConfig;
use notify_common::publish::{MemoryPublisher, PublishError};
use notify_ingest::auth::provision::{create_app, create_tenant};
use notify_ingest::auth::Authenticator;
use notify_ingest::ratelimit::TenantLimiter;
use notify_ingest::state::AppState;
use notify_ingest::validate::Limits;
use notify_schemas::{Codec, NotificationRequest};
use notify_store::idempotency::MemoryLedger;
use notify_store::notification_log::{DeliveryLog, LogWrite, MemoryLog, RouterOutcome};
use notify_store::tenants::MemoryTenants;
use notify_store::MemoryDirectory;
use serde_json::{json, Value};
use tower::ServiceExt;

struct Harness {
    app: Router,
    publisher: Arc<MemoryPublisher>,
    /// The notification log status look-ups and key reuse checks read.
    log: Arc<MemoryLog>,
    tenant: String,
    auth: String,
}

async fn harness(config: IngestConfig) -> Harness {
    let tenants = Arc::new(MemoryTenants::new());
    let tenant = create_tenant(tenants.as_ref(), "t").await.expect("tenant");
    let app = create_app(tenants.as_ref(), &tenant.tenant_id, None, None)
        .await
        .expect("app");
    let publisher = Arc::new(MemoryPublisher::default());
    let log = Arc::new(MemoryLog::new());
    let state = AppState {
        limits: Arc::new(Limits::from(&config)),
        limiter: Arc::new(TenantLimiter::new(
            config.tenant_rate_per_s,
            config.tenant_burst,
        )),
        auth: Arc::new(Authenticator::new(tenants, &config, None)),
        config: Arc::new(config),
        publisher: publisher.clone(),
        requests_topic: "notify.requests".to_owned(),
        ledger: Arc::new(MemoryLedger::with_log(log.clone())),
        directory: Arc::new(MemoryDirectory::new()),
        codec: Arc::new(Codec::new().expect("codec")),
    };
    let auth = format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", app.app_key, app.secret.expose()))
    );
    Harness {
        app: notify_ingest::routes::router(state),
        publisher,
        log,
        tenant: tenant.tenant_id,
        auth,
    }
}

impl Harness {
    async fn post(&self, key: Option<&str>, body: &Value) -> (StatusCode, Option<String>, Value) {
        let mut request = Request::post("/v1/notifications")
            .header(header::AUTHORIZATION, &self.auth)
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        let response = self
            .app
            .clone()
            .oneshot(request.body(Body::from(body.to_string())).expect("request"))
            .await
            .expect("response");
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .map(|v| v.to_str().unwrap_or("").to_owned());
        let (status, body) = read_json(response).await;
        (status, retry_after, body)
    }
}

/// The status and JSON body of `response` (`Null` for a body that is not JSON).
async fn read_json(response: axum::response::Response) -> (StatusCode, Value) {
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

impl Harness {
    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let request = Request::get(path)
            .header(header::AUTHORIZATION, &self.auth)
            .body(Body::empty())
            .expect("request");
        read_json(self.app.clone().oneshot(request).await.expect("response")).await
    }

    fn outcome(&self, event: &str, channel: Option<&str>, recipient: Option<&str>) -> LogWrite {
        RouterOutcome {
            tenant: self.tenant.clone(),
            event_id: event.into(),
            channel: channel.map(str::to_owned),
            recipient: recipient.map(str::to_owned),
            delivery_id: recipient.map(|_| "d-router".to_owned()),
            state: if recipient.is_some() {
                "suppressed"
            } else {
                "scheduled"
            }
            .into(),
            reason: if recipient.is_some() {
                "rate_limited"
            } else {
                "quiet_hours"
            }
            .into(),
            at_ms: 5,
        }
        .to_write()
    }
}

fn notification() -> Value {
    json!({"user_id": "u1", "category": "c", "content": {"sms": {"text": "hello"}}})
}

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
    let config = IngestConfig {
        tenant_rate_per_s: 1,
        tenant_burst: 2,
        ..IngestConfig::default()
    };
    let h = harness(config).await;
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
        h.outcome(limited, Some("sms"), Some("+15555550100")),
        h.outcome(quiet, None, None),
    ] {
        h.log.put(&row).await.expect("log");
    }

    let (status, body) = h.get(&format!("/v1/notifications/{limited}")).await;
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
    let (status, body) = h.get(&format!("/v1/notifications/{quiet}")).await;
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

    let (status, _) = h
        .get("/v1/notifications/6f1d0a4e-2b9c-4c1e-9a47-3d2f5b8c7e03")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing recorded: unknown");
}
