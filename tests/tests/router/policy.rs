//! Tenant policy on the real stack: quiet hours, rate limits across a router restart, and
//! locale fallback to the tenant's default.

use std::collections::BTreeMap;
use std::time::Duration;

use notify_schemas::{Channel, RenderedContent, Status, TemplateRef};
use notify_store::directory::{QuietHours, TemplateVariant, User};
use notify_store::settings::{OverLimit, RateLimitRule, TenantSettings};
use notify_store::Directory;

use crate::harness::*;

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn quiet_hours_defer_until_the_window_ends_then_deliver_once() {
    let w = world().await;
    w.user("erin", false).await;
    // a window covering the current UTC minute, ending at the next minute boundary; near the
    // end of a minute, wait for the next so the request surely lands inside the window
    let mut now = now_ms();
    if now % 60_000 > 55_000 {
        tokio::time::sleep(Duration::from_millis(60_500 - (now % 60_000) as u64)).await;
        now = now_ms();
    }
    let minute = ((now / 60_000) % 1440) as u16;
    let window_end_ms = (now / 60_000 + 1) * 60_000;
    let mut user = w
        .directory
        .get_user(&w.tenant, "erin")
        .await
        .unwrap()
        .unwrap();
    user.time_zone = Some("UTC".into());
    user.quiet_hours = Some(QuietHours {
        start_minute: minute,
        end_minute: (minute + 1) % 1440,
    });
    w.directory.put_user(&w.tenant, &user).await.expect("user");
    let read = w.consumer(&all_outputs(&w.topics));

    let request = w.request("erin", "digest", vec![Channel::Sms]);
    w.send(&request).await;
    let topics = w.topics.clone();
    let (delivered, reported, arrived_at) = w
        .route_until_within(&read, Duration::from_secs(120), |seen| {
            let d = deliveries(seen, &topics);
            d.iter()
                .any(|d| d.event_id == request.event_id)
                .then(|| (d, statuses(seen, &topics), now_ms()))
        })
        .await;
    let scheduled: Vec<_> = reported
        .iter()
        .filter(|s| s.event_id == request.event_id && s.status == Status::Scheduled)
        .collect();
    assert_eq!(scheduled.len(), 1, "{reported:?}");
    assert_eq!(scheduled[0].reason.as_deref(), Some("quiet_hours"));
    assert!(
        arrived_at >= window_end_ms,
        "delivered {} ms inside the quiet hours",
        window_end_ms - arrived_at
    );
    let ours: Vec<_> = delivered
        .iter()
        .filter(|d| d.event_id == request.event_id)
        .collect();
    assert_eq!(ours.len(), 1, "{delivered:?}");
    assert_eq!(ours[0].channel, Channel::Sms);
    w.drop_keyspace().await;
}

