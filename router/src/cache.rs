//! A bounded, short-lived cache in front of the directory, so a burst of notifications for one
//! user or category costs one database read, not one per record.
//!
//! Freshness: entries live `ttl` (a few seconds by default, `router.cache_ttl_ms`), so a change
//! made through the admin API reaches every router within that time without a change topic.
//! Failed reads are not cached: a database outage is retried, never remembered.

use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;
use notify_store::directory::{Category, Device, Preference, Template, User};
use notify_store::{Directory, DirectoryError};

/// What the router needs to know about one recipient.
#[derive(Debug, Clone, Default)]
pub struct UserView {
    /// The user, if the tenant registered one.
    pub user: Option<User>,
    /// Their devices (active and invalid; the plan skips invalid ones).
    pub devices: Vec<Device>,
    /// Their preference rows.
    pub preferences: Vec<Preference>,
}

type Key = (String, String);

/// Caches of users (with devices and preferences), categories and templates.
#[derive(Debug)]
pub struct DirectoryCache {
    directory: Arc<dyn Directory>,
    users: Cache<Key, Arc<UserView>>,
    categories: Cache<Key, Option<Arc<Category>>>,
    templates: Cache<Key, Arc<Vec<Template>>>,
}

/// A directory read failed; the record must be retried, not skipped.
#[derive(Debug, Clone, thiserror::Error)]
#[error("directory read failed: {0}")]
pub struct CacheError(pub Arc<DirectoryError>);

/// A cache of at most `capacity` entries, each living `ttl`.
fn bounded<V: Clone + Send + Sync + 'static>(ttl: Duration, capacity: u64) -> Cache<Key, V> {
    Cache::builder()
        .max_capacity(capacity)
        .time_to_live(ttl)
        .build()
}

impl DirectoryCache {
    /// Caches at most `capacity` entries of each kind for `ttl`.
    pub fn new(directory: Arc<dyn Directory>, ttl: Duration, capacity: u64) -> Self {
        Self {
            directory,
            users: bounded(ttl, capacity),
            categories: bounded(ttl, capacity),
            templates: bounded(ttl, capacity),
        }
    }

    /// The user, devices and preferences of (tenant, user).
    pub async fn user(&self, tenant: &str, user_id: &str) -> Result<Arc<UserView>, CacheError> {
        read_through(&self.users, tenant, user_id, async {
            let user = self.directory.get_user(tenant, user_id).await?;
            if user.is_none() {
                return Ok(Arc::new(UserView::default()));
            }
            let devices = self.directory.list_devices(tenant, user_id).await?;
            let preferences = self.directory.get_preferences(tenant, user_id).await?;
            Ok(Arc::new(UserView {
                user,
                devices,
                preferences,
            }))
        })
        .await
    }

    /// The category, if the tenant defined it.
    pub async fn category(
        &self,
        tenant: &str,
        category_id: &str,
    ) -> Result<Option<Arc<Category>>, CacheError> {
        read_through(&self.categories, tenant, category_id, async {
            let category = self.directory.get_category(tenant, category_id).await?;
            Ok(category.map(Arc::new))
        })
        .await
    }

    /// Every variant (locale × channel) of the newest version of a template; empty if unknown.
    pub async fn template(
        &self,
        tenant: &str,
        template_id: &str,
    ) -> Result<Arc<Vec<Template>>, CacheError> {
        read_through(&self.templates, tenant, template_id, async {
            let variants = self
                .directory
                .get_template(tenant, template_id, None)
                .await?;
            Ok(Arc::new(variants))
        })
        .await
    }
}

/// The entry of (tenant, id) in `cache`, from `read` when missing. Concurrent misses of one
/// key share one read; a failed read is returned to all of them and not cached.
async fn read_through<V: Clone + Send + Sync + 'static>(
    cache: &Cache<Key, V>,
    tenant: &str,
    id: &str,
    read: impl std::future::Future<Output = Result<V, DirectoryError>>,
) -> Result<V, CacheError> {
    cache
        .try_get_with((tenant.to_owned(), id.to_owned()), read)
        .await
        .map_err(CacheError)
}
