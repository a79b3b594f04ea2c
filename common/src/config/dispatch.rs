//! The `[dispatch]` section: the channel dispatchers (`notify dispatch --channel <ch>`) and the
//! retry mover they run.
//!
//! Provider settings stay a raw table here (`[dispatch.providers.<name>]`): each provider module
//! of the dispatchers crate parses its own typed, `deny_unknown_fields` configuration from it at
//! start-up, so this crate does not depend on every provider's options.

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// Session timeout the pipeline's consumers use unless `kafka.client_properties` overrides it
/// (see `kafka::consumer_config`).
pub const DEFAULT_SESSION_TIMEOUT_MS: u64 = 45_000;

/// The dispatcher stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DispatchConfig {
    /// Consumer groups are `<group_id_prefix>-<channel>` (main lane) and
    /// `<group_id_prefix>-<channel>-bulk` (bulk lane); every dispatcher of a channel shares them.
    pub group_id_prefix: String,
    /// Retry movers use one group per tier, `<retry_group_id_prefix>-<tier>`, shared by all
    /// channels.
    pub retry_group_id_prefix: String,
    /// Most provider sends one process has in flight at once. It caps one dispatcher at
    /// `max_in_flight / provider latency` sends a second (256 against a provider answering in
    /// 50 ms: 5,120/s), and bounds what an abrupt crash can send twice.
    pub max_in_flight: usize,
    /// Most records one lane (main or bulk) of one process has taken from Kafka and not finished
    /// (sending or waiting behind an earlier record of the same user); bounds memory and the
    /// work a rebalance must drain.
    pub max_pending: usize,
    /// Longest a single provider send may take before it counts as a connection failure and is
    /// retried; must be shorter than `drain_deadline_ms`, so a send running when a rebalance
    /// starts ends (and its outcome is written) before the partition is given up.
    pub send_timeout_ms: u64,
    /// How long a rebalance or shutdown waits for in-flight records before giving partitions up;
    /// must be shorter than the consumer session timeout and `max.poll.interval.ms`.
    pub drain_deadline_ms: u64,
    /// Longest pause between attempts while the database or Kafka is unavailable.
    pub max_backoff_ms: u64,
    /// Retry policy of transient provider failures.
    pub retry: RetryConfig,
    /// Raw provider settings, one table per provider (`apns`, `fcm`, `webpush`, `twilio`,
    /// `vonage`, `sendgrid`, `smtp`, ...), parsed by the dispatchers crate.
    pub providers: toml::Table,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        Self {
            group_id_prefix: "notify-dispatch".into(),
            retry_group_id_prefix: "notify-retry".into(),
            max_in_flight: 256,
            max_pending: 1024,
            send_timeout_ms: 10_000,
            drain_deadline_ms: 20_000,
            max_backoff_ms: 30_000,
            retry: RetryConfig::default(),
            providers: toml::Table::new(),
        }
    }
}

/// When and how often a transient failure is retried.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// Most send attempts per delivery, the first included; then it is dead-lettered.
    pub max_attempts: u32,
    /// Longest a delivery may keep retrying, from its first attempt; then it is dead-lettered.
    pub max_age_ms: u64,
    /// Wait before the second attempt; doubles with every further attempt.
    pub backoff_base_ms: u64,
    /// Longest wait between attempts (a provider's `Retry-After` may ask for more).
    pub backoff_max_ms: u64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            max_age_ms: 24 * 60 * 60 * 1000,
            backoff_base_ms: 5_000,
            backoff_max_ms: 60 * 60 * 1000,
        }
    }
}

