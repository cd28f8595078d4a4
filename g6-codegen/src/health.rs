//! The composite health score from the spec's `health:` section:
//! `prometheus/health_rules.yml` (one recording rule per component, the weighted score,
//! a warning and a critical alert), `prometheus/health_tests/health.yml` (a `promtool test
//! rules` file that drives each component down) and the score panels at the top of the
//! dashboard the section names.
//!
//! Semantics, for every spec (names derive from the namespace `<ns>`):
//! - a component is recorded as `job:<ns>_health_component:ratio{component="<name>"}`
//!   = `min(clamp(EXPR, 0, 1) >= 0) or vector(0)`: each series of the expression is
//!   clamped to [0, 1], NaN series (0/0) are dropped, several series collapse to the
//!   lowest (the worst index, bus or table decides), and **no data reads 0** (not
//!   healthy: a component that cannot be computed is not known to be healthy; an
//!   expression for which absence is healthy says so itself, e.g. `or vector(1)`);
//! - the score `job:<ns>_health_score:ratio` is the weighted sum of the components
//!   (divided by the float sum of the weights when that is not exactly 1, so a fully
//!   healthy system scores exactly 1);
//! - `<Ns>HealthScoreLow` (warning) fires when the score stays below `warning` for 5m,
//!   `<Ns>HealthScoreCritical` (critical) below `critical` for 2m; both fire when the
//!   score is below both (route or inhibit in Alertmanager). Their description lists
//!   the components below 1 with their values.

use crate::plan::{AlertMeta, MetaMap, PanelPlan, Shape, Target};
use crate::rulefile::{
    document, test_document, Alert, AlertRuleTest, ExpAlert, InputSeries, Labels, Number,
    PromqlExprTest, Record, Rule, RuleFile, RuleGroup, Sample, TestFile, TestGroup,
};
// What the spec fixes about the score (its names, weights, test samples) is the spec's.
pub use g6_spec::health::{
    component_record, critical_alert, score_record, series_samples, warning_alert, weight_sum,
    EVAL_MINUTE, MIN_SAMPLES,
};
use g6_spec::model::{Health, HealthComponent, Spec, TestSeries};
use std::fmt::Write;

/// Path of the rules (under `generated/`).
pub const RULES_PATH: &str = "prometheus/health_rules.yml";
/// Path of the `promtool test rules` file (under `generated/`).
pub const TESTS_PATH: &str = "prometheus/health_tests/health.yml";
/// How long the score must stay below `warning` before the warning alert fires.
pub const WARNING_FOR: &str = "5m";
/// How long the score must stay below `critical` before the critical alert fires.
pub const CRITICAL_FOR: &str = "2m";
/// A number as PromQL and YAML read it back exactly.
fn num(v: f64) -> String {
    format!("{v}")
}

/// A float as Go's `fmt` prints it with `%v` (alert templates): the shortest
/// round-trip digits, in exponent form below 1e-4 or from 1e21 on.
pub fn go_float(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return match v {
            x if x.is_nan() => "NaN".into(),
            x if x == f64::INFINITY => "+Inf".into(),
            x if x == f64::NEG_INFINITY => "-Inf".into(),
            _ => "0".into(),
        };
    }
    let exp = v.abs().log10().floor() as i32;
    if (-4..21).contains(&exp) {
        return format!("{v}");
    }
    // Rust: `1e-5`, `1.5e21`; Go: `1e-05`, `1.5e+21`.
    let e = format!("{v:e}");
    let (mantissa, power) = e.split_once('e').unwrap_or((&e, "0"));
    let p: i32 = power.parse().unwrap_or(0);
    format!(
        "{mantissa}e{}{:02}",
        if p < 0 { '-' } else { '+' },
        p.unsigned_abs()
    )
}

/// The component's recording-rule expression.
pub fn component_expr(c: &HealthComponent) -> String {
    format!(
        "min(clamp({}, 0, 1) >= 0) or vector(0)",
        c.expr.value.trim()
    )
}

/// The score's expression: the weighted sum of the recorded components.
pub fn score_expr(spec: &Spec, h: &Health) -> String {
    let record = component_record(spec);
    let terms: Vec<String> = h
        .components
        .iter()
        .map(|c| {
            format!(
                "{} * sum({record}{{component=\"{}\"}})",
                num(c.weight.value),
                c.name.value
            )
        })
        .collect();
    let total = weight_sum(h);
    if total == 1.0 {
        terms.join(" + ")
    } else {
        format!("({}) / {}", terms.join(" + "), num(total))
    }
}

