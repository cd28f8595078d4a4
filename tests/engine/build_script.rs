//! A broken spec fails `cargo build` itself with every problem listed, each with its
//! line and column, and never with a panic or a backtrace.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use std::process::Command;

#[test]
fn cargo_check_with_a_broken_spec_lists_every_problem() {
    let root = env!("CARGO_MANIFEST_DIR");
    // A separate target dir: the outer `cargo test` owns the main one. The one
    // tests/servers/spec_variants.rs builds in, so the build dependencies (g6-codegen) are
    // compiled once for both.
    let target = std::path::Path::new(root)
        .join("target")
        .join("spec-variants");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["check", "--offline", "--quiet", "-p", "g6-metrics", "--lib"])
        .current_dir(root)
        .env("CARGO_TARGET_DIR", &target)
        .env("G6_METRICS_SPEC", "tests/fixtures/broken_build.yml")
        .env("G6_NO_WRITE_GENERATED", "1")
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("run cargo");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the build must fail:\n{stderr}");
    for expected in [
        "tests/fixtures/broken_build.yml:8:15: error[E009]: counter `g6_calls` does not end in `_total`",
        "tests/fixtures/broken_build.yml:12:15: error[E009]: metric `g6_wait_ms` uses the non-base unit `ms`",
        "tests/fixtures/broken_build.yml:12:15: error[E011]: histogram `g6_wait_ms` has no buckets",
        "tests/fixtures/broken_build.yml:16:21: error[E023]: alert name `waitHigh` is not CamelCase",
        "tests/fixtures/broken_build.yml:16:37: error[E017]: alert expression does not parse",
        "tests/fixtures/broken_build.yml:16:77: error[E022]: severity `page` is not info, warning or critical",
    ] {
        assert!(stderr.contains(expected), "missing `{expected}` in:\n{stderr}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("stack backtrace"), "{stderr}");
}
