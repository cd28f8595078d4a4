//! Chain analytics of one expiry: put-call ratios, max pain, ATM implied volatility,
//! the 5% skew, and the open-interest totals. Pure functions of the accepted
//! contracts; the runner publishes them per (index, days-to-expiry bucket) for every
//! snapshot, live and replayed. Formulas (also in the README):
//!
//! - PCR by OI = Σ put OI / Σ call OI; by volume likewise. None without call OI
//!   (volume).
//! - Max pain = the strike S (among the expiry's strikes) minimising the payout to
//!   holders at expiry, Σ_calls OI·max(S − K, 0) + Σ_puts OI·max(K − S, 0); the lowest
//!   such strike on a tie. None without open interest.
//! - ATM IV = the IV at spot, linear in strike between the two strikes around spot
//!   (each strike's IV the mean of its legs' IVs); the nearest strike's IV when spot is
//!   outside the strikes. None without any IV.
//! - Skew = put IV at 0.95·spot − call IV at 1.05·spot, each linear in strike among
//!   that leg's strikes; None when either point is outside that leg's strikes (no
//!   extrapolation).

use super::OptionType;
use crate::labels::{Dte, Source};

/// The inputs of one contract.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Leg {
    /// Strike.
    pub strike: f64,
    /// Call or put.
    pub kind: OptionType,
    /// Open interest.
    pub oi: f64,
    /// Volume.
    pub volume: f64,
    /// Implied volatility (a ratio), when known.
    pub iv: Option<f64>,
}

/// What one expiry gives.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ExpiryAnalytics {
    /// Σ call OI.
    pub call_oi: f64,
    /// Σ put OI.
    pub put_oi: f64,
    /// Σ call volume.
    pub call_volume: f64,
    /// Σ put volume.
    pub put_volume: f64,
    /// The max-pain strike.
    pub max_pain: Option<f64>,
    /// IV at spot.
    pub atm_iv: Option<f64>,
    /// Put IV at 0.95 spot minus call IV at 1.05 spot.
    pub skew: Option<f64>,
}

/// Distance of the skew points from spot.
pub const SKEW_DISTANCE: f64 = 0.05;

/// A ratio, `None` when the denominator is not positive.
pub fn ratio(num: f64, den: f64) -> Option<f64> {
    (den > 0.0).then(|| num / den)
}

