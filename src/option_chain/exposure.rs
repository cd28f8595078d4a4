//! Exposure analytics of a chain from per-contract Greeks (Black-Scholes at each
//! contract's IV, or at the IV solved from its mid when the provider gives none; see
//! [`super::pricing`]).
//!
//! Sign conventions (also in the README):
//! - **Net delta** = Σ OI·Δ over calls and puts: the delta option holders are long
//!   (calls add, puts subtract), in index units per contract multiplier.
//! - **Dealer gamma exposure (GEX)** = Σ_calls OI·Γ·S²·0.01 − Σ_puts OI·Γ·S²·0.01: the
//!   usual assumption that dealers are long the calls and short the puts customers
//!   trade; the change, in rupees, of dealers' delta as spot value (Δ·S) for a 1% move
//!   of the spot (OI·Γ·S·1% index units of delta, times S), per unit of open interest.
//!   Positive GEX: dealers hedge against the move (dampening); negative: with it.
//! - **Zero gamma (gamma flip)**: the spot at which total GEX, recomputed with every
//!   contract's IV held, changes sign, searched within ±10% of spot; none if it keeps
//!   its sign there.
//! - **25-delta risk reversal** = IV of the 25-delta call − IV of the 25-delta put;
//!   **butterfly** = their mean − ATM IV; IVs linear in delta between listed strikes.

use super::pricing::{self, Greeks, Priced, Rates};
use super::OptionType;

/// One contract's inputs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Contract {
    /// Strike.
    pub strike: f64,
    /// Call or put.
    pub kind: OptionType,
    /// Open interest.
    pub oi: f64,
    /// Implied volatility (a ratio).
    pub iv: f64,
    /// Its Greeks when already computed, with the spot they were computed at (used
    /// only at that spot).
    pub greeks: Option<(f64, Greeks)>,
}

impl Contract {
    /// The Greeks at `spot`: the ones computed already when at that spot.
    fn greeks_at(&self, spot: f64, years: f64, rates: Rates) -> Greeks {
        match self.greeks {
            Some((at, g)) if at == spot => g,
            _ => pricing::greeks(
                self.kind == OptionType::Call,
                spot,
                self.strike,
                years,
                self.iv,
                rates,
            ),
        }
    }
}

/// The IV and Greeks of a quote at `as_of` (Unix seconds): none without an IV (quoted,
/// or solved from the mid), at or past expiry, or when the Greeks are not finite.
pub fn priced(q: &super::Quote, as_of: i64, rates: Rates) -> Option<Priced> {
    let years = (q.expiry - as_of) as f64 / super::dates::DAY as f64 / 365.0;
    if years <= 0.0 {
        return None;
    }
    let iv = iv_of(q, years, rates)?;
    let greeks = pricing::greeks(
        q.option_type == OptionType::Call,
        q.spot,
        q.strike,
        years,
        iv,
        rates,
    );
    (greeks.delta.is_finite() && greeks.gamma.is_finite()).then_some(Priced { iv, greeks })
}

/// [`priced`] for every accepted row of a snapshot, worked out once and shared by the
/// chain analytics and the bus message (solving an IV costs more than the rest of a
/// contract's Greeks).
#[derive(Debug, Clone, PartialEq)]
pub struct PricedRows {
    /// The time they are priced at (Unix seconds).
    pub as_of: i64,
    /// One per row, in the order of the rows given.
    pub rows: Vec<Option<Priced>>,
}

