//! The G6 app against specs other than its own `metrics.yml`, built for real with
//! `cargo build` (into `target/spec-variants`, so the main build is not disturbed):
//!
//! - one extra value in every closed label set of the spec: the app builds (no
//!   exhaustive match or fixed-size table on a generated enum), aggregates a snapshot
//!   without a panic, and exports the new values;
//! - a metric the app uses removed: the build fails with one message naming it, not
//!   with type errors.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use crate::common;

use common::{find_sample, http, parse_exposition, Server};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const EXTRA: &str = "extra_value";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn target_dir() -> PathBuf {
    root().join("target").join("spec-variants")
}

/// `cargo build --bin g6` of this package with `spec` as its spec.
fn build_with_spec(spec: &Path) -> Output {
    Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--bin", "g6", "-p", "g6-metrics"])
        .current_dir(root())
        .env("G6_METRICS_SPEC", spec)
        .env("G6_NO_WRITE_GENERATED", "1")
        .env("CARGO_TARGET_DIR", target_dir())
        .output()
        .expect("run cargo")
}

fn write_spec(name: &str, text: &str) -> PathBuf {
    let dir = target_dir().join("specs");
    std::fs::create_dir_all(&dir).expect("spec dir");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write spec");
    path
}

/// `metrics.yml` with `extra_value` appended to every closed label set the app may
/// change (the labels section declares each on one line: `  NAME: {values: [..],
/// help: ..}`); not `flush_trigger`, whose values the runtime fixes.
fn spec_with_extra_values() -> String {
    let spec = std::fs::read_to_string(root().join("metrics.yml")).expect("metrics.yml");
    let mut extended = Vec::new();
    let out: Vec<String> = spec
        .lines()
        .map(|line| {
            let closed = line
                .strip_prefix("  ")
                .and_then(|l| l.split_once(": {values: ["))
                .filter(|(name, _)| name.chars().all(|c| c.is_ascii_lowercase() || c == '_'));
            match closed {
                // The runtime's own metrics fix this one's values (the batcher's
                // flush triggers): a spec may not change them (E033).
                Some(("flush_trigger", _)) => line.to_string(),
                Some((name, _)) if line.contains("], help:") => {
                    extended.push(name.to_string());
                    line.replacen("], help:", &format!(", {EXTRA}], help:"), 1)
                }
                _ => line.to_string(),
            }
        })
        .collect();
    // Every label the app's code names as a closed set is among them.
    for used in [
        "mny",
        "dte",
        "result",
        "source",
        "provider_mode",
        "skip_reason",
        "fetch_failure",
        "write_mode",
        "pcr_basis",
        "side",
        "sse_event",
        "bus_failure",
        "store_failure",
        "store_drop_reason",
        "drop_reason",
        "direction",
        "memory_tier",
        "memory_action",
        "buffer",
        "replay_skip",
    ] {
        assert!(
            extended.iter().any(|e| e == used),
            "closed label {used} extended (found {extended:?})"
        );
    }
    out.join("\n") + "\n"
}

/// `metrics.yml` without the metric `name` (its whole entry).
fn spec_without(name: &str) -> String {
    let spec = std::fs::read_to_string(root().join("metrics.yml")).expect("metrics.yml");
    let mut out = Vec::new();
    let mut skipping = false;
    for line in spec.lines() {
        if line.starts_with("      - name: ") {
            skipping = line.trim_end().ends_with(name);
        } else if !line.starts_with("        ") {
            skipping = false;
        }
        if !skipping {
            out.push(line);
        }
    }
    let text = out.join("\n") + "\n";
    assert!(!text.contains(&format!("name: {name}\n")), "{name} removed");
    text
}

