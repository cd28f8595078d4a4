//! Registering a metric name twice: counted, and an error only under G6_METRICS_FAIL_ON_DUP.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

mod common;

use common::value;
use g6_metrics::RegisterError;

fn counter(name: &str) -> prometheus::IntCounter {
    prometheus::IntCounter::new(name, "a user collector").unwrap()
}

fn collector(name: &str) -> Box<g6_metrics::runtime::Tikv<prometheus::IntCounter>> {
    Box::new(g6_metrics::runtime::Tikv(counter(name)))
}

#[test]
fn duplicates_are_counted_and_fail_only_when_asked() {
    let first = counter("user_jobs_total");
    g6_metrics::register(Box::new(g6_metrics::runtime::Tikv(first.clone())))
        .expect("first registration");
    first.inc_by(7);
    // The foreign collector is exposed by the same encoder as the generated metrics.
    assert_eq!(value("user_jobs_total", &[]), Some(7.0));
    std::env::remove_var("G6_METRICS_FAIL_ON_DUP");
    g6_metrics::register(collector("user_jobs_total"))
        .expect("a duplicate is not an error by default");
    assert_eq!(
        value("g6_metric_duplicates_total", &[("name", "user_jobs_total")]),
        Some(1.0)
    );

    std::env::set_var("G6_METRICS_FAIL_ON_DUP", "TRUE");
    match g6_metrics::register(collector("user_jobs_total")) {
        Err(RegisterError::Duplicate(name)) => assert_eq!(name, "user_jobs_total"),
        other => panic!("expected a duplicate error, got {other:?}"),
    }
    assert_eq!(
        value("g6_metric_duplicates_total", &[("name", "user_jobs_total")]),
        Some(2.0)
    );

    // Clashing with a generated metric counts too.
    g6_metrics::metrics::init_all();
    std::env::set_var("G6_METRICS_FAIL_ON_DUP", "0");
    g6_metrics::register(collector("g6_sse_slow_client_disconnects_total")).unwrap();
    assert_eq!(
        value(
            "g6_metric_duplicates_total",
            &[("name", "g6_sse_slow_client_disconnects_total")]
        ),
        Some(1.0)
    );
}
