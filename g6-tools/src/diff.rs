//! What changed between two specs, and what it breaks (`g6 diff OLD NEW`).
//!
//! Metrics are matched by name, and across a rename through the new metric's
//! `renamed_from`. A change that makes an existing query, dashboard or alert read
//! something else or nothing is breaking: a metric or label removed or renamed, a type,
//! unit or bucket layout changed, closed values removed. Additions, help, budgets and
//! stability are not. Under `--strict` removing a metric that was not `deprecated`
//! first (or a label of one) is an error. Each breaking change lists the dashboards
//! panels and alerts of the old spec that read the metric.

use g6_codegen::rules::RuleSet;
use g6_spec::model::{Metric, MetricKind, Spec};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt::Write;

/// The kind of one change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChangeKind {
    /// A metric is new.
    MetricAdded,
    /// A metric is gone.
    MetricRemoved,
    /// A metric has a new name (`renamed_from`).
    MetricRenamed,
    /// Counter, gauge or histogram changed.
    TypeChanged,
    /// A label is new on a metric.
    LabelAdded,
    /// A label is gone from a metric.
    LabelRemoved,
    /// A closed label allows new values.
    ValuesAdded,
    /// A closed label no longer allows some values.
    ValuesRemoved,
    /// Histogram bucket bounds changed.
    BucketsChanged,
    /// The unit changed.
    UnitChanged,
    /// The cardinality budget changed.
    BudgetChanged,
    /// The help text changed.
    HelpChanged,
    /// Stable, experimental or deprecated changed.
    StabilityChanged,
    /// An alert of the spec is new.
    AlertAdded,
    /// An alert of the spec is gone.
    AlertRemoved,
    /// An alert's expression, duration or severity changed.
    AlertChanged,
    /// A dashboard plan is new.
    DashboardAdded,
    /// A dashboard plan is gone.
    DashboardRemoved,
    /// An SLO is new.
    SloAdded,
    /// An SLO is gone (its rules, alerts and dashboard row with it).
    SloRemoved,
    /// An SLO's objective, period or SLI changed.
    SloChanged,
    /// The spec gained a `health:` section, or the score a component.
    HealthAdded,
    /// The `health:` section, or a component of it, is gone (its recorded series and
    /// alerts with it).
    HealthRemoved,
    /// The health thresholds, dashboard, or a component's weight or expression changed.
    HealthChanged,
}

impl ChangeKind {
    /// Snake-case name (text, markdown and JSON).
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::MetricAdded => "metric_added",
            ChangeKind::MetricRemoved => "metric_removed",
            ChangeKind::MetricRenamed => "metric_renamed",
            ChangeKind::TypeChanged => "type_changed",
            ChangeKind::LabelAdded => "label_added",
            ChangeKind::LabelRemoved => "label_removed",
            ChangeKind::ValuesAdded => "values_added",
            ChangeKind::ValuesRemoved => "values_removed",
            ChangeKind::BucketsChanged => "buckets_changed",
            ChangeKind::UnitChanged => "unit_changed",
            ChangeKind::BudgetChanged => "budget_changed",
            ChangeKind::HelpChanged => "help_changed",
            ChangeKind::StabilityChanged => "stability_changed",
            ChangeKind::AlertAdded => "alert_added",
            ChangeKind::AlertRemoved => "alert_removed",
            ChangeKind::AlertChanged => "alert_changed",
            ChangeKind::DashboardAdded => "dashboard_added",
            ChangeKind::DashboardRemoved => "dashboard_removed",
            ChangeKind::SloAdded => "slo_added",
            ChangeKind::SloRemoved => "slo_removed",
            ChangeKind::SloChanged => "slo_changed",
            ChangeKind::HealthAdded => "health_added",
            ChangeKind::HealthRemoved => "health_removed",
            ChangeKind::HealthChanged => "health_changed",
        }
    }
}

/// One change between the specs.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// What kind.
    pub kind: ChangeKind,
    /// The metric (new name for a rename), label, alert or dashboard it is about.
    pub subject: String,
    /// What changed, old to new.
    pub detail: String,
    /// Whether existing queries, dashboards or alerts break.
    pub breaking: bool,
    /// Under `--strict`: removed without a deprecation period.
    pub error: bool,
    /// Dashboard panels and alerts of the old spec that read the metric.
    pub affects: Vec<String>,
}

