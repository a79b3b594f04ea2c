//! Devices and preferences in Cassandra: read-modify-writes bounded by the per-user limits,
//! invalidation by a lightweight transaction. See the module docs of [`super`].

use scylla::statement::batch::{Batch, BatchType};
use scylla::value::CqlTimestamp;

use super::rows::{all_rows, shape, PreferenceRow};
use super::{limit_value, CassandraDirectory};
use crate::directory::model::{
    device_id_for, parse_channel, Device, Preference, PushTarget, Upserted,
};
use crate::directory::{
    check_preferences, now_ms, Directory, DirectoryError, DirectoryResult, Invalidation,
    MAX_DEVICES_PER_USER, MAX_PREFERENCES_PER_USER,
};

impl CassandraDirectory {
    /// [`crate::directory::Directory::put_device`].
    pub(super) async fn write_device(
        &self,
        tenant: &str,
        user_id: &str,
        target: &PushTarget,
        app_topic: Option<&str>,
    ) -> DirectoryResult<Upserted<Device>> {
        if self.get_user(tenant, user_id).await?.is_none() {
            return Err(DirectoryError::NotFound { what: "user" });
        }
        let device_id = device_id_for(target);
        let devices = self.list_devices(tenant, user_id).await?;
        let existing = devices.iter().find(|d| d.device_id == device_id);
        if existing.is_none() && devices.len() >= MAX_DEVICES_PER_USER {
            return Err(DirectoryError::TooMany {
                what: "devices",
                limit: MAX_DEVICES_PER_USER,
            });
        }
        let now = now_ms();
        let record = Device {
            device_id,
            target: target.clone(),
            app_topic: app_topic.map(str::to_owned),
            state: crate::directory::DeviceState::Active,
            created_at_ms: existing.map_or(now, |d| d.created_at_ms),
            updated_at_ms: now,
        };
        let (token, subscription) = match &record.target {
            PushTarget::Apns { token } | PushTarget::Fcm { token } => (Some(token.as_str()), None),
            PushTarget::WebPush { subscription } => (None, Some(subscription)),
        };
        self.exec(
            &self.s.insert_device,
            (
                tenant,
                user_id,
                &record.device_id,
                record.platform().as_str(),
                token,
                subscription.map(|s| s.endpoint.as_str()),
                subscription.map(|s| s.p256dh.as_str()),
                subscription.map(|s| s.auth.as_str()),
                &record.app_topic,
                "active",
                None::<&str>,
                CqlTimestamp(record.created_at_ms),
                CqlTimestamp(record.updated_at_ms),
            ),
        )
        .await?;
        Ok(Upserted {
            created: existing.is_none(),
            record,
        })
    }

    /// [`crate::directory::Directory::mark_invalid`].
    pub(super) async fn invalidate_device(
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
        let rows = result
            .into_rows_result()
            .map_err(|err| shape(format!("lwt result: {err}")))?;
        let row: scylla::value::Row = rows
            .single_row()
            .map_err(|err| shape(format!("lwt result: {err}")))?;
        let applied = matches!(
            row.columns.first(),
            Some(Some(scylla::value::CqlValue::Boolean(true)))
        );
        Ok(if applied {
            Invalidation::Marked
        } else {
            Invalidation::RegisteredSince
        })
    }

    /// [`crate::directory::Directory::get_preferences`].
    pub(super) async fn read_preferences(
        &self,
        tenant: &str,
        user_id: &str,
    ) -> DirectoryResult<Vec<Preference>> {
        let result = self
            .exec(
                &self.s.get_preferences,
                (tenant, user_id, limit_value(MAX_PREFERENCES_PER_USER)),
            )
            .await?;
        all_rows::<PreferenceRow>(result)?
            .into_iter()
            .map(|row| {
                Ok(Preference {
                    channel: parse_channel(&row.channel).ok_or_else(|| {
                        DirectoryError::Corrupt {
                            table: "preferences",
                            reason: format!("unknown channel {:?}", row.channel),
                        }
                    })?,
                    category: row.category,
                    enabled: row.enabled.unwrap_or(true),
                })
            })
            .collect()
    }

    /// [`crate::directory::Directory::put_preferences`].
    pub(super) async fn write_preferences(
        &self,
        tenant: &str,
        user_id: &str,
        preferences: &[Preference],
    ) -> DirectoryResult<()> {
        check_preferences(preferences)?;
        if self.get_user(tenant, user_id).await?.is_none() {
            return Err(DirectoryError::NotFound { what: "user" });
        }
        if preferences.is_empty() {
            return Ok(());
        }
        let stored = self.get_preferences(tenant, user_id).await?;
        let added = preferences
            .iter()
            .filter(|p| {
                !stored
                    .iter()
                    .any(|s| s.category == p.category && s.channel == p.channel)
            })
            .count();
        if stored.len() + added > MAX_PREFERENCES_PER_USER {
            return Err(DirectoryError::TooMany {
                what: "preferences",
                limit: MAX_PREFERENCES_PER_USER,
            });
        }
        // One partition, small rows: an unlogged batch is atomic and isolated here.
        let mut batch = Batch::new(BatchType::Unlogged);
        let now = CqlTimestamp(now_ms());
        let mut values = Vec::with_capacity(preferences.len());
        for preference in preferences {
            batch.append_statement(self.s.insert_preference.clone());
            values.push((
                tenant,
                user_id,
                preference.category.as_str(),
                preference.channel.as_str(),
                preference.enabled,
                now,
            ));
        }
        self.batch(&batch, values).await
    }
}
