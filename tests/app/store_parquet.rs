//! The Parquet store: a `file:` fixture's contracts read back exactly for every
//! snapshot; a file is never visible under its final name before it is whole;
//! retention deletes only what is older than the limit, within its cap; a full disk
//! and an unusable data directory degrade with a count or a clear error.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use crate::common;

use g6_metrics::bus::inproc::InProcessBus;
use g6_metrics::bus::{Bus, Publisher};
use g6_metrics::option_chain::providers::{from_spec, ProviderLimits};
use g6_metrics::option_chain::runner::Runner;
use g6_metrics::store::lifecycle::{files_under, Lifecycle};
use g6_metrics::store::parquet::ParquetStore;
use g6_metrics::store::{Writer, WriterConfig};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

const FIXTURE: &str = "tests/fixtures/chains/bus.csv";
/// 2024-11-25T10:00:00Z, the fixture's as-of time.
const AS_OF: i64 = 1_732_528_800;

/// One stored row: (index, expiry days, snapshot id, as_of ms, strike, type, oi,
/// volume, iv, bid, ask, spread_bps).
type Row = (
    String,
    i32,
    u64,
    i64,
    f64,
    String,
    f64,
    f64,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
);

fn read_rows(dir: &Path) -> Vec<Row> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Date32Type, Float64Type, TimestampMillisecondType, UInt64Type};
    let mut rows = Vec::new();
    for file in files_under(dir) {
        if file.extension().is_none_or(|e| e != "parquet") {
            continue;
        }
        let f = std::fs::File::open(&file).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(f)
            .unwrap()
            .build()
            .unwrap();
        for batch in reader {
            let b = batch.unwrap();
            let col = |n: &str| b.column_by_name(n).unwrap().clone();
            let (index, expiry, snap, as_of) = (
                col("index"),
                col("expiry"),
                col("snapshot_id"),
                col("as_of"),
            );
            let (strike, kind, oi, volume) = (col("strike"), col("type"), col("oi"), col("volume"));
            let (iv, bid, ask, spread) = (col("iv"), col("bid"), col("ask"), col("spread_bps"));
            let opt = |a: &arrow_array::ArrayRef, i: usize| {
                let a = a.as_primitive::<Float64Type>();
                (!a.is_null(i)).then(|| a.value(i))
            };
            use arrow_array::Array;
            for i in 0..b.num_rows() {
                rows.push((
                    index.as_string::<i32>().value(i).to_string(),
                    expiry.as_primitive::<Date32Type>().value(i),
                    snap.as_primitive::<UInt64Type>().value(i),
                    as_of.as_primitive::<TimestampMillisecondType>().value(i),
                    strike.as_primitive::<Float64Type>().value(i),
                    kind.as_string::<i32>().value(i).to_string(),
                    oi.as_primitive::<Float64Type>().value(i),
                    volume.as_primitive::<Float64Type>().value(i),
                    opt(&iv, i),
                    opt(&bid, i),
                    opt(&ask, i),
                    opt(&spread, i),
                ));
            }
        }
    }
    rows
}

/// (index, expiry days, strike, type, oi, volume, iv, bid, ask, spread_bps).
type FixtureRow = (
    String,
    i32,
    f64,
    String,
    f64,
    f64,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
);

/// The fixture's valid rows straight from the CSV (IV as a ratio), without the app's
/// parser: (index, expiry days, strike, type, oi, volume, iv, bid, ask, spread_bps).
fn fixture_rows() -> Vec<FixtureRow> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut reader = csv::Reader::from_path(root.join(FIXTURE)).unwrap();
    let opt = |s: &str| (!s.is_empty()).then(|| s.parse::<f64>().unwrap());
    let days = |d: &str| {
        let t = chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap();
        (t - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()).num_days() as i32
    };
    reader
        .records()
        .map(|r| r.unwrap())
        .filter(|r| r[1].parse::<f64>().unwrap() != 0.0)
        .map(|r| {
            (
                r[0].to_string(),
                days(&r[2]),
                r[1].parse().unwrap(),
                r[3].to_string(),
                r[5].parse().unwrap(),
                r[6].parse().unwrap(),
                opt(&r[7]).map(|v| v / 100.0),
                opt(&r[8]),
                opt(&r[9]),
                opt(&r[10]),
            )
        })
        .collect()
}

