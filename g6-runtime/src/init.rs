//! Start-up: install the spec, export provenance, run the growth guard.

use crate::guard::{self, GrowthConfig, GrowthReport, GuardError};
use crate::self_metrics::{self, SpecRuntime};
use once_cell::sync::Lazy;
use sha2::{Digest, Sha256};
use std::fmt::Write;

/// Hash of the build configuration: runtime and generator versions, the spec, the
/// profile and the target. Two binaries with the same value were built alike.
pub fn build_config_hash() -> &'static str {
    static HASH: Lazy<String> = Lazy::new(|| {
        let profile = if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        };
        let (generator, sha) =
            self_metrics::installed().map_or(("", ""), |s| (s.generator_version, s.spec_sha256));
        let config = format!(
            "g6-metrics {}\n{generator}\nspec {sha}\nprofile {profile}\ntarget {}-{}\n",
            env!("CARGO_PKG_VERSION"),
            std::env::consts::ARCH,
            std::env::consts::OS,
        );
        let mut hex = String::with_capacity(16);
        for b in Sha256::digest(config.as_bytes()).iter().take(8) {
            let _ = write!(hex, "{b:02x}");
        }
        hex
    });
    &HASH
}

/// Initialise the runtime for `spec` (the generated `init()` calls this after
/// creating every metric): sets `<namespace>_metrics_spec_hash_info{hash}` and
/// `<namespace>_build_config_hash_info{hash}` to 1, exports per-metric budgets, and
/// runs the cardinality growth guard. Returns an error when the guard's settings are
/// invalid or, with `G6_CARDINALITY_FAIL_ON_EXCESS` set, when series grew beyond the
/// allowance over the baseline.
pub fn init(spec: &'static SpecRuntime) -> Result<GrowthReport, GuardError> {
    self_metrics::install(spec);
    let sm = &spec.self_metrics;
    sm.metrics_spec_hash_info.get(&[spec.spec_hash]).set(1.0);
    sm.build_config_hash_info
        .get(&[build_config_hash()])
        .set(1.0);
    guard::refresh_gauges();
    let config = GrowthConfig::from_env()?;
    guard::check_growth(&config)
}