/// The max-pain strike of `legs`, in O(n log n): with the strikes sorted, the calls'
/// payout at S is S·ΣOI − Σ(OI·K) over calls with K ≤ S, and the puts' is
/// Σ(OI·K) − S·ΣOI over puts with K ≥ S, both running sums over one sweep (a payout per
/// candidate strike summed over every leg is quadratic: a 500-leg expiry would cost
/// 125,000 steps).
pub fn max_pain(legs: &[Leg]) -> Option<f64> {
    if !legs.iter().any(|l| l.oi > 0.0) {
        return None;
    }
    let mut calls: Vec<(f64, f64)> = Vec::new();
    let mut puts: Vec<(f64, f64)> = Vec::new();
    for l in legs {
        match l.kind {
            OptionType::Call => calls.push((l.strike, l.oi)),
            OptionType::Put => puts.push((l.strike, l.oi)),
        }
    }
    // Sorting already sorted input (the usual case) is a linear check.
    if !calls.is_sorted_by(|a, b| a.0 <= b.0) {
        calls.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    if !puts.is_sorted_by(|a, b| a.0 <= b.0) {
        puts.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    let mut strikes: Vec<f64> = legs.iter().map(|l| l.strike).collect();
    if !strikes.is_sorted_by(|a, b| a <= b) {
        strikes.sort_by(f64::total_cmp);
    }
    strikes.dedup();
    // Calls with K <= S so far; puts with K < S so far (taken out of the totals).
    let (mut c_oi, mut c_oik, mut ic) = (0.0, 0.0, 0);
    let (mut p_oi, mut p_oik) = puts
        .iter()
        .fold((0.0, 0.0), |(a, b), (k, oi)| (a + oi, b + oi * k));
    let mut ip = 0;
    let mut best: Option<(f64, f64)> = None;
    for s in strikes {
        while ic < calls.len() && calls[ic].0 <= s {
            c_oi += calls[ic].1;
            c_oik += calls[ic].1 * calls[ic].0;
            ic += 1;
        }
        while ip < puts.len() && puts[ip].0 < s {
            p_oi -= puts[ip].1;
            p_oik -= puts[ip].1 * puts[ip].0;
            ip += 1;
        }
        let payout = (s * c_oi - c_oik) + (p_oik - s * p_oi);
        // Strictly smaller: the lowest strike wins a tie.
        if best.is_none_or(|(_, bp)| payout < bp) {
            best = Some((s, payout));
        }
    }
    best.map(|(s, _)| s)
}

/// Linear interpolation of (strike, iv) points (sorted by strike) at `x`; `clamp`
/// takes the nearest point's value outside the range, otherwise `None` there.
fn interpolate(points: &[(f64, f64)], x: f64, clamp: bool) -> Option<f64> {
    let first = points.first()?;
    let last = points.last()?;
    if x <= first.0 {
        return (clamp || x == first.0).then_some(first.1);
    }
    if x >= last.0 {
        return (clamp || x == last.0).then_some(last.1);
    }
    let hi = points.iter().position(|p| p.0 >= x)?;
    let (a, b) = (points[hi - 1], points[hi]);
    if b.0 == a.0 {
        return Some(b.1);
    }
    Some(a.1 + (b.1 - a.1) * (x - a.0) / (b.0 - a.0))
}

/// (strike, IV) points of the legs selected by `keep`, the IVs of one strike averaged.
fn iv_points(legs: &[Leg], keep: impl Fn(&Leg) -> bool) -> Vec<(f64, f64)> {
    let mut v: Vec<(f64, f64)> = legs
        .iter()
        .filter(|l| keep(l))
        .filter_map(|l| l.iv.filter(|iv| iv.is_finite()).map(|iv| (l.strike, iv)))
        .collect();
    if !v.is_sorted_by(|a, b| a.0 <= b.0) {
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    let mut out: Vec<(f64, f64, u32)> = Vec::with_capacity(v.len());
    for (k, iv) in v {
        match out.last_mut() {
            Some(last) if last.0 == k => {
                last.1 += iv;
                last.2 += 1;
            }
            _ => out.push((k, iv, 1)),
        }
    }
    out.into_iter().map(|(k, s, n)| (k, s / n as f64)).collect()
}

/// Both legs' points (each sorted, one per strike) as one list, a strike with both
/// legs at their mean.
fn merged(a: &[(f64, f64)], b: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) if x.0 == y.0 => {
                out.push((x.0, (x.1 + y.1) / 2.0));
                i += 1;
                j += 1;
            }
            (Some(x), Some(y)) if x.0 < y.0 => {
                out.push(*x);
                i += 1;
            }
            (Some(x), None) => {
                out.push(*x);
                i += 1;
            }
            (_, Some(y)) => {
                out.push(*y);
                j += 1;
            }
            (None, None) => break,
        }
    }
    out
}

