//! NSE's expiry calendar: per-index weekday rules and trading holidays, both data the
//! user can replace (`g6 serve --expiry-rules FILE --holidays FILE`; the defaults are
//! `config/nse_expiry_rules.txt` and `config/nse_holidays.txt`, embedded at build).
//!
//! A rule is `weekly` (every such weekday) or `monthly` (the last such weekday of the
//! month). An expiry whose rule day is a weekend or a holiday moves to the previous
//! trading day. Expiry resolution ([`Calendar::resolve`]) holds a provider's listed
//! expiries against the calendar: each is `ok` when it is a future trading day the
//! index's rules call for, `error` when it expired, is not a trading day, or is not a
//! rule day. The synthetic provider lists from the same calendar
//! ([`Calendar::listing`]).
//!
//! Days are IST day numbers (days since 1970-01-01 in IST); an expiry instant is
//! 15:30 IST of its day.

use super::dates::{ist_day, DAY, EXPIRY_SECONDS_UTC};
use chrono::{Datelike, NaiveDate, Weekday};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::Read as _;
use std::path::Path;
use std::sync::{Arc, OnceLock, RwLock};

/// The default holidays (`config/nse_holidays.txt`).
pub const DEFAULT_HOLIDAYS: &str = include_str!("../../config/nse_holidays.txt");

/// The default expiry rules (`config/nse_expiry_rules.txt`).
pub const DEFAULT_RULES: &str = include_str!("../../config/nse_expiry_rules.txt");

/// Largest holidays or rules file read (a real one is a few hundred bytes).
pub const MAX_FILE_BYTES: u64 = 64 * 1024;

/// Most days an expiry moves back over holidays and weekends before the calendar
/// gives up on it (no real run of closed days is this long).
const MAX_CLOSED_RUN: i64 = 14;

/// Monthly expiries listed as NSE lists index options: the next three serial months'
/// (not yet expired), then the next three quarterly ones (March, June, September,
/// December) after them.
const SERIAL_MONTHS: usize = 3;
const QUARTERLY_MONTHS: usize = 3;

/// Weekly expiries the synthetic provider lists.
const WEEKS_LISTED: i64 = 4;

/// How often a rule recurs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// Every such weekday.
    Weekly,
    /// The last such weekday of the month.
    Monthly,
}

/// One expiry rule of an index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rule {
    /// Weekly or monthly.
    pub kind: Kind,
    /// Days after Monday (0 = Monday .. 4 = Friday).
    pub weekday: u8,
}

impl Rule {
    /// The rule an index without one of its own is listed on by the synthetic
    /// provider: monthly, last Tuesday.
    pub const FALLBACK: Rule = Rule {
        kind: Kind::Monthly,
        weekday: 1,
    };
}

/// A holidays or rules file that cannot be used: where and why.
#[derive(Debug, Clone, PartialEq)]
pub struct CalendarError {
    /// The file (or `(embedded)` for the defaults).
    pub file: String,
    /// 1-based line of the problem, when it is one line's.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for CalendarError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{l}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for CalendarError {}

/// What [`Calendar::resolve`] found for one index's listed expiries.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resolution {
    /// Listed expiries the calendar agrees with.
    pub ok: u64,
    /// Listed expiries that expired, are not trading days, or are not rule days.
    pub error: u64,
    /// The expiry days (IST day numbers) the calendar expects from the as-of day up to
    /// the farthest listed expiry (empty for an index without rules).
    pub expected: Vec<i64>,
}

/// Expiry rules per index and trading holidays.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Calendar {
    rules: BTreeMap<String, Vec<Rule>>,
    holidays: BTreeSet<i64>,
}

/// Weekday of an IST day number, days after Monday.
fn weekday_of(day: i64) -> u8 {
    // 1970-01-01 was a Thursday (3 days after Monday).
    (day + 3).rem_euclid(7) as u8
}

fn day_of(date: NaiveDate) -> i64 {
    i64::from(date.num_days_from_ce()) - i64::from(epoch_ce())
}

