//! Grafana dashboards (classic JSON model) from the spec's dashboard plans.
//!
//! Each plan shows its families: the spec's own panels first, then panels synthesised for
//! metrics the spec gives none (counters: total rate and splits by their first two labels;
//! histograms: p50/p95/p99 and the 5m/30m p95 ratio from recording rules, plus a heatmap;
//! gauges of one label: top 5; of several: every series; other gauges: the value), the cross-metric efficiency panels
//! whose metrics the spec has, and an alerts overview that queries `ALERTS`.

pub use crate::plan::{PanelPlan, Shape, Target};
use crate::rules::{self, RuleSet};
use g6_spec::grafana::PANEL_CAP;
use g6_spec::model::{DashboardPlan, Metric, MetricKind, Spec, VariableMode, LAYOUT_LABEL};
use g6_spec::naming::dashboard_uid;
use g6_spec::promql::top_level_grouping;
use g6_spec::quote::to_json_text;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashSet};
use std::fmt::Write;

/// The datasource reference every panel and target uses.
pub const DATASOURCE_UID: &str = "${datasource}";
/// Colour steps of a spec `state-timeline` panel: green below 1, then yellow, orange
/// and red from 1, 2 and 3 (a level from normal to critical).
pub const LEVEL_THRESHOLDS: &[(f64, &str)] = &[(1.0, "yellow"), (2.0, "orange"), (3.0, "red")];
/// Title of the `rule_usage: true` panel.
pub const RULE_USAGE_TITLE: &str = "Recording rule usage";
/// Default step of an annotation query.
pub const ANNOTATION_STEP: &str = "60s";
/// Default colour of annotation markers.
pub const ANNOTATION_COLOR: &str = "orange";

/// A dashboard template variable for a selector label.
#[derive(Debug, Clone, PartialEq)]
pub struct Variable {
    /// Label name, also the variable name.
    pub label: String,
    /// Single value or multi/All.
    pub mode: VariableMode,
    /// Every series of the dashboard carrying the label, for `label_values`: whichever
    /// of them is fed offers its values.
    pub series: Vec<String>,
    /// The labels all of those series carry.
    pub series_labels: Vec<String>,
}

/// The matcher of a variable: `l="$l"` for a single value (Grafana does not escape
/// it for a regex), `l=~"$l"` for several (Grafana joins them into a regex).
fn matcher(v: &Variable) -> String {
    match v.mode {
        VariableMode::Single => format!("{l}=\"${l}\"", l = v.label),
        VariableMode::Multi => format!("{l}=~\"${l}\"", l = v.label),
    }
}

/// `name{l="$l", ...}` for the variables among `labels`.
pub fn selector(name: &str, labels: &[String], vars: &[Variable]) -> String {
    let matchers: Vec<String> = vars
        .iter()
        .filter(|v| labels.contains(&v.label))
        .map(matcher)
        .collect();
    if matchers.is_empty() {
        name.to_string()
    } else {
        format!("{name}{{{}}}", matchers.join(", "))
    }
}

/// The template variables of a dashboard showing `families`: one per selector label
/// its metrics carry, in the order the labels first appear on those metrics.
pub fn variables(spec: &Spec, families: &[String]) -> Vec<Variable> {
    let mut out: Vec<Variable> = Vec::new();
    let metrics = families
        .iter()
        .filter_map(|f| spec.families.iter().find(|x| &x.name.value == f))
        .flat_map(|f| f.metrics.iter());
    for m in metrics {
        for l in &m.labels {
            let Some(mode) = spec.variable_mode(l) else {
                continue;
            };
            let labels: Vec<String> = m.labels.iter().map(|l| l.value.clone()).collect();
            let series = m.series_names().pop().unwrap_or_default();
            match out.iter_mut().find(|v| v.label == l.value) {
                Some(v) => {
                    v.series.push(series);
                    v.series_labels.retain(|x| labels.contains(x));
                }
                None => out.push(Variable {
                    label: l.value.clone(),
                    mode,
                    series: vec![series],
                    series_labels: labels,
                }),
            }
        }
    }
    out
}

/// A generated dashboard.
#[derive(Debug, Clone, PartialEq)]
pub struct Dashboard {
    /// Plan slug (file name without `.json`).
    pub slug: String,
    /// Grafana uid.
    pub uid: String,
    /// Title.
    pub title: String,
    /// Families shown.
    pub families: Vec<String>,
    /// Panels in layout order.
    pub panels: Vec<PanelPlan>,
    /// Stable 16-hex identity of each panel, in the same order.
    pub uuids: Vec<String>,
    /// The dashboard JSON.
    pub json: Value,
}

/// A readable title from a metric name: `option_chain_snapshots_total` -> "Option chain snapshots".
fn short(spec: &Spec, m: &Metric) -> String {
    let name = m.short_name(spec);
    let words = name
        .strip_suffix("_total")
        .unwrap_or(name)
        .replace('_', " ");
    let mut chars = words.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => words,
    }
}

fn gauge_unit(m: &Metric) -> &'static str {
    match m.unit.as_ref().map(|u| u.value.as_str()) {
        Some("seconds") => "s",
        Some("bytes") => "bytes",
        Some("ratio") => "percentunit",
        _ => "short",
    }
}

fn rate_unit(m: &Metric) -> &'static str {
    match m.unit.as_ref().map(|u| u.value.as_str()) {
        Some("bytes") => "Bps",
        Some("seconds") => "short",
        _ => "ops",
    }
}

