//! Semantic validation of a decoded spec: names, units, labels, budgets, buckets,
//! panels, alerts and dashboard plans. Every rule adds diagnostics; none stops early.

use crate::diag::{suggest, Code, Diagnostic, Pos};
use crate::grafana::GRAFANA_UNITS;
use crate::model::*;
use crate::naming;
use crate::promql::{is_duration, Finding, SeriesCatalog};
use std::collections::{BTreeSet, HashMap, HashSet};

/// Units Prometheus calls non-base, with the base unit to use instead.
const NON_BASE_UNITS: &[(&str, &str)] = &[
    ("ms", "seconds"),
    ("msec", "seconds"),
    ("millis", "seconds"),
    ("milliseconds", "seconds"),
    ("us", "seconds"),
    ("microseconds", "seconds"),
    ("ns", "seconds"),
    ("nanoseconds", "seconds"),
    ("sec", "seconds"),
    ("secs", "seconds"),
    ("minutes", "seconds"),
    ("mins", "seconds"),
    ("hours", "seconds"),
    ("days", "seconds"),
    ("kb", "bytes"),
    ("mb", "bytes"),
    ("gb", "bytes"),
    ("kib", "bytes"),
    ("mib", "bytes"),
    ("gib", "bytes"),
    ("kilobytes", "bytes"),
    ("megabytes", "bytes"),
    ("gigabytes", "bytes"),
    ("bits", "bytes"),
    ("percent", "ratio"),
    ("pct", "ratio"),
];

/// Words that name a metric type; Prometheus advises against them in names.
const TYPE_WORDS: &[&str] = &["counter", "gauge", "histogram", "summary"];

/// Panel kinds the spec understands.
pub const PANEL_KINDS: &[&str] = &[
    "rate", "increase", "quantile", "value", "ratio", "topk", "split", "heatmap", "stat", "table",
    "grid", "profile",
];

/// Grafana panel types the generator emits.
pub const PANEL_TYPES: &[&str] = &[
    "timeseries",
    "stat",
    "gauge",
    "table",
    "heatmap",
    "bargauge",
    "state-timeline",
];

/// Grafana colour names an annotation may use (besides `#rrggbb`).
pub const ANNOTATION_COLORS: &[&str] = &[
    "red",
    "orange",
    "yellow",
    "green",
    "blue",
    "purple",
    "text",
    "transparent",
    "dark-red",
    "semi-dark-red",
    "light-red",
    "super-light-red",
    "dark-orange",
    "semi-dark-orange",
    "light-orange",
    "super-light-orange",
    "dark-yellow",
    "semi-dark-yellow",
    "light-yellow",
    "super-light-yellow",
    "dark-green",
    "semi-dark-green",
    "light-green",
    "super-light-green",
    "dark-blue",
    "semi-dark-blue",
    "light-blue",
    "super-light-blue",
    "dark-purple",
    "semi-dark-purple",
    "light-purple",
    "super-light-purple",
];

/// Run every semantic rule over `spec`.
pub fn validate(spec: &Spec) -> Vec<Diagnostic> {
    let mut v = Validator {
        spec,
        out: Vec::new(),
    };
    v.namespace();
    v.label_sets();
    v.families_and_metrics();
    v.openmetrics_families();
    v.total_series();
    v.grafana();
    v.dashboards();
    crate::sql::validate(spec, &mut v.out);
    v.promql();
    v.slos();
    v.recordings();
    v.annotations();
    v.panel_renames();
    v.health();
    v.alerting();
    v.out
}

struct Validator<'a> {
    spec: &'a Spec,
    out: Vec<Diagnostic>,
}

impl<'a> Validator<'a> {
    fn err(&mut self, code: Code, pos: Pos, msg: impl Into<String>, hint: impl Into<String>) {
        self.out.push(Diagnostic::error(code, pos, msg, hint));
    }

    fn warn(&mut self, code: Code, pos: Pos, msg: impl Into<String>, hint: impl Into<String>) {
        self.out.push(Diagnostic::warning(code, pos, msg, hint));
    }

    /// In OpenMetrics a counter's family is its name without `_total`: a gauge or
    /// histogram `x` beside a counter `x_total` would be one family twice, and a scrape
    /// that asks for OpenMetrics would be rejected whole.
    fn openmetrics_families(&mut self) {
        let counters: Vec<&str> = self
            .spec
            .metrics()
            .filter(|(_, m)| m.kind.value == MetricKind::Counter)
            .map(|(_, m)| m.name.value.as_str())
            .collect();
        for (_, m) in self.spec.metrics() {
            if m.kind.value == MetricKind::Counter {
                continue;
            }
            let counter = format!("{}_total", m.name.value);
            if counters.contains(&counter.as_str()) {
                self.err(
                    Code::DuplicateMetric,
                    m.name.pos,
                    format!(
                        "metric `{}` and the counter `{counter}` are the same family in OpenMetrics",
                        m.name.value
                    ),
                    "rename one of them: Prometheus scrapes OpenMetrics by default and would reject the whole scrape",
                );
            }
        }
    }

    /// The whole spec at its budgets: label sets, times `buckets + 2` series for
    /// histograms, summed over every metric, within [`crate::model::MAX_SERIES_PER_SPEC`].
    fn total_series(&mut self) {
        let total: u128 = self
            .spec
            .metrics()
            .map(|(_, m)| {
                let per_set = match m.kind.value {
                    MetricKind::Histogram => m.bucket_values().len() as u128 + 2,
                    _ => 1,
                };
                // A metric over its own cap is reported on its own; count it at the cap
                // so one mistake does not raise two errors.
                let sets = m
                    .effective_budget(self.spec)
                    .min(crate::model::MAX_SERIES_PER_METRIC);
                u128::from(sets).saturating_mul(per_set)
            })
            .fold(0u128, u128::saturating_add);
        let cap = crate::model::MAX_SERIES_PER_SPEC;
        if total > u128::from(cap) {
            self.err(
                Code::TooManySeries,
                self.spec.namespace.pos,
                format!("at their budgets the spec's metrics expose {total} series; a spec may expose at most {cap}"),
                "lower the largest budgets or bucket counts: one scrape has to carry them all",
            );
        }
    }

    fn namespace(&mut self) {
        let ns = &self.spec.namespace;
        if !ns.value.is_empty() && !naming::is_snake(&ns.value) {
            self.err(
                Code::InvalidName,
                ns.pos,
                format!("namespace `{}` is not a valid metric-name prefix", ns.value),
                "use lowercase letters, digits and underscores, starting with a letter (e.g. `g6`)",
            );
        }
    }

    fn label_sets(&mut self) {
        let mut seen: HashMap<&str, Pos> = HashMap::new();
        for l in &self.spec.labels {
            self.label_name(&l.name);
            if let Some(first) = seen.insert(&l.name.value, l.name.pos) {
                self.err(
                    Code::DuplicateName,
                    l.name.pos,
                    format!(
                        "label set `{}` is declared twice (first at line {})",
                        l.name.value, first.line
                    ),
                    "keep one declaration",
                );
            }
            let Some(values) = &l.values else { continue };
            if values.is_empty() {
                self.err(
                    Code::InvalidLabelValue,
                    l.name.pos,
                    format!("label set `{}` has no values", l.name.value),
                    "list its values, or declare it `open: true`",
                );
            }
            let mut variants: HashMap<String, &str> = HashMap::new();
            for v in values {
                let ok = !v.value.is_empty()
                    && v.value
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
                if !ok {
                    self.err(
                        Code::InvalidLabelValue,
                        v.pos,
                        format!("label value `{}` of `{}` is not [A-Za-z0-9_.-]+", v.value, l.name.value),
                        "closed label values become Rust enum variants; use letters, digits, `_`, `.` or `-`",
                    );
                    continue;
                }
                if v.value == "__overflow__" {
                    self.err(
                        Code::InvalidLabelValue,
                        v.pos,
                        "`__overflow__` is reserved for the cardinality guard's overflow series",
                        "pick another value",
                    );
                    continue;
                }
                let variant = naming::pascal_case(&v.value);
                if let Some(other) = variants.insert(variant.clone(), &v.value) {
                    let what = if other == v.value {
                        format!(
                            "label value `{}` of `{}` is listed twice",
                            v.value, l.name.value
                        )
                    } else {
                        format!(
                            "label values `{other}` and `{}` of `{}` both become the Rust variant `{variant}`",
                            v.value, l.name.value
                        )
                    };
                    self.err(
                        Code::InvalidLabelValue,
                        v.pos,
                        what,
                        "make every value distinct",
                    );
                }
            }
        }
    }

