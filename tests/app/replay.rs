//! Replay from the Parquet store: snapshots come back in as-of order, rows of one
//! snapshot spread over two files come together, re-delivered rows are collapsed, and
//! each snapshot aggregates to exactly what live aggregation computed; the range is
//! half-open and `--index` prunes; a corrupt file is reported and stepped over; the
//! command's messages and exit codes for bad, empty and gappy ranges; the bounds: a
//! FIFO, a dictionary bomb and a file over the row cap are skipped with path and
//! reason while the good rows replay within 1 GiB, an `as_of` in microseconds is read
//! in its unit and one without a unit is skipped naming the file.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use crate::common;

use common::replay::{expected, history, same_buckets, Stored, T0};
use g6_metrics::bus::ChainMessage;
use g6_metrics::labels::ReplaySkip;
use g6_metrics::replay::parquet::ParquetReader;
use g6_metrics::replay::{Limits, Range, Replayed, Replayer, SnapshotReader, StoredSnapshot};
use g6_metrics::store::parquet::ParquetStore;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

const INDICES: [&str; 3] = ["BANKNIFTY", "FINNIFTY", "NIFTY"];

/// Store `history` under `dir` in several flushes: the last snapshot's messages split
/// over two files written out of order, and snapshot 1 stored twice (a re-delivery).
fn store(dir: &Path, history: &[Stored]) -> usize {
    let mut s = ParquetStore::open(dir).unwrap();
    let n = history.len();
    let all = |r: std::ops::Range<usize>| -> Vec<Arc<ChainMessage>> {
        history[r].iter().flat_map(|h| h.messages.clone()).collect()
    };
    let last = &history[n - 1].messages;
    let (a, b) = last.split_at(last.len() / 2);
    // The second half first: files are not written in as-of order.
    s.write(b).unwrap();
    s.write(&all(0..n - 1)).unwrap();
    s.write(a).unwrap();
    s.write(&history[1].messages).unwrap();
    history[1].messages.iter().map(|m| m.contracts.len()).sum()
}

fn range_all() -> Range {
    Range::new(T0 * 1000, (T0 + 3600) * 1000).unwrap()
}

fn read_all(r: &mut dyn SnapshotReader) -> Vec<StoredSnapshot> {
    let mut out = Vec::new();
    while let Some(s) = r.next_snapshot().unwrap() {
        out.push(s);
    }
    out
}

#[test]
fn replay_from_parquet_gives_each_snapshot_in_as_of_order_with_its_live_aggregation() {
    common::in_own_process(
        module_path!(),
        "replay_from_parquet_gives_each_snapshot_in_as_of_order_with_its_live_aggregation",
        || {
            let dir = common::temp_dir("replay-parquet-order");
            let history = history(5, T0, 60, None);
            let redelivered = store(&dir, &history);
            let mut reader = ParquetReader::open(&dir, range_all(), &[]).unwrap();
            let snapshots = read_all(&mut reader);
            assert!(reader.take_problems().is_empty());
            let keys: Vec<(i64, String)> = snapshots
                .iter()
                .map(|s| (s.as_of_ms / 1000, s.index.clone()))
                .collect();
            let want = expected(&history, &INDICES);
            let want_keys: Vec<(i64, String)> = want.iter().map(|(k, _)| k.clone()).collect();
            assert_eq!(
                keys, want_keys,
                "one snapshot per (as-of, index), in as-of order"
            );
            // The re-delivered copy of snapshot 1 is collapsed, not counted twice.
            let duplicates: u64 = snapshots.iter().map(|s| s.duplicates).sum();
            assert_eq!(duplicates as usize, redelivered);
            let mut replayer = Replayer::new(Duration::from_secs(600));
            for (s, (key, live)) in snapshots.iter().zip(&want) {
                // Every stored row came back: the split last snapshot is whole.
                let stored: usize = history
                    .iter()
                    .flat_map(|h| &h.messages)
                    .filter(|m| m.index == s.index && m.as_of_ms == s.as_of_ms)
                    .map(|m| m.contracts.len())
                    .sum();
                assert_eq!(s.snapshot.rows.len(), stored, "{key:?}");
                match replayer.replay(s) {
                    Replayed::Published { aggregation, .. } => {
                        same_buckets(&aggregation, live).unwrap_or_else(|e| panic!("{key:?}: {e}"))
                    }
                    other => panic!("{key:?}: {other:?}"),
                }
            }
            let summary = replayer.summary();
            assert_eq!(summary.snapshots, 15);
            assert_eq!(summary.gap_count, 0);
            assert_eq!(summary.first_ms, Some(T0 * 1000));
            assert_eq!(summary.last_ms, Some((T0 + 240) * 1000));
            // The gauges hold the last snapshot's values, labelled source="replay".
            let (_, last) = want.last().unwrap();
            let nifty = &last.per_index["NIFTY"];
            let total_oi: f64 = nifty.iter().map(|b| b.open_interest).sum();
            let samples = common::samples();
            let published: f64 = samples
                .iter()
                .filter(|s| {
                    s.name == "g6_option_open_interest"
                        && s.labels.contains(&("index".into(), "NIFTY".into()))
                        && s.labels.contains(&("source".into(), "replay".into()))
                })
                .map(|s| s.value)
                .sum();
            assert!(
                (published - total_oi).abs() < 1e-6 * total_oi,
                "{published} vs {total_oi}"
            );
        },
    );
}

