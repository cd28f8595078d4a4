//! Alerts that reach a person, once: the catalogue of every generated alert (the
//! spec's, the suggestions, the SLO burn-rate and the health-score alerts) with the
//! labels routing and inhibition need (`family`, `component`), its runbook section and
//! its dashboard panel; the Alertmanager configuration that routes, groups and
//! inhibits them (`alertmanager/alertmanager.yml`); and the runbook
//! (`docs/RUNBOOK.md`).
//!
//! Labels every alert carries besides `severity`:
//! - `family`: the spec family of the metric it watches (`health` for the health score);
//! - `component`: the metric it watches (an SLO's: the first metric of its `total`;
//!   the health score's: its recording rule). Critical and warning alerts of one
//!   component are the same problem seen twice, so inhibition matches on it.
//!
//! Inhibition (each rule is printed with its reason in the configuration):
//! - a critical alert silences the warning and info alerts of its component, a warning
//!   the info alerts;
//! - a spec alert with `inhibits: [metric, ..]` silences every alert on those metrics
//!   (G6's `G6ProviderDown` silences the staleness and freshness alerts it causes);
//! - any warning or critical alert on a metric a health component reads silences the
//!   health-score alerts: the score summarises its components, and the component's own
//!   alert says more (its runbook is specific). The score's alert still reaches a
//!   person when it falls and no alert explains why.

use crate::dashboards::Dashboard;
use crate::plan::{AlertMeta, MetaMap};
use crate::rules::RuleSet;
use g6_spec::model::{Metric, Spec};
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// Where the configuration goes, under `generated/`.
pub const CONFIG_PATH: &str = "alertmanager/alertmanager.yml";
/// Where the runbook goes, under `generated/`.
pub const RUNBOOK_PATH: &str = "docs/RUNBOOK.md";
/// The placeholder of the webhook receivers' URL: `.invalid` never resolves, so an
/// unedited configuration fails loudly (a notify error in Alertmanager's log and
/// `alertmanager_notifications_failed_total`) instead of sending anywhere.
pub const WEBHOOK_PLACEHOLDER: &str = "http://alert-receiver.invalid:5001";
/// The labels every notification group is formed by.
pub const GROUP_BY: [&str; 2] = ["alertname", "family"];
/// The family label of the health-score alerts.
pub const HEALTH_FAMILY: &str = "health";

/// Where an alert comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Declared in the spec (`alerts.yml`).
    Spec,
    /// Suggested by the generator (`alert_suggestions.yml`).
    Suggestion,
    /// An SLO burn-rate alert (`slo_rules.yml`).
    Slo,
    /// A health-score alert (`health_rules.yml`).
    Health,
}

impl Origin {
    /// The rule file (under `generated/`) that defines alerts of this origin.
    pub fn file(self) -> &'static str {
        match self {
            Origin::Spec => "prometheus/alerts.yml",
            Origin::Suggestion => "prometheus/alert_suggestions.yml",
            Origin::Slo => crate::slo::RULES_PATH,
            Origin::Health => crate::health::RULES_PATH,
        }
    }
}

/// The dashboard panel that shows an alert's metric.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PanelRef {
    /// Grafana uid of the dashboard.
    pub dashboard_uid: String,
    /// Its title.
    pub dashboard_title: String,
    /// The panel's stable id.
    pub panel_id: i64,
    /// The panel's title.
    pub panel_title: String,
}

/// One alert of the catalogue.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogueAlert {
    /// Alert name.
    pub name: String,
    /// info, warning or critical.
    pub severity: String,
    /// The `family` label.
    pub family: String,
    /// The `component` label.
    pub component: String,
    /// Its condition.
    pub expr: String,
    /// Its hold duration.
    pub for_: Option<String>,
    /// One line.
    pub summary: String,
    /// The description template.
    pub description: String,
    /// Where it comes from.
    pub origin: Origin,
    /// The first things to check (the spec's, or generated ones).
    pub checks: Vec<String>,
    /// True when [`CatalogueAlert::checks`] come from the spec.
    pub checks_from_spec: bool,
    /// Metrics whose alerts it silences (`inhibits:` of a spec alert).
    pub inhibits: Vec<String>,
    /// The panel that shows it, if a dashboard shows its metric or family.
    pub panel: Option<PanelRef>,
}

