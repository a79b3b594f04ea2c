//! Idempotency claims of the ingest API, and the notification log: read by the status API,
//! read and written by the dispatchers as their dedup record ([`DeliveryLogStore`]).
//!
//! An idempotency claim makes "same tenant, same key within the window" produce at most once:
//! the first request inserts a short-lived `pending` claim with a lightweight transaction (only
//! one racer wins), produces its record, then turns the claim `accepted` for the whole window.
//! A racer that loses sees the winner's claim: `accepted` returns the original event id,
//! `pending` means "in progress, retry shortly". A claim whose producer crashed expires with
//! its short TTL, so the key is usable again; the event id a key maps to is derived from the
//! key itself, so even that retry carries the same event id and is deduplicated downstream.

use std::time::Duration;

use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;
use scylla::value::{CqlValue, Row};

use crate::session::StoreError;

/// How long a `pending` claim lives if its owner never finishes.
pub const PENDING_CLAIM_TTL: Duration = Duration::from_secs(60);

/// The state of an idempotency key found by a losing [`IdempotencyStore::claim`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This request owns the key; it must [`accept`](IdempotencyStore::accept) or
    /// [`release`](IdempotencyStore::release) it.
    Owned,
    /// Another request with the key was already accepted.
    Accepted {
        /// The event id it was accepted with.
        event_id: String,
        /// Hash of that request's body, to tell a retry from a conflicting reuse.
        request_hash: String,
    },
    /// Another request with the key is being produced right now.
    Pending {
        /// Hash of that request's body.
        request_hash: String,
    },
}

/// One row of the notification log: the state of one (channel, recipient) of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// Delivery channel.
    pub channel: String,
    /// Recipient key (token, endpoint, phone, address), possibly redacted.
    pub recipient: String,
    /// Deterministic delivery id.
    pub delivery_id: Option<String>,
    /// Latest state (`sent`, `retrying`, `suppressed`, ...).
    pub state: Option<String>,
    /// Why, for suppressed, failed and retried states.
    pub reason: Option<String>,
    /// Attempts made so far.
    pub attempts: Option<i32>,
    /// Provider that took the delivery.
    pub provider: Option<String>,
    /// The provider's id for the message.
    pub provider_message_id: Option<String>,
    /// Last change, milliseconds since the epoch.
    pub updated_at_ms: Option<i64>,
}

/// Prepared statements over `idempotency_keys` and `notification_log`.
#[derive(Debug)]
pub struct IdempotencyStore {
    claim: PreparedStatement,
    accept: PreparedStatement,
    release: PreparedStatement,
    log: PreparedStatement,
}

impl IdempotencyStore {
    /// Prepares the statements against `keyspace` (which `notify migrate` created).
    pub async fn new(session: &Session, keyspace: &str) -> Result<Self, StoreError> {
        let claim = session
            .prepare(format!(
                "INSERT INTO {keyspace}.idempotency_keys \
                 (tenant_id, idempotency_key, event_id, request_hash, state, created_at) \
                 VALUES (?, ?, ?, ?, 'pending', toTimestamp(now())) IF NOT EXISTS USING TTL {}",
                PENDING_CLAIM_TTL.as_secs()
            ))
            .await?;
        let accept = session
            .prepare(format!(
                "UPDATE {keyspace}.idempotency_keys USING TTL ? \
                 SET state = 'accepted', event_id = ?, request_hash = ?, created_at = toTimestamp(now()) \
                 WHERE tenant_id = ? AND idempotency_key = ? IF request_hash = ?"
            ))
            .await?;
        let release = session
            .prepare(format!(
                "DELETE FROM {keyspace}.idempotency_keys WHERE tenant_id = ? AND idempotency_key = ? \
                 IF state = 'pending' AND event_id = ?"
            ))
            .await?;
        let log = session
            .prepare(format!(
                "SELECT channel, recipient, delivery_id, state, reason, attempts, provider, \
                 provider_message_id, updated_at FROM {keyspace}.notification_log \
                 WHERE tenant_id = ? AND event_id = ?"
            ))
            .await?;
        Ok(Self {
            claim,
            accept,
            release,
            log,
        })
    }

