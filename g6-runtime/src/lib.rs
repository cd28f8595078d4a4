//! # g6-runtime
//!
//! The spec-agnostic runtime of g6-metrics, as `prost` is to `prost-build`: the code
//! that generated accessors call. It never names a metric of any particular spec.
//!
//! - [`ClosedTable`] and [`OpenFamily`] store a metric's series; the generated
//!   accessors return `&'static` handles ([`Counter`], [`FloatCounter`], [`Gauge`],
//!   [`Histogram`]) into them. One store per series: nothing is copied elsewhere.
//! - [`guard`]: the cardinality guard's bookkeeping and the growth check.
//! - [`batch`]: the emission batcher (sharded pending deltas, adaptive flushes).
//! - [`emission`]: what `#[safe_emit]` (crate `g6-macros`) expands to.
//! - [`encode`] and [`scrape`]: the one text-format encoder, for our series and for
//!   foreign collectors in [`registry()`].
//! - `exporter` (feature `exporter`, on by default): `/metrics`, `/healthz` and a status
//!   page, on hyper with tower-http layers.
//!
//! The runtime reads its settings from `G6_*` environment variables whatever the
//! spec's namespace (`G6_METRICS_BATCH_ENABLED`, `G6_EMISSION_BATCH_*`,
//! `G6_METRICS_FAIL_ON_DUP`, `G6_CARDINALITY_*`): they name the engine, not a spec.
//!
//! The runtime's own metrics (cardinality, duplicates, emission failures, batcher
//! health, spec hash) are declared in a built-in spec fragment that `g6-codegen` merges
//! into every spec under that spec's namespace; the generated code hands them to the
//! runtime as a [`SelfMetrics`] table.

pub mod batch;
pub mod emission;
pub mod encode;
#[cfg(feature = "exporter")]
pub mod exporter;
pub mod exposition;
mod family;
mod flag;
pub mod guard;
mod handles;
mod histogram;
mod init;
mod names;
mod open;
mod registry;
pub mod scrape;
mod self_metrics;
mod settings;
mod simulate;
mod spec_info;
mod table;

pub use batch::FlushTrigger;
pub use family::{Family, Sample, SampleValue};
pub use flag::{family_enabled, parse_flag};
pub use handles::{Counter, FloatCounter, Gauge, Histogram, HistogramTimer, Series};
pub use init::{build_config_hash, init};
pub use open::{OpenFamily, OVERFLOW_VALUE};
#[cfg(feature = "prometheus")]
pub use registry::Tikv;
pub use registry::{fail_on_duplicate, register, registry, Collector, RegisterError, Registry};
pub use self_metrics::{installed, SelfMetrics, SpecRuntime};
pub use settings::{AlreadySet, Settings};
pub use simulate::Simulate;
pub use spec_info::{LabelInfo, MetricInfo, MetricKind, UnknownLabelValue};
pub use table::ClosedTable;
