//! Metric handles returned by the generated accessors.
//!
//! Each handle is the one store of its series (atomics, no copy elsewhere), so a call
//! is one atomic operation. Values that would corrupt a series (negative counter
//! increments, NaN or infinite observations) are dropped and logged once instead:
//! emission never takes the host process down.

use crate::batch::{self, CachePadded};
use crate::encode;
use crate::histogram::{add_f64, HistogramCore};
use crate::spec_info::MetricInfo;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

/// Log once per process that an invalid value was dropped.
fn dropped_value(kind: &str, value: f64) {
    static LOGGED: AtomicBool = AtomicBool::new(false);
    if !LOGGED.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            kind,
            value,
            "dropped an invalid metric value (negative, NaN or infinite); further drops are not logged"
        );
    }
}

/// Pending deltas of one series, one cache line per shard.
type Shards = Box<[CachePadded<AtomicU64>]>;

fn new_shards() -> Shards {
    (0..batch::shard_count())
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
    value: AtomicU64,
    pending: Option<Shards>,
}

impl Counter {
    /// A counter outside any store (benchmarks, local accounting); batched ones are
    /// merged by [`Counter::flush`] only.
    pub fn unregistered(batched: bool) -> Self {
        Counter {
            value: AtomicU64::new(0),
            pending: batched.then(new_shards),
        }
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
            None => {
                self.value.fetch_add(v, Ordering::Relaxed);
            }
            Some(shards) => Self::inc_pending(shards, v),
        }
    }

    /// The batched path, out of line so the direct path inlines to one atomic add.
    #[inline(never)]
    fn inc_pending(shards: &Shards, v: u64) {
        if shards[batch::shard()].0.fetch_add(v, Ordering::Relaxed) == 0 && v > 0 {
            batch::note_pending();
        }
    }

    /// Current value, pending deltas included.
    pub fn get(&self) -> u64 {
        self.value.load(Ordering::Relaxed) + pending_words(&self.pending).sum::<u64>()
    }

    /// Merge pending deltas into the series; returns the non-empty cells merged.
    pub fn flush(&self) -> usize {
        drain(&self.pending, |v| {
            self.value.fetch_add(v, Ordering::Relaxed);
        })
    }
}

/// A counter of fractional units (e.g. seconds).
#[derive(Debug)]
pub struct FloatCounter {
    /// The value as f64 bits.
    bits: AtomicU64,
    /// Pending deltas as f64 bits, one cache line per shard.
    pending: Option<Shards>,
}

impl FloatCounter {
    /// A counter outside any store; batched ones are merged by [`FloatCounter::flush`]
    /// only.
    pub fn unregistered(batched: bool) -> Self {
        FloatCounter {
            bits: AtomicU64::new(0f64.to_bits()),
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
            None => add_f64(&self.bits, v),
            Some(shards) => {
                let cell = &shards[batch::shard()].0;
                let was = cell.load(Ordering::Relaxed);
                add_f64(cell, v);
                if was == 0 && v > 0.0 {
                    batch::note_pending();
                }
            }
        }
    }

    /// Current value, pending deltas included.
    pub fn get(&self) -> f64 {
        f64::from_bits(self.bits.load(Ordering::Relaxed))
            + pending_words(&self.pending)
                .map(f64::from_bits)
                .sum::<f64>()
    }

    /// Merge pending deltas into the series; returns the non-empty cells merged.
    pub fn flush(&self) -> usize {
        drain(&self.pending, |bits| {
            add_f64(&self.bits, f64::from_bits(bits))
        })
    }
}

/// A gauge (f64). Never batched: a `set` must be visible as written.
#[derive(Debug)]
pub struct Gauge {
    bits: AtomicU64,
}

impl Gauge {
    /// A gauge outside any store.
    pub fn unregistered() -> Self {
        Gauge {
            bits: AtomicU64::new(0f64.to_bits()),
        }
    }

    /// Set the value.
    #[inline]
    pub fn set(&self, v: f64) {
        self.bits.store(v.to_bits(), Ordering::Relaxed);
    }

    /// Add one.
    #[inline]
    pub fn inc(&self) {
        self.add(1.0);
    }

    /// Subtract one.
    #[inline]
    pub fn dec(&self) {
        self.add(-1.0);
    }

    /// Add `v`.
    #[inline]
    pub fn add(&self, v: f64) {
        add_f64(&self.bits, v);
    }

    /// Subtract `v`.
    #[inline]
    pub fn sub(&self, v: f64) {
        add_f64(&self.bits, -v);
    }

