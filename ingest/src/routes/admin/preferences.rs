//! `/v1/users/{user_id}/preferences`: a user's global opt-out and per category x channel
//! choices. A category x channel without a preference is enabled.

use std::collections::BTreeSet;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::Json;
use notify_store::directory::{Preference, User};
use serde::{Deserialize, Serialize};

use super::checks::record;
use super::{check_id, directory_problem, parse_checked, user_of, ChannelName, Dir, PathParams};
use crate::problem::{FieldError, Problem};
use crate::routes::responses::{Problems, PutPreferences, UserLookup};
use crate::tenant::Tenant;
use crate::validate::fields;

/// Most preferences one request may set.
const MAX_PREFERENCES_PER_REQUEST: usize = 200;

/// What `PUT` changes: the opt-out if given, and the listed preferences. Preferences not
/// listed keep their value.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreferencesBody {
    /// Global opt-out; unchanged when absent.
    pub opted_out: Option<bool>,
    /// Preferences to set, at most 200, each category x channel once.
    #[serde(default)]
    pub preferences: Vec<PreferenceBody>,
}

/// Whether the user receives one category on one channel.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreferenceBody {
    /// Category id.
    pub category: String,
    /// Channel.
    pub channel: ChannelName,
    /// False to stop this category on this channel.
    pub enabled: bool,
}

/// A user's opt-out and every preference they set.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PreferencesView {
    /// Global opt-out.
    pub opted_out: bool,
    /// Preferences in (category, channel) order.
    pub preferences: Vec<PreferenceBody>,
}

fn view(user: &User, preferences: Vec<Preference>) -> PreferencesView {
    PreferencesView {
        opted_out: user.opted_out,
        preferences: preferences
            .into_iter()
            .map(|p| PreferenceBody {
                category: p.category,
                channel: p.channel.into(),
                enabled: p.enabled,
            })
            .collect(),
    }
}

fn check_body(body: &PreferencesBody) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if body.preferences.len() > MAX_PREFERENCES_PER_REQUEST {
        errors.push(FieldError::new(
            "/preferences",
            format!("must have at most {MAX_PREFERENCES_PER_REQUEST} items"),
        ));
        return errors;
    }
    let mut seen = BTreeSet::new();
    for (i, preference) in body.preferences.iter().enumerate() {
        record(
            &mut errors,
            &format!("/preferences/{i}/category"),
            fields::identifier(&preference.category),
        );
        if !seen.insert((preference.category.as_str(), preference.channel as u8)) {
            errors.push(FieldError::new(
                format!("/preferences/{i}"),
                "repeats an earlier category and channel",
            ));
        }
    }
    errors
}

/// Read a user's opt-out and preferences.
#[utoipa::path(
    get,
    path = "/v1/users/{user_id}/preferences",
    tag = "users",
    params(("user_id" = String, Path, description = "the tenant's id of the user")),
    responses(
        (status = 200, description = "opt-out and preferences", body = PreferencesView),
        Problems<UserLookup>,
    ),
    security(("basic" = ["admin"]), ("bearer" = ["admin"]))
)]
pub(super) async fn get(
    tenant: Tenant,
    dir: Dir,
    PathParams(user_id): PathParams<String>,
) -> Result<Json<PreferencesView>, Problem> {
    check_id("user_id", &user_id)?;
    let user = user_of(dir.as_ref(), &tenant, &user_id).await?;
    let preferences = dir
        .get_preferences(tenant.id(), &user_id)
        .await
        .map_err(directory_problem)?;
    Ok(Json(view(&user, preferences)))
}

/// Set a user's opt-out and some preferences.
#[utoipa::path(
    put,
    path = "/v1/users/{user_id}/preferences",
    tag = "users",
    params(("user_id" = String, Path, description = "the tenant's id of the user")),
    request_body = PreferencesBody,
    responses(
        (status = 200, description = "opt-out and every preference after the change", body = PreferencesView),
        Problems<PutPreferences>,
    ),
    security(("basic" = ["admin"]), ("bearer" = ["admin"]))
)]
pub(super) async fn put(
    tenant: Tenant,
    dir: Dir,
    PathParams(user_id): PathParams<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<PreferencesView>, Problem> {
    check_id("user_id", &user_id)?;
    let body: PreferencesBody = parse_checked(body, check_body)?;
    let mut user = user_of(dir.as_ref(), &tenant, &user_id).await?;
    if let Some(opted_out) = body.opted_out.filter(|v| *v != user.opted_out) {
        user.opted_out = opted_out;
        user = dir
            .put_user(tenant.id(), &user)
            .await
            .map_err(directory_problem)?
            .record;
    }
    let preferences: Vec<Preference> = body
        .preferences
        .into_iter()
        .map(|p| Preference {
            category: p.category,
            channel: p.channel.into(),
            enabled: p.enabled,
        })
        .collect();
    dir.put_preferences(tenant.id(), &user_id, &preferences)
        .await
        .map_err(directory_problem)?;
    let stored = dir
        .get_preferences(tenant.id(), &user_id)
        .await
        .map_err(directory_problem)?;
    Ok(Json(view(&user, stored)))
}

/// Delete every preference of a user (all categories enabled again; the opt-out stays).
#[utoipa::path(
    delete,
    path = "/v1/users/{user_id}/preferences",
    tag = "users",
    params(("user_id" = String, Path, description = "the tenant's id of the user")),
    responses(
        (status = 204, description = "preferences deleted"),
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
    user_of(dir.as_ref(), &tenant, &user_id).await?;
    dir.delete_preferences(tenant.id(), &user_id)
        .await
        .map_err(directory_problem)?;
    Ok(StatusCode::NO_CONTENT)
}
