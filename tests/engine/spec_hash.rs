//! The spec hash depends on content only: not on layout, comments, quoting or line endings.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use std::path::Path;

fn spec_text() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("metrics.yml")).unwrap()
}

fn hash(text: &str) -> String {
    g6_codegen::load_str(text, "metrics.yml")
        .unwrap_or_else(|d| panic!("{d}"))
        .sha256
}

#[test]
fn compiled_in_hash_is_the_hash_of_metrics_yml() {
    assert_eq!(hash(&spec_text()), g6_metrics::SPEC_SHA256);
    assert_eq!(&g6_metrics::SPEC_SHA256[..16], g6_metrics::SPEC_HASH);
}

#[test]
fn crlf_comments_and_trailing_space_do_not_change_the_hash() {
    let original = spec_text();
    let crlf = original.replace('\n', "\r\n");
    // Inside a literal block scalar (`sql: |`) a `#` is text, not a comment: those
    // lines are left as they are.
    let mut block: Option<usize> = None;
    let commented: String = original
        .lines()
        .map(|l| {
            let indent = l.len() - l.trim_start().len();
            if let Some(b) = block {
                if l.trim().is_empty() || indent > b {
                    return format!("{l}\n");
                }
                block = None;
            }
            if l.ends_with(": |") || l.ends_with(": >") {
                block = Some(indent);
                return format!("{l}   # trailing comment\n");
            }
            if l.trim().is_empty() || l.trim_start().starts_with('#') || l.ends_with('\'') {
                format!("{l}\n# a comment line\n")
            } else {
                format!("{l}   # trailing comment\n")
            }
        })
        .collect();
    let h = hash(&original);
    assert_eq!(hash(&crlf), h);
    assert_eq!(hash(&commented), h);
}

#[test]
fn reindenting_and_flow_style_do_not_change_the_hash() {
    let block = "version: 1\nnamespace: g6\nlabels:\n  result:\n    values:\n      - ok\n      - error\n    help: Outcome\nfamilies:\n  core:\n    metrics:\n      - name: g6_calls_total\n        type: counter\n        help: Calls\n        labels: [result]\n";
    let reindented = "version: 1\nnamespace: g6\nlabels:\n    result:\n        help: \"Outcome\"\n        values: [ok, error]\nfamilies:\n    core:\n        metrics:\n        -   labels:\n            - result\n            type: counter\n            name: 'g6_calls_total'\n            help: Calls\n";
    let flow = "{version: 1, namespace: g6, labels: {result: {values: [ok, error], help: Outcome}}, families: {core: {metrics: [{name: g6_calls_total, type: counter, help: Calls, labels: [result]}]}}}\n";
    assert_eq!(hash(block), hash(reindented));
    assert_eq!(hash(block), hash(flow));
}

#[test]
fn content_changes_change_the_hash() {
    let original = spec_text();
    let h = hash(&original);
    let edits = [
        (
            "name: g6_bus_subscribers",
            "name: g6_bus_subscribers_active",
        ),
        (
            "help: Provider API calls by endpoint and outcome",
            "help: Provider API calls by endpoint and result",
        ),
        (
            "sse_event: {values: [full, diff, heartbeat]",
            "sse_event: {values: [full, diff, heartbeat, ping]",
        ),
        (
            "buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60]",
            "buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 120]",
        ),
    ];
    for (from, to) in edits {
        assert!(original.contains(from), "fixture drifted: {from}");
        let changed = original.replacen(from, to, 1);
        assert_ne!(hash(&changed), h, "editing `{from}` must change the hash");
    }
}

#[test]
fn the_health_section_is_part_of_the_hash() {
    let original = spec_text();
    assert!(original.contains("\n  warning: 0.8\n"));
    let changed = original.replace("\n  warning: 0.8\n", "\n  warning: 0.75\n");
    assert_ne!(hash(&original), hash(&changed));
}
