//! The circuit breaker in front of each provider of a failover chain, and the clock it reads
//! (injected, so breaker tests need no sleeping). The rules it keeps are listed on
//! [`super`].

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;

/// A source of monotonic time, injected so breaker tests need no sleeping.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Now.
    fn now(&self) -> Instant;
}

/// The real monotonic clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

#[cfg(test)]
/// A clock that moves only when told to, for tests.
#[derive(Debug)]
pub struct ManualClock {
    start: Instant,
    offset: Mutex<Duration>,
}

#[cfg(test)]
impl Default for ManualClock {
    fn default() -> Self {
        Self {
            start: Instant::now(),
            offset: Mutex::new(Duration::ZERO),
        }
    }
}

#[cfg(test)]
impl ManualClock {
    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        *self.offset.lock().unwrap_or_else(|e| e.into_inner()) += by;
    }
}

#[cfg(test)]
impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.start + *self.offset.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Circuit breaker settings, shared by both providers of a [`Failover`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakerConfig {
    /// Transient failures in a row that open the breaker.
    #[serde(default = "default_consecutive")]
    pub consecutive_failures: u32,
    /// Length of the failure-rate window.
    #[serde(default = "default_window_ms")]
    pub window_ms: u64,
    /// Sends needed in the window before the failure rate is judged.
    #[serde(default = "default_min_requests")]
    pub min_requests: u32,
    /// Failure share (0 < rate <= 1) in the window that opens the breaker.
    #[serde(default = "default_failure_rate")]
    pub failure_rate: f64,
    /// How long an open breaker keeps its provider out before a probe.
    #[serde(default = "default_cooldown_ms")]
    pub cooldown_ms: u64,
}

fn default_consecutive() -> u32 {
    5
}
fn default_window_ms() -> u64 {
    30_000
}
fn default_min_requests() -> u32 {
    20
}
fn default_failure_rate() -> f64 {
    0.5
}
fn default_cooldown_ms() -> u64 {
    30_000
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            consecutive_failures: default_consecutive(),
            window_ms: default_window_ms(),
            min_requests: default_min_requests(),
            failure_rate: default_failure_rate(),
            cooldown_ms: default_cooldown_ms(),
        }
    }
}

/// Invalid breaker settings.
#[derive(Debug, thiserror::Error)]
#[error("invalid circuit breaker config: {0}")]
pub struct BreakerConfigError(String);

impl BreakerConfig {
    /// Checks the relations between fields.
    pub fn validate(&self) -> Result<(), BreakerConfigError> {
        if self.consecutive_failures == 0 || self.min_requests == 0 {
            return Err(BreakerConfigError(
                "consecutive_failures and min_requests must be positive".into(),
            ));
        }
        if !(self.failure_rate > 0.0 && self.failure_rate <= 1.0) {
            return Err(BreakerConfigError("failure_rate must be in (0, 1]".into()));
        }
        if self.window_ms == 0 {
            return Err(BreakerConfigError("window_ms must be positive".into()));
        }
        Ok(())
    }
}

/// Values of the breaker state gauge.
const BREAKER_CLOSED: f64 = 0.0;
const BREAKER_HALF_OPEN: f64 = 1.0;
const BREAKER_OPEN: f64 = 2.0;

#[cfg(test)]
/// What a breaker lets through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Everything.
    Closed,
    /// Nothing, until the cooldown ends.
    Open,
    /// One probe at a time.
    HalfOpen,
}

#[derive(Debug)]
enum State {
    Closed,
    Open { until: Instant },
    HalfOpen { probing: bool },
}

#[derive(Debug)]
struct Inner {
    state: State,
    consecutive: u32,
    window: VecDeque<(Instant, bool)>,
}

/// The circuit breaker of one provider; pure logic over an injected [`Clock`].
#[derive(Debug)]
pub struct Breaker {
    name: &'static str,
    /// `notify_dispatch_breaker_state` of this provider: 0 closed, 1 half-open, 2 open.
    gauge: metrics::Gauge,
    config: BreakerConfig,
    clock: Arc<dyn Clock>,
    inner: Mutex<Inner>,
}

/// Leave to send one request; report how it went with [`Permit::success`] or
/// [`Permit::failure`]. Dropping a probe's permit unreported gives the probe slot back.
#[derive(Debug)]
pub struct Permit<'a> {
    breaker: &'a Breaker,
    probe: bool,
    done: bool,
}