fn epoch_ce() -> i32 {
    NaiveDate::from_ymd_opt(1970, 1, 1).map_or(719_163, |d| d.num_days_from_ce())
}

/// The date of an IST day number.
fn date_of(day: i64) -> Option<NaiveDate> {
    let ce = i32::try_from(day + i64::from(epoch_ce())).ok()?;
    NaiveDate::from_num_days_from_ce_opt(ce)
}

/// The lines of `text` with comments and blanks removed, numbered from 1.
fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines().enumerate().filter_map(|(i, l)| {
        let l = l.split_once('#').map_or(l, |(before, _)| before).trim();
        (!l.is_empty()).then_some((i + 1, l))
    })
}

fn parse_weekday(s: &str) -> Option<u8> {
    let w: Weekday = s.parse().ok()?;
    let n = w.num_days_from_monday() as u8;
    (n < 5).then_some(n)
}

/// Read a calendar file, bounded by [`MAX_FILE_BYTES`].
fn read_bounded(path: &Path) -> Result<String, CalendarError> {
    let err = |message: String| CalendarError {
        file: path.display().to_string(),
        line: None,
        message,
    };
    let file = std::fs::File::open(path).map_err(|e| err(format!("cannot open: {e}")))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| err(format!("cannot read: {e}")))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(err(format!(
            "larger than {MAX_FILE_BYTES} bytes: not a holidays or rules file"
        )));
    }
    String::from_utf8(bytes).map_err(|_| err("not UTF-8 text".into()))
}

impl Calendar {
    /// The embedded defaults: NSE's rules and the fixed-date holidays.
    pub fn nse_default() -> Self {
        // The embedded files are checked by a test; should they ever fail, an empty
        // part is safer than no calendar.
        let rules = Self::parse_rules(DEFAULT_RULES, "(embedded rules)").unwrap_or_default();
        let holidays =
            Self::parse_holidays(DEFAULT_HOLIDAYS, "(embedded holidays)").unwrap_or_default();
        Calendar { rules, holidays }
    }

    /// A calendar from rules and holidays files (`None`: the embedded default).
    pub fn load(rules: Option<&Path>, holidays: Option<&Path>) -> Result<Self, CalendarError> {
        let mut cal = Calendar::nse_default();
        if let Some(path) = rules {
            cal.rules = Self::parse_rules(&read_bounded(path)?, &path.display().to_string())?;
        }
        if let Some(path) = holidays {
            cal.holidays = Self::parse_holidays(&read_bounded(path)?, &path.display().to_string())?;
        }
        Ok(cal)
    }

    /// Parse a holidays file: one `YYYY-MM-DD` per line, `#` comments.
    pub fn parse_holidays(text: &str, file: &str) -> Result<BTreeSet<i64>, CalendarError> {
        let mut out = BTreeSet::new();
        for (line, l) in lines(text) {
            let date = NaiveDate::parse_from_str(l, "%Y-%m-%d")
                .ok()
                .filter(|d| (1900..=2200).contains(&d.year()))
                .ok_or_else(|| CalendarError {
                    file: file.to_string(),
                    line: Some(line),
                    message: format!("{l:?} is not a date YYYY-MM-DD (years 1900..2200)"),
                })?;
            out.insert(day_of(date));
        }
        Ok(out)
    }

