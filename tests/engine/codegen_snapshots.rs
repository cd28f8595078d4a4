//! Snapshots of what the generator writes for a small fixture spec. Review changes with
//! `cargo insta review`: these files are what users compile and read.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use g6_codegen::rust_gen::{generate, RustOptions};
use std::path::Path;

fn small() -> g6_codegen::LoadedSpec {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/small.yml");
    g6_codegen::load_file(&path, "tests/fixtures/small.yml").unwrap_or_else(|d| panic!("{d}"))
}

fn sources() -> g6_codegen::rust_gen::RustSources {
    let loaded = small();
    let opts = RustOptions::default();
    generate(&loaded.spec, &loaded.sha256, "g6-codegen/test", &opts)
}

#[test]
fn rust_labels() {
    insta::assert_snapshot!(sources().labels);
}

#[test]
fn rust_spec_table() {
    insta::assert_snapshot!(sources().spec);
}

#[test]
fn rust_accessors() {
    insta::assert_snapshot!(sources().metrics);
}

#[test]
fn catalog() {
    let loaded = small();
    insta::assert_snapshot!(g6_codegen::catalog::render(
        &loaded.spec,
        loaded.hash(),
        "g6-codegen/test",
        "tests/fixtures/small.yml"
    ));
}

#[test]
fn generated_sources_are_formatted_rust() {
    let s = sources();
    for src in [&s.labels, &s.spec, &s.metrics] {
        // The generator falls back to raw tokens (`:: core :: fmt`) only when syn cannot
        // parse them; formatted output never has spaced paths.
        assert!(
            !src.contains(" :: "),
            "generated source did not parse:\n{src}"
        );
        assert!(src.lines().count() > 10, "{src}");
    }
}

#[test]
fn generation_is_deterministic() {
    assert_eq!(sources(), sources());
}
