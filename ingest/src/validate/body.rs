//! JSON bodies of the notification API, as clients send and receive them.
//!
//! Guarantees: every request type rejects unknown fields (`deny_unknown_fields`), so a typo is a
//! 422 naming the field instead of a silently ignored option. The `///` docs here are the
//! OpenAPI descriptions clients read.
//!
//! Not checked here: lengths, formats and relations between fields; [`super::validate`] does
//! that and turns a [`NotificationInput`] into the Avro record.

use std::collections::BTreeMap;

use notify_schemas::{Channel, Priority};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::problem::{FieldError, Problem};

/// A notification to send to one user.
///
/// Give a `template` (rendered per channel and locale by the router), inline `content`, or both
/// (the template wins where it defines a channel; inline content is the fallback).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotificationInput {
    /// Recipient user id within the tenant: 1 to 128 bytes, no control characters.
    #[schema(example = "user-42")]
    pub user_id: String,
    /// Notification type the user's preferences refer to, e.g. `order_shipped`: 1 to 128 bytes,
    /// no control characters.
    #[schema(example = "order_shipped")]
    pub category: String,
    /// Delivery lane; `normal` when omitted.
    #[serde(default)]
    pub priority: PriorityInput,
    /// Channels to deliver on. Omitted means every channel the user has a recipient for; when
    /// given it must name at least one channel. Duplicates are ignored.
    #[serde(default)]
    pub channels: Option<Vec<ChannelInput>>,
    /// Template to render.
    #[serde(default)]
    pub template: Option<TemplateInput>,
    /// Inline content per channel family.
    #[serde(default)]
    pub content: Option<ContentInput>,
    /// Locale overriding the user's, BCP 47 (`en`, `ko-KR`, `zh-Hant-TW`); at most 35 characters.
    #[serde(default)]
    #[schema(example = "ko-KR")]
    pub locale: Option<String>,
    /// Deliver no earlier than this RFC 3339 time (`2026-05-01T09:00:00+09:00`). A time in the
    /// past means now; at most the configured schedule horizon (30 days by default) ahead.
    #[serde(default)]
    #[schema(example = "2026-05-01T09:00:00+09:00")]
    pub send_at: Option<String>,
    /// Give up (status `EXPIRED`) instead of delivering after this RFC 3339 time; must be after
    /// `send_at`, or after now when there is no `send_at`.
    #[serde(default)]
    pub expires_at: Option<String>,
    /// W3C trace context to continue.
    #[serde(default)]
    pub trace: Option<TraceInput>,
}

/// Delivery lane. `critical` is for security codes and fraud alerts; `bulk` for promotions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PriorityInput {
    /// May bypass opt-out and quiet hours where the tenant allows it.
    Critical,
    /// Transactional traffic.
    High,
    /// The default lane.
    #[default]
    Normal,
    /// Promotional or bulk traffic, served after the other lanes.
    Bulk,
}

impl From<PriorityInput> for Priority {
    fn from(value: PriorityInput) -> Self {
        match value {
            PriorityInput::Critical => Priority::Critical,
            PriorityInput::High => Priority::High,
            PriorityInput::Normal => Priority::Normal,
            PriorityInput::Bulk => Priority::Bulk,
        }
    }
}

/// A delivery channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChannelInput {
    /// Apple Push Notification service.
    Apns,
    /// Firebase Cloud Messaging.
    Fcm,
    /// Browser push (RFC 8030).
    Webpush,
    /// Text message.
    Sms,
    /// Email.
    Email,
}

impl From<ChannelInput> for Channel {
    fn from(value: ChannelInput) -> Self {
        match value {
            ChannelInput::Apns => Channel::Apns,
            ChannelInput::Fcm => Channel::Fcm,
            ChannelInput::Webpush => Channel::WebPush,
            ChannelInput::Sms => Channel::Sms,
            ChannelInput::Email => Channel::Email,
        }
    }
}

/// A template of the tenant and the variables to render it with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateInput {
    /// Template id: 1 to 128 bytes, no control characters.
    #[schema(example = "order_shipped")]
    pub id: String,
    /// Variables (strings only): at most 64, names 1 to 64 bytes, values at most 4096 bytes,
    /// 16 KiB in all.
    #[serde(default)]
    pub params: BTreeMap<String, String>,
}

/// Inline content; give the families the requested channels need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContentInput {
    /// For APNs, FCM and web push.
    #[serde(default)]
    pub push: Option<PushInput>,
    /// For SMS.
    #[serde(default)]
    pub sms: Option<SmsInput>,
    /// For email.
    #[serde(default)]
    pub email: Option<EmailInput>,
}

