//! `g6 migrate`: a spec in the original Python G6 format (`metrics/spec/base.yml`)
//! turned into one that lints clean.
//!
//! The original has no `namespace`, free-form panel kinds (`latency_p95`), `_ms`
//! histograms, percent and megabyte gauges, `_total` gauges, counters without
//! `_total`, undeclared labels and a `codegen:` block. Names are fixed to base units
//! and conventions (the old name goes to `renamed_from`), values in other units are
//! scaled (bucket bounds, `le` matchers, alert thresholds), PromQL follows the renames,
//! labels are declared (open: their values are not known), and each family gets a
//! dashboard plan. Panels read `rate()` over `[$__rate_interval]` (alerts keep their
//! windows). Metrics the runtime now has built in are dropped and the queries that read
//! them read the built-in names; a `count_values` without `by()` under a grouping gets
//! the grouping, or its panel is commented out when that is not clear. A spec already
//! in this format is refused. What cannot be decided is left as a `# MIGRATE:` comment
//! above the line it is about and reported with the original's line number.

use g6_spec::quote::yaml_str;
use g6_spec::yaml::{Node, NodeKind};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// One thing to look at, with the original's line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// Line in the original.
    pub line: u32,
    /// What was done or must be decided.
    pub message: String,
}

/// The migrated spec and what to review.
#[derive(Debug, Clone, PartialEq)]
pub struct Migration {
    /// The new spec (YAML).
    pub yaml: String,
    /// Every decision left to a person, in line order.
    pub notes: Vec<Note>,
}

/// A unit suffix of the original and how it becomes a base unit.
struct UnitFix {
    suffix: &'static str,
    base: &'static str,
    /// Multiply original values by this.
    scale: f64,
    /// Grafana unit of the panels after the change.
    grafana: &'static str,
}

const UNIT_FIXES: &[UnitFix] = &[
    UnitFix {
        suffix: "ms",
        base: "seconds",
        scale: 0.001,
        grafana: "s",
    },
    UnitFix {
        suffix: "msec",
        base: "seconds",
        scale: 0.001,
        grafana: "s",
    },
    UnitFix {
        suffix: "millis",
        base: "seconds",
        scale: 0.001,
        grafana: "s",
    },
    UnitFix {
        suffix: "milliseconds",
        base: "seconds",
        scale: 0.001,
        grafana: "s",
    },
    UnitFix {
        suffix: "kb",
        base: "bytes",
        scale: 1024.0,
        grafana: "bytes",
    },
    UnitFix {
        suffix: "mb",
        base: "bytes",
        scale: 1_048_576.0,
        grafana: "bytes",
    },
    UnitFix {
        suffix: "gb",
        base: "bytes",
        scale: 1_073_741_824.0,
        grafana: "bytes",
    },
    UnitFix {
        suffix: "percent",
        base: "ratio",
        scale: 0.01,
        grafana: "percentunit",
    },
    UnitFix {
        suffix: "pct",
        base: "ratio",
        scale: 0.01,
        grafana: "percentunit",
    },
];

/// Panel kinds of the original mapped to ours (a prefix match for `rate_*` and the like).
fn panel_kind(kind: &str) -> Option<&'static str> {
    let k = kind.to_ascii_lowercase();
    let k = k.as_str();
    Some(match k {
        _ if k.starts_with("latency_p")
            || k.starts_with("quantile")
            || k == "p50"
            || k == "p95"
            || k == "p99"
            || k == "histogram_quantile" =>
        {
            "quantile"
        }
        _ if k.starts_with("rate")
            || k == "per_second"
            || k == "throughput"
            || k == "counter"
            || k == "counter_rate" =>
        {
            "rate"
        }
        "increase" | "delta" | "count" => "increase",
        "gauge" | "value" | "current" | "gauge_value" | "timeseries" | "line" => "value",
        _ if k.contains("percent") || k.contains("ratio") || k.ends_with("_rate") => "ratio",
        _ if k.starts_with("top") => "topk",
        _ if k.starts_with("split") || k.starts_with("by_") || k == "breakdown" => "split",
        "heatmap" | "histogram" | "distribution" => "heatmap",
        "stat" | "single_stat" | "singlestat" | "number" => "stat",
        "table" | "list" => "table",
        _ => return None,
    })
}

/// Grafana panel types of the original mapped to the ones the generator emits.
fn panel_type(t: &str) -> Option<&'static str> {
    Some(match t {
        "timeseries" | "graph" | "line" => "timeseries",
        "stat" | "singlestat" => "stat",
        "gauge" => "gauge",
        "table" | "table-old" => "table",
        "heatmap" => "heatmap",
        "bargauge" => "bargauge",
        _ => return None,
    })
}

/// Grafana units of the original mapped to those after the unit fixes.
fn grafana_unit(u: &str, fix: Option<&UnitFix>) -> Option<String> {
    if let Some(f) = fix {
        if matches!(
            u,
            "ms" | "percent" | "mbytes" | "kbytes" | "decmbytes" | "deckbytes"
        ) {
            return Some(f.grafana.to_string());
        }
    }
    g6_spec::grafana::GRAFANA_UNITS
        .contains(&u)
        .then(|| u.to_string())
}

/// Whether `expr` names `name` as a whole word.
use crate::diff::mentions;

