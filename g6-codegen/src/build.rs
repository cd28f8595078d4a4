//! What `build.rs` of g6-metrics does: generate Rust into OUT_DIR and refresh `generated/`.

use crate::artifacts::{self, Artifact};
use crate::rust_gen::{self, RustOptions};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// True for `1`, `true` or `yes` (any case); everything else, including empty, is false.
pub fn parse_flag(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "1" | "true" | "yes"
    )
}

fn env_flag(name: &str) -> bool {
    std::env::var(name).map(|v| parse_flag(&v)).unwrap_or(false)
}

/// Write `content` to `path` only when it differs, creating parent directories.
/// Returns true when the file was written.
pub fn write_if_changed(path: &Path, content: &str) -> std::io::Result<bool> {
    if std::fs::read(path).ok().as_deref() == Some(content.as_bytes()) {
        return Ok(false);
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, content)?;
    Ok(true)
}

/// True when the package is being built as someone else's dependency (from the cargo
/// registry or a git checkout), where we must never write into the source tree.
fn built_as_dependency(manifest_dir: &Path) -> bool {
    let cargo_home = std::env::var_os("CARGO_HOME").map(PathBuf::from);
    if let Some(home) = cargo_home {
        if manifest_dir.starts_with(&home) {
            return true;
        }
    }
    let s = manifest_dir.to_string_lossy();
    s.contains("/.cargo/registry/") || s.contains("/.cargo/git/")
}

/// The Rust file that exposes every artifact as a compiled-in string.
fn artifacts_module(list: &[Artifact]) -> String {
    let mut out = String::new();
    out.push_str(
        "/// Every generated artifact, sorted by path.\npub static ALL: &[Artifact] = &[\n",
    );
    for a in list {
        let _ = writeln!(
            out,
            "    Artifact {{ path: {:?}, kind: ArtifactKind::{}, content: include_str!(concat!(env!(\"OUT_DIR\"), \"/artifacts/{}\")) }},",
            a.path,
            a.kind.variant(),
            a.path
        );
    }
    out.push_str("];\n\n/// The spec text this binary was built from.\npub static SPEC_SOURCE: &str = include_str!(concat!(env!(\"OUT_DIR\"), \"/spec_source.yml\"));\n");
    out
}

/// Entry point for `build.rs`. Exits the process with status 1 and every diagnostic on
/// stderr when the spec is invalid: no panic, no backtrace.
pub fn run() {
    let manifest_dir =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into()));
    let out_dir =
        PathBuf::from(std::env::var("OUT_DIR").unwrap_or_else(|_| "target/g6-out".into()));
    println!("cargo:rerun-if-env-changed=G6_METRICS_SPEC");
    println!("cargo:rerun-if-env-changed=G6_NO_WRITE_GENERATED");
    println!("cargo:rerun-if-changed=build.rs");
    let (spec_path, display) = match std::env::var("G6_METRICS_SPEC") {
        Ok(p) if !p.trim().is_empty() => {
            let path = PathBuf::from(&p);
            let full = if path.is_absolute() {
                path
            } else {
                manifest_dir.join(path)
            };
            (full, p)
        }
        _ => (manifest_dir.join("metrics.yml"), "metrics.yml".to_string()),
    };
    println!("cargo:rerun-if-changed={}", spec_path.display());

    let loaded = match crate::load_file(&spec_path, &display) {
        Ok(l) => l,
        Err(diags) => {
            eprint!("{diags}");
            std::process::exit(1);
        }
    };
    // load_file succeeded, so the file is readable UTF-8.
    let spec_text = std::fs::read_to_string(&spec_path).unwrap_or_default();
    for w in loaded.diagnostics.warnings() {
        println!("cargo:warning={} ({})", w.headline(&display), w.hint);
    }

    let sources = rust_gen::generate(
        &loaded.spec,
        &loaded.sha256,
        crate::GENERATOR_VERSION,
        &RustOptions::default(),
    );
    let generated = artifacts::generate_all(&loaded, "metrics.yml");
    let problems = artifacts::validate_generated(&loaded, &generated);
    if !problems.is_empty() {
        eprintln!("error: the generated artifacts of {display} are not valid:");
        for p in &problems {
            eprintln!("  {p}");
        }
        eprintln!("fix the spec panels or alerts named above (or report a generator bug)");
        std::process::exit(1);
    }
    for w in audit_warnings(&loaded, &generated) {
        println!("cargo:warning={w}");
    }
    let list = generated.artifacts;
    let mut outputs: Vec<(PathBuf, String)> = vec![
        (out_dir.join("g6_labels.rs"), sources.labels),
        (out_dir.join("g6_spec.rs"), sources.spec),
        (out_dir.join("g6_metrics.rs"), sources.metrics),
        (out_dir.join("g6_artifacts.rs"), artifacts_module(&list)),
        (out_dir.join("spec_source.yml"), spec_text),
    ];
    for a in &list {
        outputs.push((out_dir.join("artifacts").join(&a.path), a.content.clone()));
    }
    for (path, content) in &outputs {
        if let Err(e) = write_if_changed(path, content) {
            eprintln!("error: cannot write {}: {e}", path.display());
            std::process::exit(1);
        }
    }

    if env_flag("G6_NO_WRITE_GENERATED") || built_as_dependency(&manifest_dir) {
        return;
    }
    let out = manifest_dir.join("generated");
    for a in &list {
        if let Err(e) = write_if_changed(&out.join(&a.path), &a.content) {
            println!("cargo:warning=cannot refresh generated/{}: {e}", a.path);
        }
    }
    for stale in stale_dashboards(&out, &list) {
        if let Err(e) = std::fs::remove_file(&stale) {
            println!("cargo:warning=cannot remove stale {}: {e}", stale.display());
        }
    }
}

/// Audit findings on freshly generated dashboards (the spec can still cause them, e.g.
/// a spec panel dropped by a plan's panel limit).
fn audit_warnings(loaded: &crate::LoadedSpec, generated: &artifacts::Generated) -> Vec<String> {
    let named: Vec<crate::audit::NamedDashboard> = generated
        .dashboards
        .iter()
        .map(|d| (d.slug.clone(), d.json.clone()))
        .collect();
    let mut out = crate::audit::inline_quantiles(&named, &generated.rules);
    out.extend(crate::audit::uncovered_spec_panels(&loaded.spec, &named));
    out
}

/// Dashboard files in `generated/grafana/dashboards` that the spec no longer plans.
pub fn stale_dashboards(generated_dir: &Path, list: &[Artifact]) -> Vec<PathBuf> {
    let dir = generated_dir.join(artifacts::DASHBOARD_DIR);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut stale: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .filter(|p| {
            let rel = format!(
                "{}/{}",
                artifacts::DASHBOARD_DIR,
                p.file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default()
            );
            !list.iter().any(|a| a.path == rel)
        })
        .collect();
    stale.sort();
    stale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse_as_booleans() {
        for t in ["1", "true", "TRUE", "yes", " Yes "] {
            assert!(parse_flag(t), "{t}");
        }
        for f in ["", "0", "false", "no", "off", "2", "y"] {
            assert!(!parse_flag(f), "{f}");
        }
    }
}
