//! The record on `notify.deliveries.<channel>` and the retry tiers ([`Delivery`]): one
//! recipient ([`Recipient`]) and the content rendered for it ([`RenderedContent`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Channel, Priority, PushContent, TimestampMillis, TraceContext};

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

/// Rendered push message (`io.notify.v1.RenderedPush`). `Default` is the empty message, for
/// filling in only the fields one sets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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

impl RenderedPush {
    /// Push content of a title, a body and data only: no image, link, sound, badge, collapse
    /// key or TTL.
    pub fn text(title: String, body: String, data: BTreeMap<String, String>) -> Self {
        Self {
            title,
            body,
            data,
            image_url: None,
            click_url: None,
            sound: None,
            badge: None,
            collapse_key: None,
            ttl_seconds: None,
        }
    }
}

/// Inline push content as the client gave it, rendered: no collapse key and no TTL (the push
/// service's defaults).
impl From<PushContent> for RenderedPush {
    fn from(push: PushContent) -> Self {
        Self {
            title: push.title,
            body: push.body,
            data: push.data,
            image_url: push.image_url,
            click_url: push.click_url,
            sound: push.sound,
            badge: push.badge,
            collapse_key: None,
            ttl_seconds: None,
        }
    }
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
    /// Template the content was rendered from; `None` for inline content.
    #[serde(default)]
    pub template_id: Option<String>,
}

/// The first `chars` characters of `text`.
fn prefix(text: &str, chars: usize) -> &str {
    text.char_indices()
        .nth(chars)
        .map_or(text, |(i, _)| &text[..i])
}
