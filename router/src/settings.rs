//! Per-tenant settings behind a short-lived cache: which tenants exist and how each wants its
//! requests routed (critical bypass, default locale, rate limits).
//!
//! Guarantees: a tenant that exists but stored no settings gets the defaults; an unknown tenant
//! reads as `None` (its records are dead-lettered), and that answer is cached like any other for
//! `ttl`, so a tenant created through the admin API is routed within that time. Failed reads are
//! not cached: an outage is retried, never remembered as "unknown".

use std::sync::Arc;
use std::time::Duration;

use notify_store::settings::{SettingsStore, TenantSettings};
use notify_store::tenants::AppStore;
use notify_store::StoreError;

/// Known tenants with their settings, cached for a few seconds.
pub struct SettingsCache {
    tenants: Arc<dyn AppStore>,
    settings: Arc<dyn SettingsStore>,
    /// `None` for a tenant that does not exist.
    known: moka::future::Cache<String, Option<Arc<TenantSettings>>>,
}

impl std::fmt::Debug for SettingsCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SettingsCache")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// A tenant or settings read failed; the record must be retried, not skipped.
#[derive(Debug, Clone, thiserror::Error)]
#[error("tenant lookup failed: {0}")]
pub struct SettingsError(String);

impl SettingsCache {
    /// Caches up to 100 000 tenants for `ttl`.
    pub fn new(
        tenants: Arc<dyn AppStore>,
        settings: Arc<dyn SettingsStore>,
        ttl: Duration,
    ) -> Self {
        Self {
            tenants,
            settings,
            known: moka::future::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(ttl)
                .build(),
        }
    }

    /// The tenant's settings (defaults when it has none stored); `None` for an unknown tenant.
    pub async fn get(&self, tenant: &str) -> Result<Option<Arc<TenantSettings>>, SettingsError> {
        let tenants = self.tenants.clone();
        let settings = self.settings.clone();
        let id = tenant.to_owned();
        self.known
            .try_get_with(id.clone(), async move {
                if tenants.tenant_by_id(&id).await?.is_none() {
                    return Ok::<_, StoreError>(None);
                }
                let stored = settings.settings(&id).await?.unwrap_or_default();
                Ok(Some(Arc::new(stored)))
            })
            .await
            .map_err(|err| SettingsError(err.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use notify_store::settings::{MemorySettings, OverLimit};
    use notify_store::tenants::{MemoryTenants, TenantRecord};

    use crate::tests::acme_tenants;

    async fn stores() -> (Arc<MemoryTenants>, Arc<MemorySettings>) {
        (acme_tenants().await, Arc::new(MemorySettings::new()))
    }

    #[tokio::test]
    async fn a_known_tenant_without_settings_gets_the_defaults() {
        let (tenants, settings) = stores().await;
        let cache = SettingsCache::new(tenants, settings, Duration::from_secs(60));
        let got = cache.get("acme").await.expect("read");
        assert_eq!(got.as_deref(), Some(&TenantSettings::default()));
    }

    #[tokio::test]
    async fn stored_settings_are_read_and_an_unknown_tenant_is_none() {
        let (tenants, settings) = stores().await;
        let stored = TenantSettings {
            default_locale: Some("ko".into()),
            over_limit: OverLimit::Defer,
            ..TenantSettings::default()
        };
        settings.put_settings("acme", &stored).await.expect("put");
        let cache = SettingsCache::new(tenants, settings, Duration::from_secs(60));
        assert_eq!(
            cache.get("acme").await.expect("read").as_deref(),
            Some(&stored)
        );
        assert_eq!(cache.get("ghost").await.expect("read"), None);
    }

    #[tokio::test]
    async fn a_failed_read_is_an_error_and_is_not_cached() {
        let (tenants, settings) = stores().await;
        let cache = SettingsCache::new(tenants.clone(), settings, Duration::from_secs(60));
        tenants.set_unavailable(true);
        assert!(cache.get("acme").await.is_err());
        tenants.set_unavailable(false);
        assert!(cache.get("acme").await.expect("read").is_some());
    }

    #[tokio::test]
    async fn answers_are_cached_for_the_ttl() {
        let (tenants, settings) = stores().await;
        let cache = SettingsCache::new(tenants.clone(), settings, Duration::from_secs(60));
        assert_eq!(cache.get("later").await.expect("read"), None);
        tenants
            .create_tenant(&TenantRecord {
                tenant_id: "later".into(),
                name: "Later".into(),
            })
            .await
            .expect("tenant");
        assert_eq!(
            cache.get("later").await.expect("read"),
            None,
            "unknown stays cached until the ttl runs out"
        );
    }
}
