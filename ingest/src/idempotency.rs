//! `Idempotency-Key` handling and notification status look-ups, behind one narrow trait with a
//! database implementation and an in-memory one.
//!
//! The event id of a request with a key is derived from (tenant, key): a retry that finds no
//! record of the first attempt (its claim expired after a crash) still produces the same event
//! id, which the later stages deduplicate. See `notify_store::log` for the claim protocol.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use notify_store::log::{Claim, IdempotencyStore, LogEntry};
use notify_store::StoreError;
use scylla::client::session::Session;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Namespace of event ids derived from idempotency keys.
const EVENT_ID_NAMESPACE: Uuid = Uuid::from_u128(0x5f0e_8a8e_41c4_4d0b_9a7e_1c2f_6e63_a7d1);

/// The event id a (tenant, idempotency key) pair always maps to.
pub fn event_id_for_key(tenant: &str, key: &str) -> Uuid {
    let mut name = Vec::with_capacity(tenant.len() + key.len() + 8);
    name.extend_from_slice(&(tenant.len() as u64).to_be_bytes());
    name.extend_from_slice(tenant.as_bytes());
    name.extend_from_slice(key.as_bytes());
    Uuid::new_v5(&EVENT_ID_NAMESPACE, &name)
}

/// Hex SHA-256 of a request body, to tell a retry from a reuse of the key for another request.
pub fn request_hash(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// Idempotency claims and notification log reads.
pub trait Ledger: Send + Sync + std::fmt::Debug {
    /// Tries to own (tenant, key) for `event_id`; see [`Claim`].
    fn claim<'a>(
        &'a self,
        tenant: &'a str,
        key: &'a str,
        event_id: &'a str,
        request_hash: &'a str,
    ) -> BoxFuture<'a, Result<Claim, StoreError>>;

    /// Turns an owned claim into an accepted one for `window`.
    fn accept<'a>(
        &'a self,
        tenant: &'a str,
        key: &'a str,
        event_id: &'a str,
        request_hash: &'a str,
        window: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Gives up an owned claim whose record was not produced.
    fn release<'a>(
        &'a self,
        tenant: &'a str,
        key: &'a str,
        event_id: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// The notification log rows of one event of one tenant.
    fn entries<'a>(
        &'a self,
        tenant: &'a str,
        event_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<LogEntry>, StoreError>>;

    /// Whether the database answers (for `/readyz`).
    fn check(&self) -> BoxFuture<'_, Result<(), StoreError>>;
}

/// [`Ledger`] over ScyllaDB / Cassandra.
#[derive(Debug)]
pub struct CassandraLedger {
    session: Arc<Session>,
    store: IdempotencyStore,
}

impl CassandraLedger {
    /// Prepares the statements in `keyspace`.
    pub async fn new(session: Arc<Session>, keyspace: &str) -> Result<Self, StoreError> {
        let store = IdempotencyStore::new(&session, keyspace).await?;
        Ok(Self { session, store })
    }
}

impl Ledger for CassandraLedger {
    fn claim<'a>(
        &'a self,
        tenant: &'a str,
        key: &'a str,
        event_id: &'a str,
        request_hash: &'a str,
    ) -> BoxFuture<'a, Result<Claim, StoreError>> {
        Box::pin(
            self.store
                .claim(&self.session, tenant, key, event_id, request_hash),
        )
    }

    fn accept<'a>(
        &'a self,
        tenant: &'a str,
        key: &'a str,
        event_id: &'a str,
        request_hash: &'a str,
        window: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(
            self.store
                .accept(&self.session, tenant, key, event_id, request_hash, window),
        )
    }

    fn release<'a>(
        &'a self,
        tenant: &'a str,
        key: &'a str,
        event_id: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(self.store.release(&self.session, tenant, key, event_id))
    }

    fn entries<'a>(
        &'a self,
        tenant: &'a str,
        event_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<LogEntry>, StoreError>> {
        Box::pin(self.store.log_entries(&self.session, tenant, event_id))
    }

    fn check(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            self.session
                .query_unpaged("SELECT release_version FROM system.local", ())
                .await?;
            Ok(())
        })
    }
}

#[derive(Debug, Clone)]
struct MemoryClaim {
    event_id: String,
    request_hash: String,
    accepted: bool,
}

/// In-memory [`Ledger`] for in-process tests and the embedded demo (no expiry).
#[derive(Debug, Default)]
pub struct MemoryLedger {
    claims: Mutex<HashMap<(String, String), MemoryClaim>>,
    log: Mutex<HashMap<(String, String), Vec<LogEntry>>>,
}

impl MemoryLedger {
    /// Adds a notification log row, as a later stage would.
    pub fn record(&self, tenant: &str, event_id: &str, entry: LogEntry) {
        if let Ok(mut log) = self.log.lock() {
            log.entry((tenant.to_owned(), event_id.to_owned()))
                .or_default()
                .push(entry);
        }
    }

    fn poisoned() -> StoreError {
        StoreError::Result("in-memory ledger lock poisoned".into())
    }
}

impl Ledger for MemoryLedger {
    fn claim<'a>(
        &'a self,
        tenant: &'a str,
        key: &'a str,
        event_id: &'a str,
        request_hash: &'a str,
    ) -> BoxFuture<'a, Result<Claim, StoreError>> {
        Box::pin(async move {
            let mut claims = self.claims.lock().map_err(|_| Self::poisoned())?;
            let slot = (tenant.to_owned(), key.to_owned());
            Ok(match claims.get(&slot) {
                Some(c) if c.accepted => Claim::Accepted {
                    event_id: c.event_id.clone(),
                    request_hash: c.request_hash.clone(),
                },
                Some(c) => Claim::Pending {
                    request_hash: c.request_hash.clone(),
                },
                None => {
                    let claim = MemoryClaim {
                        event_id: event_id.to_owned(),
                        request_hash: request_hash.to_owned(),
                        accepted: false,
                    };
                    claims.insert(slot, claim);
                    Claim::Owned
                }
            })
        })
    }

    fn accept<'a>(
        &'a self,
        tenant: &'a str,
        key: &'a str,
        _event_id: &'a str,
        request_hash: &'a str,
        _window: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let mut claims = self.claims.lock().map_err(|_| Self::poisoned())?;
            Ok(match claims.get_mut(&(tenant.to_owned(), key.to_owned())) {
                Some(c) if c.request_hash == request_hash => {
                    c.accepted = true;
                    true
                }
                _ => false,
            })
        })
    }

    fn release<'a>(
        &'a self,
        tenant: &'a str,
        key: &'a str,
        event_id: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut claims = self.claims.lock().map_err(|_| Self::poisoned())?;
            let slot = (tenant.to_owned(), key.to_owned());
            if claims
                .get(&slot)
                .is_some_and(|c| !c.accepted && c.event_id == event_id)
            {
                claims.remove(&slot);
            }
            Ok(())
        })
    }

    fn entries<'a>(
        &'a self,
        tenant: &'a str,
        event_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<LogEntry>, StoreError>> {
        Box::pin(async move {
            let log = self.log.lock().map_err(|_| Self::poisoned())?;
            Ok(log
                .get(&(tenant.to_owned(), event_id.to_owned()))
                .cloned()
                .unwrap_or_default())
        })
    }

    fn check(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async { Ok(()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_from_keys_are_stable_and_tenant_scoped() {
        assert_eq!(event_id_for_key("a", "k1"), event_id_for_key("a", "k1"));
        assert_ne!(event_id_for_key("a", "k1"), event_id_for_key("b", "k1"));
        assert_ne!(event_id_for_key("a", "bk"), event_id_for_key("ab", "k"));
    }
}