impl DispatchConfig {
    /// Checks ranges and relations: send timeout < drain deadline < the consumers' effective
    /// session timeout and poll interval (`group_timeout_ms`, the lower of the two).
    pub fn validate(&self, group_timeout_ms: u64) -> Result<(), ConfigError> {
        let invalid = |field, reason: String| Err(ConfigError::Invalid { field, reason });
        if self.group_id_prefix.is_empty() || self.retry_group_id_prefix.is_empty() {
            return invalid(
                "dispatch.group_id_prefix",
                "group id prefixes must not be empty".into(),
            );
        }
        if self.max_in_flight == 0 || self.max_pending < self.max_in_flight {
            return invalid(
                "dispatch.max_in_flight",
                "must be positive and not above dispatch.max_pending".into(),
            );
        }
        if self.send_timeout_ms == 0 || self.max_backoff_ms == 0 {
            return invalid(
                "dispatch",
                "send_timeout_ms and max_backoff_ms must be positive".into(),
            );
        }
        if self.drain_deadline_ms == 0 || self.drain_deadline_ms >= group_timeout_ms {
            return invalid(
                "dispatch.drain_deadline_ms",
                format!(
                    "must be positive and shorter than the consumer session timeout and \
                     max.poll.interval.ms ({group_timeout_ms} ms), or the group evicts the \
                     member while it drains"
                ),
            );
        }
        if self.send_timeout_ms >= self.drain_deadline_ms {
            return invalid(
                "dispatch.send_timeout_ms",
                format!(
                    "must be shorter than dispatch.drain_deadline_ms ({} ms), or a send running \
                     when a rebalance starts can outlive the drain and be repeated by the \
                     partition's next owner",
                    self.drain_deadline_ms
                ),
            );
        }
        let r = &self.retry;
        if r.max_attempts == 0 || r.max_age_ms == 0 {
            return invalid(
                "dispatch.retry",
                "max_attempts and max_age_ms must be positive".into(),
            );
        }
        if r.backoff_base_ms == 0 || r.backoff_max_ms < r.backoff_base_ms {
            return invalid(
                "dispatch.retry.backoff_base_ms",
                "must be positive and not above dispatch.retry.backoff_max_ms".into(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        DispatchConfig::default()
            .validate(DEFAULT_SESSION_TIMEOUT_MS)
            .expect("valid");
    }

    #[test]
    fn drain_deadline_must_undercut_the_session_timeout() {
        let config = DispatchConfig {
            drain_deadline_ms: 45_000,
            ..DispatchConfig::default()
        };
        let err = config.validate(45_000).expect_err("too long");
        assert!(
            matches!(
                err,
                ConfigError::Invalid {
                    field: "dispatch.drain_deadline_ms",
                    ..
                }
            ),
            "{err}"
        );
        config
            .validate(60_000)
            .expect("shorter than a longer session");
    }

    #[test]
    fn send_timeout_must_undercut_the_drain_deadline() {
        let config = DispatchConfig {
            send_timeout_ms: 30_000,
            drain_deadline_ms: 20_000,
            ..DispatchConfig::default()
        };
        let err = config
            .validate(DEFAULT_SESSION_TIMEOUT_MS)
            .expect_err("a send could outlive the drain");
        assert!(
            matches!(
                err,
                ConfigError::Invalid {
                    field: "dispatch.send_timeout_ms",
                    ..
                }
            ),
            "{err}"
        );
        assert!(
            err.to_string().contains("dispatch.drain_deadline_ms"),
            "{err}"
        );
    }

    #[test]
    fn the_poll_interval_bounds_the_drain_too() {
        let mut kafka = super::super::KafkaConfig::default();
        assert_eq!(kafka.group_timeout_ms(), DEFAULT_SESSION_TIMEOUT_MS);
        kafka
            .client_properties
            .insert("max.poll.interval.ms".into(), "15000".into());
        assert_eq!(kafka.group_timeout_ms(), 15_000);
        assert!(DispatchConfig::default()
            .validate(kafka.group_timeout_ms())
            .is_err());
    }

    #[test]
    fn backoff_and_concurrency_relations() {
        let mut config = DispatchConfig::default();
        config.retry.backoff_max_ms = 10;
        assert!(config.validate(DEFAULT_SESSION_TIMEOUT_MS).is_err());
        let mut config = DispatchConfig::default();
        config.max_pending = config.max_in_flight - 1;
        assert!(config.validate(DEFAULT_SESSION_TIMEOUT_MS).is_err());
    }
}
