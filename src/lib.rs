//! # g6-metrics: the G6 app
//!
//! The option-chain platform's metrics, built on the g6-metrics engine: `build.rs`
//! feeds `metrics.yml` to the `g6-codegen` builder, and the generated accessors run on
//! the spec-agnostic `g6-runtime`. Around them: the option-chain pipeline
//! ([`option_chain`]), the `--simulate` preview ([`simulate`]), process metrics
//! ([`system`]) and the `g6` command (`cli`, feature `cli`, on by default).
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

pub mod app;
pub mod bus;
#[cfg(feature = "cli")]
pub mod cli;
pub mod governor;
pub mod live;
pub mod option_chain;
pub mod redact;
pub mod replay;
pub mod shutdown;
pub mod simulate;
pub mod store;
pub mod system;
pub mod web_config;

// The generated `labels`, `spec` and `metrics` modules, `init()` and the spec hashes.
include!(concat!(env!("OUT_DIR"), "/g6_metrics.rs"));

pub use g6_macros::safe_emit;
pub use g6_runtime::{
    batch, emission, exporter, guard, register, registry, Collector, Counter, FloatCounter, Gauge,
    Histogram, HistogramTimer, LabelInfo, MetricInfo, MetricKind, RegisterError,
};
pub use simulate::Simulator;

/// The runtime this app runs on (the generated code names it `::g6_runtime`).
pub use g6_runtime as runtime;

/// Hash of the build configuration (see [`g6_runtime::build_config_hash`]).
pub fn build_config_hash() -> String {
    g6_runtime::build_config_hash()
}

/// Every generated artifact (catalog, dashboards, rules, ...) as a compiled-in string,
/// so the `g6` binary can write or check them without the source tree.
#[cfg(feature = "cli")]
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

    include!(concat!(env!("OUT_DIR"), "/g6_metrics_artifacts.rs"));
}
