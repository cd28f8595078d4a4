//! Dashboards of SQL panels over the column store, for Grafana's ClickHouse data source
//! (`grafana-clickhouse-datasource`): the spec's `sql_dashboards:` rendered to dashboard
//! JSON, the data source's provisioning file, the checks of a panel's SQL (variables
//! declared, macros known), and the macro expansion the plugin performs, so tests can
//! run every panel's query against a real server.

use crate::diag::{Code, Diagnostic};
use crate::model::{Spec, SqlDashboard, SqlPanel};
use serde_json::{json, Value};

/// The data source plugin's type.
pub const DATASOURCE_TYPE: &str = "grafana-clickhouse-datasource";
/// The uid the generated dashboards and the provisioning file share.
pub const DATASOURCE_UID: &str = "clickhouse";
/// Directory (under `generated/`) that holds the SQL dashboards: beside the Prometheus
/// ones, so each folder holds one data source's dashboards.
pub const SQL_DASHBOARD_DIR: &str = "grafana/sql_dashboards";

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
        if !crate::naming::is_snake(&d.slug.value) {
            out.push(Diagnostic::error(
                Code::InvalidName,
                d.slug.pos,
                format!("dashboard slug `{}` is not snake_case", d.slug.value),
                "use lowercase letters, digits and underscores; it becomes the file name and uid",
            ));
        } else {
            let uid = crate::naming::dashboard_uid(&spec.namespace.value, &d.slug.value);
            if uid.len() > 40 {
                out.push(Diagnostic::error(
                    Code::InvalidName,
                    d.slug.pos,
                    format!(
                        "dashboard uid `{uid}` is {} characters; Grafana allows 40",
                        uid.len()
                    ),
                    "shorten the slug",
                ));
            }
        }
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
        if !crate::validate::GRAFANA_UNITS.contains(&u.value.as_str()) {
            out.push(Diagnostic::error(
                Code::BadValue,
                u.pos,
                format!("`{}` is not a Grafana unit this generator knows", u.value),
                format!("use one of: {}", crate::validate::GRAFANA_UNITS.join(", ")),
            ));
        }
    }
    check_sql(&p.sql, declared, slug, out);
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

/// A time range and variable values, to expand a query as the plugin does.
#[derive(Debug, Clone, Default)]
pub struct Expansion {
    /// Start of the dashboard's range, Unix seconds.
    pub from: i64,
    /// End of the range, Unix seconds.
    pub to: i64,
    /// Grafana's interval for the panel, seconds.
    pub interval_s: u64,
    /// Values of the dashboard's variables (single values, put in as they are).
    pub variables: Vec<(String, String)>,
}

/// Expand `sql` the way `grafana-clickhouse-datasource` does before it sends it:
/// `$__timeFilter(col)` to `col >= toDateTime(FROM) AND col <= toDateTime(TO)`,
/// `$__dateFilter(col)` likewise with dates, `$__fromTime`/`$__toTime` to
/// `toDateTime(..)`, `$__interval_s` to seconds, variables to their values.
pub fn expand(sql: &str, e: &Expansion) -> String {
    let mut s = sql.to_string();
    for (name, to) in [("timeFilter", "toDateTime"), ("dateFilter", "toDate")] {
        // toDate of a number is version-dependent (days or seconds): go through a time.
        let wrap = |t: i64| {
            if to == "toDate" {
                format!("toDate(toDateTime({t}))")
            } else {
                format!("toDateTime({t})")
            }
        };
        let pat = format!("$__{name}(");
        while let Some(start) = s.find(&pat) {
            let open = start + pat.len();
            let Some(close) = s[open..].find(')').map(|c| open + c) else {
                break;
            };
            let col = s[open..close].trim().to_string();
            s.replace_range(
                start..=close,
                &format!("{col} >= {} AND {col} <= {}", wrap(e.from), wrap(e.to)),
            );
        }
    }
    s = s
        .replace("$__fromTime", &format!("toDateTime({})", e.from))
        .replace("$__toTime", &format!("toDateTime({})", e.to))
        .replace("$__interval_s", &e.interval_s.to_string());
    for (name, value) in &e.variables {
        s = s
            .replace(&format!("${{{name}}}"), value)
            .replace(&format!("[[{name}]]"), value);
        // `$name` only where the name ends (so `$index` leaves `$indexes` alone).
        let pat = format!("${name}");
        let mut out = String::with_capacity(s.len());
        let mut rest = s.as_str();
        while let Some(at) = rest.find(&pat) {
            let after = &rest[at + pat.len()..];
            out.push_str(&rest[..at]);
            if after
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                out.push_str(&pat);
            } else {
                out.push_str(value);
            }
            rest = after;
        }
        out.push_str(rest);
        s = out;
    }
    s
}

fn datasource() -> Value {
    json!({"type": DATASOURCE_TYPE, "uid": DATASOURCE_UID})
}

/// The Grafana `format` of a panel's query: time series for a time-series panel,
/// a table otherwise.
pub fn format_of(panel_type: &str) -> &'static str {
    if panel_type == "timeseries" {
        "time_series"
    } else {
        "table"
    }
}

