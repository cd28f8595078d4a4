//! `g6 migrate`: a spec in the original Python G6 format (written for the tests from
//! the roadmap's description) becomes one that lints clean: namespace added, names in
//! base units with `renamed_from`, values scaled (buckets, `le`, thresholds), PromQL
//! following the renames, panel kinds mapped, labels declared, a dashboard per family;
//! what needs a person is a `# MIGRATE:` comment and a line on stderr.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use crate::common;

use std::path::Path;
use std::process::Command;

const ORIGINAL: &str = "tests/fixtures/migrate/original_base.yml";

fn g6(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_g6"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
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
fn an_original_spec_becomes_one_that_lints_clean_with_every_decision_reported() {
    // The original fails lint many times over.
    let (code, _, err) = g6(&["lint", ORIGINAL]);
    assert_eq!(code, 1);
    assert!(err.matches("error[").count() >= 5, "{err}");
    let out = common::temp_dir("migrate").join("metrics.yml");
    let (code, stdout, err) = g6(&["migrate", ORIGINAL, "--out", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.is_empty(), "--out writes the file only");
    // Its three families and the built-in one.
    assert!(err.contains("lints clean (4 families"), "{err}");
    let (code, lint, lint_err) = g6(&["lint", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{lint}{lint_err}");
    let spec = std::fs::read_to_string(&out).unwrap();
    for want in [
        "namespace: g6\n",
        // Counters end in _total; the old name is recorded.
        "      - name: g6_api_calls_total\n        type: counter\n",
        "        renamed_from: g6_api_calls\n",
        "{kind: rate, title: 'API calls by result', promql: 'sum by (result) (rate(g6_api_calls_total[5m]))', unit: 'reqps'}",
        "expr: 'sum(rate(g6_api_calls_total{result=\"error\"}[5m])) / sum(rate(g6_api_calls_total[5m])) > 0.05'",
        // high -> critical.
        "            for: '10m'\n            severity: critical\n",
        // ms -> seconds: name, unit, buckets, quantile panel, le matcher, threshold.
        "      - name: g6_api_response_latency_seconds\n        type: histogram\n",
        "        unit: seconds\n",
        "        buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]\n",
        "        renamed_from: g6_api_response_latency_ms\n",
        "{kind: quantile, title: 'API latency p95', promql: 'histogram_quantile(0.95, sum by (le) (rate(g6_api_response_latency_seconds_bucket[5m])))', unit: 's'}",
        "promql: 'sum(rate(g6_api_response_latency_seconds_bucket{le=\"0.5\"}[5m])) / sum(rate(g6_api_response_latency_seconds_count[5m]))'",
        "panel_type: timeseries",
        "expr: 'histogram_quantile(0.95, sum by (le) (rate(g6_api_response_latency_seconds_bucket[5m]))) > 1.5'",
        // A mean (sum/count) is in the unit too; a share of buckets is not.
        "expr: 'sum(rate(g6_api_response_latency_seconds_sum[5m])) / sum(rate(g6_api_response_latency_seconds_count[5m])) > 0.5'\n            for: '5m'\n            severity: critical\n            summary: 'Mean provider latency above 500 ms'",
        "expr: 'sum(rate(g6_api_response_latency_seconds_bucket{le=\"0.5\"}[5m])) / sum(rate(g6_api_response_latency_seconds_count[5m])) < 0.9'",
        // A _total gauge loses its _total.
        "      - name: g6_expiry_resolution\n        type: gauge\n",
        // Percent -> ratio, MB -> bytes, thresholds and units with them.
        "      - name: g6_api_success_rate_ratio\n",
        "expr: 'g6_api_success_rate_ratio < 0.95'",
        "            severity: warning\n",
        "      - name: g6_memory_usage_bytes\n",
        "{title: 'Memory', promql: 'g6_memory_usage_bytes', unit: 'bytes'}",
        // Undeclared labels become open labels; a missing budget a guess.
        "  provider: {open: true,",
        "        cardinality_budget: 100\n",
        // A dashboard per family.
        "  provider: {title: 'G6 Provider', families: [provider]}",
        "  system: {title: 'G6 System', families: [system]}",
        // Left to a person.
        "# MIGRATE: panel kind `sparkle` has no counterpart",
        "# MIGRATE: panel kind `fast_share` has no counterpart",
        "# MIGRATE: dropped the field `owner_note`",
        "# MIGRATE: values are now in ratio (x0.01): the code that sets it must convert",
    ] {
        assert!(spec.contains(want), "missing {want:?} in\n{spec}");
    }
    assert!(!spec.contains("codegen"), "{spec}");
    // Every decision is on stderr with the original's line.
    for want in [
        "original_base.yml:5: MIGRATE: dropped the `codegen:` block",
        "MIGRATE: label `provider` declared open",
        "MIGRATE: panel kind `sparkle` dropped",
        "MIGRATE: g6_collection_cycles: had no help; write one",
        "MIGRATE: g6_api_response_latency_seconds: observations now in seconds; the code that observes must multiply by 0.001",
    ] {
        assert!(err.contains(want), "missing {want:?} in\n{err}");
    }
    // Without --out the spec goes to stdout, the same bytes.
    let (code, stdout, _) = g6(&["migrate", ORIGINAL]);
    assert_eq!(code, 0);
    assert_eq!(stdout, spec);
}

#[test]
fn a_file_that_is_not_an_original_spec_is_a_usage_error() {
    let dir = common::temp_dir("migrate-bad");
    let not_spec = dir.join("x.yml");
    std::fs::write(&not_spec, "hello: world\n").unwrap();
    let (code, _, err) = g6(&["migrate", not_spec.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("no `families:` mapping"), "{err}");
    let (code, _, err) = g6(&["migrate", "/nonexistent.yml"]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot read"), "{err}");
    let _ = Path::new(ORIGINAL);
}
