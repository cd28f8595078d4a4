//! Aggregating a 20,000-contract snapshot into the 25 buckets per index and updating
//! the gauges. Target: under 2 ms.

use criterion::{criterion_group, criterion_main, Criterion};
use g6_metrics::labels::Source;
use g6_metrics::option_chain::aggregate::Aggregator;
use g6_metrics::option_chain::dates::DAY;
use g6_metrics::option_chain::{OptionType, Quote, Snapshot};
use std::hint::black_box;

/// 4 indices x 10 expiries x 250 strikes x CE/PE = 20,000 contracts.
fn snapshot() -> Snapshot {
    let as_of = 1_900_000_000;
    let mut rows = Vec::with_capacity(20_000);
    for (i, (index, spot, step)) in [
        ("NIFTY", 24_000.0, 50.0),
        ("BANKNIFTY", 52_000.0, 100.0),
        ("FINNIFTY", 23_500.0, 50.0),
        ("MIDCPNIFTY", 12_000.0, 25.0),
    ]
    .into_iter()
    .enumerate()
    {
        for e in 0..10 {
            let expiry = as_of + (e * 9 + i as i64) * DAY / 2 + 3600;
            for k in -125..125 {
                let strike: f64 = spot + k as f64 * step;
                for option_type in [OptionType::Call, OptionType::Put] {
                    rows.push(Ok(Quote {
                        index: index.to_string(),
                        strike,
                        expiry,
                        option_type,
                        spot,
                        open_interest: 1000.0 + (k * k) as f64,
                        volume: 500.0,
                        iv: Some(0.12 + 0.0001 * (k * k) as f64),
                        bid: Some(10.0),
                        ask: Some(10.5),
                        spread_bps: None,
                        moneyness: None,
                        dte_days: None,
                    }));
                }
            }
        }
    }
    Snapshot {
        as_of: Some(as_of),
        rows,
    }
}

fn bench(c: &mut Criterion) {
    let snap = snapshot();
    assert_eq!(snap.rows.len(), 20_000);
    let mut agg = Aggregator::new();
    agg.process(&snap, Source::Replay, 0);
    let mut g = c.benchmark_group("option_chain");
    g.bench_function("aggregate_and_publish_20k_contracts", |b| {
        b.iter(|| black_box(agg.process(black_box(&snap), Source::Replay, 0)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
