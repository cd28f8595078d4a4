//! Grafana dashboards (classic JSON model) from the spec's dashboard plans.
//!
//! Each plan shows its families: the spec's own panels first, then panels synthesised for
//! metrics the spec gives none (counters: total rate and splits by their first two labels;
//! histograms: p50/p95/p99 and the 5m/30m p95 ratio from recording rules, plus a heatmap;
//! labelled gauges: top 5; other gauges: the value), the cross-metric efficiency panels
//! whose metrics the spec has, and an alerts overview that queries `ALERTS`.

use crate::model::{DashboardPlan, Metric, MetricKind, Spec};
use crate::naming::dashboard_uid;
use crate::rules::{self, RuleSet};
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashSet};
use std::fmt::Write;

/// Most panels one dashboard may hold.
pub const PANEL_CAP: usize = 36;
/// Newest classic dashboard schema version (Grafana 13); the default is 41 (11.6) and
/// the spec's `grafana: {schema_version: N}` picks another.
pub const MAX_SCHEMA_VERSION: u32 = 42;
/// The datasource reference every panel and target uses.
pub const DATASOURCE_UID: &str = "${datasource}";

/// One query of a panel.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// PromQL, Grafana macros included.
    pub expr: String,
    /// Legend template.
    pub legend: String,
}

/// A panel before layout.
#[derive(Debug, Clone, PartialEq)]
pub struct PanelPlan {
    /// Title.
    pub title: String,
    /// Description (the metric's help).
    pub description: String,
    /// Grafana panel type.
    pub panel_type: String,
    /// Queries.
    pub targets: Vec<Target>,
    /// Grafana unit.
    pub unit: String,
    /// Metric it shows (the first one, for cross-metric panels).
    pub metric: String,
    /// Family of that metric.
    pub family: String,
    /// Semantic kind (rate, quantile, ...).
    pub kind: String,
    /// Where it came from: spec, auto_rate, auto_label_split, auto_hist_quantile,
    /// auto_latency_ratio, auto_heatmap, auto_topk, auto_value, cross_metric,
    /// alerts_aggregate.
    pub source: String,
    /// The label a split panel groups by.
    pub split_label: Option<String>,
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
    if m.name.value.ends_with("_timestamp_seconds") {
        return "dateTimeFromNow";
    }
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

/// The `by (...)` labels of the outermost aggregation, for a legend.
fn top_level_grouping(expr: &str) -> Vec<String> {
    use promql_parser::parser::{Expr, LabelModifier};
    let Ok(mut e) = crate::promql::parse(expr) else {
        return Vec::new();
    };
    loop {
        match e {
            Expr::Paren(p) => e = *p.expr,
            Expr::Binary(b) => e = *b.lhs,
            Expr::Aggregate(a) => {
                return match a.modifier {
                    Some(LabelModifier::Include(l)) => l.labels,
                    _ => Vec::new(),
                }
            }
            _ => return Vec::new(),
        }
    }
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

fn metric_panels(spec: &Spec, family: &str, m: &Metric) -> Vec<PanelPlan> {
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
    };
    if !m.panels.is_empty() {
        return m
            .panels
            .iter()
            .map(|p| {
                let kind = p.kind.as_ref().map(|k| k.value.as_str());
                let unit = p.unit.as_ref().map_or_else(
                    || match m.kind.value {
                        MetricKind::Counter => rate_unit(m),
                        _ => gauge_unit(m),
                    },
                    |u| u.value.as_str(),
                );
                let legend = legend_of(&top_level_grouping(&p.promql.value));
                plan(
                    p.title.value.clone(),
                    &spec_panel_type(kind, p.panel_type.as_ref().map(|t| t.value.as_str())),
                    vec![Target {
                        expr: p.promql.value.clone(),
                        legend,
                    }],
                    unit,
                    kind.unwrap_or("value"),
                    "spec",
                )
            })
            .collect();
    }
    let label_names: Vec<String> = m.labels.iter().map(|l| l.value.clone()).collect();
    let title = short(spec, m);
    let mut out = Vec::new();
    match m.kind.value {
        MetricKind::Counter => {
            out.push(plan(
                format!("{title}: per second"),
                "timeseries",
                vec![Target {
                    expr: format!("sum(rate({name}[$__rate_interval]))"),
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
                        expr: format!("sum by ({l}) (rate({name}[$__rate_interval]))"),
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
            let prefix = legend_of(&label_names);
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
                        expr: rules::quantile_rule(m, *q, "5m"),
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
                    expr: rules::ratio_rule(m),
                    legend: legend("ratio"),
                }],
                "short",
                "ratio",
                "auto_latency_ratio",
            ));
            let mut heat = plan(
                format!("{title}: distribution"),
                "heatmap",
                vec![Target {
                    expr: format!("sum by (le) (rate({name}_bucket[$__rate_interval]))"),
                    legend: "{{le}}".into(),
                }],
                unit,
                "heatmap",
                "auto_heatmap",
            );
            heat.split_label = Some("le".into());
            out.push(heat);
        }
        MetricKind::Gauge if !label_names.is_empty() => out.push(plan(
            format!("{title}: top 5"),
            "timeseries",
            vec![Target {
                expr: format!("topk(5, {name})"),
                legend: legend_of(&label_names),
            }],
            gauge_unit(m),
            "topk",
            "auto_topk",
        )),
        MetricKind::Gauge => out.push(plan(
            title,
            "timeseries",
            vec![Target {
                expr: name.clone(),
                legend: m.short_name(spec).to_string(),
            }],
            gauge_unit(m),
            "value",
            "auto_value",
        )),
    }
    out
}

/// Efficiency panels that combine two or more metrics, added where the spec has all of
/// them: (title, unit, metrics without the namespace prefix, expression with `{ns}`).
const CROSS_METRIC: &[(&str, &str, &[&str], &str)] = &[
    (
        "Panel bytes per write",
        "bytes",
        &["panel_write_bytes_total", "panel_writes_total"],
        "sum(rate({ns}_panel_write_bytes_total[$__rate_interval])) / clamp_min(sum(rate({ns}_panel_writes_total[$__rate_interval])), 1e-9)",
    ),
    (
        "Column store bytes per row",
        "bytes",
        &["cs_ingest_bytes_total", "cs_ingest_rows_total"],
        "sum(rate({ns}_cs_ingest_bytes_total[$__rate_interval])) / clamp_min(sum(rate({ns}_cs_ingest_rows_total[$__rate_interval])), 1e-9)",
    ),
    (
        "Column store backlog drain ETA",
        "s",
        &["cs_ingest_backlog_rows", "cs_ingest_rows_total"],
        "sum({ns}_cs_ingest_backlog_rows) / clamp_min(sum(rate({ns}_cs_ingest_rows_total[$__rate_interval])), 1e-9)",
    ),
    (
        "Column store ingest success ratio",
        "percentunit",
        &["cs_ingest_failures_total", "cs_ingest_latency_seconds"],
        "1 - sum(rate({ns}_cs_ingest_failures_total[$__rate_interval])) / clamp_min(sum(rate({ns}_cs_ingest_latency_seconds_count[$__rate_interval])) + sum(rate({ns}_cs_ingest_failures_total[$__rate_interval])), 1e-9)",
    ),
];

fn cross_metric_panels(spec: &Spec, families: &[String], existing: &[PanelPlan]) -> Vec<PanelPlan> {
    let ns = &spec.namespace.value;
    let mut out = Vec::new();
    for (title, unit, metrics, template) in CROSS_METRIC {
        let full: Vec<String> = metrics.iter().map(|m| format!("{ns}_{m}")).collect();
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
            title: title.to_string(),
            description: format!("Combines {}.", full.join(" and ")),
            panel_type: "timeseries".into(),
            targets: vec![Target {
                expr: template.replace("{ns}", ns),
                legend: "ratio".into(),
            }],
            unit: unit.to_string(),
            metric: first.name.value.clone(),
            family: fam.name.value.clone(),
            kind: "ratio".into(),
            source: "cross_metric".into(),
            split_label: None,
        });
    }
    out
}

