//! `g6 generate`: write the artifacts, or check a directory against them.
//!
//! `--check` never writes. It audits the dashboards on disk (exit 12 invalid PromQL,
//! 10 inline quantiles with a recording rule, 11 spec panels on no dashboard), then
//! compares every file (exit 6 dashboards, 8 recording or alert rules, 9 alert
//! suggestions, 7 anything else). Every finding is printed; the exit code is the first
//! of 12, 10, 11, 6, 8, 9, 7 that applies.

use g6_codegen::artifacts::{self, Artifact, ArtifactKind, DASHBOARD_DIR};
use g6_codegen::audit::{self, NamedDashboard};
use g6_codegen::LoadedSpec;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Exit codes, in the order of precedence when several apply.
const PRECEDENCE: &[u8] = &[12, 10, 11, 6, 8, 9, 13, 7];

/// What to generate or check.
pub struct Options {
    /// Output (or checked) directory.
    pub out: PathBuf,
    /// Compare only.
    pub check: bool,
    /// Restrict to these dashboard slugs.
    pub only: Option<Vec<String>>,
    /// Generate from this spec file instead of the compiled-in one.
    pub spec: Option<PathBuf>,
}

/// Load the spec to audit against: `--spec`, else the one compiled in.
pub fn load_spec(spec: Option<&Path>) -> Result<LoadedSpec, ExitCode> {
    let loaded = match spec {
        Some(p) => g6_codegen::load_file(p, &p.display().to_string()),
        None => g6_codegen::load_str(crate::artifacts::SPEC_SOURCE, "metrics.yml (compiled in)"),
    };
    loaded.map_err(|d| {
        eprint!("{d}");
        ExitCode::from(super::EXIT_USAGE)
    })
}

fn expected(loaded: &LoadedSpec, from_file: bool) -> Vec<Artifact> {
    if from_file {
        artifacts::generate(loaded, "metrics.yml")
    } else {
        crate::artifacts::ALL
            .iter()
            .map(|a| Artifact {
                path: a.path.to_string(),
                kind: a.kind,
                content: a.content.to_string(),
            })
            .collect()
    }
}

fn dashboard_path(slug: &str) -> String {
    format!("{DASHBOARD_DIR}/{slug}.json")
}

/// Dashboards in `dir` as JSON (manifest excluded); unreadable ones are reported.
fn read_dashboards(dir: &Path, problems: &mut Vec<(u8, String)>) -> Vec<NamedDashboard> {
    let Ok(entries) = std::fs::read_dir(dir.join(DASHBOARD_DIR)) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json") && !p.ends_with("manifest.json"))
        .collect();
    paths.sort();
    let mut out = Vec::new();
    for p in paths {
        let slug = p
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        match std::fs::read_to_string(&p)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str::<Value>(&t).map_err(|e| e.to_string()))
        {
            Ok(v) => out.push((slug, v)),
            Err(e) => problems.push((
                6,
                format!("drift: {} is not a readable dashboard: {e}", p.display()),
            )),
        }
    }
    out
}

/// One panel of a dashboard, as the drift report compares it.
struct PanelView {
    /// `g6_meta.panel_uuid`.
    uuid: String,
    /// Title.
    title: String,
    /// `g6_meta.renamed_from`: the first title, which its identity keeps.
    renamed_from: Option<String>,
    /// The panel without its layout, as JSON text.
    content: String,
    /// `content` without the title and the rename's record.
    body: String,
}

/// Panels of a dashboard.
fn panels(d: &Value) -> Vec<PanelView> {
    d.get("panels")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|p| {
            let uuid = p
                .pointer("/g6_meta/panel_uuid")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let title = p
                .get("title")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let renamed_from = p
                .pointer("/g6_meta/renamed_from")
                .and_then(Value::as_str)
                .map(str::to_string);
            let mut content = p.clone();
            if let Some(o) = content.as_object_mut() {
                o.remove("gridPos");
            }
            // What a rename leaves alone: all but the title and the rename's record.
            let mut body = content.clone();
            if let Some(o) = body.as_object_mut() {
                o.remove("title");
            }
            if let Some(m) = body.get_mut("g6_meta").and_then(Value::as_object_mut) {
                m.remove("renamed_from");
            }
            PanelView {
                uuid,
                title,
                renamed_from,
                content: content.to_string(),
                body: body.to_string(),
            }
        })
        .collect()
}

/// How the panels of a dashboard on disk differ from the expected ones, by title.
#[derive(Debug, Default, PartialEq)]
struct PanelDiff {
    /// Same identity, other content (`New (on disk: Old)` when the title differs
    /// without a declared rename).
    changed: Vec<String>,
    /// Expected, not on disk.
    added: Vec<String>,
    /// On disk, not expected.
    removed: Vec<String>,
    /// Same identity, title changed as the spec's `renamed_from` says: (old, new).
    renamed: Vec<(String, String)>,
}

