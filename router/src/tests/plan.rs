use notify_schemas::{Channel, NotificationRequest, Recipient};
use notify_store::directory::{Category, Device, Preference, QuietHours, User};
use notify_store::suppressions::Suppression;

use super::*;
use crate::plan::{plan, Context, Defer, DeferReason, Plan, Reason, Suppressed, Target};

/// Inputs of one plan, with defaults a test overrides field by field.
pub(super) struct Case {
    pub(super) request: NotificationRequest,
    pub(super) user: Option<User>,
    pub(super) devices: Vec<Device>,
    pub(super) preferences: Vec<Preference>,
    pub(super) category: Option<Category>,
    pub(super) suppressions: Vec<Suppression>,
    pub(super) bypass_allowed: bool,
    pub(super) now_ms: i64,
}

impl Case {
    pub(super) fn new(channels: &[Channel]) -> Self {
        Self {
            request: request(channels),
            user: Some(user()),
            devices: Vec::new(),
            preferences: Vec::new(),
            category: Some(category(false)),
            suppressions: Vec::new(),
            bypass_allowed: false,
            now_ms: now(),
        }
    }

    pub(super) fn context(&self) -> Context<'_> {
        Context {
            request: &self.request,
            user: self.user.as_ref(),
            devices: &self.devices,
            preferences: &self.preferences,
            category: self.category.as_ref(),
            suppressions: &self.suppressions,
            tenant_allows_critical_bypass: self.bypass_allowed,
            now_ms: self.now_ms,
        }
    }

    pub(super) fn plan(&self) -> Plan {
        plan(&self.context())
    }

    /// The targets and suppressions of a plan that routes now.
    pub(super) fn route(&self) -> (Vec<Target>, Vec<Suppressed>) {
        let plan = self.plan();
        assert!(
            !plan.expired && plan.defer_until.is_none(),
            "expected a route, got {plan:?}"
        );
        assert!(
            !plan.targets.is_empty() || !plan.suppressed.is_empty(),
            "a route is never empty"
        );
        (plan.targets, plan.suppressed)
    }

    /// The deferral of a plan that defers, checking nothing else is decided.
    fn deferred(&self) -> Defer {
        let plan = self.plan();
        assert!(!plan.expired, "{plan:?}");
        assert!(
            plan.targets.is_empty() && plan.suppressed.is_empty(),
            "{plan:?}"
        );
        plan.defer_until.expect("a deferral")
    }

    /// Opts the user out and checks that all that is decided is SMS suppressed for it.
    pub(super) fn assert_opted_out_of_sms(mut self) {
        self.user.as_mut().unwrap().opted_out = true;
        let (targets, suppressed) = self.route();
        assert!(targets.is_empty());
        assert_eq!(
            reasons(&suppressed),
            [(Some(Channel::Sms), Reason::OptedOut)]
        );
    }

    fn is_expired(&self) -> bool {
        let plan = self.plan();
        plan.expired
            && plan.targets.is_empty()
            && plan.suppressed.is_empty()
            && plan.defer_until.is_none()
    }
}

pub(super) fn channels_of(targets: &[Target]) -> Vec<Channel> {
    targets.iter().map(|t| t.channel).collect()
}

pub(super) fn reasons(suppressed: &[Suppressed]) -> Vec<(Option<Channel>, Reason)> {
    suppressed.iter().map(|s| (s.channel, s.reason)).collect()
}

#[test]
fn expired_request_is_expired_and_nothing_else() {
    let mut case = Case::new(&[Channel::Sms]);
    case.request.expires_at = Some(case.now_ms);
    assert!(case.is_expired());
    // even for an unknown user or a future send_at: expiry is checked first
    case.user = None;
    case.request.send_at = Some(case.now_ms + 60_000);
    assert!(case.is_expired());

    let mut case = Case::new(&[Channel::Sms]);
    case.request.expires_at = Some(case.now_ms + 1);
    let (targets, suppressed) = case.route();
    assert_eq!(channels_of(&targets), [Channel::Sms]);
    assert!(suppressed.is_empty());
}

#[test]
fn unknown_user_is_no_contact_on_each_requested_channel() {
    let mut case = Case::new(&[Channel::Apns, Channel::Email]);
    case.user = None;
    let (targets, suppressed) = case.route();
    assert!(targets.is_empty());
    assert_eq!(
        reasons(&suppressed),
        [
            (Some(Channel::Apns), Reason::NoContact),
            (Some(Channel::Email), Reason::NoContact)
        ]
    );
    assert!(suppressed.iter().all(|s| s.recipient.is_none()));
}

