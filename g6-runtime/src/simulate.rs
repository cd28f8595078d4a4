//! The interface of a simulator that drives every metric of a spec.
//!
//! Codegen writes `metrics::simulate(&mut impl Simulate)`, which visits each metric
//! (except `*_info` provenance metrics) with all its closed label values and the open
//! values the simulator picks, and hands the handle to the simulator to update.

use crate::{Counter, FloatCounter, Gauge, Histogram, MetricInfo};

/// Picks simulated values for a spec's metrics (see the generated `metrics::simulate`).
pub trait Simulate {
    /// Values to use for the open labels of `info` (keep the product within the budget).
    fn open_values(&mut self, info: &MetricInfo) -> Vec<String>;
    /// Update a counter of whole units.
    fn counter(&mut self, info: &MetricInfo, handle: &Counter);
    /// Update a counter of fractional units.
    fn float_counter(&mut self, info: &MetricInfo, handle: &FloatCounter);
    /// Update a gauge.
    fn gauge(&mut self, info: &MetricInfo, handle: &Gauge);
    /// Update a histogram.
    fn histogram(&mut self, info: &MetricInfo, handle: &Histogram);
}
