//! The bad-spec corpus: one file per diagnostic code under tests/fixtures/bad/, each
//! asserted down to line, column and message.

use g6_codegen::{Code, Severity};
use std::path::Path;

/// Load a fixture and return every rendered headline (errors and warnings).
fn headlines(file: &str) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/bad")
        .join(file);
    match g6_codegen::load_file(&path, file) {
        Ok(loaded) => loaded
            .diagnostics
            .items
            .iter()
            .map(|d| d.headline(file))
            .collect(),
        Err(diags) => diags.items.iter().map(|d| d.headline(file)).collect(),
    }
}

macro_rules! bad_spec {
    ($($test:ident: $file:literal => $expected:literal;)*) => {
        $(
            #[test]
            fn $test() {
                let got = headlines($file);
                let expected = concat!($file, ":", $expected);
                assert!(
                    got.iter().any(|h| h == expected),
                    "expected\n  {expected}\ngot\n  {}",
                    got.join("\n  ")
                );
            }
        )*

        /// Every code has a fixture above.
        const COVERED: &[&str] = &[$($file,)*];
    };
}

bad_spec! {
    e001_yaml_syntax: "E001-yaml-syntax.yml" => "7:1: error[E001]: YAML syntax error: while parsing a node, did not find expected node content";
    e002_unknown_field: "E002-unknown-field.yml" => "12:9: error[E002]: unknown field `helpp` in a metric";
    e003_missing_field: "E003-missing-field.yml" => "8:13: error[E003]: a metric is missing `help`";
    e004_wrong_type: "E004-wrong-type.yml" => "12:29: error[E004]: `cardinality_budget` must be a whole number, found `lots`";
    e005_duplicate_key: "E005-duplicate-key.yml" => "12:9: error[E005]: duplicate key `help` (first defined at line 10)";
    e006_duplicate_metric: "E006-duplicate-metric.yml" => "12:15: error[E006]: metric `g6_calls_total` is defined twice (first at line 8)";
    e007_invalid_metric_name: "E007-invalid-metric-name.yml" => "8:15: error[E007]: metric name `g6ApiCalls_total` is not snake_case [a-z_][a-z0-9_]*";
    e008_invalid_label_name: "E008-invalid-label-name.yml" => "11:18: error[E008]: label `__internal` starts with `__`, which Prometheus reserves";
    e009_naming_convention: "E009-naming-convention.yml" => "8:15: error[E009]: metric `g6_request_latency_ms` uses the non-base unit `ms`";
    e010_reserved_label: "E010-reserved-label.yml" => "11:18: error[E010]: label `le` is reserved by Prometheus";
    e011_missing_buckets: "E011-missing-buckets.yml" => "8:15: error[E011]: histogram `g6_wait_seconds` has no buckets";
    e012_bad_buckets: "E012-bad-buckets.yml" => "12:29: error[E012]: bucket 0.5 does not follow 0.5 in increasing order";
    e013_buckets_on_non_histogram: "E013-buckets-on-non-histogram.yml" => "12:18: error[E013]: counter `g6_calls_total` has buckets";
    e014_budget_too_small: "E014-budget-too-small.yml" => "12:29: error[E014]: cardinality_budget of `g6_calls_total` is 0; it must be at least 1";
    e015_budget_exceeded: "E015-budget-exceeded.yml" => "14:29: error[E015]: `g6_open_interest` has 25 closed label combinations but a budget of 20";
    e016_unknown_label_set: "E016-unknown-label-set.yml" => "11:18: error[E016]: label `reslt` is not declared; it looks like the label set `result`";
    e017_invalid_promql: "E017-invalid-promql.yml" => "13:36: error[E017]: panel expression does not parse: unclosed left parenthesis";
    e018_unknown_metric_in_promql: "E018-unknown-metric-in-promql.yml" => "13:36: error[E018]: panel expression references `g6_call_total`, which the spec does not define";
    e019_rate_over_gauge: "E019-rate-over-gauge.yml" => "12:41: error[E019]: panel expression applies rate() to the gauge `g6_queue_depth`";
    e020_unknown_grouping_label: "E020-unknown-grouping-label.yml" => "13:36: error[E020]: panel expression groups by `endpoint`, which `g6_calls_total` does not have";
    e021_bad_duration: "E021-bad-duration.yml" => "13:96: error[E021]: `for: 5 minutes` is not a Prometheus duration";
    e022_bad_severity: "E022-bad-severity.yml" => "13:110: error[E022]: severity `page` is not info, warning or critical";
    e023_alert_name_not_camel_case: "E023-alert-name-not-camel-case.yml" => "13:21: error[E023]: alert name `g6_calls_failing` is not CamelCase";
    e024_unknown_family: "E024-unknown-family.yml" => "6:34: error[E024]: dashboard `main` names unknown family `cor`";
    e025_empty_family: "E025-empty-family.yml" => "12:3: error[E025]: family `empty` has no metrics";
    e026_invalid_label_value: "E026-invalid-label-value.yml" => "4:32: error[E026]: label value `ok` of `result` is listed twice";
    e027_duplicate_name: "E027-duplicate-name.yml" => "14:21: error[E027]: panel title `Calls` is used twice on `g6_calls_total` (first at line 13)";
    e028_invalid_name: "E028-invalid-name.yml" => "2:12: error[E028]: namespace `G6-Metrics` is not a valid metric-name prefix";
    e029_unsupported_version: "E029-unsupported-version.yml" => "1:10: error[E029]: spec version 2 is not supported";
    e030_bad_value: "E030-bad-value.yml" => "9:15: error[E030]: unknown metric type `summary`";
    e031_input_file: "E031-input-file.yml" => "1:1: error[E031]: the spec is empty";
    e032_name_collision: "E032-name-collision.yml" => "13:15: error[E032]: metrics `g6_calls_total` and `g6_calls_total_with` both generate the accessor `calls_total_with`";
    e033_builtin_conflict_metric: "E033-builtin-conflict.yml" => "11:15: error[E033]: `g6_cardinality_series` is a built-in metric of the runtime";
    e033_builtin_conflict_label: "E033-builtin-conflict.yml" => "4:3: error[E033]: label `flush_trigger` is used by the runtime's built-in metrics with a different set of values";
    w001_counter_without_rate: "W001-counter-without-rate.yml" => "13:36: warning[W001]: panel expression reads the counter `g6_calls_total` without rate()/increase()";
    w002_unit_suffix: "W002-unit-suffix.yml" => "8:15: warning[W002]: metric `g6_wait_seconds` ends in `_seconds` but declares no `unit: seconds`";
    w003_family_not_on_dashboard: "W003-family-not-on-dashboard.yml" => "14:3: warning[W003]: family `other` is not on any dashboard";
}

