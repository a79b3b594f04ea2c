//! One queue's worker: reads a page of the backlog, posts each entry until it is taken or
//! dead-lettered, removes it, and goes on; exits when the queue is empty.

use std::sync::Arc;
use std::time::Duration;

use notify_common::dead_letter::{self, Origin};
use notify_common::publish::Record;
use notify_store::webhooks::{sealing_context, OutboxEntry, QueueId, WebhookEndpoint};
use rand::Rng;
use tokio_util::sync::CancellationToken;

use super::Sender;
use crate::metrics as m;
use crate::retry::{Attempt, Next};
use crate::sign::{signature_header, ID_HEADER, SIGNATURE_HEADER};

/// Stage name on dead letters.
pub const DLQ_STAGE_NAME: &str = "webhooks";
/// Error kind on dead letters.
pub const DLQ_ERROR_KIND: &str = "webhook_retries_exhausted";
/// Header naming the endpoint on dead letters.
pub const DLQ_ENDPOINT: &str = "notify-webhook-endpoint";

/// Pause before reading the store again after it failed.
const STORE_PAUSE: Duration = Duration::from_secs(1);

/// Returned when the worker was cancelled mid-way; its entry stays in the backlog.
struct Cancelled;

/// Keeps a gauge up while alive.
struct Gauge(&'static str);

impl Gauge {
    fn up(name: &'static str) -> Self {
        metrics::gauge!(name).increment(1.0);
        Self(name)
    }
}

impl Drop for Gauge {
    fn drop(&mut self) {
        metrics::gauge!(self.0).decrement(1.0);
    }
}

impl Sender {
    pub(super) async fn run_queue(
        self: Arc<Self>,
        queue: QueueId,
        generation: u64,
        cancel: CancellationToken,
    ) {
        let _backlogged = Gauge::up(m::BACKLOGGED_QUEUES);
        let mut cursor = None;
        while !cancel.is_cancelled() {
            let page = match self
                .parts
                .store
                .pending(&queue, cursor, self.parts.page_size)
                .await
            {
                Ok(page) => page,
                Err(err) => {
                    tracing::warn!(endpoint = %queue.endpoint_id, shard = queue.shard, error = %err, "cannot read the webhook backlog");
                    if pause(STORE_PAUSE, &cancel).await.is_err() {
                        return;
                    }
                    continue;
                }
            };
            if page.is_empty() {
                if self.may_exit(&queue, generation) {
                    return;
                }
                continue;
            }
            for entry in page {
                if self.deliver(&queue, &entry, &cancel).await.is_err() {
                    return;
                }
                cursor = Some(entry.seq);
            }
        }
    }

    /// Posts `entry` until it is taken, dead-lettered or dropped (endpoint gone), then removes
    /// it from the backlog.
    async fn deliver(
        &self,
        queue: &QueueId,
        entry: &OutboxEntry,
        cancel: &CancellationToken,
    ) -> Result<(), Cancelled> {
        let mut failures = 0u32;
        let mut failing: Option<Gauge> = None;
        loop {
            let endpoint = match self
                .parts
                .store
                .endpoint(&entry.tenant_id, &queue.endpoint_id)
                .await
            {
                Ok(Some(endpoint)) if endpoint.enabled => endpoint,
                Ok(_) => {
                    metrics::counter!(m::DISCARDED_TOTAL).increment(1);
                    return self.remove(queue, entry.seq, cancel).await;
                }
                Err(err) => {
                    tracing::warn!(endpoint = %queue.endpoint_id, error = %err, "cannot read the webhook endpoint");
                    pause(STORE_PAUSE, cancel).await?;
                    continue;
                }
            };
            let attempt = self.attempt(&endpoint, entry).await;
            let now_ms = self.parts.clock.now_ms();
            let unit: f64 = rand::rng().random();
            match self
                .parts
                .schedule
                .next(&attempt, failures, entry.enqueued_at_ms, now_ms, unit)
            {
                Next::Done => {
                    metrics::counter!(m::POSTED_TOTAL).increment(1);
                    record_age(entry, now_ms);
                    if failures > 0 {
                        tracing::info!(endpoint = %queue.endpoint_id, tenant = %entry.tenant_id, failures, "webhook endpoint takes events again");
                    }
                    drop(failing);
                    return self.remove(queue, entry.seq, cancel).await;
                }
                Next::RetryAfter(wait) => {
                    if failing.is_none() {
                        failing = Some(Gauge::up(m::FAILING_QUEUES));
                    }
                    if failures.is_power_of_two() || failures == 0 {
                        let why = match &attempt {
                            Attempt::Failed(why) => why.as_str(),
                            Attempt::Taken => "",
                        };
                        tracing::warn!(endpoint = %queue.endpoint_id, tenant = %entry.tenant_id, shard = queue.shard, failures = failures + 1, retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX), error = why, "webhook attempt failed");
                    }
                    failures += 1;
                    pause(wait, cancel).await?;
                }
                Next::DeadLetter(reason) => {
                    self.dead_letter(queue, entry, &reason, cancel).await?;
                    metrics::counter!(m::DEAD_LETTERED_TOTAL).increment(1);
                    record_age(entry, now_ms);
                    tracing::warn!(endpoint = %queue.endpoint_id, tenant = %entry.tenant_id, seq = entry.seq, reason = %reason, "webhook event dead-lettered");
                    drop(failing);
                    return self.remove(queue, entry.seq, cancel).await;
                }
            }
        }
    }

    /// One signed POST of `entry` to `endpoint`.
    async fn attempt(&self, endpoint: &WebhookEndpoint, entry: &OutboxEntry) -> Attempt {
        let context = sealing_context(&endpoint.tenant_id, &endpoint.endpoint_id);
        let secret = match &self.parts.secrets {
            Some(key) => key.open(&context, &endpoint.secret_ciphertext).ok(),
            None => None,
        };
        let Some(secret) = secret else {
            metrics::counter!(m::FAILED_ATTEMPTS_TOTAL, "error" => "secret").increment(1);
            return Attempt::Failed(
                "the signing secret does not open with the configured secrets key".into(),
            );
        };
        let timestamp_s = self.parts.clock.now_ms() / 1000;
        let headers = [
            (
                SIGNATURE_HEADER,
                signature_header(&secret, timestamp_s, &entry.body),
            ),
            (ID_HEADER, event_id(&entry.body)),
        ];
        let Ok(_permit) = self.permits.acquire().await else {
            return Attempt::Failed("shutting down".into());
        };
        self.parts
            .poster
            .post(&endpoint.url, &headers, entry.body.clone())
            .await
    }

    async fn dead_letter(
        &self,
        queue: &QueueId,
        entry: &OutboxEntry,
        reason: &str,
        cancel: &CancellationToken,
    ) -> Result<(), Cancelled> {
        let origin = Origin {
            topic: &self.parts.status_topic,
            partition: queue.shard,
            offset: entry.seq,
            key: Some(entry.delivery_key.as_bytes()),
        };
        let record: Record = dead_letter::record(
            self.parts.dlq_topic.clone(),
            DLQ_STAGE_NAME,
            origin,
            entry.body.clone(),
            DLQ_ERROR_KIND,
            reason,
        )
        .header(DLQ_ENDPOINT, queue.endpoint_id.clone());
        loop {
            match self
                .parts
                .publisher
                .publish(std::slice::from_ref(&record))
                .await
            {
                Ok(()) => return Ok(()),
                Err(err) => {
                    tracing::warn!(endpoint = %queue.endpoint_id, error = %err, "cannot write the webhook dead letter, will retry");
                    pause(STORE_PAUSE, cancel).await?;
                }
            }
        }
    }

    async fn remove(
        &self,
        queue: &QueueId,
        seq: i64,
        cancel: &CancellationToken,
    ) -> Result<(), Cancelled> {
        loop {
            match self.parts.store.remove(queue, seq).await {
                Ok(()) => return Ok(()),
                Err(err) => {
                    tracing::warn!(endpoint = %queue.endpoint_id, error = %err, "cannot remove a posted webhook event, will retry");
                    pause(STORE_PAUSE, cancel).await?;
                }
            }
        }
    }
}

fn record_age(entry: &OutboxEntry, now_ms: i64) {
    let age_ms = now_ms.saturating_sub(entry.enqueued_at_ms).max(0);
    #[allow(clippy::cast_precision_loss)]
    metrics::histogram!(m::DELIVERY_SECONDS).record(age_ms as f64 / 1000.0);
}

/// The body's `id`, sent as `Notify-Webhook-Id` too.
fn event_id(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("id").and_then(|id| id.as_str()).map(str::to_owned))
        .unwrap_or_default()
}

async fn pause(wait: Duration, cancel: &CancellationToken) -> Result<(), Cancelled> {
    tokio::select! {
        () = tokio::time::sleep(wait) => Ok(()),
        () = cancel.cancelled() => Err(Cancelled),
    }
}
