//! RFC 3339 timestamps to Unix epoch milliseconds, without a date-time crate.
//!
//! Guarantees: accepts exactly the RFC 3339 `date-time` production (`T`/`t` or a space between
//! date and time, `Z`/`z` or a `±hh:mm` offset, any number of fraction digits) with calendar
//! checks (month lengths, leap years); the result is the instant in UTC. A leap second (`:60`)
//! is accepted and lands on the following second, since epoch milliseconds cannot name it.
//! Fractions beyond milliseconds are truncated.
//!
//! Not accepted: dates without a time or offset, week or ordinal dates, years before 0001.

/// Parses an RFC 3339 date-time into milliseconds since the Unix epoch.
pub fn parse_rfc3339_ms(text: &str) -> Result<i64, String> {
    const SHAPE: &str = "must be an RFC 3339 date-time like 2026-05-01T09:00:00Z";
    let b = text.as_bytes();
    if b.len() < 20 || b.len() > 64 {
        return Err(SHAPE.into());
    }
    let year = digits(b, 0, 4).ok_or(SHAPE)?;
    let month = digits(b, 5, 2).ok_or(SHAPE)?;
    let day = digits(b, 8, 2).ok_or(SHAPE)?;
    let hour = digits(b, 11, 2).ok_or(SHAPE)?;
    let minute = digits(b, 14, 2).ok_or(SHAPE)?;
    let second = digits(b, 17, 2).ok_or(SHAPE)?;
    if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return Err(SHAPE.into());
    }
    if b[13] != b':' || b[16] != b':' {
        return Err(SHAPE.into());
    }

    let mut pos = 19;
    let mut millis = 0;
    if b[pos] == b'.' {
        pos += 1;
        let start = pos;
        while pos < b.len() && b[pos].is_ascii_digit() {
            if pos - start < 3 {
                millis = millis * 10 + i64::from(b[pos] - b'0');
            }
            pos += 1;
        }
        let taken = pos - start;
        if taken == 0 {
            return Err(SHAPE.into());
        }
        for _ in taken..3 {
            millis *= 10;
        }
    }

    let offset_minutes = match &b[pos..] {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let hours = digits(b, pos + 1, 2).ok_or(SHAPE)?;
            let minutes = digits(b, pos + 4, 2).ok_or(SHAPE)?;
            if hours > 23 || minutes > 59 {
                return Err("has an offset out of range".into());
            }
            let offset = hours * 60 + minutes;
            if *sign == b'-' {
                -offset
            } else {
                offset
            }
        }
        _ => return Err(SHAPE.into()),
    };

    if year == 0 || !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return Err("is not a calendar date".into());
    }
    if hour > 23 || minute > 59 || second > 60 {
        return Err("is not a time of day".into());
    }

    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second - offset_minutes * 60;
    Ok(seconds * 1_000 + millis)
}

/// The `len` ASCII digits at `at` as a number.
fn digits(b: &[u8], at: usize, len: usize) -> Option<i64> {
    let slice = b.get(at..at + len)?;
    slice.iter().try_fold(0i64, |acc, &d| {
        d.is_ascii_digit().then(|| acc * 10 + i64::from(d - b'0'))
    })
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the given proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    // Count from 0000-03-01 so the leap day is the last day of a "year"; eras are the 400-year
    // cycles of the Gregorian calendar (146,097 days each).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y.rem_euclid(400);
    let shifted_month = (month + 9) % 12; // March = 0
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_and_known_instants() {
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(
            parse_rfc3339_ms("2000-03-01T00:00:00Z"),
            Ok(951_868_800_000)
        );
        assert_eq!(
            parse_rfc3339_ms("2024-02-29T12:34:56.789Z"),
            Ok(1_709_210_096_789)
        );
        assert_eq!(parse_rfc3339_ms("1969-12-31T23:59:59Z"), Ok(-1_000));
    }

    #[test]
    fn offsets_fractions_and_separators() {
        let utc = parse_rfc3339_ms("2026-05-01T00:00:00Z").unwrap();
        assert_eq!(parse_rfc3339_ms("2026-05-01T09:00:00+09:00"), Ok(utc));
        assert_eq!(parse_rfc3339_ms("2026-04-30T19:30:00-04:30"), Ok(utc));
        assert_eq!(parse_rfc3339_ms("2026-05-01t00:00:00z"), Ok(utc));
        assert_eq!(parse_rfc3339_ms("2026-05-01 00:00:00Z"), Ok(utc));
        assert_eq!(parse_rfc3339_ms("2026-05-01T00:00:00.5Z"), Ok(utc + 500));
        assert_eq!(
            parse_rfc3339_ms("2026-05-01T00:00:00.123456789Z"),
            Ok(utc + 123)
        );
        assert_eq!(parse_rfc3339_ms("2026-04-30T23:59:60Z"), Ok(utc));
    }

    #[test]
    fn rejects_bad_shapes_and_dates() {
        for bad in [
            "",
            "2026-05-01",
            "2026-05-01T00:00:00",
            "2026-05-01T00:00Z",
            "2026-05-01T00:00:00.Z",
            "2026-05-01T00:00:00+0900",
            "2026-05-01T00:00:00+24:00",
            "2026-13-01T00:00:00Z",
            "2026-02-29T00:00:00Z",
            "1900-02-29T00:00:00Z",
            "2026-04-31T00:00:00Z",
            "2026-05-01T24:00:00Z",
            "0000-01-01T00:00:00Z",
            "+2026-05-01T00:00:00Z",
            "2026-05-01T00:00:00Z ",
            "２０２６-05-01T00:00:00Z",
            "1700000000",
        ] {
            assert!(parse_rfc3339_ms(bad).is_err(), "{bad:?}");
        }
        assert!(parse_rfc3339_ms("2000-02-29T00:00:00Z").is_ok());
    }
}