    /// Parse a rules file: `INDEX weekly|monthly WEEKDAY` per line, `#` comments.
    pub fn parse_rules(
        text: &str,
        file: &str,
    ) -> Result<BTreeMap<String, Vec<Rule>>, CalendarError> {
        let mut out: BTreeMap<String, Vec<Rule>> = BTreeMap::new();
        for (line, l) in lines(text) {
            let err = |message: String| CalendarError {
                file: file.to_string(),
                line: Some(line),
                message,
            };
            let words: Vec<&str> = l.split_whitespace().collect();
            let [index, kind, weekday] = words[..] else {
                return Err(err(format!(
                    "{l:?}: want INDEX weekly|monthly WEEKDAY, e.g. NIFTY weekly tuesday"
                )));
            };
            if index.len() > super::aggregate::MAX_INDEX_LEN {
                return Err(err(format!(
                    "index name longer than {} characters",
                    super::aggregate::MAX_INDEX_LEN
                )));
            }
            let kind = match kind.to_ascii_lowercase().as_str() {
                "weekly" => Kind::Weekly,
                "monthly" => Kind::Monthly,
                _ => return Err(err(format!("{kind:?} is not weekly or monthly"))),
            };
            let weekday = parse_weekday(weekday)
                .ok_or_else(|| err(format!("{weekday:?} is not a weekday (monday..friday)")))?;
            let rules = out.entry(index.to_string()).or_default();
            let rule = Rule { kind, weekday };
            if !rules.contains(&rule) {
                rules.push(rule);
                rules.sort_unstable();
            }
        }
        Ok(out)
    }

    /// A calendar of these rules and holidays (IST day numbers).
    pub fn new(rules: BTreeMap<String, Vec<Rule>>, holidays: BTreeSet<i64>) -> Self {
        Calendar { rules, holidays }
    }

    /// The rules of `index` (empty when it has none).
    pub fn rules(&self, index: &str) -> &[Rule] {
        self.rules.get(index).map_or(&[], Vec::as_slice)
    }

    /// Holidays, as IST day numbers.
    pub fn holidays(&self) -> &BTreeSet<i64> {
        &self.holidays
    }

    /// Whether NSE trades on IST day `day`: a weekday, not a holiday.
    pub fn is_trading_day(&self, day: i64) -> bool {
        weekday_of(day) < 5 && !self.holidays.contains(&day)
    }

    /// `day`, or the trading day before it when it is closed (bounded: after a run of
    /// [`MAX_CLOSED_RUN`] closed days, `day` itself).
    pub fn previous_trading_day(&self, day: i64) -> i64 {
        (0..=MAX_CLOSED_RUN)
            .map(|back| day - back)
            .find(|d| self.is_trading_day(*d))
            .unwrap_or(day)
    }

    /// Nominal (unmoved) days of `rule` in `[from, to]`.
    fn nominal_days(rule: Rule, from: i64, to: i64) -> Vec<i64> {
        let mut out = Vec::new();
        match rule.kind {
            Kind::Weekly => {
                let mut d =
                    from + (i64::from(rule.weekday) - i64::from(weekday_of(from))).rem_euclid(7);
                while d <= to {
                    out.push(d);
                    d += 7;
                }
            }
            Kind::Monthly => {
                let (Some(first), Some(last)) = (date_of(from), date_of(to)) else {
                    return out;
                };
                let mut month = first.year() as i64 * 12 + i64::from(first.month0());
                let end = last.year() as i64 * 12 + i64::from(last.month0());
                while month <= end {
                    if let Some(d) = Self::last_weekday_of_month(month, rule.weekday) {
                        if (from..=to).contains(&d) {
                            out.push(d);
                        }
                    }
                    month += 1;
                }
            }
        }
        out
    }

    /// The last `weekday` of month number `month` (year * 12 + month0).
    fn last_weekday_of_month(month: i64, weekday: u8) -> Option<i64> {
        let next = month + 1;
        let first_next = NaiveDate::from_ymd_opt(
            i32::try_from(next.div_euclid(12)).ok()?,
            u32::try_from(next.rem_euclid(12) + 1).ok()?,
            1,
        )?;
        let last = day_of(first_next) - 1;
        Some(last - (i64::from(weekday_of(last)) - i64::from(weekday)).rem_euclid(7))
    }

    /// Expiry days of `index` (moved off holidays and weekends) in `[from, to]`.
    pub fn expiry_days(&self, index: &str, from: i64, to: i64) -> Vec<i64> {
        let mut out = BTreeSet::new();
        for &rule in self.rules(index) {
            // A rule day just after `to` may move back into the range.
            for d in Self::nominal_days(rule, from, to + MAX_CLOSED_RUN) {
                let moved = self.previous_trading_day(d);
                if (from..=to).contains(&moved) {
                    out.insert(moved);
                }
            }
        }
        out.into_iter().collect()
    }

