//! The spec as typed data, every value carrying the position it came from.

use crate::diag::Pos;

/// Most label sets one metric may have: its closed label combinations, and its budget.
pub const MAX_SERIES_PER_METRIC: u64 = 10_000;

/// Most bucket bounds one histogram may have (Prometheus' own default histograms have
/// 11; every bound is a series per label set).
pub const MAX_BUCKETS: usize = 64;

/// Most series a whole spec may expose at its budgets (label sets, times the
/// `_bucket`/`_sum`/`_count` series of histograms): what one scrape can carry.
pub const MAX_SERIES_PER_SPEC: u64 = 1_000_000;

/// A value and where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Spanned<T> {
    /// The value.
    pub value: T,
    /// Its position in the spec.
    pub pos: Pos,
}

impl<T> Spanned<T> {
    /// Wrap a value with its position.
    pub fn new(value: T, pos: Pos) -> Self {
        Spanned { value, pos }
    }
}

impl<T> std::ops::Deref for Spanned<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

/// The whole spec (`metrics.yml`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Spec {
    /// Spec format version (1).
    pub version: u32,
    /// Prefix of every metric name, without the trailing underscore.
    pub namespace: Spanned<String>,
    /// Shared label sets, in source order.
    pub labels: Vec<LabelDef>,
    /// Dashboard plans, in source order.
    pub dashboards: Vec<DashboardPlan>,
    /// Metric families, in source order.
    pub families: Vec<Family>,
    /// Dashboards of SQL panels over the column store (ClickHouse), in source order.
    pub sql_dashboards: Vec<SqlDashboard>,
    /// Service level objectives, in source order.
    pub slos: Vec<Slo>,
    /// The composite health score, when the spec has a `health:` section.
    pub health: Option<Health>,
    /// Dashboard-wide Grafana settings.
    pub grafana: GrafanaSettings,
    /// Where alert notifications link to (`alerting:`).
    pub alerting: AlertingSettings,
    /// File name the spec was read from, for provenance lines in artifacts.
    pub source: String,
}

impl Spec {
    /// The spec's file name for provenance (`metrics.yml` when unknown).
    pub fn source_name(&self) -> &str {
        if self.source.is_empty() {
            "metrics.yml"
        } else {
            &self.source
        }
    }
}

/// Settings every generated dashboard shares (`grafana:` at top level).
#[derive(Debug, Clone, PartialEq)]
pub struct GrafanaSettings {
    /// Classic dashboard `schemaVersion` (default 41, Grafana 11.6).
    pub schema_version: Spanned<i64>,
    /// Auto-refresh interval (default `30s`).
    pub refresh: Spanned<String>,
}

impl Default for GrafanaSettings {
    fn default() -> Self {
        GrafanaSettings {
            schema_version: Spanned::new(41, Pos::default()),
            refresh: Spanned::new("30s".into(), Pos::default()),
        }
    }
}

/// Where the links in alert notifications point (`alerting:` at top level): the
/// `dashboard` and `runbook_url` annotations of every generated alert.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertingSettings {
    /// Base URL of the Grafana that serves the generated dashboards (default
    /// `http://127.0.0.1:3000`, the local stack).
    pub grafana_url: Spanned<String>,
    /// URL of the generated runbook (`generated/docs/RUNBOOK.md`) as people open it,
    /// e.g. its page in the repository's web view; alert sections are anchors in it.
    pub runbook_url: Spanned<String>,
}

/// Default of `alerting.grafana_url`.
pub const DEFAULT_GRAFANA_URL: &str = "http://127.0.0.1:3000";
/// Default of `alerting.runbook_url`: the runbook's path in the checkout.
pub const DEFAULT_RUNBOOK_URL: &str = "generated/docs/RUNBOOK.md";

impl Default for AlertingSettings {
    fn default() -> Self {
        AlertingSettings {
            grafana_url: Spanned::new(DEFAULT_GRAFANA_URL.into(), Pos::default()),
            runbook_url: Spanned::new(DEFAULT_RUNBOOK_URL.into(), Pos::default()),
        }
    }
}