    fn label_name(&mut self, name: &Spanned<String>) {
        if matches!(name.value.as_str(), "le" | "quantile") {
            self.err(
                Code::ReservedLabel,
                name.pos,
                format!("label `{}` is reserved by Prometheus", name.value),
                "`le` belongs to histogram buckets and `quantile` to summaries; choose another name",
            );
        } else if name.value.starts_with("__") {
            self.err(
                Code::InvalidLabelName,
                name.pos,
                format!(
                    "label `{}` starts with `__`, which Prometheus reserves",
                    name.value
                ),
                "drop the leading underscores",
            );
        } else if !naming::is_snake(&name.value) {
            self.err(
                Code::InvalidLabelName,
                name.pos,
                format!("label name `{}` is not snake_case", name.value),
                "use lowercase letters, digits and underscores, starting with a letter",
            );
        }
    }

    fn families_and_metrics(&mut self) {
        let mut families: HashMap<&str, Pos> = HashMap::new();
        let mut metrics: HashMap<&str, Pos> = HashMap::new();
        // Module-level functions of the generated `metrics` module that a metric's
        // accessors must not shadow.
        const MODULE_FN: &str = "";
        let mut accessors: HashMap<String, &str> = HashMap::new();
        accessors.insert("remove_matching".into(), MODULE_FN);
        let mut alerts: HashMap<&str, Pos> = HashMap::new();
        let on_dashboard: BTreeSet<&str> = self
            .spec
            .dashboards
            .iter()
            .flat_map(|d| d.families.iter().map(|f| f.value.as_str()))
            .collect();
        for fam in &self.spec.families {
            if !naming::is_snake(&fam.name.value) {
                self.err(
                    Code::InvalidName,
                    fam.name.pos,
                    format!("family name `{}` is not snake_case", fam.name.value),
                    "use lowercase letters, digits and underscores",
                );
            }
            if let Some(first) = families.insert(&fam.name.value, fam.name.pos) {
                self.err(
                    Code::DuplicateName,
                    fam.name.pos,
                    format!(
                        "family `{}` is defined twice (first at line {})",
                        fam.name.value, first.line
                    ),
                    "merge the two families",
                );
            }
            self.family_enabled_by(fam);
            if fam.declared_metrics == 0 {
                self.err(
                    Code::EmptyFamily,
                    fam.name.pos,
                    format!("family `{}` has no metrics", fam.name.value),
                    "add metrics under `metrics:` or remove the family",
                );
            }
            // Line 0: a built-in family the spec never mentions; its placement is the
            // user's choice, not an oversight.
            let unmentioned_builtin = fam.name.pos.line == 0;
            if !self.spec.dashboards.is_empty()
                && !unmentioned_builtin
                && !on_dashboard.contains(fam.name.value.as_str())
            {
                self.warn(
                    Code::FamilyNotOnDashboard,
                    fam.name.pos,
                    format!("family `{}` is not on any dashboard", fam.name.value),
                    "add it to a plan under `dashboards:` so its metrics are seen",
                );
            }
            for m in &fam.metrics {
                if let Some(first) = metrics.insert(&m.name.value, m.name.pos) {
                    self.err(
                        Code::DuplicateMetric,
                        m.name.pos,
                        format!(
                            "metric `{}` is defined twice (first at line {})",
                            m.name.value, first.line
                        ),
                        "metric names must be unique across all families",
                    );
                } else {
                    let short = m.short_name(self.spec).to_string();
                    let mut names = vec![short.clone()];
                    if !m.fully_closed(self.spec) {
                        names.push(format!("{short}_with"));
                        names.push(format!("remove_{short}"));
                    }
                    for n in names {
                        if let Some(other) = accessors.insert(n.clone(), &m.name.value) {
                            if other == MODULE_FN {
                                self.err(
                                    Code::NameCollision,
                                    m.name.pos,
                                    format!(
                                        "metric `{}` generates the accessor `{n}`, which the generated `metrics` module defines for every spec",
                                        m.name.value
                                    ),
                                    "rename the metric",
                                );
                                continue;
                            }
                            self.err(
                                Code::NameCollision,
                                m.name.pos,
                                format!(
                                    "metrics `{other}` and `{}` both generate the accessor `{n}`",
                                    m.name.value
                                ),
                                "rename one of them",
                            );
                        }
                    }
                }
                self.metric(m);
                for a in &m.alerts {
                    if let Some(first) = alerts.insert(&a.alert.value, a.alert.pos) {
                        self.err(
                            Code::DuplicateName,
                            a.alert.pos,
                            format!(
                                "alert `{}` is defined twice (first at line {})",
                                a.alert.value, first.line
                            ),
                            "alert names must be unique",
                        );
                    }
                }
            }
        }
        // renamed_from must not name a live metric.
        for (_, m) in self.spec.metrics() {
            if let Some(r) = &m.renamed_from {
                if metrics.contains_key(r.value.as_str()) {
                    self.err(
                        Code::DuplicateMetric,
                        r.pos,
                        format!(
                            "`renamed_from: {}` names a metric that still exists",
                            r.value
                        ),
                        "drop `renamed_from`, or remove the old metric",
                    );
                }
            }
        }
    }

    fn metric(&mut self, m: &Metric) {
        self.metric_name(m);
        self.metric_labels(m);
        self.metric_budget(m);
        self.metric_buckets(m);
        self.metric_warm(m);
        if m.state && m.kind.value != MetricKind::Gauge {
            self.err(
                Code::BadValue,
                m.pos,
                format!(
                    "{} `{}` is marked `state: true`",
                    m.kind.value.as_str(),
                    m.name.value
                ),
                "only a 0/1 gauge is a state; drop `state: true` or make it `type: gauge`",
            );
        }
        for p in &m.panels {
            self.panel(p);
        }
        for a in &m.alerts {
            self.alert(a);
        }
    }

    /// A `grid` (table, rows x columns) or `profile` (x axis x one line per series) panel
    /// groups by exactly two closed labels: their declared order is the display order.
    fn grid_shape(&mut self, p: &Panel) {
        let Some(kind) = p
            .kind
            .as_ref()
            .filter(|k| matches!(k.value.as_str(), "grid" | "profile"))
        else {
            return;
        };
        let by = crate::promql::top_level_grouping(&p.promql.value);
        let closed = by.len() == 2 && by.iter().all(|l| self.spec.closed_values(l).is_some());
        if !closed {
            self.err(
                Code::BadValue,
                p.promql.pos,
                format!(
                    "a `{}` panel must group by exactly two closed labels; `{}` groups by [{}]",
                    kind.value,
                    p.title.value,
                    by.join(", ")
                ),
                "write `sum by (rows_label, columns_label) (...)` with two labels that list their values",
            );
        }
    }

