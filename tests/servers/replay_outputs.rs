//! The live outputs of `g6 replay`: `--bus` re-publishes every stored message to a
//! real NATS JetStream with `source=replay` at the asked pace; `--serve` exposes the
//! replayed values on `/metrics` (and the contracts on `/live`) and keeps serving
//! after the end until it is stopped.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use crate::common;

use common::nats::{self, Nats};
use common::replay::{history, of_index, Stored, T0};
use g6_metrics::bus::message::{ChainMessage, WireSource};
use g6_metrics::option_chain::aggregate::Aggregator;
use g6_metrics::store::parquet::ParquetStore;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn store(dir: &Path, history: &[Stored]) -> String {
    let mut s = ParquetStore::open(dir).unwrap();
    for h in history {
        s.write(&h.messages).unwrap();
    }
    format!("parquet:{}", dir.display())
}

/// Every message the stream holds, decoded.
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
fn replay_to_nats_republishes_every_stored_message_as_replay_at_the_asked_pace() {
    nats::require();
    let dir = common::temp_dir("replay-bus");
    std::fs::create_dir_all(dir.join("nats")).unwrap();
    let nats = Nats::start(&dir.join("nats"));
    // Three snapshots 10 s apart: at 10x the replay takes at least 2 s.
    let history = history(3, T0, 10, None);
    let from = store(&dir.join("store"), &history);
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_g6"))
        .args([
            "replay",
            "--from",
            &from,
            "--start",
            "2024-11-25",
            "--end",
            "2024-11-26",
        ])
        .args(["--bus", &nats.url(), "--speed", "10x"])
        .output()
        .unwrap();
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        took >= Duration::from_secs(2),
        "paced at 10x: 20 s of data took {took:?}"
    );
    let got = stream_messages(&nats.url());
    // (index, expiry, as-of) -> contracts, as stored and as re-published.
    let key = |m: &ChainMessage| (m.index.clone(), m.expiry.clone(), m.as_of_ms, m.part);
    let want: BTreeMap<_, usize> = history
        .iter()
        .flat_map(|h| &h.messages)
        .map(|m| (key(m), m.contracts.len()))
        .collect();
    let mut seen: BTreeMap<_, usize> = BTreeMap::new();
    for m in &got {
        assert_eq!(m.wire_source(), WireSource::Replay, "{}", m.summary());
        assert_eq!(m.provider, "synthetic");
        *seen.entry(key(m)).or_default() += m.contracts.len();
    }
    assert_eq!(
        seen, want,
        "every stored message once, with all its contracts"
    );
}

#[test]
fn replay_serve_exposes_the_last_replayed_values_and_keeps_serving_until_stopped() {
    let dir = common::temp_dir("replay-serve");
    let history = history(3, T0, 60, None);
    let from = store(&dir.join("store"), &history);
    let mut child = Command::new(env!("CARGO_BIN_EXE_g6"))
        .args([
            "replay",
            "--from",
            &from,
            "--start",
            "2024-11-25",
            "--end",
            "2024-11-26",
        ])
        .args(["--serve", "--listen", "127.0.0.1:0", "--speed", "max"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut addr = String::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(Instant::now() < deadline, "no 'replay done' line");
        let line = lines.next().expect("stdout open").unwrap();
        if let Some(rest) = line.split("listening on http://").nth(1) {
            addr = rest.split_whitespace().next().unwrap().to_string();
        }
        if line.starts_with("replay done") {
            break;
        }
    }
    // The last snapshot's open interest per index, as live aggregation computes it.
    let last = &history[2].snapshot;
    let samples = common::parse_exposition(&common::http(&addr, "GET", "/metrics", "").text());
    for index in ["NIFTY", "BANKNIFTY", "FINNIFTY"] {
        let one = of_index(last, index);
        let agg = Aggregator::new().aggregate(&one, one.as_of.unwrap());
        let want: f64 = agg.per_index[index].iter().map(|b| b.open_interest).sum();
        let got: f64 = samples
            .iter()
            .filter(|s| {
                s.name == "g6_option_open_interest"
                    && s.labels.contains(&("index".into(), index.into()))
                    && s.labels.contains(&("source".into(), "replay".into()))
            })
            .map(|s| s.value)
            .sum();
        assert!(
            (got - want).abs() <= 1e-6 * want,
            "{index}: {got} vs {want}"
        );
    }
    let catalog = common::http(&addr, "GET", "/live/catalog", "").text();
    assert!(
        catalog.contains("NIFTY"),
        "the live view has the replayed chain: {catalog}"
    );
    let status = common::http(&addr, "GET", "/", "").text();
    assert!(status.contains("REPLAY of Parquet store"), "{status}");
    assert!(
        status.contains("Replay FINISHED: ")
            && status.contains("the values shown are the last replayed ones"),
        "the page says the replay ended: {status}"
    );
    // Still serving after the end (the 500 ms after "replay done" is the period
    // observed, not a wait for an effect); SIGTERM stops it cleanly.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(common::http(&addr, "GET", "/metrics", "").status, 200);
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(10);
    let code = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "g6 replay --serve did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(code.success(), "{code:?}");
}
