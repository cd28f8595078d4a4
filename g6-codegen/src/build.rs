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
    out.push_str("];\n");
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
    for w in loaded.diagnostics.warnings() {
        println!("cargo:warning={} ({})", w.headline(&display), w.hint);
    }

    let sources = rust_gen::generate(
        &loaded.spec,
        &loaded.sha256,
        crate::GENERATOR_VERSION,
        &RustOptions::default(),
    );
    let list = artifacts::generate(&loaded, "metrics.yml");
    let mut outputs: Vec<(PathBuf, String)> = vec![
        (out_dir.join("g6_labels.rs"), sources.labels),
        (out_dir.join("g6_spec.rs"), sources.spec),
        (out_dir.join("g6_metrics.rs"), sources.metrics),
        (out_dir.join("g6_artifacts.rs"), artifacts_module(&list)),
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
    let generated = manifest_dir.join("generated");
    for a in &list {
        if let Err(e) = write_if_changed(&generated.join(&a.path), &a.content) {
            println!("cargo:warning=cannot refresh generated/{}: {e}", a.path);
        }
    }
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
