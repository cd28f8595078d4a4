//! PromQL checks shared by spec validation and generated-artifact validation.
//!
//! `promql-parser` does the parsing; we walk its AST to find the series an expression
//! reads, how it reads them (under `rate()` or not) and which labels it groups by, and
//! compare that with what the spec defines.

use crate::model::{MetricKind, Spec, VariableMode};
use promql_parser::label::MatchOp;
use promql_parser::parser::{self, Expr, LabelModifier};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// Grafana macros and the values we substitute before parsing (as Grafana's linter does).
pub const GRAFANA_MACROS: &[(&str, &str)] = &[
    ("${__rate_interval}", "5m"),
    ("$__rate_interval", "5m"),
    ("${__interval}", "1m"),
    ("$__interval_ms", "60000"),
    ("$__interval", "1m"),
    ("${__range}", "1h"),
    ("$__range_s", "3600"),
    ("$__range_ms", "3600000"),
    ("$__range", "1h"),
];

/// Replace Grafana macros with fixed durations so the expression parses as PromQL.
pub fn substitute_macros(expr: &str) -> String {
    let mut out = expr.to_string();
    for (from, to) in GRAFANA_MACROS {
        out = out.replace(from, to);
    }
    out
}

/// Parse an expression (after macro substitution).
pub fn parse(expr: &str) -> Result<Expr, String> {
    parser::parse(&substitute_macros(expr))
}

/// For each `count_values` without `by()`/`without()` under an aggregation that groups
/// `by (...)`: the labels that grouping asks for, less the count's own value label.
/// `count_values` without `by()` keeps only its value label, so the grouping around it
/// finds nothing: `sum by (mny) (count_values("iv", x))` groups by a label that is gone.
/// Empty when the expression does not parse or has no such `count_values`.
pub fn count_values_lost_grouping(expr: &str) -> Vec<Vec<String>> {
    fn walk(e: &Expr, by: Option<&[String]>, out: &mut Vec<Vec<String>>) {
        match e {
            Expr::Aggregate(agg) => {
                let op = agg.op.to_string();
                let own: Vec<String>;
                let inner_by = match &agg.modifier {
                    Some(LabelModifier::Include(l)) => {
                        own = l.labels.clone();
                        Some(own.as_slice())
                    }
                    _ => None,
                };
                if op == "count_values" && agg.modifier.is_none() {
                    if let Some(labels) = by {
                        let value: BTreeSet<String> = string_param(agg.param.as_deref()).collect();
                        let lost: Vec<String> = labels
                            .iter()
                            .filter(|l| !value.contains(*l))
                            .cloned()
                            .collect();
                        if !lost.is_empty() {
                            out.push(lost);
                        }
                    }
                }
                walk(&agg.expr, inner_by, out);
            }
            Expr::Paren(p) => walk(&p.expr, by, out),
            Expr::Unary(u) => walk(&u.expr, by, out),
            Expr::Subquery(q) => walk(&q.expr, by, out),
            Expr::Binary(b) => {
                walk(&b.lhs, by, out);
                walk(&b.rhs, by, out);
            }
            Expr::Call(c) => c.args.args.iter().for_each(|a| walk(a, by, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Ok(e) = parse(expr) {
        walk(&e, None, &mut out);
    }
    out
}

/// How a series may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeriesKind {
    /// A counter: read it under rate()/increase().
    Counter,
    /// A gauge: read it directly; never under rate().
    Gauge,
    /// A histogram's `_bucket`, `_sum` or `_count`: counters with `le` on buckets.
    HistogramPart,
    /// A recording rule's output: a gauge-like series.
    Recorded,
}

/// One series the expression may reference.
#[derive(Debug, Clone)]
pub struct SeriesInfo {
    /// The metric that defines it (for histograms, the base name).
    pub metric: String,
    /// How it may be used.
    pub kind: SeriesKind,
    /// Labels it carries (histogram buckets include `le`).
    pub labels: BTreeSet<String>,
    /// A gauge whose unit is a ratio: averaging it across series needs weights.
    pub ratio: bool,
    /// A 0/1 state gauge or an info metric: its value says nothing a ranking could use.
    pub state: bool,
}

/// Every series the spec (and, later, the generated rules) define.
#[derive(Debug, Clone, Default)]
pub struct SeriesCatalog {
    /// Metric names with this prefix must be known.
    pub prefix: String,
    /// Known series by name.
    pub series: HashMap<String, SeriesInfo>,
    /// When set, names containing `:` must be among these recording rules.
    pub check_recorded: bool,
    /// Selector labels (`variable:` in the spec): a dashboard showing a series that
    /// carries one must have a template variable for it and filter on it.
    pub selectors: BTreeMap<String, VariableMode>,
}

/// Labels every scraped series gets from its target.
const TARGET_LABELS: &[&str] = &["job", "instance"];

/// A problem found in one expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// The expression does not parse.
    Parse(String),
    /// A namespaced (or recorded) series that nothing defines.
    UnknownSeries { name: String, hint: String },
    /// rate()/irate()/increase() over a gauge.
    RateOverGauge { func: String, name: String },
    /// `by (label)` where no aggregated series has the label.
    UnknownGroupingLabel { label: String, metrics: Vec<String> },
    /// A counter read without rate()/increase().
    CounterWithoutRate { name: String },
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Finding::Parse(m) => write!(f, "does not parse: {m}"),
            Finding::UnknownSeries { name, hint } => {
                write!(f, "references `{name}`, which nothing defines ({hint})")
            }
            Finding::RateOverGauge { func, name } => write!(
                f,
                "applies {func}() to the gauge `{name}`; use it directly, or deriv()/delta()"
            ),
            Finding::UnknownGroupingLabel { label, metrics } => {
                write!(
                    f,
                    "groups by `{label}`, which `{}` does not have",
                    metrics.join("`, `")
                )
            }
            Finding::CounterWithoutRate { name } => {
                write!(f, "reads the counter `{name}` without rate()/increase()")
            }
        }
    }
}