#[test]
fn the_parquet_reader_knows_the_span_of_the_data_inside_the_asked_range_for_progress() {
    let dir = common::temp_dir("replay-parquet-extent");
    // Snapshots at T0, T0+60, ..., T0+240; asked for the whole hour around them.
    store(&dir, &history(5, T0, 60, None));
    let whole = ParquetReader::open(&dir, range_all(), &[]).unwrap();
    assert_eq!(
        whole.extent(),
        Some(Range::new(T0 * 1000, (T0 + 240) * 1000 + 1).unwrap()),
        "from the first snapshot to just after the last, not the asked hour"
    );
    // Asked for less than the data: the asked range bounds it.
    let part = Range::new((T0 + 60) * 1000, (T0 + 180) * 1000).unwrap();
    let reader = ParquetReader::open(&dir, part, &[]).unwrap();
    assert_eq!(reader.extent(), Some(part));
}

#[test]
fn the_range_is_half_open_and_the_index_filter_reads_only_that_index() {
    let dir = common::temp_dir("replay-parquet-range");
    let history = history(5, T0, 60, None);
    store(&dir, &history);
    let range = Range::new((T0 + 60) * 1000, (T0 + 180) * 1000).unwrap();
    let mut reader = ParquetReader::open(&dir, range, &["NIFTY".to_string()]).unwrap();
    let got: Vec<(i64, String)> = read_all(&mut reader)
        .iter()
        .map(|s| (s.as_of_ms / 1000, s.index.clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            (T0 + 60, "NIFTY".to_string()),
            (T0 + 120, "NIFTY".to_string())
        ]
    );
    // Only NIFTY's files are read: with the whole day, every file of its directory.
    let nifty_files = std::fs::read_dir(dir.join("index=NIFTY").join("date=2024-11-25"))
        .unwrap()
        .count();
    let whole = ParquetReader::open(&dir, range_all(), &["NIFTY".to_string()]).unwrap();
    assert_eq!(whole.file_count(), nifty_files);
    assert!(reader.file_count() <= nifty_files);
    let unknown = ParquetReader::open(&dir, range, &["SENSEX".to_string()]);
    let err = unknown.err().expect("no such index");
    assert!(
        err.contains("no index=<INDEX> directories for --index SENSEX"),
        "{err}"
    );
}

#[test]
fn milliseconds_survive_the_store_and_decide_the_range() {
    let dir = common::temp_dir("replay-parquet-ms");
    let history = history(2, T0, 60, None);
    let mut s = ParquetStore::open(&dir).unwrap();
    for (k, h) in history.iter().enumerate() {
        let moved: Vec<Arc<ChainMessage>> = h
            .messages
            .iter()
            .map(|m| {
                let mut m = (**m).clone();
                m.as_of_ms += 250 * k as i64;
                Arc::new(m)
            })
            .collect();
        s.write(&moved).unwrap();
    }
    let second = (T0 + 60) * 1000 + 250;
    // Starting 1 ms after the second snapshot leaves it out; at it, it is in.
    for (start, want) in [(second + 1, 0), (second, 3)] {
        let range = Range::new(start, (T0 + 3600) * 1000).unwrap();
        let got = read_all(&mut ParquetReader::open(&dir, range, &[]).unwrap());
        assert_eq!(got.len(), want, "from {start}");
        assert!(got.iter().all(|s| s.as_of_ms == second));
    }
}

