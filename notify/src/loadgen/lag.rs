//! Consumer lag over the run: for the router's group and each dispatcher lane's group, the
//! records of its topic not yet committed (high watermark − committed offset, summed over the
//! partitions), read every two seconds.
//!
//! Each group is read by a client of its own that carries the group's id but never subscribes,
//! so it never joins the group, takes no partition and commits nothing: it only asks the
//! coordinator for the group's committed offsets. A partition the group never committed counts
//! from its low watermark. Lag that cannot be read is left out of that sample, never guessed.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use notify_common::topics::Topics;
use notify_common::{kafka, Config};
use notify_schemas::Channel;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;

const TIMEOUT: Duration = Duration::from_secs(2);

/// One consumer group and its topic.
struct Group {
    label: String,
    topic: String,
    partitions: Vec<i32>,
    client: BaseConsumer,
}

/// Reads the lag of every group a load run drives.
pub struct LagReader {
    groups: Vec<Group>,
}

impl std::fmt::Debug for LagReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let labels: Vec<&str> = self.groups.iter().map(|g| g.label.as_str()).collect();
        f.debug_struct("LagReader")
            .field("groups", &labels)
            .finish()
    }
}

/// Lag samples: (seconds on the run's clock, records behind by group).
pub type LagSeries = Vec<(f64, BTreeMap<String, i64>)>;

impl LagReader {
    /// The router's group over `notify.requests` and, for each of `channels`, the dispatcher's
    /// main and bulk lane groups. Blocking (metadata requests): call it off the async workers.
    pub fn new(config: &Config, channels: &[Channel]) -> anyhow::Result<Self> {
        let topics = Topics::new(&config.kafka.topic_prefix);
        let mut wanted = vec![(
            "router".to_owned(),
            config.router.group_id.clone(),
            topics.requests(),
        )];
        for channel in channels {
            let group = notify_dispatchers::stage::group_id(config, *channel);
            let name = channel.as_str();
            wanted.push((
                format!("dispatch-{name}"),
                group.clone(),
                topics.deliveries(name),
            ));
            wanted.push((
                format!("dispatch-{name}-bulk"),
                format!("{group}-bulk"),
                topics.deliveries_bulk(name),
            ));
        }
        let mut groups = Vec::new();
        for (label, group, topic) in wanted {
            let mut settings = kafka::consumer_config(&config.kafka, "loadgen-lag", &group);
            // never subscribes, and nothing reads its statistics: librdkafka's default context
            // would print each report at the end of the run
            settings
                .set("enable.auto.commit", "false")
                .set("statistics.interval.ms", "0");
            let client: BaseConsumer = settings
                .create()
                .with_context(|| format!("a lag reader for group {group}"))?;
            let metadata = client
                .fetch_metadata(Some(&topic), TIMEOUT)
                .with_context(|| format!("the partitions of {topic}"))?;
            let partitions = metadata
                .topics()
                .iter()
                .flat_map(|t| t.partitions().iter().map(|p| p.id()))
                .collect();
            groups.push(Group {
                label,
                topic,
                partitions,
                client,
            });
        }
        Ok(Self { groups })
    }

    /// Records behind, by group. Blocking.
    pub fn read(&self) -> BTreeMap<String, i64> {
        let mut lag = BTreeMap::new();
        for group in &self.groups {
            if let Some(behind) = group.behind() {
                lag.insert(group.label.clone(), behind);
            }
        }
        lag
    }
}

impl Group {
    fn behind(&self) -> Option<i64> {
        let mut list = TopicPartitionList::new();
        for partition in &self.partitions {
            list.add_partition(&self.topic, *partition);
        }
        let committed = self.client.committed_offsets(list, TIMEOUT).ok()?;
        let mut total = 0;
        for partition in &self.partitions {
            let (low, high) = self
                .client
                .fetch_watermarks(&self.topic, *partition, TIMEOUT)
                .ok()?;
            let done = committed
                .find_partition(&self.topic, *partition)
                .and_then(|p| match p.offset() {
                    Offset::Offset(at) => Some(at),
                    _ => None,
                });
            total += records_behind(low, high, done);
        }
        Some(total)
    }
}

/// Records of one partition the group has not committed past.
fn records_behind(low: i64, high: i64, committed: Option<i64>) -> i64 {
    (high - committed.unwrap_or(low).max(low)).max(0)
}

/// Reads `reader` every `every` into `series`, timed by `now`, until `stop`.
pub async fn run(
    reader: Arc<LagReader>,
    series: Arc<Mutex<LagSeries>>,
    now: impl Fn() -> f64 + Send + 'static,
    every: Duration,
    stop: CancellationToken,
) {
    loop {
        let at = now();
        let reading = reader.clone();
        if let Ok(lag) = tokio::task::spawn_blocking(move || reading.read()).await {
            series
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((at, lag));
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
    }
}

/// The most records each group was behind in the samples between `from` and `to`.
pub fn peak(series: &LagSeries, from: f64, to: f64) -> BTreeMap<String, i64> {
    let mut peak: BTreeMap<String, i64> = BTreeMap::new();
    for (_, lag) in series.iter().filter(|(at, _)| *at >= from && *at <= to) {
        for (group, behind) in lag {
            let entry = peak.entry(group.clone()).or_default();
            *entry = (*entry).max(*behind);
        }
    }
    peak
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partition_is_behind_by_what_its_group_has_not_committed() {
        assert_eq!(records_behind(0, 100, Some(40)), 60);
        assert_eq!(records_behind(0, 100, Some(100)), 0);
        // never committed: everything still in the log
        assert_eq!(records_behind(20, 100, None), 80);
        // committed before the log's start (records deleted since)
        assert_eq!(records_behind(20, 100, Some(5)), 80);
    }

    #[test]
    fn the_peak_is_taken_within_the_window_only() {
        let sample = |at: f64, router: i64| (at, BTreeMap::from([("router".to_owned(), router)]));
        let series = vec![
            sample(1.0, 900),
            sample(5.0, 30),
            sample(6.0, 70),
            sample(9.0, 5),
        ];
        assert_eq!(peak(&series, 4.0, 8.0)["router"], 70);
        assert!(peak(&series, 10.0, 12.0).is_empty());
    }
}
