//! Routing policy: from a request and what the directory knows about its user, who receives it
//! on which channel, what is suppressed and why, and what has to wait.
//!
//! Guarantees:
//! - a routed plan accounts for every requested channel: each one yields targets or a
//!   [`Suppressed`] entry, and a reachable channel yields one entry per recipient (a target or
//!   a suppression), so every (channel, recipient) gets exactly one outcome. A route is never
//!   empty: with nothing reachable it holds one `no_contact` entry;
//! - an expired or deferred request has no targets and no suppressions: nothing is decided
//!   for it now, and a deferred request is planned again from scratch when it is due (the
//!   user's devices and preferences may have changed by then), so no outcome is reported twice;
//! - the same context always gives the same plan, in the same order: targets grouped by
//!   channel, channels in request or [`Channel::ALL`] order, devices in directory order;
//! - a request the scheduler re-emitted ([`plan_due`]) is planned no earlier than its due time
//!   and is never held again for quiet hours, so it cannot wait forever.
//!
//! Not decided here: rate limits, duplicates and unknown tenants (the handler, the rate
//! limiter and the dispatchers report those with [`Reason::RateLimited`],
//! [`Reason::Duplicate`] and [`Reason::UnknownTenant`]), and whether a deferral outlives
//! `expires_at` (the request is then reported expired when due).

use std::fmt;

use notify_schemas::{
    Channel, DeviceToken, EmailAddress, NotificationRequest, PhoneNumber, Recipient,
    WebPushSubscription,
};
use notify_store::directory::{Category, Device, DeviceState, Preference, PushTarget, User};
use notify_store::suppressions::{normalize, Suppression, SuppressionReason};

use crate::quiet::quiet_until;

/// Everything [`plan`] decides from. The handler loads it; `plan` reads no clock and does no
/// I/O.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The request being routed.
    pub request: &'a NotificationRequest,
    /// Its user, `None` when the directory does not know them.
    pub user: Option<&'a User>,
    /// The user's devices, active or not.
    pub devices: &'a [Device],
    /// The user's preference rows; a category x channel without a row is enabled.
    pub preferences: &'a [Preference],
    /// The request's category, `None` when the tenant has not defined it (not critical).
    pub category: Option<&'a Category>,
    /// The suppression-list entries that hold for this tenant on the user's phone number and
    /// email address.
    pub suppressions: &'a [Suppression],
    /// Whether the tenant lets critical categories bypass opt-out and quiet hours.
    pub tenant_allows_critical_bypass: bool,
    /// Now, Unix epoch milliseconds.
    pub now_ms: i64,
}

/// What to do with a request. Exactly one of three shapes (see [`plan`]): expired (nothing
/// else set), deferred (`defer_until` set, nothing else), or routed now (targets and/or
/// suppressions, never both empty).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// One per (channel, recipient) to deliver to, grouped by channel.
    pub targets: Vec<Target>,
    /// One per (channel, recipient) not delivered to, or per channel without recipients.
    pub suppressed: Vec<Suppressed>,
    /// Hold the request and plan it again at this instant.
    pub defer_until: Option<Defer>,
    /// `expires_at` has passed: report it expired and nothing else.
    pub expired: bool,
}

impl Plan {
    fn expired() -> Self {
        Self {
            expired: true,
            ..Self::default()
        }
    }

    fn defer(until_ms: i64, reason: DeferReason) -> Self {
        Self {
            defer_until: Some(Defer { until_ms, reason }),
            ..Self::default()
        }
    }

    fn route(targets: Vec<Target>, suppressed: Vec<Suppressed>) -> Self {
        Self {
            targets,
            suppressed,
            ..Self::default()
        }
    }
}

/// One (channel, recipient) to deliver to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The channel.
    pub channel: Channel,
    /// The address or token on it.
    pub recipient: Recipient,
}

/// Something not delivered on purpose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppressed {
    /// The channel; `None` when the request named no channels and nothing could be reached.
    pub channel: Option<Channel>,
    /// The recipient, when there was one (full, so its delivery id can be computed; redact it
    /// before it leaves the router).
    pub recipient: Option<Recipient>,
    /// Why.
    pub reason: Reason,
}

/// Why something was not delivered; [`Reason::as_str`] is the `reason` of its status record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Global opt-out or a disabled category x channel preference.
    OptedOut,
    /// A push channel was asked for but the user has no active device on it.
    NoDevice,
    /// The user is unknown, or has no phone number or email address for the channel.
    NoContact,
    /// A per-user, per-tenant or per-provider rate limit.
    RateLimited,
    /// Past `expires_at`.
    Expired,
    /// Already delivered or in flight (the notification log knows the delivery id).
    Duplicate,
    /// The template could not be rendered.
    RenderFailed,
    /// Kafka refused the delivery record for good (too large for the topic, malformed).
    ProduceRefused,
    /// The request names a tenant the router does not know.
    UnknownTenant,
    /// The address is on the suppression list: it hard-bounced.
    Bounced,
    /// The address is on the suppression list: its owner reported a message as spam.
    Complained,
}

