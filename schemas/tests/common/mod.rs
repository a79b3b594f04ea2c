//! Shared by the integration tests: the sample sets and the "next version" record types, which
//! mirror `tests/fixtures/next/*.avsc`.
#![allow(dead_code)]

use std::sync::LazyLock;

use apache_avro::Schema;
use notify_schemas::{
    samples, Channel, Delivery, DeliveryStatus, InlineContent, NotificationRequest, Priority,
    Receipt, Recipient, Record, RenderedContent, Stage, Status, TemplateRef, TraceContext,
};
use serde::{Deserialize, Serialize};

/// Every sample request: together they set every field and every union branch.
pub fn requests() -> Vec<NotificationRequest> {
    vec![
        samples::full_request(),
        samples::typical_request(),
        samples::minimal_request(),
        samples::request_with_empty_content(),
    ]
}

/// Every sample delivery: one per recipient kind and content kind, plus a minimal one.
pub fn deliveries() -> Vec<Delivery> {
    vec![
        samples::full_push_delivery(),
        samples::full_webpush_delivery(),
        samples::full_sms_delivery(),
        samples::full_email_delivery(),
        samples::minimal_delivery(),
    ]
}

/// Every sample status.
pub fn statuses() -> Vec<DeliveryStatus> {
    vec![
        samples::status_sent(),
        samples::status_delivered(),
        samples::minimal_status(),
    ]
}

/// A record type of the next schema version, as a crate built against it would define it.
pub trait NextVersion: Record + Clone + PartialEq + std::fmt::Debug {
    /// The current record it extends.
    type Current: Record + Clone + PartialEq + std::fmt::Debug;
    /// The current record plus the added field.
    fn from_current(current: Self::Current, campaign_id: Option<String>) -> Self;
    /// The current fields and the added field.
    fn into_current(self) -> (Self::Current, Option<String>);
}

/// Declares `$next`, a copy of `$current`'s fields plus `campaign_id`, and its conversions.
/// UUID fields are `String` here: text is what the schema says, so either works.
macro_rules! next_version {
    ($next:ident, $current:ident, $avro:literal, { $($field:ident: $ty:ty),* $(,)? }, uuids { $($uuid:ident),* }, opt_uuids { $($opt_uuid:ident),* }) => {
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(rename = $avro)]
        pub struct $next {
            $(pub $field: $ty,)*
            $(pub $uuid: String,)*
            $(pub $opt_uuid: Option<String>,)*
            pub campaign_id: Option<String>,
        }

        impl NextVersion for $next {
            type Current = $current;

            fn from_current(c: $current, campaign_id: Option<String>) -> Self {
                Self {
                    $($field: c.$field,)*
                    $($uuid: c.$uuid.to_string(),)*
                    $($opt_uuid: c.$opt_uuid.map(|u| u.to_string()),)*
                    campaign_id,
                }
            }

            fn into_current(self) -> ($current, Option<String>) {
                (
                    $current {
                        $($field: self.$field,)*
                        $($uuid: self.$uuid.parse().unwrap(),)*
                        $($opt_uuid: self.$opt_uuid.map(|u| u.parse().unwrap()),)*
                    },
                    self.campaign_id,
                )
            }
        }
    };
}

next_version!(NotificationRequestNext, NotificationRequest, "NotificationRequest", {
    tenant: String,
    idempotency_key: Option<String>,
    user_id: String,
    category: String,
    priority: Priority,
    channels: Vec<Channel>,
    template: Option<TemplateRef>,
    content: Option<InlineContent>,
    locale: Option<String>,
    send_at: Option<i64>,
    expires_at: Option<i64>,
    created_at: i64,
    trace: Option<TraceContext>,
}, uuids { event_id }, opt_uuids {});

next_version!(DeliveryNext, Delivery, "Delivery", {
    tenant: String,
    user_id: String,
    category: String,
    priority: Priority,
    channel: Channel,
    recipient: Recipient,
    content: RenderedContent,
    locale: Option<String>,
    attempt: i32,
    first_attempt_at: Option<i64>,
    not_before: Option<i64>,
    expires_at: Option<i64>,
    created_at: i64,
    trace: Option<TraceContext>,
    template_id: Option<String>,
}, uuids { delivery_id, event_id }, opt_uuids {});

next_version!(DeliveryStatusNext, DeliveryStatus, "DeliveryStatus", {
    tenant: String,
    user_id: Option<String>,
    category: Option<String>,
    channel: Option<Channel>,
    recipient: Option<String>,
    status: Status,
    stage: Stage,
    reason: Option<String>,
    provider: Option<String>,
    provider_message_id: Option<String>,
    attempt: i32,
    occurred_at: i64,
    receipt: Option<Receipt>,
    template_id: Option<String>,
}, uuids { event_id }, opt_uuids { delivery_id });

macro_rules! next_record {
    ($ty:ty, $name:literal, $file:literal) => {
        impl Record for $ty {
            const FULL_NAME: &'static str = $name;

            fn schema_json() -> &'static str {
                include_str!(concat!("../fixtures/next/", $file))
            }

            fn schema() -> &'static Schema {
                static SCHEMA: LazyLock<Schema> =
                    LazyLock::new(|| Schema::parse_str(<$ty as Record>::schema_json()).unwrap());
                &SCHEMA
            }

            fn fingerprint() -> u64 {
                static FP: LazyLock<u64> =
                    LazyLock::new(|| notify_schemas::fingerprint(<$ty as Record>::schema()));
                *FP
            }
        }
    };
}

next_record!(
    NotificationRequestNext,
    "io.notify.v1.NotificationRequest",
    "notification_request.avsc"
);
next_record!(DeliveryNext, "io.notify.v1.Delivery", "delivery.avsc");
next_record!(
    DeliveryStatusNext,
    "io.notify.v1.DeliveryStatus",
    "delivery_status.avsc"
);
