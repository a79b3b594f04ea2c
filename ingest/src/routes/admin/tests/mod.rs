//! In-process tests of the admin routes: `Router::oneshot` over a [`MemoryDirectory`], with the
//! tenant put into the request extensions as the auth middleware would.

mod categories;
mod devices;
mod isolation;
mod preferences;
mod templates;
mod users;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use notify_store::directory::{Directory, MemoryDirectory};
use serde_json::Value;
use tower::ServiceExt;

use super::routes;
use crate::tenant::Tenant;

/// The admin routes over a fresh in-memory directory.
struct Api {
    app: Router,
}

/// A response: status and JSON body (`Value::Null` when empty).
#[derive(Debug)]
struct Reply {
    status: StatusCode,
    body: Value,
    content_type: Option<String>,
}

impl Reply {
    /// The JSON pointers of a problem's field errors.
    fn fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .map(|e| e["field"].as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Asserts the status, showing the body when it differs.
    #[track_caller]
    fn assert_status(&self, status: StatusCode) {
        assert_eq!(self.status, status, "{:?}", self.body);
    }

    /// Asserts a 422 naming exactly `fields` (in any order).
    #[track_caller]
    fn assert_invalid(&self, fields: &[&str]) {
        assert_eq!(
            self.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{:?}",
            self.body
        );
        assert_eq!(
            self.content_type.as_deref(),
            Some("application/problem+json")
        );
        let mut got = self.fields();
        got.sort();
        let mut want: Vec<String> = fields.iter().map(|f| (*f).to_owned()).collect();
        want.sort();
        assert_eq!(got, want, "{:?}", self.body);
    }
}

/// What the admin routes read: a directory and a suppression list, both in memory.
#[derive(Clone)]
struct Stores {
    dir: Arc<dyn Directory>,
    suppressions: Arc<dyn notify_store::suppressions::SuppressionList>,
}

impl axum::extract::FromRef<Stores> for Arc<dyn Directory> {
    fn from_ref(stores: &Stores) -> Self {
        stores.dir.clone()
    }
}

impl axum::extract::FromRef<Stores> for Arc<dyn notify_store::suppressions::SuppressionList> {
    fn from_ref(stores: &Stores) -> Self {
        stores.suppressions.clone()
    }
}

impl Api {
    fn new() -> Self {
        let stores = Stores {
            dir: Arc::new(MemoryDirectory::new()),
            suppressions: Arc::new(notify_store::suppressions::MemorySuppressions::new()),
        };
        let config = notify_common::config::IngestConfig::default();
        Self {
            app: routes::<Stores>(
                config.max_body_bytes,
                config.max_template_body_bytes,
                notify_schemas::limits::ContentLimits::default(),
            )
            .with_state(stores),
        }
    }

    async fn call(
        &self,
        tenant: Option<&str>,
        method: Method,
        uri: &str,
        body: Option<Body>,
    ) -> Reply {
        let mut request = Request::builder().method(method).uri(uri);
        if body.is_some() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        let mut request = request
            .body(body.unwrap_or_else(Body::empty))
            .expect("request");
        if let Some(tenant) = tenant {
            request.extensions_mut().insert(Tenant(tenant.to_owned()));
        }
        let response = self.app.clone().oneshot(request).await.expect("infallible");
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).expect("JSON response")
        };
        Reply {
            status,
            body,
            content_type,
        }
    }

    async fn get(&self, tenant: &str, uri: &str) -> Reply {
        self.call(Some(tenant), Method::GET, uri, None).await
    }

    async fn delete(&self, tenant: &str, uri: &str) -> Reply {
        self.call(Some(tenant), Method::DELETE, uri, None).await
    }

    async fn put(&self, tenant: &str, uri: &str, body: Value) -> Reply {
        self.call(Some(tenant), Method::PUT, uri, Some(json_body(&body)))
            .await
    }

    async fn post(&self, tenant: &str, uri: &str, body: Value) -> Reply {
        self.call(Some(tenant), Method::POST, uri, Some(json_body(&body)))
            .await
    }

    async fn put_raw(&self, tenant: &str, uri: &str, body: &'static str) -> Reply {
        self.call(Some(tenant), Method::PUT, uri, Some(Body::from(body)))
            .await
    }

    /// Creates user `id` of `tenant` with an email, asserting success.
    async fn user(&self, tenant: &str, id: &str) {
        let reply = self
            .put(
                tenant,
                &format!("/v1/users/{id}"),
                serde_json::json!({"email": format!("{id}@example.com")}),
            )
            .await;
        assert!(reply.status.is_success(), "{reply:?}");
    }
}

fn json_body(value: &Value) -> Body {
    Body::from(serde_json::to_vec(value).expect("serializes"))
}

/// A valid APNs token (64 hex digits) made from `n`.
fn apns_token(n: u32) -> String {
    format!("{n:064x}")
}

/// A valid web push subscription (65-byte p256dh starting 0x04, 16-byte auth).
fn subscription(endpoint: &str) -> Value {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    let mut key = vec![4u8];
    key.extend([7u8; 64]);
    serde_json::json!({
        "endpoint": endpoint,
        "expirationTime": null,
        "keys": {"p256dh": URL_SAFE_NO_PAD.encode(key), "auth": URL_SAFE_NO_PAD.encode([9u8; 16])}
    })
}
