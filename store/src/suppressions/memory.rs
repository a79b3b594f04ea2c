//! [`MemorySuppressions`]: the suppression list in memory, for tests and the embedded mode. It
//! passes the same conformance suite as the Cassandra table.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use notify_schemas::Channel;

use super::{Suppression, SuppressionList};
use crate::session::StoreError;

/// (channel, address, scope).
type Key = (&'static str, String, String);

/// The suppression list in memory.
#[derive(Debug, Clone, Default)]
pub struct MemorySuppressions {
    rows: Arc<Mutex<BTreeMap<Key, Suppression>>>,
}

impl MemorySuppressions {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl SuppressionList for MemorySuppressions {
    async fn add(&self, entry: &Suppression) -> Result<(), StoreError> {
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

    async fn lookup(
        &self,
        channel: Channel,
        address: &str,
    ) -> Result<Vec<Suppression>, StoreError> {
        let rows = self.rows.lock().unwrap_or_else(|e| e.into_inner());
        Ok(rows
            .iter()
            .filter(|((c, a, _), _)| *c == channel.as_str() && a == address)
            .map(|(_, entry)| entry.clone())
            .collect())
    }

    async fn remove(&self, scope: &str, channel: Channel, address: &str) -> Result<(), StoreError> {
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
}
