//! `synthetic[:SEED]`: a deterministic, plausible option chain for previews and tests.
//!
//! Several indices, weekly, monthly and quarterly expiries around the snapshot time, an
//! open-interest profile that peaks at the money and at round strikes, an IV smile with
//! a put skew and a term structure, and spreads that widen away from the money. The
//! same seed and snapshot times give the same data. Every series it feeds carries
//! `source="synthetic"`.

use crate::labels::Source;
use crate::option_chain::dates::{civil_from_days, days_from_civil, DAY, EXPIRY_SECONDS_UTC};
use crate::option_chain::{OptionChainProvider, OptionType, ProviderError, Quote, Snapshot};

/// Seed used when none is given.
pub const DEFAULT_SEED: u64 = 6;

/// Indices the synthetic chain covers: (symbol, starting spot, strike step, ATM IV,
/// expiry weekday as days after Thursday: NIFTY Thursday, BANKNIFTY Wednesday,
/// FINNIFTY Tuesday, as NSE staggered them).
const INDICES: &[(&str, f64, f64, f64, i64)] = &[
    ("NIFTY", 24_000.0, 50.0, 0.13, 0),
    ("BANKNIFTY", 52_000.0, 100.0, 0.16, 6),
    ("FINNIFTY", 23_500.0, 50.0, 0.15, 5),
];

/// Strikes on each side of the money.
const STRIKES_EACH_SIDE: i64 = 40;

/// Strike offsets in steps: every step near the money, every 10 steps out to +-30%
/// of spot, so deep in- and out-of-the-money buckets are populated too.
fn strike_offsets(spot: f64, step: f64) -> Vec<i64> {
    let far = (0.3 * spot / step) as i64;
    let mut v: Vec<i64> = (-STRIKES_EACH_SIDE..=STRIKES_EACH_SIDE).collect();
    let mut k = (STRIKES_EACH_SIDE / 10 + 1) * 10;
    while k <= far {
        v.push(k);
        v.push(-k);
        k += 10;
    }
    v.sort_unstable();
    v
}

/// SplitMix64: small, fast, and good enough for plausible noise.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
}

/// The synthetic provider.
#[derive(Debug, Clone)]
pub struct SyntheticProvider {
    rng: Rng,
    spots: Vec<f64>,
}

impl SyntheticProvider {
    /// A provider whose data is fully determined by `seed` and the snapshot times.
    pub fn new(seed: u64) -> Self {
        SyntheticProvider {
            rng: Rng(seed),
            spots: INDICES.iter().map(|i| i.1).collect(),
        }
    }

    /// Expiry instants around `as_of` for an index expiring `weekday` days after
    /// Thursday: 4 weekly, the last such weekday of the next 3 months, and 2 quarterly.
    pub fn expiries(as_of: i64, weekday: i64) -> Vec<i64> {
        let today = as_of.div_euclid(DAY);
        // 1970-01-01 was a Thursday: day numbers with rem 0 mod 7 are Thursdays.
        let offset = (today - weekday).rem_euclid(7);
        let mut next = today + (7 - offset) % 7;
        if next * DAY + EXPIRY_SECONDS_UTC <= as_of {
            next += 7;
        }
        let mut out: Vec<i64> = (0..4)
            .map(|w| (next + 7 * w) * DAY + EXPIRY_SECONDS_UTC)
            .collect();
        // The synthetic clock is the wall clock: always a representable date.
        let (y, m, _) = civil_from_days(today).unwrap_or((1970, 1, 1));
        for ahead in [1, 2, 3, 6, 9] {
            let total = y * 12 + i64::from(m) - 1 + ahead;
            let (yy, mm) = (total.div_euclid(12), (total.rem_euclid(12) + 1) as u32);
            // Last Thursday: the first day of the next month, stepped back.
            let Some(first_next) = days_from_civil(
                if mm == 12 { yy + 1 } else { yy },
                if mm == 12 { 1 } else { mm + 1 },
                1,
            ) else {
                continue;
            };
            let last = first_next - 1;
            let last_weekday = last - (last - weekday).rem_euclid(7);
            let t = last_weekday * DAY + EXPIRY_SECONDS_UTC;
            if !out.contains(&t) {
                out.push(t);
            }
        }
        out.sort_unstable();
        out
    }

