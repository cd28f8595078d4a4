//! The collection loop's real path after a fetch (`Runner::publish`: aggregate, chain
//! analytics, one consistent update of every gauge, per-index provider metrics), on
//! chains of 20,000, 50,000, 200,000 and 1,000,000 contracts, so the
//! per-row cost shows whether aggregation stays linear. Beside it, on 20,000
//! contracts: the aggregation alone against the chain analytics alone (PCR, max pain,
//! ATM IV, skew per expiry, published): goal, analytics cheaper than aggregation.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use g6_metrics::labels::Source;
use g6_metrics::option_chain::runner::Runner;
use g6_metrics::option_chain::{OptionChainProvider, ProviderError, Snapshot};
use std::hint::black_box;

#[path = "common/chain.rs"]
mod chain;
use chain::snapshot;

/// Never fetched: the bench drives `publish` with a prepared snapshot.
struct Idle;

impl OptionChainProvider for Idle {
    fn name(&self) -> &str {
        "bench"
    }
    fn source(&self) -> Source {
        Source::Replay
    }
    fn fetch(&mut self) -> Result<Snapshot, ProviderError> {
        Ok(Snapshot::default())
    }
}

fn bench(c: &mut Criterion) {
    g6_metrics::metrics::init_all();
    let mut g = c.benchmark_group("option_chain_publish");
    g.sample_size(10);
    for contracts in [20_000usize, 50_000, 200_000, 1_000_000] {
        let snap = snapshot(contracts);
        assert_eq!(snap.rows.len(), contracts);
        let mut runner = Runner::new(Box::new(Idle), false);
        // The first snapshot is the baseline of every index; measure steady state.
        runner.publish("bench", Source::Replay, &snap, 1_900_000_000.0);
        g.throughput(Throughput::Elements(contracts as u64));
        g.bench_with_input(
            BenchmarkId::new("g6_runner_publish", contracts),
            &snap,
            |b, snap| {
                b.iter(|| {
                    black_box(runner.publish(
                        "bench",
                        Source::Replay,
                        black_box(snap),
                        1_900_000_000.0,
                    ))
                })
            },
        );
    }
    g.finish();
}

fn analytics(c: &mut Criterion) {
    use g6_metrics::option_chain::aggregate::Aggregator;
    use g6_metrics::option_chain::analytics;
    g6_metrics::metrics::init_all();
    let snap = snapshot(20_000);
    let mut aggregator = Aggregator::new();
    let agg = aggregator.aggregate(&snap, 1_900_000_000);
    assert_eq!(agg.accepted, 20_000);
    let rows = agg.accepted_rows.clone();
    let mut published = analytics::Analytics::default();
    let mut g = c.benchmark_group("option_chain_analytics");
    g.sample_size(20);
    g.throughput(Throughput::Elements(20_000));
    g.bench_function("aggregate_20000", |b| {
        b.iter(|| black_box(aggregator.aggregate(black_box(&snap), 1_900_000_000)))
    });
    // What the runner works out by default: the exposure family is off (its cost and
    // the Greeks' are the `option_chain_greeks` group's), so no contract is priced.
    let unpriced = g6_metrics::option_chain::exposure::PricedRows {
        as_of: 1_900_000_000,
        rows: Vec::new(),
    };
    g.bench_function("analytics_20000", |b| {
        b.iter(|| {
            let a = analytics::of_priced_snapshot(black_box(&snap), &rows, &unpriced, false);
            published.publish(&a, Source::Replay);
            black_box(a)
        })
    });
    g.finish();
}

/// `snapshot(contracts)` with every bid and ask around its Black–Scholes price at its
/// own IV (so IV solved from the mid is meaningful), and the same without IVs.
fn priced(
    contracts: usize,
) -> (
    g6_metrics::option_chain::Snapshot,
    g6_metrics::option_chain::Snapshot,
) {
    use g6_metrics::option_chain::dates::DAY;
    use g6_metrics::option_chain::pricing::{price, INDIA};
    use g6_metrics::option_chain::OptionType;
    let mut with_iv = snapshot(contracts);
    let as_of = with_iv.as_of.unwrap_or(0);
    for q in with_iv.rows.iter_mut().flatten() {
        let years = (q.expiry - as_of) as f64 / DAY as f64 / 365.0;
        let iv = q.iv.unwrap_or(0.15);
        let p = price(
            q.option_type == OptionType::Call,
            q.spot,
            q.strike,
            years,
            iv,
            INDIA,
        );
        // NSE's tick is 0.05: far from the money the spread is a tick or two.
        let bid = (p * 0.9975).max(0.05);
        q.bid = Some(bid);
        q.ask = Some((p * 1.0025).max(bid + 0.05));
    }
    let mut without = with_iv.clone();
    for q in without.rows.iter_mut().flatten() {
        q.iv = None;
    }
    (with_iv, without)
}