#[test]
fn parquet_files_read_back_to_exactly_the_fixture_contracts_for_every_snapshot() {
    common::in_own_process(
        module_path!(),
        "parquet_files_read_back_to_exactly_the_fixture_contracts_for_every_snapshot",
        || {
            let dir = common::temp_dir("store_parquet_roundtrip");
            let root = Path::new(env!("CARGO_MANIFEST_DIR"));
            let inner = from_spec(
                &format!("file:{}", root.join(FIXTURE).display()),
                ProviderLimits::default(),
            )
            .unwrap();
            let bus = InProcessBus::new(256);
            let mut sub = bus.subscribe("store");
            let buses: Vec<Arc<dyn Bus>> = vec![bus];
            let mut runner = Runner::new(Box::new(common::Moving::new(inner)), false)
                .with_publisher(Publisher::new(buses));
            let mut writer: Writer<()> = Writer::new(
                Box::new(ParquetStore::open(&dir).unwrap()),
                WriterConfig::default(),
            );
            const SNAPSHOTS: i64 = 3;
            for i in 0..SNAPSHOTS {
                runner.tick_at((AS_OF + 60 * i + 30) as f64);
                while let Ok(m) = sub.try_recv() {
                    writer.push(m, ()).expect("a valid message");
                }
                // One flush per snapshot: several files per partition.
                writer.flush(Instant::now()).unwrap();
            }
            let rows = read_rows(&dir);
            let want = fixture_rows();
            let mut by_snapshot: BTreeMap<(String, u64), Vec<&Row>> = BTreeMap::new();
            for r in &rows {
                by_snapshot.entry((r.0.clone(), r.2)).or_default().push(r);
            }
            // Two indices x three snapshots, each with exactly its fixture rows.
            assert_eq!(by_snapshot.len(), 2 * SNAPSHOTS as usize, "{by_snapshot:?}");
            for ((index, _), got) in &by_snapshot {
                let mut got: Vec<_> = got
                    .iter()
                    .map(|r| {
                        (
                            r.0.clone(),
                            r.1,
                            r.4,
                            r.5.clone(),
                            r.6,
                            r.7,
                            r.8,
                            r.9,
                            r.10,
                            r.11,
                        )
                    })
                    .collect();
                let mut expect: Vec<_> = want.iter().filter(|w| &w.0 == index).cloned().collect();
                let key = |r: &FixtureRow| (r.1, (r.2 * 100.0) as i64, r.3.clone());
                got.sort_by_key(key);
                expect.sort_by_key(key);
                assert_eq!(got, expect, "{index}");
            }
            // Each snapshot keeps its own as-of time: one a minute apart.
            for index in ["NIFTY", "BANKNIFTY"] {
                let mut times: Vec<i64> = by_snapshot
                    .iter()
                    .filter(|((i, _), _)| i == index)
                    .map(|(_, rows)| rows[0].3)
                    .collect();
                times.sort();
                let want_times: Vec<i64> =
                    (0..SNAPSHOTS).map(|k| (AS_OF + 60 * k) * 1000).collect();
                assert_eq!(times, want_times, "{index}");
            }
            let counter = |name: &str| common::value(name, &[("table", "option_chain")]).unwrap();
            assert_eq!(counter("g6_cs_ingest_rows_total"), rows.len() as f64);
            assert_eq!(rows.len(), want.len() * SNAPSHOTS as usize);
            assert!(counter("g6_cs_ingest_bytes_total") > 0.0);
            // Partitioned by index and date, compressed, no temporary left.
            let names: Vec<String> = files_under(&dir)
                .iter()
                .map(|p| p.strip_prefix(&dir).unwrap().display().to_string())
                .collect();
            assert!(
                names
                    .iter()
                    .all(|n| n.starts_with("index=NIFTY/date=2024-11-25/part-")
                        || n.starts_with("index=BANKNIFTY/date=2024-11-25/part-")),
                "{names:?}"
            );
            assert!(names.iter().all(|n| n.ends_with(".parquet")), "{names:?}");
        },
    );
}

