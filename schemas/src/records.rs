//! Rust mirrors of the `.avsc` records in `schemas/avro/`.
//!
//! Guarantees: field names, field order, enum symbol order and union branch order match the
//! `.avsc` files exactly (the `contract` tests fail otherwise), so these types encode and decode
//! through the schema-aware serde path without a `Value` in between.
//!
//! Conventions the schema cannot express in Rust types:
//! - `*_at` and `not_before` fields are Unix epoch milliseconds (`timestamp-millis`).
//! - `event_id` and `delivery_id` are [`Uuid`]s, written as hyphenated lowercase text
//!   (`{"type": "string", "logicalType": "uuid"}`), whatever apache-avro's global human-readable
//!   setting says. A text that is not a UUID fails to decode.
//! - Maps are `BTreeMap`, so the same record always encodes to the same bytes.
//!
//! Not guaranteed here: semantic validation (sizes, formats of phone numbers and addresses,
//! "at least one of template or content"). That belongs to ingest and the router.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Unix epoch milliseconds, the Rust side of Avro `timestamp-millis`.
pub type TimestampMillis = i64;

/// Delivery lane of a notification (`io.notify.v1.Priority`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Priority {
    /// Security codes, fraud alerts: may bypass opt-out and quiet hours where the tenant allows.
    Critical,
    /// Transactional traffic.
    High,
    /// The default lane.
    Normal,
    /// Promotional or bulk traffic, served after the other lanes.
    Bulk,
}

/// Delivery channel (`io.notify.v1.Channel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Channel {
    /// Apple Push Notification service.
    Apns,
    /// Firebase Cloud Messaging.
    Fcm,
    /// Browser push (RFC 8030).
    WebPush,
    /// Text message.
    Sms,
    /// Email.
    Email,
}

impl Channel {
    /// Every channel, in schema symbol order.
    pub const ALL: [Channel; 5] = [
        Channel::Apns,
        Channel::Fcm,
        Channel::WebPush,
        Channel::Sms,
        Channel::Email,
    ];

    /// Lowercase name used in topic names (`notify.deliveries.<channel>`), consumer groups and
    /// metric labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            Channel::Apns => "apns",
            Channel::Fcm => "fcm",
            Channel::WebPush => "webpush",
            Channel::Sms => "sms",
            Channel::Email => "email",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// W3C trace context carried across Kafka (`io.notify.v1.TraceContext`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceContext {
    /// The `traceparent` header value.
    pub traceparent: String,
    /// The `tracestate` header value, if any.
    pub tracestate: Option<String>,
}

/// A template to render, with its variables (`io.notify.v1.TemplateRef`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateRef {
    /// Template id within the tenant.
    pub template_id: String,
    /// Variables substituted into the template.
    pub params: BTreeMap<String, String>,
}

/// Inline push content, used for APNs, FCM and web push (`io.notify.v1.PushContent`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushContent {
    /// Notification title.
    pub title: String,
    /// Notification body.
    pub body: String,
    /// Custom key/values delivered to the app.
    pub data: BTreeMap<String, String>,
    /// Image shown with the notification.
    pub image_url: Option<String>,
    /// Deep link or URL opened on tap.
    pub click_url: Option<String>,
    /// Sound name.
    pub sound: Option<String>,
    /// App icon badge count.
    pub badge: Option<i32>,
}

/// Inline SMS content (`io.notify.v1.SmsContent`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsContent {
    /// Message text.
    pub text: String,
}

/// Inline email content (`io.notify.v1.EmailContent`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailContent {
    /// Subject line.
    pub subject: String,
    /// HTML body.
    pub html: Option<String>,
    /// Plain-text body.
    pub text: Option<String>,
}

/// Content given inline, per channel family (`io.notify.v1.InlineContent`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InlineContent {
    /// For APNs, FCM and web push.
    pub push: Option<PushContent>,
    /// For SMS.
    pub sms: Option<SmsContent>,
    /// For email.
    pub email: Option<EmailContent>,
}