/// Everything of one expiry at `spot`.
pub fn expiry(legs: &[Leg], spot: f64) -> ExpiryAnalytics {
    let mut a = ExpiryAnalytics::default();
    for l in legs {
        match l.kind {
            OptionType::Call => {
                a.call_oi += l.oi;
                a.call_volume += l.volume;
            }
            OptionType::Put => {
                a.put_oi += l.oi;
                a.put_volume += l.volume;
            }
        }
    }
    a.max_pain = max_pain(legs);
    let puts = iv_points(legs, |l| l.kind == OptionType::Put);
    let calls = iv_points(legs, |l| l.kind == OptionType::Call);
    a.atm_iv = interpolate(&merged(&calls, &puts), spot, true);
    a.skew = match (
        interpolate(&puts, spot * (1.0 - SKEW_DISTANCE), false),
        interpolate(&calls, spot * (1.0 + SKEW_DISTANCE), false),
    ) {
        (Some(p), Some(c)) => Some(p - c),
        _ => None,
    };
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use OptionType::{Call, Put};

    fn leg(strike: f64, kind: OptionType, oi: f64, volume: f64, iv: f64) -> Leg {
        Leg {
            strike,
            kind,
            oi,
            volume,
            iv: Some(iv),
        }
    }

    /// Strikes 90, 100, 110:
    ///   calls  K=90 OI 100 vol 10 IV .20 | K=100 OI 200 vol 20 IV .18 | K=110 OI 300 vol 30 IV .16
    ///   puts   K=90 OI 300 vol  5 IV .24 | K=100 OI 100 vol 15 IV .20 | K=110 OI  50 vol  5 IV .17
    fn chain() -> Vec<Leg> {
        vec![
            leg(90.0, Call, 100.0, 10.0, 0.20),
            leg(100.0, Call, 200.0, 20.0, 0.18),
            leg(110.0, Call, 300.0, 30.0, 0.16),
            leg(90.0, Put, 300.0, 5.0, 0.24),
            leg(100.0, Put, 100.0, 15.0, 0.20),
            leg(110.0, Put, 50.0, 5.0, 0.17),
        ]
    }

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-12)
    }

    #[test]
    fn a_hand_computed_chain() {
        let a = expiry(&chain(), 101.0);
        // PCR by OI: (300 + 100 + 50) / (100 + 200 + 300) = 450 / 600 = 0.75.
        assert!(close(ratio(a.put_oi, a.call_oi), 0.75));
        // PCR by volume: (5 + 15 + 5) / (10 + 20 + 30) = 25 / 60.
        assert!(close(ratio(a.put_volume, a.call_volume), 25.0 / 60.0));
        // Payout at S=90: calls 0; puts 100*10 + 50*20 = 2000.
        // At S=100: calls 100*10 = 1000; puts 50*10 = 500; total 1500.
        // At S=110: calls 100*20 + 200*10 = 4000; puts 0. Max pain: 100.
        assert_eq!(a.max_pain, Some(100.0));
        // Strike IVs (mean of the legs): 90 -> .22, 100 -> .19, 110 -> .165. At 101:
        // .19 + (.165 - .19) * 1/10 = .1875.
        assert!(close(a.atm_iv, 0.1875), "{:?}", a.atm_iv);
        // Put IV at 95.95: .24 + (.20 - .24) * 5.95/10 = .2162.
        // Call IV at 106.05: .18 + (.16 - .18) * 6.05/10 = .1679. Skew: .0483.
        assert!(close(a.skew, 0.2162 - 0.1679), "{:?}", a.skew);
    }

    #[test]
    fn no_puts_gives_a_zero_ratio_no_skew_and_the_lowest_strike_as_max_pain() {
        let calls: Vec<Leg> = chain().into_iter().filter(|l| l.kind == Call).collect();
        let a = expiry(&calls, 101.0);
        assert_eq!(ratio(a.put_oi, a.call_oi), Some(0.0));
        // Only calls: the payout grows with S, so the lowest strike.
        assert_eq!(a.max_pain, Some(90.0));
        assert_eq!(a.skew, None);
        // Call IVs only: 100 -> .18, 110 -> .16; at 101: .178.
        assert!(close(a.atm_iv, 0.178));
    }

    #[test]
    fn zero_open_interest_gives_no_ratio_and_no_max_pain() {
        let zero: Vec<Leg> = chain().into_iter().map(|l| Leg { oi: 0.0, ..l }).collect();
        let a = expiry(&zero, 101.0);
        assert_eq!(ratio(a.put_oi, a.call_oi), None);
        assert_eq!(a.max_pain, None);
        // IVs do not depend on OI.
        assert!(close(a.atm_iv, 0.1875));
    }

    #[test]
    fn spot_outside_the_strikes_takes_the_nearest_strike_iv_and_no_skew() {
        let a = expiry(&chain(), 150.0);
        // Beyond 110: the IV of strike 110, (.16 + .17) / 2.
        assert!(close(a.atm_iv, 0.165));
        // Put IV at 142.5 is beyond the puts' strikes: no extrapolation.
        assert_eq!(a.skew, None);
        // Max pain does not depend on spot.
        assert_eq!(a.max_pain, Some(100.0));
    }

    #[test]
    fn a_single_strike() {
        let one = vec![
            leg(100.0, Call, 200.0, 20.0, 0.18),
            leg(100.0, Put, 100.0, 15.0, 0.20),
        ];
        let a = expiry(&one, 101.0);
        assert_eq!(a.max_pain, Some(100.0));
        assert!(close(a.atm_iv, 0.19));
        assert_eq!(a.skew, None);
        assert!(close(ratio(a.put_oi, a.call_oi), 0.5));
    }

    /// The definition, summed leg by leg for every candidate strike.
    fn max_pain_by_definition(legs: &[Leg]) -> Option<f64> {
        if !legs.iter().any(|l| l.oi > 0.0) {
            return None;
        }
        let mut strikes: Vec<f64> = legs.iter().map(|l| l.strike).collect();
        strikes.sort_by(f64::total_cmp);
        strikes.dedup();
        let payout = |s: f64| -> f64 {
            legs.iter()
                .map(|l| match l.kind {
                    Call => l.oi * (s - l.strike).max(0.0),
                    Put => l.oi * (l.strike - s).max(0.0),
                })
                .sum()
        };
        let mut best: Option<(f64, f64)> = None;
        for s in strikes {
            let p = payout(s);
            if best.is_none_or(|(_, bp)| p < bp) {
                best = Some((s, p));
            }
        }
        best.map(|(s, _)| s)
    }

    #[test]
    fn the_sweep_finds_the_same_max_pain_as_the_definition() {
        // Integer strikes and OI: both ways are exact, so they must agree exactly.
        let mut seed = 7u64;
        let mut next = move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            seed >> 33
        };
        for n in [1usize, 2, 5, 40, 200] {
            let legs: Vec<Leg> = (0..n)
                .flat_map(|k| {
                    let strike = 1000.0 + 50.0 * k as f64;
                    [
                        leg(strike, Call, (next() % 5000) as f64, 0.0, 0.2),
                        leg(strike, Put, (next() % 5000) as f64, 0.0, 0.2),
                    ]
                })
                .collect();
            assert_eq!(
                max_pain(&legs),
                max_pain_by_definition(&legs),
                "{n} strikes"
            );
        }
        assert_eq!(max_pain(&chain()), max_pain_by_definition(&chain()));
    }

    #[test]
    fn no_iv_at_all_gives_no_atm_iv() {
        let none: Vec<Leg> = chain().into_iter().map(|l| Leg { iv: None, ..l }).collect();
        assert_eq!(expiry(&none, 101.0).atm_iv, None);
    }
}

