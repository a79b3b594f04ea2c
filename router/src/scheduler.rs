//! The scheduler: re-emits deferred requests to `notify.requests` when they are due.
//!
//! Every poll interval it sweeps its shards of the [`Schedule`]; for each due row it claims
//! the row (a lightweight transaction: one of several scheduler instances wins), produces the
//! payload under the original key (`tenant:user`) with the header
//! [`DEFERRED_UNTIL_HEADER`], waits for the broker's acknowledgement (`acks=all`, idempotent
//! producer) and only then completes (deletes) the row.
//!
//! What that promises: **at least once into Kafka, exactly once at the provider through
//! deduplication.** Several instances never re-emit a row at the same time; but an instance
//! that dies (or stalls past its lease) between the acknowledgement and the delete leaves the
//! row, and another instance re-emits it once the lease ran out. The copy carries the same
//! event id, so the router derives the same delivery ids and the notification log drops the
//! duplicate. The window is the time of one delete after the acknowledgement; a failed delete
//! is retried at once a few times to keep it small.
//!
//! Nothing is dropped: a database or Kafka error leaves the row in the schedule (its claim runs
//! out after the lease), is logged once when the sweep starts failing, and the sweep backs off
//! and tries again until it succeeds.
//!
//! The router must honour [`DEFERRED_UNTIL_HEADER`]: a record that carries it was already
//! deferred until then and must not be deferred again to that time or earlier, whatever the
//! router's clock says. Deferred to the same time, it would be written to the very row this
//! scheduler is about to delete (and lost); deferred earlier, it would come straight back.
//!
//! Shutdown: after `cancel` the rows in flight are finished, which takes at most
//! `produce_timeout`; the stage's shutdown grace period should be longer. Only the payload and
//! the key are re-emitted; headers of the original record are not kept.

use crate::metrics::{REEMITTED_TOTAL, SCHEDULE_ERRORS_TOTAL, SCHEDULE_LAG_SECONDS};
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::{self, StreamExt};
use notify_store::schedule::{Schedule, ScheduledItem, SHARDS};
use notify_store::StoreError;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use tokio_util::sync::CancellationToken;

/// Kafka header of a re-emitted request: the due time (milliseconds since the epoch, decimal
/// ASCII) it was deferred until.
pub const DEFERRED_UNTIL_HEADER: &str = "notify-deferred-until";

/// Attempts at deleting a row after its record was acknowledged, before leaving it to the lease.
const COMPLETE_ATTEMPTS: u32 = 3;

/// The due time a re-emitted record was deferred until, from its headers.
pub fn deferred_until_ms<H: Headers>(headers: &H) -> Option<i64> {
    headers
        .iter()
        .find(|h| h.key == DEFERRED_UNTIL_HEADER)
        .and_then(|h| h.value)
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|v| v.parse().ok())
}

/// Why the scheduler cannot run at all. Database and Kafka errors are not here: the
/// scheduler retries those for as long as it runs.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    /// The settings contradict each other.
    #[error("invalid scheduler settings: {0}")]
    Config(String),
}

/// What stopped one item; the row stays in the schedule either way.
#[derive(Debug, thiserror::Error)]
enum SweepError {
    #[error("schedule: {0}")]
    Store(#[from] StoreError),
    #[error("producing to kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error("no acknowledgement from kafka within {0:?}")]
    ProduceTimeout(Duration),
}

impl SweepError {
    fn label(&self) -> &'static str {
        match self {
            SweepError::Store(_) => "database",
            SweepError::Kafka(_) | SweepError::ProduceTimeout(_) => "kafka",
        }
    }
}