#[test]
fn a_file_is_never_visible_under_its_final_name_before_it_is_whole() {
    common::in_own_process(
        module_path!(),
        "a_file_is_never_visible_under_its_final_name_before_it_is_whole",
        || {
            let dir = common::temp_dir("store_parquet_atomic");
            let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
            // A reader opens every final-named file it can see, as fast as it can,
            // while large files are being written: each must read whole.
            let reader = {
                let (dir, stop) = (dir.clone(), Arc::clone(&stop));
                std::thread::spawn(move || {
                    let mut opened = 0;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        for f in files_under(&dir) {
                            if f.extension().is_some_and(|e| e == "parquet") {
                                let file = std::fs::File::open(&f).unwrap();
                                let rows: usize = ParquetRecordBatchReaderBuilder::try_new(file)
                                    .unwrap_or_else(|e| panic!("{} is not whole: {e}", f.display()))
                                    .build()
                                    .unwrap()
                                    .map(|b| b.unwrap().num_rows())
                                    .sum();
                                assert!(rows > 0);
                                opened += 1;
                            }
                        }
                    }
                    opened
                })
            };
            let mut runner = Runner::new(
                Box::new(
                    g6_metrics::option_chain::providers::synthetic::SyntheticProvider::new(3)
                        .fast(),
                ),
                false,
            );
            let bus = InProcessBus::new(4096);
            let mut sub = bus.subscribe("store");
            let buses: Vec<Arc<dyn Bus>> = vec![bus];
            runner = runner.with_publisher(Publisher::new(buses));
            let mut writer: Writer<()> = Writer::new(
                Box::new(ParquetStore::open(&dir).unwrap()),
                WriterConfig::default(),
            );
            for i in 0..30 {
                runner.tick_at(1_795_924_800.0 + i as f64);
                while let Ok(m) = sub.try_recv() {
                    writer.push(m, ()).expect("a valid message");
                }
                writer.flush(Instant::now()).unwrap();
            }
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            let opened = reader.join().expect("a reader saw a partial file");
            assert!(opened > 0, "the reader saw no file at all");
            assert!(files_under(&dir)
                .iter()
                .all(|f| f.extension().is_some_and(|e| e == "parquet")));
        },
    );
}

/// Age a file by `days`.
fn age(path: &Path, days: u64) {
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(SystemTime::now() - Duration::from_secs(days * 86_400))
        .unwrap();
}

#[test]
fn retention_deletes_only_files_older_than_the_limit_within_its_cap() {
    common::in_own_process(
        module_path!(),
        "retention_deletes_only_files_older_than_the_limit_within_its_cap",
        || {
            let dir = common::temp_dir("store_parquet_retention");
            let old_dir = dir.join("index=NIFTY/date=2024-01-01");
            let new_dir = dir.join("index=NIFTY/date=2024-01-09");
            std::fs::create_dir_all(&old_dir).unwrap();
            std::fs::create_dir_all(&new_dir).unwrap();
            let mut old = Vec::new();
            for (i, days) in [10u64, 9, 8].iter().enumerate() {
                let p = old_dir.join(format!("part-{i}.parquet"));
                std::fs::write(&p, vec![0u8; 100 * (i + 1)]).unwrap();
                age(&p, *days);
                old.push(p);
            }
            let young = new_dir.join("part-9.parquet");
            std::fs::write(&young, b"young").unwrap();
            age(&young, 6);
            let other = old_dir.join("notes.txt");
            std::fs::write(&other, b"not ours").unwrap();
            age(&other, 30);

            let retain = Duration::from_secs(7 * 86_400);
            // A cap of 2: the two oldest go first, the third in the next run.
            let l = Lifecycle::new(&dir, retain, 2, Duration::from_secs(300));
            let first = l.run(SystemTime::now());
            assert_eq!((first.deleted, first.reclaimed, first.left), (2, 300, 1));
            assert!(!old[0].exists() && !old[1].exists() && old[2].exists());
            assert_eq!(
                common::value("g6_lifecycle_delete_cap_utilization", &[]),
                Some(1.0)
            );
            let second = l.run(SystemTime::now());
            assert_eq!((second.deleted, second.reclaimed, second.left), (1, 300, 0));
            assert!(young.exists(), "6 days old is within 7d");
            assert!(
                other.exists(),
                "only Parquet files are the store's to delete"
            );
            assert_eq!(
                common::value("g6_lifecycle_deleted_files_total", &[]),
                Some(3.0)
            );
            assert_eq!(
                common::value("g6_lifecycle_reclaimed_bytes_total", &[]),
                Some(600.0)
            );
            assert_eq!(
                common::value("g6_lifecycle_delete_cap_utilization", &[]),
                Some(0.5)
            );
            assert_eq!(common::value("g6_lifecycle_scan_seconds", &[]), Some(2.0));
        },
    );
}

