//! The notification log as the dispatchers' dedup record, behind a narrow trait with a
//! Cassandra implementation and an in-memory one.
//!
//! Guarantees: rows are addressed by (tenant, event id, channel, recipient key), so one
//! tenant's deliveries can never suppress another's even with equal event ids. Not guaranteed:
//! isolation between concurrent writers of one row (the dispatcher serialises the records of a
//! user, which is what makes read-then-send safe).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use notify_store::log::{DeliveryLogStore, LogEntry, LogWrite};
use notify_store::StoreError;
use scylla::client::session::Session;

/// Reads and writes of the notification log rows of deliveries.
#[async_trait]
pub trait DeliveryLog: Send + Sync + std::fmt::Debug {
    /// The row of one (tenant, event, channel, recipient), if any.
    async fn get(
        &self,
        tenant: &str,
        event_id: &str,
        channel: &str,
        recipient: &str,
    ) -> Result<Option<LogEntry>, StoreError>;

    /// Writes one outcome, replacing the row.
    async fn put(&self, write: &LogWrite) -> Result<(), StoreError>;
}

/// The log in Cassandra / ScyllaDB.
#[derive(Debug)]
pub struct CassandraLog {
    session: Arc<Session>,
    statements: DeliveryLogStore,
}

impl CassandraLog {
    /// Prepares the statements against `keyspace`.
    pub async fn new(session: Arc<Session>, keyspace: &str) -> Result<Self, StoreError> {
        let statements = DeliveryLogStore::new(&session, keyspace).await?;
        Ok(Self {
            session,
            statements,
        })
    }
}

#[async_trait]
impl DeliveryLog for CassandraLog {
    async fn get(
        &self,
        tenant: &str,
        event_id: &str,
        channel: &str,
        recipient: &str,
    ) -> Result<Option<LogEntry>, StoreError> {
        self.statements
            .get(&self.session, tenant, event_id, channel, recipient)
            .await
    }

    async fn put(&self, write: &LogWrite) -> Result<(), StoreError> {
        self.statements.put(&self.session, write).await
    }
}

type RowKey = (String, String, String, String);

/// The log in memory, for tests and the embedded mode. [`MemoryLog::fail_reads`] and
/// [`MemoryLog::fail_writes`] make the next calls fail as an unreachable database would.
#[derive(Debug, Default)]
pub struct MemoryLog {
    rows: Mutex<HashMap<RowKey, LogWrite>>,
    read_failures: AtomicUsize,
    write_failures: AtomicUsize,
}

impl MemoryLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes the next `n` reads fail.
    pub fn fail_reads(&self, n: usize) {
        self.read_failures.store(n, Ordering::SeqCst);
    }

    /// Makes the next `n` writes fail.
    pub fn fail_writes(&self, n: usize) {
        self.write_failures.store(n, Ordering::SeqCst);
    }

    /// The row of one delivery, as last written.
    pub fn row(
        &self,
        tenant: &str,
        event_id: &str,
        channel: &str,
        recipient: &str,
    ) -> Option<LogWrite> {
        let key = (
            tenant.into(),
            event_id.into(),
            channel.into(),
            recipient.into(),
        );
        self.lock().get(&key).cloned()
    }

    /// Every row of one event of one tenant, in (channel, recipient) order; a scan of the
    /// whole log, for status look-ups in the embedded mode.
    pub fn rows_of(&self, tenant: &str, event_id: &str) -> Vec<LogWrite> {
        let mut rows: Vec<LogWrite> = self
            .lock()
            .iter()
            .filter(|((t, e, _, _), _)| t == tenant && e == event_id)
            .map(|(_, row)| row.clone())
            .collect();
        rows.sort_by(|a, b| (&a.channel, &a.recipient).cmp(&(&b.channel, &b.recipient)));
        rows
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<RowKey, LogWrite>> {
        self.rows.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn injected_failure(counter: &AtomicUsize) -> Result<(), StoreError> {
        let failed = counter
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if failed {
            Err(StoreError::Result("injected: database unavailable".into()))
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl DeliveryLog for MemoryLog {
    async fn get(
        &self,
        tenant: &str,
        event_id: &str,
        channel: &str,
        recipient: &str,
    ) -> Result<Option<LogEntry>, StoreError> {
        Self::injected_failure(&self.read_failures)?;
        Ok(self
            .row(tenant, event_id, channel, recipient)
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
            }))
    }

    async fn put(&self, write: &LogWrite) -> Result<(), StoreError> {
        Self::injected_failure(&self.write_failures)?;
        let key = (
            write.tenant.clone(),
            write.event_id.clone(),
            write.channel.clone(),
            write.recipient.clone(),
        );
        self.lock().insert(key, write.clone());
        Ok(())
    }
}
