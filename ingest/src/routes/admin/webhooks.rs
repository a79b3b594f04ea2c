//! `/v1/webhooks[/{endpoint_id}]`: the endpoints a tenant's status events are posted to (by
//! `notify webhooks`, see `docs/webhooks.md`).
//!
//! Guarantees: a URL is registered only if the SSRF guard shared with web push passes it
//! (https on an allowed port, no user info, and neither an IP literal nor any address its host
//! resolves to in a forbidden range); the sender checks it again at every POST, since DNS may
//! change. The signing secret is generated here, shown once (in the answer to the registration
//! or rotation) and stored only sealed with the operator's secrets key; no other answer, log
//! line or `Debug` output carries it. Every read and write is scoped to the authenticated
//! tenant: another tenant's endpoint answers 404 like a missing one.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use notify_common::clock;
use notify_common::config::WebhooksConfig;
use notify_common::sealed::SecretsKey;
use notify_common::ssrf::{check_url, EndpointError, EndpointPolicy, GuardedResolver};
use notify_store::webhooks::{sealing_context, WebhookEndpoint, WebhookStore};
use rand::distr::Alphanumeric;
use rand::{Rng, RngCore};
use serde::{Deserialize, Serialize};

use super::{check_id, parse_checked, PathParams};
use crate::problem::{FieldError, Problem};
use crate::routes::responses::{Problems, RegisterWebhook, WebhookLookup};
use crate::tenant::{AppKey, Tenant};

/// Longest accepted endpoint URL.
const MAX_URL_BYTES: usize = 2048;
/// Prefix of generated signing secrets.
pub const SECRET_PREFIX: &str = "whsec_";

/// What the webhook routes need.
pub struct WebhookAdmin {
    /// Endpoints.
    pub store: Arc<dyn WebhookStore>,
    /// Seals signing secrets; without it registration answers 503.
    pub secrets: Option<SecretsKey>,
    /// The SSRF guard's policy.
    pub policy: EndpointPolicy,
    /// Most endpoints per tenant.
    pub max_per_tenant: usize,
}

impl std::fmt::Debug for WebhookAdmin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookAdmin")
            .field("policy", &self.policy)
            .field("max_per_tenant", &self.max_per_tenant)
            .finish_non_exhaustive()
    }
}

impl WebhookAdmin {
    /// The admin over `store` with the guard and limits of `config`.
    pub fn new(
        store: Arc<dyn WebhookStore>,
        secrets: Option<SecretsKey>,
        config: &WebhooksConfig,
    ) -> Self {
        Self {
            store,
            secrets,
            policy: notify_webhooks::sender::policy(config),
            max_per_tenant: config.max_endpoints_per_tenant,
        }
    }

    fn key(&self) -> Result<&SecretsKey, Problem> {
        self.secrets.as_ref().ok_or_else(|| {
            Problem::unavailable(
                60,
                "webhooks need the operator's secrets key (ingest.secrets_key_file)",
            )
        })
    }
}

type Admin = State<Arc<WebhookAdmin>>;

/// The webhook routes; mount them behind the auth middleware and the admin scope.
pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Arc<WebhookAdmin>: FromRef<S>,
{
    Router::new()
        .route("/v1/webhooks", get(list).post(register))
        .route("/v1/webhooks/{endpoint_id}", get(read).delete(delete))
        .route("/v1/webhooks/{endpoint_id}/rotate-secret", post(rotate))
}

/// A registration.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookBody {
    /// Where events are posted: https, port 443 unless the operator allowed others, a public host.
    pub url: String,
    /// Upper-case status or receipt names to send (`SENT`, `FAILED`, `DELIVERED`, `BOUNCED`,
    /// ...); empty or absent: every event.
    #[serde(default)]
    pub statuses: Vec<String>,
    /// Register it switched off (default: on).
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
}

fn enabled_by_default() -> bool {
    true
}

/// A registered endpoint, without its secret.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WebhookView {
    /// The endpoint id (`wh_...`).
    pub endpoint_id: String,
    /// Where events are posted.
    pub url: String,
    /// The filter; empty: every event.
    pub statuses: Vec<String>,
    /// Whether events are posted.
    pub enabled: bool,
    /// The app that registered it.
    pub app_key: String,
    /// Registered at, Unix epoch milliseconds.
    pub created_at_ms: i64,
}

impl From<WebhookEndpoint> for WebhookView {
    fn from(e: WebhookEndpoint) -> Self {
        Self {
            endpoint_id: e.endpoint_id,
            url: e.url,
            statuses: e.statuses,
            enabled: e.enabled,
            app_key: e.app_key,
            created_at_ms: e.created_at_ms,
        }
    }
}

