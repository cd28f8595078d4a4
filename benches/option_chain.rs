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
    g.bench_function("analytics_20000", |b| {
        b.iter(|| {
            let a = analytics::of_snapshot(black_box(&snap), &rows, 1_900_000_000);
            published.publish(&a, Source::Replay);
            black_box(a)
        })
    });
    g.finish();
}

criterion_group!(benches, bench, analytics);
criterion_main!(benches);
