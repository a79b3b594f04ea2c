//! Tenant-scoped admin API over the directory: users, their devices and preferences,
//! notification categories and templates.
//!
//! Guarantees: every handler takes the authenticated [`Tenant`] and passes it to the
//! [`Directory`] as the scope of every read and write, so another tenant's object answers 404
//! exactly like one that does not exist; a request without a tenant answers 401 before anything
//! is read. Every input is checked before the directory is touched: bodies must fit their type
//! exactly (unknown fields are refused), and every rule broken is reported at once as a 422
//! whose field errors name JSON pointers into the body (`/phone`, `/variants/2/text`) or, for
//! path and query parameters, the bare parameter name (`user_id`, `limit`, `cursor`).
//!
//! Not done here: authentication (the auth middleware inserts the [`Tenant`]), body size caps
//! (a layer of the server), checking that categories named in preferences exist (an unknown
//! category simply never matches), rendering templates (the router's job).

mod categories;
mod checks;
mod devices;
mod input;
mod preferences;
mod suppressions;
mod template_checks;
mod templates;
mod users;
pub mod webhooks;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, FromRef};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Extension, Json, Router};
use notify_schemas::limits::ContentLimits;
use notify_store::directory::{
    Channel, Directory, DirectoryError, DirectoryResult, Page, Upserted, User,
};
use notify_store::suppressions::SuppressionList;
use serde::{Deserialize, Serialize};

use crate::problem::{FieldError, Problem};
use crate::tenant::Tenant;

pub use categories::{CategoryBody, CategoryPage, CategoryView};
pub use devices::{DeviceList, DeviceRegistration, DeviceView, SubscriptionBody, SubscriptionKeys};
pub use preferences::{PreferenceBody, PreferencesBody, PreferencesView};
pub use suppressions::SuppressionView;
pub use templates::{TemplateBody, TemplateIdPage, TemplateView, VariantBody};
pub use users::{QuietHoursBody, UserBody, UserPage, UserView};

use input::{check_id, parse_body, parse_checked, Paging, PathParams, QueryParams};

/// The admin routes, for any state the directory can be taken from. Mount them behind the auth
/// middleware; without it every request answers 401. Bodies over `body_limit` bytes
/// (`template_body_limit` for template upserts) answer 413 before they are parsed. A template
/// variant written without template syntax must fit `content` (what the router would send).
pub fn routes<S>(body_limit: usize, template_body_limit: usize, content: ContentLimits) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Arc<dyn Directory>: FromRef<S>,
    Arc<dyn SuppressionList>: FromRef<S>,
{
    Router::new()
        .route("/v1/users", get(users::list))
        .route(
            "/v1/users/{user_id}",
            get(users::get).put(users::put).delete(users::delete),
        )
        .route(
            "/v1/users/{user_id}/devices",
            get(devices::list).post(devices::register),
        )
        .route(
            "/v1/users/{user_id}/devices/{device_id}",
            get(devices::get).delete(devices::delete),
        )
        .route(
            "/v1/users/{user_id}/preferences",
            get(preferences::get)
                .put(preferences::put)
                .delete(preferences::delete),
        )
        .route("/v1/templates", get(templates::list))
        .route(
            "/v1/templates/{template_id}",
            get(templates::get)
                .put(templates::put)
                .delete(templates::delete)
                // inside the router-wide limit below, so it wins for this route
                .layer((
                    DefaultBodyLimit::max(template_body_limit),
                    Extension(content),
                )),
        )
        .route("/v1/categories", get(categories::list))
        .route(
            "/v1/categories/{category_id}",
            get(categories::get)
                .put(categories::put)
                .delete(categories::delete),
        )
        .route(
            "/v1/suppressions/{channel}/{address}",
            get(suppressions::get).delete(suppressions::delete),
        )
        .layer(DefaultBodyLimit::max(body_limit))
}

/// The OpenAPI description of the admin routes, merged into `/openapi.json`.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(
    paths(
        users::get,
        users::put,
        users::delete,
        users::list,
        devices::list,
        devices::register,
        devices::get,
        devices::delete,
        preferences::get,
        preferences::put,
        preferences::delete,
        templates::get,
        templates::put,
        templates::delete,
        templates::list,
        categories::get,
        categories::put,
        categories::delete,
        categories::list,
        suppressions::get,
        suppressions::delete,
    ),
    components(schemas(
        ChannelName,
        SuppressionView,
        UserBody,
        UserView,
        UserPage,
        QuietHoursBody,
        DeviceRegistration,
        SubscriptionBody,
        SubscriptionKeys,
        DeviceView,
        DeviceList,
        PreferenceBody,
        PreferencesBody,
        PreferencesView,
        TemplateBody,
        VariantBody,
        TemplateView,
        TemplateIdPage,
        CategoryBody,
        CategoryView,
        CategoryPage,
        Problem,
        FieldError,
    )),
    tags(
        (name = "users", description = "recipients, their devices and preferences"),
        (name = "templates", description = "versioned content per locale and channel"),
        (name = "categories", description = "kinds of notification users can opt out of"),
    )
)]
pub struct AdminApi;