/// The answer to a registration or rotation: the only time the signing secret is shown.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WebhookSecretView {
    /// The endpoint.
    #[serde(flatten)]
    pub endpoint: WebhookView,
    /// The signing secret (`whsec_...`): HMAC-SHA256 key of `Notify-Signature`. Store it now; it
    /// is never shown again.
    pub secret: String,
}

/// A tenant's endpoints.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WebhookList {
    /// By endpoint id.
    pub items: Vec<WebhookView>,
}

fn store_problem(err: notify_store::StoreError) -> Problem {
    Problem::outage(
        "webhook store unavailable",
        &err,
        "database unavailable, retry",
    )
}

/// Every rule a body breaks, apart from what needs DNS.
fn check_body(body: &WebhookBody, policy: &EndpointPolicy) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if body.url.len() > MAX_URL_BYTES {
        errors.push(FieldError::new(
            "/url",
            format!("at most {MAX_URL_BYTES} bytes"),
        ));
    } else if let Err(err) = check_url(&body.url, policy) {
        errors.push(FieldError::new("/url", err.to_string()));
    }
    let known = notify_webhooks::payload::filter_names();
    for (i, name) in body.statuses.iter().enumerate() {
        if !known.contains(name) {
            errors.push(FieldError::new(
                format!("/statuses/{i}"),
                format!("unknown status; one of {}", known.join(", ")),
            ));
        }
    }
    errors
}

/// The guard's answer for the addresses `url`'s host resolves to (IP literals were checked
/// with the rest of the URL).
pub async fn check_resolved(url: &str, policy: &EndpointPolicy) -> Result<(), EndpointError> {
    let url = check_url(url, policy)?;
    let host = url.host_str().unwrap_or_default();
    if host.starts_with('[') || host.parse::<std::net::IpAddr>().is_ok() {
        return Ok(());
    }
    GuardedResolver::new(policy)
        .resolve_checked(host.to_owned())
        .await
        .map(|_| ())
}

fn generate_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{SECRET_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

fn generate_id() -> String {
    let random: String = rand::rng()
        .sample_iter(Alphanumeric)
        .take(20)
        .map(char::from)
        .collect();
    format!("wh_{random}")
}

/// Register an endpoint; the answer carries its signing secret, once.
#[utoipa::path(
    post,
    path = "/v1/webhooks",
    tag = "webhooks",
    request_body = WebhookBody,
    responses(
        (status = 201, description = "registered; the secret is shown only now", body = WebhookSecretView),
        Problems<RegisterWebhook>,
    ),
    security(("basic" = ["admin"]), ("bearer" = ["admin"]))
)]
pub(super) async fn register(
    tenant: Tenant,
    app: AppKey,
    State(admin): Admin,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<WebhookSecretView>), Problem> {
    let body: WebhookBody = parse_checked(body, |b| check_body(b, &admin.policy))?;
    if let Err(err) = check_resolved(&body.url, &admin.policy).await {
        return Err(Problem::validation(vec![FieldError::new(
            "/url",
            err.to_string(),
        )]));
    }
    let key = admin.key()?;
    let existing = admin
        .store
        .endpoints_of(tenant.id())
        .await
        .map_err(store_problem)?;
    if existing.len() >= admin.max_per_tenant {
        return Err(Problem::conflict(format!(
            "the tenant has {} endpoints, the most allowed",
            existing.len()
        )));
    }
    let mut statuses = body.statuses;
    statuses.sort();
    statuses.dedup();
    let endpoint_id = generate_id();
    let secret = generate_secret();
    let endpoint = WebhookEndpoint {
        secret_ciphertext: key.seal(
            &sealing_context(tenant.id(), &endpoint_id),
            secret.as_bytes(),
        ),
        tenant_id: tenant.id().to_owned(),
        endpoint_id,
        app_key: app.0,
        url: body.url,
        enabled: body.enabled,
        statuses,
        created_at_ms: clock::now_ms(),
    };
    admin
        .store
        .create_endpoint(&endpoint)
        .await
        .map_err(store_problem)?;
    let view = WebhookSecretView {
        endpoint: endpoint.into(),
        secret,
    };
    Ok((StatusCode::CREATED, Json(view)))
}