#[test]
fn a_full_disk_is_counted_the_rows_wait_and_no_file_is_corrupt() {
    let dir = common::temp_dir("store_parquet_full");
    // A 64 KiB file-size limit on the server: every write of a snapshot fails like a
    // full disk (EFBIG).
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_g6"));
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--provider",
        "synthetic:6:fast",
        "--interval",
        "200ms",
        "--store-flush",
        "300ms",
    ])
    .arg("--data-dir")
    .arg(&dir)
    .current_dir(env!("CARGO_MANIFEST_DIR"))
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::null());
    // SAFETY: setrlimit in the child before exec touches only the child.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 64 * 1024,
                rlim_max: 64 * 1024,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).unwrap();
    let addr = line
        .split("listening on http://")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap()
        .to_string();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _child = Kill(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = common::http(&addr, "GET", "/metrics", "").text();
        let samples = common::parse_exposition(&text);
        let get = |name: &str, labels: &[(&str, &str)]| common::find_sample(&samples, name, labels);
        let failures = get(
            "g6_cs_ingest_failures_total",
            &[("table", "option_chain"), ("store_failure", "no_space")],
        )
        .unwrap_or(0.0);
        let backlog = get("g6_cs_ingest_backlog_rows", &[("table", "option_chain")]).unwrap_or(0.0);
        let pressure = get(
            "g6_cs_ingest_backpressure_active",
            &[("table", "option_chain")],
        )
        .unwrap_or(0.0);
        let retries =
            get("g6_cs_ingest_retries_total", &[("table", "option_chain")]).unwrap_or(0.0);
        if failures >= 2.0 && backlog > 0.0 && pressure == 1.0 && retries >= 1.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "failures {failures}, backlog {backlog}, backpressure {pressure}, retries {retries}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Nothing half-written is visible: every file under a final name reads whole,
    // and no temporary is left behind.
    for f in files_under(&dir) {
        assert!(
            f.extension().is_some_and(|e| e == "parquet"),
            "{}",
            f.display()
        );
        let file = std::fs::File::open(&f).unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap_or_else(|e| panic!("{} is corrupt: {e}", f.display()));
        for b in reader.build().unwrap() {
            b.unwrap();
        }
    }
}

#[test]
fn an_unusable_data_dir_is_a_clear_usage_error() {
    let dir = common::temp_dir("store_parquet_unusable");
    let file = dir.join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_g6"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(file.join("data"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("a-file/data") && err.contains("writable --data-dir"),
        "{err}"
    );
    for bad in ["clickhouse-ish", "parquet:"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_g6"))
            .args(["serve", "--listen", "127.0.0.1:0", "--store", bad])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad}: {err}");
        assert!(
            err.contains("parquet:DIR") || err.contains("needs a directory"),
            "{err}"
        );
    }
}

#[test]
fn a_message_the_store_can_never_take_is_set_aside_and_the_rest_is_stored() {
    common::in_own_process(
        module_path!(),
        "a_message_the_store_can_never_take_is_set_aside_and_the_rest_is_stored",
        || {
            let dir = common::temp_dir("store_parquet_rejected");
            let mut writer: Writer<u32> = Writer::new(
                Box::new(ParquetStore::open(&dir).unwrap()),
                WriterConfig::default(),
            );
            let good = g6_metrics::bus::message::ChainMessage {
                schema_version: 1,
                index: "NIFTY".into(),
                snapshot_id: 7,
                as_of_ms: AS_OF * 1000,
                expiry: "2024-11-28".into(),
                expiry_unix: AS_OF + 3 * 86_400,
                spot: 24_000.0,
                source: 1,
                provider: "test".into(),
                part: 0,
                parts: 1,
                contracts: vec![g6_metrics::bus::message::Contract {
                    strike: 24_000.0,
                    option_type: 1,
                    open_interest: 10.0,
                    volume: 1.0,
                    iv: None,
                    bid: None,
                    ask: None,
                    spread_bps: None,
                    moneyness: None,
                    dte_days: None,
                    delta: None,
                    gamma: None,
                    vega: None,
                    theta: None,
                }],
            };
            let mut bad = good.clone();
            bad.expiry = "someday".into();
            let mut long = good.clone();
            long.index = "N".repeat(300);
            assert!(writer.push(Arc::new(bad), 1).is_err());
            assert!(writer.push(Arc::new(long), 2).is_err());
            assert!(writer.push(Arc::new(good), 3).is_ok());
            assert_eq!(writer.flush(Instant::now()).unwrap(), vec![3]);
            assert_eq!(read_rows(&dir).len(), 1);
            assert_eq!(
                common::value(
                    "g6_cs_ingest_dropped_rows_total",
                    &[("table", "option_chain"), ("store_drop_reason", "rejected")]
                ),
                Some(2.0)
            );
        },
    );
}

