//! Calendar arithmetic for expiries, without a date library: civil dates to days since
//! the Unix epoch (Howard Hinnant's algorithm) and the date formats providers use.

/// Seconds in a day.
pub const DAY: i64 = 86_400;

/// NSE options expire at 15:30 IST, which is 10:00 UTC.
pub const EXPIRY_SECONDS_UTC: i64 = 10 * 3600;

/// IST is UTC+5:30.
pub const IST_OFFSET_SECONDS: i64 = 5 * 3600 + 30 * 60;

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day number.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

fn valid(y: i64, m: u32, d: u32) -> Option<(i64, u32, u32)> {
    ((1900..=2200).contains(&y) && (1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m))
        .then_some((y, m, d))
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// Parse `28-Nov-2024` (NSE), `2024-11-28` (ISO) or `28/11/2024`.
pub fn parse_date(s: &str) -> Option<(i64, u32, u32)> {
    let s = s.trim();
    let parts: Vec<&str> = s.split(['-', '/']).collect();
    if parts.len() != 3 {
        return None;
    }
    if let Some(mi) = MONTHS.iter().position(|m| parts[1].eq_ignore_ascii_case(m)) {
        return valid(
            parts[2].parse().ok()?,
            mi as u32 + 1,
            parts[0].parse().ok()?,
        );
    }
    if parts[0].len() == 4 {
        return valid(
            parts[0].parse().ok()?,
            parts[1].parse().ok()?,
            parts[2].parse().ok()?,
        );
    }
    valid(
        parts[2].parse().ok()?,
        parts[1].parse().ok()?,
        parts[0].parse().ok()?,
    )
}

/// The expiry instant (Unix seconds) of an expiry date string: 15:30 IST that day.
pub fn parse_expiry(s: &str) -> Option<i64> {
    let (y, m, d) = parse_date(s)?;
    Some(days_from_civil(y, m, d) * DAY + EXPIRY_SECONDS_UTC)
}

/// Unix seconds of `date` plus a `HH:MM[:SS]` time of day (as written, no zone).
fn date_time(date: &str, time: &str) -> Option<i64> {
    let (y, m, d) = parse_date(date)?;
    let mut hms = time.split(':').map(|p| p.parse::<i64>().ok());
    let (h, mi, se) = (
        hms.next()??,
        hms.next()??,
        hms.next().flatten().unwrap_or(0),
    );
    if !(0..24).contains(&h) || !(0..60).contains(&mi) || !(0..61).contains(&se) {
        return None;
    }
    Some(days_from_civil(y, m, d) * DAY + h * 3600 + mi * 60 + se)
}

/// Parse NSE's `25-Nov-2024 15:30:00` (IST) into Unix seconds.
pub fn parse_nse_timestamp(s: &str) -> Option<i64> {
    let (date, time) = s.trim().split_once(' ')?;
    Some(date_time(date, time)? - IST_OFFSET_SECONDS)
}

/// Parse a snapshot time: Unix seconds, or `YYYY-MM-DDTHH:MM:SSZ`, or NSE's format.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(n) = s.parse::<f64>() {
        return n.is_finite().then_some(n as i64);
    }
    if let Some(rest) = s.strip_suffix('Z') {
        let (date, time) = rest.split_once('T')?;
        return date_time(date, time);
    }
    parse_nse_timestamp(s)
}

/// `YYYY-MM-DD` of a Unix time (UTC).
pub fn format_date(unix: i64) -> String {
    let (y, m, d) = civil_from_days(unix.div_euclid(DAY));
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2024, 11, 28), 20_055);
        for z in [-1000, 0, 20_055, 60_000] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
    }

    #[test]
    fn formats() {
        assert_eq!(parse_date("28-Nov-2024"), Some((2024, 11, 28)));
        assert_eq!(parse_date("2024-11-28"), Some((2024, 11, 28)));
        assert_eq!(parse_date("28/11/2024"), Some((2024, 11, 28)));
        assert_eq!(parse_date("31-Feb-2024"), None);
        assert_eq!(parse_date("29-Feb-2024"), Some((2024, 2, 29)));
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
        assert_eq!(format_date(20_055 * DAY + 5), "2024-11-28");
    }
}
