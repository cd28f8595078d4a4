//! SLOs from the spec: `prometheus/slo_rules.yml` (SLI error ratios over every window,
//! the error budget left, multi-window multi-burn-rate alerts as in the Google SRE
//! workbook), one `promtool test rules` file per SLO, and the SLO dashboard.
//!
//! Alerts (burn rate = error ratio / error budget, both windows above it):
//! page when 14.4x over 1h and 5m, or 6x over 6h and 30m; ticket when 3x over 1d and
//! 2h, or 1x over 3d and 6h. Each is its own alert, so a page says which pair fired.

use crate::plan::{AlertMeta, MetaMap};
use crate::rulefile::{
    document, test_document, Alert, AlertRuleTest, ExpAlert, InputSeries, Labels, Number,
    PromqlExprTest, Record, Rule, RuleFile, RuleGroup, Sample, TestFile, TestGroup,
};
use g6_spec::model::{Slo, Spec};
use g6_spec::quote::to_json_text;
use serde_json::{json, Value};
use std::fmt::Write;

/// The windows every SLI error ratio is recorded over (the period is added).
pub const WINDOWS: [&str; 7] = ["5m", "30m", "1h", "2h", "6h", "1d", "3d"];

/// One multi-window burn-rate alert.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BurnAlert {
    /// The long window.
    pub long: &'static str,
    /// The short window.
    pub short: &'static str,
    /// Burn-rate factor.
    pub factor: f64,
    /// `critical` (page) or `warning` (ticket).
    pub severity: &'static str,
}

/// The four alerts of every SLO.
pub const BURN_ALERTS: [BurnAlert; 4] = [
    BurnAlert {
        long: "1h",
        short: "5m",
        factor: 14.4,
        severity: "critical",
    },
    BurnAlert {
        long: "6h",
        short: "30m",
        factor: 6.0,
        severity: "critical",
    },
    BurnAlert {
        long: "1d",
        short: "2h",
        factor: 3.0,
        severity: "warning",
    },
    BurnAlert {
        long: "3d",
        short: "6h",
        factor: 1.0,
        severity: "warning",
    },
];

/// Path of the rules.
pub const RULES_PATH: &str = "prometheus/slo_rules.yml";
/// Directory of the `promtool test rules` files.
pub const TESTS_DIR: &str = "prometheus/slo_tests";
/// Directory of the SLO dashboard.
pub const DASHBOARD_DIR: &str = "grafana/slo_dashboards";

/// The SLO dashboard panel showing an SLO's burn rate against each alert's threshold
/// (the `k` of [`panel_id`]).
pub const BURN_PANEL: usize = 2;

/// The stable id of panel `k` (1 budget, 2 burn rate, 3 SLI) of the `i`-th SLO on the
/// SLO dashboard.
pub fn panel_id(i: usize, k: usize) -> i64 {
    (i * 10 + k) as i64
}

/// The recorded error ratio of `window`.
pub fn ratio_record(window: &str) -> String {
    format!("slo:sli_error:ratio_rate{window}")
}

/// The alert name of `a` for `slo`: `G6SloProviderAvailabilityBurnRate1h`.
pub fn alert_name(spec: &Spec, slo: &Slo, a: &BurnAlert) -> String {
    format!(
        "{}Slo{}BurnRate{}",
        g6_spec::naming::upper_camel(&spec.namespace.value),
        g6_spec::naming::upper_camel(&slo.name.value),
        a.long
    )
}

/// The error budget as a ratio (`0.005` for 99.5).
pub fn budget(slo: &Slo) -> f64 {
    // Rounded to 1e-11: 0.005 and 0.001, not 0.0050000000000000044 or
    // 0.0009999999999999432 from the float subtraction.
    ((100.0 - slo.objective.value) * 1e9).round() / 1e11
}

/// A number as PromQL and YAML read it back exactly.
fn num(v: f64) -> String {
    format!("{v}")
}

