//! Sample records for tests, examples and benchmarks in any crate of the workspace.
//!
//! Guarantees: every constructor returns a record the codec encodes; the `full_*` ones set every
//! optional field (so a test over them touches every field of the schema), the `minimal_*` ones
//! leave every optional field unset. Values are plausible, not meaningful.

use std::collections::BTreeMap;

use uuid::Uuid;

use crate::id::delivery_id;
use crate::records::*;

/// Event id used by every sample.
pub const EVENT_ID: Uuid = Uuid::from_u128(0x7d444840_9dc0_11d1_b245_5ffdce74fad2);
/// `created_at` of every sample (2026-01-01T00:00:00Z).
pub const CREATED_AT: TimestampMillis = 1_767_225_600_000;

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn trace() -> TraceContext {
    TraceContext {
        traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into(),
        tracestate: Some("vendor=opaque".into()),
    }
}

/// A request with every optional field set, template and inline content both present.
pub fn full_request() -> NotificationRequest {
    NotificationRequest {
        tenant: "acme".into(),
        event_id: EVENT_ID,
        idempotency_key: Some("order-1234-shipped".into()),
        user_id: "user-42".into(),
        category: "order_shipped".into(),
        priority: Priority::High,
        channels: vec![
            Channel::Apns,
            Channel::Fcm,
            Channel::WebPush,
            Channel::Sms,
            Channel::Email,
        ],
        template: Some(TemplateRef {
            template_id: "order_shipped_v3".into(),
            params: map(&[
                ("product", "Rust mug"),
                ("order", "1234"),
                ("eta", "tomorrow"),
            ]),
        }),
        content: Some(InlineContent {
            push: Some(PushContent {
                title: "Your order shipped".into(),
                body: "Rust mug is on its way and arrives tomorrow.".into(),
                data: map(&[("order_id", "1234"), ("screen", "orders")]),
                image_url: Some("https://cdn.example.com/mug.png".into()),
                click_url: Some("acme://orders/1234".into()),
                sound: Some("default".into()),
                badge: Some(3),
            }),
            sms: Some(SmsContent {
                text: "acme: order 1234 shipped, arrives tomorrow".into(),
            }),
            email: Some(EmailContent {
                subject: "Order 1234 shipped".into(),
                html: Some("<p>Your <b>Rust mug</b> is on its way.</p>".into()),
                text: Some("Your Rust mug is on its way.".into()),
            }),
        }),
        locale: Some("ko-KR".into()),
        send_at: Some(CREATED_AT + 60_000),
        expires_at: Some(CREATED_AT + 86_400_000),
        created_at: CREATED_AT,
        trace: Some(trace()),
    }
}

/// A typical request: a template with a few parameters, default channels.
pub fn typical_request() -> NotificationRequest {
    NotificationRequest {
        tenant: "acme".into(),
        event_id: EVENT_ID,
        idempotency_key: Some("order-1234-shipped".into()),
        user_id: "user-42".into(),
        category: "order_shipped".into(),
        priority: Priority::Normal,
        channels: Vec::new(),
        template: Some(TemplateRef {
            template_id: "order_shipped_v3".into(),
            params: map(&[("product", "Rust mug"), ("order", "1234")]),
        }),
        content: None,
        locale: None,
        send_at: None,
        expires_at: Some(CREATED_AT + 86_400_000),
        created_at: CREATED_AT,
        trace: Some(trace()),
    }
}

/// A request with every optional field unset and no channels.
pub fn minimal_request() -> NotificationRequest {
    NotificationRequest {
        tenant: "t".into(),
        event_id: EVENT_ID,
        idempotency_key: None,
        user_id: "u".into(),
        category: "c".into(),
        priority: Priority::Bulk,
        channels: Vec::new(),
        template: None,
        content: None,
        locale: None,
        send_at: None,
        expires_at: None,
        created_at: 0,
        trace: None,
    }
}

/// A request with inline content present but every optional part of it unset.
pub fn request_with_empty_content() -> NotificationRequest {
    NotificationRequest {
        content: Some(InlineContent::default()),
        ..minimal_request()
    }
}

fn delivery(channel: Channel, recipient: Recipient, content: RenderedContent) -> Delivery {
    Delivery {
        delivery_id: delivery_id("acme", EVENT_ID, channel, recipient.key()),
        tenant: "acme".into(),
        event_id: EVENT_ID,
        user_id: "user-42".into(),
        category: "order_shipped".into(),
        priority: Priority::High,
        channel,
        recipient,
        content,
        locale: Some("ko-KR".into()),
        attempt: 2,
        first_attempt_at: Some(CREATED_AT + 1_000),
        not_before: Some(CREATED_AT + 31_000),
        expires_at: Some(CREATED_AT + 86_400_000),
        created_at: CREATED_AT,
        trace: Some(trace()),
        template_id: Some("order_shipped_v2".into()),
    }
}

