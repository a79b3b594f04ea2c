//! The directory's CQL statements, prepared once per process. Every statement names its
//! keyspace, so one session serves any number of keyspaces (tests use one each).

use scylla::client::session::Session;
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;

use super::rows::{CATEGORY_COLUMNS, DEVICE_COLUMNS, TEMPLATE_COLUMNS, USER_COLUMNS};
use crate::session::StoreResult;

/// Every statement, prepared.
pub(super) struct Statements {
    pub(super) get_user: PreparedStatement,
    pub(super) put_user: Batch,
    pub(super) delete_user: Batch,
    pub(super) list_user_ids: PreparedStatement,

    pub(super) list_devices: PreparedStatement,
    pub(super) get_device: PreparedStatement,
    pub(super) insert_device: PreparedStatement,
    pub(super) delete_device: PreparedStatement,
    pub(super) invalidate_device: PreparedStatement,

    pub(super) get_preferences: PreparedStatement,
    pub(super) insert_preference: PreparedStatement,
    pub(super) delete_preferences: PreparedStatement,

    pub(super) get_category: PreparedStatement,
    pub(super) insert_category: PreparedStatement,
    pub(super) delete_category: PreparedStatement,
    pub(super) list_categories: PreparedStatement,

    pub(super) create_head: PreparedStatement,
    pub(super) bump_head: PreparedStatement,
    pub(super) publish_head: PreparedStatement,
    pub(super) get_head: PreparedStatement,
    pub(super) delete_head: PreparedStatement,
    pub(super) list_heads: PreparedStatement,
    pub(super) get_variants: PreparedStatement,
    pub(super) insert_variant: PreparedStatement,
    pub(super) delete_variants: PreparedStatement,
}

impl std::fmt::Debug for Statements {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Statements").finish_non_exhaustive()
    }
}

