//! The dashboard linter: every generated dashboard is clean, and each rule catches the
//! mistake it exists for.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use g6_codegen::artifacts::{full_catalog, generate_all};
use g6_codegen::dashboard_lint::{lint, RULES};
use g6_codegen::promql::SeriesCatalog;
use serde_json::{json, Value};

fn setup() -> (Vec<(String, Value)>, SeriesCatalog) {
    let loaded = g6_codegen::load_str(g6_metrics::artifacts::SPEC_SOURCE, "metrics.yml").unwrap();
    let generated = generate_all(&loaded, "metrics.yml");
    let catalog = full_catalog(&loaded, &generated.rules);
    let dashboards = generated
        .dashboards
        .into_iter()
        .map(|d| (d.slug, d.json))
        .collect();
    (dashboards, catalog)
}

fn base() -> (Value, SeriesCatalog) {
    let (d, c) = setup();
    let option_chain = d.into_iter().find(|(s, _)| s == "option_chain").unwrap().1;
    (option_chain, c)
}

/// Apply `edit` to a clean dashboard and return the rules that fire.
fn fired(edit: impl FnOnce(&mut Value)) -> Vec<&'static str> {
    let (mut d, c) = base();
    edit(&mut d);
    let mut rules: Vec<&'static str> = lint(&d, &c).into_iter().map(|f| f.rule).collect();
    rules.dedup();
    rules
}

#[test]
fn every_generated_dashboard_is_clean() {
    let (dashboards, catalog) = setup();
    assert_eq!(dashboards.len(), 17);
    for (slug, d) in dashboards {
        let findings = lint(&d, &catalog);
        assert!(findings.is_empty(), "{slug}: {findings:?}");
    }
}

#[test]
fn rule_dashboard_uid() {
    assert_eq!(
        fired(|d| d["uid"] = json!("G6_Option Chain")),
        ["dashboard-uid"]
    );
    assert_eq!(
        fired(|d| d["uid"] = json!("x".repeat(41))),
        ["dashboard-uid"]
    );
}

#[test]
fn rule_template_datasource() {
    assert_eq!(
        fired(|d| d["templating"]["list"][0]["name"] = json!("ds")),
        ["template-datasource"]
    );
}

#[test]
fn rule_panel_datasource() {
    assert_eq!(
        fired(|d| d["panels"][1]["datasource"] =
            json!({"type": "prometheus", "uid": "${DS_PROMETHEUS}"})),
        ["panel-datasource"]
    );
}

#[test]
fn rule_target_datasource() {
    assert_eq!(
        fired(|d| d["panels"][1]["targets"][0]["datasource"] = json!(null)),
        ["target-datasource"]
    );
}

#[test]
fn rule_panel_title_description() {
    assert_eq!(
        fired(|d| d["panels"][1]["description"] = json!("")),
        ["panel-title-description"]
    );
    assert_eq!(
        fired(|d| d["panels"][1]["title"] = json!(" ")),
        ["panel-title-description"]
    );
}

#[test]
fn rule_panel_units() {
    assert_eq!(
        fired(|d| d["panels"][1]["fieldConfig"]["defaults"]["unit"] = json!("milliseconds")),
        ["panel-units"]
    );
}

#[test]
fn rule_panel_no_targets() {
    assert_eq!(
        fired(|d| d["panels"][1]["targets"] = json!([])),
        ["panel-no-targets"]
    );
}

#[test]
fn rule_target_refid_unique() {
    assert_eq!(
        fired(|d| {
            let t = d["panels"][1]["targets"][0].clone();
            d["panels"][1]["targets"].as_array_mut().unwrap().push(t);
        }),
        ["target-refid-unique"]
    );
}

#[test]
fn rule_target_promql() {
    assert_eq!(
        fired(|d| d["panels"][1]["targets"][0]["expr"] = json!("sum(g6_option_open_interest")),
        ["target-promql"]
    );
    assert_eq!(
        fired(|d| d["panels"][1]["targets"][0]["expr"] =
            json!("sum(g6_option_open_intrest{index=~\"$index\"})")),
        ["target-promql"]
    );
    assert_eq!(
        fired(|d| d["panels"][1]["targets"][0]["expr"] =
            json!(format!("sum by (strike) (g6_option_open_interest{FILTER})"))),
        ["target-promql"]
    );
    assert_eq!(
        fired(
            |d| d["panels"][1]["targets"][0]["expr"] = json!("job:g6_option_open_interest:rate5m")
        ),
        ["target-promql"]
    );
}

#[test]
fn rule_target_counter_agg() {
    assert_eq!(
        fired(
            |d| d["panels"][1]["targets"][0]["expr"] = json!("sum(g6_option_contracts_new_total)")
        ),
        ["target-counter-agg"]
    );
}

#[test]
fn rule_target_rate_interval() {
    assert_eq!(
        fired(|d| d["panels"][1]["targets"][0]["expr"] =
            json!("sum(rate(g6_option_contracts_new_total[5m]))")),
        ["target-rate-interval"]
    );
}

