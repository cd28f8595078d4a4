//! `g6 ingest` against a real `nats-server`: a durable consumer into the Parquet
//! store, stopped and restarted mid-run, stores exactly the rows the stream holds,
//! each once.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use crate::common;

use common::nats::{self, Nats};
use common::Server;
use g6_metrics::bus::message::ChainMessage;
use g6_metrics::store::lifecycle::files_under;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::collections::BTreeSet;
use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `g6 ingest` as a child; its /metrics address.
pub(crate) struct Ingest(pub(crate) Child, pub(crate) String);

impl Ingest {
    fn start(url: &str, data: &Path) -> Ingest {
        Ingest::start_with(url, data, "ing", &[])
    }

    /// With durable `durable` and `extra` arguments.
    pub(crate) fn start_with(url: &str, data: &Path, durable: &str, extra: &[&str]) -> Ingest {
        let mut child = Command::new(env!("CARGO_BIN_EXE_g6"))
            .args([
                "ingest",
                "--bus",
                url,
                "--durable",
                durable,
                "--store-flush",
                "500ms",
            ])
            .args(extra)
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data)
            .stdout(Stdio::piped())
            // Its log beside its data, for a failure to show.
            .stderr(
                std::fs::File::create(data.with_extension("log"))
                    .map(Stdio::from)
                    .unwrap_or_else(|_| Stdio::null()),
            )
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
    pub(crate) fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.0.try_wait() {
                assert!(status.success(), "{status}");
                return;
            }
            assert!(Instant::now() < deadline, "g6 ingest did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Ingest {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Keys (snapshot id, expiry days, strike x 100, type) of every stored row.
pub(crate) fn stored(dir: &Path) -> Vec<(u64, i32, i64, String)> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Date32Type, Float64Type, UInt64Type};
    let mut out = Vec::new();
    for f in files_under(dir) {
        if f.extension().is_none_or(|e| e != "parquet") {
            continue;
        }
        let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&f).unwrap())
            .unwrap()
            .build()
            .unwrap();
        for b in reader {
            let b = b.unwrap();
            let snap = b
                .column_by_name("snapshot_id")
                .unwrap()
                .as_primitive::<UInt64Type>()
                .clone();
            let exp = b
                .column_by_name("expiry")
                .unwrap()
                .as_primitive::<Date32Type>()
                .clone();
            let strike = b
                .column_by_name("strike")
                .unwrap()
                .as_primitive::<Float64Type>()
                .clone();
            let kind = b.column_by_name("type").unwrap().as_string::<i32>().clone();
            for i in 0..b.num_rows() {
                out.push((
                    snap.value(i),
                    exp.value(i),
                    (strike.value(i) * 100.0).round() as i64,
                    kind.value(i).to_string(),
                ));
            }
        }
    }
    out
}

/// Every message the stream holds.
fn stream_messages(url: &str) -> Vec<ChainMessage> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = async_nats::connect(url).await.unwrap();
        let js = async_nats::jetstream::new(client);
        let mut stream = js.get_stream("G6_CHAIN").await.unwrap();
        let state = stream.info().await.unwrap().state.clone();
        let mut out = Vec::new();
        for seq in state.first_sequence..=state.last_sequence {
            let m = stream.get_raw_message(seq).await.unwrap();
            out.push(ChainMessage::from_bytes(&m.payload).unwrap());
        }
        out
    })
}

#[test]
#[ignore = "needs nats-server; scripts/test.sh runs it"]
fn ingest_stores_exactly_the_published_rows_across_a_restart() {
    nats::require();
    let dir = common::temp_dir("store_ingest");
    let data = dir.join("data");
    let server_nats = Nats::start(&dir);
    let url = server_nats.url();
    let mut serve = Server::start(
        &[
            "--provider",
            "synthetic:6:fast",
            "--index",
            "NIFTY",
            "--interval",
            "200ms",
            "--cycles",
            "20",
            "--bus",
            &url,
            "--store",
            "none",
        ],
        &[],
    );
    let first = Ingest::start(&url, &data);
    // Let it store something, then stop it cleanly and start another on the same
    // durable: it resumes where the first stopped.
    let deadline = Instant::now() + Duration::from_secs(30);
    while stored(&data).is_empty() {
        assert!(Instant::now() < deadline, "nothing stored");
        std::thread::sleep(Duration::from_millis(100));
    }
    first.stop();
    let second = Ingest::start(&url, &data);
    let deadline = Instant::now() + Duration::from_secs(60);
    while serve.child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "serve did not finish its cycles");
        std::thread::sleep(Duration::from_millis(100));
    }
    let published = stream_messages(&url);
    let mut want = BTreeSet::new();
    for m in &published {
        let days = {
            let t = chrono::NaiveDate::parse_from_str(&m.expiry, "%Y-%m-%d").unwrap();
            (t - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()).num_days() as i32
        };
        for c in &m.contracts {
            let kind = if c.option_type == 1 { "CE" } else { "PE" };
            assert!(want.insert((
                m.snapshot_id,
                days,
                (c.strike * 100.0).round() as i64,
                kind.to_string()
            )));
        }
    }
    let snapshots: BTreeSet<u64> = published.iter().map(|m| m.snapshot_id).collect();
    assert_eq!(snapshots.len(), 20, "every cycle published");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut rows = stored(&data);
    while rows.len() < want.len() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        rows = stored(&data);
    }
    let got: BTreeSet<_> = rows.iter().cloned().collect();
    assert_eq!(rows.len(), got.len(), "a row stored twice");
    assert_eq!(got, want, "exactly the published rows");
    // Its metrics: rows stored by this ingester, no failure, nothing waiting.
    let samples = common::parse_exposition(&common::http(&second.1, "GET", "/metrics", "").text());
    let get = |n: &str| common::find_sample(&samples, n, &[("table", "option_chain")]).unwrap();
    assert!(get("g6_cs_ingest_rows_total") > 0.0);
    assert_eq!(get("g6_cs_ingest_backlog_rows"), 0.0);
    assert_eq!(get("g6_cs_ingest_backpressure_active"), 0.0);
    second.stop();
}

