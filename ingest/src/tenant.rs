//! The authenticated tenant of a request.
//!
//! The auth middleware ([`crate::auth`]) puts a [`Tenant`] into the request extensions after
//! checking the credentials; handlers take it as an extractor. A handler reached without one
//! answers 401, so forgetting the middleware on a route fails closed.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::problem::Problem;

/// The tenant whose credentials authenticated this request. Every read and write of a handler
/// is scoped to it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tenant(pub String);

impl Tenant {
    /// The tenant id.
    pub fn id(&self) -> &str {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Tenant {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Tenant>()
            .cloned()
            .ok_or_else(Problem::unauthorized)
    }
}

/// The app key a request authenticated with (inserted beside the [`Tenant`]); recorded on
/// what an app registers, such as a webhook endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AppKey(pub String);

impl<S: Send + Sync> FromRequestParts<S> for AppKey {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<AppKey>()
            .cloned()
            .ok_or_else(Problem::unauthorized)
    }
}
