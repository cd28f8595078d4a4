//! Pre-resolved handles for metrics whose labels are all closed.
//!
//! At first use the table creates the family, registers it, and resolves every label
//! combination once (so every series exists at 0). A call is then an index into a
//! fixed slice: no hashing, no lock.

use crate::handles::Series;
use crate::spec_info::MetricInfo;
use once_cell::sync::OnceCell;

/// A fixed table of handles, one per closed label combination.
pub struct ClosedTable<T: Series> {
    info: &'static MetricInfo,
    cells: OnceCell<Box<[T]>>,
}

impl<T: Series> ClosedTable<T> {
    /// An empty table; filled on first use.
    pub const fn new(info: &'static MetricInfo) -> Self {
        ClosedTable {
            info,
            cells: OnceCell::new(),
        }
    }

    /// The handle at `index` (mixed-radix over the labels, as generated).
    #[inline]
    pub fn get(&'static self, index: usize) -> &'static T {
        &self.cells.get_or_init(|| self.build())[index]
    }

    /// Create and register every series now.
    pub fn init(&'static self) {
        self.cells.get_or_init(|| self.build());
    }

    fn build(&'static self) -> Box<[T]> {
        crate::guard::track(self);
        build(self.info)
    }

    /// The spec entry.
    pub fn info(&self) -> &'static MetricInfo {
        self.info
    }
}

fn build<T: Series>(info: &'static MetricInfo) -> Box<[T]> {
    let combos = info.closed_combinations();
    match T::new_family(info) {
        Ok(family) => {
            let handles = combos.iter().map(|c| T::resolve(&family, c)).collect();
            crate::registry::register_generated(info.name, Box::new(family));
            handles
        }
        Err(e) => {
            tracing::error!(metric = info.name, error = %e, "cannot create metric; its samples are discarded");
            combos.iter().map(|_| T::detached(info)).collect()
        }
    }
}

impl<T: Series> crate::guard::Tracked for ClosedTable<T> {
    fn info(&self) -> &'static MetricInfo {
        self.info
    }

    fn series_in_use(&self) -> usize {
        self.cells.get().map_or(0, |c| c.len())
    }

    fn overflowed(&self) -> u64 {
        0
    }
}
