//! Removing series from the runtime's open-label stores: the budget slot comes back,
//! the series leaves the exposition and the series-in-use gauge, kept handles stay
//! valid (detached, then live again when their label set is created again), and
//! creating and removing from threads keeps the guard's count exact.
//!
//! Its own binary: the registry is process-wide. Each test uses metrics no other test
//! here touches, so they can run in parallel.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

mod common;

use common::{find_sample, parse_exposition, samples, value, Sample};
use g6_metrics::{guard, metrics, spec};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Series in use of `metric`, as the guard counts them.
fn in_use(metric: &str) -> usize {
    guard::usage()
        .into_iter()
        .find(|u| u.metric == metric)
        .map_or(0, |u| u.series)
}

/// What a scrape returns (hooks, flush, governance gauges, encoding).
fn scrape() -> Vec<Sample> {
    let text = String::from_utf8(g6_metrics::exporter::render_metrics()).expect("UTF-8");
    parse_exposition(&text)
}

/// Series of `name` whose label `label` is `value`.
fn series_with<'a>(all: &'a [Sample], name: &str, label: &str, value: &str) -> Vec<&'a Sample> {
    all.iter()
        .filter(|s| s.name == name && s.labels.iter().any(|(k, v)| k == label && v == value))
        .collect()
}

#[test]
fn removing_a_gauge_frees_its_budget_slot_for_a_new_label_set() {
    let name = "g6_provider_last_success_timestamp_seconds";
    let budget = spec::INFO_PROVIDER_LAST_SUCCESS_TIMESTAMP_SECONDS.budget as usize;
    for i in 0..budget {
        metrics::provider_last_success_timestamp_seconds(&format!("rm-p{i}")).set(i as f64);
    }
    let late = "rm-late";
    metrics::provider_last_success_timestamp_seconds(late).set(42.0);
    assert_eq!(
        value(name, &[("provider", late)]),
        None,
        "over budget, a gauge's sample is dropped"
    );
    assert_eq!(in_use(name), budget);

    assert!(metrics::remove_provider_last_success_timestamp_seconds(
        "rm-p3"
    ));
    assert!(
        !metrics::remove_provider_last_success_timestamp_seconds("rm-p3"),
        "a second removal finds nothing"
    );
    assert!(!metrics::remove_provider_last_success_timestamp_seconds(
        "never-created"
    ));
    assert_eq!(in_use(name), budget - 1, "the guard's count went down");
    let scraped = scrape();
    assert_eq!(find_sample(&scraped, name, &[("provider", "rm-p3")]), None);
    assert_eq!(
        find_sample(&scraped, name, &[("provider", "rm-p4")]),
        Some(4.0)
    );
    assert_eq!(
        find_sample(&scraped, "g6_cardinality_series", &[("metric", name)]),
        Some((budget - 1) as f64),
        "the series-in-use gauge dropped"
    );

    metrics::provider_last_success_timestamp_seconds(late).set(42.0);
    assert_eq!(
        value(name, &[("provider", late)]),
        Some(42.0),
        "the freed slot takes the new label set"
    );
    assert_eq!(in_use(name), budget);
}

#[test]
fn remove_matching_drops_every_series_of_one_label_value_across_metrics() {
    use g6_metrics::labels::Result as Outcome;
    for index in ["RM-GONE", "RM-KEEP"] {
        metrics::expiry_resolutions_total(index, Outcome::Ok).inc_by(3);
        metrics::expiry_resolutions_total(index, Outcome::Error).inc();
        metrics::indices_processed_total(index).inc();
        metrics::provider_quotes_total("rm-a", index).inc_by(5);
        metrics::provider_quotes_total("rm-b", index).inc_by(6);
    }
    let before = in_use("g6_provider_quotes_total");

    assert_eq!(
        metrics::remove_matching("index", "RM-GONE"),
        5,
        "two results, one processed counter, two providers"
    );
    assert_eq!(in_use("g6_provider_quotes_total"), before - 2);
    let all = samples();
    for name in [
        "g6_expiry_resolutions_total",
        "g6_indices_processed_total",
        "g6_provider_quotes_total",
    ] {
        assert!(
            series_with(&all, name, "index", "RM-GONE").is_empty(),
            "{name}"
        );
        assert!(
            !series_with(&all, name, "index", "RM-KEEP").is_empty(),
            "{name}"
        );
    }
    assert_eq!(
        find_sample(
            &all,
            "g6_provider_quotes_total",
            &[("provider", "rm-b"), ("index", "RM-KEEP")]
        ),
        Some(6.0)
    );
    assert_eq!(
        metrics::remove_matching("index", "RM-GONE"),
        0,
        "nothing left"
    );
    assert_eq!(
        metrics::remove_matching("no_such_label", "RM-KEEP"),
        0,
        "no metric has that label"
    );
}

