//! [`CassandraDirectory`]: the directory in ScyllaDB / Cassandra.
//!
//! Every statement is prepared once in [`CassandraDirectory::new`] and names its keyspace.
//! Statements in flight are bounded by a semaphore (`store.max_in_flight`), and the few
//! operations that fan out (a page of users, the variants of a template) do so at most
//! [`FAN_OUT`] at a time.
//!
//! How the layout serves the guarantees of [`crate::directory`]:
//! - users live in `users` (one partition per user, for the router's point reads) and their
//!   ids in `users_by_tenant` ((tenant, bucket), user_id) for listing; both are written and
//!   deleted in one logged batch, so they converge even if the writer dies half-way. A page
//!   walks the buckets in order, querying one bucket first and more at once while buckets come
//!   back short, so a big tenant pays one query per page and a small one a few rounds;
//! - deleting a user is one logged batch over the user, listing, devices and preferences
//!   partitions;
//! - template versions come from lightweight transactions on `templates_by_tenant`
//!   (compare-and-set of `latest_version`); the variants are written, then `published_version`
//!   is raised (only upwards), and readers read the published version, so a half-written
//!   version is never served as the latest;
//! - other read-modify-writes (keeping `created_at`, device and preference limits) read then
//!   write without transactions: concurrent writers of the same object race, the last write wins.

mod devices;
mod rows;
mod statements;
mod templates;
mod users;

use std::sync::Arc;

use async_trait::async_trait;
use scylla::client::session::Session;
use scylla::response::query_result::QueryResult;
use scylla::serialize::batch::BatchValues;
use scylla::serialize::row::SerializeRow;
use scylla::statement::batch::Batch;
use scylla::statement::prepared::PreparedStatement;
use scylla::value::CqlTimestamp;
use tokio::sync::Semaphore;

use notify_common::config::StoreConfig;

use self::rows::{all_rows, shape, CategoryRow, DeviceRow, UserRow};
use self::statements::Statements;
use super::cursor::{self, user_bucket, Listing, Position};
use super::model::{
    Category, Device, Page, Preference, PushTarget, Template, TemplateVariant, Upserted, User,
};
use super::{
    now_ms, page_size, upserted, Directory, DirectoryResult, Invalidation, MAX_DEVICES_PER_USER,
};
use crate::cql::{check_keyspace, LwtRow};
use crate::session::{StoreError, StoreResult};

/// Most statements one operation runs at once.
const FAN_OUT: usize = 8;

/// The directory in ScyllaDB / Cassandra.
#[derive(Debug)]
pub struct CassandraDirectory {
    session: Arc<Session>,
    in_flight: Semaphore,
    s: Statements,
}

impl CassandraDirectory {
    /// Prepares every statement against `keyspace` (which [`crate::migrate`] must have
    /// created). Statements in flight are bounded by the default of `store.max_in_flight`;
    /// see [`CassandraDirectory::with_max_in_flight`].
    pub async fn new(session: Arc<Session>, keyspace: &str) -> StoreResult<Self> {
        check_keyspace(keyspace)?;
        let s = Statements::prepare(&session, keyspace).await?;
        Ok(Self {
            session,
            in_flight: Semaphore::new(StoreConfig::default().max_in_flight),
            s,
        })
    }

    /// Bounds the statements this directory keeps in flight to `max_in_flight` (at least 1),
    /// normally `store.max_in_flight`.
    pub fn with_max_in_flight(mut self, max_in_flight: usize) -> Self {
        self.in_flight = Semaphore::new(max_in_flight.max(1));
        self
    }

    async fn exec(
        &self,
        statement: &PreparedStatement,
        values: impl SerializeRow,
    ) -> DirectoryResult<QueryResult> {
        // The semaphore is never closed, so acquiring only fails if that invariant breaks.
        let _permit = self
            .in_flight
            .acquire()
            .await
            .map_err(|_| shape("directory semaphore closed"))?;
        Ok(self
            .session
            .execute_unpaged(statement, values)
            .await
            .map_err(StoreError::from)?)
    }

