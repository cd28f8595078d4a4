//! The ClickHouse store against a real `clickhouse-server` (Debian's 18.16), started
//! on free ports with its data in a temporary directory: every (snapshot, contract)
//! stored once with the fixture's values, also when messages come twice; an outage of
//! more than 20 seconds under `g6 ingest` grows the backlog, signals backpressure,
//! counts retries, then drains to exact counts; bad URLs and an unreachable server give
//! clear errors and counted failures, never a panic.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use crate::common;

use common::clickhouse::{self, ClickHouse};
use common::nats::{self, Nats};
use common::Server;
use g6_metrics::bus::inproc::InProcessBus;
use g6_metrics::bus::message::ChainMessage;
use g6_metrics::bus::{Bus, Publisher};
use g6_metrics::labels::StoreFailure;
use g6_metrics::option_chain::providers::{from_spec, ProviderLimits};
use g6_metrics::option_chain::runner::Runner;
use g6_metrics::store::clickhouse::ClickHouseStore;
use g6_metrics::store::{Writer, WriterConfig};
use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const FIXTURE: &str = "tests/fixtures/chains/bus.csv";
/// 2024-11-25T10:00:00Z, the fixture's as-of time.
const AS_OF: i64 = 1_732_528_800;

/// (index, expiry days, strike, type, oi, volume, iv, bid, ask, spread_bps).
type FixtureRow = (
    String,
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

/// The fixture's valid rows straight from the CSV (IV as a ratio), without the app's
/// parser.
fn fixture_rows() -> Vec<FixtureRow> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut reader = csv::Reader::from_path(root.join(FIXTURE)).unwrap();
    let opt = |s: &str| (!s.is_empty()).then(|| s.parse::<f64>().unwrap());
    let days = |d: &str| {
        let t = chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap();
        (t - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()).num_days()
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

/// A stored row: snapshot id, as-of time in ms, the contract.
type StoredRow = (u64, i64, FixtureRow);

/// Every row of the table after collapsing copies (FINAL).
fn stored_rows(ch: &ClickHouse, db: &str) -> Vec<StoredRow> {
    let sql = format!(
        "SELECT snapshot_id, as_of_ms, index, toUInt16(expiry), strike, type, oi, volume, \
         iv, bid, ask, spread_bps FROM {db}.option_chain FINAL FORMAT TabSeparated"
    );
    let out = ch.query(&sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let opt = |s: &str| (s != "\\N").then(|| s.parse::<f64>().unwrap());
    out.lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f.len(), 12, "{l:?}");
            (
                f[0].parse().unwrap(),
                f[1].parse().unwrap(),
                (
                    f[2].to_string(),
                    f[3].parse().unwrap(),
                    f[4].parse().unwrap(),
                    f[5].to_string(),
                    f[6].parse().unwrap(),
                    f[7].parse().unwrap(),
                    opt(f[8]),
                    opt(f[9]),
                    opt(f[10]),
                    opt(f[11]),
                ),
            )
        })
        .collect()
}

