//! `g6 diff OLD NEW`: every kind of change is classified, breaking ones list the
//! dashboards and alerts they affect; exit 0 when nothing breaks, 3 when something
//! does, 4 under `--strict` for a removal without deprecation; markdown and JSON.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use crate::common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

const OLD: &str = "tests/fixtures/small.yml";

fn diff(old: &Path, new: &Path, extra: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_g6"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("diff")
        .arg(old)
        .arg(new)
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// (kind, subject, breaking) of every change, from the JSON output.
fn kinds(json: &str) -> BTreeSet<(String, String, bool)> {
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    v["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["kind"].as_str().unwrap().to_string(),
                c["subject"].as_str().unwrap().to_string(),
                c["breaking"].as_bool().unwrap(),
            )
        })
        .collect()
}

/// `small.yml` edited: `(old, new)` text replacements, each of which must apply.
fn edited(name: &str, edits: &[(&str, &str)]) -> std::path::PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut text = std::fs::read_to_string(root.join(OLD)).unwrap();
    for (a, b) in edits {
        assert!(text.contains(a), "{a}");
        text = text.replacen(a, b, 1);
    }
    let path = common::temp_dir(&format!("cli-diff-{name}")).join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn every_kind_of_change_is_classified_and_breaking_ones_name_what_they_break() {
    let (code, out, err) = diff(
        Path::new(OLD),
        Path::new("tests/fixtures/diff/new.yml"),
        &["--format", "json"],
    );
    assert_eq!(code, 3, "{err}");
    let s = |k: &str, subj: &str, b: bool| (k.to_string(), subj.to_string(), b);
    let want: BTreeSet<_> = [
        s("metric_removed", "demo_legacy_items", true),
        s("metric_renamed", "demo_active_seconds_total", true),
        s("type_changed", "demo_wait_seconds", true),
        s("label_removed", "demo_requests_total", true),
        s("label_added", "demo_requests_total", false),
        s("values_removed", "label tier", true),
        s("values_added", "label result", false),
        s("unit_changed", "demo_queue_depth", true),
        s("budget_changed", "demo_queue_depth", false),
        s("budget_changed", "demo_requests_total", false),
        s("help_changed", "demo_queue_depth", false),
        s("stability_changed", "demo_queue_depth", false),
        s("metric_added", "demo_sessions", false),
        s("alert_added", "DemoTimeouts", false),
        s("alert_changed", "DemoErrors", false),
        // The built-in near-budget alert watches the metrics with open labels, and
        // demo_sessions is one more.
        s("alert_changed", "DemoCardinalityNearBudget", false),
        s("dashboard_added", "extra", false),
    ]
    .into_iter()
    .collect();
    assert_eq!(kinds(&out), want);
    // The rest: buckets, a removed alert and dashboard, a removal without deprecation.
    let new = edited(
        "rest.yml",
        &[
            ("buckets: [0.01, 0.1, 1]", "buckets: [0.01, 0.1, 1, 10]"),
            ("  main: {title: Demo, families: [core]}", "  core: {title: Demo, families: [core]}"),
            (
                "        alerts:\n          - alert: DemoErrors\n            expr: 'sum(rate(demo_requests_total{result=\"error\"}[5m])) > 1'\n            for: 5m\n            severity: warning\n            summary: More than one failed request per second\n",
                "",
            ),
            (
                "      - name: demo_queue_depth\n        type: gauge\n        help: Items waiting\n        unit: items\n        labels: [tier]\n",
                "",
            ),
        ],
    );
    let (code, out, err) = diff(Path::new(OLD), &new, &["--format", "json"]);
    assert_eq!(code, 3, "{err}");
    let got = kinds(&out);
    for w in [
        s("buckets_changed", "demo_wait_seconds", true),
        s("alert_removed", "DemoErrors", false),
        s("dashboard_removed", "main", true),
        s("dashboard_added", "core", false),
        s("metric_removed", "demo_queue_depth", true),
    ] {
        assert!(got.contains(&w), "{w:?} in {got:?}");
    }
    // The text lists what a breaking change affects.
    let (_, text, _) = diff(Path::new(OLD), &new, &[]);
    assert!(
        text.contains("BREAKING buckets_changed    demo_wait_seconds: [0.01, 0.1, 1.0] -> [0.01, 0.1, 1.0, 10.0] without a buckets_version bump: set `buckets_version: 2` so the two layouts are told apart"),
        "{text}"
    );
    assert!(
        text.contains("affects recording rule job:demo_wait_seconds:p95_5m"),
        "{text}"
    );
    assert!(
        text.contains("affects dashboard main: \"Queue depth: top 5\""),
        "{text}"
    );
}

#[test]
fn a_bucket_change_with_a_buckets_version_bump_is_a_declared_breaking_change() {
    let new = edited(
        "bumped.yml",
        &[(
            "buckets: [0.01, 0.1, 1]",
            "buckets: [0.01, 0.1, 1, 10]\n        buckets_version: 2",
        )],
    );
    let (code, text, err) = diff(Path::new(OLD), &new, &[]);
    assert_eq!(code, 3, "{err}");
    assert!(
        text.contains("BREAKING buckets_changed    demo_wait_seconds: [0.01, 0.1, 1.0] -> [0.01, 0.1, 1.0, 10.0] (declared: buckets_version 1 -> 2)"),
        "{text}"
    );
    assert!(!text.contains("without a buckets_version bump"), "{text}");
}

