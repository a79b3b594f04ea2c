//! Per-tenant request rate limit: a token bucket per tenant (GCRA), answered 429 with
//! Retry-After when empty. Applied after authentication, so it counts only a tenant's own
//! requests and an attacker without credentials cannot drain a tenant's budget.

use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::problem::Problem;
use crate::tenant::Tenant;

/// Token buckets keyed by tenant id.
#[derive(Debug)]
pub struct TenantLimiter {
    limiter: Option<DefaultKeyedRateLimiter<String>>,
    clock: DefaultClock,
}

impl TenantLimiter {
    /// `per_second` sustained with `burst` on top; `per_second == 0` disables limiting.
    pub fn new(per_second: u32, burst: u32) -> Self {
        let limiter = NonZeroU32::new(per_second).map(|rate| {
            let burst = NonZeroU32::new(burst.max(per_second)).unwrap_or(rate);
            RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
        });
        Self {
            limiter,
            clock: DefaultClock::default(),
        }
    }

    /// `Ok` if `tenant` may make a request now, else how many whole seconds to wait.
    pub fn check(&self, tenant: &str) -> Result<(), u64> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        limiter.check_key(&tenant.to_owned()).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
        })
    }

    /// Forgets buckets that are full again, bounding memory to active tenants.
    pub fn shrink(&self) {
        if let Some(limiter) = &self.limiter {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

/// Middleware answering 429 when the request's tenant is over its rate.
pub async fn limit_tenant(
    State(limiter): State<Arc<TenantLimiter>>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(tenant) = request.extensions().get::<Tenant>() {
        if let Err(retry_after_s) = limiter.check(tenant.id()) {
            metrics::counter!(crate::metrics::RATE_LIMITED_TOTAL).increment(1);
            return Problem::rate_limited(retry_after_s).into_response();
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
    fn zero_rate_disables_the_limit() {
        let limiter = TenantLimiter::new(0, 0);
        for _ in 0..10_000 {
            assert!(limiter.check("a").is_ok());
        }
    }
}