#[test]
#[ignore = "needs clickhouse-server; scripts/test.sh runs it"]
fn clickhouse_holds_every_snapshot_contract_once_with_the_fixture_values_also_when_delivered_twice()
{
    common::in_own_process(
        module_path!(),
        "clickhouse_holds_every_snapshot_contract_once_with_the_fixture_values_also_when_delivered_twice",
        || {
            clickhouse::require();
            let dir = common::temp_dir("store_clickhouse_once");
            let ch = ClickHouse::start(&dir);
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
                Box::new(ClickHouseStore::open(&ch.url("g6")).unwrap()),
                WriterConfig::default(),
            );
            const SNAPSHOTS: i64 = 3;
            let mut published: Vec<Arc<ChainMessage>> = Vec::new();
            for i in 0..SNAPSHOTS {
                runner.tick_at((AS_OF + 60 * i + 30) as f64);
                while let Ok(m) = sub.try_recv() {
                    published.push(m.clone());
                    writer.push(m, ()).expect("a valid message");
                }
                writer.flush(Instant::now()).expect("stored");
            }
            let want = fixture_rows();
            let contracts = want.len() as u64;
            let final_count =
                |ch: &ClickHouse| ch.number("SELECT count() FROM g6.option_chain FINAL");
            assert_eq!(final_count(&ch), SNAPSHOTS as u64 * contracts);
            // Every message again (a redelivery after lost acknowledgements): more rows
            // arrive, the table collapses them.
            for m in &published {
                writer.push(m.clone(), ()).expect("a valid message");
            }
            writer.flush(Instant::now()).expect("stored again");
            // Written twice (unless a merge already collapsed some), read once.
            assert!(ch.number("SELECT count() FROM g6.option_chain") >= SNAPSHOTS as u64 * contracts);
            assert_eq!(final_count(&ch), SNAPSHOTS as u64 * contracts);
            // Merging collapses the copies for good (a merge already running can make one
            // OPTIMIZE a no-op: ask again).
            let deadline = Instant::now() + Duration::from_secs(30);
            while ch.number("SELECT count() FROM g6.option_chain") != SNAPSHOTS as u64 * contracts {
                assert!(Instant::now() < deadline, "merges never collapsed the copies");
                ch.query("OPTIMIZE TABLE g6.option_chain FINAL").unwrap();
                std::thread::sleep(Duration::from_millis(100));
            }
            // Each (index, snapshot) holds exactly the fixture's rows of that index.
            let rows = stored_rows(&ch, "g6");
            let mut by_snapshot: BTreeMap<(String, u64), Vec<&StoredRow>> =
                BTreeMap::new();
            for r in &rows {
                by_snapshot.entry((r.2 .0.clone(), r.0)).or_default().push(r);
            }
            assert_eq!(by_snapshot.len(), 2 * SNAPSHOTS as usize);
            for ((index, _), got) in &by_snapshot {
                let key = |r: &FixtureRow| (r.1, (r.2 * 100.0) as i64, r.3.clone());
                let mut got: Vec<FixtureRow> = got.iter().map(|r| r.2.clone()).collect();
                let mut expect: Vec<FixtureRow> =
                    want.iter().filter(|w| &w.0 == index).cloned().collect();
                got.sort_by_key(key);
                expect.sort_by_key(key);
                assert_eq!(got, expect, "{index}");
                // One as-of time per snapshot, in milliseconds.
                let times: BTreeSet<i64> = rows
                    .iter()
                    .filter(|r| &r.2 .0 == index)
                    .map(|r| r.1)
                    .collect();
                let want_times: BTreeSet<i64> =
                    (0..SNAPSHOTS).map(|k| (AS_OF + 60 * k) * 1000).collect();
                assert_eq!(times, want_times);
            }
            // The table: the collapsing engine, monthly partitions, the documented order.
            let ddl = ch.query("SHOW CREATE TABLE g6.option_chain").unwrap();
            assert!(ddl.contains("ReplacingMergeTree"), "{ddl}");
            assert!(ddl.contains("PARTITION BY toYYYYMM(as_of)"), "{ddl}");
            assert!(
                ddl.contains("ORDER BY (index, expiry, type, strike, as_of, snapshot_id)"),
                "{ddl}"
            );
            let counter = |name: &str| common::value(name, &[("table", "option_chain")]).unwrap();
            assert_eq!(
                counter("g6_cs_ingest_rows_total"),
                (2 * SNAPSHOTS as u64 * contracts) as f64
            );
            assert!(counter("g6_cs_ingest_bytes_total") > 0.0);
            assert_eq!(counter("g6_cs_ingest_retries_total"), 0.0);
        },
    );
}

