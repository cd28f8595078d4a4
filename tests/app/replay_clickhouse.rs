//! Replay from a real `clickhouse-server`: snapshots come back in as-of order across
//! the reader's query windows, re-delivered rows collapsed, each aggregating to what
//! live aggregation computed; `--index` filters on the server; a missing table or an
//! unreachable server is a clear message and exit 1; a snapshot still being written
//! (rows stored within `--settle`) is left out, reported and counted.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use crate::common;

use common::clickhouse::{self, ClickHouse};
use common::replay::{expected, history, same_buckets, T0};
use g6_metrics::labels::ReplaySkip;
use g6_metrics::replay::clickhouse::{ClickHouseReader, WINDOW_MS};
use g6_metrics::replay::{Limits, Range, Replayed, Replayer, SnapshotReader, StoredSnapshot};
use g6_metrics::store::clickhouse::ClickHouseStore;
use std::process::Command;
use std::time::Duration;

/// The reader's bounds with no settle time: the test wrote every row before reading.
fn settled() -> Limits {
    Limits {
        settle: Duration::ZERO,
        ..Limits::default()
    }
}

fn read_all(r: &mut dyn SnapshotReader) -> Vec<StoredSnapshot> {
    let mut out = Vec::new();
    while let Some(s) = r.next_snapshot().unwrap() {
        out.push(s);
    }
    out
}

#[test]
#[ignore = "needs clickhouse-server; scripts/test.sh runs it"]
fn replay_from_clickhouse_gives_each_snapshot_in_as_of_order_with_its_live_aggregation() {
    common::in_own_process(
        module_path!(),
        "replay_from_clickhouse_gives_each_snapshot_in_as_of_order_with_its_live_aggregation",
        || {
            clickhouse::require();
            let dir = common::temp_dir("replay-clickhouse");
            let ch = ClickHouse::start(&dir);
            // Ten minutes apart: the 40 minutes span three query windows.
            let step = 600;
            assert!(step * 1000 * 3 > WINDOW_MS);
            let history = history(5, T0, step, None);
            let url = ch.url("g6");
            let mut store = ClickHouseStore::open(&url).unwrap();
            for h in history.iter().rev() {
                store.write(&h.messages).unwrap();
            }
            // Snapshot 1 delivered again.
            store.write(&history[1].messages).unwrap();
            let range = Range::new(T0 * 1000, (T0 + 3600) * 1000).unwrap();
            let mut reader = ClickHouseReader::open_with(&url, range, &[], settled()).unwrap();
            let snapshots = read_all(&mut reader);
            let want = expected(&history, &["BANKNIFTY", "FINNIFTY", "NIFTY"]);
            let keys: Vec<(i64, String)> = snapshots
                .iter()
                .map(|s| (s.as_of_ms / 1000, s.index.clone()))
                .collect();
            let want_keys: Vec<(i64, String)> = want.iter().map(|(k, _)| k.clone()).collect();
            assert_eq!(keys, want_keys);
            let mut replayer = Replayer::new(Duration::from_secs(600));
            for (s, (key, live)) in snapshots.iter().zip(&want) {
                let stored: usize = history
                    .iter()
                    .flat_map(|h| &h.messages)
                    .filter(|m| m.index == s.index && m.as_of_ms == s.as_of_ms)
                    .map(|m| m.contracts.len())
                    .sum();
                // Whether or not the table merged the copies yet, each contract once.
                assert_eq!(s.snapshot.rows.len(), stored, "{key:?}");
                match replayer.replay(s) {
                    Replayed::Published { aggregation, .. } => {
                        same_buckets(&aggregation, live).unwrap_or_else(|e| panic!("{key:?}: {e}"))
                    }
                    other => panic!("{key:?}: {other:?}"),
                }
            }
            assert_eq!(replayer.summary().gap_count, 0);
            // From 2000 on: 870,000 empty 15-minute windows before the data, crossed
            // with one query (one each would take hours).
            let since_2000 = Range::new(946_684_800_000, (T0 + 3600) * 1000).unwrap();
            let n = read_all(
                &mut ClickHouseReader::open_with(&url, since_2000, &[], settled()).unwrap(),
            )
            .len();
            assert_eq!(n, 15);
            // The index filter runs on the server; the range is half-open.
            let range = Range::new((T0 + step) * 1000, (T0 + 3 * step) * 1000).unwrap();
            let mut reader =
                ClickHouseReader::open_with(&url, range, &["FINNIFTY".into()], settled()).unwrap();
            let got: Vec<(i64, String)> = read_all(&mut reader)
                .iter()
                .map(|s| (s.as_of_ms / 1000, s.index.clone()))
                .collect();
            assert_eq!(
                got,
                vec![
                    (T0 + step, "FINNIFTY".to_string()),
                    (T0 + 2 * step, "FINNIFTY".to_string())
                ]
            );
            // The command: a database without the table, then a server that is gone.
            let run = |from: &str| {
                let out = Command::new(env!("CARGO_BIN_EXE_g6"))
                    .args([
                        "replay",
                        "--from",
                        from,
                        "--start",
                        "2024-11-25",
                        "--end",
                        "2024-11-26",
                    ])
                    .output()
                    .unwrap();
                (
                    out.status.code(),
                    String::from_utf8_lossy(&out.stderr).into_owned(),
                )
            };
            let (code, err) = run(&ch.url("other"));
            assert_eq!(code, Some(1), "{err}");
            assert!(
                err.contains("has no database other") && err.contains("nothing replayed"),
                "{err}"
            );
            ch.query("CREATE DATABASE empty").unwrap();
            let (code, err) = run(&ch.url("empty"));
            assert_eq!(code, Some(1), "{err}");
            assert!(
                err.contains("has no table option_chain") && err.contains("nothing replayed"),
                "{err}"
            );
            let (code, out) = {
                let out = Command::new(env!("CARGO_BIN_EXE_g6"))
                    .args([
                        "replay",
                        "--from",
                        &url,
                        "--start",
                        "2024-11-25",
                        "--end",
                        "2024-11-26",
                        "--settle",
                        "0s",
                    ])
                    .output()
                    .unwrap();
                (
                    out.status.code(),
                    String::from_utf8_lossy(&out.stdout).into_owned(),
                )
            };
            assert_eq!(code, Some(0));
            assert!(out.contains("replayed 15 snapshots"), "{out}");
            drop(ch);
            let (code, err) = run(&url);
            assert_eq!(code, Some(1), "{err}");
            assert!(
                err.contains("cannot query") && err.contains("nothing replayed"),
                "{err}"
            );
        },
    );
}

