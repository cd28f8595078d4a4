//! What a scrape does: run the pre-scrape hooks, flush the batcher, refresh the
//! governance gauges, and encode every series (ours, then foreign collectors') in the
//! text format. Transport-free, so any HTTP stack (or a test) can serve it.

use crate::encode::Format;
use crate::FlushTrigger;
use once_cell::sync::Lazy;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

/// A function run right before every scrape (e.g. to refresh a gauge from a source).
pub type PreScrapeHook = Arc<dyn Fn() + Send + Sync>;

static HOOKS: Lazy<RwLock<Vec<PreScrapeHook>>> = Lazy::new(Default::default);

/// Run `hook` before every scrape, after the ones added earlier.
pub fn add_pre_scrape_hook(hook: PreScrapeHook) {
    HOOKS.write().unwrap_or_else(|p| p.into_inner()).push(hook);
}

/// Held shared by multi-series updates and exclusively while a scrape encodes our
/// series, so a scrape never sees half of an update (e.g. OI of the new snapshot,
/// volume of the old).
static UPDATE_LOCK: RwLock<()> = RwLock::new(());

/// Apply a group of related updates that a scrape must see all or none of. Updates
/// run concurrently with each other; only encoding waits for them.
pub fn consistent_update<R>(f: impl FnOnce() -> R) -> R {
    let _shared = UPDATE_LOCK.read().unwrap_or_else(|p| p.into_inner());
    f()
}

/// Run the pre-scrape hooks, merge pending batched deltas, refresh the governance
/// gauges and render everything in the Prometheus text format (version 0.0.4).
pub fn render_metrics() -> Vec<u8> {
    render_metrics_as(Format::Text)
}

/// [`render_metrics`] in the given format.
pub fn render_metrics_as(format: Format) -> Vec<u8> {
    let hooks: Vec<PreScrapeHook> = HOOKS.read().unwrap_or_else(|p| p.into_inner()).clone();
    for hook in hooks {
        hook();
    }
    // A scrape never sees stale data: merge every pending batched delta first.
    crate::batch::flush(FlushTrigger::Scrape);
    crate::guard::refresh_gauges();
    encode_all_as(format)
}

/// Encode every series (ours, then foreign collectors') in the text format without
/// running hooks or flushing. [`render_metrics`] is what a scrape uses.
pub fn encode_all() -> Vec<u8> {
    encode_all_as(Format::Text)
}

/// [`encode_all`] in the given format.
pub fn encode_all_as(format: Format) -> Vec<u8> {
    crate::self_metrics::drain();
    static LAST_LEN: AtomicUsize = AtomicUsize::new(64 * 1024);
    // Foreign collectors are foreign code: never call them under the update lock (one
    // that calls `consistent_update` would deadlock).
    let foreign = crate::registry().collect();
    let mut out = String::with_capacity(LAST_LEN.load(Ordering::Relaxed) + 4096);
    {
        let _exclusive = UPDATE_LOCK.write().unwrap_or_else(|p| p.into_inner());
        for store in crate::names::stores() {
            store.encode(&mut out, format);
        }
    }
    for family in &foreign {
        crate::encode::write_family(&mut out, family, format);
    }
    out.push_str(format.trailer());
    LAST_LEN.store(out.len(), Ordering::Relaxed);
    out.into_bytes()
}