impl Default for Spanned<String> {
    fn default() -> Self {
        Spanned::new(String::new(), Pos::default())
    }
}

/// A shared label declared at top level.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelDef {
    /// Label name.
    pub name: Spanned<String>,
    /// The closed set of values; `None` for an open label declared for documentation.
    pub values: Option<Vec<Spanned<String>>>,
    /// What the label means.
    pub help: String,
    /// Set when the label selects what a dashboard shows (`variable: single|multi`):
    /// every dashboard whose metrics carry it gets a template variable and every query
    /// filters on it.
    pub variable: Option<Spanned<VariableMode>>,
}

/// How a selector label's dashboard variable picks values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VariableMode {
    /// One value at a time: summing across values is meaningless (indices, live with
    /// synthetic).
    Single,
    /// Several values or All: summing across them is meaningful (providers, buses).
    Multi,
}

impl VariableMode {
    /// The spec spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            VariableMode::Single => "single",
            VariableMode::Multi => "multi",
        }
    }
}

/// A dashboard plan: which families one generated dashboard shows.
#[derive(Debug, Clone, PartialEq)]
pub struct DashboardPlan {
    /// File name and uid suffix.
    pub slug: Spanned<String>,
    /// Dashboard title.
    pub title: String,
    /// Optional description shown in Grafana.
    pub description: Option<String>,
    /// Families whose metrics the dashboard shows.
    pub families: Vec<Spanned<String>>,
    /// Extra Grafana tags.
    pub tags: Vec<String>,
    /// Most panels the dashboard may hold (default and maximum: the global cap of 36).
    pub panel_limit: Option<Spanned<i64>>,
    /// Annotation queries (`annotations:`): PromQL whose samples mark events on every
    /// time panel of the dashboard.
    pub annotations: Vec<Annotation>,
    /// `rule_usage: true`: add a "Recording rule usage" table computed from every
    /// generated dashboard.
    pub rule_usage: bool,
}

/// A dashboard annotation query (`dashboards.<slug>.annotations[]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Annotation {
    /// Name shown in the dashboard's annotation toggles and as the event title.
    pub title: Spanned<String>,
    /// PromQL; every sample it returns marks an event.
    pub expr: Spanned<String>,
    /// Marker colour: a Grafana colour name or `#rrggbb` (default orange).
    pub color: Option<Spanned<String>>,
    /// Where the entry starts.
    pub pos: Pos,
}

/// A dashboard of SQL panels over the column store, for Grafana's ClickHouse data
/// source (`sql_dashboards:`).
#[derive(Debug, Clone, PartialEq)]
pub struct SqlDashboard {
    /// File name and uid suffix.
    pub slug: Spanned<String>,
    /// Dashboard title.
    pub title: String,
    /// Optional description shown in Grafana.
    pub description: Option<String>,
    /// Template variables, each a SQL query for its values; a variable's query may use
    /// the variables before it.
    pub variables: Vec<SqlVariable>,
    /// Panels, in order.
    pub panels: Vec<SqlPanel>,
    /// Where it was written.
    pub pos: Pos,
}

/// A template variable whose values a SQL query returns.
#[derive(Debug, Clone, PartialEq)]
pub struct SqlVariable {
    /// Name (`$name` in SQL).
    pub name: Spanned<String>,
    /// Label shown above the selector.
    pub label: Option<String>,
    /// The query for its values (one column).
    pub sql: Spanned<String>,
}

/// One SQL panel.
#[derive(Debug, Clone, PartialEq)]
pub struct SqlPanel {
    /// Panel title.
    pub title: Spanned<String>,
    /// Grafana panel type: timeseries (needs a `time` column), barchart, trend, table,
    /// stat.
    pub panel_type: Spanned<String>,
    /// Grafana unit of the values.
    pub unit: Option<Spanned<String>>,
    /// What the panel shows.
    pub description: Option<String>,
    /// The column a `barchart` or `trend` panel puts on its x axis (Grafana's
    /// `xField`); without it Grafana picks one.
    pub x_field: Option<Spanned<String>>,
    /// The query, with Grafana's macros (`$__timeFilter(col)`, `$__toTime`, ...) and the
    /// dashboard's variables.
    pub sql: Spanned<String>,
}

