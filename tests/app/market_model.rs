//! The synthetic market is a model a trader would not catch out: every snapshot is
//! free of static arbitrage, each quote's displayed IV prices inside its own spread and
//! round-trips, open interest moves by bounded amounts, volume only grows within a
//! session, listings follow the spot, and the market is flat when NSE is closed.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use g6_metrics::option_chain::pricing::{self, INDIA};
use g6_metrics::option_chain::providers::synthetic::{SyntheticProvider, MAX_OI_CHANGE_PER_MINUTE};
use g6_metrics::option_chain::{OptionType, Quote, Snapshot};
use std::collections::{BTreeMap, HashMap};

/// Monday 2026-12-07, 09:15 IST.
const MONDAY_OPEN: i64 = 1_796_615_100;
const DAY: i64 = 86_400;

fn quotes(s: &Snapshot) -> Vec<Quote> {
    s.rows.iter().map(|r| r.clone().unwrap()).collect()
}

fn years(q: &Quote, as_of: i64) -> f64 {
    (q.expiry - as_of) as f64 / DAY as f64 / 365.0
}

fn model_price(q: &Quote, as_of: i64) -> f64 {
    pricing::price(
        q.option_type == OptionType::Call,
        q.spot,
        q.strike,
        years(q, as_of),
        q.iv.unwrap(),
        INDIA,
    )
}

type Chain = BTreeMap<(String, i64), BTreeMap<i64, [Option<Quote>; 2]>>;

fn chains(qs: &[Quote]) -> Chain {
    let mut out: Chain = BTreeMap::new();
    for q in qs {
        let side = usize::from(q.option_type == OptionType::Put);
        out.entry((q.index.clone(), q.expiry))
            .or_default()
            .entry(q.strike as i64)
            .or_default()[side] = Some(q.clone());
    }
    out
}

/// Every check of one snapshot; returns how many contracts were checked.
fn check_snapshot(s: &Snapshot) -> usize {
    let as_of = s.as_of.unwrap();
    let qs = quotes(s);
    for q in &qs {
        let p = model_price(q, as_of);
        let (bid, ask) = (q.bid.unwrap(), q.ask.unwrap());
        assert!(
            bid <= p + 1e-9 && p <= ask + 1e-9,
            "{} {} {:?} {}: model {p} outside {bid}..{ask}",
            q.index,
            q.expiry,
            q.option_type,
            q.strike
        );
        assert!(bid >= 0.0 && ask > bid, "{q:?}");
        // Price -> IV -> price, where the IV is defined by the price: out of the money
        // (in the money the time value is below a float's precision in the wings; its
        // IV is the out-of-the-money option's, by parity).
        let is_call = q.option_type == OptionType::Call;
        let f = pricing::forward(q.spot, years(q, as_of), INDIA);
        let otm = if is_call {
            q.strike >= f
        } else {
            q.strike <= f
        };
        if p > 0.5 && otm {
            let iv =
                pricing::implied_volatility(is_call, p, q.spot, q.strike, years(q, as_of), INDIA)
                    .unwrap_or_else(|| panic!("no IV for {q:?} at {p}"));
            let again = pricing::price(is_call, q.spot, q.strike, years(q, as_of), iv, INDIA);
            assert!(
                ((again - p) / p).abs() < 1e-8,
                "{q:?}: {p} -> {iv} -> {again}"
            );
        }
    }
    for ((index, expiry), strikes) in chains(&qs) {
        let t = (expiry - as_of) as f64 / DAY as f64 / 365.0;
        let rows: Vec<(f64, Quote, Quote)> = strikes
            .into_iter()
            .map(|(k, [c, p])| (k as f64, c.unwrap(), p.unwrap()))
            .collect();
        for w in rows.windows(2) {
            let ((k0, c0, p0), (k1, c1, p1)) = (&w[0], &w[1]);
            let (mc0, mc1) = (model_price(c0, as_of), model_price(c1, as_of));
            let (mp0, mp1) = (model_price(p0, as_of), model_price(p1, as_of));
            assert!(
                mc1 <= mc0 + 1e-9,
                "{index} {expiry}: call {k0}->{k1} rises {mc0}->{mc1}"
            );
            assert!(
                mp1 + 1e-9 >= mp0,
                "{index} {expiry}: put {k0}->{k1} falls {mp0}->{mp1}"
            );
            assert!(
                c1.bid.unwrap() <= c0.bid.unwrap(),
                "{index} {expiry}: call bid {k0}->{k1} rises {:?}->{:?}",
                c0.bid,
                c1.bid
            );
            assert!(
                p1.bid.unwrap() >= p0.bid.unwrap(),
                "{index} {expiry}: put bid {k0}->{k1} falls {:?}->{:?}",
                p0.bid,
                p1.bid
            );
        }
        for w in rows.windows(3) {
            let (k0, k1, k2) = (w[0].0, w[1].0, w[2].0);
            let a = (k2 - k1) / (k2 - k0);
            for side in [0, 1] {
                let pick = |r: &(f64, Quote, Quote)| {
                    model_price(if side == 0 { &r.1 } else { &r.2 }, as_of)
                };
                let (v0, v1, v2) = (pick(&w[0]), pick(&w[1]), pick(&w[2]));
                // Convex: the middle price is at most the chord.
                assert!(
                    v1 <= a * v0 + (1.0 - a) * v2 + 1e-6,
                    "{index} {expiry} side {side}: not convex at {k1}: {v0} {v1} {v2}"
                );
            }
        }
        // Put-call parity within the spreads.
        for (k, c, p) in &rows {
            let parity = c.spot * (-INDIA.dividend * t).exp() - k * (-INDIA.rate * t).exp();
            let (lo, hi) = (
                c.bid.unwrap() - p.ask.unwrap(),
                c.ask.unwrap() - p.bid.unwrap(),
            );
            assert!(
                lo - 1e-9 <= parity && parity <= hi + 1e-9,
                "{index} {expiry} {k}: parity {parity} outside {lo}..{hi}"
            );
        }
    }
    // Total variance at fixed forward moneyness rises with expiry.
    // Per index, per expiry: (log-moneyness, total variance) by strike.
    type Curve = Vec<(f64, f64)>;
    let mut by_index: BTreeMap<String, Vec<(f64, Curve)>> = BTreeMap::new();
    for ((index, expiry), strikes) in chains(&qs) {
        let t = (expiry - as_of) as f64 / DAY as f64 / 365.0;
        let spot = strikes.values().next().unwrap()[0].as_ref().unwrap().spot;
        let f = pricing::forward(spot, t, INDIA);
        let curve: Vec<(f64, f64)> = strikes
            .iter()
            .map(|(k, legs)| {
                let iv = legs[0].as_ref().unwrap().iv.unwrap();
                ((*k as f64 / f).ln(), iv * iv * t)
            })
            .collect();
        by_index.entry(index).or_default().push((t, curve));
    }
    for (index, curves) in by_index {
        for x in [-0.05, 0.0, 0.05] {
            let at = |curve: &[(f64, f64)]| {
                let i = curve.iter().position(|(k, _)| *k >= x).unwrap();
                let ((k0, w0), (k1, w1)) = (curve[i - 1], curve[i]);
                w0 + (w1 - w0) * (x - k0) / (k1 - k0)
            };
            let ws: Vec<f64> = curves.iter().map(|(_, c)| at(c)).collect();
            assert!(
                ws.windows(2).all(|w| w[1] >= w[0]),
                "{index} at k={x}: total variance falls with expiry: {ws:?}"
            );
        }
    }
    qs.len()
}