    /// The chain as of `as_of` (Unix seconds). Successive calls move the spots.
    pub fn snapshot_at(&mut self, as_of: i64) -> Snapshot {
        let mut rows =
            Vec::with_capacity(INDICES.len() * 9 * (2 * STRIKES_EACH_SIDE as usize + 21) * 2);
        for (i, &(symbol, _, step, atm_iv, weekday)) in INDICES.iter().enumerate() {
            let expiries = Self::expiries(as_of, weekday);
            // A small random walk per snapshot.
            let drift = self.rng.range(-0.002, 0.002);
            self.spots[i] *= 1.0 + drift;
            let spot = self.spots[i];
            let atm = (spot / step).round() * step;
            for &expiry in &expiries {
                let years = ((expiry - as_of) as f64 / DAY as f64 / 365.0).max(1.0 / 365.0);
                let term = 1.0 + 0.15 / (1.0 + 40.0 * years);
                for k in strike_offsets(spot, step) {
                    let strike = atm + k as f64 * step;
                    let log_m = (strike / spot).ln();
                    for option_type in [OptionType::Call, OptionType::Put] {
                        rows.push(Ok(self.quote(
                            symbol,
                            spot,
                            strike,
                            expiry,
                            option_type,
                            log_m,
                            years,
                            atm_iv * term,
                            k,
                            step,
                        )));
                    }
                }
            }
        }
        Snapshot {
            as_of: Some(as_of),
            rows,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn quote(
        &mut self,
        symbol: &str,
        spot: f64,
        strike: f64,
        expiry: i64,
        option_type: OptionType,
        log_m: f64,
        years: f64,
        atm_iv: f64,
        k: i64,
        step: f64,
    ) -> Quote {
        let is_call = option_type == OptionType::Call;
        // Open interest: a bell around the money, heavier on the out-of-the-money side,
        // with bumps at round strikes (multiples of 10 steps).
        let otm = if is_call { log_m > 0.0 } else { log_m < 0.0 };
        let width = 12.0;
        let bell = (-((k as f64) / width).powi(2) / 2.0).exp();
        let round = if (strike / (step * 10.0)).fract().abs() < 1e-9 {
            1.8
        } else {
            1.0
        };
        let side = if otm { 1.4 } else { 0.6 };
        let oi = (250_000.0 * bell * round * side * self.rng.range(0.8, 1.2) / (1.0 + 4.0 * years))
            .round();
        let volume = (oi * self.rng.range(0.5, 3.0)).round();
        // IV smile with a put skew.
        let iv =
            (atm_iv + 0.9 * log_m * log_m - 0.25 * log_m + self.rng.range(-0.003, 0.003)).max(0.03);
        // A rough premium: intrinsic plus time value.
        let intrinsic = if is_call {
            (spot - strike).max(0.0)
        } else {
            (strike - spot).max(0.0)
        };
        let time_value = 0.4
            * spot
            * iv
            * years.sqrt()
            * (-(log_m * log_m) / (2.0 * iv * iv * years.max(0.01))).exp();
        let price = (intrinsic + time_value).max(0.05);
        let spread = (0.002 + 0.5 * log_m.abs() + 0.05 / price.sqrt()).min(0.5);
        let tick = |p: f64| ((p / 0.05).round() * 0.05).max(0.05);
        let bid = tick(price * (1.0 - spread / 2.0));
        let ask = tick(price * (1.0 + spread / 2.0)).max(bid + 0.05);
        Quote {
            index: symbol.to_string(),
            strike,
            expiry,
            option_type,
            spot,
            open_interest: oi,
            volume,
            iv: Some(iv),
            bid: Some(bid),
            ask: Some(ask),
            spread_bps: None,
            moneyness: None,
            dte_days: None,
        }
    }
}

impl OptionChainProvider for SyntheticProvider {
    fn name(&self) -> &str {
        "synthetic"
    }

    fn source(&self) -> Source {
        Source::Synthetic
    }

    fn indices(&self) -> Vec<String> {
        INDICES.iter().map(|i| i.0.to_string()).collect()
    }

    fn fetch(&mut self) -> Result<Snapshot, ProviderError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        Ok(self.snapshot_at(now))
    }
}
