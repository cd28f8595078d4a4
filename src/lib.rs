//! # g6-metrics
//!
//! Typed, cheap, safe Prometheus metrics for the G6 options-chain platform, generated
//! at build time from one YAML spec (`metrics.yml`).
//!
//! ```
//! use g6_metrics::{labels, metrics};
//!
//! // Closed labels take generated enums; the call is an index plus an atomic add.
//! metrics::collection_cycles_total(labels::Result::Ok).inc();
//! // Open labels take &str and pass the cardinality guard once per new label set.
//! metrics::api_calls_total("nse", "option-chain", labels::Result::Error).inc();
//! // Keep a handle for a hot loop.
//! let quotes = metrics::provider_quotes_total_with("nse", "NIFTY");
//! quotes.inc_by(250);
//! // Histograms observe base units and offer a timer.
//! let _timer = metrics::collection_cycle_seconds().start_timer();
//! assert_eq!(g6_metrics::SPEC_HASH.len(), 16);
//! ```

// Lets `#[safe_emit]` expansions (which name `::g6_metrics`) work inside this crate too.
extern crate self as g6_metrics;

pub mod batch;
mod handles;
mod histogram;
mod init;
mod open;
mod registry;
mod spec_info;
mod table;

pub mod cli;
pub mod emission;
pub mod exporter;
pub mod guard;
pub mod option_chain;
pub mod simulate;
pub mod system;

pub use g6_macros::safe_emit;
pub use handles::{Counter, FloatCounter, Gauge, Histogram, HistogramTimer, Series};
pub use init::{build_config_hash, init};
pub use open::{OpenFamily, OVERFLOW_VALUE};
pub use registry::{fail_on_duplicate, register, registry, RegisterError};
pub use simulate::Simulator;
pub use spec_info::{LabelInfo, MetricInfo, MetricKind, UnknownLabelValue};
pub use table::ClosedTable;

/// Closed label sets of the spec as enums (`labels::Mny::Atm`).
///
/// Each enum has `as_str()`, `index()`, `ALL`, `VALUES`, `Display` and `FromStr`.
pub mod labels {
    include!(concat!(env!("OUT_DIR"), "/g6_labels.rs"));
}

/// The spec as data: every metric's entry, the hashes and the generator version.
pub mod spec {
    include!(concat!(env!("OUT_DIR"), "/g6_spec.rs"));
}

/// One accessor per metric, named after the metric without the namespace prefix.
pub mod metrics {
    include!(concat!(env!("OUT_DIR"), "/g6_metrics.rs"));
}

/// Every generated artifact (catalog, dashboards, rules, ...) as a compiled-in string,
/// so the `g6` binary can write or check them without the source tree.
pub mod artifacts {
    pub use g6_codegen::artifacts::ArtifactKind;

    /// One compiled-in artifact.
    #[derive(Debug, Clone, Copy)]
    pub struct Artifact {
        /// Path under `generated/`.
        pub path: &'static str,
        /// What it is.
        pub kind: ArtifactKind,
        /// Full content.
        pub content: &'static str,
    }

    include!(concat!(env!("OUT_DIR"), "/g6_artifacts.rs"));
}

pub use spec::{GENERATOR_VERSION, SPEC_HASH, SPEC_SHA256};