/// Replace every identifier of `expr` found in `renames`, in one pass (quoted label
/// values are left alone).
fn rename_identifiers(expr: &str, renames: &BTreeMap<&str, &str>) -> String {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let mut out = String::with_capacity(expr.len());
    let mut chars = expr.char_indices().peekable();
    let mut quote: Option<char> = None;
    while let Some((i, c)) = chars.next() {
        if let Some(q) = quote {
            out.push(c);
            if c == '\\' {
                if let Some((_, n)) = chars.next() {
                    out.push(n);
                }
            } else if c == q {
                quote = None;
            }
            continue;
        }
        if c == '"' || c == '\'' || c == '`' {
            quote = Some(c);
            out.push(c);
            continue;
        }
        if word(c) {
            let mut end = i + c.len_utf8();
            while let Some(&(j, n)) = chars.peek() {
                if !word(n) {
                    break;
                }
                end = j + n.len_utf8();
                chars.next();
            }
            let token = &expr[i..end];
            out.push_str(renames.get(token).copied().unwrap_or(token));
        } else {
            out.push(c);
        }
    }
    out
}

/// A number as it reads best (`0.5`, `1.5`, `2`).
fn num(v: f64) -> String {
    // Round away float noise from scaling (0.1 * 0.001).
    let r = (v * 1e12).round() / 1e12;
    format!("{r}")
}

/// Scale every `le="N"` in `expr`.
fn scale_le(expr: &str, scale: f64) -> String {
    let mut out = String::new();
    let mut rest = expr;
    while let Some(i) = rest.find("le=\"") {
        // `le` itself, not the end of `module` or `handle`.
        let prev = if i > 0 {
            rest[..i].chars().next_back()
        } else {
            out.chars().next_back()
        };
        let own = prev.is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'));
        out.push_str(&rest[..i + 4]);
        rest = &rest[i + 4..];
        if !own {
            continue;
        }
        let end = rest.find('"').unwrap_or(rest.len());
        match rest[..end].parse::<f64>() {
            Ok(v) if rest[..end] != *"+Inf" => out.push_str(&num(v * scale)),
            _ => out.push_str(&rest[..end]),
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Scale the number of a trailing top-level comparison (`... > 1500`); `None` when
/// there is no such comparison.
fn scale_threshold(expr: &str, scale: f64) -> Option<String> {
    let t = expr.trim_end();
    let (split, c) = t
        .char_indices()
        .rev()
        .find(|(_, c)| !(c.is_ascii_digit() || *c == '.' || *c == 'e' || *c == '-' || *c == '+'))?;
    // Past the whole char: a multibyte one before the number must not be cut.
    let (head, number) = t.split_at(split + c.len_utf8());
    let v: f64 = number.parse().ok()?;
    let head_trim = head.trim_end();
    let ops = [">=", "<=", "==", "!=", ">", "<"];
    if !ops.iter().any(|o| head_trim.ends_with(o)) {
        return None;
    }
    // Only a comparison outside every bracket is the alert's threshold.
    let depth: i64 = head
        .chars()
        .map(|c| match c {
            '(' | '[' | '{' => 1,
            ')' | ']' | '}' => -1,
            _ => 0,
        })
        .sum();
    if depth != 0 {
        return None;
    }
    Some(format!("{head}{}", num(v * scale)))
}

/// The fields of a mapping node, by key.
fn map(node: &Node) -> Vec<(&str, &Node)> {
    match &node.kind {
        NodeKind::Map(entries) => entries
            .iter()
            .filter_map(|(k, v)| k.as_scalar().map(|k| (k, v)))
            .collect(),
        _ => Vec::new(),
    }
}

fn get<'a>(fields: &[(&str, &'a Node)], key: &str) -> Option<&'a Node> {
    fields.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

fn text(n: Option<&Node>) -> Option<String> {
    n.and_then(|n| n.as_scalar())
        .map(str::to_string)
        .filter(|s| !n.is_some_and(Node::is_null) && !s.is_empty())
}

fn seq(n: Option<&Node>) -> &[Node] {
    match n.map(|n| &n.kind) {
        Some(NodeKind::Seq(items)) => items,
        _ => &[],
    }
}

/// One metric read from the original.
struct OldMetric {
    line: u32,
    family: String,
    name: String,
    kind: String,
    help: Option<String>,
    unit: Option<String>,
    labels: Vec<String>,
    budget: Option<String>,
    buckets: Vec<f64>,
    panels: Vec<(u32, Vec<(String, String)>)>,
    alerts: Vec<(u32, Vec<(String, String)>)>,
    stability: Option<String>,
    renamed_from: Option<String>,
    dropped: Vec<String>,
}

/// The new name and unit change of a metric.
struct Plan<'a> {
    name: String,
    fix: Option<&'a UnitFix>,
    kind: String,
    /// The metric is the runtime's built-in one of this name: it is dropped, and
    /// queries read this name.
    builtin: Option<String>,
}

/// Full names of the runtime's built-in metrics under `prefix` (`g6_`).
fn builtin_metrics(prefix: &str) -> Vec<String> {
    g6_spec::builtin::metric_short_names()
        .iter()
        .map(|n| format!("{prefix}{n}"))
        .collect()
}

/// Labels the built-in fragment declares (a spec may not declare them otherwise).
fn builtin_labels() -> Vec<String> {
    let (root, _) = g6_spec::yaml::parse(&g6_spec::builtin::fragment_text(""));
    let Some(root) = root else {
        return Vec::new();
    };
    get(&map(&root), "labels")
        .map(|l| map(l).iter().map(|(k, _)| k.to_string()).collect())
        .unwrap_or_default()
}

