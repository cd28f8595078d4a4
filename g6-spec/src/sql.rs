//! The checks of the spec's SQL dashboards (`sql_dashboards:`): panel types and units,
//! unique slugs, titles and variables, and every `$` reference in their SQL (variables
//! declared before use, macros the ClickHouse plugin expands on every supported version).

use crate::diag::{Code, Diagnostic};
use crate::model::{Spec, SqlPanel};

/// Panel types a SQL panel may use.
pub const SQL_PANEL_TYPES: &[&str] = &["timeseries", "barchart", "trend", "table", "stat"];

/// The Grafana macros the ClickHouse plugin expands that these dashboards may use (the
/// ones that work on every server version we support).
pub const MACROS: &[&str] = &[
    "timeFilter",
    "dateFilter",
    "fromTime",
    "toTime",
    "interval_s",
];

/// One `$...` reference in SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    /// `$__name` (a macro).
    Macro(String),
    /// `$name`, `${name}` or `[[name]]` (a dashboard variable).
    Variable(String),
}

/// Every `$` reference in `sql`, in order.
pub fn references(sql: &str) -> Vec<Reference> {
    let bytes = sql.as_bytes();
    let ident = |start: usize| {
        let mut end = start;
        while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
            end += 1;
        }
        end
    };
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'$' {
            if bytes[i + 1..].starts_with(b"__") {
                let end = ident(i + 3);
                out.push(Reference::Macro(sql[i + 3..end].to_string()));
                i = end;
                continue;
            }
            if bytes.get(i + 1) == Some(&b'{') {
                let end = ident(i + 2);
                out.push(Reference::Variable(sql[i + 2..end].to_string()));
                i = end;
                continue;
            }
            let end = ident(i + 1);
            if end > i + 1 {
                out.push(Reference::Variable(sql[i + 1..end].to_string()));
            }
            i = end.max(i + 1);
            continue;
        }
        if bytes[i..].starts_with(b"[[") {
            let end = ident(i + 2);
            if end > i + 2 {
                out.push(Reference::Variable(sql[i + 2..end].to_string()));
            }
            i = end.max(i + 2);
            continue;
        }
        i += 1;
    }
    out
}

/// Check one SQL dashboard: panel types and units, unique titles and variables, and
/// every reference in its SQL (a variable may use only the variables before it).
pub fn validate(spec: &Spec, out: &mut Vec<Diagnostic>) {
    let mut slugs = std::collections::BTreeSet::new();
    for d in &spec.dashboards {
        slugs.insert(d.slug.value.clone());
    }
    for d in &spec.sql_dashboards {
        out.extend(crate::naming::dashboard_slug_problem(
            &spec.namespace.value,
            &d.slug.value,
            d.slug.pos,
        ));
        if !slugs.insert(d.slug.value.clone()) {
            out.push(Diagnostic::error(
                Code::DuplicateName,
                d.slug.pos,
                format!("dashboard `{}` is declared twice", d.slug.value),
                "SQL dashboards and PromQL dashboards share one set of slugs; rename one",
            ));
        }
        let mut declared: Vec<&str> = Vec::new();
        for v in &d.variables {
            check_sql(&v.sql, &declared, &d.slug.value, out);
            if declared.contains(&v.name.value.as_str()) {
                out.push(Diagnostic::error(
                    Code::DuplicateName,
                    v.name.pos,
                    format!("variable `{}` is declared twice", v.name.value),
                    "keep one",
                ));
            }
            declared.push(&v.name.value);
        }
        if d.panels.is_empty() {
            out.push(Diagnostic::error(
                Code::MissingField,
                d.pos,
                format!("SQL dashboard `{}` has no panels", d.slug.value),
                "add at least one panel with `title`, `panel_type` and `sql`",
            ));
        }
        let mut titles = std::collections::BTreeSet::new();
        for p in &d.panels {
            check_panel(p, &declared, &d.slug.value, out);
            if !titles.insert(p.title.value.as_str()) {
                out.push(Diagnostic::error(
                    Code::DuplicateName,
                    p.title.pos,
                    format!(
                        "panel title `{}` appears twice in `{}`",
                        p.title.value, d.slug.value
                    ),
                    "give each panel its own title",
                ));
            }
        }
    }
}

