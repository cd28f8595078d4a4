//! The NATS JetStream bus against a real `nats-server` (started by each test on a free
//! port, storage in a temporary directory): nothing lost or doubled across server
//! crashes, a durable consumer that resumes, and bad input that degrades without a
//! panic.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use crate::common;

use common::nats::{self, Nats};
use common::{http, parse_exposition, Server};
use g6_metrics::bus::message::{ChainMessage, JsonMessage};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `g6 tail --json` as a child; its messages collected by a thread.
struct Tail {
    child: Child,
    lines: Arc<Mutex<Vec<JsonMessage>>>,
}

impl Tail {
    fn start(args: &[&str]) -> Tail {
        let mut child = Command::new(env!("CARGO_BIN_EXE_g6"))
            .arg("tail")
            .arg("--json")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let out = child.stdout.take().unwrap();
        let sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                let m: JsonMessage = serde_json::from_str(&line).expect("tail --json line");
                sink.lock().unwrap().push(m);
            }
        });
        Tail { child, lines }
    }

    fn count(&self) -> usize {
        self.lines.lock().unwrap().len()
    }

    fn wait_for(&self, n: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.count() < n {
            assert!(
                Instant::now() < deadline,
                "tail saw {} of {n} messages",
                self.count()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn wait_exit(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(s)) = self.child.try_wait() {
                return s.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    fn messages(&self) -> Vec<JsonMessage> {
        self.lines.lock().unwrap().clone()
    }
}

impl Drop for Tail {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn metrics_of(addr: &str) -> Vec<common::Sample> {
    parse_exposition(&http(addr, "GET", "/metrics", "").text())
}

fn sum(samples: &[common::Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.iter().any(|(a, b)| a == k && b == v))
        })
        .map(|s| s.value)
        .sum()
}

/// Wait for `g6 serve` to exit by itself (`--cycles`); its stderr.
fn wait_serve_exit(server: &mut Server, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = server.child.try_wait() {
            let mut err = String::new();
            if let Some(mut e) = server.child.stderr.take() {
                use std::io::Read;
                let _ = e.read_to_string(&mut err);
            }
            assert!(status.success(), "g6 serve failed: {status}\n{err}");
            return err;
        }
        assert!(
            Instant::now() < deadline,
            "g6 serve did not finish its cycles"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

const CYCLES: usize = 60;

/// The message ids of every message the stream holds, read by sequence.
fn stream_ids(url: &str) -> Vec<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = async_nats::connect(url).await.unwrap();
        let js = async_nats::jetstream::new(client);
        let mut stream = js.get_stream("G6_CHAIN").await.unwrap();
        let state = stream.info().await.unwrap().state.clone();
        let mut ids = Vec::new();
        for seq in state.first_sequence..=state.last_sequence {
            let m = stream.get_raw_message(seq).await.unwrap();
            let decoded = ChainMessage::from_bytes(&m.payload).unwrap();
            let header = m
                .headers
                .get("Nats-Msg-Id")
                .map(|v| v.to_string())
                .unwrap_or_default();
            assert_eq!(
                header,
                decoded.message_id(),
                "Nats-Msg-Id is the message key"
            );
            ids.push(header);
        }
        ids
    })
}

#[test]
#[ignore = "needs nats-server; scripts/test.sh runs it"]
fn a_durable_consumer_prints_every_snapshot_once_per_run_across_two_server_crashes() {
    nats::require();
    let dir = common::temp_dir("bus_nats_crashes");
    let mut server_nats = Nats::start(&dir);
    let url = server_nats.url();
    let cycles = CYCLES.to_string();
    let mut serve = Server::start(
        &[
            "--provider",
            "synthetic:6:fast",
            "--index",
            "NIFTY",
            "--interval",
            "300ms",
            "--cycles",
            &cycles,
            "--bus",
            &url,
            "--bus-ack-timeout",
            "1s",
        ],
        &[("RUST_LOG", "info")],
    );
    // A durable consumer stops after 40 messages; a second run of the same durable
    // resumes where it stopped, and keeps running through both crashes (a redelivery
    // caused by an acknowledgement lost in a crash is recognised by its key).
    let mut first = Tail::start(&["--bus", &url, "--durable", "it", "--count", "40"]);
    assert!(
        first.wait_exit(Duration::from_secs(60)),
        "first tail did not finish"
    );
    assert_eq!(first.count(), 40);
    let second = Tail::start(&["--bus", &url, "--durable", "it"]);
    second.wait_for(16, Duration::from_secs(30));

    // Crash 1, while the collector keeps publishing. The 2.5 s outage is the fault
    // under test (several cycles published into a dead server), not a wait.
    server_nats.kill9();
    std::thread::sleep(Duration::from_millis(2500));
    server_nats.restart();
    // The outage is visible in the metrics: failed attempts and retries.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let m = metrics_of(&serve.addr);
        let failures = sum(&m, "g6_bus_publish_failures_total", &[("bus", "nats")]);
        let retries = sum(&m, "g6_bus_publish_retries_total", &[("bus", "nats")]);
        if failures > 0.0 && retries > 0.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no publish failures/retries counted after a crash: failures {failures}, retries {retries}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    second.wait_for(80, Duration::from_secs(30));

    // Crash 2, as long as the first (the outage is the fault under test).
    server_nats.kill9();
    std::thread::sleep(Duration::from_millis(2500));
    server_nats.restart();

    let stderr = wait_serve_exit(&mut serve, Duration::from_secs(120));
    // What the collector produced: its shutdown report of the in-process bus (every
    // message of every snapshot) and what the stream acknowledged.
    let report = |bus: &str, key: &str| -> u64 {
        let line = stderr
            .lines()
            .find(|l| l.contains("bus closed") && l.contains(&format!("bus=\"{bus}\"")))
            .unwrap_or_else(|| panic!("no shutdown report for {bus}:\n{stderr}"));
        let v = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("no {key} in {line}"));
        v.trim_matches('"').parse().unwrap()
    };
    let produced = report("inproc", "published");
    assert_eq!(report("nats", "published"), produced, "{stderr}");
    assert_eq!(report("nats", "dropped"), 0, "{stderr}");
    assert_eq!(report("nats", "left"), 0, "{stderr}");

    let total = produced as usize;
    let first_ids: Vec<String> = first
        .messages()
        .iter()
        .map(|m| ChainMessage::from(m).message_id())
        .collect();
    let distinct_seen = |second: &Tail| -> usize {
        let mut ids: BTreeSet<String> = first_ids.iter().cloned().collect();
        ids.extend(
            second
                .messages()
                .iter()
                .map(|m| ChainMessage::from(m).message_id()),
        );
        ids.len()
    };
    common::wait_until(
        "the two runs printed every message",
        Duration::from_secs(60),
        || distinct_seen(&second) >= total,
    );
    // Nothing pending or waiting for an acknowledgement: no redelivery can still come.
    common::wait_until(
        "the durable consumer drained",
        Duration::from_secs(30),
        || nats::try_consumer_state(&url, "it") == Some((0, 0)),
    );
    // Within a run, a key is printed once (tail drops the redeliveries a crash causes).
    for (run, messages) in [("first", first.messages()), ("second", second.messages())] {
        let mut printed = BTreeSet::new();
        let twice: Vec<String> = messages
            .iter()
            .map(|m| ChainMessage::from(m).message_id())
            .filter(|id| !printed.insert(id.clone()))
            .collect();
        assert!(twice.is_empty(), "the {run} run printed twice: {twice:?}");
    }
    // Across runs, the only repeats allowed are the server's: nats-server restarted
    // after a kill -9 may rebuild the stream's state and reset a durable's
    // acknowledgement floor (nats-server#8036), which brings back everything above the
    // floor: a suffix of what the first run printed, never a message out of order.
    let second_ids: BTreeSet<String> = second
        .messages()
        .iter()
        .map(|m| ChainMessage::from(m).message_id())
        .collect();
    let again: Vec<bool> = first_ids.iter().map(|id| second_ids.contains(id)).collect();
    if let Some(from) = again.iter().position(|&a| a) {
        assert!(
            again[from..].iter().all(|&a| a),
            "the second run repeated first-run messages that are not the tail of the first run \
             (not an acknowledgement-floor reset): {again:?}"
        );
        eprintln!(
            "the server forgot the first run's acknowledgements after {from} of 40 (nats-server#8036); \
             the second run printed the other {} again",
            40 - from
        );
    }
    let mut all = first.messages();
    all.extend(
        second
            .messages()
            .into_iter()
            .filter(|m| !first_ids.contains(&ChainMessage::from(m).message_id())),
    );
    assert_eq!(all.len(), total, "no message twice, none missing");
    let mut keys = BTreeSet::new();
    let mut per_snapshot: BTreeMap<u64, BTreeSet<String>> = BTreeMap::new();
    for m in &all {
        let m = ChainMessage::from(m);
        assert_eq!(m.index, "NIFTY", "--index NIFTY collects NIFTY only");
        assert!(!m.contracts.is_empty());
        assert!(
            keys.insert((m.index.clone(), m.expiry.clone(), m.snapshot_id, m.part)),
            "{} delivered twice",
            m.message_id()
        );
        per_snapshot
            .entry(m.snapshot_id)
            .or_default()
            .insert(m.expiry.clone());
    }
    assert_eq!(per_snapshot.len(), CYCLES, "every snapshot arrived");
    // The stream itself holds every message once: the retries after each crash were
    // dropped by their Nats-Msg-Id.
    let stored = stream_ids(&url);
    assert_eq!(stored.len(), total, "stored messages");
    let distinct: BTreeSet<&String> = stored.iter().collect();
    assert_eq!(distinct.len(), total, "a message stored twice");
    let expiries = per_snapshot.values().map(BTreeSet::len).max().unwrap();
    assert!(
        per_snapshot
            .values()
            .filter(|e| e.len() == expiries)
            .count()
            >= CYCLES - 1,
        "every snapshot arrived whole (an expiry may roll over once): {per_snapshot:?}"
    );
}