/// A chain message of NIFTY with `contracts` strikes (calls), as of now.
fn good_message(snapshot_id: u64, contracts: usize) -> ChainMessage {
    let now_ms = chrono::Utc::now().timestamp_millis();
    let expiry_unix = now_ms / 1000 + 7 * 86_400;
    ChainMessage {
        schema_version: 1,
        index: "NIFTY".into(),
        snapshot_id,
        as_of_ms: now_ms,
        expiry: chrono::DateTime::from_timestamp(expiry_unix, 0)
            .unwrap()
            .format("%Y-%m-%d")
            .to_string(),
        expiry_unix,
        spot: 24_000.0,
        source: 1,
        provider: "test".into(),
        part: 0,
        parts: 1,
        contracts: (0..contracts)
            .map(|i| g6_metrics::bus::message::Contract {
                strike: 23_000.0 + 50.0 * i as f64,
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
            })
            .collect(),
    }
}

#[test]
#[ignore = "needs nats-server; scripts/test.sh runs it"]
fn undecodable_messages_are_counted_terminated_and_logged_once_while_the_good_ones_are_stored() {
    nats::require();
    let dir = common::temp_dir("store_ingest_undecodable");
    let data = dir.join("data");
    let server_nats = Nats::start(&dir);
    let url = server_nats.url();
    // 40 garbage messages around 5 good ones of 3 contracts each.
    let garbage: Vec<u8> = vec![0x0f, 0xff, 0xff, 0xff];
    assert!(
        ChainMessage::from_bytes(&garbage).is_err(),
        "garbage decodes"
    );
    let mut payloads = Vec::new();
    for i in 0..45u64 {
        if i % 9 == 4 {
            payloads.push(good_message(1000 + i, 3).to_bytes());
        } else {
            payloads.push(garbage.clone());
        }
    }
    assert_eq!(payloads.len() - 5, 40);
    nats::publish_raw(&url, "g6.chain.NIFTY.x", &payloads);
    let log = dir.join("ingest.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_g6"))
        .args(["ingest", "--bus", &url, "--durable", "ing"])
        .args([
            "--store-flush",
            "200ms",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(&data)
        .env("RUST_LOG", "info,async_nats=warn")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
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
    let ingest = Ingest(child, addr);
    let lost = |addr: &str| {
        let samples = common::parse_exposition(&common::http(addr, "GET", "/metrics", "").text());
        common::find_sample(
            &samples,
            "g6_bus_subscriber_lost_messages_total",
            &[
                ("bus", "nats"),
                ("subscriber", "ing"),
                ("drop_reason", "undecodable"),
            ],
        )
    };
    // Every good row stored, every garbage message counted, nothing left pending or
    // waiting for an acknowledgement (terminated, so never delivered again).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let rows = stored(&data).len();
        let counted = lost(&ingest.1);
        let state = nats::try_consumer_state(&url, "ing");
        if rows == 15 && counted == Some(40.0) && state == Some((0, 0)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "rows {rows} of 15, undecodable {counted:?} of 40, consumer (pending, ack pending) {state:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let rows = stored(&data);
    let snapshots: BTreeSet<u64> = rows.iter().map(|r| r.0).collect();
    assert_eq!(
        snapshots,
        (0..45u64)
            .filter(|i| i % 9 == 4)
            .map(|i| 1000 + i)
            .collect(),
        "the good snapshots, each stored"
    );
    // Counted exactly once each: a second look after more flushes finds the same.
    // (The 500 ms window is what is observed: nothing may be counted again in it.)
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(lost(&ingest.1), Some(40.0));
    assert_eq!(nats::consumer_state(&url, "ing"), (0, 0));
    ingest.stop();
    let text = std::fs::read_to_string(&log).unwrap();
    let warns: Vec<&str> = text.lines().filter(|l| l.contains("WARN")).collect();
    assert_eq!(
        warns.len(),
        1,
        "one WARN line for 40 undecodable messages:\n{text}"
    );
    assert!(warns[0].contains("not a chain message"), "{text}");
}
