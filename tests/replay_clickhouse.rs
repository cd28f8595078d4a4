//! Replay from a real `clickhouse-server`: snapshots come back in as-of order across
//! the reader's query windows, re-delivered rows collapsed, each aggregating to what
//! live aggregation computed; `--index` filters on the server; a missing table or an
//! unreachable server is a clear message and exit 1.

mod common;

use common::clickhouse::{self, ClickHouse};
use common::replay::{expected, history, same_buckets, T0};
use g6_metrics::replay::clickhouse::{ClickHouseReader, WINDOW_MS};
use g6_metrics::replay::{Range, Replayed, Replayer, SnapshotReader, StoredSnapshot};
use g6_metrics::store::clickhouse::ClickHouseStore;
use std::process::Command;
use std::time::Duration;

fn read_all(r: &mut dyn SnapshotReader) -> Vec<StoredSnapshot> {
    let mut out = Vec::new();
    while let Some(s) = r.next_snapshot().unwrap() {
        out.push(s);
    }
    out
}

#[test]
fn replay_from_clickhouse_gives_each_snapshot_in_as_of_order_with_its_live_aggregation() {
    common::in_own_process(
        "replay_from_clickhouse_gives_each_snapshot_in_as_of_order_with_its_live_aggregation",
        || {
            if !clickhouse::available() {
                return;
            }
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
            let mut reader = ClickHouseReader::open(&url, range, &[]).unwrap();
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
            let n = read_all(&mut ClickHouseReader::open(&url, since_2000, &[]).unwrap()).len();
            assert_eq!(n, 15);
            // The index filter runs on the server; the range is half-open.
            let range = Range::new((T0 + step) * 1000, (T0 + 3 * step) * 1000).unwrap();
            let mut reader = ClickHouseReader::open(&url, range, &["FINNIFTY".into()]).unwrap();
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
