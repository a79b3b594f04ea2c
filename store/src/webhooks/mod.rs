//! Tenants' webhook endpoints and the durable backlog of status events waiting for them: the
//! narrow [`WebhookStore`] trait, its Cassandra implementation [`CassandraWebhooks`] and an
//! in-memory one [`MemoryWebhooks`] with the same behaviour (the [`conformance`] suite runs
//! against both).
//!
//! Guarantees: the store never sees a clear signing secret, only its ciphertext (sealed by the
//! gateway with the operator's secrets key), and [`WebhookEndpoint`]'s `Debug` does not print
//! it. Every read and write of an endpoint names its tenant, so one tenant can never read or
//! change another's. The backlog is one queue per (endpoint, shard), read in `seq` order;
//! appending the same (endpoint, shard, seq) twice keeps one row, so re-reading a record after
//! a crash does not queue it twice.
//!
//! Not guaranteed: ordering between shards, nor that an endpoint removed while its backlog is
//! being posted sees no further post (the sender drops the rest at its next read).

mod cassandra;
pub mod conformance;
mod memory;

use std::fmt;

pub use cassandra::CassandraWebhooks;
pub use memory::MemoryWebhooks;

pub use crate::tenants::StoreFuture;

/// One tenant endpoint that status events are posted to.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookEndpoint {
    /// The tenant whose events it receives.
    pub tenant_id: String,
    /// Opaque id, `wh_` followed by random characters.
    pub endpoint_id: String,
    /// The app that registered it.
    pub app_key: String,
    /// Where events are posted (an https URL that passed the SSRF guard when registered).
    pub url: String,
    /// The signing secret sealed with the operator's secrets key (format owned by the caller).
    pub secret_ciphertext: Vec<u8>,
    /// A disabled endpoint receives nothing.
    pub enabled: bool,
    /// Status names (`SENT`, `FAILED`, `DELIVERED`, ...) it wants; empty: every status.
    pub statuses: Vec<String>,
    /// When it was registered, in milliseconds since the epoch.
    pub created_at_ms: i64,
}

impl fmt::Debug for WebhookEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookEndpoint")
            .field("tenant_id", &self.tenant_id)
            .field("endpoint_id", &self.endpoint_id)
            .field("app_key", &self.app_key)
            .field("url", &self.url)
            .field("secret_ciphertext", &"[redacted]")
            .field("enabled", &self.enabled)
            .field("statuses", &self.statuses)
            .field("created_at_ms", &self.created_at_ms)
            .finish()
    }
}

/// The associated data an endpoint's signing secret is sealed with (`notify_common::sealed`):
/// its tenant and id, so a ciphertext copied onto another endpoint's row does not open.
pub fn sealing_context(tenant_id: &str, endpoint_id: &str) -> Vec<u8> {
    format!("webhook:{tenant_id}:{endpoint_id}").into_bytes()
}

/// Where one queue of the backlog lives: an endpoint and a shard (the `notify.status`
/// partition its events were read from).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueueId {
    /// The endpoint.
    pub endpoint_id: String,
    /// The shard.
    pub shard: i32,
}

/// One status event waiting to be posted to one endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    /// The queue it waits in.
    pub queue: QueueId,
    /// Its place in the queue: the offset it was read at.
    pub seq: i64,
    /// The tenant it belongs to.
    pub tenant_id: String,
    /// What orders it: the delivery (or, for request-wide outcomes, the event) it reports on.
    pub delivery_key: String,
    /// The JSON body to post.
    pub body: Vec<u8>,
    /// When it was read, in milliseconds since the epoch: the retry budget counts from here.
    pub enqueued_at_ms: i64,
}

/// Storage of webhook endpoints and their backlog.
pub trait WebhookStore: Send + Sync + fmt::Debug {
    /// Stores a new endpoint (an existing id of the same tenant is overwritten).
    fn create_endpoint<'a>(&'a self, endpoint: &'a WebhookEndpoint) -> StoreFuture<'a, ()>;
    /// The tenant's endpoint with this id, if any.
    fn endpoint<'a>(
        &'a self,
        tenant_id: &'a str,
        endpoint_id: &'a str,
    ) -> StoreFuture<'a, Option<WebhookEndpoint>>;
    /// Every endpoint of the tenant, by id.
    fn endpoints_of<'a>(&'a self, tenant_id: &'a str) -> StoreFuture<'a, Vec<WebhookEndpoint>>;
    /// Every endpoint of every tenant (the sender's start-up scan; the table is small).
    fn all_endpoints(&self) -> StoreFuture<'_, Vec<WebhookEndpoint>>;
    /// Replaces the sealed secret of an endpoint; `false` if the tenant has no such endpoint.
    fn set_secret<'a>(
        &'a self,
        tenant_id: &'a str,
        endpoint_id: &'a str,
        secret_ciphertext: &'a [u8],
    ) -> StoreFuture<'a, bool>;
    /// Removes an endpoint; `false` if the tenant had no such endpoint. Its backlog stays until
    /// the sender drops it.
    fn delete_endpoint<'a>(
        &'a self,
        tenant_id: &'a str,
        endpoint_id: &'a str,
    ) -> StoreFuture<'a, bool>;
    /// Adds events to the backlog; an entry already there (same queue and seq) is overwritten.
    fn append<'a>(&'a self, entries: &'a [OutboxEntry]) -> StoreFuture<'a, ()>;
    /// Up to `limit` entries of `queue` with a seq above `after` (`None`: from the start), in
    /// seq order.
    fn pending<'a>(
        &'a self,
        queue: &'a QueueId,
        after: Option<i64>,
        limit: usize,
    ) -> StoreFuture<'a, Vec<OutboxEntry>>;
    /// Removes one entry of the backlog (posted or dead-lettered); removing a missing one is
    /// not an error.
    fn remove<'a>(&'a self, queue: &'a QueueId, seq: i64) -> StoreFuture<'a, ()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_of_an_endpoint_hides_its_secret() {
        let endpoint = conformance::endpoint("tn_1", "wh_1");
        let text = format!("{endpoint:?}");
        assert!(
            text.contains("wh_1") && text.contains("[redacted]"),
            "{text}"
        );
        assert!(!text.contains("[1, 2, 3]"), "{text}");
    }

    #[tokio::test]
    async fn memory_store_passes_the_conformance_suite() {
        conformance::run_all(&MemoryWebhooks::new()).await;
    }
}
