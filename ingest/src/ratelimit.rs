//! Per-tenant quotas: a token bucket per tenant (GCRA) for requests, and another for
//! notifications, where a batch of N notifications costs N tokens. Either one empty answers 429
//! with Retry-After. Applied after authentication, so they count only a tenant's own requests
//! and an attacker without credentials cannot drain a tenant's budget; each tenant has its own
//! buckets, so one tenant at its quota takes nothing from another's.
//!
//! A tenant named in `ingest.tenant_quotas` has buckets of its own with its own sizes.
//!
//! Not guaranteed: quotas are per gateway process; N replicas admit up to N times the rate.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use notify_common::config::IngestConfig;

use crate::problem::Problem;
use crate::tenant::Tenant;

/// One quota's bucket for a single tenant; `None` when the limit is off.
fn direct(per_second: u32, burst: u32) -> Option<DefaultDirectRateLimiter> {
    quota(per_second, burst).map(RateLimiter::direct)
}

fn quota(per_second: u32, burst: u32) -> Option<Quota> {
    NonZeroU32::new(per_second).map(|rate| {
        let burst = NonZeroU32::new(burst.max(per_second)).unwrap_or(rate);
        Quota::per_second(rate).allow_burst(burst)
    })
}

/// One kind of token bucket per tenant: a shared quota, and tenants with their own (each
/// `None` when the limit is off).
#[derive(Debug)]
struct Buckets {
    shared: Option<DefaultKeyedRateLimiter<String>>,
    own: HashMap<String, Option<DefaultDirectRateLimiter>>,
}

impl Buckets {
    fn new(per_second: u32, burst: u32) -> Self {
        Self {
            shared: quota(per_second, burst).map(RateLimiter::keyed),
            own: HashMap::new(),
        }
    }

    /// Gives `tenant` a quota of its own.
    fn set_own(&mut self, tenant: &str, per_second: u32, burst: u32) {
        self.own
            .insert(tenant.to_owned(), direct(per_second, burst));
    }

    /// Takes `n` tokens of `tenant`'s bucket, all or none; else the whole seconds to wait.
    fn take(&self, clock: &DefaultClock, tenant: &str, n: usize) -> Result<(), u64> {
        let Some(n) = u32::try_from(n).ok().and_then(NonZeroU32::new) else {
            return Ok(());
        };
        let taken = match self.own.get(tenant) {
            Some(Some(limiter)) => limiter.check_n(n),
            Some(None) => return Ok(()),
            None => match &self.shared {
                Some(limiter) => limiter.check_key_n(&tenant.to_owned(), n),
                None => return Ok(()),
            },
        };
        match taken {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => {
                let wait = not_until.wait_time_from(clock.now());
                Err(wait.as_secs() + u64::from(wait.subsec_nanos() > 0))
            }
            // more than the burst: never possible, which config validation rules out for the
            // largest batch; answered as a plain 429 rather than accepted
            Err(_) => Err(1),
        }
    }

