//! Replay from the Parquet store: snapshots come back in as-of order, rows of one
//! snapshot spread over two files come together, re-delivered rows are collapsed, and
//! each snapshot aggregates to exactly what live aggregation computed; the range is
//! half-open and `--index` prunes; a corrupt file is reported and stepped over; the
//! command's messages and exit codes for bad, empty and gappy ranges.

mod common;

use common::replay::{expected, history, same_buckets, Stored, T0};
use g6_metrics::bus::ChainMessage;
use g6_metrics::replay::parquet::ParquetReader;
use g6_metrics::replay::{Range, Replayed, Replayer, SnapshotReader, StoredSnapshot};
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
    let child = Command::new(env!("CARGO_BIN_EXE_g6"))
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
    std::thread::sleep(Duration::from_secs(2));
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
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
