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
        "{kind: rate, title: 'API calls by result', promql: 'sum by (result) (rate(g6_api_calls_total[$__rate_interval]))', unit: 'reqps'}",
        "expr: 'sum(rate(g6_api_calls_total{result=\"error\"}[5m])) / sum(rate(g6_api_calls_total[5m])) > 0.05'",
        // high -> critical.
        "            for: '10m'\n            severity: critical\n",
        // ms -> seconds: name, unit, buckets, quantile panel, le matcher, threshold.
        "      - name: g6_api_response_latency_seconds\n        type: histogram\n",
        "        unit: seconds\n",
        "        buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]\n",
        "        renamed_from: g6_api_response_latency_ms\n",
        "{kind: quantile, title: 'API latency p95', promql: 'histogram_quantile(0.95, sum by (le) (rate(g6_api_response_latency_seconds_bucket[$__rate_interval])))', unit: 's'}",
        // Panels read rates over Grafana's interval; alerts keep their windows.
        "promql: 'sum(rate(g6_api_response_latency_seconds_bucket{le=\"0.5\"}[$__rate_interval])) / sum(rate(g6_api_response_latency_seconds_count[$__rate_interval]))'",
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
        // The note says what the output holds: the panel stays, without a kind.
        "MIGRATE: panel kind `sparkle` has no counterpart: the panel `Memory` is kept without a kind",
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

/// Migrate `fixture` into a scratch file: (exit code, the new spec's path, stderr).
/// `test` names the scratch directory, so tests running at once never share one.
fn migrate_fixture(fixture: &str, test: &str) -> (i32, std::path::PathBuf, String) {
    let stem = Path::new(fixture)
        .file_stem()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let out = common::temp_dir(&format!("migrate-{test}-{stem}")).join("metrics.yml");
    let (code, _, err) = g6(&["migrate", fixture, "--out", out.to_str().unwrap()]);
    (code, out, err)
}

/// `Config::compile` of a spec, as a build script runs it, into a scratch directory.
fn build(spec: &Path, scratch: &str) -> Result<g6_codegen::Compiled, g6_codegen::BuildError> {
    let out = common::temp_dir(&format!("migrate-build-{scratch}"));
    g6_codegen::Config::new()
        .spec(spec)
        .out_dir(out)
        .cargo_directives(false)
        .compile()
}

#[test]
fn every_original_fixture_migrates_into_a_spec_that_builds() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/migrate");
    let mut fixtures: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yml"))
        .map(|p| {
            format!(
                "tests/fixtures/migrate/{}",
                p.file_name().unwrap().to_string_lossy()
            )
        })
        .collect();
    fixtures.sort();
    assert_eq!(fixtures.len(), 3, "{fixtures:?}");
    for fixture in &fixtures {
        // Each original fails the build as it is.
        let original = Path::new(env!("CARGO_MANIFEST_DIR")).join(fixture);
        let stem = original.file_stem().unwrap().to_string_lossy().into_owned();
        assert!(
            build(&original, &format!("{stem}-before")).is_err(),
            "{fixture} should not build unmigrated"
        );
        let (code, out, err) = migrate_fixture(fixture, "builds");
        assert_eq!(code, 0, "{fixture}: {err}");
        if let Err(e) = build(&out, &stem) {
            panic!(
                "{fixture} migrated does not build:\n{e}\n{}",
                std::fs::read_to_string(&out).unwrap()
            );
        }
    }
}

