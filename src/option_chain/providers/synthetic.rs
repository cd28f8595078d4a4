//! `synthetic[:SEED]`: a market model, not noise, for previews, demos and tests.
//!
//! - Each index follows geometric Brownian motion with its own volatility, moving only
//!   in NSE's session (09:15-15:30 IST, weekdays) and flat outside it; a volatility
//!   level mean-reverts and moves against the spot (the leverage effect).
//! - Each expiry has an arbitrage-free smile (SSVI, see [`crate::option_chain::market`])
//!   with a put skew, on an upward ATM term structure.
//! - Every quote is the Black-Scholes price at its own smile IV (on the spot, calendar
//!   days to the 15:30 IST expiry over 365, the rates of [`pricing::INDIA`]), with a
//!   bid/ask around it on the 0.05 tick that widens away from the money and with time
//!   to expiry: the displayed IV prices inside the displayed spread.
//! - Open interest moves towards a profile (a bell around the money, heavier out of
//!   the money, bumps at round strikes) by at most 1% a trading minute; volume only
//!   grows within a session and starts again at the next. Strikes are listed as the
//!   spot moves the window, expiries as the calendar rolls; a contract listed after
//!   the start begins with no open interest.
//! - Expiries are NSE's: listed from the expiry calendar in force
//!   ([`crate::option_chain::calendar`]: per-index weekday rules, holidays).
//!
//! Random numbers come from ChaCha8 (`rand_chacha`) seeded with the seed, in a fixed
//! order, so the same seed and snapshot times give the same data. Every series it feeds
//! carries `source="synthetic"`.