/// Re-emits due rows of the schedule. Build it with [`Scheduler::new`] and adjust the public
/// settings; [`Scheduler::run`] checks them.
pub struct Scheduler {
    /// The schedule to sweep.
    pub schedule: Arc<dyn Schedule>,
    /// An idempotent `acks=all` producer (`notify_common::kafka::producer`).
    pub producer: FutureProducer,
    /// Where due requests go: `notify.requests`.
    pub topic: String,
    /// This instance's name in claims; unique per process (e.g. host name and a random id).
    pub owner: String,
    /// The shards this instance sweeps. Every instance may sweep all of them (claims keep
    /// re-emissions single); splitting them only spreads the reads.
    pub shards: Range<u16>,
    /// Pause between sweeps.
    pub poll_interval: Duration,
    /// How long a claim keeps other instances off a row. Must exceed `produce_timeout` with
    /// room to spare, or a slow acknowledgement lets another instance re-emit the row too.
    pub lease: Duration,
    /// Longest wait for the broker's acknowledgement of one record; set it to the producer's
    /// `message.timeout.ms` (`kafka.message_timeout_ms`) so a timeout here is a real failure.
    pub produce_timeout: Duration,
    /// Rows read from one shard at a time.
    pub batch_size: usize,
    /// Rows being claimed, produced and completed at once.
    pub max_in_flight: usize,
    /// Longest pause between sweeps while the database or Kafka fails.
    pub max_backoff: Duration,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("schedule", &self.schedule)
            .field("topic", &self.topic)
            .field("owner", &self.owner)
            .field("shards", &self.shards)
            .field("poll_interval", &self.poll_interval)
            .field("lease", &self.lease)
            .field("produce_timeout", &self.produce_timeout)
            .field("batch_size", &self.batch_size)
            .field("max_in_flight", &self.max_in_flight)
            .field("max_backoff", &self.max_backoff)
            .finish_non_exhaustive()
    }
}

/// What one sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct SweepReport {
    reemitted: u64,
    /// Rows due but claimed by another instance (or completed meanwhile).
    skipped: u64,
}

impl Scheduler {
    /// A scheduler over every shard with the defaults: a sweep per second, a 90 s lease,
    /// 30 s produce timeout (the producer's default `message.timeout.ms`), 256 rows per read,
    /// 64 in flight, backoff up to 30 s.
    pub fn new(
        schedule: Arc<dyn Schedule>,
        producer: FutureProducer,
        topic: impl Into<String>,
        owner: impl Into<String>,
    ) -> Self {
        Self {
            schedule,
            producer,
            topic: topic.into(),
            owner: owner.into(),
            shards: 0..SHARDS,
            poll_interval: Duration::from_secs(1),
            lease: Duration::from_secs(90),
            produce_timeout: Duration::from_secs(30),
            batch_size: 256,
            max_in_flight: 64,
            max_backoff: Duration::from_secs(30),
        }
    }

    fn validate(&self) -> Result<(), SchedulerError> {
        let fail = |msg: String| Err(SchedulerError::Config(msg));
        if self.shards.is_empty() || self.shards.end > SHARDS {
            return fail(format!(
                "shards {:?} must be a non-empty part of 0..{SHARDS}",
                self.shards
            ));
        }
        if self.owner.is_empty() || self.topic.is_empty() {
            return fail("owner and topic must not be empty".into());
        }
        if self.batch_size == 0 || self.max_in_flight == 0 {
            return fail("batch_size and max_in_flight must be at least 1".into());
        }
        if self.poll_interval.is_zero() || self.max_backoff < self.poll_interval {
            return fail("poll_interval must be positive and max_backoff at least as long".into());
        }
        // The claim must outlive the produce and the delete after it, with room for a slow
        // database: otherwise a second instance re-emits rows that are merely slow.
        if self.lease < self.produce_timeout * 2 {
            return fail(format!(
                "lease ({:?}) must be at least twice produce_timeout ({:?})",
                self.lease, self.produce_timeout
            ));
        }
        Ok(())
    }

