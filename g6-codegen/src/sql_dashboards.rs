//! Dashboards of SQL panels over the column store, for Grafana's ClickHouse data source
//! (`grafana-clickhouse-datasource`): the spec's `sql_dashboards:` rendered to dashboard
//! JSON, the data source's provisioning file, and the macro expansion the plugin
//! performs, so tests can run every panel's query against a real server (the checks of
//! a panel's SQL are the spec's: `g6_spec::sql`).

use g6_spec::model::{Spec, SqlDashboard};
use serde_json::{json, Value};

/// The data source plugin's type.
pub const DATASOURCE_TYPE: &str = "grafana-clickhouse-datasource";
/// The uid the generated dashboards and the provisioning file share.
pub const DATASOURCE_UID: &str = "clickhouse";
/// Directory (under `generated/`) that holds the SQL dashboards: beside the Prometheus
/// ones, so each folder holds one data source's dashboards.
pub const SQL_DASHBOARD_DIR: &str = "grafana/sql_dashboards";

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
    let uid = g6_spec::naming::dashboard_uid(&spec.namespace.value, slug);
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
        if let Some(x) = &p.x_field {
            // The spec's column on the x axis (validation allows it on barchart and
            // trend panels only); without it Grafana picks one.
            panel["options"] = json!({"xField": x.value});
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

    /// A spec in namespace `shop` with one SQL dashboard of `panels` (YAML list items).
    fn spec(panels: &str) -> String {
        format!(
            "version: 1\nnamespace: shop\ndashboards:\n  core: {{title: Core, families: [core]}}\n\
             sql_dashboards:\n  history:\n    title: History\n    panels:\n{panels}\
             families:\n  core:\n    metrics:\n      - {{name: shop_calls_total, type: counter, help: Calls}}\n"
        )
    }

    fn errors(text: &str) -> Vec<String> {
        match crate::checks::load_str(text, "s.yml") {
            Ok(_) => Vec::new(),
            Err(d) => d.errors().map(|e| e.headline("s.yml")).collect(),
        }
    }

    #[test]
    fn the_x_axis_column_comes_from_the_spec_and_is_left_to_grafana_without_it() {
        let text = spec(
            "      - {title: Smile, panel_type: trend, x_field: price, sql: 'SELECT price, avg(iv) FROM t GROUP BY price'}\n\
             \x20     - {title: Volume, panel_type: barchart, sql: 'SELECT name, sum(v) FROM t GROUP BY name'}\n",
        );
        let loaded = crate::checks::load_str(&text, "s.yml").unwrap_or_else(|d| panic!("{d}"));
        let d = &loaded.spec.sql_dashboards[0];
        let json = build(&loaded.spec, d, "h", "v");
        assert_eq!(json["panels"][0]["options"], json!({"xField": "price"}));
        assert_eq!(json["panels"][1]["options"], json!({}));
    }

    #[test]
    fn x_field_on_a_panel_without_an_x_axis_or_naming_no_column_is_an_error() {
        let table = errors(&spec(
            "      - {title: Rows, panel_type: table, x_field: strike, sql: 'SELECT strike FROM t'}\n",
        ));
        assert_eq!(table.len(), 1, "{table:?}");
        assert!(
            table[0].contains("error[E030]: `x_field` is set on the table panel `Rows`"),
            "{table:?}"
        );
        let typo = errors(&spec(
            "      - {title: Smile, panel_type: trend, x_field: strik, sql: 'SELECT strike, iv FROM t'}\n",
        ));
        assert_eq!(typo.len(), 1, "{typo:?}");
        assert!(
            typo[0].contains("`x_field: strik` of panel `Smile` is not a column its SQL mentions"),
            "{typo:?}"
        );
    }
}
