//! The builder a `build.rs` uses: load the spec, generate Rust into `OUT_DIR` and
//! (optionally) refresh the committed artifacts, in the manner of `prost-build`.
//!
//! ```no_run
//! // build.rs: fail the build with every problem, positioned, and no panic.
//! if let Err(e) = g6_codegen::Config::new().spec("metrics.yml").compile() {
//!     eprintln!("{e}");
//!     std::process::exit(1);
//! }
//! ```
//!
//! ```text
//! // src/lib.rs
//! include!(concat!(env!("OUT_DIR"), "/metrics.rs"));
//! ```

use crate::artifacts::{self, Artifact};
use crate::rust_gen::{self, RustOptions};
use g6_spec::diag::Diagnostics;
use g6_spec::model::MetricKind;
use std::fmt::{self, Write as _};
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

/// The Rust file that exposes every artifact as a compiled-in string. It expects
/// `Artifact` and `ArtifactKind` in scope where it is included.
fn artifacts_module(list: &[Artifact], dir: &str, spec_source: &str) -> String {
    let mut out = String::new();
    out.push_str(
        "/// Every generated artifact, sorted by path.\npub static ALL: &[Artifact] = &[\n",
    );
    for a in list {
        let _ = writeln!(
            out,
            "    Artifact {{ path: {:?}, kind: ArtifactKind::{}, content: include_str!(concat!(env!(\"OUT_DIR\"), \"/{dir}/{}\")) }},",
            a.path,
            a.kind.variant(),
            a.path
        );
    }
    let _ = write!(
        out,
        "];\n\n/// The spec text this binary was built from.\npub static SPEC_SOURCE: &str = include_str!(concat!(env!(\"OUT_DIR\"), \"/{spec_source}\"));\n"
    );
    out
}

/// A metric that the crate's own code calls through its accessor: the build checks
/// that the spec still has it, with this type and these labels, so a spec change
/// fails with one message naming the metric instead of type errors. Labels declared
/// with [`Config::require_label`] must be closed in the spec; the others open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequiredMetric {
    /// Full metric name.
    pub name: String,
    /// The accessor's kind: `counter`, `float_counter` (a counter with
    /// `unit: seconds`, which takes `inc_by(f64)`), `gauge` or `histogram`.
    pub kind: String,
    /// Label names in order.
    pub labels: Vec<String>,
}

/// A closed label set whose values the crate's code names (`labels::Mny::Atm`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequiredLabel {
    /// Label name.
    pub name: String,
    /// Values the code names; the spec may have more, never fewer.
    pub values: Vec<String>,
}

/// Why [`Config::compile`] failed. `Display` gives the whole message, ready for
/// stderr.
#[derive(Debug)]
pub enum BuildError {
    /// The spec is invalid: every problem, with positions and hints.
    Spec(Diagnostics),
    /// The spec is valid, but metrics the crate's code needs are missing or changed.
    Required {
        /// Path of the spec, as shown.
        spec: String,
        /// One line per problem.
        problems: Vec<String>,
    },
    /// A file could not be written.
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// Neither `out_dir` nor the `OUT_DIR` environment variable was set.
    NoOutDir,
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::Spec(d) => write!(f, "{d}"),
            BuildError::Required { spec, problems } => {
                writeln!(f, "error: {spec} lacks what this crate's code uses:")?;
                for p in problems {
                    writeln!(f, "  {p}")?;
                }
                write!(f, "restore these metrics in {spec}, or change the code that uses them (and its list of required metrics in build.rs)")
            }
            BuildError::Io { path, source } => {
                write!(f, "error: cannot write {}: {source}", path.display())
            }
            BuildError::NoOutDir => write!(
                f,
                "error: no output directory: call Config::out_dir, or run from a build script (which sets OUT_DIR)"
            ),
        }
    }
}

impl std::error::Error for BuildError {}