impl PricedRows {
    /// Price `rows` (positions in `snapshot.rows`) at `as_of` with [`pricing::INDIA`].
    /// Each is what [`priced`] gives it (an IV solved from a guess agrees with one
    /// solved from nothing to 1e-10 of the price); the terms an expiry's contracts share are
    /// worked out once, and an IV solved from the mid starts from the ones solved for
    /// the strikes before it (see [`pricing::ExpiryTerms::implied_volatility_near`]).
    pub fn of(snapshot: &super::Snapshot, rows: &[u32], as_of: i64) -> Self {
        let rates = pricing::INDIA;
        // The expiry of the last row: (index, expiry, spot) and its terms. Rows of one
        // expiry come together, so this is worked out once per expiry.
        let mut group: Option<((&str, i64, f64), pricing::ExpiryTerms)> = None;
        // The IVs last solved from a mid in the group, calls and puts apart:
        // (strike, IV), the newer second.
        let mut solved: [[Option<(f64, f64)>; 2]; 2] = [[None; 2]; 2];
        let mut out = Vec::with_capacity(rows.len());
        for &r in rows {
            let Some(Ok(q)) = snapshot.rows.get(r as usize) else {
                out.push(None);
                continue;
            };
            let years = (q.expiry - as_of) as f64 / super::dates::DAY as f64 / 365.0;
            if years <= 0.0 {
                out.push(None);
                continue;
            }
            let key = (q.index.as_str(), q.expiry, q.spot);
            let terms = match &group {
                Some((k, t)) if *k == key => *t,
                _ => {
                    let t = pricing::ExpiryTerms::new(q.spot, years, rates);
                    group = Some((key, t));
                    solved = [[None; 2]; 2];
                    t
                }
            };
            let is_call = q.option_type == OptionType::Call;
            if let Some(iv) = q.iv.filter(|v| v.is_finite() && *v > 0.0) {
                out.push(finite(iv, terms.greeks(is_call, q.strike, iv)));
                continue;
            }
            let Some(mid) = mid(q) else {
                out.push(None);
                continue;
            };
            let last = &mut solved[usize::from(is_call)];
            // The next strike's IV, extrapolated along the smile from the last two.
            let guess = match *last {
                [Some((k0, v0)), Some((k1, v1))] if k1 != k0 => {
                    Some(v1 + (v1 - v0) * (q.strike - k1) / (k1 - k0))
                }
                [_, Some((_, v1))] => Some(v1),
                _ => None,
            };
            let found = guess
                .and_then(|g| terms.implied_volatility_near(is_call, mid, q.strike, g))
                .or_else(|| {
                    let iv = terms.implied_volatility(is_call, mid, q.strike)?;
                    Some((iv, terms.greeks(is_call, q.strike, iv)))
                });
            match found {
                Some((iv, greeks)) => {
                    *last = [last[1], Some((q.strike, iv))];
                    out.push(finite(iv, greeks));
                }
                None => out.push(None),
            }
        }
        PricedRows { as_of, rows: out }
    }
}

/// `iv` and `greeks`, unless the Greeks are not finite.
fn finite(iv: f64, greeks: Greeks) -> Option<Priced> {
    (greeks.delta.is_finite() && greeks.gamma.is_finite()).then_some(Priced { iv, greeks })
}

/// The mid of a quote whose bid and ask are both positive and in order.
fn mid(q: &super::Quote) -> Option<f64> {
    let (bid, ask) = (q.bid?, q.ask?);
    (bid > 0.0 && ask >= bid).then_some((bid + ask) / 2.0)
}

/// What one expiry gives.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Exposure {
    /// Σ OI·Δ.
    pub net_delta: f64,
    /// Dealer GEX, total.
    pub gex: f64,
    /// Dealer GEX by moneyness bucket of the contract (the `mny` label order).
    pub gex_by_mny: [f64; 5],
}

/// The IV of a quote: its own, else the one solved from its mid (bid and ask both
/// positive), else none.
pub fn iv_of(q: &super::Quote, years: f64, rates: Rates) -> Option<f64> {
    if let Some(iv) = q.iv.filter(|v| v.is_finite() && *v > 0.0) {
        return Some(iv);
    }
    pricing::implied_volatility(
        q.option_type == OptionType::Call,
        mid(q)?,
        q.spot,
        q.strike,
        years,
        rates,
    )
}

fn dealer_sign(kind: OptionType) -> f64 {
    match kind {
        OptionType::Call => 1.0,
        OptionType::Put => -1.0,
    }
}