#[test]
#[ignore = "needs clickhouse-server; scripts/test.sh runs it"]
fn a_snapshot_still_being_written_is_left_out_reported_and_counted_until_it_settles() {
    common::in_own_process(
        module_path!(),
        "a_snapshot_still_being_written_is_left_out_reported_and_counted_until_it_settles",
        || {
            clickhouse::require();
            let dir = common::temp_dir("replay-clickhouse-settle");
            let ch = ClickHouse::start(&dir);
            let history = history(3, T0, 60, None);
            let url = ch.url("g6");
            let mut store = ClickHouseStore::open(&url).unwrap();
            store.write(&history[0].messages).unwrap();
            store.write(&history[1].messages).unwrap();
            // The first two snapshots were stored an hour ago.
            ch.query("ALTER TABLE g6.option_chain UPDATE ingested_at = ingested_at - 3600 WHERE 1")
                .unwrap();
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while ch.number("SELECT count() FROM system.mutations WHERE is_done = 0") > 0 {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the mutation did not finish"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
            assert_eq!(
                ch.number("SELECT count() FROM g6.option_chain WHERE ingested_at > now() - 600"),
                0
            );
            // The third is being written: the first half of its messages are stored.
            let third = &history[2].messages;
            let half = &third[..third.len() / 2];
            store.write(half).unwrap();
            let mut unsettled: Vec<String> = half.iter().map(|m| m.index.clone()).collect();
            unsettled.sort();
            unsettled.dedup();
            assert!(!unsettled.is_empty());
            let range = Range::new(T0 * 1000, (T0 + 3600) * 1000).unwrap();
            // The default settle time: the half-written snapshot is left out whole.
            let mut reader = ClickHouseReader::open(&url, range, &[]).unwrap();
            let got = read_all(&mut reader);
            let keys: Vec<(i64, String)> = got
                .iter()
                .map(|s| (s.as_of_ms / 1000, s.index.clone()))
                .collect();
            let want: Vec<(i64, String)> = [T0, T0 + 60]
                .iter()
                .flat_map(|t| {
                    ["BANKNIFTY", "FINNIFTY", "NIFTY"]
                        .iter()
                        .map(move |i| (*t, i.to_string()))
                })
                .collect();
            assert_eq!(keys, want, "only the two settled snapshots");
            let problems = reader.take_problems();
            assert_eq!(problems.len(), unsettled.len(), "{problems:?}");
            for (p, index) in problems.iter().zip(&unsettled) {
                assert!(
                    p.contains("(unsettled)")
                        && p.contains(&format!("of {index} at 2024-11-25 04:02:00.000 UTC"))
                        && p.contains("--settle 60s"),
                    "{p}"
                );
            }
            assert_eq!(
                g6_metrics::metrics::replay_skipped_total(ReplaySkip::Unsettled).get(),
                unsettled.len() as u64
            );
            // Once settled (here: no settle time), it is read, with the rows stored.
            let got =
                read_all(&mut ClickHouseReader::open_with(&url, range, &[], settled()).unwrap());
            assert_eq!(got.len(), 6 + unsettled.len());
            let third_rows: usize = got
                .iter()
                .filter(|s| s.as_of_ms == (T0 + 120) * 1000)
                .map(|s| s.snapshot.rows.len())
                .sum();
            assert_eq!(
                third_rows,
                half.iter().map(|m| m.contracts.len()).sum::<usize>()
            );
            // The command says what it left out and still replays the rest: exit 0.
            let out = Command::new(env!("CARGO_BIN_EXE_g6"))
                .args([
                    "replay",
                    "--from",
                    &url,
                    "--start",
                    "2024-11-25",
                    "--end",
                    "2024-11-26",
                ])
                .output()
                .unwrap();
            let (stdout, stderr) = (
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
            );
            assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
            assert!(stdout.contains("replayed 6 snapshots"), "{stdout}");
            assert!(
                stderr.contains(&format!(
                    "left out of the replay (g6_replay_skipped_total): {} unsettled",
                    unsettled.len()
                )),
                "{stderr}"
            );
        },
    );
}
