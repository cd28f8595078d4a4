//! `g6 lint` and `g6 generate --check` as a user runs them.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn g6(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_g6"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run g6")
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli_lint");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn lint_accepts_the_spec_and_prints_one_line() {
    let o = g6(&["lint"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    let expected = format!(
        "ok: 16 families, {} metrics, spec hash {}\n",
        g6_metrics::spec::METRICS.len(),
        g6_metrics::SPEC_HASH
    );
    assert_eq!(out, expected);
}

#[test]
fn lint_reports_every_problem_with_positions() {
    let o = g6(&["lint", "tests/fixtures/bad/E022-bad-severity.yml"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains(
            "tests/fixtures/bad/E022-bad-severity.yml:13:110: error[E022]: severity `page`"
        ),
        "{err}"
    );
    assert!(err.contains("= hint:"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn lint_rejects_a_missing_file() {
    let o = g6(&["lint", "no/such/spec.yml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("no/such/spec.yml:1:1: error[E031]: cannot read the spec"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn lint_rejects_an_empty_file() {
    let p = scratch("empty.yml");
    std::fs::write(&p, "").unwrap();
    let o = g6(&["lint", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("error[E031]: the spec is empty"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn lint_rejects_a_binary_file() {
    let p = scratch("binary.yml");
    std::fs::write(&p, [0x7f, b'E', b'L', b'F', 0, 1, 2, 0xff, 0xfe]).unwrap();
    let o = g6(&["lint", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("error[E031]: the spec looks binary (NUL byte at offset 4)"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn lint_rejects_a_non_utf8_file() {
    let p = scratch("latin1.yml");
    std::fs::write(&p, b"version: 1\nnamespace: g\xe9\n").unwrap();
    let o = g6(&["lint", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("error[E031]: the spec is not UTF-8 text (invalid byte at offset 23)"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn lint_rejects_a_10_mb_file() {
    let p = scratch("huge.yml");
    let line = "# padding padding padding padding padding padding padding padding\n";
    let text = line.repeat(10 * 1024 * 1024 / line.len() + 1);
    std::fs::write(&p, text).unwrap();
    let o = g6(&["lint", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("error[E031]: the spec is 10.0 MiB; the limit is 4 MiB"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn lint_of_a_directory_is_a_clear_error() {
    let o = g6(&["lint", "tests"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("error[E031]: the spec path is a directory"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn generate_check_passes_on_the_committed_tree_and_fails_on_drift() {
    let o = g6(&["generate", "--check"]);
    assert!(o.status.success(), "{}", stderr(&o));

    let dir = scratch("drift");
    let _ = std::fs::remove_dir_all(&dir);
    let d = dir.to_str().unwrap();
    // A fresh directory: everything is missing; dashboards take precedence (exit 6).
    let o = g6(&["generate", "--check", "--out", d]);
    assert_eq!(o.status.code(), Some(6));
    assert!(
        stderr(&o).contains("METRICS_CATALOG.md is missing"),
        "{}",
        stderr(&o)
    );
    assert!(!dir.exists(), "--check must never write");
    // Write, then check passes; edit, then check fails again.
    assert!(g6(&["generate", "--out", d]).status.success());
    assert!(g6(&["generate", "--check", "--out", d]).status.success());
    let catalog = dir.join("METRICS_CATALOG.md");
    let edited = std::fs::read_to_string(&catalog)
        .unwrap()
        .replace("Metrics catalog", "Edited");
    std::fs::write(&catalog, edited).unwrap();
    let o = g6(&["generate", "--check", "--out", d]);
    assert_eq!(o.status.code(), Some(7));
    assert!(
        stderr(&o).contains("METRICS_CATALOG.md differs"),
        "{}",
        stderr(&o)
    );
}
