//! With the batcher off (the default), accessors go straight to the registry.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

mod common;

use common::{in_own_process_with_env, value};
use g6_metrics::{batch, metrics};

#[test]
fn disabled_mode_is_a_pass_through() {
    // In a child without G6_METRICS_BATCH_ENABLED, whatever the caller's environment.
    in_own_process_with_env(
        module_path!(),
        "disabled_mode_is_a_pass_through",
        &[("G6_METRICS_BATCH_ENABLED", None)],
        || {
            assert!(!batch::enabled());
            metrics::lifecycle_compacted_files_total().inc_by(5);
            metrics::lifecycle_scan_seconds().observe(0.2);
            // Visible without any flush or scrape.
            assert_eq!(value("g6_lifecycle_compacted_files_total", &[]), Some(5.0));
            assert_eq!(value("g6_lifecycle_scan_seconds", &[]), Some(1.0));
            assert_eq!(batch::pending(), 0);
            assert_eq!(batch::flush(g6_metrics::batch::FlushTrigger::Timer), 0);
        },
    );
}
