//! The dispatcher's consumer loop: the only part of a dispatcher that consumes from Kafka.
//!
//! Guarantees:
//! - many records in flight at once, bounded twice: at most `dispatch.max_pending` records taken
//!   and unfinished (the loop stops reading until one finishes) and at most
//!   `dispatch.max_in_flight` provider sends;
//! - one user's order: records with the same key (of one partition) are handled one after
//!   another, in offset order; different keys run concurrently;
//! - an offset is stored only once every record before it on its partition has a durable
//!   outcome ([`crate::inflight`]), and committed by the consumer's auto-commit, or
//!   synchronously on revoke and shutdown after draining ([`crate::context`]);
//! - the high-priority lane (`notify.deliveries.<ch>`) goes first: while its pending records
//!   fill every send slot, the bulk lane's partitions are paused, and resumed once it calms;
//! - shutdown stops reading, lets records in flight finish within the drain deadline, commits,
//!   and abandons (without storing) what is still stuck on a failing dependency.
//!
//! Not guaranteed: order across a retry (a retried record leaves its user's queue), or between
//! the two lanes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use notify_common::config::DispatchConfig;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::TopicPartitionList;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::context::DrainContext;
use crate::handler::{Handler, Record};
use crate::inflight::{Inflight, Ticket, TopicPartition};
use crate::keyqueue::KeyQueues;
use crate::metrics as m;

/// A consumer whose revocations drain in-flight records first.
pub type DrainConsumer = StreamConsumer<DrainContext>;

/// Why the loop stopped.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    /// The consumer failed in a way retrying cannot fix.
    #[error("kafka consumer: {0}")]
    Consumer(#[from] rdkafka::error::KafkaError),
}

/// Records of one partition and key run one after another.
type QueueKey = (String, i32, Vec<u8>);

#[derive(Debug)]
struct Job {
    record: Record,
    ticket: Ticket,
    _pending: OwnedSemaphorePermit,
}

/// One channel's dispatcher: consumes both lanes of the channel.
pub struct Dispatcher {
    consumer: Arc<DrainConsumer>,
    inflight: Arc<Inflight>,
    handler: Arc<Handler>,
    queues: Arc<KeyQueues<QueueKey, Job>>,
    pending: Arc<Semaphore>,
    sending: Arc<Semaphore>,
    tasks: TaskTracker,
    main_topic: String,
    bulk_topic: String,
    config: DispatchConfig,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("main_topic", &self.main_topic)
            .field("bulk_topic", &self.bulk_topic)
            .finish_non_exhaustive()
    }
}

fn store(consumer: &DrainConsumer, (topic, partition): &TopicPartition, offset: i64) -> bool {
    let mut list = TopicPartitionList::new();
    if list
        .add_partition_offset(topic, *partition, rdkafka::Offset::Offset(offset))
        .is_err()
    {
        return false;
    }
    // `store_offsets` stores as given (the next offset to read), unlike `store_offset`
    match consumer.store_offsets(&list) {
        Ok(()) => true,
        Err(err) => {
            // the partition was taken away meanwhile; its new owner repeats from the commit
            tracing::debug!(error = %err, partition, "offset not stored");
            false
        }
    }
}

impl Dispatcher {
    /// Assembles the loop. `consumer` must be subscribed to `main_topic` and `bulk_topic` and
    /// built with a [`DrainContext`] over `inflight`.
    pub fn new(
        consumer: DrainConsumer,
        inflight: Arc<Inflight>,
        handler: Handler,
        main_topic: String,
        bulk_topic: String,
        config: DispatchConfig,
    ) -> Self {
        Self {
            consumer: Arc::new(consumer),
            inflight,
            handler: Arc::new(handler),
            queues: Arc::new(KeyQueues::new()),
            pending: Arc::new(Semaphore::new(config.max_pending)),
            sending: Arc::new(Semaphore::new(config.max_in_flight)),
            tasks: TaskTracker::new(),
            main_topic,
            bulk_topic,
            config,
        }
    }

    /// Dispatches until `cancel` fires, then drains; see the module docs.
    pub async fn run(self, cancel: CancellationToken) -> Result<(), DispatchError> {
        let channel = self.handler.channel().as_str();
        let mut paused: HashMap<i32, u64> = HashMap::new();
        loop {
            let permit = tokio::select! {
                permit = self.pending.clone().acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break,
                },
                () = cancel.cancelled() => break,
            };
            let received = tokio::select! {
                received = tokio::time::timeout(Duration::from_millis(200), self.consumer.recv()) => received,
                () = cancel.cancelled() => break,
            };
            match received {
                Err(_) => {}
                Ok(Err(err)) => {
                    // broker-side errors (a topic not yet known, a partition moving) pass; the
                    // consumer keeps its position, so nothing is skipped
                    tracing::warn!(channel, error = %err, "consume error");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Ok(Ok(message)) => {
                    let record = Record {
                        topic: message.topic().to_owned(),
                        partition: message.partition(),
                        offset: message.offset(),
                        key: message.key().map(<[u8]>::to_vec),
                        payload: message.payload().map(<[u8]>::to_vec),
                        timestamp_ms: message.timestamp().to_millis(),
                    };
                    drop(message);
                    self.admit(record, permit);
                }
            }
            self.balance_lanes(&mut paused);
            #[allow(clippy::cast_precision_loss)]
            metrics::gauge!(m::PENDING_RECORDS, "channel" => channel)
                .set(self.inflight.pending() as f64);
        }
        self.drain().await;
        Ok(())
    }