/// Net delta and dealer GEX of one expiry's contracts at `spot`, `years` to expiry.
pub fn exposure(contracts: &[Contract], spot: f64, years: f64, rates: Rates) -> Exposure {
    let mut out = Exposure::default();
    if years <= 0.0 || spot <= 0.0 {
        return out;
    }
    for c in contracts {
        // No open interest, no exposure (and no Greeks to compute: the gamma-flip search
        // calls this some fifty times a snapshot).
        if c.oi <= 0.0 {
            continue;
        }
        let is_call = c.kind == OptionType::Call;
        let g = c.greeks_at(spot, years, rates);
        if !(g.delta.is_finite() && g.gamma.is_finite()) {
            continue;
        }
        out.net_delta += c.oi * g.delta;
        let gex = dealer_sign(c.kind) * c.oi * g.gamma * spot * spot * 0.01;
        out.gex += gex;
        let m = super::buckets::mny_bucket(super::buckets::moneyness(is_call, c.strike, spot));
        out.gex_by_mny[m.index()] += gex;
    }
    out
}

/// Total dealer GEX of several expiries (each `(years, contracts)`) at `spot`.
pub fn total_gex(expiries: &[(f64, Vec<Contract>)], spot: f64, rates: Rates) -> f64 {
    expiries
        .iter()
        .map(|(years, cs)| exposure(cs, spot, *years, rates).gex)
        .sum()
}

/// One contract's dealer GEX as a function of the spot `s`, with everything that does
/// not depend on `s` worked out once: GEX(s) = s · `weight` · φ(d1), d1 = (ln s −
/// `ln_strike` + `drift`) / `sd`. The same formula as [`exposure`] (gamma =
/// e^{−qT}φ(d1)/(sσ√T), times ±OI·s²·0.01); the gamma-flip search evaluates the chain
/// some forty times, and this is a fifth of the full Greeks' cost.
struct GexTerm {
    ln_strike: f64,
    drift: f64,
    sd: f64,
    weight: f64,
}

impl GexTerm {
    fn of(c: &Contract, years: f64, rates: Rates) -> Option<Self> {
        let sd = c.iv * years.sqrt();
        let term = GexTerm {
            ln_strike: c.strike.ln(),
            drift: (rates.rate - rates.dividend + 0.5 * c.iv * c.iv) * years,
            sd,
            weight: dealer_sign(c.kind) * c.oi * (-rates.dividend * years).exp() * 0.01
                / (sd * (2.0 * std::f64::consts::PI).sqrt()),
        };
        (c.oi > 0.0
            && c.strike > 0.0
            && sd > 0.0
            && term.weight.is_finite()
            && term.drift.is_finite())
        .then_some(term)
    }
}

/// Total GEX of `terms` at spot `s`.
fn gex_at(terms: &[GexTerm], s: f64) -> f64 {
    let ln_s = s.ln();
    let sum: f64 = terms
        .iter()
        .map(|t| {
            let d1 = (ln_s - t.ln_strike + t.drift) / t.sd;
            t.weight * (-0.5 * d1 * d1).exp()
        })
        .sum();
    s * sum
}

/// The spot within ±10% of `spot` at which total GEX changes sign (nearest to `spot`
/// when it does more than once; the lower one of two as near), by a grid of 1% steps
/// searched outward from `spot`, then bisection to a billionth of the spot.
pub fn zero_gamma(expiries: &[(f64, Vec<Contract>)], spot: f64, rates: Rates) -> Option<f64> {
    if !spot.is_finite() || spot <= 0.0 {
        return None;
    }
    let terms: Vec<GexTerm> = expiries
        .iter()
        .filter(|(years, _)| *years > 0.0)
        .flat_map(|(years, cs)| cs.iter().filter_map(|c| GexTerm::of(c, *years, rates)))
        .collect();
    let at = |i: i32| {
        let s = spot * (1.0 + f64::from(i) / 100.0);
        (s, gex_at(&terms, s))
    };
    // A bracket [lo, hi] with a sign change, or an exact zero at a grid point.
    let changes = |(s0, g0): (f64, f64), (s1, g1): (f64, f64)| {
        if g0 == 0.0 {
            Some(Err(s0))
        } else if g1 != 0.0 && g0.signum() != g1.signum() {
            Some(Ok(((s0, g0), (s1, g1))))
        } else {
            None
        }
    };
    let centre = at(0);
    if centre.1 == 0.0 {
        return Some(spot);
    }
    let (mut below, mut above) = (centre, centre);
    let mut found = None;
    for i in 1..=10 {
        let (down, up) = (at(-i), at(i));
        // Below first: of two brackets as near, the lower one.
        found = changes(down, below).or_else(|| changes(up, above).map(|r| r.map(|(a, b)| (b, a))));
        if found.is_some() {
            break;
        }
        (below, above) = (down, up);
    }
    // The bracket is ordered: (lower, higher).
    let ((mut lo, mut glo), (mut hi, _)) = match found? {
        Ok(bracket) => bracket,
        Err(zero) => return Some(zero),
    };
    while hi - lo > spot * 1e-9 {
        let mid = (lo + hi) / 2.0;
        let g = gex_at(&terms, mid);
        if g == 0.0 {
            return Some(mid);
        }
        if g.signum() == glo.signum() {
            lo = mid;
            glo = g;
        } else {
            hi = mid;
        }
    }
    Some((lo + hi) / 2.0)
}

