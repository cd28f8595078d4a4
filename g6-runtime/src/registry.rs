//! Foreign collectors beside the generated metrics, and duplicate-name accounting.
//!
//! Generated metrics live in their own stores (see [`crate::guard`]); anything else a
//! program wants on `/metrics` implements [`Collector`] and is registered here. One
//! encoder writes both. With the `prometheus` feature, collectors of the tikv
//! `prometheus` crate plug in through [`Tikv`].

use crate::family::Family;
use crate::spec_info::MetricKind;
use once_cell::sync::Lazy;
use std::fmt;
use std::sync::{Arc, RwLock};

/// A source of metric families that are not generated from the spec.
pub trait Collector: Send + Sync + 'static {
    /// Names of the families this collector exposes, known before collecting: a name
    /// registered twice is refused (and counted).
    fn names(&self) -> Vec<String>;
    /// The families as of now.
    fn collect(&self) -> Vec<Family>;
}

struct Registered {
    names: Vec<String>,
    collector: Arc<dyn Collector>,
}

/// Foreign collectors, encoded after the generated metrics on every scrape.
pub struct Registry {
    collectors: RwLock<Vec<Registered>>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = self
            .collectors
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .flat_map(|r| r.names.clone())
            .collect();
        f.debug_struct("Registry").field("names", &names).finish()
    }
}

static REGISTRY: Lazy<Registry> = Lazy::new(|| Registry {
    collectors: RwLock::new(Vec::new()),
});

/// The process's registry of foreign collectors; `/metrics` exposes them after the
/// generated metrics.
pub fn registry() -> &'static Registry {
    &REGISTRY
}

/// True when a duplicate registration is refused: [`crate::Settings::fail_on_duplicate`],
/// or `G6_METRICS_FAIL_ON_DUP` 1/true/yes (any case).
pub fn fail_on_duplicate() -> bool {
    match FAIL_ON_DUPLICATE.get() {
        Some(installed) => *installed,
        None => crate::flag::env_flag("G6_METRICS_FAIL_ON_DUP"),
    }
}

static FAIL_ON_DUPLICATE: once_cell::sync::OnceCell<bool> = once_cell::sync::OnceCell::new();

/// Install the duplicate-registration setting; false when one was installed already.
pub(crate) fn install_fail_on_duplicate(on: bool) -> bool {
    FAIL_ON_DUPLICATE.set(on).is_ok()
}

