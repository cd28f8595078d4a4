//! Runtime view of the spec: what the generated `spec` module describes each metric with.

use std::fmt;

/// How a metric is stored and exposed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricKind {
    /// Counter of whole units (`inc`, `inc_by(u64)`).
    Counter,
    /// Counter of fractional units, e.g. seconds (`inc_by(f64)`).
    FloatCounter,
    /// Gauge (f64).
    Gauge,
    /// Histogram with fixed buckets.
    Histogram,
}

impl MetricKind {
    /// The Prometheus type name.
    pub fn prometheus_type(self) -> &'static str {
        match self {
            MetricKind::Counter | MetricKind::FloatCounter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Histogram => "histogram",
        }
    }
}

/// One label of a metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LabelInfo {
    /// Label name.
    pub name: &'static str,
    /// Closed values in spec order; `None` for an open label.
    pub values: Option<&'static [&'static str]>,
}

/// One metric as the spec declares it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetricInfo {
    /// Full name, namespace included.
    pub name: &'static str,
    /// HELP text.
    pub help: &'static str,
    /// Storage kind.
    pub kind: MetricKind,
    /// Base unit, if declared.
    pub unit: Option<&'static str>,
    /// Family name.
    pub family: &'static str,
    /// Labels in order.
    pub labels: &'static [LabelInfo],
    /// Maximum label sets before new ones fold into the overflow series.
    pub budget: u64,
    /// Histogram bucket upper bounds (empty otherwise).
    pub buckets: &'static [f64],
    /// Closed-label metrics: every series is exported at zero from `init()` (the
    /// spec's warm default for counters and histograms). When false, a series is
    /// exported once its accessor is first called (gauges, `warm: false`).
    pub warm_all: bool,
    /// Label sets (values in label order) created at zero from `init()`: the spec's
    /// `warm: {label: [values]}`.
    pub warm_sets: &'static [&'static [&'static str]],
    /// Version of a histogram's bucket layout (the spec's `buckets_version`, 1 when not
    /// written). Above 1, every series of the histogram carries it as the label
    /// `buckets_version`, so series of two layouts never share an identity.
    pub buckets_version: u32,
    /// The environment variable that enables the metric's family (`enabled_by:`), or
    /// `None` for a family that is always on.
    pub enabled_by: Option<&'static str>,
}

impl MetricInfo {
    /// The label that tells a histogram's layouts apart, when its series carry one
    /// (a histogram whose `buckets_version` is above 1): name and value.
    pub fn layout_label(&self) -> Option<(&'static str, String)> {
        (self.kind == MetricKind::Histogram && self.buckets_version > 1)
            .then(|| ("buckets_version", self.buckets_version.to_string()))
    }

    /// True unless the metric's family is gated by an environment variable that is
    /// not set to `1` or `true` (read once per process and variable).
    pub fn enabled(&self) -> bool {
        self.enabled_by.is_none_or(crate::flag::family_enabled)
    }

    /// Label names in order.
    pub fn label_names(&self) -> Vec<&'static str> {
        self.labels.iter().map(|l| l.name).collect()
    }

    /// True when every label is closed.
    pub fn fully_closed(&self) -> bool {
        self.labels.iter().all(|l| l.values.is_some())
    }

    /// Every combination of closed label values, in mixed-radix order (last label
    /// fastest), matching the generated accessors' index. Empty for open metrics.
    pub fn closed_combinations(&self) -> Vec<Vec<&'static str>> {
        let mut combos: Vec<Vec<&'static str>> = vec![Vec::new()];
        for l in self.labels {
            let Some(values) = l.values else {
                return Vec::new();
            };
            combos = combos
                .into_iter()
                .flat_map(|prefix| {
                    values.iter().map(move |v| {
                        let mut c = prefix.clone();
                        c.push(*v);
                        c
                    })
                })
                .collect();
        }
        combos
    }
}

/// A string that is not one of a closed label's values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownLabelValue {
    /// The label.
    pub label: &'static str,
    /// What was given.
    pub value: String,
    /// What is allowed.
    pub expected: &'static [&'static str],
}

impl UnknownLabelValue {
    /// Build the error (used by generated `FromStr` impls).
    pub fn new(label: &'static str, value: &str, expected: &'static [&'static str]) -> Self {
        UnknownLabelValue {
            label,
            value: value.to_string(),
            expected,
        }
    }
}

impl fmt::Display for UnknownLabelValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` is not a value of label `{}`; expected one of: {}",
            self.value,
            self.label,
            self.expected.join(", ")
        )
    }
}

impl std::error::Error for UnknownLabelValue {}