#[test]
fn exit_codes_separate_no_change_additions_breaking_changes_and_strict_removals() {
    let (code, out, _) = diff(Path::new(OLD), Path::new(OLD), &[]);
    assert_eq!((code, out.trim()), (0, "0 changes, 0 breaking"));
    let added = edited(
        "added.yml",
        &[("      - name: demo_legacy_items", "      - name: demo_new_items\n        type: gauge\n        help: New\n        unit: items\n      - name: demo_legacy_items")],
    );
    let (code, out, _) = diff(Path::new(OLD), &added, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("metric_added       demo_new_items"), "{out}");
    // Removing the deprecated metric breaks, but is allowed under --strict.
    let gone = edited(
        "gone.yml",
        &[("      - name: demo_legacy_items\n        type: gauge\n        help: Old item count\n        stability: deprecated\n", "")],
    );
    assert_eq!(diff(Path::new(OLD), &gone, &[]).0, 3);
    assert_eq!(diff(Path::new(OLD), &gone, &["--strict"]).0, 3);
    // Removing a stable one is an error under --strict.
    let stable_gone = edited(
        "stable-gone.yml",
        &[("      - name: demo_busy_seconds_total\n        type: counter\n        help: Busy time\n        unit: seconds\n", "")],
    );
    let (code, out, _) = diff(Path::new(OLD), &stable_gone, &["--strict"]);
    assert_eq!(code, 4, "{out}");
    assert!(out.contains("ERROR    metric_removed     demo_busy_seconds_total: counter removed without being deprecated first"), "{out}");
    // An invalid spec is a usage error that says how to see why.
    let broken = edited("broken.yml", &[("type: counter", "type: countr")]);
    let (code, _, err) = diff(Path::new(OLD), &broken, &[]);
    assert_eq!(code, 2);
    assert!(err.contains("is not a valid spec"), "{err}");
}

#[test]
fn markdown_is_a_table_for_a_pull_request() {
    let (_, md, _) = diff(
        Path::new(OLD),
        Path::new("tests/fixtures/diff/new.yml"),
        &["--format", "markdown"],
    );
    assert!(md.starts_with("### Metrics spec changes\n\n| | Change | Subject | Detail | Affects |\n|---|---|---|---|---|\n"), "{md}");
    assert!(md.contains("| **breaking** | type_changed | `demo_wait_seconds` | histogram -> gauge | dashboard main:"), "{md}");
    // A pipe inside a cell is escaped, so the table keeps its columns.
    for line in md.lines().filter(|l| l.starts_with("| ")) {
        assert_eq!(line.replace("\\|", "").matches('|').count(), 6, "{line}");
    }
    assert!(md.trim_end().ends_with("17 changes, 6 breaking"), "{md}");
}

#[test]
fn slos_added_removed_and_changed_are_listed_and_removal_breaks() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("metrics.yml")).unwrap();
    let start = text.find("  ingest_success:\n").unwrap();
    let end = start + text[start..].find("\nfamilies:").unwrap();
    let new = text[..start].to_string() + &text[end..];
    let new = new.replacen("    objective: 99.5\n", "    objective: 99.9\n", 1);
    let path = common::temp_dir("cli-diff-slo").join("metrics.yml");
    std::fs::write(&path, new).unwrap();
    let (code, out, err) = diff(&root.join("metrics.yml"), &path, &["--format", "json"]);
    assert_eq!(code, 3, "{err}");
    let got = kinds(&out);
    assert!(
        got.contains(&("slo_removed".into(), "ingest_success".into(), true)),
        "{got:?}"
    );
    assert!(
        got.contains(&("slo_changed".into(), "provider_availability".into(), false)),
        "{got:?}"
    );
    assert_eq!(got.len(), 2, "{got:?}");
}

#[test]
fn health_components_added_removed_and_changed_are_listed_and_removal_breaks() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("metrics.yml")).unwrap();
    // Drop the backlog component, give its weight to memory_pressure, and warn earlier.
    let start = text.find("    backlog:\n").unwrap();
    let end = start + text[start..].find("    memory_pressure:\n").unwrap();
    let new = text[..start].to_string() + &text[end..];
    let new = new
        .replacen("      weight: 0.15\n", "      weight: 0.25\n", 1)
        .replacen("  warning: 0.8\n", "  warning: 0.9\n", 1);
    let path = common::temp_dir("cli-diff-health").join("metrics.yml");
    std::fs::write(&path, new).unwrap();
    let (code, out, err) = diff(&root.join("metrics.yml"), &path, &["--format", "json"]);
    assert_eq!(code, 3, "{err}");
    let got = kinds(&out);
    assert!(
        got.contains(&("health_removed".into(), "backlog".into(), true)),
        "{got:?}"
    );
    assert!(
        got.contains(&("health_changed".into(), "memory_pressure".into(), false)),
        "{got:?}"
    );
    assert!(
        got.contains(&("health_changed".into(), "health".into(), false)),
        "{got:?}"
    );
    assert_eq!(got.len(), 3, "{got:?}");
}