fn alerts_panel(spec: &Spec, rules: &RuleSet, families: &[String]) -> Option<PanelPlan> {
    let in_plan: HashSet<&str> = spec
        .metrics()
        .filter(|(f, _)| families.contains(&f.name.value))
        .map(|(_, m)| m.name.value.as_str())
        .collect();
    let names: BTreeSet<&str> = rules
        .all_alerts()
        .filter(|a| in_plan.contains(a.metric.as_str()))
        .map(|a| a.alert.as_str())
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
    })
}

/// The panels of one plan, capped and ordered: alerts overview, then per metric in
/// spec order, then cross-metric panels. Over the cap, synthesised panels go first.
pub fn plan_panels(spec: &Spec, rules: &RuleSet, plan: &DashboardPlan) -> Vec<PanelPlan> {
    let families: Vec<String> = plan.families.iter().map(|f| f.value.clone()).collect();
    let mut panels: Vec<PanelPlan> = Vec::new();
    if let Some(p) = alerts_panel(spec, rules, &families) {
        panels.push(p);
    }
    for fam in &families {
        if let Some(f) = spec.families.iter().find(|f| &f.name.value == fam) {
            for m in &f.metrics {
                panels.extend(metric_panels(spec, fam, m));
            }
        }
    }
    let cross = cross_metric_panels(spec, &families, &panels);
    panels.extend(cross);
    let limit = plan
        .panel_limit
        .as_ref()
        .map_or(PANEL_CAP, |l| (l.value.max(1) as usize).min(PANEL_CAP));
    if panels.len() > limit {
        // Keep spec panels first, then the alerts overview, then synthesised panels in order.
        let rank = |p: &PanelPlan| match p.source.as_str() {
            "spec" => 0,
            "alerts_aggregate" => 1,
            _ => 2,
        };
        let mut keep: Vec<usize> = (0..panels.len()).collect();
        keep.sort_by_key(|&i| (rank(&panels[i]), i));
        keep.truncate(limit);
        keep.sort_unstable();
        panels = keep.into_iter().map(|i| panels[i].clone()).collect();
    }
    panels
}