/// Compare the panels of the file on disk with the expected ones. A panel keeps its
/// uuid across a rename declared with `renamed_from`: that is a rename, not a change
/// or a removal plus an addition.
fn panel_diff(old: &Value, new: &Value) -> PanelDiff {
    let old_p = panels(old);
    let new_p = panels(new);
    let mut d = PanelDiff::default();
    let mut removed: Vec<&str> = Vec::new();
    for o in &old_p {
        match new_p
            .iter()
            .find(|n| n.uuid == o.uuid && !n.uuid.is_empty())
        {
            // A declared rename keeps the identity of the panel's first title, so a
            // second rename (A -> B -> C, `renamed_from: A`) is one too.
            Some(n) if n.title != o.title && n.renamed_from.is_some() => {
                d.renamed.push((o.title.clone(), n.title.clone()));
                if n.body != o.body {
                    d.changed.push(n.title.clone());
                }
            }
            Some(n) => {
                if n.content != o.content {
                    if n.title == o.title {
                        d.changed.push(o.title.clone());
                    } else {
                        d.changed
                            .push(format!("{} (on disk: {})", n.title, o.title));
                    }
                }
            }
            None => removed.push(&o.title),
        }
    }
    for n in &new_p {
        if !old_p.iter().any(|o| o.uuid == n.uuid && !o.uuid.is_empty()) {
            // Same title on both sides, different identity: a change, not add + remove.
            if let Some(i) = removed.iter().position(|t| *t == n.title) {
                removed.remove(i);
                d.changed.push(n.title.clone());
            } else {
                d.added.push(n.title.clone());
            }
        }
    }
    d.removed = removed.into_iter().map(str::to_string).collect();
    d
}

fn first_difference(old: &str, new: &str) -> String {
    for (i, (a, b)) in old.lines().zip(new.lines()).enumerate() {
        if a != b {
            return format!(
                "first difference at line {}: expected {:?}",
                i + 1,
                b.trim()
            );
        }
    }
    format!(
        "{} lines on disk, {} expected",
        old.lines().count(),
        new.lines().count()
    )
}

