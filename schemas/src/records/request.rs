//! The record on `notify.requests` ([`NotificationRequest`]) and the template and inline
//! content it carries, as a client service asked for them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Channel, Priority, TimestampMillis, TraceContext};

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
