//! The suppression list as the router reads it: for one request, the entries that hold for the
//! tenant on the user's phone number and email address, through a short-lived cache so a burst
//! for one user costs one read per address.
//!
//! Freshness: like the directory cache, entries live `router.cache_ttl_ms`, so an address added
//! by a bounce is honoured by every router within that time. Failed reads are not cached; they
//! fail the record, which is retried (a database outage never lets a suppressed address through).

use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;
use notify_schemas::Channel;
use notify_store::directory::User;
use notify_store::suppressions::{first_applying, normalize, Suppression, SuppressionList};
use notify_store::StoreError;

/// A suppression-list read failed; the record must be retried.
#[derive(Debug, Clone, thiserror::Error)]
#[error("suppression list read failed: {0}")]
pub struct SuppressError(pub Arc<StoreError>);

/// The suppression list behind a cache of (channel, address) → every entry of the address.
#[derive(Debug)]
pub struct SuppressionCache {
    list: Arc<dyn SuppressionList>,
    entries: Cache<(Channel, String), Arc<Vec<Suppression>>>,
}

impl SuppressionCache {
    /// Caches at most `capacity` addresses for `ttl`.
    pub fn new(list: Arc<dyn SuppressionList>, ttl: Duration, capacity: u64) -> Self {
        Self {
            list,
            entries: Cache::builder()
                .max_capacity(capacity)
                .time_to_live(ttl)
                .build(),
        }
    }

    /// The entries that hold for `tenant` on `user`'s phone number and email address, for the
    /// channels of `requested` (every channel when it is empty).
    pub async fn for_user(
        &self,
        tenant: &str,
        user: Option<&User>,
        requested: &[Channel],
    ) -> Result<Vec<Suppression>, SuppressError> {
        let Some(user) = user else {
            return Ok(Vec::new());
        };
        let mut found = Vec::new();
        for (channel, address) in [(Channel::Sms, &user.phone), (Channel::Email, &user.email)] {
            let wanted = requested.is_empty() || requested.contains(&channel);
            let Some(address) = address
                .as_deref()
                .filter(|a| wanted && !a.trim().is_empty())
            else {
                continue;
            };
            let key = (channel, normalize(channel, address));
            let list = &self.list;
            let entries = self
                .entries
                .try_get_with(key.clone(), async move {
                    list.lookup(key.0, &key.1).await.map(Arc::new)
                })
                .await
                .map_err(SuppressError)?;
            found.extend(first_applying(&entries, tenant).cloned());
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use notify_store::suppressions::{MemorySuppressions, SuppressionReason, EVERY_TENANT};

    use super::*;

    fn user() -> User {
        User {
            phone: Some("+15550001".into()),
            email: Some("Ann@Example.org".into()),
            ..User::new("u1")
        }
    }

    fn entry(scope: &str, channel: Channel, address: &str) -> Suppression {
        Suppression {
            scope: scope.into(),
            channel,
            address: address.into(),
            reason: SuppressionReason::Bounced,
            created_at_ms: 1,
            delivery_id: None,
        }
    }

    #[tokio::test]
    async fn only_the_entries_for_this_tenant_and_these_channels_come_back() {
        let list = Arc::new(MemorySuppressions::new());
        list.add(&entry("tn_a", Channel::Email, "ann@example.org"))
            .await
            .unwrap();
        list.add(&entry("tn_b", Channel::Sms, "+15550001"))
            .await
            .unwrap();
        list.add(&entry(EVERY_TENANT, Channel::Sms, "+15550001"))
            .await
            .unwrap();
        let cache = SuppressionCache::new(list, Duration::from_secs(60), 100);
        let user = user();
        let for_a = cache.for_user("tn_a", Some(&user), &[]).await.unwrap();
        let scopes: Vec<_> = for_a
            .iter()
            .map(|e| (e.channel, e.scope.as_str()))
            .collect();
        assert_eq!(
            scopes,
            [(Channel::Sms, EVERY_TENANT), (Channel::Email, "tn_a")]
        );
        let sms_only = cache
            .for_user("tn_b", Some(&user), &[Channel::Sms])
            .await
            .unwrap();
        assert_eq!(sms_only.len(), 1);
        assert_eq!(sms_only[0].scope, "tn_b");
        assert!(cache.for_user("tn_a", None, &[]).await.unwrap().is_empty());
        assert!(cache
            .for_user("tn_c", Some(&user), &[Channel::Apns])
            .await
            .unwrap()
            .is_empty());
    }
}