#[test]
fn a_corrupt_file_is_reported_with_its_path_and_the_rest_is_replayed() {
    let dir = common::temp_dir("replay-parquet-corrupt");
    let history = history(3, T0, 60, None);
    store(&dir, &history);
    let date_dir = dir.join("index=NIFTY").join("date=2024-11-25");
    let bad = date_dir.join("part-1-1-1.parquet");
    std::fs::write(&bad, b"PAR1 this is not parquet").unwrap();
    // A half-written file under its temporary name is not ours to read.
    std::fs::write(date_dir.join(".part-2-2-2.parquet.tmp"), b"half").unwrap();
    let mut reader = ParquetReader::open(&dir, range_all(), &[]).unwrap();
    let problems = reader.take_problems();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains(&bad.display().to_string())
            && problems[0].contains("cannot read it as Parquet"),
        "{problems:?}"
    );
    assert_eq!(read_all(&mut reader).len(), 9);
}

fn g6(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_g6"))
        .arg("replay")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_and_empty_ranges_say_what_to_do_and_exit_non_zero_only_when_nothing_replayed() {
    let dir = common::temp_dir("replay-cli");
    // Three snapshots, then 20 minutes without one, then two more.
    let history = history(5, T0, 60, Some((3, 1200)));
    store(&dir, &history);
    let from = format!("parquet:{}", dir.display());
    // --end before --start: a usage error that explains the half-open range.
    let (code, _, err) = g6(&[
        "--from",
        &from,
        "--start",
        "2024-11-25",
        "--end",
        "2024-11-25",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--end is exclusive") && err.contains("--end 2026-11-21"),
        "{err}"
    );
    // An unreadable time names the forms that work.
    let (code, _, err) = g6(&[
        "--from",
        &from,
        "--start",
        "2024-11-25T09:15",
        "--end",
        "2024-11-26",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("needs a zone"), "{err}");
    // Not a store.
    let (code, _, err) = g6(&[
        "--from",
        "s3://x",
        "--start",
        "2024-11-25",
        "--end",
        "2024-11-26",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("parquet:DIR or clickhouse://"), "{err}");
    let (code, _, err) = g6(&[
        "--from",
        "parquet:/nonexistent/g6",
        "--start",
        "2024-11-25",
        "--end",
        "2024-11-26",
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("is not a directory") && err.contains("nothing replayed"),
        "{err}"
    );
    // A range with no data: nothing replayed, exit 1.
    let (code, _, err) = g6(&[
        "--from",
        &from,
        "--start",
        "2024-11-20",
        "--end",
        "2024-11-21",
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("nothing replayed: no usable snapshot between 2024-11-20"),
        "{err}"
    );
    // The whole day: everything replayed, the gap reported, exit 0.
    let om = dir.join("out.om");
    let (code, out, err) = g6(&[
        "--from",
        &from,
        "--start",
        "2024-11-25",
        "--end",
        "2024-11-26",
        "--openmetrics",
        om.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("replayed 15 snapshots"), "{out}");
    assert!(
        err.contains("3 gaps longer than 10m") && err.contains("NIFTY: no snapshot from 2024-11-25 04:02:00.000 UTC to 2024-11-25 04:23:00.000 UTC (21m)"),
        "{err}"
    );
    let text = std::fs::read_to_string(&om).unwrap();
    assert!(text.ends_with("# EOF\n"));
    // A corrupt file costs its rows only: exit 0, its path in a warning.
    let bad = dir
        .join("index=NIFTY")
        .join("date=2024-11-25")
        .join("part-9-9-9.parquet");
    std::fs::write(&bad, b"garbage").unwrap();
    let (code, out, err) = g6(&[
        "--from",
        &from,
        "--start",
        "2024-11-25",
        "--end",
        "2024-11-26",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.contains(&bad.display().to_string()) && err.contains("1 problems stepped over"),
        "{err}"
    );
    assert!(out.contains("replayed 15 snapshots"), "{out}");
}

/// The (time, sample line) pairs of a backfill file.
fn samples_of(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

#[test]
fn a_backfill_cut_by_max_samples_resumes_where_it_ends_and_the_parts_add_up_to_the_whole() {
    let dir = common::temp_dir("replay-cut");
    let history = history(5, T0, 60, None);
    store(&dir, &history);
    let from = format!("parquet:{}", dir.display());
    let day = ["--start", "2024-11-25", "--end", "2024-11-26"];
    let whole = dir.join("whole.om");
    let (code, _, err) = g6(&[
        &["--from", &from, "--openmetrics", whole.to_str().unwrap()][..],
        &day[..],
    ]
    .concat());
    assert_eq!(code, 0, "{err}");
    let all = samples_of(&whole);
    assert_eq!(all.len() % 5, 0);
    // Room for two and a half as-of times: the file ends after two whole ones.
    let room = (all.len() / 5 * 5 / 2).to_string();
    let first = dir.join("first.om");
    let (code, _, err) = g6(&[
        &[
            "--from",
            &from,
            "--openmetrics",
            first.to_str().unwrap(),
            "--max-samples",
            &room,
        ][..],
        &day[..],
    ]
    .concat());
    assert_eq!(code, 0, "{err}");
    let resume = format!("--start {}", T0 + 120);
    assert!(err.contains(&resume), "{err}");
    let part1 = samples_of(&first);
    assert_eq!(part1.len(), all.len() / 5 * 2);
    let second = dir.join("second.om");
    let start = (T0 + 120).to_string();
    let (code, _, err) = g6(&[
        "--from",
        &from,
        "--openmetrics",
        second.to_str().unwrap(),
        "--start",
        &start,
        "--end",
        "2024-11-26",
    ]);
    assert_eq!(code, 0, "{err}");
    let mut parts: Vec<String> = part1.into_iter().chain(samples_of(&second)).collect();
    let mut all_sorted = all.clone();
    // The OI change restarts at the second part's first snapshot (its baseline);
    // every other series adds up exactly.
    let not_oi_change = |l: &String| !l.starts_with("g6_chain_open_interest_change");
    parts.retain(not_oi_change);
    all_sorted.retain(not_oi_change);
    parts.sort();
    all_sorted.sort();
    assert_eq!(parts, all_sorted);
}

#[test]
fn ctrl_c_finishes_the_current_as_of_time_writes_the_backfill_and_says_where_to_resume() {
    let dir = common::temp_dir("replay-interrupt");
    let history = history(3, T0, 60, None);
    store(&dir, &history);
    let om = dir.join("part.om");
    // At the recorded speed the second as-of time is a minute away.
    let mut child = Command::new(env!("CARGO_BIN_EXE_g6"))
        .args(["replay", "--from"])
        .arg(format!("parquet:{}", dir.display()))
        .args([
            "--start",
            "2024-11-25",
            "--end",
            "2024-11-26",
            "--speed",
            "1x",
            "--openmetrics",
        ])
        .arg(&om)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt once the first snapshot is replayed (its progress line), while the
    // replay waits for the second.
    let (lines_tx, lines) = std::sync::mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut all = String::new();
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = lines_tx.send(line.clone());
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.contains("replaying") => break,
            Ok(_) => {}
            Err(e) => panic!("no progress line within 60 s ({e})"),
        }
    }
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let status = child.wait().unwrap();
    let err = reader.join().unwrap();
    assert!(status.success(), "{err}");
    assert!(
        err.contains(&format!("Resume with --start {}", T0 + 60)),
        "{err}"
    );
    let lines = samples_of(&om);
    assert!(!lines.is_empty());
    assert!(
        lines.iter().all(|l| l.ends_with(&format!(" {T0}"))),
        "only the first as-of time"
    );
}

/// Output of a `g6 replay` run, with its peak memory.
struct Measured {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    /// Peak resident set of the process (ru_maxrss), bytes.
    peak_rss: u64,
    took: Duration,
}

/// Run `g6 replay ARGS` to its end (at most `limit`), reaping it with wait4 for its
/// own peak RSS (an upper bound: Linux may count the test process's resident set at
/// the spawn too).
// The child is reaped by wait4 (for its rusage), which clippy does not see.
#[allow(clippy::zombie_processes)]
fn replay_measured(args: &[&str], limit: Duration) -> Measured {
    use std::io::Read;
    let started = std::time::Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_g6"))
        .arg("replay")
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is plain data, filled by wait4.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: pid is our child; status and usage are valid for writes.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if r == pid {
            break;
        }
        assert!(r == 0, "wait4: {}", std::io::Error::last_os_error());
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("g6 replay {args:?} still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    Measured {
        code,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
        // Linux reports KiB.
        peak_rss: u64::try_from(usage.ru_maxrss).unwrap_or(0) * 1024,
        took: started.elapsed(),
    }
}

/// The store's schema with its string columns as dictionaries.
fn dictionary_schema() -> Arc<arrow_schema::Schema> {
    use arrow_schema::{DataType, Field, Schema};
    let store = g6_metrics::store::parquet::schema();
    let fields: Vec<Field> = store
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Utf8 => Field::new(
                f.name(),
                DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
                f.is_nullable(),
            ),
            _ => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new(fields))
}

/// `rows` option-chain rows at `as_of_ms` whose strings are each one dictionary value
/// (the index `index`), numbers constant: cheap to build and to write.
fn constant_batch(
    schema: &Arc<arrow_schema::Schema>,
    rows: usize,
    index: &str,
    as_of_ms: i64,
) -> arrow_array::RecordBatch {
    use arrow_array::types::Int32Type;
    use arrow_array::{
        ArrayRef, Date32Array, DictionaryArray, Float64Array, Int32Array, StringArray,
        TimestampMillisecondArray, UInt64Array,
    };
    let dict = |v: &str| -> ArrayRef {
        Arc::new(
            DictionaryArray::<Int32Type>::try_new(
                Int32Array::from(vec![0; rows]),
                Arc::new(StringArray::from(vec![v])),
            )
            .unwrap(),
        )
    };
    let f64s = |v: f64| -> ArrayRef { Arc::new(Float64Array::from(vec![v; rows])) };
    let nulls = || -> ArrayRef { Arc::new(Float64Array::from(vec![None; rows])) };
    let columns: Vec<ArrayRef> = vec![
        dict(index),
        // 2024-11-28.
        Arc::new(Date32Array::from(vec![20_055; rows])),
        Arc::new(UInt64Array::from(vec![7; rows])),
        Arc::new(TimestampMillisecondArray::from(vec![as_of_ms; rows]).with_timezone("UTC")),
        f64s(24_000.0),
        dict("live"),
        dict("synthetic"),
        f64s(24_000.0),
        dict("CE"),
        f64s(10.0),
        f64s(1.0),
        nulls(),
        nulls(),
        nulls(),
        nulls(),
        nulls(),
        nulls(),
        // The Greeks (schema 2).
        nulls(),
        nulls(),
        nulls(),
        nulls(),
    ];
    arrow_array::RecordBatch::try_new(schema.clone(), columns).unwrap()
}

/// Write `batch` `times` times into one Parquet file at `path`. Only the string
/// columns are dictionary-encoded and nothing has statistics but `as_of` and the
/// strings' sizes: 6 million rows write in seconds, not a minute, even unoptimised.
fn write_parquet(path: &Path, batch: &arrow_array::RecordBatch, times: usize) {
    use parquet::file::properties::EnabledStatistics;
    use parquet::schema::types::ColumnPath;
    let file = std::fs::File::create(path).unwrap();
    let mut props = parquet::file::properties::WriterProperties::builder()
        .set_compression(parquet::basic::Compression::SNAPPY)
        .set_dictionary_enabled(false)
        .set_statistics_enabled(EnabledStatistics::None);
    for column in ["index", "source", "provider", "type"] {
        props = props
            .set_column_dictionary_enabled(ColumnPath::from(column), true)
            .set_column_statistics_enabled(ColumnPath::from(column), EnabledStatistics::Chunk);
    }
    let props = props
        .set_column_statistics_enabled(ColumnPath::from("as_of"), EnabledStatistics::Chunk)
        .build();
    let mut w = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), Some(props)).unwrap();
    for _ in 0..times {
        w.write(batch).unwrap();
    }
    w.close().unwrap();
}

/// Write `batch` once, then a Parquet file at `path` of its row group copied `times`
/// times, encoded bytes and all: many rows written in the time of a few.
fn write_repeated(path: &Path, batch: &arrow_array::RecordBatch, times: usize) {
    use parquet::column::writer::ColumnCloseResult;
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::file::writer::SerializedFileWriter;
    let mut one = path.as_os_str().to_os_string();
    one.push(".one");
    let one = std::path::PathBuf::from(one);
    write_parquet(&one, batch, 1);
    let source = std::fs::File::open(&one).unwrap();
    let meta = SerializedFileReader::new(source.try_clone().unwrap())
        .unwrap()
        .metadata()
        .clone();
    assert_eq!(meta.num_row_groups(), 1);
    let props = parquet::file::properties::WriterProperties::builder()
        .set_key_value_metadata(meta.file_metadata().key_value_metadata().cloned())
        .build();
    let mut w = SerializedFileWriter::new(
        std::fs::File::create(path).unwrap(),
        meta.file_metadata().schema_descr().root_schema_ptr(),
        Arc::new(props),
    )
    .unwrap();
    let group = meta.row_group(0);
    for _ in 0..times {
        let mut rg = w.next_row_group().unwrap();
        for chunk in group.columns() {
            rg.append_column(
                &source,
                ColumnCloseResult {
                    bytes_written: chunk.compressed_size() as u64,
                    rows_written: group.num_rows() as u64,
                    metadata: chunk.clone(),
                    bloom_filter: None,
                    column_index: None,
                    offset_index: None,
                },
            )
            .unwrap();
        }
        rg.close().unwrap();
    }
    w.close().unwrap();
    std::fs::remove_file(&one).unwrap();
}

/// Contracts live aggregation accepts over `history`.
fn accepted(history: &[Stored]) -> u64 {
    expected(history, &INDICES)
        .iter()
        .map(|(_, a)| a.accepted)
        .sum()
}

#[test]
fn a_fifo_a_dictionary_bomb_and_a_6m_row_file_are_skipped_with_reasons_while_every_good_row_replays_within_1_gib(
) {
    let dir = common::temp_dir("replay-bounds");
    let history = history(3, T0, 60, None);
    let mut s = ParquetStore::open(&dir).unwrap();
    for h in &history {
        s.write(&h.messages).unwrap();
    }
    let day = dir.join("index=NIFTY").join("date=2024-11-25");
    // A FIFO with a store file's name: opening it for reading would block forever.
    let fifo = day.join("part-x.parquet");
    let name = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid C string; mkfifo only creates the node.
    assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o644) }, 0);
    // 20,000 rows sharing a dictionary-encoded 200 KB index (one dictionary per row
    // group of 1,000: the writer hashes the string once per row): 4 GB as plain
    // strings.
    let schema = dictionary_schema();
    let bomb = day.join("part-bomb.parquet");
    let long_index = "N".repeat(200 * 1024);
    write_repeated(
        &bomb,
        &constant_batch(&schema, 1_000, &long_index, (T0 + 30) * 1000),
        20,
    );
    let bomb_size = std::fs::metadata(&bomb).unwrap().len();
    assert!(
        bomb_size < 1 << 20,
        "the bomb is small on disk: {bomb_size}"
    );
    // 6 million rows, over the 5 million rows a file may hold.
    let big = dir
        .join("index=BANKNIFTY")
        .join("date=2024-11-25")
        .join("part-big.parquet");
    write_repeated(
        &big,
        &constant_batch(&schema, 100_000, "BANKNIFTY", (T0 + 90) * 1000),
        60,
    );
    let from = format!("parquet:{}", dir.display());
    let run = replay_measured(
        &[
            "--from",
            &from,
            "--start",
            "2024-11-25",
            "--end",
            "2024-11-26",
        ],
        Duration::from_secs(90),
    );
    let (out, err) = (&run.stdout, &run.stderr);
    assert_eq!(run.code, Some(0), "{out}{err}");
    assert!(
        run.peak_rss < 1 << 30,
        "peak RSS {} MiB",
        run.peak_rss >> 20
    );
    // Every good row: 3 snapshots of 3 indices, each contract once.
    assert!(
        out.contains(&format!(
            "replayed 9 snapshots ({} contracts)",
            accepted(&history)
        )),
        "{out}"
    );
    for (path, reason, why) in [
        (&fifo, "not_regular", "it is a FIFO, not a regular file"),
        (
            &bomb,
            "too_large",
            "its 20000 rows would take about 3.8 GiB in memory once decoded, more than --max-file-bytes 1.0 GiB",
        ),
        (&big, "too_many_rows", "it holds 6000000 rows, more than --max-file-rows 5000000"),
    ] {
        let line = format!("skipping {} ({reason}): {why}", path.display());
        assert_eq!(err.matches(&line).count(), 1, "{line} once in:\n{err}");
    }
    assert!(
        err.contains("left out of the replay (g6_replay_skipped_total): 1 not_regular, 1 too_many_rows, 1 too_large"),
        "{err}"
    );
    eprintln!(
        "replay took {:?}, peak RSS {} MiB",
        run.took,
        run.peak_rss >> 20
    );
}

/// Rewrite the Parquet file `src` to `dst` with its `as_of` column replaced by
/// `as_of(ms values)`.
fn rewrite_as_of(
    src: &Path,
    dst: &Path,
    as_of: impl Fn(Vec<i64>) -> (arrow_schema::DataType, arrow_array::ArrayRef),
) {
    use arrow_array::cast::AsArray;
    use arrow_array::types::TimestampMillisecondType;
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        std::fs::File::open(src).unwrap(),
    )
    .unwrap()
    .build()
    .unwrap();
    let mut writer: Option<parquet::arrow::ArrowWriter<std::fs::File>> = None;
    for batch in reader {
        let batch = batch.unwrap();
        let i = batch.schema().index_of("as_of").unwrap();
        let ms: Vec<i64> = batch
            .column(i)
            .as_primitive::<TimestampMillisecondType>()
            .values()
            .to_vec();
        let (ty, array) = as_of(ms);
        let mut fields: Vec<arrow_schema::Field> = batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields[i] = arrow_schema::Field::new("as_of", ty, false);
        let schema = Arc::new(arrow_schema::Schema::new(fields));
        let mut columns = batch.columns().to_vec();
        columns[i] = array;
        let batch = arrow_array::RecordBatch::try_new(schema.clone(), columns).unwrap();
        writer
            .get_or_insert_with(|| {
                parquet::arrow::ArrowWriter::try_new(
                    std::fs::File::create(dst).unwrap(),
                    schema,
                    None,
                )
                .unwrap()
            })
            .write(&batch)
            .unwrap();
    }
    writer.unwrap().close().unwrap();
}

