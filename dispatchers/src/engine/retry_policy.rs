//! What happens to a delivery after a transient failure: retried when, through which delay tier,
//! or given up. Pure: time and randomness come in as arguments.
//!
//! Guarantees: the wait is never shorter than what the provider asked for (`Retry-After`);
//! otherwise it is exponential in the attempts made (base × 2^(n−1), capped), with jitter in
//! its upper half so retries of one outage spread out. A delivery is given up after
//! `max_attempts` attempts or once its next attempt would fall more than `max_age_ms` after its
//! first; one whose next attempt would fall after its `expires_at` expires instead of waiting.
//! A record in a tier is due at `not_before`, but never later than the tier's delay after its
//! append; due, it goes to its channel's lane, early to the tier fitting the rest of its wait.

use notify_common::config::RetryConfig;
use notify_common::topics::{Topics, RETRY_TIERS};
use notify_schemas::{Delivery, Priority};

/// The retry rules of one dispatcher.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    max_attempts: u32,
    max_age_ms: i64,
    base_ms: i64,
    cap_ms: i64,
}

/// The decision after a transient failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryPlan {
    /// Try again no earlier than `not_before`, via tier `tier`.
    Retry {
        /// Earliest next attempt, ms since the epoch.
        not_before: i64,
        /// Suffix of the retry topic (`5s`, `1m`, ...).
        tier: &'static str,
    },
    /// The retry budget is spent: dead-letter it.
    Exhausted {
        /// `attempts` or `age`.
        budget: &'static str,
    },
    /// The next attempt would come after `expires_at`.
    Expired,
}

impl RetryPolicy {
    /// The policy from configuration.
    pub fn new(config: &RetryConfig) -> Self {
        let ms = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        Self {
            max_attempts: config.max_attempts,
            max_age_ms: ms(config.max_age_ms),
            base_ms: ms(config.backoff_base_ms),
            cap_ms: ms(config.backoff_max_ms),
        }
    }

    /// Backoff after `attempts` attempts (≥ 1), before jitter.
    pub fn backoff_ms(&self, attempts: u32) -> i64 {
        let doublings = attempts.saturating_sub(1).min(40);
        self.base_ms
            .saturating_mul(1_i64 << doublings)
            .min(self.cap_ms)
    }

    /// What to do with `delivery` after its attempt number `attempts` (counting this one)
    /// failed transiently at `now_ms`, the provider asking to wait `retry_after_ms`.
    /// `random` in `[0, 1)` places the wait in the upper half of the backoff.
    pub fn plan(
        &self,
        delivery: &Delivery,
        attempts: u32,
        retry_after_ms: Option<i64>,
        now_ms: i64,
        random: f64,
    ) -> RetryPlan {
        if attempts >= self.max_attempts {
            return RetryPlan::Exhausted { budget: "attempts" };
        }
        let backoff = self.backoff_ms(attempts);
        // the fraction is in [0.5, 1.0], so the cast only drops sub-millisecond parts
        #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
        let jittered = (backoff as f64 * (0.5 + random.clamp(0.0, 1.0) / 2.0)) as i64;
        let wait = jittered.max(retry_after_ms.unwrap_or(0)).max(1);
        let not_before = now_ms.saturating_add(wait);
        let first = delivery.first_attempt_at.unwrap_or(now_ms);
        if not_before.saturating_sub(first) > self.max_age_ms {
            return RetryPlan::Exhausted { budget: "age" };
        }
        if delivery.expires_at.is_some_and(|at| not_before >= at) {
            return RetryPlan::Expired;
        }
        RetryPlan::Retry {
            not_before,
            tier: tier_for(wait),
        }
    }
}

/// The shortest tier whose delay covers `wait_ms`, else the longest.
pub fn tier_for(wait_ms: i64) -> &'static str {
    let wait = u64::try_from(wait_ms).unwrap_or(0);
    RETRY_TIERS
        .iter()
        .find(|(_, delay)| *delay >= wait)
        .or(RETRY_TIERS.last())
        .map_or("1h", |(name, _)| name)
}

/// The delay of tier `tier` in milliseconds, if it is one.
pub fn tier_delay_ms(tier: &str) -> Option<i64> {
    RETRY_TIERS
        .iter()
        .find(|(name, _)| *name == tier)
        .map(|(_, delay)| i64::try_from(*delay).unwrap_or(i64::MAX))
}

/// Where a due retry record goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Move {
    /// Back to its channel's topic (this one).
    Channel(String),
    /// Into the tier fitting the rest of its wait.
    Requeue(String),
}

