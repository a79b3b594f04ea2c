//! `/v1/users/{user_id}/devices[/{device_id}]`: register, read, list and delete a user's push
//! devices.
//!
//! The device id is derived from the platform and token (or web push endpoint), so registering
//! the same token twice updates one device instead of adding a second, and makes a device that
//! was marked invalid active again. APNs tokens are stored in lowercase, so the case a client
//! sends does not create a second device.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::Json;
use notify_store::directory::{Device, DeviceState, PushTarget, WebPushSubscription};
use serde::{Deserialize, Serialize};

use super::checks::{self, record};
use super::{
    check_id, deleted, directory_problem, found, parse_body, upserted, user_of, Dir, PathParams,
};
use crate::problem::{FieldError, Problem};
use crate::routes::responses::{DeviceLookup, Problems, RegisterDevice, UserLookup};
use crate::tenant::Tenant;
use crate::validate::recipients;

/// Longest `app_topic` (an APNs topic is a bundle id, at most 155 characters).
const MAX_APP_TOPIC_BYTES: usize = 255;

/// A device to register: an APNs or FCM token, or a browser's push subscription as
/// `PushSubscription.toJSON()` gives it.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(tag = "platform", rename_all = "lowercase", deny_unknown_fields)]
pub enum DeviceRegistration {
    /// An iOS/macOS device.
    Apns {
        /// The device token in hex.
        token: String,
        /// APNs topic (bundle id) when the tenant has more than one app.
        app_topic: Option<String>,
    },
    /// An Android device or other FCM client.
    Fcm {
        /// The FCM registration token.
        token: String,
        /// App identifier when the tenant has more than one app.
        app_topic: Option<String>,
    },
    /// A browser.
    #[serde(rename = "webpush")]
    WebPush {
        /// The push subscription.
        subscription: SubscriptionBody,
        /// App identifier when the tenant has more than one site.
        app_topic: Option<String>,
    },
}

/// A web push subscription (the JSON of the Push API's `PushSubscription`).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionBody {
    /// The push service URL (https).
    pub endpoint: String,
    /// The subscription's keys.
    pub keys: SubscriptionKeys,
    /// Accepted for compatibility with `PushSubscription.toJSON()` and ignored.
    #[serde(rename = "expirationTime", default, skip_serializing)]
    pub expiration_time: Option<f64>,
}

/// The keys of a web push subscription, base64url.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionKeys {
    /// The browser's P-256 public key (65 bytes).
    pub p256dh: String,
    /// The authentication secret (16 bytes).
    pub auth: String,
}

/// A registered device.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeviceView {
    /// Derived from platform and token: the same token always has the same id.
    pub device_id: String,
    /// `apns`, `fcm` or `webpush`.
    pub platform: String,
    /// The token (APNs, FCM).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The subscription (web push).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscription: Option<SubscriptionBody>,
    /// App topic.
    pub app_topic: Option<String>,
    /// `active`, or `invalid` once the provider said the token is gone.
    pub state: String,
    /// Why the device is invalid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invalid_reason: Option<String>,
    /// First registered, Unix epoch milliseconds.
    pub created_at_ms: i64,
    /// Last registered or marked, Unix epoch milliseconds.
    pub updated_at_ms: i64,
}

impl From<Device> for DeviceView {
    fn from(device: Device) -> Self {
        let platform = device.platform().as_str().to_owned();
        let (token, subscription) = match device.target {
            PushTarget::Apns { token } | PushTarget::Fcm { token } => (Some(token), None),
            PushTarget::WebPush { subscription } => (
                None,
                Some(SubscriptionBody {
                    endpoint: subscription.endpoint,
                    keys: SubscriptionKeys {
                        p256dh: subscription.p256dh,
                        auth: subscription.auth,
                    },
                    expiration_time: None,
                }),
            ),
        };
        let (state, invalid_reason) = match device.state {
            DeviceState::Active => ("active".to_owned(), None),
            DeviceState::Invalid { reason } => ("invalid".to_owned(), Some(reason)),
        };
        Self {
            device_id: device.device_id,
            platform,
            token,
            subscription,
            app_topic: device.app_topic,
            state,
            invalid_reason,
            created_at_ms: device.created_at_ms,
            updated_at_ms: device.updated_at_ms,
        }
    }
}

/// A user's devices.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeviceList {
    /// Every device of the user, in device id order (at most 100).
    pub items: Vec<DeviceView>,
}

