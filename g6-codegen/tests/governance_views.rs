//! Issue 18's engine features on a small spec of their own: spec recording rules,
//! state-timeline panels, dashboard annotations, the recording-rule usage table and
//! panel identity across renames; and their diagnostics (E040, E041, E042).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use g6_codegen::artifacts::{generate_all, Generated};
use serde_json::Value;
use std::collections::BTreeSet;

const SPEC: &str = r#"version: 1
namespace: demo
labels:
  direction: {values: [up, down], help: Direction of a level change}
dashboards:
  main:
    title: Demo
    families: [core]
    annotations:
      - {title: Level changes, expr: 'changes(demo_level[1m]) > 0', color: red}
      - {title: Upgrades, expr: 'sum by (direction) (increase(demo_transitions_total{direction="up"}[1m])) > 0'}
  gov: {title: Governance, families: [gov], rule_usage: true}
families:
  core:
    metrics:
      - name: demo_level
        type: gauge
        help: Level from 0 normal to 3 critical
        panels:
          - {title: Level, promql: 'max(demo_level)', panel_type: state-timeline, unit: none}
      - name: demo_transitions_total
        type: counter
        help: Level changes
        labels: [direction]
        recording:
          - {record: 'job:demo_upgrades:rate1m_per_minute', expr: 'sum(rate(demo_transitions_total{direction="up"}[1m])) * 60'}
          - {record: 'direction:demo_transitions:rate1m', expr: 'sum by (direction) (rate(demo_transitions_total[1m]))'}
        panels:
          - {title: Upgrades per minute, promql: 'job:demo_upgrades:rate1m_per_minute', unit: short}
      - name: demo_wait_seconds
        type: histogram
        help: Time waited
        unit: seconds
        buckets: [0.1, 1]
        panels:
          - {kind: quantile, title: Wait p90 computed inline, promql: 'histogram_quantile(0.9, sum by (le) (rate(demo_wait_seconds_bucket[$__rate_interval])))', unit: s}
          - {kind: quantile, title: Wait p95, promql: 'job:demo_wait_seconds:p95_5m', unit: s}
  gov:
    metrics:
      - {name: demo_up, type: gauge, help: 1 while the demo runs}
"#;

fn generate(spec: &str) -> Generated {
    let loaded = g6_codegen::load_str(spec, "spec.yml").unwrap_or_else(|d| panic!("{d}"));
    let generated = generate_all(&loaded, "spec.yml");
    let problems = g6_codegen::artifacts::validate_generated(&loaded, &generated);
    assert!(problems.is_empty(), "{problems:#?}");
    generated
}

fn artifact<'a>(g: &'a Generated, path: &str) -> &'a str {
    &g.artifacts
        .iter()
        .find(|a| a.path == path)
        .unwrap_or_else(|| panic!("no {path}"))
        .content
}

fn dashboard<'a>(g: &'a Generated, slug: &str) -> &'a Value {
    &g.dashboards.iter().find(|d| d.slug == slug).unwrap().json
}

fn panel<'a>(d: &'a Value, title: &str) -> &'a Value {
    d["panels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["title"] == title)
        .unwrap_or_else(|| panic!("no panel {title:?}"))
}

fn errors(spec: &str) -> String {
    g6_codegen::load_str(spec, "spec.yml")
        .err()
        .map(|d| d.to_string())
        .unwrap_or_default()
}