/// What [`Config::compile`] produced.
#[derive(Debug)]
pub struct Compiled {
    /// The loaded spec.
    pub spec: g6_spec::LoadedSpec,
    /// The Rust file written (include it with `include!`).
    pub rust_file: PathBuf,
    /// Warnings (spec style, audits), one line each.
    pub warnings: Vec<String>,
}

/// Settings for one code generation, in the manner of `prost_build::Config`.
#[derive(Debug, Clone)]
pub struct Config {
    spec: Option<PathBuf>,
    spec_env: Option<String>,
    out_dir: Option<PathBuf>,
    generated_dir: Option<PathBuf>,
    file_name: String,
    runtime: String,
    artifacts_module: bool,
    required: Vec<RequiredMetric>,
    required_labels: Vec<RequiredLabel>,
    cargo_directives: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config::new()
    }
}

impl Config {
    /// Defaults: the spec `metrics.yml` beside `Cargo.toml`, output into `OUT_DIR` as
    /// `metrics.rs`, the runtime at `::g6_runtime`, no artifacts refreshed, cargo
    /// directives printed when run by cargo.
    pub fn new() -> Self {
        Config {
            spec: None,
            spec_env: None,
            out_dir: None,
            generated_dir: None,
            file_name: "metrics.rs".into(),
            runtime: "::g6_runtime".into(),
            artifacts_module: false,
            required: Vec::new(),
            required_labels: Vec::new(),
            cargo_directives: std::env::var_os("CARGO_MANIFEST_DIR").is_some(),
        }
    }

    /// The spec file; relative paths are taken from `CARGO_MANIFEST_DIR`.
    pub fn spec(&mut self, path: impl Into<PathBuf>) -> &mut Self {
        self.spec = Some(path.into());
        self
    }

    /// Let the environment variable `var` name another spec (e.g. `G6_METRICS_SPEC`).
    pub fn spec_env(&mut self, var: impl Into<String>) -> &mut Self {
        self.spec_env = Some(var.into());
        self
    }

    /// Where the Rust file (and the compiled-in artifacts) go; default `OUT_DIR`.
    pub fn out_dir(&mut self, dir: impl Into<PathBuf>) -> &mut Self {
        self.out_dir = Some(dir.into());
        self
    }

    /// Name of the Rust file in the output directory; default `metrics.rs`.
    pub fn file_name(&mut self, name: impl Into<String>) -> &mut Self {
        self.file_name = name.into();
        self
    }

    /// Path of the runtime crate as the generated code names it; default
    /// `::g6_runtime` (use e.g. `::my_crate::g6_runtime` for a re-export).
    pub fn runtime_crate(&mut self, path: impl Into<String>) -> &mut Self {
        self.runtime = path.into();
        self
    }

    /// Refresh the committed artifacts (catalog, dashboards, rules, ...) under `dir`
    /// (relative to `CARGO_MANIFEST_DIR`), writing only files whose content changed.
    /// Skipped when the crate is built as a dependency, with `G6_NO_WRITE_GENERATED=1`,
    /// or when the [`Config::spec_env`] variable picked another spec.
    pub fn generated_dir(&mut self, dir: impl Into<PathBuf>) -> &mut Self {
        self.generated_dir = Some(dir.into());
        self
    }

    /// Also write every artifact into the output directory and a Rust file
    /// `<stem>_artifacts.rs` listing them as `ALL: &[Artifact]` (expects `Artifact` and
    /// `ArtifactKind` in scope where it is included), plus `SPEC_SOURCE`.
    pub fn artifacts_module(&mut self, on: bool) -> &mut Self {
        self.artifacts_module = on;
        self
    }

    /// Declare a metric the crate's own code uses (see [`RequiredMetric`]).
    pub fn require_metric(&mut self, name: &str, kind: &str, labels: &[&str]) -> &mut Self {
        self.required.push(RequiredMetric {
            name: name.to_string(),
            kind: kind.to_string(),
            labels: labels.iter().map(|l| l.to_string()).collect(),
        });
        self
    }

