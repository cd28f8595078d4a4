//! Prometheus rules from the spec: recording rules, the spec's alerts, and suggested
//! alerts, plus their YAML files and the rules catalog.
//!
//! Recording rules follow `level:metric:operations`. The level names the labels a rule
//! keeps (`job` when it keeps none of the metric's own): counters get `rate5m` by their
//! labels and in total; histograms get p50/p95/p99 over 5m, p95 over 30m and the 5m/30m
//! p95 ratio, all keeping the metric's labels besides `le`; labelled gauges get no ranking rule (see `recording_for`).

use crate::rulefile::{
    document, Alert, Global, Labels, PrometheusConfig, Record, Rule, RuleFile, RuleGroup,
    ScrapeConfig, StaticConfig,
};
use g6_spec::model::{Metric, MetricKind, Spec, LAYOUT_LABEL};
use g6_spec::naming::pascal_case;
use std::collections::BTreeSet;
use std::fmt::Write;

/// One recording rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingRule {
    /// The recorded series name.
    pub record: String,
    /// Its PromQL.
    pub expr: String,
    /// The spec metric it derives from.
    pub metric: String,
    /// What it computes (`rate5m`, `p95_5m`, ...).
    pub operation: String,
    /// Labels the result keeps.
    pub labels: Vec<String>,
    /// Written by hand in the spec (`recording:` on the metric), not generated.
    pub custom: bool,
}

/// One alerting rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRule {
    /// CamelCase name.
    pub alert: String,
    /// Condition.
    pub expr: String,
    /// Hold duration, if any.
    pub for_: Option<String>,
    /// info, warning or critical.
    pub severity: String,
    /// One line.
    pub summary: String,
    /// More detail.
    pub description: String,
    /// The metric it watches.
    pub metric: String,
}

/// A named group of rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group<R> {
    /// Group name.
    pub name: String,
    /// Rules in order.
    pub rules: Vec<R>,
}

/// Every rule the spec yields.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RuleSet {
    /// Recording rules per family.
    pub recording: Vec<Group<RecordingRule>>,
    /// The spec's alerts per family.
    pub alerts: Vec<Group<AlertRule>>,
    /// Suggested alerts per family.
    pub suggestions: Vec<Group<AlertRule>>,
    /// File name of the spec, for provenance lines.
    pub source: String,
}

impl RuleSet {
    /// Every recording rule, in file order.
    pub fn all_recording(&self) -> impl Iterator<Item = &RecordingRule> {
        self.recording.iter().flat_map(|g| g.rules.iter())
    }

    /// Every alert (spec and suggested), in file order.
    pub fn all_alerts(&self) -> impl Iterator<Item = &AlertRule> {
        self.alerts
            .iter()
            .chain(self.suggestions.iter())
            .flat_map(|g| g.rules.iter())
    }
}

/// The level part of a rule name: the kept labels joined, or `job`.
pub fn level(labels: &[String]) -> String {
    if labels.is_empty() {
        "job".to_string()
    } else {
        labels.join("_")
    }
}

fn by_clause(labels: &[String]) -> String {
    if labels.is_empty() {
        "job".to_string()
    } else {
        labels.join(", ")
    }
}

fn metric_labels(m: &Metric) -> Vec<String> {
    m.labels.iter().map(|l| l.value.clone()).collect()
}

/// Name of the recording rule with quantile `q` (e.g. 95) over `window` of histogram `m`.
pub fn quantile_rule(m: &Metric, q: u32, window: &str) -> String {
    format!(
        "{}:{}:p{q}_{window}",
        level(&metric_labels(m)),
        m.name.value
    )
}

/// Name of the 5m/30m p95 ratio rule of histogram `m`.
pub fn ratio_rule(m: &Metric) -> String {
    format!(
        "{}:{}:p95_ratio_5m_30m",
        level(&metric_labels(m)),
        m.name.value
    )
}

