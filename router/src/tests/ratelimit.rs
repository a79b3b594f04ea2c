use std::sync::Arc;

use notify_schemas::{Channel, Priority};
use notify_store::ratelog::{MemoryRateLog, RateEvent, RateLog};
use notify_store::settings::{OverLimit, RateLimitRule, TenantSettings};

use notify_schemas::{EmailAddress, PhoneNumber, Recipient};

use super::{request, EVENT};
use crate::plan::{Plan, Reason, Suppressed, Target};
use crate::ratelimit::{apply, check, Held, Limited, RateLimiter, Verdict};

fn rule(channel: Option<Channel>, priorities: &[&str], limit: u32, window_s: u32) -> RateLimitRule {
    RateLimitRule {
        channel: channel.map(|c| c.as_str().to_owned()),
        priorities: priorities.iter().map(|p| (*p).to_owned()).collect(),
        limit,
        window_s,
    }
}

fn event(key: &str, channel: Channel, priority: Priority, at_ms: i64) -> RateEvent {
    RateEvent {
        send_key: key.to_owned(),
        channel,
        priority,
        at_ms,
    }
}

const NOW: i64 = 1_800_000_000_000;

#[test]
fn a_channel_rule_counts_its_window_and_frees_when_the_oldest_leaves() {
    let rules = [rule(Some(Channel::Sms), &["normal"], 2, 60)];
    let events = [
        event("a", Channel::Sms, Priority::Normal, NOW - 50_000),
        event("b", Channel::Sms, Priority::Normal, NOW - 10_000),
        // outside the window, other channel, other priority: not counted
        event("c", Channel::Sms, Priority::Normal, NOW - 61_000),
        event("d", Channel::Email, Priority::Normal, NOW - 1_000),
        event("e", Channel::Sms, Priority::Bulk, NOW - 1_000),
    ];
    let send = event("new", Channel::Sms, Priority::Normal, NOW);
    assert_eq!(
        check(&rules, &events, &send, NOW),
        Verdict::Over {
            free_at_ms: NOW - 50_000 + 60_000 + 1
        }
    );
    assert_eq!(check(&rules, &events[1..], &send, NOW), Verdict::Allowed);
    let email = event("new", Channel::Email, Priority::Normal, NOW);
    assert_eq!(check(&rules, &events, &email, NOW), Verdict::Allowed);
}

#[test]
fn critical_is_exempt_and_a_counted_send_is_recognised() {
    let rules = [rule(None, &["high", "normal", "bulk"], 0, 60)];
    let counted = [event("x:sms", Channel::Sms, Priority::Normal, NOW - 1)];
    let critical = event("c", Channel::Sms, Priority::Critical, NOW);
    assert_eq!(check(&rules, &[], &critical, NOW), Verdict::Allowed);
    let again = event("x:sms", Channel::Sms, Priority::Normal, NOW);
    assert_eq!(
        check(&rules, &counted, &again, NOW),
        Verdict::AlreadyCounted
    );
    let fresh = event("y:sms", Channel::Sms, Priority::Normal, NOW);
    assert!(matches!(
        check(&rules, &counted, &fresh, NOW),
        Verdict::Over { .. }
    ));
}

#[test]
fn bulk_can_be_tighter_than_normal_and_cross_channel_rules_see_every_channel() {
    let rules = [
        rule(None, &["bulk"], 1, 3600),
        rule(None, &["normal", "bulk"], 3, 3600),
    ];
    let events = [event("a", Channel::Email, Priority::Bulk, NOW - 5)];
    let bulk = event("b", Channel::Sms, Priority::Bulk, NOW);
    let normal = event("n", Channel::Sms, Priority::Normal, NOW);
    assert!(matches!(
        check(&rules, &events, &bulk, NOW),
        Verdict::Over { .. }
    ));
    assert_eq!(check(&rules, &events, &normal, NOW), Verdict::Allowed);
}