    /// Declare a closed label set whose `values` the crate's code names.
    pub fn require_label(&mut self, name: &str, values: &[&str]) -> &mut Self {
        self.required_labels.push(RequiredLabel {
            name: name.to_string(),
            values: values.iter().map(|v| v.to_string()).collect(),
        });
        self
    }

    /// Print `cargo:` directives (rerun-if-changed, warnings); default: when run by
    /// cargo.
    pub fn cargo_directives(&mut self, on: bool) -> &mut Self {
        self.cargo_directives = on;
        self
    }

    fn directive(&self, line: &str) {
        if self.cargo_directives {
            println!("cargo:{line}");
        }
    }

    /// Load and validate the spec, generate, write. Returns every problem at once.
    pub fn compile(&self) -> Result<Compiled, BuildError> {
        let manifest_dir =
            PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into()));
        let out_dir = match &self.out_dir {
            Some(d) => d.clone(),
            None => PathBuf::from(std::env::var_os("OUT_DIR").ok_or(BuildError::NoOutDir)?),
        };
        let from_env = self.spec_env.as_ref().and_then(|var| {
            self.directive(&format!("rerun-if-env-changed={var}"));
            std::env::var(var).ok().filter(|p| !p.trim().is_empty())
        });
        let display = from_env.clone().unwrap_or_else(|| {
            self.spec
                .as_ref()
                .map_or("metrics.yml".into(), |p| p.display().to_string())
        });
        let spec_path = {
            let p = PathBuf::from(&display);
            if p.is_absolute() {
                p
            } else {
                manifest_dir.join(p)
            }
        };
        self.directive("rerun-if-env-changed=G6_NO_WRITE_GENERATED");
        self.directive(&format!("rerun-if-changed={}", spec_path.display()));

        let options = RustOptions {
            runtime: self.runtime.clone(),
        };
        let rust = |spec: &g6_spec::model::Spec, sha256: &str| {
            rust_gen::generate(spec, sha256, crate::GENERATOR_VERSION, &options)
        };
        // The Rust is generated beside the artifacts and their checks.
        let (loaded, generated, sources) =
            crate::checks::load_file_generated_alongside(&spec_path, &display, rust)
                .map_err(BuildError::Spec)?;
        let mut warnings: Vec<String> = loaded
            .diagnostics
            .warnings()
            .map(|w| format!("{} ({})", w.headline(&display), w.hint))
            .collect();
        let problems = check_required(&loaded.spec, &self.required, &self.required_labels);
        if !problems.is_empty() {
            return Err(BuildError::Required {
                spec: display,
                problems,
            });
        }

        let sources = match sources {
            Some(s) => s,
            None => rust(&loaded.spec, &loaded.sha256),
        };
        // Loading generated the artifacts and ran their checks (checks::artifact_checks):
        // a problem in them is a spec diagnostic, at the node that produced it.
        warnings.extend(audit_warnings(&loaded, &generated));
        for w in &warnings {
            self.directive(&format!("warning={w}"));
        }
        let list = generated.artifacts;
        let rust_file = out_dir.join(&self.file_name);
        let mut outputs: Vec<(PathBuf, String)> = vec![(rust_file.clone(), sources.combined())];
        if self.artifacts_module {
            // Named after the Rust file, so two Configs in one build script never collide.
            let stem = self.file_name.trim_end_matches(".rs");
            let (dir, source) = (
                format!("{stem}_artifacts"),
                format!("{stem}_spec_source.yml"),
            );
            let spec_text = std::fs::read_to_string(&spec_path).unwrap_or_default();
            outputs.push((
                out_dir.join(format!("{stem}_artifacts.rs")),
                artifacts_module(&list, &dir, &source),
            ));
            outputs.push((out_dir.join(&source), spec_text));
            for a in &list {
                outputs.push((out_dir.join(&dir).join(&a.path), a.content.clone()));
            }
        }
        for (path, content) in &outputs {
            write_if_changed(path, content).map_err(|source| BuildError::Io {
                path: path.clone(),
                source,
            })?;
        }

        if let Some(dir) = &self.generated_dir {
            // The committed artifacts belong to the committed spec: a spec picked by the
            // environment (a trial, a test) never rewrites them.
            let refresh = from_env.is_none()
                && !env_flag("G6_NO_WRITE_GENERATED")
                && !built_as_dependency(&manifest_dir);
            if refresh {
                let out = manifest_dir.join(dir);
                for a in &list {
                    if let Err(e) = write_if_changed(&out.join(&a.path), &a.content) {
                        self.directive(&format!(
                            "warning=cannot refresh {}/{}: {e}",
                            dir.display(),
                            a.path
                        ));
                    }
                }
                for stale in stale_dashboards(&out, &list) {
                    if let Err(e) = std::fs::remove_file(&stale) {
                        self.directive(&format!(
                            "warning=cannot remove stale {}: {e}",
                            stale.display()
                        ));
                    }
                }
            }
        }
        Ok(Compiled {
            spec: loaded,
            rust_file,
            warnings,
        })
    }
}

