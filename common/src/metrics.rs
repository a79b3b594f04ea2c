//! Metrics every stage exports the same way: consumer lag, end-to-end and per-hop latency.
//!
//! Guarantees: consumer lag comes from librdkafka's own statistics (every
//! [`STATS_INTERVAL_MS`]), per group, topic and partition, as records between the group's
//! committed offset and the partition's high watermark; a partition this process does not own
//! (any more) reads 0 here, so a sum over every process of a group counts each partition once.
//! Latency histograms have fixed buckets ([`LATENCY_BUCKETS`], set in `telemetry`).

use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance};
use rdkafka::{ClientContext, Statistics};

use crate::rebootstrap::Rebootstrap;

/// Records behind the high watermark, labels `group`, `topic`, `partition`.
pub const CONSUMER_LAG: &str = "notify_consumer_lag";
/// Seconds from a request's `created_at` to its provider's acceptance, labels `channel`,
/// `priority`.
pub const END_TO_END_SECONDS: &str = "notify_end_to_end_seconds";
/// Seconds one hop took, labels `hop` (`accept_to_routed`, `routed_to_dispatched`,
/// `dispatched_to_ack`) and `channel`.
pub const HOP_SECONDS: &str = "notify_hop_seconds";

/// Kafka header of a delivery record (and of its retries): when its request was made, or came
/// due if it was deferred, in milliseconds since the epoch; what the end-to-end latency is
/// measured from.
pub const REQUESTED_AT_HEADER: &str = "notify-requested-at";

/// How often librdkafka reports a consumer's statistics.
pub const STATS_INTERVAL_MS: u32 = 5_000;

/// Bucket bounds of every latency histogram, in seconds: 5 ms to 10 min.
pub const LATENCY_BUCKETS: [f64; 16] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
];

/// Records `seconds` (from millisecond timestamps) for `hop` of a `channel` delivery; a
/// negative span (clocks of two machines) counts as 0.
pub fn hop(hop: &'static str, channel: &'static str, from_ms: i64, to_ms: i64) {
    metrics::histogram!(HOP_SECONDS, "hop" => hop, "channel" => channel)
        .record(span_seconds(from_ms, to_ms));
}

/// Records a delivery's whole way, from its request's `created_at` to `acked_ms`.
pub fn end_to_end(channel: &'static str, priority: &'static str, requested_ms: i64, acked_ms: i64) {
    metrics::histogram!(END_TO_END_SECONDS, "channel" => channel, "priority" => priority)
        .record(span_seconds(requested_ms, acked_ms));
}

#[allow(clippy::cast_precision_loss)]
fn span_seconds(from_ms: i64, to_ms: i64) -> f64 {
    to_ms.saturating_sub(from_ms).max(0) as f64 / 1_000.0
}

/// Sets [`CONSUMER_LAG`] for each partition `stats` report of `group`, and notes whether the
/// consumer is in its group ([`crate::group_watch`]).
pub fn record_lag(group: &str, stats: &Statistics) {
    crate::group_watch::observe(group, stats);
    for (topic, of_topic) in &stats.topics {
        for (id, partition) in &of_topic.partitions {
            // -1 is librdkafka's "unassigned" partition, not a partition of the topic
            if *id < 0 {
                continue;
            }
            // a partition given up keeps its last figures in the statistics; it is not ours
            let lag = if partition.desired {
                partition.consumer_lag.max(0)
            } else {
                0
            };
            #[allow(clippy::cast_precision_loss)]
            let lag = lag as f64;
            metrics::gauge!(CONSUMER_LAG, "group" => group.to_owned(), "topic" => topic.clone(), "partition" => id.to_string())
                .set(lag);
        }
    }
}

/// A consumer context that exports its group's lag from librdkafka's statistics, gives the
/// client its bootstrap servers back should it lose every broker ([`Rebootstrap`]), and leaves
/// rebalancing to librdkafka.
#[derive(Debug)]
pub struct LagContext {
    group: String,
    rebootstrap: Rebootstrap,
}

impl LagContext {
    /// Exports lag under `group`, for the client `config` builds.
    pub fn new(config: &rdkafka::ClientConfig, group: &str) -> Self {
        Self {
            group: group.to_owned(),
            rebootstrap: Rebootstrap::new(config, group),
        }
    }

    /// The repair of the client; attach it once the client is built.
    pub fn rebootstrap(&self) -> &Rebootstrap {
        &self.rebootstrap
    }
}