/// A service level objective (`slos:`): an objective over a period for an SLI
/// written as good/total or bad/total PromQL with a `$window` range.
#[derive(Debug, Clone, PartialEq)]
pub struct Slo {
    /// Name (snake_case): the `slo` label of its rules and part of its alert names.
    pub name: Spanned<String>,
    /// What it promises, in words.
    pub description: Option<String>,
    /// The objective in percent of good events (`99.5`).
    pub objective: Spanned<f64>,
    /// The compliance period (`28d`).
    pub period: Spanned<String>,
    /// Good events per second over `$window` (or `bad`).
    pub good: Option<Spanned<String>>,
    /// Bad events per second over `$window` (or `good`).
    pub bad: Option<Spanned<String>>,
    /// All events per second over `$window`.
    pub total: Spanned<String>,
    /// Where it starts.
    pub pos: Pos,
}

/// The composite health score (`health:`): weighted components, each a PromQL
/// expression in [0, 1], recorded, summed into one score, alerted on and shown on a
/// dashboard (see `g6_codegen::health`).
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    /// Slug of the dashboard plan that shows the score at its top.
    pub dashboard: Spanned<String>,
    /// The warning alert fires when the score stays below this.
    pub warning: Spanned<f64>,
    /// The critical alert fires when the score stays below this.
    pub critical: Spanned<f64>,
    /// The components, in source order.
    pub components: Vec<HealthComponent>,
    /// Where the `components:` key was written (for the weight-sum check).
    pub components_pos: Pos,
    /// Entries under `components:`, including ones that failed to decode (the weights
    /// are only summed when every component decoded).
    pub declared_components: usize,
    /// Where the section starts.
    pub pos: Pos,
}

/// One component of the health score.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthComponent {
    /// Name (snake_case): the `component` label of its recording rule.
    pub name: Spanned<String>,
    /// Its share of the score (all weights sum to 1).
    pub weight: Spanned<f64>,
    /// What it measures, in words.
    pub description: Option<String>,
    /// PromQL whose value is in [0, 1] (1 healthy); several series collapse to the
    /// lowest.
    pub expr: Spanned<String>,
    /// The input series of its generated promtool test.
    pub test: HealthTest,
    /// Where the component starts.
    pub pos: Pos,
}

/// The promtool input series of one component: under `healthy` the component reads 1,
/// under `unhealthy` 0, and with none of its series `no_data` (default 0).
#[derive(Debug, Clone, PartialEq)]
pub struct HealthTest {
    /// Series under which the component reads 1.
    pub healthy: Vec<TestSeries>,
    /// Series under which the component reads 0.
    pub unhealthy: Vec<TestSeries>,
    /// What the component reads when none of its series exist (default 0).
    pub no_data: Option<Spanned<f64>>,
    /// Where `test:` starts.
    pub pos: Pos,
}

/// One promtool input series: a selector with exact labels and its values in
/// promtool's expanding notation (`0+60x30`, `1x30`, `_`, `stale`).
#[derive(Debug, Clone, PartialEq)]
pub struct TestSeries {
    /// The series, e.g. `g6_api_calls_total{result="ok"}`.
    pub series: Spanned<String>,
    /// Its values, one per minute.
    pub values: Spanned<String>,
}

/// A group of related metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    /// Family name.
    pub name: Spanned<String>,
    /// Informational owner (a source path).
    pub owner: Option<String>,
    /// Optional description for the catalog.
    pub description: Option<String>,
    /// `enabled_by:`: the environment variable that switches the family on (`1` or
    /// `true`); without it the family is always on. A disabled family's accessors
    /// are no-ops and its metrics have no series.
    pub enabled_by: Option<Spanned<String>>,
    /// Metrics in source order.
    pub metrics: Vec<Metric>,
    /// Entries under `metrics:`, including ones that failed to decode (so a broken
    /// metric is not also reported as an empty family).
    pub declared_metrics: usize,
}