/// The SLI error ratio over `window`.
pub fn error_ratio_expr(slo: &Slo, window: &str) -> String {
    let w = |e: &str| e.replace("$window", window);
    let total = w(&slo.total.value);
    match (&slo.bad, &slo.good) {
        (Some(bad), _) => format!("({}) / ({total})", w(&bad.value)),
        (None, Some(good)) => format!("1 - (({}) / ({total}))", w(&good.value)),
        (None, None) => format!("0 * ({total})"),
    }
}

/// The threshold of `a` for `slo`: factor x budget, as written in the rule.
pub fn threshold(slo: &Slo, a: &BurnAlert) -> f64 {
    // Parsed back from its text: exactly the number Prometheus compares with.
    num(a.factor * budget(slo)).parse().unwrap_or(f64::NAN)
}

/// Every SLO recording rule: (record, expr) with the `slo` label, for catalogs.
pub fn recorded(slo: &Slo) -> Vec<(String, String)> {
    let mut windows: Vec<&str> = WINDOWS.to_vec();
    // A period equal to one of the windows (1d, 3d) is recorded once.
    if !windows.contains(&slo.period.value.as_str()) {
        windows.push(&slo.period.value);
    }
    let mut out: Vec<(String, String)> = windows
        .iter()
        .map(|w| (ratio_record(w), error_ratio_expr(slo, w)))
        .collect();
    out.push((
        "slo:objective:ratio".into(),
        format!("vector({})", num(slo.objective.value / 100.0)),
    ));
    out.push((
        "slo:error_budget_remaining:ratio".into(),
        format!(
            "1 - ({}{{slo=\"{}\"}} / {})",
            ratio_record(&slo.period.value),
            slo.name.value,
            num(budget(slo))
        ),
    ));
    out
}

/// The alert expression of `a`.
pub fn alert_expr(slo: &Slo, a: &BurnAlert) -> String {
    let t = num(threshold(slo, a));
    let name = &slo.name.value;
    format!(
        "{long}{{slo=\"{name}\"}} > {t} and {short}{{slo=\"{name}\"}} > {t}",
        long = ratio_record(a.long),
        short = ratio_record(a.short)
    )
}

fn header(what: &str, spec: &Spec, hash: &str, version: &str) -> String {
    format!(
        "# {what}\n# Generated by {version} from {} (spec hash {hash}). Do not edit:\n# change the spec and run `cargo build` (or `g6 generate`).\n",
        spec.source_name()
    )
}

/// The fixed annotations of an alert (no templates: `promtool test rules` matches
/// them exactly).
pub fn annotations(spec: &Spec, slo: &Slo, a: &BurnAlert) -> (String, String) {
    let what = if a.severity == "critical" {
        "page"
    } else {
        "ticket"
    };
    (
        format!(
            "SLO {} is burning its error budget {}x too fast over {} and {}",
            slo.name.value, a.factor, a.long, a.short
        ),
        format!(
            "The {} SLO ({}% over {}) spends its budget at more than {} times the sustainable rate over both {} and {} ({what}). Dashboard: {} SLOs.",
            slo.name.value,
            slo.objective.value,
            slo.period.value,
            a.factor,
            a.long,
            a.short,
            spec.namespace.value.to_uppercase()
        ),
    )
}

/// The labels of `a`'s alert for `slo` (and of a firing one in a test).
fn alert_labels(slo: &Slo, a: &BurnAlert, m: &AlertMeta) -> Labels {
    let mut labels = Labels::from([
        ("severity".to_string(), a.severity.to_string()),
        ("slo".to_string(), slo.name.value.clone()),
        ("burn_rate".to_string(), num(a.factor)),
    ]);
    m.add_labels(&mut labels);
    labels
}

/// The annotations of `a`'s alert for `slo` (fixed: a test expects them as they are).
fn alert_annotations(spec: &Spec, slo: &Slo, a: &BurnAlert, m: &AlertMeta) -> Labels {
    let (summary, description) = annotations(spec, slo, a);
    let mut out = Labels::from([
        ("summary".to_string(), summary),
        ("description".to_string(), description),
    ]);
    m.add_annotations(&mut out);
    out
}

