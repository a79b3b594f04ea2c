//! The per-channel summary of a demo run, from the observer's tally, the accept times and the
//! simulators' ledgers. Pure: no I/O, no clock.
//!
//! Latency is accept→provider: the simulator's arrival time of a delivery minus the time its
//! event's 202 reached the sender, both on this machine's clock.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;

use notify_schemas::{Channel, Status};
use notify_sim::Accepted as LedgerEntry;

use crate::observe::Tally;
use crate::send::Accepted;

/// Outcomes of one channel (or, with `channel` `None`, of whole requests).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChannelSummary {
    /// The channel; `None` for outcomes of a whole request (deferred, expired).
    pub channel: Option<Channel>,
    /// Accepted by a provider.
    pub delivered: u64,
    /// Suppressed, by reason.
    pub suppressed: BTreeMap<String, u64>,
    /// Deferred (quiet hours, `send_at`, rate limits): waiting in the schedule.
    pub deferred: u64,
    /// Failed for good (invalid token, bad address) or expired.
    pub failed: u64,
    /// Failures and dead letters by reason.
    pub failure_reasons: BTreeMap<String, u64>,
    /// Retries scheduled.
    pub retried: u64,
    /// Dead-lettered.
    pub dead_lettered: u64,
    /// Accept→provider latencies of the delivered ones, sorted, in milliseconds.
    pub latencies_ms: Vec<i64>,
    /// The same, of the bulk lane's deliveries only.
    pub bulk_latencies_ms: Vec<i64>,
}

impl ChannelSummary {
    /// The `q`-quantile (0..=1) of the latencies, nearest rank.
    pub fn latency_quantile(&self, q: f64) -> Option<i64> {
        quantile(&self.latencies_ms, q)
    }
}

/// The `q`-quantile (0..=1) of sorted `values`, nearest rank.
pub fn quantile(values: &[i64], q: f64) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    let rank = ((q * values.len() as f64).ceil() as usize).max(1);
    values.get(rank.min(values.len()) - 1).copied()
}

/// The whole run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Notifications the API accepted.
    pub accepted: usize,
    /// Of those, how many reached a final outcome.
    pub finished: usize,
    /// One row per channel in [`Channel::ALL`] order, then whole-request outcomes.
    pub channels: Vec<ChannelSummary>,
    /// Ledger entries repeating a delivery id already accepted by a provider.
    pub duplicates: usize,
    /// Deliveries reported sent that no simulator ledger holds.
    pub missing_from_ledgers: usize,
    /// Ledger entries of this run's deliveries, by provider name.
    pub by_provider: BTreeMap<String, usize>,
    /// Provider receipts, tracked opens and clicks of this run's deliveries, by
    /// `<channel> <receipt>`.
    pub receipts: BTreeMap<String, usize>,
}