/// Checks a registration and turns it into the directory's target and app topic.
fn target_of(
    registration: DeviceRegistration,
) -> Result<(PushTarget, Option<String>), Vec<FieldError>> {
    let mut errors = Vec::new();
    let (target, app_topic) = match registration {
        DeviceRegistration::Apns { token, app_topic } => {
            record(&mut errors, "/token", recipients::apns_token(&token));
            let token = token.to_ascii_lowercase();
            (PushTarget::Apns { token }, app_topic)
        }
        DeviceRegistration::Fcm { token, app_topic } => {
            record(&mut errors, "/token", recipients::fcm_token(&token));
            (PushTarget::Fcm { token }, app_topic)
        }
        DeviceRegistration::WebPush {
            subscription,
            app_topic,
        } => {
            let SubscriptionBody { endpoint, keys, .. } = subscription;
            record(
                &mut errors,
                "/subscription/endpoint",
                recipients::webpush_endpoint(&endpoint),
            );
            record(
                &mut errors,
                "/subscription/keys/p256dh",
                recipients::webpush_p256dh(&keys.p256dh),
            );
            record(
                &mut errors,
                "/subscription/keys/auth",
                recipients::webpush_auth(&keys.auth),
            );
            let subscription = WebPushSubscription {
                endpoint,
                p256dh: keys.p256dh,
                auth: keys.auth,
            };
            (PushTarget::WebPush { subscription }, app_topic)
        }
    };
    if let Some(topic) = &app_topic {
        record(
            &mut errors,
            "/app_topic",
            checks::required_text(Some(topic), MAX_APP_TOPIC_BYTES, false),
        );
    }
    if errors.is_empty() {
        Ok((target, app_topic))
    } else {
        Err(errors)
    }
}

/// List a user's devices.
#[utoipa::path(
    get,
    path = "/v1/users/{user_id}/devices",
    tag = "users",
    params(("user_id" = String, Path, description = "the tenant's id of the user")),
    responses(
        (status = 200, description = "the user's devices", body = DeviceList),
        Problems<UserLookup>,
    ),
    security(("basic" = ["admin"]), ("bearer" = ["admin"]))
)]
pub(super) async fn list(
    tenant: Tenant,
    dir: Dir,
    PathParams(user_id): PathParams<String>,
) -> Result<Json<DeviceList>, Problem> {
    check_id("user_id", &user_id)?;
    user_of(dir.as_ref(), &tenant, &user_id).await?;
    let devices = dir
        .list_devices(tenant.id(), &user_id)
        .await
        .map_err(directory_problem)?;
    Ok(Json(DeviceList {
        items: devices.into_iter().map(DeviceView::from).collect(),
    }))
}

/// Register a device of a user (idempotent per token).
#[utoipa::path(
    post,
    path = "/v1/users/{user_id}/devices",
    tag = "users",
    params(("user_id" = String, Path, description = "the tenant's id of the user")),
    request_body = DeviceRegistration,
    responses(
        (status = 201, description = "registered", body = DeviceView),
        (status = 200, description = "already registered: updated and active again", body = DeviceView),
        Problems<RegisterDevice>,
    ),
    security(("basic" = ["admin"]), ("bearer" = ["admin"]))
)]
pub(super) async fn register(
    tenant: Tenant,
    dir: Dir,
    PathParams(user_id): PathParams<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<DeviceView>), Problem> {
    check_id("user_id", &user_id)?;
    let registration: DeviceRegistration = parse_body(body)?;
    let (target, app_topic) = target_of(registration).map_err(Problem::validation)?;
    upserted(
        dir.put_device(tenant.id(), &user_id, &target, app_topic.as_deref())
            .await,
    )
}

/// Read one device.
#[utoipa::path(
    get,
    path = "/v1/users/{user_id}/devices/{device_id}",
    tag = "users",
    params(
        ("user_id" = String, Path, description = "the tenant's id of the user"),
        ("device_id" = String, Path, description = "the id answered at registration"),
    ),
    responses(
        (status = 200, description = "the device", body = DeviceView),
        Problems<DeviceLookup>,
    ),
    security(("basic" = ["admin"]), ("bearer" = ["admin"]))
)]
pub(super) async fn get(
    tenant: Tenant,
    dir: Dir,
    PathParams((user_id, device_id)): PathParams<(String, String)>,
) -> Result<Json<DeviceView>, Problem> {
    check_id("user_id", &user_id)?;
    check_id("device_id", &device_id)?;
    found(
        dir.get_device(tenant.id(), &user_id, &device_id).await,
        "device",
    )
}

/// Delete one device.
#[utoipa::path(
    delete,
    path = "/v1/users/{user_id}/devices/{device_id}",
    tag = "users",
    params(
        ("user_id" = String, Path, description = "the tenant's id of the user"),
        ("device_id" = String, Path, description = "the id answered at registration"),
    ),
    responses(
        (status = 204, description = "deleted"),
        Problems<DeviceLookup>,
    ),
    security(("basic" = ["admin"]), ("bearer" = ["admin"]))
)]
pub(super) async fn delete(
    tenant: Tenant,
    dir: Dir,
    PathParams((user_id, device_id)): PathParams<(String, String)>,
) -> Result<StatusCode, Problem> {
    check_id("user_id", &user_id)?;
    check_id("device_id", &device_id)?;
    deleted(
        dir.delete_device(tenant.id(), &user_id, &device_id).await,
        "device",
    )
}
