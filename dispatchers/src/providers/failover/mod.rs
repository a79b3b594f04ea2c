//! Provider failover (SMS, email): a primary and a secondary provider, each behind a circuit
//! breaker.
//!
//! Guarantees:
//! - only transient outcomes ([`Outcome::Retry`]) count as provider failures; a permanent
//!   failure of one message (bad address, unsubscribed) is the provider working correctly and
//!   never opens a breaker;
//! - a closed breaker opens after `consecutive_failures` failures in a row, or when at least
//!   `min_requests` sends in the last `window_ms` failed at `failure_rate` or more;
//! - an open breaker sends nothing to its provider for `cooldown_ms`; then it is half-open and
//!   lets exactly one probe through: success closes it, failure opens it for another cooldown.
//!   A probe whose send is cancelled gives the probe slot back;
//! - a send goes to the primary when its breaker admits it; when the primary answers a
//!   transient failure or its breaker is open, the same send goes to the secondary. When
//!   neither can take it, the outcome is a `Retry` (the last provider's, or
//!   `ProviderUnavailable` with the time until the first breaker half-opens).
//!
//! Not guaranteed: a transient failure can be a message the provider did accept (a timeout
//! after the provider queued it); sending it to the secondary may then duplicate it, as the
//! retry tier would.

mod breaker;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use notify_schemas::Delivery;

use crate::providers::provider::{Outcome, Provider, Reason};

pub use breaker::{Breaker, BreakerConfig, BreakerConfigError, Clock, SystemClock};
#[cfg(test)]
pub use breaker::{BreakerState, ManualClock};

#[derive(Debug)]
struct Route {
    provider: Arc<dyn Provider>,
    breaker: Breaker,
}

/// A primary and a secondary provider behind circuit breakers; itself a [`Provider`].
#[derive(Debug)]
pub struct Failover {
    name: &'static str,
    routes: [Route; 2],
}

impl Failover {
    /// Failover on the system clock. `name` is what [`Provider::name`] reports (e.g.
    /// `sms`); logs name the provider that handled each send.
    pub fn new(
        name: &'static str,
        primary: Arc<dyn Provider>,
        secondary: Arc<dyn Provider>,
        config: BreakerConfig,
    ) -> Result<Self, BreakerConfigError> {
        Self::with_clock(name, primary, secondary, config, Arc::new(SystemClock))
    }

    /// Failover on an injected clock.
    pub fn with_clock(
        name: &'static str,
        primary: Arc<dyn Provider>,
        secondary: Arc<dyn Provider>,
        config: BreakerConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, BreakerConfigError> {
        config.validate()?;
        let route = |provider: Arc<dyn Provider>| Route {
            breaker: Breaker::new(name, provider.name(), config.clone(), clock.clone()),
            provider,
        };
        Ok(Self {
            name,
            routes: [route(primary), route(secondary)],
        })
    }

    #[cfg(test)]
    /// States of the primary's and the secondary's breaker.
    pub fn states(&self) -> (BreakerState, BreakerState) {
        (
            self.routes[0].breaker.state(),
            self.routes[1].breaker.state(),
        )
    }
}

#[async_trait]
impl Provider for Failover {
    fn name(&self) -> &'static str {
        self.name
    }

    async fn send(&self, delivery: &Delivery) -> Outcome {
        self.send_named(delivery).await.0
    }

    /// The outcome with the member that gave it (the chain's own name when no member could
    /// take the send).
    async fn send_named(&self, delivery: &Delivery) -> (Outcome, &'static str) {
        let mut last = None;
        let mut wait: Option<Duration> = None;
        for route in &self.routes {
            let permit = match route.breaker.admit() {
                Ok(permit) => permit,
                Err(retry_in) => {
                    wait = Some(wait.map_or(retry_in, |w| w.min(retry_in)));
                    continue;
                }
            };
            let (outcome, by) = route.provider.send_named(delivery).await;
            if outcome.is_retry() {
                permit.failure();
                tracing::debug!(provider = by, delivery_id = %delivery.delivery_id, "transient failure, trying the next provider");
                last = Some((outcome, by));
                continue;
            }
            permit.success();
            tracing::debug!(provider = by, delivery_id = %delivery.delivery_id, "handled");
            return (outcome, by);
        }
        last.unwrap_or((
            Outcome::Retry {
                reason: Reason::ProviderUnavailable,
                after: wait,
                detail: "every provider's circuit breaker is open".into(),
            },
            self.name,
        ))
    }
}

#[cfg(test)]
mod tests;
