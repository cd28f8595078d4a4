//! Replay speed in chain snapshots per second, for a 20,000-contract chain (4 indices x
//! 10 expiries; ten snapshots a minute apart per iteration), from Parquet and from
//! ClickHouse, side by side with:
//! - the read alone (`g6 replay` without aggregation), to show where the time goes;
//! - the physical limit of each store: the parquet crate decoding the same files with
//!   no grouping, and the `clickhouse` crate fetching the same rows with the same query;
//! - the live work on the same snapshots already in memory (aggregation + analytics);
//! - the OpenMetrics capture `--openmetrics` adds per snapshot.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use g6_metrics::bus::message;
use g6_metrics::labels::Source;
use g6_metrics::option_chain::aggregate::Aggregator;
use g6_metrics::option_chain::analytics;
use g6_metrics::option_chain::Snapshot;
use g6_metrics::replay::clickhouse::ClickHouseReader;
use g6_metrics::replay::openmetrics::Backfill;
use g6_metrics::replay::parquet::ParquetReader;
use g6_metrics::replay::{Limits, Range, Replayed, Replayer, SnapshotReader};
use g6_metrics::store::clickhouse::ClickHouseStore;
use g6_metrics::store::parquet::ParquetStore;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "common/chain.rs"]
mod chain;

#[path = "../tests/common/clickhouse.rs"]
mod clickhouse_server;

/// The reader's bounds with no settle time: the rows were all written before.
fn settled() -> Limits {
    Limits {
        settle: Duration::ZERO,
        ..Limits::default()
    }
}

const CONTRACTS: usize = 20_000;
const SNAPSHOTS: usize = 10;

/// Ten chain snapshots a minute apart, and their bus messages.
fn history() -> Vec<(Snapshot, Vec<Arc<message::ChainMessage>>)> {
    let base = chain::snapshot(CONTRACTS);
    let t0 = base.as_of.expect("as_of");
    (0..SNAPSHOTS as i64)
        .map(|k| {
            let mut snap = base.clone();
            snap.as_of = Some(t0 + 60 * k);
            // Values move a little, like a market.
            for q in snap.rows.iter_mut().flatten() {
                q.open_interest += k as f64;
            }
            let all: Vec<u32> = (0..snap.rows.len() as u32).collect();
            let msgs = message::build(&snap, &all, (t0 + 60 * k) * 1000, Source::Live, "bench")
                .into_iter()
                .map(|mut m| {
                    m.snapshot_id = (t0 + 60 * k) as u64 * 1_000_000;
                    Arc::new(m)
                })
                .collect();
            (snap, msgs)
        })
        .collect()
}

/// The bench chain's as-of time (see `common/chain.rs`) to an hour later.
fn range() -> Range {
    let t0 = 1_900_000_000;
    Range::new(t0 * 1000, (t0 + 3600) * 1000).expect("range")
}

/// Read every snapshot of `reader`, replaying them when `replayer` is given (and
/// capturing the OpenMetrics samples when `backfill` is); the number read.
fn drain(
    mut reader: Box<dyn SnapshotReader>,
    mut replayer: Option<&mut Replayer>,
    mut backfill: Option<&mut Backfill>,
) -> usize {
    let mut n = 0;
    while let Some(s) = reader.next_snapshot().expect("read") {
        n += 1;
        if let Some(r) = replayer.as_deref_mut() {
            let published = matches!(r.replay(&s), Replayed::Published { .. });
            if let (true, Some(b)) = (published, backfill.as_deref_mut()) {
                let text =
                    g6_runtime::scrape::encode_all_as(g6_runtime::encode::Format::OpenMetrics);
                b.capture(&String::from_utf8_lossy(&text), &s.index, s.as_of_ms)
                    .expect("room");
            }
        }
    }
    n
}

fn timed(iters: u64, mut f: impl FnMut()) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let t = Instant::now();
        f();
        total += t.elapsed();
    }
    total
}