    /// The expiries (Unix seconds, 15:30 IST) a provider following this calendar lists
    /// for `index` at `as_of`: the next [`WEEKS_LISTED`] weekly ones, and the next
    /// [`SERIAL_MONTHS`] monthly ones followed by the next [`QUARTERLY_MONTHS`]
    /// quarterly ones, none expired. An index without rules is listed on
    /// [`Rule::FALLBACK`].
    pub fn listing(&self, index: &str, as_of: i64) -> Vec<i64> {
        let today = ist_day(as_of);
        let rules = match self.rules(index) {
            [] => &[Rule::FALLBACK][..],
            r => r,
        };
        let mut days = BTreeSet::new();
        for &rule in rules {
            match rule.kind {
                Kind::Weekly => {
                    let mut found = 0;
                    // Weeks from today, past expiries skipped: one more week covers
                    // today's expiry once it has passed.
                    let to = today + 7 * (WEEKS_LISTED + 1) + MAX_CLOSED_RUN;
                    for d in Self::nominal_days(rule, today, to) {
                        let moved = self.previous_trading_day(d);
                        if moved * DAY + EXPIRY_SECONDS_UTC > as_of && found < WEEKS_LISTED {
                            days.insert(moved);
                            found += 1;
                        }
                    }
                }
                Kind::Monthly => {
                    let Some(date) = date_of(today) else { continue };
                    let this = date.year() as i64 * 12 + i64::from(date.month0());
                    let (mut serial, mut quarterly) = (0, 0);
                    // Two years ahead is far more than three serial and three
                    // quarterly months need.
                    for month in this..this + 24 {
                        if quarterly == QUARTERLY_MONTHS {
                            break;
                        }
                        let Some(d) = Self::last_weekday_of_month(month, rule.weekday) else {
                            continue;
                        };
                        let moved = self.previous_trading_day(d);
                        if moved * DAY + EXPIRY_SECONDS_UTC <= as_of {
                            continue;
                        }
                        if serial < SERIAL_MONTHS {
                            serial += 1;
                        } else if month.rem_euclid(12) % 3 == 2 {
                            quarterly += 1;
                        } else {
                            continue;
                        }
                        days.insert(moved);
                    }
                }
            }
        }
        days.into_iter()
            .map(|d| d * DAY + EXPIRY_SECONDS_UTC)
            .collect()
    }

    /// Hold `listed` expiries (Unix seconds, distinct) of `index` against the
    /// calendar at `as_of`.
    pub fn resolve(&self, index: &str, listed: &[i64], as_of: i64) -> Resolution {
        let today = ist_day(as_of);
        let farthest = listed.iter().map(|e| ist_day(*e)).max().unwrap_or(today);
        let has_rules = !self.rules(index).is_empty();
        let expected = if has_rules {
            self.expiry_days(index, today, farthest.max(today))
        } else {
            Vec::new()
        };
        let mut r = Resolution {
            expected,
            ..Resolution::default()
        };
        for &e in listed {
            let day = ist_day(e);
            let good = e > as_of
                && self.is_trading_day(day)
                && (!has_rules || r.expected.binary_search(&day).is_ok());
            if good {
                r.ok += 1;
            } else {
                r.error += 1;
            }
        }
        r
    }
}

/// The calendar in force (set once at startup by [`install`]).
static CURRENT: RwLock<Option<Arc<Calendar>>> = RwLock::new(None);

/// The embedded default, parsed once.
fn default_calendar() -> Arc<Calendar> {
    static DEFAULT: OnceLock<Arc<Calendar>> = OnceLock::new();
    Arc::clone(DEFAULT.get_or_init(|| Arc::new(Calendar::nse_default())))
}