/// When a record of tier `tier` appended at `appended_ms` is due.
pub fn due_at(delivery: &Delivery, tier: &str, appended_ms: i64) -> i64 {
    let cap = tier_delay_ms(tier).map_or(i64::MAX, |d| appended_ms.saturating_add(d));
    delivery.not_before.unwrap_or(appended_ms).min(cap)
}

/// Where `delivery` goes when it is due at `now_ms`.
pub fn destination(delivery: &Delivery, topics: &Topics, now_ms: i64) -> Move {
    let rest = delivery.not_before.unwrap_or(now_ms) - now_ms;
    // a few milliseconds early is on time: clocks of movers and dispatchers differ by more
    if rest > 50 {
        return Move::Requeue(topics.retry(tier_for(rest)));
    }
    let channel = delivery.channel.as_str();
    Move::Channel(match delivery.priority {
        Priority::Bulk => topics.deliveries_bulk(channel),
        _ => topics.deliveries(channel),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify_schemas::samples;

    fn policy() -> RetryPolicy {
        RetryPolicy::new(&RetryConfig {
            max_attempts: 4,
            max_age_ms: 3_600_000,
            backoff_base_ms: 1_000,
            backoff_max_ms: 8_000,
        })
    }

    fn delivery() -> Delivery {
        let mut d = samples::full_push_delivery();
        d.first_attempt_at = Some(0);
        d.expires_at = None;
        d
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = policy();
        let waits: Vec<i64> = (1..=6).map(|n| p.backoff_ms(n)).collect();
        assert_eq!(waits, vec![1_000, 2_000, 4_000, 8_000, 8_000, 8_000]);
    }

    #[test]
    fn jitter_stays_in_the_upper_half_and_retry_after_wins() {
        let p = policy();
        let d = delivery();
        let at = |random, retry_after| match p.plan(&d, 2, retry_after, 10_000, random) {
            RetryPlan::Retry { not_before, .. } => not_before - 10_000,
            other => panic!("{other:?}"),
        };
        assert_eq!(at(0.0, None), 1_000);
        assert_eq!(at(0.999_999, None), 1_999);
        assert_eq!(at(0.0, Some(30_000)), 30_000, "Retry-After is a floor");
    }

    #[test]
    fn budgets_and_expiry() {
        let p = policy();
        let d = delivery();
        assert_eq!(
            p.plan(&d, 4, None, 10, 0.5),
            RetryPlan::Exhausted { budget: "attempts" }
        );
        assert_eq!(
            p.plan(&d, 1, None, 3_600_000, 0.5),
            RetryPlan::Exhausted { budget: "age" }
        );
        let mut expiring = delivery();
        expiring.expires_at = Some(10_500);
        assert_eq!(p.plan(&expiring, 1, None, 10_000, 0.5), RetryPlan::Expired);
    }

    #[test]
    fn tiers_cover_the_wait() {
        assert_eq!(tier_for(100), "5s");
        assert_eq!(tier_for(5_000), "5s");
        assert_eq!(tier_for(5_001), "1m");
        assert_eq!(tier_for(3_600_000), "1h");
        assert_eq!(
            tier_for(86_400_000),
            "1h",
            "longer waits use the longest tier"
        );
        assert_eq!(tier_delay_ms("10m"), Some(600_000));
        assert_eq!(tier_delay_ms("2d"), None);
    }

    #[test]
    fn due_at_not_before_but_never_later_than_the_tier_delay() {
        let mut d = samples::full_sms_delivery();
        d.not_before = Some(10_000);
        assert_eq!(due_at(&d, "5s", 9_000), 10_000);
        d.not_before = Some(100_000);
        assert_eq!(due_at(&d, "5s", 9_000), 14_000, "capped by the tier");
        d.not_before = None;
        assert_eq!(due_at(&d, "1m", 9_000), 9_000);
    }

    #[test]
    fn due_records_go_to_their_lane_and_early_ones_to_a_fitting_tier() {
        let topics = Topics::new("n");
        let mut d = samples::full_sms_delivery();
        d.priority = Priority::High;
        d.not_before = Some(1_000);
        assert_eq!(
            destination(&d, &topics, 1_000),
            Move::Channel("n.deliveries.sms".into())
        );
        d.priority = Priority::Bulk;
        assert_eq!(
            destination(&d, &topics, 1_000),
            Move::Channel("n.deliveries.sms.bulk".into())
        );
        assert_eq!(
            destination(&d, &topics, 1_000 - 30_000),
            Move::Requeue("n.retry.1m".into())
        );
    }
}