fn legend_of(labels: &[String]) -> String {
    labels
        .iter()
        .map(|l| format!("{{{{{l}}}}}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn spec_panel_type(kind: Option<&str>, explicit: Option<&str>) -> String {
    if let Some(t) = explicit {
        return t.to_string();
    }
    match kind {
        Some("heatmap") => "heatmap",
        Some("stat") => "stat",
        Some("table") => "table",
        _ => "timeseries",
    }
    .to_string()
}

/// The values of closed label `l`, in declared order.
fn closed(spec: &Spec, l: &str) -> (String, Vec<String>) {
    let values = spec
        .closed_values(l)
        .map(|v| v.iter().map(|x| x.value.clone()).collect())
        .unwrap_or_default();
    (l.to_string(), values)
}

fn spec_panel(spec: &Spec, family: &str, m: &Metric, p: &g6_spec::model::Panel) -> PanelPlan {
    let kind = p.kind.as_ref().map(|k| k.value.as_str());
    let unit = p.unit.as_ref().map_or_else(
        || match m.kind.value {
            MetricKind::Counter => rate_unit(m),
            _ => gauge_unit(m),
        },
        |u| u.value.as_str(),
    );
    let grouping = top_level_grouping(&p.promql.value);
    let shape = match (kind, grouping.as_slice()) {
        (Some("grid"), [rows, columns]) => Shape::Grid {
            rows: closed(spec, rows),
            columns: closed(spec, columns),
        },
        (Some("profile"), [x, series]) => Shape::Profile {
            x: closed(spec, x),
            series: closed(spec, series),
        },
        _ if p.panel_type.as_ref().map(|t| t.value.as_str()) == Some("state-timeline") => {
            Shape::Levels
        }
        _ => Shape::Plain,
    };
    let panel_type = match shape {
        Shape::Grid { .. } => "table".to_string(),
        Shape::Profile { .. } => "trend".to_string(),
        _ => spec_panel_type(kind, p.panel_type.as_ref().map(|t| t.value.as_str())),
    };
    let legend = if grouping.is_empty() {
        p.title.value.clone()
    } else {
        legend_of(&grouping)
    };
    PanelPlan {
        title: p.title.value.clone(),
        description: m.help.value.trim().to_string(),
        panel_type,
        targets: vec![Target {
            expr: p.promql.value.clone(),
            legend,
        }],
        unit: unit.to_string(),
        metric: m.name.value.clone(),
        family: family.to_string(),
        kind: kind.unwrap_or("value").to_string(),
        source: "spec".into(),
        split_label: None,
        shape,
        renamed_from: p.renamed_from.as_ref().map(|r| r.value.clone()),
    }
}

fn metric_panels(spec: &Spec, family: &str, m: &Metric, vars: &[Variable]) -> Vec<PanelPlan> {
    if !m.panels.is_empty() {
        return m
            .panels
            .iter()
            .map(|p| spec_panel(spec, family, m, p))
            .collect();
    }
    let name = &m.name.value;
    let help = m.help.value.trim().to_string();
    let plan = |title: String,
                panel_type: &str,
                targets: Vec<Target>,
                unit: &str,
                kind: &str,
                source: &str| PanelPlan {
        title,
        description: help.clone(),
        panel_type: panel_type.to_string(),
        targets,
        unit: unit.to_string(),
        metric: name.clone(),
        family: family.to_string(),
        kind: kind.to_string(),
        source: source.to_string(),
        split_label: None,
        shape: Shape::Plain,
        renamed_from: None,
    };
    let label_names: Vec<String> = m.labels.iter().map(|l| l.value.clone()).collect();
    let sel = |series: &str| selector(series, &label_names, vars);
    let title = short(spec, m);
    let mut out = Vec::new();
    match m.kind.value {
        MetricKind::Counter => {
            out.push(plan(
                format!("{title}: per second"),
                "timeseries",
                vec![Target {
                    expr: format!("sum(rate({}[$__rate_interval]))", sel(name)),
                    legend: "total".into(),
                }],
                rate_unit(m),
                "rate",
                "auto_rate",
            ));
            for l in label_names.iter().take(2) {
                let mut p = plan(
                    format!("{title}: per second by {l}"),
                    "timeseries",
                    vec![Target {
                        expr: format!("sum by ({l}) (rate({}[$__rate_interval]))", sel(name)),
                        legend: format!("{{{{{l}}}}}"),
                    }],
                    rate_unit(m),
                    "split",
                    "auto_label_split",
                );
                p.split_label = Some(l.clone());
                out.push(p);
            }
        }
        MetricKind::Histogram => {
            let unit = gauge_unit(m);
            let mut prefix = legend_of(&label_names);
            if m.has_layout_label() {
                // Two bucket layouts can coexist: their quantiles are separate lines.
                prefix = format!("{prefix} layout {{{{{LAYOUT_LABEL}}}}}")
                    .trim_start()
                    .to_string();
            }
            let legend = |q: &str| {
                if prefix.is_empty() {
                    q.to_string()
                } else {
                    format!("{q} {prefix}")
                }
            };
            out.push(plan(
                format!("{title}: p50 / p95 / p99"),
                "timeseries",
                [50, 95, 99]
                    .iter()
                    .map(|q| Target {
                        expr: sel(&rules::quantile_rule(m, *q, "5m")),
                        legend: legend(&format!("p{q}")),
                    })
                    .collect(),
                unit,
                "quantile",
                "auto_hist_quantile",
            ));
            out.push(plan(
                format!("{title}: p95 5m / 30m"),
                "timeseries",
                vec![Target {
                    expr: sel(&rules::ratio_rule(m)),
                    legend: legend("ratio"),
                }],
                "short",
                "ratio",
                "auto_latency_ratio",
            ));
            // The cells are observations per second; the bucket unit belongs to the y
            // axis only (Grafana's heatmap applies the field unit to the cells too).
            // With two layouts possible, the heatmap shows the current one: bounds of
            // two layouts in one set of cells mean neither.
            let bucket_series = if m.has_layout_label() {
                let mut s = sel(&format!("{name}_bucket"));
                let current = format!("{LAYOUT_LABEL}=\"{}\"", m.buckets_version());
                match s.strip_suffix('}') {
                    Some(open) => s = format!("{open}, {current}}}"),
                    None => s = format!("{s}{{{current}}}"),
                }
                s
            } else {
                sel(&format!("{name}_bucket"))
            };
            let mut heat = plan(
                format!("{title}: distribution"),
                "heatmap",
                vec![Target {
                    expr: format!("sum by (le) (rate({bucket_series}[$__rate_interval]))"),
                    legend: "{{le}}".into(),
                }],
                "short",
                "heatmap",
                "auto_heatmap",
            );
            heat.split_label = Some("le".into());
            heat.shape = Shape::Heatmap {
                y_unit: unit.to_string(),
            };
            out.push(heat);
        }
        MetricKind::Gauge if m.is_info() => {
            let by = label_names.join(", ");
            out.push(plan(
                format!("{title}: values in use"),
                "table",
                vec![Target {
                    expr: format!("count by ({by}) ({})", sel(name)),
                    legend: legend_of(&label_names),
                }],
                "short",
                "table",
                "auto_info_table",
            ));
            out.push(plan(
                format!("{title}: distinct values across instances"),
                "stat",
                vec![Target {
                    expr: format!("count(count by ({by}) ({}))", sel(name)),
                    legend: "distinct".into(),
                }],
                "short",
                "value",
                "auto_info_distinct",
            ));
        }
        MetricKind::Gauge if m.state => {
            let expr = if label_names.is_empty() {
                format!("max({})", sel(name))
            } else {
                format!("max by ({}) ({})", label_names.join(", "), sel(name))
            };
            let mut p = plan(
                title,
                "state-timeline",
                vec![Target {
                    expr,
                    legend: if label_names.is_empty() {
                        m.short_name(spec).to_string()
                    } else {
                        legend_of(&label_names)
                    },
                }],
                "short",
                "state",
                "auto_state",
            );
            p.shape = Shape::State;
            out.push(p);
        }
        MetricKind::Gauge if name.ends_with("_timestamp_seconds") => {
            // Grafana's date-time units read epoch milliseconds.
            let (expr, legend) = if label_names.is_empty() {
                (format!("max({}) * 1000", sel(name)), "last".to_string())
            } else {
                (
                    format!("max by ({}) ({}) * 1000", label_names.join(", "), sel(name)),
                    legend_of(&label_names),
                )
            };
            out.push(plan(
                title
                    .strip_suffix(" timestamp seconds")
                    .unwrap_or(&title)
                    .to_string(),
                "stat",
                vec![Target { expr, legend }],
                "dateTimeFromNow",
                "value",
                "auto_timestamp",
            ));
        }
        // One label: every series is the same quantity for another member (a bus, a
        // table, a metric), so the top 5 compare like with like.
        MetricKind::Gauge if label_names.len() == 1 => out.push(plan(
            format!("{title}: top 5"),
            "timeseries",
            vec![Target {
                expr: format!("topk(5, {})", sel(name)),
                legend: legend_of(&label_names),
            }],
            gauge_unit(m),
            "topk",
            "auto_topk",
        )),
        // Several labels: a ranking would put series of different kinds side by side
        // (two indices' strikes, open-interest and volume ratios); every series is
        // shown, filtered by the dashboard's variables.
        MetricKind::Gauge if !label_names.is_empty() => out.push(plan(
            title,
            "timeseries",
            vec![Target {
                expr: sel(name),
                legend: legend_of(&label_names),
            }],
            gauge_unit(m),
            "value",
            "auto_series",
        )),
        MetricKind::Gauge => out.push(plan(
            title,
            "stat",
            vec![Target {
                expr: sel(name),
                legend: m.short_name(spec).to_string(),
            }],
            gauge_unit(m),
            "value",
            "auto_value",
        )),
    }
    out
}

/// A panel combining two or more metrics, added where the spec has all of them.
struct CrossMetric {
    title: &'static str,
    description: &'static str,
    panel_type: &'static str,
    unit: &'static str,
    /// Metrics without the namespace prefix; the first decides the family.
    metrics: &'static [&'static str],
    /// The expression; `{s:NAME}` is series `<ns>_NAME` with the dashboard's selector
    /// filters.
    template: &'static str,
    legend: &'static str,
    /// Metrics (without prefix) whose own synthesised panels this one replaces.
    replaces: &'static [&'static str],
    shape: fn() -> Shape,
}

