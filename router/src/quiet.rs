//! Quiet hours: when a user's daily quiet window, read on the wall clock of their time zone,
//! ends.
//!
//! Guarantees: the window is matched against local wall-clock time, so it follows daylight
//! saving time (22:00-07:00 in New York ends at 07:00 EDT in summer and 07:00 EST in winter).
//! The end is the first instant after `now` at which the wall clock reads the end minute:
//! - when that local time is skipped (spring forward, e.g. a window ending 02:30 on the night
//!   clocks jump from 02:00 to 03:00), the window ends at the jump itself;
//! - when it occurs twice (fall back), the earlier occurrence that is still after `now`.
//!
//! The IANA database is compiled into the binary, so results do not depend on the host's
//! `/usr/share/zoneinfo`. Not guaranteed: that a later release of the database gives the same
//! answer for far-future dates (governments change their rules).

use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::Timestamp;
use notify_store::directory::QuietHours;

const MINUTES_PER_DAY: u16 = 24 * 60;

/// The end of the quiet window `now_ms` falls in, as Unix epoch milliseconds, or `None` when
/// `now_ms` is outside the window (send now).
///
/// `tz` is an IANA time zone name (`Asia/Seoul`). An unknown or empty name is treated as UTC:
/// the directory stores whatever the admin API accepted, and deferring by the wrong offset is
/// better than failing the send.
///
/// A window with `start_minute == end_minute` is empty (never quiet); `end_minute == 1440`
/// means "until midnight"; a start at or past 1440, or an end past it, is not a window and
/// returns `None`.
pub fn quiet_until(now_ms: i64, tz: &str, window: QuietHours) -> Option<i64> {
    let (start, end) = (window.start_minute, window.end_minute);
    if start >= MINUTES_PER_DAY || end > MINUTES_PER_DAY || start == end {
        return None;
    }
    let tz = TimeZone::get(tz).unwrap_or(TimeZone::UTC);
    let now = Timestamp::from_millisecond(now_ms).ok()?;
    let local = now.to_zoned_datetime(tz.clone());
    // hour and minute are 0..24 and 0..60, never negative
    let minute = local.hour() as u16 * 60 + local.minute() as u16;
    if !window.contains(minute) {
        return None;
    }
    // Inside the window, the end is later today unless the window wraps past midnight and we
    // are in its evening part (or it runs until midnight).
    let (end_date, end_hour, end_minute) = if end == MINUTES_PER_DAY {
        (local.date().tomorrow().ok()?, 0, 0)
    } else if minute >= end {
        (local.date().tomorrow().ok()?, end / 60, end % 60)
    } else {
        (local.date(), end / 60, end % 60)
    };
    let wall = end_date.at(end_hour as i8, end_minute as i8, 0, 0);
    let ambiguous = tz.to_ambiguous_timestamp(wall);
    let until = match ambiguous.offset() {
        AmbiguousOffset::Unambiguous { .. } => ambiguous.compatible().ok()?,
        AmbiguousOffset::Gap { .. } => {
            // `earlier` reads the skipped time with the offset after the jump, which lands
            // before the jump; the jump is the first instant the clock shows a later time.
            let before_jump = ambiguous.earlier().ok()?;
            match tz.following(before_jump).next() {
                Some(transition) => transition.timestamp(),
                None => ambiguous.compatible().ok()?,
            }
        }
        AmbiguousOffset::Fold { .. } => {
            let earlier = ambiguous.earlier().ok()?;
            if earlier > now {
                earlier
            } else {
                ambiguous.later().ok()?
            }
        }
    };
    let until_ms = until.as_millisecond();
    // Only a zone database that contradicts itself could produce an end not after now; sending
    // is the safe answer then, as deferring to the past would loop.
    (until_ms > now_ms).then_some(until_ms)
}
