use std::sync::Arc;

use notify_schemas::{Channel, Priority};
use notify_store::ratelog::{MemoryRateLog, RateEvent, RateLog};
use notify_store::settings::{OverLimit, RateLimitRule, TenantSettings};

use crate::ratelimit::{check, RateLimiter, Verdict};

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
        let limited = first
            .admit(
                &settings,
                "t",
                "u",
                event_id,
                Priority::Normal,
                &[Channel::Sms],
                NOW + i as i64,
            )
            .await
            .unwrap();
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
    let replay = second
        .admit(
            &settings,
            "t",
            "u",
            "e1",
            Priority::Normal,
            &[Channel::Sms],
            NOW + 6,
        )
        .await
        .unwrap();
    assert!(replay.channels.is_empty());
    assert_eq!(log.recent("t", "u", 0).await.unwrap().len(), 2);
    // another user is not affected
    let other = second
        .admit(
            &settings,
            "t",
            "v",
            "e4",
            Priority::Normal,
            &[Channel::Sms],
            NOW + 7,
        )
        .await
        .unwrap();
    assert!(other.channels.is_empty());
}