/// A collector could not be registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterError {
    /// The name is taken already and `G6_METRICS_FAIL_ON_DUP` is set.
    Duplicate(String),
    /// The collector declared a name that is not a valid metric name.
    InvalidName(String),
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`, the metric-name syntax Prometheus accepts.
pub(crate) fn valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// `[a-zA-Z_][a-zA-Z0-9_]*` and not `__`-prefixed: a label name Prometheus accepts.
pub(crate) fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("__")
}

impl fmt::Display for RegisterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegisterError::Duplicate(name) => write!(
                f,
                "metric `{name}` is already registered (G6_METRICS_FAIL_ON_DUP is set); rename one of them"
            ),
            RegisterError::InvalidName(name) => write!(
                f,
                "`{name}` is not a valid metric name; use [a-zA-Z_:][a-zA-Z0-9_:]*"
            ),
        }
    }
}

impl std::error::Error for RegisterError {}

/// Count a name registered twice; with `G6_METRICS_FAIL_ON_DUP` set it is an error,
/// otherwise a warning and the first registration stays.
pub(crate) fn duplicate(name: &str) -> Result<(), RegisterError> {
    let owned = name.to_string();
    crate::self_metrics::with(move |sm| sm.metric_duplicates_total.get(&[&owned]).inc());
    if fail_on_duplicate() {
        Err(RegisterError::Duplicate(name.to_string()))
    } else {
        tracing::warn!(metric = %name, "metric registered twice; keeping the first registration");
        Ok(())
    }
}

/// True when a generated metric (of the installed spec, or any store in use) is
/// called `name`.
fn generated_name(name: &str) -> bool {
    crate::self_metrics::installed().is_some_and(|s| s.metrics.iter().any(|m| m.name == name))
        || crate::names::stores().iter().any(|s| s.info().name == name)
}

impl Registry {
    /// True when a registered collector declared `name`.
    pub fn has_name(&self, name: &str) -> bool {
        // One registry per process: the name space holds what its collectors claimed.
        crate::names::collector_has(name)
    }

    /// Register a collector. A name that a generated metric or an earlier collector
    /// already uses increments `<namespace>_metric_duplicates_total{name}` and the
    /// collector is not added (the first stays); with `G6_METRICS_FAIL_ON_DUP` set it
    /// is an error.
    pub fn register(&self, collector: Box<dyn Collector>) -> Result<(), RegisterError> {
        let names = collector.names();
        if let Some(bad) = names.iter().find(|n| !valid_metric_name(n)) {
            return Err(RegisterError::InvalidName(bad.clone()));
        }
        let claim = crate::names::NAMES
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(name) = names.iter().find(|n| generated_name(n) || self.has_name(n)) {
            let name = name.clone();
            drop(claim);
            return duplicate(&name);
        }
        crate::names::claim_collector_names(&names);
        self.collectors
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(Registered {
                names,
                collector: Arc::from(collector),
            });
        drop(claim);
        Ok(())
    }

    /// Every foreign family as of now, in registration order.
    pub fn collect(&self) -> Vec<Family> {
        // Collectors are foreign code: call them without holding our lock, so one
        // that registers another collector cannot deadlock.
        let collectors: Vec<Arc<dyn Collector>> = self
            .collectors
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|r| Arc::clone(&r.collector))
            .collect();
        let declared: Vec<Vec<String>> = self
            .collectors
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|r| r.names.clone())
            .collect();
        collectors
            .iter()
            .zip(declared)
            .flat_map(|(c, names)| {
                c.collect()
                    .into_iter()
                    .filter(move |f| valid_family(f, &names))
            })
            .collect()
    }
}

/// A foreign family is written only when the collector declared its name and every
/// label name is valid: one bad family must not make Prometheus reject the whole
/// scrape. Logged once.
fn valid_family(family: &Family, declared: &[String]) -> bool {
    let labels_ok = family.samples.iter().all(|s| {
        s.labels.iter().all(|(k, _)| {
            valid_label_name(k) && !(k == "le" && family.kind == MetricKind::Histogram)
        })
    });
    let ok = declared.contains(&family.name) && valid_metric_name(&family.name) && labels_ok;
    if !ok {
        static LOGGED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        if !LOGGED.swap(true, std::sync::atomic::Ordering::Relaxed) {
            tracing::warn!(
                family = %family.name,
                "a foreign collector returned a family it did not declare, or invalid label names; it is left out of scrapes (further cases are not logged)"
            );
        }
    }
    ok
}

/// Register a collector in the process's registry (see [`Registry::register`]).
pub fn register(collector: Box<dyn Collector>) -> Result<(), RegisterError> {
    registry().register(collector)
}

#[cfg(feature = "prometheus")]
pub use tikv::Tikv;

#[cfg(feature = "prometheus")]
mod tikv {
    use super::{Collector, Family};
    use crate::family::{Sample, SampleValue};
    use crate::spec_info::MetricKind;
    use prometheus::proto::MetricType;

    /// A collector of the tikv `prometheus` crate, as a [`Collector`].
    #[derive(Debug, Clone)]
    pub struct Tikv<C>(pub C);

    impl<C: prometheus::core::Collector + 'static> Collector for Tikv<C> {
        fn names(&self) -> Vec<String> {
            self.0.desc().iter().map(|d| d.fq_name.clone()).collect()
        }

        fn collect(&self) -> Vec<Family> {
            self.0
                .collect()
                .iter()
                .filter_map(|mf| {
                    let kind = match mf.get_field_type() {
                        MetricType::COUNTER => MetricKind::Counter,
                        MetricType::GAUGE => MetricKind::Gauge,
                        MetricType::HISTOGRAM => MetricKind::Histogram,
                        // Summaries and untyped metrics have no place in our spec model.
                        MetricType::SUMMARY | MetricType::UNTYPED => return None,
                    };
                    let samples = mf
                        .get_metric()
                        .iter()
                        .map(|m| Sample {
                            labels: m
                                .get_label()
                                .iter()
                                .map(|l| (l.name().to_string(), l.value().to_string()))
                                .collect(),
                            value: match kind {
                                MetricKind::Counter | MetricKind::FloatCounter => {
                                    SampleValue::Counter(m.get_counter().get_value())
                                }
                                MetricKind::Gauge => SampleValue::Gauge(m.get_gauge().get_value()),
                                MetricKind::Histogram => {
                                    let h = m.get_histogram();
                                    SampleValue::Histogram {
                                        buckets: h
                                            .get_bucket()
                                            .iter()
                                            .filter(|b| b.upper_bound().is_finite())
                                            .map(|b| (b.upper_bound(), b.cumulative_count()))
                                            .collect(),
                                        sum: h.get_sample_sum(),
                                        count: h.get_sample_count(),
                                    }
                                }
                            },
                        })
                        .collect();
                    Some(Family {
                        name: mf.name().to_string(),
                        help: mf.help().to_string(),
                        kind,
                        samples,
                    })
                })
                .collect()
        }
    }
}
