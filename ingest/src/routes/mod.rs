//! HTTP routes of the gateway, assembled into one router with its middleware.

pub mod admin;
pub mod health;
pub mod notifications;
mod responses;

use axum::routing::{get, post};
use axum::Router;
use notify_schemas::limits::ContentLimits;

use crate::state::AppState;
use crate::{auth, openapi, ratelimit};

/// The whole API: public health and OpenAPI routes, and the tenant routes behind
/// authentication and the per-tenant rate limit (in that order).
pub fn router(state: AppState) -> Router {
    let tenant_routes = Router::new()
        .route("/v1/notifications", post(notifications::create))
        .route("/v1/notifications/batch", post(notifications::create_batch))
        .route("/v1/notifications/{event_id}", get(notifications::get))
        .merge(admin::routes(
            state.config.max_body_bytes,
            state.config.max_template_body_bytes,
            ContentLimits {
                sms_max_segments: state.limits.sms_max_segments,
                email_max_bytes: state.limits.email_max_bytes,
            },
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            ratelimit::limit_tenant,
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_auth,
        ));
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/openapi.json", get(openapi::serve))
        .merge(tenant_routes)
        .with_state(state)
}
