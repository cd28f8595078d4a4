//! The column store, on a 20,000-contract snapshot (4 indices x 10 expiries, so 4
//! partition files): rows per second into Parquet through the store (rows built from
//! the messages, Snappy, fsync, atomic rename; goal: 200,000 rows/s or more) against
//! the parquet crate's `ArrowWriter` writing the same prebuilt batch to a file with no
//! sync and no rename (the limit). Bytes per row on disk are computed by
//! `examples/bench_report.rs`.
//!
//! ClickHouse (a real server started here, Debian's 18.16): the same snapshot through
//! the store (rows built from the messages, one INSERT, RowBinary over HTTP) against
//! the `clickhouse` crate inserting the same prebuilt rows into a table of the same
//! schema (the limit; goal: the store at 80% of it or better). Bytes per row on disk
//! (ten synthetic-provider snapshots, merged) go to
//! `target/criterion/store_clickhouse_bytes_per_row.txt` for the report.
//!
//! A two-shard ClickHouse cluster (two servers here): the snapshot through the store
//! with `?cluster=` against the crate inserting the prebuilt rows into the cluster's
//! Distributed table (the limit), in the same run.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use g6_metrics::bus::message;
use g6_metrics::labels::Source;
use g6_metrics::store::parquet::{record_batch, schema, ParquetStore};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "common/chain.rs"]
mod chain;

#[path = "../tests/common/clickhouse.rs"]
mod clickhouse_server;

const CONTRACTS: usize = 20_000;

fn clear(dir: &std::path::Path) {
    for f in g6_metrics::store::lifecycle::files_under(dir) {
        let _ = std::fs::remove_file(f);
    }
}

fn parquet(c: &mut Criterion) {
    g6_metrics::metrics::init_all();
    let snap = chain::snapshot(CONTRACTS);
    let rows: Vec<u32> = (0..snap.rows.len() as u32).collect();
    let msgs: Vec<Arc<message::ChainMessage>> =
        message::build(&snap, &rows, 1_900_000_000_000, Source::Live, "bench")
            .into_iter()
            .map(Arc::new)
            .collect();
    let dir = std::env::temp_dir().join(format!("g6-bench-store-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut store = ParquetStore::open(&dir).expect("store");
    let mut g = c.benchmark_group("store_parquet_write");
    g.sample_size(20);
    g.throughput(Throughput::Elements(CONTRACTS as u64));
    g.bench_function("g6_parquet_store", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                let w = store.write(&msgs).expect("write");
                total += t.elapsed();
                assert_eq!(w.rows as usize, CONTRACTS);
                clear(&dir);
            }
            total
        })
    });
    let refs: Vec<&message::ChainMessage> = msgs.iter().map(|m| m.as_ref()).collect();
    let batch = record_batch(&refs).expect("batch");
    let limit = dir.join("limit.parquet");
    g.bench_function("arrow_writer_prebuilt_batch_limit", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                let file = std::fs::File::create(&limit).expect("file");
                let props = WriterProperties::builder()
                    .set_compression(Compression::SNAPPY)
                    .build();
                let mut w = ArrowWriter::try_new(file, schema(), Some(props)).expect("writer");
                w.write(&batch).expect("write");
                w.close().expect("close");
                total += t.elapsed();
            }
            total
        })
    });
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

