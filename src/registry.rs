//! The one `prometheus::Registry` every generated metric lives in.

use once_cell::sync::Lazy;
use prometheus::core::Collector;
use prometheus::Registry;

static REGISTRY: Lazy<Registry> = Lazy::new(Registry::new);

/// The shared registry. Add your own collectors to it; `/metrics` exposes all of them.
pub fn registry() -> &'static Registry {
    &REGISTRY
}

/// Register a collector, logging instead of panicking when that fails.
pub(crate) fn register(name: &str, collector: Box<dyn Collector>) {
    if let Err(e) = REGISTRY.register(collector) {
        tracing::warn!(metric = name, error = %e, "metric registration failed");
    }
}