/// Builds the summary of the events in `accepted`.
pub fn summarize(tally: &Tally, accepted: &Accepted, ledgers: &[LedgerEntry]) -> Summary {
    let run: HashSet<String> = tally
        .deliveries
        .iter()
        .filter(|(_, d)| accepted.contains_key(&d.event_id))
        .map(|(id, _)| id.to_string())
        .collect();
    let mut arrivals: HashMap<String, i64> = HashMap::new();
    let mut duplicates = 0;
    let mut by_provider = BTreeMap::new();
    for entry in ledgers {
        let Some(id) = &entry.delivery_id else {
            continue;
        };
        // a repeat is a duplicate whichever run it belongs to; latency counts the first
        match arrivals.entry(id.clone()) {
            std::collections::hash_map::Entry::Occupied(_) => duplicates += 1,
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(entry.arrived_at_ms);
            }
        }
        if run.contains(id) {
            *by_provider.entry(entry.provider.clone()).or_insert(0) += 1;
        }
    }
    let index = |c: Channel| Channel::ALL.iter().position(|x| *x == c);
    let mut missing = 0;
    let mut summaries: HashMap<Option<Channel>, ChannelSummary> = HashMap::new();
    for (id, delivery) in &tally.deliveries {
        let Some(accepted_at) = accepted.get(&delivery.event_id) else {
            continue;
        };
        let s = summaries
            .entry(Some(delivery.channel))
            .or_insert_with(|| ChannelSummary {
                channel: Some(delivery.channel),
                ..ChannelSummary::default()
            });
        if let Some((Status::Failed | Status::Expired | Status::DeadLettered, reason, _)) =
            &delivery.last
        {
            let reason = reason.clone().unwrap_or_else(|| "unknown".into());
            *s.failure_reasons.entry(reason).or_insert(0) += 1;
        }
        match delivery.last.as_ref().map(|(status, _, _)| *status) {
            Some(Status::Sent) => {
                s.delivered += 1;
                match arrivals.get(&id.to_string()) {
                    Some(arrived) => {
                        s.latencies_ms.push(arrived - accepted_at);
                        if delivery.bulk {
                            s.bulk_latencies_ms.push(arrived - accepted_at);
                        }
                    }
                    None => missing += 1,
                }
            }
            Some(Status::Failed | Status::Expired) => s.failed += 1,
            Some(Status::DeadLettered) => s.dead_lettered += 1,
            _ => {}
        }
    }
    let retried: HashSet<_> = tally
        .retries
        .iter()
        .filter(|(id, _, _)| {
            tally
                .deliveries
                .get(id)
                .is_some_and(|d| accepted.contains_key(&d.event_id))
        })
        .collect();
    for (_, _, channel) in retried {
        summaries
            .entry(Some(*channel))
            .or_insert_with(|| ChannelSummary {
                channel: Some(*channel),
                ..ChannelSummary::default()
            })
            .retried += 1;
    }
    for outcome in &tally.router_outcomes {
        if !accepted.contains_key(&outcome.event_id) {
            continue;
        }
        let channel = outcome.channel;
        let s = summaries.entry(channel).or_insert_with(|| ChannelSummary {
            channel,
            ..ChannelSummary::default()
        });
        match outcome.status {
            Status::Suppressed => *s.suppressed.entry(outcome.reason.clone()).or_insert(0) += 1,
            Status::Scheduled => s.deferred += 1,
            Status::Expired => s.failed += 1,
            _ => {}
        }
    }
    let mut channels: Vec<ChannelSummary> = summaries.into_values().collect();
    for s in &mut channels {
        s.latencies_ms.sort_unstable();
        s.bulk_latencies_ms.sort_unstable();
    }
    // channels in `Channel::ALL` order, whole-request outcomes last
    channels.sort_by_key(|s| s.channel.and_then(index).unwrap_or(usize::MAX));
    let finished = accepted.keys().filter(|e| tally.finished(e)).count();
    let mut receipts = BTreeMap::new();
    let engaged = tally.engaged.iter().map(|(id, receipt)| (id, receipt));
    for (id, receipt) in tally.receipts.iter().chain(engaged) {
        let Some(delivery) = tally.deliveries.get(id) else {
            continue;
        };
        if accepted.contains_key(&delivery.event_id) {
            let key = format!("{} {}", delivery.channel.as_str(), receipt.as_str());
            *receipts.entry(key).or_insert(0) += 1;
        }
    }
    Summary {
        receipts,
        accepted: accepted.len(),
        finished,
        channels,
        duplicates,
        missing_from_ledgers: missing,
        by_provider,
    }
}

impl Summary {
    /// The summary as a text table with a few lines of totals below it.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<10} {:>9}  {:<30} {:>8} {:>6} {:>7} {:>13} {:>7} {:>7}   {:>13}",
            "channel",
            "delivered",
            "suppressed (reason)",
            "deferred",
            "failed",
            "retried",
            "dead-lettered",
            "p50 ms",
            "p99 ms",
            "bulk p50/p99"
        );
        for s in &self.channels {
            let suppressed = if s.suppressed.is_empty() {
                "-".to_owned()
            } else {
                s.suppressed
                    .iter()
                    .map(|(reason, n)| format!("{reason} {n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let show = |values: &[i64], q| {
                quantile(values, q).map_or_else(|| "-".to_owned(), |v| v.to_string())
            };
            let bulk = if s.bulk_latencies_ms.is_empty() {
                "-".to_owned()
            } else {
                format!(
                    "{}/{}",
                    show(&s.bulk_latencies_ms, 0.5),
                    show(&s.bulk_latencies_ms, 0.99)
                )
            };
            let _ = writeln!(
                out,
                "{:<10} {:>9}  {:<30} {:>8} {:>6} {:>7} {:>13} {:>7} {:>7}   {:>13}",
                s.channel.map_or("(request)", Channel::as_str),
                s.delivered,
                suppressed,
                s.deferred,
                s.failed,
                s.retried,
                s.dead_lettered,
                show(&s.latencies_ms, 0.5),
                show(&s.latencies_ms, 0.99),
                bulk,
            );
        }
        for s in &self.channels {
            if !s.failure_reasons.is_empty() {
                let reasons = counts(&s.failure_reasons);
                let channel = s.channel.map_or("(request)", Channel::as_str);
                let _ = writeln!(out, "{channel} failures: {reasons}");
            }
        }
        let providers = counts(&self.by_provider);
        let _ = writeln!(
            out,
            "\naccepted {}, finished {}, provider ledgers: {}; duplicates at providers: {}, \
             sent but missing from ledgers: {}",
            self.accepted,
            self.finished,
            if providers.is_empty() {
                "-"
            } else {
                &providers
            },
            self.duplicates,
            self.missing_from_ledgers
        );
        let (engaged, receipts): (BTreeMap<_, _>, BTreeMap<_, _>) = self
            .receipts
            .iter()
            .map(|(key, n)| (key.clone(), *n))
            .partition(|(key, _)| key.ends_with(" opened") || key.ends_with(" clicked"));
        let (receipts, engaged) = (counts(&receipts), counts(&engaged));
        let _ = writeln!(
            out,
            "provider receipts (after the send): {}; recipients (tracked links): {}",
            if receipts.is_empty() { "-" } else { &receipts },
            if engaged.is_empty() { "-" } else { &engaged }
        );
        out
    }
}