/// The score Prometheus computes from component values (in component order), with
/// the same float operations in the same order.
pub fn score_value(h: &Health, values: &[f64]) -> f64 {
    let sum = h
        .components
        .iter()
        .zip(values)
        .fold(0.0, |a, (c, v)| a + c.weight.value * v);
    let total = weight_sum(h);
    if total == 1.0 {
        sum
    } else {
        sum / total
    }
}

/// The alert expression of the warning (`critical` false) or critical alert.
pub fn alert_expr(spec: &Spec, h: &Health, critical: bool) -> String {
    let t = if critical {
        h.critical.value
    } else {
        h.warning.value
    };
    format!("{} < {}", score_record(spec), num(t))
}

/// Every health recording rule: (record, expr, component label).
pub fn recorded(spec: &Spec, h: &Health) -> Vec<(String, String, Option<String>)> {
    let mut out: Vec<(String, String, Option<String>)> = h
        .components
        .iter()
        .map(|c| {
            (
                component_record(spec),
                component_expr(c),
                Some(c.name.value.clone()),
            )
        })
        .collect();
    out.push((score_record(spec), score_expr(spec, h), None));
    out
}

/// Add the health recording rules (the component series, labelled `component`, and
/// the score) to a series catalog, so PromQL that reads them checks out.
pub fn add_records(c: &mut g6_spec::promql::SeriesCatalog, spec: &Spec) {
    use g6_spec::promql::SeriesKind;
    let component = component_record(spec);
    c.insert(
        &component,
        &component,
        SeriesKind::Recorded,
        &["component".to_string()],
    );
    let score = score_record(spec);
    c.insert(&score, &score, SeriesKind::Recorded, &[]);
}

/// The title of the dashboard that shows the score (its slug when unknown).
fn dashboard_title<'a>(spec: &'a Spec, h: &'a Health) -> &'a str {
    spec.dashboards
        .iter()
        .find(|d| d.slug.value == h.dashboard.value)
        .map_or(h.dashboard.value.as_str(), |d| d.title.as_str())
}

/// The alert's fixed summary and its description template.
pub fn annotations(spec: &Spec, h: &Health, critical: bool) -> (String, String) {
    let (level, t, for_) = if critical {
        ("critical", h.critical.value, CRITICAL_FOR)
    } else {
        ("warning", h.warning.value, WARNING_FOR)
    };
    let summary = format!(
        "The {} health score has been below {} for {for_} ({level})",
        spec.namespace.value.to_uppercase(),
        num(t)
    );
    (summary, description(spec, h, t, for_))
}

/// The description template: the score, the thresholds, the components below 1 (a
/// query at alert time, sorted by name) and the dashboard.
fn description(spec: &Spec, h: &Health, t: f64, for_: &str) -> String {
    format!(
        "Weighted health score: {{{{ $value }}}} (below {} for {for_}; warning below {}, critical below {}). Components below 1: {{{{ range query \"{} < 1\" | sortByLabel \"component\" }}}}{{{{ .Labels.component }}}} {{{{ .Value }}}}; {{{{ end }}}}Dashboard: {}.",
        num(t),
        num(h.warning.value),
        num(h.critical.value),
        component_record(spec),
        dashboard_title(spec, h)
    )
}

/// The description as Prometheus expands it for `score` and component `values`.
fn expanded_description(
    spec: &Spec,
    h: &Health,
    critical: bool,
    score: f64,
    values: &[f64],
) -> String {
    let (_, template) = annotations(spec, h, critical);
    let mut weak: Vec<(&str, f64)> = h
        .components
        .iter()
        .zip(values)
        .filter(|(_, v)| **v < 1.0)
        .map(|(c, v)| (c.name.value.as_str(), *v))
        .collect();
    weak.sort_by(|a, b| a.0.cmp(b.0));
    let list: String = weak
        .iter()
        .map(|(n, v)| format!("{n} {}; ", go_float(*v)))
        .collect();
    let range = format!(
        "{{{{ range query \"{} < 1\" | sortByLabel \"component\" }}}}{{{{ .Labels.component }}}} {{{{ .Value }}}}; {{{{ end }}}}",
        component_record(spec)
    );
    template
        .replace("{{ $value }}", &go_float(score))
        .replace(&range, &list)
}