/// Published analytics, and the session's first open-interest totals per index, so
/// buckets absent from a snapshot are reset and `oi_change` has its baseline. Bounded
/// by the aggregator's index limit: indices it forgets are forgotten here too
/// ([`Analytics::forget`]).
#[derive(Debug, Default)]
pub struct Analytics {
    published: std::collections::HashSet<(String, Dte, Source)>,
    first_oi: std::collections::HashMap<String, (f64, f64)>,
}

/// What one (index, days-to-expiry bucket) of a snapshot gives.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct BucketAnalytics {
    /// Put-call ratio by open interest, all expiries of the bucket.
    pub pcr_oi: Option<f64>,
    /// Put-call ratio by volume, all expiries of the bucket.
    pub pcr_volume: Option<f64>,
    /// The nearest expiry of the bucket: its max pain, ATM IV and skew.
    pub nearest: ExpiryAnalytics,
    /// Σ OI·Δ over all expiries of the bucket (see [`super::exposure`]).
    pub net_delta: f64,
    /// Dealer gamma exposure over all expiries of the bucket.
    pub gex: f64,
    /// 25-delta risk reversal of the nearest expiry.
    pub risk_reversal_25d: Option<f64>,
    /// 25-delta butterfly of the nearest expiry.
    pub butterfly_25d: Option<f64>,
}

/// Exposure of a whole index (every expiry).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct IndexExposure {
    /// Dealer gamma exposure by moneyness bucket (the `mny` label order).
    pub gex_by_mny: [f64; 5],
    /// The gamma flip: where total GEX changes sign.
    pub zero_gamma: Option<f64>,
}

/// Per index: every (dte bucket -> analytics), the index's total (call, put) OI, and
/// its exposure.
pub type SnapshotAnalytics =
    std::collections::BTreeMap<String, (Vec<(Dte, BucketAnalytics)>, (f64, f64), IndexExposure)>;

/// The analytics of a snapshot's accepted rows (`rows`: positions in
/// `snapshot.rows`), days to expiry counted from `as_of` (Unix seconds).
pub fn of_snapshot(snapshot: &super::Snapshot, rows: &[u32], as_of: i64) -> SnapshotAnalytics {
    let priced = super::exposure::PricedRows::of(snapshot, rows, as_of);
    of_priced_snapshot(snapshot, rows, &priced, true)
}

