//! A linter for Grafana dashboard JSON, applied to every generated dashboard and usable
//! on any dashboard file. Rules follow grafana/dashboard-linter where it has one.

use crate::promql::{Finding, SeriesCatalog};
use crate::validate::GRAFANA_UNITS;
use serde_json::Value;
use std::collections::HashSet;

/// One problem in a dashboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LintFinding {
    /// The rule, e.g. `panel-datasource`.
    pub rule: &'static str,
    /// The panel title, when the problem is in a panel.
    pub panel: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for LintFinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.panel {
            Some(p) => write!(f, "[{}] panel {p:?}: {}", self.rule, self.message),
            None => write!(f, "[{}] {}", self.rule, self.message),
        }
    }
}

/// Every rule the linter applies.
pub const RULES: &[&str] = &[
    "dashboard-uid",
    "template-datasource",
    "panel-datasource",
    "target-datasource",
    "panel-title-description",
    "panel-units",
    "panel-no-targets",
    "target-refid-unique",
    "target-promql",
    "target-counter-agg",
    "target-rate-interval",
    "panel-gridpos",
];

/// The value `$__rate_interval` stands for while linting: no one writes 4m59s by hand,
/// so a rate window of exactly this length came from the macro.
const RATE_INTERVAL_MARKER: &str = "4m59s";

fn is_datasource_ref(v: Option<&Value>) -> bool {
    v.is_some_and(|d| {
        d.get("type").and_then(Value::as_str) == Some("prometheus")
            && d.get("uid").and_then(Value::as_str) == Some("${datasource}")
    })
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn rate_windows_ok(expr: &str) -> Result<(), String> {
    use promql_parser::parser::Expr;
    let marked = expr
        .replace("${__rate_interval}", RATE_INTERVAL_MARKER)
        .replace("$__rate_interval", RATE_INTERVAL_MARKER);
    let Ok(e) = crate::promql::parse(&marked) else {
        return Ok(()); // target-promql reports parse errors
    };
    /// Collects `rate`/`irate` windows that are not the rate-interval marker.
    struct Windows(Vec<String>);
    impl promql_parser::util::ExprVisitor for Windows {
        type Error = std::convert::Infallible;
        fn pre_visit(&mut self, e: &Expr) -> Result<bool, Self::Error> {
            if let Expr::Call(c) = e {
                if matches!(c.func.name, "rate" | "irate") {
                    for a in &c.args.args {
                        if let Expr::MatrixSelector(m) = &**a {
                            if m.range != std::time::Duration::from_secs(299) {
                                self.0.push(format!(
                                    "{}(...[{}s])",
                                    c.func.name,
                                    m.range.as_secs()
                                ));
                            }
                        }
                    }
                }
            }
            Ok(true)
        }
    }
    let mut windows = Windows(Vec::new());
    let _ = promql_parser::util::walk_expr(&mut windows, &e);
    let bad = windows.0;
    if bad.is_empty() {
        Ok(())
    } else {
        Err(bad.join(", "))
    }
}

/// Lint one dashboard. `catalog` knows the series and recording rules that exist.
pub fn lint(dashboard: &Value, catalog: &SeriesCatalog) -> Vec<LintFinding> {
    let mut out = Vec::new();
    let mut push = |rule: &'static str, panel: Option<&str>, message: String| {
        out.push(LintFinding {
            rule,
            panel: panel.map(str::to_string),
            message,
        })
    };
    let uid = str_of(dashboard, "uid");
    if uid.is_empty()
        || uid.len() > 40
        || !uid
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        push(
            "dashboard-uid",
            None,
            format!("uid {uid:?} must be 1-40 characters of [a-z0-9-]"),
        );
    }
    let has_ds_var = dashboard
        .pointer("/templating/list")
        .and_then(Value::as_array)
        .is_some_and(|l| {
            l.iter().any(|v| {
                str_of(v, "name") == "datasource"
                    && str_of(v, "type") == "datasource"
                    && str_of(v, "query") == "prometheus"
            })
        });
    if !has_ds_var {
        push(
            "template-datasource",
            None,
            "no templating variable `datasource` of type datasource with query prometheus".into(),
        );
    }
    let empty = Vec::new();
    let panels = dashboard
        .get("panels")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    let mut rects: Vec<(String, i64, i64, i64, i64)> = Vec::new();
    for p in panels {
        let title = str_of(p, "title");
        let t = Some(title);
        if title.trim().is_empty() || str_of(p, "description").trim().is_empty() {
            push(
                "panel-title-description",
                t,
                "panel needs a title and a description".into(),
            );
        }
        if !is_datasource_ref(p.get("datasource")) {
            push(
                "panel-datasource",
                t,
                "panel datasource must be {\"type\":\"prometheus\",\"uid\":\"${datasource}\"}"
                    .into(),
            );
        }
        let unit = p
            .pointer("/fieldConfig/defaults/unit")
            .and_then(Value::as_str)
            .unwrap_or("");
        if !GRAFANA_UNITS.contains(&unit) {
            push(
                "panel-units",
                t,
                format!("unit {unit:?} is not a known Grafana unit"),
            );
        }
        let targets = p.get("targets").and_then(Value::as_array).unwrap_or(&empty);
        if targets.is_empty() {
            push("panel-no-targets", t, "panel has no targets".into());
        }
        let mut ref_ids = HashSet::new();
        for target in targets {
            let ref_id = str_of(target, "refId");
            if !ref_ids.insert(ref_id) {
                push(
                    "target-refid-unique",
                    t,
                    format!("refId {ref_id:?} is used twice"),
                );
            }
            if !is_datasource_ref(target.get("datasource")) {
                push(
                    "target-datasource",
                    t,
                    format!("target {ref_id} must use the datasource variable"),
                );
            }
            let expr = str_of(target, "expr");
            for f in catalog.analyze(expr).findings {
                let rule = match f {
                    Finding::CounterWithoutRate { .. } => "target-counter-agg",
                    _ => "target-promql",
                };
                push(rule, t, format!("target {ref_id} {f}"));
            }
            if let Err(bad) = rate_windows_ok(expr) {
                push(
                    "target-rate-interval",
                    t,
                    format!(
                        "target {ref_id} uses fixed rate windows ({bad}); use [$__rate_interval]"
                    ),
                );
            }
        }
        let g = |k: &str| {
            p.pointer(&format!("/gridPos/{k}"))
                .and_then(Value::as_i64)
                .unwrap_or(-1)
        };
        let (x, y, w, h) = (g("x"), g("y"), g("w"), g("h"));
        if !(0..=23).contains(&x) || !(1..=24).contains(&w) || x + w > 24 || h < 1 || y < 0 {
            push(
                "panel-gridpos",
                t,
                format!("gridPos x={x} y={y} w={w} h={h} is outside the 24-column grid"),
            );
        }
        for (other, ox, oy, ow, oh) in &rects {
            if x < ox + ow && ox < &(x + w) && y < oy + oh && oy < &(y + h) {
                push("panel-gridpos", t, format!("overlaps panel {other:?}"));
            }
        }
        rects.push((title.to_string(), x, y, w, h));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_interval_rule() {
        assert!(rate_windows_ok("sum(rate(x_total[$__rate_interval]))").is_ok());
        assert!(rate_windows_ok("sum(increase(x_total[1h]))").is_ok());
        assert!(rate_windows_ok("sum(rate(x_total[5m]))").is_err());
        assert!(rate_windows_ok("irate(x_total[1m])").is_err());
    }
}
