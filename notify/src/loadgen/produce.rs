//! The generator as a Kafka producer, skipping the gateway:
//!
//! - `--mode kafka` publishes requests to `notify.requests`, as a producer service would; each
//!   body passes the gateway's own validation first;
//! - `--mode deliveries` publishes rendered deliveries to `notify.deliveries.<channel>`, the
//!   records the router would write, so the dispatchers and providers are measured alone.
//!
//! Records are framed the way the configuration says their topic is (Confluent through the
//! registry when `schema_registry.confluent_topics` names it), keyed `tenant:user`, and count as
//! accepted when the broker acknowledges them.

use std::time::Duration;

use anyhow::Context;
use notify_common::config::FramedTopics;
use notify_common::publish::{KafkaPublisher, Publisher, Record};
use notify_common::topics::Topics;
use notify_common::{kafka, schema_registry, Config};
use notify_ingest::validate::{Limits, NotificationInput};
use notify_schemas::records::{
    DeviceToken, EmailAddress, PhoneNumber, RenderedEmail, RenderedPush, RenderedSms,
    WebPushSubscription,
};
use notify_schemas::{
    delivery_id, Channel, Codec, Delivery, NotificationRequest, Priority, Recipient,
    RenderedContent, Uuid,
};
use serde_json::Value;

use super::setup::{LoadUser, CATEGORY};

/// One notification to publish: its number, channel, user and API body (`Null` when
/// deliveries are published: they are built from the user, not from a body).
pub struct Item<'a> {
    pub index: u64,
    pub channel: Channel,
    pub user: &'a LoadUser,
    pub body: Value,
}

/// Where and how records are published.
pub struct KafkaTarget {
    publisher: KafkaPublisher,
    requests: Codec<NotificationRequest>,
    deliveries: Option<Codec<Delivery>>,
    topics: Topics,
    limits: Limits,
}

impl std::fmt::Debug for KafkaTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaTarget")
            .field("requests", &self.topics.requests())
            .field("deliveries", &self.deliveries.is_some())
            .finish_non_exhaustive()
    }
}

impl KafkaTarget {
    /// A producer and the codecs of the configured topics; `deliveries` publishes deliveries
    /// rather than requests.
    pub async fn new(config: &Config, deliveries: bool) -> anyhow::Result<Self> {
        let topics = Topics::new(&config.kafka.topic_prefix);
        let framed = [FramedTopics::Requests, FramedTopics::Deliveries];
        let schemas =
            schema_registry::stage_schemas(&config.schema_registry, &topics, &framed).await?;
        let timeout = Duration::from_millis(config.kafka.message_timeout_ms);
        let producer = kafka::producer(&config.kafka, "loadgen")?;
        Ok(Self {
            publisher: KafkaPublisher::new(producer, timeout),
            requests: schemas.codec::<NotificationRequest>()?,
            deliveries: deliveries
                .then(|| schemas.codec::<Delivery>())
                .transpose()?,
            topics,
            limits: Limits::from(&config.ingest),
        })
    }

    /// Publishes one record per item for `tenant`; the event id of each, `None` for one that
    /// could not be built, or all `None` when the broker did not acknowledge.
    pub async fn send(&self, tenant: &str, items: Vec<Item<'_>>) -> Vec<Option<Uuid>> {
        let now = notify_common::clock::now_ms();
        let count = items.len();
        let mut events = Vec::with_capacity(count);
        let mut records = Vec::with_capacity(count);
        for item in items {
            let built = match &self.deliveries {
                Some(codec) => self.delivery(codec, tenant, &item, now),
                None => self.request(tenant, item.body, now),
            };
            match built {
                Ok((event, record)) => {
                    events.push(Some(event));
                    records.push(record);
                }
                Err(err) => {
                    tracing::warn!(error = %err, "a load request could not be built");
                    events.push(None);
                }
            }
        }
        if let Err(err) = self.publisher.publish(&records).await {
            tracing::warn!(error = %err, "load requests not acknowledged");
            return vec![None; count];
        }
        events
    }