fn clickhouse(c: &mut Criterion) {
    use g6_metrics::store::clickhouse::{create_table_sql, rows, ChainRow, ClickHouseStore};
    if !clickhouse_server::available() {
        eprintln!("skipping the ClickHouse benchmark: clickhouse-server is not installed");
        return;
    }
    g6_metrics::metrics::init_all();
    let snap = chain::snapshot(CONTRACTS);
    let all: Vec<u32> = (0..snap.rows.len() as u32).collect();
    let msgs: Vec<Arc<message::ChainMessage>> =
        message::build(&snap, &all, 1_900_000_000_000, Source::Live, "bench")
            .into_iter()
            .enumerate()
            .map(|(i, mut m)| {
                m.snapshot_id = 1 + i as u64;
                Arc::new(m)
            })
            .collect();
    let dir = std::env::temp_dir().join(format!("g6-bench-clickhouse-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let server = clickhouse_server::ClickHouse::start(&dir);
    let mut store = ClickHouseStore::open(&server.url("g6")).expect("store");
    store.ensure_table().expect("table");
    server
        .query("CREATE DATABASE IF NOT EXISTS direct")
        .expect("database");
    server.query(&create_table_sql("direct")).expect("table");
    let mut g = c.benchmark_group("store_clickhouse_write");
    g.sample_size(10);
    g.throughput(Throughput::Elements(CONTRACTS as u64));
    g.bench_function("g6_clickhouse_store", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                let w = store.write(&msgs).expect("write");
                total += t.elapsed();
                assert_eq!(w.rows as usize, CONTRACTS);
            }
            total
        })
    });
    // The limit: the crate alone, rows already built.
    let prebuilt: Vec<ChainRow<'_>> = msgs.iter().flat_map(|m| rows(m)).collect();
    let client = g6_metrics::store::clickhouse::ClickHouseUrl::parse(&server.url("direct"))
        .expect("url")
        .client()
        .expect("client");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    g.bench_function("clickhouse_crate_direct_insert_limit", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                runtime.block_on(async {
                    let mut insert = client
                        .insert::<ChainRow<'_>>("option_chain")
                        .await
                        .expect("insert");
                    for r in &prebuilt {
                        insert.write(r).await.expect("row");
                    }
                    insert.end().await.expect("end");
                });
                total += t.elapsed();
            }
            total
        })
    });
    g.finish();
    // On disk: ten snapshots of the synthetic provider (plausible, varied values; the
    // bench chain repeats itself and compresses unrealistically well), merged.
    let mut sizing = ClickHouseStore::open(&server.url("sizing")).expect("store");
    let mut provider = g6_metrics::option_chain::providers::synthetic::SyntheticProvider::new(1);
    for k in 0..10i64 {
        let snap = provider.snapshot_at(1_795_924_800 + 60 * k);
        let all: Vec<u32> = (0..snap.rows.len() as u32).collect();
        let msgs: Vec<Arc<message::ChainMessage>> = message::build(
            &snap,
            &all,
            (1_795_924_800 + 60 * k) * 1000,
            Source::Live,
            "bench",
        )
        .into_iter()
        .map(|mut m| {
            m.snapshot_id = 1 + k as u64;
            Arc::new(m)
        })
        .collect();
        sizing.write(&msgs).expect("write");
    }
    server
        .query("OPTIMIZE TABLE sizing.option_chain FINAL")
        .expect("merge");
    let per_row = server
        .query(
            "SELECT sum(bytes_on_disk) / sum(rows) FROM system.parts \
             WHERE active AND database = 'sizing' AND table = 'option_chain'",
        )
        .expect("parts");
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/criterion");
    let _ = std::fs::create_dir_all(&out);
    let _ = std::fs::write(
        out.join("store_clickhouse_bytes_per_row.txt"),
        per_row.trim(),
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The same snapshot into a two-shard cluster (two servers here, one replica each):
/// through the store (`?cluster=`, a synchronous insert into the Distributed table)
/// against the `clickhouse` crate inserting the prebuilt rows into a Distributed table
/// of the same cluster with the same settings (the limit).
fn clickhouse_cluster(c: &mut Criterion) {
    use g6_metrics::store::clickhouse::{rows, ChainRow, ClickHouseStore, ClickHouseUrl};
    if !clickhouse_server::available() {
        eprintln!("skipping the ClickHouse cluster benchmark: clickhouse-server is not installed");
        return;
    }
    g6_metrics::metrics::init_all();
    let snap = chain::snapshot(CONTRACTS);
    let all: Vec<u32> = (0..snap.rows.len() as u32).collect();
    let msgs: Vec<Arc<message::ChainMessage>> =
        message::build(&snap, &all, 1_900_000_000_000, Source::Live, "bench")
            .into_iter()
            .enumerate()
            .map(|(i, mut m)| {
                m.snapshot_id = 1 + i as u64;
                Arc::new(m)
            })
            .collect();
    let dir = std::env::temp_dir().join(format!("g6-bench-ch-cluster-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let servers =
        clickhouse_server::ClickHouse::start_cluster(&[dir.join("a"), dir.join("b")], "bench");
    let url = |db: &str| {
        format!(
            "{}?cluster=bench&shards={},{}",
            servers[0].url(db),
            servers[0].addr(),
            servers[1].addr()
        )
    };
    let mut store = ClickHouseStore::open(&url("g6")).expect("store");
    store.ensure_table().expect("tables");
    // The limit's tables, made by the store's DDL in another database.
    ClickHouseStore::open(&url("direct"))
        .expect("store")
        .ensure_table()
        .expect("tables");
    let mut g = c.benchmark_group("store_clickhouse_cluster_write");
    g.sample_size(10);
    g.throughput(Throughput::Elements(CONTRACTS as u64));
    g.bench_function("g6_clickhouse_store_two_shards", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                let w = store.write(&msgs).expect("write");
                total += t.elapsed();
                assert_eq!(w.rows as usize, CONTRACTS);
            }
            total
        })
    });
    let prebuilt: Vec<ChainRow<'_>> = msgs.iter().flat_map(|m| rows(m)).collect();
    let client = ClickHouseUrl::parse(&url("direct"))
        .expect("url")
        .client()
        .expect("client");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    g.bench_function("clickhouse_crate_distributed_insert_limit", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                runtime.block_on(async {
                    let mut insert = client
                        .insert::<ChainRow<'_>>("option_chain")
                        .await
                        .expect("insert");
                    for r in &prebuilt {
                        insert.write(r).await.expect("row");
                    }
                    insert.end().await.expect("end");
                });
                total += t.elapsed();
            }
            total
        })
    });
    g.finish();
    // Both shards took rows (the sharding key spreads the snapshot's expiries).
    for s in &servers {
        let n = s.number("SELECT count() FROM g6.option_chain_local");
        assert!(n > 0, "a shard took no rows");
    }
    drop(servers);
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, parquet, clickhouse, clickhouse_cluster);
criterion_main!(benches);
