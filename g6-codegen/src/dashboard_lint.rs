//! A linter for Grafana dashboard JSON, applied to every generated dashboard and usable
//! on any dashboard file. Rules follow grafana/dashboard-linter where it has one.

use g6_spec::grafana::GRAFANA_UNITS;
use g6_spec::promql::{Finding, SeriesCatalog};
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
    "panel-datetime-ms",
    "panel-ratio-avg",
    "panel-heatmap-unit",
    "selector-variable",
    "panel-topk-state",
    "target-legend",
    "annotation-query",
];

/// Units a heatmap's cells may carry: its cells are counts (or counts per second).
const HEATMAP_CELL_UNITS: &[&str] = &["short", "none", "ops", "reqps"];

/// What one expression reads: every selector, and every aggregation with the selectors
/// under it.
#[derive(Default)]
struct Reads {
    /// (series name, matchers as (label, operator, value)).
    selectors: Vec<Selector>,
    /// (aggregation operator, series names under it).
    aggregations: Vec<(String, Vec<String>)>,
}

/// A selector's series name and matchers as (label, operator, value).
type Selector = (String, Vec<(String, &'static str, String)>);

fn selectors_of(e: &promql_parser::parser::Expr) -> Vec<Selector> {
    use promql_parser::label::MatchOp;
    use promql_parser::parser::Expr;
    struct Collect(Vec<Selector>);
    impl promql_parser::util::ExprVisitor for Collect {
        type Error = std::convert::Infallible;
        fn pre_visit(&mut self, e: &Expr) -> Result<bool, Self::Error> {
            let vs = match e {
                Expr::VectorSelector(vs) => vs,
                Expr::MatrixSelector(m) => &m.vs,
                _ => return Ok(true),
            };
            let matchers: Vec<(String, &'static str, String)> = vs
                .matchers
                .matchers
                .iter()
                .map(|m| {
                    let op = match m.op {
                        MatchOp::Equal => "=",
                        MatchOp::Re(_) => "=~",
                        _ => "!",
                    };
                    (m.name.clone(), op, m.value.clone())
                })
                .collect();
            let name = vs.name.clone().or_else(|| {
                matchers
                    .iter()
                    .find(|(l, op, _)| l == "__name__" && *op == "=")
                    .map(|(_, _, v)| v.clone())
            });
            self.0.push((name.unwrap_or_default(), matchers));
            Ok(true)
        }
    }
    let mut c = Collect(Vec::new());
    let _ = promql_parser::util::walk_expr(&mut c, e);
    c.0
}

fn reads(expr: &str) -> Option<(promql_parser::parser::Expr, Reads)> {
    use promql_parser::parser::Expr;
    let e = g6_spec::promql::parse(expr).ok()?;
    struct Aggs(Vec<(String, Vec<String>)>);
    impl promql_parser::util::ExprVisitor for Aggs {
        type Error = std::convert::Infallible;
        fn pre_visit(&mut self, e: &Expr) -> Result<bool, Self::Error> {
            if let Expr::Aggregate(a) = e {
                let names = selectors_of(&a.expr).into_iter().map(|(n, _)| n).collect();
                self.0.push((a.op.to_string(), names));
            }
            Ok(true)
        }
    }
    let mut aggs = Aggs(Vec::new());
    let _ = promql_parser::util::walk_expr(&mut aggs, &e);
    let r = Reads {
        selectors: selectors_of(&e),
        aggregations: aggs.0,
    };
    Some((e, r))
}

/// True when the expression's outermost operation multiplies by 1000 (seconds to the
/// milliseconds Grafana's date-time units read).
fn scaled_to_ms(e: &promql_parser::parser::Expr) -> bool {
    use promql_parser::parser::Expr;
    let thousand = |x: &Expr| matches!(x, Expr::NumberLiteral(n) if n.val == 1000.0);
    match e {
        Expr::Paren(p) => scaled_to_ms(&p.expr),
        Expr::Binary(b) => b.op.to_string() == "*" && (thousand(&b.lhs) || thousand(&b.rhs)),
        _ => false,
    }
}

/// The dashboard's query variables: name and whether it takes several values.
fn query_variables(dashboard: &Value) -> Vec<(String, bool)> {
    dashboard
        .pointer("/templating/list")
        .and_then(Value::as_array)
        .map(|l| {
            l.iter()
                .filter(|v| str_of(v, "type") == "query")
                .map(|v| {
                    (
                        str_of(v, "name").to_string(),
                        v.get("multi").and_then(Value::as_bool).unwrap_or(false),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// True when `value` is exactly the variable `var` (`$var`, `${var}` or `${var:fmt}`).
fn is_variable(value: &str, var: &str) -> bool {
    let v = value.trim();
    v == format!("${var}")
        || v == format!("${{{var}}}")
        || v.strip_prefix(&format!("${{{var}:"))
            .is_some_and(|rest| rest.ends_with('}'))
}

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
    let Ok(e) = g6_spec::promql::parse(&marked) else {
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

/// What to do about a finding of `rule`, said of the spec (a spec panel's target is
/// its `promql`, copied onto the dashboard).
pub fn rule_hint(rule: &str) -> &'static str {
    match rule {
        "target-rate-interval" => {
            "write the window as [$__rate_interval]: Grafana sizes it to the scrape interval and the zoom"
        }
        "target-promql" => "fix the expression: it must parse and read series the spec defines, with labels they carry",
        "target-counter-agg" => "wrap the counter in rate() or increase() before aggregating it",
        "panel-units" => "give the panel a Grafana unit (see the README's list of units)",
        "panel-datetime-ms" => "multiply the timestamp by 1000, or show an age (`time() - x`, unit s)",
        "panel-ratio-avg" => "divide the sum of value x weight by the sum of the weights instead of averaging the ratio",
        "panel-topk-state" => "show an info metric as a table and a state as a state timeline",
        "selector-variable" => "filter on the selector label with {label=~\"$label\"}",
        "target-legend" => "give the target a legend naming its labels",
        "annotation-query" => "fix the annotation's expression in the spec",
        _ => "fix the spec node named here, or report a generator bug if the spec is right",
    }
}

/// `expr` with every `rate`/`irate` window replaced by `$__rate_interval`: the rewrite
/// the `target-rate-interval` rule asks for, shown in its hint.
pub fn rate_interval_rewrite(expr: &str) -> String {
    let mut out = String::with_capacity(expr.len());
    let mut rest = expr;
    while let Some(at) = find_rate_call(rest) {
        // Copy through the call's opening parenthesis, then find the window of its
        // argument: the first `[...]` at the call's own depth.
        let open = at + rest[at..].find('(').unwrap_or(0) + 1;
        out.push_str(&rest[..open]);
        rest = &rest[open..];
        let mut depth = 0usize;
        let mut window = None;
        for (i, c) in rest.char_indices() {
            match c {
                '(' | '{' => depth += 1,
                ')' | '}' if depth == 0 => break,
                ')' | '}' => depth -= 1,
                '[' if depth == 0 => {
                    if let Some(end) = rest[i..].find(']') {
                        window = Some((i, i + end));
                    }
                    break;
                }
                _ => {}
            }
        }
        if let Some((start, end)) = window {
            let inner = &rest[start + 1..end];
            out.push_str(&rest[..=start]);
            // A subquery (`[1h:5m]`) or the macro already: leave it.
            if inner.contains(':') || inner.contains("rate_interval") {
                out.push_str(inner);
            } else {
                out.push_str("$__rate_interval");
            }
            out.push(']');
            rest = &rest[end + 1..];
        }
    }
    out.push_str(rest);
    out
}

/// Byte offset of the next `rate(` or `irate(` call (a whole identifier) in `s`.
fn find_rate_call(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut from = 0;
    while let Some(i) = s[from..].find("rate").map(|i| i + from) {
        let word_start = bytes[..i]
            .iter()
            .rposition(|b| !(b.is_ascii_alphanumeric() || *b == b'_'))
            .map_or(0, |p| p + 1);
        let name = &s[word_start..i + 4];
        let after = s[i + 4..].trim_start();
        if matches!(name, "rate" | "irate") && after.starts_with('(') {
            return Some(word_start);
        }
        from = i + 4;
    }
    None
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
    let variables = query_variables(dashboard);
    for (label, mode) in &catalog.selectors {
        if let Some((_, multi)) = variables.iter().find(|(n, _)| n == label) {
            let want_multi = *mode == g6_spec::model::VariableMode::Multi;
            if *multi != want_multi {
                push(
                    "selector-variable",
                    None,
                    format!(
                        "variable `{label}` is {} but the spec declares it `variable: {}`",
                        if *multi {
                            "multi-select"
                        } else {
                            "single-select"
                        },
                        mode.as_str()
                    ),
                );
            }
        }
    }
    let empty = Vec::new();
    let annotations = dashboard
        .pointer("/annotations/list")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    for a in annotations {
        // Grafana's built-in annotation (alerts and manual events) has no query.
        if a.get("builtIn").is_some() {
            continue;
        }
        let name = str_of(a, "name");
        if !is_datasource_ref(a.get("datasource")) {
            push(
                "annotation-query",
                None,
                format!("annotation {name:?} must use the datasource variable"),
            );
        }
        for f in catalog.analyze(str_of(a, "expr")).findings {
            push("annotation-query", None, format!("annotation {name:?} {f}"));
        }
    }
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
        let panel_type = str_of(p, "type");
        if panel_type == "heatmap" && !HEATMAP_CELL_UNITS.contains(&unit) {
            push(
                "panel-heatmap-unit",
                t,
                format!(
                    "heatmap unit {unit:?} applies to the cell counts too; set fieldConfig.defaults.unit to short and put {unit:?} on options.yAxis.unit"
                ),
            );
        }
        let targets = p.get("targets").and_then(Value::as_array).unwrap_or(&empty);
        // A text panel shows its content, not queries.
        if targets.is_empty() && panel_type != "text" {
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
            let legend = str_of(target, "legendFormat");
            if panel_type != "table" && (legend.trim().is_empty() || legend == "__auto") {
                push(
                    "target-legend",
                    t,
                    format!("target {ref_id} has no explicit legend (legendFormat {legend:?})"),
                );
            }
            if let Some((parsed, r)) = reads(expr) {
                if unit.starts_with("dateTime") && !scaled_to_ms(&parsed) {
                    push(
                        "panel-datetime-ms",
                        t,
                        format!(
                            "unit {unit:?} reads epoch milliseconds; target {ref_id} must end in `* 1000` (or show an age: `time() - x`, unit s)"
                        ),
                    );
                }
                for (op, names) in &r.aggregations {
                    let info = |n: &String| catalog.series.get(n.as_str());
                    if op == "avg" {
                        if let Some(n) = names.iter().find(|n| info(n).is_some_and(|i| i.ratio)) {
                            push(
                                "panel-ratio-avg",
                                t,
                                format!(
                                    "target {ref_id} averages the ratio gauge `{n}` without weights; empty series pull it down: divide the sum of value x weight by the sum of the weights (`> 0`)"
                                ),
                            );
                        }
                    }
                    if matches!(op.as_str(), "topk" | "bottomk") {
                        if let Some(n) = names
                            .iter()
                            .find(|n| n.ends_with("_info") || info(n).is_some_and(|i| i.state))
                        {
                            push(
                                "panel-topk-state",
                                t,
                                format!(
                                    "target {ref_id} ranks `{n}`, whose value is always 0 or 1: show an info metric as a table, a state as a state timeline"
                                ),
                            );
                        }
                    }
                }
                for (name, matchers) in &r.selectors {
                    let Some(info) = catalog.series.get(name.as_str()) else {
                        continue;
                    };
                    for label in catalog
                        .selectors
                        .keys()
                        .filter(|l| info.labels.contains(*l))
                    {
                        if !variables.iter().any(|(n, _)| n == label) {
                            push(
                                "selector-variable",
                                t,
                                format!(
                                    "`{name}` carries the selector label `{label}` but the dashboard has no `{label}` variable"
                                ),
                            );
                        } else if !matchers.iter().any(|(l, op, v)| {
                            // Multi-select values arrive joined as a regex: only `=~`
                            // reads them; a single value works with `=` or `=~`.
                            let multi = catalog.selectors.get(l.as_str())
                                == Some(&g6_spec::model::VariableMode::Multi);
                            l == label
                                && is_variable(v, label)
                                && (*op == "=~" || (*op == "=" && !multi))
                        }) {
                            push(
                                "selector-variable",
                                t,
                                format!(
                                    "target {ref_id} reads `{name}` without filtering on `{label}`: add {{{label}=~\"${label}\"}}"
                                ),
                            );
                        }
                    }
                }
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

    #[test]
    fn rate_interval_rewrite_replaces_only_rate_windows() {
        assert_eq!(
            rate_interval_rewrite("sum by (result) (rate(x_total{a=\"[b]\"}[5m]))"),
            "sum by (result) (rate(x_total{a=\"[b]\"}[$__rate_interval]))"
        );
        assert_eq!(
            rate_interval_rewrite("irate(a_total[1m]) / increase(b_total[1h]) + rate(c_total[$__rate_interval])"),
            "irate(a_total[$__rate_interval]) / increase(b_total[1h]) + rate(c_total[$__rate_interval])"
        );
        assert_eq!(
            rate_interval_rewrite("histogram_quantile(0.9, sum by (le) (rate(x_bucket[5m])))"),
            "histogram_quantile(0.9, sum by (le) (rate(x_bucket[$__rate_interval])))"
        );
        assert_eq!(
            rate_interval_rewrite("g6_generate_rate"),
            "g6_generate_rate"
        );
        // The rewrite passes the rule it is the hint of.
        assert!(rate_windows_ok(&rate_interval_rewrite("sum(rate(x_total[5m]))")).is_ok());
    }
}
