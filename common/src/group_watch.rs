//! Whether this process's Kafka consumers are in their groups.
//!
//! After the one broker of the Kafka outage test came back, a dispatcher lane's consumer (on
//! librdkafka 2.12.1) never joined its group again: it kept polling, sent no JoinGroup and read
//! nothing more. The cause found since (the client had dropped every broker) is repaired in
//! [`crate::rebootstrap`]; should a consumer stay out for another reason, nothing inside the
//! process brings it back, so the process says it is not alive: once a consumer's group state
//! has stayed outside `up`/`steady` for
//! [`OUT_OF_GROUP_LIMIT`] (`kafka.out_of_group_limit_ms`), `/healthz` answers 503 and the
//! orchestrator's liveness probe restarts the process. The records it had not committed are read
//! again, and the notification log recognises what was already sent.
//!
//! Guarantees: judged from librdkafka's statistics (every
//! [`STATS_INTERVAL_MS`](crate::metrics::STATS_INTERVAL_MS)), per group; a consumer back in its
//! group is cleared at once. The limit is twice librdkafka's default `max.poll.interval.ms`
//! (5 minutes), the longest a rebalance waits for a slow member. [`OUT_OF_GROUP_SECONDS`] shows
//! the time out per group.
//!
//! Not told apart: a broker outage longer than the limit also fails `/healthz` (the process is
//! restarted, which loses nothing and changes nothing until the broker is back). Not judged: a
//! consumer its stage does not poll reports nothing (the router stops polling while a batch
//! waits for the broker); librdkafka's own `max.poll.interval.ms` takes that one out of its
//! group meanwhile.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use rdkafka::Statistics;

/// How long a consumer may be out of its group before the process reports itself not alive,
/// unless [`set_limit`] says otherwise (`kafka.out_of_group_limit_ms`).
pub const OUT_OF_GROUP_LIMIT: Duration = Duration::from_millis(OUT_OF_GROUP_LIMIT_MS);

/// [`OUT_OF_GROUP_LIMIT`] in milliseconds (the default of `kafka.out_of_group_limit_ms`).
pub const OUT_OF_GROUP_LIMIT_MS: u64 = 600_000;

static LIMIT_MS: AtomicU64 = AtomicU64::new(OUT_OF_GROUP_LIMIT_MS);

/// Sets the limit for this process.
pub fn set_limit(limit: Duration) {
    LIMIT_MS.store(
        u64::try_from(limit.as_millis()).unwrap_or(u64::MAX),
        Ordering::Relaxed,
    );
}

fn limit() -> Duration {
    Duration::from_millis(LIMIT_MS.load(Ordering::Relaxed))
}

/// Seconds a consumer has been out of its group (0 while in it), label `group`.
pub const OUT_OF_GROUP_SECONDS: &str = "notify_kafka_consumer_out_of_group_seconds";

/// What one statistics report says of its consumer: whether it is in its group (`up` and
/// `steady`), or `None` for a client in no group (a producer).
pub fn in_group(stats: &Statistics) -> Option<bool> {
    let group = stats.cgrp.as_ref()?;
    Some(group.state == "up" && group.join_state == "steady")
}

/// Since when each group of this process has been out of its group.
#[derive(Debug, Default)]
pub struct GroupWatch {
    out_since: Mutex<HashMap<String, Instant>>,
}

impl GroupWatch {
    /// Notes what a report said of `group` at `now`.
    pub fn observe_at(&self, group: &str, in_group: Option<bool>, now: Instant) {
        let mut out_since = self.lock();
        let out_for = match in_group {
            Some(true) => {
                out_since.remove(group);
                Duration::ZERO
            }
            Some(false) => {
                let since = *out_since.entry(group.to_owned()).or_insert(now);
                now.saturating_duration_since(since)
            }
            None => return,
        };
        metrics::gauge!(OUT_OF_GROUP_SECONDS, "group" => group.to_owned())
            .set(out_for.as_secs_f64());
    }