/// The built-in metric a migrated name stands for: the same name, or the same but for
/// `_total` (the original's counters and gauges do not always agree with ours).
fn builtin_of(name: &str, builtins: &[String]) -> Option<String> {
    let stem = |n: &str| n.strip_suffix("_total").unwrap_or(n).to_string();
    builtins
        .iter()
        .find(|b| b.as_str() == name || stem(b) == stem(name))
        .cloned()
}

/// Whether the original text's top level is already this format: keys only this
/// format has, or a `namespace:` with dashboard plans listing `families:` and no
/// `codegen:` block.
fn is_new_format(top: &[(&str, &Node)]) -> bool {
    const NEW_ONLY: &[&str] = &["health", "sql_dashboards", "slos", "alerting", "grafana"];
    if get(top, "codegen").is_some() {
        return false;
    }
    let plans_with_families = get(top, "dashboards").is_some_and(|d| {
        let plans = map(d);
        !plans.is_empty()
            && plans
                .iter()
                .all(|(_, p)| get(&map(p), "families").is_some())
    });
    NEW_ONLY.iter().any(|k| get(top, k).is_some())
        || (get(top, "namespace").is_some() && plans_with_families)
}

/// `expr` with `by (labels)` given to every `count_values` that has no `by()` or
/// `without()`.
fn count_values_by(expr: &str, labels: &[String]) -> String {
    let mut out = String::new();
    let mut rest = expr;
    while let Some(i) = rest.find("count_values") {
        let whole = i == 0
            || !rest[..i]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        let end = i + "count_values".len();
        out.push_str(&rest[..end]);
        rest = &rest[end..];
        if whole && rest.trim_start().starts_with('(') {
            let _ = write!(out, " by ({})", labels.join(", "));
            if rest.starts_with('(') {
                out.push(' ');
            }
        }
    }
    out.push_str(rest);
    out
}

/// How many `count_values` of `expr` have no `by()` or `without()`.
fn bare_count_values(expr: &str) -> usize {
    expr.match_indices("count_values")
        .filter(|(i, _)| {
            let before_ok = !expr[..*i]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
            before_ok
                && expr[i + "count_values".len()..]
                    .trim_start()
                    .starts_with('(')
        })
        .count()
}

fn plan(m: &OldMetric) -> Plan<'static> {
    let mut kind = m.kind.clone();
    let mut base = m.name.clone();
    let counter = kind == "counter";
    let had_total = base.ends_with("_total");
    if had_total {
        base.truncate(base.len() - "_total".len());
    }
    let mut fix = None;
    for f in UNIT_FIXES {
        if let Some(stem) = base.strip_suffix(&format!("_{}", f.suffix)) {
            base = format!("{stem}_{}", f.base);
            fix = Some(f);
            break;
        }
    }
    if fix.is_none() {
        if let Some(u) = &m.unit {
            fix = UNIT_FIXES
                .iter()
                .find(|f| f.suffix == u.to_ascii_lowercase());
        }
    }
    if kind == "summary" {
        kind = "histogram".into();
    }
    let name = if counter {
        format!("{base}_total")
    } else {
        base
    };
    Plan {
        name,
        fix,
        kind,
        builtin: None,
    }
}

