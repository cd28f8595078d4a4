//! A scrape held against the spec (`g6 check-scrape`): families the spec does not
//! know, spec metrics absent, types and label sets that differ, closed-label values
//! outside their set, `__overflow__` series, series beyond a budget, and a spec hash
//! other than the spec's (the binary was built from another spec).
//!
//! Only warm series exist from the start (closed-label counters and histograms, and
//! the label sets a `warm:` map names): their absence is a mismatch. Any other metric
//! (open labels, gauges, `warm: false`) has no series until first used, so its
//! absence is reported as "not seen yet".

use g6_runtime::exposition;
use g6_spec::model::{Metric, Spec, LAYOUT_LABEL};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// The label value the cardinality guard gives an overflow series.
pub const OVERFLOW_VALUE: &str = "__overflow__";

/// One family of a scrape, as parsed (by the caller) from either exposition format.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ScrapedFamily {
    /// The family name as declared (`# TYPE` name; counters may or may not end in
    /// `_total`).
    pub name: String,
    /// `counter`, `gauge`, `histogram`, `summary` or `unknown`.
    pub kind: String,
    /// The label set of each series (a histogram's `le` left out, one set per series).
    pub series: Vec<BTreeMap<String, String>>,
}

/// The kind of a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FindingKind {
    /// The binary was built from another spec.
    SpecHash,
    /// A family the spec does not declare.
    UnknownMetric,
    /// A spec metric without open labels is absent.
    MissingMetric,
    /// The declared type differs from the spec's.
    TypeMismatch,
    /// A series' label names differ from the spec's.
    LabelMismatch,
    /// A closed label has a value outside its set.
    ValueOutsideSet,
    /// The cardinality guard folded label sets into an overflow series.
    Overflow,
    /// More series than the metric's budget.
    OverBudget,
}

impl FindingKind {
    /// Snake-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::SpecHash => "spec_hash",
            FindingKind::UnknownMetric => "unknown_metric",
            FindingKind::MissingMetric => "missing_metric",
            FindingKind::TypeMismatch => "type_mismatch",
            FindingKind::LabelMismatch => "label_mismatch",
            FindingKind::ValueOutsideSet => "value_outside_set",
            FindingKind::Overflow => "overflow",
            FindingKind::OverBudget => "over_budget",
        }
    }
}

/// One mismatch.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// What kind.
    pub kind: FindingKind,
    /// The metric or family.
    pub metric: String,
    /// What exactly.
    pub detail: String,
}

/// Series in use against the budget, per spec metric present.
#[derive(Debug, Clone, PartialEq)]
pub struct Usage {
    /// Metric name.
    pub metric: String,
    /// Series (label sets) in the scrape.
    pub series: usize,
    /// The metric's budget.
    pub budget: u64,
}

/// What a check found.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Report {
    /// Mismatches, sorted.
    pub findings: Vec<Finding>,
    /// Budget use of every spec metric in the scrape, sorted by name.
    pub usage: Vec<Usage>,
    /// Spec metrics that are not warm (open labels, gauges, `warm: false`) and have no
    /// series yet.
    pub not_seen: Vec<String>,
    /// Spec metrics of families gated by `enabled_by:` that have no series (the
    /// family is off in the target, or not used yet), as `name (VARIABLE)`.
    pub disabled: Vec<String>,
}

/// Parse an exposition (Prometheus text 0.0.4 or OpenMetrics 1.0) into families, with
/// the runtime's reader ([`g6_runtime::exposition`], which says why it is not a crate):
/// a family whose series carry different label names, or a sample with no `# TYPE`
/// (its own `unknown` family), is kept for [`check`] to report; a broken line is an
/// error naming its line.
pub fn parse_exposition(text: &str) -> Result<Vec<ScrapedFamily>, String> {
    let parsed =
        exposition::parse(text, &exposition::Limits::default()).map_err(|e| e.to_string())?;
    Ok(parsed
        .families
        .iter()
        .map(|f| {
            // One label set per series: a histogram's buckets share one (`le` left out).
            let sets: BTreeSet<BTreeMap<String, String>> = f
                .samples
                .iter()
                .map(|s| {
                    s.labels
                        .iter()
                        .filter(|(k, _)| *k != "le")
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect()
                })
                .collect();
            ScrapedFamily {
                name: f.name.to_string(),
                kind: f
                    .kind
                    .map_or_else(|| "unknown".into(), str::to_ascii_lowercase),
                series: sets.into_iter().collect(),
            }
        })
        .collect())
}

