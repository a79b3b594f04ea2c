//! `POST /v1/notifications`, `POST /v1/notifications/batch`, `GET /v1/notifications/{id}`.
//!
//! Guarantees: a 202 is sent only after Kafka acknowledged the record (all in-sync replicas);
//! any failure before that answers 503 with Retry-After and, with an `Idempotency-Key`, frees
//! the key again. A repeated key with the same body answers the original event id and produces
//! nothing; the same key with another body answers 409.

use std::time::Instant;

use axum::body::{to_bytes, Body};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use futures::future::join_all;
use notify_store::idempotency::Claim;
use notify_store::notification_log::origin_of;
use serde::Serialize;
use uuid::Uuid;

use crate::idempotency::{event_id_for_key, request_hash};
use crate::metrics::{ACCEPTED_TOTAL, DUPLICATES_TOTAL, PRODUCE_SECONDS, REJECTED_TOTAL};
use crate::problem::{FieldError, Problem};
use crate::routes::responses::{CreateBatch, CreateNotification, NotificationLookup, Problems};
use crate::state::AppState;
use crate::tenant::Tenant;
use crate::validate::{
    self, Accepted, AcceptedStatus, BatchInput, BatchResult, ItemResult, NotificationInput,
};
use notify_common::clock::now_ms;
use notify_common::publish::{PublishError, Record};
use notify_common::trace::{self, TRACEPARENT, TRACESTATE};
use tracing::Instrument;

/// Header carrying the caller's idempotency key.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// State of one (channel, recipient) of a notification: a delivery as its dispatcher reports
/// it, or an outcome the router decided without a delivery (suppressed, scheduled, expired,
/// render failed).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ChannelState {
    /// Delivery channel; `*` for an outcome of the whole request (expired, scheduled for
    /// `send_at` or quiet hours, no channel reachable).
    pub channel: String,
    /// Recipient (token, endpoint, phone or address); `*` for an outcome of every recipient
    /// of the channel (held back by a rate limit).
    pub recipient: String,
    /// Who decided this state: `dispatcher` (a delivery) or `router` (no delivery was made,
    /// or not yet: a deferral).
    #[schema(example = "router")]
    pub origin: String,
    /// The delivery id, when the state is about one recipient.
    pub delivery_id: Option<String>,
    /// Latest state: `sent`, `retrying`, `failed`, `expired`, `dead_lettered`, `suppressed`,
    /// `scheduled`.
    pub state: Option<String>,
    /// Reason for suppressed, scheduled, failed or retried states (`opted_out`,
    /// `rate_limited`, `quiet_hours`, ...).
    pub reason: Option<String>,
    /// Attempts so far.
    pub attempts: Option<i32>,
    /// Provider that took it.
    pub provider: Option<String>,
    /// The provider's message id.
    pub provider_message_id: Option<String>,
    /// Last change, milliseconds since the epoch.
    pub updated_at_ms: Option<i64>,
}

/// Progress of one notification.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NotificationStatus {
    /// The event id.
    pub event_id: String,
    /// One entry per (channel, recipient) the router fanned out to, and one per outcome it
    /// decided without a delivery, in (channel, recipient) order.
    pub deliveries: Vec<ChannelState>,
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, Problem> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let checked = value
        .to_str()
        .map_err(|_| "must be printable ASCII".to_owned())
        .and_then(|key| validate::fields::idempotency_key(key).map(|()| key.to_owned()));
    checked
        .map(Some)
        .map_err(|message| Problem::validation(vec![FieldError::new("Idempotency-Key", message)]))
}

async fn read_body(body: Body, limit: usize) -> Result<axum::body::Bytes, Problem> {
    to_bytes(body, limit)
        .await
        .map_err(|_| Problem::too_large(limit))
}

fn unavailable(err: &dyn std::fmt::Display) -> Problem {
    metrics::counter!(REJECTED_TOTAL, "reason" => "unavailable").increment(1);
    Problem::outage(
        "notification not accepted",
        err,
        "the notification was not accepted; retry it",
    )
}