    async fn batch(&self, batch: &Batch, values: impl BatchValues) -> DirectoryResult<()> {
        let _permit = self
            .in_flight
            .acquire()
            .await
            .map_err(|_| shape("directory semaphore closed"))?;
        self.session
            .batch(batch, values)
            .await
            .map_err(StoreError::from)?;
        Ok(())
    }

    /// Up to `limit` user ids of `bucket` after `after`.
    async fn user_ids(
        &self,
        tenant: &str,
        bucket: u16,
        after: &str,
        limit: usize,
    ) -> DirectoryResult<Vec<String>> {
        let result = self
            .exec(
                &self.s.list_user_ids,
                (tenant, i32::from(bucket), after, limit_value(limit)),
            )
            .await?;
        Ok(all_rows::<(String,)>(result)?
            .into_iter()
            .map(|(id,)| id)
            .collect())
    }
}

/// A page size as the `int` a CQL `LIMIT ?` binds.
fn limit_value(limit: usize) -> i32 {
    i32::try_from(limit).unwrap_or(i32::MAX)
}

#[async_trait]
impl Directory for CassandraDirectory {
    async fn get_user(&self, tenant: &str, user_id: &str) -> DirectoryResult<Option<User>> {
        let result = self.exec(&self.s.get_user, (tenant, user_id)).await?;
        all_rows::<UserRow>(result)?
            .into_iter()
            .next()
            .map(UserRow::into_user)
            .transpose()
    }

    async fn put_user(&self, tenant: &str, user: &User) -> DirectoryResult<Upserted<User>> {
        self.write_user(tenant, user).await
    }

    async fn delete_user(&self, tenant: &str, user_id: &str) -> DirectoryResult<bool> {
        let existed = self.get_user(tenant, user_id).await?.is_some();
        // Delete even when the user row is gone: a device registered while the user was being
        // deleted must not outlive them.
        let bucket = i32::from(user_bucket(user_id));
        let values = (
            (tenant, user_id),
            (tenant, bucket, user_id),
            (tenant, user_id),
            (tenant, user_id),
        );
        self.batch(&self.s.delete_user, values).await?;
        Ok(existed)
    }

