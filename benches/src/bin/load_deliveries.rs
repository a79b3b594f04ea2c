//! Load generator for dispatcher runs: produces `count` rendered deliveries for one channel to
//! `notify.deliveries.<channel>` (the record the router would write), spread over `users`
//! users so per-user ordering still leaves room for concurrency. Web push recipients are
//! subscriptions minted by the web push simulator at `--webpush-sim`.
//!
//! Kafka settings come from the usual configuration (`NOTIFY_KAFKA__*`).
//!
//!   load_deliveries <channel> <count> <users> [--webpush-sim http://127.0.0.1:47102]

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{bail, Context};
use notify_common::clock::now_ms;
use notify_common::kafka;
use notify_common::publish::{KafkaPublisher, Publisher, Record};
use notify_common::topics::Topics;
use notify_schemas::records::{
    DeviceToken, EmailAddress, PhoneNumber, RenderedEmail, RenderedPush, RenderedSms,
    WebPushSubscription,
};
use notify_schemas::{delivery_id, Channel, Codec, Delivery, Priority, Recipient, RenderedContent};

async fn subscription(sim: &str) -> anyhow::Result<WebPushSubscription> {
    let answer: serde_json::Value = reqwest::Client::new()
        .post(format!("{sim}/_sim/webpush/subscriptions"))
        .json(&serde_json::json!({}))
        .send()
        .await
        .context("web push simulator")?
        .json()
        .await?;
    let field = |name: &str| {
        answer[name]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("subscription without {name}"))
    };
    Ok(WebPushSubscription {
        endpoint: field("endpoint")?,
        p256dh: field("p256dh")?,
        auth: field("auth")?,
        device_id: None,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, channel, count, users, rest @ ..] = args.as_slice() else {
        bail!("usage: load_deliveries <channel> <count> <users> [--webpush-sim <url>]");
    };
    let channel = Channel::ALL
        .into_iter()
        .find(|c| c.as_str() == channel)
        .with_context(|| format!("unknown channel {channel}"))?;
    let count: usize = count.parse()?;
    let users: usize = users.parse::<usize>()?.max(1);
    let webpush_sim = rest
        .iter()
        .position(|a| a == "--webpush-sim")
        .and_then(|i| rest.get(i + 1));

    let config = notify_common::Config::load(None)?;
    let topics = Topics::new(&config.kafka.topic_prefix);
    let topic = topics.deliveries(channel.as_str());
    let producer = kafka::producer(&config.kafka, "load")?;
    let publisher = KafkaPublisher::new(producer, Duration::from_secs(30));
    let codec = Codec::<Delivery>::new()?;
    let mut subscriptions = Vec::new();
    if channel == Channel::WebPush {
        let sim = webpush_sim.context("web push needs --webpush-sim <url>")?;
        for _ in 0..users.min(200) {
            subscriptions.push(subscription(sim).await?);
        }
    }
    let tenant = "load";
    let push = RenderedContent::Push(RenderedPush {
        title: "Load".into(),
        body: "A load-test notification".into(),
        data: BTreeMap::from([("k".to_owned(), "v".to_owned())]),
        image_url: None,
        click_url: None,
        sound: None,
        badge: None,
        collapse_key: None,
        ttl_seconds: Some(3600),
    });
    let started = std::time::Instant::now();
    for chunk_start in (0..count).step_by(1000) {
        let mut records = Vec::new();
        for i in chunk_start..(chunk_start + 1000).min(count) {
            let user = i % users;
            let recipient = match channel {
                Channel::Apns | Channel::Fcm => Recipient::DeviceToken(DeviceToken {
                    token: format!("{user:064x}"),
                    device_id: None,
                }),
                Channel::WebPush => {
                    Recipient::WebPush(subscriptions[user % subscriptions.len()].clone())
                }
                Channel::Sms => Recipient::Phone(PhoneNumber {
                    e164: format!("+8210{:08}", user),
                }),
                Channel::Email => Recipient::Email(EmailAddress {
                    address: format!("user{user}@example.com"),
                    name: None,
                }),
            };
            let content = match channel {
                Channel::Sms => RenderedContent::Sms(RenderedSms {
                    text: format!("load {i}"),
                    segments: 1,
                }),
                Channel::Email => RenderedContent::Email(RenderedEmail {
                    subject: "Load".into(),
                    html: Some(format!("<p>load {i}</p>")),
                    text: Some(format!("load {i}")),
                    from: "load@example.com".into(),
                    reply_to: None,
                }),
                _ => push.clone(),
            };
            let event_id = uuid::Uuid::new_v4();
            let delivery = Delivery {
                delivery_id: delivery_id(tenant, event_id, channel, recipient.key()),
                tenant: tenant.into(),
                event_id,
                user_id: format!("u{user}"),
                category: "load".into(),
                priority: Priority::Normal,
                channel,
                recipient,
                content,
                locale: None,
                attempt: 0,
                first_attempt_at: None,
                not_before: None,
                expires_at: None,
                created_at: now_ms(),
                trace: None,
            };
            let key = format!("{tenant}:u{user}");
            records.push(Record::new(topic.as_str(), key, codec.encode(&delivery)?));
        }
        publisher.publish(&records).await?;
    }
    eprintln!(
        "produced {count} {channel} deliveries for {users} users to {topic} in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
