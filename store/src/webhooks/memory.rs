//! [`MemoryWebhooks`]: endpoints and backlog in memory, behaving like
//! [`super::CassandraWebhooks`], for tests and the embedded demo. Not durable.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use super::{OutboxEntry, QueueId, StoreFuture, WebhookEndpoint, WebhookStore};

/// In-memory [`WebhookStore`].
#[derive(Debug, Default)]
pub struct MemoryWebhooks {
    data: Mutex<Data>,
}

#[derive(Debug, Default)]
struct Data {
    /// tenant → endpoint id → endpoint
    endpoints: HashMap<String, BTreeMap<String, WebhookEndpoint>>,
    outbox: HashMap<QueueId, BTreeMap<i64, OutboxEntry>>,
}

impl MemoryWebhooks {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn data(&self) -> MutexGuard<'_, Data> {
        // a panic while holding the lock leaves whole values behind: keep using them
        self.data
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl WebhookStore for MemoryWebhooks {
    fn create_endpoint<'a>(&'a self, endpoint: &'a WebhookEndpoint) -> StoreFuture<'a, ()> {
        self.data()
            .endpoints
            .entry(endpoint.tenant_id.clone())
            .or_default()
            .insert(endpoint.endpoint_id.clone(), endpoint.clone());
        Box::pin(async { Ok(()) })
    }

    fn endpoint<'a>(
        &'a self,
        tenant_id: &'a str,
        endpoint_id: &'a str,
    ) -> StoreFuture<'a, Option<WebhookEndpoint>> {
        let found = self
            .data()
            .endpoints
            .get(tenant_id)
            .and_then(|of| of.get(endpoint_id))
            .cloned();
        Box::pin(async { Ok(found) })
    }

    fn endpoints_of<'a>(&'a self, tenant_id: &'a str) -> StoreFuture<'a, Vec<WebhookEndpoint>> {
        let found = self
            .data()
            .endpoints
            .get(tenant_id)
            .map(|of| of.values().cloned().collect())
            .unwrap_or_default();
        Box::pin(async { Ok(found) })
    }

    fn all_endpoints(&self) -> StoreFuture<'_, Vec<WebhookEndpoint>> {
        let found = self
            .data()
            .endpoints
            .values()
            .flat_map(|of| of.values().cloned())
            .collect();
        Box::pin(async { Ok(found) })
    }

    fn set_secret<'a>(
        &'a self,
        tenant_id: &'a str,
        endpoint_id: &'a str,
        secret_ciphertext: &'a [u8],
    ) -> StoreFuture<'a, bool> {
        let mut data = self.data();
        let found = data
            .endpoints
            .get_mut(tenant_id)
            .and_then(|of| of.get_mut(endpoint_id))
            .map(|endpoint| endpoint.secret_ciphertext = secret_ciphertext.to_vec())
            .is_some();
        Box::pin(async move { Ok(found) })
    }

    fn delete_endpoint<'a>(
        &'a self,
        tenant_id: &'a str,
        endpoint_id: &'a str,
    ) -> StoreFuture<'a, bool> {
        let mut data = self.data();
        let found = data
            .endpoints
            .get_mut(tenant_id)
            .and_then(|of| of.remove(endpoint_id))
            .is_some();
        Box::pin(async move { Ok(found) })
    }

    fn append<'a>(&'a self, entries: &'a [OutboxEntry]) -> StoreFuture<'a, ()> {
        let mut data = self.data();
        for entry in entries {
            data.outbox
                .entry(entry.queue.clone())
                .or_default()
                .insert(entry.seq, entry.clone());
        }
        Box::pin(async { Ok(()) })
    }

    fn pending<'a>(
        &'a self,
        queue: &'a QueueId,
        after: Option<i64>,
        limit: usize,
    ) -> StoreFuture<'a, Vec<OutboxEntry>> {
        let found = self
            .data()
            .outbox
            .get(queue)
            .map(|rows| {
                rows.range(after.map_or(i64::MIN, |a| a.saturating_add(1))..)
                    .take(limit)
                    .map(|(_, entry)| entry.clone())
                    .collect()
            })
            .unwrap_or_default();
        Box::pin(async { Ok(found) })
    }

    fn remove<'a>(&'a self, queue: &'a QueueId, seq: i64) -> StoreFuture<'a, ()> {
        let mut data = self.data();
        if let Some(rows) = data.outbox.get_mut(queue) {
            rows.remove(&seq);
            if rows.is_empty() {
                data.outbox.remove(queue);
            }
        }
        Box::pin(async { Ok(()) })
    }
}
