//! The consumer context of the dispatchers and the retry mover: drains a partition before it is
//! given up.
//!
//! Guarantees: on revoke (rebalance, unsubscribe, shutdown), new work on the revoked partitions
//! stops, the records already taken get up to the drain deadline (shorter than the session
//! timeout, so the group does not evict us meanwhile) to reach a durable outcome, and the
//! offsets of what finished are stored and committed synchronously before the partitions are
//! released; so the next owner starts exactly after the finished prefix (A-13: drain, then
//! fence). Records still unfinished at the deadline are left to the next owner, which
//! recognises what was already sent by the notification log.
//!
//! A partition assigned starts unpaused. librdkafka keeps a partition's pause flag when the
//! partition is revoked and later assigned back to the same consumer, while the lanes and the
//! retry movers forget their pauses with the assignment; so every partition assigned is resumed
//! right after the assignment, and whoever wants it paused pauses it again.
//!
//! The callback runs inside the consumer's poll and blocks it while draining; on a
//! multi-thread runtime it hands its worker's other tasks off first (`block_in_place`), so the
//! records being drained keep running. On a current-thread runtime they cannot, and the drain
//! waits out its deadline: run the stage on a multi-thread runtime.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use notify_common::metrics::LagContext;
use notify_common::rebootstrap::Rebootstrap;

use crate::engine::inflight::{Inflight, TopicPartition};
use crate::metrics as m;

/// Context of a consumer whose records are tracked in an [`Inflight`].
#[derive(Debug)]
pub struct DrainContext {
    inflight: Arc<Inflight>,
    drain_deadline: Duration,
    label: &'static str,
    /// The lag export, the broker repair and the group on log lines, as every stage consumer.
    lag: LagContext,
}

impl DrainContext {
    /// Drains `inflight` within `drain_deadline` on revoke; `label` is the metric's channel
    /// label (`retry` for the mover), `group` the consumer group its lag is exported under;
    /// `config` builds the client (its bootstrap servers are given back should it lose every
    /// broker: [`Rebootstrap`]).
    pub fn new(
        inflight: Arc<Inflight>,
        drain_deadline: Duration,
        label: &'static str,
        group: &str,
        config: &rdkafka::ClientConfig,
    ) -> Self {
        Self {
            inflight,
            drain_deadline,
            label,
            lag: LagContext::new(config, group),
        }
    }

    /// The repair of the client; attach it once the client is built.
    pub fn rebootstrap(&self) -> &Rebootstrap {
        self.lag.rebootstrap()
    }
}

impl ClientContext for DrainContext {
    fn stats(&self, statistics: rdkafka::Statistics) {
        self.lag.stats(statistics);
    }

    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, log_message: &str) {
        self.lag.log(level, fac, log_message);
    }
}

fn partitions(list: &TopicPartitionList) -> Vec<TopicPartition> {
    list.elements()
        .iter()
        .map(|e| (e.topic().to_owned(), e.partition()))
        .collect()
}

/// Runs a blocking `f` without stalling the tasks queued on this worker thread.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

impl ConsumerContext for DrainContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(list) => {
                let assigned = partitions(list);
                tracing::info!(
                    stage = self.label,
                    partitions = assigned.len(),
                    "partitions assigned"
                );
                self.inflight.assign(assigned);
            }
            Rebalance::Revoke(list) => {
                let revoked = partitions(list);
                let (offsets, unfinished) =
                    blocking(|| self.inflight.revoke(&revoked, self.drain_deadline));
                if unfinished > 0 {
                    metrics::counter!(m::DRAIN_ABANDONED_TOTAL, "channel" => self.label)
                        .increment(unfinished as u64);
                    tracing::warn!(
                        stage = self.label,
                        unfinished,
                        "drain deadline passed, the next owner repeats the unfinished records"
                    );
                }
                let mut commit = TopicPartitionList::new();
                for ((topic, partition), offset) in offsets {
                    if let Err(err) =
                        commit.add_partition_offset(&topic, partition, Offset::Offset(offset))
                    {
                        tracing::warn!(error = %err, "offset not added to the revoke commit");
                    }
                }
                if consumer.assignment_lost() {
                    // the session ended (the coordinator was unreachable for a session timeout):
                    // the group has already moved the partitions on, and a synchronous commit
                    // now waits for a coordinator that may stay away, inside this callback, so
                    // the consumer never polls again to rejoin (seen in the Kafka outage test:
                    // one lane stalled for minutes after the broker was back). Not committed;
                    // the next owner repeats from the last committed offset, and the log
                    // recognises what was already sent.
                    tracing::warn!(
                        stage = self.label,
                        partitions = revoked.len(),
                        "assignment lost, offsets not committed"
                    );
                } else if commit.count() > 0 {
                    // store as well, so a commit failing here is retried by the close commit
                    let _ = consumer.store_offsets(&commit);
                    if let Err(err) = consumer.commit(&commit, CommitMode::Sync) {
                        tracing::warn!(stage = self.label, error = %err, "commit on revoke failed");
                    }
                }
                tracing::info!(
                    stage = self.label,
                    partitions = revoked.len(),
                    "partitions revoked"
                );
            }
            Rebalance::Error(err) => {
                tracing::warn!(stage = self.label, error = %err, "rebalance error");
            }
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(list) = rebalance {
            if list.count() > 0 {
                if let Err(err) = consumer.resume(list) {
                    tracing::warn!(stage = self.label, error = %err, "assigned partitions not resumed");
                }
            }
        }
    }
}