fn header(what: &str, spec: &Spec, hash: &str, version: &str) -> String {
    format!(
        "# {what}\n# Generated by {version} from {} (spec hash {hash}). Do not edit:\n# change the spec and run `cargo build` (or `g6 generate`).\n",
        spec.source_name()
    )
}

/// The labels of the warning (`critical` false) or critical alert.
fn alert_labels(critical: bool, m: &AlertMeta) -> Labels {
    let severity = if critical { "critical" } else { "warning" };
    let mut labels = Labels::from([("severity".to_string(), severity.to_string())]);
    m.add_labels(&mut labels);
    labels
}

/// The annotations of an alert: its summary, `description` and the catalogue's links.
fn alert_annotations(summary: String, description: String, m: &AlertMeta) -> Labels {
    let mut out = Labels::from([
        ("summary".to_string(), summary),
        ("description".to_string(), description),
    ]);
    m.add_annotations(&mut out);
    out
}

/// `prometheus/health_rules.yml`.
pub fn render_rules(spec: &Spec, h: &Health, meta: &MetaMap, hash: &str, version: &str) -> String {
    let mut rules: Vec<Rule> = recorded(spec, h)
        .into_iter()
        .map(|(record, expr, component)| {
            Rule::Record(Record {
                record,
                expr,
                labels: component
                    .map(|c| Labels::from([("component".to_string(), c)]))
                    .unwrap_or_default(),
            })
        })
        .collect();
    for critical in [false, true] {
        let (summary, description) = annotations(spec, h, critical);
        let alert = if critical {
            critical_alert(spec)
        } else {
            warning_alert(spec)
        };
        let m = meta.get(&alert).cloned().unwrap_or_default();
        rules.push(Rule::Alert(Alert {
            expr: alert_expr(spec, h, critical),
            for_: Some(if critical { CRITICAL_FOR } else { WARNING_FOR }.into()),
            keep_firing_for: None,
            labels: alert_labels(critical, &m),
            annotations: alert_annotations(summary, description, &m),
            alert,
        }));
    }
    let file = RuleFile {
        groups: vec![RuleGroup {
            name: format!("{}_health", spec.namespace.value),
            interval: None,
            rules,
        }],
    };
    document(
        &header(
            "Health score rules: one recording rule per component (clamped to [0, 1], the lowest series, no data = 0), the weighted score, warning and critical alerts.",
            spec,
            hash,
            version,
        ),
        &file,
    )
}

/// One case of the generated test: its input series and the component values it
/// must give from minute 1 through [`EVAL_MINUTE`].
struct Case<'a> {
    title: String,
    series: Vec<&'a TestSeries>,
    values: Vec<f64>,
}

fn input_series(series: &[&TestSeries]) -> Vec<InputSeries> {
    series
        .iter()
        .map(|s| InputSeries {
            series: s.series.value.clone(),
            values: s.values.value.clone(),
        })
        .collect()
}

fn alert_case(
    spec: &Spec,
    h: &Health,
    meta: &MetaMap,
    critical: bool,
    minute: usize,
    firing: Option<(f64, &[f64])>,
) -> AlertRuleTest {
    let name = if critical {
        critical_alert(spec)
    } else {
        warning_alert(spec)
    };
    let exp_alerts = match firing {
        Some((score, values)) => {
            let (summary, _) = annotations(spec, h, critical);
            let m = meta.get(&name).cloned().unwrap_or_default();
            vec![ExpAlert {
                exp_labels: alert_labels(critical, &m),
                exp_annotations: alert_annotations(
                    summary,
                    expanded_description(spec, h, critical, score, values),
                    &m,
                ),
            }]
        }
        None => Vec::new(),
    };
    AlertRuleTest {
        eval_time: format!("{minute}m"),
        alertname: name,
        exp_alerts,
    }
}

/// The check of the score's value at [`EVAL_MINUTE`].
fn score_test(spec: &Spec, score: f64) -> PromqlExprTest {
    PromqlExprTest {
        expr: score_record(spec),
        eval_time: format!("{EVAL_MINUTE}m"),
        exp_samples: vec![Sample {
            labels: score_record(spec),
            value: Number(score),
        }],
    }
}