/// A notification a client service asked for; the record on `notify.requests`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationRequest {
    /// Tenant (app) that owns the user and the notification.
    pub tenant: String,
    /// Unique id of this notification.
    #[serde(with = "crate::uuid_text")]
    pub event_id: Uuid,
    /// Caller-chosen key; the same key within a tenant yields the same `event_id`.
    pub idempotency_key: Option<String>,
    /// Recipient user.
    pub user_id: String,
    /// Notification type the user's preferences refer to.
    pub category: String,
    /// Delivery lane.
    pub priority: Priority,
    /// Channels wanted; empty means every channel the user has.
    pub channels: Vec<Channel>,
    /// Template to render.
    pub template: Option<TemplateRef>,
    /// Inline content, instead of or as fallback to the template.
    pub content: Option<InlineContent>,
    /// Locale overriding the user's (BCP 47).
    pub locale: Option<String>,
    /// Deliver no earlier than this; `None` means now.
    pub send_at: Option<TimestampMillis>,
    /// Report `EXPIRED` instead of delivering after this.
    pub expires_at: Option<TimestampMillis>,
    /// When the request was accepted.
    pub created_at: TimestampMillis,
    /// Trace context of the request that created this record.
    pub trace: Option<TraceContext>,
}

/// An APNs or FCM registration token (`io.notify.v1.DeviceToken`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceToken {
    /// The token as the provider issued it.
    pub token: String,
    /// Directory id of the device, so an invalid token can be disabled.
    pub device_id: Option<String>,
}

/// A web push subscription with its RFC 8291 keys (`io.notify.v1.WebPushSubscription`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebPushSubscription {
    /// Push service endpoint URL.
    pub endpoint: String,
    /// Client public key (base64url).
    pub p256dh: String,
    /// Authentication secret (base64url).
    pub auth: String,
    /// Directory id of the device.
    pub device_id: Option<String>,
}

/// A phone number (`io.notify.v1.PhoneNumber`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhoneNumber {
    /// E.164 form, e.g. `+821012345678`.
    pub e164: String,
}

/// An email address (`io.notify.v1.EmailAddress`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailAddress {
    /// The address.
    pub address: String,
    /// Display name.
    pub name: Option<String>,
}

/// Where one delivery goes: the Avro union `[DeviceToken, WebPushSubscription, PhoneNumber,
/// EmailAddress]`, in that order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Recipient {
    /// APNs or FCM device.
    DeviceToken(DeviceToken),
    /// Browser subscription.
    WebPush(WebPushSubscription),
    /// SMS recipient.
    Phone(PhoneNumber),
    /// Email recipient.
    Email(EmailAddress),
}

impl Recipient {
    /// A form of the recipient that tells a person which one it was without giving it away: the
    /// first 6 characters of a token, the origin of a web push endpoint, the last 4 digits of a
    /// phone number, the first character and the domain of an email address. The form every
    /// status record carries.
    pub fn redacted(&self) -> String {
        match self {
            Recipient::DeviceToken(t) => format!("{}...", prefix(&t.token, 6)),
            Recipient::WebPush(s) => {
                // scheme://host, without the path that identifies the subscription
                let origin_end = s
                    .endpoint
                    .match_indices('/')
                    .nth(2)
                    .map_or(s.endpoint.len(), |(i, _)| i);
                format!("{}/...", &s.endpoint[..origin_end])
            }
            Recipient::Phone(p) => {
                let digits: Vec<char> = p.e164.chars().collect();
                if digits.len() > 6 {
                    let last: String = digits[digits.len() - 4..].iter().collect();
                    format!("...{last}")
                } else {
                    "...".to_owned()
                }
            }
            Recipient::Email(e) => match e.address.rsplit_once('@') {
                Some((local, domain)) => format!("{}***@{domain}", prefix(local, 1)),
                None => "***".to_owned(),
            },
        }
    }

    /// The part of the recipient that identifies it for dedup and for [`crate::delivery_id`]:
    /// the token, the subscription endpoint, the E.164 number or the address, as given.
    pub fn key(&self) -> &str {
        match self {
            Recipient::DeviceToken(t) => &t.token,
            Recipient::WebPush(s) => &s.endpoint,
            Recipient::Phone(p) => &p.e164,
            Recipient::Email(e) => &e.address,
        }
    }
}

/// Rendered push message (`io.notify.v1.RenderedPush`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenderedPush {
    /// Notification title.
    pub title: String,
    /// Notification body.
    pub body: String,
    /// Custom key/values delivered to the app.
    pub data: BTreeMap<String, String>,
    /// Image shown with the notification.
    pub image_url: Option<String>,
    /// Deep link or URL opened on tap.
    pub click_url: Option<String>,
    /// Sound name.
    pub sound: Option<String>,
    /// App icon badge count.
    pub badge: Option<i32>,
    /// APNs collapse id, FCM collapse key, web push `Topic`.
    pub collapse_key: Option<String>,
    /// How long the push service may hold the message.
    pub ttl_seconds: Option<i32>,
}

/// Rendered SMS (`io.notify.v1.RenderedSms`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenderedSms {
    /// Message text.
    pub text: String,
    /// Number of segments the text needs (GSM-7 or UCS-2).
    pub segments: i32,
}

