//! Every metric a dashboard shows is fed by the code path it describes: `g6 serve` on a
//! real provider (no `--simulate`) moves each metric of the families whose code exists
//! today. A metric with no code path yet is listed below with its reason, so the list
//! cannot grow unnoticed.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use crate::common;

use common::{http, parse_exposition, Sample, Server};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// Families whose code paths exist today (the data-path families are fed by the issues
/// that build those paths).
const FAMILIES: &[&str] = &["provider", "provider_mode", "system", "option_chain"];

/// Metrics of those families with no code path yet, and why (none today: the circuit
/// breaker's gauge is set every cycle).
const NO_CODE_PATH: &[(&str, &str)] = &[];

fn spec_metrics() -> BTreeMap<String, (String, String)> {
    let loaded = g6_codegen::load_str(g6_metrics::artifacts::SPEC_SOURCE, "metrics.yml").unwrap();
    loaded
        .spec
        .metrics()
        .filter(|(f, _)| FAMILIES.contains(&f.name.value.as_str()))
        .map(|(f, m)| {
            (
                m.name.value.clone(),
                (f.name.value.clone(), m.kind.value.as_str().to_string()),
            )
        })
        .collect()
}

fn scrape(server: &Server) -> Vec<Sample> {
    parse_exposition(&http(&server.addr, "GET", "/metrics", "").text())
}

/// Sum of every sample of `name` (histograms: of `_count`), and how many series.
fn total(samples: &[Sample], name: &str, kind: &str) -> (f64, usize) {
    let series = if kind == "histogram" {
        format!("{name}_count")
    } else {
        name.to_string()
    };
    let matching: Vec<&Sample> = samples.iter().filter(|s| s.name == series).collect();
    (matching.iter().map(|s| s.value).sum(), matching.len())
}

fn wait_until(what: &str, server: &Server, mut ok: impl FnMut(&[Sample]) -> bool) -> Vec<Sample> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let samples = scrape(server);
        if ok(&samples) {
            return samples;
        }
        assert!(Instant::now() < deadline, "{what} within 20 s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    common::find_sample(samples, name, labels)
}