fn plain() -> Shape {
    Shape::Plain
}

/// Thresholds of the cardinality utilisation panel: the `CardinalityNearBudget` alert
/// level (0.9) and the budget itself (1, where emissions overflow).
fn utilisation_thresholds() -> Shape {
    Shape::Thresholds(vec![(0.9, "orange"), (1.0, "red")])
}

const CROSS_METRIC: &[CrossMetric] = &[
    CrossMetric {
        title: "Cardinality budget utilisation",
        description: "Label sets in use over the budget, per metric, highest first; orange at the near-budget alert level (90%), red at the budget, where emissions overflow.",
        panel_type: "bargauge",
        unit: "percentunit",
        metrics: &["cardinality_series", "cardinality_budget"],
        template: "sort_desc(max by (metric) ({s:cardinality_series} / clamp_min({s:cardinality_budget}, 1)))",
        legend: "{{metric}}",
        replaces: &["cardinality_budget"],
        shape: utilisation_thresholds,
    },
    CrossMetric {
        title: "Panel bytes per write",
        description: "",
        panel_type: "timeseries",
        unit: "bytes",
        metrics: &["panel_write_bytes_total", "panel_writes_total"],
        template: "sum(rate({s:panel_write_bytes_total}[$__rate_interval])) / clamp_min(sum(rate({s:panel_writes_total}[$__rate_interval])), 1e-9)",
        legend: "bytes per write",
        replaces: &[],
        shape: plain,
    },
    CrossMetric {
        title: "Column store bytes per row",
        description: "",
        panel_type: "timeseries",
        unit: "bytes",
        metrics: &["cs_ingest_bytes_total", "cs_ingest_rows_total"],
        template: "sum(rate({s:cs_ingest_bytes_total}[$__rate_interval])) / clamp_min(sum(rate({s:cs_ingest_rows_total}[$__rate_interval])), 1e-9)",
        legend: "bytes per row",
        replaces: &[],
        shape: plain,
    },
    CrossMetric {
        title: "Column store backlog drain ETA",
        description: "",
        panel_type: "timeseries",
        unit: "s",
        metrics: &["cs_ingest_backlog_rows", "cs_ingest_rows_total"],
        template: "sum({s:cs_ingest_backlog_rows}) / clamp_min(sum(rate({s:cs_ingest_rows_total}[$__rate_interval])), 1e-9)",
        legend: "drain ETA",
        replaces: &[],
        shape: plain,
    },
    CrossMetric {
        title: "Column store ingest success ratio",
        description: "",
        panel_type: "timeseries",
        unit: "percentunit",
        metrics: &["cs_ingest_failures_total", "cs_ingest_latency_seconds"],
        template: "1 - sum(rate({s:cs_ingest_failures_total}[$__rate_interval])) / clamp_min(sum(rate({s:cs_ingest_latency_seconds_count}[$__rate_interval])) + sum(rate({s:cs_ingest_failures_total}[$__rate_interval])), 1e-9)",
        legend: "success ratio",
        replaces: &[],
        shape: plain,
    },
];

/// The labels series `series` carries (histogram parts: their metric's labels).
fn series_labels(spec: &Spec, series: &str) -> Vec<String> {
    spec.metrics()
        .find(|(_, m)| m.series_names().iter().any(|n| n == series))
        .map(|(_, m)| m.labels.iter().map(|l| l.value.clone()).collect())
        .unwrap_or_default()
}

/// Expand `{s:NAME}` placeholders.
fn expand(spec: &Spec, template: &str, vars: &[Variable]) -> String {
    let ns = &spec.namespace.value;
    let mut out = String::new();
    let mut rest = template;
    while let Some(at) = rest.find("{s:") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 3..];
        let Some(close) = after.find('}') else {
            out.push_str(&rest[at..]);
            return out;
        };
        let series = format!("{ns}_{}", &after[..close]);
        out.push_str(&selector(&series, &series_labels(spec, &series), vars));
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

fn cross_metric_panels(
    spec: &Spec,
    families: &[String],
    existing: &[PanelPlan],
    vars: &[Variable],
) -> Vec<PanelPlan> {
    let ns = &spec.namespace.value;
    let mut out = Vec::new();
    for c in CROSS_METRIC {
        let full: Vec<String> = c.metrics.iter().map(|m| format!("{ns}_{m}")).collect();
        let found: Vec<_> = full
            .iter()
            .filter_map(|n| spec.metrics().find(|(_, m)| &m.name.value == n))
            .collect();
        if found.len() != full.len() || !families.contains(&found[0].0.name.value) {
            continue;
        }
        // A spec panel that already combines the same metrics covers it.
        let covered = existing.iter().any(|p| {
            p.targets
                .iter()
                .any(|t| full.iter().all(|n| t.expr.contains(n.as_str())))
        });
        if covered {
            continue;
        }
        let (fam, first) = found[0];
        out.push(PanelPlan {
            title: c.title.to_string(),
            description: if c.description.is_empty() {
                format!("Combines {}.", full.join(" and "))
            } else {
                c.description.to_string()
            },
            panel_type: c.panel_type.into(),
            targets: vec![Target {
                expr: expand(spec, c.template, vars),
                legend: c.legend.into(),
            }],
            unit: c.unit.to_string(),
            metric: first.name.value.clone(),
            family: fam.name.value.clone(),
            kind: "ratio".into(),
            source: "cross_metric".into(),
            split_label: None,
            shape: (c.shape)(),
            renamed_from: None,
        });
    }
    out
}

/// Metrics whose synthesised panels a cross-metric panel of this dashboard replaces.
fn replaced(spec: &Spec, cross: &[PanelPlan]) -> Vec<String> {
    let ns = &spec.namespace.value;
    CROSS_METRIC
        .iter()
        .filter(|c| cross.iter().any(|p| p.title == c.title))
        .flat_map(|c| c.replaces.iter().map(move |r| format!("{ns}_{r}")))
        .collect()
}

