//! The data-modeling rules in the generated artifacts (tests/fixtures/gated.yml):
//! quantiles kept per bucket layout where two can coexist, a dashboard annotation at a
//! layout change, and panels of a family switched on by the environment saying so.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use crate::common::{self, require_tool};
use g6_codegen::artifacts::generate_all;
use std::path::Path;
use std::process::Command;

fn gated() -> g6_codegen::LoadedSpec {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gated.yml");
    g6_codegen::load_file(&path, "tests/fixtures/gated.yml").unwrap_or_else(|d| panic!("{d}"))
}

fn rule_expr(g: &g6_codegen::artifacts::Generated, record: &str) -> String {
    g.rules
        .all_recording()
        .find(|r| r.record == record)
        .unwrap_or_else(|| panic!("no rule {record}"))
        .expr
        .clone()
}

#[test]
fn quantile_rules_group_by_the_bucket_layout_only_where_two_layouts_can_coexist() {
    let loaded = gated();
    let g = generate_all(&loaded, "tests/fixtures/gated.yml");
    assert_eq!(
        rule_expr(&g, "result:gated_wait_seconds:p95_5m"),
        "histogram_quantile(0.95, sum by (le, result, buckets_version) (rate(gated_wait_seconds_bucket[5m])))"
    );
    // First layout: nothing to keep apart, the rule is as before.
    assert_eq!(
        rule_expr(&g, "job:gated_read_seconds:p95_5m"),
        "histogram_quantile(0.95, sum by (le, job) (rate(gated_read_seconds_bucket[5m])))"
    );
    // No generated artifact check fails on the layout label (the catalog knows it).
    let problems = g6_codegen::artifacts::validate_generated(&loaded, &g);
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn the_dashboard_separates_layouts_annotates_a_layout_change_and_names_the_enabling_variable() {
    let loaded = gated();
    let g = generate_all(&loaded, "tests/fixtures/gated.yml");
    let dash = g
        .artifacts
        .iter()
        .find(|a| a.path == "grafana/dashboards/gated.json")
        .expect("gated dashboard");
    let json: serde_json::Value = serde_json::from_str(&dash.content).unwrap();
    let panels = json["panels"].as_array().unwrap();
    let panel = |title: &str| {
        panels
            .iter()
            .find(|p| p["title"] == title)
            .unwrap_or_else(|| panic!("no panel {title:?}"))
    };
    let quantiles = panel("Wait seconds: p50 / p95 / p99");
    assert_eq!(
        quantiles["targets"][1]["legendFormat"],
        "p95 {{result}} layout {{buckets_version}}"
    );
    // The heatmap shows the current layout only.
    assert_eq!(
        panel("Wait seconds: distribution")["targets"][0]["expr"],
        "sum by (le) (rate(gated_wait_seconds_bucket{buckets_version=\"2\"}[$__rate_interval]))"
    );
    assert_eq!(
        panel("Read seconds: distribution")["targets"][0]["expr"],
        "sum by (le) (rate(gated_read_seconds_bucket[$__rate_interval]))"
    );
    let annotations = json["annotations"]["list"].as_array().unwrap();
    let layout = annotations
        .iter()
        .find(|a| a["name"] == "Bucket layout change")
        .expect("layout annotation");
    assert_eq!(
        layout["expr"],
        "max by (metric, buckets_version) (gated_bucket_layout_info{metric=~\"gated_wait_seconds\", buckets_version!=\"1\"}) unless max by (metric, buckets_version) (gated_bucket_layout_info{metric=~\"gated_wait_seconds\", buckets_version!=\"1\"} offset 10m)"
    );
    // Every panel of the gated family names its variable; the others do not.
    for p in panels {
        let description = p["description"].as_str().unwrap_or_default();
        let gated = p["title"].as_str().unwrap_or_default().starts_with("Extra");
        assert_eq!(
            description.contains("GATED_ENABLE_EXTRA=1"),
            gated,
            "{}: {description}",
            p["title"]
        );
    }
}

/// promtool evaluates the generated quantile rule over series of both layouts of one
/// histogram: the old layout (no label, buckets 0.1 and 1) and the new one
/// (`buckets_version="2"`, buckets 0.1, 0.5 and 2). Kept apart, each median is its own
/// layout's; summed into one `le` set they would not be.
#[test]
#[ignore = "needs promtool; scripts/test.sh runs it"]
fn promtool_computes_each_layouts_quantile_apart_from_the_generated_rules() {
    require_tool("promtool");
    let loaded = gated();
    let g = generate_all(&loaded, "tests/fixtures/gated.yml");
    let dir = common::temp_dir("data_rules_layouts");
    let rules = g6_codegen::rules::render_recording(&g.rules, loaded.hash(), "test");
    std::fs::write(dir.join("recording.yml"), rules).unwrap();
    let tests = r#"rule_files: [recording.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - {series: 'gated_wait_seconds_bucket{job="g",result="ok",le="0.1"}', values: '0+0x10'}
      - {series: 'gated_wait_seconds_bucket{job="g",result="ok",le="1"}', values: '0+60x10'}
      - {series: 'gated_wait_seconds_bucket{job="g",result="ok",le="+Inf"}', values: '0+60x10'}
      - {series: 'gated_wait_seconds_bucket{job="g",result="ok",buckets_version="2",le="0.1"}', values: '0+60x10'}
      - {series: 'gated_wait_seconds_bucket{job="g",result="ok",buckets_version="2",le="0.5"}', values: '0+60x10'}
      - {series: 'gated_wait_seconds_bucket{job="g",result="ok",buckets_version="2",le="2"}', values: '0+60x10'}
      - {series: 'gated_wait_seconds_bucket{job="g",result="ok",buckets_version="2",le="+Inf"}', values: '0+60x10'}
    promql_expr_test:
      - expr: result:gated_wait_seconds:p50_5m
        eval_time: 10m
        exp_samples:
          - {labels: 'result:gated_wait_seconds:p50_5m{result="ok"}', value: 0.55}
          - {labels: 'result:gated_wait_seconds:p50_5m{result="ok",buckets_version="2"}', value: 0.05}
"#;
    std::fs::write(dir.join("tests.yml"), tests).unwrap();
    for args in [
        &["check", "rules", "recording.yml"][..],
        &["test", "rules", "tests.yml"][..],
    ] {
        let out = Command::new("promtool")
            .args(args)
            .current_dir(&dir)
            .output()
            .expect("run promtool");
        assert!(
            out.status.success(),
            "promtool {args:?}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