/// Push content. The whole message as a provider would receive it must fit the provider's
/// limit: 4096 bytes for APNs and FCM, 3993 bytes of plaintext for web push.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PushInput {
    /// Title, non-empty.
    pub title: String,
    /// Body text, non-empty.
    pub body: String,
    /// Custom string key/values delivered to the app: at most 64 keys of 1 to 128 bytes; `aps`,
    /// `from`, `message_type` and keys starting with `google` or `gcm` are reserved.
    #[serde(default)]
    pub data: BTreeMap<String, String>,
    /// `http(s)` URL of an image shown with the notification; at most 2048 bytes.
    #[serde(default)]
    pub image_url: Option<String>,
    /// URL or app deep link (`myapp://orders/7`) opened on tap; at most 2048 bytes.
    #[serde(default)]
    pub click_url: Option<String>,
    /// Sound name (`default` or a bundled file); 1 to 256 bytes.
    #[serde(default)]
    pub sound: Option<String>,
    /// App icon badge count, 0 clears it.
    #[serde(default)]
    #[schema(minimum = 0)]
    pub badge: Option<i32>,
}

/// SMS content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SmsInput {
    /// Message text, non-empty. GSM-7 text takes 160 characters in one segment and 153 per
    /// segment beyond (`^{}\[~]|€` count twice); any other character makes the whole text UCS-2:
    /// 70 UTF-16 units in one segment, 67 per segment beyond. At most the configured segment
    /// count (10 by default).
    pub text: String,
}

/// Email content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailInput {
    /// Subject: 1 to 998 characters, no line breaks or other control characters.
    pub subject: String,
    /// HTML body, at most 512 KiB; give `html`, `text` or both.
    #[serde(default)]
    pub html: Option<String>,
    /// Plain-text body, at most 512 KiB.
    #[serde(default)]
    pub text: Option<String>,
}

/// W3C trace context (<https://www.w3.org/TR/trace-context/>).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TraceInput {
    /// `traceparent` value, e.g. `00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01`.
    #[schema(example = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")]
    pub traceparent: String,
    /// `tracestate` value, at most 512 characters.
    #[serde(default)]
    pub tracestate: Option<String>,
}

/// Several notifications in one request; each is validated and accepted on its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchInput {
    /// The notifications, at least one and at most the configured batch size (1000 by default).
    pub items: Vec<NotificationInput>,
}

/// Whether an accepted notification goes out now or waits for its `send_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AcceptedStatus {
    /// Queued for delivery now.
    Accepted,
    /// Queued for delivery at `send_at`.
    Scheduled,
}

/// The answer to an accepted notification (HTTP 202).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Accepted {
    /// Id of the notification; look it up at `GET /v1/notifications/{id}`.
    pub event_id: Uuid,
    /// `accepted`, or `scheduled` when `send_at` lies in the future.
    pub status: AcceptedStatus,
    /// True when the `Idempotency-Key` was seen before and this repeats the first answer;
    /// nothing new was queued.
    pub duplicate: bool,
}

/// The answer to a batch: one result per item, in request order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct BatchResult {
    /// Results, `results[i]` belonging to `items[i]`.
    pub results: Vec<ItemResult>,
}

/// Outcome of one batch item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ItemResult {
    /// Position of the item in `items`.
    pub index: usize,
    /// HTTP status the item would have had on its own: 202 accepted, 422 invalid, 409
    /// conflict, 503 not queued (safe to retry), ...
    pub status: u16,
    /// Id of the notification, when accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<Uuid>,
    /// `accepted` or `scheduled`, when accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<AcceptedStatus>,
    /// True when accepted earlier under the same idempotency key.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub duplicate: bool,
    /// What went wrong, when not accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Invalid fields, with paths from the batch root (`/items/3/user_id`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

impl ItemResult {
    /// Item `index` was accepted.
    pub fn accepted(index: usize, accepted: &Accepted) -> Self {
        Self {
            index,
            status: 202,
            event_id: Some(accepted.event_id),
            outcome: Some(accepted.status),
            duplicate: accepted.duplicate,
            detail: None,
            errors: Vec::new(),
        }
    }

    /// Item `index` failed with `problem` (its field errors must already carry the
    /// `/items/<index>` prefix, see [`super::nest_errors`]).
    pub fn failed(index: usize, problem: Problem) -> Self {
        Self {
            index,
            status: problem.status,
            event_id: None,
            outcome: None,
            duplicate: false,
            detail: problem.detail,
            errors: problem.errors,
        }
    }
}