/// Name of the total 5m rate rule of counter `m`.
pub fn total_rate_rule(m: &Metric) -> String {
    format!("job:{}:rate5m", counter_base(m))
}

fn counter_base(m: &Metric) -> &str {
    m.name.value.strip_suffix("_total").unwrap_or(&m.name.value)
}

fn recording_for(m: &Metric) -> Vec<RecordingRule> {
    let labels = metric_labels(m);
    let name = &m.name.value;
    let rule = |record: String, expr: String, operation: &str, labels: Vec<String>| RecordingRule {
        record,
        expr,
        metric: name.clone(),
        operation: operation.to_string(),
        labels,
        custom: false,
    };
    let mut out = Vec::new();
    match m.kind.value {
        MetricKind::Counter => {
            let base = counter_base(m);
            if !labels.is_empty() {
                out.push(rule(
                    format!("{}:{base}:rate5m", level(&labels)),
                    format!("sum by ({}) (rate({name}[5m]))", by_clause(&labels)),
                    "rate5m",
                    labels.clone(),
                ));
            }
            out.push(rule(
                total_rate_rule(m),
                format!("sum by (job) (rate({name}[5m]))"),
                "rate5m",
                vec!["job".into()],
            ));
        }
        MetricKind::Histogram => {
            // Where two bucket layouts can coexist (buckets_version above 1: the old
            // series have no layout label, the new ones `buckets_version="N"`), each
            // quantile is computed per layout: buckets of two layouts summed into one
            // `le` set would make histogram_quantile interpolate over bounds neither
            // layout has. The rule names stay those of the metric's own labels, so
            // dashboards and alerts keep reading the same series.
            let mut kept = if labels.is_empty() {
                vec!["job".to_string()]
            } else {
                labels.clone()
            };
            if m.has_layout_label() {
                kept.push(LAYOUT_LABEL.to_string());
            }
            let by = format!("le, {}", kept.join(", "));
            for (q, window) in [(50, "5m"), (95, "5m"), (99, "5m"), (95, "30m")] {
                out.push(rule(
                    quantile_rule(m, q, window),
                    format!(
                        "histogram_quantile({}, sum by ({by}) (rate({name}_bucket[{window}])))",
                        f64::from(q) / 100.0
                    ),
                    &format!("p{q}_{window}"),
                    kept.clone(),
                ));
            }
            out.push(rule(
                ratio_rule(m),
                format!(
                    "{} / clamp_min({}, 0.001)",
                    quantile_rule(m, 95, "5m"),
                    quantile_rule(m, 95, "30m")
                ),
                "p95_ratio_5m_30m",
                kept,
            ));
        }
        // No ranking rules: `topk` over a labelled gauge compares series of different
        // kinds (the strikes of two indices, ratios of open interest and of volume),
        // which the generator cannot tell apart. A spec that wants a ranking writes it
        // as a recording rule with the grouping that makes the series comparable
        // (`topk by (index, source) (5, ...)`).
        MetricKind::Gauge => {}
    }
    out
}

/// The spec's own recording rules of `m` (`recording:`), in spec order. The operation
/// is the name's last part; the labels are those the expression keeps (the metric's
/// labels when they cannot be known).
fn custom_recording_for(
    catalog: &g6_spec::promql::SeriesCatalog,
    m: &Metric,
) -> Vec<RecordingRule> {
    m.recording
        .iter()
        .map(|r| {
            let labels = catalog
                .result_labels(&r.expr.value)
                .map(|s| s.into_iter().collect())
                .unwrap_or_else(|| metric_labels(m));
            RecordingRule {
                record: r.record.value.clone(),
                expr: r.expr.value.clone(),
                metric: m.name.value.clone(),
                operation: r
                    .record
                    .value
                    .rsplit(':')
                    .next()
                    .unwrap_or_default()
                    .to_string(),
                labels,
                custom: true,
            }
        })
        .collect()
}