#[test]
fn every_code_has_a_fixture() {
    for code in Code::ALL {
        let prefix = format!("{}-{}.yml", code.as_str(), code.slug());
        assert!(
            COVERED.contains(&prefix.as_str()),
            "no fixture tests/fixtures/bad/{prefix} for {}",
            code.description()
        );
    }
}

#[test]
fn warnings_alone_do_not_fail() {
    for file in COVERED.iter().filter(|f| f.starts_with('W')) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/bad")
            .join(file);
        let loaded = g6_codegen::load_file(&path, file).expect("warnings must not fail loading");
        assert!(loaded
            .diagnostics
            .items
            .iter()
            .all(|d| d.severity == Severity::Warning));
    }
}

#[test]
fn all_problems_are_reported_at_once() {
    let spec = "version: 1\nnamespace: g6\nfamilies:\n  core:\n    metrics:\n      - name: g6_a\n        type: counter\n        help: A\n      - name: g6_b_ms\n        type: gauge\n        help: B\n        buckets: [2, 1]\n        labels: [le]\n      - name: g6_c_total\n        type: gauge\n        help: C\n        bogus: 1\n";
    let diags = g6_codegen::load_str(spec, "metrics.yml").unwrap_err();
    let rendered = diags.to_string();
    for expected in [
        "metrics.yml:6:15: error[E009]: counter `g6_a` does not end in `_total`",
        "metrics.yml:9:15: error[E009]: metric `g6_b_ms` uses the non-base unit `ms`",
        "metrics.yml:12:18: error[E013]: gauge `g6_b_ms` has buckets",
        "metrics.yml:13:18: error[E010]: label `le` is reserved by Prometheus",
        "metrics.yml:17:9: error[E002]: unknown field `bogus` in a metric",
    ] {
        assert!(
            rendered.contains(expected),
            "missing {expected} in\n{rendered}"
        );
    }
    assert!(
        rendered.contains("= hint: "),
        "every problem carries a hint"
    );
    assert!(
        rendered.contains("error(s)"),
        "a summary line ends the report"
    );
}
