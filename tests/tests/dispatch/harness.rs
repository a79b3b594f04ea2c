//! The dispatcher harness: a topic prefix, keyspace and consumer groups of its own, the real
//! dispatcher and retry movers around a scripted fake provider, and readers of the status and
//! dead-letter topics.

use std::sync::Arc;
use std::time::Duration;

use notify_common::config::Config;
use notify_common::kafka;
use notify_common::topics::Topics;
use notify_common::Health;
use notify_dispatchers::providers::testing::FakeProvider;
use notify_dispatchers::stage;
use notify_dispatchers::{Outcome, Reason};
use notify_it::{
    kafka_config, produce, provision, read_until, store_config, unique, Scratch, Seen,
};
use notify_schemas::{
    delivery_id, Channel, Codec, Delivery, DeliveryStatus, EmailAddress, PhoneNumber, Priority,
    Recipient, RenderedContent, RenderedSms, Uuid,
};
use notify_store::CassandraDirectory;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use rdkafka::TopicPartitionList;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub struct World {
    pub config: Config,
    pub topics: Topics,
    pub provider: Arc<FakeProvider>,
    pub directory: CassandraDirectory,
    producer: FutureProducer,
    reader: StreamConsumer,
    pub seen: Vec<Seen>,
    running: Vec<(CancellationToken, Vec<JoinHandle<()>>)>,
    /// Last, so it removes the topics and keyspace after everything else is closed.
    _scratch: Scratch,
}

/// An SMS delivery of `user` with `text`, attempt 0.
pub fn sms(tenant: &str, user: &str, phone: &str, text: &str) -> Delivery {
    delivery(
        tenant,
        user,
        Channel::Sms,
        Recipient::Phone(PhoneNumber { e164: phone.into() }),
        text,
    )
}

pub fn delivery(
    tenant: &str,
    user: &str,
    channel: Channel,
    recipient: Recipient,
    text: &str,
) -> Delivery {
    let event_id = Uuid::new_v4();
    Delivery {
        delivery_id: delivery_id(tenant, event_id, channel, recipient.key()),
        tenant: tenant.into(),
        event_id,
        user_id: user.into(),
        category: "orders".into(),
        priority: Priority::High,
        channel,
        recipient,
        content: RenderedContent::Sms(RenderedSms {
            text: text.into(),
            segments: 1,
        }),
        locale: None,
        attempt: 0,
        first_attempt_at: None,
        not_before: None,
        expires_at: None,
        created_at: notify_common::clock::now_ms(),
        trace: None,
        template_id: None,
    }
}

#[allow(dead_code)]
pub fn email_recipient(address: &str) -> Recipient {
    Recipient::Email(EmailAddress {
        address: address.into(),
        name: None,
    })
}

/// A default world whose provider fails every attempt to `phone` (see
/// [`World::fail_every_attempt`]), with one SMS of `text` to it produced and the SMS
/// dispatcher started: the delivery is on its way to the dead-letter topic.
pub async fn doomed_sms(phone: &str, text: &str) -> (World, Delivery) {
    let mut w = world(|_| {}).await;
    let d = sms(&unique("t"), "u1", phone, text);
    w.fail_every_attempt(phone);
    w.produce(&d).await;
    w.start(Channel::Sms).await;
    (w, d)
}

pub async fn world(tune: impl FnOnce(&mut Config)) -> World {
    let mut config = Config {
        kafka: kafka_config(),
        store: store_config(),
        ..Config::default()
    };
    config.dispatch.group_id_prefix = unique("it-dispatch");
    config.dispatch.retry_group_id_prefix = unique("it-retry");
    config.dispatch.max_in_flight = 8;
    config.dispatch.max_pending = 64;
    config.dispatch.drain_deadline_ms = 5_000;
    config.dispatch.send_timeout_ms = 2_500;
    config.dispatch.max_backoff_ms = 500;
    config.dispatch.retry.backoff_base_ms = 200;
    config.dispatch.retry.backoff_max_ms = 1_000;
    config.dispatch.retry.max_attempts = 3;
    tune(&mut config);
    let scratch = Scratch::new(&config.kafka, &config.store);
    config.validate().expect("valid config");

    let session = provision(&config, 2).await;
    let topics = Topics::new(&config.kafka.topic_prefix);
    let directory = CassandraDirectory::new(session, &config.store.keyspace)
        .await
        .expect("directory");
    let reader = kafka::consumer(
        &config.kafka,
        "it",
        &unique("it-read"),
        &[&topics.status(), &topics.dlq()],
    )
    .expect("reader");
    World {
        producer: kafka::producer(&config.kafka, "it").expect("producer"),
        reader,
        topics,
        config,
        provider: Arc::new(FakeProvider::new()),
        directory,
        seen: Vec::new(),
        running: Vec::new(),
        _scratch: scratch,
    }
}

impl World {
    /// Produces `delivery` to its channel's main topic, keyed `tenant:user`.
    pub async fn produce(&self, delivery: &Delivery) {
        let bytes = Codec::<Delivery>::new()
            .expect("codec")
            .encode(delivery)
            .expect("encode");
        let key = format!("{}:{}", delivery.tenant, delivery.user_id);
        self.produce_raw(
            &self.topics.deliveries(delivery.channel.as_str()),
            &key,
            &bytes,
        )
        .await;
    }

    /// Produces `payload` to `topic`, keyed `key`.
    pub async fn produce_raw(&self, topic: &str, key: &str, payload: &[u8]) {
        produce(&self.producer, topic, key, payload).await;
    }