/// 25-delta risk reversal and butterfly of one expiry: `None` when the calls or puts
/// do not reach 25 delta on both sides, or the calls the 50-delta point. The
/// butterfly's at-the-money IV is the delta-neutral straddle's (the call at half its
/// carry-discounted delta, d₁ = 0, a strike just above the forward), as wings quoted
/// by delta are: the IV at the spot sits on the put side of the smile for a longer
/// expiry (the forward is above the spot) and turns a convex smile's butterfly
/// negative.
pub fn risk_reversal_and_butterfly(
    contracts: &[Contract],
    spot: f64,
    years: f64,
    rates: Rates,
) -> Option<(f64, f64)> {
    let iv_at = |kind: OptionType, target: f64| -> Option<f64> {
        let mut points: Vec<(f64, f64)> = contracts
            .iter()
            .filter(|c| c.kind == kind)
            .map(|c| (c.greeks_at(spot, years, rates).delta, c.iv))
            .filter(|(d, _)| d.is_finite())
            .collect();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        points.windows(2).find_map(|w| {
            let ((d0, v0), (d1, v1)) = (w[0], w[1]);
            (d0 <= target && target <= d1 && d1 > d0)
                .then(|| v0 + (v1 - v0) * (target - d0) / (d1 - d0))
        })
    };
    let call = iv_at(OptionType::Call, 0.25)?;
    let put = iv_at(OptionType::Put, -0.25)?;
    let straddle = iv_at(OptionType::Call, 0.5 * (-rates.dividend * years).exp())?;
    Some((call - put, (call + put) / 2.0 - straddle))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::option_chain::pricing::INDIA;

    fn c(strike: f64, kind: OptionType, oi: f64, iv: f64) -> Contract {
        Contract {
            strike,
            kind,
            oi,
            iv,
            greeks: None,
        }
    }

    /// A fixture small enough to check by hand: one call and one put at 100, spot 100,
    /// 73 days (0.2 years), IV 20%, no rates. d1 = 0.5·0.2·√0.2 / ... see below.
    #[test]
    fn net_delta_and_gex_equal_a_hand_computation() {
        let none = Rates {
            rate: 0.0,
            dividend: 0.0,
        };
        let (s, t, v): (f64, f64, f64) = (100.0, 0.2, 0.2);
        // d1 = (ln 1 + v²t/2) / (v√t) = 0.004 / 0.0894427 = 0.0447214.
        let d1: f64 = 0.004 / (0.2 * 0.2f64.sqrt());
        let n_d1 = pricing::norm_cdf(d1);
        let gamma = pricing::norm_pdf(d1) / (s * v * t.sqrt());
        let chain = [
            c(100.0, OptionType::Call, 1_000.0, v),
            c(100.0, OptionType::Put, 3_000.0, v),
        ];
        let e = exposure(&chain, s, t, none);
        // Calls 1,000 at Δ = N(d1), puts 3,000 at Δ = N(d1) − 1.
        let want_delta = 1_000.0 * n_d1 + 3_000.0 * (n_d1 - 1.0);
        assert!(
            (e.net_delta - want_delta).abs() < 1e-9,
            "{} vs {want_delta}",
            e.net_delta
        );
        // Dealers long 1,000 calls and short 3,000 puts of the same gamma.
        let want_gex = (1_000.0 - 3_000.0) * gamma * s * s * 0.01;
        assert!((e.gex - want_gex).abs() < 1e-9, "{} vs {want_gex}", e.gex);
        assert!(
            (e.gex_by_mny[2] - want_gex).abs() < 1e-9,
            "all at the money"
        );
    }

    #[test]
    fn the_gamma_flip_is_where_call_and_put_gamma_balance() {
        // Calls at 110 and puts at 90 of equal OI and IV: by symmetry in log-strike
        // GEX is zero near the geometric middle, about 99.5.
        let none = Rates {
            rate: 0.0,
            dividend: 0.0,
        };
        let chain = vec![(
            30.0 / 365.0,
            vec![
                c(110.0, OptionType::Call, 1_000.0, 0.2),
                c(90.0, OptionType::Put, 1_000.0, 0.2),
            ],
        )];
        let z = zero_gamma(&chain, 100.0, none).unwrap();
        assert!(
            total_gex(&chain, z, none).abs() < 1e-6 * total_gex(&chain, 105.0, none).abs(),
            "GEX at the flip {z}"
        );
        assert!((95.0..105.0).contains(&z), "{z}");
        // Calls above the flip dominate: positive GEX at 105, negative at 95.
        assert!(total_gex(&chain, 105.0, none) > 0.0);
        assert!(total_gex(&chain, 95.0, none) < 0.0);
        // Only calls: GEX never changes sign.
        let calls = vec![(30.0 / 365.0, vec![c(100.0, OptionType::Call, 1.0, 0.2)])];
        assert_eq!(zero_gamma(&calls, 100.0, none), None);
    }

    #[test]
    fn the_flip_search_prices_gex_as_the_full_greeks_do() {
        let t = 20.0 / 365.0;
        let chain: Vec<Contract> = (0..40)
            .flat_map(|i| {
                let k = 22_000.0 + 100.0 * f64::from(i);
                let iv = 0.12 + 0.002 * (f64::from(i) - 20.0).abs();
                [
                    c(k, OptionType::Call, 1_000.0 + 37.0 * f64::from(i), iv),
                    c(k, OptionType::Put, 2_500.0 - 41.0 * f64::from(i), iv),
                ]
            })
            .collect();
        let terms: Vec<GexTerm> = chain
            .iter()
            .filter_map(|x| GexTerm::of(x, t, INDIA))
            .collect();
        assert_eq!(terms.len(), chain.len());
        for s in [21_500.0, 23_000.0, 24_000.0, 25_900.0] {
            let full = exposure(&chain, s, t, INDIA).gex;
            let fast = gex_at(&terms, s);
            assert!(
                (fast - full).abs() <= 1e-12 * full.abs().max(1.0),
                "{s}: {fast} vs {full}"
            );
        }
    }

    #[test]
    fn of_two_gamma_flips_the_one_nearer_the_spot_is_reported() {
        // Puts at 92 and 108 around calls at 100: GEX is negative near 92, positive
        // near 100, negative near 108, so it changes sign twice. From a spot of 102 the
        // upper flip is the nearer.
        let none = Rates {
            rate: 0.0,
            dividend: 0.0,
        };
        let chain = vec![(
            30.0 / 365.0,
            vec![
                c(92.0, OptionType::Put, 1_000.0, 0.1),
                c(100.0, OptionType::Call, 1_000.0, 0.1),
                c(108.0, OptionType::Put, 1_000.0, 0.1),
            ],
        )];
        assert!(total_gex(&chain, 92.0, none) < 0.0);
        assert!(total_gex(&chain, 100.0, none) > 0.0);
        assert!(total_gex(&chain, 108.0, none) < 0.0);
        let z = zero_gamma(&chain, 102.0, none).unwrap();
        assert!((100.0..108.0).contains(&z), "{z}");
        assert!(total_gex(&chain, z, none).abs() < 1e-6 * total_gex(&chain, 100.0, none));
        // From 98 the lower one.
        let z = zero_gamma(&chain, 98.0, none).unwrap();
        assert!((92.0..100.0).contains(&z), "{z}");
    }

    #[test]
    fn a_flat_smile_has_no_risk_reversal_or_butterfly_and_a_skew_has_a_negative_one() {
        let t = 30.0 / 365.0;
        let strikes: Vec<f64> = (80..=120).map(f64::from).collect();
        let flat: Vec<Contract> = strikes
            .iter()
            .flat_map(|&k| {
                [
                    c(k, OptionType::Call, 1.0, 0.2),
                    c(k, OptionType::Put, 1.0, 0.2),
                ]
            })
            .collect();
        let (rr, bf) = risk_reversal_and_butterfly(&flat, 100.0, t, INDIA).unwrap();
        assert!(rr.abs() < 1e-12 && bf.abs() < 1e-12, "{rr} {bf}");
        // IV falling with strike (a put skew): puts richer than calls.
        let skewed: Vec<Contract> = strikes
            .iter()
            .flat_map(|&k| {
                let iv = 0.2 - 0.002 * (k - 100.0);
                [
                    c(k, OptionType::Call, 1.0, iv),
                    c(k, OptionType::Put, 1.0, iv),
                ]
            })
            .collect();
        let (rr, _) = risk_reversal_and_butterfly(&skewed, 100.0, t, INDIA).unwrap();
        assert!(rr < 0.0, "{rr}");
    }

    #[test]
    fn a_convex_skewed_smile_a_year_out_has_a_positive_butterfly() {
        // A put skew with curvature, one year out: the forward is 5.3% above the
        // spot, so the IV at the spot is on the expensive put side; the butterfly is
        // measured against the delta-neutral straddle and stays positive.
        let t = 1.0;
        let chain: Vec<Contract> = (50..=200)
            .flat_map(|k| {
                let x = f64::from(k) / 100.0 - 1.0;
                let iv = 0.2 - 0.15 * x + 0.1 * x * x;
                [
                    c(f64::from(k), OptionType::Call, 1.0, iv),
                    c(f64::from(k), OptionType::Put, 1.0, iv),
                ]
            })
            .collect();
        let (rr, bf) = risk_reversal_and_butterfly(&chain, 100.0, t, INDIA).unwrap();
        assert!(rr < 0.0, "risk reversal {rr}");
        assert!(bf > 0.0, "butterfly {bf}");
    }

    /// The synthetic market's snapshot with every IV taken away: each row's IV must be
    /// solved from its mid.
    fn without_ivs() -> (super::super::Snapshot, i64) {
        use crate::option_chain::providers::synthetic::SyntheticProvider;
        // 10:00 IST on a Wednesday (2026-12-09): the market is open.
        let as_of = 1_796_790_600;
        let mut snapshot = SyntheticProvider::new(11).snapshot_at(as_of);
        for q in snapshot.rows.iter_mut().flatten() {
            q.iv = None;
        }
        (snapshot, as_of)
    }

    #[test]
    fn priced_rows_solved_from_neighbouring_strikes_equal_each_row_solved_alone() {
        let (snapshot, as_of) = without_ivs();
        let rows: Vec<u32> = (0..snapshot.rows.len() as u32).collect();
        let all = PricedRows::of(&snapshot, &rows, as_of);
        assert_eq!(all.rows.len(), rows.len());
        let mut solved = 0;
        for (n, q) in snapshot.rows.iter().enumerate() {
            let q = q.as_ref().unwrap();
            let alone = priced(q, as_of, INDIA);
            let Some(alone) = alone else {
                assert_eq!(all.rows[n], None, "row {n}: priced together but not alone");
                continue;
            };
            let together = all.rows[n].unwrap_or_else(|| panic!("row {n}: priced alone only"));
            solved += 1;
            let close = |a: f64, b: f64, what: &str| {
                assert!(
                    (a - b).abs() <= 1e-7 * a.abs().max(b.abs()).max(1e-6),
                    "row {n} {} {} {:?}: {what} {a} alone, {b} together",
                    q.index,
                    q.strike,
                    q.option_type
                );
            };
            close(alone.iv, together.iv, "IV");
            close(alone.greeks.delta, together.greeks.delta, "delta");
            close(alone.greeks.gamma, together.greeks.gamma, "gamma");
            close(alone.greeks.vega, together.greeks.vega, "vega");
            close(alone.greeks.theta, together.greeks.theta, "theta");
            // And the IV gives back the mid.
            let years = (q.expiry - as_of) as f64 / super::super::dates::DAY as f64 / 365.0;
            let is_call = q.option_type == OptionType::Call;
            let mid = (q.bid.unwrap() + q.ask.unwrap()) / 2.0;
            let again = pricing::price(is_call, q.spot, q.strike, years, together.iv, INDIA);
            assert!(
                ((again - mid) / mid).abs() < 1e-8,
                "row {n}: {mid} -> {again}"
            );
        }
        assert!(
            solved * 10 >= rows.len() * 9,
            "solved {solved} of {}",
            rows.len()
        );
    }

    #[test]
    fn in_the_money_ivs_from_a_guess_are_exact_and_carry_the_greeks_of_the_option_asked_about() {
        let years = 20.0 / 365.0;
        let terms = pricing::ExpiryTerms::new(24_000.0, years, INDIA);
        // Calls below the spot and puts above it: solved on the other side by parity.
        for (is_call, strike, vol) in [
            (true, 23_000.0, 0.17),
            (true, 22_000.0, 0.21),
            (false, 25_000.0, 0.13),
            (false, 26_500.0, 0.16),
        ] {
            let p = pricing::price(is_call, 24_000.0, strike, years, vol, INDIA);
            let (iv, g) = terms
                .implied_volatility_near(is_call, p, strike, vol * 1.03)
                .unwrap_or_else(|| panic!("{strike}: no IV from a guess 3% off"));
            assert!((iv - vol).abs() < 1e-8, "{strike}: {iv} vs {vol}");
            let want = pricing::greeks(is_call, 24_000.0, strike, years, iv, INDIA);
            for (what, a, b) in [
                ("delta", g.delta, want.delta),
                ("gamma", g.gamma, want.gamma),
                ("vega", g.vega, want.vega),
                ("theta", g.theta, want.theta),
            ] {
                assert!(
                    (a - b).abs() <= 1e-9 * b.abs().max(1e-9),
                    "{strike} {what}: {a} vs {b}"
                );
            }
        }
        // A spot that is not a price: no IV, no panic in the solver.
        for spot in [f64::NAN, -24_000.0, 0.0] {
            let bad = pricing::ExpiryTerms::new(spot, years, INDIA);
            assert_eq!(bad.implied_volatility(false, 100.0, 24_000.0), None);
            assert_eq!(
                bad.implied_volatility_near(false, 100.0, 24_000.0, 0.15),
                None
            );
        }
    }

    #[test]
    fn a_guess_far_off_or_in_a_flat_wing_gives_up_instead_of_a_wrong_iv() {
        let terms = pricing::ExpiryTerms::new(24_000.0, 10.0 / 365.0, INDIA);
        let p = pricing::price(true, 24_000.0, 24_500.0, 10.0 / 365.0, 0.15, INDIA);
        let (iv, _) = terms
            .implied_volatility_near(true, p, 24_500.0, 0.149)
            .unwrap();
        assert!((iv - 0.15).abs() < 1e-9, "{iv}");
        // From 5 vol points away it still lands on the same IV or gives up.
        if let Some((iv, _)) = terms.implied_volatility_near(true, p, 24_500.0, 0.20) {
            assert!((iv - 0.15).abs() < 1e-9, "{iv}");
        }
        // A strike so far out the price barely moves with volatility: no answer.
        let far = pricing::price(true, 24_000.0, 40_000.0, 10.0 / 365.0, 0.15, INDIA);
        assert_eq!(
            terms.implied_volatility_near(true, far.max(1e-300), 40_000.0, 0.5),
            None
        );
        // Under the intrinsic value: no answer.
        assert_eq!(
            terms.implied_volatility_near(false, 1.0, 26_000.0, 0.15),
            None
        );
    }
}