/// The alerts overview of a plan; the health dashboard's (`health`) also lists the
/// health score alerts.
fn alerts_panel(
    spec: &Spec,
    rules: &RuleSet,
    families: &[String],
    health: bool,
) -> Option<PanelPlan> {
    let in_plan: HashSet<&str> = spec
        .metrics()
        .filter(|(f, _)| families.contains(&f.name.value))
        .map(|(_, m)| m.name.value.as_str())
        .collect();
    let health_alerts = if health {
        vec![
            crate::health::warning_alert(spec),
            crate::health::critical_alert(spec),
        ]
    } else {
        Vec::new()
    };
    let names: BTreeSet<&str> = rules
        .all_alerts()
        .filter(|a| in_plan.contains(a.metric.as_str()))
        .map(|a| a.alert.as_str())
        .chain(health_alerts.iter().map(String::as_str))
        .collect();
    if names.is_empty() {
        return None;
    }
    let first_metric = rules
        .all_alerts()
        .find(|a| in_plan.contains(a.metric.as_str()))
        .map(|a| a.metric.clone())
        .unwrap_or_default();
    let alternatives = names.iter().copied().collect::<Vec<_>>().join("|");
    Some(PanelPlan {
        title: "Alerts: pending and firing".into(),
        description: format!(
            "Alerts from the spec and the suggestions that watch this dashboard's metrics: {}.",
            names.iter().copied().collect::<Vec<_>>().join(", ")
        ),
        panel_type: "table".into(),
        targets: vec![Target {
            expr: format!("ALERTS{{alertname=~\"{alternatives}\"}}"),
            legend: "{{alertname}} {{alertstate}}".into(),
        }],
        unit: "none".into(),
        metric: first_metric,
        family: families.first().cloned().unwrap_or_default(),
        kind: "table".into(),
        source: "alerts_aggregate".into(),
        split_label: None,
        shape: Shape::Plain,
        renamed_from: None,
    })
}

/// The panels of one plan, capped and ordered: alerts overview, then per metric in
/// spec order, then cross-metric panels. Over the cap, synthesised panels go first.
pub fn plan_panels(spec: &Spec, rules: &RuleSet, plan: &DashboardPlan) -> Vec<PanelPlan> {
    let families: Vec<String> = plan.families.iter().map(|f| f.value.clone()).collect();
    let vars = variables(spec, &families);
    let mut panels: Vec<PanelPlan> = Vec::new();
    let health = spec
        .health
        .as_ref()
        .filter(|h| h.dashboard.value == plan.slug.value);
    if let Some(h) = health {
        panels.extend(crate::health::panels(spec, h));
    }
    if let Some(p) = alerts_panel(spec, rules, &families, health.is_some()) {
        panels.push(p);
    }
    for fam in &families {
        if let Some(f) = spec.families.iter().find(|f| &f.name.value == fam) {
            for m in &f.metrics {
                panels.extend(metric_panels(spec, fam, m, &vars));
            }
        }
    }
    let cross = cross_metric_panels(spec, &families, &panels, &vars);
    let gone = replaced(spec, &cross);
    panels.retain(|p| !(p.source.starts_with("auto_") && gone.contains(&p.metric)));
    panels.extend(cross);
    let limit = plan
        .panel_limit
        .as_ref()
        .map_or(PANEL_CAP, |l| (l.value.max(1) as usize).min(PANEL_CAP));
    // The rule-usage table is added after the usage is known, within the cap.
    let limit = limit.saturating_sub(usize::from(plan.rule_usage)).max(1);
    if panels.len() > limit {
        // Keep spec panels first, then the alerts overview, then synthesised panels in order.
        let rank = |p: &PanelPlan| match p.source.as_str() {
            "spec" | "health" => 0,
            "alerts_aggregate" => 1,
            _ => 2,
        };
        let mut keep: Vec<usize> = (0..panels.len()).collect();
        keep.sort_by_key(|&i| (rank(&panels[i]), i));
        keep.truncate(limit);
        keep.sort_unstable();
        panels = keep.into_iter().map(|i| panels[i].clone()).collect();
    }
    for p in &mut panels {
        note_enabled_by(spec, p);
    }
    panels
}

/// A panel of a family that an environment variable switches on says so: without it
/// the panel is empty by design, not broken.
fn note_enabled_by(spec: &Spec, p: &mut PanelPlan) {
    let Some(var) = spec
        .families
        .iter()
        .find(|f| f.name.value == p.family)
        .and_then(|f| f.enabled_by.as_ref())
    else {
        return;
    };
    let note = format!(
        "Empty unless the exporter runs with {}=1 (family `{}` has `enabled_by: {}`).",
        var.value, p.family, var.value
    );
    let help = p.description.trim_end();
    p.description = if help.is_empty() {
        note
    } else if help.ends_with(['.', '!', '?']) {
        format!("{help} {note}")
    } else {
        format!("{help}. {note}")
    };
}

fn width_of(p: &PanelPlan) -> u32 {
    match (p.panel_type.as_str(), &p.shape) {
        (_, Shape::Grid { .. } | Shape::Thresholds(_)) => 12,
        (_, Shape::Markdown(_)) => 24,
        ("bargauge", Shape::Score { .. }) => 18,
        ("stat" | "gauge" | "bargauge", _) => 6,
        ("table", _) => 24,
        _ => 12,
    }
}

/// `expr` with label `l` rewritten to `"<n> <value>"` (n from 1, in declared order), so
/// sorting the text sorts the values in their natural order.
fn ordered(expr: &str, (label, values): &(String, Vec<String>), numeric: Option<&str>) -> String {
    let mut out = expr.to_string();
    // Zero-padded, so "02 x" sorts before "10 y".
    let width = values.len().to_string().len();
    for (i, v) in values.iter().enumerate() {
        let (target, replacement) = match numeric {
            Some(position) => (position.to_string(), format!("{}", i + 1)),
            None => (label.clone(), format!("{:0width$} {v}", i + 1)),
        };
        out = format!(
            "label_replace({out}, \"{target}\", \"{replacement}\", \"{label}\", \"{}\")",
            regex_escape(v)
        );
    }
    out
}

/// A closed label value as a regex: values are `[A-Za-z0-9_.-]`, and only `.` is
/// special (written `[.]`, which needs no backslash inside a PromQL string).
fn regex_escape(v: &str) -> String {
    v.replace('.', "[.]")
}

/// The expression a panel's target sends: grids and profiles order their buckets.
pub fn target_expr(p: &PanelPlan, t: &Target) -> String {
    match &p.shape {
        Shape::Grid { rows, .. } => ordered(&t.expr, rows, None),
        Shape::Profile { x, .. } => ordered(&t.expr, x, Some(&format!("{}_position", x.0))),
        _ => t.expr.clone(),
    }
}

/// The panel's semantic signature: type, title, sorted expressions, unit.
pub fn signature(p: &PanelPlan) -> String {
    let mut exprs: Vec<&str> = p.targets.iter().map(|t| t.expr.as_str()).collect();
    exprs.sort_unstable();
    format!(
        "{}\n{}\n{}\n{}",
        p.panel_type,
        p.title,
        exprs.join("\n"),
        p.unit
    )
}

