//! Device registration and preferences in Cassandra: read-modify-writes bounded by the
//! per-user limits. See the module docs of [`super`] (which also marks devices invalid, by a
//! lightweight transaction).

use scylla::statement::batch::{Batch, BatchType};
use scylla::value::CqlTimestamp;

use super::rows::{all_rows, PreferenceRow};
use super::{limit_value, CassandraDirectory};
use crate::directory::model::{device_id_for, Device, Preference, PushTarget, Upserted};
use crate::directory::{
    check_preference_room, check_preferences, now_ms, registered_device, stored_preference,
    user_must_exist, Directory, DirectoryResult, MAX_PREFERENCES_PER_USER,
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
        user_must_exist(self.get_user(tenant, user_id).await?.is_some())?;
        let device_id = device_id_for(target);
        let devices = self.list_devices(tenant, user_id).await?;
        let existing = devices
            .iter()
            .find(|d| d.device_id == device_id)
            .map(|d| d.created_at_ms);
        let upserted = registered_device(target, app_topic, existing, devices.len(), now_ms())?;
        let record = &upserted.record;
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
        Ok(upserted)
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
            .map(|row| stored_preference(row.category, &row.channel, row.enabled.unwrap_or(true)))
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
        user_must_exist(self.get_user(tenant, user_id).await?.is_some())?;
        if preferences.is_empty() {
            return Ok(());
        }
        let stored = self.get_preferences(tenant, user_id).await?;
        check_preference_room(stored.len(), preferences, |p| {
            stored
                .iter()
                .any(|s| s.category == p.category && s.channel == p.channel)
        })?;
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