    /// Tries to own `key` for `event_id`. Exactly one of several racing callers gets
    /// [`Claim::Owned`].
    pub async fn claim(
        &self,
        session: &Session,
        tenant: &str,
        key: &str,
        event_id: &str,
        request_hash: &str,
    ) -> Result<Claim, StoreError> {
        let result = session
            .execute_unpaged(&self.claim, (tenant, key, event_id, request_hash))
            .await?
            .into_rows_result()
            .map_err(|err| StoreError::Result(err.to_string()))?;
        let names: Vec<String> = result
            .column_specs()
            .iter()
            .map(|c| c.name().to_owned())
            .collect();
        let row: Row = result
            .single_row()
            .map_err(|err| StoreError::Result(err.to_string()))?;
        let column = |name: &str| {
            names
                .iter()
                .position(|n| n == name)
                .and_then(|i| row.columns.get(i).cloned().flatten())
        };
        if matches!(column("[applied]"), Some(CqlValue::Boolean(true))) {
            return Ok(Claim::Owned);
        }
        let text = |name: &str| match column(name) {
            Some(CqlValue::Text(value) | CqlValue::Ascii(value)) => value,
            _ => String::new(),
        };
        let request_hash = text("request_hash");
        if text("state") == "accepted" {
            Ok(Claim::Accepted {
                event_id: text("event_id"),
                request_hash,
            })
        } else {
            Ok(Claim::Pending { request_hash })
        }
    }

    /// Marks an owned claim accepted for `window`. Returns false if the claim was lost in the
    /// meantime (it expired and another request took the key).
    pub async fn accept(
        &self,
        session: &Session,
        tenant: &str,
        key: &str,
        event_id: &str,
        request_hash: &str,
        window: Duration,
    ) -> Result<bool, StoreError> {
        let ttl = i32::try_from(window.as_secs()).unwrap_or(i32::MAX);
        let result = session
            .execute_unpaged(
                &self.accept,
                (ttl, event_id, request_hash, tenant, key, request_hash),
            )
            .await?;
        applied(result)
    }

    /// Gives up an owned, still pending claim (its record was not produced), so the key can be
    /// used again at once.
    pub async fn release(
        &self,
        session: &Session,
        tenant: &str,
        key: &str,
        event_id: &str,
    ) -> Result<(), StoreError> {
        session
            .execute_unpaged(&self.release, (tenant, key, event_id))
            .await?;
        Ok(())
    }

    /// Every (channel, recipient) row of one event of one tenant.
    pub async fn log_entries(
        &self,
        session: &Session,
        tenant: &str,
        event_id: &str,
    ) -> Result<Vec<LogEntry>, StoreError> {
        let result = session
            .execute_unpaged(&self.log, (tenant, event_id))
            .await?
            .into_rows_result()
            .map_err(|err| StoreError::Result(err.to_string()))?;
        let mut entries = Vec::new();
        for row in result
            .rows::<LogRow>()
            .map_err(|err| StoreError::Result(err.to_string()))?
        {
            entries.push(entry(
                row.map_err(|err| StoreError::Result(err.to_string()))?,
            ));
        }
        Ok(entries)
    }
}

/// The `[applied]` column of a lightweight transaction's result.
fn applied(result: scylla::response::query_result::QueryResult) -> Result<bool, StoreError> {
    let rows = result
        .into_rows_result()
        .map_err(|err| StoreError::Result(err.to_string()))?;
    let row: Row = rows
        .single_row()
        .map_err(|err| StoreError::Result(err.to_string()))?;
    Ok(matches!(
        row.columns.first(),
        Some(Some(CqlValue::Boolean(true)))
    ))
}