#[test]
fn compaction_merges_settled_small_files_into_one_with_the_same_rows_and_finishes_after_a_crash() {
    common::in_own_process(
        module_path!(),
        "compaction_merges_settled_small_files_into_one_with_the_same_rows_and_finishes_after_a_crash",
        || {
            let dir = common::temp_dir("store_parquet_compaction");
            let root = Path::new(env!("CARGO_MANIFEST_DIR"));
            let inner = from_spec(
                &format!("file:{}", root.join(FIXTURE).display()),
                ProviderLimits::default(),
            )
            .unwrap();
            let bus = InProcessBus::new(256);
            let mut sub = bus.subscribe("store");
            let buses: Vec<Arc<dyn Bus>> = vec![bus];
            let mut runner = Runner::new(Box::new(common::Moving::new(inner)), false)
                .with_publisher(Publisher::new(buses));
            let mut writer: Writer<()> = Writer::new(
                Box::new(ParquetStore::open(&dir).unwrap()),
                WriterConfig::default(),
            );
            // Four flushes: four small files in each of the two partitions.
            for i in 0..4 {
                runner.tick_at((AS_OF + 60 * i + 30) as f64);
                while let Ok(m) = sub.try_recv() {
                    writer.push(m, ()).expect("a valid message");
                }
                writer.flush(Instant::now()).unwrap();
            }
            let mut before = read_rows(&dir);
            before.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
            let files = files_under(&dir);
            assert_eq!(files.len(), 8);
            // Three of NIFTY's files settled (two hours old), the fourth fresh.
            let mut nifty: Vec<PathBuf> = files
                .iter()
                .filter(|p| p.to_string_lossy().contains("index=NIFTY/"))
                .cloned()
                .collect();
            nifty.sort();
            for p in &nifty[..3] {
                let f = std::fs::File::options().write(true).open(p).unwrap();
                f.set_modified(SystemTime::now() - Duration::from_secs(7200))
                    .unwrap();
            }
            // A small old file that is not ours to read: left alone, and no obstacle.
            let stray = nifty[0].parent().unwrap().join("part-0-1-1.parquet");
            std::fs::write(&stray, b"not parquet").unwrap();
            std::fs::File::options()
                .write(true)
                .open(&stray)
                .unwrap()
                .set_modified(SystemTime::now() - Duration::from_secs(7200))
                .unwrap();
            let l = Lifecycle::new(&dir, Duration::from_secs(7 * 86_400), 1000, Duration::ZERO)
                .with_compaction(16 << 20, Duration::from_secs(3600));
            let run = l.run(SystemTime::now());
            assert!(stray.exists(), "a file compaction cannot read stays");
            std::fs::remove_file(&stray).unwrap();
            assert_eq!((run.deleted, run.compacted), (0, 3));
            let after_files = files_under(&dir);
            // NIFTY: one merged file + the fresh one; BANKNIFTY untouched (all fresh).
            assert_eq!(after_files.len(), 6, "{after_files:?}");
            assert!(nifty[..3].iter().all(|p| !p.exists()));
            assert!(nifty[3].exists(), "a fresh file is left alone");
            let merged: Vec<&PathBuf> = after_files
                .iter()
                .filter(|p| p.file_name().unwrap().to_string_lossy().contains("-c"))
                .collect();
            assert_eq!(merged.len(), 1, "{after_files:?}");
            // The merged file keeps the data's age for retention.
            let mtime = std::fs::metadata(merged[0]).unwrap().modified().unwrap();
            assert!(SystemTime::now().duration_since(mtime).unwrap() >= Duration::from_secs(7000));
            let mut after = read_rows(&dir);
            after.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
            assert_eq!(after, before, "the same rows, each once");
            assert_eq!(
                common::value("g6_lifecycle_compacted_files_total", &[]),
                Some(3.0)
            );
            // A crash between the merged file's rename and the deletions: the inputs
            // come back beside it; the next run deletes them, and no row stays twice.
            let merged_path = merged[0].clone();
            let names: Vec<String> = nifty[..3]
                .iter()
                .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
                .collect();
            // Files under the inputs' names (copies of the merged one: rows twice) are
            // what such a crash leaves; they go by name.
            let merged_at = std::fs::metadata(&merged_path).unwrap().modified().unwrap();
            for n in &names {
                let input = merged_path.parent().unwrap().join(n);
                std::fs::copy(&merged_path, &input).unwrap();
                // As the inputs were: no newer than the merged file.
                let f = std::fs::File::options().write(true).open(&input).unwrap();
                f.set_modified(merged_at).unwrap();
            }
            let again = l.run(SystemTime::now());
            assert_eq!(again.compacted, 0);
            assert!(names
                .iter()
                .all(|n| !merged_path.parent().unwrap().join(n).exists()));
            let mut healed = read_rows(&dir);
            healed.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
            assert_eq!(healed, before);
        },
    );
}
