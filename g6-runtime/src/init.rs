//! Start-up: install the spec, export provenance, run the growth guard.

use crate::guard::{self, GrowthReport, GuardError};
use crate::self_metrics::{self, SpecRuntime};
use once_cell::sync::OnceCell;
use sha2::{Digest, Sha256};
use std::fmt::Write;

/// Hash of the build configuration: runtime and generator versions, the spec, the
/// profile and the target. Two binaries with the same value were built alike. Computed
/// from the installed spec (cached once one is).
pub fn build_config_hash() -> String {
    static HASH: OnceCell<String> = OnceCell::new();
    match self_metrics::installed() {
        Some(spec) => HASH.get_or_init(|| config_hash(spec)).clone(),
        None => config_hash_of("", ""),
    }
}

fn config_hash(spec: &SpecRuntime) -> String {
    config_hash_of(spec.generator_version, spec.spec_sha256)
}

fn config_hash_of(generator: &str, sha: &str) -> String {
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
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
}

/// Initialise the runtime for `spec` (the generated `init()` calls this after
/// creating every metric): sets `<namespace>_metrics_spec_hash_info{hash}`,
/// `<namespace>_build_config_hash_info{hash}` and, per histogram,
/// `<namespace>_bucket_layout_info{metric, buckets_version}` to 1, exports per-metric budgets, and
/// runs the cardinality growth guard. Returns an error when the guard's settings are
/// invalid or, with `G6_CARDINALITY_FAIL_ON_EXCESS` set, when series grew beyond the
/// allowance over the baseline.
pub fn init(spec: &'static SpecRuntime) -> Result<GrowthReport, GuardError> {
    self_metrics::install(spec);
    self_metrics::drain();
    let sm = &spec.self_metrics;
    sm.metrics_spec_hash_info.get(&[spec.spec_hash]).set(1.0);
    sm.build_config_hash_info
        .get(&[&config_hash(spec)])
        .set(1.0);
    // Governance counters per metric at zero, so their rates read 0 on a healthy
    // process: duplicates of every metric, overflows of every metric that can
    // overflow (one with an open label and a family that is switched on: a disabled
    // family's accessors never make a series, so it cannot overflow).
    for m in spec.metrics {
        sm.metric_duplicates_total.get(&[m.name]);
        if !m.fully_closed() && m.enabled() {
            sm.cardinality_overflow_total.get(&[m.name]);
        }
    }
    // Which bucket layout each histogram writes, so a layout change shows in the
    // data (dashboards annotate it) and not only in the spec's history.
    for m in spec.metrics {
        if m.kind == crate::MetricKind::Histogram {
            let version = m.buckets_version.to_string();
            sm.bucket_layout_info
                .get(&[m.name, version.as_str()])
                .set(1.0);
        }
    }
    guard::refresh_gauges();
    let config = guard::growth_config()?;
    guard::check_growth(&config)
}
