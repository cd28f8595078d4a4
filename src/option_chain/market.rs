//! The pieces of the synthetic market model: NSE's trading session, and an
//! arbitrage-free volatility surface (Gatheral and Jacquier's SSVI).

use super::dates::{DAY, IST_OFFSET_SECONDS};

/// NSE's regular session: 09:15 to 15:30 IST, Monday to Friday (seconds after IST
/// midnight).
const OPEN_IST: i64 = 9 * 3600 + 15 * 60;
const CLOSE_IST: i64 = 15 * 3600 + 30 * 60;

/// Seconds of trading in a year: 252 sessions of 6 h 15 min (what the spot's
/// volatility is quoted over).
pub const TRADING_SECONDS_PER_YEAR: f64 = 252.0 * (CLOSE_IST - OPEN_IST) as f64;

/// When the market model moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Session {
    /// NSE's hours in IST on trading days (weekdays but the holidays of the expiry
    /// calendar in force, [`super::calendar`]); flat outside them.
    Nse,
    /// Always open: for tests and demos that need movement at any hour.
    AlwaysOpen,
}

pub use super::dates::ist_day;

fn is_weekday(ist_day: i64) -> bool {
    // 1970-01-01 was a Thursday (weekday 3 with Monday = 0).
    (ist_day + 3).rem_euclid(7) < 5
}

/// A weekday that is not one of `calendar`'s holidays.
fn is_trading_day(calendar: &super::calendar::Calendar, ist_day: i64) -> bool {
    is_weekday(ist_day) && !calendar.holidays().contains(&ist_day)
}

impl Session {
    /// Whether the market is open at `unix`.
    pub fn is_open(self, unix: i64) -> bool {
        match self {
            Session::AlwaysOpen => true,
            Session::Nse => {
                let day = ist_day(unix);
                let second = (unix + IST_OFFSET_SECONDS).rem_euclid(DAY);
                (OPEN_IST..CLOSE_IST).contains(&second)
                    && is_trading_day(&super::calendar::current(), day)
            }
        }
    }

    /// Trading seconds in `[from, to)`.
    pub fn trading_seconds(self, from: i64, to: i64) -> i64 {
        if to <= from {
            return 0;
        }
        match self {
            Session::AlwaysOpen => to - from,
            Session::Nse => {
                // A long gap counts at most 31 days: the model restarts its clock
                // rather than walk through months of sessions.
                let from = from.max(to - 31 * DAY);
                let calendar = super::calendar::current();
                let mut total = 0;
                for day in ist_day(from)..=ist_day(to) {
                    if !is_trading_day(&calendar, day) {
                        continue;
                    }
                    let midnight = day * DAY - IST_OFFSET_SECONDS;
                    let open = (midnight + OPEN_IST).max(from);
                    let close = (midnight + CLOSE_IST).min(to);
                    total += (close - open).max(0);
                }
                total
            }
        }
    }

    /// The market's own clock at `unix`: `unix` while the market is open, else the
    /// close of the last session (what the quotes stand at while it is shut).
    pub fn market_time(self, unix: i64) -> i64 {
        match self {
            Session::AlwaysOpen => unix,
            Session::Nse => {
                let close = self.volume_day(unix) * DAY - IST_OFFSET_SECONDS + CLOSE_IST;
                unix.min(close)
            }
        }
    }

    /// When the market next opens after `unix` (NSE: the next trading day's 09:15
    /// IST within a month; always open: never).
    pub fn next_open(self, unix: i64) -> Option<i64> {
        match self {
            Session::AlwaysOpen => None,
            Session::Nse => {
                let calendar = super::calendar::current();
                let today = ist_day(unix);
                (today..today + 31).find_map(|day| {
                    let open = day * DAY - IST_OFFSET_SECONDS + OPEN_IST;
                    (open > unix && is_trading_day(&calendar, day)).then_some(open)
                })
            }
        }
    }

