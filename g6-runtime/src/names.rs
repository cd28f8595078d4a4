//! The one name space of exported metrics. Generated stores (tracked as they are
//! created) and foreign collectors (registered in [`crate::registry()`]) claim names
//! under one lock, so a name is never taken twice, whichever side comes first.

use crate::encode::Format;
use crate::spec_info::MetricInfo;
use once_cell::sync::Lazy;
use std::sync::Mutex;

/// Serialises every claim of a metric name (a generated store being tracked, a
/// collector being registered), so a name can never be taken twice by a race. Taken
/// before the stores' or the registry's own locks.
pub(crate) static NAMES: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A metric store the guard can ask about its series.
pub trait Tracked: Sync {
    /// The spec entry.
    fn info(&self) -> &'static MetricInfo;
    /// Label sets in use (the overflow series not counted).
    fn series_in_use(&self) -> usize;
    /// Resolutions that landed past the budget.
    fn overflowed(&self) -> u64;
    /// Append the family in the text format (nothing when it has no series).
    fn encode(&self, out: &mut String, format: Format);
}

/// Every store created so far, sorted by metric name.
pub(crate) fn stores() -> Vec<&'static dyn Tracked> {
    let mut v = TRACKED.lock().unwrap_or_else(|p| p.into_inner()).clone();
    v.sort_by_key(|t| t.info().name);
    v
}

static TRACKED: Lazy<Mutex<Vec<&'static dyn Tracked>>> = Lazy::new(Default::default);

/// Names the registered collectors declared (claimed under [`NAMES`]).
static COLLECTOR_NAMES: Lazy<Mutex<Vec<String>>> = Lazy::new(Default::default);

/// True when a registered collector declared `name`.
pub(crate) fn collector_has(name: &str) -> bool {
    COLLECTOR_NAMES
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .any(|n| n == name)
}

/// Record the names of a collector being registered (with [`NAMES`] held).
pub(crate) fn claim_collector_names(names: &[String]) {
    COLLECTOR_NAMES
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .extend(names.iter().cloned());
}

/// Start tracking (and so encoding) a store. A second store of the same metric name
/// (two specs defining one name, or a name a foreign collector took) is counted as a
/// duplicate and not exported; returns false then.
pub(crate) fn track(t: &'static dyn Tracked) -> bool {
    let name = t.info().name;
    let _claim = NAMES.lock().unwrap_or_else(|p| p.into_inner());
    let taken = {
        let mut tracked = TRACKED.lock().unwrap_or_else(|p| p.into_inner());
        let taken = tracked.iter().any(|s| s.info().name == name) || collector_has(name);
        if !taken {
            tracked.push(t);
        }
        taken
    };
    if taken {
        // Inside the store's initialisation: count it later, never re-enter a store now.
        duplicate_deferred(name);
        tracing::error!(
            metric = name,
            "a metric of this name exists already; this one is not exported"
        );
    }
    !taken
}

/// Count a duplicate of `name` at the next safe point (for use inside a store's
/// initialisation).
pub(crate) fn duplicate_deferred(name: &str) {
    let owned = name.to_string();
    crate::self_metrics::defer(move |sm| sm.metric_duplicates_total.get(&[&owned]).inc());
}