/// Whether this process exports the exposure analytics (net delta, GEX, the gamma
/// flip, the 25-delta wings): their family is switched on by `G6_ENABLE_EXPOSURE`.
pub fn exposure_enabled() -> bool {
    crate::spec::INFO_CHAIN_GAMMA_EXPOSURE.enabled()
}

/// [`of_snapshot`] with the rows' IVs and Greeks already worked out (`priced`, in the
/// order of `rows`, at the as-of time the analytics count days from). Without
/// `exposure` the exposure fields stay empty and cost nothing (the gamma-flip search
/// is most of the analytics' time).
pub fn of_priced_snapshot(
    snapshot: &super::Snapshot,
    rows: &[u32],
    priced: &super::exposure::PricedRows,
    exposure: bool,
) -> SnapshotAnalytics {
    use std::collections::BTreeMap;
    let as_of = priced.as_of;
    // (index, expiry) -> (spot, legs). Rows of one expiry usually come together: the
    // last group is tried first, the map only on a change (a map lookup per row was
    // most of the cost).
    use super::exposure::{self as ex, Contract};
    use super::pricing::INDIA;
    // (index, expiry, spot, legs, contracts with an IV and Greeks).
    type Group<'a> = (&'a str, i64, f64, Vec<Leg>, Vec<Contract>);
    let mut groups: Vec<Group> = Vec::new();
    let mut at: std::collections::HashMap<(&str, i64), usize, foldhash::fast::RandomState> =
        std::collections::HashMap::default();
    let mut last: Option<usize> = None;
    for (n, &r) in rows.iter().enumerate() {
        let Some(Ok(q)) = snapshot.rows.get(r as usize) else {
            continue;
        };
        let g = match last {
            Some(g) if groups[g].0 == q.index && groups[g].1 == q.expiry => g,
            _ => *at.entry((q.index.as_str(), q.expiry)).or_insert_with(|| {
                groups.push((q.index.as_str(), q.expiry, q.spot, Vec::new(), Vec::new()));
                groups.len() - 1
            }),
        };
        last = Some(g);
        groups[g].3.push(Leg {
            strike: q.strike,
            kind: q.option_type,
            oi: q.open_interest,
            volume: q.volume,
            iv: q.iv,
        });
        if let (true, Some(Some(p))) = (exposure, priced.rows.get(n)) {
            groups[g].4.push(Contract {
                strike: q.strike,
                kind: q.option_type,
                oi: q.open_interest,
                iv: p.iv,
                greeks: Some((q.spot, p.greeks)),
            });
        }
    }
    // index -> expiry -> (spot, legs, contracts with an IV), ordered.
    type Expiries = BTreeMap<i64, (f64, Vec<Leg>, Vec<Contract>)>;
    let mut by: BTreeMap<&str, Expiries> = BTreeMap::new();
    for (index, expiry, spot, legs, contracts) in groups {
        by.entry(index)
            .or_default()
            .insert(expiry, (spot, legs, contracts));
    }
    let mut out = SnapshotAnalytics::new();
    for (index, expiries) in by {
        /// Sums over the expiries of one bucket, and its nearest expiry.
        struct Sums {
            dte: Dte,
            call_oi: f64,
            put_oi: f64,
            call_volume: f64,
            put_volume: f64,
            nearest: Option<ExpiryAnalytics>,
            net_delta: f64,
            gex: f64,
            wings: Option<(f64, f64)>,
        }
        let mut buckets: BTreeMap<usize, Sums> = BTreeMap::new();
        let (mut call_oi, mut put_oi) = (0.0, 0.0);
        let mut index_exposure = IndexExposure::default();
        let mut all_expiries: Vec<(f64, Vec<Contract>)> = Vec::new();
        let mut index_spot = 0.0;
        // Expiries ascending: the first of a bucket is its nearest.
        for (expiry, (spot, legs, contracts)) in expiries {
            let days = (expiry - as_of) as f64 / super::dates::DAY as f64;
            let Some(dte) = super::buckets::dte_bucket(days) else {
                continue;
            };
            let a = self::expiry(&legs, spot);
            call_oi += a.call_oi;
            put_oi += a.put_oi;
            let years = days / 365.0;
            let e = if exposure {
                ex::exposure(&contracts, spot, years, INDIA)
            } else {
                ex::Exposure::default()
            };
            for (total, part) in index_exposure.gex_by_mny.iter_mut().zip(e.gex_by_mny) {
                *total += part;
            }
            let b = buckets.entry(dte.index()).or_insert(Sums {
                dte,
                call_oi: 0.0,
                put_oi: 0.0,
                call_volume: 0.0,
                put_volume: 0.0,
                nearest: None,
                net_delta: 0.0,
                gex: 0.0,
                wings: None,
            });
            b.call_oi += a.call_oi;
            b.put_oi += a.put_oi;
            b.call_volume += a.call_volume;
            b.put_volume += a.put_volume;
            b.net_delta += e.net_delta;
            b.gex += e.gex;
            if exposure && b.nearest.is_none() {
                b.wings = ex::risk_reversal_and_butterfly(&contracts, spot, years, INDIA);
            }
            b.nearest.get_or_insert(a);
            index_spot = spot;
            all_expiries.push((years, contracts));
        }
        if exposure && index_spot > 0.0 {
            index_exposure.zero_gamma = ex::zero_gamma(&all_expiries, index_spot, INDIA);
        }
        let list = buckets
            .into_values()
            .map(|b| {
                (
                    b.dte,
                    BucketAnalytics {
                        pcr_oi: ratio(b.put_oi, b.call_oi),
                        pcr_volume: ratio(b.put_volume, b.call_volume),
                        nearest: b.nearest.unwrap_or_default(),
                        net_delta: b.net_delta,
                        gex: b.gex,
                        risk_reversal_25d: b.wings.map(|w| w.0),
                        butterfly_25d: b.wings.map(|w| w.1),
                    },
                )
            })
            .collect();
        out.insert(index.to_string(), (list, (call_oi, put_oi), index_exposure));
    }
    out
}

