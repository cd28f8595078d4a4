//! Pre-resolved handles for metrics whose labels are all closed.
//!
//! At first use the table creates the family, registers it, and resolves every label
//! combination once (so every series exists at 0). A call is then an index into a
//! fixed slice: no hashing, no lock.

use crate::encode;
use crate::handles::Series;
use crate::self_metrics::SpecRuntime;
use crate::spec_info::MetricInfo;
use once_cell::sync::OnceCell;
use std::sync::atomic::{AtomicBool, Ordering};

/// One series: its handle and its label text, rendered once for the encoder.
struct Entry<T> {
    handle: T,
    labels: Box<str>,
    /// Set once the series is warm (from `init()`) or its accessor was called: only
    /// touched series are exported, so a gauge without a reading has no series.
    touched: AtomicBool,
}

impl<T> Entry<T> {
    /// Mark the series as used; a load first, so the hot path does not write a
    /// shared cache line on every call.
    #[inline]
    fn touch(&self) {
        if !self.touched.load(Ordering::Relaxed) {
            self.touched.store(true, Ordering::Relaxed);
        }
    }

    fn is_touched(&self) -> bool {
        self.touched.load(Ordering::Relaxed)
    }
}

struct Built<T> {
    entries: Box<[Entry<T>]>,
    exported: bool,
    /// Not every series is warm: entries are exported once touched. False for a
    /// disabled family too: its entries are never touched.
    lazy: bool,
    bounds: Vec<String>,
}

/// A fixed table of handles, one per closed label combination.
pub struct ClosedTable<T: Series> {
    info: &'static MetricInfo,
    spec: &'static SpecRuntime,
    built: OnceCell<Built<T>>,
}

impl<T: Series> std::fmt::Debug for ClosedTable<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClosedTable")
            .field("metric", &self.info.name)
            .finish()
    }
}

impl<T: Series> ClosedTable<T> {
    /// An empty table of the metric `info` of `spec`; filled on first use.
    pub const fn new(info: &'static MetricInfo, spec: &'static SpecRuntime) -> Self {
        ClosedTable {
            info,
            spec,
            built: OnceCell::new(),
        }
    }

    /// The handle at `index` (mixed-radix over the labels, as generated).
    #[inline]
    pub fn get(&'static self, index: usize) -> &'static T {
        match self.built.get() {
            Some(b) => {
                let e = &b.entries[index];
                if b.lazy {
                    e.touch();
                }
                &e.handle
            }
            None => self.get_cold(index),
        }
    }

    /// First use: build the table (kept out of line so the hot path stays small).
    #[cold]
    #[inline(never)]
    fn get_cold(&'static self, index: usize) -> &'static T {
        let b = self.built.get_or_init(|| self.build());
        let e = &b.entries[index];
        if b.lazy {
            e.touch();
        }
        &e.handle
    }

    /// Create and register every series now.
    pub fn init(&'static self) {
        self.built.get_or_init(|| self.build());
    }

    /// The spec entry.
    pub fn info(&self) -> &'static MetricInfo {
        self.info
    }

    fn build(&'static self) -> Built<T> {
        crate::self_metrics::install(self.spec);
        let exported = crate::names::track(self);
        let info = self.info;
        // A family its variable leaves off: writes go to handles that are never
        // touched, so never exported, and never batched (no pending work to merge).
        let enabled = info.enabled();
        let batched = enabled && crate::batch::batched_metric(info);
        if batched {
            crate::batch::register(self);
        }
        let entries = info
            .closed_combinations()
            .iter()
            .map(|c| Entry {
                handle: T::new(info, batched),
                labels: encode::render_series_labels(info, c).into(),
                touched: AtomicBool::new(
                    enabled && (info.warm_all || info.warm_sets.iter().any(|w| w[..] == c[..])),
                ),
            })
            .collect();
        Built {
            entries,
            exported,
            lazy: enabled && !info.warm_all,
            bounds: encode::bound_texts(info.buckets),
        }
    }
}

impl<T: Series> crate::names::Tracked for ClosedTable<T> {
    fn info(&self) -> &'static MetricInfo {
        self.info
    }

    fn series_in_use(&self) -> usize {
        self.built
            .get()
            .map_or(0, |b| b.entries.iter().filter(|e| e.is_touched()).count())
    }

    fn overflowed(&self) -> u64 {
        0
    }

    fn encode(&self, out: &mut String, format: encode::Format) {
        let Some(b) = self.built.get() else { return };
        if !b.exported || !b.entries.iter().any(Entry::is_touched) {
            return;
        }
        encode::write_header(
            out,
            self.info.name,
            self.info.help,
            self.info.kind.prometheus_type(),
            format,
        );
        for e in b.entries.iter().filter(|e| e.is_touched()) {
            e.handle.encode(out, self.info.name, &e.labels, &b.bounds);
        }
    }
}

impl<T: Series> crate::batch::Flush for ClosedTable<T> {
    fn flush_pending(&self) -> usize {
        self.built.get().map_or(0, |b| {
            b.entries.iter().map(|e| e.handle.flush_pending()).sum()
        })
    }
}
