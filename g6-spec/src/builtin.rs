//! The runtime's built-in spec fragment (`builtin.yml`) and its merge into a spec.
//!
//! g6-runtime never names a metric; its own metrics (cardinality, duplicates,
//! emission failures, batcher health, spec hash) are declared here, instantiated under
//! the spec's namespace and merged into the parsed tree before decoding, so they are
//! validated, hashed, documented and put on dashboards like any other metric. The
//! generated code hands them to the runtime as `SelfMetrics`.

use crate::diag::{Code, Diagnostic, Pos};
use crate::naming::{is_snake, pascal_case};
use crate::yaml::{self, Node, NodeKind};

/// The fragment with `@ns@` / `@Ns@` placeholders for the namespace.
pub const FRAGMENT: &str = include_str!("builtin.yml");

/// The fragment's text for `namespace`.
pub fn fragment_text(namespace: &str) -> String {
    let prefix = if namespace.is_empty() {
        String::new()
    } else {
        format!("{namespace}_")
    };
    FRAGMENT
        .replace("@ns@_", &prefix)
        .replace("@Ns@", &pascal_case(namespace))
}

/// Metric names of the fragment without the namespace prefix, in fragment order:
/// the field names of the runtime's `SelfMetrics`.
pub fn metric_short_names() -> Vec<String> {
    let Some(root) = parse_fragment("") else {
        return Vec::new();
    };
    metric_names(&root)
}

fn parse_fragment(namespace: &str) -> Option<Node> {
    let (root, errors) = yaml::parse(&fragment_text(namespace));
    // The fragment is ours and tested; an error here is a bug in this crate.
    debug_assert!(errors.is_empty(), "{errors:?}");
    let mut root = root?;
    unposition(&mut root);
    Some(root)
}

/// Line 0 marks nodes that come from the fragment (diagnostics say "built-in").
fn unposition(node: &mut Node) {
    node.pos = Pos { line: 0, col: 0 };
    match &mut node.kind {
        NodeKind::Scalar { .. } => {}
        NodeKind::Seq(items) => items.iter_mut().for_each(unposition),
        NodeKind::Map(entries) => entries.iter_mut().for_each(|(k, v)| {
            unposition(k);
            unposition(v);
        }),
    }
}

fn get<'a>(map: &'a [(Node, Node)], key: &str) -> Option<&'a Node> {
    map.iter()
        .find(|(k, _)| k.as_scalar() == Some(key))
        .map(|(_, v)| v)
}

fn get_mut<'a>(map: &'a mut [(Node, Node)], key: &str) -> Option<&'a mut Node> {
    map.iter_mut()
        .find(|(k, _)| k.as_scalar() == Some(key))
        .map(|(_, v)| v)
}

fn entries(node: &Node) -> &[(Node, Node)] {
    match &node.kind {
        NodeKind::Map(e) => e,
        _ => &[],
    }
}

/// Every `families.*.metrics[].name` of a tree, as written.
fn metric_names(root: &Node) -> Vec<String> {
    let mut out = Vec::new();
    for (_, family) in get(entries(root), "families").map_or(&[][..], entries) {
        if let Some(NodeKind::Seq(metrics)) = get(entries(family), "metrics").map(|m| &m.kind) {
            for m in metrics {
                if let Some(name) = get(entries(m), "name").and_then(Node::as_scalar) {
                    out.push(name.to_string());
                }
            }
        }
    }
    out
}

fn key(name: &str) -> Node {
    Node {
        pos: Pos { line: 0, col: 0 },
        kind: NodeKind::Scalar {
            text: name.to_string(),
            quoted: false,
        },
    }
}

/// True when two label declarations agree: both open, or both closed with the same
/// values in the same order (the runtime indexes closed values by position).
fn same_label(user: &Node, builtin: &Node) -> bool {
    let values = |n: &Node| -> Option<Vec<String>> {
        match &get(entries(n), "values")?.kind {
            NodeKind::Seq(items) => Some(
                items
                    .iter()
                    .map(|i| i.as_scalar().unwrap_or("").to_string())
                    .collect(),
            ),
            _ => Some(Vec::new()),
        }
    };
    values(user) == values(builtin)
}