/// The spec metric a family stands for.
fn spec_metric<'a>(by_name: &BTreeMap<&str, &'a Metric>, family: &str) -> Option<&'a Metric> {
    by_name
        .get(family)
        .or_else(|| by_name.get(format!("{family}_total").as_str()))
        .copied()
}

/// Hold `families` against `spec` (whose hash is `spec_hash`).
pub fn check(spec: &Spec, spec_hash: &str, families: &[ScrapedFamily]) -> Report {
    let by_name: BTreeMap<&str, &Metric> = spec
        .metrics()
        .map(|(_, m)| (m.name.value.as_str(), m))
        .collect();
    // Metrics of families an environment variable switches on: absent when the
    // target runs with the family off, which is not a mismatch.
    let gated: BTreeMap<&str, &str> = spec
        .metrics()
        .filter_map(|(f, m)| {
            f.enabled_by
                .as_ref()
                .map(|v| (m.name.value.as_str(), v.value.as_str()))
        })
        .collect();
    let mut report = Report::default();
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    let mut find = |kind, metric: &str, detail: String| {
        report.findings.push(Finding {
            kind,
            metric: metric.to_string(),
            detail,
        })
    };
    let hash_metric = format!("{}metrics_spec_hash_info", spec.prefix());
    for f in families {
        let Some(m) = spec_metric(&by_name, &f.name) else {
            find(
                FindingKind::UnknownMetric,
                &f.name,
                format!(
                    "{} family with {} series that the spec does not declare",
                    f.kind,
                    f.series.len()
                ),
            );
            continue;
        };
        seen.insert(m.name.value.as_str());
        let want = m.kind.value.as_str();
        if f.kind != want {
            find(
                FindingKind::TypeMismatch,
                &m.name.value,
                format!("exposed as {}, the spec says {want}", f.kind),
            );
        }
        let mut labels: BTreeSet<&str> = m.labels.iter().map(|l| l.value.as_str()).collect();
        // A histogram past its first bucket layout labels its series with the layout.
        let layout = m.buckets_version().to_string();
        if m.has_layout_label() {
            labels.insert(LAYOUT_LABEL);
        }
        let mut other_layouts: BTreeSet<&str> = BTreeSet::new();
        let mut wrong_sets: BTreeSet<Vec<&str>> = BTreeSet::new();
        let mut outside: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        let mut overflow = 0usize;
        for s in &f.series {
            let names: BTreeSet<&str> = s.keys().map(String::as_str).collect();
            if names != labels {
                wrong_sets.insert(names.iter().copied().collect());
            }
            if s.values().any(|v| v == OVERFLOW_VALUE) {
                overflow += 1;
                continue;
            }
            for (k, v) in s {
                if m.has_layout_label() && k == LAYOUT_LABEL && *v != layout {
                    other_layouts.insert(v.as_str());
                }
                if let Some(values) = spec.closed_values(k) {
                    if labels.contains(k.as_str()) && !values.iter().any(|x| x.value == *v) {
                        outside.entry(k.as_str()).or_default().insert(v.as_str());
                    }
                }
            }
        }
        for set in wrong_sets {
            find(
                FindingKind::LabelMismatch,
                &m.name.value,
                format!(
                    "a series has labels [{}], the spec says [{}]",
                    set.join(", "),
                    labels.iter().copied().collect::<Vec<_>>().join(", ")
                ),
            );
        }
        for v in other_layouts {
            find(
                FindingKind::LabelMismatch,
                &m.name.value,
                format!(
                    "series written with bucket layout {LAYOUT_LABEL}={v}, the spec's layout is {layout}: the target was built from another spec"
                ),
            );
        }
        for (label, values) in outside {
            let allowed: Vec<&str> = spec
                .closed_values(label)
                .map(|v| v.iter().map(|x| x.value.as_str()).collect())
                .unwrap_or_default();
            find(
                FindingKind::ValueOutsideSet,
                &m.name.value,
                format!(
                    "{label}=[{}] outside its set [{}]",
                    values.into_iter().collect::<Vec<_>>().join(", "),
                    allowed.join(", ")
                ),
            );
        }
        if overflow > 0 {
            find(
                FindingKind::Overflow,
                &m.name.value,
                format!(
                    "{overflow} {OVERFLOW_VALUE} series: label sets beyond the budget were folded"
                ),
            );
        }
        let budget = m.effective_budget(spec);
        let series = f.series.len();
        if series as u64 > budget {
            find(
                FindingKind::OverBudget,
                &m.name.value,
                format!("{series} series, budget {budget}"),
            );
        }
        report.usage.push(Usage {
            metric: m.name.value.clone(),
            series,
            budget,
        });
        if m.name.value == hash_metric {
            for s in &f.series {
                match s.get("hash") {
                    Some(h) if h != spec_hash => find(
                        FindingKind::SpecHash,
                        &m.name.value,
                        format!(
                            "the target was built from spec {h}, this spec is {spec_hash}: rebuild it, or check against the spec it was built from (--spec)"
                        ),
                    ),
                    _ => {}
                }
            }
        }
    }
    for (name, m) in &by_name {
        if seen.contains(name) {
            continue;
        }
        // Only warm series exist from the start; a gauge without a reading, a
        // `warm: false` metric or one with open labels appears at first use.
        if let Some(var) = gated.get(name) {
            report.disabled.push(format!("{name} ({var})"));
        } else if m.warms_all(spec) {
            find(
                FindingKind::MissingMetric,
                name,
                format!(
                    "{} without open labels, exported at zero from the start (warm), is absent",
                    m.kind.value.as_str()
                ),
            );
        } else if !m.warm_sets(spec).is_empty() {
            find(
                FindingKind::MissingMetric,
                name,
                format!(
                    "{} with `warm:` label sets, exported at zero from the start, is absent",
                    m.kind.value.as_str()
                ),
            );
        } else {
            report.not_seen.push(name.to_string());
        }
    }
    report
        .findings
        .sort_by(|a, b| (a.kind, &a.metric, &a.detail).cmp(&(b.kind, &b.metric, &b.detail)));
    report.usage.sort_by(|a, b| a.metric.cmp(&b.metric));
    report
}

