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

/// `g6 lint`'s verdict and stderr, and `Config::compile`'s, on one spec (an absolute
/// path, so both show it alike).
fn lint_and_build(spec: &Path) -> ((bool, String), (bool, String)) {
    let o = g6(&["lint", spec.to_str().unwrap()]);
    let out = scratch(&format!(
        "compile-{}",
        spec.file_name().unwrap().to_string_lossy()
    ));
    let built = g6_codegen::Config::new()
        .spec(spec)
        .out_dir(&out)
        .cargo_directives(false)
        .compile();
    (
        (o.status.success(), stderr(&o)),
        (
            built.is_ok(),
            built.err().map(|e| e.to_string()).unwrap_or_default(),
        ),
    )
}

#[test]
fn a_fixed_rate_window_in_a_panel_fails_lint_and_the_build_at_the_panel() {
    let spec =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bad/E044-artifact-check.yml");
    let ((lint_ok, lint_err), (build_ok, build_err)) = lint_and_build(&spec);
    assert!(!lint_ok && !build_ok, "{lint_err}\n{build_err}");
    let at = format!(
        "{}:15:58: error[E044]: panel \"Calls by result\": target A uses fixed rate windows",
        spec.display()
    );
    let hint =
        "  = hint: write `promql: 'sum by (result) (rate(g6_calls_total[$__rate_interval]))'`";
    let note =
        "  = note: found by [target-rate-interval] in the generated grafana/dashboards/core.json";
    for want in [&at, hint, note] {
        assert!(lint_err.contains(want), "lint lacks {want}:\n{lint_err}");
        assert!(build_err.contains(want), "build lacks {want}:\n{build_err}");
    }
}

#[test]
fn lint_fails_exactly_when_the_build_fails_with_the_same_diagnostics() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut specs = vec![
        root.join("metrics.yml"),
        root.join("examples/shop/shop.yml"),
    ];
    for dir in [
        "tests/fixtures",
        "tests/fixtures/bad",
        "tests/fixtures/migrate",
    ] {
        for e in std::fs::read_dir(root.join(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "yml") {
                specs.push(p);
            }
        }
    }
    specs.sort();
    assert!(specs.len() > 50, "{specs:?}");
    for spec in &specs {
        let ((lint_ok, lint_err), (build_ok, build_err)) = lint_and_build(spec);
        assert_eq!(
            lint_ok,
            build_ok,
            "{}:\n{lint_err}\n{build_err}",
            spec.display()
        );
        if !lint_ok {
            assert_eq!(lint_err, build_err, "{}", spec.display());
        }
    }
}

#[test]
fn lint_without_an_argument_checks_metrics_yml_here_and_says_so() {
    let o = g6(&["lint"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o)
            .starts_with("g6 lint: no spec given; checking metrics.yml in the current directory ("),
        "{}",
        stderr(&o)
    );
    let empty = scratch("no-spec-here");
    std::fs::create_dir_all(&empty).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_g6"))
        .arg("lint")
        .current_dir(&empty)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("metrics.yml:1:1: error[E031]: cannot read the spec")
            && err.contains(&format!(
                "= hint: there is no metrics.yml in {}: run g6 lint in the directory that holds it",
                empty.display()
            )),
        "{err}"
    );
}

#[test]
fn a_relative_path_on_the_command_line_is_explained_as_such() {
    let o = g6(&["lint", "no/such/spec.yml"]);
    let err = stderr(&o);
    assert!(
        err.contains("= hint: check the path: a relative path on the command line starts at the current directory"),
        "{err}"
    );
    assert!(!err.contains("Cargo.toml"), "{err}");
}

#[test]
fn generate_check_passes_on_the_committed_tree_and_fails_on_drift() {
    let o = g6(&["generate", "--check"]);
    assert!(o.status.success(), "{}", stderr(&o));

    let dir = scratch("drift");
    let _ = std::fs::remove_dir_all(&dir);
    let d = dir.to_str().unwrap();
    // `generate --check` exits with `code` saying `what`.
    let check_says = |code: u8, what: &str| {
        let o = g6(&["generate", "--check", "--out", d]);
        assert_eq!(o.status.code(), Some(i32::from(code)), "{}", stderr(&o));
        assert!(stderr(&o).contains(what), "no {what:?} in {}", stderr(&o));
    };
    // A directory that does not exist: everything is missing, said once (exit 6, as
    // for dashboards, which take precedence).
    check_says(6, "does not exist, so none of the");
    assert!(!dir.exists(), "--check must never write");
    // Write, then check passes; edit, then check fails again.
    assert!(g6(&["generate", "--out", d]).status.success());
    assert!(g6(&["generate", "--check", "--out", d]).status.success());
    let catalog = dir.join("METRICS_CATALOG.md");
    let edited = std::fs::read_to_string(&catalog)
        .unwrap()
        .replace("Metrics catalog", "Edited");
    std::fs::write(&catalog, edited).unwrap();
    check_says(7, "METRICS_CATALOG.md differs");
    // One file gone from a generated directory is named.
    std::fs::remove_file(&catalog).unwrap();
    check_says(7, "METRICS_CATALOG.md is missing");
}
