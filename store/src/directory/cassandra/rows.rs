//! Rows of the directory tables as the driver reads them, and their conversion to records.
//! Column names match the tables in `migrations/0001_initial.cql`.

use std::collections::BTreeMap;

use scylla::response::query_result::QueryResult;
use scylla::value::CqlTimestamp;
use scylla::DeserializeRow;

use crate::cql::LwtRow;
use crate::directory::model::{
    Category, Device, DeviceState, Platform, PushTarget, QuietHours, Template, User,
    WebPushSubscription,
};
use crate::directory::{Channel, DirectoryError, DirectoryResult};
use crate::session::StoreError;

/// Columns selected for a user, in this order.
pub(super) const USER_COLUMNS: &str = "user_id, locale, time_zone, email, phone, \
     quiet_start_minute, quiet_end_minute, opted_out, created_at, updated_at";
/// Columns selected for a device.
pub(super) const DEVICE_COLUMNS: &str = "device_id, platform, device_token, endpoint, p256dh, \
     auth, app_topic, state, invalid_reason, created_at, updated_at";
/// Columns selected for a category.
pub(super) const CATEGORY_COLUMNS: &str =
    "category_id, description, critical, created_at, updated_at";
/// Columns selected for a template variant.
pub(super) const TEMPLATE_COLUMNS: &str = "template_id, version, locale, channel, title, body, \
     subject, html, plain_text, data, created_at";

/// A driver result that does not have the expected shape.
pub(super) fn shape(err: impl std::fmt::Display) -> DirectoryError {
    StoreError::Result(err.to_string()).into()
}

fn millis(timestamp: Option<CqlTimestamp>) -> i64 {
    timestamp.map_or(0, |t| t.0)
}

/// Every row of `result` as `R`.
pub(super) fn all_rows<R>(result: QueryResult) -> DirectoryResult<Vec<R>>
where
    R: for<'frame, 'metadata> scylla::deserialize::row::DeserializeRow<'frame, 'metadata>,
{
    let rows = result.into_rows_result().map_err(shape)?;
    let typed = rows.rows::<R>().map_err(shape)?;
    typed.map(|row| row.map_err(shape)).collect()
}

/// Outcome of a lightweight transaction: whether it applied and, when it did not, the current
/// value of the int column `column` (`None` if the row does not exist).
pub(super) fn lwt_outcome(
    result: QueryResult,
    column: &str,
) -> DirectoryResult<(bool, Option<i32>)> {
    let answer = LwtRow::read(result)?;
    let current = answer.column(column).and_then(|value| value.as_int());
    Ok((answer.applied(), current))
}

#[derive(Debug, DeserializeRow)]
pub(super) struct UserRow {
    user_id: String,
    locale: Option<String>,
    time_zone: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    quiet_start_minute: Option<i32>,
    quiet_end_minute: Option<i32>,
    opted_out: Option<bool>,
    created_at: Option<CqlTimestamp>,
    updated_at: Option<CqlTimestamp>,
}

impl UserRow {
    pub(super) fn into_user(self) -> DirectoryResult<User> {
        let minute = |m: i32| {
            u16::try_from(m).map_err(|_| DirectoryError::Corrupt {
                table: "users",
                reason: format!("quiet hours minute {m} out of range"),
            })
        };
        let quiet_hours = match (self.quiet_start_minute, self.quiet_end_minute) {
            (Some(start), Some(end)) => Some(QuietHours {
                start_minute: minute(start)?,
                end_minute: minute(end)?,
            }),
            _ => None,
        };
        Ok(User {
            user_id: self.user_id,
            locale: self.locale,
            time_zone: self.time_zone,
            email: self.email,
            phone: self.phone,
            quiet_hours,
            opted_out: self.opted_out.unwrap_or(false),
            created_at_ms: millis(self.created_at),
            updated_at_ms: millis(self.updated_at),
        })
    }
}

#[derive(Debug, DeserializeRow)]
pub(super) struct DeviceRow {
    device_id: String,
    platform: Option<String>,
    device_token: Option<String>,
    endpoint: Option<String>,
    p256dh: Option<String>,
    auth: Option<String>,
    app_topic: Option<String>,
    state: Option<String>,
    invalid_reason: Option<String>,
    created_at: Option<CqlTimestamp>,
    updated_at: Option<CqlTimestamp>,
}