/// The result of walking one expression.
#[derive(Debug, Clone, Default)]
pub struct Analysis {
    /// Every selector's metric name, in order of appearance.
    pub selectors: Vec<String>,
    /// Problems found.
    pub findings: Vec<Finding>,
}

impl SeriesCatalog {
    /// Add a series.
    pub fn insert(&mut self, name: &str, metric: &str, kind: SeriesKind, labels: &[String]) {
        let mut set: BTreeSet<String> = labels.iter().cloned().collect();
        set.extend(TARGET_LABELS.iter().map(|s| s.to_string()));
        self.series.insert(
            name.to_string(),
            SeriesInfo {
                metric: metric.to_string(),
                kind,
                labels: set,
                ratio: false,
                state: false,
            },
        );
    }

    /// Mark series `name` as a ratio gauge and/or a state (0/1 or info) gauge.
    pub fn mark(&mut self, name: &str, ratio: bool, state: bool) {
        if let Some(info) = self.series.get_mut(name) {
            info.ratio = ratio;
            info.state = state;
        }
    }

    /// Parse and check `expr` against the catalog.
    pub fn analyze(&self, expr: &str) -> Analysis {
        let mut a = Analysis::default();
        match parse(expr) {
            Ok(e) => {
                self.walk(&e, None, &mut a);
            }
            Err(msg) => a.findings.push(Finding::Parse(msg.trim().to_string())),
        }
        a
    }

    /// The labels the result of `expr` carries besides `job`/`instance` where they
    /// can be known (`None` when the expression does not parse or reads a series the
    /// catalog does not know).
    pub fn result_labels(&self, expr: &str) -> Option<BTreeSet<String>> {
        let e = parse(expr).ok()?;
        let mut a = Analysis::default();
        self.walk(&e, None, &mut a).map(|mut s| {
            for t in TARGET_LABELS {
                s.remove(*t);
            }
            s
        })
    }

    fn selector_name(vs: &parser::VectorSelector) -> Option<String> {
        vs.name.clone().or_else(|| {
            vs.matchers
                .matchers
                .iter()
                .find(|m| m.name == "__name__" && matches!(m.op, MatchOp::Equal))
                .map(|m| m.value.clone())
        })
    }

