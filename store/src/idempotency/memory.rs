//! [`MemoryLedger`]: claims in memory, status look-ups from a [`MemoryLog`], for in-process
//! tests and the embedded mode (where the log is the dispatchers' own, so a status look-up
//! sees their deliveries as the database-backed ledger sees the shared table). It passes the
//! same [`super::conformance`] suite as [`super::CassandraLedger`].
//!
//! Claims expire as the database's do: a pending one after [`PENDING_CLAIM_TTL`], an accepted
//! one after the window it was accepted for. Not guaranteed: anything past the process's life.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::{Claim, Ledger, PENDING_CLAIM_TTL};
use crate::notification_log::{DeliveryLog, LogEntry, MemoryLog};
use crate::session::{StoreError, StoreResult};
use crate::tenants::StoreFuture;

#[derive(Debug, Clone)]
struct MemoryClaim {
    event_id: String,
    request_hash: String,
    accepted: bool,
    expires_at: Instant,
}

/// Claims by (tenant, key).
type Claims = HashMap<(String, String), MemoryClaim>;

/// In-memory [`Ledger`].
#[derive(Debug, Default)]
pub struct MemoryLedger {
    claims: Mutex<Claims>,
    log: Arc<MemoryLog>,
}

impl MemoryLedger {
    /// Claims in memory; status look-ups read `log`.
    pub fn with_log(log: Arc<MemoryLog>) -> Self {
        Self {
            claims: Mutex::default(),
            log,
        }
    }

    fn claims(&self) -> StoreResult<MutexGuard<'_, Claims>> {
        self.claims
            .lock()
            .map_err(|_| StoreError::Result("in-memory ledger lock poisoned".into()))
    }

    fn try_claim(
        &self,
        tenant: &str,
        key: &str,
        event_id: &str,
        request_hash: &str,
    ) -> StoreResult<Claim> {
        let mut claims = self.claims()?;
        let slot = (tenant.to_owned(), key.to_owned());
        let now = Instant::now();
        claims.retain(|_, c| c.expires_at > now);
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
                    expires_at: now + PENDING_CLAIM_TTL,
                };
                claims.insert(slot, claim);
                Claim::Owned
            }
        })
    }

    fn try_accept(
        &self,
        tenant: &str,
        key: &str,
        event_id: &str,
        request_hash: &str,
        window: Duration,
    ) -> StoreResult<bool> {
        let mut claims = self.claims()?;
        let now = Instant::now();
        Ok(match claims.get_mut(&(tenant.to_owned(), key.to_owned())) {
            // As the database's conditional update: the hash must match; the event id is set.
            Some(c) if c.request_hash == request_hash && c.expires_at > now => {
                c.accepted = true;
                c.expires_at = now + window;
                event_id.clone_into(&mut c.event_id);
                true
            }
            _ => false,
        })
    }

    fn try_release(&self, tenant: &str, key: &str, event_id: &str) -> StoreResult<()> {
        let mut claims = self.claims()?;
        let slot = (tenant.to_owned(), key.to_owned());
        if claims
            .get(&slot)
            .is_some_and(|c| !c.accepted && c.event_id == event_id)
        {
            claims.remove(&slot);
        }
        Ok(())
    }
}

impl Ledger for MemoryLedger {
    fn claim<'a>(
        &'a self,
        tenant: &'a str,
        key: &'a str,
        event_id: &'a str,
        request_hash: &'a str,
    ) -> StoreFuture<'a, Claim> {
        Box::pin(std::future::ready(self.try_claim(
            tenant,
            key,
            event_id,
            request_hash,
        )))
    }

    fn accept<'a>(
        &'a self,
        tenant: &'a str,
        key: &'a str,
        event_id: &'a str,
        request_hash: &'a str,
        window: Duration,
    ) -> StoreFuture<'a, bool> {
        Box::pin(std::future::ready(self.try_accept(
            tenant,
            key,
            event_id,
            request_hash,
            window,
        )))
    }

    fn release<'a>(
        &'a self,
        tenant: &'a str,
        key: &'a str,
        event_id: &'a str,
    ) -> StoreFuture<'a, ()> {
        Box::pin(std::future::ready(self.try_release(tenant, key, event_id)))
    }

    fn entries<'a>(&'a self, tenant: &'a str, event_id: &'a str) -> StoreFuture<'a, Vec<LogEntry>> {
        self.log.entries(tenant, event_id)
    }

    fn check(&self) -> StoreFuture<'_, ()> {
        Box::pin(std::future::ready(Ok(())))
    }
}

#[cfg(test)]
mod tests {
    use super::super::conformance;
    use super::*;

    #[tokio::test]
    async fn memory_ledger_passes_the_conformance_suite() {
        let log = Arc::new(MemoryLog::new());
        conformance::run_all(&MemoryLedger::with_log(Arc::clone(&log)), log.as_ref()).await;
    }
}
