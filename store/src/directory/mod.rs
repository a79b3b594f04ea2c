//! The directory: a tenant's users, their devices and preferences, notification categories and
//! templates, behind the narrow [`Directory`] trait.
//!
//! Guarantees every implementation gives (checked by [`conformance`], which runs against both
//! [`MemoryDirectory`] and [`CassandraDirectory`]):
//! - every operation is scoped by the tenant id passed first; one tenant can never read, list,
//!   change or delete another tenant's objects, even with the same ids;
//! - listings page with an opaque cursor ([`Page::next`]) that is `None` exactly when nothing
//!   follows; a cursor that was not produced by the same listing is refused
//!   ([`DirectoryError::InvalidCursor`]); pages hold at most [`MAX_PAGE_SIZE`] items;
//! - users list in a stable order that is not alphabetical (see [`user_bucket`]);
//! - deleting a user deletes their devices and preferences;
//! - a device id is derived from the push token or web push endpoint ([`device_id_for`]), so
//!   registering the same token again updates the same device (and makes it active again);
//! - a template version is the complete set of variants written by one `put_template`; versions
//!   count up from 1 per template and concurrent writers get distinct versions; readers see a
//!   version only once all its variants are written.
//!
//! Not guaranteed: input validation beyond the limits below (formats of ids, addresses and
//! locales are the API's job); atomicity between a user's deletion and a device registered for
//! them at the same instant; that an id freed by a delete is never reused (a deleted template
//! restarts at version 1).

use async_trait::async_trait;

mod cassandra;
pub mod conformance;
mod cursor;
mod memory;
mod model;

pub use cassandra::CassandraDirectory;
pub use cursor::{user_bucket, USER_BUCKETS};
pub use memory::MemoryDirectory;
pub use model::{
    device_id_for, Category, Device, DeviceState, Page, Platform, Preference, PushTarget,
    QuietHours, Template, TemplateVariant, Upserted, User, WebPushSubscription,
};
pub use notify_schemas::Channel;

use crate::session::StoreError;
use notify_common::clock::now_ms;

/// Page size of a listing when the caller does not ask for one.
pub const DEFAULT_PAGE_SIZE: usize = 50;
/// Largest page a listing returns; larger requests are cut to it.
pub const MAX_PAGE_SIZE: usize = 500;
/// Devices one user may have; registering one more is refused with [`DirectoryError::TooMany`].
pub const MAX_DEVICES_PER_USER: usize = 100;
/// Preference rows one user may have (categories x channels).
pub const MAX_PREFERENCES_PER_USER: usize = 1000;
/// Variants (locale x channel) in one template version.
pub const MAX_TEMPLATE_VARIANTS: usize = 100;

/// Why a directory operation failed.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// The object an operation needs does not exist for this tenant (for example registering a
    /// device for an unknown user).
    #[error("{what} not found")]
    NotFound {
        /// What is missing: `user`, `device`, ...
        what: &'static str,
    },
    /// A paging cursor that this listing did not produce.
    #[error("invalid paging cursor")]
    InvalidCursor,
    /// A per-object limit would be exceeded.
    #[error("too many {what}: at most {limit}")]
    TooMany {
        /// What there are too many of.
        what: &'static str,
        /// The limit.
        limit: usize,
    },
    /// An argument breaks a rule of the directory itself (e.g. a template without variants).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// Concurrent writers kept winning; the operation may be retried.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A stored row cannot be read back (unknown platform, missing column).
    #[error("corrupt {table} row: {reason}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// What is wrong with the row.
        reason: String,
    },
    /// The database failed (boxed: the driver's errors are large).
    #[error(transparent)]
    Store(Box<StoreError>),
}

impl From<StoreError> for DirectoryError {
    fn from(err: StoreError) -> Self {
        DirectoryError::Store(Box::new(err))
    }
}