#[test]
fn spec_recording_rules_follow_the_generated_ones_of_their_family_group() {
    let g = generate(SPEC);
    let rules = artifact(&g, "prometheus/recording_rules.yml");
    let file: serde_yaml::Value = serde_yaml::from_str(rules).unwrap();
    let group = file["groups"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "demo_core_recording")
        .expect("the demo_core_recording group");
    let rule_list = group["rules"].as_sequence().unwrap();
    let records: Vec<&str> = rule_list
        .iter()
        .filter_map(|r| r["record"].as_str())
        .collect();
    let n = records.len();
    assert_eq!(
        &records[n - 2..],
        [
            "job:demo_upgrades:rate1m_per_minute",
            "direction:demo_transitions:rate1m"
        ],
        "spec rules come last: {records:?}"
    );
    assert!(records[..n - 2].contains(&"job:demo_transitions:rate5m"));
    let spec_rule = rule_list
        .iter()
        .find(|r| r["record"] == "job:demo_upgrades:rate1m_per_minute")
        .unwrap();
    assert_eq!(
        spec_rule["expr"],
        "sum(rate(demo_transitions_total{direction=\"up\"}[1m])) * 60"
    );
    let catalog = artifact(&g, "RULES_CATALOG.md");
    assert!(catalog.contains("| demo_core_recording | `job:demo_upgrades:rate1m_per_minute` (spec) | `sum(rate(demo_transitions_total{direction=\"up\"}[1m])) * 60` |"), "{catalog}");
    let metrics_catalog = artifact(&g, "METRICS_CATALOG.md");
    assert!(
        metrics_catalog
            .contains("Recording rules (spec):\n- `job:demo_upgrades:rate1m_per_minute`: "),
        "{metrics_catalog}"
    );
    let rule = g
        .rules
        .all_recording()
        .find(|r| r.record == "direction:demo_transitions:rate1m")
        .unwrap();
    assert_eq!(rule.labels, ["direction"]);
    assert_eq!(rule.operation, "rate1m");
    assert!(rule.custom);
}

#[test]
fn a_panel_reading_a_spec_recording_rule_passes_the_dashboard_audit() {
    // generate() asserts validate_generated (the dashboard lint with every recorded
    // series) is clean; without the rule the same panel is an unknown series.
    let g = generate(SPEC);
    let p = panel(dashboard(&g, "main"), "Upgrades per minute");
    assert_eq!(
        p["targets"][0]["expr"],
        "job:demo_upgrades:rate1m_per_minute"
    );
    let without = SPEC.replace(
        "          - {record: 'job:demo_upgrades:rate1m_per_minute', expr: 'sum(rate(demo_transitions_total{direction=\"up\"}[1m])) * 60'}\n",
        "",
    );
    let err = errors(&without);
    assert!(
        err.contains("references the recording rule `job:demo_upgrades:rate1m_per_minute`, which the generator does not produce"),
        "{err}"
    );
}

#[test]
fn state_timeline_spec_panel_shows_the_level_with_thresholds() {
    let g = generate(SPEC);
    let p = panel(dashboard(&g, "main"), "Level");
    assert_eq!(p["type"], "state-timeline");
    assert_eq!(p["targets"][0]["expr"], "max(demo_level)");
    assert_eq!(p["targets"][0]["range"], true);
    assert_eq!(p["options"]["showValue"], "always");
    assert_eq!(p["options"]["mergeValues"], true);
    assert_eq!(p["fieldConfig"]["defaults"]["unit"], "none");
    assert_eq!(p["fieldConfig"]["defaults"]["color"]["mode"], "thresholds");
    let steps: Vec<(Value, Value)> = p["fieldConfig"]["defaults"]["thresholds"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["value"].clone(), s["color"].clone()))
        .collect();
    assert_eq!(
        steps,
        [
            (Value::Null, "green".into()),
            (1.0.into(), "yellow".into()),
            (2.0.into(), "orange".into()),
            (3.0.into(), "red".into()),
        ]
    );
    // No 0/1 mappings: the value itself is shown.
    assert!(p["fieldConfig"]["defaults"].get("mappings").is_none());
}