/// `key n, key n, ...` in key order, the form of the summary's breakdown lines.
fn counts<N: std::fmt::Display>(by_key: &BTreeMap<String, N>) -> String {
    by_key
        .iter()
        .map(|(key, n)| format!("{key} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use notify_schemas::{samples, DeliveryStatus, Receipt};

    use super::*;

    fn ledger_entry(delivery_id: &str, arrived_at_ms: i64) -> LedgerEntry {
        LedgerEntry {
            provider: "apns".into(),
            delivery_id: Some(delivery_id.into()),
            recipient: "token".into(),
            message_id: "m".into(),
            arrived_at_ms,
            summary: serde_json::Value::Null,
        }
    }

    fn status(delivery: &notify_schemas::Delivery, status: Status) -> DeliveryStatus {
        DeliveryStatus {
            delivery_id: Some(delivery.delivery_id),
            event_id: delivery.event_id,
            channel: Some(delivery.channel),
            status,
            reason: None,
            ..samples::status_sent()
        }
    }

    #[test]
    fn an_event_finishes_when_every_delivery_seen_is_final() {
        let delivery = samples::full_push_delivery();
        let mut tally = Tally::default();
        tally.note_delivery(&delivery);
        assert!(!tally.finished(&delivery.event_id));
        tally.note_status(status(&delivery, Status::Retrying));
        assert!(!tally.finished(&delivery.event_id), "a retry is not final");
        tally.note_status(status(&delivery, Status::Sent));
        assert!(tally.finished(&delivery.event_id));
        // a late copy of the retry status does not reopen it
        tally.note_status(status(&delivery, Status::Retrying));
        assert!(tally.finished(&delivery.event_id));
    }

    #[test]
    fn latency_duplicates_and_missing_deliveries_are_counted() {
        let delivery = samples::full_push_delivery();
        let mut other = samples::full_push_delivery();
        other.delivery_id = notify_schemas::Uuid::new_v4();
        let mut tally = Tally::default();
        for d in [&delivery, &other] {
            tally.note_delivery(d);
            tally.note_status(status(d, Status::Sent));
        }
        let accepted = Accepted::from([(delivery.event_id, 1_000)]);
        let id = delivery.delivery_id.to_string();
        let ledgers = [ledger_entry(&id, 1_250), ledger_entry(&id, 1_300)];
        let summary = summarize(&tally, &accepted, &ledgers);
        assert_eq!(summary.duplicates, 1);
        assert_eq!(
            summary.missing_from_ledgers, 1,
            "the other delivery never arrived"
        );
        let row = &summary.channels[0];
        assert_eq!(row.delivered, 2);
        assert_eq!(row.latency_quantile(0.5), Some(250));
        assert_eq!(summary.by_provider.get("apns"), Some(&2));
    }

    #[test]
    fn receipts_opens_and_clicks_are_counted_apart_from_the_send() {
        let delivery = samples::full_push_delivery();
        let mut tally = Tally::default();
        tally.note_delivery(&delivery);
        tally.note_status(DeliveryStatus {
            provider: Some("apns".into()),
            ..status(&delivery, Status::Sent)
        });
        assert_eq!(
            tally.awaiting_receipts([&delivery.event_id], &["twilio"]),
            0
        );
        let mut sent = status(&delivery, Status::Sent);
        sent.provider = Some("twilio".into());
        let mut via_twilio = Tally::default();
        via_twilio.note_delivery(&delivery);
        via_twilio.note_status(sent);
        assert_eq!(
            via_twilio.awaiting_receipts([&delivery.event_id], &["twilio"]),
            1
        );
        for tally in [&mut tally, &mut via_twilio] {
            // an undelivered receipt says FAILED to old readers; the send stays sent
            tally.note_status(DeliveryStatus {
                receipt: Some(notify_schemas::Receipt::Undelivered),
                stage: notify_schemas::Stage::Tracker,
                ..status(&delivery, Status::Failed)
            });
        }
        assert_eq!(
            via_twilio.awaiting_receipts([&delivery.event_id], &["twilio"]),
            0
        );
        // opens and clicks are counted beside the provider's receipt, which they do not replace
        for receipt in [Receipt::Opened, Receipt::Opened, Receipt::Clicked] {
            tally.note_status(DeliveryStatus {
                receipt: Some(receipt),
                stage: notify_schemas::Stage::Tracker,
                ..status(&delivery, receipt.status())
            });
        }
        let accepted = Accepted::from([(delivery.event_id, 1_000)]);
        let summary = summarize(&tally, &accepted, &[]);
        assert_eq!(summary.channels[0].delivered, 1);
        assert_eq!(summary.channels[0].failed, 0);
        assert_eq!(summary.receipts.get("apns undelivered"), Some(&1));
        assert!(summary.render().contains(
            "provider receipts (after the send): apns undelivered 1; \
             recipients (tracked links): apns clicked 1, apns opened 1"
        ));
    }
}
