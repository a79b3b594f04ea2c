//! Records the router emits: one [`Delivery`] per target with rendered content, and the
//! [`DeliveryStatus`] of everything it decides itself (suppressed, expired, scheduled, render
//! failed).
//!
//! Guarantees:
//! - delivery ids are [`notify_schemas::delivery_id`] of (tenant, event id, channel,
//!   recipient key), so routing the same request again yields the same ids and the
//!   notification log recognises the replay;
//! - [`deliveries`] and [`render_failed`] take the same targets and give each one record, so
//!   calling one of them per channel gives every target exactly one outcome;
//! - status records carry a redacted recipient ([`redact`]), never a full token, number or
//!   address; the delivery id identifies the recipient for look-ups;
//! - every status the router decides by itself comes with the [`RouterOutcome`] that status
//!   look-ups read ([`Decided`], [`outcome`]): same state, reason and time, keyed by the full
//!   recipient (the notification log is the tenant's own record, like the dispatchers' rows).
//!
//! Not decided here: topic names (see [`Lane`]) and whether a delivery is a duplicate.

use std::fmt;

use notify_schemas::{
    delivery_id, Channel, Delivery, DeliveryStatus, NotificationRequest, Priority, Recipient,
    Stage, Status,
};
use notify_store::notification_log::RouterOutcome;

use crate::plan::{Defer, Plan, Reason, Suppressed, Target};
use crate::render::Rendered;

/// Longest `render_failed: ...` reason put on a status record, in bytes.
pub const MAX_REASON_BYTES: usize = 512;

/// Which deliveries topic of a channel a request goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lane {
    /// The main topic: critical, high and normal priority.
    Priority,
    /// The bulk topic, so a campaign never queues ahead of transactional traffic.
    Bulk,
}

/// The lane of `priority`.
pub const fn topic_lane(priority: Priority) -> Lane {
    match priority {
        Priority::Critical | Priority::High | Priority::Normal => Lane::Priority,
        Priority::Bulk => Lane::Bulk,
    }
}

/// The deliveries of `targets`, all on the channel `rendered` was rendered for, in target
/// order.
///
/// Deliveries start at attempt 0 with no backoff, keep the request's `expires_at` and trace,
/// and are stamped `created_at = now_ms` (when the router created them, as the schema says;
/// the request's own `created_at` stays on the request). When the channel's content could not
/// be rendered, the same targets get [`render_failed`] instead, so each has one outcome.
pub fn deliveries(
    request: &NotificationRequest,
    targets: &[Target],
    rendered: &Rendered,
    now_ms: i64,
) -> Vec<Delivery> {
    targets
        .iter()
        .map(|target| delivery(request, target, rendered, now_ms))
        .collect()
}

/// The statuses a plan reports by itself: `EXPIRED` for an expired request, `SCHEDULED` for
/// a deferred one, else one `SUPPRESSED` per suppression (none when everything is delivered).
pub fn plan_statuses(
    request: &NotificationRequest,
    plan: &Plan,
    now_ms: i64,
) -> Vec<DeliveryStatus> {
    plan_decided(request, plan, now_ms)
        .into_iter()
        .map(|d| d.status)
        .collect()
}

/// A status the router decided by itself, with the outcome it records for look-ups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decided {
    /// The record for `notify.status`.
    pub status: DeliveryStatus,
    /// The row for the notification log.
    pub outcome: RouterOutcome,
}

impl Decided {
    fn new(status: DeliveryStatus, recipient: Option<&Recipient>) -> Self {
        let outcome = outcome(&status, recipient);
        Self { status, outcome }
    }
}

/// [`plan_statuses`], each with its outcome.
pub fn plan_decided(request: &NotificationRequest, plan: &Plan, now_ms: i64) -> Vec<Decided> {
    if plan.expired {
        return vec![Decided::new(expired_status(request, now_ms), None)];
    }
    if let Some(defer) = &plan.defer_until {
        return vec![Decided::new(scheduled_status(request, defer, now_ms), None)];
    }
    plan.suppressed
        .iter()
        .map(|s| Decided::new(suppressed_status(request, s, now_ms), s.recipient.as_ref()))
        .collect()
}

/// The outcome recorded for `status`, a status the router decided about `recipient` (`None`:
/// every recipient of its channel, or of the request when it has no channel).
pub fn outcome(status: &DeliveryStatus, recipient: Option<&Recipient>) -> RouterOutcome {
    let state = match status.status {
        Status::Accepted => "accepted",
        Status::Scheduled => "scheduled",
        Status::Suppressed => "suppressed",
        Status::Sent => "sent",
        Status::Retrying => "retrying",
        Status::Failed => "failed",
        Status::Expired => "expired",
        Status::DeadLettered => "dead_lettered",
        Status::Opened => "opened",
        Status::Clicked => "clicked",
    };
    RouterOutcome {
        tenant: status.tenant.clone(),
        event_id: status.event_id.to_string(),
        channel: status.channel.map(|c| c.as_str().to_owned()),
        recipient: recipient.map(|r| r.key().to_owned()),
        delivery_id: status.delivery_id.map(|id| id.to_string()),
        state: state.to_owned(),
        reason: status.reason.clone().unwrap_or_default(),
        at_ms: status.occurred_at,
    }
}

