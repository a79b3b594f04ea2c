//! Field rules of the admin API that the shared [`crate::validate`] checks do not cover: time
//! zones, quiet hours, free text. Each returns `Err(message)` with a lowercase message that
//! completes "the field ...", like the shared checks.

use crate::problem::FieldError;
use crate::validate::fields::has_control;

/// Longest IANA time zone name accepted (the longest in tzdata is 32 characters).
pub(super) const MAX_TIME_ZONE_BYTES: usize = 64;
/// Minutes in a day: quiet hours minutes are `0..MINUTES_PER_DAY`.
pub(super) const MINUTES_PER_DAY: u16 = 1440;

/// Records the error of `result`, if any, at `field`.
pub(super) fn record(errors: &mut Vec<FieldError>, field: &str, result: Result<(), String>) {
    if let Err(message) = result {
        errors.push(FieldError::new(field, message));
    }
}

/// An IANA time zone name in its usual shape: `Area/Location` (`Europe/Berlin`,
/// `America/Argentina/Buenos_Aires`, `Etc/GMT+9`) or `UTC`. Whether the zone exists in tzdata
/// is not checked here; the router falls back to UTC for a zone it does not know.
pub(super) fn time_zone(value: &str) -> Result<(), String> {
    const SHAPE: &str = "must be an IANA time zone name like Europe/Berlin, or UTC";
    if value.is_empty() || value.len() > MAX_TIME_ZONE_BYTES {
        return Err(format!("must be 1 to {MAX_TIME_ZONE_BYTES} bytes; {SHAPE}"));
    }
    if value == "UTC" {
        return Ok(());
    }
    let parts_ok = value.split('/').all(|part| {
        !part.is_empty()
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'+'))
    });
    if !value.contains('/') || !parts_ok {
        return Err(SHAPE.into());
    }
    Ok(())
}

/// A minute of the day, `0..1440`.
pub(super) fn minute_of_day(value: u16) -> Result<(), String> {
    if value >= MINUTES_PER_DAY {
        return Err(format!(
            "must be a minute of the day from 0 to {}",
            MINUTES_PER_DAY - 1
        ));
    }
    Ok(())
}

/// Free text of at most `max_bytes`. Single-line text (titles, subjects, descriptions) may
/// have no control characters at all; multi-line text may have line breaks and tabs.
pub(super) fn text(value: &str, max_bytes: usize, multi_line: bool) -> Result<(), String> {
    if value.len() > max_bytes {
        return Err(format!("must be at most {max_bytes} bytes"));
    }
    let bad = if multi_line {
        value
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    } else {
        has_control(value)
    };
    if bad {
        return Err(if multi_line {
            "must not contain control characters other than line breaks and tabs".into()
        } else {
            "must not contain control characters or line breaks".into()
        });
    }
    Ok(())
}

/// Text that must be present and not blank.
pub(super) fn required_text(
    value: Option<&str>,
    max_bytes: usize,
    multi_line: bool,
) -> Result<(), String> {
    match value {
        None => Err("is required".into()),
        Some(v) if v.trim().is_empty() => Err("must not be blank".into()),
        Some(v) => text(v, max_bytes, multi_line),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_zones() {
        for ok in [
            "UTC",
            "Europe/Berlin",
            "America/Argentina/Buenos_Aires",
            "Etc/GMT+9",
            "America/Port-au-Prince",
        ] {
            assert_eq!(time_zone(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "Berlin",
            "CET ",
            "Europe//Berlin",
            "/UTC",
            "Europe/Ber lin",
            "utc",
        ] {
            assert!(time_zone(bad).is_err(), "{bad:?}");
        }
        assert!(time_zone(&format!("A/{}", "b".repeat(MAX_TIME_ZONE_BYTES))).is_err());
    }

    #[test]
    fn minutes_and_text() {
        assert!(minute_of_day(0).is_ok() && minute_of_day(1439).is_ok());
        assert!(minute_of_day(1440).is_err());
        assert!(text("line one\nline two", 100, true).is_ok());
        assert!(text("line one\nline two", 100, false).is_err());
        assert!(text("bell\u{7}", 100, true).is_err());
        assert!(text("abc", 2, true).is_err());
        assert_eq!(required_text(None, 10, false), Err("is required".into()));
        assert!(required_text(Some("  "), 10, false).is_err());
    }
}