/// List the tenant's endpoints (without secrets).
#[utoipa::path(
    get,
    path = "/v1/webhooks",
    tag = "webhooks",
    responses(
        (status = 200, description = "the tenant's endpoints", body = WebhookList),
        Problems<WebhookLookup>,
    ),
    security(("basic" = ["admin"]), ("bearer" = ["admin"]))
)]
pub(super) async fn list(
    tenant: Tenant,
    State(admin): Admin,
) -> Result<Json<WebhookList>, Problem> {
    let items = admin
        .store
        .endpoints_of(tenant.id())
        .await
        .map_err(store_problem)?;
    Ok(Json(WebhookList {
        items: items.into_iter().map(WebhookView::from).collect(),
    }))
}

/// Read one endpoint (without its secret).
#[utoipa::path(
    get,
    path = "/v1/webhooks/{endpoint_id}",
    tag = "webhooks",
    params(("endpoint_id" = String, Path, description = "the endpoint id")),
    responses(
        (status = 200, description = "the endpoint", body = WebhookView),
        Problems<WebhookLookup>,
    ),
    security(("basic" = ["admin"]), ("bearer" = ["admin"]))
)]
pub(super) async fn read(
    tenant: Tenant,
    State(admin): Admin,
    PathParams(endpoint_id): PathParams<String>,
) -> Result<Json<WebhookView>, Problem> {
    check_id("endpoint_id", &endpoint_id)?;
    match admin.store.endpoint(tenant.id(), &endpoint_id).await {
        Ok(Some(endpoint)) => Ok(Json(endpoint.into())),
        Ok(None) => Err(Problem::not_found("webhook endpoint")),
        Err(err) => Err(store_problem(err)),
    }
}

/// Replace an endpoint's signing secret; the answer carries the new one, once. Events posted
/// from now on are signed with it only (those that fail while the receiver still checks the
/// old one are retried).
#[utoipa::path(
    post,
    path = "/v1/webhooks/{endpoint_id}/rotate-secret",
    tag = "webhooks",
    params(("endpoint_id" = String, Path, description = "the endpoint id")),
    responses(
        (status = 200, description = "rotated; the secret is shown only now", body = WebhookSecretView),
        Problems<WebhookLookup>,
    ),
    security(("basic" = ["admin"]), ("bearer" = ["admin"]))
)]
pub(super) async fn rotate(
    tenant: Tenant,
    State(admin): Admin,
    PathParams(endpoint_id): PathParams<String>,
) -> Result<Json<WebhookSecretView>, Problem> {
    check_id("endpoint_id", &endpoint_id)?;
    let Some(endpoint) = admin
        .store
        .endpoint(tenant.id(), &endpoint_id)
        .await
        .map_err(store_problem)?
    else {
        return Err(Problem::not_found("webhook endpoint"));
    };
    let key = admin.key()?;
    let secret = generate_secret();
    let sealed = key.seal(
        &sealing_context(tenant.id(), &endpoint_id),
        secret.as_bytes(),
    );
    let rotated = admin
        .store
        .set_secret(tenant.id(), &endpoint_id, &sealed)
        .await
        .map_err(store_problem)?;
    if !rotated {
        return Err(Problem::not_found("webhook endpoint"));
    }
    Ok(Json(WebhookSecretView {
        endpoint: endpoint.into(),
        secret,
    }))
}

/// Remove an endpoint; events not yet posted to it are dropped.
#[utoipa::path(
    delete,
    path = "/v1/webhooks/{endpoint_id}",
    tag = "webhooks",
    params(("endpoint_id" = String, Path, description = "the endpoint id")),
    responses(
        (status = 204, description = "removed"),
        Problems<WebhookLookup>,
    ),
    security(("basic" = ["admin"]), ("bearer" = ["admin"]))
)]
pub(super) async fn delete(
    tenant: Tenant,
    State(admin): Admin,
    PathParams(endpoint_id): PathParams<String>,
) -> Result<StatusCode, Problem> {
    check_id("endpoint_id", &endpoint_id)?;
    match admin.store.delete_endpoint(tenant.id(), &endpoint_id).await {
        Ok(true) => Ok(StatusCode::NO_CONTENT),
        Ok(false) => Err(Problem::not_found("webhook endpoint")),
        Err(err) => Err(store_problem(err)),
    }
}

/// The OpenAPI description of the webhook routes, merged into `/openapi.json`.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(
    paths(register, list, read, rotate, delete),
    components(schemas(WebhookBody, WebhookView, WebhookSecretView, WebhookList)),
    tags((name = "webhooks", description = "endpoints the tenant's status events are posted to, signed"))
)]
pub struct WebhooksApi;
