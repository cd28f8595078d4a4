//! Metric handles returned by the generated accessors.
//!
//! Each wraps a tikv `prometheus` child metric, so a call is one atomic operation.
//! Values that would make the underlying crate panic (negative counter increments,
//! NaN) are dropped instead: emission never takes the host process down.

use crate::batch::{self, CachePadded};
use crate::exporter::encode;
use crate::histogram::{HistogramCore, HistogramVec};
use crate::spec_info::MetricInfo;
use prometheus::core::Collector;
use prometheus::Opts;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
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

/// Pending deltas of one series, one cache line per shard.
type Shards = Box<[CachePadded<AtomicU64>]>;

fn new_shards() -> Shards {
    (0..batch::SHARDS)
        .map(|_| CachePadded(AtomicU64::new(0)))
        .collect()
}

/// Every pending word (integer or f64 bits), for `get`.
fn pending_words(pending: &Option<Shards>) -> impl Iterator<Item = u64> + '_ {
    pending
        .iter()
        .flat_map(|s| s.iter())
        .map(|c| c.0.load(Ordering::Relaxed))
}

/// Swap every pending word to zero (also 0.0 as f64 bits), hand each non-zero one to
/// `merge`, and return how many there were.
fn drain(pending: &Option<Shards>, mut merge: impl FnMut(u64)) -> usize {
    let Some(shards) = pending else { return 0 };
    let mut merged = 0;
    for cell in shards.iter() {
        let word = cell.0.swap(0, Ordering::AcqRel);
        if word != 0 {
            merge(word);
            merged += 1;
        }
    }
    merged
}

/// A counter of whole units.
#[derive(Debug)]
pub struct Counter {
    inner: prometheus::IntCounter,
    pending: Option<Shards>,
}

impl Counter {
    fn new(inner: prometheus::IntCounter, batched: bool) -> Self {
        Counter {
            inner,
            pending: batched.then(new_shards),
        }
    }

    /// A counter outside the registry (benchmarks, local accounting); batched ones are
    /// merged by [`Counter::flush`] only.
    pub fn unregistered(batched: bool) -> Self {
        let inner = prometheus::IntCounter::new("g6_unregistered_total", "unregistered counter")
            .expect("static valid name");
        Counter::new(inner, batched)
    }

    /// Add one.
    #[inline]
    pub fn inc(&self) {
        self.inc_by(1);
    }

    /// Add `v`.
    #[inline]
    pub fn inc_by(&self, v: u64) {
        match &self.pending {
            None => self.inner.inc_by(v),
            Some(shards) => {
                if shards[batch::shard()].0.fetch_add(v, Ordering::Relaxed) == 0 && v > 0 {
                    batch::note_pending();
                }
            }
        }
    }

    /// Current value, pending deltas included.
    pub fn get(&self) -> u64 {
        self.inner.get() + pending_words(&self.pending).sum::<u64>()
    }

    /// Merge pending deltas into the series; returns the non-empty cells merged.
    pub fn flush(&self) -> usize {
        drain(&self.pending, |v| self.inner.inc_by(v))
    }
}

/// A counter of fractional units (e.g. seconds).
#[derive(Debug)]
pub struct FloatCounter {
    inner: prometheus::Counter,
    /// Pending deltas as f64 bits, one cache line per shard.
    pending: Option<Shards>,
}

impl FloatCounter {
    fn new(inner: prometheus::Counter, batched: bool) -> Self {
        FloatCounter {
            inner,
            pending: batched.then(new_shards),
        }
    }

    /// Add one.
    #[inline]
    pub fn inc(&self) {
        self.inc_by(1.0);
    }

    /// Add `v`; negative, NaN or infinite values are dropped.
    #[inline]
    pub fn inc_by(&self, v: f64) {
        if !(v.is_finite() && v >= 0.0) {
            // Negative, NaN or infinite: a counter must stay finite and never go down.
            dropped_value("counter", v);
            return;
        }
        match &self.pending {
            None => self.inner.inc_by(v),
            Some(shards) => {
                let cell = &shards[batch::shard()].0;
                let was = cell.load(Ordering::Relaxed);
                crate::histogram::add_f64(cell, v);
                if was == 0 && v > 0.0 {
                    batch::note_pending();
                }
            }
        }
    }

    /// Current value, pending deltas included.
    pub fn get(&self) -> f64 {
        self.inner.get()
            + pending_words(&self.pending)
                .map(f64::from_bits)
                .sum::<f64>()
    }

    /// Merge pending deltas into the series; returns the non-empty cells merged.
    pub fn flush(&self) -> usize {
        drain(&self.pending, |bits| {
            self.inner.inc_by(f64::from_bits(bits))
        })
    }
}