/// Every generated alert, in rule-file order (spec, suggestions, SLOs, health).
#[derive(Debug, Clone, PartialEq)]
pub struct Catalogue {
    /// The alerts.
    pub alerts: Vec<CatalogueAlert>,
    /// Metrics the health components read.
    pub health_metrics: BTreeSet<String>,
    /// Base URL of Grafana.
    pub grafana_url: String,
    /// URL of the runbook.
    pub runbook_url: String,
}

/// The anchor of an alert's runbook section (GitHub's: the heading lowercased).
pub fn anchor(alert: &str) -> String {
    alert.to_ascii_lowercase()
}

impl Catalogue {
    /// The `runbook_url` of `a`.
    pub fn runbook_link(&self, a: &CatalogueAlert) -> String {
        format!("{}#{}", self.runbook_url, anchor(&a.name))
    }

    /// The Grafana link to `p`.
    pub fn panel_link(&self, p: &PanelRef) -> String {
        format!(
            "{}/d/{}?viewPanel={}",
            self.grafana_url.trim_end_matches('/'),
            p.dashboard_uid,
            p.panel_id
        )
    }

    /// Labels and annotations by alert name.
    pub fn meta(&self) -> MetaMap {
        self.alerts
            .iter()
            .map(|a| {
                (
                    a.name.clone(),
                    AlertMeta {
                        family: a.family.clone(),
                        component: a.component.clone(),
                        runbook_url: self.runbook_link(a),
                        dashboard: a.panel.as_ref().map(|p| self.panel_link(p)),
                    },
                )
            })
            .collect()
    }

    /// The alert named `name`.
    pub fn get(&self, name: &str) -> Option<&CatalogueAlert> {
        self.alerts.iter().find(|a| a.name == name)
    }
}

fn family_of<'a>(spec: &'a Spec, metric: &str) -> Option<(&'a g6_spec::model::Family, &'a Metric)> {
    spec.metrics().find(|(_, m)| m.name.value == metric)
}

/// The spec metrics an expression reads, in order of appearance (`$window` read as 5m).
fn metrics_read(spec: &Spec, catalog: &g6_spec::promql::SeriesCatalog, expr: &str) -> Vec<String> {
    let expr = expr.replace("$window", "5m");
    let mut out: Vec<String> = Vec::new();
    for s in catalog.analyze(&expr).selectors {
        if let Some(info) = catalog.series.get(&s) {
            if family_of(spec, &info.metric).is_some() && !out.contains(&info.metric) {
                out.push(info.metric.clone());
            }
        }
    }
    out
}

