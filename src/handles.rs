//! Metric handles returned by the generated accessors.
//!
//! Each wraps a tikv `prometheus` child metric, so a call is one atomic operation.
//! Values that would make the underlying crate panic (negative counter increments,
//! NaN) are dropped instead: emission never takes the host process down.

use crate::spec_info::MetricInfo;
use prometheus::core::Collector;
use prometheus::{HistogramOpts, Opts};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// Log once per process that an invalid value was dropped.
fn dropped_value(kind: &str, value: f64) {
    static LOGGED: AtomicBool = AtomicBool::new(false);
    if !LOGGED.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            kind,
            value,
            "dropped an invalid metric value (negative or NaN); further drops are not logged"
        );
    }
}

/// A counter of whole units.
#[derive(Clone, Debug)]
pub struct Counter(prometheus::IntCounter);

impl Counter {
    /// Add one.
    #[inline]
    pub fn inc(&self) {
        self.0.inc();
    }

    /// Add `v`.
    #[inline]
    pub fn inc_by(&self, v: u64) {
        self.0.inc_by(v);
    }

    /// Current value.
    pub fn get(&self) -> u64 {
        self.0.get()
    }
}

/// A counter of fractional units (e.g. seconds).
#[derive(Clone, Debug)]
pub struct FloatCounter(prometheus::Counter);

impl FloatCounter {
    /// Add one.
    #[inline]
    pub fn inc(&self) {
        self.0.inc();
    }

    /// Add `v`; negative or NaN values are dropped (counters never go down).
    #[inline]
    pub fn inc_by(&self, v: f64) {
        if v >= 0.0 {
            self.0.inc_by(v);
        } else {
            dropped_value("counter", v);
        }
    }

    /// Current value.
    pub fn get(&self) -> f64 {
        self.0.get()
    }
}

/// A gauge.
#[derive(Clone, Debug)]
pub struct Gauge(prometheus::Gauge);

impl Gauge {
    /// Set the value.
    #[inline]
    pub fn set(&self, v: f64) {
        self.0.set(v);
    }

    /// Add one.
    #[inline]
    pub fn inc(&self) {
        self.0.inc();
    }

    /// Subtract one.
    #[inline]
    pub fn dec(&self) {
        self.0.dec();
    }

    /// Add `v`.
    #[inline]
    pub fn add(&self, v: f64) {
        self.0.add(v);
    }

    /// Subtract `v`.
    #[inline]
    pub fn sub(&self, v: f64) {
        self.0.sub(v);
    }

    /// Current value.
    pub fn get(&self) -> f64 {
        self.0.get()
    }
}

/// A histogram; observe values in the metric's base unit.
#[derive(Clone, Debug)]
pub struct Histogram(prometheus::Histogram);

impl Histogram {
    /// Record one observation; NaN is dropped so it cannot poison `_sum`.
    #[inline]
    pub fn observe(&self, v: f64) {
        if v.is_nan() {
            dropped_value("histogram", v);
        } else {
            self.0.observe(v);
        }
    }

    /// Start a timer that observes the elapsed seconds when dropped or stopped.
    pub fn start_timer(&self) -> HistogramTimer {
        HistogramTimer {
            histogram: self.clone(),
            start: Instant::now(),
            observed: false,
        }
    }

    /// Number of observations so far.
    pub fn sample_count(&self) -> u64 {
        self.0.get_sample_count()
    }

    /// Sum of observations so far.
    pub fn sample_sum(&self) -> f64 {
        self.0.get_sample_sum()
    }
}

/// Observes elapsed seconds into a histogram when dropped (or at `stop_and_record`).
#[must_use = "a timer observes when dropped; bind it to a variable"]
#[derive(Debug)]
pub struct HistogramTimer {
    histogram: Histogram,
    start: Instant,
    observed: bool,
}

impl HistogramTimer {
    /// Observe now and return the elapsed seconds.
    pub fn stop_and_record(mut self) -> f64 {
        self.record()
    }

    /// Drop the timer without observing.
    pub fn stop_and_discard(mut self) -> f64 {
        self.observed = true;
        self.start.elapsed().as_secs_f64()
    }