/// Prometheus metric type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricKind {
    /// Monotonic counter.
    Counter,
    /// Gauge.
    Gauge,
    /// Histogram with fixed buckets.
    Histogram,
}

impl MetricKind {
    /// The Prometheus type name.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Histogram => "histogram",
        }
    }
}

/// Lifecycle stage of a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Stability {
    /// Safe to build on.
    #[default]
    Stable,
    /// May change without notice.
    Experimental,
    /// Going away; see `renamed_from` of its successor.
    Deprecated,
}

impl Stability {
    /// The spec spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Stability::Stable => "stable",
            Stability::Experimental => "experimental",
            Stability::Deprecated => "deprecated",
        }
    }
}

/// One metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    /// Full metric name, namespace included.
    pub name: Spanned<String>,
    /// Counter, gauge or histogram.
    pub kind: Spanned<MetricKind>,
    /// HELP text.
    pub help: Spanned<String>,
    /// Base unit (seconds, bytes, ratio, contracts, ...).
    pub unit: Option<Spanned<String>>,
    /// Label names in order; closed when declared with values at top level.
    pub labels: Vec<Spanned<String>>,
    /// Maximum number of label sets; `None` when not written.
    pub cardinality_budget: Option<Spanned<i64>>,
    /// Histogram bucket upper bounds.
    pub buckets: Option<Spanned<Vec<Spanned<f64>>>>,
    /// Panels the spec asks for.
    pub panels: Vec<Panel>,
    /// Alerts the spec declares.
    pub alerts: Vec<Alert>,
    /// Lifecycle stage.
    pub stability: Stability,
    /// The original name, when this metric renames one.
    pub renamed_from: Option<Spanned<String>>,
    /// A 0/1 gauge (`state: true`): 1 while the state holds. Shown as a state timeline.
    pub state: bool,
    /// Recording rules the spec writes by hand for this metric (`recording:`), emitted
    /// after the generated ones of its family.
    pub recording: Vec<CustomRecording>,
    /// `warm:` as written: which series exist at zero from `init()` (see
    /// [`Metric::warms_all`] and [`Metric::warm_sets`] for the effect).
    pub warm: Option<Spanned<Warm>>,
    /// `buckets_version:` of a histogram's bucket layout (1 when not written); a bucket
    /// change must raise it (`g6 diff`).
    pub buckets_version: Option<Spanned<i64>>,
    /// Where the metric entry starts.
    pub pos: Pos,
}

/// The label the runtime adds to every series of a histogram whose `buckets_version`
/// is above 1 (see [`Metric::has_layout_label`]); also a label of
/// `<namespace>_bucket_layout_info`.
pub const LAYOUT_LABEL: &str = "buckets_version";

/// The `warm:` field of a metric.
#[derive(Debug, Clone, PartialEq)]
pub enum Warm {
    /// `warm: true` or `warm: false` (false opts a closed counter or histogram out).
    Flag(bool),
    /// `warm: {label: [values]}`: the series of these values exist at zero from
    /// `init()` (every open label must be named; a closed one named is narrowed).
    Values(Vec<(Spanned<String>, Vec<Spanned<String>>)>),
}

/// A hand-written recording rule on a metric (`recording: [{record, expr}]`).
#[derive(Debug, Clone, PartialEq)]
pub struct CustomRecording {
    /// The recorded series name, `level:metric:operations`.
    pub record: Spanned<String>,
    /// Its PromQL (no Grafana macros: Prometheus evaluates it).
    pub expr: Spanned<String>,
    /// Where the entry starts.
    pub pos: Pos,
}