    /// Sweeps until `cancel` fires, then finishes the rows in flight and returns. Returns an
    /// error only for settings it cannot run with; failures of the database or Kafka are
    /// retried with backoff for as long as it runs.
    pub async fn run(self, cancel: CancellationToken) -> Result<(), SchedulerError> {
        self.validate()?;
        tracing::info!(owner = %self.owner, shards = ?self.shards, topic = %self.topic, "scheduler started");
        let mut backoff = self.poll_interval;
        let mut failing_since: Option<tokio::time::Instant> = None;
        while !cancel.is_cancelled() {
            let pause = match self.sweep(&cancel).await {
                Ok(report) => {
                    if report.reemitted > 0 || report.skipped > 0 {
                        tracing::debug!(
                            reemitted = report.reemitted,
                            skipped = report.skipped,
                            "schedule sweep"
                        );
                    }
                    if let Some(since) = failing_since.take() {
                        tracing::info!(
                            failed_for_s = since.elapsed().as_secs(),
                            "scheduler recovered"
                        );
                    }
                    backoff = self.poll_interval;
                    self.poll_interval
                }
                Err(err) => {
                    metrics::counter!(SCHEDULE_ERRORS_TOTAL, "error" => err.label()).increment(1);
                    // Logged once when the failure starts, not on every retry.
                    if failing_since.is_none() {
                        failing_since = Some(tokio::time::Instant::now());
                        tracing::warn!(error = %err, "schedule sweep failed; retrying with backoff");
                    } else {
                        tracing::debug!(error = %err, "schedule sweep failed again");
                    }
                    let pause = backoff;
                    backoff = (backoff * 2).min(self.max_backoff);
                    pause
                }
            };
            tokio::select! {
                () = cancel.cancelled() => break,
                () = tokio::time::sleep(pause) => {}
            }
        }
        tracing::info!(owner = %self.owner, "scheduler stopped");
        Ok(())
    }

    /// One pass over every shard. A shard whose read came back full is read again at once
    /// (the backlog of a busy minute drains without waiting for the next poll) as long as
    /// that batch made progress. Every row read is finished (re-emitted, skipped or failed)
    /// before this returns, also when `cancel` fires.
    async fn sweep(&self, cancel: &CancellationToken) -> Result<SweepReport, SweepError> {
        let mut total = SweepReport::default();
        let mut first_error = None;
        for shard in self.shard_order() {
            loop {
                if cancel.is_cancelled() {
                    return first_error.map_or(Ok(total), Err);
                }
                let now_ms = wall_clock_ms();
                let items = match self.schedule.due(now_ms, shard, self.batch_size).await {
                    Ok(items) => items,
                    Err(err) => {
                        first_error.get_or_insert(SweepError::from(err));
                        break;
                    }
                };
                let full = items.len() >= self.batch_size;
                let (report, error) = self.reemit_all(items).await;
                total.reemitted += report.reemitted;
                total.skipped += report.skipped;
                if let Some(err) = error {
                    first_error.get_or_insert(err);
                    break;
                }
                if !full || report.reemitted == 0 {
                    break;
                }
            }
        }
        first_error.map_or(Ok(total), Err)
    }

    /// The shards in the order this instance sweeps them: rotated by a hash of the owner, so
    /// instances sweeping the same shards tend to be on different ones at any moment instead
    /// of racing for the same claims.
    fn shard_order(&self) -> impl Iterator<Item = u16> {
        let shards: Vec<u16> = self.shards.clone().collect();
        // FNV-1a: stable and good enough to spread a handful of owners.
        let hash = self.owner.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        let start = usize::try_from(hash % shards.len().max(1) as u64).unwrap_or(0);
        let (head, tail) = shards.split_at(start.min(shards.len()));
        tail.iter()
            .chain(head)
            .copied()
            .collect::<Vec<_>>()
            .into_iter()
    }

