//! `/v1/suppressions/{channel}/{address}`: whether an address is on the suppression list (a hard
//! bounce, a spam report, a number that texted STOP), and taking a tenant's own entry off once
//! the cause is fixed. An entry that holds for every tenant (STOP to the shared number) is shown
//! but cannot be removed here: the user's consent is lifted only by the user texting START.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use notify_schemas::Channel;
use notify_store::suppressions::EVERY_TENANT;
use notify_store::suppressions::{first_applying, normalize, Suppression, SuppressionList};
use serde::{Deserialize, Serialize};

use super::PathParams;
use crate::problem::{FieldError, Problem};
use crate::routes::responses::{Problems, SuppressionLookup};
use crate::tenant::Tenant;

type List = State<Arc<dyn SuppressionList>>;

/// The entry that holds for the tenant on one address.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SuppressionView {
    /// `sms` or `email`.
    pub channel: String,
    /// The address as stored (email addresses in lower case).
    pub address: String,
    /// `bounced`, `complained` or `stopped`.
    pub reason: String,
    /// `tenant` for the tenant's own entry, `every_tenant` for a STOP to the shared number.
    pub scope: String,
    /// When it was added, Unix epoch milliseconds.
    pub created_at_ms: i64,
    /// The delivery whose receipt added it, if any.
    pub delivery_id: Option<String>,
}

impl From<&Suppression> for SuppressionView {
    fn from(entry: &Suppression) -> Self {
        let scope = if entry.scope == EVERY_TENANT {
            "every_tenant"
        } else {
            "tenant"
        };
        Self {
            channel: entry.channel.as_str().to_owned(),
            address: entry.address.clone(),
            reason: entry.reason.as_str().to_owned(),
            scope: scope.to_owned(),
            created_at_ms: entry.created_at_ms,
            delivery_id: entry.delivery_id.clone(),
        }
    }
}

/// The channel and normalized address of a path, or 422.
fn address_of(channel: &str, address: &str) -> Result<(Channel, String), Problem> {
    let channel = match channel {
        "sms" => Channel::Sms,
        "email" => Channel::Email,
        _ => {
            return Err(Problem::validation(vec![FieldError::new(
                "channel",
                "must be sms or email",
            )]))
        }
    };
    let address = normalize(channel, address);
    if address.is_empty() {
        return Err(Problem::validation(vec![FieldError::new(
            "address",
            "must not be empty",
        )]));
    }
    Ok((channel, address))
}

async fn entries(
    list: &dyn SuppressionList,
    channel: Channel,
    address: &str,
) -> Result<Vec<Suppression>, Problem> {
    list.lookup(channel, address)
        .await
        .map_err(|err| Problem::outage("suppression list", &err, "retry"))
}

/// Read the entry that holds for the tenant on an address.
#[utoipa::path(
    get,
    path = "/v1/suppressions/{channel}/{address}",
    tag = "suppressions",
    params(
        ("channel" = String, Path, description = "sms or email"),
        ("address" = String, Path, description = "the E.164 number or the email address"),
    ),
    responses(
        (status = 200, description = "the address is suppressed", body = SuppressionView),
        Problems<SuppressionLookup>,
    ),
    security(("basic" = ["admin"]), ("bearer" = ["admin"]))
)]
pub(super) async fn get(
    tenant: Tenant,
    State(list): List,
    PathParams((channel, address)): PathParams<(String, String)>,
) -> Result<Json<SuppressionView>, Problem> {
    let (channel, address) = address_of(&channel, &address)?;
    let found = entries(list.as_ref(), channel, &address).await?;
    first_applying(&found, tenant.id())
        .map(|entry| Json(entry.into()))
        .ok_or_else(|| Problem::not_found("suppression"))
}

/// Take the tenant's own entry for an address off the list.
#[utoipa::path(
    delete,
    path = "/v1/suppressions/{channel}/{address}",
    tag = "suppressions",
    params(
        ("channel" = String, Path, description = "sms or email"),
        ("address" = String, Path, description = "the E.164 number or the email address"),
    ),
    responses(
        (status = 204, description = "removed; sends to the address resume within the routers' cache TTL"),
        Problems<SuppressionLookup>,
    ),
    security(("basic" = ["admin"]), ("bearer" = ["admin"]))
)]
pub(super) async fn delete(
    tenant: Tenant,
    State(list): List,
    PathParams((channel, address)): PathParams<(String, String)>,
) -> Result<StatusCode, Problem> {
    let (channel, address) = address_of(&channel, &address)?;
    let found = entries(list.as_ref(), channel, &address).await?;
    if found.iter().any(|e| e.scope == tenant.id()) {
        list.remove(tenant.id(), channel, &address)
            .await
            .map_err(|err| Problem::outage("suppression list", &err, "retry"))?;
        return Ok(StatusCode::NO_CONTENT);
    }
    if found.iter().any(|e| e.scope == EVERY_TENANT) {
        return Err(Problem::conflict(
            "the number texted STOP: only the user can lift it, by texting START",
        ));
    }
    Err(Problem::not_found("suppression"))
}