#[test]
fn an_as_of_in_microseconds_is_read_in_its_unit_and_one_without_a_unit_is_skipped_naming_the_file()
{
    common::in_own_process(
        module_path!(),
        "an_as_of_in_microseconds_is_read_in_its_unit_and_one_without_a_unit_is_skipped_naming_the_file",
        || {
            let dir = common::temp_dir("replay-units");
            let history = history(2, T0, 60, None);
            let mut s = ParquetStore::open(&dir).unwrap();
            s.write(&history[0].messages).unwrap();
            // The second snapshot's files rewritten: NIFTY's as_of in microseconds,
            // the others' as bare 64-bit integers (no unit: no time can be told).
            let other = common::temp_dir("replay-units-src");
            let mut s2 = ParquetStore::open(&other).unwrap();
            s2.write(&history[1].messages).unwrap();
            let mut unitless = Vec::new();
            for index in INDICES {
                let from_dir = other.join(format!("index={index}")).join("date=2024-11-25");
                let to_dir = dir.join(format!("index={index}")).join("date=2024-11-25");
                for f in std::fs::read_dir(&from_dir).unwrap() {
                    let f = f.unwrap().path();
                    let name = format!("rewritten-{}", f.file_name().unwrap().to_str().unwrap());
                    let dst = to_dir.join(name);
                    if index == "NIFTY" {
                        rewrite_as_of(&f, &dst, |ms| {
                            let us: Vec<i64> = ms.iter().map(|v| v * 1000 + 999).collect();
                            (
                                arrow_schema::DataType::Timestamp(
                                    arrow_schema::TimeUnit::Microsecond,
                                    Some("UTC".into()),
                                ),
                                Arc::new(
                                    arrow_array::TimestampMicrosecondArray::from(us)
                                        .with_timezone("UTC"),
                                ),
                            )
                        });
                    } else {
                        rewrite_as_of(&f, &dst, |ms| {
                            (
                                arrow_schema::DataType::Int64,
                                Arc::new(arrow_array::Int64Array::from(ms)),
                            )
                        });
                        unitless.push(dst);
                    }
                }
            }
            assert_eq!(unitless.len(), 2);
            let mut reader = ParquetReader::open(&dir, range_all(), &[]).unwrap();
            let got = read_all(&mut reader);
            let keys: Vec<(i64, String)> = got
                .iter()
                .map(|s| (s.as_of_ms, s.index.clone()))
                .collect();
            let second = (T0 + 60) * 1000;
            assert_eq!(
                keys,
                vec![
                    (T0 * 1000, "BANKNIFTY".to_string()),
                    (T0 * 1000, "FINNIFTY".to_string()),
                    (T0 * 1000, "NIFTY".to_string()),
                    // Microseconds become milliseconds (rounded down), not 1000x later.
                    (second, "NIFTY".to_string()),
                ]
            );
            let nifty: usize = history[1]
                .messages
                .iter()
                .filter(|m| m.index == "NIFTY")
                .map(|m| m.contracts.len())
                .sum();
            assert_eq!(got[3].snapshot.rows.len(), nifty);
            let problems = reader.take_problems();
            assert_eq!(problems.len(), 2, "{problems:?}");
            for path in &unitless {
                assert!(
                    problems.iter().any(|p| p.contains(&format!(
                        "skipping {} (bad_timestamp): its `as_of` column is Int64, not a timestamp with a unit",
                        path.display()
                    ))),
                    "{path:?}: {problems:?}"
                );
            }
            assert_eq!(
                g6_metrics::metrics::replay_skipped_total(ReplaySkip::BadTimestamp).get(),
                2
            );
        },
    );
}

