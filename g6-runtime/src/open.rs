//! Handles for metrics with open (string) labels, behind the cardinality guard.
//!
//! Known label sets are a hash lookup under a read lock. A new label set takes the
//! write lock and re-checks the count there, so two threads can never both take the last
//! slot of the budget. Past the budget, counters and histograms fold into one series
//! per combination of its closed labels, whose open label values are `__overflow__`
//! (closed labels keep their own values, so `result="error"` past the budget is still
//! an error; totals stay exact); gauges drop the sample.
//! Every resolution that lands past the budget increments
//! `<namespace>_cardinality_overflow_total{metric}`, and a warning is logged at most once a minute
//! per metric. Handles live for the process: their number is bounded by the budget, so
//! they are leaked on purpose and callers get `&'static` handles without reference
//! counting.

use crate::encode;
use crate::handles::Series;
use crate::self_metrics::SpecRuntime;
use crate::spec_info::MetricInfo;
use once_cell::sync::OnceCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::RwLock;
use std::time::{Duration, Instant};

/// The label value of the overflow series.
pub const OVERFLOW_VALUE: &str = "__overflow__";

/// Minimum time between two overflow warnings of one metric.
const WARN_INTERVAL: Duration = Duration::from_secs(60);

/// One series: its label values, its handle, and its label text for the encoder.
struct Entry<T: 'static> {
    key: Box<[Box<str>]>,
    handle: &'static T,
    labels: Box<str>,
}

/// Hasher for keys that are already hashes: passes them through.
#[derive(Default)]
struct PreHashed(u64);

impl std::hash::Hasher for PreHashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type Index = HashMap<u64, Vec<usize>, std::hash::BuildHasherDefault<PreHashed>>;

/// Series in creation order, with a hash index over their label values.
struct SeriesSet<T: 'static> {
    index: Index,
    entries: Vec<Entry<T>>,
}

impl<T> SeriesSet<T> {
    fn find(&self, hash: u64, values: &[&str]) -> Option<&'static T> {
        self.index
            .get(&hash)?
            .iter()
            .map(|&i| &self.entries[i])
            .find(|e| same(&e.key, values))
            .map(|e| e.handle)
    }
}

struct State<T: Series> {
    batched: bool,
    exported: bool,
    bounds: Vec<String>,

    series: RwLock<SeriesSet<T>>,
    len: AtomicUsize,
    /// Overflow series by the values of the closed labels (at most the closed
    /// combinations, which the spec caps).
    overflow: RwLock<SeriesSet<T>>,
    /// Where gauges' samples over budget go: never encoded.
    sink: OnceCell<&'static T>,
    overflowed: AtomicU64,
    /// Milliseconds after `epoch` of the last warning, or u64::MAX for never.
    last_warn_ms: AtomicU64,
    epoch: Instant,
}

/// A metric family with at least one open label.
pub struct OpenFamily<T: Series> {
    info: &'static MetricInfo,
    spec: &'static SpecRuntime,
    state: OnceCell<State<T>>,
}

impl<T: Series> std::fmt::Debug for OpenFamily<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenFamily")
            .field("metric", &self.info.name)
            .finish()
    }
}

/// Hash of a label-value list (foldhash: fast, and it mixes every byte, unlike a
/// hand-rolled multiply-rotate). The map only indexes our own budget-bounded series and
/// lookups compare the values, so resistance to crafted collisions is not needed.
fn key_hash(values: &[&str]) -> u64 {
    use std::hash::BuildHasher;
    foldhash::fast::FixedState::with_seed(0x6a09_e667_f3bc_c908).hash_one(values)
}

fn same(stored: &[Box<str>], values: &[&str]) -> bool {
    stored.len() == values.len() && stored.iter().zip(values).all(|(a, b)| &**a == *b)
}

impl<T: Series> OpenFamily<T> {
    /// An empty family of the metric `info` of `spec`; created on first use.
    pub const fn new(info: &'static MetricInfo, spec: &'static SpecRuntime) -> Self {
        OpenFamily {
            info,
            spec,
            state: OnceCell::new(),
        }
    }