/// The test group of `case` and its comment.
fn case_group(spec: &Spec, h: &Health, meta: &MetaMap, case: &Case) -> (String, TestGroup) {
    let score = score_value(h, &case.values);
    let comment = format!(
        "{}: score {} at minute {EVAL_MINUTE}.",
        case.title,
        num(score)
    );
    let record = component_record(spec);
    let components = PromqlExprTest {
        expr: record.clone(),
        eval_time: format!("{EVAL_MINUTE}m"),
        exp_samples: h
            .components
            .iter()
            .zip(&case.values)
            .map(|(c, v)| Sample {
                labels: format!("{record}{{component=\"{}\"}}", c.name.value),
                value: Number(*v),
            })
            .collect(),
    };
    let alert_rule_test = [(false, h.warning.value), (true, h.critical.value)]
        .into_iter()
        .map(|(critical, t)| {
            let firing = (score < t).then_some((score, case.values.as_slice()));
            alert_case(spec, h, meta, critical, EVAL_MINUTE, firing)
        })
        .collect();
    let group = TestGroup {
        interval: "1m".into(),
        input_series: input_series(&case.series),
        promql_expr_test: vec![components, score_test(spec, score)],
        alert_rule_test,
    };
    (comment, group)
}

/// `prometheus/health_tests/health.yml`: every component healthy (score 1, no alert); each
/// component unhealthy (0) and then without data (its `no_data` value) with the others
/// healthy (its value, the score, exactly the alerts the score crosses); and every
/// component unhealthy, checking the alerts' `for` durations.
pub fn render_test(spec: &Spec, h: &Health, meta: &MetaMap, hash: &str, version: &str) -> String {
    let mut head = header(
        "promtool test rules for the health score: run `promtool test rules` on this file.",
        spec,
        hash,
        version,
    );
    let _ = writeln!(
        head,
        "# Each component's healthy series make it 1 and its unhealthy series 0 from minute 1\n# through minute {EVAL_MINUTE}, where values and alerts are checked; without its series it reads\n# its no_data value (0 unless the spec says otherwise)."
    );
    let n = h.components.len();
    let healthy = |except: Option<usize>| -> Vec<&TestSeries> {
        h.components
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != except)
            .flat_map(|(_, c)| c.test.healthy.iter())
            .collect()
    };
    let mut cases = vec![Case {
        title: "Every component healthy".into(),
        series: healthy(None),
        values: vec![1.0; n],
    }];
    for (i, c) in h.components.iter().enumerate() {
        let mut series = healthy(Some(i));
        series.extend(c.test.unhealthy.iter());
        let mut values = vec![1.0; n];
        values[i] = 0.0;
        cases.push(Case {
            title: format!(
                "{} unhealthy (weight {}), the others healthy",
                c.name.value,
                num(c.weight.value)
            ),
            series,
            values,
        });
        let no_data = c.test.no_data.as_ref().map_or(0.0, |v| v.value);
        let mut values = vec![1.0; n];
        values[i] = no_data;
        cases.push(Case {
            title: format!(
                "{} without data (reads {}), the others healthy",
                c.name.value,
                num(no_data)
            ),
            series: healthy(Some(i)),
            values,
        });
    }
    let (mut comments, mut tests): (Vec<String>, Vec<TestGroup>) = cases
        .iter()
        .map(|case| case_group(spec, h, meta, case))
        .unzip();
    // Every component unhealthy: the score is 0 from minute 0 or 1 on. The critical
    // alert (for 2m) is not firing at minute 1 and is at minute 3; the warning (for 5m)
    // is not firing at minute 4 and is at minute 6.
    let all: Vec<&TestSeries> = h
        .components
        .iter()
        .flat_map(|c| c.test.unhealthy.iter())
        .collect();
    let zeros = vec![0.0; n];
    let score = score_value(h, &zeros);
    comments.push(format!(
        "Every component unhealthy: score {} from minute 0 or 1; the alerts' for durations.",
        num(score)
    ));
    let fires = |t: f64| (score < t).then_some((score, zeros.as_slice()));
    tests.push(TestGroup {
        interval: "1m".into(),
        input_series: input_series(&all),
        promql_expr_test: vec![score_test(spec, score)],
        alert_rule_test: vec![
            alert_case(spec, h, meta, true, 1, None),
            alert_case(spec, h, meta, true, 3, fires(h.critical.value)),
            alert_case(spec, h, meta, false, 4, None),
            alert_case(spec, h, meta, false, 6, fires(h.warning.value)),
        ],
    });
    let file = TestFile {
        rule_files: vec!["../health_rules.yml".into()],
        evaluation_interval: "1m".into(),
        tests,
    };
    test_document(&head, &file, &comments)
}

