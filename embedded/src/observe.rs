//! Watching a demo run from the outside: a consumer of its own group reads `notify.status` and
//! every deliveries topic and tallies, per event, the deliveries the router made and the
//! outcome each one reached.
//!
//! An event is finished once something was seen for it (a delivery or a router status) and
//! every delivery seen for it has a final status (sent, failed, expired, dead-lettered);
//! suppressed and deferred outcomes are the router's and final by themselves.
//! [`Observer::wait_finished`] also makes sure the observer has read everything the topics
//! held once all events looked finished, so a delivery produced together with an already seen
//! status is not missed.
//!
//! Not guaranteed: this is an observer for the demo, not part of the delivery contract; it
//! keeps everything it saw in memory.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use notify_common::kafka;
use notify_common::topics::{Topics, CHANNELS};
use notify_common::Config;
use notify_schemas::{Channel, Codec, Delivery, DeliveryStatus, Priority, Receipt, Status, Uuid};
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::Message;
use tokio_util::sync::CancellationToken;

use crate::EmbeddedError;

/// What became of one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryOutcome {
    /// The event it belongs to.
    pub event_id: Uuid,
    /// Its channel.
    pub channel: Channel,
    /// Whether it travels in the bulk lane (known once the delivery record was seen).
    pub bulk: bool,
    /// Its final status, once there is one, with the reason and provider.
    pub last: Option<(Status, Option<String>, Option<String>)>,
}

/// An outcome the router decided itself (suppressed, deferred, expired).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RouterOutcome {
    /// The event.
    pub event_id: Uuid,
    /// The channel, `None` for the whole request.
    pub channel: Option<Channel>,
    /// The redacted recipient, if the outcome is about one.
    pub recipient: Option<String>,
    /// What happened.
    pub status: Status,
    /// Why.
    pub reason: String,
}

/// Everything seen so far.
#[derive(Debug, Default)]
pub struct Tally {
    /// Delivery ids seen per event, and whether anything was seen for it.
    pub events: HashMap<Uuid, HashSet<Uuid>>,
    /// Every delivery seen, by delivery id.
    pub deliveries: HashMap<Uuid, DeliveryOutcome>,
    /// The router's own outcomes, deduplicated (a re-routed request reports them again).
    pub router_outcomes: HashSet<RouterOutcome>,
    /// Retries seen: (delivery id, attempt).
    pub retries: HashSet<(Uuid, i32, Channel)>,
    /// The latest provider receipt of each delivery that has one (SMS through Twilio's status
    /// callbacks), kept apart from the dispatcher's outcome.
    pub receipts: HashMap<Uuid, Receipt>,
    /// Tracked opens and clicks: (delivery id, `OPENED` or `CLICKED`), kept apart from the
    /// provider's receipts.
    pub engaged: HashSet<(Uuid, Receipt)>,
    /// Next offset to read per (topic, partition), as far as the tally went.
    positions: HashMap<(String, i32), i64>,
}

impl Tally {
    /// Whether every delivery seen for `event` has a final status and something was seen.
    pub fn finished(&self, event: &Uuid) -> bool {
        self.events.get(event).is_some_and(|ids| {
            ids.iter().all(|id| {
                self.deliveries
                    .get(id)
                    .is_some_and(|d| d.last.as_ref().is_some_and(|(s, _, _)| is_final(*s)))
            })
        })
    }

    pub(crate) fn note_delivery(&mut self, delivery: &Delivery) {
        self.events
            .entry(delivery.event_id)
            .or_default()
            .insert(delivery.delivery_id);
        self.deliveries
            .entry(delivery.delivery_id)
            .or_insert(DeliveryOutcome {
                event_id: delivery.event_id,
                channel: delivery.channel,
                bulk: false,
                last: None,
            })
            .bulk = delivery.priority == Priority::Bulk;
    }