    fn admit(&self, record: Record, permit: OwnedSemaphorePermit) {
        let Some(ticket) = self
            .inflight
            .take(&record.topic, record.partition, record.offset)
        else {
            // its partition is being revoked: the next owner reads it
            return;
        };
        let key = (
            record.topic.clone(),
            record.partition,
            record
                .key
                .clone()
                .unwrap_or_else(|| record.offset.to_be_bytes().to_vec()),
        );
        let job = Job {
            record,
            ticket,
            _pending: permit,
        };
        if let Some(job) = self.queues.admit(key.clone(), job) {
            self.spawn_chain(key, job);
        }
    }

    /// Runs `job` and then every job queued behind it on the same key, one after another.
    fn spawn_chain(&self, key: QueueKey, first: Job) {
        let consumer = self.consumer.clone();
        let inflight = self.inflight.clone();
        let handler = self.handler.clone();
        let queues = self.queues.clone();
        let sending = self.sending.clone();
        self.tasks.spawn(async move {
            let mut job = first;
            loop {
                // a job whose partition was revoked while it queued is left to the next owner
                if let Some(abandon) = inflight.start(&job.ticket) {
                    let handled = match sending.acquire().await {
                        Ok(_slot) => handler.handle(&job.record, &abandon).await.ok(),
                        Err(_) => None,
                    };
                    if handled.is_some() {
                        inflight.finish(&job.ticket, |tp, offset| {
                            if store(&consumer, tp, offset) {
                                Ok(())
                            } else {
                                Err(())
                            }
                        });
                    } else {
                        inflight.abort(&job.ticket);
                    }
                }
                drop(job);
                match queues.next(&key) {
                    Some(next) => job = next,
                    None => break,
                }
            }
        });
    }

    /// Pauses the bulk lane while the main lane's pending records fill every send slot;
    /// resumes it once they drop to a quarter of that.
    fn balance_lanes(&self, paused: &mut HashMap<i32, u64>) {
        let main = self.inflight.pending_in(&self.main_topic);
        let assigned = self.inflight.assigned_in(&self.bulk_topic);
        // forget partitions reassigned since they were paused: a new assignment starts unpaused
        paused.retain(|p, g| assigned.contains(&(*p, *g)));
        let mut list = TopicPartitionList::new();
        if main >= self.config.max_in_flight {
            for (partition, generation) in &assigned {
                if !paused.contains_key(partition) {
                    list.add_partition(&self.bulk_topic, *partition);
                    paused.insert(*partition, *generation);
                }
            }
            if list.count() > 0 {
                if let Err(err) = self.consumer.pause(&list) {
                    tracing::warn!(error = %err, "bulk lane not paused");
                }
            }
        } else if main <= self.config.max_in_flight / 4 && !paused.is_empty() {
            for partition in paused.keys() {
                list.add_partition(&self.bulk_topic, *partition);
            }
            paused.clear();
            if let Err(err) = self.consumer.resume(&list) {
                tracing::warn!(error = %err, "bulk lane not resumed");
            }
        }
    }

    /// Waits for the records in flight up to the drain deadline, abandons the rest, and
    /// commits what is stored.
    async fn drain(self) {
        let channel = self.handler.channel().as_str();
        self.inflight.stop_all();
        self.tasks.close();
        let deadline = Duration::from_millis(self.config.drain_deadline_ms);
        if tokio::time::timeout(deadline, self.tasks.wait())
            .await
            .is_err()
        {
            let unfinished = self.inflight.pending();
            metrics::counter!(m::DRAIN_ABANDONED_TOTAL, "channel" => channel)
                .increment(unfinished as u64);
            tracing::warn!(channel, unfinished, "drain deadline passed at shutdown");
            self.inflight.abandon_all();
            self.tasks.wait().await;
        }
        if let Err(err) = self.consumer.commit_consumer_state(CommitMode::Sync) {
            // nothing stored since the last auto-commit is the usual reason
            tracing::debug!(channel, error = %err, "final commit");
        }
        tracing::info!(channel, "dispatcher drained");
    }
}
