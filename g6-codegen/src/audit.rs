//! Audits over dashboards as they are on disk (or as generated): inline quantiles where a
//! recording rule exists (exit 10), spec panels no dashboard shows (exit 11), and
//! PromQL that does not parse (exit 12).

use crate::model::Spec;
use crate::rules::RuleSet;
use serde_json::Value;
use std::collections::BTreeSet;

/// A dashboard by slug, as JSON.
pub type NamedDashboard = (String, Value);

fn targets(d: &Value) -> impl Iterator<Item = (&str, &str)> {
    d.get("panels")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .flat_map(|p| {
            let title = p.get("title").and_then(Value::as_str).unwrap_or("");
            p.get("targets")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(move |t| (title, t.get("expr").and_then(Value::as_str).unwrap_or("")))
        })
}

/// Panels that compute `histogram_quantile` inline over a histogram that has recording
/// rules; they should query the rule instead.
pub fn inline_quantiles(dashboards: &[NamedDashboard], rules: &RuleSet) -> Vec<String> {
    let with_rules: BTreeSet<String> = rules
        .all_recording()
        .filter(|r| r.operation.starts_with('p'))
        .map(|r| format!("{}_bucket", r.metric))
        .collect();
    let mut out = Vec::new();
    for (slug, d) in dashboards {
        for (title, expr) in targets(d) {
            if !expr.contains("histogram_quantile") {
                continue;
            }
            if let Some(bucket) = with_rules.iter().find(|b| expr.contains(b.as_str())) {
                out.push(format!(
                    "{slug}: panel {title:?} computes histogram_quantile over `{bucket}` inline; query its recording rule (e.g. `...:{}:p95_5m`) instead",
                    bucket.trim_end_matches("_bucket")
                ));
            }
        }
    }
    out
}

/// Spec panels whose expression appears in no dashboard.
pub fn uncovered_spec_panels(spec: &Spec, dashboards: &[NamedDashboard]) -> Vec<String> {
    let shown: BTreeSet<&str> = dashboards
        .iter()
        .flat_map(|(_, d)| targets(d).map(|(_, e)| e))
        .collect();
    let mut out = Vec::new();
    for (_, m) in spec.metrics() {
        for p in &m.panels {
            if !shown.contains(p.promql.value.as_str()) {
                out.push(format!(
                    "spec panel {:?} of `{}` ({}:{}:{}) is on no dashboard: add its family to a plan or raise the plan's panel_limit",
                    p.title.value, m.name.value, spec.source_name(), p.pos.line, p.pos.col
                ));
            }
        }
    }
    out
}

/// Targets whose PromQL does not parse (Grafana macros substituted first).
pub fn invalid_promql(dashboards: &[NamedDashboard]) -> Vec<String> {
    let mut out = Vec::new();
    for (slug, d) in dashboards {
        for (title, expr) in targets(d) {
            if let Err(e) = crate::promql::parse(expr) {
                out.push(format!(
                    "{slug}: panel {title:?}: `{expr}` does not parse: {}",
                    e.trim()
                ));
            }
        }
    }
    out
}
