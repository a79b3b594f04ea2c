//! Metric names of the dispatchers and the retry mover, declared once. Labels come from small
//! fixed sets: `channel`, `outcome`, `reason`; never ids, tokens or addresses.

/// Records finished (offset storable), labels `channel`, `outcome` = sent | failed |
/// invalid_recipient | retrying | dead_lettered | expired | duplicate | stale | undecodable.
pub const DELIVERIES_TOTAL: &str = "notify_dispatch_deliveries_total";
/// Provider sends, labels `channel`, `outcome` = sent | retry | failed | invalid_recipient.
pub const SENDS_TOTAL: &str = "notify_dispatch_sends_total";
/// Seconds one provider send took, labels `channel`, `outcome`.
pub const SEND_DURATION_SECONDS: &str = "notify_dispatch_send_duration_seconds";
/// Failed sends by cause, labels `channel`, `reason` (the provider's classified reason).
pub const SEND_FAILURES_TOTAL: &str = "notify_dispatch_send_failures_total";
/// Records sent to the dead-letter topic, labels `channel`, `reason` = retries_exhausted |
/// decode | empty | wrong_channel.
pub const DEAD_LETTERED_TOTAL: &str = "notify_dispatch_dead_lettered_total";
/// Pauses because a dependency failed, labels `channel`, `reason` = database | kafka.
pub const DEPENDENCY_RETRIES_TOTAL: &str = "notify_dispatch_dependency_retries_total";
/// Devices reported gone, labels `channel`, `outcome` = marked | registered_since | not_found
/// | error.
pub const DEVICES_INVALIDATED_TOTAL: &str = "notify_dispatch_devices_invalidated_total";
/// Addresses put on the suppression list because a mail server refused them for good in the
/// SMTP dialogue, labels `channel`, `reason` = bounced.
pub const SUPPRESSIONS_ADDED_TOTAL: &str = "notify_dispatch_suppressions_added_total";
/// Records taken from Kafka and not finished, labels `channel` and `lane` (`main`, `bulk`).
pub const PENDING_RECORDS: &str = "notify_dispatch_pending_records";
/// Records still unfinished when a rebalance or shutdown drain ran out of time, label
/// `channel`; their partitions' next owner repeats them.
pub const DRAIN_ABANDONED_TOTAL: &str = "notify_dispatch_drain_abandoned_total";
/// Retry records handled by the mover, labels `channel`, `outcome` = moved | requeued |
/// undecodable.
pub const RETRIES_MOVED_TOTAL: &str = "notify_dispatch_retries_moved_total";
/// Outputs Kafka refused for good (too large for the topic, malformed), labels `channel` and
/// `topic`.
pub const REFUSED_TOTAL: &str = "notify_dispatch_refused_total";
/// Records not sent because their partition was being revoked (or the lane stopping) when
/// their turn came; the partition's next owner sends them. Label `channel`.
pub const FENCED_TOTAL: &str = "notify_dispatch_fenced_total";
/// Sends whose answer was lost after the request was written (`answer_lost`): the provider
/// may have delivered them, so their retry may arrive twice (push retries carry the same
/// collapse id). The bound of provider-side duplicates. Label `channel`.
pub const AMBIGUOUS_SENDS_TOTAL: &str = "notify_dispatch_ambiguous_sends_total";
/// State of a provider's circuit breaker, labels `channel` and `provider`: 0 closed, 1
/// half-open (probing), 2 open (sending nothing to it).
pub const BREAKER_STATE: &str = "notify_dispatch_breaker_state";

/// Registers at zero, for `channel`, the series the alerts and the dashboard read (outcomes,
/// failure reasons, dead letters, refusals on the topics it writes), so that every family is
/// exported from the start and a first failure shows as an increase (a series born at 1
/// shows none).
pub fn register(channel: &'static str, topics: &notify_common::topics::Topics) {
    let zero = |name: &'static str, labels: &[(&'static str, String)]| {
        let labels: Vec<metrics::Label> = labels
            .iter()
            .map(|(k, v)| metrics::Label::new(*k, v.clone()))
            .chain(std::iter::once(metrics::Label::new("channel", channel)))
            .collect();
        metrics::counter!(name, labels).increment(0);
    };
    for outcome in [
        "sent",
        "failed",
        "invalid_recipient",
        "retrying",
        "dead_lettered",
        "expired",
        "duplicate",
        "stale",
        "undecodable",
    ] {
        zero(DELIVERIES_TOTAL, &[("outcome", outcome.into())]);
    }
    for outcome in ["sent", "retry", "failed", "invalid_recipient"] {
        zero(SENDS_TOTAL, &[("outcome", outcome.into())]);
    }
    for reason in crate::providers::provider::Reason::ALL {
        zero(SEND_FAILURES_TOTAL, &[("reason", reason.as_str().into())]);
    }
    for reason in ["retries_exhausted", "decode", "empty", "wrong_channel"] {
        zero(DEAD_LETTERED_TOTAL, &[("reason", reason.into())]);
    }
    for outcome in ["marked", "registered_since", "not_found", "error"] {
        zero(DEVICES_INVALIDATED_TOTAL, &[("outcome", outcome.into())]);
    }
    if channel == "email" {
        zero(SUPPRESSIONS_ADDED_TOTAL, &[("reason", "bounced".into())]);
    }
    for topic in [topics.status(), topics.dlq()] {
        zero(REFUSED_TOTAL, &[("topic", topic)]);
    }
}
