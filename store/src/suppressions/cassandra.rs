//! [`CassandraSuppressions`]: the suppression list on the `suppressions` table.

use std::sync::Arc;

use async_trait::async_trait;
use notify_schemas::Channel;
use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;
use scylla::value::CqlTimestamp;

use super::{Suppression, SuppressionList, SuppressionReason};
use crate::cql::check_keyspace;
use crate::session::{StoreError, StoreResult};

/// [`SuppressionList`] on the `suppressions` table.
#[derive(Debug)]
pub struct CassandraSuppressions {
    session: Arc<Session>,
    insert: PreparedStatement,
    select: PreparedStatement,
    delete: PreparedStatement,
}

impl CassandraSuppressions {
    /// Prepares the statements against `keyspace` (which must already be migrated).
    pub async fn new(session: Arc<Session>, keyspace: &str) -> StoreResult<Self> {
        check_keyspace(keyspace)?;
        let insert = session
            .prepare(format!(
                "INSERT INTO {keyspace}.suppressions \
                 (channel, address, scope, reason, created_at, delivery_id) \
                 VALUES (?, ?, ?, ?, ?, ?)"
            ))
            .await?;
        let select = session
            .prepare(format!(
                "SELECT scope, reason, created_at, delivery_id FROM {keyspace}.suppressions \
                 WHERE channel = ? AND address = ?"
            ))
            .await?;
        let delete = session
            .prepare(format!(
                "DELETE FROM {keyspace}.suppressions \
                 WHERE channel = ? AND address = ? AND scope = ?"
            ))
            .await?;
        Ok(Self {
            session,
            insert,
            select,
            delete,
        })
    }
}

#[async_trait]
impl SuppressionList for CassandraSuppressions {
    async fn add(&self, entry: &Suppression) -> StoreResult<()> {
        self.session
            .execute_unpaged(
                &self.insert,
                (
                    entry.channel.as_str(),
                    &entry.address,
                    &entry.scope,
                    entry.reason.as_str(),
                    CqlTimestamp(entry.created_at_ms),
                    &entry.delivery_id,
                ),
            )
            .await?;
        Ok(())
    }

    async fn lookup(&self, channel: Channel, address: &str) -> StoreResult<Vec<Suppression>> {
        type Row = (String, String, CqlTimestamp, Option<String>);
        let result = self
            .session
            .execute_unpaged(&self.select, (channel.as_str(), address))
            .await?
            .into_rows_result()
            .map_err(|err| StoreError::Result(err.to_string()))?;
        let mut entries = Vec::new();
        for row in result
            .rows::<Row>()
            .map_err(|err| StoreError::Result(err.to_string()))?
        {
            let (scope, reason, created_at, delivery_id) =
                row.map_err(|err| StoreError::Result(err.to_string()))?;
            // a reason written by a newer version still suppresses: as a bounce, the strictest
            let reason = SuppressionReason::parse(&reason).unwrap_or(SuppressionReason::Bounced);
            entries.push(Suppression {
                scope,
                channel,
                address: address.to_owned(),
                reason,
                created_at_ms: created_at.0,
                delivery_id,
            });
        }
        Ok(entries)
    }

    async fn remove(&self, scope: &str, channel: Channel, address: &str) -> StoreResult<()> {
        self.session
            .execute_unpaged(&self.delete, (channel.as_str(), address, scope))
            .await?;
        Ok(())
    }
}