/// The signature a panel's id and uuid derive from: [`signature`] with the title it
/// had before when it was renamed (`renamed_from`), so a rename keeps its identity.
pub fn identity_signature(p: &PanelPlan) -> String {
    match &p.renamed_from {
        Some(old) => {
            let mut before = p.clone();
            before.title = old.clone();
            signature(&before)
        }
        None => signature(p),
    }
}

fn datasource() -> Value {
    json!({"type": "prometheus", "uid": DATASOURCE_UID})
}

fn panel_json(p: &PanelPlan, id: u64, uuid: &str, x: u32, y: u32, w: u32, h: u32) -> Value {
    let ref_ids = ["A", "B", "C", "D", "E", "F", "G", "H"];
    let tabular = matches!(p.shape, Shape::Grid { .. } | Shape::Profile { .. });
    let targets: Vec<Value> = p
        .targets
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let mut obj = serde_json::Map::new();
            obj.insert(
                "refId".into(),
                json!(ref_ids.get(i).copied().unwrap_or("Z")),
            );
            obj.insert("datasource".into(), datasource());
            obj.insert("expr".into(), json!(target_expr(p, t)));
            obj.insert("legendFormat".into(), json!(t.legend));
            match p.panel_type.as_str() {
                _ if tabular => {
                    obj.insert("format".into(), json!("table"));
                    obj.insert("instant".into(), json!(true));
                    obj.insert("range".into(), json!(false));
                }
                "table" => {
                    obj.insert("format".into(), json!("table"));
                    obj.insert("instant".into(), json!(true));
                    obj.insert("range".into(), json!(false));
                }
                "heatmap" => {
                    obj.insert("format".into(), json!("heatmap"));
                    obj.insert("range".into(), json!(true));
                }
                "stat" | "gauge" | "bargauge" => {
                    obj.insert("instant".into(), json!(true));
                    obj.insert("range".into(), json!(false));
                }
                _ => {
                    obj.insert("range".into(), json!(true));
                }
            }
            Value::Object(obj)
        })
        .collect();
    let mut defaults = json!({"unit": p.unit});
    let mut overrides: Vec<Value> = Vec::new();
    let mut transformations: Vec<Value> = Vec::new();
    let options = match (&p.shape, p.panel_type.as_str()) {
        (Shape::Grid { rows, columns }, _) => {
            let corner = format!("{}\\{}", rows.0, columns.0);
            let mut index = serde_json::Map::new();
            index.insert(corner.clone(), json!(0));
            for (i, c) in columns.1.iter().enumerate() {
                index.insert(c.clone(), json!(i + 1));
            }
            transformations = vec![
                json!({"id": "groupingToMatrix", "options": {"rowField": rows.0, "columnField": columns.0, "valueField": "Value", "emptyValue": "null"}}),
                json!({"id": "sortBy", "options": {"fields": {}, "sort": [{"field": corner, "desc": false}]}}),
                json!({"id": "organize", "options": {"indexByName": index, "renameByName": {corner.clone(): format!("{} \\ {}", rows.0, columns.0)}}}),
            ];
            overrides.push(json!({
                "matcher": {"id": "byName", "options": format!("{} \\ {}", rows.0, columns.0)},
                "properties": [
                    {"id": "unit", "value": "string"},
                    // Show "deep_itm", not the ordering prefix "1 deep_itm".
                    {"id": "mappings", "value": [{"type": "regex", "options": {"pattern": "^\\d+ (.*)$", "result": {"text": "$1", "index": 0}}}]},
                ],
            }));
            json!({"showHeader": true, "cellHeight": "sm"})
        }
        (Shape::Profile { x, series }, _) => {
            let position = format!("{}_position\\{}", x.0, series.0);
            let mut series_order = serde_json::Map::new();
            series_order.insert(position.clone(), json!(0));
            for (i, v) in series.1.iter().enumerate() {
                series_order.insert(v.clone(), json!(i + 1));
            }
            let mut names = serde_json::Map::new();
            for (i, v) in x.1.iter().enumerate() {
                names.insert(format!("{}", i + 1), json!({"text": v, "index": i}));
            }
            transformations = vec![
                json!({"id": "groupingToMatrix", "options": {"rowField": format!("{}_position", x.0), "columnField": series.0, "valueField": "Value", "emptyValue": "null"}}),
                json!({"id": "convertFieldType", "options": {"fields": {}, "conversions": [{"targetField": position, "destinationType": "number"}]}}),
                json!({"id": "sortBy", "options": {"fields": {}, "sort": [{"field": position, "desc": false}]}}),
                json!({"id": "organize", "options": {"indexByName": series_order}}),
            ];
            overrides.push(json!({
                "matcher": {"id": "byName", "options": position},
                "properties": [
                    {"id": "mappings", "value": [{"type": "value", "options": names}]},
                    {"id": "displayName", "value": x.0},
                    {"id": "unit", "value": "none"},
                ],
            }));
            defaults["custom"] = json!({"drawStyle": "line", "showPoints": "always", "spanNulls": false, "lineWidth": 2});
            json!({
                "xField": position,
                "legend": {"displayMode": "list", "placement": "bottom", "showLegend": true},
                "tooltip": {"mode": "multi", "sort": "none"},
            })
        }
        (Shape::Heatmap { y_unit }, _) => json!({
            "calculate": false,
            "yAxis": {"unit": y_unit},
            "cellGap": 1,
            "color": {"mode": "scheme", "scheme": "Oranges"},
            "tooltip": {"mode": "single"},
        }),
        (Shape::State, _) => {
            defaults["mappings"] = json!([{"type": "value", "options": {
                "0": {"text": "inactive", "color": "transparent", "index": 0},
                "1": {"text": "active", "color": "green", "index": 1},
            }}]);
            defaults["color"] = json!({"mode": "thresholds"});
            json!({
                "showValue": "never",
                "mergeValues": true,
                "alignValue": "left",
                "rowHeight": 0.9,
                "legend": {"displayMode": "list", "placement": "bottom", "showLegend": false},
                "tooltip": {"mode": "single"},
            })
        }
        (Shape::Levels, _) => {
            let mut list = vec![json!({"color": "green", "value": null})];
            list.extend(
                LEVEL_THRESHOLDS
                    .iter()
                    .map(|(v, c)| json!({"color": c, "value": v})),
            );
            defaults["thresholds"] = json!({"mode": "absolute", "steps": list});
            defaults["color"] = json!({"mode": "thresholds"});
            defaults["decimals"] = json!(0);
            json!({
                "showValue": "always",
                "mergeValues": true,
                "alignValue": "center",
                "rowHeight": 0.9,
                "legend": {"displayMode": "list", "placement": "bottom", "showLegend": true},
                "tooltip": {"mode": "single"},
            })
        }
        (Shape::Markdown(content), _) => json!({
            "mode": "markdown",
            "content": content,
            "code": {"language": "markdown", "showLineNumbers": false, "showMiniMap": false},
        }),
        (Shape::Thresholds(steps), _) => {
            let mut list = vec![json!({"color": "green", "value": null})];
            list.extend(steps.iter().map(|(v, c)| json!({"color": c, "value": v})));
            defaults["thresholds"] = json!({"mode": "absolute", "steps": list});
            defaults["min"] = json!(0);
            defaults["max"] = json!(1);
            json!({
                "orientation": "horizontal",
                "displayMode": "basic",
                "showUnfilled": true,
                "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": false},
            })
        }
        (Shape::Score { critical, warning }, panel_type) => {
            defaults["thresholds"] = json!({"mode": "absolute", "steps": [
                {"color": "red", "value": null},
                {"color": "orange", "value": critical},
                {"color": "green", "value": warning},
            ]});
            defaults["min"] = json!(0);
            defaults["max"] = json!(1);
            defaults["color"] = json!({"mode": "thresholds"});
            if panel_type == "bargauge" {
                json!({
                    "orientation": "horizontal",
                    "displayMode": "basic",
                    "showUnfilled": true,
                    "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": false},
                })
            } else {
                json!({
                    "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": false},
                    "colorMode": "background",
                    "graphMode": "area",
                    "textMode": "value",
                })
            }
        }
        (_, "stat" | "gauge" | "bargauge") => json!({
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": false},
            "colorMode": "value",
            "graphMode": "area",
        }),
        (_, "table") => json!({"showHeader": true, "cellHeight": "sm"}),
        _ => json!({
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": true},
            "tooltip": {"mode": "multi", "sort": "desc"},
        }),
    };
    let mut meta = serde_json::Map::new();
    meta.insert("metric".into(), json!(p.metric));
    meta.insert("family".into(), json!(p.family));
    meta.insert("kind".into(), json!(p.kind));
    meta.insert("source".into(), json!(p.source));
    meta.insert("panel_uuid".into(), json!(uuid));
    if let Some(l) = &p.split_label {
        meta.insert("split_label".into(), json!(l));
    }
    if let Some(r) = &p.renamed_from {
        meta.insert("renamed_from".into(), json!(r));
    }
    let meta = Value::Object(meta);
    let mut panel = json!({
        "id": id,
        "type": p.panel_type,
        "title": p.title,
        "description": p.description,
        "gridPos": {"h": h, "w": w, "x": x, "y": y},
        "datasource": datasource(),
        "targets": targets,
        "fieldConfig": {"defaults": defaults, "overrides": overrides},
        "options": options,
        "g6_meta": meta,
    });
    if !transformations.is_empty() {
        panel["transformations"] = json!(transformations);
    }
    panel
}