#[test]
fn runtime_metrics_are_dropped_and_their_uses_read_the_built_in_names() {
    let (code, out, err) =
        migrate_fixture("tests/fixtures/migrate/original_builtins.yml", "builtins");
    assert_eq!(code, 0, "{err}");
    let spec = std::fs::read_to_string(&out).unwrap();
    for gone in [
        "- name: g6_metrics_batch_queue_depth",
        "- name: g6_metrics_batch_flush_duration",
        "- name: g6_metrics_batch_adaptive_target",
        "- name: g6_cardinality_series",
        "- name: g6_cardinality_guard_",
        "- name: g6_metrics_spec_hash_info",
        "- name: g6_build_config_hash_info",
        "- name: g6_metric_duplicates",
        "- name: g6_emission_failures",
        "- name: g6_emission_failure_once",
        "metrics_internal",
        "  emitter:",
        "G6EmissionFailing",
    ] {
        assert!(!spec.contains(gone), "{gone:?} is still in\n{spec}");
    }
    for want in [
        // Uses elsewhere read the built-in names (and units: 250 ms is 0.25 s).
        "promql: 'sum(rate(g6_collection_cycles_total[$__rate_interval])) or sum(rate(g6_emission_failures_total[$__rate_interval]))'",
        "promql: 'sum(g6_cardinality_series)'",
        "expr: 'histogram_quantile(0.99, sum by (le) (rate(g6_metrics_batch_flush_duration_seconds_bucket[5m]))) > 0.25'",
        "expr: 'max(g6_metrics_batch_queue_depth) > 1000'",
        "      # MIGRATE: dropped `g6_emission_failures`: the runtime has it built in as `g6_emission_failures_total`; queries that read it read `g6_emission_failures_total`; its 1 alert(s) went with it",
        "      - name: g6_emission_queue_full_total\n",
    ] {
        assert!(spec.contains(want), "missing {want:?} in\n{spec}");
    }
    for want in [
        "original_builtins.yml:10: MIGRATE: label `emitter` is built in: the original's declaration dropped",
        "original_builtins.yml:15: MIGRATE: family `metrics_internal` dropped: every metric of it is built in",
        "original_builtins.yml:15: MIGRATE: dropped `g6_metrics_batch_queue_depth`: the runtime has it built in (queries keep reading it); its 1 panel(s) went with it",
        "original_builtins.yml:22: MIGRATE: dropped `g6_metrics_batch_flush_duration_ms`: the runtime has it built in as `g6_metrics_batch_flush_duration_seconds`",
        "original_builtins.yml:29: MIGRATE: dropped `g6_cardinality_series_total`: the runtime has it built in as `g6_cardinality_series`",
        "original_builtins.yml:50: MIGRATE: dropped `g6_metric_duplicates`: the runtime has it built in as `g6_metric_duplicates_total`",
        "original_builtins.yml:66: MIGRATE: dropped `g6_emission_failure_once`",
    ] {
        assert!(err.contains(want), "missing {want:?} in\n{err}");
    }
    assert!(!err.contains("E033"), "{err}");
}

#[test]
fn count_values_without_by_is_given_its_grouping_or_commented_out() {
    // Lint says what is wrong with the original: the count, not the labels.
    let (code, _, err) = g6(&["lint", "tests/fixtures/migrate/original_count_values.yml"]);
    assert_eq!(code, 1);
    assert!(err.contains("original_count_values.yml:19:21: error[E020]: panel expression groups by `mny` over a `count_values` without `by()`, which keeps only its value label\n  = hint: give the count the grouping: `count_values by (mny) (...)`"), "{err}");
    let (code, out, err) = migrate_fixture(
        "tests/fixtures/migrate/original_count_values.yml",
        "count-values",
    );
    assert_eq!(code, 0, "{err}");
    let spec = std::fs::read_to_string(&out).unwrap();
    for want in [
        "promql: 'sum by (mny, dte) (count_values by (mny, dte) (\"iv\", g6_option_iv_mean))'",
        "promql: 'count by (mny, dte) (count_values by (mny, dte) (\"spread\", g6_option_spread_bps_mean))'",
        // The unclear one is kept for a person, commented out.
        "          # MIGRATE: commented out: a `count_values` without `by()` loses the labels the query groups by; decide what it should count by\n          # - {kind: table, title: 'IV value share',",
    ] {
        assert!(spec.contains(want), "missing {want:?} in\n{spec}");
    }
    for want in [
        "original_count_values.yml:17: MIGRATE: panel `IV values by moneyness and expiry`: `count_values` without `by()` lost the grouping by (mny, dte); rewritten as `count_values by (mny, dte)`",
        "original_count_values.yml:21: MIGRATE: panel `IV value share` commented out",
        // A kind without counterpart: the note says the panel stays, as it does.
        "original_count_values.yml:17: MIGRATE: panel kind `iv_mny` has no counterpart: the panel `IV values by moneyness and expiry` is kept without a kind",
    ] {
        assert!(err.contains(want), "missing {want:?} in\n{err}");
    }
    assert!(
        spec.contains("{title: 'IV values by moneyness and expiry',"),
        "{spec}"
    );
}

#[test]
fn a_spec_already_in_the_new_format_is_refused_with_exit_2() {
    let (code, stdout, err) = g6(&["migrate", "metrics.yml"]);
    assert_eq!(code, 2, "{err}");
    assert!(stdout.is_empty(), "{stdout}");
    assert_eq!(
        err,
        "error: metrics.yml: this spec is already in the new format (a `namespace:` with dashboard plans listing `families:`, or sections only the new format has): there is nothing to migrate; check it with `g6 lint`\n"
    );
    let (code, _, _) = g6(&["migrate", "tests/fixtures/small.yml"]);
    assert_eq!(code, 2);
}