fn spec_alert(m: &Metric, a: &g6_spec::model::Alert) -> AlertRule {
    AlertRule {
        alert: a.alert.value.clone(),
        expr: a.expr.value.clone(),
        for_: a.for_.as_ref().map(|f| f.value.clone()),
        severity: a.severity.value.clone(),
        summary: a.summary.value.clone(),
        description: a.description.clone().unwrap_or_else(|| {
            format!(
                "{} Current value: {{{{ $value | humanize }}}}.",
                a.summary.value
            )
        }),
        metric: m.name.value.clone(),
    }
}

fn suggestions_for(
    m: &Metric,
    watched: &BTreeSet<String>,
    taken: &mut BTreeSet<String>,
) -> Vec<AlertRule> {
    let name = &m.name.value;
    let camel = pascal_case(name);
    let mut out = Vec::new();
    let mut push = |rule: AlertRule| {
        if taken.insert(rule.alert.clone()) {
            out.push(rule);
        }
    };
    if watched.contains(name) {
        return out;
    }
    match m.kind.value {
        MetricKind::Histogram => {
            let floor = regression_floor(m);
            push(AlertRule {
                alert: format!("{camel}P95Regression"),
                expr: format!(
                    "{} > 1.5 and {} > {floor}",
                    ratio_rule(m),
                    quantile_rule(m, 95, "5m")
                ),
                for_: Some("10m".into()),
                severity: "warning".into(),
                summary: format!(
                    "p95 of {name} over 5m is more than 1.5x its 30m baseline and above {floor}{}",
                    m.unit
                        .as_ref()
                        .map_or(String::new(), |u| format!(" {}", u.value))
                ),
                description: "The 5m p95 is {{ $value | humanize }}x the 30m p95.".into(),
                metric: name.clone(),
            })
        }
        MetricKind::Counter if name.contains("_failures_") || name.contains("_errors_") => {
            push(AlertRule {
                alert: format!("{camel}Rising"),
                expr: format!("sum(rate({name}[5m])) > 0"),
                for_: Some("15m".into()),
                severity: "warning".into(),
                summary: format!("{name} has been increasing for 15 minutes"),
                description: "{{ $value | humanize }} per second, averaged over 5m.".into(),
                metric: name.clone(),
            })
        }
        MetricKind::Gauge if name.ends_with("_age_seconds") || name.ends_with("_lag_seconds") => {
            push(AlertRule {
                alert: format!("{camel}High"),
                expr: format!("max({name}) > 300"),
                for_: Some("5m".into()),
                severity: "warning".into(),
                summary: format!("{name} has been above 5 minutes for 5 minutes"),
                description: "Largest value: {{ $value | humanizeDuration }}.".into(),
                metric: name.clone(),
            })
        }
        _ => {}
    }
    out
}

/// The absolute floor of a histogram's regression alert: the middle bucket bound of
/// its spec buckets. A p95 that doubles below it (46 ms to 77 ms on a 5 s scale) is
/// noise, not a page; the alert needs both the relative rise and a p95 in the upper
/// half of the range the spec chose for the metric.
pub fn regression_floor(m: &Metric) -> f64 {
    let buckets: Vec<f64> = m
        .buckets
        .as_ref()
        .map(|b| b.value.iter().map(|v| v.value).collect())
        .unwrap_or_default();
    buckets.get(buckets.len() / 2).copied().unwrap_or(0.0)
}