/// The panel of `metric`: a dashboard panel drawn from it (a spec panel first), else
/// the alerts overview of a dashboard showing its family.
fn metric_panel(dashboards: &[Dashboard], metric: &str, family: &str) -> Option<PanelRef> {
    // Borrowed, not cloned: this runs once per alert over every panel of every
    // dashboard (a clone per alert made a 2,000-metric spec's build take seconds).
    fn panels(d: &Dashboard) -> &[Value] {
        d.json["panels"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
    }
    let pick = |d: &Dashboard, p: &Value| PanelRef {
        dashboard_uid: d.uid.clone(),
        dashboard_title: d.title.clone(),
        panel_id: p["id"].as_i64().unwrap_or_default(),
        panel_title: p["title"].as_str().unwrap_or_default().to_string(),
    };
    for spec_only in [true, false] {
        for d in dashboards {
            for p in panels(d) {
                let meta = &p["g6_meta"];
                let source = meta["source"].as_str().unwrap_or_default();
                if meta["metric"] == metric
                    && source != "alerts_aggregate"
                    && (!spec_only || source == "spec")
                {
                    return Some(pick(d, p));
                }
            }
        }
    }
    dashboards
        .iter()
        .filter(|d| d.families.iter().any(|f| f == family))
        .find_map(|d| {
            panels(d)
                .iter()
                .find(|p| p["g6_meta"]["source"] == "alerts_aggregate")
                .map(|p| pick(d, p))
        })
}

fn failure_counters(f: &g6_spec::model::Family, except: &str) -> Vec<String> {
    f.metrics
        .iter()
        .filter(|m| m.name.value != except && m.kind.value == g6_spec::model::MetricKind::Counter)
        .filter(|m| {
            let n = &m.name.value;
            ["fail", "error", "drop", "lost", "overflow", "retr"]
                .iter()
                .any(|w| n.contains(w))
                || m.labels.iter().any(|l| l.value == "result")
        })
        .map(|m| m.name.value.clone())
        .take(4)
        .collect()
}

fn code_list(items: &[String]) -> String {
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn panel_check(p: &Option<PanelRef>, what: &str) -> String {
    match p {
        Some(p) => format!(
            "Open the panel \"{}\" on the dashboard \"{}\" (the `dashboard` link of the notification): when did {what} change, and which series (label values) moved?",
            p.panel_title, p.dashboard_title
        ),
        None => format!("Query {what} in Prometheus over the last hours: when did it change, and which series (label values) moved?"),
    }
}

fn logs_check(f: Option<&g6_spec::model::Family>) -> String {
    match f.and_then(|f| f.owner.as_deref()) {
        Some(owner) => format!("Read the WARN and ERROR lines of the process's log since it started firing (the code under `{owner}` logs them)."),
        None => "Read the WARN and ERROR lines of the process's log since it started firing.".into(),
    }
}

/// The generated checks of an alert on `metric` (spec alerts without `runbook:` and
/// suggestions): the panel, the failure counters of its family, the logs.
fn default_checks(spec: &Spec, metric: &str, panel: &Option<PanelRef>) -> Vec<String> {
    let fam = family_of(spec, metric).map(|(f, _)| f);
    let counters = fam.map(|f| failure_counters(f, metric)).unwrap_or_default();
    let second = match fam {
        Some(f) if !counters.is_empty() => format!(
            "Compare with the failure counters of the `{}` family, {} (their rates by label): a rise at the same time names the cause.",
            f.name.value,
            code_list(&counters)
        ),
        Some(f) => format!(
            "Compare with the other metrics of the `{}` family on the same dashboard: did any change at the same time?",
            f.name.value
        ),
        None => "Compare with the other metrics on the same dashboard: did any change at the same time?".into(),
    };
    vec![
        panel_check(panel, &format!("`{metric}`")),
        second,
        logs_check(fam),
    ]
}

/// Build the catalogue of every alert the spec generates.
pub fn catalogue(spec: &Spec, rules: &RuleSet, dashboards: &[Dashboard]) -> Catalogue {
    let catalog = g6_spec::promql::series_catalog(spec);
    let spec_alerts: BTreeMap<&str, &g6_spec::model::Alert> = spec
        .metrics()
        .flat_map(|(_, m)| m.alerts.iter().map(|a| (a.alert.value.as_str(), a)))
        .collect();
    let mut alerts = Vec::new();
    for (groups, origin) in [
        (&rules.alerts, Origin::Spec),
        (&rules.suggestions, Origin::Suggestion),
    ] {
        for a in groups.iter().flat_map(|g| g.rules.iter()) {
            let family = family_of(spec, &a.metric)
                .map(|(f, _)| f.name.value.clone())
                .unwrap_or_default();
            let panel = metric_panel(dashboards, &a.metric, &family);
            let declared = spec_alerts
                .get(a.alert.as_str())
                .filter(|_| origin == Origin::Spec);
            let written: Vec<String> = declared
                .map(|d| d.checks.iter().map(|c| c.value.clone()).collect())
                .unwrap_or_default();
            let checks_from_spec = !written.is_empty();
            alerts.push(CatalogueAlert {
                name: a.alert.clone(),
                severity: a.severity.clone(),
                family,
                component: a.metric.clone(),
                expr: a.expr.clone(),
                for_: a.for_.clone(),
                summary: a.summary.clone(),
                description: a.description.clone(),
                origin,
                checks: if checks_from_spec {
                    written
                } else {
                    default_checks(spec, &a.metric, &panel)
                },
                checks_from_spec,
                inhibits: declared
                    .map(|d| d.inhibits.iter().map(|i| i.value.clone()).collect())
                    .unwrap_or_default(),
                panel,
            });
        }
    }
    if !spec.slos.is_empty() {
        let board = crate::slo::dashboard(spec, "", "");
        let board_panels = board["panels"].as_array().cloned().unwrap_or_default();
        for (i, slo) in spec.slos.iter().enumerate() {
            let metric = metrics_read(spec, &catalog, &slo.total.value)
                .into_iter()
                .next()
                .unwrap_or_default();
            let family = family_of(spec, &metric)
                .map(|(f, _)| f.name.value.clone())
                .unwrap_or_default();
            let burn_id = crate::slo::panel_id(i, crate::slo::BURN_PANEL);
            let panel = board_panels
                .iter()
                .find(|p| p["id"].as_i64() == Some(burn_id))
                .map(|p| PanelRef {
                    dashboard_uid: board["uid"].as_str().unwrap_or_default().to_string(),
                    dashboard_title: board["title"].as_str().unwrap_or_default().to_string(),
                    panel_id: burn_id,
                    panel_title: p["title"].as_str().unwrap_or_default().to_string(),
                });
            let failing = slo.bad.as_ref().unwrap_or(&slo.total);
            for b in &crate::slo::BURN_ALERTS {
                let (summary, description) = crate::slo::annotations(spec, slo, b);
                alerts.push(CatalogueAlert {
                    name: crate::slo::alert_name(spec, slo, b),
                    severity: b.severity.to_string(),
                    family: family.clone(),
                    component: metric.clone(),
                    expr: crate::slo::alert_expr(slo, b),
                    for_: None,
                    summary,
                    description,
                    origin: Origin::Slo,
                    checks: vec![
                        panel_check(&panel, &format!("the burn rate of the `{}` SLO", slo.name.value)),
                        format!(
                            "Find which events fail: split `{}` (with `$window` = 5m) by the labels of `{metric}`.",
                            failing.value
                        ),
                        logs_check(family_of(spec, &metric).map(|(f, _)| f)),
                    ],
                    checks_from_spec: false,
                    inhibits: Vec::new(),
                    panel: panel.clone(),
                });
            }
        }
    }
    let mut health_metrics = BTreeSet::new();
    if let Some(h) = &spec.health {
        for c in &h.components {
            health_metrics.extend(metrics_read(spec, &catalog, &c.expr.value));
        }
        let record = crate::health::score_record(spec);
        let board = dashboards.iter().find(|d| d.slug == h.dashboard.value);
        let panel_of = |metric: &str| {
            board.and_then(|d| {
                d.json["panels"].as_array().and_then(|ps| {
                    ps.iter()
                        .find(|p| p["g6_meta"]["metric"] == metric)
                        .map(|p| PanelRef {
                            dashboard_uid: d.uid.clone(),
                            dashboard_title: d.title.clone(),
                            panel_id: p["id"].as_i64().unwrap_or_default(),
                            panel_title: p["title"].as_str().unwrap_or_default().to_string(),
                        })
                })
            })
        };
        let panel = panel_of(&record);
        let by_component = panel_of(&crate::health::component_record(spec));
        let names: Vec<String> = h.components.iter().map(|c| c.name.value.clone()).collect();
        for critical in [false, true] {
            let (summary, description) = crate::health::annotations(spec, h, critical);
            alerts.push(CatalogueAlert {
                name: if critical {
                    crate::health::critical_alert(spec)
                } else {
                    crate::health::warning_alert(spec)
                },
                severity: if critical { "critical" } else { "warning" }.into(),
                family: HEALTH_FAMILY.into(),
                component: record.clone(),
                expr: crate::health::alert_expr(spec, h, critical),
                for_: Some(
                    if critical {
                        crate::health::CRITICAL_FOR
                    } else {
                        crate::health::WARNING_FOR
                    }
                    .into(),
                ),
                summary,
                description,
                origin: Origin::Health,
                checks: vec![
                    panel_check(
                        &by_component.clone().or(panel.clone()),
                        &format!("the components of the score ({})", names.join(", ")),
                    ),
                    format!(
                        "Follow the lowest component: its expression in the health section of {} names the metrics it reads ({}); their own alerts and runbook sections say more (this alert is silenced while one of them fires).",
                        spec.source_name(),
                        code_list(&health_metrics.iter().cloned().collect::<Vec<_>>())
                    ),
                    logs_check(None),
                ],
                checks_from_spec: false,
                inhibits: Vec::new(),
                panel: panel.clone(),
            });
        }
    }
    Catalogue {
        alerts,
        health_metrics,
        grafana_url: spec.alerting.grafana_url.value.clone(),
        runbook_url: spec.alerting.runbook_url.value.clone(),
    }
}

/// How a matcher compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `label="value"`.
    Eq(String),
    /// `label!="value"`.
    Ne(String),
    /// `label=~"a|b"`: one of the (literal) alternatives.
    OneOf(Vec<String>),
}

/// One Alertmanager matcher over literal values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matcher {
    /// The label.
    pub label: String,
    /// The comparison.
    pub op: Op,
}