#[test]
fn annotations_become_prometheus_annotation_queries() {
    let g = generate(SPEC);
    let list = dashboard(&g, "main")["annotations"]["list"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(list.len(), 2);
    let ds = serde_json::json!({"type": "prometheus", "uid": "${datasource}"});
    assert_eq!(
        list[0],
        serde_json::json!({
            "name": "Level changes",
            "datasource": ds,
            "enable": true,
            "hide": false,
            "iconColor": "red",
            "expr": "changes(demo_level[1m]) > 0",
            "step": "60s",
            "titleFormat": "Level changes",
            "textFormat": "Level changes",
            "tagKeys": "",
            "useValueForTime": false,
        })
    );
    assert_eq!(list[1]["iconColor"], "orange", "the default colour");
    assert_eq!(list[1]["textFormat"], "direction={{direction}}");
    assert_eq!(
        dashboard(&g, "gov")["annotations"]["list"],
        serde_json::json!([])
    );
}

/// Recorded series names, read from the rules file itself.
fn recorded_names(g: &Generated) -> BTreeSet<String> {
    artifact(g, "prometheus/recording_rules.yml")
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- record: "))
        .map(str::to_string)
        .collect()
}

/// (slug, panels with queries, recording-rule panels, inline-quantile panels), counted
/// from the dashboard JSON by tokens, not by the generator's PromQL walk.
fn count_independently(g: &Generated) -> Vec<(String, usize, usize, usize)> {
    let recorded = recorded_names(g);
    let mut rows: Vec<_> = g
        .dashboards
        .iter()
        .map(|d| {
            let (mut q, mut r, mut i) = (0, 0, 0);
            for p in d.json["panels"].as_array().unwrap() {
                let exprs: Vec<&str> = p["targets"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t["expr"].as_str().unwrap())
                    .collect();
                if exprs.is_empty() {
                    continue;
                }
                q += 1;
                let tokens = exprs.iter().flat_map(|e| {
                    e.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                });
                if tokens.clone().any(|t| recorded.contains(t)) {
                    r += 1;
                }
                if exprs.iter().any(|e| e.contains("histogram_quantile(")) {
                    i += 1;
                }
            }
            (d.slug.clone(), q, r, i)
        })
        .collect();
    rows.sort();
    rows
}

/// The rows of the usage table: (slug, three counts, migrated).
fn table_rows(d: &Value) -> Vec<(String, usize, usize, usize, String)> {
    let p = panel(d, "Recording rule usage");
    assert_eq!(p["type"], "text");
    assert_eq!(p["options"]["mode"], "markdown");
    let content = p["options"]["content"].as_str().unwrap();
    content
        .lines()
        .filter(|l| l.starts_with("| ") && l.contains("(`"))
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split(" | ").map(str::trim).collect();
            let slug = cells[0]
                .split("(`")
                .nth(1)
                .unwrap()
                .trim_end_matches("`)")
                .to_string();
            let n = |i: usize| cells[i].parse::<usize>().unwrap();
            (slug, n(1), n(2), n(3), cells[4].to_string())
        })
        .collect()
}

#[test]
fn rule_usage_table_matches_an_independent_count_of_the_generated_json() {
    let g = generate(SPEC);
    let rows = table_rows(dashboard(&g, "gov"));
    let counted = count_independently(&g);
    assert_eq!(rows.len(), counted.len());
    for ((slug, q, r, i, pct), (cslug, cq, cr, ci)) in rows.iter().zip(&counted) {
        assert_eq!((slug, q, r, i), (cslug, cq, cr, ci));
        let expected = if cr + ci == 0 {
            "n/a".to_string()
        } else {
            format!("{:.1}%", 100.0 * *cr as f64 / (cr + ci) as f64)
        };
        assert_eq!(pct, &expected, "{slug}");
    }
    // The values themselves: main reads the upgrades rule and the p95 rule (plus the
    // synthesised p50/p95/p99 and ratio panels of nothing: the histogram has spec
    // panels), and computes one quantile inline.
    let main = rows.iter().find(|r| r.0 == "main").unwrap();
    assert_eq!((main.2, main.3, main.4.as_str()), (2, 1, "66.7%"));
    let gov = rows.iter().find(|r| r.0 == "gov").unwrap();
    assert_eq!(gov.4, "n/a", "no quantile and no rule panels");
    let content = panel(dashboard(&g, "gov"), "Recording rule usage")["options"]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(content.contains("| **All dashboards** | "), "{content}");
}

#[test]
fn rule_usage_table_is_deterministic_and_sorted_by_slug() {
    let a = generate(SPEC);
    let b = generate(SPEC);
    assert_eq!(dashboard(&a, "gov"), dashboard(&b, "gov"));
    let slugs: Vec<String> = table_rows(dashboard(&a, "gov"))
        .into_iter()
        .map(|r| r.0)
        .collect();
    assert_eq!(slugs, ["gov", "main"]);
}