#[test]
fn app_builds_and_aggregates_with_extra_closed_values_and_names_a_missing_metric() {
    let spec = write_spec("extra-values.yml", &spec_with_extra_values());
    let built = build_with_spec(&spec);
    assert!(
        built.status.success(),
        "the app must build with extra closed values:\n{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let bin = target_dir().join("debug").join("g6");
    let fixture = root().join("tests/fixtures/chains/banknifty.csv");
    let server = Server::start_binary(
        &bin,
        &[
            "--provider",
            &format!("file:{}", fixture.display()),
            "--interval",
            "200ms",
        ],
        &[],
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let samples = loop {
        let samples = parse_exposition(&http(&server.addr, "GET", "/metrics", "").text());
        let ok = find_sample(
            &samples,
            "g6_option_chain_snapshots_total",
            &[("result", "ok")],
        );
        if ok.unwrap_or(0.0) >= 2.0 {
            break samples;
        }
        assert!(
            Instant::now() < deadline,
            "no snapshot aggregated within 20 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let status = server.terminate();
    assert!(status.success(), "g6 serve exited with {status} (a panic?)");

    // The new values are exported, by the generated code and by the aggregator's
    // tables (sized from the generated enums).
    for (metric, label, value) in [
        ("g6_option_rows_skipped_total", "skip_reason", 0.0),
        ("g6_option_contracts_new_total", "dte", 0.0),
        ("g6_option_chain_snapshots_total", "result", 0.0),
        // The governor's table of buffer scales is sized from the enum: the new
        // buffer starts at its full bound.
        ("g6_memory_buffer_scale", "buffer", 1.0),
    ] {
        assert_eq!(
            find_sample(&samples, metric, &[(label, EXTRA)]),
            Some(value),
            "{metric}{{{label}=\"{EXTRA}\"}}"
        );
    }
    let grid_extra = samples
        .iter()
        .filter(|s| s.name == "g6_option_open_interest")
        .filter(|s| s.labels.iter().any(|(k, v)| k == "mny" && v == EXTRA))
        .count();
    assert!(
        grid_extra > 0,
        "the aggregator publishes the extra moneyness value"
    );
    // The real buckets still carry the fixture's data.
    let oi: f64 = samples
        .iter()
        .filter(|s| s.name == "g6_option_open_interest")
        .map(|s| s.value)
        .sum();
    assert!(oi > 0.0, "open interest aggregated");

    // A metric the app's code uses, removed from the spec: one clear message.
    let spec = write_spec(
        "missing-metric.yml",
        &spec_without("g6_option_open_interest"),
    );
    let built = build_with_spec(&spec);
    let stderr = String::from_utf8_lossy(&built.stderr);
    assert!(!built.status.success(), "the build must fail");
    assert!(
        stderr.contains("metric `g6_option_open_interest` (gauge, labels [index, mny, dte, source]) is used by this crate's code but is not in the spec"),
        "the message names the metric:\n{stderr}"
    );
    assert!(!stderr.contains("error[E0"), "no type errors:\n{stderr}");

    // A closed value the app names, removed; a closed label made open: named too.
    let spec = std::fs::read_to_string(root().join("metrics.yml")).expect("metrics.yml");
    let changed = spec
        .replacen(
            "[deep_itm, itm, atm, otm, deep_otm]",
            "[deep_itm, itm, otm, deep_otm]",
            1,
        )
        .replacen(
            "  provider_mode: {values: [primary, fallback, synthetic], help:",
            "  provider_mode: {open: true, help:",
            1,
        );
    assert_ne!(changed, spec);
    let built = build_with_spec(&write_spec("changed-labels.yml", &changed));
    let stderr = String::from_utf8_lossy(&built.stderr);
    assert!(!built.status.success(), "the build must fail");
    for expected in [
        "label `mny` lacks the values [atm] that this crate's code names",
        "label `provider_mode` is used by this crate's code as a closed set (primary, fallback, synthetic) but the spec does not declare it with values",
        "label `provider_mode` of `g6_provider_mode` is open (any string) in the spec, but this crate's code passes an enum",
    ] {
        assert!(stderr.contains(expected), "missing `{expected}` in:\n{stderr}");
    }
    assert!(!stderr.contains("error[E0"), "no type errors:\n{stderr}");
}
