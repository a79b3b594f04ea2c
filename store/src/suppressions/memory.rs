//! [`MemorySuppressions`]: the suppression list in memory, for tests and the embedded mode. It
//! passes the same conformance suite as the Cassandra table.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use notify_schemas::Channel;

use super::{Suppression, SuppressionList};
use crate::session::{StoreError, StoreResult};

/// (channel, address, scope).
type Key = (&'static str, String, String);

/// The suppression list in memory.
#[derive(Debug, Clone, Default)]
pub struct MemorySuppressions {
    rows: Arc<Mutex<BTreeMap<Key, Suppression>>>,
    add_failures: Arc<AtomicUsize>,
}

impl MemorySuppressions {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes the next `n` calls of [`SuppressionList::add`] fail as an unavailable database.
    pub fn fail_adds(&self, n: usize) {
        self.add_failures.store(n, Ordering::SeqCst);
    }
}

#[async_trait]
impl SuppressionList for MemorySuppressions {
    async fn add(&self, entry: &Suppression) -> StoreResult<()> {
        let failed = self
            .add_failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if failed {
            return Err(StoreError::Result("injected: database unavailable".into()));
        }
        let key = (
            entry.channel.as_str(),
            entry.address.clone(),
            entry.scope.clone(),
        );
        self.rows
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, entry.clone());
        Ok(())
    }

    async fn lookup(&self, channel: Channel, address: &str) -> StoreResult<Vec<Suppression>> {
        let rows = self.rows.lock().unwrap_or_else(|e| e.into_inner());
        Ok(rows
            .iter()
            .filter(|((c, a, _), _)| *c == channel.as_str() && a == address)
            .map(|(_, entry)| entry.clone())
            .collect())
    }

    async fn remove(&self, scope: &str, channel: Channel, address: &str) -> StoreResult<()> {
        self.rows
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&(channel.as_str(), address.to_owned(), scope.to_owned()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_suppressions_pass_the_conformance_suite() {
        super::super::conformance::run_all(&MemorySuppressions::new()).await;
    }

    #[tokio::test]
    async fn injected_failures_fail_the_next_adds_only() {
        let list = MemorySuppressions::new();
        let entry = Suppression {
            scope: "tn".into(),
            channel: Channel::Email,
            address: "ann@example.org".into(),
            reason: super::super::SuppressionReason::Bounced,
            created_at_ms: 1,
            delivery_id: None,
        };
        list.fail_adds(1);
        assert!(list.add(&entry).await.is_err());
        assert!(list
            .lookup(Channel::Email, &entry.address)
            .await
            .unwrap()
            .is_empty());
        list.add(&entry).await.unwrap();
        assert_eq!(
            list.lookup(Channel::Email, &entry.address).await.unwrap(),
            [entry]
        );
    }
}
