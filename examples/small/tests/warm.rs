//! Warm series: what a scrape shows right after `init()`, before any event
//! (tests/fixtures/warm.yml; its own process, so nothing else has touched a series).

use g6_example_small::warm::{labels, metrics, spec};
mod common;
use common::{exposition, series_of};

#[test]
fn a_scrape_right_after_init_has_the_warm_series_at_zero_and_nothing_else() {
    g6_example_small::warm::init().expect("init");
    let text = exposition();
    let has = |line: &str| text.lines().any(|l| l == line);
    // Closed counter and unlabelled histogram: warm by default, every series at 0.
    for line in [
        r#"warm_failures_total{result="ok"} 0"#,
        r#"warm_failures_total{result="error"} 0"#,
        r#"warm_wait_seconds_bucket{le="0.1"} 0"#,
        r#"warm_wait_seconds_bucket{le="+Inf"} 0"#,
        "warm_wait_seconds_count 0",
        // Warm values of the open label `index`, times every value of `result`.
        r#"warm_fetches_total{index="NIFTY",result="ok"} 0"#,
        r#"warm_fetches_total{index="NIFTY",result="error"} 0"#,
        r#"warm_fetches_total{index="BANKNIFTY",result="ok"} 0"#,
        r#"warm_fetches_total{index="BANKNIFTY",result="error"} 0"#,
        // `warm: {tier: [gold]}` narrows a closed label.
        r#"warm_tier_calls_total{tier="gold"} 0"#,
    ] {
        assert!(has(line), "missing `{line}` in:\n{text}");
    }
    assert_eq!(series_of(&text, "warm_fetches_total").len(), 4, "{text}");
    assert_eq!(series_of(&text, "warm_tier_calls_total").len(), 1, "{text}");
    // `warm: false`, an open label without warm values, and a gauge: no series yet.
    for name in [
        "warm_retries_total",
        "warm_quotes_total",
        "warm_queue_depth",
    ] {
        assert!(
            series_of(&text, name).is_empty(),
            "{name} must not be warm:\n{text}"
        );
    }
    // Warm open label sets use the budget like any other.
    assert!(
        has(r#"warm_cardinality_series{metric="warm_fetches_total"} 4"#),
        "{text}"
    );

    // First use brings the others in: the opted-out counter at its value, only the
    // series used, and the gauge with its reading.
    metrics::retries_total(labels::Result::Error).inc();
    metrics::queue_depth(labels::Tier::Silver).set(3.0);
    metrics::tier_calls_total(labels::Tier::Silver).inc();
    let text = exposition();
    assert_eq!(
        series_of(&text, "warm_retries_total"),
        [r#"warm_retries_total{result="error"} 1"#],
        "{text}"
    );
    assert_eq!(
        series_of(&text, "warm_queue_depth"),
        [r#"warm_queue_depth{tier="silver"} 3"#],
        "{text}"
    );
    assert_eq!(
        series_of(&text, "warm_tier_calls_total"),
        [
            r#"warm_tier_calls_total{tier="gold"} 0"#,
            r#"warm_tier_calls_total{tier="silver"} 1"#
        ],
        "{text}"
    );
    assert_eq!(spec::NAMESPACE, "warm");
}
