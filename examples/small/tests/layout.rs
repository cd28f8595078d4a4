//! Versioned bucket layouts (tests/fixtures/gated.yml): every histogram reports its
//! layout in `gated_bucket_layout_info`, and a histogram past its first layout labels
//! its series with it. Its own process: it shares the runtime's registry.

use g6_example_small::gated::{labels, metrics};
mod common;
use common::exposition;

#[test]
fn every_histogram_reports_its_bucket_layout_and_a_second_layout_labels_its_series() {
    g6_example_small::gated::init().expect("init");
    metrics::wait_seconds(labels::Result::Ok).observe(0.3);
    metrics::read_seconds().observe(0.05);
    let text = exposition();
    let has = |line: &str| text.lines().any(|l| l == line);
    for line in [
        // One info series per histogram of the spec, built-in ones included.
        r#"gated_bucket_layout_info{metric="gated_wait_seconds",buckets_version="2"} 1"#,
        r#"gated_bucket_layout_info{metric="gated_read_seconds",buckets_version="1"} 1"#,
        r#"gated_bucket_layout_info{metric="gated_metrics_batch_flush_duration_seconds",buckets_version="1"} 1"#,
        // The second layout's series carry it, bucket, sum and count alike.
        r#"gated_wait_seconds_bucket{result="ok",buckets_version="2",le="0.1"} 0"#,
        r#"gated_wait_seconds_bucket{result="ok",buckets_version="2",le="0.5"} 1"#,
        r#"gated_wait_seconds_bucket{result="ok",buckets_version="2",le="+Inf"} 1"#,
        r#"gated_wait_seconds_count{result="ok",buckets_version="2"} 1"#,
        r#"gated_wait_seconds_count{result="error",buckets_version="2"} 0"#,
        // The first layout's series have no layout label: they keep their identity.
        r#"gated_read_seconds_bucket{le="0.1"} 1"#,
        "gated_read_seconds_count 1",
    ] {
        assert!(has(line), "missing `{line}` in:\n{text}");
    }
    // Every histogram of the spec, and nothing else, has an info series. The gated
    // family's histogram reports its layout too, on or off: the layout is a fact of
    // the binary.
    let infos: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("gated_bucket_layout_info{"))
        .collect();
    assert_eq!(infos.len(), 4, "{text}");
    assert!(
        has(
            r#"gated_bucket_layout_info{metric="gated_extra_latency_seconds",buckets_version="1"} 1"#
        ),
        "{text}"
    );
}