/// Make `calendar` the process's calendar (what the synthetic provider lists from and
/// expiry resolution checks against); `g6 serve` installs the one of its flags.
pub fn install(calendar: Calendar) {
    let mut current = CURRENT.write().unwrap_or_else(|p| p.into_inner());
    *current = Some(Arc::new(calendar));
}

/// The calendar in force: the installed one, else the embedded default.
pub fn current() -> Arc<Calendar> {
    let current = CURRENT.read().unwrap_or_else(|p| p.into_inner());
    current.clone().unwrap_or_else(default_calendar)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> i64 {
        day_of(NaiveDate::from_ymd_opt(y, m, d).expect("a date"))
    }

    fn at(y: i32, m: u32, d: u32) -> i64 {
        day(y, m, d) * DAY + EXPIRY_SECONDS_UTC
    }

    #[test]
    fn the_embedded_files_parse_and_hold_the_fixed_date_holidays_and_nse_rules() {
        let rules = Calendar::parse_rules(DEFAULT_RULES, "rules").expect("embedded rules");
        let holidays =
            Calendar::parse_holidays(DEFAULT_HOLIDAYS, "holidays").expect("embedded holidays");
        let tue = |kind| Rule { kind, weekday: 1 };
        assert_eq!(rules["NIFTY"], vec![tue(Kind::Weekly), tue(Kind::Monthly)]);
        for i in ["BANKNIFTY", "FINNIFTY", "MIDCPNIFTY"] {
            assert_eq!(rules[i], vec![tue(Kind::Monthly)], "{i}");
        }
        assert!(holidays.contains(&day(2026, 1, 26)));
        assert!(holidays.contains(&day(2026, 12, 25)));
        assert_eq!(holidays.len(), 15);
    }

    #[test]
    fn weekday_numbers_match_chrono() {
        for d in [
            day(2026, 12, 1),
            day(2026, 12, 6),
            day(1970, 1, 1),
            day(1969, 12, 29),
        ] {
            let date = date_of(d).expect("a date");
            assert_eq!(weekday_of(d), date.weekday().num_days_from_monday() as u8);
        }
    }

    #[test]
    fn a_tuesday_holiday_moves_the_weekly_expiry_to_monday() {
        // 2026-12-01 is a Tuesday; made a holiday, NIFTY's weekly expires Monday 30 Nov.
        let mut cal = Calendar::nse_default();
        cal.holidays.insert(day(2026, 12, 1));
        let as_of = at(2026, 11, 27);
        let listing = cal.listing("NIFTY", as_of);
        assert_eq!(listing[0], at(2026, 11, 30));
        assert!(!listing.contains(&at(2026, 12, 1)));
        // Held against the calendar: Monday is ok, the holiday Tuesday is not.
        let r = cal.resolve("NIFTY", &[at(2026, 11, 30), at(2026, 12, 1)], as_of);
        assert_eq!((r.ok, r.error), (1, 1));
    }

    #[test]
    fn monthly_expiries_are_the_last_tuesday_and_weekly_ones_every_tuesday() {
        let cal = Calendar::nse_default();
        // 2026-12-06 is a Sunday; December's last Tuesday is the 29th, January's the
        // 26th -- Republic Day, so the expiry moves to Monday 25 January 2027.
        let as_of = day(2026, 12, 6) * DAY;
        assert_eq!(
            cal.listing("BANKNIFTY", as_of),
            vec![
                at(2026, 12, 29),
                at(2027, 1, 25),
                at(2027, 2, 23),
                at(2027, 3, 30),
                at(2027, 6, 29),
                at(2027, 9, 28),
            ]
        );
        let nifty = cal.listing("NIFTY", as_of);
        assert_eq!(
            &nifty[..5],
            &[
                at(2026, 12, 8),
                at(2026, 12, 15),
                at(2026, 12, 22),
                at(2026, 12, 29),
                at(2027, 1, 25),
            ]
        );
        assert_eq!(nifty.len(), 9);
        // Every listed expiry resolves ok.
        let r = cal.resolve("NIFTY", &nifty, as_of);
        assert_eq!((r.ok, r.error), (9, 0));
    }

    #[test]
    fn three_serial_months_then_three_quarterly_ones_are_listed_as_nse_lists_them() {
        let cal = Calendar::nse_default();
        // In January: January, February, March, then June, September, December (not
        // April, July, October).
        let serial = [(1, 25), (2, 23), (3, 30)];
        let quarterly = [(6, 29), (9, 28), (12, 28)];
        let want: Vec<i64> = serial
            .iter()
            .chain(&quarterly)
            .map(|&(m, d)| at(2027, m, d))
            .collect();
        assert_eq!(cal.listing("BANKNIFTY", day(2027, 1, 10) * DAY), want);
        // After December's expiry the serial months roll on to January-March: the same.
        assert_eq!(cal.listing("BANKNIFTY", at(2026, 12, 29) + 60), want);
    }

    #[test]
    fn todays_expiry_is_listed_until_1530_ist_and_then_expired() {
        let cal = Calendar::nse_default();
        let expiry = at(2026, 12, 8);
        assert_eq!(cal.listing("NIFTY", expiry - 1)[0], expiry);
        assert_eq!(cal.listing("NIFTY", expiry)[0], at(2026, 12, 15));
        let r = cal.resolve("NIFTY", &[expiry], expiry);
        assert_eq!((r.ok, r.error), (0, 1), "expired");
    }

    #[test]
    fn listed_expiries_off_the_rules_or_on_closed_days_are_errors() {
        let cal = Calendar::nse_default();
        let as_of = day(2026, 12, 6) * DAY;
        // A Thursday (the old rule), a Saturday, a weekly Tuesday for a monthly-only
        // index, and the monthly one.
        let listed = [
            at(2026, 12, 10),
            at(2026, 12, 12),
            at(2026, 12, 15),
            at(2026, 12, 29),
        ];
        let r = cal.resolve("BANKNIFTY", &listed, as_of);
        assert_eq!((r.ok, r.error), (1, 3));
        assert_eq!(r.expected, vec![day(2026, 12, 29)]);
        // An index without rules: any future trading day is ok.
        let r = cal.resolve("SENSEX", &listed, as_of);
        assert_eq!((r.ok, r.error), (3, 1));
    }

    #[test]
    fn a_bad_line_errors_with_its_file_and_line_number() {
        let e = Calendar::parse_holidays("# holidays\n2026-01-26\n\n2026-13-01 # bad\n", "h.txt")
            .expect_err("month 13");
        assert_eq!(e.line, Some(4));
        assert!(e.to_string().starts_with("h.txt:4: \"2026-13-01\""), "{e}");
        let e = Calendar::parse_rules("NIFTY weekly tuesday\nNIFTY fortnightly tuesday\n", "r")
            .expect_err("fortnightly");
        assert_eq!(
            e.to_string(),
            "r:2: \"fortnightly\" is not weekly or monthly"
        );
        let e = Calendar::parse_rules("NIFTY weekly sunday\n", "r").expect_err("sunday");
        assert_eq!(e.line, Some(1));
        let e = Calendar::parse_rules("NIFTY weekly\n", "r").expect_err("two words");
        assert_eq!(e.line, Some(1));
    }

    #[test]
    fn an_oversized_file_is_refused_before_it_is_parsed() {
        let dir = std::env::temp_dir().join(format!("g6-calendar-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let big = dir.join("big.txt");
        std::fs::write(&big, "# x\n".repeat(MAX_FILE_BYTES as usize)).expect("written");
        let e = Calendar::load(None, Some(&big)).expect_err("too big");
        assert_eq!(e.line, None);
        assert!(e.message.contains("larger than 65536 bytes"), "{e}");
        let e = Calendar::load(None, Some(&dir.join("missing.txt"))).expect_err("missing");
        assert!(e.message.starts_with("cannot open"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
