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
use std::sync::atomic::{AtomicBool, Ordering};
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
    /// `*_bucket_layout_info{metric, buckets_version}`: always 1, one series per
    /// histogram of the spec.
    pub bucket_layout_info: &'static OpenFamily<Gauge>,
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
    /// `*_exporter_connections_closed_total{close_reason}`, indexed by
    /// `exporter::CloseReason`.
    pub exporter_connections_closed_total: &'static ClosedTable<Counter>,
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

/// A self-metric update waiting to be applied.
type Pending = Box<dyn FnOnce(&SelfMetrics) + Send>;

/// Updates that could not be applied where they happened: before any spec was
/// installed, or inside a store's initialisation (applying them there could re-enter
/// the very store being initialised). Applied by [`drain`] at the next safe point: the
/// next self-metric update, `init`, or scrape. Bounded: such updates are rare (a
/// duplicate registration, an early failure).
static PENDING: Mutex<Vec<Pending>> = Mutex::new(Vec::new());
static HAS_PENDING: AtomicBool = AtomicBool::new(false);
const MAX_PENDING: usize = 10_000;

/// Make `spec` the process's spec unless one is installed already. Called from inside
/// store initialisation, so it must not touch any store.
pub(crate) fn install(spec: &'static SpecRuntime) {
    if INSTALLED.set(spec).is_err() {
        let first = INSTALLED.get().map_or("", |s| s.namespace);
        if first == spec.namespace && !std::ptr::eq(*INSTALLED.get().unwrap_or(&spec), spec) {
            tracing::error!(
                namespace = first,
                "two specs with the same namespace in one process: the second one's metrics are duplicates and are not exported"
            );
        }
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

/// Queue `update` for the next [`drain`] (use inside store initialisation).
pub(crate) fn defer(update: impl FnOnce(&SelfMetrics) + Send + 'static) {
    let mut pending = PENDING.lock().unwrap_or_else(|p| p.into_inner());
    if pending.len() < MAX_PENDING {
        pending.push(Box::new(update));
        HAS_PENDING.store(true, Ordering::Release);
    } else {
        tracing::debug!("self-metric update dropped: too many waiting");
    }
}

/// Apply the queued updates, if a spec is installed. Never call it from inside a
/// store's initialisation.
pub(crate) fn drain() {
    if !HAS_PENDING.load(Ordering::Acquire) {
        return;
    }
    let Some(sm) = get() else { return };
    let pending = {
        let mut pending = PENDING.lock().unwrap_or_else(|p| p.into_inner());
        HAS_PENDING.store(false, Ordering::Release);
        std::mem::take(&mut *pending)
    };
    for update in pending {
        update(sm);
    }
}

/// Apply `update` to the self-metrics now, or as soon as a spec is installed. Never
/// call it from inside a store's initialisation (use [`defer`]).
pub(crate) fn with(update: impl FnOnce(&SelfMetrics) + Send + 'static) {
    match get() {
        Some(sm) => {
            drain();
            update(sm);
        }
        None => defer(update),
    }
}
