//! The collection loop's real path after a fetch (`Runner::publish`: aggregate, one
//! consistent update of every bucket gauge, per-index provider metrics), on chains of
//! 20,000 (the target: under 2 ms), 50,000, 200,000 and 1,000,000 contracts, so the
//! per-row cost shows whether aggregation stays linear.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use g6_metrics::labels::Source;
use g6_metrics::option_chain::dates::DAY;
use g6_metrics::option_chain::runner::Runner;
use g6_metrics::option_chain::{OptionChainProvider, OptionType, ProviderError, Quote, Snapshot};
use std::hint::black_box;

/// `contracts` rows over 4 indices x 10 expiries, strikes spread around spot, CE/PE.
fn snapshot(contracts: usize) -> Snapshot {
    let as_of = 1_900_000_000;
    let per_expiry = contracts / 40 / 2;
    let mut rows = Vec::with_capacity(contracts);
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
            for k in 0..per_expiry {
                // Fractional strikes beyond the listed range keep every key distinct.
                let offset = k as f64 - per_expiry as f64 / 2.0;
                let strike: f64 = spot + offset * step / 10.0;
                for option_type in [OptionType::Call, OptionType::Put] {
                    rows.push(Ok(Quote {
                        index: index.to_string(),
                        strike,
                        expiry,
                        option_type,
                        spot,
                        open_interest: 1000.0 + (offset * offset) % 5000.0,
                        volume: 500.0,
                        iv: Some(0.12 + 0.000_01 * (offset * offset) % 0.3),
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

criterion_group!(benches, bench);
criterion_main!(benches);