/// Every change from `old` to `new`, in a stable order. `strict` marks removals
/// without deprecation as errors.
pub fn diff(old: &Spec, new: &Spec, strict: bool) -> Vec<Change> {
    let old_metrics: BTreeMap<&str, &Metric> = old
        .metrics()
        .map(|(_, m)| (m.name.value.as_str(), m))
        .collect();
    let new_metrics: BTreeMap<&str, &Metric> = new
        .metrics()
        .map(|(_, m)| (m.name.value.as_str(), m))
        .collect();
    let users = Users::build(old);
    let mut out = Vec::new();
    // New name -> old name, for renames whose old name is gone.
    let mut renamed: BTreeMap<&str, &str> = BTreeMap::new();
    for (name, m) in &new_metrics {
        if let Some(from) = &m.renamed_from {
            if old_metrics.contains_key(from.value.as_str())
                && !new_metrics.contains_key(from.value.as_str())
                && !old_metrics.contains_key(name)
            {
                renamed.insert(name, from.value.as_str());
            }
        }
    }
    let renamed_old: BTreeMap<&str, &str> = renamed.iter().map(|(n, o)| (*o, *n)).collect();
    for (name, m) in &old_metrics {
        if new_metrics.contains_key(name) || renamed_old.contains_key(name) {
            continue;
        }
        let deprecated = m.stability == g6_spec::model::Stability::Deprecated;
        out.push(Change {
            kind: ChangeKind::MetricRemoved,
            subject: name.to_string(),
            detail: format!(
                "{} removed{}",
                m.kind.value.as_str(),
                if deprecated {
                    " (was deprecated)"
                } else {
                    " without being deprecated first"
                }
            ),
            breaking: true,
            error: strict && !deprecated,
            affects: users.reading(m),
        });
    }
    for (name, m) in &new_metrics {
        let (old_name, before) = match renamed.get(name) {
            Some(o) => (*o, old_metrics[o]),
            None => match old_metrics.get(name) {
                Some(b) => (*name, *b),
                None => {
                    out.push(Change {
                        kind: ChangeKind::MetricAdded,
                        subject: name.to_string(),
                        detail: format!(
                            "{} with labels [{}]",
                            m.kind.value.as_str(),
                            labels_of(m).join(", ")
                        ),
                        breaking: false,
                        error: false,
                        affects: Vec::new(),
                    });
                    continue;
                }
            },
        };
        if old_name != *name {
            let deprecated = before.stability == g6_spec::model::Stability::Deprecated;
            out.push(Change {
                kind: ChangeKind::MetricRenamed,
                subject: name.to_string(),
                detail: format!("renamed from {old_name}"),
                breaking: true,
                error: strict && !deprecated,
                affects: users.reading(before),
            });
        }
        compare(old, new, before, m, &users, strict, &mut out);
    }
    compare_labels(old, new, &old_metrics, &new_metrics, &users, &mut out);
    compare_alerts(old, new, &mut out);
    compare_slos(old, new, &mut out);
    compare_health(old, new, &mut out);
    let old_dash: Vec<&str> = old
        .dashboards
        .iter()
        .map(|d| d.slug.value.as_str())
        .collect();
    let new_dash: Vec<&str> = new
        .dashboards
        .iter()
        .map(|d| d.slug.value.as_str())
        .collect();
    for d in &old_dash {
        if !new_dash.contains(d) {
            out.push(Change {
                kind: ChangeKind::DashboardRemoved,
                subject: d.to_string(),
                detail: "dashboard plan removed (its generated file goes too)".into(),
                breaking: true,
                error: false,
                affects: Vec::new(),
            });
        }
    }
    for d in &new_dash {
        if !old_dash.contains(d) {
            out.push(Change {
                kind: ChangeKind::DashboardAdded,
                subject: d.to_string(),
                detail: "dashboard plan added".into(),
                breaking: false,
                error: false,
                affects: Vec::new(),
            });
        }
    }
    out.sort_by(|a, b| {
        (!a.breaking, a.kind, &a.subject, &a.detail).cmp(&(
            !b.breaking,
            b.kind,
            &b.subject,
            &b.detail,
        ))
    });
    out
}