    /// Returns the labels the expression's result carries (`None` = unknown).
    ///
    /// Hand-written rather than on promql-parser's `ExprVisitor`: it computes a value
    /// per node from its children's values (label sets through `by`/`without`,
    /// `on`/`ignoring` and `label_replace`), which the visitor's pre/post callbacks do
    /// not return. The plain searches (rate windows, quantile audit) use the visitor.
    fn walk(
        &self,
        expr: &Expr,
        range_fn: Option<&str>,
        a: &mut Analysis,
    ) -> Option<BTreeSet<String>> {
        match expr {
            Expr::VectorSelector(vs) => self.selector(vs, range_fn, a),
            Expr::MatrixSelector(ms) => self.selector(&ms.vs, range_fn, a),
            Expr::NumberLiteral(_) | Expr::StringLiteral(_) => Some(BTreeSet::new()),
            Expr::Paren(p) => self.walk(&p.expr, range_fn, a),
            Expr::Unary(u) => self.walk(&u.expr, range_fn, a),
            Expr::Subquery(s) => self.walk(&s.expr, range_fn, a),
            Expr::Binary(b) => {
                let l = self.walk(&b.lhs, None, a);
                let r = self.walk(&b.rhs, None, a);
                match (l, r) {
                    (Some(mut l), Some(r)) => {
                        l.extend(r);
                        Some(l)
                    }
                    _ => None,
                }
            }
            Expr::Aggregate(agg) => {
                let inner = self.walk(&agg.expr, None, a);
                if let Some(p) = &agg.param {
                    self.walk(p, None, a);
                }
                let op = agg.op.to_string();
                match &agg.modifier {
                    Some(LabelModifier::Include(by)) => {
                        if let Some(inner) = &inner {
                            for label in &by.labels {
                                if !inner.contains(label) {
                                    let metrics = self.metrics_in(&agg.expr);
                                    a.findings.push(Finding::UnknownGroupingLabel {
                                        label: label.clone(),
                                        metrics,
                                    });
                                }
                            }
                        }
                        let mut out: BTreeSet<String> = by.labels.iter().cloned().collect();
                        if op == "count_values" {
                            out.extend(string_param(agg.param.as_deref()));
                        }
                        Some(out)
                    }
                    Some(LabelModifier::Exclude(without)) => inner.map(|mut s| {
                        for l in &without.labels {
                            s.remove(l);
                        }
                        s
                    }),
                    None => match op.as_str() {
                        "topk" | "bottomk" | "limitk" | "limit_ratio" => inner,
                        "count_values" => Some(string_param(agg.param.as_deref()).collect()),
                        _ => Some(BTreeSet::new()),
                    },
                }
            }
            Expr::Call(call) => {
                let name = call.func.name;
                let is_range = matches!(
                    name,
                    "rate"
                        | "irate"
                        | "increase"
                        | "resets"
                        | "changes"
                        | "delta"
                        | "idelta"
                        | "deriv"
                        | "predict_linear"
                ) || name.ends_with("_over_time");
                let mut labels: Option<BTreeSet<String>> = Some(BTreeSet::new());
                for (i, arg) in call.args.args.iter().enumerate() {
                    let l = self.walk(arg, if is_range { Some(name) } else { None }, a);
                    if i == 0 || !matches!(**arg, Expr::StringLiteral(_)) {
                        labels = match (labels, l) {
                            (Some(mut acc), Some(l)) => {
                                acc.extend(l);
                                Some(acc)
                            }
                            _ => None,
                        };
                    }
                }
                match name {
                    "label_replace" | "label_join" => {
                        if let (Some(set), Some(arg)) = (&mut labels, call.args.args.get(1)) {
                            if let Expr::StringLiteral(s) = &**arg {
                                set.insert(s.val.clone());
                            }
                        }
                        labels
                    }
                    "histogram_quantile" => labels.map(|mut s| {
                        s.remove("le");
                        s
                    }),
                    "vector" | "time" | "scalar" => Some(BTreeSet::new()),
                    "absent" | "absent_over_time" => None,
                    _ => labels,
                }
            }
            Expr::Extension(_) => None,
        }
    }

    fn selector(
        &self,
        vs: &parser::VectorSelector,
        range_fn: Option<&str>,
        a: &mut Analysis,
    ) -> Option<BTreeSet<String>> {
        let name = Self::selector_name(vs)?;
        a.selectors.push(name.clone());
        let Some(info) = self.series.get(&name) else {
            let namespaced = !self.prefix.is_empty() && name.starts_with(&self.prefix);
            let recorded = name.contains(':');
            if (namespaced && !recorded) || (recorded && self.check_recorded) {
                a.findings.push(Finding::UnknownSeries {
                    hint: self.unknown_hint(&name),
                    name,
                });
            }
            return None;
        };
        match (info.kind, range_fn) {
            (
                SeriesKind::Gauge | SeriesKind::Recorded,
                Some(f @ ("rate" | "irate" | "increase")),
            ) => {
                a.findings.push(Finding::RateOverGauge {
                    func: f.to_string(),
                    name: name.clone(),
                });
            }
            (SeriesKind::Counter | SeriesKind::HistogramPart, None) => {
                a.findings
                    .push(Finding::CounterWithoutRate { name: name.clone() });
            }
            _ => {}
        }
        Some(info.labels.clone())
    }

