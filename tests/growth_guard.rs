//! The growth guard against a baseline, with G6_CARDINALITY_FAIL_ON_EXCESS.
//! Environment variables are process-wide, so this file holds one test.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

mod common;

use common::value;
use g6_metrics::guard::GuardError;

#[test]
fn growth_over_the_baseline_fails_init_only_when_asked() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("growth_guard");
    std::fs::create_dir_all(&dir).unwrap();
    let baseline = dir.join("baseline.txt");
    let snapshot = dir.join("snapshot.txt");
    // The baseline knew 2 label sets of g6_stream_events_total; we will use 5 (+150%).
    std::fs::write(
        &baseline,
        "# g6 cardinality snapshot v1\ng6_stream_events_total 2\ng6_bus_subscribers 0\n",
    )
    .unwrap();
    for kind in ["a", "b", "c", "d", "e"] {
        g6_metrics::metrics::stream_events_total(kind).inc();
    }
    std::env::set_var("G6_CARDINALITY_BASELINE", &baseline);
    std::env::set_var("G6_CARDINALITY_SNAPSHOT", &snapshot);

    // Without FAIL_ON_EXCESS: reported in gauges, init succeeds.
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
    let snap = std::fs::read_to_string(&snapshot).unwrap();
    assert!(snap.contains("g6_stream_events_total 5\n"), "{snap}");

    // Within the allowance: no offenders.
    std::env::set_var("G6_CARDINALITY_ALLOW_GROWTH_PERCENT", "200");
    assert!(g6_metrics::init().unwrap().offenders.is_empty());

    // With FAIL_ON_EXCESS: init returns the error.
    std::env::set_var("G6_CARDINALITY_ALLOW_GROWTH_PERCENT", "10");
    std::env::set_var("G6_CARDINALITY_FAIL_ON_EXCESS", "yes");
    match g6_metrics::init() {
        Err(GuardError::Excess(r)) => assert_eq!(r.offenders.len(), 1),
        other => panic!("expected Excess, got {other:?}"),
    }
    let msg = g6_metrics::init().unwrap_err().to_string();
    assert!(msg.contains("g6_stream_events_total 2->5"), "{msg}");

    // "no" is false, not "non-empty means true".
    std::env::set_var("G6_CARDINALITY_FAIL_ON_EXCESS", "no");
    assert!(g6_metrics::init().is_ok());

    // A malformed allowance and a malformed baseline are errors that say what to fix.
    std::env::set_var("G6_CARDINALITY_ALLOW_GROWTH_PERCENT", "ten");
    assert!(
        matches!(g6_metrics::init(), Err(GuardError::Config(m)) if m.contains("G6_CARDINALITY_ALLOW_GROWTH_PERCENT"))
    );
    std::env::remove_var("G6_CARDINALITY_ALLOW_GROWTH_PERCENT");
    std::fs::write(&baseline, "g6_stream_events_total two\n").unwrap();
    assert!(
        matches!(g6_metrics::init(), Err(GuardError::Baseline(m)) if m.contains("baseline.txt:1"))
    );
}
