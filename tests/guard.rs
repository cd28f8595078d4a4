//! The cardinality guard under threads: exact budgets, exact totals, bounded memory.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

mod common;

use common::{samples, value};
use g6_metrics::metrics;

#[test]
fn two_threads_100k_distinct_values_on_a_budget_50_counter() {
    // g6_provider_quotes_total{provider, index} has cardinality_budget: 50.
    const PER_THREAD: usize = 50_000;
    let threads: Vec<_> = (0..2)
        .map(|t| {
            std::thread::spawn(move || {
                for i in 0..PER_THREAD {
                    let index = format!("IDX{t}-{i}");
                    metrics::provider_quotes_total("guard-test", &index).inc();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let all = samples();
    let series: Vec<_> = all
        .iter()
        .filter(|s| s.name == "g6_provider_quotes_total")
        .collect();
    assert!(!series.is_empty(), "family exported");
    let overflow: Vec<_> = series
        .iter()
        .filter(|s| s.labels.iter().all(|(_, v)| v == "__overflow__"))
        .collect();
    assert_eq!(overflow.len(), 1, "exactly one overflow series");
    assert_eq!(
        series.len() - overflow.len(),
        50,
        "exactly the budget of normal series"
    );
    let total: f64 = series.iter().map(|s| s.value).sum();
    assert_eq!(
        total,
        (2 * PER_THREAD) as f64,
        "no increment lost or double-counted"
    );
    let folded = (2 * PER_THREAD - 50) as f64;
    assert_eq!(overflow[0].value, folded);
    assert_eq!(
        value(
            "g6_cardinality_overflow_total",
            &[("metric", "g6_provider_quotes_total")]
        ),
        Some(folded),
        "overflow counter equals the folded increments"
    );
    // Memory stays bounded: the guard knows only the budget's worth of label sets.
    let usage = g6_metrics::guard::usage();
    let u = usage
        .iter()
        .find(|u| u.metric == "g6_provider_quotes_total")
        .unwrap();
    assert_eq!(u.series, 50);
    assert_eq!(u.overflowed as f64, folded);
}

#[test]
fn gauges_over_budget_drop_the_sample() {
    // g6_provider_last_success_timestamp_seconds{provider} has budget 10.
    for i in 0..15 {
        metrics::provider_last_success_timestamp_seconds(&format!("p{i}")).set(i as f64);
    }
    assert_eq!(
        value(
            "g6_provider_last_success_timestamp_seconds",
            &[("provider", "p9")]
        ),
        Some(9.0)
    );
    assert_eq!(
        value(
            "g6_provider_last_success_timestamp_seconds",
            &[("provider", "p10")]
        ),
        None
    );
    assert_eq!(
        value(
            "g6_provider_last_success_timestamp_seconds",
            &[("provider", "__overflow__")]
        ),
        None,
        "gauges never fold: a sum of unrelated gauges means nothing"
    );
    assert_eq!(
        value(
            "g6_cardinality_overflow_total",
            &[("metric", "g6_provider_last_success_timestamp_seconds")]
        ),
        Some(5.0)
    );
}

#[test]
fn histograms_over_budget_keep_exact_counts() {
    // g6_bus_publish_latency_seconds{bus} has budget 10.
    for i in 0..25 {
        metrics::bus_publish_latency_seconds(&format!("bus{i}")).observe(0.001);
    }
    assert_eq!(
        value("g6_bus_publish_latency_seconds", &[("bus", "__overflow__")]),
        Some(15.0)
    );
    let total: f64 = (0..10)
        .filter_map(|i| {
            value(
                "g6_bus_publish_latency_seconds",
                &[("bus", &format!("bus{i}"))],
            )
        })
        .sum();
    assert_eq!(total, 10.0);
}

#[test]
fn overflow_keeps_closed_label_values_and_folds_only_open_ones() {
    use g6_metrics::labels::Result as Outcome;
    // g6_api_calls_total{provider, endpoint, result} has cardinality_budget: 90.
    for i in 0..90 {
        metrics::api_calls_total("fill", &format!("e{i}"), Outcome::Ok).inc();
    }
    metrics::api_calls_total("late", "x", Outcome::Error).inc_by(3);
    metrics::api_calls_total("late", "y", Outcome::Error).inc_by(4);
    metrics::api_calls_total("late", "z", Outcome::Timeout).inc();
    let folded = |result: &str| {
        value(
            "g6_api_calls_total",
            &[
                ("provider", "__overflow__"),
                ("endpoint", "__overflow__"),
                ("result", result),
            ],
        )
    };
    assert_eq!(
        folded("error"),
        Some(7.0),
        "errors stay errors past the budget"
    );
    assert_eq!(folded("timeout"), Some(1.0));
    assert_eq!(
        folded("ok"),
        None,
        "no overflow series for a combination never folded"
    );
    assert!(
        samples()
            .iter()
            .filter(|s| s.name == "g6_api_calls_total")
            .all(|s| s
                .labels
                .iter()
                .all(|(k, v)| k != "result" || v != "__overflow__")),
        "a closed label never reads __overflow__"
    );
}