    fn metric_name(&mut self, m: &Metric) {
        let name = &m.name;
        let prefix = self.spec.prefix();
        if !naming::is_snake(&name.value) {
            self.err(
                Code::InvalidMetricName,
                name.pos,
                format!("metric name `{}` is not snake_case [a-z_][a-z0-9_]*", name.value),
                "use lowercase letters, digits and underscores (no `:`, it is reserved for recording rules)",
            );
            return;
        }
        if !self.spec.namespace.value.is_empty() && !name.value.starts_with(&prefix) {
            self.err(
                Code::InvalidMetricName,
                name.pos,
                format!(
                    "metric `{}` does not start with the namespace prefix `{prefix}`",
                    name.value
                ),
                format!("rename it `{prefix}{}`", name.value),
            );
        }
        let is_counter = m.kind.value == MetricKind::Counter;
        let total = name.value.ends_with("_total");
        if is_counter && !total {
            self.err(
                Code::NamingConvention,
                name.pos,
                format!("counter `{}` does not end in `_total`", name.value),
                format!(
                    "rename it `{}_total` (and record the old name in `renamed_from`)",
                    name.value
                ),
            );
        }
        if !is_counter && total {
            self.err(
                Code::NamingConvention,
                name.pos,
                format!(
                    "{} `{}` ends in `_total`, which only counters may",
                    m.kind.value.as_str(),
                    name.value
                ),
                "drop `_total`, or make it a counter if it only ever goes up",
            );
        }
        let stem = name.value.strip_suffix("_total").unwrap_or(&name.value);
        for suffix in ["_count", "_sum", "_bucket"] {
            if stem.ends_with(suffix) {
                self.err(
                    Code::NamingConvention,
                    name.pos,
                    format!(
                        "metric `{}` ends in `{suffix}`, which histograms reserve",
                        name.value
                    ),
                    "choose another ending, e.g. `_events_total` or `_items`",
                );
            }
        }
        let tokens: Vec<&str> = name.value.split('_').collect();
        for t in &tokens {
            if let Some((_, base)) = NON_BASE_UNITS.iter().find(|(u, _)| u == t) {
                self.err(
                    Code::NamingConvention,
                    name.pos,
                    format!("metric `{}` uses the non-base unit `{t}`", name.value),
                    format!("use base units: `_{base}` (convert the value when you emit it)"),
                );
            }
            if TYPE_WORDS.contains(t) {
                self.err(
                    Code::NamingConvention,
                    name.pos,
                    format!("metric `{}` has the type name `{t}` in it", name.value),
                    "the type is in the metadata already; name what is measured",
                );
            }
        }
        if let Some(unit) = &m.unit {
            if let Some((_, base)) = NON_BASE_UNITS.iter().find(|(u, _)| *u == unit.value) {
                self.err(
                    Code::NamingConvention,
                    unit.pos,
                    format!("unit `{}` is not a base unit", unit.value),
                    format!("use `{base}`"),
                );
            } else if !naming::is_snake(&unit.value) {
                self.err(
                    Code::BadValue,
                    unit.pos,
                    format!("unit `{}` is not a lowercase word", unit.value),
                    "write the base unit as a word: seconds, bytes, ratio, contracts, ...",
                );
            } else if matches!(unit.value.as_str(), "seconds" | "bytes")
                && !stem.ends_with(&format!("_{}", unit.value))
            {
                self.err(
                    Code::NamingConvention,
                    name.pos,
                    format!("metric `{}` has unit `{}` but its name does not end in `_{}`", name.value, unit.value, unit.value),
                    format!("rename it so the unit is the last word before any `_total`, e.g. `{stem}_{}`", unit.value),
                );
            }
        }
        for base in ["seconds", "bytes"] {
            if stem.ends_with(&format!("_{base}"))
                && m.unit.as_ref().map(|u| u.value.as_str()) != Some(base)
            {
                self.warn(
                    Code::UnitSuffix,
                    name.pos,
                    format!(
                        "metric `{}` ends in `_{base}` but declares no `unit: {base}`",
                        name.value
                    ),
                    format!("add `unit: {base}` so dashboards pick the right axis unit"),
                );
            }
        }
    }

    fn metric_labels(&mut self, m: &Metric) {
        let mut seen: HashMap<&str, Pos> = HashMap::new();
        let closed: Vec<&str> = self
            .spec
            .labels
            .iter()
            .filter(|l| l.values.is_some())
            .map(|l| l.name.value.as_str())
            .collect();
        for l in &m.labels {
            self.label_name(l);
            if seen.insert(&l.value, l.pos).is_some() {
                self.err(
                    Code::DuplicateName,
                    l.pos,
                    format!("label `{}` is listed twice on `{}`", l.value, m.name.value),
                    "list each label once",
                );
            }
            if self.spec.label_def(&l.value).is_none() {
                if let Some(s) = suggest(&l.value, closed.iter().copied()) {
                    self.err(
                        Code::UnknownLabelSet,
                        l.pos,
                        format!("label `{}` is not declared; it looks like the label set `{s}`", l.value),
                        format!("write `{s}`, or declare `{}: {{open: true, help: ...}}` under `labels:` to make it an open label", l.value),
                    );
                }
            }
        }
    }

    fn metric_budget(&mut self, m: &Metric) {
        let combos = m.closed_combinations(self.spec);
        // Every closed series is created at start: a cap keeps one spec line from
        // allocating millions of them (and a scrape from carrying them).
        let cap = crate::model::MAX_SERIES_PER_METRIC;
        if combos > cap as u128 {
            return self.err(
                Code::TooManySeries,
                m.name.pos,
                format!(
                    "`{}` has {combos} closed label combinations; a metric may have at most {cap} series",
                    m.name.value
                ),
                "drop a closed label, or make a label with many values open (open labels create series only when used, within the budget)",
            );
        }
        if let Some(b) = m
            .cardinality_budget
            .as_ref()
            .filter(|b| b.value > cap as i64)
        {
            return self.err(
                Code::TooManySeries,
                b.pos,
                format!(
                    "cardinality_budget of `{}` is {}; a metric may have at most {cap} series",
                    m.name.value, b.value
                ),
                format!("lower it to {cap} or less: beyond that one metric dominates every scrape and query; split it by purpose instead"),
            );
        }
        match &m.cardinality_budget {
            Some(b) if b.value < 1 => self.err(
                Code::BudgetTooSmall,
                b.pos,
                format!("cardinality_budget of `{}` is {}; it must be at least 1", m.name.value, b.value),
                format!("set it to at least {}", combos.max(1)),
            ),
            Some(b) if (b.value as u128) < combos => self.err(
                Code::BudgetExceeded,
                b.pos,
                format!(
                    "`{}` has {combos} closed label combinations but a budget of {}",
                    m.name.value, b.value
                ),
                format!("raise cardinality_budget to at least {combos}, or drop a label (budgets count label sets; a histogram label set counts once)"),
            ),
            None if !m.fully_closed(self.spec) => {
                let open: Vec<&str> = m
                    .labels
                    .iter()
                    .filter(|l| self.spec.closed_values(l).is_none())
                    .map(|l| l.value.as_str())
                    .collect();
                self.err(
                    Code::BudgetTooSmall,
                    m.name.pos,
                    format!("`{}` has open labels ({}) but no cardinality_budget", m.name.value, open.join(", ")),
                    "add `cardinality_budget: N` with the most label sets you expect",
                );
            }
            _ => {}
        }
    }