#[test]
fn a_kept_handle_is_detached_by_removal_and_live_again_when_its_label_set_returns() {
    let gauge = metrics::bus_queue_depth_with("rm-kept");
    gauge.set(7.0);
    let counter = metrics::bus_dedupe_hits_total_with("rm-kept");
    counter.inc_by(5);
    let histogram = metrics::bus_publish_latency_seconds_with("rm-kept");
    histogram.observe(0.5);

    assert!(metrics::remove_bus_queue_depth("rm-kept"));
    assert!(metrics::remove_bus_dedupe_hits_total("rm-kept"));
    assert!(metrics::remove_bus_publish_latency_seconds("rm-kept"));
    // Writes through kept handles: accepted, no panic, not exported.
    gauge.set(9.0);
    counter.inc_by(11);
    histogram.observe(1.0);
    assert_eq!(gauge.get(), 9.0, "the handle is still valid memory");
    let all = scrape();
    for name in [
        "g6_bus_queue_depth",
        "g6_bus_dedupe_hits_total",
        "g6_bus_publish_latency_seconds_count",
    ] {
        assert!(
            series_with(&all, name, "bus", "rm-kept").is_empty(),
            "{name}"
        );
    }

    // The label set again: the same handles, from zero, exported again.
    let gauge_again = metrics::bus_queue_depth_with("rm-kept");
    let counter_again = metrics::bus_dedupe_hits_total_with("rm-kept");
    let histogram_again = metrics::bus_publish_latency_seconds_with("rm-kept");
    assert!(std::ptr::eq(gauge, gauge_again));
    assert!(std::ptr::eq(counter, counter_again));
    assert!(std::ptr::eq(histogram, histogram_again));
    assert_eq!(gauge.get(), 0.0);
    assert_eq!(counter.get(), 0);
    assert_eq!(histogram.sample_count(), 0);
    assert_eq!(histogram.sample_sum(), 0.0);
    counter.inc();
    histogram.observe(0.25);
    let all = scrape();
    assert_eq!(
        find_sample(&all, "g6_bus_dedupe_hits_total", &[("bus", "rm-kept")]),
        Some(1.0),
        "the kept handle writes into the live series again"
    );
    assert_eq!(
        find_sample(
            &all,
            "g6_bus_publish_latency_seconds_count",
            &[("bus", "rm-kept")]
        ),
        Some(1.0)
    );
    assert_eq!(
        find_sample(&all, "g6_bus_queue_depth", &[("bus", "rm-kept")]),
        Some(0.0)
    );
}

#[test]
fn churning_label_sets_allocates_at_most_twice_the_budget_of_handles() {
    let budget = spec::INFO_CS_INGEST_ROWS_TOTAL.budget as usize;
    let mut handles = HashSet::new();
    for round in 0..10 {
        for i in 0..budget {
            let h = metrics::cs_ingest_rows_total_with(&format!("rm-churn-{round}-{i}"));
            h.inc();
            handles.insert(h as *const _ as usize);
        }
        assert_eq!(in_use("g6_cs_ingest_rows_total"), budget);
        for i in 0..budget {
            assert!(metrics::remove_cs_ingest_rows_total(&format!(
                "rm-churn-{round}-{i}"
            )));
        }
        assert_eq!(in_use("g6_cs_ingest_rows_total"), 0);
    }
    assert!(
        handles.len() <= 2 * budget,
        "{} handles for {} distinct label sets (budget {budget})",
        handles.len(),
        10 * budget
    );
    assert!(
        samples()
            .iter()
            .all(|s| s.name != "g6_cs_ingest_rows_total"),
        "every churned series is gone"
    );
}

#[test]
fn creating_and_removing_from_threads_keeps_the_guard_count_exact() {
    let name = "g6_stream_gate_skips_total";
    let budget = spec::INFO_STREAM_GATE_SKIPS_TOTAL.budget as usize;
    // More label values than the budget: creations also race for the last slot.
    let values: Arc<Vec<String>> = Arc::new((0..budget + 6).map(|i| format!("rm-r{i}")).collect());
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut worst = 0;
            while !stop.load(Ordering::Relaxed) {
                worst = worst.max(in_use(name));
                std::thread::yield_now();
            }
            worst
        })
    };
    let workers: Vec<_> = (0..4)
        .map(|t| {
            let values = Arc::clone(&values);
            std::thread::spawn(move || {
                for i in 0..20_000usize {
                    let v = &values[(i * 7 + t * 13) % values.len()];
                    if (i + t) % 3 == 0 {
                        metrics::remove_stream_gate_skips_total(v);
                    } else {
                        metrics::stream_gate_skips_total(v).inc();
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    stop.store(true, Ordering::Relaxed);
    let worst = watcher.join().expect("watcher");
    assert!(worst <= budget, "{worst} series in use, budget {budget}");

    let counted = in_use(name);
    let exported = samples()
        .iter()
        .filter(|s| s.name == name && s.labels.iter().all(|(_, v)| v != "__overflow__"))
        .count();
    assert_eq!(
        counted, exported,
        "the guard counts exactly the series that exist"
    );
    // The spec's warm series (reason="unchanged") exists once another test of this
    // process has run init(): it is counted and removed like the others.
    let removed = values
        .iter()
        .map(String::as_str)
        .chain(["unchanged"])
        .filter(|v| metrics::remove_stream_gate_skips_total(v))
        .count();
    assert_eq!(
        removed, counted,
        "every counted series could be removed once"
    );
    assert_eq!(in_use(name), 0);
}