impl Analytics {
    /// Start a new session of `index`: its next snapshot is the open-interest
    /// baseline again (replay starts one per trading day).
    pub fn start_session(&mut self, index: &str) {
        self.first_oi.remove(index);
    }

    /// Forget `index` (the aggregator no longer tracks it): its series are being
    /// removed, so it is neither reset to NaN nor kept as an open-interest baseline.
    pub fn forget(&mut self, index: &str) {
        self.published.retain(|(i, _, _)| i != index);
        self.first_oi.remove(index);
    }

    /// Publish a snapshot's analytics for `source`: every (index, dte) in it; those
    /// published before and absent now become NaN (no value), as do values that cannot
    /// be computed. A panic here (a value the maths did not expect) is counted in
    /// `g6_emission_failures_total{emitter}` and never stops the collection loop.
    #[crate::safe_emit]
    pub fn publish(&mut self, all: &SnapshotAnalytics, source: Source) {
        use crate::labels::{PcrBasis, Side};
        use crate::metrics;
        let v = |x: Option<f64>| x.unwrap_or(f64::NAN);
        let mut now = std::collections::HashSet::new();
        for (index, (buckets, (call_oi, put_oi), exposure)) in all {
            for (m, gex) in crate::labels::Mny::ALL.iter().zip(exposure.gex_by_mny) {
                metrics::chain_gamma_exposure_by_moneyness(index, *m, source).set(gex);
            }
            metrics::chain_zero_gamma_level(index, source).set(v(exposure.zero_gamma));
            for (dte, b) in buckets {
                metrics::chain_net_delta(index, *dte, source).set(b.net_delta);
                metrics::chain_gamma_exposure(index, *dte, source).set(b.gex);
                metrics::chain_risk_reversal_25d(index, *dte, source).set(v(b.risk_reversal_25d));
                metrics::chain_butterfly_25d(index, *dte, source).set(v(b.butterfly_25d));
                metrics::chain_put_call_ratio(index, *dte, source, PcrBasis::Oi).set(v(b.pcr_oi));
                metrics::chain_put_call_ratio(index, *dte, source, PcrBasis::Volume)
                    .set(v(b.pcr_volume));
                metrics::chain_max_pain_strike(index, *dte, source).set(v(b.nearest.max_pain));
                metrics::chain_atm_implied_volatility(index, *dte, source).set(v(b.nearest.atm_iv));
                metrics::chain_iv_skew(index, *dte, source).set(v(b.nearest.skew));
                now.insert((index.clone(), *dte, source));
            }
            // The session's baseline is the first snapshot this process saw of the index.
            if !self.first_oi.contains_key(index)
                && self.first_oi.len() >= super::aggregate::max_indices()
            {
                continue;
            }
            let first = *self
                .first_oi
                .entry(index.clone())
                .or_insert((*call_oi, *put_oi));
            metrics::chain_open_interest_change(index, Side::Call, source).set(call_oi - first.0);
            metrics::chain_open_interest_change(index, Side::Put, source).set(put_oi - first.1);
        }
        for (index, dte, src) in self.published.difference(&now) {
            for basis in PcrBasis::ALL {
                metrics::chain_put_call_ratio(index, *dte, *src, basis).set(f64::NAN);
            }
            metrics::chain_max_pain_strike(index, *dte, *src).set(f64::NAN);
            metrics::chain_atm_implied_volatility(index, *dte, *src).set(f64::NAN);
            metrics::chain_iv_skew(index, *dte, *src).set(f64::NAN);
            metrics::chain_net_delta(index, *dte, *src).set(f64::NAN);
            metrics::chain_gamma_exposure(index, *dte, *src).set(f64::NAN);
            metrics::chain_risk_reversal_25d(index, *dte, *src).set(f64::NAN);
            metrics::chain_butterfly_25d(index, *dte, *src).set(f64::NAN);
        }
        self.published = now;
    }
}

