//! [`CassandraLedger`]: claims on the `idempotency_keys` table, status look-ups through
//! [`CassandraLog`]. Every statement is prepared once, in [`CassandraLedger::new`].

use std::sync::Arc;
use std::time::Duration;

use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;
use scylla::value::CqlValue;

use super::{Claim, Ledger, PENDING_CLAIM_TTL};
use crate::cql::{check_keyspace, LwtRow};
use crate::notification_log::{CassandraLog, DeliveryLog, LogEntry};
use crate::session::StoreResult;
use crate::tenants::StoreFuture;

/// [`Ledger`] over ScyllaDB / Cassandra.
#[derive(Debug)]
pub struct CassandraLedger {
    session: Arc<Session>,
    claim: PreparedStatement,
    reclaim: PreparedStatement,
    accept: PreparedStatement,
    release: PreparedStatement,
    log: CassandraLog,
}

impl CassandraLedger {
    /// Prepares the statements in `keyspace` (which `notify migrate` created).
    pub async fn new(session: Arc<Session>, keyspace: &str) -> StoreResult<Self> {
        check_keyspace(keyspace)?;
        let claim = session
            .prepare(format!(
                "INSERT INTO {keyspace}.idempotency_keys \
                 (tenant_id, idempotency_key, event_id, request_hash, state, created_at) \
                 VALUES (?, ?, ?, ?, 'pending', toTimestamp(now())) IF NOT EXISTS USING TTL {}",
                PENDING_CLAIM_TTL.as_secs()
            ))
            .await?;
        // the row of a claim accepted for a window shorter than the pending TTL outlives its
        // cells (the insert's row marker keeps it): such a row with no state is free
        let reclaim = session
            .prepare(format!(
                "UPDATE {keyspace}.idempotency_keys USING TTL {} \
                 SET event_id = ?, request_hash = ?, state = 'pending', created_at = toTimestamp(now()) \
                 WHERE tenant_id = ? AND idempotency_key = ? IF state = null",
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
        let log = CassandraLog::new(Arc::clone(&session), keyspace).await?;
        Ok(Self {
            session,
            claim,
            reclaim,
            accept,
            release,
            log,
        })
    }

    async fn try_claim(
        &self,
        tenant: &str,
        key: &str,
        event_id: &str,
        request_hash: &str,
    ) -> StoreResult<Claim> {
        let result = self
            .session
            .execute_unpaged(&self.claim, (tenant, key, event_id, request_hash))
            .await?;
        let mut answer = LwtRow::read(result)?;
        if answer.applied() {
            return Ok(Claim::Owned);
        }
        if answer.column("state").is_none() {
            let result = self
                .session
                .execute_unpaged(&self.reclaim, (event_id, request_hash, tenant, key))
                .await?;
            answer = LwtRow::read(result)?;
            if answer.applied() {
                return Ok(Claim::Owned);
            }
        }
        // Not applied: the answer carries the claim that is there.
        let text = |name: &str| match answer.column(name) {
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

    async fn try_accept(
        &self,
        tenant: &str,
        key: &str,
        event_id: &str,
        request_hash: &str,
        window: Duration,
    ) -> StoreResult<bool> {
        let ttl = i32::try_from(window.as_secs()).unwrap_or(i32::MAX);
        let result = self
            .session
            .execute_unpaged(
                &self.accept,
                (ttl, event_id, request_hash, tenant, key, request_hash),
            )
            .await?;
        Ok(LwtRow::read(result)?.applied())
    }
}

impl Ledger for CassandraLedger {
    fn claim<'a>(
        &'a self,
        tenant: &'a str,
        key: &'a str,
        event_id: &'a str,
        request_hash: &'a str,
    ) -> StoreFuture<'a, Claim> {
        Box::pin(self.try_claim(tenant, key, event_id, request_hash))
    }

    fn accept<'a>(
        &'a self,
        tenant: &'a str,
        key: &'a str,
        event_id: &'a str,
        request_hash: &'a str,
        window: Duration,
    ) -> StoreFuture<'a, bool> {
        Box::pin(self.try_accept(tenant, key, event_id, request_hash, window))
    }

    fn release<'a>(
        &'a self,
        tenant: &'a str,
        key: &'a str,
        event_id: &'a str,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.session
                .execute_unpaged(&self.release, (tenant, key, event_id))
                .await?;
            Ok(())
        })
    }

    fn entries<'a>(&'a self, tenant: &'a str, event_id: &'a str) -> StoreFuture<'a, Vec<LogEntry>> {
        self.log.entries(tenant, event_id)
    }

    fn check(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            self.session
                .query_unpaged("SELECT release_version FROM system.local", ())
                .await?;
            Ok(())
        })
    }
}
