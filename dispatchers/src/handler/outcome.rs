//! The per-delivery decision: one provider send, and what its [`Outcome`] turns into (the
//! log row, the status, a retry record, a dead letter, a disabled device). The writes
//! themselves, retried while their dependency fails, are in `write.rs`.
//!
//! Guarantees: exactly one send per call of [`Handler::on_outcome`]'s caller; a final outcome
//! is logged before its status is produced; a retry is produced before its log row (a crash in
//! between repeats the send, never drops the delivery).

use std::time::Instant;

use notify_common::clock::now_ms;
use notify_common::metrics::REQUESTED_AT_HEADER;
use notify_common::publish;
use notify_common::trace::{TRACEPARENT, TRACESTATE};
use notify_schemas::Delivery;
use tokio_util::sync::CancellationToken;

use super::{key_of, Abandoned, Handled, Handler, Record};
use crate::engine::retry_policy::RetryPlan;
use crate::engine::status::{self, DEAD_LETTERED, EXPIRED, FAILED, RETRYING, SENT};
use crate::metrics as m;
use crate::providers::provider::{Outcome, Reason};

impl Handler {
    /// Makes the outcome of the one send of `delivery` (read from `record`, whose value is
    /// `payload`) durable; `by` is the provider that gave it, which its status names.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn on_outcome(
        &self,
        record: &Record,
        payload: &[u8],
        delivery: &Delivery,
        outcome: Outcome,
        by: &'static str,
        cancel: &CancellationToken,
    ) -> Result<Handled, Abandoned> {
        let channel = self.channel.as_str();
        let attempts = delivery.attempt.saturating_add(1);
        let now = now_ms();
        let provider = Some(by);
        let id = delivery.delivery_id;
        match outcome {
            Outcome::Sent {
                provider_message_id,
            } => {
                tracing::debug!(channel, delivery = %id, topic = %record.topic, partition = record.partition, offset = record.offset, attempts, "sent");
                let row = status::log_write(
                    delivery,
                    SENT,
                    None,
                    attempts,
                    provider,
                    provider_message_id,
                    now,
                );
                self.settle(cancel, delivery, &row, Vec::new()).await?;
                Ok(Handled::Sent)
            }
            Outcome::Failed { reason, detail } => {
                tracing::info!(channel, delivery = %id, reason = %reason, detail = %detail, "delivery failed permanently");
                self.settle_failed(cancel, delivery, reason, by, attempts, now)
                    .await?;
                Ok(Handled::Failed)
            }
            Outcome::InvalidRecipient {
                reason,
                since,
                detail,
            } => {
                tracing::info!(channel, delivery = %id, reason = %reason, detail = %detail, "recipient invalid");
                self.invalidate(cancel, delivery, reason, since).await?;
                self.settle_failed(cancel, delivery, reason, by, attempts, now)
                    .await?;
                Ok(Handled::InvalidRecipient)
            }
            Outcome::Retry {
                reason,
                after,
                detail,
            } => {
                let after_ms = after.map(|a| i64::try_from(a.as_millis()).unwrap_or(i64::MAX));
                let budget = u32::try_from(attempts).unwrap_or(u32::MAX);
                let plan = self
                    .policy
                    .plan(delivery, budget, after_ms, now, rand::random::<f64>());
                self.after_transient(
                    record, payload, delivery, attempts, reason, by, &detail, plan, cancel,
                )
                .await
            }
        }
    }

    /// Logs a permanent failure for `reason`, given by provider `by`, and reports it.
    async fn settle_failed(
        &self,
        cancel: &CancellationToken,
        delivery: &Delivery,
        reason: Reason,
        by: &'static str,
        attempts: i32,
        now: i64,
    ) -> Result<(), Abandoned> {
        let row = status::log_write(
            delivery,
            FAILED,
            Some(reason.as_str()),
            attempts,
            Some(by),
            None,
            now,
        );
        self.settle(cancel, delivery, &row, Vec::new()).await
    }

    /// Sends `delivery` once, within the send timeout (a timeout is a transient failure); the
    /// outcome with the provider that gave it.
    pub(super) async fn send(&self, delivery: &Delivery) -> (Outcome, &'static str) {
        let started = Instant::now();
        let (outcome, by) =
            tokio::time::timeout(self.send_timeout, self.provider.send_named(delivery))
                .await
                .unwrap_or_else(|_| {
                    let timed_out = Outcome::retry(Reason::Connection, "send timed out");
                    (timed_out, self.provider.name())
                });
        let label = match &outcome {
            Outcome::Sent { .. } => "sent",
            Outcome::Retry { .. } => "retry",
            Outcome::Failed { .. } => "failed",
            Outcome::InvalidRecipient { .. } => "invalid_recipient",
        };
        let channel = self.channel.as_str();
        metrics::counter!(m::SENDS_TOTAL, "channel" => channel, "outcome" => label).increment(1);
        metrics::histogram!(m::SEND_DURATION_SECONDS, "channel" => channel, "outcome" => label)
            .record(started.elapsed().as_secs_f64());
        if let Outcome::Retry {
            reason: Reason::AnswerLost,
            ..
        } = &outcome
        {
            // sent, answer lost: the provider may have it, so its retry may arrive twice
            metrics::counter!(m::AMBIGUOUS_SENDS_TOTAL, "channel" => channel).increment(1);
        }
        if let Outcome::Retry { reason, .. }
        | Outcome::Failed { reason, .. }
        | Outcome::InvalidRecipient { reason, .. } = &outcome
        {
            metrics::counter!(m::SEND_FAILURES_TOTAL, "channel" => channel, "reason" => reason.as_str())
                .increment(1);
        }
        (outcome, by)
    }

    #[allow(clippy::too_many_arguments)]
    async fn after_transient(
        &self,
        record: &Record,
        payload: &[u8],
        delivery: &Delivery,
        attempts: i32,
        reason: Reason,
        by: &'static str,
        detail: &str,
        plan: RetryPlan,
        cancel: &CancellationToken,
    ) -> Result<Handled, Abandoned> {
        let channel = self.channel.as_str();
        let now = now_ms();
        let provider = Some(by);
        match plan {
            RetryPlan::Retry { not_before, tier } => {
                tracing::info!(channel, delivery = %delivery.delivery_id, attempts, tier, reason = %reason, "delivery will be retried");
                let mut next = delivery.clone();
                next.attempt = attempts;
                next.not_before = Some(not_before);
                next.first_attempt_at = Some(delivery.first_attempt_at.unwrap_or(now));
                let Ok(encoded) = self.deliveries.encode(&next) else {
                    return self
                        .undecodable(
                            record,
                            "encode",
                            "retry record could not be encoded",
                            cancel,
                        )
                        .await;
                };
                let row = status::log_write(
                    delivery,
                    RETRYING,
                    Some(reason.as_str()),
                    attempts,
                    provider,
                    None,
                    now,
                );
                let mut outputs = vec![carried(
                    publish::Record::new(
                        self.topics.retry(tier),
                        key_of(record, delivery),
                        encoded,
                    ),
                    record,
                )];
                outputs.extend(self.status_output(delivery, &row));
                // produced before the log row: a crash in between repeats, never drops
                let refused = self.publish(cancel, outputs).await?;
                if refused.iter().any(|r| r.topic == self.topics.retry(tier)) {
                    // the retry tier will not take it: it can never be retried
                    let text = format!("{reason}: {detail}; the retry tier refused the record");
                    return self
                        .dead_end(
                            record,
                            payload,
                            delivery,
                            attempts,
                            "produce_refused",
                            "produce_refused",
                            &text,
                            cancel,
                        )
                        .await;
                }
                self.until_ok(cancel, "database", || self.log.put(&row))
                    .await?;
                Ok(Handled::Retrying)
            }
            RetryPlan::Exhausted { budget } => {
                tracing::warn!(channel, delivery = %delivery.delivery_id, attempts, budget, reason = %reason, "retries exhausted, dead-lettering");
                let text = format!("{reason}: {detail} (retry budget: {budget})");
                self.dead_end(
                    record,
                    payload,
                    delivery,
                    attempts,
                    reason.as_str(),
                    "retries_exhausted",
                    &text,
                    cancel,
                )
                .await
            }
            RetryPlan::Expired => {
                let row = status::log_write(
                    delivery,
                    EXPIRED,
                    Some("ttl"),
                    attempts,
                    provider,
                    None,
                    now,
                );
                self.settle(cancel, delivery, &row, Vec::new()).await?;
                Ok(Handled::Expired)
            }
        }
    }

    /// Ends `delivery` on `notify.dlq` (its consumed bytes, `error` and `text` in headers) with
    /// a `DEAD_LETTERED` status giving `status_reason`.
    #[allow(clippy::too_many_arguments)]
    async fn dead_end(
        &self,
        record: &Record,
        payload: &[u8],
        delivery: &Delivery,
        attempts: i32,
        status_reason: &str,
        error: &str,
        text: &str,
        cancel: &CancellationToken,
    ) -> Result<Handled, Abandoned> {
        let row = status::log_write(
            delivery,
            DEAD_LETTERED,
            Some(status_reason),
            attempts,
            Some(self.provider.name()),
            None,
            now_ms(),
        );
        let dead = self.dead_letter(record, payload, error, text);
        metrics::counter!(m::DEAD_LETTERED_TOTAL, "channel" => self.channel.as_str(), "reason" => error.to_owned())
            .increment(1);
        self.settle(cancel, delivery, &row, vec![dead]).await?;
        Ok(Handled::DeadLettered)
    }
}

/// `output` carrying `record`'s request time and trace context on, so a retry's latency is
/// measured from the request too and its send joins the same trace.
pub(crate) fn carried(mut output: publish::Record, record: &Record) -> publish::Record {
    if let Some(at) = record.requested_at_ms {
        output = output.header(REQUESTED_AT_HEADER, at.to_string());
    }
    if let Some((parent, state)) = &record.trace {
        output = output.header(TRACEPARENT, parent.clone());
        if let Some(state) = state {
            output = output.header(TRACESTATE, state.clone());
        }
    }
    output
}
