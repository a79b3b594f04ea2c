//! Unit tests of the pure core, with fixtures shared between them.

mod bypass;
mod fanout;
mod handler;
mod limits;
mod outcomes;
mod plan;
mod plan_due;
mod plan_suppressed;
mod publish;
mod quiet;
mod ratelimit;
mod redefer;
mod render;
mod trace;

use std::sync::Arc;

use notify_schemas::{Channel, NotificationRequest, Priority, TemplateRef, Uuid};
use notify_store::directory::{
    device_id_for, Category, Device, DeviceState, Preference, PushTarget, QuietHours, Template,
    User, WebPushSubscription,
};
use notify_store::tenants::{AppStore, MemoryTenants, TenantRecord};

/// A tenant store in memory that knows tenant `acme`, the tenant of [`request`].
pub(crate) async fn acme_tenants() -> Arc<MemoryTenants> {
    let tenants = Arc::new(MemoryTenants::new());
    tenants
        .create_tenant(&TenantRecord {
            tenant_id: "acme".into(),
            name: "Acme".into(),
        })
        .await
        .expect("tenant");
    tenants
}

/// Unix epoch milliseconds of an RFC 3339 UTC instant (`2026-03-08T11:00:00Z`).
pub(crate) fn at(instant: &str) -> i64 {
    instant
        .parse::<jiff::Timestamp>()
        .expect("valid RFC 3339 instant")
        .as_millisecond()
}

/// "Now" of most tests: a Tuesday noon in UTC, evening in Seoul, morning in New York.
pub(crate) fn now() -> i64 {
    at("2026-06-02T12:00:00Z")
}

pub(crate) const EVENT: Uuid = Uuid::from_u128(0x1b4e28ba_2fa1_11d2_883f_0016d3cca427);

pub(crate) fn request(channels: &[Channel]) -> NotificationRequest {
    NotificationRequest {
        tenant: "acme".into(),
        event_id: EVENT,
        idempotency_key: None,
        user_id: "user-1".into(),
        category: "orders".into(),
        priority: Priority::Normal,
        channels: channels.to_vec(),
        template: None,
        content: None,
        locale: None,
        send_at: None,
        expires_at: None,
        created_at: at("2026-06-02T11:59:59Z"),
        trace: None,
    }
}

pub(crate) fn with_template(
    mut request: NotificationRequest,
    params: &[(&str, &str)],
) -> NotificationRequest {
    request.template = Some(TemplateRef {
        template_id: "welcome".into(),
        params: params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    });
    request
}

/// A user with a phone number and an email address, no devices, no quiet hours.
pub(crate) fn user() -> User {
    User {
        phone: Some("+821012345678".into()),
        email: Some("kim@example.com".into()),
        ..User::new("user-1")
    }
}

pub(crate) fn device(target: PushTarget) -> Device {
    Device {
        device_id: device_id_for(&target),
        target,
        app_topic: None,
        state: DeviceState::Active,
        created_at_ms: 0,
        updated_at_ms: 0,
    }
}

pub(crate) fn apns(token: &str) -> Device {
    device(PushTarget::Apns {
        token: token.into(),
    })
}

pub(crate) fn fcm(token: &str) -> Device {
    device(PushTarget::Fcm {
        token: token.into(),
    })
}

pub(crate) fn webpush(endpoint: &str) -> Device {
    device(PushTarget::WebPush {
        subscription: WebPushSubscription {
            endpoint: endpoint.into(),
            p256dh: "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM".into(),
            auth: "tBHItJI5svbpez7KI4CCXg".into(),
        },
    })
}

pub(crate) fn invalid(mut device: Device) -> Device {
    device.state = DeviceState::Invalid {
        reason: "Unregistered".into(),
    };
    device
}

pub(crate) fn preference(category: &str, channel: Channel, enabled: bool) -> Preference {
    Preference {
        category: category.into(),
        channel,
        enabled,
    }
}

pub(crate) fn category(critical: bool) -> Category {
    Category {
        category_id: "orders".into(),
        description: None,
        critical,
        created_at_ms: 0,
        updated_at_ms: 0,
    }
}

/// 22:00 to 07:00, crossing midnight.
pub(crate) fn nights() -> QuietHours {
    QuietHours {
        start_minute: 22 * 60,
        end_minute: 7 * 60,
    }
}

/// A template variant of `welcome` v1 with only the fields given set.
pub(crate) fn variant(locale: &str, channel: Channel) -> Template {
    Template::empty("welcome", 1, locale, channel)
}

pub(crate) fn sms_variant(locale: &str, text: &str) -> Template {
    Template {
        text: Some(text.into()),
        ..variant(locale, Channel::Sms)
    }
}