impl Matcher {
    fn eq(label: &str, v: &str) -> Matcher {
        Matcher {
            label: label.into(),
            op: Op::Eq(v.into()),
        }
    }

    fn one_of(label: &str, vs: impl IntoIterator<Item = String>) -> Matcher {
        let mut vs: Vec<String> = vs.into_iter().collect();
        vs.sort();
        vs.dedup();
        if vs.len() == 1 {
            return Matcher::eq(label, &vs[0]);
        }
        Matcher {
            label: label.into(),
            op: Op::OneOf(vs),
        }
    }

    /// The matcher as Alertmanager reads it. Values are alert, metric, family and
    /// severity names (`[A-Za-z0-9_:]`), so no regex metacharacter needs escaping;
    /// any other character is escaped anyway.
    pub fn render(&self) -> String {
        let esc = |v: &str| {
            v.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
                        c.to_string()
                    } else {
                        format!("\\\\{c}")
                    }
                })
                .collect::<String>()
        };
        match &self.op {
            Op::Eq(v) => format!("{}=\"{}\"", self.label, v.replace('"', "\\\"")),
            Op::Ne(v) => format!("{}!=\"{}\"", self.label, v.replace('"', "\\\"")),
            Op::OneOf(vs) => format!(
                "{}=~\"{}\"",
                self.label,
                vs.iter().map(|v| esc(v)).collect::<Vec<_>>().join("|")
            ),
        }
    }

    /// Whether an alert with `labels` matches.
    pub fn matches(&self, labels: &BTreeMap<&str, &str>) -> bool {
        let v = labels.get(self.label.as_str()).copied().unwrap_or("");
        match &self.op {
            Op::Eq(x) => v == x,
            Op::Ne(x) => v != x,
            Op::OneOf(xs) => xs.iter().any(|x| x == v),
        }
    }
}