use crate::labels::Source;
use crate::option_chain::calendar::{self, Calendar};
use crate::option_chain::dates::DAY;
use crate::option_chain::market::{atm_vol, Session, Ssvi, TRADING_SECONDS_PER_YEAR};
use crate::option_chain::pricing::{self, INDIA};
use crate::option_chain::{OptionChainProvider, OptionType, ProviderError, Quote, Snapshot};
use rand::{Rng as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Seed used when none is given.
pub const DEFAULT_SEED: u64 = 6;

/// One index of the model.
struct IndexModel {
    symbol: &'static str,
    start_spot: f64,
    step: f64,
    /// Annual volatility of the spot, and the ATM implied volatility level.
    vol: f64,
    smile: Ssvi,
}

const INDICES: &[IndexModel] = &[
    IndexModel {
        symbol: "NIFTY",
        start_spot: 24_000.0,
        step: 50.0,
        vol: 0.13,
        smile: Ssvi {
            rho: -0.35,
            eta: 1.0,
            gamma: 0.4,
        },
    },
    IndexModel {
        symbol: "BANKNIFTY",
        start_spot: 52_000.0,
        step: 100.0,
        vol: 0.16,
        smile: Ssvi {
            rho: -0.30,
            eta: 1.1,
            gamma: 0.4,
        },
    },
    IndexModel {
        symbol: "FINNIFTY",
        start_spot: 23_500.0,
        step: 50.0,
        vol: 0.15,
        smile: Ssvi {
            rho: -0.30,
            eta: 1.0,
            gamma: 0.4,
        },
    },
];

/// Strikes listed each side of the money, every step.
const STRIKES_EACH_SIDE: i64 = 40;

/// Most a contract's open interest moves in a trading minute, as a share of it.
pub const MAX_OI_CHANGE_PER_MINUTE: f64 = 0.01;

/// Mean reversion (per year of trading) and volatility of the volatility level, and
/// its correlation with the spot.
const LEVEL_REVERSION: f64 = 20.0;
const LEVEL_VOL: f64 = 0.6;
const SPOT_LEVEL_CORRELATION: f64 = -0.7;

/// The tick NSE quotes option premiums on.
const TICK: f64 = 0.05;

/// Strike offsets in steps around `atm_steps`: every step near the money, every 10
/// steps out to +-30% of spot, so deep in- and out-of-the-money buckets are populated.
fn strike_window(spot: f64, step: f64) -> Vec<i64> {
    let atm = (spot / step).round() as i64;
    let far = (0.3 * spot / step) as i64;
    let mut v: Vec<i64> = (-STRIKES_EACH_SIDE..=STRIKES_EACH_SIDE)
        .map(|k| atm + k)
        .collect();
    let mut k = (STRIKES_EACH_SIDE / 10 + 1) * 10;
    while k <= far {
        // Round strikes: multiples of 10 steps.
        v.push((atm + k).div_euclid(10) * 10);
        v.push((atm - k).div_euclid(10) * 10);
        k += 10;
    }
    v.retain(|s| *s > 0);
    v
}

/// Open interest and volume of one contract.
#[derive(Debug, Clone, Copy, Default)]
struct Leg {
    oi: f64,
    volume: f64,
}

/// The listed contracts of one expiry: strike (in steps) to call and put legs.
type Listing = BTreeMap<i64, [Leg; 2]>;

#[derive(Debug, Clone)]
struct IndexState {
    spot: f64,
    /// Multiplies the ATM volatility; mean-reverts to 1.
    level: f64,
    expiries: BTreeMap<i64, Listing>,
}

/// The synthetic provider.
#[derive(Debug, Clone)]
pub struct SyntheticProvider {
    rng: ChaCha8Rng,
    session: Session,
    states: Vec<IndexState>,
    /// The last snapshot time and its volume day, once there is one.
    last: Option<(i64, i64)>,
    /// Trading seconds each snapshot moves the market by at least (fast mode).
    min_step: i64,
    /// What expiries each index lists.
    calendar: Arc<Calendar>,
}

impl SyntheticProvider {
    /// A provider whose data is fully determined by `seed` and the snapshot times,
    /// moving in NSE's session.
    pub fn new(seed: u64) -> Self {
        SyntheticProvider {
            rng: ChaCha8Rng::seed_from_u64(seed),
            session: Session::Nse,
            states: INDICES
                .iter()
                .map(|m| IndexState {
                    spot: m.start_spot,
                    level: 1.0,
                    expiries: BTreeMap::new(),
                })
                .collect(),
            last: None,
            min_step: 0,
            calendar: calendar::current(),
        }
    }

    /// List expiries from `calendar` instead of the one in force.
    pub fn with_calendar(mut self, calendar: Arc<Calendar>) -> Self {
        self.calendar = calendar;
        self
    }

    /// Move at every hour, not only in NSE's session (tests and demos that need
    /// movement whenever they run).
    pub fn always_open(mut self) -> Self {
        self.session = Session::AlwaysOpen;
        self
    }

    /// Always open, and every snapshot moves the market by at least a trading minute
    /// however soon it follows the last (`synthetic:SEED:fast`: demos and tests that
    /// run cycles faster than a market moves). The as-of time stays the wall clock's.
    pub fn fast(mut self) -> Self {
        self.session = Session::AlwaysOpen;
        self.min_step = 60;
        self
    }

    /// The chain as of `as_of` (Unix seconds). Successive calls move the market by the
    /// trading time between them.
    pub fn snapshot_at(&mut self, as_of: i64) -> Snapshot {
        let (trading, new_day, cold) = match self.last {
            None => (0, false, true),
            Some((t, day)) => (
                self.session.trading_seconds(t, as_of).max(self.min_step),
                self.session.volume_day(as_of) != day,
                false,
            ),
        };
        let minutes = trading as f64 / 60.0;
        // A new session's volume counts only its own trading.
        let volume_minutes = match self.last {
            Some((t, _)) if new_day => {
                self.session
                    .trading_seconds(t.max(self.session.day_start(as_of)), as_of)
                    as f64
                    / 60.0
            }
            _ => minutes,
        };
        self.last = Some((as_of, self.session.volume_day(as_of)));
        // Priced on the market's clock: while it is shut, every quote stays what it
        // was at the close (a real chain does not decay over a weekend).
        let priced_at = self.session.market_time(as_of);
        let mut rows = Vec::new();
        for (i, model) in INDICES.iter().enumerate() {
            if cold {
                // Where the seed's market starts: within about half a percent of the
                // model's reference level.
                let z: f64 = self.rng.sample(StandardNormal);
                self.states[i].spot = model.start_spot * (0.005 * z).exp();
            }
            self.evolve(i, trading as f64);
            self.list(i, as_of, cold, new_day, minutes, volume_minutes);
            let state = &self.states[i];
            for (&expiry, listing) in &state.expiries {
                let years = (expiry - priced_at) as f64 / DAY as f64 / 365.0;
                let f = pricing::forward(state.spot, years, INDIA);
                let theta = atm_vol(model.vol * state.level, years).powi(2) * years;
                for (&steps, legs) in listing {
                    let strike = steps as f64 * model.step;
                    let iv = model.smile.vol((strike / f).ln(), theta, years);
                    for (leg, option_type) in legs.iter().zip([OptionType::Call, OptionType::Put]) {
                        rows.push(Ok(quote(
                            model.symbol,
                            state.spot,
                            strike,
                            expiry,
                            option_type,
                            years,
                            iv,
                            leg,
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

    /// Move index `i`'s spot and volatility level over `trading` seconds.
    fn evolve(&mut self, i: usize, trading: f64) {
        if trading <= 0.0 {
            return;
        }
        let dt = trading / TRADING_SECONDS_PER_YEAR;
        let z1: f64 = self.rng.sample(StandardNormal);
        let z2: f64 = self.rng.sample(StandardNormal);
        let state = &mut self.states[i];
        let vol = INDICES[i].vol * state.level;
        state.spot *= (-0.5 * vol * vol * dt + vol * dt.sqrt() * z1).exp();
        let shock = SPOT_LEVEL_CORRELATION * z1
            + (1.0 - SPOT_LEVEL_CORRELATION * SPOT_LEVEL_CORRELATION).sqrt() * z2;
        state.level = (1.0
            + (state.level - 1.0) * (-LEVEL_REVERSION * dt).exp()
            + LEVEL_VOL * dt.sqrt() * shock)
            .clamp(0.7, 1.6);
    }

    /// List what the calendar and the spot call for, drop what expired, and move open
    /// interest and volume over `minutes` of trading.
    fn list(
        &mut self,
        i: usize,
        as_of: i64,
        cold: bool,
        new_day: bool,
        minutes: f64,
        volume_minutes: f64,
    ) {
        let model = &INDICES[i];
        let expiries = self.calendar.listing(model.symbol, as_of);
        let spot = self.states[i].spot;
        let window = strike_window(spot, model.step);
        let atm = (spot / model.step).round() as i64;
        let state = &mut self.states[i];
        state.expiries.retain(|e, _| *e > as_of);
        for &expiry in &expiries {
            let years = (expiry - as_of) as f64 / DAY as f64 / 365.0;
            let listing = state.expiries.entry(expiry).or_default();
            for &steps in &window {
                if listing.contains_key(&steps) {
                    continue;
                }
                // The market existed before the model's first snapshot: its open
                // interest is the profile with some dispersion; later listings start
                // empty.
                let (uc, up): (f64, f64) = if cold {
                    (self.rng.random(), self.rng.random())
                } else {
                    (0.0, 0.0)
                };
                listing.entry(steps).or_insert_with(|| {
                    if cold {
                        let p = [
                            profile(steps - atm, steps, true, years) * (0.8 + 0.4 * uc),
                            profile(steps - atm, steps, false, years) * (0.8 + 0.4 * up),
                        ];
                        [
                            Leg {
                                oi: p[0].round(),
                                volume: (p[0] * 1.5).round(),
                            },
                            Leg {
                                oi: p[1].round(),
                                volume: (p[1] * 1.5).round(),
                            },
                        ]
                    } else {
                        [Leg::default(); 2]
                    }
                });
            }
        }
        if new_day {
            for listing in state.expiries.values_mut() {
                for legs in listing.values_mut() {
                    for leg in legs {
                        leg.volume = 0.0;
                    }
                }
            }
        }
        if minutes <= 0.0 {
            return;
        }
        let rng = &mut self.rng;
        for (&expiry, listing) in &mut state.expiries {
            let years = (expiry - as_of) as f64 / DAY as f64 / 365.0;
            for (&steps, legs) in listing.iter_mut() {
                for (leg, is_call) in legs.iter_mut().zip([true, false]) {
                    let target = profile(steps - atm, steps, is_call, years);
                    let noise: f64 = rng.sample(StandardNormal);
                    // Towards the profile over about an hour, with noise; at most 1% of
                    // the open interest (or of 1,000 contracts) a minute.
                    let bound = MAX_OI_CHANGE_PER_MINUTE * minutes * leg.oi.max(1_000.0);
                    let drift = (target - leg.oi) * (minutes / 60.0).min(1.0);
                    let jitter = noise * 0.002 * leg.oi.max(1_000.0) * minutes.sqrt();
                    let change = (drift + jitter).clamp(-bound, bound);
                    leg.oi = (leg.oi + change).max(0.0).round();
                    // Volume: a turnover of about 1.5 times the profile a session.
                    let u: f64 = rng.random();
                    leg.volume += (target * 1.5 * volume_minutes / 375.0 * (0.5 + u)).round();
                }
            }
        }
    }
}

/// The open-interest profile of a contract `offset` steps from the money (strike
/// `steps` steps): a bell, heavier out of the money, bumps at round strikes, less far
/// from expiry.
fn profile(offset: i64, steps: i64, is_call: bool, years: f64) -> f64 {
    let otm = if is_call { offset > 0 } else { offset < 0 };
    let bell = (-((offset as f64) / 12.0).powi(2) / 2.0).exp();
    let round = if steps % 10 == 0 { 1.8 } else { 1.0 };
    let side = if otm { 1.4 } else { 0.6 };
    250_000.0 * bell * round * side / (1.0 + 4.0 * years)
}

#[allow(clippy::too_many_arguments)]
fn quote(
    symbol: &str,
    spot: f64,
    strike: f64,
    expiry: i64,
    option_type: OptionType,
    years: f64,
    iv: f64,
    leg: &Leg,
) -> Quote {
    let is_call = option_type == OptionType::Call;
    let price = pricing::price(is_call, spot, strike, years, iv, INDIA);
    // Wider away from the money and for longer expiries; never under a tick a side.
    let log_m = (strike / spot).ln().abs();
    let half = (price * (0.002 + 0.02 * log_m + 0.004 * years)).max(TICK);
    let bid = (((price - half) / TICK).floor() * TICK).max(0.0);
    let ask = ((price + half) / TICK).ceil() * TICK;
    Quote {
        index: symbol.to_string(),
        strike,
        expiry,
        option_type,
        spot,
        open_interest: leg.oi,
        volume: leg.volume,
        iv: Some(iv),
        bid: Some(round_tick(bid)),
        ask: Some(round_tick(ask)),
        spread_bps: None,
        moneyness: None,
        dte_days: None,
    }
}

/// A tick multiple without the float residue of the division (2932.5500000001).
fn round_tick(p: f64) -> f64 {
    (p * 100.0).round() / 100.0
}

impl OptionChainProvider for SyntheticProvider {
    fn name(&self) -> &str {
        "synthetic"
    }

    fn source(&self) -> Source {
        Source::Synthetic
    }

    fn indices(&self) -> Vec<String> {
        INDICES.iter().map(|i| i.symbol.to_string()).collect()
    }

    fn session(&self) -> Session {
        self.session
    }

    fn fetch(&mut self) -> Result<Snapshot, ProviderError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        Ok(self.snapshot_at(now))
    }
}
