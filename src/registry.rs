//! The one `prometheus::Registry` every generated metric lives in, and duplicate
//! registration accounting.

use once_cell::sync::Lazy;
use prometheus::core::Collector;
use prometheus::Registry;
use std::fmt;

static REGISTRY: Lazy<Registry> = Lazy::new(Registry::new);

/// The shared registry. `/metrics` exposes everything in it; prefer
/// [`register`] for your own collectors so duplicates are counted.
pub fn registry() -> &'static Registry {
    &REGISTRY
}

/// True when `G6_METRICS_FAIL_ON_DUP` is 1/true/yes (any case).
pub fn fail_on_duplicate() -> bool {
    std::env::var("G6_METRICS_FAIL_ON_DUP")
        .map(|v| g6_codegen::build::parse_flag(&v))
        .unwrap_or(false)
}

/// A collector could not be registered.
#[derive(Debug)]
pub enum RegisterError {
    /// The name is registered already and `G6_METRICS_FAIL_ON_DUP` is set.
    Duplicate(String),
    /// The registry refused the collector for another reason.
    Other(prometheus::Error),
}

impl fmt::Display for RegisterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegisterError::Duplicate(name) => write!(
                f,
                "metric `{name}` is already registered (G6_METRICS_FAIL_ON_DUP is set); rename one of them"
            ),
            RegisterError::Other(e) => write!(f, "cannot register collector: {e}"),
        }
    }
}

impl std::error::Error for RegisterError {}

fn collector_name(c: &dyn Collector) -> String {
    c.desc()
        .first()
        .map(|d| d.fq_name.clone())
        .unwrap_or_else(|| "unnamed".into())
}

/// Register a collector in the shared registry.
///
/// Registering a name twice increments `g6_metric_duplicates_total{name}` and is
/// otherwise ignored (the first collector stays); with `G6_METRICS_FAIL_ON_DUP` set it is
/// an error.
pub fn register(collector: Box<dyn Collector>) -> Result<(), RegisterError> {
    register_counted(collector).map(|_| ())
}

/// Like [`register`]; `Ok(false)` when it was a tolerated duplicate.
fn register_counted(collector: Box<dyn Collector>) -> Result<bool, RegisterError> {
    let name = collector_name(&*collector);
    match REGISTRY.register(collector) {
        Ok(()) => Ok(true),
        Err(prometheus::Error::AlreadyReg) => {
            crate::metrics::metric_duplicates_total(&name).inc();
            if fail_on_duplicate() {
                Err(RegisterError::Duplicate(name))
            } else {
                tracing::warn!(metric = %name, "metric registered twice; keeping the first registration");
                Ok(false)
            }
        }
        Err(e) => Err(RegisterError::Other(e)),
    }
}

/// Register a generated family; failures are logged, never raised, because accessors
/// cannot return errors. Returns true when the family is in the registry (and so may
/// be encoded by our encoder).
pub(crate) fn register_generated(name: &'static str, collector: Box<dyn Collector>) -> bool {
    let collector: Box<dyn Collector> = Box::new(crate::exporter::encode::Ours(collector));
    // The duplicates counter itself must not recurse into its own accessor.
    let result = if name == "g6_metric_duplicates_total" {
        REGISTRY
            .register(collector)
            .map(|_| true)
            .map_err(RegisterError::Other)
    } else {
        register_counted(collector)
    };
    match result {
        Ok(registered) => registered,
        Err(e) => {
            tracing::error!(metric = name, error = %e, "generated metric not exported");
            false
        }
    }
}
