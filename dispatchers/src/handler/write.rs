//! The writes that make a record's outcome durable: the device invalidation (or, for an email
//! address a mail server refused for good, its suppression entry), the log row, the status and
//! derived records, each retried while its dependency fails.

use std::future::Future;
use std::time::Duration;

use notify_common::clock::now_ms;
use notify_common::dead_letter::{DLQ_CHANNEL, DLQ_PAYLOAD_OMITTED, DLQ_STAGE};
use notify_common::publish::{self, PublishError};
use notify_schemas::{Channel, Delivery, Recipient};
use notify_store::directory::{device_id_for, PushTarget};
use notify_store::notification_log::LogWrite;
use notify_store::suppressions::{normalize, Suppression, SuppressionReason};
use notify_store::Invalidation;
use tokio_util::sync::CancellationToken;

use super::{millis, Abandoned, Handled, Handler, Record};
use crate::engine::dead_letter::dead_letter;
use crate::engine::status;
use crate::metrics as m;
use crate::Reason;

impl Handler {
    /// Disables the device behind an invalid push recipient, or lists an email address refused
    /// as a bad address. A refusal that retrying cannot fix is logged and counted; the delivery
    /// still fails.
    pub(super) async fn invalidate(
        &self,
        cancel: &CancellationToken,
        delivery: &Delivery,
        reason: Reason,
        since: Option<i64>,
    ) -> Result<(), Abandoned> {
        let channel = self.channel.as_str();
        let device_id = match &delivery.recipient {
            Recipient::DeviceToken(t) => t.device_id.clone().unwrap_or_else(|| {
                let target = if self.channel == Channel::Apns {
                    PushTarget::Apns {
                        token: t.token.clone(),
                    }
                } else {
                    PushTarget::Fcm {
                        token: t.token.clone(),
                    }
                };
                device_id_for(&target)
            }),
            Recipient::WebPush(s) => match &s.device_id {
                Some(id) => id.clone(),
                None => return Ok(()),
            },
            Recipient::Email(email) if reason == Reason::BadAddress => {
                return self
                    .suppress_bounced(cancel, delivery, &email.address)
                    .await;
            }
            Recipient::Phone(_) | Recipient::Email(_) => return Ok(()),
        };
        let marked = self
            .until_ok(cancel, "database", || async {
                match self
                    .directory
                    .mark_invalid(
                        &delivery.tenant,
                        &delivery.user_id,
                        &device_id,
                        reason.as_str(),
                        since,
                    )
                    .await
                {
                    Ok(done) => Ok(Some(done)),
                    Err(err) if err.is_transient() => Err(err),
                    Err(err) => {
                        tracing::warn!(channel, error = %err, "device could not be disabled");
                        Ok(None)
                    }
                }
            })
            .await?;
        let outcome = match marked {
            Some(Invalidation::Marked) => "marked",
            Some(Invalidation::RegisteredSince) => "registered_since",
            Some(Invalidation::NotFound) => "not_found",
            None => "error",
        };
        metrics::counter!(m::DEVICES_INVALIDATED_TOTAL, "channel" => channel, "outcome" => outcome)
            .increment(1);
        Ok(())
    }

    /// Puts `address` on the suppression list of the delivery's tenant as `bounced`, so the
    /// router holds back the next send to it. Only the tenant's own scope: a relay's refusal
    /// says nothing about other tenants' senders.
    async fn suppress_bounced(
        &self,
        cancel: &CancellationToken,
        delivery: &Delivery,
        address: &str,
    ) -> Result<(), Abandoned> {
        let channel = self.channel.as_str();
        let entry = Suppression {
            scope: delivery.tenant.clone(),
            channel: Channel::Email,
            address: normalize(Channel::Email, address),
            reason: SuppressionReason::Bounced,
            created_at_ms: now_ms(),
            delivery_id: Some(delivery.delivery_id.to_string()),
        };
        // the same database as the log row: retried as long as that would be
        self.until_ok(cancel, "database", || self.suppressions.add(&entry))
            .await?;
        metrics::counter!(m::SUPPRESSIONS_ADDED_TOTAL, "channel" => channel, "reason" => entry.reason.as_str())
            .increment(1);
        Ok(())
    }

    /// Logs a final outcome, then produces its status and `extra` records.
    pub(super) async fn settle(
        &self,
        cancel: &CancellationToken,
        delivery: &Delivery,
        row: &LogWrite,
        mut extra: Vec<publish::Record>,
    ) -> Result<(), Abandoned> {
        self.until_ok(cancel, "database", || self.log.put(row))
            .await?;
        extra.extend(self.status_output(delivery, row));
        self.publish(cancel, extra).await.map(drop)
    }