fn check_panel(p: &SqlPanel, declared: &[&str], slug: &str, out: &mut Vec<Diagnostic>) {
    if !SQL_PANEL_TYPES.contains(&p.panel_type.value.as_str()) {
        out.push(Diagnostic::error(
            Code::BadValue,
            p.panel_type.pos,
            format!(
                "panel_type `{}` is not a SQL panel type",
                p.panel_type.value
            ),
            format!("use one of: {}", SQL_PANEL_TYPES.join(", ")),
        ));
    }
    if let Some(u) = &p.unit {
        if !crate::grafana::GRAFANA_UNITS.contains(&u.value.as_str()) {
            out.push(Diagnostic::error(
                Code::BadValue,
                u.pos,
                format!("`{}` is not a Grafana unit this generator knows", u.value),
                format!("use one of: {}", crate::grafana::GRAFANA_UNITS.join(", ")),
            ));
        }
    }
    if let Some(x) = &p.x_field {
        check_x_field(p, x, out);
    }
    check_sql(&p.sql, declared, slug, out);
}

/// Panel types with an x axis of a chosen column.
pub const X_FIELD_PANEL_TYPES: &[&str] = &["barchart", "trend"];

/// `x_field` is for a barchart or trend panel and names a column its SQL mentions.
fn check_x_field(p: &SqlPanel, x: &crate::model::Spanned<String>, out: &mut Vec<Diagnostic>) {
    if !X_FIELD_PANEL_TYPES.contains(&p.panel_type.value.as_str()) {
        out.push(Diagnostic::error(
            Code::BadValue,
            x.pos,
            format!(
                "`x_field` is set on the {} panel `{}`",
                p.panel_type.value, p.title.value
            ),
            format!(
                "only {} panels have an x axis of a chosen column: drop it",
                X_FIELD_PANEL_TYPES.join(" and ")
            ),
        ));
        return;
    }
    let word = |w: &str| w == x.value;
    let mentioned = p
        .sql
        .value
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .any(word);
    if x.value.is_empty() || !mentioned {
        out.push(Diagnostic::error(
            Code::BadValue,
            x.pos,
            format!(
                "`x_field: {}` of panel `{}` is not a column its SQL mentions",
                x.value, p.title.value
            ),
            "name a column the query returns, e.g. `x_field: strike` for `SELECT strike, ...`",
        ));
    }
}

fn check_sql(
    sql: &crate::model::Spanned<String>,
    declared: &[&str],
    slug: &str,
    out: &mut Vec<Diagnostic>,
) {
    if sql.value.trim().is_empty() {
        out.push(Diagnostic::error(
            Code::BadSql,
            sql.pos,
            format!("empty SQL in `{slug}`"),
            "write the query, e.g. SELECT ... FROM option_chain WHERE $__timeFilter(as_of)",
        ));
        return;
    }
    for r in references(&sql.value) {
        match r {
            Reference::Macro(m) if !MACROS.contains(&m.as_str()) => {
                out.push(Diagnostic::error(
                    Code::BadSql,
                    sql.pos,
                    format!("`$__{m}` is not a macro these dashboards may use"),
                    format!(
                        "use one of: {}",
                        MACROS
                            .iter()
                            .map(|m| format!("$__{m}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
            Reference::Variable(v) if !declared.contains(&v.as_str()) => {
                out.push(Diagnostic::error(
                    Code::BadSql,
                    sql.pos,
                    format!("`${v}` is not a variable declared before this query in `{slug}`"),
                    if declared.is_empty() {
                        "declare it under `variables:`".to_string()
                    } else {
                        format!("declared so far: {}", declared.join(", "))
                    },
                ));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_find_macros_and_every_variable_spelling() {
        let r = references("SELECT $__timeFilter(t), '${index}', $expiry, [[kind]], 'ü$' FROM x");
        assert_eq!(
            r,
            vec![
                Reference::Macro("timeFilter".into()),
                Reference::Variable("index".into()),
                Reference::Variable("expiry".into()),
                Reference::Variable("kind".into()),
            ]
        );
    }
}
