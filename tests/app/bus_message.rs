//! The bus message: a `file:` fixture's contracts come back exactly after encoding and
//! decoding; `protoc` reads our bytes with `proto/g6_chain.proto` (the schema other
//! languages use); `g6 tail --json` prints the same contracts.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use crate::common;

use g6_metrics::bus::inproc::InProcessBus;
use g6_metrics::bus::message::{ChainMessage, JsonMessage};
use g6_metrics::bus::{Bus, Publisher};
use g6_metrics::option_chain::providers::{from_spec, ProviderLimits};
use g6_metrics::option_chain::runner::Runner;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

const FIXTURE: &str = "tests/fixtures/chains/bus.csv";

/// 2024-11-25T10:00:00Z, the fixture's as-of time.
const AS_OF: i64 = 1_732_528_800;

/// (index, expiry, [(strike, type, oi, volume, iv ratio, bid, ask, spread_bps)]) read
/// straight from the CSV, without the app's parser: the valid rows grouped by (index,
/// expiry) in order of first appearance, rows in file order. The zero-strike row is
/// invalid (skipped by the aggregator) and must not be on the bus.
type Row = (
    f64,
    String,
    f64,
    f64,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
);

fn expected() -> Vec<(String, String, Vec<Row>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut reader = csv::Reader::from_path(root.join(FIXTURE)).unwrap();
    let mut groups: Vec<(String, String, Vec<Row>)> = Vec::new();
    let opt = |s: &str| (!s.is_empty()).then(|| s.parse::<f64>().unwrap());
    for rec in reader.records() {
        let r = rec.unwrap();
        let strike: f64 = r[1].parse().unwrap();
        if strike == 0.0 {
            continue;
        }
        // IV is in percent in the file (above 3), a ratio on the bus.
        let iv = opt(&r[7]).map(|v| v / 100.0);
        let row = (
            strike,
            r[3].to_string(),
            r[5].parse().unwrap(),
            r[6].parse().unwrap(),
            iv,
            opt(&r[8]),
            opt(&r[9]),
            opt(&r[10]),
        );
        match groups.iter_mut().find(|g| g.0 == r[0] && g.1 == r[2]) {
            Some(g) => g.2.push(row),
            None => groups.push((r[0].to_string(), r[2].to_string(), vec![row])),
        }
    }
    groups
}

fn rows_of(m: &ChainMessage) -> Vec<Row> {
    m.contracts
        .iter()
        .map(|c| {
            (
                c.strike,
                match c.kind() {
                    Some(g6_metrics::option_chain::OptionType::Call) => "CE".to_string(),
                    Some(g6_metrics::option_chain::OptionType::Put) => "PE".to_string(),
                    None => "?".to_string(),
                },
                c.open_interest,
                c.volume,
                c.iv,
                c.bid,
                c.ask,
                c.spread_bps,
            )
        })
        .collect()
}

/// One cycle of the file provider on the fixture; the messages the bus carried.
fn fixture_messages() -> Vec<Arc<ChainMessage>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let provider = from_spec(
        &format!("file:{}", root.join(FIXTURE).display()),
        ProviderLimits::default(),
    )
    .unwrap();
    let bus = InProcessBus::new(64);
    let mut sub = bus.subscribe("test");
    let buses: Vec<Arc<dyn Bus>> = vec![bus];
    let mut runner = Runner::new(provider, false).with_publisher(Publisher::new(buses));
    runner.tick_at((AS_OF + 60) as f64);
    let mut out = Vec::new();
    while let Ok(m) = sub.try_recv() {
        out.push(m);
    }
    out
}

