//! Validation of notification requests: JSON body types and the rules that turn them into Avro
//! records.
//!
//! Guarantees: [`validate`] either returns a [`NotificationRequest`] that every later stage can
//! take as well-formed (identifiers bounded, content within provider limits, times consistent)
//! or the complete list of what is wrong, each with the JSON pointer of its field, so a client
//! fixes a request in one round trip. [`parse_json`] separates unreadable bodies (400) from
//! bodies of the wrong shape (422). Nothing here panics on any input, does I/O or reads a clock:
//! the caller passes `now_ms`.
//!
//! Not checked here: that the user, category or template exists, preferences, rate limits, or
//! the size of rendered templates; those need the directory and belong to the router. Recipient
//! formats (phone, email, tokens, subscriptions) are checked by the admin API with
//! [`recipients`] when they are registered, not per notification.

pub mod body;
pub mod content;
pub mod fields;
mod parse;
pub mod recipients;
/// SMS encoding and segment counting, shared with the router.
pub use notify_schemas::sms;
pub mod time;

#[cfg(test)]
mod tests;

use notify_common::config::IngestConfig;
use notify_schemas::{
    Channel, EmailContent, InlineContent, NotificationRequest, PushContent, SmsContent,
    TemplateRef, TraceContext,
};
use uuid::Uuid;

pub use body::{
    Accepted, AcceptedStatus, BatchInput, BatchResult, ChannelInput, ContentInput, EmailInput,
    ItemResult, NotificationInput, PriorityInput, PushInput, SmsInput, TemplateInput, TraceInput,
};
pub use parse::{nest_errors, parse_batch, parse_json, BatchItem};
pub use sms::{sms_segments, Encoding};

use crate::problem::FieldError;

/// The configurable limits validation applies; the fixed provider limits are constants in
/// [`content`], [`fields`] and [`recipients`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// How far ahead of now `send_at` may lie, in milliseconds.
    pub max_schedule_ahead_ms: i64,
    /// Most segments an SMS text may take.
    pub sms_max_segments: u32,
    /// Most items in a batch.
    pub max_batch_items: usize,
    /// Largest email (subject, html and text), in bytes: the router's `router.email_max_bytes`,
    /// so what ingest accepts the router can send.
    pub email_max_bytes: usize,
}

