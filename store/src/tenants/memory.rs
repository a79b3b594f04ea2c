//! [`MemoryTenants`]: tenants and apps in memory, behaving like [`super::CassandraTenants`],
//! for tests and the embedded demo. Not durable.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use scylla::errors::ExecutionError;

use super::{AppRecord, AppStore, StoreFuture, TenantRecord};
use crate::session::StoreError;

/// In-memory [`AppStore`] behaving like [`CassandraTenants`], for tests and the embedded demo.
/// [`MemoryTenants::set_unavailable`] makes every call fail like an unreachable cluster.
#[derive(Debug, Default)]
pub struct MemoryTenants {
    data: Mutex<MemoryData>,
    unavailable: AtomicBool,
}

#[derive(Debug, Default)]
struct MemoryData {
    tenants: HashMap<String, TenantRecord>,
    apps: HashMap<String, AppRecord>,
}

impl MemoryTenants {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// While `true`, every call fails with a client timeout, as when the cluster is down.
    pub fn set_unavailable(&self, unavailable: bool) {
        self.unavailable.store(unavailable, Ordering::SeqCst);
    }

    /// The data, or `None` while the store plays unreachable.
    fn data(&self) -> Option<MutexGuard<'_, MemoryData>> {
        if self.unavailable.load(Ordering::SeqCst) {
            return None;
        }
        // A panic while holding the lock cannot leave the maps half-updated (each operation
        // is a single insert), so a poisoned lock is still consistent.
        Some(
            self.data
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        )
    }

    /// Runs `op` on the data, or fails like an unreachable cluster.
    fn with_data<'a, T: Send + 'a>(
        &self,
        op: impl FnOnce(&mut MemoryData) -> T,
    ) -> StoreFuture<'a, T> {
        let result = match self.data() {
            Some(mut data) => Ok(op(&mut data)),
            None => Err(StoreError::Execute(Box::new(
                ExecutionError::RequestTimeout(Duration::from_secs(5)),
            ))),
        };
        Box::pin(std::future::ready(result))
    }
}

impl AppStore for MemoryTenants {
    fn app_by_key<'a>(&'a self, app_key: &'a str) -> StoreFuture<'a, Option<AppRecord>> {
        self.with_data(|data| data.apps.get(app_key).cloned())
    }

    fn tenant_by_id<'a>(&'a self, tenant_id: &'a str) -> StoreFuture<'a, Option<TenantRecord>> {
        self.with_data(|data| data.tenants.get(tenant_id).cloned())
    }

    fn create_tenant<'a>(&'a self, tenant: &'a TenantRecord) -> StoreFuture<'a, ()> {
        self.with_data(|data| {
            data.tenants
                .insert(tenant.tenant_id.clone(), tenant.clone());
        })
    }

    fn create_app<'a>(&'a self, app: &'a AppRecord) -> StoreFuture<'a, ()> {
        self.with_data(|data| {
            data.apps.insert(app.app_key.clone(), app.clone());
        })
    }

    fn set_app_disabled<'a>(&'a self, app_key: &'a str, disabled: bool) -> StoreFuture<'a, bool> {
        self.with_data(|data| match data.apps.get_mut(app_key) {
            Some(app) => {
                app.disabled = disabled;
                true
            }
            None => false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::app;
    use super::*;

    #[tokio::test]
    async fn memory_store_reads_back_and_disables() {
        let store = MemoryTenants::new();
        let tenant = TenantRecord {
            tenant_id: "tn_1".into(),
            name: "acme".into(),
        };
        store.create_tenant(&tenant).await.expect("create tenant");
        store.create_app(&app("ak_1")).await.expect("create app");
        assert_eq!(
            store.tenant_by_id("tn_1").await.expect("read"),
            Some(tenant)
        );
        assert_eq!(
            store.app_by_key("ak_1").await.expect("read"),
            Some(app("ak_1"))
        );
        assert_eq!(store.app_by_key("ak_2").await.expect("read"), None);

        assert!(store.set_app_disabled("ak_1", true).await.expect("disable"));
        assert!(!store.set_app_disabled("ak_2", true).await.expect("disable"));
        let read = store
            .app_by_key("ak_1")
            .await
            .expect("read")
            .expect("present");
        assert!(read.disabled);
    }

    #[tokio::test]
    async fn unavailable_memory_store_fails_every_call() {
        let store = MemoryTenants::new();
        store.set_unavailable(true);
        assert!(matches!(
            store.app_by_key("ak_1").await,
            Err(StoreError::Execute(_))
        ));
        store.set_unavailable(false);
        assert_eq!(store.app_by_key("ak_1").await.expect("read"), None);
    }
}