fn labels_of(m: &Metric) -> Vec<String> {
    m.labels.iter().map(|l| l.value.clone()).collect()
}

/// Changes of one metric that exists in both (possibly renamed).
fn compare(
    old: &Spec,
    new: &Spec,
    a: &Metric,
    b: &Metric,
    users: &Users,
    strict: bool,
    out: &mut Vec<Change>,
) {
    let name = b.name.value.clone();
    let mut push = |kind, detail: String, breaking: bool, error: bool| {
        out.push(Change {
            kind,
            subject: name.clone(),
            detail,
            breaking,
            error,
            affects: if breaking {
                users.reading(a)
            } else {
                Vec::new()
            },
        })
    };
    if a.kind.value != b.kind.value {
        push(
            ChangeKind::TypeChanged,
            format!("{} -> {}", a.kind.value.as_str(), b.kind.value.as_str()),
            true,
            false,
        );
    }
    let (la, lb) = (labels_of(a), labels_of(b));
    for l in &la {
        if !lb.contains(l) {
            push(
                ChangeKind::LabelRemoved,
                format!("label `{l}` removed"),
                true,
                strict && a.stability != g6_spec::model::Stability::Deprecated,
            );
        }
    }
    for l in &lb {
        if !la.contains(l) {
            push(
                ChangeKind::LabelAdded,
                format!("label `{l}` added"),
                false,
                false,
            );
        }
    }
    let unit = |m: &Metric| {
        m.unit
            .as_ref()
            .map_or("(none)".to_string(), |u| u.value.clone())
    };
    if unit(a) != unit(b) {
        push(
            ChangeKind::UnitChanged,
            format!("{} -> {}", unit(a), unit(b)),
            true,
            false,
        );
    }
    if a.kind.value == MetricKind::Histogram
        && b.kind.value == MetricKind::Histogram
        && a.bucket_values() != b.bucket_values()
    {
        let (va, vb) = (a.buckets_version(), b.buckets_version());
        // Without a new version, series of two layouts share one identity and mix in
        // histogram_quantile across the change.
        let detail = if vb > va {
            format!(
                "{:?} -> {:?} (declared: buckets_version {va} -> {vb})",
                a.bucket_values(),
                b.bucket_values()
            )
        } else {
            format!(
                "{:?} -> {:?} without a buckets_version bump: set `buckets_version: {}` so the two layouts are told apart",
                a.bucket_values(),
                b.bucket_values(),
                va + 1
            )
        };
        push(ChangeKind::BucketsChanged, detail, true, false);
    }
    let (ba, bb) = (a.effective_budget(old), b.effective_budget(new));
    if ba != bb {
        push(
            ChangeKind::BudgetChanged,
            format!("{ba} -> {bb} series"),
            false,
            false,
        );
    }
    if a.help.value != b.help.value {
        push(
            ChangeKind::HelpChanged,
            format!("{:?} -> {:?}", a.help.value, b.help.value),
            false,
            false,
        );
    }
    if a.stability != b.stability {
        push(
            ChangeKind::StabilityChanged,
            format!("{} -> {}", a.stability.as_str(), b.stability.as_str()),
            false,
            false,
        );
    }
}