impl Reason {
    /// The machine-readable name used on `notify.status`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::OptedOut => "opted_out",
            Reason::NoDevice => "no_device",
            Reason::NoContact => "no_contact",
            Reason::RateLimited => "rate_limited",
            Reason::Expired => "expired",
            Reason::Duplicate => "duplicate",
            Reason::RenderFailed => "render_failed",
            Reason::ProduceRefused => "produce_refused",
            Reason::UnknownTenant => "unknown_tenant",
            Reason::Bounced => "bounced",
            Reason::Complained => "complained",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request held back until a later instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Defer {
    /// When to plan it again, Unix epoch milliseconds.
    pub until_ms: i64,
    /// Why.
    pub reason: DeferReason,
}

/// Why a request waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeferReason {
    /// The producer asked for a later `send_at`.
    SendAt,
    /// The user's quiet hours; `until_ms` is their end.
    QuietHours,
}

impl DeferReason {
    /// The machine-readable name used as the `reason` of a `SCHEDULED` status.
    pub const fn as_str(self) -> &'static str {
        match self {
            DeferReason::SendAt => "send_at",
            DeferReason::QuietHours => "quiet_hours",
        }
    }
}

/// [`plan`] for a record the scheduler re-emitted when it was due (`deferred_until_ms`, from
/// its header), or a fresh one (`None`). A re-emitted record is planned no earlier than its due
/// time (this clock may lag the scheduler's), and it is not held again for quiet hours that
/// began anew meanwhile, or it could wait forever. It can still be held for its own `send_at`
/// when that lies past the due time.
pub fn plan_due(ctx: &Context<'_>, deferred_until_ms: Option<i64>) -> Plan {
    let Some(due) = deferred_until_ms else {
        return plan(ctx);
    };
    let ctx = Context {
        now_ms: due.max(ctx.now_ms),
        ..*ctx
    };
    let decided = plan(&ctx);
    if decided.defer_until.is_none() {
        return decided;
    }
    let without_quiet_hours = ctx.user.cloned().map(|user| User {
        quiet_hours: None,
        ..user
    });
    plan(&Context {
        user: without_quiet_hours.as_ref(),
        ..ctx
    })
}

/// Decides what happens to `ctx.request`, in this order:
///
/// 1. `expires_at <= now`: expired;
/// 2. `send_at > now`: deferred until `send_at` (quiet hours are checked when it is due);
/// 3. unknown user: `no_contact` for each requested channel, or once without a channel when
///    the request names none;
/// 4. per channel (requested, or every channel when none is named; duplicates ignored): its
///    recipients are the user's active devices of that platform (one target each), the phone
///    number (SMS) or the email address. A requested channel without recipients is suppressed
///    `no_device` (push) or `no_contact` (SMS, email); an unrequested one is skipped;
/// 5. global opt-out, or a preference row disabling (category, channel): that channel's
///    recipients are suppressed `opted_out`;
/// 6. a phone number or address on the suppression list: suppressed `bounced` or `complained`,
///    or `opted_out` for a number that texted STOP, whatever the category (a critical one
///    included: the address cannot take it, or its owner said no to the sender);
/// 7. if anything is left to deliver and the user is in their quiet hours: deferred to the end
///    of the window.
///
/// A critical category bypasses steps 5 and 7 when the tenant allows it. The request's
/// priority alone bypasses nothing: it picks the lane, while overriding a user's choice is the
/// tenant's decision, made by marking the category critical.
pub fn plan(ctx: &Context<'_>) -> Plan {
    let request = ctx.request;
    let now_ms = ctx.now_ms;
    if request.expires_at.is_some_and(|at| at <= now_ms) {
        return Plan::expired();
    }
    if let Some(at) = request.send_at.filter(|&at| at > now_ms) {
        return Plan::defer(at, DeferReason::SendAt);
    }

    let requested = dedup(&request.channels);
    let explicit = !requested.is_empty();
    let Some(user) = ctx.user else {
        let suppressed = if explicit {
            requested
                .iter()
                .map(|&channel| suppressed(Some(channel), None, Reason::NoContact))
                .collect()
        } else {
            vec![suppressed(None, None, Reason::NoContact)]
        };
        return Plan::route(Vec::new(), suppressed);
    };

    let bypass = ctx.tenant_allows_critical_bypass && ctx.category.is_some_and(|c| c.critical);
    let channels: &[Channel] = if explicit { &requested } else { &Channel::ALL };
    let mut targets = Vec::new();
    let mut suppressions = Vec::new();
    for &channel in channels {
        let recipients = recipients(user, ctx.devices, channel);
        if recipients.is_empty() {
            if explicit {
                suppressions.push(suppressed(Some(channel), None, unreachable(channel)));
            }
            continue;
        }
        let opted_out =
            !bypass && (user.opted_out || disabled(ctx.preferences, &request.category, channel));
        for recipient in recipients {
            if opted_out {
                suppressions.push(suppressed(Some(channel), Some(recipient), Reason::OptedOut));
            } else if let Some(reason) = listed(ctx.suppressions, channel, &recipient) {
                suppressions.push(suppressed(Some(channel), Some(recipient), reason));
            } else {
                targets.push(Target { channel, recipient });
            }
        }
    }
    if targets.is_empty() && suppressions.is_empty() {
        suppressions.push(suppressed(None, None, Reason::NoContact));
    }

    if !targets.is_empty() && !bypass {
        if let Some(window) = user.quiet_hours {
            let tz = user.time_zone.as_deref().unwrap_or("UTC");
            if let Some(until_ms) = quiet_until(now_ms, tz, window) {
                return Plan::defer(until_ms, DeferReason::QuietHours);
            }
        }
    }
    Plan::route(targets, suppressions)
}

