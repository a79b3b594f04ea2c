//! Idempotency claims of the ingest API (`idempotency_keys`) and the status look-ups that go
//! with them, behind the narrow [`Ledger`] trait, with a Cassandra implementation
//! ([`CassandraLedger`]) and an in-memory one ([`MemoryLedger`]) that pass the same
//! [`conformance`] suite.
//!
//! An idempotency claim makes "same tenant, same key within the window" produce at most once:
//! the first request inserts a short-lived `pending` claim with a lightweight transaction (only
//! one racer wins), produces its record, then turns the claim `accepted` for the whole window.
//! A racer that loses sees the winner's claim: `accepted` returns the original event id,
//! `pending` means "in progress, retry shortly". A claim whose producer crashed expires with
//! its short TTL, so the key is usable again; the gateway derives the event id a key maps to
//! from the key itself, so even that retry carries the same event id and is deduplicated
//! downstream.
//!
//! Status look-ups read the notification log ([`crate::notification_log`]); the ledger only
//! forwards them, so the gateway needs one handle.

mod cassandra;
pub mod conformance;
mod memory;

use std::time::Duration;

use crate::notification_log::LogEntry;
use crate::tenants::StoreFuture;

pub use cassandra::CassandraLedger;
pub use memory::MemoryLedger;

/// How long a `pending` claim lives if its owner never finishes.
pub const PENDING_CLAIM_TTL: Duration = Duration::from_secs(60);

/// The state of an idempotency key as [`Ledger::claim`] finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This request owns the key; it must [`accept`](Ledger::accept) or
    /// [`release`](Ledger::release) it.
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

/// Idempotency claims and notification log reads.
pub trait Ledger: Send + Sync + std::fmt::Debug {
    /// Tries to own (tenant, key) for `event_id`. Exactly one of several racing callers gets
    /// [`Claim::Owned`].
    fn claim<'a>(
        &'a self,
        tenant: &'a str,
        key: &'a str,
        event_id: &'a str,
        request_hash: &'a str,
    ) -> StoreFuture<'a, Claim>;

    /// Turns an owned claim into an accepted one for `window`. Returns false if the claim was
    /// lost in the meantime (it expired and another request took the key).
    fn accept<'a>(
        &'a self,
        tenant: &'a str,
        key: &'a str,
        event_id: &'a str,
        request_hash: &'a str,
        window: Duration,
    ) -> StoreFuture<'a, bool>;

    /// Gives up an owned, still pending claim (its record was not produced), so the key can
    /// be used again at once. An accepted claim, or one of another event id, stays.
    fn release<'a>(
        &'a self,
        tenant: &'a str,
        key: &'a str,
        event_id: &'a str,
    ) -> StoreFuture<'a, ()>;

    /// The notification log rows of one event of one tenant, in (channel, recipient) order.
    fn entries<'a>(&'a self, tenant: &'a str, event_id: &'a str) -> StoreFuture<'a, Vec<LogEntry>>;

    /// Whether the database answers (for `/readyz`).
    fn check(&self) -> StoreFuture<'_, ()>;
}
