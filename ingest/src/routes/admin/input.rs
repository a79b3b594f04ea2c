//! Reading a request's input: path and query parameters and JSON bodies, each failure a
//! problem document whose field errors name the parameter or the JSON pointer.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use axum::http::StatusCode;
use notify_store::directory::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
use serde::de::DeserializeOwned;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::{RefOr, Required, Schema};
use utoipa::PartialSchema;

use crate::problem::{FieldError, Problem};
use crate::validate;

/// Path parameters whose rejection (bad percent-encoding) is a problem document too.
#[derive(Debug)]
pub(crate) struct PathParams<T>(pub T);

impl<S, T> FromRequestParts<S> for PathParams<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| PathParams(value))
            .map_err(|rejection| Problem::bad_request(rejection.body_text()))
    }
}

/// Query parameters as text, checked by each handler so that every problem names its parameter
/// and unknown parameters are refused like unknown body fields.
#[derive(Debug)]
pub(crate) struct QueryParams(pub BTreeMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<BTreeMap<String, String>>::from_request_parts(parts, state)
            .await
            .map(|Query(map)| QueryParams(map))
            .map_err(|rejection| Problem::bad_request(rejection.body_text()))
    }
}

impl QueryParams {
    /// Field errors for parameters other than `allowed`.
    pub(super) fn unknown(&self, allowed: &[&str], errors: &mut Vec<FieldError>) {
        for name in self.0.keys() {
            if !allowed.contains(&name.as_str()) {
                errors.push(FieldError::new(
                    name.clone(),
                    "is not a parameter of this request",
                ));
            }
        }
    }
}

/// `?cursor=&limit=` of a listing.
#[derive(Debug)]
pub(super) struct Paging {
    pub(super) cursor: Option<String>,
    pub(super) limit: usize,
}

/// Longest cursor accepted; the directory's cursors are far shorter.
const MAX_CURSOR_CHARS: usize = 1024;

impl Paging {
    pub(super) fn from_query(query: &QueryParams) -> Result<Self, Problem> {
        let mut errors = Vec::new();
        query.unknown(&["cursor", "limit"], &mut errors);
        let limit = match query.0.get("limit") {
            None => DEFAULT_PAGE_SIZE,
            Some(text) => match text.parse::<usize>() {
                Ok(n) if (1..=MAX_PAGE_SIZE).contains(&n) => n,
                _ => {
                    errors.push(FieldError::new(
                        "limit",
                        format!("must be a whole number from 1 to {MAX_PAGE_SIZE}"),
                    ));
                    DEFAULT_PAGE_SIZE
                }
            },
        };
        let cursor = query.0.get("cursor").cloned();
        if let Some(cursor) = &cursor {
            if cursor.is_empty() || cursor.len() > MAX_CURSOR_CHARS {
                errors.push(FieldError::new(
                    "cursor",
                    "must be the `next` value of a previous page",
                ));
            }
        }
        if errors.is_empty() {
            Ok(Self { cursor, limit })
        } else {
            Err(Problem::validation(errors))
        }
    }
}

/// Documents `?cursor=&limit=` the way [`Paging::from_query`] reads them.
impl utoipa::IntoParams for Paging {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let query = |name: &str, description: &str, schema: RefOr<Schema>| {
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Query)
                .description(Some(description))
                .required(Required::False)
                .schema(Some(schema))
                .build()
        };
        vec![
            query("cursor", "`next` of the previous page", String::schema()),
            query(
                "limit",
                &format!("page size, 1 to {MAX_PAGE_SIZE}, default {DEFAULT_PAGE_SIZE}"),
                usize::schema(),
            ),
        ]
    }
}

/// The body of a request as one JSON value of type `T` (400 if it is not JSON, 422 if it does
/// not fit `T`); a body over the size cap is a 413.
pub(super) fn parse_body<T: DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, Problem> {
    let bytes = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            // The cap belongs to a layer of the server; this handler does not know its value.
            let mut problem = Problem::too_large(0);
            problem.detail = Some("the body is larger than the server accepts".into());
            problem
        } else {
            Problem::bad_request(rejection.body_text())
        }
    })?;
    validate::parse_json(&bytes)
}

/// The body parsed by [`parse_body`] and checked by `check`: every rule it breaks is one field
/// error of a 422.
pub(super) fn parse_checked<T: DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
    check: impl Fn(&T) -> Vec<FieldError>,
) -> Result<T, Problem> {
    let body = parse_body(body)?;
    let errors = check(&body);
    if errors.is_empty() {
        Ok(body)
    } else {
        Err(Problem::validation(errors))
    }
}

/// A path identifier (`user_id`, `template_id`, ...) checked by the shared identifier rule.
pub(super) fn check_id(name: &str, value: &str) -> Result<(), Problem> {
    validate::fields::identifier(value)
        .map_err(|message| Problem::validation(vec![FieldError::new(name, message)]))
}