    fn request(&self, tenant: &str, body: Value, now: i64) -> anyhow::Result<(Uuid, Record)> {
        let input: NotificationInput = serde_json::from_value(body)?;
        let event = Uuid::new_v4();
        let request = crate::produce::validated(input, tenant, event, now, &self.limits)?;
        let payload = self.requests.encode(&request).context("encoding")?;
        let key = format!("{tenant}:{}", request.user_id);
        Ok((event, Record::new(self.topics.requests(), key, payload)))
    }

    fn delivery(
        &self,
        codec: &Codec<Delivery>,
        tenant: &str,
        item: &Item<'_>,
        now: i64,
    ) -> anyhow::Result<(Uuid, Record)> {
        let event = Uuid::new_v4();
        let delivery = rendered(tenant, event, item, now);
        let payload = codec.encode(&delivery).context("encoding")?;
        let key = format!("{tenant}:{}", item.user.id);
        let topic = self.topics.deliveries(item.channel.as_str());
        Ok((event, Record::new(topic, key, payload)))
    }
}

/// The delivery the router would write for `item`.
pub(super) fn rendered(tenant: &str, event: Uuid, item: &Item<'_>, now: i64) -> Delivery {
    let key = item.user.key(item.channel).to_owned();
    let text = format!("load {}", item.index);
    let (recipient, content) = match item.channel {
        Channel::Apns | Channel::Fcm => (
            Recipient::DeviceToken(DeviceToken {
                token: key,
                device_id: None,
            }),
            None,
        ),
        Channel::WebPush => (
            Recipient::WebPush(WebPushSubscription {
                endpoint: key,
                p256dh: item.user.webpush_keys.0.clone(),
                auth: item.user.webpush_keys.1.clone(),
                device_id: None,
            }),
            None,
        ),
        Channel::Sms => (
            Recipient::Phone(PhoneNumber { e164: key }),
            Some(RenderedContent::Sms(RenderedSms {
                text: text.clone(),
                segments: 1,
            })),
        ),
        Channel::Email => (
            Recipient::Email(EmailAddress {
                address: key,
                name: None,
            }),
            Some(RenderedContent::Email(RenderedEmail {
                subject: text.clone(),
                html: None,
                text: Some("load run".into()),
                from: "notify@example.com".into(),
                reply_to: None,
            })),
        ),
    };
    let content = content.unwrap_or_else(|| {
        RenderedContent::Push(RenderedPush::text("load".into(), text, Default::default()))
    });
    Delivery {
        delivery_id: delivery_id(tenant, event, item.channel, recipient.key()),
        tenant: tenant.to_owned(),
        event_id: event,
        user_id: item.user.id.clone(),
        category: CATEGORY.into(),
        priority: Priority::Normal,
        channel: item.channel,
        recipient,
        content,
        locale: None,
        attempt: 0,
        first_attempt_at: None,
        not_before: None,
        expires_at: None,
        created_at: now,
        trace: None,
        template_id: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rendered_delivery_has_the_id_the_generator_tracks_and_its_channel_content() {
        let user = LoadUser {
            id: "load-1".into(),
            keys: [
                "a".repeat(64),
                "fcm".into(),
                "https://push/1".into(),
                "+15550000001".into(),
                "l@x.io".into(),
            ],
            webpush_keys: ("p".into(), "s".into()),
        };
        for channel in Channel::ALL {
            let item = Item {
                index: 7,
                channel,
                user: &user,
                body: Value::Null,
            };
            let event = Uuid::new_v4();
            let delivery = rendered("tn_1", event, &item, 1_000);
            let want = delivery_id("tn_1", event, channel, user.key(channel));
            assert_eq!((delivery.delivery_id, delivery.channel), (want, channel));
            let push = matches!(delivery.content, RenderedContent::Push(_));
            assert_eq!(
                push,
                matches!(channel, Channel::Apns | Channel::Fcm | Channel::WebPush)
            );
        }
    }
}
