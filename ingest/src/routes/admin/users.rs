//! `/v1/users` and `/v1/users/{user_id}`: create, replace, read, delete and list users.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::Json;
use notify_store::directory::{QuietHours, User};
use serde::{Deserialize, Serialize};

use super::checks::{self, record};
use super::{
    check_id, deleted, directory_problem, found, page_of, parse_checked, upserted, Dir, Paging,
    PathParams, QueryParams,
};
use crate::problem::{FieldError, Problem};
use crate::routes::responses::{Listing, Problems, Upsert, UserLookup};
use crate::tenant::Tenant;
use crate::validate::{fields, recipients};

/// A user as written by `PUT /v1/users/{user_id}`. The PUT replaces the user: fields left out
/// are cleared, except `opted_out`, which keeps its current value when left out so that a
/// profile sync cannot undo a user's opt-out by accident.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserBody {
    /// Preferred locale, a BCP 47 tag (`en`, `ko-KR`).
    pub locale: Option<String>,
    /// IANA time zone name (`Europe/Berlin`) or `UTC`; quiet hours are in this zone (UTC when
    /// absent).
    pub time_zone: Option<String>,
    /// Email address.
    pub email: Option<String>,
    /// Phone number in E.164 form (`+821012345678`).
    pub phone: Option<String>,
    /// Daily window when non-critical notifications wait.
    pub quiet_hours: Option<QuietHoursBody>,
    /// Global opt-out: only critical categories are sent. Unchanged when absent.
    pub opted_out: Option<bool>,
}

/// A daily window in minutes after local midnight; a start after the end wraps past midnight
/// (`{"start_minute": 1320, "end_minute": 420}` is 22:00 to 07:00).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuietHoursBody {
    /// First minute of the window, 0 to 1439.
    pub start_minute: u16,
    /// First minute after the window, 0 to 1439; must differ from `start_minute`.
    pub end_minute: u16,
}

/// A stored user.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UserView {
    /// The user id.
    pub user_id: String,
    /// Preferred locale.
    pub locale: Option<String>,
    /// IANA time zone.
    pub time_zone: Option<String>,
    /// Email address.
    pub email: Option<String>,
    /// E.164 phone number.
    pub phone: Option<String>,
    /// Quiet hours.
    pub quiet_hours: Option<QuietHoursBody>,
    /// Global opt-out.
    pub opted_out: bool,
    /// First stored, Unix epoch milliseconds.
    pub created_at_ms: i64,
    /// Last written, Unix epoch milliseconds.
    pub updated_at_ms: i64,
}

impl From<User> for UserView {
    fn from(user: User) -> Self {
        Self {
            user_id: user.user_id,
            locale: user.locale,
            time_zone: user.time_zone,
            email: user.email,
            phone: user.phone,
            quiet_hours: user.quiet_hours.map(|q| QuietHoursBody {
                start_minute: q.start_minute,
                end_minute: q.end_minute,
            }),
            opted_out: user.opted_out,
            created_at_ms: user.created_at_ms,
            updated_at_ms: user.updated_at_ms,
        }
    }
}

/// One page of users.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UserPage {
    /// The users, in a stable order that is not alphabetical.
    pub items: Vec<UserView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next: Option<String>,
}

/// Every rule a user body breaks.
fn check_body(body: &UserBody) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if let Some(locale) = &body.locale {
        record(&mut errors, "/locale", fields::locale(locale));
    }
    if let Some(zone) = &body.time_zone {
        record(&mut errors, "/time_zone", checks::time_zone(zone));
    }
    if let Some(email) = &body.email {
        record(&mut errors, "/email", recipients::email(email));
    }
    if let Some(phone) = &body.phone {
        record(&mut errors, "/phone", recipients::e164(phone));
    }
    if let Some(quiet) = &body.quiet_hours {
        record(
            &mut errors,
            "/quiet_hours/start_minute",
            checks::minute_of_day(quiet.start_minute),
        );
        record(
            &mut errors,
            "/quiet_hours/end_minute",
            checks::minute_of_day(quiet.end_minute),
        );
        if quiet.start_minute == quiet.end_minute {
            errors.push(FieldError::new(
                "/quiet_hours/end_minute",
                "must differ from start_minute (an empty window is no quiet hours: leave it out)",
            ));
        }
    }
    errors
}

