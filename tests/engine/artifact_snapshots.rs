//! Snapshots of every generated dashboard and rule file. When the spec or the generator
//! changes them, review each diff with `cargo insta review` before accepting.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use g6_metrics::artifacts::{ArtifactKind, ALL};

#[test]
fn every_dashboard_and_rule_file_is_snapshotted() {
    let mut seen = 0;
    for a in ALL {
        let snapshot_worthy = matches!(
            a.kind,
            ArtifactKind::Dashboard
                | ArtifactKind::Rules
                | ArtifactKind::AlertSuggestions
                | ArtifactKind::Alerting
        );
        if !snapshot_worthy {
            continue;
        }
        let name = a.path.replace(['/', '.'], "_");
        insta::assert_snapshot!(name, a.content);
        seen += 1;
    }
    // 17 dashboards + 1 SQL dashboard + the SLO dashboard + manifest + recording rules
    // + alerts + suggestions + SLO rules + health rules + the Alertmanager
    // configuration + the runbook.
    assert_eq!(seen, 27);
}

#[test]
fn generation_is_byte_identical_across_runs() {
    let loaded = g6_codegen::load_str(g6_metrics::artifacts::SPEC_SOURCE, "metrics.yml").unwrap();
    let a = g6_codegen::artifacts::generate(&loaded, "metrics.yml");
    let b = g6_codegen::artifacts::generate(&loaded, "metrics.yml");
    assert_eq!(a, b);
    let compiled: Vec<(&str, &str)> = ALL.iter().map(|x| (x.path, x.content)).collect();
    let fresh: Vec<(&str, &str)> = a
        .iter()
        .map(|x| (x.path.as_str(), x.content.as_str()))
        .collect();
    assert_eq!(
        compiled, fresh,
        "the compiled-in artifacts are what the generator writes"
    );
}

#[test]
fn artifacts_carry_no_timestamps_or_absolute_paths() {
    for a in ALL {
        assert!(
            !a.content.contains("/work/"),
            "{} leaks a checkout path",
            a.path
        );
        assert!(
            !a.content.contains("generated_at"),
            "{} carries a timestamp",
            a.path
        );
        assert!(!a.content.contains("2026-"), "{} carries a date", a.path);
    }
}