/// Closed values added to or removed from shared labels (once per label, with the
/// metrics that carry it).
fn compare_labels(
    old: &Spec,
    new: &Spec,
    old_metrics: &BTreeMap<&str, &Metric>,
    new_metrics: &BTreeMap<&str, &Metric>,
    users: &Users,
    out: &mut Vec<Change>,
) {
    for def in &new.labels {
        let name = def.name.value.as_str();
        let (Some(before), Some(after)) = (old.closed_values(name), new.closed_values(name)) else {
            continue;
        };
        let before: Vec<&str> = before.iter().map(|v| v.value.as_str()).collect();
        let after: Vec<&str> = after.iter().map(|v| v.value.as_str()).collect();
        let carriers = |metrics: &BTreeMap<&str, &Metric>| -> Vec<String> {
            metrics
                .iter()
                .filter(|(_, m)| m.labels.iter().any(|l| l.value == name))
                .map(|(n, _)| n.to_string())
                .collect()
        };
        let removed: Vec<&str> = before
            .iter()
            .filter(|v| !after.contains(v))
            .copied()
            .collect();
        let added: Vec<&str> = after
            .iter()
            .filter(|v| !before.contains(v))
            .copied()
            .collect();
        if !removed.is_empty() {
            let affects = old_metrics
                .values()
                .filter(|m| m.labels.iter().any(|l| l.value == name))
                .flat_map(|m| users.reading(m))
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            out.push(Change {
                kind: ChangeKind::ValuesRemoved,
                subject: format!("label {name}"),
                detail: format!(
                    "values [{}] removed (on {})",
                    removed.join(", "),
                    carriers(old_metrics).join(", ")
                ),
                breaking: true,
                error: false,
                affects,
            });
        }
        if !added.is_empty() {
            out.push(Change {
                kind: ChangeKind::ValuesAdded,
                subject: format!("label {name}"),
                detail: format!(
                    "values [{}] added (on {})",
                    added.join(", "),
                    carriers(new_metrics).join(", ")
                ),
                breaking: false,
                error: false,
                affects: Vec::new(),
            });
        }
    }
}

/// The health section: as a whole, its settings, and its components by name.
fn compare_health(old: &Spec, new: &Spec, out: &mut Vec<Change>) {
    let (a, b) = match (&old.health, &new.health) {
        (None, None) => return,
        (Some(_), None) => {
            return out.push(change(
                ChangeKind::HealthRemoved,
                "health",
                "health section removed: the health score, its component series and alerts go"
                    .into(),
                true,
            ))
        }
        (None, Some(h)) => {
            return out.push(change(
                ChangeKind::HealthAdded,
                "health",
                format!("health section added ({} components)", h.components.len()),
                false,
            ))
        }
        (Some(a), Some(b)) => (a, b),
    };
    let settings = |h: &g6_spec::model::Health| {
        format!(
            "dashboard {}, warning {}, critical {}",
            h.dashboard.value, h.warning.value, h.critical.value
        )
    };
    if settings(a) != settings(b) {
        out.push(change(
            ChangeKind::HealthChanged,
            "health",
            format!("{} -> {}", settings(a), settings(b)),
            false,
        ));
    }
    let by = |h: &g6_spec::model::Health| -> BTreeMap<String, String> {
        h.components
            .iter()
            .map(|c| {
                (
                    c.name.value.clone(),
                    format!("weight {}, {}", c.weight.value, c.expr.value),
                )
            })
            .collect()
    };
    compare_named(
        &by(a),
        &by(b),
        [
            ChangeKind::HealthRemoved,
            ChangeKind::HealthChanged,
            ChangeKind::HealthAdded,
        ],
        |before| format!("health component removed ({before}): its component series goes"),
        |after| format!("health component added ({after})"),
        out,
    );
}

/// SLOs, by name.
fn compare_slos(old: &Spec, new: &Spec, out: &mut Vec<Change>) {
    let text = |s: &g6_spec::model::Slo| {
        format!(
            "{}% over {}, {} / {}",
            s.objective.value,
            s.period.value,
            s.good
                .as_ref()
                .map(|g| format!("good {}", g.value))
                .or_else(|| s.bad.as_ref().map(|b| format!("bad {}", b.value)))
                .unwrap_or_default(),
            s.total.value
        )
    };
    let by = |s: &Spec| -> BTreeMap<String, String> {
        s.slos
            .iter()
            .map(|x| (x.name.value.clone(), text(x)))
            .collect()
    };
    compare_named(
        &by(old),
        &by(new),
        [
            ChangeKind::SloRemoved,
            ChangeKind::SloChanged,
            ChangeKind::SloAdded,
        ],
        |before| format!("SLO removed ({before}): its slo:* series and burn-rate alerts go"),
        |after| format!("SLO added ({after})"),
        out,
    );
}