#[test]
fn every_snapshot_of_a_trading_day_is_free_of_static_arbitrage_and_prices_inside_its_spread() {
    let mut p = SyntheticProvider::new(11);
    let mut checked = 0;
    // A session in 5-minute steps, and the next morning.
    for m in (0..=375).step_by(25).chain([DAY / 60, DAY / 60 + 30]) {
        checked += check_snapshot(&p.snapshot_at(MONDAY_OPEN + m * 60));
    }
    assert!(checked > 50_000, "{checked}");
}

fn by_contract(s: &Snapshot) -> HashMap<(String, i64, i64, bool), Quote> {
    quotes(s)
        .into_iter()
        .map(|q| {
            (
                (
                    q.index.clone(),
                    q.expiry,
                    q.strike as i64,
                    q.option_type == OptionType::Call,
                ),
                q,
            )
        })
        .collect()
}

#[test]
fn open_interest_moves_by_bounded_amounts_and_volume_only_grows_within_a_session() {
    let mut p = SyntheticProvider::new(5);
    let mut last = by_contract(&p.snapshot_at(MONDAY_OPEN + 3600));
    let contracts = last.len();
    let mut new = 0;
    for minute in 1..=5 {
        let now = by_contract(&p.snapshot_at(MONDAY_OPEN + 3600 + minute * 60));
        for (key, q) in &now {
            let Some(before) = last.get(key) else {
                new += 1;
                continue;
            };
            let bound = MAX_OI_CHANGE_PER_MINUTE * before.open_interest.max(1_000.0) + 1.0;
            assert!(
                (q.open_interest - before.open_interest).abs() <= bound,
                "{key:?}: OI {} -> {} in a minute",
                before.open_interest,
                q.open_interest
            );
            assert!(
                q.volume >= before.volume,
                "{key:?}: volume fell within a session"
            );
        }
        last = now;
    }
    // Listings follow the spot: a few strikes at the window's edge, not churn.
    assert!(
        new * 20 < contracts,
        "{new} new contracts of {contracts} in 5 minutes"
    );
    // The next session starts its volume again.
    let next = by_contract(&p.snapshot_at(MONDAY_OPEN + DAY + 60));
    let today: f64 = last.values().map(|q| q.volume).sum();
    let tomorrow: f64 = next.values().map(|q| q.volume).sum();
    assert!(
        tomorrow < today / 10.0,
        "volume {today} -> {tomorrow} across the day"
    );
}

#[test]
fn the_market_is_flat_outside_nse_hours_and_the_same_seed_gives_the_same_data() {
    let sunday_noon = MONDAY_OPEN - DAY + 3 * 3600;
    let friday_close = MONDAY_OPEN - 3 * DAY + 6 * 3600 + 15 * 60;
    let mut p = SyntheticProvider::new(9);
    let close = quotes(&p.snapshot_at(friday_close));
    let a = quotes(&p.snapshot_at(sunday_noon));
    let b = quotes(&p.snapshot_at(sunday_noon + 600));
    assert_eq!(a[0].spot, b[0].spot, "the spot moved on a Sunday");
    // Every quote stands where the last session closed: no bid, ask or IV decays
    // over a weekend.
    assert_eq!(close, a, "Sunday's quotes are not Friday's close");
    assert_eq!(a, b, "a quote moved on a Sunday");
    // In the session it moves.
    let c = quotes(&p.snapshot_at(MONDAY_OPEN + 600));
    assert_ne!(b[0].spot, c[0].spot);
    // Determinism.
    let run = |seed: u64| {
        let mut q = SyntheticProvider::new(seed);
        q.snapshot_at(friday_close);
        q.snapshot_at(sunday_noon);
        q.snapshot_at(sunday_noon + 600);
        quotes(&q.snapshot_at(MONDAY_OPEN + 600))
    };
    assert_eq!(c, run(9));
    assert_ne!(c[0].spot, run(10)[0].spot);
}
