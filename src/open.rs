//! Handles for metrics with open (string) labels, behind the cardinality guard.
//!
//! Known label sets are a hash lookup under a read lock. A new label set takes the
//! write lock and re-checks the count there, so two threads can never both take the last
//! slot of the budget. Past the budget, counters and histograms fold into one series
//! whose label values are all `__overflow__` (totals stay exact); gauges drop the sample.
//! Every resolution that lands past the budget increments
//! `g6_cardinality_overflow_total{metric}`, and a warning is logged at most once a minute
//! per metric. Handles live for the process: their number is bounded by the budget, so
//! they are leaked on purpose and callers get `&'static` handles without reference
//! counting.

use crate::handles::Series;
use crate::spec_info::MetricInfo;
use once_cell::sync::OnceCell;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::RwLock;
use std::time::{Duration, Instant};

/// The label value of the overflow series.
pub const OVERFLOW_VALUE: &str = "__overflow__";

/// Name of the metric that counts overflows; it must not count into itself.
const OVERFLOW_METRIC: &str = "g6_cardinality_overflow_total";

/// Minimum time between two overflow warnings of one metric.
const WARN_INTERVAL: Duration = Duration::from_secs(60);

type Bucket<T> = Vec<(Box<[Box<str>]>, &'static T)>;

struct State<T: Series> {
    family: Option<T::Family>,
    series: RwLock<HashMap<u64, Bucket<T>>>,
    len: AtomicUsize,
    overflow: OnceCell<&'static T>,
    overflowed: AtomicU64,
    /// Milliseconds after `epoch` of the last warning, or u64::MAX for never.
    last_warn_ms: AtomicU64,
    epoch: Instant,
}

/// A metric family with at least one open label.
pub struct OpenFamily<T: Series> {
    info: &'static MetricInfo,
    state: OnceCell<State<T>>,
}

fn key_hash(values: &[&str]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for v in values {
        v.hash(&mut h);
    }
    h.finish()
}

fn same(stored: &[Box<str>], values: &[&str]) -> bool {
    stored.len() == values.len() && stored.iter().zip(values).all(|(a, b)| &**a == *b)
}

impl<T: Series> OpenFamily<T> {
    /// An empty family; created and registered on first use.
    pub const fn new(info: &'static MetricInfo) -> Self {
        OpenFamily {
            info,
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
            crate::guard::track(self);
            let family = match T::new_family(self.info) {
                Ok(f) => {
                    crate::registry::register_generated(self.info.name, Box::new(f.clone()));
                    Some(f)
                }
                Err(e) => {
                    tracing::error!(metric = self.info.name, error = %e, "cannot create metric; its samples are discarded");
                    None
                }
            };
            State {
                family,
                series: RwLock::new(HashMap::new()),
                len: AtomicUsize::new(0),
                overflow: OnceCell::new(),
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
        {
            let map = state.series.read().unwrap_or_else(|p| p.into_inner());
            if let Some((_, h)) = map
                .get(&hash)
                .and_then(|b| b.iter().find(|(k, _)| same(k, values)))
            {
                return h;
            }
        }
        // Full budgets skip the write lock: the count only grows.
        if state.len.load(Ordering::Acquire) as u64 >= self.info.budget {
            return self.over_budget(state);
        }
        let mut map = state.series.write().unwrap_or_else(|p| p.into_inner());
        if let Some((_, h)) = map
            .get(&hash)
            .and_then(|b| b.iter().find(|(k, _)| same(k, values)))
        {
            return h;
        }
        if state.len.load(Ordering::Acquire) as u64 >= self.info.budget {
            drop(map);
            return self.over_budget(state);
        }
        let handle: &'static T = Box::leak(Box::new(match &state.family {
            Some(f) => T::resolve(f, values),
            None => T::detached(self.info),
        }));
        let key: Box<[Box<str>]> = values.iter().map(|v| Box::<str>::from(*v)).collect();
        map.entry(hash).or_default().push((key, handle));
        state.len.fetch_add(1, Ordering::Release);
        handle
    }

    fn over_budget(&'static self, state: &'static State<T>) -> &'static T {
        state.overflowed.fetch_add(1, Ordering::Relaxed);
        if self.info.name != OVERFLOW_METRIC {
            crate::metrics::cardinality_overflow_total(self.info.name).inc();
        }
        self.warn_rate_limited(state);
        state.overflow.get_or_init(|| {
            let handle = match (&state.family, T::DROPS_OVER_BUDGET) {
                (Some(f), false) => {
                    let values: Vec<&str> =
                        self.info.labels.iter().map(|_| OVERFLOW_VALUE).collect();
                    T::resolve(f, &values)
                }
                _ => T::detached(self.info),
            };
            Box::leak(Box::new(handle))
        })
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
}
