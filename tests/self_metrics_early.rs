//! Self-metric updates that happen before any metric exists, in their own process:
//! nothing deadlocks (an update queued for a store is never applied inside that store's
//! own initialisation), nothing is lost, and a foreign collector that takes a generated
//! metric's name first keeps it without the scrape carrying the name twice.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

mod common;

use common::value;
use std::sync::mpsc;
use std::time::Duration;

#[g6_metrics::safe_emit(emitter = "early::failure")]
fn fails_early() -> Result<(), String> {
    Err("before any metric".into())
}

struct Foreign;

impl g6_metrics::Collector for Foreign {
    fn names(&self) -> Vec<String> {
        vec!["g6_sse_connections".into()]
    }
    fn collect(&self) -> Vec<g6_metrics::runtime::Family> {
        vec![g6_metrics::runtime::Family {
            name: "g6_sse_connections".into(),
            help: "a foreign collector took this name first".into(),
            kind: g6_metrics::MetricKind::Gauge,
            samples: vec![g6_metrics::runtime::Sample {
                labels: Vec::new(),
                value: g6_metrics::runtime::SampleValue::Gauge(7.0),
            }],
        }]
    }
}

/// Run `f` on a thread and fail (instead of hanging) if it does not finish.
fn within(seconds: u64, f: impl FnOnce() + Send + 'static) {
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        f();
        let _ = done.send(());
    });
    finished
        .recv_timeout(Duration::from_secs(seconds))
        .expect("deadlock: did not finish");
}

#[test]
fn early_updates_are_kept_and_never_deadlock() {
    // Before any store exists: a failure, and a collector claiming a spec metric's name.
    assert_eq!(fails_early(), None);
    g6_metrics::register(Box::new(Foreign)).expect("the name is free so far");
    within(20, || {
        // The first store built is the very one the queued update targets.
        let _ = g6_metrics::metrics::emission_failures_total("first-use");
        g6_metrics::init().expect("init");
    });
    assert_eq!(
        value(
            "g6_emission_failures_total",
            &[("emitter", "early::failure")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            "g6_emission_failure_once_total",
            &[("emitter", "early::failure")]
        ),
        Some(1.0)
    );
    // The generated g6_sse_connections came second: counted as a duplicate, not exported.
    assert_eq!(
        value(
            "g6_metric_duplicates_total",
            &[("name", "g6_sse_connections")]
        ),
        Some(1.0)
    );
    let text = String::from_utf8(g6_metrics::exporter::encode_all()).expect("UTF-8");
    assert_eq!(
        text.matches("# TYPE g6_sse_connections ").count(),
        1,
        "{text}"
    );
    assert_eq!(value("g6_sse_connections", &[]), Some(7.0));
}