fn width_of(panel_type: &str) -> u32 {
    match panel_type {
        "stat" | "gauge" | "bargauge" => 6,
        "table" => 24,
        _ => 12,
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

fn datasource() -> Value {
    json!({"type": "prometheus", "uid": DATASOURCE_UID})
}

fn panel_json(p: &PanelPlan, id: u64, uuid: &str, x: u32, y: u32, w: u32, h: u32) -> Value {
    let ref_ids = ["A", "B", "C", "D", "E", "F", "G", "H"];
    let targets: Vec<Value> = p
        .targets
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let mut target = json!({
                "refId": ref_ids.get(i).copied().unwrap_or("Z"),
                "datasource": datasource(),
                "expr": t.expr,
                "legendFormat": if t.legend.is_empty() { "__auto".to_string() } else { t.legend.clone() },
            });
            let obj = target.as_object_mut().expect("object");
            match p.panel_type.as_str() {
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
            target
        })
        .collect();
    let options = match p.panel_type.as_str() {
        "stat" | "gauge" | "bargauge" => json!({
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": false},
            "colorMode": "value",
            "graphMode": "area",
        }),
        "table" => json!({"showHeader": true, "cellHeight": "sm"}),
        "heatmap" => json!({
            "calculate": false,
            "yAxis": {"unit": p.unit},
            "cellGap": 1,
            "color": {"mode": "scheme", "scheme": "Oranges"},
            "tooltip": {"mode": "single"},
        }),
        _ => json!({
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": true},
            "tooltip": {"mode": "multi", "sort": "desc"},
        }),
    };
    let mut meta = json!({
        "metric": p.metric,
        "family": p.family,
        "kind": p.kind,
        "source": p.source,
        "panel_uuid": uuid,
    });
    if let Some(l) = &p.split_label {
        meta.as_object_mut()
            .expect("object")
            .insert("split_label".into(), json!(l));
    }
    json!({
        "id": id,
        "type": p.panel_type,
        "title": p.title,
        "description": p.description,
        "gridPos": {"h": h, "w": w, "x": x, "y": y},
        "datasource": datasource(),
        "targets": targets,
        "fieldConfig": {"defaults": {"unit": p.unit}, "overrides": []},
        "options": options,
        "g6_meta": meta,
    })
}

/// Build one dashboard.
pub fn build(
    spec: &Spec,
    rules: &RuleSet,
    plan: &DashboardPlan,
    spec_hash: &str,
    version: &str,
) -> Dashboard {
    let slug = plan.slug.value.clone();
    let uid = dashboard_uid(&spec.namespace.value, &slug);
    let panels = plan_panels(spec, rules, plan);
    let mut used_ids = HashSet::new();
    let mut uuids = Vec::new();
    let mut panel_values = Vec::new();
    let (mut x, mut y, h) = (0u32, 0u32, 8u32);
    for p in &panels {
        let digest = crate::canonical::sha256_hex(&format!("{slug}\n{}", signature(p)));
        let uuid = digest[..16].to_string();
        let mut id = u64::from_str_radix(&digest[..7], 16).unwrap_or(1).max(1);
        while !used_ids.insert(id) {
            id += 1;
        }
        let w = width_of(&p.panel_type);
        if x + w > 24 {
            x = 0;
            y += h;
        }
        panel_values.push(panel_json(p, id, &uuid, x, y, w, h));
        uuids.push(uuid);
        x += w;
        if x >= 24 {
            x = 0;
            y += h;
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
        "templating": {"list": [{
            "type": "datasource",
            "name": "datasource",
            "label": "Data source",
            "query": "prometheus",
            "current": {},
            "hide": 0,
            "refresh": 1,
            "regex": "",
            "options": [],
        }]},
        "annotations": {"list": []},
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

/// Build every planned dashboard, in plan order.
pub fn build_all(spec: &Spec, rules: &RuleSet, spec_hash: &str, version: &str) -> Vec<Dashboard> {
    spec.dashboards
        .iter()
        .map(|p| build(spec, rules, p, spec_hash, version))
        .collect()
}

/// Pretty JSON with a trailing newline.
pub fn to_json_text(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_else(|_| "{}".into());
    s.push('\n');
    s
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

/// `grafana/provisioning/dashboards/g6.yml`.
pub fn provisioning_dashboards(spec: &Spec) -> String {
    format!(
        "# Grafana dashboard provider for the generated dashboards. Set G6_GRAFANA_DASHBOARDS to the\n# absolute path of generated/grafana/dashboards before starting Grafana.\napiVersion: 1\nproviders:\n  - name: {ns}\n    orgId: 1\n    folder: {folder}\n    type: file\n    disableDeletion: false\n    updateIntervalSeconds: 30\n    allowUiUpdates: false\n    options:\n      path: ${{G6_GRAFANA_DASHBOARDS}}\n      foldersFromFilesStructure: false\n",
        ns = spec.namespace.value,
        folder = spec.namespace.value.to_uppercase()
    )
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
