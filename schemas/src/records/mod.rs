//! Rust mirrors of the `.avsc` records in `schemas/avro/`.
//!
//! Guarantees: field names, field order, enum symbol order and union branch order match the
//! `.avsc` files exactly (the `contract` tests fail otherwise), so these types encode and decode
//! through the schema-aware serde path without a `Value` in between.
//!
//! Conventions the schema cannot express in Rust types:
//! - `*_at` and `not_before` fields are Unix epoch milliseconds (`timestamp-millis`).
//! - `event_id` and `delivery_id` are [`Uuid`](uuid::Uuid)s, written as hyphenated lowercase text
//!   (`{"type": "string", "logicalType": "uuid"}`), whatever apache-avro's global human-readable
//!   setting says. A text that is not a UUID fails to decode.
//! - Maps are `BTreeMap`, so the same record always encodes to the same bytes.
//!
//! Not guaranteed here: semantic validation (sizes, formats of phone numbers and addresses,
//! "at least one of template or content"). That belongs to ingest and the router.
//!
//! Layout: the types every record shares are here; [`NotificationRequest`] and its parts are in
//! `request.rs`, [`Delivery`] with its recipient and rendered content in `delivery.rs`,
//! [`DeliveryStatus`] in `status.rs`.

use std::fmt;

use serde::{Deserialize, Serialize};

mod delivery;
mod request;
mod status;

pub use delivery::*;
pub use request::*;
pub use status::*;

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

impl Priority {
    /// Lowercase name, as metric labels carry it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Priority::Critical => "critical",
            Priority::High => "high",
            Priority::Normal => "normal",
            Priority::Bulk => "bulk",
        }
    }
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

    /// The channel named `name` (as [`Channel::as_str`] writes it); `None` for any other text,
    /// the Avro symbols (`WEBPUSH`) included.
    pub fn parse(name: &str) -> Option<Self> {
        Channel::ALL.into_iter().find(|c| c.as_str() == name)
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