#[test]
fn an_unreachable_clickhouse_is_a_counted_failure_with_a_hint_and_rows_wait() {
    common::in_own_process(
        module_path!(),
        "an_unreachable_clickhouse_is_a_counted_failure_with_a_hint_and_rows_wait",
        || {
            // Port 1 on loopback: nothing listens there.
            let store = ClickHouseStore::open("clickhouse://127.0.0.1:1/g6").unwrap();
            let mut writer: Writer<u32> = Writer::new(Box::new(store), WriterConfig::default());
            let messages = vec![ChainMessage {
                schema_version: 1,
                index: "NIFTY".into(),
                snapshot_id: 1,
                as_of_ms: AS_OF * 1000,
                expiry: "2024-11-28".into(),
                spot: 100.0,
                provider: "test".into(),
                part: 1,
                parts: 1,
                contracts: vec![g6_metrics::bus::message::Contract {
                    strike: 100.0,
                    option_type: 1,
                    open_interest: 10.0,
                    volume: 1.0,
                    ..Default::default()
                }],
                ..Default::default()
            }];
            for m in messages {
                assert!(writer.push(Arc::new(m), 7).unwrap().is_empty());
            }
            let err = writer.flush(Instant::now()).unwrap_err();
            assert_eq!(err.reason, StoreFailure::Unreachable);
            assert!(
                err.message.contains("127.0.0.1:1") && err.message.contains("HTTP port"),
                "{err}"
            );
            assert_eq!(writer.backlog_rows(), 1, "the rows wait");
            assert_eq!(writer.waiting().copied().collect::<Vec<_>>(), vec![7]);
            assert_eq!(
                common::value(
                    "g6_cs_ingest_failures_total",
                    &[("table", "option_chain"), ("store_failure", "unreachable")]
                ),
                Some(1.0)
            );
            assert_eq!(
                common::value(
                    "g6_cs_ingest_backpressure_active",
                    &[("table", "option_chain")]
                ),
                Some(1.0)
            );
        },
    );
}