    /// The spec entry.
    pub fn info(&self) -> &'static MetricInfo {
        self.info
    }

    /// Create and register the family now.
    pub fn init(&'static self) {
        self.state();
    }

    fn state(&'static self) -> &'static State<T> {
        self.state.get_or_init(|| {
            crate::self_metrics::install(self.spec);
            let exported = crate::guard::track(self);
            let batched = crate::batch::batched_metric(self.info);
            if batched {
                crate::batch::register(self);
            }
            State {
                batched,
                exported,
                bounds: encode::bound_texts(self.info.buckets),
                series: RwLock::new(SeriesSet {
                    index: Index::default(),
                    entries: Vec::new(),
                }),
                len: AtomicUsize::new(0),
                overflow: RwLock::new(SeriesSet {
                    index: Index::default(),
                    entries: Vec::new(),
                }),
                sink: OnceCell::new(),
                overflowed: AtomicU64::new(0),
                last_warn_ms: AtomicU64::new(u64::MAX),
                epoch: Instant::now(),
            }
        })
    }

    /// The handle for `values` (in label order).
    pub fn get(&'static self, values: &[&str]) -> &'static T {
        let state = self.state();
        let hash = key_hash(values);
        if let Some(h) = state
            .series
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .find(hash, values)
        {
            return h;
        }
        // Full budgets skip the write lock: the count only grows.
        if state.len.load(Ordering::Acquire) as u64 >= self.info.budget {
            return self.over_budget(state, values);
        }
        let mut set = state.series.write().unwrap_or_else(|p| p.into_inner());
        if let Some(h) = set.find(hash, values) {
            return h;
        }
        if state.len.load(Ordering::Acquire) as u64 >= self.info.budget {
            drop(set);
            return self.over_budget(state, values);
        }
        let handle: &'static T = Box::leak(Box::new(T::new(self.info, state.batched)));
        let i = set.entries.len();
        set.entries.push(Entry {
            key: values.iter().map(|v| Box::<str>::from(*v)).collect(),
            handle,
            labels: encode::render_labels(&self.info.label_names(), values).into(),
        });
        set.index.entry(hash).or_default().push(i);
        state.len.fetch_add(1, Ordering::Release);
        handle
    }

    fn over_budget(&'static self, state: &'static State<T>, values: &[&str]) -> &'static T {
        state.overflowed.fetch_add(1, Ordering::Relaxed);
        // The overflow counter must not count into itself.
        let sm = &self.spec.self_metrics;
        if !std::ptr::eq(sm.cardinality_overflow_total.info, self.info) {
            sm.cardinality_overflow_total.get(&[self.info.name]).inc();
        }
        self.warn_rate_limited(state);
        if T::DROPS_OVER_BUDGET {
            // Gauges get a handle that is never encoded: their samples are dropped.
            return state
                .sink
                .get_or_init(|| Box::leak(Box::new(T::new(self.info, false))));
        }
        let closed: Vec<&str> = self
            .info
            .labels
            .iter()
            .zip(values)
            .filter(|(l, _)| l.values.is_some())
            .map(|(_, v)| *v)
            .collect();
        // Keyed by the closed values (at most the closed combinations), hashed like
        // the series themselves: over-budget calls stay cheap under attack.
        let hash = key_hash(&closed);
        let found = state
            .overflow
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .find(hash, &closed);
        if let Some(h) = found {
            return h;
        }
        let mut set = state.overflow.write().unwrap_or_else(|p| p.into_inner());
        if let Some(h) = set.find(hash, &closed) {
            return h;
        }
        let label_values: Vec<&str> = self
            .info
            .labels
            .iter()
            .zip(values)
            .map(|(l, v)| {
                if l.values.is_some() {
                    *v
                } else {
                    OVERFLOW_VALUE
                }
            })
            .collect();
        let handle: &'static T = Box::leak(Box::new(T::new(self.info, state.batched)));
        let i = set.entries.len();
        set.entries.push(Entry {
            key: closed.iter().map(|v| Box::<str>::from(*v)).collect(),
            handle,
            labels: encode::render_labels(&self.info.label_names(), &label_values).into(),
        });
        set.index.entry(hash).or_default().push(i);
        handle
    }

    fn warn_rate_limited(&self, state: &State<T>) {
        let now = state.epoch.elapsed().as_millis() as u64;
        let last = state.last_warn_ms.load(Ordering::Relaxed);
        let due = last == u64::MAX || now.saturating_sub(last) >= WARN_INTERVAL.as_millis() as u64;
        if due
            && state
                .last_warn_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let action = if T::DROPS_OVER_BUDGET {
                "new label sets are dropped (gauge)"
            } else {
                "new label sets are folded into the __overflow__ series"
            };
            tracing::warn!(
                metric = self.info.name,
                budget = self.info.budget,
                overflowed = state.overflowed.load(Ordering::Relaxed),
                "cardinality budget reached; {action}; raise cardinality_budget in the spec or reduce label values"
            );
        }
    }
}

impl<T: Series> crate::guard::Tracked for OpenFamily<T> {
    fn info(&self) -> &'static MetricInfo {
        self.info
    }

    fn series_in_use(&self) -> usize {
        self.state
            .get()
            .map_or(0, |s| s.len.load(Ordering::Acquire))
    }

    fn overflowed(&self) -> u64 {
        self.state
            .get()
            .map_or(0, |s| s.overflowed.load(Ordering::Relaxed))
    }

    fn encode(&self, out: &mut String, format: encode::Format) {
        let Some(state) = self.state.get() else {
            return;
        };
        if !state.exported {
            return;
        }
        let set = state.series.read().unwrap_or_else(|p| p.into_inner());
        let overflow = state.overflow.read().unwrap_or_else(|p| p.into_inner());
        if set.entries.is_empty() && overflow.entries.is_empty() {
            return;
        }
        let info = self.info;
        encode::write_header(
            out,
            info.name,
            info.help,
            info.kind.prometheus_type(),
            format,
        );
        for e in &set.entries {
            e.handle.encode(out, info.name, &e.labels, &state.bounds);
        }
        for o in &overflow.entries {
            o.handle.encode(out, info.name, &o.labels, &state.bounds);
        }
    }
}

impl<T: Series> crate::batch::Flush for OpenFamily<T> {
    fn flush_pending(&self) -> usize {
        let Some(state) = self.state.get() else {
            return 0;
        };
        let set = state.series.read().unwrap_or_else(|p| p.into_inner());
        let merged: usize = set.entries.iter().map(|e| e.handle.flush_pending()).sum();
        let overflow = state.overflow.read().unwrap_or_else(|p| p.into_inner());
        merged
            + overflow
                .entries
                .iter()
                .map(|o| o.handle.flush_pending())
                .sum::<usize>()
    }
}
