//! Handles for metrics with open (string) labels, behind the cardinality guard.
//!
//! Known label sets are a hash lookup under a read lock. A new label set takes the
//! write lock, so two threads can never both take the last slot of the budget. Past
//! the budget, counters and histograms fold into one series whose label values are all
//! `__overflow__` (totals stay exact); gauges drop the sample. Handles live for the
//! process: their number is bounded by the budget, so they are leaked on purpose and
//! callers get `&'static` handles without reference counting.

use crate::handles::Series;
use crate::spec_info::MetricInfo;
use once_cell::sync::OnceCell;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::RwLock;

/// The label value of the overflow series.
pub const OVERFLOW_VALUE: &str = "__overflow__";

type Bucket<T> = Vec<(Box<[Box<str>]>, &'static T)>;

struct State<T: Series> {
    family: Option<T::Family>,
    series: RwLock<HashMap<u64, Bucket<T>>>,
    overflow: OnceCell<&'static T>,
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
    pub fn init(&self) {
        self.state();
    }

    fn state(&self) -> &State<T> {
        self.state.get_or_init(|| {
            let family = match T::new_family(self.info) {
                Ok(f) => {
                    crate::registry::register(self.info.name, Box::new(f.clone()));
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
                overflow: OnceCell::new(),
            }
        })
    }

    /// Number of distinct label sets in use (the overflow series not included).
    pub fn series_in_use(&self) -> usize {
        self.state
            .get()
            .map(|s| {
                let map = s.series.read().unwrap_or_else(|p| p.into_inner());
                map.values().map(Vec::len).sum()
            })
            .unwrap_or(0)
    }

    /// The handle for `values` (in label order).
    pub fn get(&self, values: &[&str]) -> &'static T {
        let state = self.state();
        let hash = key_hash(values);
        {
            let map = state.series.read().unwrap_or_else(|p| p.into_inner());
            if let Some(bucket) = map.get(&hash) {
                if let Some((_, h)) = bucket.iter().find(|(k, _)| same(k, values)) {
                    return h;
                }
            }
        }
        let mut map = state.series.write().unwrap_or_else(|p| p.into_inner());
        if let Some((_, h)) = map
            .get(&hash)
            .and_then(|b| b.iter().find(|(k, _)| same(k, values)))
        {
            return h;
        }
        let in_use: usize = map.values().map(Vec::len).sum();
        if in_use as u64 >= self.info.budget {
            drop(map);
            return self.over_budget(state);
        }
        let handle: &'static T = Box::leak(Box::new(match &state.family {
            Some(f) => T::resolve(f, values),
            None => T::detached(self.info),
        }));
        let key: Box<[Box<str>]> = values.iter().map(|v| Box::<str>::from(*v)).collect();
        map.entry(hash).or_default().push((key, handle));
        handle
    }

    fn over_budget(&self, state: &State<T>) -> &'static T {
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
}
