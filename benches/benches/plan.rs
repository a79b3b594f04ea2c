//! The routing decision: [`notify_router::plan::plan`], run by the router once per request (and
//! again for a request the scheduler re-emits) on what the handler loaded from the directory.
//! Pure: no clock, no I/O.
//!
//! A typical request: all five channels requested, a user in Seoul with a phone number, an email
//! address, quiet hours 22:00 to 07:00 and four devices (APNs, FCM, web push, and an APNs token
//! marked invalid), preference rows that turn SMS off for the category and email off for another
//! one, and a non-critical category.
//!
//! - `route`: noon UTC, 21:00 in Seoul: three push targets and an email target, SMS and the
//!   invalid device suppressed;
//! - `quiet_hours`: 14:00 UTC, 23:00 in Seoul: the request is deferred to 07:00 local time (the
//!   time zone lookup and the end of the window are computed);
//! - `opted_out`: the user opted out globally: every recipient is suppressed.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use notify_router::plan::{plan, Context};
use notify_schemas::{samples, Channel, NotificationRequest};
use notify_store::directory::{
    device_id_for, Category, Device, DeviceState, Preference, PushTarget, QuietHours, User,
    WebPushSubscription,
};

/// 2026-06-02T12:00:00Z, Unix epoch milliseconds.
const NOON_UTC_MS: i64 = 1_780_401_600_000;
const HOUR_MS: i64 = 3_600_000;

fn device(target: PushTarget, state: DeviceState) -> Device {
    Device {
        device_id: device_id_for(&target),
        target,
        app_topic: None,
        state,
        created_at_ms: 0,
        updated_at_ms: 0,
    }
}

fn devices() -> Vec<Device> {
    vec![
        device(
            PushTarget::Apns {
                token: "5c1d".repeat(16),
            },
            DeviceState::Active,
        ),
        device(
            PushTarget::Fcm {
                token: format!("cXyZ0123:APA91b{}", "Q".repeat(120)),
            },
            DeviceState::Active,
        ),
        device(
            PushTarget::WebPush {
                subscription: WebPushSubscription {
                    endpoint: format!("https://push.example.net/wpush/v2/{}", "gAAAAA".repeat(20)),
                    p256dh: format!("B{}", "A".repeat(86)),
                    auth: "tBHItJI5svbpez7KI4CCXg".into(),
                },
            },
            DeviceState::Active,
        ),
        device(
            PushTarget::Apns {
                token: "9e0f".repeat(16),
            },
            DeviceState::Invalid {
                reason: "Unregistered".into(),
            },
        ),
    ]
}

fn user() -> User {
    User {
        locale: Some("ko-KR".into()),
        time_zone: Some("Asia/Seoul".into()),
        email: Some("kim@example.com".into()),
        phone: Some("+821012345678".into()),
        quiet_hours: Some(QuietHours {
            start_minute: 22 * 60,
            end_minute: 7 * 60,
        }),
        ..User::new("user-42")
    }
}

fn request() -> NotificationRequest {
    NotificationRequest {
        send_at: None,
        expires_at: None,
        created_at: NOON_UTC_MS - 1_000,
        ..samples::full_request()
    }
}

fn preferences(category: &str) -> Vec<Preference> {
    vec![
        Preference {
            category: category.into(),
            channel: Channel::Sms,
            enabled: false,
        },
        Preference {
            category: "marketing".into(),
            channel: Channel::Email,
            enabled: false,
        },
    ]
}

fn bench(c: &mut Criterion) {
    let request = request();
    let user = user();
    let opted_out = User {
        opted_out: true,
        ..user.clone()
    };
    let devices = devices();
    let preferences = preferences(&request.category);
    let category = Category {
        category_id: request.category.clone(),
        description: None,
        critical: false,
        created_at_ms: 0,
        updated_at_ms: 0,
    };
    let base = Context {
        request: &request,
        user: Some(&user),
        devices: &devices,
        preferences: &preferences,
        category: Some(&category),
        suppressions: &[],
        tenant_allows_critical_bypass: true,
        now_ms: NOON_UTC_MS,
    };
    let quiet = Context {
        now_ms: NOON_UTC_MS + 2 * HOUR_MS,
        ..base
    };
    let out = Context {
        user: Some(&opted_out),
        ..base
    };

    let routed = plan(&base);
    assert_eq!(routed.targets.len(), 4, "{routed:?}");
    assert!(routed.defer_until.is_none() && !routed.expired);
    let deferred = plan(&quiet).defer_until.expect("deferred for quiet hours");
    // 07:00 the next morning in Seoul is 22:00 UTC the same day
    assert_eq!(deferred.until_ms, NOON_UTC_MS + 10 * HOUR_MS);
    let suppressed = plan(&out);
    assert!(suppressed.targets.is_empty() && !suppressed.suppressed.is_empty());

    let mut group = c.benchmark_group("plan");
    group.throughput(Throughput::Elements(1));
    for (name, ctx) in [("route", base), ("quiet_hours", quiet), ("opted_out", out)] {
        group.bench_function(name, |b| b.iter(|| plan(black_box(&ctx))));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
