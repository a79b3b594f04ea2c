//! The axum middleware guarding every tenant route.
//!
//! Guarantees: a request reaches the handler only with a [`Tenant`](crate::tenant::Tenant) and
//! the [`Scopes`](notify_store::tenants::Scopes) of its key in its extensions, and without its
//! `Authorization` header, so no handler or inner layer can log or forward the credential. Every request counts once in [`AUTH_TOTAL`].

use crate::metrics::AUTH_TOTAL;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::Authenticator;

/// Authenticates the request or answers 401 / 503 / 500 as a problem document. Use with
/// `axum::middleware::from_fn_with_state(auth, require_auth)`.
pub async fn require_auth(
    State(auth): State<Arc<Authenticator>>,
    mut request: Request,
    next: Next,
) -> Response {
    match auth.authenticate(request.headers()).await {
        Ok(principal) => {
            metrics::counter!(AUTH_TOTAL, "outcome" => "ok").increment(1);
            request.headers_mut().remove(AUTHORIZATION);
            request.extensions_mut().insert(principal.tenant);
            request.extensions_mut().insert(principal.scopes);
            request.extensions_mut().insert(principal.app_key);
            next.run(request).await
        }
        Err(err) => {
            metrics::counter!(AUTH_TOTAL, "outcome" => err.outcome()).increment(1);
            err.into_problem().into_response()
        }
    }
}
