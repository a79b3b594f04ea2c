//! The OpenAPI document, generated from the handlers' annotations so it cannot drift from what
//! the server does.
//!
//! Each operation behind credentials names, as the role of its security requirements, the one
//! app key scope it needs (`send`, `status` or `admin`); `ingest/tests/scopes.rs` calls every
//! such operation with and without that scope, so the document and the router agree.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::{admin, health, notifications};

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "appKey:appSecret; an operation's role is the app key scope it needs",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("HS256 with the app secret or ES256 with the app's registered key; iss = appKey; an operation's role is the app key scope it needs"))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "notify ingest API", description = "Create notifications and manage recipients, preferences and templates. Each app key has scopes (send, status, admin); an operation answers 403 to a key without the scope its security requirement names"),
    paths(notifications::create, notifications::create_batch, notifications::get, health::healthz, health::readyz),
    modifiers(&Security),
    tags((name = "notifications"), (name = "health"))
)]
struct IngestApi;

/// The merged document of every route.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = IngestApi::openapi();
    doc.merge(admin::AdminApi::openapi());
    doc.merge(admin::webhooks::WebhooksApi::openapi());
    doc
}

/// `GET /openapi.json`.
pub async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(document())
}
