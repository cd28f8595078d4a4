//! The bad-spec corpus: one file per diagnostic code under tests/fixtures/bad/, each
//! asserted to give exactly its diagnostics: line, column, code, message and hint.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use g6_codegen::{Code, Severity};
use std::path::Path;

/// Load a fixture and return every diagnostic as (headline without the path, hint).
fn diagnostics(file: &str) -> Vec<(String, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/bad")
        .join(file);
    let items = match g6_codegen::load_file(&path, file) {
        Ok(loaded) => loaded.diagnostics.items,
        Err(diags) => diags.items,
    };
    items
        .iter()
        .map(|d| {
            let headline = d.headline(file);
            let without_path = headline
                .strip_prefix(&format!("{file}:"))
                .unwrap_or(&headline)
                .to_string();
            (without_path, d.hint.clone())
        })
        .collect()
}

macro_rules! bad_spec {
    ($($test:ident: $file:literal => [$(($headline:literal, $hint:literal)),* $(,)?];)*) => {
        $(
            /// Exactly these diagnostics (position, code, message and hint), in order.
            #[test]
            fn $test() {
                let got = diagnostics($file);
                let expected: Vec<(String, String)> =
                    vec![$(($headline.to_string(), $hint.to_string())),*];
                assert_eq!(got, expected, "diagnostics of {}", $file);
            }
        )*

        /// Every code has a fixture above.
        const COVERED: &[&str] = &[$($file,)*];
    };
}