    fn record(&mut self) -> f64 {
        let secs = self.start.elapsed().as_secs_f64();
        if !self.observed {
            self.observed = true;
            self.histogram.observe(secs);
        }
        secs
    }
}

impl Drop for HistogramTimer {
    fn drop(&mut self) {
        self.record();
    }
}

/// What the runtime needs to build and resolve one kind of handle.
pub trait Series: Sized + Send + Sync + 'static {
    /// The labelled tikv family behind the handle.
    type Family: Collector + Clone + Send + Sync + 'static;
    /// Gauges drop samples over budget; counters and histograms fold them.
    const DROPS_OVER_BUDGET: bool;
    /// Create the family from the spec entry.
    fn new_family(info: &MetricInfo) -> prometheus::Result<Self::Family>;
    /// The child for one label set (values in label order).
    fn resolve(family: &Self::Family, values: &[&str]) -> Self;
    /// A handle connected to nothing: samples written to it are discarded.
    fn detached(info: &MetricInfo) -> Self;
}

fn opts(info: &MetricInfo) -> Opts {
    Opts::new(info.name, info.help)
}

impl Series for Counter {
    type Family = prometheus::IntCounterVec;
    const DROPS_OVER_BUDGET: bool = false;
    fn new_family(info: &MetricInfo) -> prometheus::Result<Self::Family> {
        prometheus::IntCounterVec::new(opts(info), &info.label_names())
    }
    fn resolve(family: &Self::Family, values: &[&str]) -> Self {
        Counter(family.with_label_values(values))
    }
    fn detached(info: &MetricInfo) -> Self {
        Counter(
            prometheus::IntCounter::with_opts(opts(info)).unwrap_or_else(|_| {
                prometheus::IntCounter::new("g6_detached_total", "detached")
                    .expect("static valid name")
            }),
        )
    }
}

impl Series for FloatCounter {
    type Family = prometheus::CounterVec;
    const DROPS_OVER_BUDGET: bool = false;
    fn new_family(info: &MetricInfo) -> prometheus::Result<Self::Family> {
        prometheus::CounterVec::new(opts(info), &info.label_names())
    }
    fn resolve(family: &Self::Family, values: &[&str]) -> Self {
        FloatCounter(family.with_label_values(values))
    }
    fn detached(info: &MetricInfo) -> Self {
        FloatCounter(
            prometheus::Counter::with_opts(opts(info)).unwrap_or_else(|_| {
                prometheus::Counter::new("g6_detached_total", "detached")
                    .expect("static valid name")
            }),
        )
    }
}

impl Series for Gauge {
    type Family = prometheus::GaugeVec;
    const DROPS_OVER_BUDGET: bool = true;
    fn new_family(info: &MetricInfo) -> prometheus::Result<Self::Family> {
        prometheus::GaugeVec::new(opts(info), &info.label_names())
    }
    fn resolve(family: &Self::Family, values: &[&str]) -> Self {
        Gauge(family.with_label_values(values))
    }
    fn detached(info: &MetricInfo) -> Self {
        Gauge(
            prometheus::Gauge::with_opts(opts(info)).unwrap_or_else(|_| {
                prometheus::Gauge::new("g6_detached", "detached").expect("static valid name")
            }),
        )
    }
}

impl Series for Histogram {
    type Family = prometheus::HistogramVec;
    const DROPS_OVER_BUDGET: bool = false;
    fn new_family(info: &MetricInfo) -> prometheus::Result<Self::Family> {
        let opts = HistogramOpts::new(info.name, info.help).buckets(info.buckets.to_vec());
        prometheus::HistogramVec::new(opts, &info.label_names())
    }
    fn resolve(family: &Self::Family, values: &[&str]) -> Self {
        Histogram(family.with_label_values(values))
    }
    fn detached(info: &MetricInfo) -> Self {
        let opts = HistogramOpts::new(info.name, info.help).buckets(info.buckets.to_vec());
        Histogram(prometheus::Histogram::with_opts(opts).unwrap_or_else(|_| {
            prometheus::Histogram::with_opts(HistogramOpts::new("g6_detached", "detached"))
                .expect("static valid name")
        }))
    }
}