    fn unknown_hint(&self, name: &str) -> String {
        let bucket = format!("{name}_bucket");
        if self.series.contains_key(&bucket) {
            return format!(
                "`{name}` is a histogram: query `{name}_bucket`, `{name}_sum` or `{name}_count`"
            );
        }
        match crate::diag::suggest(name, self.series.keys().map(String::as_str)) {
            Some(s) => format!("did you mean `{s}`? or add `{name}` to the spec"),
            None => format!("add `{name}` to the spec, or fix the name"),
        }
    }

    fn metrics_in(&self, expr: &Expr) -> Vec<String> {
        let mut a = Analysis::default();
        self.walk(expr, Some(""), &mut a);
        let mut seen = HashSet::new();
        a.selectors
            .into_iter()
            .filter_map(|s| self.series.get(&s).map(|i| i.metric.clone()))
            .filter(|m| seen.insert(m.clone()))
            .collect()
    }
}

fn string_param(param: Option<&Expr>) -> impl Iterator<Item = String> {
    let s = match param {
        Some(Expr::StringLiteral(s)) => Some(s.val.clone()),
        _ => None,
    };
    s.into_iter()
}

/// A Prometheus duration such as `5m`, `1h30m`, `250ms` or `0s` (units required, largest
/// first, each once), parsed by promql-parser.
pub fn duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    if s.parse::<f64>().is_ok() {
        // promql-parser reads a bare number as seconds; Prometheus' `for:` does not.
        return Err(format!("{s:?} has no unit; write it like 5m, 30s or 1h30m"));
    }
    // promql-parser silently drops a component too large for u32 (`99999999999s`
    // would read as zero); Prometheus rejects it.
    let too_large = s
        .split(|c: char| !c.is_ascii_digit())
        .any(|digits| !digits.is_empty() && digits.parse::<u32>().is_err());
    if too_large {
        return Err(format!("{s:?} has a component too large to be a duration"));
    }
    match promql_parser::util::parse_duration(s) {
        Ok(d) => Ok(d),
        // `0s` and `0m` are valid durations (an alert that fires at once).
        Err(e) if e.contains("greater than 0") => Ok(std::time::Duration::ZERO),
        Err(e) => Err(e),
    }
}

/// True when `s` is a valid Prometheus duration (see [`duration`]).
pub fn is_duration(s: &str) -> bool {
    duration(s).is_ok()
}