impl DeviceRow {
    /// The device, or `None` for a row without a platform: what an update racing a delete
    /// leaves behind (`mark_invalid` writes only the state columns). Such a row is not a device.
    pub(super) fn into_device(self) -> DirectoryResult<Option<Device>> {
        let Some(platform) = self.platform else {
            return Ok(None);
        };
        let corrupt = |reason: String| DirectoryError::Corrupt {
            table: "devices",
            reason,
        };
        let platform = Platform::parse(&platform)
            .ok_or_else(|| corrupt(format!("unknown platform {platform:?}")))?;
        let target = match platform {
            Platform::Apns | Platform::Fcm => {
                let token = self
                    .device_token
                    .ok_or_else(|| corrupt("token missing".into()))?;
                if platform == Platform::Apns {
                    PushTarget::Apns { token }
                } else {
                    PushTarget::Fcm { token }
                }
            }
            Platform::WebPush => match (self.endpoint, self.p256dh, self.auth) {
                (Some(endpoint), Some(p256dh), Some(auth)) => PushTarget::WebPush {
                    subscription: WebPushSubscription {
                        endpoint,
                        p256dh,
                        auth,
                    },
                },
                _ => return Err(corrupt("web push subscription incomplete".into())),
            },
        };
        let state = match self.state.as_deref() {
            Some("invalid") => DeviceState::Invalid {
                reason: self.invalid_reason.unwrap_or_default(),
            },
            Some("active") | None => DeviceState::Active,
            Some(other) => return Err(corrupt(format!("unknown state {other:?}"))),
        };
        Ok(Some(Device {
            device_id: self.device_id,
            target,
            app_topic: self.app_topic,
            state,
            created_at_ms: millis(self.created_at),
            updated_at_ms: millis(self.updated_at),
        }))
    }
}

#[derive(Debug, DeserializeRow)]
pub(super) struct PreferenceRow {
    pub(super) category: String,
    pub(super) channel: String,
    pub(super) enabled: Option<bool>,
}

#[derive(Debug, DeserializeRow)]
pub(super) struct CategoryRow {
    category_id: String,
    description: Option<String>,
    critical: Option<bool>,
    created_at: Option<CqlTimestamp>,
    updated_at: Option<CqlTimestamp>,
}

impl CategoryRow {
    pub(super) fn into_category(self) -> Category {
        Category {
            category_id: self.category_id,
            description: self.description,
            critical: self.critical.unwrap_or(false),
            created_at_ms: millis(self.created_at),
            updated_at_ms: millis(self.updated_at),
        }
    }
}

#[derive(Debug, DeserializeRow)]
pub(super) struct TemplateRow {
    template_id: String,
    version: i32,
    locale: String,
    channel: String,
    title: Option<String>,
    body: Option<String>,
    subject: Option<String>,
    html: Option<String>,
    plain_text: Option<String>,
    data: Option<BTreeMap<String, String>>,
    created_at: Option<CqlTimestamp>,
}

impl TemplateRow {
    pub(super) fn into_template(self) -> DirectoryResult<Template> {
        let corrupt = |reason: String| DirectoryError::Corrupt {
            table: "templates",
            reason,
        };
        Ok(Template {
            template_id: self.template_id,
            version: u32::try_from(self.version)
                .map_err(|_| corrupt(format!("version {} out of range", self.version)))?,
            channel: Channel::parse(&self.channel)
                .ok_or_else(|| corrupt(format!("unknown channel {:?}", self.channel)))?,
            locale: self.locale,
            title: self.title,
            body: self.body,
            subject: self.subject,
            html: self.html,
            text: self.plain_text,
            data: self.data.unwrap_or_default(),
            created_at_ms: millis(self.created_at),
        })
    }
}

#[derive(Debug, DeserializeRow)]
pub(super) struct TemplateHeadRow {
    pub(super) template_id: String,
    pub(super) published_version: Option<i32>,
}
