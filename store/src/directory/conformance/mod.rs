//! The behaviour every [`Directory`] implementation must show, written once and run against
//! [`super::MemoryDirectory`] (unit tests) and [`super::CassandraDirectory`]
//! (`store/tests/directory.rs`, against a real node), so the fake cannot drift from the real
//! thing. Each check panics on the first deviation.
//!
//! Every check works in tenants of its own (`<check>-a`, `<check>-b`), so all of them can run
//! one after another against one empty store; [`run_all`] does that.

mod content;
mod isolation;
mod users;

use std::collections::BTreeMap;

use super::{
    Category, Channel, Device, Directory, Preference, PushTarget, QuietHours, TemplateVariant,
    User, WebPushSubscription,
};

pub use content::{categories, concurrent_template_versions, templates};
pub use isolation::{cursors, tenant_isolation};
pub use users::{
    devices, invalidation_since, preferences, user_deletion_cascades, user_paging, users,
};

/// Runs every check, one after another.
pub async fn run_all(dir: &dyn Directory) {
    users(dir).await;
    user_paging(dir).await;
    devices(dir).await;
    invalidation_since(dir).await;
    preferences(dir).await;
    categories(dir).await;
    templates(dir).await;
    concurrent_template_versions(dir).await;
    cursors(dir).await;
    tenant_isolation(dir).await;
    user_deletion_cascades(dir).await;
}

fn user(id: &str) -> User {
    User {
        locale: Some("de-DE".into()),
        time_zone: Some("Europe/Berlin".into()),
        email: Some(format!("{id}@example.com")),
        phone: Some("+4915112345678".into()),
        quiet_hours: Some(QuietHours {
            start_minute: 22 * 60,
            end_minute: 7 * 60,
        }),
        ..User::new(id)
    }
}

/// Stores the user `u1` of `tenant` with one device, for `target`, and returns the device.
async fn user_with_device(dir: &dyn Directory, tenant: &str, target: &PushTarget) -> Device {
    dir.put_user(tenant, &user("u1")).await.expect("put user");
    dir.put_device(tenant, "u1", target, None)
        .await
        .expect("register device")
        .record
}

fn apns(n: usize) -> PushTarget {
    PushTarget::Apns {
        token: format!("{n:064x}"),
    }
}

fn webpush() -> PushTarget {
    PushTarget::WebPush {
        subscription: WebPushSubscription {
            endpoint: "https://push.example.net/send/abc".into(),
            p256dh: "BOr0o0oTestKey".into(),
            auth: "c2VjcmV0".into(),
        },
    }
}

fn category(id: &str, critical: bool) -> Category {
    Category {
        category_id: id.into(),
        description: Some(format!("about {id}")),
        critical,
        created_at_ms: 0,
        updated_at_ms: 0,
    }
}

fn variant(locale: &str, channel: Channel, text: &str) -> TemplateVariant {
    let mut data = BTreeMap::new();
    data.insert(
        "deep_link".to_owned(),
        "app://orders/{{order_id}}".to_owned(),
    );
    TemplateVariant {
        locale: locale.into(),
        channel,
        title: Some(format!("{text} title")),
        body: Some(format!("{text} body")),
        subject: None,
        html: None,
        text: Some(text.into()),
        data,
    }
}

fn preference(category: &str, channel: Channel, enabled: bool) -> Preference {
    Preference {
        category: category.into(),
        channel,
        enabled,
    }
}
