//! Checks of a valid spec that need what the generators make of it: spec recording
//! rules whose names the generated or SLO rules take, spec PromQL that reads recording
//! rules the generator does not produce, panel renames that collide on a generated
//! dashboard, and every check the build runs on the generated artifacts (dashboard
//! lint, rule PromQL). They report spec diagnostics (E040, E017, E042, E044) at the
//! spec's positions, so `g6 lint` and the build fail on the same problems;
//! [`load_file`] (the build's and the CLI's loader) runs them after validation
//! ([`after_validation`]).

use crate::artifacts::Generated;
use g6_spec::diag::{Code, Diagnostic, Diagnostics};
use g6_spec::model::Spec;
use g6_spec::promql::{Finding, SeriesKind};
use g6_spec::LoadedSpec;
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;

/// Read, parse and validate a spec file, then run the checks that need the generated
/// rules and dashboards ([`after_validation`]). `display` is the path used in messages.
pub fn load_file(path: &Path, display: &str) -> Result<LoadedSpec, Diagnostics> {
    load_file_generated(path, display).map(|(loaded, _)| loaded)
}

/// [`load_file`], and every artifact generated from the spec: the ones its checks
/// generated, kept rather than generated a second time (the build's main cost on a
/// large spec).
pub fn load_file_generated(
    path: &Path,
    display: &str,
) -> Result<(LoadedSpec, Generated), Diagnostics> {
    let kept = RefCell::new(None);
    let loaded = g6_spec::load_file_with(path, display, &|spec, sha256, invalid| {
        checks_keeping(spec, sha256, invalid, &kept)
    })?;
    Ok(with_kept(loaded, kept))
}

/// The loaded spec and the artifacts its checks kept (generated now if they kept none).
fn with_kept(loaded: LoadedSpec, kept: RefCell<Option<Generated>>) -> (LoadedSpec, Generated) {
    let generated = kept
        .into_inner()
        .unwrap_or_else(|| crate::artifacts::generate_all(&loaded, loaded.spec.source_name()));
    (loaded, generated)
}

/// [`load_file_generated`], running `alongside` on the valid spec and its SHA-256 on a
/// second thread while the checks generate and check the artifacts (the build
/// generates its Rust there: the two are most of its time, and independent). When no
/// thread can be started it runs on this one. A panic in it is re-raised here, unless
/// the checks found errors: then the spec's diagnostics are what the user needs. Its
/// result is always there when the spec loads (the `Option` only spares the caller an
/// invariant it cannot see).
pub fn load_file_generated_alongside<T: Send>(
    path: &Path,
    display: &str,
    alongside: impl FnOnce(&Spec, &str) -> T + Send,
) -> Result<(LoadedSpec, Generated, Option<T>), Diagnostics> {
    let kept = RefCell::new(None);
    let job = RefCell::new(Some(alongside));
    let result = RefCell::new(None);
    let loaded = g6_spec::load_file_with(path, display, &|spec, sha256, invalid| {
        let job = if invalid {
            None
        } else {
            job.borrow_mut().take()
        };
        let Some(job) = job else {
            return checks_keeping(spec, sha256, invalid, &kept);
        };
        let slot = std::sync::Mutex::new(Some(job));
        std::thread::scope(|scope| {
            let run = || {
                let job = slot.lock().ok().and_then(|mut j| j.take());
                job.map(|job| job(spec, sha256))
            };
            let handle = std::thread::Builder::new()
                .name("g6-codegen-rust".into())
                .spawn_scoped(scope, run);
            let diagnostics = checks_keeping(spec, sha256, invalid, &kept);
            let has_errors = diagnostics
                .iter()
                .any(|d| d.severity == g6_spec::diag::Severity::Error);
            match handle {
                Ok(handle) => match handle.join() {
                    Ok(value) => *result.borrow_mut() = value,
                    Err(_) if has_errors => {}
                    Err(panic) => std::panic::resume_unwind(panic),
                },
                // No second thread (a process limit): the job is still in its slot.
                Err(_) if !has_errors => *result.borrow_mut() = run(),
                Err(_) => {}
            }
            diagnostics
        })
    })?;
    let (loaded, generated) = with_kept(loaded, kept);
    Ok((loaded, generated, result.into_inner()))
}

