//! Each tenant's endpoints, read from the store and reused for `webhooks.cache_ttl_ms`, so the
//! consumer reads the store once per tenant and interval, not once per event.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use notify_store::webhooks::{WebhookEndpoint, WebhookStore};
use notify_store::StoreResult;

/// Most tenants remembered; past that the cache starts over (it is only a cache).
const MAX_TENANTS: usize = 100_000;

type Entry = (Instant, Arc<Vec<WebhookEndpoint>>);

/// A TTL cache of [`WebhookStore::endpoints_of`].
pub struct EndpointCache {
    store: Arc<dyn WebhookStore>,
    ttl: Duration,
    entries: Mutex<HashMap<String, Entry>>,
}

impl std::fmt::Debug for EndpointCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointCache")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl EndpointCache {
    /// A cache over `store` keeping each tenant's list for `ttl`.
    pub fn new(store: Arc<dyn WebhookStore>, ttl: Duration) -> Self {
        Self {
            store,
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The tenant's endpoints, at most `ttl` old.
    pub async fn endpoints_of(&self, tenant: &str) -> StoreResult<Arc<Vec<WebhookEndpoint>>> {
        if let Some((at, found)) = self.lock().get(tenant) {
            if at.elapsed() < self.ttl {
                return Ok(Arc::clone(found));
            }
        }
        let found = Arc::new(self.store.endpoints_of(tenant).await?);
        let mut entries = self.lock();
        if entries.len() >= MAX_TENANTS {
            entries.clear();
        }
        entries.insert(tenant.to_owned(), (Instant::now(), Arc::clone(&found)));
        Ok(found)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
