//! The record of sends counted against users' rate limits, shared by every router instance.
//!
//! Guarantees: the state lives in the database, so a router restart or a partition moving to
//! another instance sees every send counted before it (no burst after a rebalance). A send is
//! keyed by `send_key` (request and channel), so the router can tell a re-routed request it
//! already counted from a new one. Rows expire after their window; nothing here decides what a
//! limit is (see `notify_router::ratelimit`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use notify_schemas::{Channel, Priority};
use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;
use scylla::value::CqlTimestamp;

use crate::cql::check_keyspace;
use crate::tenants::StoreFuture;
use crate::{StoreError, StoreResult};

/// Most events read for one user; a rule never needs more than its limit.
pub const MAX_EVENTS_READ: i32 = 10_000;

/// One counted send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateEvent {
    /// Identifies the send: `<event id>:<channel>`.
    pub send_key: String,
    /// Channel it went out on.
    pub channel: Channel,
    /// Its priority.
    pub priority: Priority,
    /// When it was counted, Unix epoch milliseconds.
    pub at_ms: i64,
}

/// Storage of counted sends per (tenant, user).
pub trait RateLog: Send + Sync + std::fmt::Debug {
    /// The user's sends counted after `since_ms`, newest first, at most [`MAX_EVENTS_READ`].
    fn recent<'a>(
        &'a self,
        tenant: &'a str,
        user_id: &'a str,
        since_ms: i64,
    ) -> StoreFuture<'a, Vec<RateEvent>>;
    /// Counts a send, kept for `ttl_s` seconds.
    fn record<'a>(
        &'a self,
        tenant: &'a str,
        user_id: &'a str,
        event: &'a RateEvent,
        ttl_s: u32,
    ) -> StoreFuture<'a, ()>;
}

/// [`RateLog`] on the `rate_events` table.
#[derive(Debug)]
pub struct CassandraRateLog {
    session: Arc<Session>,
    recent: PreparedStatement,
    insert: PreparedStatement,
}

impl CassandraRateLog {
    /// Prepares the statements against `keyspace` (which must already be migrated).
    pub async fn new(session: Arc<Session>, keyspace: &str) -> StoreResult<Self> {
        check_keyspace(keyspace)?;
        let recent = session
            .prepare(format!(
                "SELECT at, send_key, channel, priority FROM {keyspace}.rate_events \
                 WHERE tenant_id = ? AND user_id = ? AND at > ? LIMIT {MAX_EVENTS_READ}"
            ))
            .await?;
        let insert = session
            .prepare(format!(
                "INSERT INTO {keyspace}.rate_events \
                 (tenant_id, user_id, at, send_key, channel, priority) \
                 VALUES (?, ?, ?, ?, ?, ?) USING TTL ?"
            ))
            .await?;
        Ok(Self {
            session,
            recent,
            insert,
        })
    }

    async fn fetch(
        &self,
        tenant: &str,
        user_id: &str,
        since_ms: i64,
    ) -> StoreResult<Vec<RateEvent>> {
        type Row = (CqlTimestamp, String, Option<String>, Option<String>);
        let result = self
            .session
            .execute_unpaged(&self.recent, (tenant, user_id, CqlTimestamp(since_ms)))
            .await?
            .into_rows_result()
            .map_err(|err| StoreError::Result(err.to_string()))?;
        let rows = result
            .rows::<Row>()
            .map_err(|err| StoreError::Result(err.to_string()))?;
        let mut events = Vec::new();
        for row in rows {
            let (at, send_key, channel, priority) =
                row.map_err(|err| StoreError::Result(err.to_string()))?;
            // a row from a newer version with a channel or priority we do not know still
            // counts towards limits across channels; skip only what cannot be read at all
            let (Some(channel), Some(priority)) = (
                channel.as_deref().and_then(Channel::parse),
                priority.as_deref().and_then(priority_from),
            ) else {
                tracing::warn!(tenant, "skipping an unreadable rate_events row");
                continue;
            };
            events.push(RateEvent {
                send_key,
                channel,
                priority,
                at_ms: at.0,
            });
        }
        Ok(events)
    }
}

fn priority_from(name: &str) -> Option<Priority> {
    [
        Priority::High,
        Priority::Normal,
        Priority::Bulk,
        Priority::Critical,
    ]
    .into_iter()
    .find(|p| priority_text(*p) == name)
}

fn priority_text(priority: Priority) -> &'static str {
    crate::settings::priority_name(priority).unwrap_or("critical")
}

impl RateLog for CassandraRateLog {
    fn recent<'a>(
        &'a self,
        tenant: &'a str,
        user_id: &'a str,
        since_ms: i64,
    ) -> StoreFuture<'a, Vec<RateEvent>> {
        Box::pin(self.fetch(tenant, user_id, since_ms))
    }

    fn record<'a>(
        &'a self,
        tenant: &'a str,
        user_id: &'a str,
        event: &'a RateEvent,
        ttl_s: u32,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let ttl = i32::try_from(ttl_s.max(1)).unwrap_or(i32::MAX);
            self.session
                .execute_unpaged(
                    &self.insert,
                    (
                        tenant,
                        user_id,
                        CqlTimestamp(event.at_ms),
                        &event.send_key,
                        event.channel.as_str(),
                        priority_text(event.priority),
                        ttl,
                    ),
                )
                .await?;
            Ok(())
        })
    }
}

/// In-memory [`RateLog`] for tests and the embedded mode; rows never expire, reads filter by
/// time.
#[derive(Debug, Clone, Default)]
pub struct MemoryRateLog {
    rows: Arc<Mutex<HashMap<UserKey, Vec<RateEvent>>>>,
}

/// (tenant, user id).
type UserKey = (String, String);

impl MemoryRateLog {
    /// Nothing counted.
    pub fn new() -> Self {
        Self::default()
    }
}

impl RateLog for MemoryRateLog {
    fn recent<'a>(
        &'a self,
        tenant: &'a str,
        user_id: &'a str,
        since_ms: i64,
    ) -> StoreFuture<'a, Vec<RateEvent>> {
        let rows = self.rows.lock().unwrap_or_else(|e| e.into_inner());
        let mut events: Vec<RateEvent> = rows
            .get(&(tenant.to_owned(), user_id.to_owned()))
            .map(|events| {
                events
                    .iter()
                    .filter(|e| e.at_ms > since_ms)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        events.sort_by_key(|e| std::cmp::Reverse(e.at_ms));
        Box::pin(async move { Ok(events) })
    }

    fn record<'a>(
        &'a self,
        tenant: &'a str,
        user_id: &'a str,
        event: &'a RateEvent,
        _ttl_s: u32,
    ) -> StoreFuture<'a, ()> {
        self.rows
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((tenant.to_owned(), user_id.to_owned()))
            .or_default()
            .push(event.clone());
        Box::pin(async { Ok(()) })
    }
}