#[test]
fn malformed_clickhouse_urls_are_usage_errors_that_show_the_form() {
    for (url, says) in [
        ("clickhouse://", "has no host"),
        ("clickhouse://127.0.0.1:8123", "names no database"),
        ("clickhouse://127.0.0.1/g6", "no port"),
        ("clickhouse://127.0.0.1:http/g6", "invalid port number"),
        ("clickhouse://127.0.0.1:8123/9db", "not a database name"),
        ("clickhouse://127.0.0.1:8123/a;DROP", "not a database name"),
        ("clickhouse://:8123/g6", "empty host"),
        ("clickhouse://@127.0.0.1:8123/g6", "empty user"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_g6"))
            .args(["serve", "--store", url, "--listen", "127.0.0.1:0"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{url}: {stderr}");
        assert!(stderr.contains(says), "{url}: {stderr}");
        assert!(
            stderr.contains("clickhouse://HOST:PORT/DB"),
            "{url}: the form is shown: {stderr}"
        );
    }
}

#[test]
#[ignore = "needs clickhouse-server; scripts/test.sh runs it"]
fn serve_with_a_clickhouse_store_keeps_every_contract_it_counts() {
    clickhouse::require();
    let dir = common::temp_dir("store_clickhouse_serve");
    let ch = ClickHouse::start(&dir);
    let url = ch.url("serve_db");
    let serve = Server::start(
        &[
            "--provider",
            "synthetic:6:fast",
            "--index",
            "NIFTY",
            "--interval",
            "200ms",
            "--cycles",
            "100",
            "--store",
            &url,
            "--store-flush",
            "1s",
        ],
        &[],
    );
    // The writer's counter against the table, read while serve runs: a flush can
    // land between two reads, so take a reading where the counter stood still.
    let counter = |serve: &Server| {
        let samples =
            common::parse_exposition(&common::http(&serve.addr, "GET", "/metrics", "").text());
        common::find_sample(
            &samples,
            "g6_cs_ingest_rows_total",
            &[("table", "option_chain")],
        )
        .unwrap_or(0.0)
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(
            Instant::now() < deadline,
            "no steady reading of five stored snapshots"
        );
        std::thread::sleep(Duration::from_millis(150));
        let before = counter(&serve);
        let rows = ch
            .query("SELECT count() FROM serve_db.option_chain FINAL")
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(0);
        let snapshots = ch
            .query("SELECT uniqExact(snapshot_id) FROM serve_db.option_chain")
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(0);
        if snapshots >= 5 && before == counter(&serve) && before == rows as f64 {
            break;
        }
    }
    let per_snapshot = ch
        .query(
            "SELECT snapshot_id, count(), uniqExact(expiry, strike) FROM serve_db.option_chain FINAL \
             WHERE snapshot_id < (SELECT max(snapshot_id) FROM serve_db.option_chain) \
             GROUP BY snapshot_id ORDER BY snapshot_id FORMAT TabSeparated",
        )
        .unwrap();
    let counts: Vec<(u64, u64)> = per_snapshot
        .lines()
        .map(|l| {
            let f: Vec<u64> = l.split('\t').map(|v| v.parse().unwrap()).collect();
            (f[1], f[2])
        })
        .collect();
    // All but the newest (a flush may have split it) are whole: both legs of every
    // strike, and never fewer contracts than the snapshot before (within seconds the
    // model lists new strikes as the spot moves, and nothing expires).
    assert!(counts.len() >= 4, "{per_snapshot}");
    assert!(
        counts.iter().all(|(rows, strikes)| *rows == 2 * strikes),
        "every strike with both legs: {per_snapshot}"
    );
    assert!(
        counts.windows(2).all(|w| w[1].0 >= w[0].0),
        "every snapshot whole: {per_snapshot}"
    );
    let _ = serve.terminate();
}

/// `g6 ingest` as a child; its /metrics address.
struct Ingest(Child, String);

impl Ingest {
    fn start(bus: &str, store: &str, extra: &[&str]) -> Ingest {
        let mut child = Command::new(env!("CARGO_BIN_EXE_g6"))
            .args([
                "ingest",
                "--bus",
                bus,
                "--store",
                store,
                "--durable",
                "ing",
                "--store-flush",
                "300ms",
                "--listen",
                "127.0.0.1:0",
            ])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .split("listening on http://")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or_else(|| panic!("no address line: {line:?}"))
            .to_string();
        Ingest(child, addr)
    }

    /// SIGTERM: store what it holds, acknowledge, exit 0.
    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.0.try_wait() {
                assert!(status.success(), "g6 ingest exited with {status}");
                return;
            }
            assert!(Instant::now() < deadline, "g6 ingest did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let samples =
            common::parse_exposition(&common::http(&self.1, "GET", "/metrics", "").text());
        common::find_sample(&samples, name, labels).unwrap_or(f64::NAN)
    }
}

impl Drop for Ingest {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Every (snapshot, expiry, strike x 100, type) the stream holds.
fn stream_keys(url: &str) -> BTreeSet<(u64, String, i64, String)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = async_nats::connect(url).await.unwrap();
        let js = async_nats::jetstream::new(client);
        let mut stream = js.get_stream("G6_CHAIN").await.unwrap();
        let state = stream.info().await.unwrap().state.clone();
        let mut out = BTreeSet::new();
        for seq in state.first_sequence..=state.last_sequence {
            let raw = stream.get_raw_message(seq).await.unwrap();
            let m = ChainMessage::from_bytes(&raw.payload).unwrap();
            for c in &m.contracts {
                let kind = if c.option_type == 1 { "CE" } else { "PE" };
                assert!(out.insert((
                    m.snapshot_id,
                    m.expiry.clone(),
                    (c.strike * 100.0).round() as i64,
                    kind.to_string()
                )));
            }
        }
        out
    })
}

#[test]
#[ignore = "needs clickhouse-server and nats-server; scripts/test.sh runs it"]
fn a_clickhouse_outage_of_20s_fills_the_backlog_to_its_bound_stops_pulling_then_drains_to_exact_counts(
) {
    clickhouse::require();
    nats::require();
    let dir = common::temp_dir("store_clickhouse_outage");
    let ch_dir = dir.join("clickhouse");
    std::fs::create_dir_all(&ch_dir).unwrap();
    let mut ch = ClickHouse::start(&ch_dir);
    let bus = Nats::start(&dir);
    let mut serve = Server::start(
        &[
            "--provider",
            "synthetic:6:fast",
            "--index",
            "NIFTY",
            "--interval",
            "250ms",
            "--cycles",
            "160",
            "--bus",
            &bus.url(),
            "--store",
            "none",
        ],
        &[],
    );
    // A small backlog bound: the consumer must stop pulling during the outage.
    const BOUND: f64 = 3000.0;
    let ingest = Ingest::start(&bus.url(), &ch.url("g6"), &["--store-backlog-rows", "3000"]);
    let count = |ch: &ClickHouse| {
        ch.query("SELECT count() FROM g6.option_chain FINAL")
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while count(&ch) == 0 {
        assert!(
            Instant::now() < deadline,
            "nothing stored before the outage"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let table = [("table", "option_chain")];
    ch.stop();
    let down = Instant::now();
    // While it is down: the backlog grows, backpressure is signalled, retries counted.
    let mut backlog = Vec::new();
    // Sampled every 3 s through the 21 s outage: the outage's length is the fault
    // under test, so these sleeps pace the samples, they do not wait for an effect.
    while down.elapsed() < Duration::from_secs(21) {
        std::thread::sleep(Duration::from_secs(3));
        backlog.push(ingest.metric("g6_cs_ingest_backlog_rows", &table));
    }
    assert!(
        backlog.windows(2).all(|w| w[1] >= w[0]) && backlog[0] > 0.0,
        "the backlog grows during the outage: {backlog:?}"
    );
    // At its bound the consumer stops pulling: the backlog stays within one message
    // of it, and stands still (the stream keeps the rest).
    let max = backlog.iter().cloned().fold(0.0, f64::max);
    assert!(
        (BOUND..BOUND + 4096.0).contains(&max),
        "the backlog stops at its bound: {backlog:?}"
    );
    assert_eq!(
        backlog[backlog.len() - 1],
        backlog[backlog.len() - 2],
        "the consumer stopped pulling: {backlog:?}"
    );
    assert_eq!(
        ingest.metric("g6_cs_ingest_backpressure_active", &table),
        1.0
    );
    assert!(ingest.metric("g6_cs_ingest_retries_total", &table) >= 3.0);
    assert!(
        ingest.metric(
            "g6_cs_ingest_failures_total",
            &[("table", "option_chain"), ("store_failure", "unreachable")]
        ) >= 1.0
    );
    ch.start_again();
    // The collector finishes; then everything the stream holds is stored, once.
    let deadline = Instant::now() + Duration::from_secs(90);
    while serve.child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "serve did not finish its cycles");
        std::thread::sleep(Duration::from_millis(200));
    }
    let want = stream_keys(&bus.url());
    let snapshots: BTreeSet<u64> = want.iter().map(|k| k.0).collect();
    assert_eq!(snapshots.len(), 160, "every cycle published");
    while count(&ch) < want.len() as u64 {
        assert!(
            Instant::now() < deadline,
            "the backlog did not drain: {} of {} rows",
            count(&ch),
            want.len()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let rows = ch
        .query(
            "SELECT snapshot_id, toString(expiry), toInt64(round(strike * 100)), type \
             FROM g6.option_chain FINAL FORMAT TabSeparated",
        )
        .unwrap();
    let got: Vec<(u64, String, i64, String)> = rows
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (
                f[0].parse().unwrap(),
                f[1].to_string(),
                f[2].parse().unwrap(),
                f[3].to_string(),
            )
        })
        .collect();
    let unique: BTreeSet<_> = got.iter().cloned().collect();
    assert_eq!(got.len(), unique.len(), "a row twice after FINAL");
    assert_eq!(unique, want, "exactly the published rows");
    // Drained: nothing waits, no backpressure.
    let deadline = Instant::now() + Duration::from_secs(10);
    while ingest.metric("g6_cs_ingest_backlog_rows", &table) != 0.0 {
        assert!(Instant::now() < deadline, "the backlog gauge stays up");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        ingest.metric("g6_cs_ingest_backpressure_active", &table),
        0.0
    );
    // Nothing was dropped to make room (the stream held it), and a clean stop works.
    assert_eq!(
        ingest.metric(
            "g6_cs_ingest_dropped_rows_total",
            &[
                ("table", "option_chain"),
                ("store_drop_reason", "backlog_full")
            ]
        ),
        0.0
    );
    ingest.stop();
}