#[test]
fn every_metric_of_the_live_families_moves_on_the_real_path() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("family_feeds");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let chain = dir.join("chain.csv");
    // Missing at first: the primary fails and the synthetic fallback serves.
    let server = Server::start(
        &[
            "--provider",
            &format!("file:{}", chain.display()),
            "--fallback-synthetic",
            "--interval",
            "200ms",
        ],
        &[],
    );
    let cycles = |s: &[Sample]| {
        value(s, "g6_collection_cycles_total", &[("result", "error")]).unwrap_or(0.0)
    };
    let first = wait_until("two failing cycles", &server, |s| cycles(s) >= 2.0);
    assert_eq!(
        value(
            &first,
            "g6_provider_mode",
            &[("provider", "file"), ("provider_mode", "fallback")]
        ),
        Some(1.0)
    );
    // The file appears, with one malformed row: the primary serves again.
    let fixture =
        std::fs::read_to_string(root.join("tests/fixtures/chains/dashboard_values.csv")).unwrap();
    std::fs::write(
        &chain,
        format!("{fixture}NIFTY,24000,someday,CE,24000,1,1,1,,,,2024-11-25T09:00:00Z\n"),
    )
    .unwrap();
    let primary = |s: &[Sample]| {
        value(
            s,
            "g6_provider_mode",
            &[("provider", "file"), ("provider_mode", "primary")],
        ) == Some(1.0)
    };
    wait_until("the primary back", &server, primary);
    // A new contract is listed.
    std::fs::write(
        &chain,
        format!("{fixture}NIFTY,24000,someday,CE,24000,1,1,1,,,,2024-11-25T09:00:00Z\nNIFTY,24100,2024-11-28,CE,24000,7,1,12,,,20,2024-11-25T09:00:00Z\n"),
    )
    .unwrap();
    let last = wait_until("the new listing counted", &server, |s| {
        value(s, "g6_option_contracts_new_total", &[("dte", "short")]).unwrap_or(0.0) >= 1.0
    });

    let mut problems = Vec::new();
    for (name, (family, kind)) in spec_metrics() {
        if NO_CODE_PATH.iter().any(|(n, _)| *n == name) {
            continue;
        }
        // Counters and histograms start at 0: fed means above it by now.
        let (after, series) = total(&last, &name, &kind);
        if series == 0 {
            problems.push(format!("{family}: {name} has no series"));
        } else if kind != "gauge" && after <= 0.0 {
            problems.push(format!("{family}: {name} never moved"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    for (name, _) in NO_CODE_PATH {
        assert!(
            spec_metrics().contains_key(*name),
            "{name} is no longer in the spec: drop it from NO_CODE_PATH"
        );
    }
    // The switches: fallback -> primary at least.
    assert!(
        value(
            &last,
            "g6_provider_mode_switches_total",
            &[("provider", "file")]
        )
        .unwrap()
            >= 1.0
    );
    // Ages come from the data's own time (2024-11-25 09:00 UTC), not from the fetch.
    let age = value(
        &last,
        "g6_option_chain_snapshot_age_seconds",
        &[("index", "NIFTY")],
    )
    .unwrap();
    let as_of = 1_732_525_200.0; // 2024-11-25T09:00:00Z
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!((age - (now - as_of)).abs() < 120.0, "age {age}");
    assert!(server.terminate().success());
}

#[test]
fn a_provider_failing_from_the_start_is_stale_for_every_expected_index() {
    let missing = Path::new(env!("CARGO_TARGET_TMPDIR")).join("no-such-chain.csv");
    let provider = format!("file:{}", missing.display());
    // No index known: the age is kept under index="unknown".
    let server = Server::start(&["--provider", &provider, "--interval", "200ms"], &[]);
    let age = |s: &[Sample], index: &str| {
        value(
            s,
            "g6_option_chain_snapshot_age_seconds",
            &[("index", index)],
        )
    };
    let first = wait_until("an unknown-index age", &server, |s| {
        age(s, "unknown").is_some()
    });
    let a = age(&first, "unknown").unwrap();
    let later = wait_until("the age growing", &server, |s| {
        age(s, "unknown").is_some_and(|b| b >= a + 0.5)
    });
    assert!(age(&later, "NIFTY").is_none());
    assert!(server.terminate().success());

    // With --index, each expected index ages from the start, and no placeholder.
    let server = Server::start(
        &[
            "--provider",
            &provider,
            "--interval",
            "200ms",
            "--index",
            "NIFTY,BANKNIFTY",
        ],
        &[],
    );
    let s = wait_until("both ages growing", &server, |s| {
        age(s, "NIFTY").is_some_and(|a| a >= 0.5) && age(s, "BANKNIFTY").is_some_and(|a| a >= 0.5)
    });
    assert!(age(&s, "unknown").is_none());
    assert!(server.terminate().success());
}

#[test]
fn nse_json_age_comes_from_the_records_timestamp() {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/chains/nifty_nse.json"
    );
    let server = Server::start(
        &[
            "--provider",
            &format!("nse-json:{fixture}"),
            "--interval",
            "200ms",
        ],
        &[],
    );
    let s = wait_until("a NIFTY age", &server, |s| {
        value(
            s,
            "g6_option_chain_snapshot_age_seconds",
            &[("index", "NIFTY")],
        )
        .is_some()
    });
    let age = value(
        &s,
        "g6_option_chain_snapshot_age_seconds",
        &[("index", "NIFTY")],
    )
    .unwrap();
    let text = std::fs::read_to_string(fixture).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let stamp = doc["records"]["timestamp"].as_str().unwrap();
    assert!(
        age > 86_400.0,
        "a file stamped {stamp} is more than a day old, not {age} s"
    );
    assert!(server.terminate().success());
}

/// Bus and stream metrics that only move on a failure path or with a consumer `g6
/// serve` does not have yet, and the test that proves each one.
const BUS_NOT_ON_THE_HAPPY_PATH: &[(&str, &str)] = &[
    ("g6_bus_publish_failures_total", "a server crash: tests/servers/bus_nats.rs"),
    ("g6_bus_publish_retries_total", "a server crash: tests/servers/bus_nats.rs"),
    ("g6_bus_dedupe_hits_total", "a retry of a message the stream already had"),
    ("g6_bus_dropped_messages_total", "an outbox over its bound: tests/servers/bus_nats.rs"),
    (
        "g6_bus_subscriber_lost_messages_total",
        "an in-process subscriber falling behind (g6 serve has none until the store writer and live hub): tests/app/bus_inproc.rs",
    ),
    (
        "g6_stream_connected_clients",
        "clients of the live view (/live/atm): tests/servers/live_sse.rs",
    ),
];

#[test]
#[ignore = "needs nats-server; scripts/test.sh runs it"]
fn every_metric_of_the_bus_and_stream_families_moves_on_the_real_path() {
    common::nats::require();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("family_feeds_bus");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let nats = common::nats::Nats::start(&dir);
    let url = nats.url();
    // A durable consumer exists before the collector starts: the stream's consumers
    // and their lag are exported.
    let tail = std::process::Command::new(env!("CARGO_BIN_EXE_g6"))
        .args(["tail", "--bus", &url, "--durable", "feeds"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _tail = Kill(tail);
    // A file read every cycle: the first read is published, the next ones are gated.
    let fixture = root.join("tests/fixtures/chains/bus.csv");
    let server = Server::start(
        &[
            "--provider",
            &format!("file:{}", fixture.display()),
            "--interval",
            "200ms",
            "--bus",
            &url,
        ],
        &[],
    );
    let samples = wait_until("the bus fed", &server, |s| {
        let lag = s.iter().any(|x| {
            x.name == "g6_bus_consumer_lag_messages"
                && x.labels
                    .iter()
                    .any(|(k, v)| k == "subscriber" && v == "feeds")
        });
        lag && value(s, "g6_bus_subscribers", &[("bus", "nats")]).unwrap_or(0.0) >= 1.0
            && value(s, "g6_stream_gate_skips_total", &[("reason", "unchanged")]).unwrap_or(0.0)
                >= 3.0
    });
    let loaded = g6_codegen::load_str(g6_metrics::artifacts::SPEC_SOURCE, "metrics.yml").unwrap();
    let mut problems = Vec::new();
    for (f, m) in loaded.spec.metrics() {
        let family = f.name.value.as_str();
        if family != "bus" && family != "stream" {
            continue;
        }
        let name = m.name.value.as_str();
        let kind = m.kind.value.as_str();
        let (after, series) = total(&samples, name, kind);
        if let Some((_, why)) = BUS_NOT_ON_THE_HAPPY_PATH.iter().find(|(n, _)| *n == name) {
            // Present from the start (so a rate reads 0), moved only by: `why`.
            if name != "g6_bus_subscriber_lost_messages_total" && series == 0 {
                problems.push(format!("{name} has no series ({why})"));
            }
            continue;
        }
        if series == 0 {
            problems.push(format!("{family}: {name} has no series"));
        } else if kind != "gauge" && after <= 0.0 {
            problems.push(format!("{family}: {name} never moved"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // Three messages (NIFTY x 2 expiries, BANKNIFTY x 1), published once to each bus.
    for bus in ["inproc", "nats"] {
        assert_eq!(
            value(
                &samples,
                "g6_bus_events_published_total",
                &[("bus", bus), ("topic", "chain")]
            ),
            Some(3.0),
            "{bus}"
        );
    }
    assert_eq!(
        value(&samples, "g6_bus_connected", &[("bus", "nats")]),
        Some(1.0)
    );
    assert_eq!(
        value(&samples, "g6_stream_events_total", &[("kind", "chain")]),
        Some(3.0)
    );
    assert!(server.terminate().success());
}

/// Column-store and lifecycle metrics that move only on a failure or retention path,
/// or have no code path yet, and why.
const STORE_NOT_ON_THE_HAPPY_PATH: &[(&str, &str)] = &[
    (
        "g6_cs_ingest_failures_total",
        "a failing write: tests/app/store_parquet.rs (full disk)",
    ),
    (
        "g6_cs_ingest_retries_total",
        "a failing write: tests/app/store_parquet.rs (full disk)",
    ),
    (
        "g6_cs_ingest_dropped_rows_total",
        "a backlog over its bound, or rows left at shutdown",
    ),
    (
        "g6_lifecycle_deleted_files_total",
        "files past retention: tests/app/store_parquet.rs",
    ),
    (
        "g6_lifecycle_reclaimed_bytes_total",
        "files past retention: tests/app/store_parquet.rs",
    ),
    (
        "g6_lifecycle_compacted_files_total",
        "small files older than --compact-after (1h): tests/app/store_parquet.rs",
    ),
    (
        "g6_replay_skipped_total",
        "a stored file or snapshot replay skips: tests/app/replay.rs",
    ),
];

#[test]
fn every_metric_of_the_column_store_and_lifecycle_families_moves_on_the_real_path() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("family_feeds_store");
    let _ = std::fs::remove_dir_all(&dir);
    let fixture = root.join("tests/fixtures/chains/bus.csv");
    let server = Server::start(
        &[
            "--provider",
            &format!("file:{}", fixture.display()),
            "--interval",
            "200ms",
            "--store-flush",
            "300ms",
            "--data-dir",
            &dir.display().to_string(),
        ],
        &[],
    );
    let samples = wait_until("rows stored", &server, |s| {
        value(s, "g6_cs_ingest_rows_total", &[("table", "option_chain")]).unwrap_or(0.0) > 0.0
    });
    let loaded = g6_codegen::load_str(g6_metrics::artifacts::SPEC_SOURCE, "metrics.yml").unwrap();
    let mut problems = Vec::new();
    for (f, m) in loaded.spec.metrics() {
        let family = f.name.value.as_str();
        if family != "column_store" && family != "lifecycle" {
            continue;
        }
        let name = m.name.value.as_str();
        let kind = m.kind.value.as_str();
        let (after, series) = total(&samples, name, kind);
        if let Some((_, why)) = STORE_NOT_ON_THE_HAPPY_PATH.iter().find(|(n, _)| *n == name) {
            if series == 0 {
                problems.push(format!("{name} has no series ({why})"));
            }
            continue;
        }
        if series == 0 {
            problems.push(format!("{family}: {name} has no series"));
        } else if kind != "gauge" && after <= 0.0 {
            problems.push(format!("{family}: {name} never moved"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // The fixture's 9 valid contracts, once (the same file read again is not re-sent).
    assert_eq!(
        value(
            &samples,
            "g6_cs_ingest_rows_total",
            &[("table", "option_chain")]
        ),
        Some(9.0)
    );
    assert!(server.terminate().success());
}
