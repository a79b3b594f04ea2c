//! The gateway's state over its in-memory fakes, shared by the in-process test files.
#![allow(dead_code)] // each test file uses its own part

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http_body_util::BodyExt;
use notify_common::config::IngestConfig;
use notify_common::config::WebhooksConfig;
use notify_common::publish::{MemoryPublisher, PublishError, Publisher, Record};
use notify_ingest::auth::provision::{create_app, create_tenant};
use notify_ingest::auth::Authenticator;
use notify_ingest::ratelimit::TenantLimiter;
use notify_ingest::readiness::ReadyCache;
use notify_ingest::routes::admin::webhooks::WebhookAdmin;
use notify_ingest::state::AppState;
use notify_ingest::validate::Limits;
use notify_schemas::{Codec, DeliveryStatus};
use notify_store::idempotency::MemoryLedger;
use notify_store::notification_log::MemoryLog;
use notify_store::suppressions::MemorySuppressions;
use notify_store::tenants::{MemoryTenants, Scopes};
use notify_store::webhooks::MemoryWebhooks;
use notify_store::MemoryDirectory;
use serde_json::{json, Value};
use tower::ServiceExt;

/// The in-memory publisher, counting readiness checks.
#[derive(Debug, Default)]
pub struct CountingPublisher {
    inner: MemoryPublisher,
    pub checks: AtomicUsize,
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

pub struct Harness {
    /// The state behind `app`, to serve it on a real socket.
    pub state: AppState,
    pub app: Router,
    pub publisher: Arc<CountingPublisher>,
    /// The notification log status look-ups and key reuse checks read.
    pub log: Arc<MemoryLog>,
    /// The suppression list receipts add to and the admin API reads.
    pub suppressions: Arc<MemorySuppressions>,
    /// The apps of both tenants; tests add their own.
    pub tenants: Arc<MemoryTenants>,
    /// The first tenant's id.
    pub tenant: String,
    pub auth: String,
    /// Credentials of a second tenant, whose quota is its own.
    pub other_auth: String,
}

pub fn basic_auth(app: &notify_ingest::auth::provision::IssuedApp) -> String {
    format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", app.app_key, app.secret.expose()))
    )
}

pub async fn harness(config: IngestConfig) -> Harness {
    let tenants = Arc::new(MemoryTenants::new());
    let tenant = create_tenant(tenants.as_ref(), "t").await.expect("tenant");
    // every scope: these tests exercise the routes, not the scope checks (tests/scopes.rs)
    let app = create_app(tenants.as_ref(), &tenant.tenant_id, None, Scopes::ALL, None)
        .await
        .expect("app");
    let other = create_tenant(tenants.as_ref(), "o").await.expect("tenant");
    let other_app = create_app(tenants.as_ref(), &other.tenant_id, None, Scopes::ALL, None)
        .await
        .expect("app");
    let publisher = Arc::new(CountingPublisher::default());
    let log = Arc::new(MemoryLog::new());
    let suppressions = Arc::new(MemorySuppressions::new());
    let state = AppState {
        limits: Arc::new(Limits::from(&config)),
        limiter: Arc::new(TenantLimiter::from_config(&config)),
        auth: Arc::new(Authenticator::new(tenants.clone(), &config, None)),
        readiness: Arc::new(ReadyCache::new(Duration::from_millis(
            config.ready_check_interval_ms,
        ))),
        config: Arc::new(config),
        publisher: publisher.clone(),
        requests_topic: "notify.requests".to_owned(),
        ledger: Arc::new(MemoryLedger::with_log(log.clone())),
        directory: Arc::new(MemoryDirectory::new()),
        codec: Arc::new(Codec::new().expect("codec")),
        receipts: None,
        suppressions: suppressions.clone(),
        tracking: None,
        preferences: None,
        webhooks: Arc::new(WebhookAdmin::new(
            Arc::new(MemoryWebhooks::new()),
            Some(notify_common::sealed::SecretsKey::from_bytes([5; 32])),
            &WebhooksConfig::default(),
        )),
    };
    Harness {
        app: notify_ingest::routes::router(state.clone()),
        state,
        publisher,
        log,
        suppressions,
        tenants,
        tenant: tenant.tenant_id,
        auth: basic_auth(&app),
        other_auth: basic_auth(&other_app),
    }
}

impl Harness {
    /// Status, `Retry-After` and body of the answer to `request`.
    pub async fn send(&self, request: Request<Body>) -> (StatusCode, Option<String>, Bytes) {
        let response = self.app.clone().oneshot(request).await.expect("response");
        let status = response.status();
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .map(|v| v.to_str().unwrap_or("").to_owned());
        let body = response.into_body().collect().await.expect("body");
        (status, retry_after, body.to_bytes())
    }

    pub async fn get(&self, uri: &str) -> (StatusCode, String) {
        let request = Request::get(uri).body(Body::empty()).expect("request");
        let (status, _, bytes) = self.send(request).await;
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    pub async fn post(
        &self,
        key: Option<&str>,
        body: &Value,
    ) -> (StatusCode, Option<String>, Value) {
        self.post_as(&self.auth, "/v1/notifications", key, body)
            .await
    }

    /// Sends one notification as the second tenant and asserts it is accepted.
    pub async fn assert_other_tenant_accepted(&self) {
        let (status, _, body) = self
            .post_as(&self.other_auth, "/v1/notifications", None, &notification())
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    }

    /// Status and JSON body (`null` when not JSON) of `method uri` with `auth` and `body`.
    pub async fn call(
        &self,
        auth: &str,
        method: Method,
        uri: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, auth)
            .header(header::CONTENT_TYPE, "application/json")
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
            .expect("request");
        let (status, _, bytes) = self.send(request).await;
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// Every status published to `notify.status`, decoded, in order.
    pub fn statuses(&self) -> Vec<DeliveryStatus> {
        let codec = Codec::<DeliveryStatus>::new().expect("codec");
        self.publisher
            .to_topic("notify.status")
            .iter()
            .map(|r| codec.decode(&r.payload).expect("a status"))
            .collect()
    }

    pub async fn post_as(
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

/// Defaults, changed by `change`.
pub fn config_with(change: impl FnOnce(&mut IngestConfig)) -> IngestConfig {
    let mut config = IngestConfig::default();
    change(&mut config);
    config
}

/// Defaults, with a request quota of `per_s` and `burst`.
pub fn request_quota(per_s: u32, burst: u32) -> IngestConfig {
    IngestConfig {
        tenant_rate_per_s: per_s,
        tenant_burst: burst,
        ..IngestConfig::default()
    }
}

pub fn notification() -> Value {
    json!({"user_id": "u1", "category": "c", "content": {"sms": {"text": "hello"}}})
}

/// Receipts over the harness's notification log and suppression list, publishing to
/// `notify.status`, with no provider configured (tests set the ones they need).
pub fn receipts(h: &Harness) -> notify_ingest::receipts::Receipts {
    notify_ingest::receipts::Receipts {
        twilio: None,
        sendgrid: None,
        vonage: None,
        smtp: None,
        seen: notify_ingest::receipts::seen_signatures(),
        log: h.log.clone(),
        suppressions: h.suppressions.clone(),
        statuses: Arc::new(Codec::new().expect("codec")),
        status_topic: "notify.status".into(),
        clock: Arc::new(notify_common::clock::SystemClock),
    }
}