    /// The groups out for `limit` or longer at `now`, with how long.
    pub fn out_at(&self, limit: Duration, now: Instant) -> Vec<(String, Duration)> {
        let mut out: Vec<(String, Duration)> = self
            .lock()
            .iter()
            .map(|(group, since)| (group.clone(), now.saturating_duration_since(*since)))
            .filter(|(_, out_for)| *out_for >= limit)
            .collect();
        out.sort();
        out
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        self.out_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

fn watch() -> &'static GroupWatch {
    static WATCH: OnceLock<GroupWatch> = OnceLock::new();
    WATCH.get_or_init(GroupWatch::default)
}

/// Notes a statistics report of a consumer in `group` (called from the consumer contexts).
pub fn observe(group: &str, stats: &Statistics) {
    let verdict = in_group(stats);
    let now = Instant::now();
    let watch = watch();
    let was_out = !watch.out_at(limit(), now).is_empty();
    watch.observe_at(group, verdict, now);
    let out = watch.out_at(limit(), now);
    if !was_out && !out.is_empty() {
        tracing::error!(
            ?out,
            "a Kafka consumer has been out of its group too long; /healthz now fails, so the \
             process is restarted"
        );
    }
}

/// Why this process is not alive, if it is not: the groups out for the limit or longer.
pub fn not_alive() -> Option<String> {
    watch().not_alive_at(limit(), Instant::now())
}

impl GroupWatch {
    /// The answer of `/healthz` at `now`: `None` while no group has been out for `limit`, else
    /// which groups are and how long.
    pub fn not_alive_at(&self, limit: Duration, now: Instant) -> Option<String> {
        let out = self.out_at(limit, now);
        if out.is_empty() {
            return None;
        }
        let groups: Vec<String> = out
            .iter()
            .map(|(group, out_for)| format!("{group} for {}s", out_for.as_secs()))
            .collect();
        Some(format!(
            "Kafka consumers out of their group: {}",
            groups.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A statistics report, of a consumer with its group in `state`/`join_state` or of a
    /// producer (`None`).
    fn stats(group: Option<(&str, &str)>) -> Statistics {
        Statistics {
            cgrp: group.map(|(state, join_state)| rdkafka::statistics::ConsumerGroup {
                state: state.to_owned(),
                join_state: join_state.to_owned(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_consumer_is_in_its_group_only_when_up_and_steady() {
        assert_eq!(in_group(&stats(Some(("up", "steady")))), Some(true));
        // looking for its coordinator, or joining
        assert_eq!(in_group(&stats(Some(("query-coord", "init")))), Some(false));
        assert_eq!(in_group(&stats(Some(("up", "wait-join")))), Some(false));
        assert_eq!(
            in_group(&stats(Some(("up", "wait-incr-unassign-to-complete")))),
            Some(false)
        );
        // a producer's report has no group
        assert_eq!(in_group(&stats(None)), None);
    }

    #[test]
    fn only_a_consumer_out_past_the_limit_is_reported_and_rejoining_clears_it() {
        let watch = GroupWatch::default();
        let start = Instant::now();
        let limit = Duration::from_secs(60);
        watch.observe_at("router", Some(false), start);
        watch.observe_at("dispatch", Some(true), start);
        // later reports of the same trouble keep the first time; a producer's report changes
        // nothing
        watch.observe_at("router", Some(false), start + Duration::from_secs(45));
        watch.observe_at("router", None, start + Duration::from_secs(50));
        assert!(watch
            .out_at(limit, start + Duration::from_secs(59))
            .is_empty());
        assert_eq!(
            watch.out_at(limit, start + Duration::from_secs(61)),
            vec![("router".to_owned(), Duration::from_secs(61))]
        );
        assert_eq!(
            watch.not_alive_at(limit, start + Duration::from_secs(61)),
            Some("Kafka consumers out of their group: router for 61s".to_owned())
        );
        watch.observe_at("router", Some(true), start + Duration::from_secs(62));
        assert!(watch
            .out_at(limit, start + Duration::from_secs(600))
            .is_empty());
        assert_eq!(
            watch.not_alive_at(limit, start + Duration::from_secs(600)),
            None
        );
    }
}