/// `prometheus/slo_rules.yml`.
pub fn render_rules(spec: &Spec, meta: &MetaMap, hash: &str, version: &str) -> String {
    let groups = spec
        .slos
        .iter()
        .map(|slo| {
            let name = &slo.name.value;
            let mut rules: Vec<Rule> = recorded(slo)
                .into_iter()
                .map(|(record, expr)| {
                    Rule::Record(Record {
                        record,
                        expr,
                        labels: Labels::from([("slo".to_string(), name.clone())]),
                    })
                })
                .collect();
            for a in &BURN_ALERTS {
                let alert = alert_name(spec, slo, a);
                let m = meta.get(&alert).cloned().unwrap_or_default();
                rules.push(Rule::Alert(Alert {
                    expr: alert_expr(slo, a),
                    for_: None,
                    keep_firing_for: None,
                    labels: alert_labels(slo, a, &m),
                    annotations: alert_annotations(spec, slo, a, &m),
                    alert,
                }));
            }
            RuleGroup {
                name: format!("{}_slo_{name}", spec.namespace.value),
                interval: None,
                rules,
            }
        })
        .collect();
    document(
        &header(
            "SLO rules: SLI error ratios, error budget left, multi-window multi-burn-rate alerts.",
            spec,
            hash,
            version,
        ),
        &RuleFile { groups },
    )
}

/// Minutes of a window (`5m`, `1h`, `1d`, `28d`).
fn minutes(w: &str) -> i64 {
    g6_spec::promql::duration(w).map_or(0, |d| d.as_secs() as i64 / 60)
}

/// The synthetic failure of a test: the instantaneous error ratio is `e` from
/// `START` for `LENGTH` minutes, 0 otherwise; every window's ratio is its mean.
struct Scenario {
    e: f64,
}

/// Step of the test's input series, in minutes.
const STEP: i64 = 5;
/// The failure starts here (minutes).
const START: i64 = 60;
/// And lasts this long.
const LENGTH: i64 = 360;
/// The test's last minute: long enough for every alert to resolve.
const HORIZON: i64 = START + LENGTH + 7 * 60;

impl Scenario {
    /// The ratio over `window` minutes at minute `t`, as the input series holds it.
    fn ratio(&self, window: i64, t: i64) -> f64 {
        let from = (t - window).max(START);
        let to = t.min(START + LENGTH);
        let overlap = (to - from).max(0) as f64;
        let v = self.e * overlap / window as f64;
        num(v).parse().unwrap_or(v)
    }

    fn firing(&self, slo: &Slo, a: &BurnAlert, t: i64) -> bool {
        let th = threshold(slo, a);
        self.ratio(minutes(a.long), t) > th && self.ratio(minutes(a.short), t) > th
    }

    /// Whether any ratio sits within a hair of a threshold (float ties are avoided).
    fn ties(&self, slo: &Slo) -> bool {
        BURN_ALERTS.iter().any(|a| {
            let th = threshold(slo, a);
            [a.long, a.short].iter().any(|w| {
                (0..=HORIZON / STEP).any(|k| {
                    let r = self.ratio(minutes(w), k * STEP);
                    (r - th).abs() <= 1e-9 * th
                })
            })
        })
    }
}

/// The scenario of `slo`: errors at 20x the budget (at most all events failing),
/// nudged off exact threshold ties.
fn scenario(slo: &Slo) -> Scenario {
    let mut s = Scenario {
        e: (20.0 * budget(slo)).min(1.0),
    };
    for _ in 0..20 {
        if !s.ties(slo) {
            break;
        }
        s.e *= 0.97;
    }
    s
}