/// One outcome the dispatchers write to the notification log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogWrite {
    /// Tenant of the event.
    pub tenant: String,
    /// Event id (hyphenated UUID text).
    pub event_id: String,
    /// Delivery channel (`apns`, `sms`, ...).
    pub channel: String,
    /// Recipient key: the token, endpoint, E.164 number or address, as the delivery gives it.
    pub recipient: String,
    /// Deterministic delivery id.
    pub delivery_id: String,
    /// State (`sent`, `failed`, `expired`, `retrying`, `dead_lettered`).
    pub state: String,
    /// Why, for every state but `sent`.
    pub reason: Option<String>,
    /// Send attempts made so far.
    pub attempts: i32,
    /// Provider that took the last attempt.
    pub provider: Option<String>,
    /// The provider's id for the message.
    pub provider_message_id: Option<String>,
    /// When this outcome happened, milliseconds since the epoch.
    pub updated_at_ms: i64,
}

/// Prepared statements the dispatchers use on `notification_log`: the row of one (tenant,
/// event, channel, recipient), read for dedup, and its outcome, written after each attempt.
///
/// Writes are plain (last write wins); the dispatchers serialise the records of one user, and
/// so of one delivery, so two writers of one row do not race in normal operation.
#[derive(Debug)]
pub struct DeliveryLogStore {
    get: PreparedStatement,
    put: PreparedStatement,
}

impl DeliveryLogStore {
    /// Prepares the statements against `keyspace`.
    pub async fn new(session: &Session, keyspace: &str) -> Result<Self, StoreError> {
        let get = session
            .prepare(format!(
                "SELECT channel, recipient, delivery_id, state, reason, attempts, provider, \
                 provider_message_id, updated_at FROM {keyspace}.notification_log \
                 WHERE tenant_id = ? AND event_id = ? AND channel = ? AND recipient = ?"
            ))
            .await?;
        let put = session
            .prepare(format!(
                "UPDATE {keyspace}.notification_log SET delivery_id = ?, state = ?, reason = ?, \
                 attempts = ?, provider = ?, provider_message_id = ?, updated_at = ? \
                 WHERE tenant_id = ? AND event_id = ? AND channel = ? AND recipient = ?"
            ))
            .await?;
        Ok(Self { get, put })
    }

    /// The row of one (channel, recipient) of one event of one tenant, if written.
    pub async fn get(
        &self,
        session: &Session,
        tenant: &str,
        event_id: &str,
        channel: &str,
        recipient: &str,
    ) -> Result<Option<LogEntry>, StoreError> {
        let result = session
            .execute_unpaged(&self.get, (tenant, event_id, channel, recipient))
            .await?
            .into_rows_result()
            .map_err(|err| StoreError::Result(err.to_string()))?;
        let row = result
            .maybe_first_row::<LogRow>()
            .map_err(|err| StoreError::Result(err.to_string()))?;
        Ok(row.map(entry))
    }

    /// Writes one outcome; a later write of the same row replaces it.
    pub async fn put(&self, session: &Session, write: &LogWrite) -> Result<(), StoreError> {
        session
            .execute_unpaged(
                &self.put,
                (
                    &write.delivery_id,
                    &write.state,
                    &write.reason,
                    write.attempts,
                    &write.provider,
                    &write.provider_message_id,
                    scylla::value::CqlTimestamp(write.updated_at_ms),
                    &write.tenant,
                    &write.event_id,
                    &write.channel,
                    &write.recipient,
                ),
            )
            .await?;
        Ok(())
    }
}

type LogRow = (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i32>,
    Option<String>,
    Option<String>,
    Option<scylla::value::CqlTimestamp>,
);

fn entry(row: LogRow) -> LogEntry {
    let (
        channel,
        recipient,
        delivery_id,
        state,
        reason,
        attempts,
        provider,
        provider_message_id,
        updated_at,
    ) = row;
    LogEntry {
        channel,
        recipient,
        delivery_id,
        state,
        reason,
        attempts,
        provider,
        provider_message_id,
        updated_at_ms: updated_at.map(|t| t.0),
    }
}
