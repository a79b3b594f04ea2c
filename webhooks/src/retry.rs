//! When to try an endpoint again, and when to give an event up. Pure: the caller passes the
//! time and the random draw.
//!
//! Exponential backoff with full jitter: the n-th pause (n from 0) is drawn uniformly from
//! `[initial/2, min(max, initial * 2^n)]` (never below half the first pause, so a failing
//! endpoint is not hammered), and an event is dead-lettered at the first failure after it
//! waited `retry_budget` since it was read. With the defaults (1 s doubling to 5 min, a day's
//! budget) an endpoint that is down for five minutes is tried about ten times meanwhile and
//! gets everything once it is back, within one max pause.

use std::time::Duration;

use notify_common::config::WebhooksConfig;

/// What one POST came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The endpoint answered 2xx: the event is delivered.
    Taken,
    /// Anything else (another status, a timeout, a refused connection, an address the SSRF
    /// guard refused); the text says which, for logs and the dead letter.
    Failed(String),
}

/// What to do after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Delivered: remove it from the backlog and go on with the next.
    Done,
    /// Try the same event again after this pause (nothing behind it goes first).
    RetryAfter(Duration),
    /// Out of budget: dead-letter it with this reason, remove it and go on.
    DeadLetter(String),
}

/// The retry settings of [`WebhooksConfig`], as durations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// First pause.
    pub initial: Duration,
    /// Longest pause.
    pub max: Duration,
    /// How long an event may wait from when it was read.
    pub budget: Duration,
}

impl Schedule {
    /// The schedule `config` asks for.
    pub fn of(config: &WebhooksConfig) -> Self {
        Self {
            initial: Duration::from_millis(config.initial_backoff_ms),
            max: Duration::from_millis(config.max_backoff_ms),
            budget: Duration::from_secs(config.retry_budget_s),
        }
    }

    /// The ceiling of the pause after failure number `failures` (0 for the first).
    pub fn ceiling(&self, failures: u32) -> Duration {
        let factor = 1u32.checked_shl(failures.min(31)).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }

    /// The pause after failure number `failures`, for a uniform draw `unit` in `[0, 1)`.
    pub fn pause(&self, failures: u32, unit: f64) -> Duration {
        let ceiling = self.ceiling(failures);
        let floor = (self.initial / 2).min(ceiling);
        floor + (ceiling - floor).mul_f64(unit.clamp(0.0, 1.0))
    }

    /// What to do after `attempt` at an event read at `enqueued_at_ms`, `now_ms` being now and
    /// `failures` the failures before this attempt.
    pub fn next(
        &self,
        attempt: &Attempt,
        failures: u32,
        enqueued_at_ms: i64,
        now_ms: i64,
        unit: f64,
    ) -> Next {
        let Attempt::Failed(why) = attempt else {
            return Next::Done;
        };
        let waited = u64::try_from(now_ms.saturating_sub(enqueued_at_ms)).unwrap_or(0);
        if Duration::from_millis(waited) >= self.budget {
            return Next::DeadLetter(format!(
                "retry budget of {} s spent after {} attempts; last: {why}",
                self.budget.as_secs(),
                failures + 1
            ));
        }
        Next::RetryAfter(self.pause(failures, unit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule() -> Schedule {
        Schedule::of(&WebhooksConfig::default())
    }

    #[test]
    fn pauses_double_up_to_the_maximum_with_jitter_inside_the_ceiling() {
        let s = schedule();
        assert_eq!(s.ceiling(0), Duration::from_secs(1));
        assert_eq!(s.ceiling(3), Duration::from_secs(8));
        assert_eq!(s.ceiling(9), Duration::from_secs(300));
        assert_eq!(s.ceiling(500), Duration::from_secs(300));
        for failures in [0, 4, 40] {
            let low = s.pause(failures, 0.0);
            let high = s.pause(failures, 0.999_999);
            assert_eq!(
                low,
                Duration::from_millis(500),
                "never below half the first pause"
            );
            assert!(
                high <= s.ceiling(failures) && high > low,
                "{failures}: {high:?}"
            );
        }
        assert!(
            s.pause(6, 0.3) != s.pause(6, 0.7),
            "the draw spreads retries"
        );
    }

    #[test]
    fn a_taken_event_is_done_and_a_failed_one_retries_within_its_budget() {
        let s = schedule();
        assert_eq!(s.next(&Attempt::Taken, 7, 0, 10, 0.5), Next::Done);
        let failed = Attempt::Failed("status 503".into());
        let day_ms = 24 * 60 * 60 * 1000;
        assert_eq!(
            s.next(&failed, 2, 1_000, 1_000 + day_ms - 1, 1.0),
            Next::RetryAfter(s.pause(2, 1.0))
        );
        let Next::DeadLetter(reason) = s.next(&failed, 40, 1_000, 1_000 + day_ms, 0.5) else {
            panic!("the budget is spent");
        };
        assert!(
            reason.contains("status 503") && reason.contains("41 attempts"),
            "{reason}"
        );
    }

    #[test]
    fn a_five_minute_outage_fits_the_default_budget_many_times_over() {
        // the sum of the worst-case pauses until the ceiling reaches max stays far under a day
        let s = schedule();
        let mut waited = Duration::ZERO;
        let mut failures = 0;
        while waited < Duration::from_secs(5 * 60) {
            waited += s.ceiling(failures);
            failures += 1;
        }
        assert!(failures <= 10, "{failures} attempts in five minutes");
        assert!(waited < s.budget / 100);
    }
}
