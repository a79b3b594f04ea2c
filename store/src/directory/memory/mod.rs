//! [`MemoryDirectory`]: the directory in process memory, for the router's tests and the
//! embedded demo. It behaves like [`super::CassandraDirectory`] (the same conformance suite runs
//! against both), including listing order and cursors; it is not durable and holds everything
//! behind one lock, so it is not meant for production volumes.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;

use super::cursor::{self, Listing, Position};
use super::model::{
    device_id_for, Category, Device, DeviceState, Page, Preference, PushTarget, Template,
    TemplateVariant, Upserted, User,
};
use super::{
    check_preference_room, check_preferences, check_variants, now_ms, page_size, registered_device,
    stored_preference, stored_variants, upserted, user_must_exist, Directory, DirectoryResult,
    Invalidation,
};
use crate::directory::cursor::user_bucket;

/// Key of a user in listing order: tenant, bucket, user id.
type UserKey = (String, u16, String);
/// Key of a per-user map: tenant, user id.
type UserRef = (String, String);

/// The directory in memory. Cheap to create; share it as `Arc<dyn Directory>`.
#[derive(Debug, Default)]
pub struct MemoryDirectory {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    users: BTreeMap<UserKey, User>,
    devices: BTreeMap<UserRef, BTreeMap<String, Device>>,
    /// (category, channel name) -> enabled; keyed by the channel's name so the order matches
    /// the text clustering column of the database.
    preferences: BTreeMap<UserRef, BTreeMap<(String, &'static str), bool>>,
    categories: BTreeMap<(String, String), Category>,
    templates: BTreeMap<(String, String), TemplateEntry>,
}

/// Every version of one template is kept; a read without a version gets the latest.
#[derive(Debug, Default)]
struct TemplateEntry {
    latest_version: u32,
    versions: BTreeMap<u32, Vec<Template>>,
}

impl MemoryDirectory {
    /// An empty directory.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // No operation panics half-way through a change, so a poisoned lock still holds
        // consistent data.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn user_key(tenant: &str, user_id: &str) -> UserKey {
    (tenant.to_owned(), user_bucket(user_id), user_id.to_owned())
}

fn user_ref(tenant: &str, user_id: &str) -> UserRef {
    (tenant.to_owned(), user_id.to_owned())
}

/// The page of up to `limit` items from `range` (see [`cursor::page`]).
fn page_of<'a, K: 'a, V: Clone + 'a, O>(
    range: impl Iterator<Item = (&'a K, &'a V)>,
    limit: usize,
    item: impl Fn(&V) -> O,
    position: impl Fn(&O) -> Position,
    listing: Listing,
) -> Page<O> {
    let items = range.take(limit + 1).map(|(_, v)| item(v)).collect();
    cursor::page(items, limit, listing, position)
}

/// The entries of `tenant` in a map keyed by (tenant, id), in id order, after the listing
/// position `start` (from the first without one).
fn of_tenant<'a, V>(
    map: &'a BTreeMap<UserRef, V>,
    tenant: &'a str,
    start: Option<Position>,
) -> impl Iterator<Item = (&'a UserRef, &'a V)> + 'a {
    let lower = match start {
        Some(p) => Bound::Excluded((tenant.to_owned(), p.key)),
        None => Bound::Included((tenant.to_owned(), String::new())),
    };
    map.range((lower, Bound::Unbounded))
        .take_while(move |((t, _), _)| t == tenant)
}

#[async_trait]
impl Directory for MemoryDirectory {
    async fn get_user(&self, tenant: &str, user_id: &str) -> DirectoryResult<Option<User>> {
        Ok(self.state().users.get(&user_key(tenant, user_id)).cloned())
    }

    async fn put_user(&self, tenant: &str, user: &User) -> DirectoryResult<Upserted<User>> {
        let now = now_ms();
        let mut state = self.state();
        let key = user_key(tenant, &user.user_id);
        let existing = state.users.get(&key).map(|u| u.created_at_ms);
        let upserted = upserted(user, existing, now);
        state.users.insert(key, upserted.record.clone());
        Ok(upserted)
    }