/// A key just claimed whose event the notification log already knows was used before the
/// idempotency window ended: the event id a key maps to is fixed, so producing again would be
/// dropped downstream as a duplicate of that old notification. Refused with 409 instead (and
/// the claim released), naming the event, so the caller picks a new key.
async fn reused_after_window(
    state: &AppState,
    tenant: &Tenant,
    key: &str,
    event: &str,
) -> Result<(), Problem> {
    let entries = state
        .ledger
        .entries(tenant.id(), event)
        .await
        .map_err(|e| unavailable(&e));
    let known = match entries {
        Ok(entries) => !entries.is_empty(),
        Err(problem) => {
            release(state, tenant, key, event).await;
            return Err(problem);
        }
    };
    if !known {
        return Ok(());
    }
    release(state, tenant, key, event).await;
    metrics::counter!(REJECTED_TOTAL, "reason" => "key_reused").increment(1);
    Err(Problem::conflict(format!(
        "this Idempotency-Key was used for notification {event} longer ago than the idempotency \
         window; use a new key for a new notification"
    )))
}

async fn release(state: &AppState, tenant: &Tenant, key: &str, event: &str) {
    if let Err(release) = state.ledger.release(tenant.id(), key, event).await {
        // the pending claim expires on its own; a retry meanwhile gets 409 + Retry-After
        tracing::warn!(error = %release, "idempotency claim not released");
    }
}

/// Validates, claims the idempotency key if any, produces, and answers; the one path both the
/// single and the batch endpoint take.
/// The W3C trace context of the HTTP request's headers, if its `traceparent` is well formed.
fn http_trace(headers: &HeaderMap) -> Option<(String, Option<String>)> {
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let parent = text(TRACEPARENT).filter(|p| crate::validate::fields::traceparent(p).is_ok())?;
    Some((parent.to_owned(), text(TRACESTATE).map(str::to_owned)))
}