/// A gauge. Never batched: a `set` must be visible as written.
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

/// Pending bucket counts and sums of one histogram series: per shard, `bounds + 1`
/// counts then the sum (as f64 bits), each shard on its own cache lines.
#[derive(Debug)]
struct HistogramShards {
    lines: Box<[CachePadded<[AtomicU64; 8]>]>,
    stride: usize,
}

impl HistogramShards {
    fn new(buckets: usize) -> Self {
        let words = buckets + 2;
        let stride = words.div_ceil(8) * 8;
        let lines = (0..batch::SHARDS * stride / 8)
            .map(|_| CachePadded(Default::default()))
            .collect();
        HistogramShards { lines, stride }
    }

    #[inline]
    fn word(&self, i: usize) -> &AtomicU64 {
        &self.lines[i / 8].0[i % 8]
    }
}

/// A histogram; observe values in the metric's base unit.
#[derive(Debug)]
pub struct Histogram {
    core: Arc<HistogramCore>,
    pending: Option<HistogramShards>,
}

impl Histogram {
    fn new(core: Arc<HistogramCore>, batched: bool) -> Self {
        let pending = batched.then(|| HistogramShards::new(core.bounds.len() + 1));
        Histogram { core, pending }
    }

    /// A histogram outside the registry (benchmarks, local accounting); batched ones
    /// are merged by [`Histogram::flush`] only.
    pub fn unregistered(bounds: &[f64], batched: bool) -> Self {
        Histogram::new(
            Arc::new(HistogramCore::new(bounds.to_vec().into())),
            batched,
        )
    }

    /// Record one observation; NaN is dropped so it cannot poison `_sum`.
    #[inline]
    pub fn observe(&self, v: f64) {
        if v.is_nan() {
            dropped_value("histogram", v);
            return;
        }
        match &self.pending {
            None => self.core.observe(v),
            Some(p) => {
                let nb = self.core.bounds.len();
                let base = batch::shard() * p.stride;
                let i = crate::histogram::bucket_index(&self.core.bounds, v);
                let was = p.word(base + i).fetch_add(1, Ordering::Relaxed);
                crate::histogram::add_f64(p.word(base + nb + 1), v);
                if was == 0 {
                    batch::note_pending();
                }
            }
        }
    }

    /// Start a timer that observes the elapsed seconds when dropped or stopped.
    pub fn start_timer(&self) -> HistogramTimer<'_> {
        HistogramTimer {
            histogram: self,
            start: Instant::now(),
            observed: false,
        }
    }

    /// Number of observations so far, pending ones included.
    pub fn sample_count(&self) -> u64 {
        let pending: u64 = match &self.pending {
            None => 0,
            Some(p) => {
                let nb = self.core.bounds.len();
                (0..batch::SHARDS)
                    .flat_map(|s| (0..=nb).map(move |i| s * p.stride + i))
                    .map(|w| p.word(w).load(Ordering::Relaxed))
                    .sum()
            }
        };
        self.core.count() + pending
    }

    /// Sum of observations so far, pending ones included.
    pub fn sample_sum(&self) -> f64 {
        let pending: f64 = match &self.pending {
            None => 0.0,
            Some(p) => {
                let nb = self.core.bounds.len();
                (0..batch::SHARDS)
                    .map(|s| f64::from_bits(p.word(s * p.stride + nb + 1).load(Ordering::Relaxed)))
                    .sum()
            }
        };
        self.core.sum() + pending
    }

    /// Cumulative bucket counts of the merged (flushed) observations, +Inf last.
    pub fn cumulative_counts(&self) -> Vec<u64> {
        self.core.cumulative()
    }

    /// Merge pending bucket counts and sums; returns the non-empty cells merged.
    pub fn flush(&self) -> usize {
        let Some(p) = &self.pending else { return 0 };
        let nb = self.core.bounds.len();
        let mut merged = 0;
        for s in 0..batch::SHARDS {
            let base = s * p.stride;
            for i in 0..=nb {
                let n = p.word(base + i).swap(0, Ordering::AcqRel);
                if n > 0 {
                    self.core.add_bucket(i, n);
                    merged += 1;
                }
            }
            let sum = f64::from_bits(p.word(base + nb + 1).swap(0f64.to_bits(), Ordering::AcqRel));
            if sum != 0.0 {
                self.core.add_sum(sum);
            }
        }
        merged
    }
}

/// Observes elapsed seconds into a histogram when dropped (or at `stop_and_record`).
#[must_use = "a timer observes when dropped; bind it to a variable"]
#[derive(Debug)]
pub struct HistogramTimer<'a> {
    histogram: &'a Histogram,
    start: Instant,
    observed: bool,
}

