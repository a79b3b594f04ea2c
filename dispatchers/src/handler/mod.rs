//! One record of a deliveries topic, from bytes to a durable outcome. No Kafka consumer here:
//! the provider, the notification log, the directory and the producer are narrow traits, so
//! every rule is tested against fakes.
//!
//! Guarantees, per record:
//! - undecodable (or on the wrong channel's topic) → `notify.dlq` with reason headers, once;
//! - a delivery whose log row is final (sent, failed, expired) is not sent again; a copy that
//!   was appended before the outcome was logged (the same record read again after a crash or
//!   rebalance) reports the recorded status again, byte-identical, in case the first report
//!   was lost; a later copy (a replay) reports nothing, so replays add no status;
//! - a copy older than a scheduled retry (log says `retrying` with more attempts) is dropped;
//! - expired → `EXPIRED`, nothing sent;
//! - otherwise exactly one provider send, whose outcome is then made durable without ever
//!   sending again: sent → `SENT`; permanent → `FAILED`; invalid token → the device is
//!   disabled (APNs timestamp rule) and `FAILED`; transient → the delivery with `attempt + 1`
//!   and `not_before` to a retry tier and `RETRYING`, or, once the budget is spent, the original
//!   bytes to `notify.dlq` and `DEAD_LETTERED`.
//! - no provider call starts once the record's partition is being revoked or its lane stops
//!   (the lease's fence): the record is abandoned unsent, for the partition's next owner;
//! - a database or Kafka failure pauses the record with backoff until it works or the record is
//!   abandoned (rebalance deadline, shutdown); [`Handler::handle`] returns `Ok` only when
//!   every write of the outcome succeeded, so the offset may be stored.
//!
//! Order of writes: a final outcome is logged before its status is produced (a crash between
//! the two re-reports it from the log); a retry is produced before its log row (a crash
//! between the two may send once more, but never drops the delivery).
//!
//! Not guaranteed: that a send is not repeated when the process dies between the provider's
//! answer and the log write (bounded by the sends in flight).

use std::sync::Arc;
use std::time::Duration;

use notify_common::clock::now_ms;
use notify_common::config::DispatchConfig;
use notify_common::log_pacer::LogPacer;
use notify_common::metrics as latency;
use notify_common::publish::Publisher;
use notify_common::topics::Topics;
use notify_common::Health;
use notify_schemas::registry::StageSchemas;
use notify_schemas::{Channel, Codec, CodecError, Delivery, DeliveryStatus};
use notify_store::suppressions::SuppressionList;
use notify_store::Directory;
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::engine::inflight::Lease;
use crate::engine::retry_policy::RetryPolicy;
use crate::engine::status::{self, EXPIRED, RETRYING};
use crate::metrics as m;
use crate::providers::provider::{Outcome, Provider};
use notify_store::notification_log::{DeliveryLog, LogKey};

/// One consumed record, detached from the consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Topic it was read from.
    pub topic: String,
    /// Partition it was read from.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Its key (`tenant:user`).
    pub key: Option<Vec<u8>>,
    /// Its value.
    pub payload: Option<Vec<u8>>,
    /// When it was appended (Kafka timestamp), milliseconds since the epoch.
    pub timestamp_ms: Option<i64>,
    /// When its request was made or came due (header `notify-requested-at`), if the router
    /// said.
    pub requested_at_ms: Option<i64>,
    /// The W3C trace context of its headers (`traceparent`, `tracestate`), if any.
    pub trace: Option<(String, Option<String>)>,
}

/// How a record ended; a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// The provider accepted it.
    Sent,
    /// Permanently failed.
    Failed,
    /// The token is gone; the device was disabled.
    InvalidRecipient,
    /// Sent to a retry tier.
    Retrying,
    /// Retry budget spent; dead-lettered.
    DeadLettered,
    /// Expired before it could be sent.
    Expired,
    /// Already settled by an earlier copy: not sent again.
    Duplicate,
    /// A copy older than a retry that is already scheduled.
    Stale,
    /// Could not be decoded; dead-lettered.
    Undecodable,
}

impl Handled {
    /// The outcome label.
    pub fn as_str(self) -> &'static str {
        match self {
            Handled::Sent => "sent",
            Handled::Failed => "failed",
            Handled::InvalidRecipient => "invalid_recipient",
            Handled::Retrying => "retrying",
            Handled::DeadLettered => "dead_lettered",
            Handled::Expired => "expired",
            Handled::Duplicate => "duplicate",
            Handled::Stale => "stale",
            Handled::Undecodable => "undecodable",
        }
    }
}

/// The record was given up before its outcome was durable (cancelled while a dependency was
/// failing); its offset must not be stored.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("record abandoned before its outcome was durable")]
pub struct Abandoned;