/// One inhibition rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InhibitRule {
    /// Why it exists (a comment in the configuration).
    pub why: String,
    /// Alerts that silence.
    pub source: Vec<Matcher>,
    /// Alerts silenced.
    pub target: Vec<Matcher>,
    /// Labels both must share.
    pub equal: Vec<String>,
}

fn labels_of(a: &CatalogueAlert) -> BTreeMap<&str, &str> {
    BTreeMap::from([
        ("alertname", a.name.as_str()),
        ("severity", a.severity.as_str()),
        ("family", a.family.as_str()),
        ("component", a.component.as_str()),
    ])
}

impl InhibitRule {
    /// Whether `source` firing silences `target` under this rule (Alertmanager never
    /// lets an alert inhibit itself).
    pub fn silences(&self, source: &CatalogueAlert, target: &CatalogueAlert) -> bool {
        let s = labels_of(source);
        source.name != target.name
            && self.source.iter().all(|m| m.matches(&s))
            && self.silences_target(&s, &labels_of(target))
    }

    /// Whether a target with labels `t` is silenced by a source with labels `s` that
    /// this rule's source matchers already match.
    fn silences_target(&self, s: &BTreeMap<&str, &str>, t: &BTreeMap<&str, &str>) -> bool {
        self.target.iter().all(|m| m.matches(t))
            && self
                .equal
                .iter()
                .all(|l| s.get(l.as_str()) == t.get(l.as_str()))
    }
}

/// The inhibition rules of the catalogue.
pub fn inhibit_rules(cat: &Catalogue) -> Vec<InhibitRule> {
    let mut out = vec![
        InhibitRule {
            why: "A critical alert silences the warning and info alerts of its component (the metric both watch): one problem, one page.".into(),
            source: vec![Matcher::eq("severity", "critical")],
            target: vec![Matcher::one_of("severity", ["warning".into(), "info".into()])],
            equal: vec!["component".into()],
        },
        InhibitRule {
            why: "A warning silences the info alerts of its component.".into(),
            source: vec![Matcher::eq("severity", "warning")],
            target: vec![Matcher::eq("severity", "info")],
            equal: vec!["component".into()],
        },
    ];
    for a in cat.alerts.iter().filter(|a| !a.inhibits.is_empty()) {
        out.push(InhibitRule {
            why: format!(
                "{} silences the alerts on the metrics it makes go wrong (`inhibits:` in the spec): {}.",
                a.name,
                a.inhibits.join(", ")
            ),
            source: vec![Matcher::eq("alertname", &a.name)],
            target: vec![
                Matcher::one_of("component", a.inhibits.iter().cloned()),
                Matcher {
                    label: "alertname".into(),
                    op: Op::Ne(a.name.clone()),
                },
            ],
            equal: Vec::new(),
        });
    }
    let health: Vec<&CatalogueAlert> = cat
        .alerts
        .iter()
        .filter(|a| a.origin == Origin::Health)
        .collect();
    let explaining: Vec<String> = cat
        .alerts
        .iter()
        .filter(|a| cat.health_metrics.contains(&a.component))
        .map(|a| a.component.clone())
        .collect();
    if let (Some(h), false) = (health.first(), explaining.is_empty()) {
        out.push(InhibitRule {
            why: "The health score summarises its components: while an alert on a metric a component reads fires (it is specific, with its own runbook), the score's alerts are silenced.".into(),
            source: vec![
                Matcher::one_of("component", explaining),
                Matcher::one_of("severity", ["warning".into(), "critical".into()]),
            ],
            target: vec![Matcher::eq("component", &h.component)],
            equal: Vec::new(),
        });
    }
    out
}