async fn accept_one(
    state: &AppState,
    tenant: &Tenant,
    input: NotificationInput,
    key: Option<String>,
    hash: String,
    caller_trace: Option<&(String, Option<String>)>,
) -> Result<Accepted, Problem> {
    let event_id = key
        .as_deref()
        .map_or_else(Uuid::new_v4, |k| event_id_for_key(tenant.id(), k));
    let now = now_ms();
    let request = validate::validate(
        input,
        tenant.id(),
        event_id,
        key.clone(),
        now,
        &state.limits,
    )
    .map_err(|errors| {
        metrics::counter!(REJECTED_TOTAL, "reason" => "validation").increment(1);
        Problem::validation(errors)
    })?;
    let status = validate::accepted_status(&request);
    let payload = state
        .codec
        .encode(&request)
        .map_err(|err| Problem::internal(&err))?;
    let event = event_id.to_string();

    if let Some(key) = &key {
        let claim = state
            .ledger
            .claim(tenant.id(), key, &event, &hash)
            .await
            .map_err(|e| unavailable(&e))?;
        match claim {
            Claim::Owned => {
                reused_after_window(state, tenant, key, &event).await?;
            }
            Claim::Accepted {
                event_id: original,
                request_hash,
            } if request_hash == hash => {
                metrics::counter!(DUPLICATES_TOTAL).increment(1);
                let event_id = Uuid::parse_str(&original).unwrap_or(event_id);
                return Ok(Accepted {
                    event_id,
                    status: AcceptedStatus::Accepted,
                    duplicate: true,
                });
            }
            Claim::Pending { request_hash } if request_hash == hash => {
                metrics::counter!(REJECTED_TOTAL, "reason" => "conflict").increment(1);
                let mut problem = Problem::conflict(
                    "a request with this Idempotency-Key is in progress; retry shortly",
                );
                problem.retry_after_s = Some(1);
                return Err(problem);
            }
            Claim::Accepted { .. } | Claim::Pending { .. } => {
                metrics::counter!(REJECTED_TOTAL, "reason" => "conflict").increment(1);
                return Err(Problem::conflict(
                    "this Idempotency-Key was used for a different request",
                ));
            }
        }
    }

    let routing_key = format!("{}:{}", tenant.id(), request.user_id);
    // one trace per notification: the caller's (HTTP header, else the body's `trace`) continued
    let span = tracing::info_span!("ingest.accept", event_id = %event_id, tenant = %tenant.id());
    let incoming = trace::incoming(caller_trace, request.trace.as_ref());
    trace::follow(&span, incoming.0, incoming.1);
    let mut record = Record::new(state.requests_topic.as_str(), routing_key.as_str(), payload);
    for (name, value) in trace::outgoing(&span, incoming) {
        record = record.header(name, value);
    }
    let started = Instant::now();
    let produced = tokio::time::timeout(
        state.produce_timeout(),
        state.publisher.publish(std::slice::from_ref(&record)),
    )
    .instrument(span)
    .await
    .unwrap_or(Err(PublishError::Timeout));
    metrics::histogram!(PRODUCE_SECONDS).record(started.elapsed().as_secs_f64());
    if let Err(err) = produced {
        if let Some(key) = &key {
            release(state, tenant, key, &event).await;
        }
        return Err(unavailable(&err));
    }
    if let Some(key) = &key {
        let window = std::time::Duration::from_secs(state.config.idempotency_window_s);
        match state
            .ledger
            .accept(tenant.id(), key, &event, &hash, window)
            .await
        {
            Ok(true) => {}
            // the record is in Kafka; a retry maps to the same event id and is deduplicated
            Ok(false) => tracing::warn!(%event, "idempotency claim lost before it was accepted"),
            Err(err) => {
                tracing::warn!(%event, error = %err, "idempotency claim not marked accepted")
            }
        }
    }
    Ok(Accepted {
        event_id,
        status,
        duplicate: false,
    })
}

/// Accepts one notification.
#[utoipa::path(
    post,
    path = "/v1/notifications",
    tag = "notifications",
    request_body = NotificationInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "same key and body within the window: the original event id, nothing new produced")),
    responses(
        (status = 202, description = "acknowledged by Kafka", body = Accepted),
        Problems<CreateNotification>,
    ),
    security(("basic" = ["send"]), ("bearer" = ["send"]))
)]
pub async fn create(
    State(state): State<AppState>,
    tenant: Tenant,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Accepted>), Problem> {
    let key = idempotency_key(&headers)?;
    let bytes = read_body(body, state.config.max_body_bytes).await?;
    let input: NotificationInput = validate::parse_json(&bytes)?;
    state.limiter.charge_notifications(tenant.id(), 1)?;
    // the parsed input re-serialised: equal requests hash equally whatever their spacing
    let hash = request_hash(&serde_json::to_vec(&input).unwrap_or_default());
    let caller_trace = http_trace(&headers);
    let accepted = accept_one(&state, &tenant, input, key, hash, caller_trace.as_ref()).await?;
    if !accepted.duplicate {
        metrics::counter!(ACCEPTED_TOTAL, "route" => "single").increment(1);
    }
    Ok((StatusCode::ACCEPTED, Json(accepted)))
}

