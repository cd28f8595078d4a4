//! Our own histogram storage and its registry collector.
//!
//! tikv's `Histogram` can only `observe` one value at a time, so batched bucket counts
//! and sums could not be merged exactly into it. This core keeps per-bucket counts
//! (non-cumulative) and the sum as atomics, accepts whole deltas, and derives `_count`
//! from the buckets at collection, so `_count` always equals the `+Inf` bucket.

use prometheus::core::{Collector, Desc};
use prometheus::proto::{Bucket, LabelPair, Metric, MetricFamily, MetricType};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

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

/// A labelled family of histogram series, registered as one collector.
#[derive(Debug)]
pub struct HistogramFamily {
    desc: Desc,
    name: String,
    help: String,
    label_names: Vec<String>,
    bounds: Arc<[f64]>,
    children: RwLock<Vec<(Vec<String>, Arc<HistogramCore>)>>,
}

/// A cloneable handle to a [`HistogramFamily`] (what the registry holds).
#[derive(Debug, Clone)]
pub struct HistogramVec(pub Arc<HistogramFamily>);

impl HistogramVec {
    /// A family with these labels and bucket bounds.
    pub fn new(
        name: &str,
        help: &str,
        label_names: &[&str],
        bounds: &[f64],
    ) -> prometheus::Result<Self> {
        let desc = Desc::new(
            name.to_string(),
            help.to_string(),
            label_names.iter().map(|s| s.to_string()).collect(),
            Default::default(),
        )?;
        Ok(HistogramVec(Arc::new(HistogramFamily {
            desc,
            name: name.to_string(),
            help: help.to_string(),
            label_names: label_names.iter().map(|s| s.to_string()).collect(),
            bounds: bounds.to_vec().into(),
            children: RwLock::new(Vec::new()),
        })))
    }

    /// The series for `values` (created on first use).
    pub fn child(&self, values: &[&str]) -> Arc<HistogramCore> {
        let mut children = self.0.children.write().unwrap_or_else(|p| p.into_inner());
        if let Some((_, c)) = children
            .iter()
            .find(|(k, _)| k.iter().map(String::as_str).eq(values.iter().copied()))
        {
            return c.clone();
        }
        let core = Arc::new(HistogramCore::new(self.0.bounds.clone()));
        children.push((values.iter().map(|s| s.to_string()).collect(), core.clone()));
        core
    }

    /// The bucket bounds.
    pub fn bounds(&self) -> Arc<[f64]> {
        self.0.bounds.clone()
    }
}

impl Collector for HistogramVec {
    fn desc(&self) -> Vec<&Desc> {
        vec![&self.0.desc]
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let f = &self.0;
        let children = f.children.read().unwrap_or_else(|p| p.into_inner());
        let metrics: Vec<Metric> = children
            .iter()
            .map(|(values, core)| {
                let mut labels: Vec<LabelPair> = f
                    .label_names
                    .iter()
                    .zip(values)
                    .map(|(n, v)| {
                        let mut p = LabelPair::default();
                        p.set_name(n.clone());
                        p.set_value(v.clone());
                        p
                    })
                    .collect();
                labels.sort_by(|a, b| a.name().cmp(b.name()));
                let cumulative = core.cumulative();
                let buckets: Vec<Bucket> = f
                    .bounds
                    .iter()
                    .zip(&cumulative)
                    .map(|(ub, c)| {
                        let mut b = Bucket::default();
                        b.set_upper_bound(*ub);
                        b.set_cumulative_count(*c);
                        b
                    })
                    .collect();
                let mut h = prometheus::proto::Histogram::default();
                h.set_sample_count(cumulative.last().copied().unwrap_or(0));
                h.set_sample_sum(core.sum());
                h.set_bucket(buckets);
                let mut m = Metric::from_label(labels);
                m.set_histogram(h);
                m
            })
            .collect();
        if metrics.is_empty() {
            return Vec::new();
        }
        let mut mf = MetricFamily::default();
        mf.set_name(f.name.clone());
        mf.set_help(f.help.clone());
        mf.set_field_type(MetricType::HISTOGRAM);
        mf.set_metric(metrics);
        vec![mf]
    }
}