#[test]
fn file_fixture_messages_decode_back_to_exactly_the_fixture_contracts() {
    common::in_own_process(
        module_path!(),
        "file_fixture_messages_decode_back_to_exactly_the_fixture_contracts",
        || {
            let messages = fixture_messages();
            let want = expected();
            assert_eq!(
                messages.len(),
                want.len(),
                "one message per (index, expiry)"
            );
            for (m, (index, expiry, rows)) in messages.iter().zip(&want) {
                let decoded = ChainMessage::from_bytes(&m.to_bytes()).unwrap();
                assert_eq!(&decoded, m.as_ref(), "protobuf round trip");
                assert_eq!(&decoded.index, index);
                assert_eq!(&decoded.expiry, expiry);
                assert_eq!(&rows_of(&decoded), rows, "{index} {expiry}");
                assert_eq!(decoded.schema_version, 2);
                // Schema 2: every contract with an IV carries its Greeks, and the ones
                // the runner shares with its analytics are exactly the bus's own.
                for c in &decoded.contracts {
                    if c.iv.is_some() {
                        let (d, g) = (c.delta.unwrap(), c.gamma.unwrap());
                        assert!(d.abs() <= 1.0 && g >= 0.0, "{c:?}");
                    }
                    let mut own = *c;
                    own.set_greeks(decoded.spot, decoded.expiry_unix, AS_OF);
                    assert_eq!(
                        (own.delta, own.gamma, own.vega, own.theta),
                        (c.delta, c.gamma, c.vega, c.theta)
                    );
                }
                assert_eq!(decoded.as_of_ms, AS_OF * 1000);
                assert_eq!(
                    decoded.wire_source().label(),
                    "replay",
                    "file: data is replayed"
                );
                assert_eq!(decoded.provider, "file");
                assert_eq!((decoded.part, decoded.parts), (0, 1));
                let spot = if index == "NIFTY" { 24100.5 } else { 52010.0 };
                assert_eq!(decoded.spot, spot);
                // JSON form carries the same contracts.
                let json = serde_json::to_string(&JsonMessage::from(&decoded)).unwrap();
                let back: JsonMessage = serde_json::from_str(&json).unwrap();
                assert_eq!(ChainMessage::from(&back), decoded, "JSON round trip");
            }
            // One snapshot id per index, the same on all its expiries.
            assert_eq!(messages[0].snapshot_id, messages[1].snapshot_id);
            assert_eq!(
                messages[0].message_id(),
                format!("NIFTY.2024-11-28.{}", messages[0].snapshot_id)
            );
            assert_eq!(messages[0].subject("g6.chain"), "g6.chain.NIFTY.2024-11-28");
        },
    );
}

#[test]
fn the_same_file_read_again_is_gated_as_unchanged_and_ids_keep_increasing() {
    common::in_own_process(
        module_path!(),
        "the_same_file_read_again_is_gated_as_unchanged_and_ids_keep_increasing",
        || {
            let root = Path::new(env!("CARGO_MANIFEST_DIR"));
            let provider = from_spec(
                &format!("file:{}", root.join(FIXTURE).display()),
                ProviderLimits::default(),
            )
            .unwrap();
            let bus = InProcessBus::new(64);
            let mut sub = bus.subscribe("test");
            let buses: Vec<Arc<dyn Bus>> = vec![bus];
            let mut runner = Runner::new(provider, false).with_publisher(Publisher::new(buses));
            runner.tick_at((AS_OF + 60) as f64);
            runner.tick_at((AS_OF + 65) as f64);
            let mut n = 0;
            while sub.try_recv().is_ok() {
                n += 1;
            }
            assert_eq!(
                n, 3,
                "the second read of an unchanged file publishes nothing"
            );
            assert_eq!(
                common::value("g6_stream_gate_skips_total", &[("reason", "unchanged")]),
                Some(3.0)
            );
            assert_eq!(
                common::value("g6_stream_events_total", &[("kind", "chain")]),
                Some(3.0)
            );
        },
    );
}