/// The `RULES_CATALOG.md` section of the health rules.
pub fn catalog_section(spec: &Spec, h: &Health) -> String {
    let md = |s: &str| s.replace('|', "\\|");
    let mut out = format!(
        "\n## Health score (`{RULES_PATH}`)\n\nComponents are clamped to [0, 1], collapse to their lowest series and read 0 without data; the score is their weighted sum.\n\n| record | component | weight | expr |\n|---|---|---|---|\n"
    );
    for (c, (record, expr, _)) in h.components.iter().zip(recorded(spec, h)) {
        let _ = writeln!(
            out,
            "| `{record}` | {} | {} | `{}` |",
            c.name.value,
            num(c.weight.value),
            md(&expr)
        );
    }
    let _ = writeln!(
        out,
        "| `{}` | — | — | `{}` |",
        score_record(spec),
        md(&score_expr(spec, h))
    );
    out.push_str("\n| alert | severity | for | expr |\n|---|---|---|---|\n");
    for critical in [false, true] {
        let _ = writeln!(
            out,
            "| {} | {} | {} | `{}` |",
            if critical {
                critical_alert(spec)
            } else {
                warning_alert(spec)
            },
            if critical { "critical" } else { "warning" },
            if critical { CRITICAL_FOR } else { WARNING_FOR },
            md(&alert_expr(spec, h, critical))
        );
    }
    out
}

/// The two panels at the top of the health dashboard: the score as a stat and the
/// components as a bar gauge, both coloured red below `critical`, orange below
/// `warning`, green above.
pub fn panels(spec: &Spec, h: &Health) -> Vec<PanelPlan> {
    let shape = Shape::Score {
        critical: h.critical.value,
        warning: h.warning.value,
    };
    let weights: Vec<String> = h
        .components
        .iter()
        .map(|c| format!("{} {}", c.name.value, num(c.weight.value)))
        .collect();
    let about = format!(
        "Weights: {}. Red below {} (critical alert after {CRITICAL_FOR}), orange below {} (warning after {WARNING_FOR}).",
        weights.join(", "),
        num(h.critical.value),
        num(h.warning.value)
    );
    let parts: Vec<String> = h
        .components
        .iter()
        .map(|c| match &c.description {
            Some(d) => format!("{}: {}", c.name.value, d.trim_end_matches('.')),
            None => c.name.value.clone(),
        })
        .collect();
    vec![
        PanelPlan {
            title: "Health score".into(),
            description: format!(
                "The weighted sum of the health components (1 = every component healthy). {about}"
            ),
            panel_type: "stat".into(),
            targets: vec![Target {
                expr: score_record(spec),
                legend: "health score".into(),
            }],
            unit: "percentunit".into(),
            metric: score_record(spec),
            family: "health".into(),
            kind: "stat".into(),
            source: "health".into(),
            split_label: None,
            shape: shape.clone(),
            renamed_from: None,
        },
        PanelPlan {
            title: "Health score by component".into(),
            description: format!(
                "Each component in [0, 1], lowest first (the lowest series of its expression; no data reads 0): {}. {about}",
                parts.join("; ")
            ),
            panel_type: "bargauge".into(),
            targets: vec![Target {
                expr: format!("sort({})", component_record(spec)),
                legend: "{{component}}".into(),
            }],
            unit: "percentunit".into(),
            metric: component_record(spec),
            family: "health".into(),
            kind: "value".into(),
            source: "health".into(),
            split_label: Some("component".into()),
            shape,
            renamed_from: None,
        },
    ]
}