    /// Current value.
    pub fn get(&self) -> f64 {
        f64::from_bits(self.bits.load(Ordering::Relaxed))
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
        let lines = (0..batch::shard_count() * stride / 8)
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
    core: HistogramCore,
    pending: Option<HistogramShards>,
}

impl Histogram {
    /// A histogram outside any store (benchmarks, local accounting); batched ones are
    /// merged by [`Histogram::flush`] only.
    pub fn unregistered(bounds: &[f64], batched: bool) -> Self {
        let core = HistogramCore::new(bounds.to_vec().into());
        let pending = batched.then(|| HistogramShards::new(core.bounds.len() + 1));
        Histogram { core, pending }
    }

    /// Record one observation. NaN and infinities are dropped (and logged once): they
    /// would make `_sum` NaN or infinite for good.
    #[inline]
    pub fn observe(&self, v: f64) {
        if !v.is_finite() {
            dropped_value("histogram", v);
            return;
        }
        match &self.pending {
            None => self.core.observe(v),
            Some(p) => self.observe_pending(p, v),
        }
    }

    /// The batched path, out of line so the direct path stays small.
    #[inline(never)]
    fn observe_pending(&self, p: &HistogramShards, v: f64) {
        let nb = self.core.bounds.len();
        let base = batch::shard() * p.stride;
        let i = crate::histogram::bucket_index(&self.core.bounds, v);
        let was = p.word(base + i).fetch_add(1, Ordering::Relaxed);
        add_f64(p.word(base + nb + 1), v);
        if was == 0 {
            batch::note_pending();
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
                (0..batch::shard_count())
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
                (0..batch::shard_count())
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
        for s in 0..batch::shard_count() {
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

/// What a store needs from one kind of handle.
pub trait Series: Sized + Send + Sync + 'static {
    /// Gauges drop samples over budget; counters and histograms fold them.
    const DROPS_OVER_BUDGET: bool;
    /// A new series at zero for the metric `info`; `batched` gives it pending cells
    /// (ignored by kinds that are never batched).
    fn new(info: &MetricInfo, batched: bool) -> Self;
    /// Merge pending deltas; returns the non-empty cells merged.
    fn flush_pending(&self) -> usize {
        0
    }
    /// Append this series in the text format; `labels` is the rendered inside of
    /// `{...}`, `bounds` the bucket bounds as text (histograms).
    fn encode(&self, out: &mut String, name: &str, labels: &str, bounds: &[String]);
    /// Back to zero, pending deltas included, for a store reusing a removed series'
    /// handle; returns the non-empty pending cells it cleared (as a flush would).
    fn reset(&self) -> usize;
}

impl Series for Counter {
    const DROPS_OVER_BUDGET: bool = false;
    fn new(_info: &MetricInfo, batched: bool) -> Self {
        Counter::unregistered(batched)
    }
    fn reset(&self) -> usize {
        let merged = self.flush();
        self.value.store(0, Ordering::Relaxed);
        merged
    }
    fn encode(&self, out: &mut String, name: &str, labels: &str, _bounds: &[String]) {
        encode::write_series(out, name, "", labels, None);
        encode::write_u64(out, self.value.load(Ordering::Relaxed));
        out.push('\n');
    }
    fn flush_pending(&self) -> usize {
        self.flush()
    }
}

impl Series for FloatCounter {
    const DROPS_OVER_BUDGET: bool = false;
    fn new(_info: &MetricInfo, batched: bool) -> Self {
        FloatCounter::unregistered(batched)
    }
    fn reset(&self) -> usize {
        let merged = self.flush();
        self.bits.store(0f64.to_bits(), Ordering::Relaxed);
        merged
    }
    fn flush_pending(&self) -> usize {
        self.flush()
    }
    fn encode(&self, out: &mut String, name: &str, labels: &str, _bounds: &[String]) {
        encode::write_series(out, name, "", labels, None);
        encode::write_f64(out, f64::from_bits(self.bits.load(Ordering::Relaxed)));
        out.push('\n');
    }
}

impl Series for Gauge {
    const DROPS_OVER_BUDGET: bool = true;
    fn new(_info: &MetricInfo, _batched: bool) -> Self {
        Gauge::unregistered()
    }
    fn reset(&self) -> usize {
        self.set(0.0);
        0
    }
    fn encode(&self, out: &mut String, name: &str, labels: &str, _bounds: &[String]) {
        encode::write_series(out, name, "", labels, None);
        encode::write_f64(out, self.get());
        out.push('\n');
    }
}

impl Series for Histogram {
    const DROPS_OVER_BUDGET: bool = false;
    fn new(info: &MetricInfo, batched: bool) -> Self {
        Histogram::unregistered(info.buckets, batched)
    }
    fn reset(&self) -> usize {
        let merged = self.flush();
        self.core.reset();
        merged
    }
    fn encode(&self, out: &mut String, name: &str, labels: &str, bounds: &[String]) {
        let cumulative = self.core.cumulative();
        encode::write_histogram(out, name, labels, bounds, &cumulative, self.core.sum());
    }
    fn flush_pending(&self) -> usize {
        self.flush()
    }
}
