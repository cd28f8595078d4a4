//! Start-up: create every metric, export provenance, run the growth guard.

use crate::guard::{self, GrowthConfig, GrowthReport, GuardError};
use crate::{metrics, GENERATOR_VERSION, SPEC_HASH, SPEC_SHA256};
use once_cell::sync::Lazy;

/// Hash of the build configuration: crate and generator versions, the spec, the
/// profile and the target. Two binaries with the same value were built alike.
pub fn build_config_hash() -> &'static str {
    static HASH: Lazy<String> = Lazy::new(|| {
        let profile = if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        };
        let config = format!(
            "g6-metrics {}\n{GENERATOR_VERSION}\nspec {SPEC_SHA256}\nprofile {profile}\ntarget {}-{}\n",
            env!("CARGO_PKG_VERSION"),
            std::env::consts::ARCH,
            std::env::consts::OS,
        );
        g6_codegen::canonical::sha256_hex(&config)[..16].to_string()
    });
    &HASH
}

/// Initialise the metrics runtime; call once at start (it is idempotent).
///
/// Registers every metric, creates every closed-label series at 0, sets
/// `g6_metrics_spec_hash_info{hash}` and `g6_build_config_hash_info{hash}` to 1, exports
/// per-metric budgets, and runs the cardinality growth guard. Returns an error when the
/// guard's settings are invalid or, with `G6_CARDINALITY_FAIL_ON_EXCESS` set, when
/// series grew beyond the allowance over the baseline.
pub fn init() -> Result<GrowthReport, GuardError> {
    metrics::init_all();
    metrics::metrics_spec_hash_info(SPEC_HASH).set(1.0);
    metrics::build_config_hash_info(build_config_hash()).set(1.0);
    guard::refresh_gauges();
    let config = GrowthConfig::from_env()?;
    guard::check_growth(&config)
}