/// `prometheus/slo_tests/<slo>.yml`: a failure at 20x the budget for six hours
/// drives every burn-rate alert; each is asserted absent one step before it fires,
/// firing at its first and last minute, and absent after.
pub fn render_test(spec: &Spec, slo: &Slo, meta: &MetaMap, hash: &str, version: &str) -> String {
    let s = scenario(slo);
    let name = &slo.name.value;
    let mut head = header(
        &format!("promtool test rules for the {name} SLO: run `promtool test rules` on this file."),
        spec,
        hash,
        version,
    );
    let _ = writeln!(
        head,
        "# From minute {START} for {LENGTH} minutes {:.4}% of events fail ({:.1}x the error budget).",
        s.e * 100.0,
        s.e / budget(slo)
    );
    let mut windows: Vec<&str> = WINDOWS.to_vec();
    if !windows.contains(&slo.period.value.as_str()) {
        windows.push(&slo.period.value);
    }
    let series = |w: &str, values: String| InputSeries {
        series: format!("{}{{slo=\"{name}\"}}", ratio_record(w)),
        values,
    };
    // The failure: every window's ratio over the whole horizon, each alert around
    // its first and last firing minute, and the budget left at the failure's end.
    let mut when = Vec::new();
    let mut cases = Vec::new();
    for a in &BURN_ALERTS {
        let alert = alert_name(spec, slo, a);
        let fire: Vec<i64> = (0..=HORIZON / STEP)
            .map(|k| k * STEP)
            .filter(|t| s.firing(slo, a, *t))
            .collect();
        let mut expect =
            |t: i64, firing: bool| cases.push(alert_case(spec, slo, meta, a, t, firing));
        match (fire.first(), fire.last()) {
            (Some(&first), Some(&last)) => {
                when.push(format!(
                    "{alert} fires from minute {first} to minute {last}."
                ));
                expect(first - STEP, false);
                expect(first, true);
                expect(last, true);
                if last + STEP <= HORIZON {
                    expect(last + STEP, false);
                }
            }
            _ => {
                when.push(format!(
                    "{alert} never fires: even all events failing burn less than {}x.",
                    a.factor
                ));
                expect(START + LENGTH, false);
            }
        }
    }
    let t = START + LENGTH;
    let left = 1.0 - s.ratio(minutes(&slo.period.value), t) / budget(slo);
    let budget_left = format!("slo:error_budget_remaining:ratio{{slo=\"{name}\"}}");
    let mut tests = vec![TestGroup {
        interval: format!("{STEP}m"),
        input_series: windows
            .iter()
            .map(|w| {
                let values: Vec<String> = (0..=HORIZON / STEP)
                    .map(|k| num(s.ratio(minutes(w), k * STEP)))
                    .collect();
                series(w, values.join(" "))
            })
            .collect(),
        promql_expr_test: vec![PromqlExprTest {
            expr: budget_left.clone(),
            eval_time: format!("{t}m"),
            exp_samples: vec![Sample {
                labels: budget_left,
                value: Number(left),
            }],
        }],
        alert_rule_test: cases,
    }];
    let mut comments = vec![when.join("\n")];
    // Each threshold exactly: every window at 1% above it fires the alert at once, 1%
    // below it does not (a factor or budget off by more than 1% fails one of them).
    for a in &BURN_ALERTS {
        let alert = alert_name(spec, slo, a);
        let th = threshold(slo, a);
        for (above, v) in [(true, th * 1.01), (false, th * 0.99)] {
            comments.push(format!(
                "{alert}: every window at {} its threshold {}.",
                if above { "1% above" } else { "1% below" },
                num(th)
            ));
            tests.push(TestGroup {
                interval: "1m".into(),
                input_series: windows
                    .iter()
                    .map(|w| series(w, format!("{}x10", num(v))))
                    .collect(),
                promql_expr_test: Vec::new(),
                alert_rule_test: vec![alert_case(spec, slo, meta, a, 5, above)],
            });
        }
    }
    let file = TestFile {
        rule_files: vec!["../slo_rules.yml".into()],
        evaluation_interval: "1m".into(),
        tests,
    };
    test_document(&head, &file, &comments)
}