/// The `by (...)` labels of the outermost aggregation, for a legend.
pub fn top_level_grouping(expr: &str) -> Vec<String> {
    use promql_parser::parser::{Expr, LabelModifier};
    let Ok(mut e) = parse(expr) else {
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

/// Every series the spec defines, for PromQL checks.
pub fn series_catalog(spec: &Spec) -> SeriesCatalog {
    let mut c = SeriesCatalog {
        prefix: if spec.namespace.value.is_empty() {
            String::new()
        } else {
            spec.prefix()
        },
        selectors: spec
            .labels
            .iter()
            .filter_map(|l| l.variable.as_ref().map(|v| (l.name.value.clone(), v.value)))
            .collect(),
        ..Default::default()
    };
    for (_, m) in spec.metrics() {
        let mut labels: Vec<String> = m.labels.iter().map(|l| l.value.clone()).collect();
        if m.has_layout_label() {
            labels.push(crate::model::LAYOUT_LABEL.into());
        }
        match m.kind.value {
            MetricKind::Counter => c.insert(&m.name, &m.name, SeriesKind::Counter, &labels),
            MetricKind::Gauge => {
                c.insert(&m.name, &m.name, SeriesKind::Gauge, &labels);
                let ratio = m.unit.as_ref().is_some_and(|u| u.value == "ratio");
                c.mark(&m.name, ratio, m.state || m.is_info());
            }
            MetricKind::Histogram => {
                let mut with_le = labels.clone();
                with_le.push("le".into());
                c.insert(
                    &format!("{}_bucket", m.name.value),
                    &m.name,
                    SeriesKind::HistogramPart,
                    &with_le,
                );
                for s in ["_sum", "_count"] {
                    c.insert(
                        &format!("{}{s}", m.name.value),
                        &m.name,
                        SeriesKind::HistogramPart,
                        &labels,
                    );
                }
            }
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_values_without_by_under_a_grouping_loses_its_labels() {
        assert_eq!(
            count_values_lost_grouping("sum by (mny, dte) (count_values(\"iv\", g6_iv))"),
            vec![vec!["mny".to_string(), "dte".to_string()]]
        );
        // Its own value label survives; a count_values with by() keeps its labels.
        assert_eq!(
            count_values_lost_grouping("sum by (iv) (count_values(\"iv\", g6_iv))"),
            Vec::<Vec<String>>::new()
        );
        assert!(
            count_values_lost_grouping("sum by (mny) (count_values by (mny) (\"iv\", g6_iv))")
                .is_empty()
        );
        assert!(count_values_lost_grouping("count_values(\"iv\", g6_iv)").is_empty());
    }

    fn catalog() -> SeriesCatalog {
        let mut c = SeriesCatalog {
            prefix: "g6_".into(),
            ..Default::default()
        };
        c.insert(
            "g6_calls_total",
            "g6_calls_total",
            SeriesKind::Counter,
            &["endpoint".into()],
        );
        c.insert("g6_depth", "g6_depth", SeriesKind::Gauge, &["queue".into()]);
        for s in ["_bucket", "_sum", "_count"] {
            let mut labels = vec!["bus".to_string()];
            if s == "_bucket" {
                labels.push("le".into());
            }
            c.insert(
                &format!("g6_lat_seconds{s}"),
                "g6_lat_seconds",
                SeriesKind::HistogramPart,
                &labels,
            );
        }
        c
    }

    #[test]
    fn clean_expressions_have_no_findings() {
        let c = catalog();
        for e in [
            "sum by (endpoint) (rate(g6_calls_total[$__rate_interval]))",
            "histogram_quantile(0.95, sum by (le, bus) (rate(g6_lat_seconds_bucket[5m])))",
            "topk(5, g6_depth)",
            "max by (queue) (g6_depth) > 10",
            "sum(rate(g6_lat_seconds_sum[5m])) / clamp_min(sum(rate(g6_lat_seconds_count[5m])), 1)",
            "ALERTS{alertname=~\"G6.*\"}",
        ] {
            let a = c.analyze(e);
            assert!(a.findings.is_empty(), "{e}: {:?}", a.findings);
        }
    }

    #[test]
    fn finds_each_problem() {
        let c = catalog();
        let f = |e: &str| c.analyze(e).findings;
        assert!(matches!(
            f("rate(g6_depth[5m])")[0],
            Finding::RateOverGauge { .. }
        ));
        assert!(matches!(
            f("sum by (nope) (rate(g6_calls_total[5m]))")[0],
            Finding::UnknownGroupingLabel { .. }
        ));
        assert!(matches!(
            f("g6_calls_total > 0")[0],
            Finding::CounterWithoutRate { .. }
        ));
        assert!(matches!(
            f("sum(rate(g6_missing_total[5m]))")[0],
            Finding::UnknownSeries { .. }
        ));
        assert!(matches!(
            f("sum(rate(g6_calls_total[5m])")[0],
            Finding::Parse(_)
        ));
        let Finding::UnknownSeries { hint, .. } = &f("rate(g6_lat_seconds[5m])")[0] else {
            panic!()
        };
        assert!(hint.contains("histogram"));
    }

    #[test]
    fn findings_read_as_sentences() {
        let c = catalog();
        let f = &c.analyze("rate(g6_depth[5m])").findings[0];
        assert_eq!(
            f.to_string(),
            "applies rate() to the gauge `g6_depth`; use it directly, or deriv()/delta()"
        );
        let f = &c.analyze("sum(rate(g6_missing_total[5m]))").findings[0];
        assert!(
            f.to_string()
                .starts_with("references `g6_missing_total`, which nothing defines ("),
            "{f}"
        );
    }

    #[test]
    fn durations() {
        for ok in ["5m", "0s", "1h30m", "250ms", "2w"] {
            assert!(is_duration(ok), "{ok}");
        }
        for bad in [
            "",
            "5",
            "m",
            "5 m",
            "5min",
            "30m1h",
            "-5m",
            "99999999999s",
            "1h99999999999s",
        ] {
            assert!(!is_duration(bad), "{bad}");
        }
    }
}