    /// Deliveries of `events` sent through one of `providers` (those that report receipts) and
    /// without a receipt yet.
    pub fn awaiting_receipts<'a>(
        &self,
        events: impl IntoIterator<Item = &'a Uuid>,
        providers: &[&str],
    ) -> usize {
        events
            .into_iter()
            .filter_map(|event| self.events.get(event))
            .flatten()
            .filter(|id| !self.receipts.contains_key(id))
            .filter(|id| {
                self.deliveries.get(id).is_some_and(|d| {
                    matches!(&d.last, Some((Status::Sent, _, Some(p))) if providers.contains(&p.as_str()))
                })
            })
            .count()
    }

    pub(crate) fn note_status(&mut self, status: DeliveryStatus) {
        if let (Some(receipt), Some(id)) = (status.receipt, status.delivery_id) {
            if matches!(receipt, Receipt::Opened | Receipt::Clicked) {
                self.engaged.insert((id, receipt));
            } else {
                self.receipts.insert(id, receipt);
            }
            return;
        }
        match (status.delivery_id, status.channel) {
            (Some(id), Some(channel)) if from_dispatcher(status.status) => {
                self.events.entry(status.event_id).or_default().insert(id);
                let entry = self.deliveries.entry(id).or_insert(DeliveryOutcome {
                    event_id: status.event_id,
                    channel,
                    bulk: false,
                    last: None,
                });
                if status.status == Status::Retrying {
                    self.retries.insert((id, status.attempt, channel));
                }
                let settled = entry.last.as_ref().is_some_and(|(s, _, _)| is_final(*s));
                if !settled {
                    entry.last = Some((status.status, status.reason, status.provider));
                }
            }
            _ => {
                self.events.entry(status.event_id).or_default();
                self.router_outcomes.insert(RouterOutcome {
                    event_id: status.event_id,
                    channel: status.channel,
                    recipient: status.recipient,
                    status: status.status,
                    reason: status.reason.unwrap_or_default(),
                });
            }
        }
    }
}

/// Statuses the dispatchers report about one delivery.
fn from_dispatcher(status: Status) -> bool {
    matches!(
        status,
        Status::Sent | Status::Failed | Status::Retrying | Status::DeadLettered | Status::Expired
    )
}

/// Whether a delivery status ends the delivery.
pub fn is_final(status: Status) -> bool {
    matches!(
        status,
        Status::Sent | Status::Failed | Status::Expired | Status::DeadLettered
    )
}

/// The observer: a consumer task filling a shared [`Tally`].
pub struct Observer {
    tally: Arc<Mutex<Tally>>,
    /// Not subscribed: asks for watermarks on a connection no long-polling fetch holds up.
    offsets: Arc<BaseConsumer>,
    topics: Vec<String>,
    stop: CancellationToken,
}

impl Observer {
    /// Subscribes a consumer of a fresh group to the status and deliveries topics of `config`
    /// and starts tallying.
    pub fn start(config: &Config) -> Result<Self, EmbeddedError> {
        let names = Topics::new(&config.kafka.topic_prefix);
        let mut topics = vec![names.status()];
        for channel in CHANNELS {
            topics.push(names.deliveries(channel));
            topics.push(names.deliveries_bulk(channel));
        }
        let group = format!("notify-demo-observer-{}", Uuid::new_v4().simple());
        let mut client = kafka::consumer_config(&config.kafka, "demo-observer", &group);
        client.set("enable.auto.commit", "false");
        let consumer: StreamConsumer = client
            .create()
            .map_err(|e| EmbeddedError::Kafka(format!("observer: {e}")))?;
        let refs: Vec<&str> = topics.iter().map(String::as_str).collect();
        consumer
            .subscribe(&refs)
            .map_err(|e| EmbeddedError::Kafka(format!("observer: {e}")))?;
        let consumer = Arc::new(consumer);
        let offsets: BaseConsumer = client
            .create()
            .map_err(|e| EmbeddedError::Kafka(format!("observer: {e}")))?;
        let tally = Arc::new(Mutex::new(Tally::default()));
        let stop = CancellationToken::new();
        let status_topic = names.status();
        tokio::spawn(tally_loop(
            consumer,
            tally.clone(),
            status_topic,
            stop.clone(),
        ));
        Ok(Self {
            tally,
            offsets: Arc::new(offsets),
            topics,
            stop,
        })
    }