/// Named parts (SLOs, health components) compared by their description: each one
/// removed (breaking), changed or added is one change, of `kinds` in that order.
fn compare_named(
    a: &BTreeMap<String, String>,
    b: &BTreeMap<String, String>,
    kinds: [ChangeKind; 3],
    removed: impl Fn(&str) -> String,
    added: impl Fn(&str) -> String,
    out: &mut Vec<Change>,
) {
    let [removed_kind, changed_kind, added_kind] = kinds;
    for (name, before) in a {
        match b.get(name) {
            None => out.push(change(removed_kind, name, removed(before), true)),
            Some(after) if after != before => out.push(change(
                changed_kind,
                name,
                format!("{before} -> {after}"),
                false,
            )),
            Some(_) => {}
        }
    }
    for (name, after) in b {
        if !a.contains_key(name) {
            out.push(change(added_kind, name, added(after), false));
        }
    }
}

/// A change that is not an error and lists no affected artifacts.
fn change(kind: ChangeKind, subject: &str, detail: String, breaking: bool) -> Change {
    Change {
        kind,
        subject: subject.to_string(),
        detail,
        breaking,
        error: false,
        affects: Vec::new(),
    }
}

/// The spec's own alerts, by name.
fn compare_alerts(old: &Spec, new: &Spec, out: &mut Vec<Change>) {
    let alerts = |s: &Spec| -> BTreeMap<String, (String, String, String)> {
        s.metrics()
            .flat_map(|(_, m)| m.alerts.iter())
            .map(|a| {
                (
                    a.alert.value.clone(),
                    (
                        a.expr.value.clone(),
                        a.for_.as_ref().map(|f| f.value.clone()).unwrap_or_default(),
                        a.severity.value.clone(),
                    ),
                )
            })
            .collect()
    };
    let (a, b) = (alerts(old), alerts(new));
    for (name, before) in &a {
        match b.get(name) {
            None => out.push(Change {
                kind: ChangeKind::AlertRemoved,
                subject: name.clone(),
                detail: "alert removed".into(),
                breaking: false,
                error: false,
                affects: Vec::new(),
            }),
            Some(after) if after != before => out.push(Change {
                kind: ChangeKind::AlertChanged,
                subject: name.clone(),
                detail: format!(
                    "expr {:?} for {:?} severity {} -> expr {:?} for {:?} severity {}",
                    before.0, before.1, before.2, after.0, after.1, after.2
                ),
                breaking: false,
                error: false,
                affects: Vec::new(),
            }),
            Some(_) => {}
        }
    }
    for name in b.keys() {
        if !a.contains_key(name) {
            out.push(Change {
                kind: ChangeKind::AlertAdded,
                subject: name.clone(),
                detail: "alert added".into(),
                breaking: false,
                error: false,
                affects: Vec::new(),
            });
        }
    }
}

/// What of the old spec reads each metric: generated dashboard panels, the spec's
/// alerts, generated recording rules and suggested alerts.
struct Users {
    /// (what, expressions it evaluates).
    readers: Vec<(String, Vec<String>)>,
    /// Metric -> the series recorded from it (dashboards read those too).
    recorded: BTreeMap<String, Vec<String>>,
}

impl Users {
    fn build(spec: &Spec) -> Self {
        let rules = g6_codegen::rules::build(spec);
        let dashboards = g6_codegen::dashboards::build_all(spec, &rules, "", "");
        let mut readers = Vec::new();
        for d in &dashboards {
            for p in &d.panels {
                readers.push((
                    format!("dashboard {}: {:?}", d.slug, p.title),
                    p.targets.iter().map(|t| t.expr.clone()).collect(),
                ));
            }
        }
        Self::rules(&rules, &mut readers);
        for slo in &spec.slos {
            let exprs = [&slo.good, &slo.bad, &Some(slo.total.clone())]
                .into_iter()
                .flatten()
                .map(|e| e.value.clone())
                .collect();
            readers.push((format!("SLO {}", slo.name.value), exprs));
        }
        for c in spec.health.iter().flat_map(|h| h.components.iter()) {
            readers.push((
                format!("health component {}", c.name.value),
                vec![c.expr.value.clone()],
            ));
        }
        let mut recorded: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for r in rules.all_recording() {
            recorded
                .entry(r.metric.clone())
                .or_default()
                .push(r.record.clone());
        }
        Users { readers, recorded }
    }

