//! The scope check: one middleware per group of routes, inside [`super::require_auth`].
//!
//! Guarantees: a request reaches a handler of the group only if the key it authenticated with
//! has the group's [`Scope`]; otherwise it answers 403 naming that scope, before the handler
//! reads a body or the database. A request that did not pass authentication (no [`Scopes`] in
//! its extensions, i.e. the group was mounted without the auth middleware) answers 401, so a
//! mistake in wiring fails closed.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use notify_store::tenants::{Scope, Scopes};

use crate::problem::Problem;

/// Lets the request through if its key has `needed`. Use with
/// `axum::middleware::from_fn_with_state(Scope::Send, require_scope)` as a `route_layer` of
/// the group.
pub async fn require_scope(State(needed): State<Scope>, request: Request, next: Next) -> Response {
    match request.extensions().get::<Scopes>() {
        Some(scopes) if scopes.contains(needed) => next.run(request).await,
        Some(scopes) => {
            tracing::debug!(scope = %needed, has = %scopes, "app key lacks the scope");
            Problem::forbidden(needed.name()).into_response()
        }
        None => Problem::unauthorized().into_response(),
    }
}