fn rendered_push() -> RenderedPush {
    RenderedPush {
        title: "Your order shipped".into(),
        body: "Rust mug is on its way and arrives tomorrow.".into(),
        data: map(&[("order_id", "1234"), ("screen", "orders")]),
        image_url: Some("https://cdn.example.com/mug.png".into()),
        click_url: Some("acme://orders/1234".into()),
        sound: Some("default".into()),
        badge: Some(3),
        collapse_key: Some("order-1234".into()),
        ttl_seconds: Some(86_400),
    }
}

/// A typical APNs delivery; every optional field set.
pub fn full_push_delivery() -> Delivery {
    delivery(
        Channel::Apns,
        Recipient::DeviceToken(DeviceToken {
            token: "740f4707bebcf74f9b7c25d48e3358945f6aa01da5ddb387462c7eaf61bb78ad".into(),
            device_id: Some("dev-1".into()),
        }),
        RenderedContent::Push(rendered_push()),
    )
}

/// A web push delivery; every optional field set.
pub fn full_webpush_delivery() -> Delivery {
    delivery(
        Channel::WebPush,
        Recipient::WebPush(WebPushSubscription {
            endpoint: "https://push.example.net/wpush/v2/gAAAAABk".into(),
            p256dh: "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM".into(),
            auth: "tBHItJI5svbpez7KI4CCXg".into(),
            device_id: Some("browser-7".into()),
        }),
        RenderedContent::Push(rendered_push()),
    )
}

/// An SMS delivery; every optional field set.
pub fn full_sms_delivery() -> Delivery {
    delivery(
        Channel::Sms,
        Recipient::Phone(PhoneNumber {
            e164: "+821012345678".into(),
        }),
        RenderedContent::Sms(RenderedSms {
            text: "acme: order 1234 shipped, arrives tomorrow".into(),
            segments: 1,
        }),
    )
}

/// An email delivery; every optional field set.
pub fn full_email_delivery() -> Delivery {
    delivery(
        Channel::Email,
        Recipient::Email(EmailAddress {
            address: "jane@example.com".into(),
            name: Some("Jane Doe".into()),
        }),
        RenderedContent::Email(RenderedEmail {
            subject: "Order 1234 shipped".into(),
            html: Some("<p>Your <b>Rust mug</b> is on its way.</p>".into()),
            text: Some("Your Rust mug is on its way.".into()),
            from: "acme <no-reply@acme.example>".into(),
            reply_to: Some("support@acme.example".into()),
        }),
    )
}

/// An FCM delivery with every optional field unset, first attempt.
pub fn minimal_delivery() -> Delivery {
    let recipient = Recipient::DeviceToken(DeviceToken {
        token: "fcm-token".into(),
        device_id: None,
    });
    Delivery {
        delivery_id: delivery_id("t", EVENT_ID, Channel::Fcm, recipient.key()),
        tenant: "t".into(),
        event_id: EVENT_ID,
        user_id: "u".into(),
        category: "c".into(),
        priority: Priority::Normal,
        channel: Channel::Fcm,
        recipient,
        content: RenderedContent::Push(RenderedPush::default()),
        locale: None,
        attempt: 0,
        first_attempt_at: None,
        not_before: None,
        expires_at: None,
        created_at: 0,
        trace: None,
        template_id: None,
    }
}

/// A `SENT` status from the SMS dispatcher; every optional field set.
pub fn status_sent() -> DeliveryStatus {
    DeliveryStatus {
        tenant: "acme".into(),
        event_id: EVENT_ID,
        delivery_id: Some(delivery_id("acme", EVENT_ID, Channel::Sms, "+821012345678")),
        user_id: Some("user-42".into()),
        category: Some("order_shipped".into()),
        channel: Some(Channel::Sms),
        recipient: Some("+8210****5678".into()),
        status: Status::Sent,
        stage: Stage::Dispatcher,
        reason: Some("accepted".into()),
        provider: Some("twilio".into()),
        provider_message_id: Some("SM1234567890abcdef".into()),
        attempt: 1,
        occurred_at: CREATED_AT + 1_200,
        receipt: None,
        template_id: Some("order_shipped_v2".into()),
    }
}

/// The provider's receipt for [`status_sent`]: the handset has it.
pub fn status_delivered() -> DeliveryStatus {
    DeliveryStatus {
        status: Receipt::Delivered.status(),
        stage: Stage::Tracker,
        reason: None,
        occurred_at: CREATED_AT + 4_000,
        receipt: Some(Receipt::Delivered),
        ..status_sent()
    }
}

/// An `ACCEPTED` status from ingest; every optional field unset.
pub fn minimal_status() -> DeliveryStatus {
    DeliveryStatus {
        tenant: "t".into(),
        event_id: EVENT_ID,
        delivery_id: None,
        user_id: None,
        category: None,
        channel: None,
        recipient: None,
        status: Status::Accepted,
        stage: Stage::Ingest,
        reason: None,
        provider: None,
        provider_message_id: None,
        attempt: 0,
        occurred_at: 0,
        receipt: None,
        template_id: None,
    }
}