#[test]
fn unknown_user_without_channels_is_one_no_contact() {
    let mut case = Case::new(&[]);
    case.user = None;
    let (targets, suppressed) = case.route();
    assert!(targets.is_empty());
    assert_eq!(reasons(&suppressed), [(None, Reason::NoContact)]);
}

#[test]
fn no_channels_means_every_reachable_channel_and_no_complaints() {
    let mut case = Case::new(&[]);
    case.devices = vec![apns("a1"), webpush("https://push.example/sub/1")];
    let (targets, suppressed) = case.route();
    // FCM: no device, not asked for by name, so not reported
    assert_eq!(
        channels_of(&targets),
        [
            Channel::Apns,
            Channel::WebPush,
            Channel::Sms,
            Channel::Email
        ]
    );
    assert!(suppressed.is_empty());
    assert_eq!(
        targets[2].recipient,
        Recipient::Phone(notify_schemas::PhoneNumber {
            e164: "+821012345678".into()
        })
    );
    assert_eq!(targets[3].recipient.key(), "kim@example.com");
}

#[test]
fn user_reachable_nowhere_gets_one_no_contact() {
    let mut case = Case::new(&[]);
    case.user = Some(User::new("user-1"));
    let (targets, suppressed) = case.route();
    assert!(targets.is_empty());
    assert_eq!(reasons(&suppressed), [(None, Reason::NoContact)]);
}

#[test]
fn requested_but_unreachable_channels_say_why() {
    let mut case = Case::new(&[Channel::Fcm, Channel::Sms, Channel::Email, Channel::Apns]);
    case.user = Some(User {
        phone: Some("  ".into()), // blank is no number
        ..User::new("user-1")
    });
    case.devices = vec![apns("a1")];
    let (targets, suppressed) = case.route();
    assert_eq!(channels_of(&targets), [Channel::Apns]);
    assert_eq!(
        reasons(&suppressed),
        [
            (Some(Channel::Fcm), Reason::NoDevice),
            (Some(Channel::Sms), Reason::NoContact),
            (Some(Channel::Email), Reason::NoContact),
        ]
    );
}

#[test]
fn one_target_per_active_device() {
    let mut case = Case::new(&[Channel::Apns]);
    case.devices = vec![apns("a1"), fcm("f1"), apns("a2"), apns("a3")];
    let (targets, suppressed) = case.route();
    assert!(suppressed.is_empty());
    let keys: Vec<&str> = targets.iter().map(|t| t.recipient.key()).collect();
    assert_eq!(keys, ["a1", "a2", "a3"]);
    match &targets[1].recipient {
        Recipient::DeviceToken(token) => {
            assert_eq!(
                token.device_id.as_deref(),
                Some(case.devices[2].device_id.as_str())
            )
        }
        other => panic!("expected a device token, got {other:?}"),
    }
}

#[test]
fn web_push_target_carries_the_subscription_keys() {
    let mut case = Case::new(&[Channel::WebPush]);
    case.devices = vec![webpush("https://push.example/sub/1")];
    let (targets, _) = case.route();
    match &targets[0].recipient {
        Recipient::WebPush(sub) => {
            assert_eq!(sub.endpoint, "https://push.example/sub/1");
            assert_eq!(sub.auth, "tBHItJI5svbpez7KI4CCXg");
            assert!(!sub.p256dh.is_empty());
        }
        other => panic!("expected a web push subscription, got {other:?}"),
    }
}

#[test]
fn invalid_devices_are_skipped() {
    let mut case = Case::new(&[Channel::Apns]);
    case.devices = vec![invalid(apns("gone")), apns("live")];
    let (targets, suppressed) = case.route();
    assert_eq!(targets.len(), 1);
    assert_eq!(targets[0].recipient.key(), "live");
    assert!(suppressed.is_empty());

    case.devices = vec![invalid(apns("gone"))];
    let (targets, suppressed) = case.route();
    assert!(targets.is_empty());
    assert_eq!(
        reasons(&suppressed),
        [(Some(Channel::Apns), Reason::NoDevice)]
    );
}

#[test]
fn repeated_channels_and_tokens_are_planned_once() {
    let mut case = Case::new(&[Channel::Sms, Channel::Apns, Channel::Sms]);
    case.devices = vec![apns("a1"), apns("a1")];
    let (targets, _) = case.route();
    assert_eq!(channels_of(&targets), [Channel::Sms, Channel::Apns]);
}

