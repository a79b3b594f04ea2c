//! What a test observes: every record on `notify.status` and `notify.dlq` (a consumer of the
//! test's own), and the simulators' ledgers, judged with the ledger model below.
//!
//! For each accepted event the distinct terminal statuses seen (channel, delivery id, status,
//! reason) must equal the expected ones; a status record repeated byte for byte is allowed (the
//! stages re-report an outcome after a crash and status consumers collapse repeats). For each
//! expected delivery the ledgers must hold exactly one entry with its delivery id: none is a
//! loss, more are duplicates.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use notify_common::topics::Topics;
use notify_it::poll_until;
use notify_schemas::registry::StageSchemas;
use notify_schemas::{DeliveryStatus, Status, Uuid};
use rdkafka::consumer::StreamConsumer;
use rdkafka::Message;

use crate::harness::Pipeline;
use crate::workload::{Outcome, Sent};

/// Records seen so far.
#[derive(Debug, Default)]
pub struct Seen {
    /// Decoded status records, in arrival order.
    pub statuses: Vec<DeliveryStatus>,
    /// Payloads of dead letters.
    pub dead_letters: Vec<Vec<u8>>,
    /// Status records that did not decode (a framing or schema fault).
    pub undecodable_statuses: usize,
}

/// The test's consumer of `notify.status` and `notify.dlq`, running in the background.
#[derive(Debug)]
pub struct Observer {
    seen: Arc<Mutex<Seen>>,
    task: tokio::task::JoinHandle<()>,
}

