//! The dispatcher's consumer loop: the only part of a dispatcher that consumes from Kafka.
//!
//! Guarantees:
//! - many records in flight at once, bounded twice: at most `dispatch.max_pending` records taken
//!   and unfinished per lane (a full lane pauses its partitions, but keeps polling so the group
//!   keeps hearing from it and a rebalance is served at once; records already fetched when it
//!   paused are still taken) and at most `dispatch.max_in_flight` provider sends over both
//!   lanes, a record taking its send slot before it starts (so a revoke never waits for, and
//!   never sends, a record that was only queued);
//! - one user's order: records with the same key (of one partition) are handled one after
//!   another, in offset order; different keys run concurrently;
//! - an offset is stored only once every record before it on its partition has a durable
//!   outcome ([`crate::engine::inflight`]), and committed by the consumer's auto-commit, or
//!   synchronously on revoke and shutdown after draining ([`crate::consumer::drain`]);
//! - the high-priority lane (`notify.deliveries.<ch>`) goes first: each lane has its own
//!   consumer (and so its own local queue: a fetched bulk backlog never sits in front of a
//!   transactional record), and while the main lane's pending records fill every send slot the
//!   bulk lane pauses its partitions, resuming once the main lane calms;
//! - shutdown stops reading, lets records in flight finish within the drain deadline, commits,
//!   and abandons (without storing) what is still stuck on a failing dependency.
//!
//! Not guaranteed: order across a retry (a retried record leaves its user's queue), or between
//! the two lanes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use notify_common::config::DispatchConfig;
use notify_common::kafka::{header_str, ErrorPacer};
use notify_common::metrics::REQUESTED_AT_HEADER;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::TopicPartitionList;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use self::drain::DrainContext;
use crate::engine::inflight::{Inflight, Ticket, TopicPartition};
use crate::engine::keyqueue::KeyQueues;
use crate::handler::{Handler, Record};
use crate::metrics as m;

pub mod drain;

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
    /// `None` for a record that arrived while the lane was full (see [`run_lane`]).
    _pending: Option<OwnedSemaphorePermit>,
}

/// How long a full lane waits for a free place before it polls anyway (with its partitions
/// paused), so the group keeps hearing from it and rebalances are served while it is busy.
const FULL_POLL_INTERVAL: Duration = Duration::from_millis(500);

/// One lane: its consumer, its records in flight, its per-key queues.
pub struct Lane {
    consumer: Arc<DrainConsumer>,
    inflight: Arc<Inflight>,
    queues: Arc<KeyQueues<QueueKey, Job>>,
    pending: Arc<Semaphore>,
    tasks: TaskTracker,
}

impl std::fmt::Debug for Lane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lane").finish_non_exhaustive()
    }
}

impl Lane {
    /// A lane over `consumer`, built with a [`DrainContext`] over `inflight`, taking at most
    /// `max_pending` records at a time.
    pub fn new(consumer: DrainConsumer, inflight: Arc<Inflight>, max_pending: usize) -> Self {
        Self {
            consumer: Arc::new(consumer),
            inflight,
            queues: Arc::new(KeyQueues::new()),
            pending: Arc::new(Semaphore::new(max_pending)),
            tasks: TaskTracker::new(),
        }
    }
}

/// One channel's dispatcher: the main lane and the bulk lane.
pub struct Dispatcher {
    main: Lane,
    bulk: Lane,
    handler: Arc<Handler>,
    sending: Arc<Semaphore>,
    config: DispatchConfig,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("channel", &self.handler.channel())
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

/// What a lane loop needs besides its lane.
struct Shared {
    handler: Arc<Handler>,
    sending: Arc<Semaphore>,
    config: DispatchConfig,
}

impl Dispatcher {
    /// Assembles the dispatcher from its two lanes (`main` subscribed to
    /// `notify.deliveries.<ch>`, `bulk` to its `.bulk` topic).
    pub fn new(main: Lane, bulk: Lane, handler: Handler, config: DispatchConfig) -> Self {
        Self {
            main,
            bulk,
            handler: Arc::new(handler),
            sending: Arc::new(Semaphore::new(config.max_in_flight)),
            config,
        }
    }