/// One SQL dashboard as Grafana JSON.
pub fn build(spec: &Spec, d: &SqlDashboard, spec_hash: &str, version: &str) -> Value {
    let slug = &d.slug.value;
    let uid = crate::naming::dashboard_uid(&spec.namespace.value, slug);
    let templating: Vec<Value> = d
        .variables
        .iter()
        .map(|v| {
            json!({
                "type": "query",
                "name": v.name.value,
                "label": v.label.clone().unwrap_or_else(|| v.name.value.clone()),
                "datasource": datasource(),
                "query": v.sql.value.trim(),
                "definition": v.sql.value.trim(),
                "refresh": 2,
                "sort": 0,
                "multi": false,
                "includeAll": false,
                "current": {},
                "options": [],
                "hide": 0,
            })
        })
        .collect();
    let mut panels = Vec::new();
    let (mut x, mut y) = (0u32, 0u32);
    for (i, p) in d.panels.iter().enumerate() {
        let w = if p.panel_type.value == "stat" { 6 } else { 12 };
        if x + w > 24 {
            x = 0;
            y += 9;
        }
        let format = format_of(&p.panel_type.value);
        let mut defaults = json!({});
        if let Some(u) = &p.unit {
            defaults["unit"] = json!(u.value);
        }
        let mut panel = json!({
            "id": i + 1,
            "type": p.panel_type.value,
            "title": p.title.value,
            "datasource": datasource(),
            "gridPos": {"x": x, "y": y, "w": w, "h": 9},
            "fieldConfig": {"defaults": defaults, "overrides": []},
            "options": {},
            "targets": [{
                "refId": "A",
                "datasource": datasource(),
                "editorType": "sql",
                "rawSql": p.sql.value.trim(),
                "queryType": if format == "time_series" { "timeseries" } else { "table" },
                "format": if format == "time_series" { 0 } else { 1 },
            }],
        });
        if let Some(desc) = &p.description {
            panel["description"] = json!(desc);
        }
        if p.panel_type.value == "trend" || p.panel_type.value == "barchart" {
            // The first column (the strike) is the x axis.
            panel["options"] = json!({"xField": "strike"});
        }
        panels.push(panel);
        x += w;
        if x >= 24 {
            x = 0;
            y += 9;
        }
    }
    json!({
        "uid": uid,
        "title": d.title,
        "description": d.description.clone().unwrap_or_else(|| format!("Generated from {}: SQL over the column store.", spec.source_name())),
        "tags": [spec.namespace.value, "generated", "clickhouse"],
        "timezone": "browser",
        "editable": false,
        "graphTooltip": 1,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": spec.grafana.refresh.value,
        "schemaVersion": spec.grafana.schema_version.value,
        "version": 1,
        "templating": {"list": templating},
        "annotations": {"list": []},
        "links": [],
        "panels": panels,
        "g6_meta": {
            "spec_hash": spec_hash,
            "generator_version": version,
            "slug": slug,
            "datasource": DATASOURCE_TYPE,
            "panel_count": d.panels.len(),
        },
    })
}

/// `grafana/provisioning/datasources/clickhouse.yml`: the data source the SQL
/// dashboards select, on the default HTTP port, database named after the namespace.
pub fn provisioning_datasource(spec: &Spec) -> String {
    format!(
        "# The ClickHouse data source of the SQL dashboards (plugin {DATASOURCE_TYPE}).\n\
         # Install the plugin first; point host/port at the server g6 writes to\n\
         # (--store clickhouse://HOST:8123/{db}).\n\
         apiVersion: 1\n\
         datasources:\n\
         \x20 - name: ClickHouse\n\
         \x20   type: {DATASOURCE_TYPE}\n\
         \x20   uid: {DATASOURCE_UID}\n\
         \x20   jsonData:\n\
         \x20     host: 127.0.0.1\n\
         \x20     server: 127.0.0.1\n\
         \x20     port: 8123\n\
         \x20     protocol: http\n\
         \x20     defaultDatabase: {db}\n\
         \x20     username: default\n",
        db = spec.namespace.value
    )
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

    #[test]
    fn expansion_matches_the_plugin_for_filters_times_and_variables() {
        let e = Expansion {
            from: 100,
            to: 200,
            interval_s: 15,
            variables: vec![("index".into(), "NIFTY".into())],
        };
        assert_eq!(
            expand(
                "WHERE $__timeFilter(as_of) AND $__dateFilter( d ) AND i = '${index}' AND j = $index AND k = $indexes AND t < $__toTime AND t > $__fromTime, $__interval_s",
                &e
            ),
            "WHERE as_of >= toDateTime(100) AND as_of <= toDateTime(200) AND d >= toDate(toDateTime(100)) AND d <= toDate(toDateTime(200)) AND i = 'NIFTY' AND j = NIFTY AND k = $indexes AND t < toDateTime(200) AND t > toDateTime(100), 15"
        );
    }
}
