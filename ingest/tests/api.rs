//! The gateway in-process over its in-memory fakes: the paths that need no real Kafka or
//! database to be exercised (rate limits, producer failures, idempotency bookkeeping).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, Request, StatusCode};
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http_body_util::BodyExt;
use notify_common::config::IngestConfig;
use notify_common::publish::{MemoryPublisher, PublishError, Publisher, Record};
use notify_ingest::auth::provision::{create_app, create_tenant};
use notify_ingest::auth::Authenticator;
use notify_ingest::ratelimit::TenantLimiter;
use notify_ingest::readiness::ReadyCache;
use notify_ingest::state::AppState;
use notify_ingest::validate::Limits;
use notify_schemas::{Codec, NotificationRequest};
use notify_store::idempotency::MemoryLedger;
use notify_store::tenants::MemoryTenants;
use notify_store::MemoryDirectory;
use serde_json::{json, Value};
use tower::ServiceExt;

/// The in-memory publisher, counting readiness checks.
#[derive(Debug, Default)]
struct CountingPublisher {
    inner: MemoryPublisher,
    checks: AtomicUsize,
}

#[async_trait::async_trait]
impl Publisher for CountingPublisher {
    async fn publish_each(&self, records: &[Record]) -> Vec<Result<(), PublishError>> {
        self.inner.publish_each(records).await
    }

    fn check(&self, topic: &str, timeout: Duration) -> Result<(), PublishError> {
        self.checks.fetch_add(1, Ordering::SeqCst);
        self.inner.check(topic, timeout)
    }
}

impl std::ops::Deref for CountingPublisher {
    type Target = MemoryPublisher;

    fn deref(&self) -> &MemoryPublisher {
        &self.inner
    }
}

struct Harness {
    app: Router,
    publisher: Arc<CountingPublisher>,
    auth: String,
    /// Credentials of a second tenant, whose quota is its own.
    other_auth: String,
}

fn basic_auth(app: &notify_ingest::auth::provision::IssuedApp) -> String {
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", app.app_key, app.secret.expose()))
    )
}

async fn harness(config: IngestConfig) -> Harness {
    let tenants = Arc::new(MemoryTenants::new());
    let tenant = create_tenant(tenants.as_ref(), "t").await.expect("tenant");
    let app = create_app(tenants.as_ref(), &tenant.tenant_id, None, None)
        .await
        .expect("app");
    let other = create_tenant(tenants.as_ref(), "o").await.expect("tenant");
    let other_app = create_app(tenants.as_ref(), &other.tenant_id, None, None)
        .await
        .expect("app");
    let publisher = Arc::new(CountingPublisher::default());
    let state = AppState {
        limits: Arc::new(Limits::from(&config)),
        limiter: Arc::new(TenantLimiter::from_config(&config)),
        auth: Arc::new(Authenticator::new(tenants, &config, None)),
        readiness: Arc::new(ReadyCache::new(Duration::from_millis(
            config.ready_check_interval_ms,
        ))),
        config: Arc::new(config),
        publisher: publisher.clone(),
        requests_topic: "notify.requests".to_owned(),
        ledger: Arc::new(MemoryLedger::default()),
        directory: Arc::new(MemoryDirectory::new()),
        codec: Arc::new(Codec::new().expect("codec")),
    };
    Harness {
        app: notify_ingest::routes::router(state),
        publisher,
        auth: basic_auth(&app),
        other_auth: basic_auth(&other_app),
    }
}

impl Harness {
    /// Status, `Retry-After` and body of the answer to `request`.
    async fn send(&self, request: Request<Body>) -> (StatusCode, Option<String>, Bytes) {
        let response = self.app.clone().oneshot(request).await.expect("response");
        let status = response.status();
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .map(|v| v.to_str().unwrap_or("").to_owned());
        let body = response.into_body().collect().await.expect("body");
        (status, retry_after, body.to_bytes())
    }

    async fn get(&self, uri: &str) -> (StatusCode, String) {
        let request = Request::get(uri).body(Body::empty()).expect("request");
        let (status, _, bytes) = self.send(request).await;
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    async fn post(&self, key: Option<&str>, body: &Value) -> (StatusCode, Option<String>, Value) {
        self.post_as(&self.auth, "/v1/notifications", key, body)
            .await
    }

    /// Sends one notification as the second tenant and asserts it is accepted.
    async fn assert_other_tenant_accepted(&self) {
        let (status, _, body) = self
            .post_as(&self.other_auth, "/v1/notifications", None, &notification())
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    }

    async fn post_as(
        &self,
        auth: &str,
        uri: &str,
        key: Option<&str>,
        body: &Value,
    ) -> (StatusCode, Option<String>, Value) {
        let mut request = Request::post(uri)
            .header(header::AUTHORIZATION, auth)
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        let request = request.body(Body::from(body.to_string())).expect("request");
        let (status, retry_after, bytes) = self.send(request).await;
        (
            status,
            retry_after,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }
}

/// Defaults, with a request quota of `per_s` and `burst`.
fn request_quota(per_s: u32, burst: u32) -> IngestConfig {
    IngestConfig {
        tenant_rate_per_s: per_s,
        tenant_burst: burst,
        ..IngestConfig::default()
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
    let config = IngestConfig {
        ready_check_interval_ms: 300,
        ..IngestConfig::default()
    };
    let h = harness(config).await;
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
