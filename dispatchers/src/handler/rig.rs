//! The rig the handler's tests share: an APNs handler over a scripted provider, the in-memory
//! log, directory and publisher, and the sample delivery it handles.

use std::sync::Arc;

use notify_common::config::DispatchConfig;
use notify_common::publish::{self, MemoryPublisher};
use notify_common::topics::Topics;
use notify_schemas::{samples, Codec, Delivery, DeliveryStatus};
use notify_store::notification_log::MemoryLog;
use notify_store::MemoryDirectory;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::providers::testing::FakeProvider;

pub(super) struct Rig {
    pub(super) handler: Handler,
    pub(super) provider: Arc<FakeProvider>,
    pub(super) log: Arc<MemoryLog>,
    pub(super) directory: Arc<MemoryDirectory>,
    pub(super) publisher: Arc<MemoryPublisher>,
    pub(super) topics: Topics,
    offset: std::sync::atomic::AtomicI64,
}

pub(super) fn rig() -> Rig {
    let mut config = DispatchConfig::default();
    config.retry.max_attempts = 3;
    config.retry.backoff_base_ms = 1_000;
    config.max_backoff_ms = 20;
    let provider = Arc::new(FakeProvider::new());
    let log = Arc::new(MemoryLog::new());
    let directory = Arc::new(MemoryDirectory::new());
    let publisher = Arc::new(MemoryPublisher::new());
    let topics = Topics::new("t");
    let deps = Deps {
        provider: provider.clone(),
        log: log.clone(),
        directory: directory.clone(),
        suppressions: Arc::new(notify_store::suppressions::MemorySuppressions::new()),
        publisher: publisher.clone(),
    };
    Rig {
        handler: Handler::new(Channel::Apns, deps, topics.clone(), &config).expect("codecs"),
        provider,
        log,
        directory,
        publisher,
        topics,
        offset: std::sync::atomic::AtomicI64::new(0),
    }
}

/// Every status `publisher` holds on the status topic, decoded, in order.
pub(super) fn published_statuses(
    publisher: &MemoryPublisher,
    topics: &Topics,
) -> Vec<DeliveryStatus> {
    let codec = Codec::<DeliveryStatus>::new().unwrap();
    publisher
        .to_topic(&topics.status())
        .iter()
        .map(|o| codec.decode(&o.payload).unwrap())
        .collect()
}

pub(super) fn apns() -> Delivery {
    let mut delivery = samples::full_push_delivery();
    delivery.expires_at = None;
    delivery.first_attempt_at = None;
    delivery.not_before = None;
    delivery.attempt = 0;
    delivery
}

pub(super) const TOKEN: &str = "740f4707bebcf74f9b7c25d48e3358945f6aa01da5ddb387462c7eaf61bb78ad";

impl Rig {
    pub(super) fn record(&self, delivery: &Delivery) -> Record {
        let bytes = Codec::<Delivery>::new().unwrap().encode(delivery).unwrap();
        self.raw(Some(bytes))
    }

    pub(super) fn raw(&self, payload: Option<Vec<u8>>) -> Record {
        Record {
            topic: self.topics.deliveries("apns"),
            partition: 3,
            offset: self
                .offset
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst),
            key: Some(b"tenant:user".to_vec()),
            payload,
            timestamp_ms: Some(now_ms()),
            requested_at_ms: Some(now_ms()),
            trace: None,
        }
    }

    pub(super) async fn handle(&self, delivery: &Delivery) -> Handled {
        let record = self.record(delivery);
        self.handler
            .handle(&record, &CancellationToken::new())
            .await
            .expect("durable")
    }

    pub(super) fn statuses(&self) -> Vec<DeliveryStatus> {
        published_statuses(&self.publisher, &self.topics)
    }

    pub(super) fn state(&self, delivery: &Delivery) -> Option<String> {
        self.log
            .row(
                &delivery.tenant,
                &delivery.event_id.to_string(),
                "apns",
                TOKEN,
            )
            .map(|r| r.state)
    }
}

pub(super) fn header<'a>(output: &'a publish::Record, name: &str) -> Option<&'a str> {
    output
        .headers
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.as_str())
}