    /// One line for a reader: whether the model moves now, or since when its quotes
    /// have stood still and until when.
    pub fn describe(self, unix: i64) -> String {
        if self.is_open(unix) {
            return "Synthetic market: in session (NSE 09:15-15:30 IST): the model moves".into();
        }
        let close = self.market_time(unix);
        let next = self.next_open(unix).map_or(String::new(), |open| {
            format!(
                ", until the session of {} 09:15 IST",
                super::dates::format_date(open)
            )
        });
        format!(
            "Synthetic market: closed (NSE trades 09:15-15:30 IST on trading days): every quote stands at the close of {} 15:30 IST{next}",
            super::dates::format_date(close)
        )
    }

    /// When the session of [`Self::volume_day`] started: daily counts start there.
    pub fn day_start(self, unix: i64) -> i64 {
        let midnight = self.volume_day(unix) * DAY - IST_OFFSET_SECONDS;
        match self {
            Session::AlwaysOpen => midnight,
            Session::Nse => midnight + OPEN_IST,
        }
    }

    /// The trading day `unix` belongs to for daily counts such as volume: the IST
    /// day of the last session start at or before `unix` (always open: the IST day).
    pub fn volume_day(self, unix: i64) -> i64 {
        match self {
            Session::AlwaysOpen => ist_day(unix),
            Session::Nse => {
                let mut day = ist_day(unix);
                let second = (unix + IST_OFFSET_SECONDS).rem_euclid(DAY);
                if second < OPEN_IST {
                    day -= 1;
                }
                let calendar = super::calendar::current();
                // Bounded: a run of closed days ends within a few weeks.
                for _ in 0..31 {
                    if is_trading_day(&calendar, day) {
                        break;
                    }
                    day -= 1;
                }
                day
            }
        }
    }
}

/// A volatility surface in SSVI form: total implied variance at log-moneyness `k`
/// (`ln(strike / forward)`) for an ATM total variance `theta`,
/// `w = theta/2 * (1 + rho*phi*k + sqrt((phi*k + rho)^2 + 1 - rho^2))`, with the
/// power-law `phi(theta) = eta / (theta^gamma * (1 + theta)^(1 - gamma))`.
///
/// Free of butterfly arbitrage when `eta * (1 + |rho|) <= 2` and `0 < gamma <= 1/2`,
/// and of calendar arbitrage when the ATM total variance does not fall with expiry
/// (Gatheral and Jacquier, "Arbitrage-free SVI volatility surfaces", 2014, 4.2-4.4).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ssvi {
    /// Skew: negative puts the smile's weight on low strikes (puts).
    pub rho: f64,
    /// Curvature level.
    pub eta: f64,
    /// How curvature falls with maturity.
    pub gamma: f64,
}

impl Ssvi {
    /// Whether the parameters meet the no-arbitrage conditions.
    pub fn is_arbitrage_free(&self) -> bool {
        self.rho.abs() < 1.0
            && self.eta > 0.0
            && self.eta * (1.0 + self.rho.abs()) <= 2.0
            && self.gamma > 0.0
            && self.gamma <= 0.5
    }

    fn phi(&self, theta: f64) -> f64 {
        self.eta / (theta.powf(self.gamma) * (1.0 + theta).powf(1.0 - self.gamma))
    }

    /// Total implied variance at log-moneyness `k`.
    pub fn total_variance(&self, k: f64, theta: f64) -> f64 {
        let p = self.phi(theta);
        let r = self.rho;
        theta / 2.0 * (1.0 + r * p * k + ((p * k + r).powi(2) + 1.0 - r * r).sqrt())
    }

    /// Implied volatility at log-moneyness `k` and `years` to expiry.
    pub fn vol(&self, k: f64, theta: f64, years: f64) -> f64 {
        (self.total_variance(k, theta) / years).sqrt()
    }
}