/// Rendered email (`io.notify.v1.RenderedEmail`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenderedEmail {
    /// Subject line.
    pub subject: String,
    /// HTML body.
    pub html: Option<String>,
    /// Plain-text body.
    pub text: Option<String>,
    /// Sender address, possibly with a display name.
    pub from: String,
    /// Reply-To address.
    pub reply_to: Option<String>,
}

/// Rendered content of one delivery: the Avro union `[RenderedPush, RenderedSms,
/// RenderedEmail]`, in that order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RenderedContent {
    /// For APNs, FCM and web push.
    Push(RenderedPush),
    /// For SMS.
    Sms(RenderedSms),
    /// For email.
    Email(RenderedEmail),
}

/// One rendered message for one (channel, recipient); the record on
/// `notify.deliveries.<channel>` and the retry tiers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// Deterministic id, see [`crate::delivery_id`].
    #[serde(with = "crate::uuid_text")]
    pub delivery_id: Uuid,
    /// Tenant (app).
    pub tenant: String,
    /// Id of the request this delivery belongs to.
    #[serde(with = "crate::uuid_text")]
    pub event_id: Uuid,
    /// Recipient user.
    pub user_id: String,
    /// Notification type.
    pub category: String,
    /// Delivery lane.
    pub priority: Priority,
    /// Channel this delivery goes out on.
    pub channel: Channel,
    /// Address or token.
    pub recipient: Recipient,
    /// What to send.
    pub content: RenderedContent,
    /// Locale the content was rendered in.
    pub locale: Option<String>,
    /// Delivery attempts made before this record; 0 when the router emits it.
    pub attempt: i32,
    /// When the first attempt was made.
    pub first_attempt_at: Option<TimestampMillis>,
    /// Do not attempt before this (retry backoff, `Retry-After`).
    pub not_before: Option<TimestampMillis>,
    /// Report `EXPIRED` instead of delivering after this.
    pub expires_at: Option<TimestampMillis>,
    /// When the router created the delivery.
    pub created_at: TimestampMillis,
    /// Trace context.
    pub trace: Option<TraceContext>,
}

/// Outcome kinds reported on `notify.status` (`io.notify.v1.Status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    /// Ingest accepted the request.
    Accepted,
    /// Waiting for `send_at` or the end of quiet hours.
    Scheduled,
    /// Not sent on purpose (preference, rate limit, duplicate, ...); see `reason`.
    Suppressed,
    /// The provider accepted the message.
    Sent,
    /// A retry is scheduled.
    Retrying,
    /// Permanently failed (token invalid, bad address, ...).
    Failed,
    /// Not delivered before `expires_at`.
    Expired,
    /// Moved to the dead-letter topic.
    DeadLettered,
    /// The recipient opened it (tracking).
    Opened,
    /// The recipient clicked it (tracking).
    Clicked,
}

/// Pipeline stage that emitted a status (`io.notify.v1.Stage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Stage {
    /// The HTTP gateway.
    Ingest,
    /// The router.
    Router,
    /// The schedule that re-emits deferred sends.
    Scheduler,
    /// A channel dispatcher.
    Dispatcher,
    /// Open and click tracking.
    Tracker,
}

/// An outcome at one stage; the record on `notify.status`, keyed by `event_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryStatus {
    /// Tenant (app).
    pub tenant: String,
    /// Request the outcome belongs to.
    #[serde(with = "crate::uuid_text")]
    pub event_id: Uuid,
    /// Delivery the outcome belongs to; `None` for outcomes of the whole request.
    #[serde(with = "crate::uuid_text::option")]
    pub delivery_id: Option<Uuid>,
    /// Recipient user.
    pub user_id: Option<String>,
    /// Notification type.
    pub category: Option<String>,
    /// Channel, when the outcome concerns one.
    pub channel: Option<Channel>,
    /// Redacted recipient; never a full token or address.
    pub recipient: Option<String>,
    /// What happened.
    pub status: Status,
    /// Which stage reported it.
    pub stage: Stage,
    /// Machine-readable cause, e.g. `preference`, `rate_limited`, `token_invalid`.
    pub reason: Option<String>,
    /// Provider account that handled it.
    pub provider: Option<String>,
    /// Id the provider gave the message.
    pub provider_message_id: Option<String>,
    /// Attempt number the outcome refers to.
    pub attempt: i32,
    /// When it happened.
    pub occurred_at: TimestampMillis,
}

/// The first `chars` characters of `text`.
fn prefix(text: &str, chars: usize) -> &str {
    text.char_indices()
        .nth(chars)
        .map_or(text, |(i, _)| &text[..i])
}
