//! [`CassandraWebhooks`]: endpoints on `webhook_endpoints`, the backlog on `webhook_outbox`
//! (migration 5). Every statement is prepared once, when [`CassandraWebhooks::new`] runs.

use std::sync::Arc;

use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;
use scylla::value::CqlTimestamp;
use scylla::DeserializeRow;

use super::{OutboxEntry, QueueId, StoreFuture, WebhookEndpoint, WebhookStore};
use crate::cql::{check_keyspace, unexpected, LwtRow};
use crate::session::StoreResult;

const ENDPOINT_COLUMNS: &str =
    "tenant_id, endpoint_id, app_key, url, secret_ciphertext, enabled, statuses, created_at";

/// [`WebhookStore`] on the `webhook_endpoints` and `webhook_outbox` tables.
#[derive(Debug)]
pub struct CassandraWebhooks {
    session: Arc<Session>,
    insert_endpoint: PreparedStatement,
    endpoint: PreparedStatement,
    endpoints_of: PreparedStatement,
    all_endpoints: PreparedStatement,
    set_secret: PreparedStatement,
    delete_endpoint: PreparedStatement,
    append: PreparedStatement,
    pending: PreparedStatement,
    remove: PreparedStatement,
}

impl CassandraWebhooks {
    /// Prepares the statements against `keyspace` (which must already be migrated).
    pub async fn new(session: Arc<Session>, keyspace: &str) -> StoreResult<Self> {
        check_keyspace(keyspace)?;
        let prepare = |cql: String| {
            let session = Arc::clone(&session);
            async move { session.prepare(cql).await }
        };
        let endpoints = format!("{keyspace}.webhook_endpoints");
        let outbox = format!("{keyspace}.webhook_outbox");
        Ok(Self {
            insert_endpoint: prepare(format!(
                "INSERT INTO {endpoints} ({ENDPOINT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            ))
            .await?,
            endpoint: prepare(format!(
                "SELECT {ENDPOINT_COLUMNS} FROM {endpoints} WHERE tenant_id = ? AND endpoint_id = ?"
            ))
            .await?,
            endpoints_of: prepare(format!(
                "SELECT {ENDPOINT_COLUMNS} FROM {endpoints} WHERE tenant_id = ?"
            ))
            .await?,
            all_endpoints: prepare(format!("SELECT {ENDPOINT_COLUMNS} FROM {endpoints}")).await?,
            // IF EXISTS: an UPDATE of a deleted endpoint must not bring back a partial row
            set_secret: prepare(format!(
                "UPDATE {endpoints} SET secret_ciphertext = ? \
                 WHERE tenant_id = ? AND endpoint_id = ? IF EXISTS"
            ))
            .await?,
            delete_endpoint: prepare(format!(
                "DELETE FROM {endpoints} WHERE tenant_id = ? AND endpoint_id = ? IF EXISTS"
            ))
            .await?,
            append: prepare(format!(
                "INSERT INTO {outbox} (endpoint_id, shard, seq, tenant_id, delivery_key, body, \
                 enqueued_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
            ))
            .await?,
            pending: prepare(format!(
                "SELECT seq, tenant_id, delivery_key, body, enqueued_at FROM {outbox} \
                 WHERE endpoint_id = ? AND shard = ? AND seq > ? LIMIT ?"
            ))
            .await?,
            remove: prepare(format!(
                "DELETE FROM {outbox} WHERE endpoint_id = ? AND shard = ? AND seq = ?"
            ))
            .await?,
            session,
        })
    }

    async fn select_endpoints(
        &self,
        statement: &PreparedStatement,
        values: impl scylla::serialize::row::SerializeRow,
    ) -> StoreResult<Vec<WebhookEndpoint>> {
        let result = self
            .session
            .execute_unpaged(statement, values)
            .await?
            .into_rows_result()
            .map_err(unexpected)?;
        let mut found = Vec::new();
        for row in result.rows::<EndpointRow>().map_err(unexpected)? {
            found.push(row.map_err(unexpected)?.into());
        }
        found.sort_by(|a: &WebhookEndpoint, b| a.endpoint_id.cmp(&b.endpoint_id));
        Ok(found)
    }

    /// Runs a conditional statement and tells whether it applied.
    async fn applied(
        &self,
        statement: &PreparedStatement,
        values: impl scylla::serialize::row::SerializeRow,
    ) -> StoreResult<bool> {
        let result = self.session.execute_unpaged(statement, values).await?;
        Ok(LwtRow::read(result)?.applied())
    }
}

#[derive(Debug, DeserializeRow)]
struct EndpointRow {
    tenant_id: String,
    endpoint_id: String,
    app_key: Option<String>,
    url: Option<String>,
    secret_ciphertext: Option<Vec<u8>>,
    enabled: Option<bool>,
    statuses: Option<Vec<String>>,
    created_at: Option<CqlTimestamp>,
}

impl From<EndpointRow> for WebhookEndpoint {
    fn from(row: EndpointRow) -> Self {
        let mut statuses = row.statuses.unwrap_or_default();
        statuses.sort();
        WebhookEndpoint {
            tenant_id: row.tenant_id,
            endpoint_id: row.endpoint_id,
            app_key: row.app_key.unwrap_or_default(),
            url: row.url.unwrap_or_default(),
            secret_ciphertext: row.secret_ciphertext.unwrap_or_default(),
            // a null flag means the row was written without one: enabled
            enabled: row.enabled.unwrap_or(true),
            statuses,
            created_at_ms: row.created_at.map_or(0, |t| t.0),
        }
    }
}

#[derive(Debug, DeserializeRow)]
struct OutboxRow {
    seq: i64,
    tenant_id: Option<String>,
    delivery_key: Option<String>,
    body: Option<Vec<u8>>,
    enqueued_at: Option<CqlTimestamp>,
}

impl WebhookStore for CassandraWebhooks {
    fn create_endpoint<'a>(&'a self, endpoint: &'a WebhookEndpoint) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut statuses = endpoint.statuses.clone();
            statuses.sort();
            self.session
                .execute_unpaged(
                    &self.insert_endpoint,
                    (
                        &endpoint.tenant_id,
                        &endpoint.endpoint_id,
                        &endpoint.app_key,
                        &endpoint.url,
                        &endpoint.secret_ciphertext,
                        endpoint.enabled,
                        statuses,
                        CqlTimestamp(endpoint.created_at_ms),
                    ),
                )
                .await?;
            Ok(())
        })
    }

    fn endpoint<'a>(
        &'a self,
        tenant_id: &'a str,
        endpoint_id: &'a str,
    ) -> StoreFuture<'a, Option<WebhookEndpoint>> {
        Box::pin(async move {
            let found = self
                .select_endpoints(&self.endpoint, (tenant_id, endpoint_id))
                .await?;
            Ok(found.into_iter().next())
        })
    }

    fn endpoints_of<'a>(&'a self, tenant_id: &'a str) -> StoreFuture<'a, Vec<WebhookEndpoint>> {
        Box::pin(self.select_endpoints(&self.endpoints_of, (tenant_id,)))
    }

    fn all_endpoints(&self) -> StoreFuture<'_, Vec<WebhookEndpoint>> {
        Box::pin(self.select_endpoints(&self.all_endpoints, ()))
    }

    fn set_secret<'a>(
        &'a self,
        tenant_id: &'a str,
        endpoint_id: &'a str,
        secret_ciphertext: &'a [u8],
    ) -> StoreFuture<'a, bool> {
        Box::pin(self.applied(
            &self.set_secret,
            (secret_ciphertext, tenant_id, endpoint_id),
        ))
    }

    fn delete_endpoint<'a>(
        &'a self,
        tenant_id: &'a str,
        endpoint_id: &'a str,
    ) -> StoreFuture<'a, bool> {
        Box::pin(self.applied(&self.delete_endpoint, (tenant_id, endpoint_id)))
    }

    fn append<'a>(&'a self, entries: &'a [OutboxEntry]) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let writes = entries.iter().map(|entry| {
                self.session.execute_unpaged(
                    &self.append,
                    (
                        &entry.queue.endpoint_id,
                        entry.queue.shard,
                        entry.seq,
                        &entry.tenant_id,
                        &entry.delivery_key,
                        &entry.body,
                        CqlTimestamp(entry.enqueued_at_ms),
                    ),
                )
            });
            // a batch is a few hundred rows at most (webhooks.batch_max)
            for written in futures::future::join_all(writes).await {
                written?;
            }
            Ok(())
        })
    }

    fn pending<'a>(
        &'a self,
        queue: &'a QueueId,
        after: Option<i64>,
        limit: usize,
    ) -> StoreFuture<'a, Vec<OutboxEntry>> {
        Box::pin(async move {
            let limit = i32::try_from(limit).unwrap_or(i32::MAX);
            let result = self
                .session
                .execute_unpaged(
                    &self.pending,
                    (
                        &queue.endpoint_id,
                        queue.shard,
                        after.unwrap_or(i64::MIN),
                        limit,
                    ),
                )
                .await?
                .into_rows_result()
                .map_err(unexpected)?;
            let mut found = Vec::new();
            for row in result.rows::<OutboxRow>().map_err(unexpected)? {
                let row = row.map_err(unexpected)?;
                found.push(OutboxEntry {
                    queue: queue.clone(),
                    seq: row.seq,
                    tenant_id: row.tenant_id.unwrap_or_default(),
                    delivery_key: row.delivery_key.unwrap_or_default(),
                    body: row.body.unwrap_or_default(),
                    enqueued_at_ms: row.enqueued_at.map_or(0, |t| t.0),
                });
            }
            Ok(found)
        })
    }

    fn remove<'a>(&'a self, queue: &'a QueueId, seq: i64) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.session
                .execute_unpaged(&self.remove, (&queue.endpoint_id, queue.shard, seq))
                .await?;
            Ok(())
        })
    }
}
