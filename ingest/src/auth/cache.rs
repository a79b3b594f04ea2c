//! A short-lived memory of credential checks, so a client sending the same credentials on
//! every request costs one hash and one map look-up instead of a database read and a signature
//! check, whether they are good or bad.
//!
//! Guarantees: entries are keyed by SHA-256 of the whole `Authorization` value, never by the
//! credential itself, so the cache holds nothing a client could authenticate with; a hit means
//! exactly that credential was verified (or refused) less than the TTL ago. A cached bearer
//! token is not accepted past its own `exp` (plus leeway). Refusals are kept for the shorter
//! `ingest.auth_negative_cache_ttl_ms`, so an app created or enabled after a refusal works at
//! the latest that long after. Both maps are bounded in entries.
//!
//! Not guaranteed: a disabled app keeps working from the cache until its entries expire (at most
//! `ingest.auth_cache_ttl_ms`); distinct bad credentials (a new guess per request) each still
//! cost a read, since nothing is known about them yet.

use std::fmt;
use std::time::Duration;

use moka::future::Cache;
use sha2::{Digest, Sha256};

use super::Principal;
use super::Reject;

/// Most credentials remembered at once; each entry is well under 200 bytes.
const MAX_ENTRIES: u64 = 100_000;

/// Most refused credentials remembered at once; each entry is under 100 bytes.
const MAX_REFUSED_ENTRIES: u64 = 100_000;

/// Separates these hashes from any other SHA-256 use of the same bytes.
const KEY_DOMAIN: &[u8] = b"notify-auth-cache-v1\n";

/// The cache key of a presented credential.
pub(crate) type CacheKey = [u8; 32];

#[derive(Clone)]
struct Entry {
    principal: Principal,
    /// Unix seconds after which the credential is no longer valid (bearer tokens); `None` for
    /// credentials without an expiry.
    valid_until_s: Option<u64>,
}

/// Successful verifications of the last `ttl` and refusals of the last `refused_ttl`; a TTL of
/// zero disables that half.
pub(crate) struct AuthCache {
    entries: Option<Cache<CacheKey, Entry>>,
    refused: Option<Cache<CacheKey, Reject>>,
}

impl fmt::Debug for AuthCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthCache")
            .field("enabled", &self.entries.is_some())
            .field("entries", &self.entries.as_ref().map(Cache::entry_count))
            .field("refused", &self.refused.as_ref().map(Cache::entry_count))
            .finish()
    }
}

impl AuthCache {
    pub(crate) fn new(ttl: Duration, refused_ttl: Duration) -> Self {
        Self {
            entries: bounded(MAX_ENTRIES, ttl),
            refused: bounded(MAX_REFUSED_ENTRIES, refused_ttl),
        }
    }

    /// The key under which the credential `authorization` (the header value) is remembered.
    pub(crate) fn key(authorization: &str) -> CacheKey {
        let mut hasher = Sha256::new();
        hasher.update(KEY_DOMAIN);
        hasher.update(authorization.as_bytes());
        hasher.finalize().into()
    }

    /// Who this credential authenticated as, if it was verified recently and is still valid at
    /// `now_s`.
    pub(crate) async fn get(&self, key: &CacheKey, now_s: u64) -> Option<Principal> {
        let entry = self.entries.as_ref()?.get(key).await?;
        match entry.valid_until_s {
            Some(until) if now_s > until => None,
            _ => Some(entry.principal),
        }
    }

    /// Why this credential was refused, if it was less than the refusal TTL ago.
    pub(crate) async fn refused(&self, key: &CacheKey) -> Option<Reject> {
        self.refused.as_ref()?.get(key).await
    }

    /// Remembers a refusal.
    pub(crate) async fn insert_refused(&self, key: CacheKey, reason: Reject) {
        if let Some(refused) = &self.refused {
            refused.insert(key, reason).await;
        }
    }

    /// Remembers a successful verification.
    pub(crate) async fn insert(
        &self,
        key: CacheKey,
        principal: Principal,
        valid_until_s: Option<u64>,
    ) {
        if let Some(entries) = &self.entries {
            entries
                .insert(
                    key,
                    Entry {
                        principal,
                        valid_until_s,
                    },
                )
                .await;
        }
    }
}

/// A map of at most `capacity` entries living `ttl`; `None` for a zero TTL.
fn bounded<V>(capacity: u64, ttl: Duration) -> Option<Cache<CacheKey, V>>
where
    V: Clone + Send + Sync + 'static,
{
    (!ttl.is_zero()).then(|| {
        Cache::builder()
            .max_capacity(capacity)
            .time_to_live(ttl)
            .build()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenant::Tenant;
    use notify_store::tenants::{Scope, Scopes};

    fn principal(tenant: &str) -> Principal {
        Principal {
            tenant: Tenant(tenant.into()),
            scopes: Scopes::only(Scope::Send),
            app_key: crate::tenant::AppKey("ak_1".into()),
        }
    }

    #[tokio::test]
    async fn remembers_until_the_credential_expires() {
        let cache = AuthCache::new(Duration::from_secs(60), Duration::ZERO);
        let basic = AuthCache::key("Basic abc");
        let bearer = AuthCache::key("Bearer xyz");
        assert_ne!(basic, bearer);
        assert_eq!(cache.get(&basic, 100).await, None);

        cache.insert(basic, principal("t1"), None).await;
        cache.insert(bearer, principal("t2"), Some(150)).await;
        assert_eq!(cache.get(&basic, 10_000).await, Some(principal("t1")));
        assert_eq!(cache.get(&bearer, 150).await, Some(principal("t2")));
        assert_eq!(cache.get(&bearer, 151).await, None);
    }

    #[tokio::test]
    async fn zero_ttl_disables_the_cache() {
        let cache = AuthCache::new(Duration::ZERO, Duration::ZERO);
        let key = AuthCache::key("Basic abc");
        cache.insert(key, principal("t1"), None).await;
        assert_eq!(cache.get(&key, 0).await, None);
        cache.insert_refused(key, Reject::WrongSecret).await;
        assert_eq!(cache.refused(&key).await, None);
    }
}
