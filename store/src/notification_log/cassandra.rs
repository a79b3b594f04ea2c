//! [`CassandraLog`]: the notification log on the `notification_log` table.
//!
//! Writes are plain (last write wins); the dispatchers serialise the records of one user, and
//! so of one delivery, so two writers of one row do not race in normal operation. Every
//! statement is prepared once, in [`CassandraLog::new`].
//!
//! Many rows in one request: [`DeliveryLog::get_many`] reads the keys of one tenant and
//! channel with one `event_id IN ?` query, and [`DeliveryLog::put_many`] writes an unlogged
//! batch, so the node parses, schedules and answers one request instead of many (measured in
//! `docs/performance.md`: half the requests, a small part of the node's CPU).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use scylla::client::session::Session;
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;
use scylla::value::CqlTimestamp;
use scylla::DeserializeRow;

use super::{DeliveryLog, LogEntry, LogKey, LogWrite};
use crate::cql::{check_keyspace, unexpected};
use crate::session::{StoreError, StoreResult};

const COLUMNS: &str =
    "event_id, channel, recipient, delivery_id, state, reason, attempts, provider, \
                       provider_message_id, updated_at";

/// The log in Cassandra / ScyllaDB.
#[derive(Debug)]
pub struct CassandraLog {
    session: Arc<Session>,
    get: PreparedStatement,
    get_events: PreparedStatement,
    put: PreparedStatement,
    delete: PreparedStatement,
    entries: PreparedStatement,
}

impl CassandraLog {
    /// Prepares the statements against `keyspace` (which `notify migrate` created).
    pub async fn new(session: Arc<Session>, keyspace: &str) -> StoreResult<Self> {
        check_keyspace(keyspace)?;
        let get = session
            .prepare(format!(
                "SELECT {COLUMNS} FROM {keyspace}.notification_log \
                 WHERE tenant_id = ? AND event_id = ? AND channel = ? AND recipient = ?"
            ))
            .await?;
        let get_events = session
            .prepare(format!(
                "SELECT {COLUMNS} FROM {keyspace}.notification_log \
                 WHERE tenant_id = ? AND event_id IN ? AND channel = ?"
            ))
            .await?;
        let put = session
            .prepare(format!(
                "UPDATE {keyspace}.notification_log SET delivery_id = ?, state = ?, reason = ?, \
                 attempts = ?, provider = ?, provider_message_id = ?, updated_at = ? \
                 WHERE tenant_id = ? AND event_id = ? AND channel = ? AND recipient = ?"
            ))
            .await?;
        let delete = session
            .prepare(format!(
                "DELETE FROM {keyspace}.notification_log \
                 WHERE tenant_id = ? AND event_id = ? AND channel = ? AND recipient = ?"
            ))
            .await?;
        let entries = session
            .prepare(format!(
                "SELECT {COLUMNS} FROM {keyspace}.notification_log \
                 WHERE tenant_id = ? AND event_id = ?"
            ))
            .await?;
        Ok(Self {
            session,
            get,
            get_events,
            put,
            delete,
            entries,
        })
    }
}

#[async_trait]
impl DeliveryLog for CassandraLog {
    async fn get(&self, key: &LogKey) -> StoreResult<Option<LogEntry>> {
        let result = self
            .session
            .execute_unpaged(&self.get, key_values(key))
            .await?
            .into_rows_result()
            .map_err(unexpected)?;
        let row = result.maybe_first_row::<LogRow>().map_err(unexpected)?;
        Ok(row.map(entry))
    }

    async fn put(&self, write: &LogWrite) -> StoreResult<()> {
        self.session
            .execute_unpaged(&self.put, put_values(write))
            .await?;
        Ok(())
    }

