//! The growth guard against a baseline, with G6_CARDINALITY_FAIL_ON_EXCESS. The guard
//! reads its settings from the environment, so each case runs in a process of its own
//! with its variables set there (never `set_var` in this threaded process).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

mod common;

use common::{in_own_process_with_env, value};
use g6_metrics::guard::GuardError;
use std::path::PathBuf;

/// The baseline knew 2 label sets of g6_stream_events_total; the cases use 5 (+150%).
const BASELINE: &str =
    "# g6 cardinality snapshot v1\ng6_stream_events_total 2\ng6_bus_subscribers 0\n";

/// Run `body` in a process of its own with a baseline file holding `baseline`, a
/// snapshot path, the guard settings `settings` (every other one unset), and five
/// label sets of g6_stream_events_total emitted. `body` gets the snapshot path.
fn case(
    test: &str,
    baseline: &str,
    settings: &[(&str, &str)],
    body: impl FnOnce(&std::path::Path),
) {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("growth_guard")
        .join(test);
    let baseline_path = dir.join("baseline.txt");
    let snapshot: PathBuf = dir.join("snapshot.txt");
    let mut env: Vec<(&str, Option<&str>)> = vec![
        ("G6_CARDINALITY_BASELINE", baseline_path.to_str()),
        ("G6_CARDINALITY_SNAPSHOT", snapshot.to_str()),
        ("G6_CARDINALITY_ALLOW_GROWTH_PERCENT", None),
        ("G6_CARDINALITY_FAIL_ON_EXCESS", None),
    ];
    for (key, v) in settings {
        env.retain(|(k, _)| k != key);
        env.push((key, Some(v)));
    }
    in_own_process_with_env(module_path!(), test, &env, || {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(&baseline_path, baseline).unwrap();
        for kind in ["a", "b", "c", "d", "e"] {
            g6_metrics::metrics::stream_events_total(kind).inc();
        }
        body(&snapshot);
    });
}

#[test]
fn growth_is_reported_in_gauges_and_the_snapshot_without_failing_init() {
    case(
        "growth_is_reported_in_gauges_and_the_snapshot_without_failing_init",
        BASELINE,
        &[],
        |snapshot| {
            let report = g6_metrics::init().expect("growth alone does not fail init");
            assert_eq!(
                report.offenders,
                vec![("g6_stream_events_total".to_string(), 2, 5)]
            );
            assert!((report.max_growth_ratio - 1.5).abs() < 1e-9);
            assert_eq!(value("g6_cardinality_guard_offenders", &[]), Some(1.0));
            assert!((value("g6_cardinality_guard_growth_ratio", &[]).unwrap() - 1.5).abs() < 1e-9);
            assert!(
                value("g6_cardinality_guard_new_groups", &[]).unwrap() >= 1.0,
                "closed metrics absent from the baseline are new groups"
            );
            assert!(value("g6_cardinality_guard_last_run_timestamp_seconds", &[]).unwrap() > 1.7e9);
            let snap = std::fs::read_to_string(snapshot).unwrap();
            assert!(snap.contains("g6_stream_events_total 5\n"), "{snap}");
        },
    );
}

#[test]
fn growth_within_the_allowance_has_no_offenders() {
    case(
        "growth_within_the_allowance_has_no_offenders",
        BASELINE,
        &[("G6_CARDINALITY_ALLOW_GROWTH_PERCENT", "200")],
        |_| assert!(g6_metrics::init().unwrap().offenders.is_empty()),
    );
}

#[test]
fn growth_over_the_allowance_fails_init_under_fail_on_excess() {
    case(
        "growth_over_the_allowance_fails_init_under_fail_on_excess",
        BASELINE,
        &[
            ("G6_CARDINALITY_ALLOW_GROWTH_PERCENT", "10"),
            ("G6_CARDINALITY_FAIL_ON_EXCESS", "yes"),
        ],
        |_| {
            match g6_metrics::init() {
                Err(GuardError::Excess(r)) => assert_eq!(r.offenders.len(), 1),
                other => panic!("expected Excess, got {other:?}"),
            }
            let msg = g6_metrics::init().unwrap_err().to_string();
            assert!(msg.contains("g6_stream_events_total 2->5"), "{msg}");
        },
    );
}

#[test]
fn fail_on_excess_no_is_false_not_non_empty_means_true() {
    case(
        "fail_on_excess_no_is_false_not_non_empty_means_true",
        BASELINE,
        &[
            ("G6_CARDINALITY_ALLOW_GROWTH_PERCENT", "10"),
            ("G6_CARDINALITY_FAIL_ON_EXCESS", "no"),
        ],
        |_| assert!(g6_metrics::init().is_ok()),
    );
}

#[test]
fn a_malformed_allowance_is_an_error_naming_the_variable() {
    case(
        "a_malformed_allowance_is_an_error_naming_the_variable",
        BASELINE,
        &[("G6_CARDINALITY_ALLOW_GROWTH_PERCENT", "ten")],
        |_| {
            assert!(
                matches!(g6_metrics::init(), Err(GuardError::Config(m)) if m.contains("G6_CARDINALITY_ALLOW_GROWTH_PERCENT"))
            );
        },
    );
}

#[test]
fn a_malformed_baseline_is_an_error_naming_its_line() {
    case(
        "a_malformed_baseline_is_an_error_naming_its_line",
        "g6_stream_events_total two\n",
        &[],
        |_| {
            assert!(
                matches!(g6_metrics::init(), Err(GuardError::Baseline(m)) if m.contains("baseline.txt:1"))
            );
        },
    );
}