impl Statements {
    pub(super) async fn prepare(session: &Session, ks: &str) -> StoreResult<Self> {
        let p = |cql: String| async move { session.prepare(cql).await };
        let logged = |statements: Vec<PreparedStatement>| {
            let mut batch = Batch::new(BatchType::Logged);
            for statement in statements {
                batch.append_statement(statement);
            }
            batch
        };
        let insert_user = p(format!(
            "INSERT INTO {ks}.users (tenant_id, {USER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ))
        .await?;
        let insert_user_id = p(format!(
            "INSERT INTO {ks}.users_by_tenant (tenant_id, bucket, user_id) VALUES (?, ?, ?)"
        ))
        .await?;
        let delete_user_parts = vec![
            p(format!("DELETE FROM {ks}.users WHERE tenant_id = ? AND user_id = ?")).await?,
            p(format!(
                "DELETE FROM {ks}.users_by_tenant WHERE tenant_id = ? AND bucket = ? AND user_id = ?"
            ))
            .await?,
            p(format!("DELETE FROM {ks}.devices WHERE tenant_id = ? AND user_id = ?")).await?,
            p(format!("DELETE FROM {ks}.preferences WHERE tenant_id = ? AND user_id = ?")).await?,
        ];
        Ok(Self {
            get_user: p(format!(
                "SELECT {USER_COLUMNS} FROM {ks}.users WHERE tenant_id = ? AND user_id = ?"
            ))
            .await?,
            put_user: logged(vec![insert_user, insert_user_id]),
            delete_user: logged(delete_user_parts),
            list_user_ids: p(format!(
                "SELECT user_id FROM {ks}.users_by_tenant \
                 WHERE tenant_id = ? AND bucket = ? AND user_id > ? LIMIT ?"
            ))
            .await?,

            list_devices: p(format!(
                "SELECT {DEVICE_COLUMNS} FROM {ks}.devices WHERE tenant_id = ? AND user_id = ? LIMIT ?"
            ))
            .await?,
            get_device: p(format!(
                "SELECT {DEVICE_COLUMNS} FROM {ks}.devices \
                 WHERE tenant_id = ? AND user_id = ? AND device_id = ?"
            ))
            .await?,
            insert_device: p(format!(
                "INSERT INTO {ks}.devices (tenant_id, user_id, {DEVICE_COLUMNS}) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ))
            .await?,
            delete_device: p(format!(
                "DELETE FROM {ks}.devices WHERE tenant_id = ? AND user_id = ? AND device_id = ?"
            ))
            .await?,
            invalidate_device: p(format!(
                "UPDATE {ks}.devices SET state = 'invalid', invalid_reason = ? \
                 WHERE tenant_id = ? AND user_id = ? AND device_id = ? IF updated_at <= ?"
            ))
            .await?,

            get_preferences: p(format!(
                "SELECT category, channel, enabled FROM {ks}.preferences \
                 WHERE tenant_id = ? AND user_id = ? LIMIT ?"
            ))
            .await?,
            insert_preference: p(format!(
                "INSERT INTO {ks}.preferences (tenant_id, user_id, category, channel, enabled, updated_at) \
                 VALUES (?, ?, ?, ?, ?, ?)"
            ))
            .await?,
            delete_preferences: p(format!(
                "DELETE FROM {ks}.preferences WHERE tenant_id = ? AND user_id = ?"
            ))
            .await?,

            get_category: p(format!(
                "SELECT {CATEGORY_COLUMNS} FROM {ks}.categories WHERE tenant_id = ? AND category_id = ?"
            ))
            .await?,
            insert_category: p(format!(
                "INSERT INTO {ks}.categories (tenant_id, {CATEGORY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"
            ))
            .await?,
            delete_category: p(format!(
                "DELETE FROM {ks}.categories WHERE tenant_id = ? AND category_id = ?"
            ))
            .await?,
            list_categories: p(format!(
                "SELECT {CATEGORY_COLUMNS} FROM {ks}.categories \
                 WHERE tenant_id = ? AND category_id > ? LIMIT ?"
            ))
            .await?,

            create_head: p(format!(
                "INSERT INTO {ks}.templates_by_tenant \
                 (tenant_id, template_id, latest_version, published_version, created_at, updated_at) \
                 VALUES (?, ?, 1, 0, ?, ?) IF NOT EXISTS"
            ))
            .await?,
            bump_head: p(format!(
                "UPDATE {ks}.templates_by_tenant SET latest_version = ?, updated_at = ? \
                 WHERE tenant_id = ? AND template_id = ? IF latest_version = ?"
            ))
            .await?,
            publish_head: p(format!(
                "UPDATE {ks}.templates_by_tenant SET published_version = ?, updated_at = ? \
                 WHERE tenant_id = ? AND template_id = ? IF published_version < ?"
            ))
            .await?,
            get_head: p(format!(
                "SELECT template_id, published_version FROM {ks}.templates_by_tenant \
                 WHERE tenant_id = ? AND template_id = ?"
            ))
            .await?,
            delete_head: p(format!(
                "DELETE FROM {ks}.templates_by_tenant WHERE tenant_id = ? AND template_id = ? IF EXISTS"
            ))
            .await?,
            list_heads: p(format!(
                "SELECT template_id, published_version FROM {ks}.templates_by_tenant \
                 WHERE tenant_id = ? AND template_id > ? LIMIT ?"
            ))
            .await?,
            get_variants: p(format!(
                "SELECT {TEMPLATE_COLUMNS} FROM {ks}.templates \
                 WHERE tenant_id = ? AND template_id = ? AND version = ?"
            ))
            .await?,
            insert_variant: p(format!(
                "INSERT INTO {ks}.templates (tenant_id, {TEMPLATE_COLUMNS}) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ))
            .await?,
            delete_variants: p(format!(
                "DELETE FROM {ks}.templates WHERE tenant_id = ? AND template_id = ?"
            ))
            .await?,
        })
    }
}
