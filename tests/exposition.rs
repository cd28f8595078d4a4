//! What the exporter writes, read back by a parser of the text format.

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
