//! Expected instants are written in UTC by hand from the zones' rules: Seoul is UTC+9 all
//! year; New York is UTC-5, and UTC-4 from 2026-03-08 02:00 local to 2026-11-01 02:00 local.

use notify_store::directory::QuietHours;

use super::*;
use crate::quiet::quiet_until;

const SEOUL: &str = "Asia/Seoul";
const NEW_YORK: &str = "America/New_York";

/// Asserts that at `now` the user in `zone` is quiet under `hours` until `until`, or not quiet.
#[track_caller]
fn assert_quiet(now: &str, zone: &str, hours: QuietHours, until: Option<&str>) {
    assert_eq!(
        quiet_until(at(now), zone, hours),
        until.map(at),
        "at {now} in {zone}"
    );
}

fn window(start: (u16, u16), end: (u16, u16)) -> QuietHours {
    QuietHours {
        start_minute: start.0 * 60 + start.1,
        end_minute: end.0 * 60 + end.1,
    }
}

#[test]
fn seoul_window_crossing_midnight() {
    // 23:30 KST: the evening part, ends 07:00 the next morning
    assert_quiet(
        "2026-06-02T14:30:00Z",
        SEOUL,
        nights(),
        Some("2026-06-02T22:00:00Z"),
    );
    // 00:10 KST and 06:59 KST: the morning part, ends the same morning
    assert_quiet(
        "2026-06-02T15:10:00Z",
        SEOUL,
        nights(),
        Some("2026-06-02T22:00:00Z"),
    );
    assert_quiet(
        "2026-06-02T21:59:00Z",
        SEOUL,
        nights(),
        Some("2026-06-02T22:00:00Z"),
    );
    // 22:00 KST sharp is quiet, 07:00 sharp and noon are not
    assert_quiet(
        "2026-06-02T13:00:00Z",
        SEOUL,
        nights(),
        Some("2026-06-02T22:00:00Z"),
    );
    assert_quiet("2026-06-02T22:00:00Z", SEOUL, nights(), None);
    assert_quiet("2026-06-03T03:00:00Z", SEOUL, nights(), None);
    // 21:59 KST: not yet
    assert_quiet("2026-06-02T12:59:00Z", SEOUL, nights(), None);
}

#[test]
fn the_same_instant_is_quiet_in_one_zone_and_not_in_another() {
    // 14:30 UTC is 23:30 in Seoul and 10:30 in New York
    let instant = at("2026-06-02T14:30:00Z");
    assert!(quiet_until(instant, SEOUL, nights()).is_some());
    assert_eq!(quiet_until(instant, NEW_YORK, nights()), None);
}

#[test]
fn new_york_window_in_summer_and_winter() {
    // 23:00 EDT in June ends 07:00 EDT (11:00 UTC)
    assert_quiet(
        "2026-06-03T03:00:00Z",
        NEW_YORK,
        nights(),
        Some("2026-06-03T11:00:00Z"),
    );
    // 23:00 EST in January ends 07:00 EST (12:00 UTC)
    assert_quiet(
        "2026-01-15T04:00:00Z",
        NEW_YORK,
        nights(),
        Some("2026-01-15T12:00:00Z"),
    );
}

#[test]
fn new_york_night_when_clocks_spring_forward() {
    // 2026-03-07 23:00 EST; the night loses an hour, the window still ends at 07:00 on the
    // wall clock, which is now EDT: 11:00 UTC, not 12:00
    assert_quiet(
        "2026-03-08T04:00:00Z",
        NEW_YORK,
        nights(),
        Some("2026-03-08T11:00:00Z"),
    );
    // 01:59 EST, one minute before the jump
    assert_quiet(
        "2026-03-08T06:59:00Z",
        NEW_YORK,
        nights(),
        Some("2026-03-08T11:00:00Z"),
    );
}

#[test]
fn new_york_night_when_clocks_fall_back() {
    // 2026-10-31 23:00 EDT; the night gains an hour, the window ends 07:00 EST: 12:00 UTC
    assert_quiet(
        "2026-11-01T03:00:00Z",
        NEW_YORK,
        nights(),
        Some("2026-11-01T12:00:00Z"),
    );
}

#[test]
fn a_window_ending_in_the_skipped_hour_ends_at_the_jump() {
    // 01:00-02:30 on 2026-03-08: 02:30 never shows on the clock; at 02:00 EST (07:00 UTC) the
    // clock jumps to 03:00 EDT, past the end
    let early = window((1, 0), (2, 30));
    assert_quiet(
        "2026-03-08T06:30:00Z",
        NEW_YORK,
        early,
        Some("2026-03-08T07:00:00Z"),
    );
    assert_quiet("2026-03-08T07:00:00Z", NEW_YORK, early, None);
}

#[test]
fn a_window_ending_in_the_repeated_hour_ends_at_the_next_occurrence() {
    // 00:00-01:30 on 2026-11-01: 01:30 happens at 05:30 UTC (EDT) and again at 06:30 UTC (EST)
    let early = window((0, 0), (1, 30));
    // 00:30 EDT: the first 01:30
    assert_quiet(
        "2026-11-01T04:30:00Z",
        NEW_YORK,
        early,
        Some("2026-11-01T05:30:00Z"),
    );
    // 01:10 EST, on the repeated hour: the wall clock is in the window again, until the
    // second 01:30
    assert_quiet(
        "2026-11-01T06:10:00Z",
        NEW_YORK,
        early,
        Some("2026-11-01T06:30:00Z"),
    );
    // 01:40 EDT, between the two: not quiet
    assert_quiet("2026-11-01T05:40:00Z", NEW_YORK, early, None);
}

#[test]
fn daytime_window_and_window_until_midnight() {
    let lunch = window((12, 0), (13, 0));
    assert_quiet(
        "2026-06-02T03:15:00Z",
        SEOUL,
        lunch,
        Some("2026-06-02T04:00:00Z"),
    );
    assert_quiet("2026-06-02T04:00:00Z", SEOUL, lunch, None);

    let evening = QuietHours {
        start_minute: 20 * 60,
        end_minute: 24 * 60,
    };
    // 21:00 KST until 00:00 KST
    assert_quiet(
        "2026-06-02T12:00:00Z",
        SEOUL,
        evening,
        Some("2026-06-02T15:00:00Z"),
    );
}

#[test]
fn unknown_time_zone_is_utc() {
    let instant = at("2026-06-02T23:00:00Z");
    let expected = Some(at("2026-06-03T07:00:00Z"));
    assert_eq!(
        quiet_until(instant, "Mars/Olympus_Mons", nights()),
        expected
    );
    assert_eq!(quiet_until(instant, "", nights()), expected);
    assert_eq!(quiet_until(instant, "UTC", nights()), expected);
}

#[test]
fn empty_or_impossible_windows_never_defer() {
    let instant = at("2026-06-02T23:00:00Z");
    for (start, end) in [(600, 600), (1440, 60), (60, 1441), (u16::MAX, 0)] {
        let window = QuietHours {
            start_minute: start,
            end_minute: end,
        };
        assert_eq!(quiet_until(instant, "UTC", window), None, "{start}-{end}");
    }
}