/// Migrate the text of an original spec. `Err` when it is not YAML or not a mapping
/// with `families`.
pub fn migrate(original: &str) -> Result<Migration, String> {
    let (root, diags) = g6_spec::yaml::parse(original);
    let Some(root) = root else {
        return Err(diags
            .first()
            .map(|d| format!("line {}: {}", d.pos.line, d.message))
            .unwrap_or_else(|| "empty".into()));
    };
    let top = map(&root);
    if get(&top, "families").is_none() {
        return Err("no `families:` mapping: not a G6 metrics spec".into());
    }
    if is_new_format(&top) {
        return Err("this spec is already in the new format (a `namespace:` with dashboard plans listing `families:`, or sections only the new format has): there is nothing to migrate; check it with `g6 lint`".into());
    }
    let mut notes: Vec<Note> = Vec::new();
    let mut note = |line: u32, message: String| notes.push(Note { line, message });
    // Lines of the top-level keys (a note points at the key, not its value).
    let key_line = |key: &str| match &root.kind {
        NodeKind::Map(entries) => entries
            .iter()
            .find(|(k, _)| k.as_scalar() == Some(key))
            .map_or(1, |(k, _)| k.pos.line),
        _ => 1,
    };
    if get(&top, "codegen").is_some() {
        note(key_line("codegen"), "dropped the `codegen:` block: `cargo build` generates the Rust accessors and every artifact now".into());
    }
    for (k, _) in &top {
        if !matches!(
            *k,
            "version" | "namespace" | "codegen" | "families" | "labels" | "dashboards"
        ) {
            note(
                key_line(k),
                format!("dropped the top-level `{k}:` (no counterpart in this format)"),
            );
        }
    }
    // Metrics, in source order.
    let mut metrics: Vec<OldMetric> = Vec::new();
    let mut families: Vec<(String, Option<String>, Option<String>)> = Vec::new();
    if let Some(NodeKind::Map(fams)) = get(&top, "families").map(|n| &n.kind) {
        for (fk, fv) in fams {
            let Some(fname) = fk.as_scalar() else {
                continue;
            };
            let ff = map(fv);
            families.push((
                fname.to_string(),
                text(get(&ff, "owner")),
                text(get(&ff, "description")),
            ));
            for mn in seq(get(&ff, "metrics")) {
                let mf = map(mn);
                let known = [
                    "name",
                    "type",
                    "help",
                    "unit",
                    "labels",
                    "cardinality_budget",
                    "budget",
                    "buckets",
                    "panels",
                    "alerts",
                    "stability",
                    "renamed_from",
                    "description",
                ];
                // Scalar fields, and those of a nested `labels:`/`annotations:` (the
                // Prometheus rule layout: severity, summary, description).
                let pairs = |n: &Node| -> Vec<(String, String)> {
                    let mut out: Vec<(String, String)> = Vec::new();
                    for (k, v) in map(n) {
                        match v.as_scalar() {
                            Some(s) => out.push((k.to_string(), s.to_string())),
                            None if matches!(k, "labels" | "annotations") => {
                                for (k2, v2) in map(v) {
                                    if let Some(s) = v2.as_scalar() {
                                        if !out.iter().any(|(x, _)| x == k2) {
                                            out.push((k2.to_string(), s.to_string()));
                                        }
                                    }
                                }
                            }
                            None => {}
                        }
                    }
                    out
                };
                metrics.push(OldMetric {
                    line: mn.pos.line,
                    family: fname.to_string(),
                    name: text(get(&mf, "name")).unwrap_or_default(),
                    kind: text(get(&mf, "type"))
                        .unwrap_or_else(|| "gauge".into())
                        .to_ascii_lowercase(),
                    help: text(get(&mf, "help")).or_else(|| text(get(&mf, "description"))),
                    unit: text(get(&mf, "unit")),
                    labels: seq(get(&mf, "labels"))
                        .iter()
                        .filter_map(|l| l.as_scalar().map(str::to_string))
                        .collect(),
                    budget: text(get(&mf, "cardinality_budget"))
                        .or_else(|| text(get(&mf, "budget"))),
                    buckets: seq(get(&mf, "buckets"))
                        .iter()
                        .filter_map(|b| b.as_scalar()?.parse().ok())
                        .collect(),
                    panels: seq(get(&mf, "panels"))
                        .iter()
                        .map(|p| (p.pos.line, pairs(p)))
                        .collect(),
                    alerts: seq(get(&mf, "alerts"))
                        .iter()
                        .map(|a| (a.pos.line, pairs(a)))
                        .collect(),
                    stability: text(get(&mf, "stability")),
                    renamed_from: text(get(&mf, "renamed_from")),
                    dropped: mf
                        .iter()
                        .filter(|(k, _)| !known.contains(k))
                        .map(|(k, _)| k.to_string())
                        .collect(),
                });
            }
        }
    }
    // The namespace: the original's, else the first word most names share.
    let namespace = text(get(&top, "namespace")).unwrap_or_else(|| {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for m in &metrics {
            if let Some(first) = m.name.split('_').next() {
                *counts.entry(first).or_default() += 1;
            }
        }
        counts
            .into_iter()
            .max_by_key(|(w, n)| (*n, std::cmp::Reverse(*w)))
            .map(|(w, _)| w.to_string())
            .unwrap_or_else(|| "app".into())
    });
    let prefix = format!("{namespace}_");
    // Old name -> (new name, unit fix), and every series name to rewrite in PromQL.
    let builtins = builtin_metrics(&prefix);
    let plans: Vec<Plan> = metrics
        .iter()
        .map(|m| {
            let mut p = plan(m);
            if let Some(b) = builtin_of(&p.name, &builtins) {
                // Queries of the original that read it now read the built-in.
                p.name = b.clone();
                p.builtin = Some(b);
            }
            p
        })
        .collect();
    // A family whose every metric is built in has nothing left to declare.
    let kept_family = |f: &str| {
        metrics
            .iter()
            .zip(&plans)
            .any(|(m, p)| m.family == f && p.builtin.is_none())
    };
    let mut series_renames: Vec<(String, String)> = Vec::new();
    for (m, p) in metrics.iter().zip(&plans) {
        if p.kind == "histogram" {
            let (old, new) = (
                m.name.trim_end_matches("_total").to_string(),
                p.name.clone(),
            );
            for s in ["_bucket", "_sum", "_count"] {
                series_renames.push((format!("{old}{s}"), format!("{new}{s}")));
            }
        }
        if m.name != p.name {
            series_renames.push((m.name.clone(), p.name.clone()));
        }
    }
    // Longest first: `x_ms_bucket` before `x_ms`.
    series_renames.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
    let scaled: Vec<(String, f64)> = metrics
        .iter()
        .zip(&plans)
        .filter_map(|(m, p)| {
            p.fix
                .map(|f| (m.name.trim_end_matches("_total").to_string(), f.scale))
        })
        .collect();
    let rename_map: BTreeMap<&str, &str> = series_renames
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    // One pass over the identifiers: `a_total`->`a` beside `a`->`a_total` must not chain.
    let rewrite = |expr: &str| -> String { rename_identifiers(expr, &rename_map) };
    // Labels in first-use order.
    let mut labels: Vec<String> = Vec::new();
    if let Some(NodeKind::Map(defs)) = get(&top, "labels").map(|n| &n.kind) {
        for (k, _) in defs {
            if let Some(k) = k.as_scalar() {
                labels.push(k.to_string());
            }
        }
    }
    let label_defs: BTreeMap<String, &Node> = match get(&top, "labels").map(|n| &n.kind) {
        Some(NodeKind::Map(defs)) => defs
            .iter()
            .filter_map(|(k, v)| k.as_scalar().map(|k| (k.to_string(), v)))
            .collect(),
        _ => BTreeMap::new(),
    };
    for (m, _) in metrics
        .iter()
        .zip(&plans)
        .filter(|(_, p)| p.builtin.is_none())
    {
        for l in &m.labels {
            if !labels.contains(l) && !matches!(l.as_str(), "le" | "quantile") {
                labels.push(l.clone());
            }
        }
    }
    // The built-in fragment declares its labels; the spec may not declare them again.
    let fragment_labels = builtin_labels();
    labels.retain(|l| {
        let builtin = fragment_labels.contains(l);
        if builtin && label_defs.contains_key(l) {
            note(
                label_defs.get(l).map_or(1, |n| n.pos.line),
                format!("label `{l}` is built in: the original's declaration dropped"),
            );
        }
        !builtin
    });

    let mut out = String::new();
    let _ = writeln!(out, "# Migrated by `g6 migrate` from the original G6 format. Review every `# MIGRATE:` line.\nversion: 1\nnamespace: {namespace}\nlabels:");
    if labels.is_empty() {
        out.truncate(out.len() - "labels:\n".len());
        out.push_str("labels: {}\n");
    }
    for l in &labels {
        let values: Vec<String> = label_defs
            .get(l)
            .map(|n| {
                seq(get(&map(n), "values"))
                    .iter()
                    .filter_map(|v| v.as_scalar().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let help = label_defs.get(l).and_then(|n| text(get(&map(n), "help")));
        if values.is_empty() {
            let first = metrics
                .iter()
                .find(|m| m.labels.contains(l))
                .map_or(1, |m| m.line);
            let _ = writeln!(out, "  # MIGRATE: `{l}` is declared open (any value, within each metric's budget); list its values if they are a fixed set");
            note(
                first,
                format!("label `{l}` declared open: list its values if they are a fixed set"),
            );
            let _ = writeln!(
                out,
                "  {l}: {{open: true, help: {}}}",
                yaml_str(&help.unwrap_or_else(|| format!("The {} label", l.replace('_', " "))))
            );
        } else {
            let _ = writeln!(
                out,
                "  {l}: {{values: [{}], help: {}}}",
                values
                    .iter()
                    .map(|v| yaml_str(v))
                    .collect::<Vec<_>>()
                    .join(", "),
                yaml_str(&help.unwrap_or_else(|| format!("The {} label", l.replace('_', " "))))
            );
        }
    }
    out.push_str("dashboards:\n");
    for (f, _, desc) in &families {
        if kept_family(f) {
            let title = format!(
                "{} {}",
                namespace.to_uppercase(),
                f.split('_')
                    .map(|w| {
                        let mut c = w.chars();
                        c.next()
                            .map(|x| x.to_ascii_uppercase().to_string() + c.as_str())
                            .unwrap_or_default()
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            );
            let _ = writeln!(
                out,
                "  {f}: {{title: {}, families: [{f}]{}}}",
                yaml_str(&title),
                desc.as_ref()
                    .map(|d| format!(", description: {}", yaml_str(d)))
                    .unwrap_or_default()
            );
        }
    }
    out.push_str("families:\n");
    let new_names: BTreeSet<&str> = plans.iter().map(|p| p.name.as_str()).collect();
    for (f, owner, desc) in &families {
        if !kept_family(f) {
            let line = metrics
                .iter()
                .find(|m| &m.family == f)
                .map_or(key_line("families"), |m| m.line);
            note(
                line,
                format!("family `{f}` dropped: every metric of it is built in"),
            );
            for (m, p) in metrics.iter().zip(&plans).filter(|(m, _)| &m.family == f) {
                note(m.line, builtin_note(m, p));
            }
            continue;
        }
        let _ = writeln!(out, "  {f}:");
        if let Some(o) = owner {
            let _ = writeln!(out, "    owner: {}", yaml_str(o));
        }
        if let Some(d) = desc {
            let _ = writeln!(out, "    description: {}", yaml_str(d));
        }
        out.push_str("    metrics:\n");
        for (m, p) in metrics.iter().zip(&plans).filter(|(m, _)| &m.family == f) {
            if p.builtin.is_some() {
                let message = builtin_note(m, p);
                let _ = writeln!(out, "      # MIGRATE: {message}");
                note(m.line, message);
                continue;
            }
            for d in &m.dropped {
                let _ = writeln!(
                    out,
                    "      # MIGRATE: dropped the field `{d}` (no counterpart)"
                );
                note(m.line, format!("{}: dropped the field `{d}`", m.name));
            }
            if !m.name.starts_with(&prefix) {
                let _ = writeln!(out, "      # MIGRATE: `{}` does not start with the namespace `{namespace}_`; rename it (and its queries)", m.name);
                note(m.line, format!("{} does not start with `{prefix}`", m.name));
            }
            let _ = writeln!(out, "      - name: {}", p.name);
            let _ = writeln!(out, "        type: {}", p.kind);
            if m.kind == "summary" {
                let _ = writeln!(out, "        # MIGRATE: a summary became a histogram: check the buckets and the queries (quantile labels are gone)");
                note(m.line, format!("{}: summary became a histogram", m.name));
            }
            let help = m.help.clone().unwrap_or_else(|| {
                note(m.line, format!("{}: had no help; write one", m.name));
                format!("{} (migrated: describe it)", p.name.replace('_', " "))
            });
            let _ = writeln!(out, "        help: {}", yaml_str(&help));
            match (p.fix, &m.unit) {
                (Some(fix), _) => {
                    let _ = writeln!(out, "        unit: {}", fix.base);
                    if p.kind != "histogram" {
                        let _ = writeln!(out, "        # MIGRATE: values are now in {} (x{}): the code that sets it must convert", fix.base, num(fix.scale));
                        note(
                            m.line,
                            format!(
                                "{}: now in {}; the code that sets it must multiply by {}",
                                p.name,
                                fix.base,
                                num(fix.scale)
                            ),
                        );
                    } else {
                        let _ = writeln!(out, "        # MIGRATE: observations are now in {} (x{}): the code that observes it must convert", fix.base, num(fix.scale));
                        note(m.line, format!("{}: observations now in {}; the code that observes must multiply by {}", p.name, fix.base, num(fix.scale)));
                    }
                }
                (None, Some(u)) => {
                    let _ = writeln!(out, "        unit: {}", yaml_str(u));
                }
                _ => {}
            }
            let kept: Vec<&String> = m
                .labels
                .iter()
                .filter(|l| !matches!(l.as_str(), "le" | "quantile"))
                .collect();
            if kept.len() < m.labels.len() {
                let _ = writeln!(
                    out,
                    "        # MIGRATE: dropped the reserved label le/quantile"
                );
                note(
                    m.line,
                    format!("{}: dropped a reserved label (le/quantile)", m.name),
                );
            }
            if !kept.is_empty() {
                let _ = writeln!(
                    out,
                    "        labels: [{}]",
                    kept.iter()
                        .map(|l| l.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            let open = kept.iter().any(|l| {
                label_defs
                    .get(*l)
                    .is_none_or(|n| seq(get(&map(n), "values")).is_empty())
            });
            match &m.budget {
                Some(b) if b.parse::<u64>().is_ok() => {
                    let _ = writeln!(out, "        cardinality_budget: {b}");
                }
                Some(b) => {
                    let _ = writeln!(out, "        # MIGRATE: the budget is not a whole number; 100 label sets is a guess");
                    note(
                        m.line,
                        format!("{}: budget {b:?} is not a whole number; set to 100", p.name),
                    );
                    out.push_str("        cardinality_budget: 100\n");
                }
                None if open => {
                    let _ = writeln!(
                        out,
                        "        # MIGRATE: the original had no budget; 100 label sets is a guess"
                    );
                    note(
                        m.line,
                        format!(
                            "{}: no cardinality budget in the original; set to 100",
                            p.name
                        ),
                    );
                    out.push_str("        cardinality_budget: 100\n");
                }
                None => {}
            }
            if p.kind == "histogram" {
                let mut buckets: Vec<f64> = m
                    .buckets
                    .iter()
                    .map(|b| b * p.fix.map_or(1.0, |f| f.scale))
                    .collect();
                if buckets.is_empty() {
                    buckets = vec![
                        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                    ];
                    let _ = writeln!(
                        out,
                        "        # MIGRATE: no buckets in the original: Prometheus' defaults"
                    );
                    note(
                        m.line,
                        format!("{}: no buckets; Prometheus' defaults used", p.name),
                    );
                }
                let _ = writeln!(
                    out,
                    "        buckets: [{}]",
                    buckets
                        .iter()
                        .map(|b| num(*b))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            if let Some(s) = &m.stability {
                if matches!(s.as_str(), "stable" | "experimental" | "deprecated") {
                    let _ = writeln!(out, "        stability: {s}");
                } else {
                    note(
                        m.line,
                        format!(
                            "{}: stability `{s}` dropped (stable, experimental or deprecated)",
                            p.name
                        ),
                    );
                }
            }
            if m.name != p.name {
                if new_names.contains(m.name.as_str()) {
                    note(
                        m.line,
                        format!(
                            "{}: renamed to {}, but another metric already has the old name",
                            m.name, p.name
                        ),
                    );
                } else {
                    let _ = writeln!(out, "        renamed_from: {}", m.name);
                }
                if let Some(r) = &m.renamed_from {
                    note(m.line, format!("{}: its earlier name `{r}` is no longer recorded (one renamed_from per metric)", p.name));
                }
            } else if let Some(r) = &m.renamed_from {
                let _ = writeln!(out, "        renamed_from: {r}");
            }
            // Written once every panel is decided: a metric whose panels are all
            // commented out gets no `panels:` key.
            let mut panels_out = String::new();
            let mut active_panels = 0;
            for (line, fields) in &m.panels {
                let out = &mut panels_out;
                let get = |k: &str| fields.iter().find(|(x, _)| x == k).map(|(_, v)| v.clone());
                let promql = get("promql").or_else(|| get("expr")).unwrap_or_default();
                // Dashboards read rates over Grafana's interval, which follows the
                // scrape interval and the zoom (the build rejects fixed windows).
                let mut rewritten =
                    g6_codegen::dashboard_lint::rate_interval_rewrite(&rewrite(&promql));
                for (old, scale) in &scaled {
                    if mentions(&promql, &format!("{old}_bucket")) {
                        rewritten = scale_le(&rewritten, *scale);
                    }
                }
                let title = get("title").unwrap_or_else(|| p.name.clone());
                let lost = g6_spec::promql::count_values_lost_grouping(&rewritten);
                let mut commented = false;
                if let Some(first) = lost.first() {
                    let by = first.join(", ");
                    if lost.iter().all(|l| l == first)
                        && bare_count_values(&rewritten) == lost.len()
                    {
                        rewritten = count_values_by(&rewritten, first);
                        let _ = writeln!(out, "          # MIGRATE: `count_values` had no `by()`, so the grouping by ({by}) around it found nothing; it counts by ({by}) now");
                        note(*line, format!("panel `{title}`: `count_values` without `by()` lost the grouping by ({by}); rewritten as `count_values by ({by})`"));
                    } else {
                        commented = true;
                        let _ = writeln!(out, "          # MIGRATE: commented out: a `count_values` without `by()` loses the labels the query groups by; decide what it should count by");
                        note(*line, format!("panel `{title}` commented out: a `count_values` without `by()` loses the grouping around it; decide what it should count by"));
                    }
                }
                if promql.contains("1000")
                    && scaled.iter().any(|(old, _)| promql.contains(old.as_str()))
                {
                    let _ = writeln!(out, "          # MIGRATE: the query divides or multiplies by 1000; the metric is in base units now, so that may go");
                    note(
                        *line,
                        "a panel query scales by 1000; check it against the base unit".into(),
                    );
                }
                let kind = get("kind").map(|k| (panel_kind(&k), k));
                let mut entry = vec![];
                match &kind {
                    Some((Some(k), _)) => entry.push(format!("kind: {k}")),
                    Some((None, k)) => {
                        let _ = writeln!(out, "          # MIGRATE: panel kind `{k}` has no counterpart; the panel keeps its title and query");
                        note(*line, format!("panel kind `{k}` has no counterpart: the panel `{title}` is kept without a kind"));
                    }
                    None => {}
                }
                entry.push(format!("title: {}", yaml_str(&title)));
                entry.push(format!("promql: {}", yaml_str(&rewritten)));
                if let Some(u) = get("unit") {
                    match grafana_unit(&u, p.fix) {
                        Some(u) => entry.push(format!("unit: {}", yaml_str(&u))),
                        None => {
                            let _ = writeln!(out, "          # MIGRATE: Grafana unit `{u}` dropped (not one Grafana knows)");
                            note(*line, format!("panel unit `{u}` dropped"));
                        }
                    }
                }
                if let Some(t) = get("panel_type").or_else(|| get("type")) {
                    match panel_type(&t) {
                        Some(t) => entry.push(format!("panel_type: {t}")),
                        None => {
                            let _ = writeln!(out, "          # MIGRATE: panel type `{t}` dropped");
                            note(*line, format!("panel type `{t}` dropped"));
                        }
                    }
                }
                if commented {
                    let _ = writeln!(out, "          # - {{{}}}", entry.join(", "));
                } else {
                    active_panels += 1;
                    let _ = writeln!(out, "          - {{{}}}", entry.join(", "));
                }
            }
            if active_panels > 0 {
                out.push_str("        panels:\n");
            }
            out.push_str(&panels_out);
            if !m.alerts.is_empty() {
                out.push_str("        alerts:\n");
            }
            for (line, fields) in &m.alerts {
                let get = |k: &str| fields.iter().find(|(x, _)| x == k).map(|(_, v)| v.clone());
                let expr = get("expr").unwrap_or_default();
                let mut rewritten = rewrite(&expr);
                // The scaled metrics this alert reads, through any of their series.
                let reads: Vec<&(String, f64)> = scaled
                    .iter()
                    .filter(|(old, _)| {
                        ["", "_bucket", "_sum", "_count", "_total"]
                            .iter()
                            .any(|x| mentions(&expr, &format!("{old}{x}")))
                    })
                    .collect();
                if let Some((old, scale)) = reads.first() {
                    let bucket = mentions(&expr, &format!("{old}_bucket"));
                    if bucket {
                        rewritten = scale_le(&rewritten, *scale);
                    }
                    // The threshold is in the metric's unit only when the compared value
                    // is the quantity itself: a quantile, the gauge, or sum/count. A
                    // share of buckets is unitless and stays.
                    let quantile = bucket && expr.contains("histogram_quantile");
                    let mean = mentions(&expr, &format!("{old}_sum"))
                        && mentions(&expr, &format!("{old}_count"));
                    let gauge = mentions(&expr, old) && !bucket;
                    let share = bucket && !quantile;
                    let scaled_threshold = if reads.len() == 1 && (quantile || mean || gauge) {
                        scale_threshold(&rewritten, *scale)
                    } else {
                        None
                    };
                    match scaled_threshold {
                        Some(t) => rewritten = t,
                        None if share && reads.len() == 1 => {}
                        None => {
                            let _ = writeln!(out, "          # MIGRATE: check the threshold: what it compares is now in base units (x{})", num(*scale));
                            note(
                                *line,
                                "alert threshold not rescaled; check it against the base unit"
                                    .into(),
                            );
                        }
                    }
                }
                let severity = match get("severity")
                    .unwrap_or_default()
                    .to_ascii_lowercase()
                    .as_str()
                {
                    "critical" | "page" | "high" | "error" | "sev1" => "critical",
                    "warning" | "warn" | "medium" | "sev2" => "warning",
                    "info" | "low" | "notice" | "sev3" => "info",
                    other => {
                        let _ = writeln!(
                            out,
                            "          # MIGRATE: severity `{other}` read as warning"
                        );
                        note(*line, format!("alert severity `{other}` became warning"));
                        "warning"
                    }
                };
                let name = get("alert").unwrap_or_else(|| "MigratedAlert".into());
                let _ = writeln!(
                    out,
                    "          - alert: {}\n            expr: {}",
                    yaml_str(&name),
                    yaml_str(&rewritten)
                );
                if let Some(f) = get("for") {
                    let _ = writeln!(out, "            for: {}", yaml_str(&f));
                }
                let _ = writeln!(
                    out,
                    "            severity: {severity}\n            summary: {}",
                    yaml_str(&get("summary").unwrap_or_else(|| name.clone()))
                );
                if let Some(d) = get("description") {
                    let _ = writeln!(out, "            description: {}", yaml_str(&d));
                }
            }
        }
    }
    notes.sort_by(|a, b| (a.line, &a.message).cmp(&(b.line, &b.message)));
    Ok(Migration { yaml: out, notes })
}

/// The note for a metric dropped as built in, naming what went with it.
fn builtin_note(m: &OldMetric, p: &Plan<'_>) -> String {
    let b = p.builtin.as_deref().unwrap_or_default();
    let mut gone: Vec<String> = Vec::new();
    if !m.panels.is_empty() {
        gone.push(format!("{} panel(s)", m.panels.len()));
    }
    if !m.alerts.is_empty() {
        gone.push(format!("{} alert(s)", m.alerts.len()));
    }
    let reads = if m.name == b {
        "built in (queries keep reading it)".to_string()
    } else {
        format!("built in as `{b}`; queries that read it read `{b}`")
    };
    format!(
        "dropped `{}`: the runtime has it {reads}{}",
        m.name,
        if gone.is_empty() {
            String::new()
        } else {
            format!(
                "; its {} went with it (the built-in has its own, see generated/METRICS_CATALOG.md)",
                gone.join(" and ")
            )
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_and_le_matchers_scale_with_the_unit() {
        assert_eq!(
            scale_threshold("histogram_quantile(0.95, x) > 1500", 0.001).as_deref(),
            Some("histogram_quantile(0.95, x) > 1.5")
        );
        assert_eq!(
            scale_threshold("x{a=\"1\"} > 1", 0.001).as_deref(),
            Some("x{a=\"1\"} > 0.001")
        );
        assert_eq!(scale_threshold("rate(x[5m])", 0.001), None);
        assert_eq!(
            scale_le("x_bucket{le=\"500\"} / x_bucket{le=\"+Inf\"}", 0.001),
            "x_bucket{le=\"0.5\"} / x_bucket{le=\"+Inf\"}"
        );
        let renames: BTreeMap<&str, &str> = [
            ("a_ms_bucket", "a_seconds_bucket"),
            ("a_total", "a"),
            ("a", "a_total"),
        ]
        .into_iter()
        .collect();
        // One pass: a rename never feeds another; quoted values stay.
        assert_eq!(
            rename_identifiers(
                "rate(a_ms_bucket[5m]) + a_ms_bucketx + a_total + a{x=\"a\"}",
                &renames
            ),
            "rate(a_seconds_bucket[5m]) + a_ms_bucketx + a + a_total{x=\"a\"}"
        );
        assert_eq!(
            scale_le("x{module=\"5\",le=\"500\"}", 0.001),
            "x{module=\"5\",le=\"0.5\"}"
        );
        // A multibyte character before the number is not cut.
        assert_eq!(scale_threshold("x > 1500 # dépassé 1", 0.001), None);
        assert_eq!(
            scale_threshold("é > 1500", 0.001).as_deref(),
            Some("é > 1.5")
        );
    }

    #[test]
    fn count_values_gets_the_grouping_it_lost() {
        let by = ["mny".to_string(), "dte".to_string()];
        assert_eq!(
            count_values_by("sum by (mny, dte) (count_values(\"iv\", x))", &by),
            "sum by (mny, dte) (count_values by (mny, dte) (\"iv\", x))"
        );
        // One that has its grouping, and a longer identifier, stay.
        assert_eq!(
            count_values_by("count_values by (a) (\"v\", x) + my_count_values", &by),
            "count_values by (a) (\"v\", x) + my_count_values"
        );
        assert_eq!(
            bare_count_values("count_values(\"v\", x) / count_values by (a) (\"v\", x)"),
            1
        );
    }

    #[test]
    fn runtime_metrics_are_found_with_or_without_total() {
        let b = builtin_metrics("g6_");
        assert_eq!(
            builtin_of("g6_metric_duplicates", &b).as_deref(),
            Some("g6_metric_duplicates_total")
        );
        assert_eq!(
            builtin_of("g6_cardinality_series_total", &b).as_deref(),
            Some("g6_cardinality_series")
        );
        assert_eq!(builtin_of("g6_api_calls_total", &b), None);
        assert!(builtin_labels().contains(&"emitter".to_string()));
    }

    #[test]
    fn panel_kinds_map_to_ours() {
        assert_eq!(panel_kind("latency_p95"), Some("quantile"));
        assert_eq!(panel_kind("rate_by_result"), Some("rate"));
        assert_eq!(panel_kind("success_rate"), Some("ratio"));
        assert_eq!(panel_kind("sparkle"), None);
    }
}