/// Build every rule of the spec.
pub fn build(spec: &Spec) -> RuleSet {
    let ns = &spec.namespace.value;
    let mut set = RuleSet {
        source: spec.source_name().to_string(),
        ..RuleSet::default()
    };
    // Metrics that a spec alert already watches get no suggestion.
    let catalog = g6_spec::promql::series_catalog(spec);
    let mut watched = BTreeSet::new();
    for (_, m) in spec.metrics() {
        for a in &m.alerts {
            for s in catalog.analyze(&a.expr.value).selectors {
                if let Some(info) = catalog.series.get(&s) {
                    watched.insert(info.metric.clone());
                }
            }
        }
    }
    let mut taken: BTreeSet<String> = spec
        .metrics()
        .flat_map(|(_, m)| m.alerts.iter().map(|a| a.alert.value.clone()))
        .collect();
    for f in &spec.families {
        let fam = &f.name.value;
        // Generated rules first, then the spec's own, each in metric order.
        let recording: Vec<_> = f
            .metrics
            .iter()
            .flat_map(recording_for)
            .chain(
                f.metrics
                    .iter()
                    .flat_map(|m| custom_recording_for(&catalog, m)),
            )
            .collect();
        if !recording.is_empty() {
            set.recording.push(Group {
                name: format!("{ns}_{fam}_recording"),
                rules: recording,
            });
        }
        let alerts: Vec<_> = f
            .metrics
            .iter()
            .flat_map(|m| m.alerts.iter().map(move |a| spec_alert(m, a)))
            .collect();
        if !alerts.is_empty() {
            set.alerts.push(Group {
                name: format!("{ns}_{fam}_alerts"),
                rules: alerts,
            });
        }
        let suggestions: Vec<_> = f
            .metrics
            .iter()
            .flat_map(|m| suggestions_for(m, &watched, &mut taken))
            .collect();
        if !suggestions.is_empty() {
            set.suggestions.push(Group {
                name: format!("{ns}_{fam}_suggestions"),
                rules: suggestions,
            });
        }
    }
    set
}

fn header(kind: &str, source: &str, spec_hash: &str, version: &str) -> String {
    format!(
        "# {kind}\n# Generated by {version} from {source} (spec hash {spec_hash}). Do not edit:\n# change the spec and run `cargo build` (or `g6 generate`).\n"
    )
}

/// `recording_rules.yml`.
pub fn render_recording(set: &RuleSet, spec_hash: &str, version: &str) -> String {
    let groups = set
        .recording
        .iter()
        .map(|g| RuleGroup {
            name: g.name.clone(),
            interval: None,
            rules: g
                .rules
                .iter()
                .map(|r| {
                    Rule::Record(Record {
                        record: r.record.clone(),
                        expr: r.expr.clone(),
                        labels: Labels::new(),
                    })
                })
                .collect(),
        })
        .collect();
    document(
        &header(
            "Recording rules: level:metric:operations.",
            &set.source,
            spec_hash,
            version,
        ),
        &RuleFile { groups },
    )
}

/// The alerting rule of `a`: its severity, `source` and the catalogue's labels, its
/// summary, description and the catalogue's links.
fn alert_rule(a: &AlertRule, source: &str, meta: &crate::plan::MetaMap) -> Rule {
    let m = meta.get(&a.alert).cloned().unwrap_or_default();
    let mut labels = Labels::from([
        ("severity".to_string(), a.severity.clone()),
        ("source".to_string(), source.to_string()),
    ]);
    m.add_labels(&mut labels);
    let mut annotations = Labels::from([
        ("summary".to_string(), a.summary.clone()),
        ("description".to_string(), a.description.clone()),
    ]);
    m.add_annotations(&mut annotations);
    Rule::Alert(Alert {
        alert: a.alert.clone(),
        expr: a.expr.clone(),
        for_: a.for_.clone(),
        keep_firing_for: None,
        labels,
        annotations,
    })
}

fn alert_groups(
    groups: &[Group<AlertRule>],
    source: &str,
    meta: &crate::plan::MetaMap,
) -> RuleFile {
    RuleFile {
        groups: groups
            .iter()
            .map(|g| RuleGroup {
                name: g.name.clone(),
                interval: None,
                rules: g
                    .rules
                    .iter()
                    .map(|a| alert_rule(a, source, meta))
                    .collect(),
            })
            .collect(),
    }
}

