//! Metric families as a foreign collector hands them over and the encoder writes them:
//! names, help, kind and samples, with no store behind them.

use crate::spec_info::MetricKind;

/// One metric family of a foreign collector.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    /// Full metric name.
    pub name: String,
    /// HELP text.
    pub help: String,
    /// `Counter`, `Gauge` or `Histogram` (`FloatCounter` encodes as a counter).
    pub kind: MetricKind,
    /// Its series.
    pub samples: Vec<Sample>,
}

/// One series of a [`Family`].
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Label names and values, in order.
    pub labels: Vec<(String, String)>,
    /// The value.
    pub value: SampleValue,
}

/// The value of a [`Sample`].
#[derive(Debug, Clone, PartialEq)]
pub enum SampleValue {
    /// A counter's value.
    Counter(f64),
    /// A gauge's value.
    Gauge(f64),
    /// A histogram: cumulative count per upper bound (without +Inf), sum and count.
    Histogram {
        /// `(upper bound, cumulative count)`, bounds increasing.
        buckets: Vec<(f64, u64)>,
        /// Sum of observations.
        sum: f64,
        /// Number of observations (the +Inf bucket).
        count: u64,
    },
}