#[test]
fn an_unreachable_server_never_blocks_the_collector_and_the_outbox_bound_is_counted() {
    let dead = format!("nats://127.0.0.1:{}", common::prometheus::free_port());
    let serve = Server::start(
        &[
            "--provider",
            "synthetic:6:fast",
            "--interval",
            "100ms",
            "--bus",
            &dead,
            "--bus-outbox-bytes",
            "1MiB",
        ],
        &[],
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let m = metrics_of(&serve.addr);
        let cycles = sum(&m, "g6_collection_cycles_total", &[("result", "ok")]);
        let dropped = sum(
            &m,
            "g6_bus_dropped_messages_total",
            &[("bus", "nats"), ("drop_reason", "outbox_full")],
        );
        let outbox = sum(&m, "g6_bus_outbox_bytes", &[("bus", "nats")]);
        let limit = sum(&m, "g6_bus_outbox_limit_bytes", &[("bus", "nats")]);
        assert_eq!(limit, 1024.0 * 1024.0);
        assert!(outbox <= limit, "outbox {outbox} over its bound {limit}");
        assert_eq!(sum(&m, "g6_bus_connected", &[("bus", "nats")]), 0.0);
        if cycles >= 20.0 && dropped > 0.0 && outbox > 0.0 {
            // The in-process bus is unaffected.
            assert!(sum(&m, "g6_bus_events_published_total", &[("bus", "inproc")]) > 0.0);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "cycles {cycles}, dropped {dropped}, outbox {outbox}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let status = serve.terminate();
    assert!(status.success(), "{status}");
}

#[test]
fn malformed_bus_urls_are_usage_errors_with_a_hint() {
    for args in [
        vec!["serve", "--bus", "127.0.0.1:4222"],
        vec!["serve", "--bus", "nats://host:port"],
        vec!["serve", "--bus", "http://127.0.0.1:4222"],
        vec!["tail", "--bus", "localhost"],
        vec![
            "serve",
            "--bus",
            "nats://127.0.0.1:4222",
            "--bus-stream",
            "a.b",
        ],
        vec![
            "serve",
            "--bus",
            "nats://127.0.0.1:4222",
            "--bus-max-age",
            "5m",
        ],
        vec![
            "tail",
            "--bus",
            "nats://127.0.0.1:4222",
            "--subject",
            "g6..x",
        ],
        vec!["tail", "--bus", "nats://127.0.0.1:4222", "--durable", "a.b"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_g6"))
            .args(&args)
            .args(
                ["--listen", "127.0.0.1:0"]
                    .iter()
                    .filter(|_| args[0] == "serve"),
            )
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        let hints = [
            "nats://HOST:PORT",
            "stream name",
            "dedupe window",
            "subject pattern",
            "consumer name",
        ];
        assert!(
            hints.iter().any(|hint| err.contains(hint)),
            "{args:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
#[ignore = "needs nats-server; scripts/test.sh runs it"]
fn a_stream_with_other_subjects_is_reported_and_left_alone() {
    nats::require();
    let dir = common::temp_dir("bus_nats_conflict");
    let server_nats = Nats::start(&dir);
    let url = server_nats.url();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let js = rt.block_on(async {
        let client = async_nats::connect(&url).await.unwrap();
        let js = async_nats::jetstream::new(client);
        js.create_stream(async_nats::jetstream::stream::Config {
            name: "G6_CHAIN".into(),
            subjects: vec!["other.>".into()],
            ..Default::default()
        })
        .await
        .unwrap();
        js
    });
    let serve = Server::start(
        &[
            "--provider",
            "synthetic:6:fast",
            "--interval",
            "100ms",
            "--bus",
            &url,
        ],
        &[],
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let m = metrics_of(&serve.addr);
        let conflicts = sum(
            &m,
            "g6_bus_publish_failures_total",
            &[("bus", "nats"), ("bus_failure", "stream_conflict")],
        );
        let cycles = sum(&m, "g6_collection_cycles_total", &[("result", "ok")]);
        if conflicts > 0.0 && cycles >= 5.0 {
            assert!(sum(&m, "g6_bus_queue_depth", &[("bus", "nats")]) > 0.0);
            break;
        }
        assert!(Instant::now() < deadline, "conflict not counted");
        std::thread::sleep(Duration::from_millis(100));
    }
    let subjects = rt.block_on(async {
        let mut s = js.get_stream("G6_CHAIN").await.unwrap();
        s.info().await.unwrap().config.subjects.clone()
    });
    assert_eq!(
        subjects,
        ["other.>"],
        "someone else's stream is not changed"
    );
    let mut serve = serve;
    let _ = Command::new("kill")
        .args(["-TERM", &serve.child.id().to_string()])
        .status();
    let err = wait_serve_exit(&mut serve, Duration::from_secs(30));
    assert!(
        err.contains("exists with subjects") && err.contains("--bus-stream"),
        "the log says what is wrong and what to do:\n{err}"
    );
}

#[test]
#[ignore = "needs nats-server; scripts/test.sh runs it"]
fn tail_durable_count_acknowledges_what_it_printed_and_the_next_run_resumes_right_after() {
    nats::require();
    let dir = common::temp_dir("bus_nats_tail_resume");
    let server_nats = Nats::start(&dir);
    let url = server_nats.url();
    // Ten messages, snapshot ids 1 to 10, in stream order.
    let payloads: Vec<Vec<u8>> = (1..=10u64)
        .map(|id| {
            ChainMessage {
                schema_version: 1,
                index: "NIFTY".into(),
                snapshot_id: id,
                as_of_ms: 1_795_000_000_000 + id as i64,
                expiry: "2026-12-31".into(),
                expiry_unix: 1_798_675_200,
                spot: 24_000.0,
                source: 1,
                provider: "test".into(),
                part: 0,
                parts: 1,
                contracts: Vec::new(),
            }
            .to_bytes()
        })
        .collect();
    nats::publish_raw(&url, "g6.chain.NIFTY.2026-12-31", &payloads);
    let run = || {
        let mut tail = Tail::start(&["--bus", &url, "--durable", "x", "--count", "3"]);
        assert!(
            tail.wait_exit(Duration::from_secs(30)),
            "tail did not finish"
        );
        tail.messages()
            .iter()
            .map(|m| m.snapshot_id)
            .collect::<Vec<u64>>()
    };
    assert_eq!(run(), [1, 2, 3]);
    // Nothing fetched beyond what was printed: all acknowledged, the rest undelivered.
    assert_eq!(nats::consumer_state(&url, "x"), (7, 0));
    assert_eq!(
        run(),
        [4, 5, 6],
        "the second run resumes right after the first"
    );
    assert_eq!(nats::consumer_state(&url, "x"), (4, 0));
}