    /// Dispatches until `cancel` fires, then drains; see the module docs.
    pub async fn run(self, cancel: CancellationToken) -> Result<(), DispatchError> {
        let shared = Shared {
            handler: self.handler,
            sending: self.sending,
            config: self.config,
        };
        let main_inflight = self.main.inflight.clone();
        let main = run_lane(&shared, self.main, None, cancel.clone());
        let bulk = run_lane(&shared, self.bulk, Some(main_inflight), cancel);
        tokio::join!(main, bulk);
        Ok(())
    }
}

/// One lane's loop; `yield_to` is the main lane's records when this is the bulk lane.
async fn run_lane(
    shared: &Shared,
    lane: Lane,
    yield_to: Option<Arc<Inflight>>,
    cancel: CancellationToken,
) {
    let channel = shared.handler.channel().as_str();
    let name = if yield_to.is_some() { "bulk" } else { "main" };
    let pending_records = metrics::gauge!(m::PENDING_RECORDS, "channel" => channel, "lane" => name);
    let mut paused: HashMap<(String, i32), u64> = HashMap::new();
    let mut full: HashMap<(String, i32), u64> = HashMap::new();
    let errors = ErrorPacer::new();
    loop {
        let permit = tokio::select! {
            permit = lane.pending.clone().acquire_owned() => match permit {
                Ok(permit) => Some(permit),
                Err(_) => break,
            },
            () = tokio::time::sleep(FULL_POLL_INTERVAL) => None,
            () = cancel.cancelled() => break,
        };
        // a full lane pauses its partitions and keeps polling: the poll serves rebalances and
        // keeps the member in the group; what was fetched before the pause is still taken
        match &permit {
            None => pause_all(&lane, &mut full),
            Some(_) if !full.is_empty() => resume_full(&lane, &mut full, &paused),
            Some(_) => {}
        }
        let received = tokio::select! {
            received = tokio::time::timeout(Duration::from_millis(100), lane.consumer.recv()) => received,
            () = cancel.cancelled() => break,
        };
        match received {
            Err(_) => errors.ok(),
            Ok(Err(err)) => {
                // broker-side errors (brokers down, a topic not yet known, a partition moving)
                // pass; the consumer keeps its position, so nothing is skipped
                let (log, pause) = errors.error();
                if log {
                    tracing::warn!(channel, error = %err, "consume error");
                }
                if !pause.is_zero() {
                    tokio::time::sleep(pause).await;
                }
            }
            Ok(Ok(message)) => {
                errors.ok();
                let record = detach(&message);
                drop(message);
                admit(shared, &lane, record, permit);
            }
        }
        if let Some(main) = &yield_to {
            yield_lane(&lane, main, shared.config.max_in_flight, &mut paused, &full);
        }
        #[allow(clippy::cast_precision_loss)]
        pending_records.set(lane.inflight.pending() as f64);
    }
    drain(shared, lane).await;
}

/// Pauses every assigned partition of the lane not paused for being full yet.
fn pause_all(lane: &Lane, full: &mut HashMap<(String, i32), u64>) {
    let assigned = lane.inflight.assigned();
    full.retain(|tp, generation| assigned.get(tp) == Some(generation));
    let mut list = TopicPartitionList::new();
    for (tp, generation) in assigned {
        if let std::collections::hash_map::Entry::Vacant(entry) = full.entry(tp) {
            list.add_partition(&entry.key().0, entry.key().1);
            entry.insert(generation);
        }
    }
    if list.count() > 0 {
        if let Err(err) = lane.consumer.pause(&list) {
            tracing::warn!(error = %err, "full lane not paused");
        }
    }
}

/// Resumes what [`pause_all`] paused, except what the bulk lane's yielding keeps paused.
fn resume_full(
    lane: &Lane,
    full: &mut HashMap<(String, i32), u64>,
    yielding: &HashMap<(String, i32), u64>,
) {
    let mut list = TopicPartitionList::new();
    for tp in full.keys().filter(|tp| !yielding.contains_key(*tp)) {
        list.add_partition(&tp.0, tp.1);
    }
    full.clear();
    if list.count() > 0 {
        if let Err(err) = lane.consumer.resume(&list) {
            tracing::warn!(error = %err, "lane not resumed");
        }
    }
}

fn admit(shared: &Shared, lane: &Lane, record: Record, permit: Option<OwnedSemaphorePermit>) {
    let Some(ticket) = lane
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
    if let Some(job) = lane.queues.admit(key.clone(), job) {
        spawn_chain(shared, lane, key, job);
    }
}

/// Runs `first` and then every job queued behind it on the same key, one after another.
fn spawn_chain(shared: &Shared, lane: &Lane, key: QueueKey, first: Job) {
    let consumer = lane.consumer.clone();
    let inflight = lane.inflight.clone();
    let queues = lane.queues.clone();
    let handler = shared.handler.clone();
    let sending = shared.sending.clone();
    lane.tasks.spawn(async move {
        let mut job = first;
        loop {
            // the send slot first: a record waiting for one has not started, so a revoke does
            // not wait for it and it never sends after the revoke began
            let slot = sending.clone().acquire_owned().await.ok();
            // a job whose partition was lost or is being revoked is left to the next owner
            let lease = slot.as_ref().and_then(|_| inflight.start(&job.ticket));
            if let Some(lease) = lease {
                // the handler releases the slot once the provider answered
                let handled = handler.handle_leased(&job.record, &lease, slot).await.ok();
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

/// The bulk lane pauses its partitions while the main lane's pending records fill every send
/// slot, and resumes them once those drop to a quarter of that.
fn yield_lane(
    lane: &Lane,
    main: &Inflight,
    max_in_flight: usize,
    paused: &mut HashMap<(String, i32), u64>,
    full: &HashMap<(String, i32), u64>,
) {
    let busy = main.pending();
    let assigned = lane.inflight.assigned();
    // a partition assigned again since it was paused starts unpaused
    paused.retain(|tp, generation| assigned.get(tp) == Some(generation));
    let mut list = TopicPartitionList::new();
    if busy >= max_in_flight {
        for (tp, generation) in &assigned {
            if !paused.contains_key(tp) {
                list.add_partition(&tp.0, tp.1);
                paused.insert(tp.clone(), *generation);
            }
        }
        if list.count() > 0 {
            if let Err(err) = lane.consumer.pause(&list) {
                tracing::warn!(error = %err, "bulk lane not paused");
            }
        }
    } else if busy <= max_in_flight / 4 && !paused.is_empty() {
        // what is paused for the lane being full stays paused
        for tp in paused.keys().filter(|tp| !full.contains_key(*tp)) {
            list.add_partition(&tp.0, tp.1);
        }
        paused.clear();
        if list.count() > 0 {
            if let Err(err) = lane.consumer.resume(&list) {
                tracing::warn!(error = %err, "bulk lane not resumed");
            }
        }
    }
}

/// Takes no more records, waits for those taken up to the drain deadline, abandons the rest,
/// and commits what is stored.
async fn drain(shared: &Shared, lane: Lane) {
    let channel = shared.handler.channel().as_str();
    lane.inflight.stop_all();
    lane.tasks.close();
    let deadline = Duration::from_millis(shared.config.drain_deadline_ms);
    if tokio::time::timeout(deadline, lane.tasks.wait())
        .await
        .is_err()
    {
        let unfinished = lane.inflight.pending();
        metrics::counter!(m::DRAIN_ABANDONED_TOTAL, "channel" => channel)
            .increment(unfinished as u64);
        tracing::warn!(channel, unfinished, "drain deadline passed at shutdown");
        lane.inflight.abandon_all();
        lane.tasks.wait().await;
    }
    if let Err(err) = lane.consumer.commit_consumer_state(CommitMode::Sync) {
        // nothing stored since the last auto-commit is the usual reason
        tracing::debug!(channel, error = %err, "final commit");
    }
    tracing::info!(channel, "dispatcher lane drained");
    // the other lane may still be draining on this runtime: leave the group off its workers
    notify_common::kafka::close_off_runtime(lane.consumer).await;
}

/// `message`, detached from the consumer (so the consumer's buffer is not held while the
/// record is handled).
pub(crate) fn detach<M: Message>(message: &M) -> Record {
    Record {
        topic: message.topic().to_owned(),
        partition: message.partition(),
        offset: message.offset(),
        key: message.key().map(<[u8]>::to_vec),
        payload: message.payload().map(<[u8]>::to_vec),
        timestamp_ms: message.timestamp().to_millis(),
        requested_at_ms: message
            .headers()
            .and_then(|headers| header_str(headers, REQUESTED_AT_HEADER))
            .and_then(|at| at.parse().ok()),
        trace: notify_common::trace::of_headers(message.headers()),
    }
}