/// What `a` silences while it fires, by alert name.
pub fn silenced_by(cat: &Catalogue, rules: &[InhibitRule], a: &CatalogueAlert) -> Vec<String> {
    let labels: Vec<BTreeMap<&str, &str>> = cat.alerts.iter().map(labels_of).collect();
    silenced_among(cat, &labels, rules, a)
}

/// [`silenced_by`] with every alert's labels worked out once (`labels`, in catalogue
/// order): the runbook asks it of every alert, and a spec of 2,000 metrics has some
/// 700 alerts.
fn silenced_among(
    cat: &Catalogue,
    labels: &[BTreeMap<&str, &str>],
    rules: &[InhibitRule],
    a: &CatalogueAlert,
) -> Vec<String> {
    let s = labels_of(a);
    // Only the rules `a` is a source of can make it silence anything.
    let sourced: Vec<&InhibitRule> = rules
        .iter()
        .filter(|r| r.source.iter().all(|m| m.matches(&s)))
        .collect();
    if sourced.is_empty() {
        return Vec::new();
    }
    cat.alerts
        .iter()
        .zip(labels)
        .filter(|(t, tl)| t.name != a.name && sourced.iter().any(|r| r.silences_target(&s, tl)))
        .map(|(t, _)| t.name.clone())
        .collect()
}

fn matcher_list(ms: &[Matcher]) -> Vec<String> {
    ms.iter().map(Matcher::render).collect()
}

/// The Alertmanager configuration file, as far as the generator writes it.
#[derive(Serialize)]
struct Config {
    global: ConfigGlobal,
    route: ConfigRoute,
    inhibit_rules: Vec<ConfigInhibitRule>,
    receivers: Vec<ConfigReceiver>,
}

#[derive(Serialize)]
struct ConfigGlobal {
    resolve_timeout: String,
}

/// A node of the routing tree (the root has no matchers, the leaves no routes).
#[derive(Serialize)]
struct ConfigRoute {
    receiver: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    matchers: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    group_by: Vec<String>,
    group_wait: String,
    group_interval: String,
    repeat_interval: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    routes: Vec<ConfigRoute>,
}

#[derive(Serialize)]
struct ConfigInhibitRule {
    source_matchers: Vec<String>,
    target_matchers: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    equal: Vec<String>,
}

#[derive(Serialize)]
struct ConfigReceiver {
    name: String,
    webhook_configs: Vec<WebhookConfig>,
}

#[derive(Serialize)]
struct WebhookConfig {
    url: String,
    send_resolved: bool,
}

/// A route of the tree: the severity it takes and its timing.
struct Route {
    severity: &'static str,
    group_wait: &'static str,
    group_interval: &'static str,
    repeat_interval: &'static str,
    why: &'static str,
}

const ROUTES: [Route; 3] = [
    Route {
        severity: "critical",
        group_wait: "30s",
        group_interval: "2m",
        repeat_interval: "1h",
        why: "pages: sent 30 s after the first alert of a group (time for the alerts that inhibit others to arrive), repeated hourly while firing",
    },
    Route {
        severity: "warning",
        group_wait: "1m",
        group_interval: "5m",
        repeat_interval: "4h",
        why: "working hours: grouped for a minute, repeated every 4 hours",
    },
    Route {
        severity: "info",
        group_wait: "5m",
        group_interval: "30m",
        repeat_interval: "24h",
        why: "a daily digest",
    },
];