impl ClientContext for LagContext {
    fn stats(&self, statistics: Statistics) {
        record_lag(&self.group, &statistics);
        self.rebootstrap.observe(&statistics);
    }

    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, log_message: &str) {
        crate::kafka::log_for(&self.group, level, fac, log_message);
    }
}

impl ConsumerContext for LagContext {
    /// Logs each change of the assignment, so a consumer that stops reading (or never rejoins
    /// after the broker was away) shows in its stage's log.
    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(list) => {
                tracing::info!(group = %self.group, partitions = list.count(), "partitions assigned");
            }
            Rebalance::Revoke(list) => {
                tracing::info!(group = %self.group, partitions = list.count(), "partitions revoked");
            }
            Rebalance::Error(err) => {
                tracing::warn!(group = %self.group, error = %err, "rebalance error");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use metrics_exporter_prometheus::PrometheusBuilder;

    use super::*;

    #[test]
    fn lag_is_exported_per_partition_and_an_unowned_partition_reads_zero() {
        // the shape of librdkafka's statistics JSON (the fields rdkafka requires)
        let zero = |names: &[&str]| -> serde_json::Value {
            names
                .iter()
                .map(|n| ((*n).to_owned(), serde_json::json!(0)))
                .collect()
        };
        let window = zero(&[
            "min",
            "max",
            "avg",
            "sum",
            "stddev",
            "p50",
            "p75",
            "p90",
            "p95",
            "p99",
            "p99_99",
            "outofrange",
            "hdrsize",
            "cnt",
        ]);
        let mut partitions = serde_json::Map::new();
        for (id, desired, lag) in [(0, true, 42), (1, true, -1), (2, false, 9), (-1, true, 7)] {
            partitions.insert(id.to_string(), partition(id, desired, lag));
        }
        let mut topic = zero(&["age", "metadata_age"]);
        topic["topic"] = "p.requests".into();
        topic["batchsize"] = window.clone();
        topic["batchcnt"] = window;
        topic["partitions"] = partitions.into();
        let mut json = zero(&[
            "ts",
            "time",
            "age",
            "replyq",
            "msg_cnt",
            "msg_size",
            "msg_max",
            "msg_size_max",
            "simple_cnt",
            "metadata_cache_cnt",
            "tx",
            "tx_bytes",
            "rx",
            "rx_bytes",
            "txmsgs",
            "txmsg_bytes",
            "rxmsgs",
            "rxmsg_bytes",
        ]);
        json["name"] = "c".into();
        json["client_id"] = "c".into();
        json["type"] = "consumer".into();
        json["brokers"] = serde_json::json!({});
        json["topics"] = serde_json::json!({ "p.requests": topic });
        let stats: Statistics = serde_json::from_value(json).expect("statistics");
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || record_lag("notify-router", &stats));
        let text = handle.render();
        assert!(text.contains(
            r#"notify_consumer_lag{group="notify-router",topic="p.requests",partition="0"} 42"#
        ));
        assert!(text.contains(
            r#"notify_consumer_lag{group="notify-router",topic="p.requests",partition="1"} 0"#
        ));
        assert!(text.contains(
            r#"notify_consumer_lag{group="notify-router",topic="p.requests",partition="2"} 0"#
        ));
        assert!(!text.contains(r#"partition="-1""#), "{text}");
    }

    fn partition(id: i32, desired: bool, lag: i64) -> serde_json::Value {
        let mut p: serde_json::Value = [
            "broker",
            "leader",
            "msgq_cnt",
            "msgq_bytes",
            "xmit_msgq_cnt",
            "xmit_msgq_bytes",
            "fetchq_cnt",
            "fetchq_size",
            "query_offset",
            "next_offset",
            "app_offset",
            "stored_offset",
            "committed_offset",
            "eof_offset",
            "lo_offset",
            "txmsgs",
            "txbytes",
            "rxmsgs",
            "rxbytes",
            "msgs",
            "rx_ver_drops",
            "msgs_inflight",
            "next_ack_seq",
            "next_err_seq",
            "acked_msgid",
        ]
        .iter()
        .map(|n| ((*n).to_owned(), serde_json::json!(0)))
        .collect();
        p["partition"] = id.into();
        p["desired"] = desired.into();
        p["unknown"] = false.into();
        p["fetch_state"] = "active".into();
        p["hi_offset"] = 42.into();
        p["ls_offset"] = 42.into();
        p["consumer_lag"] = lag.into();
        p["consumer_lag_stored"] = lag.into();
        p
    }
}