/// [`load_file`] over bytes.
pub fn load_bytes(bytes: &[u8], display: &str) -> Result<LoadedSpec, Diagnostics> {
    g6_spec::load_bytes_with(bytes, display, &after_validation)
}

/// [`load_file`] over text.
pub fn load_str(text: &str, display: &str) -> Result<LoadedSpec, Diagnostics> {
    g6_spec::load_str_with(text, display, &after_validation)
}

/// The checks that need generated rules or dashboards, after validation: recording
/// names always (a collision is reported beside any other error, as lint always did),
/// the rest only on a spec without errors (they generate from it, stamped with
/// `sha256`).
pub fn after_validation(spec: &Spec, sha256: &str, invalid: bool) -> Vec<Diagnostic> {
    checks_keeping(spec, sha256, invalid, &RefCell::new(None))
}

/// [`after_validation`], leaving what the artifact checks generated in `kept`.
fn checks_keeping(
    spec: &Spec,
    sha256: &str,
    invalid: bool,
    kept: &RefCell<Option<Generated>>,
) -> Vec<Diagnostic> {
    let mut out = recording_names(spec);
    if !invalid {
        // Recording-rule names in spec PromQL can only be checked once rules exist.
        out.extend(recorded_references(spec));
        // Panel identities exist only on the generated dashboards.
        out.extend(panel_identities(spec));
        // The build's own checks of what it generates, on the spec's nodes.
        let (problems, generated) = artifact_checks(spec, sha256);
        out.extend(problems);
        *kept.borrow_mut() = Some(generated);
    }
    out
}

/// The build's checks of the generated artifacts (E044), each at the spec node that
/// produced the problem, with the artifact and the check's rule in the note; and the
/// artifacts they checked (generated from `spec` with its `sha256`).
pub fn artifact_checks(spec: &Spec, sha256: &str) -> (Vec<Diagnostic>, Generated) {
    let loaded = LoadedSpec {
        spec: spec.clone(),
        canonical: String::new(),
        sha256: sha256.to_string(),
        diagnostics: Diagnostics::default(),
    };
    let generated = crate::artifacts::generate_all(&loaded, spec.source_name());
    let problems = crate::artifacts::problems(&loaded, &generated)
        .into_iter()
        .map(|p| {
            let note = match p.rule {
                Some(rule) => format!("found by [{rule}] in the generated {}", p.artifact),
                None => format!("found in the generated {}", p.artifact),
            };
            Diagnostic::error(Code::ArtifactCheck, p.pos, p.message, p.hint).with_note(note)
        })
        .collect();
    (problems, generated)
}

/// Spec recording rules (E040) named like a generated rule or a rule of an SLO:
/// Prometheus would evaluate both into one series.
pub fn recording_names(spec: &Spec) -> Vec<Diagnostic> {
    let mut taken: HashMap<String, String> = HashMap::new();
    for r in crate::rules::build(spec).all_recording() {
        if !r.custom {
            taken.insert(r.record.clone(), "a generated rule".into());
        }
    }
    for slo in &spec.slos {
        for (record, _) in crate::slo::recorded(slo) {
            taken.insert(record, format!("a rule of SLO `{}`", slo.name.value));
        }
    }
    let mut out = Vec::new();
    for (_, m) in spec.metrics() {
        for r in &m.recording {
            if let Some(owner) = taken.get(&r.record.value) {
                out.push(Diagnostic::error(
                    Code::BadRecording,
                    r.record.pos,
                    format!(
                        "recording rule `{}` is already recorded by {owner}",
                        r.record.value
                    ),
                    "give it another name: Prometheus would evaluate both into one series",
                ));
            }
        }
    }
    out
}