fn sms_limit(limit: u32, over_limit: OverLimit) -> TenantSettings {
    TenantSettings {
        rate_limits: vec![RateLimitRule {
            channel: Some("sms".into()),
            priorities: vec!["high".into(), "normal".into()],
            limit,
            window_s: 3600,
        }],
        over_limit,
        ..TenantSettings::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn rate_limits_hold_across_a_router_restart_and_defer_when_the_tenant_says_so() {
    let w = world().await;
    w.user("frank", false).await;
    w.settings(&sms_limit(2, OverLimit::Suppress)).await;
    let read = w.consumer(&all_outputs(&w.topics));
    let topics = w.topics.clone();

    // first router: two SMS within the limit
    let first: Vec<_> = (0..2)
        .map(|_| w.request("frank", "orders", vec![Channel::Sms]))
        .collect();
    for request in &first {
        w.send(request).await;
    }
    w.route_until(&read, |seen| {
        all_delivered(seen, &topics, &first).then_some(())
    })
    .await;

    // a new router (fresh process state): the count survived, so both are suppressed, while
    // the push of the third one (no push rule) still goes out
    let second = w.request("frank", "orders", vec![Channel::Sms]);
    let third = w.request("frank", "orders", vec![Channel::Sms, Channel::Apns]);
    w.send(&second).await;
    w.send(&third).await;
    let (delivered, reported) = w
        .route_until_outputs(&read, |d, s| {
            let limited = s
                .iter()
                .filter(|s| s.reason.as_deref() == Some("rate_limited"))
                .count();
            limited >= 2 && d.iter().any(|d| d.event_id == third.event_id)
        })
        .await;
    for request in [&second, &third] {
        assert!(
            reported.iter().any(|s| s.event_id == request.event_id
                && s.status == Status::Suppressed
                && s.channel == Some(Channel::Sms)
                && s.reason.as_deref() == Some("rate_limited")),
            "{reported:?}"
        );
        assert!(
            !delivered
                .iter()
                .any(|d| d.event_id == request.event_id && d.channel == Channel::Sms),
            "an SMS over the limit was delivered"
        );
    }
    assert!(delivered
        .iter()
        .any(|d| d.event_id == third.event_id && d.channel == Channel::Apns));

    // the tenant switches to deferring: the next one waits in the schedule
    w.settings(&sms_limit(2, OverLimit::Defer)).await;
    tokio::time::sleep(Duration::from_millis(300)).await; // past the settings cache TTL
    let fourth = w.request("frank", "orders", vec![Channel::Sms]);
    w.send(&fourth).await;
    let reported = w
        .route_until(&read, |seen| {
            let s = statuses(seen, &topics);
            s.iter().any(|s| s.event_id == fourth.event_id).then_some(s)
        })
        .await;
    let held: Vec<_> = reported
        .iter()
        .filter(|s| s.event_id == fourth.event_id)
        .collect();
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0].status, Status::Scheduled);
    assert_eq!(held[0].reason.as_deref(), Some("rate_limited"));
    assert_eq!(held[0].channel, Some(Channel::Sms));
    w.drop_keyspace().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the real Kafka + Cassandra stack: run scripts/test"]
async fn a_template_missing_the_users_locale_falls_back_to_the_tenants_default() {
    let w = world().await;
    // users are created with locale ko-KR; the template has ja and de, the tenant defaults
    // to de (the router's own default, en, exists nowhere)
    w.user("gina", false).await;
    w.settings(&TenantSettings {
        default_locale: Some("de".into()),
        ..TenantSettings::default()
    })
    .await;
    let variant = |locale: &str, text: &str| TemplateVariant {
        locale: locale.into(),
        channel: Channel::Sms,
        title: None,
        body: None,
        subject: None,
        html: None,
        text: Some(text.into()),
        data: BTreeMap::new(),
    };
    w.directory
        .put_template(
            &w.tenant,
            "welcome",
            &[
                variant("ja", "ようこそ {{ name }}"),
                variant("de", "Willkommen {{ name }}"),
            ],
        )
        .await
        .expect("template");
    let mut japanese: User = w
        .directory
        .get_user(&w.tenant, "gina")
        .await
        .unwrap()
        .unwrap();
    japanese.user_id = "hana".into();
    japanese.locale = Some("ja-JP".into());
    w.directory
        .put_user(&w.tenant, &japanese)
        .await
        .expect("user");
    let read = w.consumer(&all_outputs(&w.topics));

    let templated = |user: &str| {
        let mut request = w.request(user, "welcome", vec![Channel::Sms]);
        request.content = None;
        request.template = Some(TemplateRef {
            template_id: "welcome".into(),
            params: BTreeMap::from([("name".into(), "Sam".into())]),
        });
        request
    };
    let korean = templated("gina");
    let japanese = templated("hana");
    w.send(&korean).await;
    w.send(&japanese).await;
    let topics = w.topics.clone();
    let delivered = w
        .route_until(&read, |seen| {
            let d = deliveries(seen, &topics);
            (d.len() >= 2).then_some(d)
        })
        .await;
    let text_of = |event_id| {
        delivered
            .iter()
            .find(|d| d.event_id == event_id)
            .map(|d| match &d.content {
                RenderedContent::Sms(sms) => (sms.text.clone(), d.locale.clone()),
                other => panic!("not an SMS: {other:?}"),
            })
            .expect("delivered")
    };
    assert_eq!(
        text_of(korean.event_id),
        ("Willkommen Sam".to_owned(), Some("de".to_owned()))
    );
    assert_eq!(
        text_of(japanese.event_id),
        ("ようこそ Sam".to_owned(), Some("ja".to_owned()))
    );
    w.drop_keyspace().await;
}