/// `alerts.yml`: the spec's alerts with the spec's thresholds.
/// `meta` gives every alert's routing labels and link annotations.
pub fn render_alerts(
    set: &RuleSet,
    meta: &crate::plan::MetaMap,
    spec_hash: &str,
    version: &str,
) -> String {
    document(
        &header(
            "Alerts declared in the spec.",
            &set.source,
            spec_hash,
            version,
        ),
        &alert_groups(&set.alerts, "spec", meta),
    )
}

/// `alert_suggestions.yml`: alerts the generator suggests for metrics no spec alert watches.
/// `meta` gives every alert's routing labels and link annotations.
pub fn render_suggestions(
    set: &RuleSet,
    meta: &crate::plan::MetaMap,
    spec_hash: &str,
    version: &str,
) -> String {
    document(
        &header(
            "Suggested alerts for metrics that no spec alert watches (latency regressions, rising failures, staleness, cardinality).",
            &set.source,
            spec_hash,
            version,
        ),
        &alert_groups(&set.suggestions, "suggestion", meta),
    )
}

fn md(s: &str) -> String {
    s.replace('|', "\\|")
}

/// `RULES_CATALOG.md`.
pub fn render_catalog(set: &RuleSet, spec_hash: &str, version: &str) -> String {
    let mut out = String::from("# Rules catalog\n\n");
    let _ = writeln!(
        out,
        "<!-- Generated by {version} from {}. Do not edit: change the spec and run `cargo build`. -->\n",
        set.source
    );
    let _ = writeln!(
        out,
        "Spec hash `{spec_hash}` · {} recording rules · {} spec alerts · {} suggested alerts.\n",
        set.all_recording().count(),
        set.alerts.iter().map(|g| g.rules.len()).sum::<usize>(),
        set.suggestions.iter().map(|g| g.rules.len()).sum::<usize>()
    );
    out.push_str("## Recording rules (`prometheus/recording_rules.yml`)\n\n| group | record | expr |\n|---|---|---|\n");
    for g in &set.recording {
        for r in &g.rules {
            let from_spec = if r.custom { " (spec)" } else { "" };
            let _ = writeln!(
                out,
                "| {} | `{}`{from_spec} | `{}` |",
                g.name,
                r.record,
                md(&r.expr)
            );
        }
    }
    for (title, file, groups) in [
        ("Spec alerts", "alerts.yml", &set.alerts),
        (
            "Suggested alerts",
            "alert_suggestions.yml",
            &set.suggestions,
        ),
    ] {
        let _ = writeln!(out, "\n## {title} (`prometheus/{file}`)\n\n| group | alert | severity | for | expr | summary |\n|---|---|---|---|---|---|");
        for g in groups {
            for a in &g.rules {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | `{}` | {} |",
                    g.name,
                    a.alert,
                    a.severity,
                    a.for_.as_deref().unwrap_or("—"),
                    md(&a.expr),
                    md(&a.summary)
                );
            }
        }
    }
    out
}

/// `prometheus.yml` for a local stack: scrape `g6 serve` and load the rule files.
pub fn render_prometheus_config(spec: &Spec, spec_hash: &str, version: &str) -> String {
    let mut rule_files: Vec<String> =
        ["recording_rules.yml", "alerts.yml", "alert_suggestions.yml"]
            .map(String::from)
            .to_vec();
    if !spec.slos.is_empty() {
        rule_files.push("slo_rules.yml".into());
    }
    if spec.health.is_some() {
        rule_files.push("health_rules.yml".into());
    }
    let config = PrometheusConfig {
        global: Global {
            scrape_interval: "15s".into(),
            evaluation_interval: "15s".into(),
        },
        rule_files,
        scrape_configs: vec![ScrapeConfig {
            job_name: spec.namespace.value.clone(),
            static_configs: vec![StaticConfig {
                targets: vec!["127.0.0.1:9108".into()],
            }],
        }],
    };
    document(
        &header(
            "Prometheus configuration for a local stack (rule paths are relative to this file).",
            spec.source_name(),
            spec_hash,
            version,
        ),
        &config,
    )
}
