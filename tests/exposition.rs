//! What the exporter writes, read back by a parser of the text format.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

mod common;

use common::parse_exposition;
use g6_metrics::{labels, metrics};

#[test]
fn label_values_survive_escaping() {
    let nasty = [
        "quote\"inside",
        "back\\slash",
        "new\nline",
        "निफ्टी 50 ₹",
        "tab\tand \\n literal",
    ];
    for (i, v) in nasty.iter().enumerate() {
        metrics::api_calls_total(v, "escape-test", labels::Result::Ok).inc_by(i as u64 + 1);
    }
    let text = String::from_utf8(g6_metrics::exporter::render_metrics()).expect("UTF-8 exposition");
    let samples = parse_exposition(&text);
    for (i, v) in nasty.iter().enumerate() {
        let s = samples
            .iter()
            .find(|s| {
                s.name == "g6_api_calls_total"
                    && s.labels.iter().any(|(k, val)| k == "provider" && val == v)
            })
            .unwrap_or_else(|| panic!("{v:?} did not come back intact"));
        assert_eq!(s.value, (i + 1) as f64);
        assert!(s
            .labels
            .contains(&("endpoint".to_string(), "escape-test".to_string())));
    }
}

#[test]
fn histograms_expose_buckets_sum_and_count() {
    let h = metrics::option_chain_aggregation_seconds();
    h.observe(0.0003);
    h.observe(0.02);
    let samples =
        parse_exposition(&String::from_utf8(g6_metrics::exporter::render_metrics()).unwrap());
    let bucket = |le: &str| {
        samples
            .iter()
            .find(|s| {
                s.name == "g6_option_chain_aggregation_seconds_bucket"
                    && s.labels == [("le".to_string(), le.to_string())]
            })
            .map(|s| s.value)
    };
    assert_eq!(bucket("0.00025"), Some(0.0));
    assert_eq!(bucket("0.0005"), Some(1.0));
    assert_eq!(bucket("0.025"), Some(2.0));
    assert_eq!(bucket("+Inf"), Some(2.0));
    let count = samples
        .iter()
        .find(|s| s.name == "g6_option_chain_aggregation_seconds_count")
        .unwrap();
    assert_eq!(count.value, 2.0);
}

/// The OpenMetrics exposition after a counter and a histogram moved, rendered once per
/// process: two tests read it, and a second emission would double the counter.
fn openmetrics_text() -> &'static str {
    static TEXT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TEXT.get_or_init(|| {
        use g6_metrics::runtime::encode::Format;
        g6_metrics::init().expect("init");
        metrics::api_calls_total("om", "check", labels::Result::Ok).inc_by(3);
        metrics::collection_cycle_seconds().observe(0.2);
        String::from_utf8(g6_metrics::runtime::scrape::render_metrics_as(
            Format::OpenMetrics,
        ))
        .expect("UTF-8")
    })
}

#[test]
fn openmetrics_exposition_has_the_text_formats_samples_and_the_eof_trailer() {
    let text = openmetrics_text();
    assert!(text.ends_with("# EOF\n"));
    assert!(text.contains("# TYPE g6_api_calls counter\n"));
    assert!(
        text.contains("g6_api_calls_total{provider=\"om\",endpoint=\"check\",result=\"ok\"} 3\n")
    );
    // The same samples as the text format: only family lines and the trailer differ
    // (both rendered now, back to back).
    let fresh = g6_metrics::runtime::scrape::render_metrics_as(
        g6_metrics::runtime::encode::Format::OpenMetrics,
    );
    let om = parse_exposition(&String::from_utf8(fresh).expect("UTF-8"));
    let plain = parse_exposition(&String::from_utf8(g6_metrics::exporter::encode_all()).unwrap());
    assert_eq!(om.len(), plain.len());
}

#[test]
#[ignore = "needs promtool; scripts/test.sh runs it"]
fn openmetrics_exposition_passes_the_strict_openmetrics_parser() {
    let text = openmetrics_text();
    // promtool's OpenMetrics reader (the backfill path) is strict: give every sample a
    // timestamp, as backfill requires, and it must accept the whole exposition.
    common::require_tool("promtool");
    let stamped: String = text
        .lines()
        .map(|l| {
            if l.starts_with('#') {
                format!("{l}\n")
            } else {
                format!("{l} 1700000000\n")
            }
        })
        .collect();
    let dir = std::env::temp_dir().join(format!("g6-om-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("scrape.om");
    std::fs::write(&file, stamped).expect("write");
    let out = std::process::Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&file)
        .arg(dir.join("blocks"))
        .output()
        .expect("promtool");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "promtool rejected the OpenMetrics exposition:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn scrapers_get_the_format_they_rank_highest() {
    use g6_metrics::runtime::encode::Format;
    let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    assert_eq!(Format::negotiate(prometheus), Format::OpenMetrics);
    assert_eq!(Format::negotiate(""), Format::Text);
    assert_eq!(Format::negotiate("*/*"), Format::Text);
    assert_eq!(Format::negotiate("text/plain"), Format::Text);
    assert_eq!(
        Format::negotiate("application/openmetrics-text;q=0.3, text/plain;q=0.9"),
        Format::Text
    );
    assert_eq!(
        Format::negotiate("application/openmetrics-text;q=0"),
        Format::Text
    );
}
