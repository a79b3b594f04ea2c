//! Seeding a pipeline's directory for the mixed workload: categories, a template in two
//! locales, and users with their devices and preferences, as the table in `workload.rs` says.
//!
//! Web push devices are written straight to the directory: the admin API accepts only https
//! endpoints, and the simulator serves plain HTTP on loopback.

use std::sync::Arc;

use anyhow::Context;
use notify_common::clock::now_ms;
use notify_it::cassandra;
use notify_schemas::Channel;
use notify_store::directory::{Directory, PushTarget, WebPushSubscription};
use serde_json::{json, Value};

use crate::api::Api;
use crate::harness::Pipeline;
use crate::workload::{Shape, Target, User};

fn variants(locale: &str, hello: &str) -> Vec<Value> {
    let push = |channel: &str| {
        json!({"locale": locale, "channel": channel, "title": format!("{hello} {{{{name}}}}"),
               "body": "order {{order_id}} is on its way"})
    };
    vec![
        push("apns"),
        push("fcm"),
        push("webpush"),
        json!({"locale": locale, "channel": "sms", "text": format!("{hello}: order {{{{order_id}}}} shipped")}),
        json!({"locale": locale, "channel": "email", "subject": format!("{hello}: order {{{{order_id}}}}"),
               "text": "your order {{order_id}} shipped"}),
    ]
}

/// Seeds categories, a template in two locales, and `shape.users` users with their devices and
/// preferences.
pub async fn seed(pipeline: &Pipeline, api: &Api, shape: Shape) -> anyhow::Result<Vec<User>> {
    for (id, critical) in [("orders", false), ("promotions", false), ("security", true)] {
        api.put(
            &format!("/v1/categories/{id}"),
            json!({"description": id, "critical": critical}),
        )
        .await?;
    }
    let mut all = variants("en", "Hello");
    all.extend(variants("de", "Hallo"));
    api.put("/v1/templates/order_update", json!({ "variants": all }))
        .await?;

    let store = notify_common::config::StoreConfig {
        nodes: vec![cassandra()],
        keyspace: pipeline.keyspace.clone(),
        ..Default::default()
    };
    let session = Arc::new(notify_store::connect(&store).await?);
    let directory = notify_store::CassandraDirectory::new(session, &pipeline.keyspace).await?;
    let webpush = pipeline.sims.get("webpush").context("webpush simulator")?;
    // quiet hours end 40 to 100 s from now: after the stages start, soon enough for CI
    let minute = ((now_ms() + 100_000) / 60_000 % 1440) as u16;

    let mut users = Vec::new();
    for i in 0..shape.users {
        users.push(seed_user(api, &directory, webpush, i, shape.deferrals, minute).await?);
    }
    Ok(users)
}

async fn seed_user(
    api: &Api,
    directory: &notify_store::CassandraDirectory,
    webpush: &str,
    i: usize,
    deferrals: bool,
    minute: u16,
) -> anyhow::Result<User> {
    let id = format!("u{i}");
    let email = format!("user{i}@example.com");
    let phone = (i % 4 != 3).then(|| format!("+1555{i:07}"));
    let opted_out = i % 17 == 5;
    let quiet = deferrals && i % 13 == 2;
    let mut body = json!({
        "locale": if i % 2 == 1 { "de" } else { "en" },
        "time_zone": "UTC",
        "email": email,
        "opted_out": opted_out,
    });
    if let Some(phone) = &phone {
        body["phone"] = json!(phone);
    }
    if quiet {
        // started a while ago, ends in about a minute
        body["quiet_hours"] = json!({
            "start_minute": (minute + 1440 - 30) % 1440,
            "end_minute": minute,
        });
    }
    api.put(&format!("/v1/users/{id}"), body).await?;

    let mut push = Vec::new();
    match i % 3 {
        0 => {
            let token = format!("{:0>64x}", i as u128 * 7919 + 1);
            api.post(
                &format!("/v1/users/{id}/devices"),
                json!({"platform": "apns", "token": token}),
            )
            .await?;
            push.push(Target {
                channel: Channel::Apns,
                key: token,
            });
        }
        1 => push.push(fcm_device(api, &id, i, "a").await?),
        _ => {
            let sub: Value = reqwest::Client::new()
                .post(format!("{webpush}/_sim/webpush/subscriptions"))
                .send()
                .await?
                .json()
                .await?;
            let endpoint = sub["endpoint"].as_str().context("endpoint")?.to_owned();
            let target = PushTarget::WebPush {
                subscription: WebPushSubscription {
                    endpoint: endpoint.clone(),
                    p256dh: sub["p256dh"].as_str().context("p256dh")?.to_owned(),
                    auth: sub["auth"].as_str().context("auth")?.to_owned(),
                },
            };
            directory
                .put_device(&api.tenant, &id, &target, None)
                .await?;
            push.push(Target {
                channel: Channel::WebPush,
                key: endpoint,
            });
        }
    }
    if i % 5 == 0 && i % 3 != 1 {
        push.push(fcm_device(api, &id, i, "b").await?);
    }
    let no_promotions_by_text = i % 7 == 1;
    if no_promotions_by_text {
        api.put(
            &format!("/v1/users/{id}/preferences"),
            json!({"preferences": [
                {"category": "promotions", "channel": "email", "enabled": false},
                {"category": "promotions", "channel": "sms", "enabled": false},
            ]}),
        )
        .await?;
    }
    // the router's channel order: APNs, FCM, web push, SMS, email; devices by device id
    let mut targets = Vec::new();
    for channel in [Channel::Apns, Channel::Fcm, Channel::WebPush] {
        targets.extend(push.iter().filter(|t| t.channel == channel).cloned());
    }
    if let Some(phone) = phone {
        targets.push(Target {
            channel: Channel::Sms,
            key: phone,
        });
    }
    targets.push(Target {
        channel: Channel::Email,
        key: email,
    });
    Ok(User {
        id,
        targets,
        opted_out,
        no_promotions_by_text,
    })
}

async fn fcm_device(api: &Api, id: &str, i: usize, tag: &str) -> anyhow::Result<Target> {
    let token = format!("fcm{tag}{i}:{}", "x".repeat(140));
    api.post(
        &format!("/v1/users/{id}/devices"),
        json!({"platform": "fcm", "token": token}),
    )
    .await?;
    Ok(Target {
        channel: Channel::Fcm,
        key: token,
    })
}