/// Spec panels and alerts that reference recording rules (`level:metric:op`) the
/// generator does not produce.
pub fn recorded_references(spec: &Spec) -> Vec<Diagnostic> {
    let rules = crate::rules::build(spec);
    let mut catalog = g6_spec::promql::series_catalog(spec);
    catalog.check_recorded = true;
    for r in rules.all_recording() {
        catalog.insert(&r.record, &r.metric, SeriesKind::Recorded, &r.labels);
    }
    if spec.health.is_some() {
        // Spec panels and alerts may show the health score.
        crate::health::add_records(&mut catalog, spec);
    }
    let mut out = Vec::new();
    for (_, m) in spec.metrics() {
        let exprs = m
            .panels
            .iter()
            .map(|p| (&p.promql, "panel"))
            .chain(m.alerts.iter().map(|a| (&a.expr, "alert")));
        for (expr, what) in exprs {
            for f in catalog.analyze(&expr.value).findings {
                if let Finding::UnknownSeries { name, .. } = f {
                    if name.contains(':') {
                        let known: Vec<&str> = rules
                            .all_recording()
                            .filter(|r| r.metric == m.name.value)
                            .map(|r| r.record.as_str())
                            .collect();
                        out.push(Diagnostic::error(
                            Code::UnknownMetricInPromql,
                            expr.pos,
                            format!("{what} expression references the recording rule `{name}`, which the generator does not produce"),
                            if known.is_empty() {
                                "see generated/RULES_CATALOG.md for the rules that exist".to_string()
                            } else {
                                format!("rules of `{}`: {}", m.name.value, known.join(", "))
                            },
                        ));
                    }
                }
            }
        }
    }
    out
}

/// Panel renames that would give two panels of one generated dashboard the same
/// identity (E042): the old title of a renamed panel gives the same type, title,
/// expressions and unit as another panel of the dashboard. Run once the spec is valid.
pub fn panel_identities(spec: &Spec) -> Vec<Diagnostic> {
    let rules = crate::rules::build(spec);
    let mut out = Vec::new();
    for plan in &spec.dashboards {
        let panels = crate::dashboards::plan_panels(spec, &rules, plan);
        let mut seen: HashMap<String, &crate::dashboards::PanelPlan> = HashMap::new();
        for p in &panels {
            let id = crate::dashboards::identity_signature(p);
            let Some(other) = seen.insert(id, p) else {
                continue;
            };
            // Report at the renamed panel's `renamed_from`.
            let renamed = [p, other]
                .into_iter()
                .find(|x| x.renamed_from.is_some())
                .and_then(|x| {
                    spec.metrics()
                        .flat_map(|(_, m)| m.panels.iter())
                        .find(|sp| sp.title.value == x.title && sp.renamed_from.is_some())
                });
            if let Some(sp) = renamed {
                let from = sp.renamed_from.as_ref().map(|r| (r.value.as_str(), r.pos));
                if let Some((from, pos)) = from {
                    out.push(Diagnostic::error(
                        Code::BadPanelRename,
                        pos,
                        format!(
                            "panel `{}` renamed from `{from}` has the same identity as panel `{}` on dashboard `{}`",
                            sp.title.value,
                            if other.title == sp.title.value { &p.title } else { &other.title },
                            plan.slug.value
                        ),
                        "a renamed panel keeps the id and uuid of its old title; that panel already has them: drop `renamed_from` or change one of the panels",
                    ));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_artifacts_kept_from_the_checks_equal_the_ones_generated_from_the_loaded_spec() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../metrics.yml");
        let (loaded, kept) = load_file_generated(&path, "metrics.yml").unwrap();
        let again = crate::artifacts::generate_all(&loaded, loaded.spec.source_name());
        assert!(!kept.artifacts.is_empty());
        assert_eq!(kept.artifacts.len(), again.artifacts.len());
        for (a, b) in kept.artifacts.iter().zip(&again.artifacts) {
            assert_eq!(a.path, b.path);
            assert!(a.content == b.content, "{} differs", a.path);
        }
        // The artifacts carry the spec's hash, not a placeholder.
        assert!(kept
            .artifacts
            .iter()
            .any(|a| a.content.contains(&loaded.sha256[..16])));
    }
}