    /// Produces `payload` to one partition of `topic`.
    pub async fn produce_to(&self, topic: &str, partition: i32, key: &str, payload: &[u8]) {
        self.producer
            .send(
                FutureRecord::to(topic)
                    .partition(partition)
                    .key(key)
                    .payload(payload),
                Timeout::After(Duration::from_secs(10)),
            )
            .await
            .map_err(|(e, _)| e)
            .expect("produce");
    }

    /// Scripts the provider to answer `recipient` with a 503 on each of the harness's 3
    /// attempts, so its delivery exhausts its retries and is dead-lettered.
    pub fn fail_every_attempt(&self, recipient: &str) {
        self.provider.script(
            recipient,
            (0..3).map(|_| Outcome::retry(Reason::ProviderUnavailable, "503")),
        );
    }

    /// Starts the channel's dispatcher and the retry movers; a second call starts another
    /// instance in the same consumer groups.
    pub async fn start(&mut self, channel: Channel) {
        self.start_with(channel, self.provider.clone()).await;
    }

    /// Starts an instance sending through `provider`.
    pub async fn start_with(&mut self, channel: Channel, provider: Arc<FakeProvider>) {
        let parts = stage::build(&self.config, channel, provider, Health::new())
            .await
            .expect("dispatcher");
        let cancel = CancellationToken::new();
        let mut handles = Vec::new();
        for mover in parts.movers {
            let cancel = cancel.clone();
            handles.push(tokio::spawn(async move {
                mover.run(cancel).await.expect("mover");
            }));
        }
        let dispatcher = parts.dispatcher;
        let token = cancel.clone();
        handles.push(tokio::spawn(async move {
            dispatcher.run(token).await.expect("dispatcher");
        }));
        self.running.push((cancel, handles));
    }

    /// Stops every dispatcher and mover gracefully (drain, commit).
    pub async fn stop(&mut self) {
        for (cancel, handles) in self.running.drain(..) {
            cancel.cancel();
            for handle in handles {
                tokio::time::timeout(Duration::from_secs(30), handle)
                    .await
                    .expect("stopped in time")
                    .expect("no panic");
            }
        }
    }

    /// Reads status and DLQ records until `done` holds (or 60 s pass).
    pub async fn read_until(&mut self, mut done: impl FnMut(&[Seen]) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let read = read_until(&self.reader, &mut self.seen, deadline, |seen| {
            done(seen).then_some(())
        });
        if read.await.is_none() {
            panic!(
                "expected records not seen within 60 s: {:#?}",
                self.statuses()
            );
        }
    }

    /// Reads for `wait` more, to catch records that must not come.
    pub async fn read_for(&mut self, wait: Duration) {
        let until = tokio::time::Instant::now() + wait;
        read_until(&self.reader, &mut self.seen, until, |_| None::<()>).await;
    }

    /// Every status read so far.
    pub fn statuses(&self) -> Vec<DeliveryStatus> {
        let codec = Codec::<DeliveryStatus>::new().expect("codec");
        self.seen
            .iter()
            .filter(|s| s.topic == self.topics.status())
            .map(|s| codec.decode(&s.value).expect("status decodes"))
            .collect()
    }

    /// How many different status records one delivery has. A record read again after its
    /// partition moved or its dispatcher stopped (it had finished while an earlier record of
    /// its partition was left unstarted, so the committed offset stayed before it) reports its
    /// recorded outcome again byte for byte, which counts once here, as it does for a status
    /// consumer.
    pub fn distinct_statuses_of(&self, delivery: &Delivery) -> usize {
        let codec = Codec::<DeliveryStatus>::new().expect("codec");
        let mut values: Vec<&[u8]> = self
            .seen
            .iter()
            .filter(|s| s.topic == self.topics.status())
            .filter(|s| {
                codec.decode(&s.value).expect("status decodes").delivery_id
                    == Some(delivery.delivery_id)
            })
            .map(|s| s.value.as_slice())
            .collect();
        values.sort_unstable();
        values.dedup();
        values.len()
    }

    /// Statuses of one delivery, in order.
    pub fn statuses_of(&self, delivery: &Delivery) -> Vec<DeliveryStatus> {
        self.statuses()
            .into_iter()
            .filter(|s| s.delivery_id == Some(delivery.delivery_id))
            .collect()
    }

    /// Dead letters read so far.
    pub fn dead_letters(&self) -> Vec<Seen> {
        self.seen
            .iter()
            .filter(|s| s.topic == self.topics.dlq())
            .cloned()
            .collect()
    }

    /// Committed offsets of the channel's group on its main topic, and the topic's end offsets.
    pub fn committed_and_end(&self, channel: Channel) -> (Vec<i64>, Vec<i64>) {
        let group = stage::group_id(&self.config, channel);
        let consumer: StreamConsumer = kafka::consumer_config(&self.config.kafka, "it", &group)
            .create()
            .expect("consumer");
        let topic = self.topics.deliveries(channel.as_str());
        let mut list = TopicPartitionList::new();
        let mut ends = Vec::new();
        for partition in 0..2 {
            list.add_partition(&topic, partition);
            let (_, high) = consumer
                .fetch_watermarks(&topic, partition, Duration::from_secs(10))
                .expect("watermarks");
            ends.push(high);
        }
        let committed = consumer
            .committed_offsets(list, Duration::from_secs(10))
            .expect("committed");
        let offsets = (0..2)
            .map(|p| {
                committed
                    .find_partition(&topic, p)
                    .and_then(|e| e.offset().to_raw())
                    .unwrap_or(-1)
                    .max(0)
            })
            .collect();
        (offsets, ends)
    }
}
