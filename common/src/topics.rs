//! The topic layout of the pipeline, derived from configuration in one place so that every
//! stage, `notify topics create` and the Helm chart agree on names and partition counts.

use crate::config::KafkaConfig;

/// Delivery channels, each with its own deliveries topic and dispatcher consumer group.
pub const CHANNELS: [&str; 5] = ["apns", "fcm", "webpush", "sms", "email"];

/// Retry delay tiers as (topic suffix, delay in milliseconds). A retried delivery goes to the
/// shortest tier whose delay covers its wait (the longest tier when none does) and is moved back
/// to its channel at its `not_before`, or after the tier's delay if that comes first (then it
/// re-enters the fitting tier for the rest of its wait). Since every record of a tier is due no
/// later than its append time plus the tier's delay, a record that must wait long never holds up
/// the records behind it for more than that delay.
pub const RETRY_TIERS: [(&str, u64); 4] = [
    ("5s", 5_000),
    ("1m", 60_000),
    ("10m", 600_000),
    ("1h", 3_600_000),
];

const DAY_MS: u64 = 24 * 60 * 60 * 1000;

/// One topic as `notify topics create` makes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    /// Full topic name including the configured prefix.
    pub name: String,
    /// Partition count to create it with.
    pub partitions: i32,
    /// Topic-level configuration overrides.
    pub config: Vec<(&'static str, String)>,
}

/// Names of the pipeline's topics for one prefix.
#[derive(Debug, Clone)]
pub struct Topics {
    prefix: String,
}

impl Topics {
    /// Topic names under `prefix` (normally `notify`).
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    /// Incoming notification requests, keyed `tenant:user`.
    pub fn requests(&self) -> String {
        format!("{}.requests", self.prefix)
    }

    /// Rendered deliveries for one channel: critical, high and normal priority.
    pub fn deliveries(&self, channel: &str) -> String {
        format!("{}.deliveries.{channel}", self.prefix)
    }

    /// Bulk (promotional) deliveries for one channel, a lane of its own so a campaign never
    /// queues ahead of transactional traffic.
    pub fn deliveries_bulk(&self, channel: &str) -> String {
        format!("{}.deliveries.{channel}.bulk", self.prefix)
    }

    /// One retry delay tier.
    pub fn retry(&self, tier: &str) -> String {
        format!("{}.retry.{tier}", self.prefix)
    }

    /// Delivery status events for analysts and status look-ups, keyed by event id.
    pub fn status(&self) -> String {
        format!("{}.status", self.prefix)
    }

    /// Dead letters: poison pills and exhausted retries, with the reason in headers.
    pub fn dlq(&self) -> String {
        format!("{}.dlq", self.prefix)
    }
}

/// Every topic of the pipeline with its partition count and retention.
pub fn layout(config: &KafkaConfig) -> Vec<TopicSpec> {
    let topics = Topics::new(&config.topic_prefix);
    let p = &config.partitions;
    let retention = |days: u64| vec![("retention.ms", (days * DAY_MS).to_string())];
    let mut specs = vec![TopicSpec {
        name: topics.requests(),
        partitions: p.requests,
        config: retention(7),
    }];
    specs.extend(CHANNELS.iter().flat_map(|channel| {
        [topics.deliveries(channel), topics.deliveries_bulk(channel)].map(|name| TopicSpec {
            name,
            partitions: p.deliveries,
            config: retention(7),
        })
    }));
    specs.extend(RETRY_TIERS.iter().map(|(tier, _)| TopicSpec {
        name: topics.retry(tier),
        partitions: p.retry,
        config: retention(7),
    }));
    specs.push(TopicSpec {
        name: topics.status(),
        partitions: p.status,
        config: retention(7),
    });
    specs.push(TopicSpec {
        name: topics.dlq(),
        partitions: p.dlq,
        config: retention(30),
    });
    specs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_names_every_topic_once_with_configured_partitions() {
        let mut config = KafkaConfig {
            topic_prefix: "t1".into(),
            ..KafkaConfig::default()
        };
        config.partitions.deliveries = 7;
        let specs = layout(&config);
        assert_eq!(specs.len(), 1 + 2 * CHANNELS.len() + RETRY_TIERS.len() + 2);
        let mut names: Vec<_> = specs.iter().map(|s| s.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), specs.len(), "duplicate topic names");
        let apns = specs
            .iter()
            .find(|s| s.name == "t1.deliveries.apns")
            .expect("apns topic");
        assert_eq!(apns.partitions, 7);
        assert!(specs.iter().all(|s| s.name.starts_with("t1.")));
    }
}
