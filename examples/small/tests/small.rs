//! The snapshotted generator output compiles and works.

use g6_example_small::{labels, metrics, spec};
mod common;
use common::exposition;

#[test]
fn keyword_prelude_and_odd_value_labels_work() {
    g6_example_small::init().expect("init");
    metrics::requests_total("get", labels::Result::Ok).inc_by(2);
    metrics::requests_total_with("get", labels::Result::Error).inc();
    metrics::queue_depth(labels::Tier::V5xx).set(4.0);
    metrics::busy_seconds_total().inc_by(0.25);
    metrics::wait_seconds().observe(0.05);
    let text = exposition();
    for line in [
        r#"demo_requests_total{type="get",result="ok"} 2"#,
        r#"demo_requests_total{type="get",result="error"} 1"#,
        r#"demo_queue_depth{tier="5xx"} 4"#,
        "demo_busy_seconds_total 0.25",
        r#"demo_wait_seconds_bucket{le="0.1"} 1"#,
        r#"demo_cardinality_series{metric="demo_requests_total"} 2"#,
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing `{line}` in:\n{text}"
        );
    }
    // A gauge is never warm: the tiers without a reading have no series.
    assert!(
        !text.contains(r#"demo_queue_depth{tier="gold"}"#),
        "an unread gauge series is exported:\n{text}"
    );
    assert_eq!("5xx".parse::<labels::Tier>(), Ok(labels::Tier::V5xx));
    assert_eq!(spec::NAMESPACE, "demo");
}

#[test]
#[allow(deprecated)]
fn deprecated_metric_still_works_behind_allow() {
    metrics::legacy_items().set(3.0);
    assert!(exposition().lines().any(|l| l == "demo_legacy_items 3"));
}