/// ATM volatility by time to expiry: rising from `0.92 * level` at the short end to
/// `1.08 * level` (a calm market's upward term structure), so ATM total variance
/// rises with expiry.
pub fn atm_vol(level: f64, years: f64) -> f64 {
    level * (0.92 + 0.16 * (1.0 - (-years / 0.25).exp()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_the_market_says_since_which_close_and_until_which_open() {
        // Sunday 2026-12-06 12:00 IST.
        let sunday = 1_796_538_600;
        assert!(!Session::Nse.is_open(sunday));
        assert_eq!(
            Session::Nse.describe(sunday),
            "Synthetic market: closed (NSE trades 09:15-15:30 IST on trading days): every quote stands at the close of 2026-12-04 15:30 IST, until the session of 2026-12-07 09:15 IST"
        );
        // Monday 10:00 IST: open, and the market's clock is the wall clock.
        let monday = sunday + 86_400 - 2 * 3600;
        assert!(Session::Nse.is_open(monday));
        assert_eq!(Session::Nse.market_time(monday), monday);
        assert!(Session::Nse.describe(monday).contains("in session"));
        // Friday 15:30 IST is the close Sunday's quotes stand at.
        assert_eq!(Session::Nse.market_time(sunday), 1_796_378_400);
    }

    /// 2026-12-07 was a Monday; 09:15 IST is 03:45 UTC.
    const MONDAY_OPEN: i64 = 1_796_615_100;

    #[test]
    fn the_nse_session_is_09_15_to_15_30_ist_on_weekdays() {
        let s = Session::Nse;
        assert!(s.is_open(MONDAY_OPEN));
        assert!(!s.is_open(MONDAY_OPEN - 1));
        assert!(s.is_open(MONDAY_OPEN + 6 * 3600 + 14 * 60 + 59));
        assert!(!s.is_open(MONDAY_OPEN + 6 * 3600 + 15 * 60));
        // Sunday at noon IST.
        assert!(!s.is_open(MONDAY_OPEN - DAY + 3 * 3600));
        // Friday 09:15 to Monday 09:15: one whole session.
        assert_eq!(
            s.trading_seconds(MONDAY_OPEN - 3 * DAY, MONDAY_OPEN),
            CLOSE_IST - OPEN_IST
        );
        // Volume on Sunday belongs to Friday's session; Monday 09:14 too.
        let friday = ist_day(MONDAY_OPEN) - 3;
        assert_eq!(s.volume_day(MONDAY_OPEN - DAY), friday);
        assert_eq!(s.volume_day(MONDAY_OPEN - 60), friday);
        assert_eq!(s.volume_day(MONDAY_OPEN), friday + 3);
    }

    #[test]
    fn a_holiday_of_the_calendar_is_closed_all_day() {
        let s = Session::Nse;
        // Friday 2 October 2026, Gandhi Jayanti (in the embedded holidays): closed at
        // 10:00 IST; Thursday's session to Monday's open is one session, Thursday's.
        let friday = super::super::dates::days_from_civil(2026, 10, 2).expect("a date");
        let open = |day: i64| day * DAY - IST_OFFSET_SECONDS + OPEN_IST;
        assert!(!s.is_open(open(friday) + 45 * 60));
        assert!(s.is_open(open(friday - 1) + 45 * 60));
        assert_eq!(
            s.trading_seconds(open(friday - 1), open(friday + 3)),
            CLOSE_IST - OPEN_IST
        );
        // Volume on the holiday belongs to Thursday's session.
        assert_eq!(s.volume_day(open(friday) + 3600), friday - 1);
    }

    #[test]
    fn the_surface_is_free_of_butterfly_and_calendar_arbitrage() {
        let ssvi = Ssvi {
            rho: -0.35,
            eta: 1.0,
            gamma: 0.4,
        };
        assert!(ssvi.is_arbitrage_free());
        // Total variance rises with expiry at every moneyness.
        for k in [-0.3, -0.1, 0.0, 0.1, 0.3] {
            let mut last = 0.0;
            for days in [1.0, 3.0, 7.0, 14.0, 30.0, 90.0, 270.0] {
                let t = days / 365.0;
                let theta = atm_vol(0.14, t).powi(2) * t;
                let w = ssvi.total_variance(k, theta);
                assert!(w > last, "k={k} days={days}: {w} <= {last}");
                last = w;
            }
        }
    }
}
