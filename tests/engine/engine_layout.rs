//! The shape of the engine: the runtime stays free of build-time crates, and the G6
//! app declares every metric its code uses (so a spec change fails with a message
//! naming the metric).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The crates in the normal dependency tree of `package` (with `extra` cargo flags).
fn dependency_tree(package: &str, extra: &[&str]) -> (String, Vec<String>) {
    let out = Command::new(env!("CARGO"))
        .args([
            "tree",
            "-p",
            package,
            "-e",
            "normal",
            "--prefix",
            "none",
            "--offline",
        ])
        .args(extra)
        .current_dir(root())
        .output()
        .expect("run cargo tree");
    assert!(
        out.status.success(),
        "cargo tree failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8_lossy(&out.stdout).into_owned();
    let crates = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect();
    (tree, crates)
}

#[test]
fn runtime_dependency_tree_has_no_build_time_crates() {
    let (tree, crates) = dependency_tree("g6-runtime", &[]);
    assert!(
        crates.iter().any(|c| c == "g6-runtime") && crates.iter().any(|c| c == "hyper"),
        "{tree}"
    );
    for banned in [
        "promql-parser",
        "syn",
        "prettyplease",
        "yaml-rust2",
        "clap",
        "quote",
        "proc-macro2",
        "g6-codegen",
        "g6-spec",
        "g6-tools",
    ] {
        assert!(
            !crates.iter().any(|c| c == banned),
            "g6-runtime must not depend on {banned}:\n{tree}"
        );
    }
}

#[test]
fn app_library_without_the_cli_has_no_generator_crates() {
    let (tree, crates) = dependency_tree("g6-metrics", &["--no-default-features"]);
    assert!(crates.iter().any(|c| c == "g6-runtime"), "{tree}");
    for banned in [
        "g6-codegen",
        "g6-spec",
        "g6-tools",
        "promql-parser",
        "prettyplease",
        "yaml-rust2",
        "clap",
    ] {
        assert!(
            !crates.iter().any(|c| c == banned),
            "the app library must not need {banned} without the `cli` feature:\n{tree}"
        );
    }
}

#[test]
fn the_app_builds_with_the_generators_and_the_spec_only() {
    // `build.rs` needs g6-codegen (which brings g6-spec); the tools (g6-tools) are the
    // CLI's, never the build's.
    let out = Command::new(env!("CARGO"))
        .args([
            "tree",
            "-p",
            "g6-metrics",
            "-e",
            "build",
            "--depth",
            "1",
            "--prefix",
            "depth",
            "--offline",
        ])
        .current_dir(root())
        .output()
        .expect("run cargo tree");
    assert!(
        out.status.success(),
        "cargo tree failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8_lossy(&out.stdout).into_owned();
    let build_deps: Vec<&str> = tree
        .lines()
        .filter_map(|l| l.strip_prefix('1'))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(build_deps.contains(&"g6-codegen"), "{tree}");
    for d in &build_deps {
        assert!(
            ["g6-codegen", "g6-spec"].contains(d),
            "the app's build-dependencies are g6-codegen (and g6-spec) only, found {d}:\n{tree}"
        );
    }
    // And g6-codegen does not pull the tools in.
    let (tree, crates) = dependency_tree("g6-codegen", &[]);
    assert!(crates.iter().any(|c| c == "g6-spec"), "{tree}");
    assert!(!crates.iter().any(|c| c == "g6-tools"), "{tree}");
}

#[test]
fn runtime_flush_triggers_match_the_built_in_label_values() {
    // The runtime indexes `*_metrics_batch_flushes_total` by its own enum; the values
    // come from the built-in fragment. Order and spelling must agree.
    let runtime: Vec<&str> = g6_metrics::batch::FlushTrigger::ALL
        .iter()
        .map(|t| t.as_str())
        .collect();
    assert_eq!(runtime, g6_metrics::labels::FlushTrigger::VALUES);
    for (i, t) in g6_metrics::batch::FlushTrigger::ALL.iter().enumerate() {
        assert_eq!(t.index(), i);
    }
}

#[test]
fn exporter_close_reasons_match_the_built_in_label_values() {
    // The exporter indexes `*_exporter_connections_closed_total` by its own enum; the
    // values come from the built-in fragment. Order and spelling must agree.
    let runtime: Vec<&str> = g6_metrics::exporter::CloseReason::ALL
        .iter()
        .map(|r| r.as_str())
        .collect();
    assert_eq!(runtime, g6_metrics::labels::CloseReason::VALUES);
    for (i, r) in g6_metrics::exporter::CloseReason::ALL.iter().enumerate() {
        assert_eq!(r.index(), i);
    }
}

/// Accessor names (without `_with`) that the app's source calls as `metrics::x` or
/// `m::x` (the aggregator's alias).
fn accessors_used_in(dir: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            accessors_used_in(&path, out);
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read source");
        for prefix in ["metrics::", " m::", "(m::"] {
            let mut chunks = text.split(prefix);
            let mut before = chunks.next().unwrap_or("");
            for rest in chunks {
                // `g6_metrics::cli` (the crate) or `openmetrics::x` (another module)
                // are not the accessor module: it starts a path segment.
                let inside_a_name = prefix == "metrics::"
                    && before.ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_');
                before = rest;
                if inside_a_name {
                    continue;
                }
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                    .collect();
                let name = name.strip_suffix("_with").unwrap_or(&name);
                // `remove_x` removes series of the metric `x`.
                let name = match name.strip_prefix("remove_") {
                    Some(metric) if name != "remove_matching" => metric,
                    _ => name,
                }
                .to_string();
                let not_an_accessor = ["", "init", "init_all", "simulate", "remove_matching"];
                if !not_an_accessor.contains(&name.as_str()) && !out.contains(&name) {
                    out.push(name);
                }
            }
        }
    }
}

#[test]
fn build_rs_requires_every_metric_the_app_calls() {
    let build_rs = std::fs::read_to_string(root().join("build.rs")).expect("build.rs");
    // Only the REQUIRED table counts, not comments or other code.
    let start = build_rs
        .find("const REQUIRED:")
        .expect("REQUIRED in build.rs");
    let required = &build_rs[start..];
    let required = &required[..required.find("\n];").expect("end of REQUIRED")];
    let mut used = Vec::new();
    accessors_used_in(&root().join("src"), &mut used);
    assert!(used.len() > 10, "found the app's accessors: {used:?}");
    let builtin = [
        "metrics_spec_hash_info",
        "build_config_hash_info",
        "cardinality_series",
    ];
    let missing: Vec<&String> = used
        .iter()
        .filter(|n| !builtin.contains(&n.as_str()))
        .filter(|n| !required.contains(&format!("\"g6_{n}\",")))
        .collect();
    assert!(
        missing.is_empty(),
        "add these to REQUIRED in build.rs (name, type, labels): {missing:?}"
    );
    // And the list names only metrics of the spec.
    let spec = std::fs::read_to_string(root().join("metrics.yml")).expect("metrics.yml");
    for name in required
        .split('"')
        .filter(|t| t.starts_with("g6_") && !t.contains(" ") && !t.ends_with(".rs"))
    {
        assert!(
            spec.contains(&format!("name: {name}\n")),
            "{name} is not in metrics.yml"
        );
    }
}
