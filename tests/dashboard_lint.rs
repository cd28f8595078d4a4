//! The dashboard linter: every generated dashboard is clean, and each rule catches the
//! mistake it exists for.

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
    assert_eq!(dashboards.len(), 15);
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
        fired(|d| d["panels"][1]["targets"][0]["expr"] = json!("sum(g6_option_open_intrest)")),
        ["target-promql"]
    );
    assert_eq!(
        fired(|d| d["panels"][1]["targets"][0]["expr"] =
            json!("sum by (strike) (g6_option_open_interest)")),
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