#[test]
fn files_that_would_pass_the_replay_bound_together_are_skipped_and_the_rest_replays() {
    common::in_own_process(
        module_path!(),
        "files_that_would_pass_the_replay_bound_together_are_skipped_and_the_rest_replays",
        || {
            let dir = common::temp_dir("replay-full");
            let history = history(1, T0, 60, None);
            let mut s = ParquetStore::open(&dir).unwrap();
            // The snapshot stored twice: two files of each index overlap in time.
            s.write(&history[0].messages).unwrap();
            s.write(&history[0].messages).unwrap();
            let one_file = |index: &str| {
                let d = dir.join(format!("index={index}")).join("date=2024-11-25");
                std::fs::read_dir(d).unwrap().count()
            };
            assert!(INDICES.iter().all(|i| one_file(i) == 2));
            // The overlapping files past the bound are left out, each once, and what
            // was held replays.
            // Each file is estimated at about 0.7 MB from its footer: room for two
            // or three of the six.
            let limits = Limits {
                max_replay_bytes: 2_000_000,
                ..Limits::default()
            };
            let mut reader = ParquetReader::open_with(&dir, range_all(), &[], limits).unwrap();
            let got = read_all(&mut reader);
            let problems = reader.take_problems();
            assert!(!got.is_empty() && !problems.is_empty(), "{problems:?}");
            assert!(
                problems
                    .iter()
                    .all(|p| p.contains("(replay_full)") && p.contains("--max-replay-bytes")),
                "{problems:?}"
            );
            assert_eq!(
                g6_metrics::metrics::replay_skipped_total(ReplaySkip::ReplayFull).get(),
                problems.len() as u64
            );
            // Each file read or skipped, none twice; the first ones were read.
            assert_eq!(reader.skipped().len(), problems.len());
            assert!((1..=4).contains(&problems.len()), "{problems:?}");
            assert!(
                !problems.iter().any(|p| p.contains("index=BANKNIFTY")),
                "{problems:?}"
            );
        },
    );
}
