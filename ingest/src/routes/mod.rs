//! HTTP routes of the gateway, assembled into one router with its middleware.
//!
//! The tenant routes come in three groups, each behind the scope its key needs: `send`
//! (creating notifications), `status` (reading what became of one) and `admin` (the directory:
//! users, devices, preferences, templates, categories; webhook endpoints). A route belongs to exactly one group;
//! its OpenAPI operation names the same scope (checked by a test).

pub mod admin;
pub mod health;
pub mod notifications;
mod responses;

use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use axum::Router;
use notify_schemas::limits::ContentLimits;
use notify_store::tenants::Scope;

use crate::state::AppState;
use crate::{auth, openapi, ratelimit, receipts, tracking};

/// The whole API: public health and OpenAPI routes, and the tenant routes behind
/// authentication, the per-tenant rate limit and the scope of their group (in that order).
pub fn router(state: AppState) -> Router {
    let send = Router::new()
        .route("/v1/notifications", post(notifications::create))
        .route("/v1/notifications/batch", post(notifications::create_batch))
        .route_layer(from_fn_with_state(Scope::Send, auth::require_scope));
    let status = Router::new()
        .route("/v1/notifications/{event_id}", get(notifications::get))
        .route_layer(from_fn_with_state(Scope::Status, auth::require_scope));
    let admin = admin::routes(
        state.config.max_body_bytes,
        state.config.max_template_body_bytes,
        ContentLimits {
            sms_max_segments: state.limits.sms_max_segments,
            email_max_bytes: state.limits.email_max_bytes,
        },
    )
    .merge(admin::webhooks::routes())
    .route_layer(from_fn_with_state(Scope::Admin, auth::require_scope));
    let tenant_routes = send
        .merge(status)
        .merge(admin)
        .route_layer(from_fn_with_state(state.clone(), ratelimit::limit_tenant))
        .route_layer(from_fn_with_state(state.clone(), auth::require_auth));
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/openapi.json", get(openapi::serve))
        .route("/v1/receipts/twilio", post(receipts::twilio_callback))
        .route(
            "/v1/receipts/twilio/inbound",
            post(receipts::twilio_inbound),
        )
        .route("/v1/receipts/sendgrid", post(receipts::sendgrid_events))
        .route("/v1/receipts/vonage", post(receipts::vonage_receipt))
        .route(
            "/v1/receipts/smtp/dsn",
            post(receipts::smtp_dsn).layer(DefaultBodyLimit::max(receipts::smtp::MAX_DSN_BYTES)),
        )
        .route("/t/c/{token}", get(tracking::click))
        .route("/t/o/{token}", get(tracking::open))
        .merge(crate::preferences::routes())
        .merge(tenant_routes)
        .with_state(state)
}