    async fn delete_user(&self, tenant: &str, user_id: &str) -> DirectoryResult<bool> {
        let mut state = self.state();
        let existed = state.users.remove(&user_key(tenant, user_id)).is_some();
        state.devices.remove(&user_ref(tenant, user_id));
        state.preferences.remove(&user_ref(tenant, user_id));
        Ok(existed)
    }

    async fn list_users(
        &self,
        tenant: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> DirectoryResult<Page<User>> {
        let start = cursor::decode(Listing::Users, cursor)?;
        let state = self.state();
        let lower = match start {
            Some(p) => Bound::Excluded((tenant.to_owned(), p.bucket, p.key)),
            None => Bound::Included((tenant.to_owned(), 0, String::new())),
        };
        let range = state
            .users
            .range((lower, Bound::Unbounded))
            .take_while(|((t, _, _), _)| t == tenant);
        Ok(page_of(
            range,
            page_size(limit),
            User::clone,
            |u| Position::after_user(&u.user_id),
            Listing::Users,
        ))
    }

    async fn list_devices(&self, tenant: &str, user_id: &str) -> DirectoryResult<Vec<Device>> {
        Ok(self
            .state()
            .devices
            .get(&user_ref(tenant, user_id))
            .map(|devices| devices.values().cloned().collect())
            .unwrap_or_default())
    }

    async fn get_device(
        &self,
        tenant: &str,
        user_id: &str,
        device_id: &str,
    ) -> DirectoryResult<Option<Device>> {
        Ok(self
            .state()
            .devices
            .get(&user_ref(tenant, user_id))
            .and_then(|devices| devices.get(device_id))
            .cloned())
    }

    async fn put_device(
        &self,
        tenant: &str,
        user_id: &str,
        target: &PushTarget,
        app_topic: Option<&str>,
    ) -> DirectoryResult<Upserted<Device>> {
        let now = now_ms();
        let mut state = self.state();
        user_must_exist(state.users.contains_key(&user_key(tenant, user_id)))?;
        let devices = state.devices.entry(user_ref(tenant, user_id)).or_default();
        let existing = devices.get(&device_id_for(target)).map(|d| d.created_at_ms);
        let upserted = registered_device(target, app_topic, existing, devices.len(), now)?;
        devices.insert(upserted.record.device_id.clone(), upserted.record.clone());
        Ok(upserted)
    }

    async fn delete_device(
        &self,
        tenant: &str,
        user_id: &str,
        device_id: &str,
    ) -> DirectoryResult<bool> {
        Ok(self
            .state()
            .devices
            .get_mut(&user_ref(tenant, user_id))
            .and_then(|devices| devices.remove(device_id))
            .is_some())
    }

    async fn mark_invalid(
        &self,
        tenant: &str,
        user_id: &str,
        device_id: &str,
        reason: &str,
        since_ms: Option<i64>,
    ) -> DirectoryResult<Invalidation> {
        let mut state = self.state();
        let Some(device) = state
            .devices
            .get_mut(&user_ref(tenant, user_id))
            .and_then(|devices| devices.get_mut(device_id))
        else {
            return Ok(Invalidation::NotFound);
        };
        if since_ms.is_some_and(|since| device.updated_at_ms > since) {
            return Ok(Invalidation::RegisteredSince);
        }
        // updated_at_ms stays the registration time, see `Directory::mark_invalid`
        device.state = DeviceState::Invalid {
            reason: reason.to_owned(),
        };
        Ok(Invalidation::Marked)
    }

    async fn get_preferences(
        &self,
        tenant: &str,
        user_id: &str,
    ) -> DirectoryResult<Vec<Preference>> {
        let state = self.state();
        let Some(preferences) = state.preferences.get(&user_ref(tenant, user_id)) else {
            return Ok(Vec::new());
        };
        preferences
            .iter()
            .map(|((category, channel), enabled)| {
                stored_preference(category.clone(), channel, *enabled)
            })
            .collect()
    }

    async fn put_preferences(
        &self,
        tenant: &str,
        user_id: &str,
        preferences: &[Preference],
    ) -> DirectoryResult<()> {
        check_preferences(preferences)?;
        let mut state = self.state();
        user_must_exist(state.users.contains_key(&user_key(tenant, user_id)))?;
        let stored = state
            .preferences
            .entry(user_ref(tenant, user_id))
            .or_default();
        check_preference_room(stored.len(), preferences, |p| {
            stored.contains_key(&(p.category.clone(), p.channel.as_str()))
        })?;
        for preference in preferences {
            stored.insert(
                (preference.category.clone(), preference.channel.as_str()),
                preference.enabled,
            );
        }
        Ok(())
    }

    async fn delete_preferences(&self, tenant: &str, user_id: &str) -> DirectoryResult<()> {
        self.state().preferences.remove(&user_ref(tenant, user_id));
        Ok(())
    }

    async fn get_category(
        &self,
        tenant: &str,
        category_id: &str,
    ) -> DirectoryResult<Option<Category>> {
        Ok(self
            .state()
            .categories
            .get(&(tenant.to_owned(), category_id.to_owned()))
            .cloned())
    }

    async fn put_category(
        &self,
        tenant: &str,
        category: &Category,
    ) -> DirectoryResult<Upserted<Category>> {
        let now = now_ms();
        let mut state = self.state();
        let key = (tenant.to_owned(), category.category_id.clone());
        let existing = state.categories.get(&key).map(|c| c.created_at_ms);
        let upserted = upserted(category, existing, now);
        state.categories.insert(key, upserted.record.clone());
        Ok(upserted)
    }

    async fn delete_category(&self, tenant: &str, category_id: &str) -> DirectoryResult<bool> {
        Ok(self
            .state()
            .categories
            .remove(&(tenant.to_owned(), category_id.to_owned()))
            .is_some())
    }

    async fn list_categories(
        &self,
        tenant: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> DirectoryResult<Page<Category>> {
        let start = cursor::decode(Listing::Categories, cursor)?;
        let state = self.state();
        let range = of_tenant(&state.categories, tenant, start);
        Ok(page_of(
            range,
            page_size(limit),
            Category::clone,
            |c| Position::after(&c.category_id),
            Listing::Categories,
        ))
    }

    async fn get_template(
        &self,
        tenant: &str,
        template_id: &str,
        version: Option<u32>,
    ) -> DirectoryResult<Vec<Template>> {
        let state = self.state();
        let Some(entry) = state
            .templates
            .get(&(tenant.to_owned(), template_id.to_owned()))
        else {
            return Ok(Vec::new());
        };
        let variants = match version {
            Some(v) => entry.versions.get(&v),
            None => entry.versions.values().next_back(),
        };
        Ok(variants.cloned().unwrap_or_default())
    }

    async fn put_template(
        &self,
        tenant: &str,
        template_id: &str,
        variants: &[TemplateVariant],
    ) -> DirectoryResult<Vec<Template>> {
        check_variants(variants)?;
        let now = now_ms();
        let mut state = self.state();
        let entry = state
            .templates
            .entry((tenant.to_owned(), template_id.to_owned()))
            .or_default();
        let version = entry.latest_version + 1;
        let stored = stored_variants(template_id, version, variants, now);
        entry.latest_version = version;
        entry.versions.insert(version, stored.clone());
        Ok(stored)
    }

    async fn delete_template(&self, tenant: &str, template_id: &str) -> DirectoryResult<bool> {
        Ok(self
            .state()
            .templates
            .remove(&(tenant.to_owned(), template_id.to_owned()))
            .is_some())
    }

    async fn list_templates(
        &self,
        tenant: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> DirectoryResult<Page<String>> {
        let start = cursor::decode(Listing::Templates, cursor)?;
        let state = self.state();
        let range = of_tenant(&state.templates, tenant, start)
            .filter(|(_, entry)| !entry.versions.is_empty())
            .map(|((_, id), _)| (id, id));
        Ok(page_of(
            range,
            page_size(limit),
            String::clone,
            |id| Position::after(id),
            Listing::Templates,
        ))
    }
}

#[cfg(test)]
mod tests;