    async fn get_many(&self, keys: &[LogKey]) -> StoreResult<Vec<Option<LogEntry>>> {
        // one request per (tenant, channel), each event named once
        let mut groups: HashMap<(&str, &str), Vec<&str>> = HashMap::new();
        let mut named = HashSet::new();
        for k in keys {
            if named.insert((&k.tenant, &k.channel, &k.event_id)) {
                let events = groups.entry((&k.tenant, &k.channel)).or_default();
                events.push(k.event_id.as_str());
            }
        }
        let reads = groups
            .into_iter()
            .map(|((tenant, channel), events)| async move {
                let result = self
                    .session
                    .execute_unpaged(&self.get_events, (tenant, events, channel))
                    .await?
                    .into_rows_result()
                    .map_err(unexpected)?;
                let mut rows = Vec::new();
                for row in result.rows::<LogRow>().map_err(unexpected)? {
                    rows.push((tenant, row.map_err(unexpected)?));
                }
                Ok::<_, StoreError>(rows)
            });
        let mut found = HashMap::new();
        for (tenant, row) in futures::future::try_join_all(reads)
            .await?
            .into_iter()
            .flatten()
        {
            let key = LogKey {
                tenant: tenant.to_owned(),
                event_id: row.event_id.clone(),
                channel: row.channel.clone(),
                recipient: row.recipient.clone(),
            };
            found.insert(key, entry(row));
        }
        Ok(keys.iter().map(|k| found.get(k).cloned()).collect())
    }

    async fn put_many(&self, writes: &[LogWrite]) -> StoreResult<()> {
        match writes {
            [] => Ok(()),
            [one] => self.put(one).await,
            _ => {
                let mut batch = Batch::new(BatchType::Unlogged);
                for _ in writes {
                    batch.append_statement(self.put.clone());
                }
                let values: Vec<_> = writes.iter().map(put_values).collect();
                self.session.batch(&batch, values).await?;
                Ok(())
            }
        }
    }

    async fn delete(&self, key: &LogKey) -> StoreResult<()> {
        self.session
            .execute_unpaged(&self.delete, key_values(key))
            .await?;
        Ok(())
    }

    async fn entries(&self, tenant: &str, event_id: &str) -> StoreResult<Vec<LogEntry>> {
        // (channel, recipient) are the clustering columns: rows come back in that order.
        let result = self
            .session
            .execute_unpaged(&self.entries, (tenant, event_id))
            .await?
            .into_rows_result()
            .map_err(unexpected)?;
        let mut entries = Vec::new();
        for row in result.rows::<LogRow>().map_err(unexpected)? {
            entries.push(entry(row.map_err(unexpected)?));
        }
        Ok(entries)
    }
}

/// The values that address one row (`get`, `delete`), in the statements' order.
fn key_values(key: &LogKey) -> (&str, &str, &str, &str) {
    (&key.tenant, &key.event_id, &key.channel, &key.recipient)
}

/// The values of the `put` statement, in its order.
#[allow(clippy::type_complexity)]
fn put_values(
    write: &LogWrite,
) -> (
    &String,
    &String,
    &Option<String>,
    i32,
    &Option<String>,
    &Option<String>,
    CqlTimestamp,
    &String,
    &String,
    &String,
    &String,
) {
    (
        &write.delivery_id,
        &write.state,
        &write.reason,
        write.attempts,
        &write.provider,
        &write.provider_message_id,
        CqlTimestamp(write.updated_at_ms),
        &write.tenant,
        &write.event_id,
        &write.channel,
        &write.recipient,
    )
}

/// A row as selected by [`COLUMNS`], matched by column name.
#[derive(Debug, DeserializeRow)]
struct LogRow {
    event_id: String,
    channel: String,
    recipient: String,
    delivery_id: Option<String>,
    state: Option<String>,
    reason: Option<String>,
    attempts: Option<i32>,
    provider: Option<String>,
    provider_message_id: Option<String>,
    updated_at: Option<CqlTimestamp>,
}

fn entry(row: LogRow) -> LogEntry {
    LogEntry {
        channel: row.channel,
        recipient: row.recipient,
        delivery_id: row.delivery_id,
        state: row.state,
        reason: row.reason,
        attempts: row.attempts,
        provider: row.provider,
        provider_message_id: row.provider_message_id,
        updated_at_ms: row.updated_at.map(|t| t.0),
    }
}