    pub(super) async fn undecodable(
        &self,
        record: &Record,
        error: &str,
        reason: &str,
        cancel: &CancellationToken,
    ) -> Result<Handled, Abandoned> {
        notify_common::dead_letter::log(
            &self.refusals,
            self.channel.as_str(),
            crate::engine::dead_letter::origin(record),
            error,
            reason,
        );
        metrics::counter!(m::DEAD_LETTERED_TOTAL, "channel" => self.channel.as_str(), "reason" => error.to_owned())
            .increment(1);
        let payload = record.payload.clone().unwrap_or_default();
        let dead = self.dead_letter(record, &payload, error, reason);
        self.publish(cancel, vec![dead]).await?;
        Ok(Handled::Undecodable)
    }

    /// The DLQ record of `record`: its value and key unchanged, the reason in headers.
    pub(super) fn dead_letter(
        &self,
        record: &Record,
        payload: &[u8],
        error: &str,
        reason: &str,
    ) -> publish::Record {
        dead_letter(
            self.topics.dlq(),
            "dispatcher",
            record,
            payload.to_vec(),
            error,
            reason,
        )
        .header(DLQ_CHANNEL, self.channel.as_str())
    }

    pub(super) fn status_output(
        &self,
        delivery: &Delivery,
        row: &LogWrite,
    ) -> Option<publish::Record> {
        let status = status::status_of(delivery, row)?;
        // encoding a record built from a decoded one cannot fail short of a schema bug; a
        // missing status is then visible in the ledger rather than wedging the partition
        let payload = match self.statuses.encode(&status) {
            Ok(payload) => payload,
            Err(err) => {
                tracing::error!(error = %err, "status could not be encoded");
                return None;
            }
        };
        Some(publish::Record::new(
            self.topics.status(),
            delivery.event_id.to_string(),
            payload,
        ))
    }

    /// Produces `outputs` until Kafka has taken each one or refused it for good (too large for
    /// its topic, malformed), so one such record never holds the partition. A refused dead
    /// letter goes again without its value (header `notify-payload-omitted`; the original stays
    /// readable at the offset its headers name). Any other refused record is logged, counted
    /// and returned, for the caller to replace if it can.
    pub(super) async fn publish(
        &self,
        cancel: &CancellationToken,
        outputs: Vec<publish::Record>,
    ) -> Result<Vec<publish::Record>, Abandoned> {
        let mut refused = Vec::new();
        for (record, err) in self.publish_durably(cancel, outputs).await? {
            if record.header_value(DLQ_STAGE).is_some() && !record.payload.is_empty() {
                let mut bare = record
                    .clone()
                    .header(DLQ_PAYLOAD_OMITTED, record.payload.len().to_string());
                bare.payload.clear();
                for (lost, err) in self.publish_durably(cancel, vec![bare]).await? {
                    self.refused(&lost, &err);
                }
            } else {
                self.refused(&record, &err);
                refused.push(record);
            }
        }
        Ok(refused)
    }

    /// Produces `outputs`, all again while Kafka fails for the moment; returns those refused
    /// for good.
    async fn publish_durably(
        &self,
        cancel: &CancellationToken,
        outputs: Vec<publish::Record>,
    ) -> Result<Vec<(publish::Record, PublishError)>, Abandoned> {
        if outputs.is_empty() {
            return Ok(Vec::new());
        }
        let results = self
            .until_ok(cancel, "kafka", || async {
                let results = self.publisher.publish_each(&outputs).await;
                match results
                    .iter()
                    .find_map(|r| r.as_ref().err().filter(|e| !e.is_permanent()))
                {
                    Some(transient) => Err(transient.clone()),
                    None => Ok(results),
                }
            })
            .await?;
        Ok(outputs
            .into_iter()
            .zip(results)
            .filter_map(|(record, result)| result.err().map(|err| (record, err)))
            .collect())
    }

    fn refused(&self, record: &publish::Record, err: &PublishError) {
        metrics::counter!(m::REFUSED_TOTAL, "channel" => self.channel.as_str(), "topic" => record.topic.clone())
            .increment(1);
        tracing::error!(channel = self.channel.as_str(), topic = %record.topic, error = %err, "output refused by Kafka for good");
    }

    /// Runs `op` until it succeeds, pausing with doubling backoff between failures; gives up
    /// only when `cancel` fires.
    pub(super) async fn until_ok<T, E, F, Fut>(
        &self,
        cancel: &CancellationToken,
        dependency: &'static str,
        mut op: F,
    ) -> Result<T, Abandoned>
    where
        E: std::fmt::Display,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut backoff = Duration::from_millis(100);
        let mut failed = false;
        loop {
            match op().await {
                Ok(value) => {
                    if failed {
                        self.health.ok(dependency);
                    }
                    return Ok(value);
                }
                Err(err) => {
                    failed = true;
                    self.health.failing(dependency, err.to_string());
                    metrics::counter!(m::DEPENDENCY_RETRIES_TOTAL, "channel" => self.channel.as_str(), "reason" => dependency)
                        .increment(1);
                    tracing::warn!(
                        channel = self.channel.as_str(),
                        dependency,
                        error = %err,
                        backoff_ms = millis(backoff),
                        "dependency failed, record paused"
                    );
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        () = cancel.cancelled() => return Err(Abandoned),
                    }
                    backoff = (backoff * 2).min(self.max_backoff);
                }
            }
        }
    }
}
