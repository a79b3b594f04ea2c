//! The notification log (`notification_log`): the state of every (channel, recipient) of an
//! event. The dispatchers read and write it as their dedup record; the ingest gateway reads it
//! to answer status look-ups. Behind the narrow [`DeliveryLog`] trait, with a Cassandra
//! implementation ([`CassandraLog`]) and an in-memory one ([`MemoryLog`]) that pass the same
//! [`conformance`] suite.
//!
//! The router writes rows of its own there too ([`outcome`]): what it decides without a
//! delivery, under keys no dispatcher row can have.
//!
//! Guarantees: rows are addressed by (tenant, event id, channel, recipient key), so one
//! tenant's deliveries can never suppress another's even with equal event ids; a write
//! replaces the whole row (last write wins). Not guaranteed: isolation between concurrent
//! writers of one row (the dispatcher serialises the records of a user, which is what makes
//! read-then-send safe).

mod cassandra;
mod coalesced;
pub mod conformance;
mod memory;
pub mod outcome;

use async_trait::async_trait;

use crate::session::StoreResult;

pub use cassandra::CassandraLog;
pub use coalesced::CoalescedLog;
pub use memory::MemoryLog;
pub use outcome::{origin_of, Origin, RouterOutcome};

/// One row of the notification log as read: the state of one (channel, recipient) of an event.
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

/// The address of one row: (tenant, event id, channel, recipient key).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LogKey {
    /// Tenant of the event.
    pub tenant: String,
    /// Event id (hyphenated UUID text).
    pub event_id: String,
    /// Delivery channel.
    pub channel: String,
    /// Recipient key.
    pub recipient: String,
}

impl LogKey {
    /// The key of (tenant, event id, channel, recipient).
    pub fn new(tenant: &str, event_id: &str, channel: &str, recipient: &str) -> Self {
        LogKey {
            tenant: tenant.into(),
            event_id: event_id.into(),
            channel: channel.into(),
            recipient: recipient.into(),
        }
    }
}

impl LogWrite {
    /// The row this write replaces.
    pub fn key(&self) -> LogKey {
        LogKey::new(&self.tenant, &self.event_id, &self.channel, &self.recipient)
    }
}

impl From<LogWrite> for LogEntry {
    /// The row a write leaves, as a read returns it.
    fn from(w: LogWrite) -> Self {
        LogEntry {
            channel: w.channel,
            recipient: w.recipient,
            delivery_id: Some(w.delivery_id),
            state: Some(w.state),
            reason: w.reason,
            attempts: Some(w.attempts),
            provider: w.provider,
            provider_message_id: w.provider_message_id,
            updated_at_ms: Some(w.updated_at_ms),
        }
    }
}

/// Reads and writes of the notification log rows of deliveries.
#[async_trait]
pub trait DeliveryLog: Send + Sync + std::fmt::Debug {
    /// The row of `key`, if any.
    async fn get(&self, key: &LogKey) -> StoreResult<Option<LogEntry>>;

    /// Writes one outcome, replacing the row.
    async fn put(&self, write: &LogWrite) -> StoreResult<()>;

    /// Removes the row of `key`, if any.
    async fn delete(&self, key: &LogKey) -> StoreResult<()>;

    /// Every row of one event of one tenant, in (channel, recipient) order.
    async fn entries(&self, tenant: &str, event_id: &str) -> StoreResult<Vec<LogEntry>>;

    /// The rows of `keys`, one answer per key in the order asked. A store that can read many
    /// rows in one request does so ([`CassandraLog`]: one request per tenant and channel);
    /// this default asks one key at a time.
    async fn get_many(&self, keys: &[LogKey]) -> StoreResult<Vec<Option<LogEntry>>> {
        let mut rows = Vec::with_capacity(keys.len());
        for key in keys {
            rows.push(self.get(key).await?);
        }
        Ok(rows)
    }

    /// Writes many outcomes, no two of one row (their order against each other is not
    /// kept). A store that can write many rows in one request does so ([`CassandraLog`]: one
    /// unlogged batch); this default writes one at a time. On an error some of them may be
    /// written: each is a whole-row replace, so writing them all again is safe.
    async fn put_many(&self, writes: &[LogWrite]) -> StoreResult<()> {
        for w in writes {
            self.put(w).await?;
        }
        Ok(())
    }
}
