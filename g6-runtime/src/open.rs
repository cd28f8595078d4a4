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
//! per metric. Handles live for the process, so they are leaked on purpose and callers
//! get `&'static` handles without reference counting.
//!
//! # Removing series
//!
//! [`OpenFamily::remove`] and [`OpenFamily::remove_matching`] take series out of the
//! store: they leave the exposition and give their slot of the budget back (the count
//! drops under the same write lock that creation takes, so a concurrent create of the
//! same label set is counted exactly once: before the removal, and removed with it, or
//! after it, as a new series). A removed series' handle is never freed (a caller may
//! have kept the `&'static` reference); it is *detached*:
//!
//! - writes through a kept handle are accepted and go nowhere visible: the handle is no
//!   longer encoded (checking for removal on every write would cost the hot path an
//!   extra load; writes are not counted as drops for the same reason);
//! - when the same label set is created again, the store revives that very handle,
//!   reset to zero, so a kept handle is live again and the series starts from zero as
//!   any new series does;
//! - detached handles wait in a pool, oldest first. A metric allocates at most twice
//!   its budget of handles (live and detached) however often series come and go; past
//!   that, a new label set takes over the oldest detached handle (reset to zero), so a
//!   handle kept across its series' removal may later write into another series.
//!   Resolve handles again after removing their series rather than keeping them.
//!
//! Existing series' writes and lookups are exactly as before: removal only adds work
//! under the write lock.

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

/// One series: its label values (and their hash), its handle, and its label text for
/// the encoder.
struct Entry<T: 'static> {
    hash: u64,
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
    fn new() -> Self {
        SeriesSet {
            index: Index::default(),
            entries: Vec::new(),
        }
    }

    fn position(&self, hash: u64, values: &[&str]) -> Option<usize> {
        self.index
            .get(&hash)?
            .iter()
            .copied()
            .find(|&i| same(&self.entries[i].key, values))
    }

    fn find(&self, hash: u64, values: &[&str]) -> Option<&'static T> {
        self.position(hash, values).map(|i| self.entries[i].handle)
    }

    fn push(&mut self, entry: Entry<T>) {
        self.index
            .entry(entry.hash)
            .or_default()
            .push(self.entries.len());
        self.entries.push(entry);
    }

    /// Take the entry at `i` out, keeping the others in order. O(len): removal is the
    /// rare path, and the sets are bounded by the budget.
    fn take(&mut self, i: usize) -> Entry<T> {
        let entry = self.entries.remove(i);
        self.reindex();
        entry
    }

    /// Take every entry `remove` selects out, keeping the others in order.
    fn take_where(&mut self, mut remove: impl FnMut(&Entry<T>) -> bool) -> Vec<Entry<T>> {
        let (taken, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.entries)
            .into_iter()
            .partition(|e| remove(e));
        self.entries = kept;
        if !taken.is_empty() {
            self.reindex();
        }
        taken
    }

    fn reindex(&mut self) {
        self.index.clear();
        for (i, e) in self.entries.iter().enumerate() {
            self.index.entry(e.hash).or_default().push(i);
        }
    }
}

struct State<T: Series> {
    batched: bool,
    exported: bool,
    bounds: Vec<String>,

    series: RwLock<SeriesSet<T>>,
    /// Series in `series`, changed only under its write lock (read without it by
    /// the guard and the full-budget shortcut).
    len: AtomicUsize,
    /// Handles of removed series, oldest first: revived when their label set comes
    /// back, reused for new ones once the family holds twice its budget of handles
    /// (see the module docs).
    /// Always locked after `series`, never before it.
    detached: std::sync::Mutex<SeriesSet<T>>,
    /// Overflow series by the values of the closed labels (at most the closed
    /// combinations, which the spec caps).
    overflow: RwLock<SeriesSet<T>>,
    /// Where gauges' samples over budget go: never encoded.
    sink: OnceCell<&'static T>,
    /// The one handle of a family its variable leaves off (`enabled_by:`): every
    /// label set gets it, without a hash, a lock or a slot of the budget; never
    /// encoded.
    disabled: Option<&'static T>,
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

    /// Create and register the family now, with the spec's warm label sets at zero.
    pub fn init(&'static self) {
        self.state();
        for values in self.info.warm_sets {
            self.get(values);
        }
    }