    async fn list_users(
        &self,
        tenant: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> DirectoryResult<Page<User>> {
        self.user_page(tenant, cursor, limit).await
    }

    async fn list_devices(&self, tenant: &str, user_id: &str) -> DirectoryResult<Vec<Device>> {
        // Twice the limit: concurrent registrations may overshoot it a little.
        let result = self
            .exec(
                &self.s.list_devices,
                (tenant, user_id, limit_value(2 * MAX_DEVICES_PER_USER)),
            )
            .await?;
        let mut devices = Vec::new();
        for row in all_rows::<DeviceRow>(result)? {
            devices.extend(row.into_device()?);
        }
        Ok(devices)
    }

    async fn get_device(
        &self,
        tenant: &str,
        user_id: &str,
        device_id: &str,
    ) -> DirectoryResult<Option<Device>> {
        let result = self
            .exec(&self.s.get_device, (tenant, user_id, device_id))
            .await?;
        match all_rows::<DeviceRow>(result)?.into_iter().next() {
            Some(row) => row.into_device(),
            None => Ok(None),
        }
    }

    async fn put_device(
        &self,
        tenant: &str,
        user_id: &str,
        target: &PushTarget,
        app_topic: Option<&str>,
    ) -> DirectoryResult<Upserted<Device>> {
        self.write_device(tenant, user_id, target, app_topic).await
    }

    async fn delete_device(
        &self,
        tenant: &str,
        user_id: &str,
        device_id: &str,
    ) -> DirectoryResult<bool> {
        let existed = self.get_device(tenant, user_id, device_id).await?.is_some();
        self.exec(&self.s.delete_device, (tenant, user_id, device_id))
            .await?;
        Ok(existed)
    }

    async fn mark_invalid(
        &self,
        tenant: &str,
        user_id: &str,
        device_id: &str,
        reason: &str,
        since_ms: Option<i64>,
    ) -> DirectoryResult<Invalidation> {
        if self.get_device(tenant, user_id, device_id).await?.is_none() {
            return Ok(Invalidation::NotFound);
        }
        // A lightweight transaction, so a registration landing between the read above and this
        // write is never overwritten: `updated_at` is the registration time (marking leaves it).
        // Racing a delete, the update can leave a row without a platform; readers ignore those.
        let since = CqlTimestamp(since_ms.unwrap_or(i64::MAX));
        let result = self
            .exec(
                &self.s.invalidate_device,
                (reason, tenant, user_id, device_id, since),
            )
            .await?;
        Ok(if LwtRow::read(result)?.applied() {
            Invalidation::Marked
        } else {
            Invalidation::RegisteredSince
        })
    }

    async fn get_preferences(
        &self,
        tenant: &str,
        user_id: &str,
    ) -> DirectoryResult<Vec<Preference>> {
        self.read_preferences(tenant, user_id).await
    }

    async fn put_preferences(
        &self,
        tenant: &str,
        user_id: &str,
        preferences: &[Preference],
    ) -> DirectoryResult<()> {
        self.write_preferences(tenant, user_id, preferences).await
    }

    async fn delete_preferences(&self, tenant: &str, user_id: &str) -> DirectoryResult<()> {
        self.exec(&self.s.delete_preferences, (tenant, user_id))
            .await?;
        Ok(())
    }

    async fn get_category(
        &self,
        tenant: &str,
        category_id: &str,
    ) -> DirectoryResult<Option<Category>> {
        let result = self
            .exec(&self.s.get_category, (tenant, category_id))
            .await?;
        Ok(all_rows::<CategoryRow>(result)?
            .into_iter()
            .next()
            .map(CategoryRow::into_category))
    }

    async fn put_category(
        &self,
        tenant: &str,
        category: &Category,
    ) -> DirectoryResult<Upserted<Category>> {
        let existing = self.get_category(tenant, &category.category_id).await?;
        let upserted = upserted(category, existing.map(|c| c.created_at_ms), now_ms());
        let record = &upserted.record;
        self.exec(
            &self.s.insert_category,
            (
                tenant,
                &record.category_id,
                &record.description,
                record.critical,
                CqlTimestamp(record.created_at_ms),
                CqlTimestamp(record.updated_at_ms),
            ),
        )
        .await?;
        Ok(upserted)
    }

    async fn delete_category(&self, tenant: &str, category_id: &str) -> DirectoryResult<bool> {
        let existed = self.get_category(tenant, category_id).await?.is_some();
        self.exec(&self.s.delete_category, (tenant, category_id))
            .await?;
        Ok(existed)
    }

    async fn list_categories(
        &self,
        tenant: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> DirectoryResult<Page<Category>> {
        let after = cursor::decode(Listing::Categories, cursor)?.map(|p| p.key);
        let limit = page_size(limit);
        let result = self
            .exec(
                &self.s.list_categories,
                (
                    tenant,
                    after.as_deref().unwrap_or(""),
                    limit_value(limit + 1),
                ),
            )
            .await?;
        let items = all_rows::<CategoryRow>(result)?
            .into_iter()
            .map(CategoryRow::into_category)
            .collect();
        Ok(cursor::page(items, limit, Listing::Categories, |c| {
            Position::after(&c.category_id)
        }))
    }

    async fn get_template(
        &self,
        tenant: &str,
        template_id: &str,
        version: Option<u32>,
    ) -> DirectoryResult<Vec<Template>> {
        self.read_template(tenant, template_id, version).await
    }

    async fn put_template(
        &self,
        tenant: &str,
        template_id: &str,
        variants: &[TemplateVariant],
    ) -> DirectoryResult<Vec<Template>> {
        self.write_template(tenant, template_id, variants).await
    }

    async fn delete_template(&self, tenant: &str, template_id: &str) -> DirectoryResult<bool> {
        self.remove_template(tenant, template_id).await
    }

    async fn list_templates(
        &self,
        tenant: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> DirectoryResult<Page<String>> {
        self.template_ids(tenant, cursor, limit).await
    }
}