/// One `alert_rule_test` case: alert `a` of `slo` at minute `t`, firing (with its
/// labels and annotations) or not.
fn alert_case(
    spec: &Spec,
    slo: &Slo,
    meta: &MetaMap,
    a: &BurnAlert,
    t: i64,
    firing: bool,
) -> AlertRuleTest {
    let alert = alert_name(spec, slo, a);
    let m = meta.get(&alert).cloned().unwrap_or_default();
    AlertRuleTest {
        eval_time: format!("{t}m"),
        exp_alerts: if firing {
            vec![ExpAlert {
                exp_labels: alert_labels(slo, a, &m),
                exp_annotations: alert_annotations(spec, slo, a, &m),
            }]
        } else {
            Vec::new()
        },
        alertname: alert,
    }
}

/// The SLO dashboard: per SLO, the budget left, the burn rate of each alert window
/// against its threshold, and the SLI (good ratio) over time.
pub fn dashboard(spec: &Spec, hash: &str, version: &str) -> Value {
    let ns = &spec.namespace.value;
    let mut panels = Vec::new();
    let mut y = 0;
    for (i, slo) in spec.slos.iter().enumerate() {
        let name = &slo.name.value;
        let id = |k: usize| panel_id(i, k);
        let b = num(budget(slo));
        let target = |expr: String, legend: &str| {
            json!({
                "refId": "A", "expr": expr, "legendFormat": legend,
                "datasource": {"type": "prometheus", "uid": "${datasource}"}
            })
        };
        let about = format!(
            "{} Objective {}% good over {}; error budget {}.",
            slo.description.clone().unwrap_or_default(),
            slo.objective.value,
            slo.period.value,
            b
        );
        panels.push(json!({
            "type": "stat", "id": id(1), "title": format!("{name}: error budget left"),
            "description": format!("Share of the error budget of the period not spent yet (1 - error ratio over {} / budget). {about}", slo.period.value),
            "datasource": {"type": "prometheus", "uid": "${datasource}"},
            "gridPos": {"h": 8, "w": 6, "x": 0, "y": y},
            "fieldConfig": {"defaults": {"unit": "percentunit", "min": 0, "max": 1,
                "thresholds": {"mode": "absolute", "steps": [
                    {"color": "red", "value": null}, {"color": "orange", "value": 0.25}, {"color": "green", "value": 0.5}]}},
                "overrides": []},
            "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": false}},
            "targets": [target(format!("slo:error_budget_remaining:ratio{{slo=\"{name}\"}}"), "budget left")]
        }));
        let burn_targets: Vec<Value> = WINDOWS
            .iter()
            .enumerate()
            .map(|(k, w)| {
                let mut t = target(
                    format!("{}{{slo=\"{name}\"}} / {b}", ratio_record(w)),
                    &format!("burn rate {w}"),
                );
                t["refId"] = json!(((b'A' + k as u8) as char).to_string());
                t
            })
            .collect();
        panels.push(json!({
            "type": "timeseries", "id": id(2), "title": format!("{name}: burn rate (1 = the budget lasts the period)"),
            "description": format!("Error ratio over each window divided by the error budget: the page alerts fire above 14.4 (1h and 5m) and 6 (6h and 30m), the tickets above 3 (1d and 2h) and 1 (3d and 6h). {about}"),
            "datasource": {"type": "prometheus", "uid": "${datasource}"},
            "gridPos": {"h": 8, "w": 10, "x": 6, "y": y},
            "fieldConfig": {"defaults": {"unit": "none", "custom": {"thresholdsStyle": {"mode": "line"}},
                "thresholds": {"mode": "absolute", "steps": [
                    {"color": "green", "value": null}, {"color": "orange", "value": 3}, {"color": "red", "value": 14.4}]}},
                "overrides": []},
            "targets": burn_targets
        }));
        let mut sli = vec![target(
            format!("1 - {}{{slo=\"{name}\"}}", ratio_record("5m")),
            "SLI 5m",
        )];
        let mut over_period = target(
            format!("1 - {}{{slo=\"{name}\"}}", ratio_record(&slo.period.value)),
            &format!("SLI {}", slo.period.value),
        );
        over_period["refId"] = json!("B");
        sli.push(over_period);
        let mut objective = target(
            format!("slo:objective:ratio{{slo=\"{name}\"}}"),
            "objective",
        );
        objective["refId"] = json!("C");
        sli.push(objective);
        panels.push(json!({
            "type": "timeseries", "id": id(3), "title": format!("{name}: SLI (good events) against the objective"),
            "description": format!("Share of good events over 5m and over the period, against the objective. {about}"),
            "datasource": {"type": "prometheus", "uid": "${datasource}"},
            "gridPos": {"h": 8, "w": 8, "x": 16, "y": y},
            "fieldConfig": {"defaults": {"unit": "percentunit", "max": 1}, "overrides": []},
            "targets": sli
        }));
        y += 8;
    }
    json!({
        "uid": format!("{ns}-slos"),
        "title": format!("{} SLOs", ns.to_uppercase()),
        "description": format!("Error budgets and burn rates of the spec's SLOs. Generated by {version} (spec hash {hash}); do not edit."),
        "tags": [ns, "slo", "generated"],
        "schemaVersion": spec.grafana.schema_version.value,
        "version": 1,
        "editable": false,
        "refresh": spec.grafana.refresh.value,
        "time": {"from": "now-7d", "to": "now"},
        "timezone": "browser",
        "templating": {"list": [{"type": "datasource", "name": "datasource", "label": "Data source", "query": "prometheus", "current": {}, "hide": 0, "refresh": 1, "regex": "", "options": []}]},
        "annotations": {"list": []},
        "panels": panels
    })
}