/// The health artifacts: (path, content), none without a `health:` section.
pub fn artifacts(spec: &Spec, meta: &MetaMap, hash: &str, version: &str) -> Vec<(String, String)> {
    let Some(h) = &spec.health else {
        return Vec::new();
    };
    vec![
        (
            RULES_PATH.to_string(),
            render_rules(spec, h, meta, hash, version),
        ),
        (
            TESTS_PATH.to_string(),
            render_test(spec, h, meta, hash, version),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_as_go_does() {
        assert_eq!(go_float(0.0), "0");
        assert_eq!(go_float(0.75), "0.75");
        assert_eq!(go_float(1.0), "1");
        assert_eq!(go_float(0.7999999999999999), "0.7999999999999999");
        assert_eq!(go_float(1e-5), "1e-05");
        assert_eq!(go_float(0.0001), "0.0001");
        assert_eq!(go_float(1.5e21), "1.5e+21");
    }

    /// A small spec with a health section; `{W}`, `{C}`, `{A}` and `{B}` are the
    /// warning, the critical threshold and the two weights.
    fn spec(warning: &str, critical: &str, a: &str, b: &str) -> String {
        format!(
            r#"version: 1
namespace: app
dashboards:
  main: {{title: App, families: [core]}}
health:
  dashboard: main
  warning: {warning}
  critical: {critical}
  components:
    calls:
      weight: {a}
      expr: '1 - (sum(rate(app_calls_total{{result!="ok"}}[5m])) or vector(0)) / sum(rate(app_calls_total[5m]))'
      test:
        healthy: {{'app_calls_total{{result="ok"}}': '0+60x30'}}
        unhealthy: {{'app_calls_total{{result="error"}}': '0+60x30'}}
    level:
      weight: {b}
      expr: '1 - max(app_level) / 3'
      test:
        healthy: {{'app_level': '0x30'}}
        unhealthy: {{'app_level': '3x30'}}
families:
  core:
    metrics:
      - {{name: app_calls_total, type: counter, help: Calls, labels: [result], cardinality_budget: 3}}
      - {{name: app_level, type: gauge, help: Level}}
"#
        )
    }

    fn errors(text: &str) -> Vec<String> {
        match crate::checks::load_str(text, "app.yml") {
            Ok(_) => Vec::new(),
            Err(d) => d.errors().map(|e| e.headline("app.yml")).collect(),
        }
    }

    #[test]
    fn a_valid_section_loads_and_generates_its_files() {
        let loaded = crate::checks::load_str(&spec("0.8", "0.5", "0.4", "0.6"), "app.yml")
            .unwrap_or_else(|d| panic!("{d}"));
        let h = loaded.spec.health.as_ref().expect("health");
        assert_eq!(h.components.len(), 2);
        assert_eq!(h.components[1].test.unhealthy[0].values.value, "3x30");
        let files = artifacts(&loaded.spec, &MetaMap::new(), "h", "v");
        let paths: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, vec![RULES_PATH, TESTS_PATH]);
        assert_eq!(
            score_expr(&loaded.spec, h),
            "0.4 * sum(job:app_health_component:ratio{component=\"calls\"}) + 0.6 * sum(job:app_health_component:ratio{component=\"level\"})"
        );
        assert_eq!(
            component_expr(&h.components[1]),
            "min(clamp(1 - max(app_level) / 3, 0, 1) >= 0) or vector(0)"
        );
        assert_eq!(score_value(h, &[0.0, 1.0]), 0.6);
        assert_eq!(
            alert_expr(&loaded.spec, h, true),
            "job:app_health_score:ratio < 0.5"
        );
        let generated = crate::artifacts::generate_all(&loaded, "app.yml");
        assert!(crate::artifacts::validate_generated(&loaded, &generated).is_empty());
        let config = generated
            .artifacts
            .iter()
            .find(|a| a.path == "prometheus/prometheus.yml")
            .expect("config");
        let config: serde_yaml::Value =
            serde_yaml::from_str(&config.content).expect("prometheus.yml is YAML");
        assert_eq!(
            config["rule_files"]
                .as_sequence()
                .and_then(|files| files.last())
                .and_then(|f| f.as_str()),
            Some("health_rules.yml")
        );
        let main = &generated.dashboards[0].json["panels"];
        assert_eq!(main[0]["title"], "Health score");
        assert_eq!(main[0]["targets"][0]["expr"], "job:app_health_score:ratio");
        assert_eq!(main[1]["type"], "bargauge");
        assert_eq!(main[1]["targets"][0]["legendFormat"], "{{component}}");
        assert_eq!(
            main[0]["fieldConfig"]["defaults"]["thresholds"]["steps"][1]["value"],
            0.5
        );
    }

    #[test]
    fn a_healthy_system_scores_exactly_1_whatever_the_float_sum_of_the_weights() {
        let loaded = crate::checks::load_str(&spec("0.8", "0.5", "0.3", "0.7"), "app.yml")
            .unwrap_or_else(|d| panic!("{d}"));
        let h = loaded.spec.health.as_ref().expect("health");
        assert_eq!(score_value(h, &[1.0, 1.0]), 1.0);
        let mut h3 = h.clone();
        // 0.3 + 0.6 + 0.1 adds up to 0.9999999999999999.
        h3.components.push(h.components[0].clone());
        h3.components[1].weight.value = 0.6;
        h3.components[2].weight.value = 0.1;
        assert_ne!(weight_sum(&h3), 1.0);
        assert_eq!(score_value(&h3, &[1.0, 1.0, 1.0]), 1.0);
        assert!(score_expr(&loaded.spec, &h3).ends_with(") / 0.9999999999999999"));
    }

    #[test]
    fn thresholds_and_weights_are_checked() {
        let bad = |w: &str, c: &str, a: &str, b: &str| errors(&spec(w, c, a, b));
        assert!(bad("0.8", "0.5", "0.4", "0.6").is_empty());
        assert!(bad("1", "0.5", "0.4", "0.6").is_empty(), "warning may be 1");
        assert_eq!(
            bad("1.2", "0.5", "0.4", "0.6"),
            vec!["app.yml:7:12: error[E038]: health warning threshold 1.2 is not in (0, 1]"]
        );
        assert_eq!(
            bad("0.8", "0", "0.4", "0.6"),
            vec!["app.yml:8:13: error[E038]: health critical threshold 0 is not in (0, 1)"]
        );
        assert_eq!(
            bad("0.8", "0.8", "0.4", "0.6"),
            vec!["app.yml:8:13: error[E038]: health critical threshold 0.8 is not below the warning threshold 0.8"]
        );
        assert_eq!(
            bad("0.8", "0.5", "0", "1"),
            vec![
                "app.yml:11:15: error[E038]: weight 0 of health component `calls` is not in (0, 1]"
            ]
        );
        assert_eq!(
            bad("0.8", "0.5", "0.4", "0.5"),
            vec![
                "app.yml:9:3: error[E038]: the weights of the health components sum to 0.9, not 1"
            ]
        );
        // Within 1e-9 of 1 is 1.
        assert!(bad("0.8", "0.5", "0.4", "0.6000000001").is_empty());
    }

    #[test]
    fn spec_panels_may_show_the_score_and_components_may_not_read_recording_rules() {
        let text = spec("0.8", "0.5", "0.4", "0.6").replace(
            "{name: app_level, type: gauge, help: Level}",
            "{name: app_level, type: gauge, help: Level, panels: [{title: Score, promql: 'job:app_health_score:ratio', unit: percentunit}]}",
        );
        assert!(errors(&text).is_empty(), "{:?}", errors(&text));
        let text = spec("0.8", "0.5", "0.4", "0.6").replace(
            "'1 - max(app_level) / 3'",
            "'1 - max(app_level) / 3 * job:app_calls:rate5m'",
        );
        assert_eq!(
            errors(&text),
            vec!["app.yml:18:13: error[E039]: the expression of health component `level` reads the recording rule `job:app_calls:rate5m`"]
        );
    }

    #[test]
    fn a_missing_test_part_is_a_missing_field() {
        let text = spec("0.8", "0.5", "0.4", "0.6")
            .replace("        unhealthy: {'app_level': '3x30'}\n", "");
        assert_eq!(
            errors(&text),
            vec!["app.yml:20:16: error[E003]: a health component test is missing `unhealthy`"]
        );
    }

    #[test]
    fn names_derive_from_the_namespace() {
        let mut spec = Spec::default();
        spec.namespace.value = "my_shop".into();
        assert_eq!(
            component_record(&spec),
            "job:my_shop_health_component:ratio"
        );
        assert_eq!(score_record(&spec), "job:my_shop_health_score:ratio");
        assert_eq!(warning_alert(&spec), "MyShopHealthScoreLow");
        assert_eq!(critical_alert(&spec), "MyShopHealthScoreCritical");
    }
}
