//! Specs are bounded and strictly typed: alias bombs, huge closed label sets, and
//! scalars of the wrong kind are errors with positions, never hangs, panics or two
//! hashes for one meaning.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use std::time::{Duration, Instant};

const HEAD: &str = "version: 1\nnamespace: g6\n";

fn errors(spec: &str) -> Vec<String> {
    match g6_codegen::load_str(spec, "spec.yml") {
        Ok(_) => Vec::new(),
        Err(d) => d.items.iter().map(|i| i.headline("spec.yml")).collect(),
    }
}

#[test]
fn a_418_byte_alias_bomb_is_rejected_quickly() {
    let mut spec = String::from(HEAD);
    spec.push_str("x0: &x0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..9 {
        let refs = vec![format!("*x{}", i - 1); 9].join(",");
        spec.push_str(&format!("x{i}: &x{i} [{refs}]\n"));
    }
    assert!(spec.len() < 600, "{}", spec.len());
    let started = Instant::now();
    let errs = errors(&spec);
    assert!(started.elapsed() < Duration::from_secs(20), "bounded time");
    assert!(
        errs.iter()
            .any(|e| e.contains("error[E001]: the spec expands past 250000 YAML nodes")),
        "{errs:?}"
    );
}

#[test]
fn closed_combinations_and_budgets_are_capped() {
    let labels: String = (0..5)
        .map(|l| {
            let values: Vec<String> = (0..10).map(|v| format!("v{v}")).collect();
            format!("  l{l}: {{values: [{}], help: ten}}\n", values.join(", "))
        })
        .collect();
    let spec = format!(
        "{HEAD}labels:\n{labels}families:\n  core:\n    metrics:\n      - name: g6_grid\n        type: gauge\n        help: grid\n        labels: [l0, l1, l2, l3, l4]\n"
    );
    let errs = errors(&spec);
    assert_eq!(
        errs,
        ["spec.yml:12:15: error[E034]: `g6_grid` has 100000 closed label combinations; a metric may have at most 10000 series"]
    );
}

#[test]
fn scalars_must_have_the_kind_the_format_says() {
    let spec = format!(
        "{HEAD}families:\n  core:\n    owner: ~\n    metrics:\n      - name: g6_calls_total\n        type: counter\n        help: 42\n        renamed_from: 0x1F\n        cardinality_budget: '50'\n"
    );
    let errs = errors(&spec);
    assert_eq!(
        errs,
        [
            "spec.yml:5:12: error[E004]: `owner` must be a string, found null",
            "spec.yml:9:15: error[E004]: `help` must be a string, found the number `42`",
            "spec.yml:10:23: error[E004]: `renamed_from` must be a string, found the number `0x1F`",
            "spec.yml:11:29: error[E004]: `cardinality_budget` must be a whole number, found the quoted text \"50\"",
        ]
    );
    let nul = format!(
        "{HEAD}families:\n  core:\n    metrics:\n      - name: g6_calls_total\n        type: counter\n        help: \"a\\0b\"\n"
    );
    assert_eq!(
        errors(&nul),
        ["spec.yml:8:15: error[E004]: `help` contains the control character U+0000"]
    );
}

#[test]
fn one_meaning_one_hash() {
    let base = "families:\n  core:\n    metrics:\n      - name: g6_calls_total\n        type: counter\n        help: Calls\n        labels: [endpoint]\n        cardinality_budget: ";
    let hash = |budget: &str, help_quote: &str| {
        let spec = format!(
            "{HEAD}{}",
            base.replace(
                "help: Calls",
                &format!("help: {help_quote}Calls{help_quote}")
            )
        ) + budget
            + "\n";
        g6_codegen::load_str(&spec, "spec.yml").map(|l| l.sha256)
    };
    // Quoting a string never matters; a number spelled differently never matters.
    assert_eq!(hash("50", "").unwrap(), hash("50", "\"").unwrap());
    assert_eq!(hash("50", "").unwrap(), hash("+50", "'").unwrap());
    // A quoted number is text, so it cannot be a budget (and cannot hash apart).
    assert!(hash("'50'", "").is_err());
}

#[test]
fn bucket_counts_and_the_whole_spec_are_capped() {
    let buckets: Vec<String> = (1..=65).map(|i| i.to_string()).collect();
    let spec = format!(
        "{HEAD}families:\n  core:\n    metrics:\n      - name: g6_wait_seconds\n        type: histogram\n        help: wait\n        unit: seconds\n        buckets: [{}]\n",
        buckets.join(", ")
    );
    assert_eq!(
        errors(&spec),
        ["spec.yml:10:18: error[E034]: histogram `g6_wait_seconds` has 65 buckets; the most is 64"]
    );
    // 200 metrics of 10,000 label sets each: 2,000,000 series at their budgets.
    let mut spec = format!("{HEAD}families:\n  core:\n    metrics:\n");
    for i in 0..200 {
        spec.push_str(&format!(
            "      - {{name: g6_m{i}, type: gauge, help: m, labels: [k], cardinality_budget: 10000}}\n"
        ));
    }
    let errs = errors(&spec);
    assert!(
        errs.iter()
            .any(|e| e.contains("error[E034]: at their budgets the spec's metrics expose")),
        "{errs:?}"
    );
}

#[test]
fn a_gauge_and_a_counter_sharing_an_openmetrics_family_is_an_error() {
    let spec = format!(
        "{HEAD}families:\n  core:\n    metrics:\n      - {{name: g6_jobs, type: gauge, help: running}}\n      - {{name: g6_jobs_total, type: counter, help: done}}\n"
    );
    assert_eq!(
        errors(&spec),
        ["spec.yml:6:16: error[E006]: metric `g6_jobs` and the counter `g6_jobs_total` are the same family in OpenMetrics"]
    );
}
