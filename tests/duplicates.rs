//! Registering a metric name twice: counted, and an error only under G6_METRICS_FAIL_ON_DUP.
//! Each test runs in a process of its own with the variable set there (the registry
//! and the environment are process-wide).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

mod common;

use common::{in_own_process_with_env, value};
use g6_metrics::RegisterError;

fn counter(name: &str) -> prometheus::IntCounter {
    prometheus::IntCounter::new(name, "a user collector").unwrap()
}

fn collector(name: &str) -> Box<g6_metrics::runtime::Tikv<prometheus::IntCounter>> {
    Box::new(g6_metrics::runtime::Tikv(counter(name)))
}

/// Register `user_jobs_total` once, move it to 7, and check the shared encoder shows it.
fn register_first() {
    let first = counter("user_jobs_total");
    g6_metrics::register(Box::new(g6_metrics::runtime::Tikv(first.clone())))
        .expect("first registration");
    first.inc_by(7);
    // The foreign collector is exposed by the same encoder as the generated metrics.
    assert_eq!(value("user_jobs_total", &[]), Some(7.0));
}

#[test]
fn a_duplicate_is_counted_and_not_an_error_by_default() {
    in_own_process_with_env(
        module_path!(),
        "a_duplicate_is_counted_and_not_an_error_by_default",
        &[("G6_METRICS_FAIL_ON_DUP", None)],
        || {
            register_first();
            g6_metrics::register(collector("user_jobs_total"))
                .expect("a duplicate is not an error by default");
            assert_eq!(
                value("g6_metric_duplicates_total", &[("name", "user_jobs_total")]),
                Some(1.0)
            );
        },
    );
}

#[test]
fn a_duplicate_is_an_error_under_fail_on_dup_and_still_counted() {
    in_own_process_with_env(
        module_path!(),
        "a_duplicate_is_an_error_under_fail_on_dup_and_still_counted",
        &[("G6_METRICS_FAIL_ON_DUP", Some("TRUE"))],
        || {
            register_first();
            match g6_metrics::register(collector("user_jobs_total")) {
                Err(RegisterError::Duplicate(name)) => assert_eq!(name, "user_jobs_total"),
                other => panic!("expected a duplicate error, got {other:?}"),
            }
            assert_eq!(
                value("g6_metric_duplicates_total", &[("name", "user_jobs_total")]),
                Some(1.0)
            );
        },
    );
}

#[test]
fn fail_on_dup_0_is_off_and_a_clash_with_a_generated_metric_counts() {
    in_own_process_with_env(
        module_path!(),
        "fail_on_dup_0_is_off_and_a_clash_with_a_generated_metric_counts",
        &[("G6_METRICS_FAIL_ON_DUP", Some("0"))],
        || {
            g6_metrics::metrics::init_all();
            g6_metrics::register(collector("g6_sse_slow_client_disconnects_total"))
                .expect("G6_METRICS_FAIL_ON_DUP=0 is off");
            assert_eq!(
                value(
                    "g6_metric_duplicates_total",
                    &[("name", "g6_sse_slow_client_disconnects_total")]
                ),
                Some(1.0)
            );
        },
    );
}
