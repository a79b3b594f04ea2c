//! [`MemoryDirectory`]: the directory in process memory, for the router's tests and the
//! embedded demo. It behaves like [`super::CassandraDirectory`] (the same conformance suite runs
//! against both), including listing order and cursors; it is not durable and holds everything
//! behind one lock, so it is not meant for production volumes.

mod templates;

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
    check_preferences, now_ms, page_size, Directory, DirectoryError, DirectoryResult, Invalidation,
    MAX_DEVICES_PER_USER, MAX_PREFERENCES_PER_USER,
};
use crate::directory::cursor::user_bucket;
use crate::directory::model::parse_channel;

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

/// Takes up to `limit` items after `after` from `range` and builds the page, with a cursor only
/// when another item follows.
fn page_of<'a, K: 'a, V: Clone + 'a, O>(
    mut range: impl Iterator<Item = (&'a K, &'a V)>,
    limit: usize,
    item: impl Fn(&V) -> O,
    position: impl Fn(&O) -> Position,
    listing: Listing,
) -> Page<O> {
    let items: Vec<O> = range.by_ref().take(limit).map(|(_, v)| item(v)).collect();
    let next = match (items.len() == limit, range.next()) {
        (true, Some(_)) => items
            .last()
            .map(|last| cursor::encode(listing, &position(last))),
        _ => None,
    };
    Page { items, next }
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
        let record = User {
            created_at_ms: existing.unwrap_or(now),
            updated_at_ms: now,
            ..user.clone()
        };
        state.users.insert(key, record.clone());
        Ok(Upserted {
            record,
            created: existing.is_none(),
        })
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
        if !state.users.contains_key(&user_key(tenant, user_id)) {
            return Err(DirectoryError::NotFound { what: "user" });
        }
        let devices = state.devices.entry(user_ref(tenant, user_id)).or_default();
        let device_id = device_id_for(target);
        let existing = devices.get(&device_id).map(|d| d.created_at_ms);
        if existing.is_none() && devices.len() >= MAX_DEVICES_PER_USER {
            return Err(DirectoryError::TooMany {
                what: "devices",
                limit: MAX_DEVICES_PER_USER,
            });
        }
        let record = Device {
            device_id: device_id.clone(),
            target: target.clone(),
            app_topic: app_topic.map(str::to_owned),
            state: DeviceState::Active,
            created_at_ms: existing.unwrap_or(now),
            updated_at_ms: now,
        };
        devices.insert(device_id, record.clone());
        Ok(Upserted {
            record,
            created: existing.is_none(),
        })
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
                Ok(Preference {
                    category: category.clone(),
                    channel: parse_channel(channel).ok_or_else(|| DirectoryError::Corrupt {
                        table: "preferences",
                        reason: format!("unknown channel {channel:?}"),
                    })?,
                    enabled: *enabled,
                })
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
        if !state.users.contains_key(&user_key(tenant, user_id)) {
            return Err(DirectoryError::NotFound { what: "user" });
        }
        let stored = state
            .preferences
            .entry(user_ref(tenant, user_id))
            .or_default();
        let added = preferences
            .iter()
            .filter(|p| !stored.contains_key(&(p.category.clone(), p.channel.as_str())))
            .count();
        if stored.len() + added > MAX_PREFERENCES_PER_USER {
            return Err(DirectoryError::TooMany {
                what: "preferences",
                limit: MAX_PREFERENCES_PER_USER,
            });
        }
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
        let record = Category {
            created_at_ms: existing.unwrap_or(now),
            updated_at_ms: now,
            ..category.clone()
        };
        state.categories.insert(key, record.clone());
        Ok(Upserted {
            record,
            created: existing.is_none(),
        })
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
        Ok(self.read_template(tenant, template_id, version))
    }

    async fn put_template(
        &self,
        tenant: &str,
        template_id: &str,
        variants: &[TemplateVariant],
    ) -> DirectoryResult<Vec<Template>> {
        self.write_template(tenant, template_id, variants)
    }

    async fn delete_template(&self, tenant: &str, template_id: &str) -> DirectoryResult<bool> {
        Ok(self.remove_template(tenant, template_id))
    }

    async fn list_templates(
        &self,
        tenant: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> DirectoryResult<Page<String>> {
        self.template_ids(tenant, cursor, limit)
    }
}

#[cfg(test)]
mod tests;