/// `alertmanager/alertmanager.yml` (Alertmanager 0.25 syntax).
pub fn render_config(spec: &Spec, cat: &Catalogue, hash: &str, version: &str) -> String {
    let ns = &spec.namespace.value;
    let mut header = format!(
        "# Alertmanager configuration for the alerts of {src} (Alertmanager 0.25 syntax).\n# Generated by {version} from {src} (spec hash {hash}). Do not edit:\n# change the spec and run `cargo build` (or `g6 generate`).\n#\n# Before use, point the webhook receivers at a real receiver: replace\n# {WEBHOOK_PLACEHOLDER} (a host that never resolves) in a copy of this file, e.g.\n#   sed 's#{WEBHOOK_PLACEHOLDER}#https://hooks.example.com#' alertmanager.yml > /etc/alertmanager/alertmanager.yml\n# Routing: by severity (critical, warning, info; each its own receiver and timing);\n# notifications are grouped by {group}. Every alert carries `family` (the spec\n# family of the metric it watches) and `component` (that metric): add a route with\n# `matchers: ['family=\"...\"']` before the severity routes to send a family elsewhere.\n",
        src = spec.source_name(),
        group = GROUP_BY.join(" and "),
    );
    // YAML comments cannot ride inside a serialised document: why each route and each
    // inhibition rule exists is said here, in their order in the file.
    header.push_str("#\n# Routes, in order:\n");
    for r in &ROUTES {
        let _ = writeln!(header, "# - {}: {}", r.severity, r.why);
    }
    let inhibit = inhibit_rules(cat);
    header.push_str("# Inhibition rules, in order:\n");
    for (i, r) in inhibit.iter().enumerate() {
        let _ = writeln!(header, "# {}. {}", i + 1, r.why);
    }
    let config = Config {
        global: ConfigGlobal {
            resolve_timeout: "5m".into(),
        },
        route: ConfigRoute {
            receiver: format!("{ns}-default"),
            matchers: Vec::new(),
            group_by: GROUP_BY.map(String::from).to_vec(),
            group_wait: "30s".into(),
            group_interval: "5m".into(),
            repeat_interval: "4h".into(),
            routes: ROUTES
                .iter()
                .map(|r| ConfigRoute {
                    receiver: format!("{ns}-{}", r.severity),
                    matchers: vec![Matcher::eq("severity", r.severity).render()],
                    group_by: Vec::new(),
                    group_wait: r.group_wait.into(),
                    group_interval: r.group_interval.into(),
                    repeat_interval: r.repeat_interval.into(),
                    routes: Vec::new(),
                })
                .collect(),
        },
        inhibit_rules: inhibit
            .iter()
            .map(|r| ConfigInhibitRule {
                source_matchers: matcher_list(&r.source),
                target_matchers: matcher_list(&r.target),
                equal: r.equal.clone(),
            })
            .collect(),
        receivers: ["default", "critical", "warning", "info"]
            .iter()
            .map(|name| ConfigReceiver {
                name: format!("{ns}-{name}"),
                webhook_configs: vec![WebhookConfig {
                    url: format!("{WEBHOOK_PLACEHOLDER}/{ns}/{name}"),
                    send_resolved: true,
                }],
            })
            .collect(),
    };
    crate::rulefile::document(&header, &config)
}