#[test]
fn renamed_panel_keeps_its_id_and_uuid() {
    let old = generate(SPEC);
    let renamed = SPEC.replace(
        "{title: Level, promql",
        "{title: Pressure level, renamed_from: Level, promql",
    );
    let new = generate(&renamed);
    let before = panel(dashboard(&old, "main"), "Level");
    let after = panel(dashboard(&new, "main"), "Pressure level");
    assert_eq!(before["id"], after["id"]);
    assert_eq!(
        before["g6_meta"]["panel_uuid"],
        after["g6_meta"]["panel_uuid"]
    );
    assert_eq!(after["g6_meta"]["renamed_from"], "Level");
    // Without renamed_from the new title is a new identity.
    let plain = generate(&SPEC.replace("{title: Level, promql", "{title: Pressure level, promql"));
    let other = panel(dashboard(&plain, "main"), "Pressure level");
    assert_ne!(
        before["g6_meta"]["panel_uuid"],
        other["g6_meta"]["panel_uuid"]
    );
}

#[test]
fn bad_recording_rules_are_e040_with_positions_and_hints() {
    let spec = SPEC.replace(
        "          - {record: 'direction:demo_transitions:rate1m', expr: 'sum by (direction) (rate(demo_transitions_total[1m]))'}\n",
        "          - {record: 'upgrades_per_minute', expr: 'sum(rate(demo_transitions_total[1m]))'}\n          - {record: 'job:demo_transitions:rate5m', expr: 'sum(rate(demo_transitions_total[5m]))'}\n          - {record: 'job:demo_level:max', expr: 'max(demo_level)'}\n          - {record: 'job:demo_x:rate', expr: 'sum(rate(demo_transitions_total[$__rate_interval]))'}\n          - {record: 'job:demo_y:rate', expr: 'sum(rate(demo_transition_total[1m]))'}\n",
    );
    let err = errors(&spec);
    for expected in [
        "spec.yml:27:22: error[E040]: recording rule name `upgrades_per_minute` is not `level:metric:operations`",
        "= hint: three parts of letters, digits and underscores joined by `:`, e.g. `job:demo_transitions:rate5m`",
        "spec.yml:28:22: error[E040]: recording rule `job:demo_transitions:rate5m` is already recorded by a generated rule",
        "spec.yml:29:50: error[E040]: recording rule `job:demo_level:max` is declared on `demo_transitions_total` but does not read it",
        "spec.yml:30:47: error[E040]: recording rule `job:demo_x:rate` uses a Grafana macro or variable",
        "spec.yml:31:47: error[E040]: recording rule `job:demo_y:rate` expression references `demo_transition_total`, which the spec does not define",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in\n{err}");
    }
}

#[test]
fn bad_annotations_are_e041() {
    let spec = SPEC
        .replace("color: red}", "color: crimson}")
        .replace(
            "expr: 'sum by (direction) (increase(demo_transitions_total{direction=\"up\"}[1m])) > 0'}",
            "expr: 'rate(demo_level[1m]) > 0'}\n      - {title: Upgrades, expr: 'changes(demo_level[1m]'}",
        );
    let err = errors(&spec);
    for expected in [
        "spec.yml:10:76: error[E041]: annotation colour `crimson` is not a Grafana colour",
        "spec.yml:11:33: error[E041]: annotation `Upgrades` expression applies rate() to the gauge `demo_level`",
        "spec.yml:12:17: error[E041]: annotation `Upgrades` is declared twice on dashboard `main` (first at line 11)",
        "spec.yml:12:33: error[E041]: annotation `Upgrades` expression does not parse",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in\n{err}");
    }
}

#[test]
fn bad_panel_renames_are_e042() {
    let same = SPEC.replace(
        "{title: Level, promql",
        "{title: Level, renamed_from: Level, promql",
    );
    let err = errors(&same);
    assert!(
        err.contains("error[E042]: panel `Level` is `renamed_from` its own title"),
        "{err}"
    );
    // Two panels of the metric with the same query: renaming one to the other's title
    // would give both one identity.
    let clash = SPEC.replace(
        "          - {title: Level, promql: 'max(demo_level)', panel_type: state-timeline, unit: none}\n",
        "          - {title: Level, promql: 'max(demo_level)', panel_type: state-timeline, unit: none}\n          - {title: Level now, renamed_from: Level, promql: 'max(demo_level)', panel_type: state-timeline, unit: none}\n",
    );
    let err = errors(&clash);
    assert!(
        err.contains("error[E042]: panel `Level now` renamed from `Level` has the same identity as panel `Level` on dashboard `main`"),
        "{err}"
    );
}