/// What the Greeks and the exposure analytics add to a 30,000-contract snapshot, beside
/// the aggregation they join: every contract's Greeks at its quoted IV (the bus
/// runner's `PricedRows`, shared by the analytics and the bus message), the same with the IV solved from the mid
/// first (a provider without IVs), the chain analytics with exposure (net delta, GEX,
/// the gamma flip, the 25-delta wings), and the gamma-flip search alone.
fn greeks(c: &mut Criterion) {
    use g6_metrics::option_chain::aggregate::Aggregator;
    use g6_metrics::option_chain::analytics;
    use g6_metrics::option_chain::exposure::{self, PricedRows};
    use g6_metrics::option_chain::pricing::INDIA;
    g6_metrics::metrics::init_all();
    const N: usize = 30_000;
    let (with_iv, without_iv) = priced(N);
    let as_of = with_iv.as_of.unwrap_or(0);
    let mut aggregator = Aggregator::new();
    let agg = aggregator.aggregate(&with_iv, as_of);
    assert_eq!(agg.accepted as usize, N);
    let rows = agg.accepted_rows.clone();
    // Every contract gets Greeks both ways (the IV solve must succeed on these prices).
    let quoted = PricedRows::of(&with_iv, &rows, as_of);
    assert!(quoted.rows.iter().all(Option::is_some));
    let solved = PricedRows::of(&without_iv, &rows, as_of);
    let solved_ok = solved.rows.iter().flatten().count();
    assert!(
        solved_ok * 10 >= N * 9,
        "IV solved for only {solved_ok} of {N}"
    );
    let mut g = c.benchmark_group("option_chain_greeks");
    g.sample_size(20);
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("aggregate_30000", |b| {
        b.iter(|| black_box(aggregator.aggregate(black_box(&with_iv), as_of)))
    });
    // What the runner does once per snapshot, shared by the analytics and the bus.
    g.bench_function("greeks_at_quoted_iv_30000", |b| {
        b.iter(|| black_box(PricedRows::of(black_box(&with_iv), &rows, as_of)))
    });
    g.bench_function("greeks_iv_from_mid_30000", |b| {
        b.iter(|| black_box(PricedRows::of(black_box(&without_iv), &rows, as_of)))
    });
    // The peer: every IV solved from nothing by Let's Be Rational (the `implied-vol`
    // crate), then the Greeks, row by row (what `PricedRows` did before it started
    // from the neighbouring strikes' IVs).
    let every_row = |snapshot: &g6_metrics::option_chain::Snapshot, as_of: i64| {
        snapshot
            .rows
            .iter()
            .map(|q| {
                q.as_ref()
                    .ok()
                    .and_then(|q| exposure::priced(q, as_of, INDIA))
            })
            .collect::<Vec<_>>()
    };
    g.bench_function("greeks_iv_lets_be_rational_every_row_30000", |b| {
        b.iter(|| black_box(every_row(black_box(&without_iv), as_of)))
    });
    // The same on the synthetic market (an SVI smile, NSE's strike steps, every mid
    // inside a tick-rounded spread): how far apart neighbouring strikes' IVs really are.
    let market_as_of = 1_796_790_600; // 10:00 IST, Wednesday 2026-12-09
    let mut market = g6_metrics::option_chain::providers::synthetic::SyntheticProvider::new(11)
        .snapshot_at(market_as_of);
    for q in market.rows.iter_mut().flatten() {
        q.iv = None;
    }
    let market_rows: Vec<u32> = (0..market.rows.len() as u32).collect();
    let market_solved = PricedRows::of(&market, &market_rows, market_as_of);
    assert!(market_solved.rows.iter().flatten().count() * 10 >= market_rows.len() * 9);
    g.throughput(Throughput::Elements(market_rows.len() as u64));
    g.bench_function(
        format!("greeks_iv_from_mid_synthetic_market_{}", market_rows.len()),
        |b| {
            b.iter(|| {
                black_box(PricedRows::of(
                    black_box(&market),
                    &market_rows,
                    market_as_of,
                ))
            })
        },
    );
    g.bench_function(
        format!(
            "greeks_iv_lets_be_rational_synthetic_market_{}",
            market_rows.len()
        ),
        |b| b.iter(|| black_box(every_row(black_box(&market), market_as_of))),
    );
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("analytics_with_exposure_30000", |b| {
        b.iter(|| black_box(analytics::of_snapshot(black_box(&with_iv), &rows, as_of)))
    });
    // The gamma-flip search alone, on the whole chain's largest index (a quarter of it).
    let mut expiries: std::collections::BTreeMap<i64, Vec<exposure::Contract>> = Default::default();
    let mut spot = 0.0;
    for q in with_iv.rows.iter().flatten().filter(|q| q.index == "NIFTY") {
        spot = q.spot;
        expiries
            .entry(q.expiry)
            .or_default()
            .push(exposure::Contract {
                strike: q.strike,
                kind: q.option_type,
                oi: q.open_interest,
                iv: q.iv.unwrap_or(0.15),
                greeks: None,
            });
    }
    let expiries: Vec<(f64, Vec<exposure::Contract>)> = expiries
        .into_iter()
        .map(|(e, cs)| ((e - as_of) as f64 / 86_400.0 / 365.0, cs))
        .collect();
    let nifty: usize = expiries.iter().map(|(_, cs)| cs.len()).sum();
    g.throughput(Throughput::Elements(nifty as u64));
    g.bench_function(format!("zero_gamma_search_{nifty}"), |b| {
        b.iter(|| black_box(exposure::zero_gamma(black_box(&expiries), spot, INDIA)))
    });
    g.finish();
}

criterion_group!(benches, bench, analytics, greeks);
criterion_main!(benches);