/// Merge the fragment into `root` (a parsed spec). Does nothing when the namespace is
/// missing or invalid (validation reports that). Clashes are reported at the user's
/// node; the clashing fragment entry is then left out.
pub fn merge(root: &mut Node) -> Vec<Diagnostic> {
    let mut errors = Vec::new();
    let NodeKind::Map(top) = &mut root.kind else {
        return errors;
    };
    let Some(namespace) = get(top, "namespace").and_then(Node::as_scalar) else {
        return errors;
    };
    if !namespace.is_empty() && !is_snake(namespace) {
        return errors;
    }
    let Some(fragment) = parse_fragment(namespace) else {
        return errors;
    };
    merge_labels(top, get(entries(&fragment), "labels"), &mut errors);
    merge_families(top, get(entries(&fragment), "families"), &mut errors);
    fit_per_metric_budgets(root, namespace_prefix(root));
    restrict_budget_alert(root, &namespace_prefix(root));
    errors
}

/// The placeholder in the near-budget alert for the metrics whose budget can be
/// exceeded.
const EXCEEDABLE: &str = "@exceedable@";

/// Metrics whose budget can be exceeded: those with an open label, except the
/// built-in ones bounded by construction (the hash info metrics hold one series; the
/// per-metric governance series, the bucket layouts among them, have a budget of at
/// least the number of metrics).
fn exceedable_metrics(root: &Node, prefix: &str) -> Vec<String> {
    let closed: Vec<&str> = get(entries(root), "labels")
        .map_or(&[][..], entries)
        .iter()
        .filter(|(_, def)| get(entries(def), "values").is_some())
        .filter_map(|(k, _)| k.as_scalar())
        .collect();
    let bounded: Vec<String> = [
        "metrics_spec_hash_info",
        "build_config_hash_info",
        "cardinality_series",
        "cardinality_budget",
        "cardinality_overflow_total",
        "bucket_layout_info",
        "metric_duplicates_total",
    ]
    .iter()
    .map(|m| format!("{prefix}{m}"))
    .collect();
    let mut out = Vec::new();
    for (_, family) in get(entries(root), "families").map_or(&[][..], entries) {
        let Some(NodeKind::Seq(metrics)) = get(entries(family), "metrics").map(|m| &m.kind) else {
            continue;
        };
        for m in metrics {
            let Some(name) = get(entries(m), "name").and_then(Node::as_scalar) else {
                continue;
            };
            let open = match get(entries(m), "labels").map(|l| &l.kind) {
                Some(NodeKind::Seq(labels)) => labels
                    .iter()
                    .filter_map(Node::as_scalar)
                    .any(|l| !closed.contains(&l)),
                _ => false,
            };
            if open && !bounded.iter().any(|b| b == name) {
                out.push(name.to_string());
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Point the near-budget alert at the metrics whose budget can be exceeded, or drop
/// it when there are none: a metric of closed labels only has its combinations as
/// its budget, so 100% use is its healthy state, never a warning.
fn restrict_budget_alert(root: &mut Node, prefix: &str) {
    let names = exceedable_metrics(root, prefix).join("|");
    let NodeKind::Map(top) = &mut root.kind else {
        return;
    };
    let Some(Node {
        kind: NodeKind::Map(families),
        ..
    }) = get_mut(top, "families")
    else {
        return;
    };
    for (_, family) in families.iter_mut() {
        let NodeKind::Map(fields) = &mut family.kind else {
            continue;
        };
        let Some(Node {
            kind: NodeKind::Seq(list),
            ..
        }) = get_mut(fields, "metrics")
        else {
            continue;
        };
        for metric in list.iter_mut() {
            let NodeKind::Map(fields) = &mut metric.kind else {
                continue;
            };
            let Some(Node {
                kind: NodeKind::Seq(alerts),
                ..
            }) = get_mut(fields, "alerts")
            else {
                continue;
            };
            alerts.retain_mut(|alert| {
                let NodeKind::Map(fields) = &mut alert.kind else {
                    return true;
                };
                let Some(Node {
                    kind: NodeKind::Scalar { text, .. },
                    ..
                }) = get_mut(fields, "expr")
                else {
                    return true;
                };
                if !text.contains(EXCEEDABLE) {
                    return true;
                }
                *text = text.replace(EXCEEDABLE, &names);
                !names.is_empty()
            });
        }
    }
}

fn namespace_prefix(root: &Node) -> String {
    match get(entries(root), "namespace").and_then(Node::as_scalar) {
        Some("") | None => String::new(),
        Some(ns) => format!("{ns}_"),
    }
}

/// Metrics labelled by metric name (`*_cardinality_series{metric}` and friends) have
/// one series per metric of the spec: their budget is at least the number of metrics,
/// so a large spec never overflows its own governance series (duplicates get the
/// number of metrics on top of their own budget: other collectors can collide too).
fn fit_per_metric_budgets(root: &mut Node, prefix: String) {
    let metrics = metric_names(root).len();
    // Duplicates are warm for every metric of the spec and may name collectors of
    // the application's own: its fragment budget is headroom beyond the spec's names.
    let duplicates = format!("{prefix}metric_duplicates_total");
    let per_metric: Vec<String> = [
        "metric_duplicates_total",
        "cardinality_series",
        "cardinality_budget",
        "cardinality_overflow_total",
        "bucket_layout_info",
    ]
    .iter()
    .map(|m| format!("{prefix}{m}"))
    .collect();
    let NodeKind::Map(top) = &mut root.kind else {
        return;
    };
    let Some(Node {
        kind: NodeKind::Map(families),
        ..
    }) = get_mut(top, "families")
    else {
        return;
    };
    for (_, family) in families.iter_mut() {
        let NodeKind::Map(fields) = &mut family.kind else {
            continue;
        };
        let Some(Node {
            kind: NodeKind::Seq(list),
            ..
        }) = get_mut(fields, "metrics")
        else {
            continue;
        };
        for metric in list.iter_mut() {
            let NodeKind::Map(fields) = &mut metric.kind else {
                continue;
            };
            let name = get(fields, "name").and_then(Node::as_scalar);
            if !name.is_some_and(|n| per_metric.iter().any(|p| p == n)) {
                continue;
            }
            let headroom = name == Some(duplicates.as_str());
            if let Some(Node {
                kind: NodeKind::Scalar { text, .. },
                ..
            }) = get_mut(fields, "cardinality_budget")
            {
                let current: usize = text.parse().unwrap_or(0);
                if headroom {
                    *text = (metrics + current).to_string();
                } else if metrics > current {
                    *text = metrics.to_string();
                }
            }
        }
    }
}

fn merge_labels(top: &mut Vec<(Node, Node)>, builtin: Option<&Node>, errors: &mut Vec<Diagnostic>) {
    let Some(builtin) = builtin else { return };
    if get(top, "labels").is_none() {
        top.push((
            key("labels"),
            Node {
                pos: Pos { line: 0, col: 0 },
                kind: NodeKind::Map(Vec::new()),
            },
        ));
    }
    let Some(Node {
        kind: NodeKind::Map(user),
        ..
    }) = get_mut(top, "labels")
    else {
        return;
    };
    for (name, def) in entries(builtin) {
        let label = name.as_scalar().unwrap_or("");
        match user.iter().find(|(k, _)| k.as_scalar() == Some(label)) {
            Some((k, v)) => {
                if !same_label(v, def) {
                    errors.push(Diagnostic::error(
                        Code::BuiltinConflict,
                        k.pos,
                        format!("label `{label}` is used by the runtime's built-in metrics with a different set of values"),
                        match get(entries(def), "values") {
                            Some(Node { kind: NodeKind::Seq(values), .. }) => format!(
                                "remove this declaration (the built-in `{label}` has the values [{}]), or name your label differently",
                                values.iter().filter_map(Node::as_scalar).collect::<Vec<_>>().join(", ")
                            ),
                            _ => format!("remove this declaration (the built-in `{label}` is an open label), or name your label differently"),
                        },

                    ));
                }
            }
            None => user.push((name.clone(), def.clone())),
        }
    }
}

fn merge_families(top: &mut [(Node, Node)], builtin: Option<&Node>, errors: &mut Vec<Diagnostic>) {
    let Some(builtin) = builtin else { return };
    let Some(Node {
        kind: NodeKind::Map(user),
        ..
    }) = get_mut(top, "families")
    else {
        // No families at all: decoding reports it; nothing to merge into.
        return;
    };
    // Report user metrics that redefine a built-in one, and leave the built-in copy out.
    let builtin_names = metric_names(&Node {
        pos: Pos { line: 0, col: 0 },
        kind: NodeKind::Map(vec![(key("families"), builtin.clone())]),
    });
    let mut clashes = Vec::new();
    for (_, family) in user.iter() {
        if let Some(NodeKind::Seq(metrics)) = get(entries(family), "metrics").map(|m| &m.kind) {
            for m in metrics {
                if let Some(n) = get(entries(m), "name") {
                    let name = n.as_scalar().unwrap_or("");
                    if builtin_names.iter().any(|b| b == name) {
                        errors.push(Diagnostic::error(
                            Code::BuiltinConflict,
                            n.pos,
                            format!("`{name}` is a built-in metric of the runtime"),
                            "remove it from the spec: every spec has it, merged from the built-in fragment (see README, \"Built-in metrics\")",
                        ));
                        clashes.push(name.to_string());
                    }
                }
            }
        }
    }
    for (fname, fdef) in entries(builtin) {
        let family = fname.as_scalar().unwrap_or("");
        let mut def = fdef.clone();
        if let NodeKind::Map(fields) = &mut def.kind {
            if let Some(Node {
                kind: NodeKind::Seq(metrics),
                ..
            }) = get_mut(fields, "metrics")
            {
                metrics.retain(|m| {
                    let name = get(entries(m), "name")
                        .and_then(Node::as_scalar)
                        .unwrap_or("");
                    !clashes.iter().any(|c| c == name)
                });
            }
        }
        match user.iter_mut().find(|(k, _)| k.as_scalar() == Some(family)) {
            None => user.push((fname.clone(), def)),
            Some((_, existing)) => {
                if existing.is_null() {
                    existing.kind = NodeKind::Map(Vec::new());
                }
                let NodeKind::Map(fields) = &mut existing.kind else {
                    // Not a mapping: decoding reports it.
                    continue;
                };
                for (k, v) in entries(&def) {
                    let field = k.as_scalar().unwrap_or("");
                    let slot = fields
                        .iter_mut()
                        .find(|(uk, _)| uk.as_scalar() == Some(field));
                    match (field, slot) {
                        // The user's own metrics follow the built-in ones.
                        ("metrics", Some((_, uv))) => {
                            if let (NodeKind::Seq(theirs), NodeKind::Seq(ours)) =
                                (&mut uv.kind, &v.kind)
                            {
                                let mut merged = ours.clone();
                                merged.append(theirs);
                                *theirs = merged;
                            } else if uv.is_null() {
                                *uv = v.clone();
                            }
                        }
                        // Owner, description and the like: the user's word stands.
                        (_, Some(_)) => {}
                        (_, None) => fields.push((k.clone(), v.clone())),
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragment_parses_for_any_valid_namespace() {
        for ns in ["g6", "shop", "a1_b2", ""] {
            let (root, errors) = yaml::parse(&fragment_text(ns));
            assert!(errors.is_empty(), "{ns}: {errors:?}");
            let names = metric_names(&root.unwrap());
            assert_eq!(names.len(), 20, "{ns}");
            let prefix = if ns.is_empty() {
                String::new()
            } else {
                format!("{ns}_")
            };
            assert!(
                names.iter().all(|n| n.starts_with(&prefix)),
                "{ns}: {names:?}"
            );
        }
    }

    #[test]
    fn governance_budgets_grow_with_the_number_of_metrics() {
        let mut spec =
            String::from("version: 1\nnamespace: big\nfamilies:\n  core:\n    metrics:\n");
        for i in 0..300 {
            spec.push_str(&format!(
                "      - {{name: big_m{i}, type: gauge, help: m}}\n"
            ));
        }
        let loaded = crate::load_str(&spec, "big.yml").expect("valid");
        let budget = |name: &str| {
            loaded
                .spec
                .metrics()
                .find(|(_, m)| m.name.value == name)
                .map(|(_, m)| m.effective_budget(&loaded.spec))
        };
        // 300 of the spec's own and 20 built in.
        assert_eq!(budget("big_cardinality_series"), Some(320));
        assert_eq!(budget("big_cardinality_overflow_total"), Some(320));
        // Small specs keep the fragment's 200.
        let small = crate::load_str(
            "version: 1\nnamespace: s\nfamilies:\n  core:\n    metrics:\n      - {name: s_m, type: gauge, help: m}\n",
            "s.yml",
        )
        .expect("valid");
        let b = small
            .spec
            .metrics()
            .find(|(_, m)| m.name.value == "s_cardinality_budget")
            .map(|(_, m)| m.effective_budget(&small.spec));
        assert_eq!(b, Some(200));
    }

    #[test]
    fn short_names_are_the_runtime_self_metric_fields() {
        let names = metric_short_names();
        assert_eq!(
            names.first().map(String::as_str),
            Some("metrics_spec_hash_info")
        );
        assert!(names.contains(&"metrics_batch_flush_duration_seconds".to_string()));
        assert!(names.contains(&"exporter_connections_closed_total".to_string()));
        assert!(!names.iter().any(|n| n.contains('@')));
    }
}
