//! The spec a process serves, and the runtime's own metrics inside it.
//!
//! The runtime cannot name metrics: their names carry the user's namespace. Instead
//! `g6-codegen` merges a built-in spec fragment (the metrics below, as
//! `<namespace>_cardinality_series` and so on) into every spec and generates one
//! [`SpecRuntime`] whose [`SelfMetrics`] points at those metrics' stores. The first
//! store used (or [`crate::init`]) installs it; the first spec installed in a process
//! provides the self-metrics.

use crate::{ClosedTable, Counter, Gauge, Histogram, MetricInfo, OpenFamily};
use once_cell::sync::OnceCell;
use std::sync::Mutex;

/// The runtime's own metrics, one field per metric of the built-in spec fragment
/// (field name = metric name without the namespace). Generated code fills it in.
#[derive(Debug)]
pub struct SelfMetrics {
    /// `*_metrics_spec_hash_info{hash}`: always 1.
    pub metrics_spec_hash_info: &'static OpenFamily<Gauge>,
    /// `*_build_config_hash_info{hash}`: always 1.
    pub build_config_hash_info: &'static OpenFamily<Gauge>,
    /// `*_metric_duplicates_total{name}`.
    pub metric_duplicates_total: &'static OpenFamily<Counter>,
    /// `*_cardinality_series{metric}`.
    pub cardinality_series: &'static OpenFamily<Gauge>,
    /// `*_cardinality_budget{metric}`.
    pub cardinality_budget: &'static OpenFamily<Gauge>,
    /// `*_cardinality_overflow_total{metric}`.
    pub cardinality_overflow_total: &'static OpenFamily<Counter>,
    /// `*_cardinality_guard_offenders`.
    pub cardinality_guard_offenders: &'static ClosedTable<Gauge>,
    /// `*_cardinality_guard_new_groups`.
    pub cardinality_guard_new_groups: &'static ClosedTable<Gauge>,
    /// `*_cardinality_guard_last_run_timestamp_seconds`.
    pub cardinality_guard_last_run_timestamp_seconds: &'static ClosedTable<Gauge>,
    /// `*_cardinality_guard_growth_ratio`.
    pub cardinality_guard_growth_ratio: &'static ClosedTable<Gauge>,
    /// `*_emission_failures_total{emitter}`.
    pub emission_failures_total: &'static OpenFamily<Counter>,
    /// `*_emission_failure_once_total{emitter}`.
    pub emission_failure_once_total: &'static OpenFamily<Counter>,
    /// `*_metrics_batch_queue_depth`.
    pub metrics_batch_queue_depth: &'static ClosedTable<Gauge>,
    /// `*_metrics_batch_flushes_total{flush_trigger}`, indexed by [`crate::FlushTrigger`].
    pub metrics_batch_flushes_total: &'static ClosedTable<Counter>,
    /// `*_metrics_batch_merged_total`.
    pub metrics_batch_merged_total: &'static ClosedTable<Counter>,
    /// `*_metrics_batch_adaptive_target`.
    pub metrics_batch_adaptive_target: &'static ClosedTable<Gauge>,
    /// `*_metrics_batch_adaptive_utilization`.
    pub metrics_batch_adaptive_utilization: &'static ClosedTable<Gauge>,
    /// `*_metrics_batch_flush_duration_seconds`.
    pub metrics_batch_flush_duration_seconds: &'static ClosedTable<Histogram>,
}

impl SelfMetrics {
    /// True for the batcher's own metrics, which are never batched (a flush must not
    /// create pending work for the next one).
    pub(crate) fn is_batcher_metric(&self, info: &MetricInfo) -> bool {
        [
            self.metrics_batch_queue_depth.info().name,
            self.metrics_batch_flushes_total.info().name,
            self.metrics_batch_merged_total.info().name,
            self.metrics_batch_adaptive_target.info().name,
            self.metrics_batch_adaptive_utilization.info().name,
            self.metrics_batch_flush_duration_seconds.info().name,
        ]
        .contains(&info.name)
    }
}

/// One spec as the runtime sees it: identity, every metric, and the self-metrics.
/// Generated as `metrics::RUNTIME`.
#[derive(Debug)]
pub struct SpecRuntime {
    /// The namespace (metric-name prefix without the underscore).
    pub namespace: &'static str,
    /// First 16 hex characters of the canonical spec's SHA-256.
    pub spec_hash: &'static str,
    /// SHA-256 of the canonical spec.
    pub spec_sha256: &'static str,
    /// Generator that wrote the code.
    pub generator_version: &'static str,
    /// Every metric of the spec, built-in ones included.
    pub metrics: &'static [&'static MetricInfo],
    /// The runtime's own metrics.
    pub self_metrics: SelfMetrics,
}

static INSTALLED: OnceCell<&'static SpecRuntime> = OnceCell::new();

/// An update of the self-metrics that happened before any spec was installed.
type Pending = Box<dyn FnOnce(&SelfMetrics) + Send>;

/// Updates waiting for the first spec; replayed by [`install`]. Bounded: what a program
/// does before touching any metric is small (a duplicate registration, a failure).
static PENDING: Mutex<Vec<Pending>> = Mutex::new(Vec::new());
const MAX_PENDING: usize = 10_000;

/// Make `spec` the process's spec unless one is installed already, and replay the
/// self-metric updates that came before it.
pub(crate) fn install(spec: &'static SpecRuntime) {
    if INSTALLED.get().is_some() {
        return;
    }
    let pending = {
        let mut pending = PENDING.lock().unwrap_or_else(|p| p.into_inner());
        if INSTALLED.set(spec).is_err() {
            return;
        }
        std::mem::take(&mut *pending)
    };
    for update in pending {
        update(&spec.self_metrics);
    }
}

/// The spec installed in this process, if any store was used or `init` ran.
pub fn installed() -> Option<&'static SpecRuntime> {
    INSTALLED.get().copied()
}

/// The self-metrics of the installed spec.
pub(crate) fn get() -> Option<&'static SelfMetrics> {
    installed().map(|s| &s.self_metrics)
}

/// Apply `update` to the self-metrics now, or as soon as a spec is installed.
pub(crate) fn with(update: impl FnOnce(&SelfMetrics) + Send + 'static) {
    if let Some(sm) = get() {
        return update(sm);
    }
    let mut pending = PENDING.lock().unwrap_or_else(|p| p.into_inner());
    // Re-checked under the lock that `install` holds while it sets INSTALLED.
    match get() {
        Some(sm) => {
            drop(pending);
            update(sm);
        }
        None if pending.len() < MAX_PENDING => pending.push(Box::new(update)),
        None => tracing::debug!("self-metric update dropped: no spec installed yet"),
    }
}