/// Plain text: findings, then the metrics nearest their budget.
pub fn to_text(r: &Report) -> String {
    let mut out = String::new();
    for f in &r.findings {
        let _ = writeln!(out, "{:<18} {}: {}", f.kind.as_str(), f.metric, f.detail);
    }
    let mut busiest: Vec<&Usage> = r.usage.iter().collect();
    busiest.sort_by(|a, b| {
        let share = |u: &Usage| u.series as f64 / u.budget.max(1) as f64;
        share(b).total_cmp(&share(a)).then(a.metric.cmp(&b.metric))
    });
    if !busiest.is_empty() {
        out.push_str("budget use (the fullest first):\n");
        for u in busiest.iter().take(10) {
            let _ = writeln!(
                out,
                "  {:<52} {:>6} / {:<6} {:>5.1}%",
                u.metric,
                u.series,
                u.budget,
                100.0 * u.series as f64 / u.budget.max(1) as f64
            );
        }
    }
    if !r.disabled.is_empty() {
        let _ = writeln!(
            out,
            "absent, family switched on by an environment variable (off in the target, or not used yet): {}",
            r.disabled.join(", ")
        );
    }
    if !r.not_seen.is_empty() {
        let _ = writeln!(
            out,
            "not seen yet (not warm: no series until first used): {}",
            r.not_seen.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "{}: {} findings, {} spec metrics present",
        if r.findings.is_empty() {
            "ok"
        } else {
            "MISMATCH"
        },
        r.findings.len(),
        r.usage.len()
    );
    out
}

/// JSON for machines.
pub fn to_json(r: &Report) -> Value {
    json!({
        "ok": r.findings.is_empty(),
        "findings": r.findings.iter().map(|f| json!({
            "kind": f.kind.as_str(), "metric": f.metric, "detail": f.detail,
        })).collect::<Vec<_>>(),
        "usage": r.usage.iter().map(|u| json!({
            "metric": u.metric, "series": u.series, "budget": u.budget,
        })).collect::<Vec<_>>(),
        "not_seen": r.not_seen,
        "disabled": r.disabled,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_formats_parse_into_families_with_their_label_sets() {
        let text = "# HELP a_total x\n# TYPE a_total counter\na_total{r=\"ok\"} 1\n\
                    a_total{r=\"e\\\"x\"} 2\n# TYPE h histogram\n\
                    h_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n\
                    # TYPE c counter\nc_total{a=\"1\"} 1 1700000000\nc_total{b=\"1\"} NaN\nloose 3\n# EOF\n";
        let f = parse_exposition(text).unwrap();
        let by: BTreeMap<&str, &ScrapedFamily> = f.iter().map(|f| (f.name.as_str(), f)).collect();
        assert_eq!(by["a_total"].kind, "counter");
        assert_eq!(by["a_total"].series.len(), 2);
        assert_eq!(by["a_total"].series[0]["r"], "e\"x");
        assert_eq!(by["h"].series, vec![BTreeMap::new()]);
        // Different label names in one family are kept apart, not refused.
        assert_eq!(by["c"].series.len(), 2);
        assert_eq!(by["loose"].kind, "unknown");
    }

    const GATED: &str = r#"version: 1
namespace: t
labels:
  result: {values: [ok, error], help: Outcome}
families:
  core:
    metrics:
      - name: t_wait_seconds
        type: histogram
        help: Wait
        unit: seconds
        labels: [result]
        buckets: [0.1, 1]
        buckets_version: 2
  extra:
    enabled_by: T_EXTRA
    metrics:
      - name: t_extra_calls_total
        type: counter
        help: Calls
        labels: [result]
"#;

    fn gated_findings(scrape: &str) -> Report {
        let loaded = g6_spec::load_str(GATED, "gated.yml").unwrap();
        check(
            &loaded.spec,
            loaded.hash(),
            &parse_exposition(scrape).unwrap(),
        )
    }

    #[test]
    fn a_family_switched_on_by_the_environment_is_never_missing() {
        let r = gated_findings("# TYPE t_wait_seconds histogram\n");
        assert!(
            !r.findings.iter().any(|f| f.metric == "t_extra_calls_total"),
            "{:?}",
            r.findings
        );
        assert_eq!(r.disabled, ["t_extra_calls_total (T_EXTRA)"]);
        assert!(to_text(&r).contains("family switched on by an environment variable"));
        // Scraped with the family on, it is checked like any other.
        let r = gated_findings(
            "# TYPE t_extra_calls_total counter\nt_extra_calls_total{result=\"ok\",x=\"1\"} 0\n",
        );
        assert!(r.disabled.is_empty());
        assert!(r
            .findings
            .iter()
            .any(|f| f.metric == "t_extra_calls_total" && f.kind == FindingKind::LabelMismatch));
    }

    #[test]
    fn a_histogram_past_its_first_layout_carries_the_spec_s_layout_label() {
        let ok = "# TYPE t_wait_seconds histogram\n\
                  t_wait_seconds_bucket{result=\"ok\",buckets_version=\"2\",le=\"+Inf\"} 0\n\
                  t_wait_seconds_count{result=\"ok\",buckets_version=\"2\"} 0\n";
        let r = gated_findings(ok);
        assert!(
            !r.findings.iter().any(|f| f.metric == "t_wait_seconds"),
            "{:?}",
            r.findings
        );
        // Without the label, or with another layout's: a binary of another spec.
        let unlabelled = "# TYPE t_wait_seconds histogram\nt_wait_seconds_count{result=\"ok\"} 0\n";
        let r = gated_findings(unlabelled);
        assert!(r.findings.iter().any(|f| f.metric == "t_wait_seconds"
            && f.detail.contains(
                "a series has labels [result], the spec says [buckets_version, result]"
            )));
        let other = "# TYPE t_wait_seconds histogram\nt_wait_seconds_count{result=\"ok\",buckets_version=\"1\"} 0\n";
        let r = gated_findings(other);
        assert!(r.findings.iter().any(|f| f.metric == "t_wait_seconds"
            && f.detail
                .contains("bucket layout buckets_version=1, the spec's layout is 2")));
    }

    #[test]
    fn a_broken_line_is_an_error_with_its_number() {
        let e = parse_exposition("# TYPE a gauge\na{x=1} 2\n").unwrap_err();
        assert!(e.starts_with("line 2: a label value must be quoted"), "{e}");
        let e = parse_exposition("a two\n").unwrap_err();
        assert!(e.contains("\"two\" is not a number"), "{e}");
        let e = parse_exposition("a{x=\"1\" 2\n").unwrap_err();
        assert!(e.starts_with("line 1:"), "{e}");
    }
}
