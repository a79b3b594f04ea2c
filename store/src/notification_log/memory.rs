//! [`MemoryLog`]: the notification log in memory, for tests and the embedded mode. It passes
//! the same [`super::conformance`] suite as [`super::CassandraLog`].
//!
//! Not guaranteed: anything past the process's life; rows never expire.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

use super::{DeliveryLog, LogEntry, LogKey, LogWrite};
use crate::session::{StoreError, StoreResult};

/// The log in memory, for tests and the embedded mode. [`MemoryLog::fail_reads`] and
/// [`MemoryLog::fail_writes`] make the next calls fail as an unreachable database would.
#[derive(Debug, Default)]
pub struct MemoryLog {
    rows: Mutex<HashMap<LogKey, LogWrite>>,
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
        let key = LogKey::new(tenant, event_id, channel, recipient);
        self.lock().get(&key).cloned()
    }

    /// Every row of one event of one tenant, in (channel, recipient) order; a scan of the
    /// whole log.
    pub fn rows_of(&self, tenant: &str, event_id: &str) -> Vec<LogWrite> {
        let mut rows: Vec<LogWrite> = self
            .lock()
            .iter()
            .filter(|(key, _)| key.tenant == tenant && key.event_id == event_id)
            .map(|(_, row)| row.clone())
            .collect();
        rows.sort_by(|a, b| (&a.channel, &a.recipient).cmp(&(&b.channel, &b.recipient)));
        rows
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<LogKey, LogWrite>> {
        // Every change is a single insert, so a poisoned lock still holds consistent rows.
        self.rows.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn injected_failure(counter: &AtomicUsize) -> StoreResult<()> {
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
    async fn get(&self, key: &LogKey) -> StoreResult<Option<LogEntry>> {
        Self::injected_failure(&self.read_failures)?;
        Ok(self.lock().get(key).cloned().map(LogEntry::from))
    }

    async fn put(&self, write: &LogWrite) -> StoreResult<()> {
        Self::injected_failure(&self.write_failures)?;
        self.lock().insert(write.key(), write.clone());
        Ok(())
    }

    async fn delete(&self, key: &LogKey) -> StoreResult<()> {
        Self::injected_failure(&self.write_failures)?;
        self.lock().remove(key);
        Ok(())
    }

    async fn entries(&self, tenant: &str, event_id: &str) -> StoreResult<Vec<LogEntry>> {
        Self::injected_failure(&self.read_failures)?;
        Ok(self
            .rows_of(tenant, event_id)
            .into_iter()
            .map(LogEntry::from)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::super::conformance;
    use super::*;

    #[tokio::test]
    async fn memory_log_passes_the_conformance_suite() {
        conformance::run_all(&MemoryLog::new()).await;
    }

    #[tokio::test]
    async fn injected_failures_fail_the_next_calls_only() {
        let log = MemoryLog::new();
        log.fail_reads(1);
        log.fail_writes(1);
        let write = conformance::write("t", "e", "sms", "+15550100", "sent");
        assert!(log.put(&write).await.is_err());
        log.put(&write).await.expect("second write");
        assert!(log
            .get(&LogKey::new("t", "e", "sms", "+15550100"))
            .await
            .is_err());
        assert!(log
            .get(&LogKey::new("t", "e", "sms", "+15550100"))
            .await
            .expect("read")
            .is_some());
    }
}
