//! The whole embedded pipeline in this process (mock cluster, in-memory stores, simulators):
//! 200 mixed notifications through the HTTP API, each accounted for.
//!
//! The sample mix is deterministic (`send::sample`): 20 users, 10 notifications each, kinds
//! rotating orders, promotions, security. With the seed's users that gives:
//! - delivered: alice 4 recipients × 10, bruno 3 × 7 (no promotions), chen 3 × 3 and dana
//!   3 × 3 (security only), `user-NN` 3 or 4 recipients × 10 (5 of them with web push) → 609,
//!   less the SMS over the tenant's bulk SMS limit (below) → 592;
//! - suppressed `opted_out`: dana 3 channels × 7 (orders, promotions) + bruno 3 × 3 promotions
//!   → 30;
//! - suppressed `rate_limited`: the demo tenant allows 2 bulk SMS per user and hour, so the
//!   third promotion's SMS of alice and of the 16 `user-NN` → 17 (bruno and dana opted out of
//!   promotions, chen has no phone and is in quiet hours);
//! - deferred by quiet hours: chen's 4 orders + 3 promotions → 7 (critical ones bypass).

mod common;

use std::time::Duration;

use common::start;
use notify_embedded::SendSettings;
use notify_schemas::Channel;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_mixed_notifications_reach_exactly_one_outcome_each() {
    let (embedded, dir) = start().await;
    assert_eq!(
        embedded.tenant.users.len(),
        20,
        "the mix below assumes 20 users"
    );

    let summary = embedded
        .send_and_summarize(
            200,
            SendSettings {
                concurrency: 16,
                window: 100,
                attempts: 20,
            },
            Duration::from_secs(120),
            |_| {},
        )
        .await
        .expect("sent");
    let ledger_total: usize = embedded
        .suite
        .ledgers()
        .iter()
        .map(|(_, ledger)| ledger.len())
        .sum();
    let drained = embedded.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    println!("{}", summary.render());

    assert_eq!(summary.accepted, 200);
    assert_eq!(summary.finished, 200, "every accepted event finished");
    assert_eq!(summary.duplicates, 0, "no delivery id twice at a provider");
    assert_eq!(
        summary.missing_from_ledgers, 0,
        "every sent delivery is in a ledger"
    );
    let row = |channel: Channel| {
        summary
            .channels
            .iter()
            .find(|s| s.channel == Some(channel))
            .cloned()
            .unwrap_or_default()
    };
    let expected = [
        (Channel::Apns, 93),
        (Channel::Fcm, 93),
        (Channel::WebPush, 60),
        (Channel::Sms, 180 - 17),
        (Channel::Email, 183),
    ];
    for (channel, delivered) in expected {
        let s = row(channel);
        assert_eq!(s.delivered, delivered, "{channel}: {s:?}");
        assert_eq!(s.failed + s.dead_lettered, 0, "{channel}: {s:?}");
        assert_eq!(s.latencies_ms.len() as u64, delivered, "{channel}");
    }
    let run_total: usize = summary.by_provider.values().sum();
    assert_eq!(run_total, 592, "one ledger entry per delivery");
    // the warm-up: alice's 4 recipients and bruno's 3
    assert_eq!(ledger_total, 592 + 7, "nothing else reached a provider");
    let opted_out: u64 = summary
        .channels
        .iter()
        .filter_map(|s| s.suppressed.get("opted_out"))
        .sum();
    assert_eq!(opted_out, 30);
    let rate_limited: Vec<(Option<Channel>, u64)> = summary
        .channels
        .iter()
        .filter_map(|s| s.suppressed.get("rate_limited").map(|n| (s.channel, *n)))
        .collect();
    assert_eq!(
        rate_limited,
        [(Some(Channel::Sms), 17)],
        "the third promotion's SMS of each user who gets promotions by SMS"
    );
    let sms_row = summary
        .render()
        .lines()
        .find(|l| l.trim_start().starts_with("sms"))
        .map(str::to_owned)
        .unwrap_or_default();
    assert!(
        sms_row.contains("opted_out") && sms_row.contains("rate_limited"),
        "the summary shows both reasons: {sms_row}"
    );
    let other_suppressions: u64 = summary
        .channels
        .iter()
        .flat_map(|s| s.suppressed.iter())
        .filter(|(reason, _)| !["opted_out", "rate_limited"].contains(&reason.as_str()))
        .map(|(_, n)| n)
        .sum();
    assert_eq!(other_suppressions, 0, "{}", summary.render());
    let deferred: u64 = summary.channels.iter().map(|s| s.deferred).sum();
    assert_eq!(deferred, 7, "chen's non-critical notifications wait");
    assert_eq!(drained, notify_common::shutdown::Drained::Clean);
}

/// A provider that keeps failing: its deliveries are retried and never finish within the wait,
/// and the summary says so instead of pretending.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_provider_that_keeps_failing_leaves_notifications_unfinished_and_retried() {
    use notify_sim::faults::FaultSettings;
    use notify_sim::{Fault, FaultRule};

    let (embedded, dir) = start().await;
    // the warm-up (order updates to alice and bruno) must get through: fail FCM only, which
    // bruno is the only warm-up user of, after the first request
    let failing = FaultSettings {
        rules: vec![FaultRule {
            fault: Fault::Status {
                code: 503,
                retry_after_s: None,
            },
            count: None,
            recipients: vec![],
        }],
        ..FaultSettings::default()
    };
    let warm_up_then_fail = FaultSettings {
        rules: vec![FaultRule {
            fault: Fault::Slow { ms: 0 },
            count: Some(1),
            recipients: vec![],
        }]
        .into_iter()
        .chain(failing.rules.clone())
        .collect(),
        ..FaultSettings::default()
    };
    embedded.suite.fcm.faults().set(warm_up_then_fail);

    // 20 notifications: one per user, all order updates; FCM users are bruno, chen, dana and
    // the even user-NN
    let summary = embedded
        .send_and_summarize(20, SendSettings::default(), Duration::from_secs(8), |_| {})
        .await
        .expect("sent");
    let _ = embedded.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    println!("{}", summary.render());

    assert_eq!(summary.accepted, 20);
    assert!(
        summary.finished < summary.accepted,
        "deliveries to a failing provider cannot have finished: {}",
        summary.render()
    );
    let fcm = summary
        .channels
        .iter()
        .find(|s| s.channel == Some(Channel::Fcm))
        .expect("fcm row");
    assert_eq!(fcm.delivered, 0, "{fcm:?}");
    assert!(fcm.retried > 0, "{fcm:?}");
    let apns = summary
        .channels
        .iter()
        .find(|s| s.channel == Some(Channel::Apns))
        .expect("apns row");
    assert!(
        apns.delivered > 0,
        "other channels keep delivering: {apns:?}"
    );
}