bad_spec! {
    e001_yaml_syntax: "E001-yaml-syntax.yml" => [
        ("7:1: error[E001]: YAML syntax error: while parsing a node, did not find expected node content",
         "check indentation and quoting near this position (tabs are not allowed for indentation)"),
    ];
    e002_unknown_field: "E002-unknown-field.yml" => [
        ("12:9: error[E002]: unknown field `helpp` in a metric",
         "did you mean `help`? allowed fields: name, type, help, unit, labels, cardinality_budget, buckets, panels, alerts, stability, renamed_from, state, recording, warm, buckets_version"),
    ];
    e003_missing_field: "E003-missing-field.yml" => [
        ("8:13: error[E003]: a metric is missing `help`",
         "add `help: what the metric measures`"),
    ];
    e004_wrong_type: "E004-wrong-type.yml" => [
        ("12:29: error[E004]: `cardinality_budget` must be a whole number, found `lots`",
         "write `cardinality_budget` as a whole number"),
    ];
    e005_duplicate_key: "E005-duplicate-key.yml" => [
        ("12:9: error[E005]: duplicate key `help` (first defined at line 10)",
         "a YAML mapping keeps only one value per key; merge or rename the entries"),
    ];
    e006_duplicate_metric: "E006-duplicate-metric.yml" => [
        ("12:15: error[E006]: metric `g6_calls_total` is defined twice (first at line 8)",
         "metric names must be unique across all families"),
    ];
    e007_invalid_metric_name: "E007-invalid-metric-name.yml" => [
        ("8:15: error[E007]: metric name `g6ApiCalls_total` is not snake_case [a-z_][a-z0-9_]*",
         "use lowercase letters, digits and underscores (no `:`, it is reserved for recording rules)"),
    ];
    e008_invalid_label_name: "E008-invalid-label-name.yml" => [
        ("11:18: error[E008]: label `__internal` starts with `__`, which Prometheus reserves",
         "drop the leading underscores"),
    ];
    e009_naming_convention: "E009-naming-convention.yml" => [
        ("8:15: error[E009]: metric `g6_request_latency_ms` uses the non-base unit `ms`",
         "use base units: `_seconds` (convert the value when you emit it)"),
    ];
    e010_reserved_label: "E010-reserved-label.yml" => [
        ("11:18: error[E010]: label `le` is reserved by Prometheus",
         "`le` belongs to histogram buckets and `quantile` to summaries; choose another name"),
    ];
    e011_missing_buckets: "E011-missing-buckets.yml" => [
        ("8:15: error[E011]: histogram `g6_wait_seconds` has no buckets",
         "add `buckets: [...]` with increasing upper bounds in base units, e.g. [0.005, 0.01, 0.05, 0.1, 0.5, 1]"),
    ];
    e012_bad_buckets: "E012-bad-buckets.yml" => [
        ("12:29: error[E012]: bucket 0.5 does not follow 0.5 in increasing order",
         "buckets must be strictly increasing with no duplicates"),
        ("13:26: error[E012]: buckets_version 0 of `g6_wait_seconds` is below 1",
         "layouts are numbered from 1 (the default); raise it by one at each bucket change"),
        ("21:26: error[E012]: `g6_read_seconds` has a label `buckets_version` and buckets_version 2",
         "past its first layout a histogram's series carry `buckets_version` themselves; rename the label"),
    ];
    e013_buckets_on_non_histogram: "E013-buckets-on-non-histogram.yml" => [
        ("12:18: error[E013]: counter `g6_calls_total` has buckets",
         "only histograms take buckets; remove them or change `type: histogram`"),
    ];
    e014_budget_too_small: "E014-budget-too-small.yml" => [
        ("12:29: error[E014]: cardinality_budget of `g6_calls_total` is 0; it must be at least 1",
         "set it to at least 2"),
    ];
    e015_budget_exceeded: "E015-budget-exceeded.yml" => [
        ("14:29: error[E015]: `g6_open_interest` has 25 closed label combinations but a budget of 20",
         "raise cardinality_budget to at least 25, or drop a label (budgets count label sets; a histogram label set counts once)"),
    ];
    e016_unknown_label_set: "E016-unknown-label-set.yml" => [
        ("11:18: error[E016]: label `reslt` is not declared; it looks like the label set `result`",
         "write `result`, or declare `reslt: {open: true, help: ...}` under `labels:` to make it an open label"),
    ];
    e017_invalid_promql: "E017-invalid-promql.yml" => [
        ("13:36: error[E017]: panel expression does not parse: unclosed left parenthesis",
         "check brackets, quotes and function names (Grafana macros such as $__rate_interval are fine)"),
    ];
    e018_unknown_metric_in_promql: "E018-unknown-metric-in-promql.yml" => [
        ("13:36: error[E018]: panel expression references `g6_call_total`, which the spec does not define",
         "did you mean `g6_calls_total`? or add `g6_call_total` to the spec"),
    ];
    e019_rate_over_gauge: "E019-rate-over-gauge.yml" => [
        ("12:41: error[E019]: panel expression applies rate() to the gauge `g6_queue_depth`",
         "rate()/increase() only make sense on counters; use the gauge directly, or deriv()/delta()"),
    ];
    e020_unknown_grouping_label: "E020-unknown-grouping-label.yml" => [
        ("13:36: error[E020]: panel expression groups by `endpoint`, which `g6_calls_total` does not have",
         "group by one of the metric's labels (or job/instance)"),
    ];
    e021_bad_duration: "E021-bad-duration.yml" => [
        ("13:96: error[E021]: `for: 5 minutes` is not a Prometheus duration",
         "write it like `5m`, `30s` or `1h30m`"),
    ];
    e022_bad_severity: "E022-bad-severity.yml" => [
        ("13:110: error[E022]: severity `page` is not info, warning or critical",
         "use info, warning or critical (routing depends on these exact words)"),
    ];
    e023_alert_name_not_camel_case: "E023-alert-name-not-camel-case.yml" => [
        ("13:21: error[E023]: alert name `g6_calls_failing` is not CamelCase",
         "write it like `G6CallsFailing`"),
    ];
    e024_unknown_family: "E024-unknown-family.yml" => [
        ("6:34: error[E024]: dashboard `main` names unknown family `cor`",
         "did you mean `core`?"),
        ("8:3: warning[W003]: family `core` is not on any dashboard",
         "add it to a plan under `dashboards:` so its metrics are seen"),
    ];
    e025_empty_family: "E025-empty-family.yml" => [
        ("12:3: error[E025]: family `empty` has no metrics",
         "add metrics under `metrics:` or remove the family"),
    ];
    e026_invalid_label_value: "E026-invalid-label-value.yml" => [
        ("4:32: error[E026]: label value `ok` of `result` is listed twice",
         "make every value distinct"),
    ];
    e027_duplicate_name: "E027-duplicate-name.yml" => [
        ("14:21: error[E027]: panel title `Calls` is used twice on `g6_calls_total` (first at line 13)",
         "give each panel its own title"),
    ];
    e028_invalid_name: "E028-invalid-name.yml" => [
        ("2:12: error[E028]: namespace `G6-Metrics` is not a valid metric-name prefix",
         "use lowercase letters, digits and underscores, starting with a letter (e.g. `g6`)"),
        ("8:15: error[E007]: metric name `G6-Metrics_calls_total` is not snake_case [a-z_][a-z0-9_]*",
         "use lowercase letters, digits and underscores (no `:`, it is reserved for recording rules)"),
    ];
    e029_unsupported_version: "E029-unsupported-version.yml" => [
        ("1:10: error[E029]: spec version 2 is not supported",
         "this generator reads `version: 1`"),
    ];
    e030_bad_value: "E030-bad-value.yml" => [
        ("9:15: error[E030]: unknown metric type `summary`",
         "use counter, gauge or histogram (summaries are not supported: use a histogram)"),
    ];
    e031_input_file: "E031-input-file.yml" => [
        ("1:1: error[E031]: the spec is empty",
         "start from `version: 1`, `namespace: g6`, `labels:`, `dashboards:` and `families:` (see README)"),
    ];
    e032_name_collision: "E032-name-collision.yml" => [
        ("13:15: error[E032]: metrics `g6_calls_total` and `g6_calls_total_with` both generate the accessor `calls_total_with`",
         "rename one of them"),
        ("16:15: error[E032]: metrics `g6_calls_total` and `g6_remove_calls_total` both generate the accessor `remove_calls_total`",
         "rename one of them"),
        ("19:15: error[E032]: metric `g6_matching` generates the accessor `remove_matching`, which the generated `metrics` module defines for every spec",
         "rename the metric"),
    ];
    e033_builtin_conflict: "E033-builtin-conflict.yml" => [
        ("4:3: error[E033]: label `flush_trigger` is used by the runtime's built-in metrics with a different set of values",
         "remove this declaration (the built-in `flush_trigger` has the values [target, max_wait, timer, scrape, thread_exit, full]), or name your label differently"),
        ("11:15: error[E033]: `g6_cardinality_series` is a built-in metric of the runtime",
         "remove it from the spec: every spec has it, merged from the built-in fragment (see README, \"Built-in metrics\")"),
    ];
    e034_too_many_series: "E034-too-many-series.yml" => [
        ("12:15: error[E034]: `g6_grid_items` has 100000 closed label combinations; a metric may have at most 10000 series",
         "drop a closed label, or make a label with many values open (open labels create series only when used, within the budget)"),
        ("20:29: error[E034]: cardinality_budget of `g6_calls_total` is 1000000; a metric may have at most 10000 series",
         "lower it to 10000 or less: beyond that one metric dominates every scrape and query; split it by purpose instead"),
    ];
    e035_bad_sql: "E035-bad-sql.yml" => [
        ("9:21: error[E035]: `$index` is not a variable declared before this query in `history`",
         "declare it under `variables:`"),
        ("14:14: error[E035]: `$__timeInterval` is not a macro these dashboards may use",
         "use one of: $__timeFilter, $__dateFilter, $__fromTime, $__toTime, $__interval_s"),
    ];
    e036_bad_slo: "E036-bad-slo.yml" => [
        ("6:3: error[E036]: SLO name `ProviderUp` is not snake_case (a-z, 0-9, _; at most 64)",
         "it becomes the `slo` label and part of the alert names: e.g. provider_availability"),
        ("7:16: error[E036]: objective 100 of SLO `ProviderUp` is not between 0 and 100 (exclusive)",
         "write the percent of good events: 99.5 means 99.5% good, a 0.5% error budget"),
        ("8:13: error[E036]: period 2h of SLO `ProviderUp` is outside 1d..365d",
         "a compliance period is days or weeks: 28d or 30d are usual"),
    ];
    e037_bad_sli: "E037-bad-sli.yml" => [
        ("11:12: error[E037]: SLO `both` gives both good and bad",
         "keep one: good/total or bad/total"),
        ("12:14: error[E037]: the total expression of SLO `both` has no `$window`",
         "write its range as [$window]: the rules compute it over 5m, 30m, 1h, 2h, 6h, 1d, 3d and the period"),
        ("17:13: error[E018]: SLO `unknown_metric` good expression references `g6_call_total`, which the spec does not define",
         "did you mean `g6_calls_total`? or add `g6_call_total` to the spec"),
        ("23:12: error[E037]: the bad expression of SLO `typos` matches `reslt` on `g6_calls_total`, which has no such label",
         "its labels: instance, job, result"),
        ("24:14: error[E037]: the total expression of SLO `typos` reads le=\"0.75\" of `g6_wait_seconds_bucket`, which is not one of its bucket bounds",
         "bounds: 0.5, 1"),
    ];
    e038_bad_health: "E038-bad-health.yml" => [
        ("6:14: error[E038]: health dashboard `cor` is not a dashboard plan of the spec",
         "did you mean `core`?"),
        ("8:13: error[E038]: health critical threshold 0.7 is not below the warning threshold 0.5",
         "critical is the lower score: e.g. warning: 0.8, critical: 0.5"),
        ("9:3: error[E038]: the weights of the health components sum to 1.1, not 1",
         "make them sum to 1 (now: Calls 0.5, level 0.6)"),
        ("10:5: error[E038]: health component name `Calls` is not snake_case (a-z, 0-9, _; at most 64)",
         "it becomes the `component` label: e.g. provider_success"),
        ("34:21: error[E038]: alert `G6HealthScoreLow` has the name of a generated health score alert",
         "rename it: the health section generates it"),
    ];
    e039_bad_health_component: "E039-bad-health-component.yml" => [
        ("12:13: error[E039]: the expression of health component `macro` uses a `$` macro",
         "it goes into a Prometheus rule: write ranges as durations ([5m]), not $__rate_interval or $window"),
        ("14:16: error[E039]: the test of health component `macro` has no healthy series",
         "give the series under which it reads 1: `healthy: {'x_total{result=\"ok\"}': '0+60x30'}`"),
        ("18:13: error[E039]: the expression of health component `typo` matches `reslt` on `g6_calls_total`, which has no such label",
         "its labels: instance, job, result"),
        ("20:19: error[E039]: the healthy test series `rate(g6_calls_total[5m])` of health component `typo` is not a series",
         "write a metric name with exact labels: 'x_total{result=\"ok\"}'"),
        ("21:21: error[E039]: the unhealthy test series `g6_calls_total{result=\"failed\"}` of health component `typo` uses `g6_calls_total`, which the tests of health component `macro` use too",
         "each test case drives one component alone: give each component's tests their own metrics"),
        ("24:13: error[E039]: the expression of health component `constant` reads no metric of the spec",
         "a component measures the system: read the spec's metrics, e.g. 1 - max(x_level) / 3"),
        ("28:18: error[E039]: no_data 2 of health component `constant` is not in [0, 1]",
         "it is what the component reads without its series: 0 unless the expression says otherwise (e.g. `or vector(1)`)"),
        ("33:19: error[E039]: the healthy test series `g6_lvl` of health component `level` names `g6_lvl`, which the spec does not define",
         "did you mean `g6_level`?"),
        ("33:37: error[E039]: the healthy test series `g6_calls_total{result=\"ok\"}` of health component `level` is `g6_calls_total`, which the component's expression does not read",
         "it reads: g6_level"),
        ("33:37: error[E039]: the healthy test series `g6_calls_total{result=\"ok\"}` of health component `level` uses `g6_calls_total`, which the tests of health component `macro` use too",
         "each test case drives one component alone: give each component's tests their own metrics"),
        ("34:21: error[E039]: the unhealthy test series `g6_level` of health component `level` uses `g6_level`, which the tests of health component `constant` use too",
         "each test case drives one component alone: give each component's tests their own metrics"),
        ("34:33: error[E039]: the values of the unhealthy test series `g6_level` of health component `level` are not promtool series values: `3+0y30` is not a number, `_` or `stale`",
         "write them like '0+60x30' (start+step x count), '1x30', '_' (missing) or 'stale'"),
        ("39:31: error[E039]: the values of the healthy test series `g6_depth` of health component `depth` give 6 samples; the test needs 11 (one a minute through minute 10)",
         "extend them, e.g. '0+60x30'"),
    ];
    e040_bad_recording: "E040-bad-recording.yml" => [
        ("12:22: error[E040]: recording rule name `calls_per_minute` is not `level:metric:operations`",
         "three parts of letters, digits and underscores joined by `:`, e.g. `job:g6_calls:rate5m` (the labels kept, the metric, what was computed)"),
        ("13:22: error[E040]: recording rule `job:g6_calls:rate5m` is already recorded by a generated rule",
         "give it another name: Prometheus would evaluate both into one series"),
        ("14:48: error[E040]: recording rule `job:g6_depth:max` is declared on `g6_calls_total` but does not read it",
         "declare the rule on the metric its expression reads"),
    ];
    e041_bad_annotation: "E041-bad-annotation.yml" => [
        ("8:35: error[E041]: annotation `Deep queue` expression applies rate() to the gauge `g6_depth`",
         "rate()/increase() only make sense on counters; use the gauge directly, or deriv()/delta()"),
        ("8:68: error[E041]: annotation colour `crimson` is not a Grafana colour",
         "use #rrggbb or a name such as red, orange, yellow, green, blue, purple (light-/dark- variants too)"),
    ];
    e042_bad_panel_rename: "E042-bad-panel-rename.yml" => [
        ("12:42: error[E042]: panel `Depth` is `renamed_from` its own title",
         "drop `renamed_from`, or set it to the panel's first title (its id and uuid come from it, through every later rename)"),
    ];
    e043_bad_alerting: "E043-bad-alerting.yml" => [
        ("4:16: error[E043]: alerting grafana_url `grafana.local:3000` is not a usable base URL",
         "write an http(s) URL without `#`, `?`, quotes or spaces (e.g. http://127.0.0.1:3000)"),
        ("16:24: error[E043]: alert `G6DepthHigh` inhibits `g6_depht`, which is not a metric of the spec",
         "did you mean `g6_depth`? `inhibits` lists spec metrics whose alerts this one silences"),
        ("18:41: error[E043]: alert `G6DepthHigh` lists 4 runbook checks; the runbook shows the first 3",
         "keep the three a person should check first"),
        ("18:41: error[E043]: a runbook check of alert `G6DepthHigh` is empty or longer than 500 bytes",
         "write one concrete thing to look at, in a sentence"),
    ];
    e044_artifact_check: "E044-artifact-check.yml" => [
        ("15:58: error[E044]: panel \"Calls by result\": target A uses fixed rate windows (rate(...[300s])); use [$__rate_interval]",
         "write `promql: 'sum by (result) (rate(g6_calls_total[$__rate_interval]))'`: Grafana sizes $__rate_interval to the scrape interval and the zoom"),
    ];
    e045_bad_warm: "E045-bad-warm.yml" => [
        ("13:15: error[E045]: gauge `g6_depth` has `warm:`",
         "gauges are never warmed (a gauge without a reading has no series); remove `warm:`"),
        ("19:15: error[E045]: `warm:` of `g6_calls_total` does not name its open label `index`",
         "add `index: [...]` with the values to warm: a series needs a value for every label"),
        ("19:29: error[E045]: warm value `eror` is not a value of the closed label `result`",
         "use one of: ok, error"),
        ("19:36: error[E045]: `warm:` of `g6_calls_total` names `indx`, which is not one of its labels",
         "did you mean `index`? `warm:` names labels of the metric"),
        ("25:15: error[E045]: `warm: true` on `g6_fetches_total`, whose label `index` is open",
         "name the values to warm, e.g. `warm: {index: [...]}`"),
    ];
    e046_bad_enabled_by: "E046-bad-enabled-by.yml" => [
        ("5:17: error[E046]: `enabled_by: g6-exposure` of family `core` is not an environment variable name",
         "use upper case, digits and underscores, e.g. `enabled_by: G6_EXPOSURE`"),
        ("17:17: error[E046]: family `emission` holds the runtime's own metrics and cannot be switched off",
         "move the metrics to gate into a family of their own and put `enabled_by:` there"),
    ];
    w001_counter_without_rate: "W001-counter-without-rate.yml" => [
        ("13:36: warning[W001]: panel expression reads the counter `g6_calls_total` without rate()/increase()",
         "counters reset on restart; wrap them in rate(...[$__rate_interval]) or increase(...)"),
    ];
    w002_unit_suffix: "W002-unit-suffix.yml" => [
        ("8:15: warning[W002]: metric `g6_wait_seconds` ends in `_seconds` but declares no `unit: seconds`",
         "add `unit: seconds` so dashboards pick the right axis unit"),
    ];
    w003_family_not_on_dashboard: "W003-family-not-on-dashboard.yml" => [
        ("14:3: warning[W003]: family `other` is not on any dashboard",
         "add it to a plan under `dashboards:` so its metrics are seen"),
    ];
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
fn an_artifact_problem_names_its_artifact_and_rule_in_the_note() {
    let file = "E044-artifact-check.yml";
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/bad")
        .join(file);
    let diags = g6_codegen::load_file(&path, file).unwrap_err();
    let notes: Vec<Option<&str>> = diags.items.iter().map(|d| d.note.as_deref()).collect();
    assert_eq!(
        notes,
        [Some(
            "found by [target-rate-interval] in the generated grafana/dashboards/core.json"
        )]
    );
    assert!(diags.to_string().contains(
        "\n  = note: found by [target-rate-interval] in the generated grafana/dashboards/core.json\n"
    ));
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
