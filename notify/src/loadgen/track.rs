//! Following every accepted notification to the simulator that received it.
//!
//! The sender registers each accepted notification under its delivery id (derived the way the
//! router derives it: tenant, event id, channel, recipient key). The collector pages through
//! every simulator's ledger (`GET /_sim/ledger?from=N`) and matches arrivals to those ids; the
//! latency of one delivery is its arrival stamp minus the moment its accept answer came back.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use notify_schemas::{Channel, Uuid};
use serde::Deserialize;

use super::setup::{index, Simulators};

/// One accepted notification not yet seen at a simulator.
#[derive(Debug, Clone, Copy)]
struct Open {
    phase: usize,
    event: Uuid,
    channel: Channel,
    accepted_ms: i64,
}

/// What one phase (a step of the search, or a measurement) sent and saw arrive.
#[derive(Debug, Clone, Default)]
pub struct PhaseTally {
    /// Notifications the API accepted.
    pub accepted: u64,
    /// Requests the API refused or that failed (each counts its notifications).
    pub failed: u64,
    /// Sends the generator could not start on time because too many were in flight.
    pub skipped: u64,
    /// Deliveries seen at a simulator.
    pub arrived: u64,
    /// Accept to arrival, milliseconds, per channel in [`Channel::ALL`] order.
    pub latencies_ms: [Vec<u32>; 5],
    /// Intended send time to the accept answer, milliseconds (the API's latency as an
    /// open-loop client sees it, queueing in the generator included).
    pub api_ms: Vec<u32>,
}

#[derive(Debug, Default)]
struct Inner {
    open: HashMap<Uuid, Open>,
    arrived: HashSet<Uuid>,
    /// Arrivals read before the sender had read the accept answer of their notification (the
    /// pipeline can be that fast): delivery id to arrival time.
    early: HashMap<Uuid, i64>,
    phases: Vec<PhaseTally>,
    duplicates: u64,
    unknown: u64,
}

impl Inner {
    fn arrival(&mut self, id: Uuid, open: Open, arrived_at_ms: i64) {
        self.arrived.insert(id);
        let latency = (arrived_at_ms - open.accepted_ms).max(0);
        let tally = &mut self.phases[open.phase];
        tally.arrived += 1;
        tally.latencies_ms[index(open.channel)].push(u32::try_from(latency).unwrap_or(u32::MAX));
    }
}

/// One accepted notification: its event id, and the delivery id the router derives for it.
#[derive(Debug, Clone, Copy)]
pub struct Sent {
    pub event: Uuid,
    pub delivery: Uuid,
    pub channel: Channel,
}

/// Shared by the sender and the collector.
#[derive(Debug, Clone, Default)]
pub struct Tracker {
    inner: Arc<Mutex<Inner>>,
}

impl Tracker {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts a phase; returns its number.
    pub fn begin_phase(&self) -> usize {
        let mut inner = self.lock();
        inner.phases.push(PhaseTally::default());
        inner.phases.len() - 1
    }

    /// A notification of `phase` was accepted at `accepted_ms`, `api_ms` after it was due.
    pub fn accepted(&self, phase: usize, sent: Sent, accepted_ms: i64, api_ms: u32) {
        let Sent {
            event,
            delivery,
            channel,
        } = sent;
        let mut inner = self.lock();
        let open = Open {
            phase,
            event,
            channel,
            accepted_ms,
        };
        let tally = &mut inner.phases[phase];
        tally.accepted += 1;
        tally.api_ms.push(api_ms);
        match inner.early.remove(&delivery) {
            Some(arrived_at_ms) => inner.arrival(delivery, open, arrived_at_ms),
            None => {
                inner.open.insert(delivery, open);
            }
        }
    }

    /// `count` notifications of `phase` were refused or lost on the way to the API.
    pub fn failed(&self, phase: usize, count: u64) {
        self.lock().phases[phase].failed += count;
    }

    /// `count` notifications of `phase` were not sent: the generator was saturated.
    pub fn skipped(&self, phase: usize, count: u64) {
        self.lock().phases[phase].skipped += count;
    }

    /// Accepted deliveries not seen at a simulator yet.
    pub fn pending(&self) -> usize {
        self.lock().open.len()
    }

    /// Up to `limit` accepted deliveries not seen at a simulator: (event id, channel).
    pub fn missing(&self, limit: usize) -> Vec<(Uuid, Channel)> {
        let inner = self.lock();
        inner
            .open
            .values()
            .take(limit)
            .map(|o| (o.event, o.channel))
            .collect()
    }

    /// A copy of one phase's tally.
    pub fn phase(&self, phase: usize) -> PhaseTally {
        self.lock().phases[phase].clone()
    }

    /// Deliveries that arrived twice, and arrivals no notification of this run explains.
    pub fn anomalies(&self) -> (u64, u64) {
        let inner = self.lock();
        (inner.duplicates, inner.unknown + inner.early.len() as u64)
    }