impl DirectoryError {
    /// Whether retrying the same call later may succeed (database unreachable, timeouts,
    /// lost races). Everything else fails again the same way.
    pub fn is_transient(&self) -> bool {
        match self {
            DirectoryError::Conflict(_) => true,
            DirectoryError::Store(err) => {
                matches!(**err, StoreError::Execute(_) | StoreError::Connect { .. })
            }
            _ => false,
        }
    }
}

/// What [`Directory::mark_invalid`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalidation {
    /// The device is now invalid.
    Marked,
    /// There is no such device (never registered, or deleted).
    NotFound,
    /// The device was registered again after the token stopped being valid; it stays active.
    RegisteredSince,
}

/// Result of directory operations.
pub type DirectoryResult<T> = Result<T, DirectoryError>;

/// Users, devices, preferences, categories and templates of every tenant. Shared as
/// `Arc<dyn Directory>` by the admin API (reads and writes) and the router (reads, and
/// [`Directory::mark_invalid`] from the dispatchers).
///
/// Timestamps (`created_at_ms`, `updated_at_ms`) are set by the directory: the values in the
/// records passed to `put_*` are ignored, and `created_at_ms` of an existing object is kept.
#[async_trait]
pub trait Directory: Send + Sync + std::fmt::Debug {
    /// The user, if it exists.
    async fn get_user(&self, tenant: &str, user_id: &str) -> DirectoryResult<Option<User>>;
    /// Creates or replaces the user.
    async fn put_user(&self, tenant: &str, user: &User) -> DirectoryResult<Upserted<User>>;
    /// Deletes the user with their devices and preferences; false if there was no such user.
    async fn delete_user(&self, tenant: &str, user_id: &str) -> DirectoryResult<bool>;
    /// One page of the tenant's users, `limit` cut to 1..=[`MAX_PAGE_SIZE`].
    async fn list_users(
        &self,
        tenant: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> DirectoryResult<Page<User>>;

    /// The user's devices, in device id order (at most [`MAX_DEVICES_PER_USER`]).
    async fn list_devices(&self, tenant: &str, user_id: &str) -> DirectoryResult<Vec<Device>>;
    /// One device of the user.
    async fn get_device(
        &self,
        tenant: &str,
        user_id: &str,
        device_id: &str,
    ) -> DirectoryResult<Option<Device>>;
    /// Registers `target` for an existing user (else [`DirectoryError::NotFound`]); the device
    /// id comes from [`device_id_for`]. Registering a known target updates it and makes it
    /// active again.
    async fn put_device(
        &self,
        tenant: &str,
        user_id: &str,
        target: &PushTarget,
        app_topic: Option<&str>,
    ) -> DirectoryResult<Upserted<Device>>;
    /// Deletes one device; false if there was no such device.
    async fn delete_device(
        &self,
        tenant: &str,
        user_id: &str,
        device_id: &str,
    ) -> DirectoryResult<bool>;
    /// Marks a device invalid (the provider said the token is gone) so nothing is sent to it
    /// any more. With `since` (the instant the provider says the token stopped being valid,
    /// APNs `timestamp`), a device registered again after that instant is left active: the app
    /// re-registered the token, so it is valid again. Registration time is `updated_at_ms`,
    /// which marking does not change.
    async fn mark_invalid(
        &self,
        tenant: &str,
        user_id: &str,
        device_id: &str,
        reason: &str,
        since_ms: Option<i64>,
    ) -> DirectoryResult<Invalidation>;

    /// Every preference of the user, in (category, channel) order. A category x channel
    /// without a row is enabled. Empty for an unknown user.
    async fn get_preferences(
        &self,
        tenant: &str,
        user_id: &str,
    ) -> DirectoryResult<Vec<Preference>>;
    /// Sets the given preferences of an existing user (else [`DirectoryError::NotFound`]),
    /// leaving the others as they are.
    async fn put_preferences(
        &self,
        tenant: &str,
        user_id: &str,
        preferences: &[Preference],
    ) -> DirectoryResult<()>;
    /// Deletes every preference of the user (all categories are enabled again).
    async fn delete_preferences(&self, tenant: &str, user_id: &str) -> DirectoryResult<()>;

    /// The category, if it exists.
    async fn get_category(
        &self,
        tenant: &str,
        category_id: &str,
    ) -> DirectoryResult<Option<Category>>;
    /// Creates or replaces the category.
    async fn put_category(
        &self,
        tenant: &str,
        category: &Category,
    ) -> DirectoryResult<Upserted<Category>>;
    /// Deletes the category; false if there was no such category.
    async fn delete_category(&self, tenant: &str, category_id: &str) -> DirectoryResult<bool>;
    /// One page of the tenant's categories in id order.
    async fn list_categories(
        &self,
        tenant: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> DirectoryResult<Page<Category>>;

    /// The variants of one version of a template (the newest if `version` is `None`), in
    /// (locale, channel) order; empty if the template or version does not exist.
    async fn get_template(
        &self,
        tenant: &str,
        template_id: &str,
        version: Option<u32>,
    ) -> DirectoryResult<Vec<Template>>;
    /// Writes `variants` (1..=[`MAX_TEMPLATE_VARIANTS`], distinct locale x channel) as the next
    /// version of the template and returns them as stored.
    async fn put_template(
        &self,
        tenant: &str,
        template_id: &str,
        variants: &[TemplateVariant],
    ) -> DirectoryResult<Vec<Template>>;
    /// Deletes every version of the template; false if there was no such template.
    async fn delete_template(&self, tenant: &str, template_id: &str) -> DirectoryResult<bool>;
    /// One page of the tenant's template ids in id order.
    async fn list_templates(
        &self,
        tenant: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> DirectoryResult<Page<String>>;
}

/// A record whose timestamps the directory sets on every `put_*`.
trait Stamped: Clone {
    /// This record with the given timestamps.
    fn stamped(&self, created_at_ms: i64, updated_at_ms: i64) -> Self;
}

impl Stamped for User {
    fn stamped(&self, created_at_ms: i64, updated_at_ms: i64) -> Self {
        User {
            created_at_ms,
            updated_at_ms,
            ..self.clone()
        }
    }
}

impl Stamped for Category {
    fn stamped(&self, created_at_ms: i64, updated_at_ms: i64) -> Self {
        Category {
            created_at_ms,
            updated_at_ms,
            ..self.clone()
        }
    }
}

/// `input` as a put at `now` stores it: it keeps the creation time of the object already
/// stored (`existing_created_at_ms`), if there is one, and is written now.
fn upserted<T: Stamped>(input: &T, existing_created_at_ms: Option<i64>, now: i64) -> Upserted<T> {
    Upserted {
        record: input.stamped(existing_created_at_ms.unwrap_or(now), now),
        created: existing_created_at_ms.is_none(),
    }
}

/// The device a registration of `target` stores at `now`, given the user's `devices` and the
/// creation time of the same device if it is among them: active again, and refused when it
/// would be one device too many.
fn registered_device(
    target: &PushTarget,
    app_topic: Option<&str>,
    existing_created_at_ms: Option<i64>,
    devices: usize,
    now: i64,
) -> DirectoryResult<Upserted<Device>> {
    if existing_created_at_ms.is_none() && devices >= MAX_DEVICES_PER_USER {
        return Err(DirectoryError::TooMany {
            what: "devices",
            limit: MAX_DEVICES_PER_USER,
        });
    }
    Ok(Upserted {
        record: Device {
            device_id: device_id_for(target),
            target: target.clone(),
            app_topic: app_topic.map(str::to_owned),
            state: DeviceState::Active,
            created_at_ms: existing_created_at_ms.unwrap_or(now),
            updated_at_ms: now,
        },
        created: existing_created_at_ms.is_none(),
    })
}

/// `Ok` if the user a write is about exists, else [`DirectoryError::NotFound`].
fn user_must_exist(exists: bool) -> DirectoryResult<()> {
    if exists {
        Ok(())
    } else {
        Err(DirectoryError::NotFound { what: "user" })
    }
}

/// Checks the variants of a new template version: not empty, not too many, no locale x channel
/// twice. Shared by both implementations so they refuse the same inputs.
fn check_variants(variants: &[TemplateVariant]) -> DirectoryResult<()> {
    if variants.is_empty() {
        return Err(DirectoryError::InvalidInput(
            "a template version needs at least one variant".into(),
        ));
    }
    check_batch(
        variants,
        ("template variants", "variant"),
        MAX_TEMPLATE_VARIANTS,
        |v| (v.locale.as_str(), v.channel),
    )
}

/// Every one of `variants` stored as `version` of `template_id`, in (locale, channel) order:
/// the order a read returns them in, whichever implementation wrote them.
fn stored_variants(
    template_id: &str,
    version: u32,
    variants: &[TemplateVariant],
    created_at_ms: i64,
) -> Vec<Template> {
    let mut stored: Vec<Template> = variants
        .iter()
        .map(|v| Template::from_variant(template_id, version, v, created_at_ms))
        .collect();
    stored.sort_by(|a, b| (&a.locale, a.channel.as_str()).cmp(&(&b.locale, b.channel.as_str())));
    stored
}

/// Checks a batch of preferences: not too many, no category x channel twice.
fn check_preferences(preferences: &[Preference]) -> DirectoryResult<()> {
    check_batch(
        preferences,
        ("preferences", "preference"),
        MAX_PREFERENCES_PER_USER,
        |p| (p.category.as_str(), p.channel),
    )
}

/// Checks that writing `preferences` keeps the user within [`MAX_PREFERENCES_PER_USER`]:
/// `stored` rows are there, and `is_stored` tells which of `preferences` replace one of them.
fn check_preference_room(
    stored: usize,
    preferences: &[Preference],
    is_stored: impl Fn(&Preference) -> bool,
) -> DirectoryResult<()> {
    let added = preferences.iter().filter(|p| !is_stored(p)).count();
    if stored + added > MAX_PREFERENCES_PER_USER {
        return Err(DirectoryError::TooMany {
            what: "preferences",
            limit: MAX_PREFERENCES_PER_USER,
        });
    }
    Ok(())
}

/// A stored preference row, its channel by name; an unknown name is a corrupt row.
fn stored_preference(
    category: String,
    channel: &str,
    enabled: bool,
) -> DirectoryResult<Preference> {
    let channel = Channel::parse(channel).ok_or_else(|| DirectoryError::Corrupt {
        table: "preferences",
        reason: format!("unknown channel {channel:?}"),
    })?;
    Ok(Preference {
        category,
        channel,
        enabled,
    })
}

/// Checks a batch written at once: at most `limit` items, none for the same (name, channel)
/// twice. `what` names the items in the plural (for the limit) and one of them.
fn check_batch<'a, T>(
    items: &'a [T],
    what: (&'static str, &str),
    limit: usize,
    key: impl Fn(&'a T) -> (&'a str, Channel),
) -> DirectoryResult<()> {
    if items.len() > limit {
        return Err(DirectoryError::TooMany {
            what: what.0,
            limit,
        });
    }
    let mut seen = std::collections::BTreeSet::new();
    for item in items {
        let (name, channel) = key(item);
        if !seen.insert((name, channel)) {
            return Err(DirectoryError::InvalidInput(format!(
                "{} {name}/{channel} given twice",
                what.1
            )));
        }
    }
    Ok(())
}

/// `limit` cut to 1..=[`MAX_PAGE_SIZE`].
fn page_size(limit: usize) -> usize {
    limit.clamp(1, MAX_PAGE_SIZE)
}
