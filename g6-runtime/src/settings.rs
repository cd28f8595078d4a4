//! The runtime's settings, set in code with a builder before the first metric is
//! touched; without it they come from the `G6_*` environment variables (a shortcut
//! for operators; the batcher reads them once, at its first use).
//!
//! ```
//! use g6_runtime::{batch, Settings};
//! let installed = Settings::from_env()
//!     .batch(batch::Config { enabled: true, ..batch::Config::default() })
//!     .fail_on_duplicate(true)
//!     .install();
//! // Settings are process-wide and taken once: a second install is refused.
//! assert!(installed.is_ok());
//! assert!(Settings::from_env().install().is_err());
//! // The batcher runs on them, whatever G6_METRICS_BATCH_ENABLED says.
//! assert!(batch::enabled());
//! assert!(g6_runtime::fail_on_duplicate());
//! ```

use crate::batch;
use crate::guard::{GrowthConfig, GuardError};

/// Every setting of the runtime.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    batch: batch::Config,
    growth: Result<GrowthConfig, GuardError>,
    fail_on_duplicate: bool,
}

/// [`Settings::install`] came too late: settings were installed, or read from the
/// environment by the first metric, already.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlreadySet;

impl std::fmt::Display for AlreadySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(
            "the runtime's settings are in use already: install them before the first metric is touched",
        )
    }
}

impl std::error::Error for AlreadySet {}

impl Settings {
    /// The settings the `G6_*` variables give (defaults where unset):
    /// `G6_METRICS_BATCH_ENABLED` and `G6_EMISSION_BATCH_*` (the batcher),
    /// `G6_CARDINALITY_*` (the growth guard), `G6_METRICS_FAIL_ON_DUP`.
    pub fn from_env() -> Self {
        Settings {
            batch: batch::Config::from_env(),
            growth: GrowthConfig::from_env(),
            fail_on_duplicate: crate::flag::env_flag("G6_METRICS_FAIL_ON_DUP"),
        }
    }

    /// The emission batcher's settings.
    pub fn batch(mut self, config: batch::Config) -> Self {
        self.batch = config;
        self
    }

    /// The cardinality growth guard's settings.
    pub fn growth(mut self, config: GrowthConfig) -> Self {
        self.growth = Ok(config);
        self
    }

    /// Refuse a second collector registered under a taken name (instead of counting it).
    pub fn fail_on_duplicate(mut self, on: bool) -> Self {
        self.fail_on_duplicate = on;
        self
    }

    /// Make these the process's settings, once. Call it before the first metric is
    /// touched (before the generated `init()`): the batcher takes its settings at its
    /// first use.
    pub fn install(self) -> Result<(), AlreadySet> {
        let batch = crate::batch::install_config(self.batch);
        let growth = crate::guard::install_growth_config(self.growth);
        let duplicates = crate::registry::install_fail_on_duplicate(self.fail_on_duplicate);
        if batch && growth && duplicates {
            Ok(())
        } else {
            Err(AlreadySet)
        }
    }
}