    fn arrived(&self, entries: &[LedgerEntry]) {
        let mut inner = self.lock();
        for entry in entries {
            let Some(id) = entry.delivery_id.as_deref().and_then(|id| id.parse().ok()) else {
                inner.unknown += 1;
                continue;
            };
            match inner.open.remove(&id) {
                Some(open) => inner.arrival(id, open, entry.arrived_at_ms),
                None if inner.arrived.contains(&id) || inner.early.contains_key(&id) => {
                    inner.duplicates += 1;
                }
                None => {
                    inner.early.insert(id, entry.arrived_at_ms);
                }
            }
        }
    }
}

/// The fields of a ledger entry a run reads.
#[derive(Debug, Deserialize)]
struct LedgerEntry {
    delivery_id: Option<String>,
    arrived_at_ms: i64,
}

/// Empties every simulator's ledger, so a run sees only its own arrivals.
pub async fn clear_ledgers(client: &reqwest::Client, sims: &Simulators) -> anyhow::Result<()> {
    tell_each(sims, "clear the ledger of", |url| {
        client.delete(format!("{url}/_sim/ledger"))
    })
    .await
}

/// Makes every simulator wait `ms` before each answer (their `latency_ms` fault setting).
pub async fn set_latency(
    client: &reqwest::Client,
    sims: &Simulators,
    ms: u64,
) -> anyhow::Result<()> {
    tell_each(sims, "set the latency of", |url| {
        let faults = serde_json::json!({ "latency_ms": ms });
        client.put(format!("{url}/_sim/faults")).json(&faults)
    })
    .await
}

/// Sends one control request to every simulator; fails naming the first that refused.
async fn tell_each(
    sims: &Simulators,
    what: &str,
    request: impl Fn(&str) -> reqwest::RequestBuilder,
) -> anyhow::Result<()> {
    for (name, url) in sims {
        request(url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| anyhow::anyhow!("cannot {what} the {name} simulator: {e}"))?;
    }
    Ok(())
}

/// Polls every ledger every `every` until `stop` is set, feeding arrivals to `tracker`.
pub async fn collect(
    client: reqwest::Client,
    sims: Simulators,
    tracker: Tracker,
    every: Duration,
    stop: tokio_util::sync::CancellationToken,
) -> anyhow::Result<()> {
    let mut read: BTreeMap<String, usize> = sims.keys().map(|k| (k.clone(), 0)).collect();
    loop {
        for (name, url) in &sims {
            let from = read.get(name).copied().unwrap_or_default();
            let entries: Vec<LedgerEntry> = client
                .get(format!("{url}/_sim/ledger?from={from}"))
                .send()
                .await
                .and_then(reqwest::Response::error_for_status)
                .map_err(|e| anyhow::anyhow!("cannot read the {name} simulator's ledger: {e}"))?
                .json()
                .await?;
            read.insert(name.clone(), from + entries.len());
            tracker.arrived(&entries);
        }
        tokio::select! {
            () = stop.cancelled() => return Ok(()),
            () = tokio::time::sleep(every) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: Uuid, at: i64) -> LedgerEntry {
        LedgerEntry {
            delivery_id: Some(id.to_string()),
            arrived_at_ms: at,
        }
    }

    #[test]
    fn arrivals_are_matched_counted_once_and_timed_from_the_accept() {
        let tracker = Tracker::default();
        let phase = tracker.begin_phase();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let sent = |delivery, channel| Sent {
            event: Uuid::new_v4(),
            delivery,
            channel,
        };
        tracker.accepted(phase, sent(a, Channel::Sms), 1_000, 3);
        tracker.accepted(phase, sent(b, Channel::Email), 1_010, 4);
        assert_eq!(tracker.pending(), 2);
        tracker.arrived(&[
            entry(a, 1_025),
            entry(a, 1_030),
            entry(Uuid::new_v4(), 1_040),
        ]);
        let tally = tracker.phase(phase);
        assert_eq!((tally.accepted, tally.arrived), (2, 1));
        assert_eq!(tally.latencies_ms[index(Channel::Sms)], [25]);
        assert!(tally.latencies_ms[index(Channel::Email)].is_empty());
        assert_eq!(tracker.pending(), 1);
        assert_eq!(tracker.anomalies(), (1, 1), "one repeat, one stranger");
    }

    #[test]
    fn an_arrival_read_before_its_accept_answer_is_matched_when_the_answer_comes() {
        let tracker = Tracker::default();
        let phase = tracker.begin_phase();
        let id = Uuid::new_v4();
        tracker.arrived(&[entry(id, 2_004)]);
        assert_eq!(
            tracker.anomalies(),
            (0, 1),
            "unexplained until the answer is read"
        );
        let sent = Sent {
            event: Uuid::new_v4(),
            delivery: id,
            channel: Channel::Fcm,
        };
        tracker.accepted(phase, sent, 2_000, 1);
        assert_eq!(tracker.pending(), 0);
        assert_eq!(tracker.phase(phase).latencies_ms[index(Channel::Fcm)], [4]);
        assert_eq!(tracker.anomalies(), (0, 0));
        tracker.arrived(&[entry(id, 2_050)]);
        assert_eq!(
            tracker.anomalies(),
            (1, 0),
            "a second arrival is a duplicate"
        );
    }
}
