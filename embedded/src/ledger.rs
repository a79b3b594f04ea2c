//! The gateway's [`Ledger`] in the embedded mode: idempotency claims in memory, and status
//! look-ups (`GET /v1/notifications/{id}`) answered from the dispatchers' in-memory
//! notification log, as the database-backed ledger answers from the shared table.
//!
//! Not guaranteed: anything past the process's life; claims never expire.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use notify_dispatchers::dedup::MemoryLog;
use notify_ingest::idempotency::{Ledger, MemoryLedger};
use notify_store::log::{Claim, LogEntry};
use notify_store::StoreError;

/// Claims in a [`MemoryLedger`], log rows from a [`MemoryLog`].
#[derive(Debug)]
pub struct EmbeddedLedger {
    claims: MemoryLedger,
    log: Arc<MemoryLog>,
}

impl EmbeddedLedger {
    /// Reads status look-ups from `log`, the dispatchers' notification log.
    pub fn new(log: Arc<MemoryLog>) -> Self {
        Self {
            claims: MemoryLedger::default(),
            log,
        }
    }
}

impl Ledger for EmbeddedLedger {
    fn claim<'a>(
        &'a self,
        tenant: &'a str,
        key: &'a str,
        event_id: &'a str,
        request_hash: &'a str,
    ) -> BoxFuture<'a, Result<Claim, StoreError>> {
        self.claims.claim(tenant, key, event_id, request_hash)
    }

    fn accept<'a>(
        &'a self,
        tenant: &'a str,
        key: &'a str,
        event_id: &'a str,
        request_hash: &'a str,
        window: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        self.claims
            .accept(tenant, key, event_id, request_hash, window)
    }

    fn release<'a>(
        &'a self,
        tenant: &'a str,
        key: &'a str,
        event_id: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.claims.release(tenant, key, event_id)
    }

    fn entries<'a>(
        &'a self,
        tenant: &'a str,
        event_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<LogEntry>, StoreError>> {
        let rows = self.log.rows_of(tenant, event_id);
        Box::pin(std::future::ready(Ok(rows
            .into_iter()
            .map(|w| LogEntry {
                channel: w.channel,
                recipient: w.recipient,
                delivery_id: Some(w.delivery_id),
                state: Some(w.state),
                reason: w.reason,
                attempts: Some(w.attempts),
                provider: w.provider,
                provider_message_id: w.provider_message_id,
                updated_at_ms: Some(w.updated_at_ms),
            })
            .collect())))
    }

    fn check(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(std::future::ready(Ok(())))
    }
}