/// Problems of `spec` against the metrics and label values the crate's code uses.
pub fn check_required(
    spec: &g6_spec::Spec,
    required: &[RequiredMetric],
    labels: &[RequiredLabel],
) -> Vec<String> {
    let mut problems = Vec::new();
    for l in labels {
        match spec.label_def(&l.name).and_then(|d| d.values.as_ref()) {
            None => problems.push(format!(
                "label `{}` is used by this crate's code as a closed set ({}) but the spec does not declare it with values",
                l.name,
                l.values.join(", ")
            )),
            Some(values) => {
                let missing: Vec<&str> = l
                    .values
                    .iter()
                    .filter(|v| !values.iter().any(|s| &s.value == *v))
                    .map(String::as_str)
                    .collect();
                if !missing.is_empty() {
                    problems.push(format!(
                        "label `{}` lacks the values [{}] that this crate's code names",
                        l.name,
                        missing.join(", ")
                    ));
                }
            }
        }
    }
    for r in required {
        let Some((_, m)) = spec.metrics().find(|(_, m)| m.name.value == r.name) else {
            problems.push(format!(
                "metric `{}` ({}, labels [{}]) is used by this crate's code but is not in the spec",
                r.name,
                r.kind,
                r.labels.join(", ")
            ));
            continue;
        };
        let kind = match m.kind.value {
            MetricKind::Counter if m.is_float_counter() => "float_counter",
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Histogram => "histogram",
        };
        if kind != r.kind {
            problems.push(format!(
                "metric `{}` is a {kind} in the spec (line {}), but this crate's code uses it as a {}",
                r.name, m.name.pos.line, r.kind
            ));
        }
        let spec_labels: Vec<&str> = m.labels.iter().map(|l| l.value.as_str()).collect();
        if spec_labels != r.labels.iter().map(String::as_str).collect::<Vec<_>>() {
            problems.push(format!(
                "metric `{}` has labels [{}] in the spec (line {}), but this crate's code passes [{}]",
                r.name,
                spec_labels.join(", "),
                m.name.pos.line,
                r.labels.join(", ")
            ));
            continue;
        }
        for l in &m.labels {
            let closed_in_spec = spec.closed_values(l).is_some();
            let closed_in_code = labels.iter().any(|c| c.name == l.value);
            if closed_in_spec != closed_in_code {
                let (spec_says, code_says) = if closed_in_spec {
                    ("closed (an enum)", "any string")
                } else {
                    ("open (any string)", "an enum")
                };
                problems.push(format!(
                    "label `{}` of `{}` is {spec_says} in the spec, but this crate's code passes {code_says}",
                    l.value, r.name
                ));
            }
        }
    }
    problems
}

/// Audit findings on freshly generated dashboards, printed as warnings by the build
/// and `g6 lint` (the spec can still cause them, e.g.
/// a spec panel dropped by a plan's panel limit).
pub fn audit_warnings(
    loaded: &g6_spec::LoadedSpec,
    generated: &artifacts::Generated,
) -> Vec<String> {
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