fn suppressed(
    channel: Option<Channel>,
    recipient: Option<Recipient>,
    reason: Reason,
) -> Suppressed {
    Suppressed {
        channel,
        recipient,
        reason,
    }
}

/// `channels` without repeats, in first-seen order (producers publishing to Kafka directly
/// are not deduplicated by ingest).
fn dedup(channels: &[Channel]) -> Vec<Channel> {
    let mut seen = Vec::with_capacity(channels.len());
    for &channel in channels {
        if !seen.contains(&channel) {
            seen.push(channel);
        }
    }
    seen
}

fn unreachable(channel: Channel) -> Reason {
    match channel {
        Channel::Apns | Channel::Fcm | Channel::WebPush => Reason::NoDevice,
        Channel::Sms | Channel::Email => Reason::NoContact,
    }
}

/// Why `recipient` is on the suppression list on `channel`, if it is.
fn listed(entries: &[Suppression], channel: Channel, recipient: &Recipient) -> Option<Reason> {
    let address = match recipient {
        Recipient::Phone(phone) => &phone.e164,
        Recipient::Email(email) => &email.address,
        _ => return None,
    };
    let address = normalize(channel, address);
    let entry = entries
        .iter()
        .find(|e| e.channel == channel && e.address == address)?;
    Some(match entry.reason {
        SuppressionReason::Bounced => Reason::Bounced,
        SuppressionReason::Complained => Reason::Complained,
        SuppressionReason::Stopped => Reason::OptedOut,
    })
}

/// Whether a preference row turns `category` off on `channel`.
fn disabled(preferences: &[Preference], category: &str, channel: Channel) -> bool {
    preferences
        .iter()
        .any(|p| p.channel == channel && p.category == category && !p.enabled)
}

/// A phone number or address, unless absent or blank.
fn contact(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// The user's recipients on `channel`: active devices of its platform, each address once.
fn recipients(user: &User, devices: &[Device], channel: Channel) -> Vec<Recipient> {
    match channel {
        Channel::Sms => contact(&user.phone)
            .map(|e164| {
                Recipient::Phone(PhoneNumber {
                    e164: e164.to_owned(),
                })
            })
            .into_iter()
            .collect(),
        Channel::Email => contact(&user.email)
            .map(|address| {
                Recipient::Email(EmailAddress {
                    address: address.to_owned(),
                    name: None,
                })
            })
            .into_iter()
            .collect(),
        Channel::Apns | Channel::Fcm | Channel::WebPush => {
            let mut recipients: Vec<Recipient> = Vec::new();
            for device in devices {
                if device.state != DeviceState::Active || device.platform().channel() != channel {
                    continue;
                }
                let recipient = device_recipient(device);
                // Two rows with one token would get one delivery id; send once.
                if !recipients.iter().any(|r| r.key() == recipient.key()) {
                    recipients.push(recipient);
                }
            }
            recipients
        }
    }
}

fn device_recipient(device: &Device) -> Recipient {
    let device_id = Some(device.device_id.clone());
    match &device.target {
        PushTarget::Apns { token } | PushTarget::Fcm { token } => {
            Recipient::DeviceToken(DeviceToken {
                token: token.clone(),
                device_id,
            })
        }
        PushTarget::WebPush { subscription } => Recipient::WebPush(WebPushSubscription {
            endpoint: subscription.endpoint.clone(),
            p256dh: subscription.p256dh.clone(),
            auth: subscription.auth.clone(),
            device_id,
        }),
    }
}
