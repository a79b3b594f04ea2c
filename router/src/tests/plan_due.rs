//! [`plan_due`]: a record the scheduler re-emitted is planned at its due time at the earliest
//! and is not held again for quiet hours; its own later `send_at` still holds it.

use notify_schemas::Channel;

use super::at;
use super::plan::{in_seoul_quiet_hours, Case};
use crate::plan::{plan_due, DeferReason};

#[test]
fn a_fresh_record_in_quiet_hours_waits_for_their_end() {
    let case = in_seoul_quiet_hours();
    let decided = plan_due(&case.context(), None);
    let defer = decided.defer_until.expect("deferred");
    assert_eq!(defer.reason, DeferReason::QuietHours);
    assert_eq!(defer.until_ms, at("2026-06-02T22:00:00Z"));
}

#[test]
fn a_re_emitted_record_is_not_held_again_for_quiet_hours() {
    // due at 07:00 KST, but quiet hours began anew by the time this clock reads it
    let case = in_seoul_quiet_hours();
    let decided = plan_due(&case.context(), Some(at("2026-06-02T13:00:00Z")));
    assert_eq!(decided.defer_until, None, "{decided:?}");
    assert_eq!(decided.targets.len(), 1);
    assert_eq!(decided.targets[0].channel, Channel::Sms);
}

#[test]
fn a_re_emitted_record_is_planned_no_earlier_than_its_due_time() {
    // this clock lags the scheduler's: a send_at between the two must not hold the record
    let mut case = Case::new(&[Channel::Sms]);
    case.request.send_at = Some(case.now_ms + 500);
    assert_eq!(
        plan_due(&case.context(), None)
            .defer_until
            .map(|d| d.reason),
        Some(DeferReason::SendAt),
        "without the header it waits"
    );
    let decided = plan_due(&case.context(), Some(case.now_ms + 1_000));
    assert_eq!(decided.defer_until, None, "{decided:?}");
    assert_eq!(decided.targets.len(), 1);
}

#[test]
fn a_later_send_at_still_holds_a_re_emitted_record() {
    let mut case = in_seoul_quiet_hours();
    case.request.send_at = Some(case.now_ms + 3_600_000);
    let decided = plan_due(&case.context(), Some(case.now_ms - 60_000));
    let defer = decided.defer_until.expect("deferred");
    assert_eq!(defer.reason, DeferReason::SendAt);
    assert_eq!(defer.until_ms, case.now_ms + 3_600_000);
}