/// The variable's query, filtered by the variables before it (chained: the sources
/// offered are those of the chosen index).
fn template_variable(v: &Variable, before: &[Variable]) -> Value {
    let filters: Vec<String> = before
        .iter()
        .filter(|b| v.series_labels.contains(&b.label))
        .map(matcher)
        .collect();
    let series = match v.series.as_slice() {
        [one] if filters.is_empty() => one.clone(),
        [one] => format!("{one}{{{}}}", filters.join(", ")),
        many => {
            let mut m = vec![format!("__name__=~\"{}\"", many.join("|"))];
            m.extend(filters);
            format!("{{{}}}", m.join(", "))
        }
    };
    let query = format!("label_values({series}, {})", v.label);
    let multi = v.mode == VariableMode::Multi;
    let mut var = json!({
        "type": "query",
        "name": v.label,
        "label": v.label,
        "datasource": datasource(),
        "definition": query,
        "query": {"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
        "refresh": 2,
        "sort": 1,
        "multi": multi,
        "includeAll": multi,
        "current": {},
        "hide": 0,
        "regex": "",
        "options": [],
    });
    if multi {
        // Grafana joins a multi-value selection into a regex; All matches every value.
        var["allValue"] = json!(".*");
        var["current"] = json!({"selected": true, "text": ["All"], "value": ["$__all"]});
    }
    var
}

/// The dashboard's annotation queries (`annotations:` of its plan), in spec order:
/// Prometheus annotations on the datasource variable, enabled; then the generated
/// bucket-layout annotation where the dashboard shows a histogram past its first
/// layout.
pub fn annotations(spec: &Spec, plan: &DashboardPlan) -> Vec<Value> {
    let catalog = g6_spec::promql::series_catalog(spec);
    plan.annotations
        .iter()
        .map(|a| {
            let labels: Vec<String> = catalog
                .result_labels(&a.expr.value)
                .map(|s| s.into_iter().collect())
                .unwrap_or_default();
            let text = if labels.is_empty() {
                a.title.value.clone()
            } else {
                labels
                    .iter()
                    .map(|l| format!("{l}={{{{{l}}}}}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            json!({
                "name": a.title.value,
                "datasource": datasource(),
                "enable": true,
                "hide": false,
                "iconColor": a.color.as_ref().map_or(ANNOTATION_COLOR, |c| c.value.as_str()),
                "expr": a.expr.value,
                "step": ANNOTATION_STEP,
                "titleFormat": a.title.value,
                "textFormat": text,
                "tagKeys": "",
                "useValueForTime": false,
            })
        })
        .chain(layout_annotation(spec, plan))
        .collect()
}

/// How long after a new bucket layout first reports its annotation stays: long enough
/// to be seen at the step of a day's view.
const LAYOUT_ANNOTATION_WINDOW: &str = "10m";

/// The expression that marks a bucket layout change of `metrics` (histograms whose
/// `buckets_version` is above 1): a layout's info series that did not exist
/// [`LAYOUT_ANNOTATION_WINDOW`] earlier, i.e. the processes that started writing it.
pub fn layout_change_expr(spec: &Spec, metrics: &[&str]) -> String {
    let prefix = if spec.namespace.value.is_empty() {
        String::new()
    } else {
        spec.prefix()
    };
    let info = format!("{prefix}bucket_layout_info");
    let sel = format!(
        "{info}{{metric=~\"{}\", {LAYOUT_LABEL}!=\"1\"}}",
        metrics.join("|")
    );
    format!(
        "max by (metric, {LAYOUT_LABEL}) ({sel}) unless max by (metric, {LAYOUT_LABEL}) ({sel} offset {LAYOUT_ANNOTATION_WINDOW})"
    )
}

/// The annotation that marks where a histogram of the dashboard changed its bucket
/// layout, when one of them can have two (`buckets_version` above 1).
fn layout_annotation(spec: &Spec, plan: &DashboardPlan) -> Option<Value> {
    let metrics: Vec<&str> = plan
        .families
        .iter()
        .filter_map(|f| spec.families.iter().find(|x| x.name.value == f.value))
        .flat_map(|f| f.metrics.iter())
        .filter(|m| m.has_layout_label())
        .map(|m| m.name.value.as_str())
        .collect();
    if metrics.is_empty() {
        return None;
    }
    Some(json!({
        "name": "Bucket layout change",
        "datasource": datasource(),
        "enable": true,
        "hide": false,
        "iconColor": "purple",
        "expr": layout_change_expr(spec, &metrics),
        "step": ANNOTATION_STEP,
        "titleFormat": "Bucket layout change",
        "textFormat": format!("{{{{metric}}}} now writes bucket layout {{{{{LAYOUT_LABEL}}}}}: quantiles before and after are computed per layout"),
        "tagKeys": "metric",
        "useValueForTime": false,
    }))
}

/// Recording-rule use of one generated dashboard.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RuleUsage {
    /// Dashboard slug.
    pub slug: String,
    /// Dashboard title.
    pub title: String,
    /// Panels with at least one query.
    pub query_panels: usize,
    /// Panels with a query that reads a recording rule.
    pub recording_panels: usize,
    /// Panels with a query that calls `histogram_quantile` itself.
    pub inline_quantile_panels: usize,
}

impl RuleUsage {
    /// The migration percentage, recording / (recording + inline), to one decimal;
    /// `n/a` when the dashboard has neither kind of panel.
    pub fn migrated(&self) -> String {
        let both = self.recording_panels + self.inline_quantile_panels;
        if both == 0 {
            "n/a".into()
        } else {
            format!("{:.1}%", 100.0 * self.recording_panels as f64 / both as f64)
        }
    }
}

/// Count, per dashboard, the panels whose queries read a recording rule (one of
/// `recorded`) and those that compute `histogram_quantile` inline, from the
/// dashboards' JSON. Rows sorted by slug.
pub fn rule_usage(dashboards: &[Dashboard], recorded: &BTreeSet<String>) -> Vec<RuleUsage> {
    let mut rows: Vec<RuleUsage> = dashboards
        .iter()
        .map(|d| {
            let mut row = RuleUsage {
                slug: d.slug.clone(),
                title: d.title.clone(),
                ..RuleUsage::default()
            };
            let panels = d.json.get("panels").and_then(Value::as_array);
            for p in panels.into_iter().flatten() {
                let exprs: Vec<&str> = p
                    .get("targets")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|t| t.get("expr").and_then(Value::as_str))
                    .collect();
                if exprs.is_empty() {
                    continue;
                }
                row.query_panels += 1;
                let reads: Vec<_> = exprs.iter().map(|e| crate::audit::query_reads(e)).collect();
                if reads
                    .iter()
                    .any(|(sel, _)| sel.iter().any(|s| recorded.contains(s)))
                {
                    row.recording_panels += 1;
                }
                if reads.iter().any(|(_, q)| *q) {
                    row.inline_quantile_panels += 1;
                }
            }
            row
        })
        .collect();
    rows.sort_by(|a, b| a.slug.cmp(&b.slug));
    rows
}

