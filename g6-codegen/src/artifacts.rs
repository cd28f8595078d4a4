//! Every file the generator writes under `generated/`, as in-memory strings.

use crate::LoadedSpec;

/// What an artifact is, which decides the drift exit code of `g6 generate --check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ArtifactKind {
    /// Markdown catalogs.
    Catalog,
}

impl ArtifactKind {
    /// The Rust spelling of the variant, for generated code.
    pub fn variant(self) -> &'static str {
        match self {
            ArtifactKind::Catalog => "Catalog",
        }
    }
}

/// One generated file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// Path relative to the `generated/` directory, with `/` separators.
    pub path: String,
    /// What it is.
    pub kind: ArtifactKind,
    /// Full content.
    pub content: String,
}

/// Generate every artifact, sorted by path. `spec_path` is how the spec is named in
/// provenance comments (a relative path, never an absolute one: outputs must not depend
/// on where the checkout lives).
pub fn generate(loaded: &LoadedSpec, spec_path: &str) -> Vec<Artifact> {
    let mut out = vec![Artifact {
        path: "METRICS_CATALOG.md".into(),
        kind: ArtifactKind::Catalog,
        content: crate::catalog::render(
            &loaded.spec,
            loaded.hash(),
            crate::GENERATOR_VERSION,
            spec_path,
        ),
    }];
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}