#[test]
#[ignore = "needs protoc; scripts/test.sh runs it"]
fn protoc_reads_our_bytes_with_the_published_schema() {
    common::require_tool("protoc");
    common::in_own_process(
        module_path!(),
        "protoc_reads_our_bytes_with_the_published_schema",
        || {
            let messages = fixture_messages();
            let m = &messages[0];
            let root = Path::new(env!("CARGO_MANIFEST_DIR"));
            let mut child = Command::new("protoc")
                .arg(format!("--proto_path={}", root.join("proto").display()))
                .arg("--decode=g6.chain.v1.ChainMessage")
                .arg("g6_chain.proto")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(&m.to_bytes())
                .unwrap();
            let out = child.wait_with_output().unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            for want in [
                "schema_version: 2".to_string(),
                "index: \"NIFTY\"".to_string(),
                format!("snapshot_id: {}", m.snapshot_id),
                format!("as_of_ms: {}", AS_OF * 1000),
                "expiry: \"2024-11-28\"".to_string(),
                "spot: 24100.5".to_string(),
                "source: REPLAY".to_string(),
                "provider: \"file\"".to_string(),
                "parts: 1".to_string(),
                "type: CE".to_string(),
                "type: PE".to_string(),
                "strike: 24000".to_string(),
                "open_interest: 2100".to_string(),
                "iv: 0.125".to_string(),
                "bid: 130.5".to_string(),
                "spread_bps: 35".to_string(),
            ] {
                assert!(
                    text.contains(&want),
                    "protoc output lacks {want:?}:\n{text}"
                );
            }
            assert_eq!(text.matches("contracts {").count(), 5, "{text}");
            // The contract without an IV has no iv field at all (optional, not 0).
            assert_eq!(text.matches("iv: ").count(), 4, "{text}");
        },
    );
}

#[test]
fn tail_of_a_file_with_fewer_messages_than_count_prints_them_and_exits_and_a_missing_file_is_a_usage_error(
) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let file = format!("file:{}", root.join(FIXTURE).display());
    let run = |args: &[&str]| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_g6"))
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // It used to wait for ever for messages a file never sends again.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while child.try_wait().unwrap().is_none() {
            assert!(
                std::time::Instant::now() < deadline,
                "g6 {args:?} did not exit"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        child.wait_with_output().unwrap()
    };
    let want = expected().len();
    let out = run(&["tail", "--count", "100", "--provider", &file]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), want);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "holds no more messages ({} fewer than --count asked for)",
            100 - want
        )),
        "{stderr}"
    );
    let out = run(&[
        "tail",
        "--count",
        "1",
        "--provider",
        "file:/nonexistent/chain.csv",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("/nonexistent/chain.csv: no such file"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn tail_json_prints_the_fixture_contracts_from_the_in_process_bus() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(env!("CARGO_BIN_EXE_g6"))
        .args([
            "tail",
            "--json",
            "--count",
            "3",
            "--interval",
            "1s",
            "--provider",
        ])
        .arg(format!("file:{}", root.join(FIXTURE).display()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<JsonMessage> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let want = expected();
    assert_eq!(lines.len(), 3);
    for (m, (index, expiry, rows)) in lines.iter().zip(&want) {
        let m = ChainMessage::from(m);
        assert_eq!((&m.index, &m.expiry), (index, expiry));
        assert_eq!(&rows_of(&m), rows);
    }
    // The plain form: one line per message with what an operator looks for.
    let out = Command::new(env!("CARGO_BIN_EXE_g6"))
        .args([
            "tail",
            "--count",
            "1",
            "--subject",
            "g6.chain.BANKNIFTY.>",
            "--provider",
        ])
        .arg(format!("file:{}", root.join(FIXTURE).display()))
        .output()
        .unwrap();
    let line = String::from_utf8_lossy(&out.stdout);
    assert!(
        line.starts_with("BANKNIFTY 2024-11-27 snapshot=")
            && line.contains(
                "as_of=2024-11-25T10:00:00.000Z contracts=2 spot=52010 source=replay provider=file"
            ),
        "{line}"
    );
}
