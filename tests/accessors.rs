//! The generated accessors against the real registry.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

mod common;

use common::{series_count, value};
use g6_metrics::{labels, metrics, spec};

#[test]
fn closed_label_counter_counts_into_its_own_series() {
    metrics::option_rows_skipped_total(labels::SkipReason::ZeroSpot).inc();
    metrics::option_rows_skipped_total(labels::SkipReason::ZeroSpot).inc_by(4);
    metrics::option_rows_skipped_total(labels::SkipReason::Expired).inc();
    assert_eq!(
        value(
            "g6_option_rows_skipped_total",
            &[("skip_reason", "zero_spot")]
        ),
        Some(5.0)
    );
    assert_eq!(
        value(
            "g6_option_rows_skipped_total",
            &[("skip_reason", "expired")]
        ),
        Some(1.0)
    );
    // Every closed value exists from the first use, at zero where nothing was emitted.
    assert_eq!(
        value(
            "g6_option_rows_skipped_total",
            &[("skip_reason", "bad_expiry")]
        ),
        Some(0.0)
    );
    assert_eq!(
        series_count("g6_option_rows_skipped_total"),
        labels::SkipReason::ALL.len()
    );
}

#[test]
fn closed_handles_are_the_same_static_series() {
    let a = metrics::option_contracts_new_total(labels::Dte::Leap) as *const _;
    let b = metrics::option_contracts_new_total(labels::Dte::Leap) as *const _;
    let c = metrics::option_contracts_new_total(labels::Dte::Long) as *const _;
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn mixed_radix_index_matches_the_label_values() {
    for mode in labels::WriteMode::ALL {
        metrics::panel_writes_total(mode).inc_by(mode.index() as u64 + 10);
    }
    assert_eq!(
        value("g6_panel_writes_total", &[("write_mode", "diff")]),
        Some(10.0)
    );
    assert_eq!(
        value("g6_panel_writes_total", &[("write_mode", "full")]),
        Some(11.0)
    );
}

#[test]
fn open_labels_take_strings_and_keep_handles() {
    let h = metrics::api_calls_total_with("nse", "option-chain", labels::Result::Timeout);
    for _ in 0..3 {
        h.inc();
    }
    metrics::api_calls_total("nse", "option-chain", labels::Result::Timeout).inc();
    assert_eq!(
        value(
            "g6_api_calls_total",
            &[
                ("provider", "nse"),
                ("endpoint", "option-chain"),
                ("result", "timeout")
            ]
        ),
        Some(4.0)
    );
    assert!(std::ptr::eq(
        h,
        metrics::api_calls_total("nse", "option-chain", labels::Result::Timeout)
    ));
}

#[test]
fn gauges_set_and_move() {
    let g = metrics::option_open_interest(
        "NIFTY",
        labels::Mny::Atm,
        labels::Dte::Short,
        labels::Source::Replay,
    );
    g.set(1500.0);
    g.add(25.0);
    g.sub(5.0);
    assert_eq!(
        value(
            "g6_option_open_interest",
            &[
                ("index", "NIFTY"),
                ("mny", "atm"),
                ("dte", "short"),
                ("source", "replay")
            ]
        ),
        Some(1520.0)
    );
}

#[test]
fn histograms_observe_and_time() {
    let h = metrics::lifecycle_scan_seconds();
    let before = h.sample_count();
    h.observe(0.2);
    h.observe(f64::NAN); // dropped, never poisons the sum
    {
        let _t = h.start_timer();
    }
    let elapsed = h.start_timer().stop_and_record();
    assert!(elapsed >= 0.0);
    assert_eq!(h.sample_count(), before + 3);
    assert!(h.sample_sum().is_finite());
    let discarded = h.start_timer();
    discarded.stop_and_discard();
    assert_eq!(h.sample_count(), before + 3);
}

#[test]
fn float_counters_take_fractions_and_refuse_negative() {
    let c = metrics::cpu_seconds_total();
    let before = c.get();
    c.inc_by(0.25);
    c.inc_by(-3.0);
    c.inc_by(f64::NAN);
    c.inc_by(f64::INFINITY);
    assert!((c.get() - before - 0.25).abs() < 1e-12);
}

#[test]
fn an_open_gauge_over_budget_drops_the_sample_instead_of_folding_it() {
    // g6_metrics_spec_hash_info has budget 1: the second label set is over budget,
    // and gauges drop over-budget samples instead of folding them.
    metrics::metrics_spec_hash_info("first").set(1.0);
    metrics::metrics_spec_hash_info("second").set(1.0);
    assert_eq!(
        value("g6_metrics_spec_hash_info", &[("hash", "first")]),
        Some(1.0)
    );
    assert_eq!(
        value("g6_metrics_spec_hash_info", &[("hash", "second")]),
        None
    );
    assert_eq!(
        value("g6_metrics_spec_hash_info", &[("hash", "__overflow__")]),
        None
    );
}

#[test]
fn label_enums_round_trip_through_strings() {
    for v in labels::Mny::ALL {
        assert_eq!(v.as_str().parse::<labels::Mny>(), Ok(v));
        assert_eq!(v.to_string(), v.as_str());
    }
    let err = "atmm".parse::<labels::Mny>().unwrap_err();
    assert_eq!(
        err.to_string(),
        "`atmm` is not a value of label `mny`; expected one of: deep_itm, itm, atm, otm, deep_otm"
    );
    // A label called `result` must not shadow the prelude's Result in generated code.
    let r: Result<labels::Result, _> = "ok".parse();
    assert_eq!(r, Ok(labels::Result::Ok));
}

#[test]
fn spec_table_describes_every_metric() {
    assert!(spec::METRICS.len() >= 60);
    let info = spec::METRICS
        .iter()
        .find(|m| m.name == "g6_option_open_interest")
        .unwrap();
    assert_eq!(info.budget, 375);
    assert_eq!(info.label_names(), ["index", "mny", "dte", "source"]);
    assert!(!info.fully_closed());
    assert_eq!(spec::NAMESPACE, "g6");
}

#[test]
fn init_all_creates_every_warm_closed_series_at_zero_and_no_unread_gauge() {
    metrics::init_all();
    let warm: Vec<_> = spec::METRICS
        .iter()
        .filter(|m| m.fully_closed() && m.warm_all)
        .collect();
    assert!(warm.len() >= 20, "closed counters and histograms are warm");
    for info in warm {
        assert_ne!(info.kind, g6_runtime::MetricKind::Gauge, "{}", info.name);
        let expected = info.closed_combinations().len();
        assert_eq!(series_count(info.name), expected, "{}", info.name);
    }
    // A gauge is never warm: no reading, no series (no test here sets this one).
    let uptime = spec::METRICS
        .iter()
        .find(|m| m.name == "g6_process_uptime_seconds")
        .unwrap();
    assert!(uptime.fully_closed() && !uptime.warm_all);
    assert_eq!(series_count("g6_process_uptime_seconds"), 0);
}