fn parquet(c: &mut Criterion) {
    g6_metrics::metrics::init_all();
    let history = history();
    let dir = std::env::temp_dir().join(format!("g6-bench-replay-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut store = ParquetStore::open(&dir).expect("store");
    for (_, msgs) in &history {
        store.write(msgs).expect("write");
    }
    let per_chain = 4;
    let open = || {
        Box::new(ParquetReader::open(&dir, range(), &[]).expect("reader"))
            as Box<dyn SnapshotReader>
    };
    let mut g = c.benchmark_group("replay_parquet");
    g.sample_size(10);
    g.throughput(Throughput::Elements(SNAPSHOTS as u64));
    g.bench_function("g6_replay", |b| {
        b.iter_custom(|iters| {
            timed(iters, || {
                let mut r = Replayer::new(Duration::from_secs(600));
                assert_eq!(drain(open(), Some(&mut r), None), SNAPSHOTS * per_chain);
            })
        })
    });
    g.bench_function("g6_replay_with_openmetrics", |b| {
        b.iter_custom(|iters| {
            timed(iters, || {
                let mut r = Replayer::new(Duration::from_secs(600));
                let mut bf = Backfill::new(usize::MAX);
                assert_eq!(
                    drain(open(), Some(&mut r), Some(&mut bf)),
                    SNAPSHOTS * per_chain
                );
                assert!(bf.samples() > 0);
            })
        })
    });
    g.bench_function("g6_read_only", |b| {
        b.iter_custom(|iters| {
            timed(iters, || {
                assert_eq!(drain(open(), None, None), SNAPSHOTS * per_chain)
            })
        })
    });
    let files: Vec<std::path::PathBuf> = g6_metrics::store::lifecycle::files_under(&dir)
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "parquet"))
        .collect();
    g.bench_function("parquet_crate_decode_limit", |b| {
        b.iter_custom(|iters| {
            timed(iters, || {
                let mut rows = 0;
                for f in &files {
                    let file = std::fs::File::open(f).expect("open");
                    let reader =
                        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
                            file,
                        )
                        .expect("builder")
                        .build()
                        .expect("reader");
                    for batch in reader {
                        rows += batch.expect("batch").num_rows();
                    }
                }
                assert_eq!(rows, CONTRACTS * SNAPSHOTS);
            })
        })
    });
    g.bench_function("live_aggregation_and_analytics_in_memory", |b| {
        b.iter_custom(|iters| {
            timed(iters, || {
                let mut a = Aggregator::new();
                for (snap, _) in &history {
                    let t = snap.as_of.expect("as_of");
                    let agg = a.aggregate(snap, t);
                    let an = analytics::of_snapshot(snap, &agg.accepted_rows, t);
                    std::hint::black_box(&an);
                }
            })
        })
    });
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

/// One row as the reader selects it (the crate's limit reads the same).
#[derive(clickhouse::Row, serde::Deserialize)]
#[allow(dead_code)]
struct Row {
    index: String,
    expiry: u16,
    snapshot_id: u64,
    as_of_ms: i64,
    spot: f64,
    source: String,
    provider: String,
    strike: f64,
    option_type: String,
    oi: f64,
    volume: f64,
    iv: Option<f64>,
    bid: Option<f64>,
    ask: Option<f64>,
    spread_bps: Option<f64>,
    moneyness: Option<f64>,
    dte_days: Option<f64>,
}

fn clickhouse(c: &mut Criterion) {
    if !clickhouse_server::available() {
        eprintln!("skipping the ClickHouse benchmark: clickhouse-server is not installed");
        return;
    }
    g6_metrics::metrics::init_all();
    let history = history();
    let dir = std::env::temp_dir().join(format!("g6-bench-replay-ch-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let server = clickhouse_server::ClickHouse::start(&dir);
    let url = server.url("g6");
    let mut store = ClickHouseStore::open(&url).expect("store");
    for (_, msgs) in &history {
        store.write(msgs).expect("write");
    }
    server
        .query("OPTIMIZE TABLE g6.option_chain FINAL")
        .expect("merge");
    let mut g = c.benchmark_group("replay_clickhouse");
    g.sample_size(10);
    g.throughput(Throughput::Elements(SNAPSHOTS as u64));
    g.bench_function("g6_replay", |b| {
        b.iter_custom(|iters| {
            timed(iters, || {
                let reader = Box::new(
                    ClickHouseReader::open_with(&url, range(), &[], settled()).expect("reader"),
                );
                let mut r = Replayer::new(Duration::from_secs(600));
                assert_eq!(drain(reader, Some(&mut r), None), SNAPSHOTS * 4);
            })
        })
    });
    g.bench_function("g6_read_only", |b| {
        b.iter_custom(|iters| {
            timed(iters, || {
                let reader = Box::new(
                    ClickHouseReader::open_with(&url, range(), &[], settled()).expect("reader"),
                );
                assert_eq!(drain(reader, None, None), SNAPSHOTS * 4);
            })
        })
    });
    let client = g6_metrics::store::clickhouse::ClickHouseUrl::parse(&url)
        .expect("url")
        .client()
        .expect("client");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let r = range();
    g.bench_function("clickhouse_crate_fetch_limit", |b| {
        b.iter_custom(|iters| {
            timed(iters, || {
                let rows = runtime.block_on(async {
                    let mut cursor = client
                        .query(
                            "SELECT `index`, expiry, snapshot_id, as_of_ms, spot, source, provider, \
                             strike, `type`, oi, volume, iv, bid, ask, spread_bps, moneyness, dte_days \
                             FROM option_chain WHERE as_of_ms >= ? AND as_of_ms < ? \
                             ORDER BY as_of_ms, `index`, snapshot_id",
                        )
                        .bind(r.start_ms)
                        .bind(r.end_ms)
                        .fetch::<Row>()
                        .expect("fetch");
                    let mut n = 0usize;
                    while let Some(row) = cursor.next().await.expect("row") {
                        std::hint::black_box(&row);
                        n += 1;
                    }
                    n
                });
                assert_eq!(rows, CONTRACTS * SNAPSHOTS);
            })
        })
    });
    g.finish();
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, parquet, clickhouse);
criterion_main!(benches);