    /// The tally as it is now.
    pub fn tally(&self) -> MutexGuard<'_, Tally> {
        lock(&self.tally)
    }

    /// How many of `events` are finished.
    pub fn finished_count<'a>(&self, events: impl IntoIterator<Item = &'a Uuid>) -> usize {
        let tally = self.tally();
        events.into_iter().filter(|e| tally.finished(e)).count()
    }

    /// Waits until every one of `events` is finished and the observer has read everything its
    /// topics held at that point; returns how many are still unfinished when `timeout` runs
    /// out (0 on success). `progress` is called about every 200 ms with the finished count.
    pub async fn wait_finished(
        &self,
        events: &[Uuid],
        timeout: Duration,
        mut progress: impl FnMut(usize),
    ) -> usize {
        let deadline = Instant::now() + timeout;
        let mut open: Vec<Uuid> = events.to_vec();
        loop {
            {
                let tally = self.tally();
                open.retain(|event| !tally.finished(event));
            }
            let finished = events.len() - open.len();
            progress(finished);
            if open.is_empty() {
                // outputs of one router batch are acknowledged together; give the rest of a
                // batch time to land, then read up to the end of every topic and look again
                tokio::time::sleep(Duration::from_millis(500)).await;
                if self.caught_up(deadline).await && self.finished_count(events) == events.len() {
                    return 0;
                }
                // something late reopened an event: look at all of them again
                open = events.to_vec();
            }
            if Instant::now() >= deadline {
                return events.len() - self.finished_count(events);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits until every delivery of `events` that one of `providers` took has its receipt, for
    /// at most `limit`; how many are still without one.
    pub async fn wait_receipts(
        &self,
        events: &[Uuid],
        providers: &[&str],
        limit: Duration,
    ) -> usize {
        let deadline = Instant::now() + limit;
        loop {
            let left = self.tally().awaiting_receipts(events, providers);
            if left == 0 || Instant::now() >= deadline {
                return left;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the tally has read every partition up to its high watermark as it is now.
    async fn caught_up(&self, deadline: Instant) -> bool {
        let consumer = self.offsets.clone();
        let topics = self.topics.clone();
        let ends = tokio::task::spawn_blocking(move || high_watermarks(&consumer, &topics)).await;
        let Ok(Some(ends)) = ends else {
            return false;
        };
        while Instant::now() < deadline {
            let done = {
                let tally = self.tally();
                ends.iter().all(|(tp, end)| {
                    *end == 0 || tally.positions.get(tp).is_some_and(|pos| pos >= end)
                })
            };
            if done {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }
}

impl std::fmt::Debug for Observer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observer")
            .field("topics", &self.topics)
            .finish_non_exhaustive()
    }
}

impl Drop for Observer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

fn lock(tally: &Mutex<Tally>) -> MutexGuard<'_, Tally> {
    tally.lock().unwrap_or_else(|e| e.into_inner())
}

/// High watermark of every partition of `topics`; `None` if metadata could not be read.
fn high_watermarks(
    consumer: &BaseConsumer,
    topics: &[String],
) -> Option<Vec<((String, i32), i64)>> {
    let timeout = Duration::from_secs(5);
    let mut ends = Vec::new();
    for topic in topics {
        let metadata = consumer.fetch_metadata(Some(topic), timeout).ok()?;
        let partitions = metadata.topics().first()?.partitions().len();
        for partition in 0..i32::try_from(partitions).ok()? {
            let (_, high) = consumer.fetch_watermarks(topic, partition, timeout).ok()?;
            ends.push(((topic.clone(), partition), high));
        }
    }
    Some(ends)
}

async fn tally_loop(
    consumer: Arc<StreamConsumer>,
    tally: Arc<Mutex<Tally>>,
    status_topic: String,
    stop: CancellationToken,
) {
    let (Ok(statuses), Ok(deliveries)) = (Codec::<DeliveryStatus>::new(), Codec::<Delivery>::new())
    else {
        tracing::error!("observer codecs could not be built");
        return;
    };
    loop {
        let message = tokio::select! {
            m = consumer.recv() => m,
            () = stop.cancelled() => return,
        };
        let message = match message {
            Ok(message) => message,
            Err(err) => {
                tracing::debug!(error = %err, "observer consume error");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let payload = message.payload().unwrap_or_default();
        let mut tally = lock(&tally);
        if message.topic() == status_topic {
            if let Ok(status) = statuses.decode(payload) {
                tally.note_status(status);
            }
        } else if let Ok(delivery) = deliveries.decode(payload) {
            tally.note_delivery(&delivery);
        }
        tally.positions.insert(
            (message.topic().to_owned(), message.partition()),
            message.offset() + 1,
        );
    }
}