/// The "Recording rule usage" text panel: a markdown table of [`rule_usage`] rows and
/// their total.
pub fn rule_usage_panel(rows: &[RuleUsage]) -> PanelPlan {
    let md = |s: &str| s.replace('|', "\\|");
    let mut content = String::from(
        "Per generated dashboard: panels whose queries read a recording rule, panels that compute `histogram_quantile` inline, and the migration percentage, recording-rule panels / (recording-rule + inline-quantile panels); n/a where a dashboard has neither. Counted from the dashboards when they were generated.\n\n| Dashboard | Panels with queries | Recording-rule panels | Inline histogram_quantile panels | Migrated |\n|---|---:|---:|---:|---:|\n",
    );
    let mut total = RuleUsage {
        slug: String::new(),
        title: "All dashboards".into(),
        ..RuleUsage::default()
    };
    for r in rows {
        let _ = writeln!(
            content,
            "| {} (`{}`) | {} | {} | {} | {} |",
            md(&r.title),
            r.slug,
            r.query_panels,
            r.recording_panels,
            r.inline_quantile_panels,
            r.migrated()
        );
        total.query_panels += r.query_panels;
        total.recording_panels += r.recording_panels;
        total.inline_quantile_panels += r.inline_quantile_panels;
    }
    let _ = writeln!(
        content,
        "| **{}** | {} | {} | {} | {} |",
        total.title,
        total.query_panels,
        total.recording_panels,
        total.inline_quantile_panels,
        total.migrated()
    );
    PanelPlan {
        title: RULE_USAGE_TITLE.into(),
        description: "How far the generated dashboards read recording rules rather than computing histogram_quantile inline (the inline-quantile audit, exit 10, fails where a rule exists).".into(),
        panel_type: "text".into(),
        targets: Vec::new(),
        unit: "none".into(),
        metric: String::new(),
        family: String::new(),
        kind: "table".into(),
        source: "rule_usage".into(),
        split_label: None,
        shape: Shape::Markdown(content),
        renamed_from: None,
    }
}

/// Build one dashboard.
pub fn build(
    spec: &Spec,
    rules: &RuleSet,
    plan: &DashboardPlan,
    spec_hash: &str,
    version: &str,
) -> Dashboard {
    build_with(spec, rules, plan, spec_hash, version, None)
}

/// Build one dashboard, with `extra` (the rule-usage panel) after its own panels.
fn build_with(
    spec: &Spec,
    rules: &RuleSet,
    plan: &DashboardPlan,
    spec_hash: &str,
    version: &str,
    extra: Option<PanelPlan>,
) -> Dashboard {
    let slug = plan.slug.value.clone();
    let uid = dashboard_uid(&spec.namespace.value, &slug);
    let mut panels = plan_panels(spec, rules, plan);
    panels.extend(extra);
    let mut used_ids = HashSet::new();
    let mut uuids = Vec::new();
    let mut panel_values = Vec::new();
    // Rows of 8 grid units; a markdown panel (full width) as tall as its text.
    let (mut x, mut y, mut row_h) = (0u32, 0u32, 0u32);
    for p in &panels {
        let h = match &p.shape {
            Shape::Markdown(text) => (text.lines().count() as u32 + 3).clamp(8, 40),
            _ => 8,
        };
        let digest = g6_spec::canonical::sha256_hex(&format!("{slug}\n{}", identity_signature(p)));
        let uuid = digest[..16].to_string();
        let mut id = u64::from_str_radix(&digest[..7], 16).unwrap_or(1).max(1);
        while !used_ids.insert(id) {
            id += 1;
        }
        let w = width_of(p);
        if x + w > 24 {
            x = 0;
            y += row_h;
            row_h = 0;
        }
        panel_values.push(panel_json(p, id, &uuid, x, y, w, h));
        uuids.push(uuid);
        row_h = row_h.max(h);
        x += w;
        if x >= 24 {
            x = 0;
            y += row_h;
            row_h = 0;
        }
    }
    let families: Vec<String> = plan.families.iter().map(|f| f.value.clone()).collect();
    let mut tags = vec![spec.namespace.value.clone(), "generated".to_string()];
    for t in &plan.tags {
        if !tags.contains(t) {
            tags.push(t.clone());
        }
    }
    let description = plan.description.clone().unwrap_or_else(|| {
        format!(
            "Generated from {}: families {}.",
            spec.source_name(),
            families.join(", ")
        )
    });
    let mut templating = vec![json!({
        "type": "datasource",
        "name": "datasource",
        "label": "Data source",
        "query": "prometheus",
        "current": {},
        "hide": 0,
        "refresh": 1,
        "regex": "",
        "options": [],
    })];
    let vars = variables(spec, &families);
    templating.extend(
        vars.iter()
            .enumerate()
            .map(|(i, v)| template_variable(v, &vars[..i])),
    );
    let json = json!({
        "uid": uid,
        "title": plan.title,
        "description": description,
        "tags": tags,
        "timezone": "browser",
        "editable": false,
        "graphTooltip": 1,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": spec.grafana.refresh.value,
        "schemaVersion": spec.grafana.schema_version.value,
        "version": 1,
        "templating": {"list": templating},
        "annotations": {"list": annotations(spec, plan)},
        "links": [],
        "panels": panel_values,
        "g6_meta": {
            "spec_hash": spec_hash,
            "generator_version": version,
            "slug": slug,
            "families": families,
            "panel_count": panels.len(),
        },
    });
    Dashboard {
        slug,
        uid,
        title: plan.title.clone(),
        families,
        panels,
        uuids,
        json,
    }
}