    fn rules(rules: &RuleSet, readers: &mut Vec<(String, Vec<String>)>) {
        for r in rules.all_recording() {
            readers.push((format!("recording rule {}", r.record), vec![r.expr.clone()]));
        }
        for a in rules.all_alerts() {
            readers.push((format!("alert {}", a.alert), vec![a.expr.clone()]));
        }
    }

    /// Everything that reads `m` (any of its series names).
    fn reading(&self, m: &Metric) -> Vec<String> {
        let mut names = m.series_names();
        names.push(m.name.value.clone());
        names.extend(
            self.recorded
                .get(&m.name.value)
                .into_iter()
                .flatten()
                .cloned(),
        );
        let mut out: Vec<String> = self
            .readers
            .iter()
            .filter(|(_, exprs)| exprs.iter().any(|e| names.iter().any(|n| mentions(e, n))))
            .map(|(what, _)| what.clone())
            .collect();
        out.dedup();
        out
    }
}

/// Whether `expr` names the series `name` (as a whole word: `g6_a` is not in `g6_ab`).
pub fn mentions(expr: &str, name: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let mut from = 0;
    while let Some(i) = expr[from..].find(name) {
        let start = from + i;
        let end = start + name.len();
        let before_ok = expr[..start].chars().next_back().is_none_or(|c| !word(c));
        let after_ok = expr[end..].chars().next().is_none_or(|c| !word(c));
        if before_ok && after_ok {
            return true;
        }
        from = end;
    }
    false
}

/// Plain text, one line per change, breaking ones first.
pub fn to_text(changes: &[Change]) -> String {
    let mut out = String::new();
    for c in changes {
        let flag = if c.error {
            "ERROR   "
        } else if c.breaking {
            "BREAKING"
        } else {
            "        "
        };
        let _ = writeln!(
            out,
            "{flag} {:<18} {}: {}",
            c.kind.as_str(),
            c.subject,
            c.detail
        );
        for a in &c.affects {
            let _ = writeln!(out, "{:27}affects {a}", "");
        }
    }
    let _ = writeln!(out, "{}", summary(changes));
    out
}

fn summary(changes: &[Change]) -> String {
    let breaking = changes.iter().filter(|c| c.breaking).count();
    let errors = changes.iter().filter(|c| c.error).count();
    format!(
        "{} changes, {breaking} breaking{}",
        changes.len(),
        if errors > 0 {
            format!(", {errors} errors (removed without deprecation)")
        } else {
            String::new()
        }
    )
}

/// A Markdown table for a pull-request comment.
pub fn to_markdown(changes: &[Change]) -> String {
    let cell = |s: &str| s.replace('|', "\\|").replace('\n', " ");
    let mut out = String::from("### Metrics spec changes\n\n");
    if changes.is_empty() {
        out.push_str("No changes.\n");
        return out;
    }
    out.push_str("| | Change | Subject | Detail | Affects |\n|---|---|---|---|---|\n");
    for c in changes {
        let flag = if c.error {
            "error"
        } else if c.breaking {
            "**breaking**"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "| {flag} | {} | `{}` | {} | {} |",
            c.kind.as_str(),
            cell(&c.subject),
            cell(&c.detail),
            cell(&c.affects.join("; "))
        );
    }
    let _ = writeln!(out, "\n{}", summary(changes));
    out
}

/// JSON for machines.
pub fn to_json(changes: &[Change]) -> Value {
    json!({
        "changes": changes.iter().map(|c| json!({
            "kind": c.kind.as_str(),
            "subject": c.subject,
            "detail": c.detail,
            "breaking": c.breaking,
            "error": c.error,
            "affects": c.affects,
        })).collect::<Vec<_>>(),
        "breaking": changes.iter().filter(|c| c.breaking).count(),
        "errors": changes.iter().filter(|c| c.error).count(),
    })
}

#[cfg(test)]
mod tests {
    use super::mentions;

    #[test]
    fn names_are_matched_as_whole_words() {
        assert!(mentions("rate(g6_a_total[5m])", "g6_a_total"));
        assert!(!mentions("rate(g6_a_total_x[5m])", "g6_a_total"));
        assert!(!mentions("job:g6_a_total:rate5m", "g6_a_total"));
        assert!(mentions("g6_a > 1 and g6_ab", "g6_a"));
        assert!(!mentions("g6_ab", "g6_a"));
    }
}
