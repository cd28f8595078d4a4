//! A family switched on by the environment, left off (tests/fixtures/gated.yml,
//! `enabled_by: GATED_ENABLE_EXTRA` unset): its accessors are no-ops. Its own process:
//! whether the family is on is read once per process.

use g6_example_small::gated::{labels, metrics};
mod common;
use common::{exposition, series_of};

#[test]
fn a_family_whose_variable_is_unset_has_no_series_uses_no_budget_and_says_so() {
    std::env::remove_var("GATED_ENABLE_EXTRA");
    g6_example_small::gated::init().expect("init");
    // Every accessor form, many label sets: none of it becomes a series.
    for i in 0..50 {
        metrics::extra_calls_total(labels::Result::Error).inc();
        metrics::extra_quotes_total(&format!("INDEX{i}")).inc();
        metrics::extra_exposure(&format!("INDEX{i}")).set(f64::from(i));
        metrics::extra_latency_seconds().observe(0.5);
    }
    let text = exposition();
    for name in [
        "gated_extra_calls_total",
        "gated_extra_quotes_total",
        "gated_extra_exposure",
        "gated_extra_latency_seconds",
    ] {
        assert!(
            series_of(&text, name).is_empty(),
            "{name} is in a disabled family:\n{text}"
        );
        // No slot of the budget, and nothing folded into an overflow series.
        assert!(
            text.lines()
                .any(|l| l == format!(r#"gated_cardinality_series{{metric="{name}"}} 0"#)),
            "{name} must use no budget:\n{text}"
        );
        assert!(
            !text.contains(&format!(
                r#"gated_cardinality_overflow_total{{metric="{name}"}}"#
            )),
            "{text}"
        );
    }
    // The family that is always on is untouched by the other's switch.
    assert!(
        text.lines()
            .any(|l| l == r#"gated_wait_seconds_count{result="error",buckets_version="2"} 0"#),
        "{text}"
    );
    // The status page names the family, its variable and that it is off.
    let page = g6_runtime::exporter::StatusPage::new().render();
    assert!(
        page.contains("<tr><td><code>extra</code></td><td><code>GATED_ENABLE_EXTRA</code></td><td>disabled (set GATED_ENABLE_EXTRA=1 to enable)</td></tr>"),
        "{page}"
    );
}
