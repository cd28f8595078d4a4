//! Dates and times as providers write them, on `chrono`: expiry dates (`28-Nov-2024`,
//! `2024-11-28`, `28/11/2024`), snapshot times (Unix seconds, RFC 3339, NSE's IST
//! format), and expiry instants (15:30 IST on the expiry date). Every result is range
//! checked ([`MIN_UNIX`]..=[`MAX_UNIX`]) so later arithmetic cannot overflow.

use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveDateTime, NaiveTime};

/// Seconds in a day.
pub const DAY: i64 = 86_400;

/// NSE options expire at 15:30 IST, which is 10:00 UTC.
pub const EXPIRY_SECONDS_UTC: i64 = 10 * 3600;

/// IST is UTC+5:30.
pub const IST_OFFSET_SECONDS: i64 = 5 * 3600 + 30 * 60;

/// The IST day number (days since 1970-01-01 in IST) of a Unix time.
pub fn ist_day(unix: i64) -> i64 {
    (unix + IST_OFFSET_SECONDS).div_euclid(DAY)
}

/// Earliest instant a provider may report: 1900-01-01T00:00:00Z.
pub const MIN_UNIX: i64 = -2_208_988_800;

/// Latest instant a provider may report: 2200-12-31T23:59:59Z.
pub const MAX_UNIX: i64 = 7_289_654_399;

fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default()
}

fn in_range(unix: i64) -> Option<i64> {
    (MIN_UNIX..=MAX_UNIX).contains(&unix).then_some(unix)
}

/// Days since 1970-01-01 of a date (`None` for an impossible date).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> Option<i64> {
    let date = NaiveDate::from_ymd_opt(i32::try_from(y).ok()?, m, d)?;
    Some(date.signed_duration_since(epoch()).num_days())
}

/// The date of a day number since 1970-01-01.
pub fn civil_from_days(z: i64) -> Option<(i64, u32, u32)> {
    let date = if z >= 0 {
        epoch().checked_add_days(Days::new(z.unsigned_abs()))?
    } else {
        epoch().checked_sub_days(Days::new(z.unsigned_abs()))?
    };
    Some((i64::from(date.year()), date.month(), date.day()))
}

/// Parse `28-Nov-2024` (NSE), `2024-11-28` (ISO) or `28/11/2024`, years 1900..=2200.
pub fn parse_date(s: &str) -> Option<(i64, u32, u32)> {
    let s = s.trim();
    let date = ["%d-%b-%Y", "%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y"]
        .iter()
        .find_map(|f| NaiveDate::parse_from_str(s, f).ok())?;
    (1900..=2200)
        .contains(&date.year())
        .then(|| (i64::from(date.year()), date.month(), date.day()))
}

/// The expiry instant (Unix seconds) of an expiry date string: 15:30 IST that day.
pub fn parse_expiry(s: &str) -> Option<i64> {
    let (y, m, d) = parse_date(s)?;
    in_range(days_from_civil(y, m, d)? * DAY + EXPIRY_SECONDS_UTC)
}

/// Unix seconds of `date` plus a `HH:MM[:SS]` time of day (as written, no zone).
fn date_time(date: &str, time: &str) -> Option<i64> {
    let (y, m, d) = parse_date(date)?;
    let time = ["%H:%M:%S", "%H:%M"]
        .iter()
        .find_map(|f| NaiveTime::parse_from_str(time.trim(), f).ok())?;
    let date = NaiveDate::from_ymd_opt(i32::try_from(y).ok()?, m, d)?;
    Some(NaiveDateTime::new(date, time).and_utc().timestamp())
}

/// Parse a snapshot time: Unix seconds, RFC 3339 (`2024-11-28T10:00:00Z`, any offset),
/// or NSE's format. `None` outside 1900..=2200 or when unreadable.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(n) = s.parse::<f64>() {
        // Range-checked before the cast: `as` would saturate a huge float silently.
        return (n.is_finite() && (MIN_UNIX as f64..=MAX_UNIX as f64).contains(&n))
            .then_some(n as i64);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return in_range(t.timestamp());
    }
    parse_nse_timestamp(s)
}

/// Parse NSE's `25-Nov-2024 15:30:00` (IST) into Unix seconds.
pub fn parse_nse_timestamp(s: &str) -> Option<i64> {
    let (date, time) = s.trim().split_once(' ')?;
    in_range(date_time(date, time)? - IST_OFFSET_SECONDS)
}

/// `YYYY-MM-DD` of a Unix time (UTC).
pub fn format_date(unix: i64) -> String {
    DateTime::from_timestamp(unix, 0)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| format!("@{unix}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), Some(0));
        assert_eq!(days_from_civil(2024, 11, 28), Some(20_055));
        assert_eq!(days_from_civil(2024, 2, 30), None);
        for z in [-1000, 0, 20_055, 60_000] {
            let (y, m, d) = civil_from_days(z).expect("in range");
            assert_eq!(days_from_civil(y, m, d), Some(z));
        }
    }

    #[test]
    fn formats() {
        assert_eq!(parse_date("28-Nov-2024"), Some((2024, 11, 28)));
        assert_eq!(parse_date("28-nov-2024"), Some((2024, 11, 28)));
        assert_eq!(parse_date("2024-11-28"), Some((2024, 11, 28)));
        assert_eq!(parse_date("28/11/2024"), Some((2024, 11, 28)));
        assert_eq!(parse_date("31-Feb-2024"), None);
        assert_eq!(parse_date("29-Feb-2024"), Some((2024, 2, 29)));
        assert_eq!(parse_date("28-Nov-9999"), None);
        assert_eq!(parse_date("soon"), None);
        assert_eq!(parse_expiry("28-Nov-2024"), Some(20_055 * DAY + 36_000));
        // 15:30 IST is 10:00 UTC.
        assert_eq!(
            parse_nse_timestamp("28-Nov-2024 15:30:00"),
            parse_expiry("28-Nov-2024")
        );
        assert_eq!(
            parse_timestamp("2024-11-28T10:00:00Z"),
            parse_expiry("28-Nov-2024")
        );
        assert_eq!(
            parse_timestamp("2024-11-28T15:30:00+05:30"),
            parse_expiry("28-Nov-2024")
        );
        assert_eq!(format_date(20_055 * DAY + 5), "2024-11-28");
    }

    #[test]
    fn timestamps_out_of_range_are_rejected_not_wrapped() {
        for bad in [
            "1e300",
            "-1e300",
            "9223372036854775807",
            "NaN",
            "inf",
            "99999999999",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
        assert_eq!(parse_timestamp("1732788000"), Some(1_732_788_000));
    }
}