/// One normal-priority SMS of tenant `t` to `user`, through `limiter`.
async fn admit_sms(
    limiter: &RateLimiter,
    settings: &TenantSettings,
    user: &str,
    event_id: &str,
    at_ms: i64,
) -> Limited {
    limiter
        .admit(
            settings,
            "t",
            user,
            event_id,
            Priority::Normal,
            &[Channel::Sms],
            at_ms,
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn the_limiter_counts_in_the_log_so_a_new_limiter_sees_earlier_sends() {
    let log = Arc::new(MemoryRateLog::new());
    let settings = TenantSettings {
        rate_limits: vec![rule(Some(Channel::Sms), &["normal"], 2, 3600)],
        over_limit: OverLimit::Suppress,
        ..TenantSettings::default()
    };
    let first = RateLimiter::new(log.clone());
    for (i, event_id) in ["e1", "e2"].iter().enumerate() {
        let limited = admit_sms(&first, &settings, "u", event_id, NOW + i as i64).await;
        assert!(limited.channels.is_empty());
    }
    // a "restarted" router: a fresh limiter over the same log
    let second = RateLimiter::new(log.clone());
    let limited = second
        .admit(
            &settings,
            "t",
            "u",
            "e3",
            Priority::Normal,
            &[Channel::Sms, Channel::Email],
            NOW + 5,
        )
        .await
        .unwrap();
    assert_eq!(limited.channels, vec![Channel::Sms]);
    assert_eq!(limited.free_at_ms, NOW + 3_600_000 + 1);
    // replaying an admitted request does not count it again
    let replay = admit_sms(&second, &settings, "u", "e1", NOW + 6).await;
    assert!(replay.channels.is_empty());
    assert_eq!(log.recent("t", "u", 0).await.unwrap().len(), 2);
    // another user is not affected
    let other = admit_sms(&second, &settings, "v", "e4", NOW + 7).await;
    assert!(other.channels.is_empty());
}

/// A plan sending SMS and email, and a limit hit on SMS until `free_at_ms`.
fn sms_over_the_limit() -> (Plan, Limited) {
    let sms = Target {
        channel: Channel::Sms,
        recipient: Recipient::Phone(PhoneNumber {
            e164: "+821012345678".into(),
        }),
    };
    let email = Target {
        channel: Channel::Email,
        recipient: Recipient::Email(EmailAddress {
            address: "kim@example.com".into(),
            name: None,
        }),
    };
    let plan = Plan {
        targets: vec![sms, email],
        ..Plan::default()
    };
    let limited = Limited {
        channels: vec![Channel::Sms],
        free_at_ms: NOW + 60_000,
    };
    (plan, limited)
}

#[test]
fn over_the_limit_a_suppressing_tenant_suppresses_the_limited_targets() {
    let (mut plan, limited) = sms_over_the_limit();
    let request = request(&[Channel::Sms, Channel::Email]);
    assert_eq!(
        apply(OverLimit::Suppress, &request, &mut plan, &limited),
        None
    );
    assert_eq!(plan.targets.len(), 1);
    assert_eq!(plan.targets[0].channel, Channel::Email);
    assert_eq!(
        plan.suppressed
            .iter()
            .map(|s: &Suppressed| (s.channel, s.reason))
            .collect::<Vec<_>>(),
        [(Some(Channel::Sms), Reason::RateLimited)]
    );
}

#[test]
fn over_the_limit_a_deferring_tenant_holds_a_copy_naming_the_limited_channels() {
    let (mut plan, limited) = sms_over_the_limit();
    let request = request(&[Channel::Sms, Channel::Email]);
    let held = apply(OverLimit::Defer, &request, &mut plan, &limited).expect("held");
    assert_eq!(
        held,
        Held {
            request: notify_schemas::NotificationRequest {
                channels: vec![Channel::Sms],
                ..request
            },
            due_at_ms: NOW + 60_000,
        }
    );
    assert_eq!(held.request.event_id, EVENT, "the same event");
    assert_eq!(plan.targets.len(), 1, "email still goes now");
    assert!(plan.suppressed.is_empty(), "nothing suppressed");
}

#[test]
fn nothing_limited_changes_nothing() {
    let (mut plan, _) = sms_over_the_limit();
    let before = plan.clone();
    let request = request(&[Channel::Sms, Channel::Email]);
    for over_limit in [OverLimit::Suppress, OverLimit::Defer] {
        assert_eq!(
            apply(over_limit, &request, &mut plan, &Limited::default()),
            None
        );
        assert_eq!(plan, before);
    }
}