fn title_list(v: &[String]) -> String {
    v.iter()
        .map(|t| format!("{t:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn drift_message(a: &Artifact, on_disk: &str) -> String {
    if a.kind != ArtifactKind::Dashboard || a.path.ends_with("manifest.json") {
        return format!(
            "drift: {} differs ({})",
            a.path,
            first_difference(on_disk, &a.content)
        );
    }
    let (Ok(old), Ok(new)) = (
        serde_json::from_str::<Value>(on_disk),
        serde_json::from_str::<Value>(&a.content),
    ) else {
        return format!("drift: {} differs (not valid JSON on disk)", a.path);
    };
    let slug = a
        .path
        .trim_start_matches(&format!("{DASHBOARD_DIR}/"))
        .trim_end_matches(".json");
    let title = new.get("title").and_then(Value::as_str).unwrap_or(slug);
    let PanelDiff {
        changed,
        added,
        removed,
        renamed,
    } = panel_diff(&old, &new);
    let mut msg = format!(
        "drift: dashboard {slug} ({title:?}) differs: {} changed, {} added, {} removed panel(s)",
        changed.len(),
        added.len(),
        removed.len()
    );
    if !renamed.is_empty() {
        msg.push_str(&format!(", {} renamed", renamed.len()));
    }
    if !changed.is_empty() {
        msg.push_str(&format!("; changed: {}", title_list(&changed)));
    }
    if !renamed.is_empty() {
        let pairs: Vec<String> = renamed
            .iter()
            .map(|(old, new)| format!("{old:?} -> {new:?}"))
            .collect();
        msg.push_str(&format!("; renamed: {}", pairs.join(", ")));
    }
    // No panel differs: say which dashboard-level settings do.
    if changed.is_empty() && added.is_empty() && removed.is_empty() && renamed.is_empty() {
        let keys = |v: &Value| -> Vec<String> {
            v.as_object()
                .map(|o| o.keys().filter(|k| *k != "panels").cloned().collect())
                .unwrap_or_default()
        };
        let mut settings: Vec<String> = keys(&old)
            .into_iter()
            .chain(keys(&new))
            .filter(|k| old.get(k) != new.get(k))
            .collect();
        settings.sort();
        settings.dedup();
        if !settings.is_empty() {
            msg.push_str(&format!(
                "; dashboard settings changed: {}",
                settings.join(", ")
            ));
        }
    }
    if g6_codegen::build::parse_flag(
        &std::env::var("G6_DASHBOARD_DIFF_VERBOSE").unwrap_or_default(),
    ) {
        let details = serde_json::json!({
            "dashboard": slug,
            "changed_titles": changed,
            "added_titles": added,
            "removed_titles": removed,
            "renamed_titles": renamed
                .iter()
                .map(|(old, new)| serde_json::json!({"from": old, "to": new}))
                .collect::<Vec<_>>(),
        });
        msg.push_str(&format!(
            "\nDRIFT_DETAILS_BEGIN\n{details}\nDRIFT_DETAILS_END"
        ));
    }
    msg
}

/// Run `g6 generate`.
pub fn run(opts: Options) -> ExitCode {
    let loaded = match load_spec(opts.spec.as_deref()) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let slugs: Vec<String> = loaded
        .spec
        .dashboards
        .iter()
        .map(|d| d.slug.value.clone())
        .collect();
    if let Some(only) = &opts.only {
        let unknown: Vec<&String> = only.iter().filter(|s| !slugs.contains(s)).collect();
        if !unknown.is_empty() || only.is_empty() {
            eprintln!(
                "error: unknown dashboard slug(s) for --only: {}; known: {}",
                unknown
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                slugs.join(", ")
            );
            return ExitCode::from(super::EXIT_USAGE);
        }
    }
    let mut list = expected(&loaded, opts.spec.is_some());
    if let Some(only) = &opts.only {
        let keep: BTreeSet<String> = only.iter().map(|s| dashboard_path(s)).collect();
        list.retain(|a| keep.contains(&a.path));
    }
    if opts.check {
        check(&loaded, &list, &opts)
    } else {
        write(&list, &opts)
    }
}

fn check(loaded: &LoadedSpec, list: &[Artifact], opts: &Options) -> ExitCode {
    // Nothing generated here at all: one line, not one per artifact.
    if !opts.out.is_dir() {
        eprintln!(
            "drift: {} does not exist, so none of the {} artifacts is there; run `g6 generate` (or `cargo build` in the crate) to write them, or give --out DIR",
            opts.out.display(),
            list.len()
        );
        return ExitCode::from(6);
    }
    let mut problems: Vec<(u8, String)> = Vec::new();
    let mut on_disk = read_dashboards(&opts.out, &mut problems);
    if let Some(only) = &opts.only {
        on_disk.retain(|(slug, _)| only.contains(slug));
    }
    let rules = g6_codegen::rules::build(&loaded.spec);
    problems.extend(
        audit::invalid_promql(&on_disk)
            .into_iter()
            .map(|m| (12, format!("invalid PromQL: {m}"))),
    );
    problems.extend(
        audit::inline_quantiles(&on_disk, &rules)
            .into_iter()
            .map(|m| (10, format!("inline quantile: {m}"))),
    );
    if opts.only.is_none() {
        // Coverage is a property of the spec and its plans: judge it on the expected
        // dashboards, so a missing file reads as drift rather than as a coverage gap.
        let expected: Vec<NamedDashboard> = list
            .iter()
            .filter(|a| a.kind == ArtifactKind::Dashboard && !a.path.ends_with("manifest.json"))
            .filter_map(|a| {
                serde_json::from_str(&a.content)
                    .ok()
                    .map(|v| (a.path.clone(), v))
            })
            .collect();
        problems.extend(
            audit::uncovered_spec_panels(&loaded.spec, &expected)
                .into_iter()
                .map(|m| (11, format!("uncovered: {m}"))),
        );
    }
    for a in list {
        let path = opts.out.join(&a.path);
        match std::fs::read_to_string(&path) {
            Ok(text) if text == a.content => {}
            Ok(text) => problems.push((a.kind.drift_exit_code(), drift_message(a, &text))),
            Err(_) => problems.push((
                a.kind.drift_exit_code(),
                format!("drift: {} is missing", a.path),
            )),
        }
    }
    if opts.only.is_none() {
        for stale in g6_codegen::build::stale_dashboards(&opts.out, list) {
            problems.push((
                6,
                format!(
                    "drift: {} is not generated by the spec any more",
                    stale.display()
                ),
            ));
        }
    }
    if problems.is_empty() {
        println!(
            "ok: {} artifacts up to date in {}",
            list.len(),
            opts.out.display()
        );
        return ExitCode::SUCCESS;
    }
    for (_, m) in &problems {
        eprintln!("{m}");
    }
    eprintln!("run `cargo build` (or `g6 generate`) and commit generated/; fix hand edits in the spec instead");
    let code = PRECEDENCE
        .iter()
        .copied()
        .find(|c| problems.iter().any(|(p, _)| p == c))
        .unwrap_or(1);
    ExitCode::from(code)
}

fn write(list: &[Artifact], opts: &Options) -> ExitCode {
    let mut written = 0;
    for a in list {
        let path = opts.out.join(&a.path);
        match g6_codegen::build::write_if_changed(&path, &a.content) {
            Ok(true) => {
                written += 1;
                println!("wrote {}", path.display());
            }
            Ok(false) => {}
            Err(e) => {
                eprintln!("error: cannot write {}: {e}", path.display());
                return ExitCode::from(super::EXIT_USAGE);
            }
        }
    }
    if opts.only.is_none() {
        for stale in g6_codegen::build::stale_dashboards(&opts.out, list) {
            match std::fs::remove_file(&stale) {
                Ok(()) => println!("removed {}", stale.display()),
                Err(e) => eprintln!("warning: cannot remove {}: {e}", stale.display()),
            }
        }
    }
    println!(
        "{written} of {} artifacts changed in {}",
        list.len(),
        opts.out.display()
    );
    ExitCode::SUCCESS
}