/// Build every planned dashboard, in plan order. Plans with `rule_usage: true` get
/// the "Recording rule usage" table, counted over all the others as built.
pub fn build_all(spec: &Spec, rules: &RuleSet, spec_hash: &str, version: &str) -> Vec<Dashboard> {
    let mut all: Vec<Dashboard> = spec
        .dashboards
        .iter()
        .map(|p| build(spec, rules, p, spec_hash, version))
        .collect();
    if spec.dashboards.iter().any(|p| p.rule_usage) {
        let mut recorded: BTreeSet<String> =
            rules.all_recording().map(|r| r.record.clone()).collect();
        for slo in &spec.slos {
            recorded.extend(crate::slo::recorded(slo).into_iter().map(|(r, _)| r));
        }
        if let Some(h) = &spec.health {
            recorded.extend(
                crate::health::recorded(spec, h)
                    .into_iter()
                    .map(|(r, _, _)| r),
            );
        }
        // The table has no queries: adding it changes no row.
        let rows = rule_usage(&all, &recorded);
        for (d, plan) in all.iter_mut().zip(&spec.dashboards) {
            if plan.rule_usage {
                let panel = rule_usage_panel(&rows);
                *d = build_with(spec, rules, plan, spec_hash, version, Some(panel));
            }
        }
    }
    all
}

/// `manifest.json`: slug, uid, title, families, panel_count, spec_hash per dashboard.
pub fn manifest(dashboards: &[Dashboard], spec_hash: &str, version: &str) -> String {
    let list: Vec<Value> = dashboards
        .iter()
        .map(|d| {
            json!({
                "slug": d.slug,
                "uid": d.uid,
                "title": d.title,
                "file": format!("{}.json", d.slug),
                "families": d.families,
                "panel_count": d.panels.len(),
                "spec_hash": spec_hash,
            })
        })
        .collect();
    to_json_text(&json!({"generator_version": version, "spec_hash": spec_hash, "dashboards": list}))
}

/// The environment variable Grafana's provisioning reads a dashboard directory from:
/// `<NAMESPACE>_GRAFANA_<WHAT>` (`G6_GRAFANA_DASHBOARDS` for the `g6` namespace), so
/// two applications' providers can sit in one Grafana.
pub fn provisioning_env(spec: &Spec, what: &str) -> String {
    let ns = spec.namespace.value.to_ascii_uppercase();
    if ns.is_empty() {
        format!("GRAFANA_{what}")
    } else {
        format!("{ns}_GRAFANA_{what}")
    }
}

/// `grafana/provisioning/dashboards/g6.yml`.
pub fn provisioning_dashboards(spec: &Spec) -> String {
    let mut out = format!(
        "# Grafana dashboard provider for the generated dashboards. Set {env} to the\n# absolute path of generated/grafana/dashboards before starting Grafana.\napiVersion: 1\nproviders:\n  - name: {ns}\n    orgId: 1\n    folder: {folder}\n    type: file\n    disableDeletion: false\n    updateIntervalSeconds: 30\n    allowUiUpdates: false\n    options:\n      path: ${{{env}}}\n      foldersFromFilesStructure: false\n",
        ns = spec.namespace.value,
        folder = spec.namespace.value.to_uppercase(),
        env = provisioning_env(spec, "DASHBOARDS"),
    );
    if !spec.sql_dashboards.is_empty() {
        out.push_str(&format!(
            "  # The SQL dashboards over ClickHouse: set {env} to the absolute\n  # path of generated/{dir}.\n  - name: {ns}-sql\n    orgId: 1\n    folder: {folder}\n    type: file\n    disableDeletion: false\n    updateIntervalSeconds: 30\n    allowUiUpdates: false\n    options:\n      path: ${{{env}}}\n      foldersFromFilesStructure: false\n",
            dir = crate::sql_dashboards::SQL_DASHBOARD_DIR,
            ns = spec.namespace.value,
            folder = spec.namespace.value.to_uppercase(),
            env = provisioning_env(spec, "SQL_DASHBOARDS"),
        ));
    }
    if !spec.slos.is_empty() {
        out.push_str(&format!(
            "  # The SLO dashboard: set {env} to the absolute path of\n  # generated/{dir}.\n  - name: {ns}-slo\n    orgId: 1\n    folder: {folder}\n    type: file\n    disableDeletion: false\n    updateIntervalSeconds: 30\n    allowUiUpdates: false\n    options:\n      path: ${{{env}}}\n      foldersFromFilesStructure: false\n",
            dir = crate::slo::DASHBOARD_DIR,
            ns = spec.namespace.value,
            folder = spec.namespace.value.to_uppercase(),
            env = provisioning_env(spec, "SLO_DASHBOARDS"),
        ));
    }
    out
}

/// `grafana/provisioning/datasources/prometheus.yml`.
pub fn provisioning_datasource() -> String {
    "# The Prometheus datasource the generated dashboards select by default.\napiVersion: 1\ndatasources:\n  - name: Prometheus\n    type: prometheus\n    uid: prometheus\n    access: proxy\n    url: http://127.0.0.1:9090\n    isDefault: true\n    jsonData:\n      timeInterval: 15s\n".to_string()
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// `panels_inventory.csv`: slug,title,metric,source,panel_uuid.
pub fn inventory_csv(dashboards: &[Dashboard]) -> String {
    let mut out = String::from("slug,title,metric,source,panel_uuid\n");
    for d in dashboards {
        for (p, uuid) in d.panels.iter().zip(&d.uuids) {
            let _ = writeln!(
                out,
                "{},{},{},{},{}",
                csv_field(&d.slug),
                csv_field(&p.title),
                csv_field(&p.metric),
                csv_field(&p.source),
                uuid
            );
        }
    }
    out
}

/// The inventory as JSON lines (same fields as the CSV).
pub fn inventory_jsonl(dashboards: &[Dashboard]) -> String {
    let mut out = String::new();
    for d in dashboards {
        for (p, uuid) in d.panels.iter().zip(&d.uuids) {
            let line = json!({"slug": d.slug, "title": p.title, "metric": p.metric, "source": p.source, "panel_uuid": uuid});
            out.push_str(&line.to_string());
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provisioning_variables_are_named_after_the_spec_namespace() {
        let text = "version: 1\nnamespace: shop\ndashboards:\n  core: {title: Core, families: [core]}\n\
                    sql_dashboards:\n  history:\n    title: History\n    panels:\n\
                    \x20     - {title: Rows, panel_type: table, sql: 'SELECT 1'}\n\
                    families:\n  core:\n    metrics:\n      - {name: shop_calls_total, type: counter, help: Calls}\n";
        let loaded = crate::checks::load_str(text, "s.yml").unwrap_or_else(|d| panic!("{d}"));
        let yml = provisioning_dashboards(&loaded.spec);
        assert!(yml.contains("path: ${SHOP_GRAFANA_DASHBOARDS}\n"), "{yml}");
        assert!(
            yml.contains("path: ${SHOP_GRAFANA_SQL_DASHBOARDS}\n"),
            "{yml}"
        );
        assert!(!yml.contains("G6_"), "{yml}");
        assert_eq!(
            provisioning_env(&loaded.spec, "SLO_DASHBOARDS"),
            "SHOP_GRAFANA_SLO_DASHBOARDS"
        );
    }
}
