//! The column store, on a 20,000-contract snapshot (4 indices x 10 expiries, so 4
//! partition files): rows per second into Parquet through the store (rows built from
//! the messages, Snappy, fsync, atomic rename; goal: 200,000 rows/s or more) against
//! the parquet crate's `ArrowWriter` writing the same prebuilt batch to a file with no
//! sync and no rename (the limit). Bytes per row on disk are computed by
//! `examples/bench_report.rs`.

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

criterion_group!(benches, parquet);
criterion_main!(benches);
