//! A family switched on by the environment, switched on (tests/fixtures/gated.yml,
//! `GATED_ENABLE_EXTRA=1`): it behaves like any other family, warm series included.
//! Its own process: whether the family is on is read once per process.

use g6_example_small::gated::{labels, metrics};
mod common;
use common::exposition;

#[test]
fn a_family_whose_variable_is_set_exports_its_warm_series_and_its_readings() {
    std::env::set_var("GATED_ENABLE_EXTRA", "1");
    g6_example_small::gated::init().expect("init");
    let text = exposition();
    let has = |text: &str, line: &str| text.lines().any(|l| l == line);
    // Warm from init, as in any family.
    for line in [
        r#"gated_extra_calls_total{result="ok"} 0"#,
        r#"gated_extra_calls_total{result="error"} 0"#,
        r#"gated_extra_quotes_total{index="NIFTY"} 0"#,
        "gated_extra_latency_seconds_count 0",
    ] {
        assert!(has(&text, line), "missing `{line}` in:\n{text}");
    }
    metrics::extra_calls_total(labels::Result::Error).inc();
    metrics::extra_exposure("NIFTY").set(2.5);
    let text = exposition();
    for line in [
        r#"gated_extra_calls_total{result="error"} 1"#,
        r#"gated_extra_exposure{index="NIFTY"} 2.5"#,
        r#"gated_cardinality_series{metric="gated_extra_exposure"} 1"#,
    ] {
        assert!(has(&text, line), "missing `{line}` in:\n{text}");
    }
    let page = g6_runtime::exporter::StatusPage::new().render();
    assert!(
        page.contains("<tr><td><code>extra</code></td><td><code>GATED_ENABLE_EXTRA</code></td><td>enabled</td></tr>"),
        "{page}"
    );
}