    fn state(&'static self) -> &'static State<T> {
        self.state.get_or_init(|| {
            crate::self_metrics::install(self.spec);
            let exported = crate::names::track(self);
            let enabled = self.info.enabled();
            let batched = enabled && crate::batch::batched_metric(self.info);
            if batched {
                crate::batch::register(self);
            }
            State {
                batched,
                exported,
                bounds: encode::bound_texts(self.info.buckets),
                series: RwLock::new(SeriesSet::new()),
                len: AtomicUsize::new(0),
                detached: std::sync::Mutex::new(SeriesSet::new()),
                overflow: RwLock::new(SeriesSet::new()),
                sink: OnceCell::new(),
                disabled: (!enabled).then(|| &*Box::leak(Box::new(T::new(self.info, false)))),
                overflowed: AtomicU64::new(0),
                last_warn_ms: AtomicU64::new(u64::MAX),
                epoch: Instant::now(),
            }
        })
    }

    /// The handle for `values` (in label order).
    pub fn get(&'static self, values: &[&str]) -> &'static T {
        let state = self.state();
        if let Some(off) = state.disabled {
            return off;
        }
        let hash = key_hash(values);
        if let Some(h) = state
            .series
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .find(hash, values)
        {
            return h;
        }
        // Full budgets skip the write lock. The count may drop by a concurrent removal
        // right after this load: this call then simply happened before the removal.
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
        let handle = self.new_handle(state, set.entries.len(), hash, values);
        set.push(Entry {
            hash,
            key: values.iter().map(|v| Box::<str>::from(*v)).collect(),
            handle,
            labels: encode::render_series_labels(self.info, values).into(),
        });
        state.len.fetch_add(1, Ordering::Release);
        handle
    }

    /// A handle at zero for a new series of `values`: the detached handle of the same
    /// label set when it was removed before; else a fresh one while the metric holds
    /// fewer than twice its budget of handles; else the oldest detached one (there is
    /// one: fewer than `budget` series are live when one is created). Called under the
    /// series write lock, with `live` series in the set.
    fn new_handle(&self, state: &State<T>, live: usize, hash: u64, values: &[&str]) -> &'static T {
        let mut detached = state.detached.lock().unwrap_or_else(|p| p.into_inner());
        let held = live + detached.entries.len();
        let reused = match detached.position(hash, values) {
            Some(i) => Some(detached.take(i)),
            None if held as u64 >= self.max_handles() && !detached.entries.is_empty() => {
                Some(detached.take(0))
            }
            None => None,
        };
        drop(detached);
        match reused {
            Some(e) => {
                let merged = e.handle.reset();
                crate::batch::forget_pending(merged);
                e.handle
            }
            None => Box::leak(Box::new(T::new(self.info, state.batched))),
        }
    }

    /// Most handles (live and detached) the family allocates: twice its budget.
    fn max_handles(&self) -> u64 {
        self.info.budget.max(1).saturating_mul(2)
    }

    /// Remove the series of `values` (in label order): it leaves the exposition and
    /// frees its slot of the budget. Returns false when there is no such series (never
    /// created, removed already, or only counted in the overflow series). A handle kept
    /// from it is detached (see the module docs): never invalid, writes go nowhere
    /// visible until the label set is created again.
    pub fn remove(&self, values: &[&str]) -> bool {
        let Some(state) = self.state.get() else {
            return false;
        };
        let hash = key_hash(values);
        let mut set = state.series.write().unwrap_or_else(|p| p.into_inner());
        let Some(i) = set.position(hash, values) else {
            return false;
        };
        let entry = set.take(i);
        self.detach(state, vec![entry]);
        state.len.fetch_sub(1, Ordering::Release);
        true
    }

    /// Remove every series whose label `label` has the value `value` (e.g. every series
    /// of one index); returns how many. A metric without that label has none. Same
    /// semantics as [`Self::remove`]; the overflow series stay.
    pub fn remove_matching(&self, label: &str, value: &str) -> usize {
        let Some(state) = self.state.get() else {
            return 0;
        };
        let Some(pos) = self.info.labels.iter().position(|l| l.name == label) else {
            return 0;
        };
        let mut set = state.series.write().unwrap_or_else(|p| p.into_inner());
        let taken = set.take_where(|e| e.key.get(pos).is_some_and(|v| &**v == value));
        let n = taken.len();
        self.detach(state, taken);
        state.len.fetch_sub(n, Ordering::Release);
        n
    }

    /// Put removed entries in the detached pool, oldest first. Called under the series
    /// write lock.
    fn detach(&self, state: &State<T>, entries: Vec<Entry<T>>) {
        let mut detached = state.detached.lock().unwrap_or_else(|p| p.into_inner());
        for e in entries {
            detached.push(e);
        }
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
        set.push(Entry {
            hash,
            key: closed.iter().map(|v| Box::<str>::from(*v)).collect(),
            handle,
            labels: encode::render_series_labels(self.info, &label_values).into(),
        });
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

impl<T: Series> crate::names::Tracked for OpenFamily<T> {
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
        let flush_all = |set: &SeriesSet<T>| -> usize {
            set.entries.iter().map(|e| e.handle.flush_pending()).sum()
        };
        let merged = flush_all(&state.series.read().unwrap_or_else(|p| p.into_inner()));
        let overflow = flush_all(&state.overflow.read().unwrap_or_else(|p| p.into_inner()));
        // Kept handles of removed series may still take writes: merging them keeps the
        // batcher's pending count honest (the values are never encoded).
        let detached = flush_all(&state.detached.lock().unwrap_or_else(|p| p.into_inner()));
        merged + overflow + detached
    }
}