/// Read a user.
#[utoipa::path(
    get,
    path = "/v1/users/{user_id}",
    tag = "users",
    params(("user_id" = String, Path, description = "the tenant's id of the user")),
    responses(
        (status = 200, description = "the user", body = UserView),
        Problems<UserLookup>,
    ),
    security(("basic" = ["admin"]), ("bearer" = ["admin"]))
)]
pub(super) async fn get(
    tenant: Tenant,
    dir: Dir,
    PathParams(user_id): PathParams<String>,
) -> Result<Json<UserView>, Problem> {
    check_id("user_id", &user_id)?;
    found(dir.get_user(tenant.id(), &user_id).await, "user")
}

/// Create or replace a user.
#[utoipa::path(
    put,
    path = "/v1/users/{user_id}",
    tag = "users",
    params(("user_id" = String, Path, description = "the tenant's id of the user, at most 128 bytes")),
    request_body = UserBody,
    responses(
        (status = 200, description = "replaced", body = UserView),
        (status = 201, description = "created", body = UserView),
        Problems<Upsert>,
    ),
    security(("basic" = ["admin"]), ("bearer" = ["admin"]))
)]
pub(super) async fn put(
    tenant: Tenant,
    dir: Dir,
    PathParams(user_id): PathParams<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<UserView>), Problem> {
    check_id("user_id", &user_id)?;
    let body: UserBody = parse_checked(body, check_body)?;
    let opted_out = match body.opted_out {
        Some(value) => value,
        None => dir
            .get_user(tenant.id(), &user_id)
            .await
            .map_err(directory_problem)?
            .is_some_and(|u| u.opted_out),
    };
    let user = User {
        locale: body.locale,
        time_zone: body.time_zone,
        email: body.email,
        phone: body.phone,
        quiet_hours: body.quiet_hours.map(|q| QuietHours {
            start_minute: q.start_minute,
            end_minute: q.end_minute,
        }),
        opted_out,
        ..User::new(user_id)
    };
    upserted(dir.put_user(tenant.id(), &user).await)
}

/// Delete a user with their devices and preferences.
#[utoipa::path(
    delete,
    path = "/v1/users/{user_id}",
    tag = "users",
    params(("user_id" = String, Path, description = "the tenant's id of the user")),
    responses(
        (status = 204, description = "deleted, with devices and preferences"),
        Problems<UserLookup>,
    ),
    security(("basic" = ["admin"]), ("bearer" = ["admin"]))
)]
pub(super) async fn delete(
    tenant: Tenant,
    dir: Dir,
    PathParams(user_id): PathParams<String>,
) -> Result<StatusCode, Problem> {
    check_id("user_id", &user_id)?;
    deleted(dir.delete_user(tenant.id(), &user_id).await, "user")
}

/// List the tenant's users, a page at a time.
#[utoipa::path(
    get,
    path = "/v1/users",
    tag = "users",
    params(Paging),
    responses(
        (status = 200, description = "one page", body = UserPage),
        Problems<Listing>,
    ),
    security(("basic" = ["admin"]), ("bearer" = ["admin"]))
)]
pub(super) async fn list(
    tenant: Tenant,
    dir: Dir,
    query: QueryParams,
) -> Result<Json<UserPage>, Problem> {
    let paging = Paging::from_query(&query)?;
    let (items, next) = page_of(
        dir.list_users(tenant.id(), paging.cursor.as_deref(), paging.limit)
            .await,
    )?;
    Ok(Json(UserPage { items, next }))
}