    /// `enabled_by:` names an environment variable the usual way (upper case, digits,
    /// underscores, not starting with a digit), and never gates the runtime's own
    /// families: the governance and batcher metrics must exist in every process.
    fn family_enabled_by(&mut self, fam: &Family) {
        let Some(var) = &fam.enabled_by else { return };
        let v = var.value.as_str();
        let valid = v
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_uppercase() || c == '_')
            && v.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        if !valid {
            let fixed: String = v
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_ascii_uppercase()
                    } else {
                        '_'
                    }
                })
                .collect();
            let fixed = if fixed.starts_with(|c: char| c.is_ascii_digit()) || fixed.is_empty() {
                format!("_{fixed}")
            } else {
                fixed
            };
            self.err(
                Code::BadEnabledBy,
                var.pos,
                format!(
                    "`enabled_by: {v}` of family `{}` is not an environment variable name",
                    fam.name.value
                ),
                format!("use upper case, digits and underscores, e.g. `enabled_by: {fixed}`"),
            );
        }
        if ["governance", "emission"].contains(&fam.name.value.as_str()) {
            self.err(
                Code::BadEnabledBy,
                var.pos,
                format!(
                    "family `{}` holds the runtime's own metrics and cannot be switched off",
                    fam.name.value
                ),
                "move the metrics to gate into a family of their own and put `enabled_by:` there",
            );
        }
    }

    /// `warm:` must describe series the metric can have: never on a gauge, only its
    /// own labels, only declared values of closed labels, every open label named.
    fn metric_warm(&mut self, m: &Metric) {
        let Some(w) = &m.warm else { return };
        let name = &m.name.value;
        if m.kind.value == MetricKind::Gauge && w.value != Warm::Flag(false) {
            self.err(
                Code::BadWarm,
                w.pos,
                format!("gauge `{name}` has `warm:`"),
                "gauges are never warmed (a gauge without a reading has no series); remove `warm:`",
            );
            return;
        }
        match &w.value {
            Warm::Flag(true) if !m.fully_closed(self.spec) => {
                let open: Vec<&str> = m
                    .labels
                    .iter()
                    .filter(|l| self.spec.closed_values(l).is_none())
                    .map(|l| l.value.as_str())
                    .collect();
                self.err(
                    Code::BadWarm,
                    w.pos,
                    format!(
                        "`warm: true` on `{name}`, whose label `{}` is open",
                        open.join("`, `")
                    ),
                    format!(
                        "name the values to warm, e.g. `warm: {{{}: [...]}}`",
                        open.first().copied().unwrap_or("label")
                    ),
                );
            }
            Warm::Flag(_) => {}
            Warm::Values(map) => {
                for (label, values) in map {
                    if !m.labels.iter().any(|l| l.value == label.value) {
                        let hint = match suggest(
                            &label.value,
                            m.labels.iter().map(|l| l.value.as_str()),
                        ) {
                            Some(s) => {
                                format!("did you mean `{s}`? `warm:` names labels of the metric")
                            }
                            None => format!(
                                "`warm:` names labels of the metric: {}",
                                m.labels
                                    .iter()
                                    .map(|l| l.value.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        };
                        self.err(
                            Code::BadWarm,
                            label.pos,
                            format!(
                                "`warm:` of `{name}` names `{}`, which is not one of its labels",
                                label.value
                            ),
                            hint,
                        );
                        continue;
                    }
                    if let Some(closed) = self.spec.closed_values(label) {
                        for v in values {
                            if !closed.iter().any(|c| c.value == v.value) {
                                let allowed: Vec<&str> =
                                    closed.iter().map(|c| c.value.as_str()).collect();
                                self.err(
                                    Code::BadWarm,
                                    v.pos,
                                    format!(
                                        "warm value `{}` is not a value of the closed label `{}`",
                                        v.value, label.value
                                    ),
                                    format!("use one of: {}", allowed.join(", ")),
                                );
                            }
                        }
                    }
                    if values.is_empty() {
                        self.err(
                            Code::BadWarm,
                            label.pos,
                            format!("`warm:` of `{name}` lists no values for `{}`", label.value),
                            "list at least one value, or drop the label from `warm:`",
                        );
                    }
                }
                for l in &m.labels {
                    if self.spec.closed_values(l).is_none()
                        && !map.iter().any(|(k, _)| k.value == l.value)
                    {
                        self.err(
                            Code::BadWarm,
                            w.pos,
                            format!("`warm:` of `{name}` does not name its open label `{}`", l.value),
                            format!("add `{}: [...]` with the values to warm: a series needs a value for every label", l.value),
                        );
                    }
                }
            }
        }
    }

    fn metric_buckets(&mut self, m: &Metric) {
        if let Some(v) = &m.buckets_version {
            if m.kind.value != MetricKind::Histogram {
                self.err(
                    Code::BucketsOnNonHistogram,
                    v.pos,
                    format!(
                        "{} `{}` has a buckets_version",
                        m.kind.value.as_str(),
                        m.name.value
                    ),
                    "only histograms have a bucket layout; remove `buckets_version`",
                );
            } else if m.has_layout_label() && m.labels.iter().any(|l| l.value == LAYOUT_LABEL) {
                self.err(
                    Code::BadBuckets,
                    v.pos,
                    format!(
                        "`{}` has a label `{LAYOUT_LABEL}` and buckets_version {}",
                        m.name.value, v.value
                    ),
                    "past its first layout a histogram's series carry `buckets_version` themselves; rename the label",
                );
            } else if v.value < 1 {
                self.err(
                    Code::BadBuckets,
                    v.pos,
                    format!("buckets_version {} of `{}` is below 1", v.value, m.name.value),
                    "layouts are numbered from 1 (the default); raise it by one at each bucket change",
                );
            }
        }
        match (&m.buckets, m.kind.value) {
            (None, MetricKind::Histogram) => self.err(
                Code::MissingBuckets,
                m.name.pos,
                format!("histogram `{}` has no buckets", m.name.value),
                "add `buckets: [...]` with increasing upper bounds in base units, e.g. [0.005, 0.01, 0.05, 0.1, 0.5, 1]",
            ),
            (Some(b), MetricKind::Histogram) => {
                if b.value.len() > crate::model::MAX_BUCKETS {
                    self.err(
                        Code::TooManySeries,
                        b.pos,
                        format!(
                            "histogram `{}` has {} buckets; the most is {}",
                            m.name.value,
                            b.value.len(),
                            crate::model::MAX_BUCKETS
                        ),
                        "every bucket is a series per label set: keep the bounds that decide something (typically 8 to 15)",
                    );
                }
                if b.value.is_empty() {
                    self.err(
                        Code::MissingBuckets,
                        b.pos,
                        format!("histogram `{}` has an empty bucket list", m.name.value),
                        "list at least one upper bound (+Inf is added for you)",
                    );
                }
                for w in b.value.windows(2) {
                    if w[1].value <= w[0].value {
                        self.err(
                            Code::BadBuckets,
                            w[1].pos,
                            format!("bucket {} does not follow {} in increasing order", w[1].value, w[0].value),
                            "buckets must be strictly increasing with no duplicates",
                        );
                    }
                }
                for v in &b.value {
                    if !v.value.is_finite() {
                        self.err(
                            Code::BadBuckets,
                            v.pos,
                            format!("bucket {} is not a finite number", v.value),
                            "leave out +Inf (it is always added) and NaN",
                        );
                    }
                }
            }
            (Some(b), kind) => self.err(
                Code::BucketsOnNonHistogram,
                b.pos,
                format!("{} `{}` has buckets", kind.as_str(), m.name.value),
                "only histograms take buckets; remove them or change `type: histogram`",
            ),
            (None, _) => {}
        }
    }

    fn panel(&mut self, p: &Panel) {
        self.grid_shape(p);
        if let Some(k) = &p.kind {
            if !PANEL_KINDS.contains(&k.value.as_str()) {
                self.err(
                    Code::BadValue,
                    k.pos,
                    format!("unknown panel kind `{}`", k.value),
                    format!("use one of: {}", PANEL_KINDS.join(", ")),
                );
            }
        }
        if let Some(t) = &p.panel_type {
            if !PANEL_TYPES.contains(&t.value.as_str()) {
                self.err(
                    Code::BadValue,
                    t.pos,
                    format!("unknown panel_type `{}`", t.value),
                    format!("use one of: {}", PANEL_TYPES.join(", ")),
                );
            }
        }
        if let Some(u) = &p.unit {
            if !GRAFANA_UNITS.contains(&u.value.as_str()) {
                self.err(
                    Code::BadValue,
                    u.pos,
                    format!("unknown Grafana unit `{}`", u.value),
                    format!("use one of: {}", GRAFANA_UNITS.join(", ")),
                );
            }
        }
    }

    fn alert(&mut self, a: &Alert) {
        if !naming::is_camel(&a.alert.value) {
            self.err(
                Code::AlertNameNotCamelCase,
                a.alert.pos,
                format!("alert name `{}` is not CamelCase", a.alert.value),
                format!("write it like `{}`", naming::pascal_case(&a.alert.value)),
            );
        }
        if let Some(f) = &a.for_ {
            if !is_duration(&f.value) {
                self.err(
                    Code::BadDuration,
                    f.pos,
                    format!("`for: {}` is not a Prometheus duration", f.value),
                    "write it like `5m`, `30s` or `1h30m`",
                );
            }
        }
        if !matches!(a.severity.value.as_str(), "info" | "warning" | "critical") {
            self.err(
                Code::BadSeverity,
                a.severity.pos,
                format!(
                    "severity `{}` is not info, warning or critical",
                    a.severity.value
                ),
                "use info, warning or critical (routing depends on these exact words)",
            );
        }
    }

    fn grafana(&mut self) {
        let g = &self.spec.grafana;
        if !(27..=crate::grafana::MAX_SCHEMA_VERSION as i64).contains(&g.schema_version.value) {
            self.err(
                Code::BadValue,
                g.schema_version.pos,
                format!("grafana schema_version {} is not a classic dashboard schema", g.schema_version.value),
                format!("use 27..={} (41 is Grafana 11.6; the v2 format is not supported by file provisioning)", crate::grafana::MAX_SCHEMA_VERSION),
            );
        }
        if !is_duration(&g.refresh.value) {
            self.err(
                Code::BadDuration,
                g.refresh.pos,
                format!("grafana refresh `{}` is not a duration", g.refresh.value),
                "write it like `30s` or `1m`",
            );
        }
    }

    /// The alerting settings, and every alert's runbook checks and inhibitions.
    fn alerting(&mut self) {
        let a = &self.spec.alerting;
        for (field, url, relative_ok) in [
            ("grafana_url", &a.grafana_url, false),
            ("runbook_url", &a.runbook_url, true),
        ] {
            let v = url.value.as_str();
            let http = v.starts_with("http://") || v.starts_with("https://");
            let bad = v.is_empty()
                || v.len() > 2048
                || v.contains(['#', '?', ' ', '\'', '"'])
                || v.chars().any(char::is_control)
                || (!http && !relative_ok);
            if bad {
                self.err(
                    Code::BadAlerting,
                    url.pos,
                    format!("alerting {field} `{v}` is not a usable base URL"),
                    if relative_ok {
                        "write an http(s) URL or a path, without `#`, `?`, quotes or spaces (e.g. https://git.example.com/g6/blob/main/generated/docs/RUNBOOK.md)"
                    } else {
                        "write an http(s) URL without `#`, `?`, quotes or spaces (e.g. http://127.0.0.1:3000)"
                    },
                );
            }
        }
        let metrics: HashSet<&str> = self
            .spec
            .metrics()
            .map(|(_, m)| m.name.value.as_str())
            .collect();
        let mut problems = Vec::new();
        for (_, m) in self.spec.metrics() {
            for al in &m.alerts {
                if al.checks.len() > crate::model::MAX_RUNBOOK_CHECKS {
                    problems.push((
                        al.checks[crate::model::MAX_RUNBOOK_CHECKS].pos,
                        format!(
                            "alert `{}` lists {} runbook checks; the runbook shows the first {}",
                            al.alert.value,
                            al.checks.len(),
                            crate::model::MAX_RUNBOOK_CHECKS
                        ),
                        "keep the three a person should check first".to_string(),
                    ));
                }
                for c in &al.checks {
                    if c.value.trim().is_empty()
                        || c.value.len() > crate::model::MAX_RUNBOOK_CHECK_BYTES
                    {
                        problems.push((
                            c.pos,
                            format!(
                                "a runbook check of alert `{}` is empty or longer than {} bytes",
                                al.alert.value,
                                crate::model::MAX_RUNBOOK_CHECK_BYTES
                            ),
                            "write one concrete thing to look at, in a sentence".to_string(),
                        ));
                    }
                }
                for i in &al.inhibits {
                    if !metrics.contains(i.value.as_str()) {
                        let hint = match suggest(&i.value, metrics.iter().copied()) {
                            Some(s) => format!("did you mean `{s}`? `inhibits` lists spec metrics whose alerts this one silences"),
                            None => "`inhibits` lists spec metrics (full names) whose alerts this one silences".to_string(),
                        };
                        problems.push((
                            i.pos,
                            format!(
                                "alert `{}` inhibits `{}`, which is not a metric of the spec",
                                al.alert.value, i.value
                            ),
                            hint,
                        ));
                    }
                }
            }
        }
        for (pos, msg, hint) in problems {
            self.err(Code::BadAlerting, pos, msg, hint);
        }
    }

    fn dashboards(&mut self) {
        let known: Vec<&str> = self
            .spec
            .families
            .iter()
            .map(|f| f.name.value.as_str())
            .collect();
        let mut slugs: HashMap<&str, Pos> = HashMap::new();
        for d in &self.spec.dashboards {
            if let Some(problem) = naming::dashboard_slug_problem(
                &self.spec.namespace.value,
                &d.slug.value,
                d.slug.pos,
            ) {
                self.out.push(problem);
            }
            if let Some(first) = slugs.insert(&d.slug.value, d.slug.pos) {
                self.err(
                    Code::DuplicateName,
                    d.slug.pos,
                    format!(
                        "dashboard `{}` is declared twice (first at line {})",
                        d.slug.value, first.line
                    ),
                    "keep one plan per slug",
                );
            }
            if let Some(l) = &d.panel_limit {
                if !(1..=crate::grafana::PANEL_CAP as i64).contains(&l.value) {
                    self.err(
                        Code::BadValue,
                        l.pos,
                        format!(
                            "panel_limit {} of dashboard `{}` is outside 1..={}",
                            l.value,
                            d.slug.value,
                            crate::grafana::PANEL_CAP
                        ),
                        "leave it out for the default cap, or pick a smaller number",
                    );
                }
            }
            for f in &d.families {
                if !known.contains(&f.value.as_str()) {
                    let hint = match suggest(&f.value, known.iter().copied()) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => format!("known families: {}", known.join(", ")),
                    };
                    self.err(
                        Code::UnknownFamily,
                        f.pos,
                        format!(
                            "dashboard `{}` names unknown family `{}`",
                            d.slug.value, f.value
                        ),
                        hint,
                    );
                }
            }
        }
    }

    fn promql(&mut self) {
        let catalog = crate::promql::series_catalog(self.spec);
        for (_, m) in self.spec.metrics() {
            let mut titles: HashMap<&str, Pos> = HashMap::new();
            for p in &m.panels {
                if let Some(first) = titles.insert(&p.title.value, p.title.pos) {
                    self.err(
                        Code::DuplicateName,
                        p.title.pos,
                        format!(
                            "panel title `{}` is used twice on `{}` (first at line {})",
                            p.title.value, m.name.value, first.line
                        ),
                        "give each panel its own title",
                    );
                }
                self.expr(&catalog, &p.promql, "panel");
            }
            for a in &m.alerts {
                self.expr(&catalog, &a.expr, "alert");
            }
        }
    }

    /// SLOs: a snake_case name, an objective strictly between 0 and 100, a period
    /// from 1d to 365d, exactly one of good/bad beside total, each with a `$window`
    /// range and valid PromQL over the spec's metrics.
    fn slos(&mut self) {
        let catalog = crate::promql::series_catalog(self.spec);
        for s in &self.spec.slos {
            let name = &s.name.value;
            let snake = name.starts_with(|c: char| c.is_ascii_lowercase())
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !snake || name.len() > 64 {
                self.err(
                    Code::BadSlo,
                    s.name.pos,
                    format!("SLO name `{name}` is not snake_case (a-z, 0-9, _; at most 64)"),
                    "it becomes the `slo` label and part of the alert names: e.g. provider_availability",
                );
            }
            let o = s.objective.value;
            if !(o > 0.0 && o < 100.0) {
                self.err(
                    Code::BadSlo,
                    s.objective.pos,
                    format!("objective {o} of SLO `{name}` is not between 0 and 100 (exclusive)"),
                    "write the percent of good events: 99.5 means 99.5% good, a 0.5% error budget",
                );
            }
            match crate::promql::duration(&s.period.value) {
                Ok(d) if (86_400..=365 * 86_400).contains(&d.as_secs()) => {}
                Ok(_) => self.err(
                    Code::BadSlo,
                    s.period.pos,
                    format!(
                        "period {} of SLO `{name}` is outside 1d..365d",
                        s.period.value
                    ),
                    "a compliance period is days or weeks: 28d or 30d are usual",
                ),
                Err(_) => self.err(
                    Code::BadSlo,
                    s.period.pos,
                    format!(
                        "period {:?} of SLO `{name}` is not a duration",
                        s.period.value
                    ),
                    "write it like 28d or 4w",
                ),
            }
            match (&s.good, &s.bad) {
                (Some(_), Some(b)) => self.err(
                    Code::BadSli,
                    b.pos,
                    format!("SLO `{name}` gives both good and bad"),
                    "keep one: good/total or bad/total",
                ),
                (None, None) => self.err(
                    Code::BadSli,
                    s.total.pos,
                    format!("SLO `{name}` gives neither good nor bad"),
                    "add good: (events that met the objective) or bad: (events that did not), each over [$window]",
                ),
                _ => {}
            }
            let exprs = [
                ("good", &s.good),
                ("bad", &s.bad),
                ("total", &Some(s.total.clone())),
            ];
            for (part, e) in exprs {
                let Some(e) = e else { continue };
                if !e.value.contains("$window") {
                    self.err(
                        Code::BadSli,
                        e.pos,
                        format!("the {part} expression of SLO `{name}` has no `$window`"),
                        "write its range as [$window]: the rules compute it over 5m, 30m, 1h, 2h, 6h, 1d, 3d and the period",
                    );
                    continue;
                }
                let concrete = Spanned::new(e.value.replace("$window", "5m"), e.pos);
                self.expr(&catalog, &concrete, &format!("SLO `{name}` {part}"));
                self.selector_matchers(
                    &catalog,
                    &concrete,
                    Code::BadSli,
                    &format!("the {part} expression of SLO `{name}`"),
                );
            }
        }
    }

    /// An SLI's (or a health component's) selectors must select something that can
    /// exist: label names the series has, closed values from their set, `le` one of
    /// the histogram's bounds. (A typo there gives an empty series: a ratio that is
    /// never computed, or an SLO that is always 100% bad.) `what` starts the message.
    fn selector_matchers(
        &mut self,
        catalog: &SeriesCatalog,
        expr: &Spanned<String>,
        code: Code,
        what: &str,
    ) {
        use promql_parser::parser::{Expr, VectorSelector};
        use promql_parser::util::{walk_expr, ExprVisitor};
        struct Collect(Vec<VectorSelector>);
        impl ExprVisitor for Collect {
            type Error = std::convert::Infallible;
            fn pre_visit(&mut self, e: &Expr) -> Result<bool, Self::Error> {
                match e {
                    Expr::VectorSelector(vs) => self.0.push(vs.clone()),
                    Expr::MatrixSelector(ms) => self.0.push(ms.vs.clone()),
                    _ => {}
                }
                Ok(true)
            }
        }
        let Ok(parsed) = crate::promql::parse(&expr.value) else {
            return;
        };
        let mut c = Collect(Vec::new());
        let _ = walk_expr(&mut c, &parsed);
        for vs in c.0 {
            let Some(name) = vs.name.clone() else {
                continue;
            };
            let Some(info) = catalog.series.get(&name) else {
                continue;
            };
            for m in &vs.matchers.matchers {
                if m.name == "__name__" {
                    continue;
                }
                if !info.labels.contains(&m.name) {
                    self.err(
                        code,
                        expr.pos,
                        format!(
                            "{what} matches `{}` on `{name}`, which has no such label",
                            m.name
                        ),
                        format!(
                            "its labels: {}",
                            info.labels.iter().cloned().collect::<Vec<_>>().join(", ")
                        ),
                    );
                    continue;
                }
                let exact = matches!(
                    m.op,
                    promql_parser::label::MatchOp::Equal | promql_parser::label::MatchOp::NotEqual
                );
                if !exact {
                    continue;
                }
                if m.name == "le" {
                    let bounds = self
                        .spec
                        .metrics()
                        .find(|(_, x)| x.name.value == info.metric)
                        .map(|(_, x)| x.bucket_values())
                        .unwrap_or_default();
                    let ok = m.value == "+Inf"
                        || m.value.parse::<f64>().is_ok_and(|v| bounds.contains(&v));
                    if !ok {
                        self.err(
                            code,
                            expr.pos,
                            format!("{what} reads le=\"{}\" of `{name}`, which is not one of its bucket bounds", m.value),
                            format!("bounds: {}", bounds.iter().map(|b| b.to_string()).collect::<Vec<_>>().join(", ")),
                        );
                    }
                } else if let Some(values) = self.spec.closed_values(&m.name) {
                    if !values.iter().any(|v| v.value == m.value) {
                        self.err(
                            code,
                            expr.pos,
                            format!("{what} matches {}=\"{}\", which is not a value of the closed label `{}`", m.name, m.value, m.name),
                            format!("values: {}", values.iter().map(|v| v.value.as_str()).collect::<Vec<_>>().join(", ")),
                        );
                    }
                }
            }
        }
    }

    /// The health section: thresholds 0 < critical < warning <= 1, a dashboard plan
    /// of the spec, snake_case component names, weights in (0, 1] summing to 1, alert
    /// names free; each component's expression valid PromQL over the spec's metrics
    /// with selectors that can match, and its test series exact selectors of the
    /// metrics it reads (no metric shared with another component's tests), with
    /// promtool values for minutes 0 through 10.
    fn health(&mut self) {
        let Some(h) = &self.spec.health else {
            return;
        };
        let catalog = crate::promql::series_catalog(self.spec);
        let (w, c) = (h.warning.value, h.critical.value);
        if !(w > 0.0 && w <= 1.0) {
            self.err(
                Code::BadHealth,
                h.warning.pos,
                format!("health warning threshold {w} is not in (0, 1]"),
                "the score is between 0 and 1: warn below e.g. 0.8",
            );
        }
        if !(c > 0.0 && c < 1.0) {
            self.err(
                Code::BadHealth,
                h.critical.pos,
                format!("health critical threshold {c} is not in (0, 1)"),
                "the score is between 0 and 1: page below e.g. 0.5",
            );
        } else if w > 0.0 && w <= 1.0 && c >= w {
            self.err(
                Code::BadHealth,
                h.critical.pos,
                format!("health critical threshold {c} is not below the warning threshold {w}"),
                "critical is the lower score: e.g. warning: 0.8, critical: 0.5",
            );
        }
        let slugs: Vec<&str> = self
            .spec
            .dashboards
            .iter()
            .map(|d| d.slug.value.as_str())
            .collect();
        if !slugs.contains(&h.dashboard.value.as_str()) {
            let hint = match suggest(&h.dashboard.value, slugs.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("dashboards: {}", slugs.join(", ")),
            };
            self.err(
                Code::BadHealth,
                h.dashboard.pos,
                format!(
                    "health dashboard `{}` is not a dashboard plan of the spec",
                    h.dashboard.value
                ),
                hint,
            );
        }
        let alerts = [
            crate::health::warning_alert(self.spec),
            crate::health::critical_alert(self.spec),
        ];
        for (_, m) in self.spec.metrics() {
            for a in &m.alerts {
                if alerts.contains(&a.alert.value) {
                    self.err(
                        Code::BadHealth,
                        a.alert.pos,
                        format!(
                            "alert `{}` has the name of a generated health score alert",
                            a.alert.value
                        ),
                        "rename it: the health section generates it",
                    );
                }
            }
        }
        if h.components.is_empty() {
            if h.declared_components == 0 {
                self.err(
                    Code::BadHealth,
                    h.components_pos,
                    "the health section has no components",
                    "add at least one, e.g. `provider_success: {weight: 1, expr: '...', test: {...}}`",
                );
            }
            return;
        }
        let mut weights_ok = true;
        for comp in &h.components {
            let name = &comp.name.value;
            let snake = name.starts_with(|c: char| c.is_ascii_lowercase())
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !snake || name.len() > 64 {
                self.err(
                    Code::BadHealth,
                    comp.name.pos,
                    format!("health component name `{name}` is not snake_case (a-z, 0-9, _; at most 64)"),
                    "it becomes the `component` label: e.g. provider_success",
                );
            }
            let wt = comp.weight.value;
            if !(wt > 0.0 && wt <= 1.0) {
                weights_ok = false;
                self.err(
                    Code::BadHealth,
                    comp.weight.pos,
                    format!("weight {wt} of health component `{name}` is not in (0, 1]"),
                    "a weight is the component's share of the score; all weights sum to 1",
                );
            }
        }
        let sum = crate::health::weight_sum(h);
        let all_decoded = h.components.len() == h.declared_components;
        if weights_ok && all_decoded && (sum - 1.0).abs() > 1e-9 {
            let listed: Vec<String> = h
                .components
                .iter()
                .map(|c| format!("{} {}", c.name.value, c.weight.value))
                .collect();
            self.err(
                Code::BadHealth,
                h.components_pos,
                format!("the weights of the health components sum to {sum}, not 1"),
                format!("make them sum to 1 (now: {})", listed.join(", ")),
            );
        }
        // Metric -> the component whose tests use it.
        let mut test_metrics: HashMap<String, String> = HashMap::new();
        for comp in &h.components {
            self.health_component(&catalog, comp, &mut test_metrics);
        }
    }

    fn health_component(
        &mut self,
        catalog: &SeriesCatalog,
        comp: &HealthComponent,
        test_metrics: &mut HashMap<String, String>,
    ) {
        let name = &comp.name.value;
        let e = &comp.expr;
        let mut reads: BTreeSet<String> = BTreeSet::new();
        if e.value.contains('$') {
            self.err(
                Code::BadHealthComponent,
                e.pos,
                format!("the expression of health component `{name}` uses a `$` macro"),
                "it goes into a Prometheus rule: write ranges as durations ([5m]), not $__rate_interval or $window",
            );
        } else {
            let before = self.out.len();
            self.expr(catalog, e, &format!("health component `{name}`"));
            self.selector_matchers(
                catalog,
                e,
                Code::BadHealthComponent,
                &format!("the expression of health component `{name}`"),
            );
            let parsed = crate::promql::parse(&e.value).is_ok();
            let selectors = catalog.analyze(&e.value).selectors;
            if let Some(recorded) = selectors.iter().find(|s| s.contains(':')) {
                self.err(
                    Code::BadHealthComponent,
                    e.pos,
                    format!("the expression of health component `{name}` reads the recording rule `{recorded}`"),
                    "read the spec's metrics directly: the health rules and their promtool test stand alone",
                );
            }
            reads = selectors
                .into_iter()
                .filter(|s| catalog.series.contains_key(s))
                .collect();
            if parsed && reads.is_empty() && self.out.len() == before {
                self.err(
                    Code::BadHealthComponent,
                    e.pos,
                    format!("the expression of health component `{name}` reads no metric of the spec"),
                    "a component measures the system: read the spec's metrics, e.g. 1 - max(x_level) / 3",
                );
            }
        }
        let t = &comp.test;
        if let Some(v) = &t.no_data {
            if !(0.0..=1.0).contains(&v.value) {
                self.err(
                    Code::BadHealthComponent,
                    v.pos,
                    format!("no_data {} of health component `{name}` is not in [0, 1]", v.value),
                    "it is what the component reads without its series: 0 unless the expression says otherwise (e.g. `or vector(1)`)",
                );
            }
        }
        for (part, series) in [("healthy", &t.healthy), ("unhealthy", &t.unhealthy)] {
            if series.is_empty() {
                self.err(
                    Code::BadHealthComponent,
                    t.pos,
                    format!("the test of health component `{name}` has no {part} series"),
                    format!("give the series under which it reads {}: `{part}: {{'x_total{{result=\"ok\"}}': '0+60x30'}}`", if part == "healthy" { 1 } else { 0 }),
                );
            }
            for ts in series.iter() {
                self.test_series(catalog, name, part, ts, &reads, test_metrics);
            }
        }
    }

    /// One promtool input series of a health component's test.
    fn test_series(
        &mut self,
        catalog: &SeriesCatalog,
        component: &str,
        part: &str,
        ts: &TestSeries,
        reads: &BTreeSet<String>,
        test_metrics: &mut HashMap<String, String>,
    ) {
        use promql_parser::label::MatchOp;
        use promql_parser::parser::Expr;
        let what = format!(
            "{part} test series `{}` of health component `{component}`",
            ts.series.value
        );
        let selector = match promql_parser::parser::parse(&ts.series.value) {
            Ok(Expr::VectorSelector(vs))
                if vs.name.is_some()
                    && vs.offset.is_none()
                    && vs.at.is_none()
                    && vs.matchers.matchers.iter().all(|m| m.op == MatchOp::Equal) =>
            {
                vs
            }
            _ => {
                self.err(
                    Code::BadHealthComponent,
                    ts.series.pos,
                    format!("the {what} is not a series"),
                    "write a metric name with exact labels: 'x_total{result=\"ok\"}'",
                );
                return;
            }
        };
        let name = selector.name.clone().unwrap_or_default();
        let Some(info) = catalog.series.get(&name) else {
            let hint = match suggest(&name, catalog.series.keys().map(String::as_str)) {
                Some(s) => format!("did you mean `{s}`?"),
                None => "name a series the spec defines".to_string(),
            };
            self.err(
                Code::BadHealthComponent,
                ts.series.pos,
                format!("the {what} names `{name}`, which the spec does not define"),
                hint,
            );
            return;
        };
        self.selector_matchers(
            catalog,
            &ts.series,
            Code::BadHealthComponent,
            &format!("the {what}"),
        );
        if !reads.is_empty() && !reads.contains(&name) {
            self.err(
                Code::BadHealthComponent,
                ts.series.pos,
                format!("the {what} is `{name}`, which the component's expression does not read"),
                format!(
                    "it reads: {}",
                    reads.iter().cloned().collect::<Vec<_>>().join(", ")
                ),
            );
        }
        match test_metrics.get(&info.metric) {
            Some(other) if other != component => self.err(
                Code::BadHealthComponent,
                ts.series.pos,
                format!("the {what} uses `{}`, which the tests of health component `{other}` use too", info.metric),
                "each test case drives one component alone: give each component's tests their own metrics",
            ),
            Some(_) => {}
            None => {
                test_metrics.insert(info.metric.clone(), component.to_string());
            }
        }
        match crate::health::series_samples(&ts.values.value) {
            Err(e) => self.err(
                Code::BadHealthComponent,
                ts.values.pos,
                format!("the values of the {what} are not promtool series values: {e}"),
                "write them like '0+60x30' (start+step x count), '1x30', '_' (missing) or 'stale'",
            ),
            Ok(n) if n < crate::health::MIN_SAMPLES => self.err(
                Code::BadHealthComponent,
                ts.values.pos,
                format!("the values of the {what} give {n} samples; the test needs {} (one a minute through minute {})", crate::health::MIN_SAMPLES, crate::health::EVAL_MINUTE),
                "extend them, e.g. '0+60x30'",
            ),
            Ok(_) => {}
        }
    }

    fn expr(&mut self, catalog: &SeriesCatalog, expr: &Spanned<String>, what: &str) {
        self.expr_as(catalog, expr, what, None);
    }

    /// Check one expression; with `code`, its errors carry that code instead of the
    /// per-finding ones (E017..E020), so a recording rule or annotation reads as such.
    fn expr_as(
        &mut self,
        catalog: &SeriesCatalog,
        expr: &Spanned<String>,
        what: &str,
        code: Option<Code>,
    ) {
        let before = self.out.len();
        self.expr_findings(catalog, expr, what);
        if let Some(code) = code {
            for d in &mut self.out[before..] {
                if d.severity == crate::diag::Severity::Error {
                    d.code = code;
                }
            }
        }
    }

    fn expr_findings(&mut self, catalog: &SeriesCatalog, expr: &Spanned<String>, what: &str) {
        for f in catalog.analyze(&expr.value).findings {
            match f {
                Finding::Parse(msg) => self.err(
                    Code::InvalidPromql,
                    expr.pos,
                    format!("{what} expression does not parse: {msg}"),
                    "check brackets, quotes and function names (Grafana macros such as $__rate_interval are fine)",
                ),
                Finding::UnknownSeries { name, hint } => self.err(
                    Code::UnknownMetricInPromql,
                    expr.pos,
                    format!("{what} expression references `{name}`, which the spec does not define"),
                    hint,
                ),
                Finding::RateOverGauge { func, name } => self.err(
                    Code::RateOverGauge,
                    expr.pos,
                    format!("{what} expression applies {func}() to the gauge `{name}`"),
                    "rate()/increase() only make sense on counters; use the gauge directly, or deriv()/delta()",
                ),
                Finding::UnknownGroupingLabel { label, .. }
                    if crate::promql::count_values_lost_grouping(&expr.value)
                        .iter()
                        .any(|lost| lost.contains(&label)) =>
                {
                    self.err(
                        Code::UnknownGroupingLabel,
                        expr.pos,
                        format!(
                            "{what} expression groups by `{label}` over a `count_values` without `by()`, which keeps only its value label"
                        ),
                        format!("give the count the grouping: `count_values by ({label}) (...)`"),
                    )
                }
                Finding::UnknownGroupingLabel { label, metrics } => self.err(
                    Code::UnknownGroupingLabel,
                    expr.pos,
                    format!(
                        "{what} expression groups by `{label}`, which {} does not have",
                        if metrics.is_empty() { "the aggregated series".to_string() } else { format!("`{}`", metrics.join("`, `")) }
                    ),
                    "group by one of the metric's labels (or job/instance)",
                ),
                Finding::CounterWithoutRate { name } => self.warn(
                    Code::CounterWithoutRate,
                    expr.pos,
                    format!("{what} expression reads the counter `{name}` without rate()/increase()"),
                    "counters reset on restart; wrap them in rate(...[$__rate_interval]) or increase(...)",
                ),
            }
        }
    }

    /// Spec recording rules (E040): `level:metric:operations` names no other rule
    /// (generated, spec or SLO) takes, PromQL without Grafana macros that is valid over
    /// the spec's metrics and reads the metric the rule is declared on.
    fn recordings(&mut self) {
        if self.spec.metrics().all(|(_, m)| m.recording.is_empty()) {
            return;
        }
        let catalog = crate::promql::series_catalog(self.spec);
        // Names the generated and SLO rules take are checked once they are generated
        // (`g6_codegen::checks::recording_names`); here: the spec's own rules.
        let mut taken: HashMap<String, String> = HashMap::new();
        for (_, m) in self.spec.metrics() {
            for r in &m.recording {
                let name = &r.record.value;
                let parts: Vec<&str> = name.split(':').collect();
                let ident = |p: &str| {
                    p.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                        && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                };
                if parts.len() != 3 || !parts.iter().all(|p| ident(p)) {
                    self.err(
                        Code::BadRecording,
                        r.record.pos,
                        format!("recording rule name `{name}` is not `level:metric:operations`"),
                        format!(
                            "three parts of letters, digits and underscores joined by `:`, e.g. `job:{}:rate5m` (the labels kept, the metric, what was computed)",
                            m.name.value.strip_suffix("_total").unwrap_or(&m.name.value)
                        ),
                    );
                } else if let Some(owner) = taken.get(name) {
                    self.err(
                        Code::BadRecording,
                        r.record.pos,
                        format!("recording rule `{name}` is already recorded by {owner}"),
                        "give it another name: Prometheus would evaluate both into one series",
                    );
                } else {
                    taken.insert(name.clone(), format!("the rule of `{}`", m.name.value));
                }
                if r.expr.value.contains('$') {
                    self.err(
                        Code::BadRecording,
                        r.expr.pos,
                        format!("recording rule `{name}` uses a Grafana macro or variable"),
                        "Prometheus evaluates recording rules: write fixed windows such as [5m] and no $variables",
                    );
                    continue;
                }
                let before = self.out.len();
                self.expr_as(
                    &catalog,
                    &r.expr,
                    &format!("recording rule `{name}`"),
                    Some(Code::BadRecording),
                );
                if self.out[before..]
                    .iter()
                    .any(|d| d.severity == crate::diag::Severity::Error)
                {
                    continue;
                }
                let reads_own = catalog.analyze(&r.expr.value).selectors.iter().any(|s| {
                    catalog
                        .series
                        .get(s)
                        .is_some_and(|i| i.metric == m.name.value)
                });
                if !reads_own {
                    self.err(
                        Code::BadRecording,
                        r.expr.pos,
                        format!(
                            "recording rule `{name}` is declared on `{}` but does not read it",
                            m.name.value
                        ),
                        "declare the rule on the metric its expression reads",
                    );
                }
            }
        }
    }

    /// Dashboard annotations (E041): a title unique on the dashboard, PromQL that is
    /// valid over the spec's metrics, and a Grafana colour.
    fn annotations(&mut self) {
        let catalog = crate::promql::series_catalog(self.spec);
        for d in &self.spec.dashboards {
            let mut titles: HashMap<&str, Pos> = HashMap::new();
            for a in &d.annotations {
                if let Some(first) = titles.insert(&a.title.value, a.title.pos) {
                    self.err(
                        Code::BadAnnotation,
                        a.title.pos,
                        format!(
                            "annotation `{}` is declared twice on dashboard `{}` (first at line {})",
                            a.title.value, d.slug.value, first.line
                        ),
                        "give each annotation its own title: Grafana toggles them by name",
                    );
                }
                self.expr_as(
                    &catalog,
                    &a.expr,
                    &format!("annotation `{}`", a.title.value),
                    Some(Code::BadAnnotation),
                );
                if let Some(c) = &a.color {
                    let hex = c.value.len() == 7
                        && c.value.starts_with('#')
                        && c.value[1..].chars().all(|x| x.is_ascii_hexdigit());
                    if !hex && !ANNOTATION_COLORS.contains(&c.value.as_str()) {
                        self.err(
                            Code::BadAnnotation,
                            c.pos,
                            format!("annotation colour `{}` is not a Grafana colour", c.value),
                            "use #rrggbb or a name such as red, orange, yellow, green, blue, purple (light-/dark- variants too)",
                        );
                    }
                }
            }
        }
    }

    /// Panel renames (E042): `renamed_from` differs from the title (collisions of
    /// identity are checked on the generated dashboards, by `g6_codegen::checks::panel_identities`).
    fn panel_renames(&mut self) {
        for (_, m) in self.spec.metrics() {
            for p in &m.panels {
                let Some(r) = &p.renamed_from else { continue };
                if r.value == p.title.value {
                    self.err(
                        Code::BadPanelRename,
                        r.pos,
                        format!("panel `{}` is `renamed_from` its own title", p.title.value),
                        "drop `renamed_from`, or set it to the panel's first title (its id and uuid come from it, through every later rename)",
                    );
                }
            }
        }
    }
}