/// A delivery channel as the API names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChannelName {
    /// Apple push.
    Apns,
    /// Firebase push.
    Fcm,
    /// Browser push.
    #[serde(rename = "webpush")]
    WebPush,
    /// Text message.
    Sms,
    /// Email.
    Email,
}

impl From<ChannelName> for Channel {
    fn from(name: ChannelName) -> Self {
        match name {
            ChannelName::Apns => Channel::Apns,
            ChannelName::Fcm => Channel::Fcm,
            ChannelName::WebPush => Channel::WebPush,
            ChannelName::Sms => Channel::Sms,
            ChannelName::Email => Channel::Email,
        }
    }
}

impl From<Channel> for ChannelName {
    fn from(channel: Channel) -> Self {
        match channel {
            Channel::Apns => ChannelName::Apns,
            Channel::Fcm => ChannelName::Fcm,
            Channel::WebPush => ChannelName::WebPush,
            Channel::Sms => ChannelName::Sms,
            Channel::Email => ChannelName::Email,
        }
    }
}

/// The directory as handlers take it from the state.
type Dir = axum::extract::State<Arc<dyn Directory>>;

/// The answer for a read of one object: its view, or 404 naming `what`.
fn found<T, V: From<T>>(read: DirectoryResult<Option<T>>, what: &str) -> Result<Json<V>, Problem> {
    match read {
        Ok(Some(object)) => Ok(Json(object.into())),
        Ok(None) => Err(Problem::not_found(what)),
        Err(err) => Err(directory_problem(err)),
    }
}

/// The answer for a delete of one object: 204, or 404 naming `what`.
fn deleted(delete: DirectoryResult<bool>, what: &str) -> Result<StatusCode, Problem> {
    match delete {
        Ok(true) => Ok(StatusCode::NO_CONTENT),
        Ok(false) => Err(Problem::not_found(what)),
        Err(err) => Err(directory_problem(err)),
    }
}

/// The answer for a create-or-replace: 201 with the view if it created the object, else 200.
fn upserted<T, V: From<T>>(
    write: DirectoryResult<Upserted<T>>,
) -> Result<(StatusCode, Json<V>), Problem> {
    let stored = write.map_err(directory_problem)?;
    let status = if stored.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(stored.record.into())))
}

/// The items of one listing page as views, and the cursor of the next page.
fn page_of<T, V: From<T>>(
    list: DirectoryResult<Page<T>>,
) -> Result<(Vec<V>, Option<String>), Problem> {
    let page = list.map_err(directory_problem)?;
    Ok((page.items.into_iter().map(V::from).collect(), page.next))
}

/// The user, or 404.
async fn user_of(dir: &dyn Directory, tenant: &Tenant, user_id: &str) -> Result<User, Problem> {
    dir.get_user(tenant.id(), user_id)
        .await
        .map_err(directory_problem)?
        .ok_or_else(|| Problem::not_found("user"))
}

/// The answer for a directory failure: 404 for what is missing, 422 for a bad cursor, 409 for
/// limits and lost races, 503 while the database is unreachable, 500 otherwise (logged once).
fn directory_problem(err: DirectoryError) -> Problem {
    match err {
        DirectoryError::NotFound { what } => Problem::not_found(what),
        DirectoryError::InvalidCursor => Problem::validation(vec![FieldError::new(
            "cursor",
            "is not the `next` value of a previous page of this listing",
        )]),
        DirectoryError::TooMany { what, limit } => {
            Problem::conflict(format!("at most {limit} {what} are allowed"))
        }
        DirectoryError::InvalidInput(message) => {
            Problem::validation(vec![FieldError::new("", message)])
        }
        DirectoryError::Conflict(message) => Problem::conflict(message),
        err if err.is_transient() => Problem::outage(
            "directory unavailable",
            &err,
            "the directory is unavailable; retry shortly",
        ),
        err => Problem::internal(&err),
    }
}