/// The SLO artifacts: (path, content), none without SLOs.
pub fn artifacts(spec: &Spec, meta: &MetaMap, hash: &str, version: &str) -> Vec<(String, String)> {
    if spec.slos.is_empty() {
        return Vec::new();
    }
    let mut out = vec![(
        RULES_PATH.to_string(),
        render_rules(spec, meta, hash, version),
    )];
    for slo in &spec.slos {
        out.push((
            format!("{TESTS_DIR}/{}.yml", slo.name.value),
            render_test(spec, slo, meta, hash, version),
        ));
    }
    out.push((
        format!("{DASHBOARD_DIR}/slos.json"),
        to_json_text(&dashboard(spec, hash, version)),
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_ratio_is_the_mean_of_the_failure_over_it() {
        let s = Scenario { e: 0.1 };
        assert_eq!(s.ratio(60, START), 0.0);
        assert_eq!(s.ratio(60, START + 30), 0.05);
        assert_eq!(s.ratio(60, START + 60), 0.1);
        assert_eq!(s.ratio(60, START + LENGTH + 30), 0.05);
        assert_eq!(s.ratio(60, START + LENGTH + 60), 0.0);
        // A window longer than the failure never sees all of it at once.
        assert_eq!(s.ratio(4320, START + LENGTH), 0.1 * 360.0 / 4320.0);
    }

    #[test]
    fn the_burn_rate_alerts_are_the_sre_workbooks() {
        let pairs: Vec<(&str, &str, f64, &str)> = BURN_ALERTS
            .iter()
            .map(|a| (a.long, a.short, a.factor, a.severity))
            .collect();
        assert_eq!(
            pairs,
            vec![
                ("1h", "5m", 14.4, "critical"),
                ("6h", "30m", 6.0, "critical"),
                ("1d", "2h", 3.0, "warning"),
                ("3d", "6h", 1.0, "warning"),
            ]
        );
    }

    #[test]
    fn names_are_camel_case() {
        assert_eq!(
            g6_spec::naming::upper_camel("provider_availability"),
            "ProviderAvailability"
        );
        assert_eq!(g6_spec::naming::upper_camel("g6"), "G6");
    }
}