impl From<&IngestConfig> for Limits {
    fn from(config: &IngestConfig) -> Self {
        Self {
            max_schedule_ahead_ms: i64::try_from(config.max_schedule_ahead_s)
                .unwrap_or(i64::MAX)
                .saturating_mul(1_000),
            sms_max_segments: config.sms_max_segments,
            max_batch_items: config.max_batch_items,
            email_max_bytes: notify_schemas::limits::DEFAULT_EMAIL_MAX_BYTES,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::from(&IngestConfig::default())
    }
}

/// Push channels, the ones inline `content.push` serves.
const PUSH_CHANNELS: [Channel; 3] = [Channel::Apns, Channel::Fcm, Channel::WebPush];

/// Checks `input` against every rule and builds the record for `notify.requests`.
///
/// `tenant` and `event_id` come from authentication and the id assignment, `idempotency_key`
/// from the `Idempotency-Key` header, which the caller has checked (see
/// [`fields::idempotency_key`]) since its errors concern a header, not a body field. `now_ms` is
/// the acceptance time (also `created_at`). A `send_at` in the past becomes `None` (send now); a
/// future one makes the request scheduled.
///
/// Returns every field error found, not only the first.
pub fn validate(
    input: NotificationInput,
    tenant: &str,
    event_id: Uuid,
    idempotency_key: Option<String>,
    now_ms: i64,
    limits: &Limits,
) -> Result<NotificationRequest, Vec<FieldError>> {
    let NotificationInput {
        user_id,
        category,
        priority,
        channels: channel_list,
        template,
        content,
        locale,
        send_at,
        expires_at,
        trace,
    } = input;
    let mut errors = Vec::new();
    let mut check = |field: &str, result: Result<(), String>| {
        if let Err(message) = result {
            errors.push(FieldError::new(field, message));
        }
    };

    check("/user_id", fields::identifier(&user_id));
    check("/category", fields::identifier(&category));
    if let Some(locale) = &locale {
        check("/locale", fields::locale(locale));
    }
    if let Some(trace) = &trace {
        check(
            "/trace/traceparent",
            fields::traceparent(&trace.traceparent),
        );
        if let Some(state) = &trace.tracestate {
            check("/trace/tracestate", fields::tracestate(state));
        }
    }

    // Channels: deduplicated in the order given; `[]` is refused rather than read as "all",
    // since a caller who lists nothing most likely built the list wrong.
    let mut channels: Vec<Channel> = Vec::new();
    if let Some(list) = &channel_list {
        if list.is_empty() {
            errors.push(FieldError::new(
                "/channels",
                "must name at least one channel; omit it to use every channel the user has",
            ));
        }
        for &channel in list {
            let channel = Channel::from(channel);
            if !channels.contains(&channel) {
                channels.push(channel);
            }
        }
    }

    let template = template.map(|t| TemplateRef {
        template_id: t.id,
        params: t.params,
    });
    if let Some(template) = &template {
        content::check_template(template, &mut errors);
    }

    let content = content.map(|c| InlineContent {
        push: c.push.map(|p| PushContent {
            title: p.title,
            body: p.body,
            data: p.data,
            image_url: p.image_url,
            click_url: p.click_url,
            sound: p.sound,
            badge: p.badge,
        }),
        sms: c.sms.map(|s| SmsContent { text: s.text }),
        email: c.email.map(|e| EmailContent {
            subject: e.subject,
            html: e.html,
            text: e.text,
        }),
    });
    match (&template, &content) {
        (None, None) => errors.push(FieldError::new(
            "/content",
            "is required when there is no template",
        )),
        (_, Some(c)) if c.push.is_none() && c.sms.is_none() && c.email.is_none() => {
            errors.push(FieldError::new(
                "/content",
                "must have at least one of push, sms or email",
            ));
        }
        _ => {}
    }
    if let Some(inline) = &content {
        if let Some(push) = &inline.push {
            // Size limits apply to the push providers that may receive it: the requested ones,
            // or all of them when the request leaves the choice to the user's devices.
            let targets: Vec<Channel> = if channel_list.is_none() {
                PUSH_CHANNELS.to_vec()
            } else {
                channels
                    .iter()
                    .copied()
                    .filter(|c| PUSH_CHANNELS.contains(c))
                    .collect()
            };
            content::check_push(push, &targets, &mut errors);
        }
        if let Some(sms) = &inline.sms {
            content::check_sms(sms, limits.sms_max_segments, &mut errors);
        }
        if let Some(email) = &inline.email {
            content::check_email(email, limits.email_max_bytes, &mut errors);
        }
    }
    // Without a template, a channel asked for by name needs its inline content, or the router
    // would have nothing to send on it.
    if let (None, Some(inline), Some(list)) = (&template, &content, &channel_list) {
        let mut seen = Vec::new();
        for (index, &channel) in list.iter().enumerate() {
            let channel = Channel::from(channel);
            if seen.contains(&channel) {
                continue;
            }
            seen.push(channel);
            let (has, family) = match channel {
                Channel::Apns | Channel::Fcm | Channel::WebPush => (inline.push.is_some(), "push"),
                Channel::Sms => (inline.sms.is_some(), "sms"),
                Channel::Email => (inline.email.is_some(), "email"),
            };
            if !has {
                errors.push(FieldError::new(
                    format!("/channels/{index}"),
                    format!("has nothing to send: no template and no content.{family}"),
                ));
            }
        }
    }

    let send_at = parse_time(send_at.as_deref(), "/send_at", &mut errors);
    if let Some(Ok(at)) = send_at {
        if at > now_ms.saturating_add(limits.max_schedule_ahead_ms) {
            errors.push(FieldError::new(
                "/send_at",
                format!(
                    "must be at most {} seconds ahead",
                    limits.max_schedule_ahead_ms / 1_000
                ),
            ));
        }
    }
    let expires_at = parse_time(expires_at.as_deref(), "/expires_at", &mut errors);
    // Delivery starts at a future send_at, else now; expiry must come after that start.
    let start = match send_at {
        Some(Ok(at)) if at > now_ms => Some((at, "must be after send_at")),
        Some(Err(())) => None, // already reported; comparing with it would only add noise
        _ => Some((now_ms, "must be in the future")),
    };
    if let (Some(Ok(expires)), Some((start, message))) = (expires_at, start) {
        if expires <= start {
            errors.push(FieldError::new("/expires_at", message));
        }
    }

    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(NotificationRequest {
        tenant: tenant.to_owned(),
        event_id,
        idempotency_key,
        user_id,
        category,
        priority: priority.into(),
        channels,
        template,
        content,
        locale,
        send_at: send_at.and_then(Result::ok).filter(|&at| at > now_ms),
        expires_at: expires_at.and_then(Result::ok),
        created_at: now_ms,
        trace: trace.map(|t| TraceContext {
            traceparent: t.traceparent,
            tracestate: t.tracestate,
        }),
    })
}

/// Parses an optional RFC 3339 field, reporting a bad one at `field`.
fn parse_time(
    text: Option<&str>,
    field: &str,
    errors: &mut Vec<FieldError>,
) -> Option<Result<i64, ()>> {
    let text = text?;
    Some(time::parse_rfc3339_ms(text).map_err(|message| {
        errors.push(FieldError::new(field, message));
    }))
}

/// Whether an accepted request goes out now or waits: `Scheduled` when it has a `send_at`.
pub fn accepted_status(request: &NotificationRequest) -> AcceptedStatus {
    if request.send_at.is_some() {
        AcceptedStatus::Scheduled
    } else {
        AcceptedStatus::Accepted
    }
}
