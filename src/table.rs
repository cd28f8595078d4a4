//! Pre-resolved handles for metrics whose labels are all closed.
//!
//! At first use the table creates the family, registers it, and resolves every label
//! combination once (so every series exists at 0). A call is then an index into a
//! fixed slice: no hashing, no lock.

use crate::exporter::encode;
use crate::handles::Series;
use crate::spec_info::MetricInfo;
use once_cell::sync::OnceCell;

/// One series: its handle and its label text, rendered once for the encoder.
struct Entry<T> {
    handle: T,
    labels: Box<str>,
}

struct Built<T> {
    entries: Box<[Entry<T>]>,
    exported: bool,
    bounds: Vec<String>,
}

/// A fixed table of handles, one per closed label combination.
pub struct ClosedTable<T: Series> {
    info: &'static MetricInfo,
    built: OnceCell<Built<T>>,
}

impl<T: Series> ClosedTable<T> {
    /// An empty table; filled on first use.
    pub const fn new(info: &'static MetricInfo) -> Self {
        ClosedTable {
            info,
            built: OnceCell::new(),
        }
    }

    /// The handle at `index` (mixed-radix over the labels, as generated).
    #[inline]
    pub fn get(&'static self, index: usize) -> &'static T {
        &self.built.get_or_init(|| self.build()).entries[index].handle
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
        crate::guard::track(self);
        let batched = crate::batch::batched_metric(self.info);
        if batched {
            crate::batch::register(self);
        }
        let info = self.info;
        let names = info.label_names();
        let combos = info.closed_combinations();
        let (family, exported) = match T::new_family(info) {
            Ok(f) => {
                let exported = crate::registry::register_generated(info.name, Box::new(f.clone()));
                (Some(f), exported)
            }
            Err(e) => {
                tracing::error!(metric = info.name, error = %e, "cannot create metric; its samples are discarded");
                (None, false)
            }
        };
        let entries = combos
            .iter()
            .map(|c| Entry {
                handle: match &family {
                    Some(f) => T::resolve(f, c, batched),
                    None => T::detached(info),
                },
                labels: encode::render_labels(&names, c).into(),
            })
            .collect();
        Built {
            entries,
            exported,
            bounds: encode::bound_texts(info.buckets),
        }
    }
}

impl<T: Series> crate::guard::Tracked for ClosedTable<T> {
    fn info(&self) -> &'static MetricInfo {
        self.info
    }

    fn series_in_use(&self) -> usize {
        self.built.get().map_or(0, |b| b.entries.len())
    }

    fn overflowed(&self) -> u64 {
        0
    }

    fn encode(&self, out: &mut String) {
        let Some(b) = self.built.get() else { return };
        if !b.exported || b.entries.is_empty() {
            return;
        }
        encode::write_header(
            out,
            self.info.name,
            self.info.help,
            self.info.kind.prometheus_type(),
        );
        for e in b.entries.iter() {
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