impl Permit<'_> {
    #[cfg(test)]
    /// Whether this is the half-open probe.
    pub fn is_probe(&self) -> bool {
        self.probe
    }

    /// The provider handled the request (sent, or failed permanently for the message's sake).
    pub fn success(mut self) {
        self.done = true;
        self.breaker.report(self.probe, true);
    }

    /// The provider failed transiently.
    pub fn failure(mut self) {
        self.done = true;
        self.breaker.report(self.probe, false);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if self.probe && !self.done {
            let mut inner = self.breaker.lock();
            if let State::HalfOpen { probing } = &mut inner.state {
                *probing = false;
            }
        }
    }
}

impl Breaker {
    /// A closed breaker; `name` is the provider name used in logs and, with `channel`, in
    /// the breaker's state gauge.
    pub fn new(
        channel: &'static str,
        name: &'static str,
        config: BreakerConfig,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let gauge = metrics::gauge!(crate::metrics::BREAKER_STATE, "channel" => channel, "provider" => name);
        gauge.set(BREAKER_CLOSED);
        Self {
            name,
            gauge,
            config,
            clock,
            inner: Mutex::new(Inner {
                state: State::Closed,
                consecutive: 0,
                window: VecDeque::new(),
            }),
        }
    }

    #[cfg(test)]
    /// The current state; an open breaker whose cooldown is over reports `HalfOpen`.
    pub fn state(&self) -> BreakerState {
        match self.lock().state {
            State::Closed => BreakerState::Closed,
            State::Open { until } if self.clock.now() < until => BreakerState::Open,
            State::Open { .. } | State::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// Leave to send, or how long until the breaker may let a probe through.
    pub fn admit(&self) -> Result<Permit<'_>, Duration> {
        let now = self.clock.now();
        let mut inner = self.lock();
        let probe = match inner.state {
            State::Closed => false,
            State::Open { until } if now < until => return Err(until - now),
            State::Open { .. } | State::HalfOpen { probing: false } => {
                inner.state = State::HalfOpen { probing: true };
                self.gauge.set(BREAKER_HALF_OPEN);
                tracing::info!(provider = self.name, "circuit breaker half-open, probing");
                true
            }
            State::HalfOpen { probing: true } => return Err(Duration::from_secs(1)),
        };
        Ok(Permit {
            breaker: self,
            probe,
            done: false,
        })
    }

    fn report(&self, probe: bool, ok: bool) {
        let now = self.clock.now();
        let cooldown = Duration::from_millis(self.config.cooldown_ms);
        let mut inner = self.lock();
        if probe {
            if ok {
                tracing::info!(provider = self.name, "circuit breaker closed");
                self.gauge.set(BREAKER_CLOSED);
                *inner = Inner {
                    state: State::Closed,
                    consecutive: 0,
                    window: VecDeque::new(),
                };
            } else {
                tracing::warn!(
                    provider = self.name,
                    "probe failed, circuit breaker open again"
                );
                inner.state = State::Open {
                    until: now + cooldown,
                };
                self.gauge.set(BREAKER_OPEN);
            }
            return;
        }
        if !matches!(inner.state, State::Closed) {
            // Answer of a request admitted before another one opened the breaker.
            return;
        }
        let window = Duration::from_millis(self.config.window_ms);
        inner.window.push_back((now, ok));
        while inner
            .window
            .front()
            .is_some_and(|(at, _)| now.duration_since(*at) > window)
        {
            inner.window.pop_front();
        }
        inner.consecutive = if ok { 0 } else { inner.consecutive + 1 };
        let total = inner.window.len();
        let failed = inner.window.iter().filter(|(_, ok)| !ok).count();
        let rate_tripped = total >= self.config.min_requests as usize
            && failed as f64 >= self.config.failure_rate * total as f64;
        if inner.consecutive >= self.config.consecutive_failures || (!ok && rate_tripped) {
            tracing::warn!(
                provider = self.name,
                consecutive = inner.consecutive,
                failed,
                total,
                "circuit breaker opened"
            );
            self.gauge.set(BREAKER_OPEN);
            *inner = Inner {
                state: State::Open {
                    until: now + cooldown,
                },
                consecutive: 0,
                window: VecDeque::new(),
            };
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}