/// A panel hint in the spec.
#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    /// Semantic kind (rate, quantile, value, ratio, topk, split, heatmap, stat, table,
    /// grid, profile).
    pub kind: Option<Spanned<String>>,
    /// Panel title.
    pub title: Spanned<String>,
    /// The PromQL expression, Grafana macros allowed.
    pub promql: Spanned<String>,
    /// Grafana unit.
    pub unit: Option<Spanned<String>>,
    /// Grafana panel type (timeseries, stat, gauge, table, heatmap, bargauge,
    /// state-timeline).
    pub panel_type: Option<Spanned<String>>,
    /// The panel's previous title: its id and uuid stay those of the old title, so the
    /// rename keeps the panel's identity.
    pub renamed_from: Option<Spanned<String>>,
    /// Where the panel entry starts.
    pub pos: Pos,
}

/// An alert rule in the spec.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// Alert name (CamelCase).
    pub alert: Spanned<String>,
    /// PromQL condition.
    pub expr: Spanned<String>,
    /// How long the condition must hold.
    pub for_: Option<Spanned<String>>,
    /// info, warning or critical.
    pub severity: Spanned<String>,
    /// One-line summary.
    pub summary: Spanned<String>,
    /// Longer description.
    pub description: Option<String>,
    /// The first things to check when it fires (`runbook: {checks: [..]}`, at most
    /// three), in the order a person should check them; empty for the generated
    /// default.
    pub checks: Vec<Spanned<String>>,
    /// Metrics whose alerts this one silences while it fires (`inhibits:`): they
    /// are consequences of what it reports (a provider that is down makes every
    /// snapshot stale).
    pub inhibits: Vec<Spanned<String>>,
    /// Where the alert entry starts.
    pub pos: Pos,
}

/// Most `runbook.checks` an alert may list: the runbook shows the first three things
/// to check.
pub const MAX_RUNBOOK_CHECKS: usize = 3;
/// Longest runbook check, in bytes.
pub const MAX_RUNBOOK_CHECK_BYTES: usize = 500;

impl Spec {
    /// Every metric with its family, in source order.
    pub fn metrics(&self) -> impl Iterator<Item = (&Family, &Metric)> {
        self.families
            .iter()
            .flat_map(|f| f.metrics.iter().map(move |m| (f, m)))
    }

    /// The label set declared at top level under `name`, if any.
    pub fn label_def(&self, name: &str) -> Option<&LabelDef> {
        self.labels.iter().find(|l| l.name.value == name)
    }

    /// The dashboard variable mode of label `name`, when it is a selector label.
    pub fn variable_mode(&self, name: &str) -> Option<VariableMode> {
        self.label_def(name)
            .and_then(|l| l.variable.as_ref().map(|v| v.value))
    }

    /// The closed values of label `name`, if it is a closed label set.
    pub fn closed_values(&self, name: &str) -> Option<&[Spanned<String>]> {
        self.label_def(name).and_then(|l| l.values.as_deref())
    }

    /// The namespace prefix including the trailing underscore (`g6_`).
    pub fn prefix(&self) -> String {
        format!("{}_", self.namespace.value)
    }
}

impl Metric {
    /// True for an info metric (`*_info`: always 1, the labels carry the value).
    pub fn is_info(&self) -> bool {
        self.kind.value == MetricKind::Gauge && self.name.value.ends_with("_info")
    }