#[cfg(test)]
mod snapshot_tests {
    use super::*;
    use crate::option_chain::providers::synthetic::SyntheticProvider;

    /// 10:00 IST on a Wednesday: the market is open.
    const AS_OF: i64 = 1_796_790_600;

    #[test]
    fn without_exposure_the_chain_analytics_are_the_same_and_the_exposure_fields_are_empty() {
        let snapshot = SyntheticProvider::new(7).snapshot_at(AS_OF);
        let rows: Vec<u32> = (0..snapshot.rows.len() as u32).collect();
        let priced = super::super::exposure::PricedRows::of(&snapshot, &rows, AS_OF);
        let with = of_priced_snapshot(&snapshot, &rows, &priced, true);
        let without = of_priced_snapshot(&snapshot, &rows, &priced, false);
        assert_eq!(
            with.keys().collect::<Vec<_>>(),
            without.keys().collect::<Vec<_>>()
        );
        assert!(!with.is_empty());
        for (index, (buckets, oi, exposure)) in &with {
            let (buckets_off, oi_off, exposure_off) = &without[index];
            assert_eq!(oi, oi_off, "{index}: total OI");
            assert!(
                exposure.zero_gamma.is_some(),
                "{index}: a gamma flip with exposure on"
            );
            assert!(
                exposure.gex_by_mny.iter().any(|g| *g != 0.0),
                "{index}: GEX with exposure on"
            );
            assert_eq!(
                *exposure_off,
                IndexExposure::default(),
                "{index}: nothing with exposure off"
            );
            assert_eq!(buckets.len(), buckets_off.len());
            for ((dte, on), (dte_off, off)) in buckets.iter().zip(buckets_off) {
                assert_eq!(dte, dte_off);
                assert_eq!(on.pcr_oi, off.pcr_oi, "{index} {dte:?}: PCR");
                assert_eq!(
                    on.nearest.max_pain, off.nearest.max_pain,
                    "{index} {dte:?}: max pain"
                );
                assert_eq!(
                    on.nearest.atm_iv, off.nearest.atm_iv,
                    "{index} {dte:?}: ATM IV"
                );
                assert_eq!((off.net_delta, off.gex), (0.0, 0.0), "{index} {dte:?}");
                assert_eq!((off.risk_reversal_25d, off.butterfly_25d), (None, None));
                // The SSVI smile is convex with a put skew at every expiry.
                if let (Some(rr), Some(bf)) = (on.risk_reversal_25d, on.butterfly_25d) {
                    assert!(rr < 0.0, "{index} {dte:?}: risk reversal {rr}");
                    assert!(bf > 0.0, "{index} {dte:?}: butterfly {bf}");
                }
            }
        }
    }
}