impl Observer {
    /// Subscribes from the beginning of both topics.
    pub fn start(pipeline: &Pipeline) -> Self {
        let mut kafka = pipeline.kafka();
        kafka.client_properties.clear();
        let topics = Topics::new(&pipeline.prefix);
        let status_topic = topics.status();
        let consumer: StreamConsumer = notify_common::kafka::consumer(
            &kafka,
            "e2e",
            &notify_it::unique("e2e-observer"),
            &[&status_topic, &topics.dlq()],
        )
        .expect("observer consumer");
        let seen = Arc::new(Mutex::new(Seen::default()));
        let shared = seen.clone();
        // with a registry, statuses are Confluent-framed: read them through it
        let registry = pipeline.settings.registry.is_some().then(|| {
            pipeline
                .loaded_config()
                .expect("run config")
                .schema_registry
        });
        let task = tokio::spawn(async move {
            let schemas = match registry {
                Some(config) => {
                    notify_common::schema_registry::stage_schemas(&config, &topics, &[])
                        .await
                        .expect("registry")
                }
                None => StageSchemas::default(),
            };
            let codec = schemas.codec::<DeliveryStatus>().expect("status codec");
            loop {
                let Ok(message) = consumer.recv().await else {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
                let payload = message.payload().unwrap_or_default();
                if message.topic() == status_topic {
                    while schemas.prefetch(payload).await.is_err() {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
                let mut seen = shared.lock().expect("seen");
                if message.topic() == status_topic {
                    match codec.decode(payload) {
                        Ok(status) => seen.statuses.push(status),
                        Err(_) => seen.undecodable_statuses += 1,
                    }
                } else {
                    seen.dead_letters.push(payload.to_vec());
                }
            }
        });
        Self { seen, task }
    }

    /// Runs `f` on what has been seen.
    pub fn with<T>(&self, f: impl FnOnce(&Seen) -> T) -> T {
        f(&self.seen.lock().expect("seen"))
    }
}

impl Drop for Observer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn is_terminal(status: Status) -> bool {
    matches!(
        status,
        Status::Suppressed | Status::Sent | Status::Failed | Status::Expired | Status::DeadLettered
    )
}

/// The distinct terminal outcomes seen per event.
pub fn terminal_by_event(statuses: &[DeliveryStatus]) -> HashMap<Uuid, BTreeSet<Outcome>> {
    let mut by_event: HashMap<Uuid, BTreeSet<Outcome>> = HashMap::new();
    for s in statuses.iter().filter(|s| is_terminal(s.status)) {
        let Some(channel) = s.channel else { continue };
        // the dispatcher's SENT carries no reason; the router's suppressions do
        let reason = (s.status == Status::Suppressed)
            .then(|| s.reason.clone())
            .flatten();
        by_event.entry(s.event_id).or_default().insert(Outcome {
            channel,
            delivery_id: s.delivery_id,
            status: s.status,
            reason,
        });
    }
    by_event
}

/// Events whose expected outcomes are not all seen yet.
pub fn pending(sent: &[Sent], statuses: &[DeliveryStatus]) -> Vec<Uuid> {
    let seen = terminal_by_event(statuses);
    sent.iter()
        .filter(|s| {
            let got = seen.get(&s.event_id);
            !s.expected
                .iter()
                .all(|o| got.is_some_and(|g| g.contains(o)))
        })
        .map(|s| s.event_id)
        .collect()
}

/// Waits until every event of `sent` has all its expected outcomes on `notify.status`, for at
/// most `limit`; the number still pending at the end (0 on success).
pub async fn wait_for_outcomes(observer: &Observer, sent: &[Sent], limit: Duration) -> usize {
    let left = || std::future::ready(observer.with(|seen| pending(sent, &seen.statuses).len()));
    poll_until(limit, Duration::from_millis(500), left, |left| *left == 0)
        .await
        .unwrap_or_else(|left| left)
}

/// Prints a line of figures straight to the process's stderr, past the test harness's output
/// capture, so every run of `scripts/test` (and CI) shows each test's figures, not only a
/// failing test's.
pub fn report(line: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// Every simulator's ledger entries: (delivery id, arrival in Unix milliseconds).
pub async fn ledger_entries(pipeline: &Pipeline) -> anyhow::Result<Vec<(String, i64)>> {
    let mut all = Vec::new();
    for name in pipeline.sims.keys() {
        for entry in pipeline.ledger(name).await? {
            if let Some(id) = entry["delivery_id"].as_str() {
                let at = entry["arrived_at_ms"].as_i64().unwrap_or_default();
                all.push((id.to_owned(), at));
            }
        }
    }
    Ok(all)
}

/// Every simulator's ledger: delivery id -> how many times it was accepted.
pub async fn ledger_counts(pipeline: &Pipeline) -> anyhow::Result<HashMap<String, usize>> {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for (id, _) in ledger_entries(pipeline).await? {
        *counts.entry(id).or_default() += 1;
    }
    Ok(counts)
}

/// The figures of one run.
#[derive(Debug, Clone, Default)]
pub struct Figures {
    /// Events accepted by the gateway.
    pub sent: usize,
    /// Deliveries expected at the providers.
    pub expected: usize,
    /// Expected deliveries found in a ledger.
    pub delivered: usize,
    /// Ledger entries beyond the first per delivery id.
    pub duplicates: usize,
    /// The delivery ids with more than one ledger entry.
    pub duplicated: Vec<String>,
    /// Deliveries with a `DEAD_LETTERED` status.
    pub dead_lettered: usize,
    /// Expected deliveries neither in a ledger nor dead-lettered.
    pub lost: usize,
    /// Ledger entries with a delivery id nothing expected (a suppressed one sent anyway).
    pub unexpected: usize,
    /// Events whose distinct terminal statuses differ from the expected ones.
    pub wrong_outcomes: usize,
    /// Events without all expected outcomes (Jepsen's `unseen`).
    pub unseen: usize,
    /// Suppressions seen, by reason.
    pub suppressed: BTreeMap<String, usize>,
    /// Time from the fault (or the last send) until everything was delivered.
    pub recovered_in: Duration,
}

impl Figures {
    /// One line for the test output.
    pub fn line(&self, test: &str) -> String {
        format!(
            "figures {test}: sent {}, expected deliveries {}, delivered {}, duplicates {}, \
             dead-lettered {}, lost {}, unexpected {}, wrong outcomes {}, unseen {}, \
             suppressed {:?}, time to recover {:.1} s",
            self.sent,
            self.expected,
            self.delivered,
            self.duplicates,
            self.dead_lettered,
            self.lost,
            self.unexpected,
            self.wrong_outcomes,
            self.unseen,
            self.suppressed,
            self.recovered_in.as_secs_f64()
        )
    }
}

/// Judges a run: statuses against expectations, ledgers against expected deliveries.
pub async fn judge(
    pipeline: &Pipeline,
    observer: &Observer,
    sent: &[Sent],
    recovered_in: Duration,
) -> anyhow::Result<Figures> {
    let ledger = ledger_counts(pipeline).await?;
    let (by_event, unseen, dead) = observer.with(|seen| {
        let dead: BTreeSet<Uuid> = seen
            .statuses
            .iter()
            .filter(|s| s.status == Status::DeadLettered)
            .filter_map(|s| s.delivery_id)
            .collect();
        (
            terminal_by_event(&seen.statuses),
            pending(sent, &seen.statuses).len(),
            dead,
        )
    });
    let mut f = Figures {
        sent: sent.len(),
        unseen,
        recovered_in,
        dead_lettered: dead.len(),
        ..Figures::default()
    };
    let mut expected_ids = BTreeSet::new();
    for s in sent {
        let want: BTreeSet<Outcome> = s.expected.iter().cloned().collect();
        let got = by_event.get(&s.event_id).cloned().unwrap_or_default();
        if got != want {
            f.wrong_outcomes += 1;
        }
        for o in &s.expected {
            match o.status {
                Status::Sent => {
                    let id = o.delivery_id.expect("a delivery has an id");
                    expected_ids.insert(id.to_string());
                    f.expected += 1;
                    match ledger.get(&id.to_string()).copied().unwrap_or(0) {
                        0 if dead.contains(&id) => {}
                        0 => f.lost += 1,
                        n => {
                            f.delivered += 1;
                            f.duplicates += n - 1;
                            if n > 1 {
                                f.duplicated.push(id.to_string());
                            }
                        }
                    }
                }
                _ => {
                    let reason = o.reason.clone().unwrap_or_default();
                    *f.suppressed.entry(reason).or_default() += 1;
                }
            }
        }
    }
    f.unexpected = ledger
        .iter()
        .filter(|(id, _)| !expected_ids.contains(*id))
        .map(|(_, n)| n)
        .sum();
    Ok(f)
}

/// What was seen of each duplicated delivery (at most 5), for a failure message: its ledger
/// arrivals, its statuses in arrival order, and every log line of every process naming it.
pub async fn explain_duplicates(
    pipeline: &Pipeline,
    observer: &Observer,
    ids: &[String],
) -> String {
    let entries = ledger_entries(pipeline).await.unwrap_or_default();
    let mut out = String::new();
    for id in ids.iter().take(5) {
        let arrivals: Vec<i64> = entries
            .iter()
            .filter(|(d, _)| d == id)
            .map(|(_, at)| *at)
            .collect();
        let statuses: Vec<String> = observer.with(|seen| {
            seen.statuses
                .iter()
                .filter(|s| s.delivery_id.is_some_and(|d| d.to_string() == *id))
                .map(|s| {
                    format!(
                        "{:?} attempt {} at {} reason {:?}",
                        s.status, s.attempt, s.occurred_at, s.reason
                    )
                })
                .collect()
        });
        out.push_str(&format!(
            "duplicated {id}: ledger arrivals {arrivals:?}\n  statuses {statuses:#?}\n{}",
            pipeline.lines_naming(id)
        ));
    }
    out
}

/// The events whose outcomes differ from the expected ones, for a failure message (at most 5).
pub fn explain(observer: &Observer, sent: &[Sent]) -> String {
    observer.with(|seen| {
        let by_event = terminal_by_event(&seen.statuses);
        sent.iter()
            .filter_map(|s| {
                let want: BTreeSet<Outcome> = s.expected.iter().cloned().collect();
                let got = by_event.get(&s.event_id).cloned().unwrap_or_default();
                (got != want).then(|| format!("{}: want {want:?}\n  got {got:?}", s.event_id))
            })
            .take(5)
            .collect::<Vec<_>>()
            .join("\n")
    })
}