    /// The metric name without the namespace prefix: the accessor's name.
    pub fn short_name<'a>(&'a self, spec: &Spec) -> &'a str {
        let prefix = spec.prefix();
        self.name
            .strip_prefix(prefix.as_str())
            .unwrap_or(&self.name)
    }

    /// True when every label has a closed value set.
    pub fn fully_closed(&self, spec: &Spec) -> bool {
        self.labels.iter().all(|l| spec.closed_values(l).is_some())
    }

    /// Product of the closed labels' value counts (1 when there are none).
    pub fn closed_combinations(&self, spec: &Spec) -> u128 {
        self.labels
            .iter()
            .filter_map(|l| spec.closed_values(l))
            .map(|v| v.len() as u128)
            // Saturating: forty closed labels of ten values would overflow u128.
            .fold(1u128, |acc, n| acc.saturating_mul(n))
    }

    /// The budget in force: the written one, else the closed combinations.
    pub fn effective_budget(&self, spec: &Spec) -> u64 {
        match &self.cardinality_budget {
            Some(b) if b.value >= 1 => b.value as u64,
            _ => self.closed_combinations(spec).clamp(1, u64::MAX as u128) as u64,
        }
    }

    /// True when every closed-label series of this metric is exported at zero from
    /// `init()`: counters and histograms whose labels are all closed, unless the spec
    /// says `warm: false` or names values. Gauges never are: a gauge without a reading
    /// has no series.
    pub fn warms_all(&self, spec: &Spec) -> bool {
        self.kind.value != MetricKind::Gauge
            && self.fully_closed(spec)
            && !matches!(
                self.warm.as_ref().map(|w| &w.value),
                Some(Warm::Flag(false)) | Some(Warm::Values(_))
            )
    }

    /// The label sets (values in label order) that `warm: {label: [values]}` makes
    /// exist at zero from `init()`: the named values of every named label times every
    /// value of the closed labels not named, at most the metric's budget of them, in
    /// order. Empty without a map, for gauges, or when an open label is not named.
    pub fn warm_sets(&self, spec: &Spec) -> Vec<Vec<String>> {
        let Some(Warm::Values(map)) = self.warm.as_ref().map(|w| &w.value) else {
            return Vec::new();
        };
        if self.kind.value == MetricKind::Gauge {
            return Vec::new();
        }
        let mut sets: Vec<Vec<String>> = vec![Vec::new()];
        for l in &self.labels {
            let values: Vec<String> = match map.iter().find(|(k, _)| k.value == l.value) {
                Some((_, vs)) => vs.iter().map(|v| v.value.clone()).collect(),
                None => match spec.closed_values(l) {
                    Some(vs) => vs.iter().map(|v| v.value.clone()).collect(),
                    None => return Vec::new(),
                },
            };
            sets = sets
                .into_iter()
                .flat_map(|prefix| {
                    values.iter().map(move |v| {
                        let mut s = prefix.clone();
                        s.push(v.clone());
                        s
                    })
                })
                .collect();
        }
        let budget = usize::try_from(self.effective_budget(spec)).unwrap_or(usize::MAX);
        sets.truncate(budget);
        sets
    }

    /// The version of the bucket layout: `buckets_version`, 1 when not written.
    pub fn buckets_version(&self) -> i64 {
        self.buckets_version.as_ref().map_or(1, |v| v.value)
    }

    /// True for a histogram whose series carry the label [`LAYOUT_LABEL`]: one whose
    /// `buckets_version` is above 1, so that series of the old and the new layout can
    /// coexist in Prometheus (the old ones without the label) and quantiles must keep
    /// them apart.
    pub fn has_layout_label(&self) -> bool {
        self.kind.value == MetricKind::Histogram && self.buckets_version() > 1
    }

    /// Bucket bounds as plain numbers (empty for non-histograms).
    pub fn bucket_values(&self) -> Vec<f64> {
        self.buckets
            .as_ref()
            .map(|b| b.value.iter().map(|v| v.value).collect())
            .unwrap_or_default()
    }

    /// Series names this metric exposes (histograms: `_bucket`, `_sum`, `_count`).
    pub fn series_names(&self) -> Vec<String> {
        match self.kind.value {
            MetricKind::Histogram => ["_bucket", "_sum", "_count"]
                .iter()
                .map(|s| format!("{}{s}", self.name.value))
                .collect(),
            _ => vec![self.name.value.clone()],
        }
    }

    /// Counters whose unit is seconds take fractional increments; all others count whole units.
    pub fn is_float_counter(&self) -> bool {
        self.kind.value == MetricKind::Counter
            && self.unit.as_ref().is_some_and(|u| u.value == "seconds")
    }
}
