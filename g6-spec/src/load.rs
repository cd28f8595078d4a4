//! Loading a spec: read it (bounded), parse, merge the built-in metrics, decode,
//! validate and hash it.

use crate::diag::{Code, Diagnostic, Diagnostics, Pos};
use crate::model::Spec;
use crate::{builtin, canonical, decode, validate, yaml};
use std::path::Path;

/// Largest spec file we read. Real specs are tens of kilobytes.
pub const MAX_SPEC_BYTES: usize = 4 * 1024 * 1024;

/// A parsed, validated spec and its identity.
#[derive(Debug, Clone)]
pub struct LoadedSpec {
    /// The typed spec.
    pub spec: Spec,
    /// Canonical JSON text the hash is computed over.
    pub canonical: String,
    /// SHA-256 of `canonical`, 64 hex chars.
    pub sha256: String,
    /// Warnings (no errors: those make loading fail).
    pub diagnostics: Diagnostics,
}

impl LoadedSpec {
    /// The first 16 hex chars of [`LoadedSpec::sha256`].
    pub fn hash(&self) -> &str {
        &self.sha256[..16]
    }
}

fn input_error(path: &str, message: String, hint: &str) -> Diagnostics {
    Diagnostics {
        path: path.to_string(),
        items: vec![Diagnostic::error(
            Code::InputFile,
            Pos { line: 1, col: 1 },
            message,
            hint,
        )],
    }
}

/// Checks a caller adds after validation, given the decoded spec, its SHA-256 (as
/// [`LoadedSpec::sha256`] will hold it) and whether validation found errors (the
/// generators' checks of what they make of a spec: see `g6_codegen::checks`). Their
/// diagnostics join the spec's, in source order.
pub type ExtraChecks<'a> = &'a dyn Fn(&Spec, &str, bool) -> Vec<Diagnostic>;

/// Read, parse and validate a spec file. `display` is the path used in messages.
///
/// The checks that need the generated rules and dashboards are not run here:
/// `g6_codegen::load_file` runs them too.
pub fn load_file(path: &Path, display: &str) -> Result<LoadedSpec, Diagnostics> {
    load_file_with(path, display, &|_, _, _| Vec::new())
}

/// [`load_file`] with [`ExtraChecks`].
pub fn load_file_with(
    path: &Path,
    display: &str,
    extra: ExtraChecks<'_>,
) -> Result<LoadedSpec, Diagnostics> {
    let meta = std::fs::metadata(path).map_err(|e| {
        input_error(
            display,
            format!("cannot read the spec: {e}"),
            "check the path (a relative one starts at the current directory; in a build script, at the crate's directory)",
        )
    })?;
    if meta.is_dir() {
        return Err(input_error(
            display,
            "the spec path is a directory".into(),
            "point at the YAML file itself, e.g. metrics.yml",
        ));
    }
    if meta.len() > MAX_SPEC_BYTES as u64 {
        return Err(input_error(
            display,
            format!(
                "the spec is {:.1} MiB; the limit is {} MiB",
                meta.len() as f64 / (1024.0 * 1024.0),
                MAX_SPEC_BYTES / (1024 * 1024)
            ),
            "this is far larger than any real spec: check that the path names the right file",
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| {
        input_error(
            display,
            format!("cannot read the spec: {e}"),
            "check file permissions",
        )
    })?;
    load_bytes_with(&bytes, display, extra)
}

/// Parse and validate spec bytes.
pub fn load_bytes(bytes: &[u8], display: &str) -> Result<LoadedSpec, Diagnostics> {
    load_bytes_with(bytes, display, &|_, _, _| Vec::new())
}

/// [`load_bytes`] with [`ExtraChecks`].
pub fn load_bytes_with(
    bytes: &[u8],
    display: &str,
    extra: ExtraChecks<'_>,
) -> Result<LoadedSpec, Diagnostics> {
    if bytes.len() > MAX_SPEC_BYTES {
        return Err(input_error(
            display,
            format!(
                "the spec is {} bytes; the limit is {MAX_SPEC_BYTES}",
                bytes.len()
            ),
            "check that the path names the right file",
        ));
    }
    if let Some(at) = bytes.iter().position(|b| *b == 0) {
        return Err(input_error(
            display,
            format!("the spec looks binary (NUL byte at offset {at})"),
            "the spec must be a YAML text file",
        ));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        input_error(
            display,
            format!(
                "the spec is not UTF-8 text (invalid byte at offset {})",
                e.valid_up_to()
            ),
            "save the file as UTF-8",
        )
    })?;
    load_str_with(text, display, extra)
}

/// Parse and validate spec text.
pub fn load_str(text: &str, display: &str) -> Result<LoadedSpec, Diagnostics> {
    load_str_with(text, display, &|_, _, _| Vec::new())
}

/// [`load_str`] with [`ExtraChecks`].
pub fn load_str_with(
    text: &str,
    display: &str,
    extra: ExtraChecks<'_>,
) -> Result<LoadedSpec, Diagnostics> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(input_error(
            display,
            "the spec is empty".into(),
            "start from `version: 1`, `namespace: g6`, `labels:`, `dashboards:` and `families:` (see README)",
        ));
    }
    let mut diags = Diagnostics {
        path: display.to_string(),
        items: Vec::new(),
    };
    let (root, errors) = yaml::parse(text);
    diags.items.extend(errors);
    let Some(mut root) = root else {
        if !diags.has_errors() {
            diags.items.push(Diagnostic::error(
                Code::InputFile,
                Pos { line: 1, col: 1 },
                "the spec has no content (only comments or blank lines)",
                "start from `version: 1`, `namespace: g6`, `labels:`, `dashboards:` and `families:` (see README)",
            ));
        }
        return Err(diags);
    };
    if !matches!(root.kind, yaml::NodeKind::Map(_)) {
        diags.items.push(Diagnostic::error(
            Code::WrongType,
            root.pos,
            format!("the spec must be a mapping, found {}", root.shape()),
            "start from `version: 1` and `namespace: g6`",
        ));
        return Err(diags);
    }
    // The runtime's own metrics join the spec before anything looks at it, so they are
    // validated, hashed and generated like the spec's own.
    diags.items.extend(builtin::merge(&mut root));
    let (mut spec, errors) = decode::decode(&root);
    spec.source = std::path::Path::new(display)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    diags.items.extend(errors);
    diags.items.extend(validate::validate(&spec));
    let invalid = diags.has_errors();
    // Hashed before the extra checks, which generate from the spec with its identity
    // (so a caller can keep what they generated rather than generate it again).
    let canonical = canonical::canonical_text(&root);
    let sha256 = canonical::sha256_hex(&canonical);
    diags.items.extend(extra(&spec, &sha256, invalid));
    diags.items.sort_by_key(|d| (d.pos, d.code));
    diags.items.dedup();
    if diags.has_errors() {
        return Err(diags);
    }
    Ok(LoadedSpec {
        spec,
        canonical,
        sha256,
        diagnostics: diags,
    })
}