    /// Claims, produces and completes `items`, at most `max_in_flight` at once. Returns what
    /// happened and the first error; rows that failed stay in the schedule.
    async fn reemit_all(&self, items: Vec<ScheduledItem>) -> (SweepReport, Option<SweepError>) {
        let mut outcomes = stream::iter(items)
            .map(|item| async move { self.reemit(&item).await })
            .buffer_unordered(self.max_in_flight);
        let mut report = SweepReport::default();
        let mut first_error = None;
        while let Some(outcome) = outcomes.next().await {
            match outcome {
                Ok(true) => report.reemitted += 1,
                Ok(false) => report.skipped += 1,
                Err(err) => {
                    first_error.get_or_insert(err);
                }
            }
        }
        (report, first_error)
    }

    /// Re-emits one row if this instance wins its claim. Ok(false): another instance has it,
    /// or it is gone.
    async fn reemit(&self, item: &ScheduledItem) -> Result<bool, SweepError> {
        if !self.schedule.claim(item, &self.owner, self.lease).await? {
            return Ok(false);
        }
        let due = item.due_at_ms.to_string();
        let headers = OwnedHeaders::new().insert(Header {
            key: DEFERRED_UNTIL_HEADER,
            value: Some(due.as_bytes()),
        });
        let record = FutureRecord::to(&self.topic)
            .key(item.routing_key.as_bytes())
            .payload(item.payload.as_slice())
            .headers(headers);
        // `send` waits for room while the producer queue is full, then for the delivery report.
        let delivery = self
            .producer
            .send(record, Timeout::After(self.produce_timeout));
        match tokio::time::timeout(self.produce_timeout, delivery).await {
            Err(_) => return Err(SweepError::ProduceTimeout(self.produce_timeout)),
            Ok(Err((err, _))) => return Err(SweepError::Kafka(err)),
            Ok(Ok(_)) => {}
        }
        self.complete(item).await?;
        metrics::counter!(REEMITTED_TOTAL).increment(1);
        let lag_ms = u64::try_from(wall_clock_ms() - item.due_at_ms).unwrap_or(0);
        metrics::histogram!(SCHEDULE_LAG_SECONDS)
            .record(Duration::from_millis(lag_ms).as_secs_f64());
        Ok(true)
    }

    /// Deletes a re-emitted row, retrying briefly: until it is gone, a dead or slow instance
    /// means a duplicate after the lease.
    async fn complete(&self, item: &ScheduledItem) -> Result<(), SweepError> {
        let mut attempt = 1;
        loop {
            match self.schedule.complete(item).await {
                Ok(()) => return Ok(()),
                Err(err) if attempt >= COMPLETE_ATTEMPTS => {
                    tracing::warn!(
                        tenant = %item.tenant,
                        event_id = %item.event_id,
                        error = %err,
                        "re-emitted request stays scheduled; it will be re-emitted after the lease and deduplicated downstream"
                    );
                    return Err(err.into());
                }
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
                    attempt += 1;
                }
            }
        }
    }
}

fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::collections::HashMap;

    use notify_common::config::KafkaConfig;
    use notify_store::schedule::MemorySchedule;
    use rdkafka::consumer::{Consumer, StreamConsumer};
    use rdkafka::mocking::MockCluster;
    use rdkafka::producer::DefaultProducerContext;
    use rdkafka::Message;

    const TOPIC: &str = "t.requests";

    fn kafka_config(brokers: String) -> KafkaConfig {
        KafkaConfig {
            brokers,
            // Equal to the schedulers' produce timeout, as in production.
            message_timeout_ms: 1_000,
            ..KafkaConfig::default()
        }
    }

    fn item(n: usize, due_at_ms: i64) -> ScheduledItem {
        ScheduledItem {
            tenant: "tn".into(),
            event_id: format!("evt-{n}"),
            routing_key: format!("tn:user-{}", n % 7),
            due_at_ms,
            reason: "send_at".into(),
            payload: format!("request {n}").into_bytes(),
        }
    }

    fn scheduler(schedule: Arc<dyn Schedule>, config: &KafkaConfig, owner: &str) -> Scheduler {
        let producer = notify_common::kafka::producer(config, "scheduler-test").expect("producer");
        let mut scheduler = Scheduler::new(schedule, producer, TOPIC, owner);
        scheduler.poll_interval = Duration::from_millis(100);
        scheduler.max_backoff = Duration::from_millis(400);
        scheduler.produce_timeout = Duration::from_secs(1);
        scheduler.lease = Duration::from_secs(2);
        scheduler.batch_size = 16;
        scheduler.max_in_flight = 4;
        scheduler
    }

    /// Reads `topic` until `want` records arrived (or `wait` passed), then `extra` longer to
    /// catch duplicates. Returns event payload -> (count, key, header).
    async fn consume(
        config: &KafkaConfig,
        want: usize,
        wait: Duration,
        extra: Duration,
    ) -> HashMap<String, (usize, String, Option<i64>)> {
        let consumer: StreamConsumer = notify_common::kafka::consumer_config(
            config,
            "scheduler-test",
            &format!("g-{}", wall_clock_ms()),
        )
        .create()
        .expect("consumer");
        consumer.subscribe(&[TOPIC]).expect("subscribe");
        let mut seen: HashMap<String, (usize, String, Option<i64>)> = HashMap::new();
        let mut deadline = tokio::time::Instant::now() + wait;
        let mut total = 0;
        loop {
            let message = tokio::select! {
                m = consumer.recv() => m.expect("message"),
                () = tokio::time::sleep_until(deadline) => break,
            };
            let payload =
                String::from_utf8(message.payload().expect("payload").to_vec()).expect("utf8");
            let key = String::from_utf8(message.key().expect("key").to_vec()).expect("utf8");
            let header = message.headers().and_then(deferred_until_ms);
            let entry = seen.entry(payload).or_insert((0, key, header));
            entry.0 += 1;
            total += 1;
            if total == want {
                deadline = tokio::time::Instant::now() + extra;
            }
        }
        seen
    }

    fn mock_cluster() -> MockCluster<'static, DefaultProducerContext> {
        let cluster = MockCluster::new(1).expect("mock cluster");
        cluster.create_topic(TOPIC, 3, 1).expect("topic");
        cluster
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn two_instances_reemit_every_due_row_once_and_keep_future_ones() {
        let cluster = mock_cluster();
        let config = kafka_config(cluster.bootstrap_servers());
        let schedule = Arc::new(MemorySchedule::new());
        let now = wall_clock_ms();
        for n in 0..100 {
            schedule
                .defer(&item(n, now - 1_000 - n as i64))
                .await
                .expect("defer");
        }
        let future = item(1_000, now + 3_600_000);
        schedule.defer(&future).await.expect("defer");

        let cancel = CancellationToken::new();
        let runs: Vec<_> = ["a", "b"]
            .iter()
            .map(|owner| {
                let scheduler = scheduler(schedule.clone(), &config, owner);
                tokio::spawn(scheduler.run(cancel.clone()))
            })
            .collect();
        let seen = consume(
            &config,
            100,
            Duration::from_secs(20),
            Duration::from_secs(2),
        )
        .await;
        cancel.cancel();
        for run in runs {
            run.await.expect("task").expect("run");
        }

        assert_eq!(seen.len(), 100, "every due row re-emitted");
        for n in 0..100 {
            let (count, key, header) = &seen[&format!("request {n}")];
            assert_eq!(*count, 1, "request {n} re-emitted {count} times");
            assert_eq!(key, &format!("tn:user-{}", n % 7), "original key kept");
            assert_eq!(
                *header,
                Some(now - 1_000 - n as i64),
                "due time in the header"
            );
        }
        assert_eq!(
            schedule.len(),
            1,
            "completed rows are deleted, the future one waits"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_kafka_outage_delays_but_never_drops() {
        let cluster = mock_cluster();
        let config = kafka_config(cluster.bootstrap_servers());
        let schedule = Arc::new(MemorySchedule::new());
        let now = wall_clock_ms();
        for n in 0..10 {
            schedule.defer(&item(n, now - 1_000)).await.expect("defer");
        }
        // The only broker goes away: every produce times out until it is back.
        cluster.broker_down(1).expect("broker down");
        let cancel = CancellationToken::new();
        let run = tokio::spawn(scheduler(schedule.clone(), &config, "a").run(cancel.clone()));
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        assert_eq!(schedule.len(), 10, "nothing completed during the outage");

        cluster.broker_up(1).expect("broker up");
        let seen = consume(&config, 10, Duration::from_secs(20), Duration::from_secs(1)).await;
        cancel.cancel();
        run.await.expect("task").expect("run");
        assert_eq!(seen.len(), 10, "every row re-emitted after the outage");
        assert!(schedule.is_empty());
    }

    #[tokio::test]
    async fn a_row_claimed_elsewhere_waits_for_the_lease() {
        let cluster = mock_cluster();
        let config = kafka_config(cluster.bootstrap_servers());
        let schedule = Arc::new(MemorySchedule::new());
        let row = item(1, wall_clock_ms() - 1_000);
        schedule.defer(&row).await.expect("defer");
        // Another instance claimed it and died.
        assert!(schedule
            .claim(&row, "dead", Duration::from_secs(2))
            .await
            .expect("claim"));

        let cancel = CancellationToken::new();
        let run = tokio::spawn(scheduler(schedule.clone(), &config, "a").run(cancel.clone()));
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        assert_eq!(schedule.len(), 1, "not re-emitted while the lease holds");
        let seen = consume(
            &config,
            1,
            Duration::from_secs(10),
            Duration::from_millis(500),
        )
        .await;
        cancel.cancel();
        run.await.expect("task").expect("run");
        assert_eq!(seen.len(), 1);
        assert!(schedule.is_empty());
    }

    #[test]
    fn settings_that_cannot_work_are_refused() {
        let cluster = mock_cluster();
        let config = kafka_config(cluster.bootstrap_servers());
        let schedule: Arc<dyn Schedule> = Arc::new(MemorySchedule::new());
        let mut short_lease = scheduler(Arc::clone(&schedule), &config, "a");
        short_lease.lease = short_lease.produce_timeout;
        assert!(short_lease.validate().is_err());
        let mut bad_shards = scheduler(Arc::clone(&schedule), &config, "a");
        bad_shards.shards = 0..SHARDS + 1;
        assert!(bad_shards.validate().is_err());
        assert!(scheduler(schedule, &config, "a").validate().is_ok());
    }

    #[test]
    fn every_shard_is_swept_once_starting_where_the_owner_hashes() {
        let cluster = mock_cluster();
        let config = kafka_config(cluster.bootstrap_servers());
        let schedule: Arc<dyn Schedule> = Arc::new(MemorySchedule::new());
        let mut starts = std::collections::HashSet::new();
        for owner in ["a", "b", "c", "d", "e", "f"] {
            let mut scheduler = scheduler(Arc::clone(&schedule), &config, owner);
            scheduler.shards = 3..11;
            let order: Vec<u16> = scheduler.shard_order().collect();
            let mut sorted = order.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, (3..11).collect::<Vec<_>>(), "{owner}: {order:?}");
            starts.insert(order[0]);
        }
        assert!(starts.len() > 1, "owners start on different shards");
    }

    #[test]
    fn the_header_round_trips() {
        let headers = OwnedHeaders::new().insert(Header {
            key: DEFERRED_UNTIL_HEADER,
            value: Some("1700000000123".as_bytes()),
        });
        assert_eq!(deferred_until_ms(&headers), Some(1_700_000_000_123));
        let garbage = OwnedHeaders::new().insert(Header {
            key: DEFERRED_UNTIL_HEADER,
            value: Some("soon".as_bytes()),
        });
        assert_eq!(deferred_until_ms(&garbage), None);
        assert_eq!(deferred_until_ms(&OwnedHeaders::new()), None);
    }
}