    fn shrink(&self) {
        if let Some(limiter) = &self.shared {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

/// Token buckets keyed by tenant id.
#[derive(Debug)]
pub struct TenantLimiter {
    requests: Buckets,
    notifications: Buckets,
    clock: DefaultClock,
}

impl TenantLimiter {
    /// Requests: `per_second` sustained with `burst` on top; `per_second == 0` disables
    /// limiting. Notifications are not limited (see [`TenantLimiter::with_notifications`]).
    pub fn new(per_second: u32, burst: u32) -> Self {
        Self {
            requests: Buckets::new(per_second, burst),
            notifications: Buckets::new(0, 0),
            clock: DefaultClock::default(),
        }
    }

    /// Also limits notifications to `per_second` sustained with `burst` on top (0: no limit).
    #[must_use]
    pub fn with_notifications(mut self, per_second: u32, burst: u32) -> Self {
        self.notifications = Buckets::new(per_second, burst);
        self
    }

    /// The quotas `ingest.tenant_*` configure, and the tenants `ingest.tenant_quotas` gives
    /// their own.
    pub fn from_config(config: &IngestConfig) -> Self {
        let mut limiter = Self::new(config.tenant_rate_per_s, config.tenant_burst)
            .with_notifications(
                config.tenant_notifications_per_s,
                config.tenant_notification_burst,
            );
        for (tenant, quotas) in config.quota_overrides() {
            limiter
                .requests
                .set_own(tenant, quotas.rate_per_s, quotas.burst);
            limiter.notifications.set_own(
                tenant,
                quotas.notifications_per_s,
                quotas.notification_burst,
            );
        }
        limiter
    }

    /// `Ok` if `tenant` may make a request now, else how many whole seconds to wait.
    pub fn check(&self, tenant: &str) -> Result<(), u64> {
        self.requests.take(&self.clock, tenant, 1)
    }

    /// `Ok` if `tenant` may submit `count` notifications now (all or none), else how many
    /// whole seconds to wait.
    pub fn check_notifications(&self, tenant: &str, count: usize) -> Result<(), u64> {
        self.notifications.take(&self.clock, tenant, count)
    }

    /// Takes `count` notification tokens of `tenant`, or answers the 429 to send.
    pub fn charge_notifications(&self, tenant: &str, count: usize) -> Result<(), Problem> {
        self.check_notifications(tenant, count)
            .map_err(|retry_after_s| {
                metrics::counter!(crate::metrics::RATE_LIMITED_TOTAL, "quota" => "notifications")
                    .increment(1);
                Problem::rate_limited(
                    retry_after_s,
                    "the tenant's notification rate limit is exhausted",
                )
            })
    }

    /// Forgets buckets that are full again, bounding memory to active tenants.
    pub fn shrink(&self) {
        self.requests.shrink();
        self.notifications.shrink();
    }
}

/// Middleware answering 429 when the request's tenant is over its request rate.
pub async fn limit_tenant(
    State(limiter): State<Arc<TenantLimiter>>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(tenant) = request.extensions().get::<Tenant>() {
        if let Err(retry_after_s) = limiter.check(tenant.id()) {
            metrics::counter!(crate::metrics::RATE_LIMITED_TOTAL, "quota" => "requests")
                .increment(1);
            return Problem::rate_limited(
                retry_after_s,
                "the tenant's request rate limit is exhausted",
            )
            .into_response();
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_tenant_has_its_own_bucket() {
        let limiter = TenantLimiter::new(1, 2);
        assert!(limiter.check("a").is_ok());
        assert!(limiter.check("a").is_ok());
        let wait = limiter.check("a").expect_err("bucket of a is empty");
        assert!((1..=2).contains(&wait), "wait {wait}");
        assert!(limiter.check("b").is_ok(), "b is not affected by a");
    }

    #[test]
    fn a_tenant_with_its_own_quota_gets_it_and_the_others_keep_the_shared_one() {
        use notify_common::config::QuotaOverride;
        let mut config = IngestConfig {
            tenant_rate_per_s: 1,
            tenant_burst: 1,
            tenant_notifications_per_s: 1,
            tenant_notification_burst: 10,
            ..IngestConfig::default()
        };
        // only the request burst differs: the rest stays shared
        let big = QuotaOverride {
            burst: Some(50),
            ..QuotaOverride::default()
        };
        config.tenant_quotas.insert("big".into(), big);
        let free = QuotaOverride {
            notifications_per_s: Some(0),
            ..QuotaOverride::default()
        };
        config.tenant_quotas.insert("free".into(), free);
        let limiter = TenantLimiter::from_config(&config);
        for _ in 0..50 {
            assert!(
                limiter.check("big").is_ok(),
                "big has a burst of 50 requests"
            );
        }
        assert!(limiter.check("big").is_err());
        assert!(limiter.check("small").is_ok());
        assert!(
            limiter.check("small").is_err(),
            "small keeps the shared burst"
        );
        assert!(limiter.check_notifications("big", 10).is_ok());
        assert!(
            limiter.check_notifications("big", 1).is_err(),
            "big keeps the shared notification quota"
        );
        for _ in 0..100 {
            assert!(limiter.check_notifications("free", 1_000).is_ok());
        }
        assert!(limiter.check("free").is_ok());
        assert!(
            limiter.check("free").is_err(),
            "free keeps the shared request quota"
        );
    }

    #[test]
    fn zero_rate_disables_the_limit() {
        let limiter = TenantLimiter::new(0, 0);
        for _ in 0..10_000 {
            assert!(limiter.check("a").is_ok());
            assert!(limiter.check_notifications("a", 1000).is_ok());
        }
    }

    #[test]
    fn notifications_cost_one_token_each_all_or_none() {
        let limiter = TenantLimiter::new(0, 0).with_notifications(10, 100);
        assert!(limiter.check_notifications("a", 60).is_ok());
        // 40 left: a batch of 41 takes nothing, a batch of 40 then fits
        assert!(limiter.check_notifications("a", 41).is_err());
        assert!(limiter.check_notifications("a", 40).is_ok());
        let wait = limiter.check_notifications("a", 1).expect_err("empty");
        assert!(wait >= 1, "wait {wait}");
        assert!(limiter.check_notifications("b", 100).is_ok());
        assert!(limiter.check("a").is_ok(), "requests are a separate quota");
        // more than the burst can never pass
        assert!(limiter.check_notifications("c", 101).is_err());
    }
}