fn md(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// An expression for a table cell: its first 160 characters (the section has all).
fn short(expr: &str) -> String {
    match expr.char_indices().nth(160) {
        Some((at, _)) => format!("{}…", &expr[..at]),
        None => expr.to_string(),
    }
}

fn links(names: &[String]) -> String {
    if names.is_empty() {
        return "—".into();
    }
    names
        .iter()
        .map(|n| format!("[{n}](#{})", anchor(n)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `docs/RUNBOOK.md`: the alert catalogue table and a section per alert.
pub fn render_runbook(spec: &Spec, cat: &Catalogue, hash: &str, version: &str) -> String {
    let rules = inhibit_rules(cat);
    let labels: Vec<BTreeMap<&str, &str>> = cat.alerts.iter().map(labels_of).collect();
    let silences: BTreeMap<&str, Vec<String>> = cat
        .alerts
        .iter()
        .map(|a| (a.name.as_str(), silenced_among(cat, &labels, &rules, a)))
        .collect();
    let mut out = String::from("# Runbook\n\n");
    let _ = writeln!(
        out,
        "<!-- Generated by {version} from {} (spec hash {hash}). Do not edit: change the spec (an alert's `runbook: {{checks: [..]}}` and `inhibits: [..]`) and run `cargo build`. -->\n",
        spec.source_name()
    );
    let _ = writeln!(
        out,
        "Every generated alert: what it means, the first three things to check and the dashboard panel that shows it. Alertmanager (`{CONFIG_PATH}`) routes them by `severity`, groups them by {}, and inhibits as the column \"silences\" says: an alert silenced there reaches nobody while the one that silences it fires.\n",
        GROUP_BY.map(|g| format!("`{g}`")).join(" and ")
    );
    out.push_str("## Alert catalogue\n\n| alert | severity | family | fires when | silences while firing | rule file |\n|---|---|---|---|---|---|\n");
    for a in &cat.alerts {
        let _ = writeln!(
            out,
            "| [{}](#{}) | {} | {} | `{}`{} | {} | `{}` |",
            a.name,
            anchor(&a.name),
            a.severity,
            a.family,
            md(&short(&a.expr)),
            a.for_
                .as_ref()
                .map(|f| format!(" for {f}"))
                .unwrap_or_default(),
            links(&silences[a.name.as_str()]),
            a.origin.file()
        );
    }
    out.push_str("\n## Alerts\n");
    for a in &cat.alerts {
        let by: Vec<String> = cat
            .alerts
            .iter()
            .filter(|s| silences[s.name.as_str()].contains(&a.name))
            .map(|s| s.name.clone())
            .collect();
        let _ = writeln!(
            out,
            "\n### {}\n\n**{}** · family `{}` · component `{}` · `{}`\n\n{}\n\n**What it means.** {}\n\n**Fires when** `{}`{}.\n\n**First three things to check**{}\n",
            a.name,
            a.severity,
            a.family,
            a.component,
            a.origin.file(),
            a.summary,
            a.description,
            a.expr,
            a.for_
                .as_ref()
                .map(|f| format!(" holds for {f}"))
                .unwrap_or_else(|| " holds (no `for`)".into()),
            if a.checks_from_spec {
                ""
            } else {
                " (generated: the spec gives none)"
            }
        );
        for (i, c) in a.checks.iter().enumerate() {
            let _ = writeln!(out, "{}. {c}", i + 1);
        }
        match &a.panel {
            Some(p) => {
                let _ = writeln!(
                    out,
                    "\n**Dashboard:** [{} — {}]({}) (dashboard uid `{}`, panel id {}).",
                    p.panel_title,
                    p.dashboard_title,
                    cat.panel_link(p),
                    p.dashboard_uid,
                    p.panel_id
                );
            }
            None => out.push_str("\n**Dashboard:** no generated dashboard shows its metric.\n"),
        }
        let _ = writeln!(
            out,
            "\n**Silences while firing:** {}.\n\n**Silenced by:** {}.",
            links(&silences[a.name.as_str()]),
            links(&by)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(name: &str, severity: &str, component: &str) -> CatalogueAlert {
        CatalogueAlert {
            name: name.into(),
            severity: severity.into(),
            family: "f".into(),
            component: component.into(),
            expr: "x > 0".into(),
            for_: None,
            summary: String::new(),
            description: String::new(),
            origin: Origin::Spec,
            checks: Vec::new(),
            checks_from_spec: false,
            inhibits: Vec::new(),
            panel: None,
        }
    }

    #[test]
    fn a_critical_alert_silences_only_the_warnings_of_its_own_component() {
        let cat = Catalogue {
            alerts: vec![
                alert("Crit", "critical", "a"),
                alert("WarnA", "warning", "a"),
                alert("WarnB", "warning", "b"),
                alert("CritA2", "critical", "a"),
            ],
            health_metrics: BTreeSet::new(),
            grafana_url: String::new(),
            runbook_url: String::new(),
        };
        let rules = inhibit_rules(&cat);
        assert_eq!(silenced_by(&cat, &rules, &cat.alerts[0]), ["WarnA"]);
        assert!(silenced_by(&cat, &rules, &cat.alerts[1]).is_empty());
    }

    #[test]
    fn an_inhibits_list_silences_every_alert_on_those_metrics_but_not_itself() {
        let mut down = alert("Down", "critical", "calls");
        down.inhibits = vec!["age".into(), "calls".into()];
        let cat = Catalogue {
            alerts: vec![
                down,
                alert("Stale", "critical", "age"),
                alert("Errors", "warning", "calls"),
                alert("Other", "critical", "bus"),
            ],
            health_metrics: BTreeSet::new(),
            grafana_url: String::new(),
            runbook_url: String::new(),
        };
        let rules = inhibit_rules(&cat);
        assert_eq!(
            silenced_by(&cat, &rules, &cat.alerts[0]),
            ["Stale", "Errors"]
        );
        let rendered: Vec<String> = rules[2].target.iter().map(Matcher::render).collect();
        assert_eq!(
            rendered,
            ["component=~\"age|calls\"", "alertname!=\"Down\""]
        );
    }
}
