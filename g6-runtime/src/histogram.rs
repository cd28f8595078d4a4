//! Histogram storage.
//!
//! tikv's `Histogram` can only `observe` one value at a time, so batched bucket counts
//! and sums could not be merged exactly into it. This core keeps per-bucket counts
//! (non-cumulative) and the sum as atomics, accepts whole deltas, and derives `_count`
//! from the buckets at encoding, so `_count` always equals the `+Inf` bucket.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Add `v` to an f64 stored as bits.
pub(crate) fn add_f64(cell: &AtomicU64, v: f64) {
    let mut cur = cell.load(Ordering::Relaxed);
    loop {
        let new = (f64::from_bits(cur) + v).to_bits();
        match cell.compare_exchange_weak(cur, new, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return,
            Err(actual) => cur = actual,
        }
    }
}

/// Index of the bucket `v` falls in (`bounds.len()` for +Inf).
#[inline]
pub fn bucket_index(bounds: &[f64], v: f64) -> usize {
    if bounds.len() <= 16 {
        bounds.iter().position(|b| v <= *b).unwrap_or(bounds.len())
    } else {
        bounds.partition_point(|b| *b < v)
    }
}

/// One histogram series.
#[derive(Debug)]
pub struct HistogramCore {
    /// Upper bounds without +Inf.
    pub bounds: Arc<[f64]>,
    counts: Box<[AtomicU64]>,
    sum: AtomicU64,
}

impl HistogramCore {
    /// An empty series with `bounds`.
    pub fn new(bounds: Arc<[f64]>) -> Self {
        let counts = (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect();
        HistogramCore {
            bounds,
            counts,
            sum: AtomicU64::new(0f64.to_bits()),
        }
    }

    /// Record one value.
    #[inline]
    pub fn observe(&self, v: f64) {
        self.counts[bucket_index(&self.bounds, v)].fetch_add(1, Ordering::Relaxed);
        add_f64(&self.sum, v);
    }

    /// Add `n` observations to bucket `i` (a batched delta).
    pub(crate) fn add_bucket(&self, i: usize, n: u64) {
        self.counts[i].fetch_add(n, Ordering::Relaxed);
    }

    /// Add to the sum (a batched delta).
    pub(crate) fn add_sum(&self, v: f64) {
        add_f64(&self.sum, v);
    }

    /// Back to no observations (for a reused handle).
    pub(crate) fn reset(&self) {
        for c in self.counts.iter() {
            c.store(0, Ordering::Relaxed);
        }
        self.sum.store(0f64.to_bits(), Ordering::Relaxed);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    /// Sum of observations so far.
    pub fn sum(&self) -> f64 {
        f64::from_bits(self.sum.load(Ordering::Relaxed))
    }

    /// Cumulative counts per upper bound, +Inf last.
    pub fn cumulative(&self) -> Vec<u64> {
        let mut acc = 0;
        self.counts
            .iter()
            .map(|c| {
                acc += c.load(Ordering::Relaxed);
                acc
            })
            .collect()
    }
}