#[test]
fn rule_panel_gridpos() {
    assert_eq!(
        fired(|d| d["panels"][1]["gridPos"]["x"] = json!(20)),
        ["panel-gridpos"]
    );
    // Move panel 2 onto panel 1.
    assert_eq!(
        fired(|d| {
            let pos = d["panels"][1]["gridPos"].clone();
            d["panels"][2]["gridPos"] = pos;
        }),
        ["panel-gridpos"]
    );
}

/// The filters every option-chain query needs.
const FILTER: &str = r#"{index="$index", source="$source"}"#;

fn set_expr(d: &mut Value, panel: usize, expr: &str) {
    d["panels"][panel]["targets"][0]["expr"] = json!(expr);
}

fn panel_of_type(d: &Value, panel_type: &str) -> usize {
    d["panels"]
        .as_array()
        .unwrap()
        .iter()
        .position(|p| p["type"] == panel_type)
        .unwrap_or_else(|| panic!("no {panel_type} panel"))
}

#[test]
fn rule_panel_datetime_ms_catches_seconds_under_a_date_unit() {
    let age = r#"max(g6_option_chain_snapshot_age_seconds{index=~"$index"})"#;
    let at = |expr: String| {
        fired(move |d| {
            d["panels"][2]["fieldConfig"]["defaults"]["unit"] = json!("dateTimeFromNow");
            set_expr(d, 2, &expr);
        })
    };
    assert_eq!(at(age.to_string()), ["panel-datetime-ms"]);
    assert!(at(format!("{age} * 1000")).is_empty());
    assert!(at(format!("1000 * ({age})")).is_empty());
    assert_eq!(at(format!("{age} * 100")), ["panel-datetime-ms"]);
}

#[test]
fn rule_panel_ratio_avg_catches_unweighted_means_of_ratio_gauges() {
    assert_eq!(
        fired(|d| set_expr(
            d,
            2,
            &format!("avg by (mny) (g6_option_implied_volatility_mean{FILTER})")
        )),
        ["panel-ratio-avg"]
    );
    // Weighted by what it averages over, empty buckets excluded: clean.
    let weighted = format!(
        "sum by (mny) (g6_option_implied_volatility_mean{FILTER} * g6_option_implied_volatility_contracts{FILTER}) / (sum by (mny) (g6_option_implied_volatility_contracts{FILTER}) > 0)"
    );
    assert!(fired(|d| set_expr(d, 2, &weighted)).is_empty());
    // avg of a count is not a ratio mean.
    assert!(fired(|d| set_expr(
        d,
        2,
        &format!("avg by (mny) (g6_option_open_interest{FILTER})")
    ))
    .is_empty());
}

#[test]
fn rule_panel_heatmap_unit_catches_a_bucket_unit_on_the_cells() {
    let (d, _) = base();
    let heat = panel_of_type(&d, "heatmap");
    assert_eq!(
        d["panels"][heat]["options"]["yAxis"]["unit"], "s",
        "the bucket unit sits on the y axis"
    );
    assert_eq!(
        fired(|d| d["panels"][heat]["fieldConfig"]["defaults"]["unit"] = json!("s")),
        ["panel-heatmap-unit"]
    );
}

#[test]
fn rule_selector_variable_catches_unfiltered_queries_and_missing_variables() {
    // A query that sums every index (and live with synthetic).
    assert_eq!(
        fired(|d| set_expr(d, 2, "sum by (mny) (g6_option_open_interest)")),
        ["selector-variable"]
    );
    // Filtered on one selector only.
    assert_eq!(
        fired(|d| set_expr(
            d,
            2,
            r#"sum by (mny) (g6_option_open_interest{index=~"$index"})"#
        )),
        ["selector-variable"]
    );
    // A filter on a fixed value instead of the variable.
    assert_eq!(
        fired(|d| set_expr(
            d,
            2,
            r#"sum by (mny) (g6_option_open_interest{index="NIFTY", source=~"$source"})"#
        )),
        ["selector-variable"]
    );
    // The variable itself is missing.
    assert_eq!(
        fired(|d| d["templating"]["list"]
            .as_array_mut()
            .unwrap()
            .retain(|v| v["name"] != "index")),
        ["selector-variable"]
    );
    // `index` must be single-select: summing indices is meaningless.
    assert_eq!(
        fired(|d| {
            for v in d["templating"]["list"].as_array_mut().unwrap() {
                if v["name"] == "index" {
                    v["multi"] = json!(true);
                }
            }
        }),
        ["selector-variable"]
    );
}