impl HistogramTimer<'_> {
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

impl Drop for HistogramTimer<'_> {
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
    /// The child for one label set (values in label order); `batched` gives it
    /// pending cells (ignored by kinds that are never batched).
    fn resolve(family: &Self::Family, values: &[&str], batched: bool) -> Self;
    /// Merge pending deltas; returns the non-empty cells merged.
    fn flush_pending(&self) -> usize {
        0
    }
    /// A handle connected to nothing: samples written to it are discarded.
    fn detached(info: &MetricInfo) -> Self;
    /// Append this series in the text format; `labels` is the rendered inside of
    /// `{...}`, `bounds` the bucket bounds as text (histograms).
    fn encode(&self, out: &mut String, name: &str, labels: &str, bounds: &[String]);
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
    fn resolve(family: &Self::Family, values: &[&str], batched: bool) -> Self {
        Counter::new(family.with_label_values(values), batched)
    }
    fn encode(&self, out: &mut String, name: &str, labels: &str, _bounds: &[String]) {
        encode::write_series(out, name, "", labels, None);
        encode::write_u64(out, self.inner.get());
        out.push('\n');
    }
    fn flush_pending(&self) -> usize {
        self.flush()
    }
    fn detached(info: &MetricInfo) -> Self {
        let inner = prometheus::IntCounter::with_opts(opts(info)).unwrap_or_else(|_| {
            prometheus::IntCounter::new("g6_detached_total", "detached").expect("static valid name")
        });
        Counter::new(inner, false)
    }
}

impl Series for FloatCounter {
    type Family = prometheus::CounterVec;
    const DROPS_OVER_BUDGET: bool = false;
    fn new_family(info: &MetricInfo) -> prometheus::Result<Self::Family> {
        prometheus::CounterVec::new(opts(info), &info.label_names())
    }
    fn resolve(family: &Self::Family, values: &[&str], batched: bool) -> Self {
        FloatCounter::new(family.with_label_values(values), batched)
    }
    fn flush_pending(&self) -> usize {
        self.flush()
    }
    fn encode(&self, out: &mut String, name: &str, labels: &str, _bounds: &[String]) {
        encode::write_series(out, name, "", labels, None);
        encode::write_f64(out, self.inner.get());
        out.push('\n');
    }
    fn detached(info: &MetricInfo) -> Self {
        let inner = prometheus::Counter::with_opts(opts(info)).unwrap_or_else(|_| {
            prometheus::Counter::new("g6_detached_total", "detached").expect("static valid name")
        });
        FloatCounter::new(inner, false)
    }
}

impl Series for Gauge {
    type Family = prometheus::GaugeVec;
    const DROPS_OVER_BUDGET: bool = true;
    fn new_family(info: &MetricInfo) -> prometheus::Result<Self::Family> {
        prometheus::GaugeVec::new(opts(info), &info.label_names())
    }
    fn resolve(family: &Self::Family, values: &[&str], _batched: bool) -> Self {
        Gauge(family.with_label_values(values))
    }
    fn encode(&self, out: &mut String, name: &str, labels: &str, _bounds: &[String]) {
        encode::write_series(out, name, "", labels, None);
        encode::write_f64(out, self.0.get());
        out.push('\n');
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
    type Family = HistogramVec;
    const DROPS_OVER_BUDGET: bool = false;
    fn new_family(info: &MetricInfo) -> prometheus::Result<Self::Family> {
        HistogramVec::new(info.name, info.help, &info.label_names(), info.buckets)
    }
    fn resolve(family: &Self::Family, values: &[&str], batched: bool) -> Self {
        Histogram::new(family.child(values), batched)
    }
    fn encode(&self, out: &mut String, name: &str, labels: &str, bounds: &[String]) {
        let cumulative = self.core.cumulative();
        for (bound, count) in bounds.iter().zip(&cumulative) {
            encode::write_series(out, name, "_bucket", labels, Some(("le", bound)));
            encode::write_u64(out, *count);
            out.push('\n');
        }
        let total = cumulative.last().copied().unwrap_or(0);
        encode::write_series(out, name, "_bucket", labels, Some(("le", "+Inf")));
        encode::write_u64(out, total);
        out.push('\n');
        encode::write_series(out, name, "_sum", labels, None);
        encode::write_f64(out, self.core.sum());
        out.push('\n');
        encode::write_series(out, name, "_count", labels, None);
        encode::write_u64(out, total);
        out.push('\n');
    }
    fn flush_pending(&self) -> usize {
        self.flush()
    }
    fn detached(info: &MetricInfo) -> Self {
        Histogram::unregistered(info.buckets, false)
    }
}