/// Everything one channel's records need.
#[derive(Debug)]
pub struct Handler {
    channel: Channel,
    provider: Arc<dyn Provider>,
    log: Arc<dyn DeliveryLog>,
    directory: Arc<dyn Directory>,
    suppressions: Arc<dyn SuppressionList>,
    publisher: Arc<dyn Publisher>,
    topics: Topics,
    policy: RetryPolicy,
    deliveries: Codec<Delivery>,
    statuses: Codec<DeliveryStatus>,
    /// The registry the codecs read Confluent-framed deliveries through, if any.
    schemas: StageSchemas,
    send_timeout: Duration,
    max_backoff: Duration,
    health: Health,
    /// Paces the log lines of undecodable records (a flood of poison records).
    refusals: LogPacer,
}

/// The collaborators of a [`Handler`].
#[derive(Debug, Clone)]
pub struct Deps {
    /// Sends the channel's deliveries.
    pub provider: Arc<dyn Provider>,
    /// The dedup record.
    pub log: Arc<dyn DeliveryLog>,
    /// Where invalid devices are disabled.
    pub directory: Arc<dyn Directory>,
    /// Where addresses a mail server refused for good are listed.
    pub suppressions: Arc<dyn SuppressionList>,
    /// Produces statuses, retries and dead letters.
    pub publisher: Arc<dyn Publisher>,
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Handler {
    /// A handler for `channel`'s records.
    pub fn new(
        channel: Channel,
        deps: Deps,
        topics: Topics,
        config: &DispatchConfig,
    ) -> Result<Self, CodecError> {
        Ok(Self {
            channel,
            provider: deps.provider,
            log: deps.log,
            directory: deps.directory,
            suppressions: deps.suppressions,
            publisher: deps.publisher,
            topics,
            policy: RetryPolicy::new(&config.retry),
            deliveries: Codec::new()?,
            statuses: Codec::new()?,
            schemas: StageSchemas::default(),
            send_timeout: Duration::from_millis(config.send_timeout_ms),
            max_backoff: Duration::from_millis(config.max_backoff_ms),
            health: Health::new(),
            refusals: LogPacer::new(10),
        })
    }

    /// Reports the database and Kafka as failing in `health` (the admin endpoint's `/readyz`)
    /// while records pause on them.
    pub fn with_health(mut self, health: Health) -> Self {
        self.health = health;
        self
    }

    /// Reads Confluent-framed deliveries through `schemas`' registry and writes retries and
    /// statuses in the framing it sets.
    pub fn with_schemas(mut self, schemas: StageSchemas) -> Result<Self, CodecError> {
        self.deliveries = schemas.codec()?;
        self.statuses = schemas.codec()?;
        self.schemas = schemas;
        Ok(self)
    }

    /// The channel handled.
    pub fn channel(&self) -> Channel {
        self.channel
    }

    /// Takes `record` to a durable outcome; see the module docs. `cancel` gives the record
    /// up while it waits on a dependency.
    pub async fn handle(
        &self,
        record: &Record,
        cancel: &CancellationToken,
    ) -> Result<Handled, Abandoned> {
        let lease = Lease {
            abandon: cancel.clone(),
            fence: CancellationToken::new(),
        };
        self.handle_leased(record, &lease, None).await
    }

    /// [`Handler::handle`] for a record started under `lease`: once its fence is down
    /// (the partition is being revoked, the lane stops) the record is abandoned rather than
    /// sent, so no provider call starts that could outlive the drain and be repeated by the
    /// partition's next owner. `send_slot` (the caller's share of the send concurrency) is
    /// released as soon as the provider answered, so writing the outcome (which may wait out
    /// a database or Kafka outage) never holds a slot other records could send with.
    pub async fn handle_leased(
        &self,
        record: &Record,
        lease: &Lease,
        send_slot: Option<OwnedSemaphorePermit>,
    ) -> Result<Handled, Abandoned> {
        let span = tracing::info_span!(
            "dispatch.deliver",
            channel = self.channel.as_str(),
            delivery_id = tracing::field::Empty,
            event_id = tracing::field::Empty,
            attempt = tracing::field::Empty,
            outcome = tracing::field::Empty,
        );
        let handled = self
            .handle_inner(record, lease, send_slot)
            .instrument(span.clone())
            .await?;
        span.record("outcome", handled.as_str());
        metrics::counter!(m::DELIVERIES_TOTAL, "channel" => self.channel.as_str(), "outcome" => handled.as_str())
            .increment(1);
        Ok(handled)
    }

    async fn handle_inner(
        &self,
        record: &Record,
        lease: &Lease,
        mut send_slot: Option<OwnedSemaphorePermit>,
    ) -> Result<Handled, Abandoned> {
        let cancel = &lease.abandon;
        let Some(payload) = record.payload.as_deref() else {
            return self
                .undecodable(record, "empty", "record has no value", cancel)
                .await;
        };
        // a registry that cannot answer holds the record; it never makes it undecodable
        self.until_ok(cancel, "schema_registry", || self.schemas.prefetch(payload))
            .await?;
        let delivery = match self.deliveries.decode(payload) {
            Ok(delivery) => delivery,
            Err(err) => {
                return self
                    .undecodable(record, err.kind(), &err.to_string(), cancel)
                    .await
            }
        };
        follow_trace(record, &delivery);
        if delivery.channel != self.channel {
            let reason = format!(
                "a {} delivery on the {} topic",
                delivery.channel, self.channel
            );
            return self
                .undecodable(record, "wrong_channel", &reason, cancel)
                .await;
        }

        let key = LogKey {
            tenant: delivery.tenant.clone(),
            event_id: delivery.event_id.to_string(),
            channel: self.channel.as_str().to_owned(),
            recipient: delivery.recipient.key().to_owned(),
        };
        let existing = self
            .until_ok(cancel, "database", || self.log.get(&key))
            .await?;
        if let Some(entry) = existing {
            let state = entry.state.as_deref().unwrap_or_default();
            let stale = state == RETRYING && entry.attempts.unwrap_or(0) > delivery.attempt;
            if status::is_final(state) || stale {
                drop(send_slot.take()); // will not send: the slot is for others
            }
            if status::is_final(state) {
                let row = status::as_write(&delivery, &entry);
                // A copy appended before the outcome was logged may be the very record whose
                // status report a crash cut off: report it again (the same bytes). A copy
                // appended later (a replay) gets no second status.
                if record.timestamp_ms.is_none_or(|at| at <= row.updated_at_ms) {
                    let outputs = self.status_output(&delivery, &row).into_iter().collect();
                    self.publish(cancel, outputs).await?;
                }
                tracing::debug!(channel = self.channel.as_str(), delivery = %delivery.delivery_id, state, partition = record.partition, offset = record.offset, "already settled, not sent again");
                return Ok(Handled::Duplicate);
            }
            if stale {
                return Ok(Handled::Stale);
            }
        }

        let now = now_ms();
        if delivery.expires_at.is_some_and(|at| now >= at) {
            drop(send_slot.take());
            let row = status::log_write(
                &delivery,
                EXPIRED,
                Some("ttl"),
                delivery.attempt,
                None,
                None,
                now,
            );
            self.settle(cancel, &delivery, &row, Vec::new()).await?;
            return Ok(Handled::Expired);
        }

        if lease.fence.is_cancelled() {
            metrics::counter!(m::FENCED_TOTAL, "channel" => self.channel.as_str()).increment(1);
            return Err(Abandoned);
        }
        let dispatched_at = now_ms();
        if let Some(appended) = record.timestamp_ms {
            latency::hop(
                "routed_to_dispatched",
                self.channel.as_str(),
                appended,
                dispatched_at,
            );
        }
        let (outcome, by) = self.send(&delivery).await;
        if matches!(outcome, Outcome::Sent { .. }) {
            let acked = now_ms();
            let channel = self.channel.as_str();
            latency::hop("dispatched_to_ack", channel, dispatched_at, acked);
            if let Some(requested) = record.requested_at_ms {
                latency::end_to_end(channel, delivery.priority.as_str(), requested, acked);
            }
        }
        drop(send_slot);
        self.on_outcome(record, payload, &delivery, outcome, by, cancel)
            .await
    }
}

/// Names the delivery on the current span and makes it the child of the trace the record's
/// headers carry (else the one its body carries).
fn follow_trace(record: &Record, delivery: &Delivery) {
    let span = tracing::Span::current();
    span.record("delivery_id", tracing::field::display(delivery.delivery_id));
    span.record("event_id", tracing::field::display(delivery.event_id));
    span.record("attempt", delivery.attempt);
    let (parent, state) =
        notify_common::trace::incoming(record.trace.as_ref(), delivery.trace.as_ref());
    notify_common::trace::follow(&span, parent, state);
}

/// The key a derived record keeps: the original record's, else `tenant:user`.
fn key_of(record: &Record, delivery: &Delivery) -> Vec<u8> {
    record
        .key
        .clone()
        .unwrap_or_else(|| format!("{}:{}", delivery.tenant, delivery.user_id).into_bytes())
}

#[cfg(test)]
mod bounce_tests;
#[cfg(test)]
mod fence_tests;
mod outcome;
pub(crate) use outcome::carried;
#[cfg(test)]
mod refused_tests;
#[cfg(test)]
mod rig;
#[cfg(test)]
mod tests;
mod write;