#[test]
fn rule_panel_topk_state_catches_rankings_of_info_and_state_gauges() {
    assert_eq!(
        fired(|d| set_expr(d, 2, "topk(5, g6_metrics_spec_hash_info)")),
        ["panel-topk-state"]
    );
    assert_eq!(
        fired(|d| set_expr(d, 2, r#"topk(5, g6_stale_index_active{index=~"$index"})"#)),
        ["panel-topk-state"]
    );
    assert!(
        fired(|d| set_expr(d, 2, &format!("topk(5, g6_option_open_interest{FILTER})"))).is_empty()
    );
}

#[test]
fn rule_target_legend_catches_auto_legends() {
    assert_eq!(
        fired(|d| d["panels"][2]["targets"][0]["legendFormat"] = json!("__auto")),
        ["target-legend"]
    );
    assert_eq!(
        fired(|d| d["panels"][2]["targets"][0]["legendFormat"] = json!("")),
        ["target-legend"]
    );
}

#[test]
fn every_rule_has_a_test_above() {
    let src = include_str!("dashboard_lint.rs");
    for rule in RULES {
        assert!(
            src.contains(&format!("[\"{rule}\"]")),
            "no test asserts rule {rule}"
        );
    }
}

#[test]
fn rule_annotation_query_catches_bad_annotations() {
    fn ann(expr: &'static str, ds: Value) -> impl FnOnce(&mut Value) {
        move |d: &mut Value| {
            d["annotations"]["list"] = json!([{
                "name": "Events", "datasource": ds, "enable": true, "expr": expr,
            }])
        }
    }
    let ds = json!({"type": "prometheus", "uid": "${datasource}"});
    assert!(fired(ann("changes(g6_memory_pressure_level[1m]) > 0", ds.clone())).is_empty());
    assert_eq!(
        fired(ann("changes(g6_memory_pressure_levle[1m]) > 0", ds)),
        ["annotation-query"]
    );
    assert_eq!(
        fired(ann(
            "changes(g6_memory_pressure_level[1m]) > 0",
            json!({"uid": "prometheus"})
        )),
        ["annotation-query"]
    );
    // Grafana's built-in annotation has no query.
    assert!(fired(
        |d| d["annotations"]["list"] = json!([{"builtIn": 1, "name": "Annotations & Alerts"}])
    )
    .is_empty());
}

#[test]
fn a_text_panel_needs_no_targets() {
    assert!(fired(|d| {
        d["panels"][1]["type"] = json!("text");
        d["panels"][1]["targets"] = json!([]);
    })
    .is_empty());
}

/// Recording-rule names, read from every committed rule file.
fn committed_records() -> std::collections::BTreeSet<String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    ["recording_rules.yml", "slo_rules.yml", "health_rules.yml"]
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(root.join("generated/prometheus").join(f))
                .unwrap()
                .lines()
                .filter_map(|l| l.trim().strip_prefix("- record: "))
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn governance_rule_usage_table_matches_a_count_of_the_committed_dashboards() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("generated/grafana/dashboards");
    let records = committed_records();
    // Count each committed dashboard's panels by tokens of their queries.
    let mut counted: Vec<(String, usize, usize, usize)> = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut governance = Value::Null;
    for f in files {
        let d: Value = serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
        let slug = f.file_stem().unwrap().to_string_lossy().into_owned();
        let (mut q, mut r, mut i) = (0, 0, 0);
        for p in d["panels"].as_array().unwrap() {
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
            if exprs.iter().any(|e| {
                e.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                    .any(|t| records.contains(t))
            }) {
                r += 1;
            }
            if exprs.iter().any(|e| e.contains("histogram_quantile(")) {
                i += 1;
            }
        }
        counted.push((slug.clone(), q, r, i));
        if slug == "governance" {
            governance = d;
        }
    }
    let panel = governance["panels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["title"] == "Recording rule usage")
        .expect("governance has the rule-usage table");
    assert_eq!(panel["type"], "text");
    assert_eq!(panel["options"]["mode"], "markdown");
    let content = panel["options"]["content"].as_str().unwrap();
    let mut expected = String::new();
    let (mut tq, mut tr, mut ti) = (0, 0, 0);
    let pct = |r: usize, i: usize| {
        if r + i == 0 {
            "n/a".to_string()
        } else {
            format!("{:.1}%", 100.0 * r as f64 / (r + i) as f64)
        }
    };
    for (slug, q, r, i) in &counted {
        let title = serde_json::from_str::<Value>(
            &std::fs::read_to_string(dir.join(format!("{slug}.json"))).unwrap(),
        )
        .unwrap()["title"]
            .as_str()
            .unwrap()
            .to_string();
        expected.push_str(&format!(
            "| {title} (`{slug}`) | {q} | {r} | {i} | {} |\n",
            pct(*r, *i)
        ));
        (tq, tr, ti) = (tq + q, tr + r, ti + i);
    }
    expected.push_str(&format!(
        "| **All dashboards** | {tq} | {tr} | {ti} | {} |\n",
        pct(tr, ti)
    ));
    let table: String = content
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| Dashboard |"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(table, expected);
    // G6 computes no quantile inline: every quantile panel reads its rule.
    assert!(table.contains(&format!(
        "| **All dashboards** | {tq} | {tr} | 0 | 100.0% |"
    )));
    assert!(tr > 0);
}
