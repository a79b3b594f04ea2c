//! A bounded, short-lived cache in front of the directory, so a burst of notifications for one
//! user or category costs one database read, not one per record.
//!
//! Freshness: entries live `ttl` (a few seconds by default, `router.cache_ttl_ms`), so a change
//! made through the admin API reaches every router within that time without a change topic.
//! Failed reads are not cached: a database outage is retried, never remembered. Each cache is
//! bounded by the size of what it holds (about `router.cache_capacity` KiB), not by its count of
//! entries alone.

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

/// Approximate bytes an entry holds, for the cache's weigher.
pub(crate) trait Footprint {
    /// Bytes of text and collections, roughly.
    fn footprint(&self) -> usize;
}

fn text(value: &Option<String>) -> usize {
    value.as_ref().map_or(0, String::len)
}

impl Footprint for Arc<UserView> {
    fn footprint(&self) -> usize {
        let user = self.user.as_ref().map_or(0, |u| {
            u.user_id.len() + text(&u.locale) + text(&u.time_zone) + text(&u.email) + text(&u.phone)
        });
        // a device: a token or a subscription (endpoint and keys), its ids and state
        let devices = 768 * self.devices.len();
        user + devices + 64 * self.preferences.len()
    }
}

impl Footprint for Option<Arc<Category>> {
    fn footprint(&self) -> usize {
        self.as_ref()
            .map_or(0, |c| c.category_id.len() + text(&c.description))
    }
}

impl Footprint for Arc<Vec<Template>> {
    fn footprint(&self) -> usize {
        self.iter()
            .map(|t| {
                t.template_id.len()
                    + t.locale.len()
                    + text(&t.title)
                    + text(&t.body)
                    + text(&t.subject)
                    + text(&t.html)
                    + text(&t.text)
                    + t.data.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>()
            })
            .sum()
    }
}

/// A cache of at most `capacity` KiB-sized units (an entry weighs one per started KiB, see
/// [`Footprint`]), each entry living `ttl`: bounded in bytes, not only in entries, so a few
/// tenants' large templates cannot take the router's memory.
fn bounded<V: Footprint + Clone + Send + Sync + 'static>(
    ttl: Duration,
    capacity: u64,
) -> Cache<Key, V> {
    Cache::builder()
        .max_capacity(capacity)
        .weigher(|key: &Key, value: &V| {
            let bytes = key.0.len() + key.1.len() + value.footprint();
            u32::try_from(bytes / 1024 + 1).unwrap_or(u32::MAX)
        })
        .time_to_live(ttl)
        .build()
}

impl DirectoryCache {
    /// Caches at most `capacity` KiB-sized units of each kind for `ttl`.
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

#[cfg(test)]
mod tests {
    use super::*;
    use notify_store::directory::{Channel, TemplateVariant};
    use notify_store::MemoryDirectory;

    #[tokio::test]
    async fn large_templates_are_bounded_by_size_not_count() {
        let directory = Arc::new(MemoryDirectory::new());
        for n in 0..20 {
            let variant = TemplateVariant {
                locale: "en".into(),
                channel: Channel::Email,
                title: None,
                body: None,
                subject: Some("s".into()),
                html: Some("h".repeat(200 * 1024)),
                text: None,
                data: Default::default(),
            };
            directory
                .put_template("acme", &format!("t{n}"), &[variant])
                .await
                .expect("template");
        }
        // 1,000 units: room for four 200 KiB templates, not for twenty
        let cache = DirectoryCache::new(directory, Duration::from_secs(60), 1_000);
        for n in 0..20 {
            let variants = cache
                .template("acme", &format!("t{n}"))
                .await
                .expect("read");
            assert_eq!(variants.len(), 1);
        }
        cache.templates.run_pending_tasks().await;
        assert!(
            cache.templates.weighted_size() <= 1_000,
            "{} units held",
            cache.templates.weighted_size()
        );
        assert!(
            cache.templates.entry_count() <= 4,
            "{}",
            cache.templates.entry_count()
        );
    }
}
