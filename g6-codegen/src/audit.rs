//! Audits over dashboards as they are on disk (or as generated): inline quantiles where a
//! recording rule exists (exit 10), spec panels no dashboard shows (exit 11), and
//! PromQL that does not parse (exit 12).

use crate::rules::RuleSet;
use g6_spec::model::Spec;
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
            let buckets = quantile_buckets(expr);
            if let Some(bucket) = with_rules.iter().find(|b| buckets.contains(b.as_str())) {
                out.push(format!(
                    "{slug}: panel {title:?} computes histogram_quantile over `{bucket}` inline; query its recording rule (e.g. `...:{}:p95_5m`) instead",
                    bucket.trim_end_matches("_bucket")
                ));
            }
        }
    }
    out
}

/// Every series name `expr` selects, and whether it calls `histogram_quantile`
/// (empty and false when it does not parse).
pub fn query_reads(expr: &str) -> (BTreeSet<String>, bool) {
    use promql_parser::parser::Expr;
    use promql_parser::util::{walk_expr, ExprVisitor};
    /// Selector names and quantile calls.
    struct Reads(BTreeSet<String>, bool);
    impl ExprVisitor for Reads {
        type Error = std::convert::Infallible;
        fn pre_visit(&mut self, e: &Expr) -> Result<bool, Self::Error> {
            match e {
                Expr::VectorSelector(vs) => self.0.extend(vs.name.clone()),
                Expr::MatrixSelector(ms) => self.0.extend(ms.vs.name.clone()),
                Expr::Call(c) if c.func.name == "histogram_quantile" => self.1 = true,
                _ => {}
            }
            Ok(true)
        }
    }
    let Ok(parsed) = g6_spec::promql::parse(expr) else {
        return (BTreeSet::new(), false);
    };
    let mut r = Reads(BTreeSet::new(), false);
    let _ = walk_expr(&mut r, &parsed);
    (r.0, r.1)
}

/// Series named under a `histogram_quantile(...)` call of `expr` (by the parsed
/// expression, not its text: a metric name in a label value or a comment never counts).
fn quantile_buckets(expr: &str) -> BTreeSet<String> {
    use promql_parser::parser::Expr;
    use promql_parser::util::{walk_expr, ExprVisitor};
    /// Inside a quantile call, every selector's metric name.
    struct Selectors(BTreeSet<String>);
    impl ExprVisitor for Selectors {
        type Error = std::convert::Infallible;
        fn pre_visit(&mut self, e: &Expr) -> Result<bool, Self::Error> {
            let vs = match e {
                Expr::VectorSelector(vs) => Some(vs),
                Expr::MatrixSelector(ms) => Some(&ms.vs),
                _ => None,
            };
            if let Some(name) = vs.and_then(|vs| vs.name.clone()) {
                self.0.insert(name);
            }
            Ok(true)
        }
    }
    /// Finds `histogram_quantile` calls and collects what is under them.
    struct Quantiles(BTreeSet<String>);
    impl ExprVisitor for Quantiles {
        type Error = std::convert::Infallible;
        fn pre_visit(&mut self, e: &Expr) -> Result<bool, Self::Error> {
            if let Expr::Call(c) = e {
                if c.func.name == "histogram_quantile" {
                    let mut inner = Selectors(BTreeSet::new());
                    for a in &c.args.args {
                        let _ = walk_expr(&mut inner, a);
                    }
                    self.0.extend(inner.0);
                    // Keep walking: Ok(false) would end the whole walk, and a second
                    // quantile in the same expression would go unaudited.
                }
            }
            Ok(true)
        }
    }
    let Ok(parsed) = g6_spec::promql::parse(expr) else {
        return BTreeSet::new();
    };
    let mut q = Quantiles(BTreeSet::new());
    let _ = walk_expr(&mut q, &parsed);
    q.0
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
            // Grid and profile panels wrap the expression to order their buckets.
            let promql = p.promql.value.as_str();
            if !shown.iter().any(|e| e.contains(promql)) {
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
            if let Err(e) = g6_spec::promql::parse(expr) {
                out.push(format!(
                    "{slug}: panel {title:?}: `{expr}` does not parse: {}",
                    e.trim()
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::quantile_buckets;

    #[test]
    fn every_quantile_of_an_expression_is_audited() {
        let found = quantile_buckets(
            "histogram_quantile(0.95, sum by (le) (rate(a_bucket[5m]))) / histogram_quantile(0.5, sum by (le) (rate(b_bucket[5m])))",
        );
        assert_eq!(
            found.into_iter().collect::<Vec<_>>(),
            ["a_bucket", "b_bucket"]
        );
        // A name in a label value is not a selector.
        assert!(quantile_buckets("sum(rate(x_total{note=\"a_bucket\"}[5m]))").is_empty());
    }
}
