//! The record on `notify.status` ([`DeliveryStatus`]): one outcome at one stage.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Channel, TimestampMillis};

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

impl Status {
    /// Every status, in schema symbol order.
    pub const ALL: [Status; 10] = [
        Status::Accepted,
        Status::Scheduled,
        Status::Suppressed,
        Status::Sent,
        Status::Retrying,
        Status::Failed,
        Status::Expired,
        Status::DeadLettered,
        Status::Opened,
        Status::Clicked,
    ];
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
    /// What happened after the provider took it: provider receipts, opens and clicks.
    Tracker,
}

impl Stage {
    /// Every stage, in schema symbol order.
    pub const ALL: [Stage; 5] = [
        Stage::Ingest,
        Stage::Router,
        Stage::Scheduler,
        Stage::Dispatcher,
        Stage::Tracker,
    ];
}

/// What a provider reported after it took a message (`io.notify.v1.Receipt`), on statuses of
/// stage [`Stage::Tracker`]. Such a status also carries, for readers of the first schema version,
/// the nearest [`Status`]: [`Receipt::status`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Receipt {
    /// The handset or mailbox has it.
    Delivered,
    /// The carrier or provider gave up on it after accepting it.
    Undelivered,
    /// The receiving mail server refused it.
    Bounced,
    /// The recipient marked it as spam.
    Complained,
    /// The recipient opened it (an email's open pixel loaded).
    Opened,
    /// The recipient followed a tracked link in it.
    Clicked,
    /// The recipient unsubscribed from its category on its channel (a `List-Unsubscribe` link).
    Unsubscribed,
}

impl Receipt {
    /// Every receipt, in schema order.
    pub const ALL: [Receipt; 7] = [
        Receipt::Delivered,
        Receipt::Undelivered,
        Receipt::Bounced,
        Receipt::Complained,
        Receipt::Opened,
        Receipt::Clicked,
        Receipt::Unsubscribed,
    ];

    /// The status a receipt is reported with: `OPENED` and `CLICKED` as themselves, `SENT` where
    /// the message otherwise reached the recipient, `FAILED` where it did not.
    pub fn status(self) -> Status {
        match self {
            Receipt::Delivered | Receipt::Complained | Receipt::Unsubscribed => Status::Sent,
            Receipt::Undelivered | Receipt::Bounced => Status::Failed,
            Receipt::Opened => Status::Opened,
            Receipt::Clicked => Status::Clicked,
        }
    }

    /// The lower-case name used in metrics, logs and the notification log.
    pub fn as_str(self) -> &'static str {
        match self {
            Receipt::Delivered => "delivered",
            Receipt::Undelivered => "undelivered",
            Receipt::Bounced => "bounced",
            Receipt::Complained => "complained",
            Receipt::Opened => "opened",
            Receipt::Clicked => "clicked",
            Receipt::Unsubscribed => "unsubscribed",
        }
    }
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
    /// What the provider reported after taking the message; only on receipts.
    pub receipt: Option<Receipt>,
    /// Template the delivery was rendered from, on statuses of one delivery.
    #[serde(default)]
    pub template_id: Option<String>,
}

impl DeliveryStatus {
    /// `status` of `delivery` from `stage` at `occurred_at`: the delivery's tenant, ids, user,
    /// category, channel, template and redacted recipient, attempt 0, nothing else; the caller
    /// sets the rest with struct update syntax.
    pub fn of_delivery(
        delivery: &super::Delivery,
        status: Status,
        stage: Stage,
        occurred_at: TimestampMillis,
    ) -> Self {
        DeliveryStatus {
            tenant: delivery.tenant.clone(),
            event_id: delivery.event_id,
            delivery_id: Some(delivery.delivery_id),
            user_id: Some(delivery.user_id.clone()),
            category: Some(delivery.category.clone()),
            channel: Some(delivery.channel),
            recipient: Some(delivery.recipient.redacted()),
            status,
            stage,
            reason: None,
            provider: None,
            provider_message_id: None,
            attempt: 0,
            occurred_at,
            receipt: None,
            template_id: delivery.template_id.clone(),
        }
    }
}
