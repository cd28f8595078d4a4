//! The plan the generators share, before any of them renders: the panels a dashboard
//! will show (the metric dashboards' and the health score's alike, laid out and
//! rendered by `dashboards`) and the labels and annotations the rule files add to each
//! alert (filled in by the alert catalogue, written by the rule generators).

use crate::rulefile::Labels;
use std::collections::BTreeMap;

/// One query of a panel.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// PromQL, Grafana macros included.
    pub expr: String,
    /// Legend template.
    pub legend: String,
}

/// A panel before layout.
#[derive(Debug, Clone, PartialEq)]
pub struct PanelPlan {
    /// Title.
    pub title: String,
    /// Description (the metric's help).
    pub description: String,
    /// Grafana panel type.
    pub panel_type: String,
    /// Queries.
    pub targets: Vec<Target>,
    /// Grafana unit.
    pub unit: String,
    /// Metric it shows (the first one, for cross-metric panels).
    pub metric: String,
    /// Family of that metric.
    pub family: String,
    /// Semantic kind (rate, quantile, ...).
    pub kind: String,
    /// Where it came from: spec, auto_rate, auto_label_split, auto_hist_quantile,
    /// auto_latency_ratio, auto_heatmap, auto_topk, auto_value, cross_metric,
    /// alerts_aggregate.
    pub source: String,
    /// The label a split panel groups by.
    pub split_label: Option<String>,
    /// Display details beyond the panel type.
    pub shape: Shape,
    /// The title the panel had before (`renamed_from` in the spec): its identity.
    pub renamed_from: Option<String>,
}

/// Display details a panel needs beyond its type.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Shape {
    /// Nothing beyond the panel type.
    #[default]
    Plain,
    /// A table: one row per value of `rows`, one column per value of `columns`, both in
    /// their declared order.
    Grid {
        /// Row label and its values in order.
        rows: (String, Vec<String>),
        /// Column label and its values in order.
        columns: (String, Vec<String>),
    },
    /// Lines across the values of `x` (in their declared order), one per value of
    /// `series`.
    Profile {
        /// X-axis label and its values in order.
        x: (String, Vec<String>),
        /// Line label and its values in order.
        series: (String, Vec<String>),
    },
    /// A heatmap of histogram buckets: the bucket unit goes on the y axis.
    Heatmap {
        /// Unit of the bucket bounds.
        y_unit: String,
    },
    /// A 0/1 state: mapped to inactive/active.
    State,
    /// A state timeline of a value (a level such as 0..3): the value shown, coloured
    /// by [`crate::dashboards::LEVEL_THRESHOLDS`].
    Levels,
    /// A text panel in markdown mode (no queries): the content.
    Markdown(String),
    /// Thresholds (value, colour) after the base green: a utilisation bar gauge.
    Thresholds(Vec<(f64, &'static str)>),
    /// A score in [0, 1] where higher is better: red below `critical`, orange below
    /// `warning`, green from it on (the health score).
    Score {
        /// The critical threshold.
        critical: f64,
        /// The warning threshold.
        warning: f64,
    },
}

/// The labels and annotations the rule files add to one alert.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AlertMeta {
    /// The `family` label.
    pub family: String,
    /// The `component` label.
    pub component: String,
    /// The `runbook_url` annotation.
    pub runbook_url: String,
    /// The `dashboard` annotation (a link to the panel), when a dashboard shows it.
    pub dashboard: Option<String>,
}

/// [`AlertMeta`] by alert name.
pub type MetaMap = BTreeMap<String, AlertMeta>;

impl AlertMeta {
    /// Add the rule's extra labels (or a promtool `exp_labels`' ones) after those
    /// already in `labels`.
    pub fn add_labels(&self, labels: &mut Labels) {
        labels.insert("family".into(), self.family.clone());
        labels.insert("component".into(), self.component.clone());
    }

    /// Add the extra annotations after those already in `annotations`.
    pub fn add_annotations(&self, annotations: &mut Labels) {
        annotations.insert("runbook_url".into(), self.runbook_url.clone());
        if let Some(d) = &self.dashboard {
            annotations.insert("dashboard".into(), d.clone());
        }
    }
}