#[test]
fn future_send_at_defers_and_past_send_at_does_not() {
    let mut case = Case::new(&[Channel::Sms]);
    case.request.send_at = Some(case.now_ms + 3_600_000);
    let defer = case.deferred();
    assert_eq!(defer.until_ms, case.now_ms + 3_600_000);
    assert_eq!(defer.reason, DeferReason::SendAt);
    // a deferred request is decided later: even an unknown user is not reported now
    case.user = None;
    assert_eq!(case.deferred().reason, DeferReason::SendAt);

    let mut case = Case::new(&[Channel::Sms]);
    case.request.send_at = Some(case.now_ms - 1);
    assert_eq!(channels_of(&case.route().0), [Channel::Sms]);
    case.request.send_at = Some(case.now_ms);
    assert_eq!(channels_of(&case.route().0), [Channel::Sms]);
}

/// A user in Seoul with quiet hours 22:00-07:00, and "now" at 23:30 there.
pub(super) fn in_seoul_quiet_hours() -> Case {
    let mut case = Case::new(&[Channel::Sms]);
    let user = case.user.as_mut().unwrap();
    user.time_zone = Some("Asia/Seoul".into());
    user.quiet_hours = Some(nights());
    case.now_ms = at("2026-06-02T14:30:00Z");
    case
}

#[test]
fn quiet_hours_defer_to_the_end_of_the_window() {
    let case = in_seoul_quiet_hours();
    let defer = case.deferred();
    assert_eq!(defer.reason, DeferReason::QuietHours);
    // 07:00 KST on June 3rd
    assert_eq!(defer.until_ms, at("2026-06-02T22:00:00Z"));
    // at 07:00 KST it goes out
    let mut case = in_seoul_quiet_hours();
    case.now_ms = at("2026-06-02T22:00:00Z");
    assert_eq!(channels_of(&case.route().0), [Channel::Sms]);
}

#[test]
fn quiet_hours_use_the_users_time_zone_or_utc() {
    // 14:30 UTC is outside 22:00-07:00 in UTC
    let mut case = in_seoul_quiet_hours();
    case.user.as_mut().unwrap().time_zone = None;
    assert_eq!(channels_of(&case.route().0), [Channel::Sms]);
    // an empty window never defers
    let mut case = in_seoul_quiet_hours();
    case.user.as_mut().unwrap().quiet_hours = Some(QuietHours {
        start_minute: 600,
        end_minute: 600,
    });
    assert_eq!(channels_of(&case.route().0), [Channel::Sms]);
}

#[test]
fn critical_category_bypasses_quiet_hours_only_where_the_tenant_allows() {
    let mut case = in_seoul_quiet_hours();
    case.category = Some(category(true));
    case.bypass_allowed = true;
    assert_eq!(channels_of(&case.route().0), [Channel::Sms]);
    case.bypass_allowed = false;
    assert_eq!(case.deferred().reason, DeferReason::QuietHours);
}

#[test]
fn quiet_hours_do_not_hold_what_would_not_be_sent() {
    // everything is suppressed: report it now rather than after the night
    in_seoul_quiet_hours().assert_opted_out_of_sms();
}

#[test]
fn a_deferral_drops_the_suppressions_decided_so_far() {
    // SMS would be delivered, email is opted out: the whole request waits and is planned
    // again, so the email suppression is reported once, later
    let mut case = in_seoul_quiet_hours();
    case.request.channels = vec![Channel::Sms, Channel::Email];
    case.preferences = vec![preference("orders", Channel::Email, false)];
    assert_eq!(case.deferred().reason, DeferReason::QuietHours);
}

#[test]
fn reason_names_are_the_status_vocabulary() {
    let names: Vec<&str> = [
        Reason::OptedOut,
        Reason::NoDevice,
        Reason::NoContact,
        Reason::RateLimited,
        Reason::Expired,
        Reason::Duplicate,
        Reason::RenderFailed,
        Reason::UnknownTenant,
        Reason::Bounced,
        Reason::Complained,
    ]
    .iter()
    .map(|r| r.as_str())
    .collect();
    assert_eq!(
        names,
        [
            "opted_out",
            "no_device",
            "no_contact",
            "rate_limited",
            "expired",
            "duplicate",
            "render_failed",
            "unknown_tenant",
            "bounced",
            "complained"
        ]
    );
    assert_eq!(Reason::OptedOut.to_string(), "opted_out");
    assert_eq!(DeferReason::QuietHours.as_str(), "quiet_hours");
    assert_eq!(DeferReason::SendAt.as_str(), "send_at");
}