fn delivery(
    request: &NotificationRequest,
    target: &Target,
    rendered: &Rendered,
    now_ms: i64,
) -> Delivery {
    Delivery {
        delivery_id: delivery_id(
            &request.tenant,
            request.event_id,
            target.channel,
            target.recipient.key(),
        ),
        tenant: request.tenant.clone(),
        event_id: request.event_id,
        user_id: request.user_id.clone(),
        category: request.category.clone(),
        priority: request.priority,
        channel: target.channel,
        recipient: target.recipient.clone(),
        content: rendered.content.clone(),
        locale: rendered.locale.clone(),
        attempt: 0,
        first_attempt_at: None,
        not_before: None,
        expires_at: request.expires_at,
        created_at: now_ms,
        trace: request.trace.clone(),
        template_id: request.template.as_ref().map(|t| t.template_id.clone()),
    }
}

/// `SUPPRESSED` with the suppression's reason, for its channel and recipient when it has them.
pub fn suppressed_status(
    request: &NotificationRequest,
    suppressed: &Suppressed,
    now_ms: i64,
) -> DeliveryStatus {
    status(
        request,
        suppressed.channel,
        suppressed.recipient.as_ref(),
        Status::Suppressed,
        suppressed.reason.as_str().to_owned(),
        now_ms,
    )
}

/// `EXPIRED` for the whole request (it expired before any recipient was looked up).
pub fn expired_status(request: &NotificationRequest, now_ms: i64) -> DeliveryStatus {
    status(
        request,
        None,
        None,
        Status::Expired,
        Reason::Expired.as_str().to_owned(),
        now_ms,
    )
}

/// `SCHEDULED` for the whole request, with reason `send_at` or `quiet_hours`.
pub fn scheduled_status(
    request: &NotificationRequest,
    defer: &Defer,
    now_ms: i64,
) -> DeliveryStatus {
    status(
        request,
        None,
        None,
        Status::Scheduled,
        defer.reason.as_str().to_owned(),
        now_ms,
    )
}

/// `SCHEDULED` for one channel of the request, which waits for `reason` (a rate limit) while
/// its other channels go out now.
pub fn scheduled_channel_status(
    request: &NotificationRequest,
    channel: Channel,
    reason: &str,
    now_ms: i64,
) -> DeliveryStatus {
    status(
        request,
        Some(channel),
        None,
        Status::Scheduled,
        reason.to_owned(),
        now_ms,
    )
}

/// `FAILED` for a delivery Kafka refused to take (too large for the topic, malformed), with
/// reason `produce_refused: <error>`: it can never reach a dispatcher.
pub fn refused_status(
    delivery: &Delivery,
    error: &impl fmt::Display,
    now_ms: i64,
) -> DeliveryStatus {
    DeliveryStatus {
        reason: Some(truncate(
            format!("{}: {error}", Reason::ProduceRefused),
            MAX_REASON_BYTES,
        )),
        ..DeliveryStatus::of_delivery(delivery, Status::Failed, Stage::Router, now_ms)
    }
}

/// `FAILED` for each of `targets`, with reason `render_failed: <error>` (cut to
/// [`MAX_REASON_BYTES`]): the prefix is what to group by, the rest tells the tenant which
/// template, field and variable to fix. `error` is normally a
/// [`RenderError`](crate::render::RenderError).
pub fn render_failed(
    request: &NotificationRequest,
    targets: &[Target],
    error: &impl fmt::Display,
    now_ms: i64,
) -> Vec<DeliveryStatus> {
    let reason = format!("{}: {error}", Reason::RenderFailed);
    targets
        .iter()
        .map(|target| {
            status(
                request,
                Some(target.channel),
                Some(&target.recipient),
                Status::Failed,
                reason.clone(),
                now_ms,
            )
        })
        .collect()
}

fn status(
    request: &NotificationRequest,
    channel: Option<Channel>,
    recipient: Option<&Recipient>,
    status: Status,
    reason: String,
    now_ms: i64,
) -> DeliveryStatus {
    let delivery_id = match (channel, recipient) {
        (Some(channel), Some(recipient)) => Some(delivery_id(
            &request.tenant,
            request.event_id,
            channel,
            recipient.key(),
        )),
        _ => None,
    };
    DeliveryStatus {
        tenant: request.tenant.clone(),
        event_id: request.event_id,
        delivery_id,
        user_id: Some(request.user_id.clone()),
        category: Some(request.category.clone()),
        channel,
        recipient: recipient.map(redact),
        status,
        stage: Stage::Router,
        reason: Some(truncate(reason, MAX_REASON_BYTES)),
        provider: None,
        provider_message_id: None,
        attempt: 0,
        occurred_at: now_ms,
        receipt: None,
        template_id: delivery_id
            .and(request.template.as_ref())
            .map(|t| t.template_id.clone()),
    }
}

/// `text` cut to at most `max` bytes on a character boundary.
fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

/// A form of `recipient` that tells a person which one it was without giving it away; see
/// [`Recipient::redacted`].
pub fn redact(recipient: &Recipient) -> String {
    recipient.redacted()
}