/// Accepts up to `max_batch_items` notifications, each on its own: one result per item. With an
/// `Idempotency-Key`, item `i` uses the key `<key>:<i>`, so a retried batch is safe.
#[utoipa::path(
    post,
    path = "/v1/notifications/batch",
    tag = "notifications",
    request_body = BatchInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "item i uses <key>:<i>")),
    responses(
        (status = 207, description = "one result per item", body = BatchResult),
        Problems<CreateBatch>,
    ),
    security(("basic" = ["send"]), ("bearer" = ["send"]))
)]
pub async fn create_batch(
    State(state): State<AppState>,
    tenant: Tenant,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<BatchResult>), Problem> {
    let key = idempotency_key(&headers)?;
    let bytes = read_body(body, state.config.max_batch_body_bytes).await?;
    let items = validate::parse_batch(&bytes, state.config.max_batch_items)?;
    // every item costs a token, invalid ones too: they cost work all the same
    state
        .limiter
        .charge_notifications(tenant.id(), items.len())?;
    let caller_trace = http_trace(&headers);
    let work = items.into_iter().enumerate().map(|(index, item)| {
        let state = &state;
        let tenant = &tenant;
        let caller_trace = caller_trace.as_ref();
        let item_key = key.as_ref().map(|k| format!("{k}:{index}"));
        async move {
            let input = match item {
                Ok(input) => input,
                Err(errors) => return ItemResult::failed(index, Problem::validation(errors)),
            };
            // the parsed item re-serialised: equal items hash equally whatever their spacing
            let hash = request_hash(&serde_json::to_vec(&input).unwrap_or_default());
            match accept_one(state, tenant, input, item_key, hash, caller_trace).await {
                Ok(accepted) => ItemResult::accepted(index, &accepted),
                Err(mut problem) => {
                    problem.errors =
                        validate::nest_errors(&format!("/items/{index}"), problem.errors);
                    ItemResult::failed(index, problem)
                }
            }
        }
    });
    // at most max_batch_items (≤ 1000) futures, all for one request: bounded by construction
    let results = join_all(work).await;
    let accepted = results
        .iter()
        .filter(|r| r.status == 202 && !r.duplicate)
        .count();
    metrics::counter!(ACCEPTED_TOTAL, "route" => "batch").increment(accepted as u64);
    Ok((StatusCode::MULTI_STATUS, Json(BatchResult { results })))
}

/// The per-channel states of one notification, from the notification log: deliveries and the
/// router's own outcomes (suppressions and deferrals with their reason). 404 only when nothing
/// about the notification was recorded (not routed yet, another tenant's, or expired from the
/// log).
#[utoipa::path(
    get,
    path = "/v1/notifications/{event_id}",
    tag = "notifications",
    params(("event_id" = String, Path, description = "the id answered at creation")),
    responses(
        (status = 200, description = "every outcome so far: deliveries, suppressions and deferrals with their reason", body = NotificationStatus),
        Problems<NotificationLookup>,
    ),
    security(("basic" = ["status"]), ("bearer" = ["status"]))
)]
pub async fn get(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(event_id): Path<String>,
) -> Result<Json<NotificationStatus>, Problem> {
    if Uuid::parse_str(&event_id).is_err() {
        return Err(Problem::not_found("notification"));
    }
    let entries = state
        .ledger
        .entries(tenant.id(), &event_id)
        .await
        .map_err(|e| {
            Problem::outage(
                "notification log read failed",
                &e,
                "the notification log is not reachable",
            )
        })?;
    if entries.is_empty() {
        return Err(Problem::not_found("notification"));
    }
    let mut deliveries: Vec<ChannelState> = entries
        .into_iter()
        .map(origin_of)
        .map(|(origin, e)| ChannelState {
            channel: e.channel,
            recipient: e.recipient,
            origin: origin.as_str().to_owned(),
            delivery_id: e.delivery_id,
            state: e.state,
            reason: e.reason,
            attempts: e.attempts,
            provider: e.provider,
            provider_message_id: e.provider_message_id,
            updated_at_ms: e.updated_at_ms,
        })
        .collect();
    // the router's rows are stored under keys of their own: put them beside their channel
    deliveries.sort_by(|a, b| {
        (&a.channel, &a.recipient, &a.origin).cmp(&(&b.channel, &b.recipient, &b.origin))
    });
    Ok(Json(NotificationStatus {
        event_id,
        deliveries,
    }))
}
