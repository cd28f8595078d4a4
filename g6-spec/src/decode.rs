//! Decode the positioned YAML tree into the typed [`Spec`], collecting every shape
//! problem (unknown fields, missing fields, wrong types) instead of stopping at the first.

use crate::diag::{suggest, Code, Diagnostic, Pos};
use crate::model::*;
use crate::yaml::{Node, NodeKind};

/// The text of an unquoted scalar (quoted scalars are always strings in YAML).
fn plain_text(node: &Node) -> Option<&str> {
    match &node.kind {
        NodeKind::Scalar {
            text,
            quoted: false,
        } => Some(text),
        _ => None,
    }
}

/// What YAML's core schema makes of an unquoted scalar other than a string: "number"
/// or "boolean" (`None` for text).
fn plain_scalar_kind(text: &str) -> Option<&'static str> {
    let t = text.trim();
    if matches!(t, "true" | "True" | "TRUE" | "false" | "False" | "FALSE") {
        return Some("boolean");
    }
    let unsigned = t.strip_prefix(['-', '+']).unwrap_or(t);
    let is_int = !unsigned.is_empty() && unsigned.bytes().all(|b| b.is_ascii_digit());
    let is_radix = |p: &str, ok: fn(u8) -> bool| {
        t.strip_prefix(p)
            .is_some_and(|d| !d.is_empty() && d.bytes().all(ok))
    };
    let is_special = matches!(
        unsigned,
        ".inf" | ".Inf" | ".INF" | ".nan" | ".NaN" | ".NAN"
    );
    // Core-schema floats start with a digit or a dot followed by a digit; Rust's parser
    // also takes `inf` and `nan`, which YAML reads as text.
    let is_float = unsigned
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_digit() || b == b'.')
        && unsigned.bytes().any(|b| b.is_ascii_digit())
        && t.parse::<f64>().is_ok();
    (is_int
        || is_radix("0x", |b| b.is_ascii_hexdigit())
        || is_radix("0o", |b| (b'0'..=b'7').contains(&b))
        || is_special
        || is_float)
        .then_some("number")
}

/// Collects diagnostics while decoding.
struct Decoder {
    errors: Vec<Diagnostic>,
}

/// The fields of one mapping, checked against the allowed names.
struct Fields<'a> {
    pos: Pos,
    entries: Vec<(&'a str, &'a Node, Pos)>,
    what: &'static str,
}

impl<'a> Fields<'a> {
    fn get(&self, key: &str) -> Option<&'a Node> {
        self.entries
            .iter()
            .find(|(k, v, _)| *k == key && !v.is_null())
            .map(|(_, v, _)| *v)
    }
}

impl Decoder {
    fn err(&mut self, code: Code, pos: Pos, msg: impl Into<String>, hint: impl Into<String>) {
        self.errors.push(Diagnostic::error(code, pos, msg, hint));
    }

    fn wrong_type(&mut self, node: &Node, field: &str, expected: &str) {
        let found = match &node.kind {
            NodeKind::Scalar { text, quoted: true } => {
                let hint = format!("write it without quotes: `{field}: {text}`");
                if expected != "a string" && plain_scalar_kind(text).is_some() {
                    return self.err(
                        Code::WrongType,
                        node.pos,
                        format!("`{field}` must be {expected}, found the quoted text \"{text}\""),
                        hint,
                    );
                }
                format!("`{text}`")
            }
            NodeKind::Scalar { text, .. } if !node.is_null() => format!("`{text}`"),
            _ => node.shape().to_string(),
        };
        self.err(
            Code::WrongType,
            node.pos,
            format!("`{field}` must be {expected}, found {found}"),
            format!("write `{field}` as {expected}"),
        );
    }

    /// Check that `node` is a mapping with only `allowed` keys.
    fn fields<'a>(
        &mut self,
        node: &'a Node,
        what: &'static str,
        allowed: &[&str],
    ) -> Option<Fields<'a>> {
        let NodeKind::Map(entries) = &node.kind else {
            self.err(
                Code::WrongType,
                node.pos,
                format!("{what} must be a mapping, found {}", node.shape()),
                format!("write {what} as `key: value` lines"),
            );
            return None;
        };
        let mut out = Vec::new();
        for (k, v) in entries {
            let Some(key) = k.as_scalar() else { continue };
            if !allowed.contains(&key) {
                let hint = match suggest(key, allowed.iter().copied()) {
                    Some(s) => {
                        format!("did you mean `{s}`? allowed fields: {}", allowed.join(", "))
                    }
                    None => format!("allowed fields: {}", allowed.join(", ")),
                };
                self.err(
                    Code::UnknownField,
                    k.pos,
                    format!("unknown field `{key}` in {what}"),
                    hint,
                );
                continue;
            }
            out.push((key, v, k.pos));
        }
        Some(Fields {
            pos: node.pos,
            entries: out,
            what,
        })
    }

    fn missing(&mut self, f: &Fields, key: &str, example: &str) {
        self.err(
            Code::MissingField,
            f.pos,
            format!("{} is missing `{key}`", f.what),
            format!("add `{key}: {example}`"),
        );
    }

    fn string(&mut self, node: &Node, field: &str) -> Option<Spanned<String>> {
        match &node.kind {
            NodeKind::Scalar { text, quoted } if !node.is_null() => {
                if !quoted {
                    if let Some(kind) = plain_scalar_kind(text) {
                        // YAML reads `42`, `0x1F` or `true` as a number or boolean, not
                        // text: accepting them would let two specs that mean the same
                        // hash differently, and a typo pass as a value.
                        self.err(
                            Code::WrongType,
                            node.pos,
                            format!("`{field}` must be a string, found the {kind} `{text}`"),
                            format!("quote it if you mean the text: \"{text}\""),
                        );
                        return None;
                    }
                }
                if let Some(c) = text
                    .chars()
                    .find(|c| c.is_control() && !matches!(c, '\n' | '\t'))
                {
                    self.err(
                        Code::WrongType,
                        node.pos,
                        format!(
                            "`{field}` contains the control character U+{:04X}",
                            c as u32
                        ),
                        "remove it: metric names, labels, help and queries are plain text",
                    );
                    return None;
                }
                Some(Spanned::new(text.clone(), node.pos))
            }
            _ => {
                self.wrong_type(node, field, "a string");
                None
            }
        }
    }

    fn req_string(&mut self, f: &Fields, key: &str, example: &str) -> Option<Spanned<String>> {
        match f.get(key) {
            Some(n) => {
                let s = self.string(n, key)?;
                if s.value.trim().is_empty() {
                    self.err(
                        Code::MissingField,
                        n.pos,
                        format!("`{key}` in {} is empty", f.what),
                        format!("write a value, e.g. `{key}: {example}`"),
                    );
                    return None;
                }
                Some(s)
            }
            None => {
                self.missing(f, key, example);
                None
            }
        }
    }

    /// An optional string field; written but empty (`owner: ~`) is an error, not
    /// "absent".
    fn opt_string(&mut self, f: &Fields, key: &str) -> Option<Spanned<String>> {
        let written = f
            .entries
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, v, _)| *v)?;
        self.string(written, key)
    }

    fn string_list(&mut self, node: &Node, field: &str) -> Vec<Spanned<String>> {
        match &node.kind {
            NodeKind::Seq(items) => items.iter().filter_map(|i| self.string(i, field)).collect(),
            _ => {
                self.wrong_type(node, field, "a list of strings");
                Vec::new()
            }
        }
    }

    fn seq<'a>(&mut self, node: &'a Node, field: &str) -> &'a [Node] {
        match &node.kind {
            NodeKind::Seq(items) => items,
            _ => {
                self.wrong_type(node, field, "a list");
                &[]
            }
        }
    }

    fn map_entries<'a>(&mut self, node: &'a Node, field: &str) -> &'a [(Node, Node)] {
        match &node.kind {
            NodeKind::Map(entries) => entries,
            _ => {
                self.wrong_type(node, field, "a mapping");
                &[]
            }
        }
    }

    fn integer(&mut self, node: &Node, field: &str) -> Option<Spanned<i64>> {
        // Quoted `'50'` is text in YAML: a number must be written as one.
        match plain_text(node)
            .map(str::trim)
            .and_then(|s| s.parse::<i64>().ok())
        {
            Some(v) => Some(Spanned::new(v, node.pos)),
            None => {
                self.wrong_type(node, field, "a whole number");
                None
            }
        }
    }

    fn number(&mut self, node: &Node, field: &str) -> Option<Spanned<f64>> {
        let parsed = plain_text(node).map(str::trim).and_then(|s| match s {
            ".inf" | ".Inf" | "+.inf" | "+Inf" => Some(f64::INFINITY),
            ".nan" | ".NaN" | "NaN" => Some(f64::NAN),
            _ => s.parse::<f64>().ok(),
        });
        match parsed {
            Some(v) => Some(Spanned::new(v, node.pos)),
            None => {
                self.wrong_type(node, field, "a number");
                None
            }
        }
    }

    fn spec(&mut self, root: &Node) -> Spec {
        let mut spec = Spec::default();
        let Some(f) = self.fields(
            root,
            "the spec",
            &[
                "version",
                "namespace",
                "labels",
                "dashboards",
                "families",
                "sql_dashboards",
                "slos",
                "health",
                "grafana",
                "alerting",
            ],
        ) else {
            return spec;
        };
        match f.get("version") {
            Some(n) => {
                if let Some(v) = self.integer(n, "version") {
                    if v.value != 1 {
                        self.err(
                            Code::UnsupportedVersion,
                            v.pos,
                            format!("spec version {} is not supported", v.value),
                            "this generator reads `version: 1`",
                        );
                    }
                    spec.version = v.value.clamp(0, u32::MAX as i64) as u32;
                }
            }
            None => self.missing(&f, "version", "1"),
        }
        if let Some(ns) = self.req_string(&f, "namespace", "g6") {
            spec.namespace = ns;
        }
        if let Some(n) = f.get("labels") {
            for (k, v) in self.map_entries(n, "labels") {
                if let Some(l) = self.label_def(k, v) {
                    spec.labels.push(l);
                }
            }
        }
        if let Some(n) = f.get("dashboards") {
            for (k, v) in self.map_entries(n, "dashboards") {
                if let Some(d) = self.dashboard(k, v) {
                    spec.dashboards.push(d);
                }
            }
        }
        if let Some(n) = f.get("sql_dashboards") {
            for (k, v) in self.map_entries(n, "sql_dashboards") {
                if let Some(d) = self.sql_dashboard(k, v) {
                    spec.sql_dashboards.push(d);
                }
            }
        }
        if let Some(n) = f.get("slos") {
            for (k, v) in self.map_entries(n, "slos") {
                if let Some(s) = self.slo(k, v) {
                    spec.slos.push(s);
                }
            }
        }
        if let Some(n) = f.get("health") {
            spec.health = self.health(n);
        }
        if let Some(n) = f.get("grafana") {
            if let Some(g) = self.fields(n, "the grafana settings", &["schema_version", "refresh"])
            {
                if let Some(v) = g
                    .get("schema_version")
                    .and_then(|n| self.integer(n, "schema_version"))
                {
                    spec.grafana.schema_version = v;
                }
                if let Some(r) = self.opt_string(&g, "refresh") {
                    spec.grafana.refresh = r;
                }
            }
        }
        if let Some(n) = f.get("alerting") {
            if let Some(a) =
                self.fields(n, "the alerting settings", &["grafana_url", "runbook_url"])
            {
                if let Some(u) = self.opt_string(&a, "grafana_url") {
                    spec.alerting.grafana_url = u;
                }
                if let Some(u) = self.opt_string(&a, "runbook_url") {
                    spec.alerting.runbook_url = u;
                }
            }
        }
        match f.get("families") {
            Some(n) => {
                for (k, v) in self.map_entries(n, "families") {
                    if let Some(fam) = self.family(k, v) {
                        spec.families.push(fam);
                    }
                }
            }
            None => self.missing(&f, "families", "{option_chain: {metrics: [...]}}"),
        }
        spec
    }

    fn label_def(&mut self, key: &Node, node: &Node) -> Option<LabelDef> {
        let name = self.string(key, "label name")?;
        let f = self.fields(node, "a label set", &["values", "help", "open", "variable"])?;
        let open = match f.get("open") {
            Some(n) => match n.as_scalar() {
                Some("true") => true,
                Some("false") => false,
                _ => {
                    self.wrong_type(n, "open", "true or false");
                    false
                }
            },
            None => false,
        };
        let values = match (f.get("values"), open) {
            (Some(v), false) => Some(self.string_list(v, "values")),
            (None, true) => None,
            (Some(v), true) => {
                self.err(
                    Code::WrongType,
                    v.pos,
                    format!(
                        "label `{}` is declared `open: true` and also lists values",
                        name.value
                    ),
                    "an open label takes any value; drop `values` or drop `open: true`",
                );
                None
            }
            (None, false) => {
                self.missing(
                    &f,
                    "values",
                    "[a, b, c]   (or `open: true` for an open label)",
                );
                None
            }
        };
        let help = self
            .req_string(&f, "help", "what the label means")
            .map(|s| s.value)
            .unwrap_or_default();
        let variable = self.opt_string(&f, "variable").and_then(|v| {
            let mode = match v.value.as_str() {
                "single" => VariableMode::Single,
                "multi" => VariableMode::Multi,
                other => {
                    self.err(
                        Code::BadValue,
                        v.pos,
                        format!("unknown variable mode `{other}`"),
                        "use single (one value at a time: summing across values is meaningless) or multi (several values or All)",
                    );
                    return None;
                }
            };
            Some(Spanned::new(mode, v.pos))
        });
        Some(LabelDef {
            name,
            values,
            help,
            variable,
        })
    }

    fn dashboard(&mut self, key: &Node, node: &Node) -> Option<DashboardPlan> {
        let slug = self.string(key, "dashboard slug")?;
        let f = self.fields(
            node,
            "a dashboard plan",
            &[
                "title",
                "description",
                "families",
                "tags",
                "panel_limit",
                "annotations",
                "rule_usage",
            ],
        )?;
        let title = self.req_string(&f, "title", "G6 Option Chain")?.value;
        let description = self.opt_string(&f, "description").map(|s| s.value);
        let families = match f.get("families") {
            Some(n) => {
                let list = self.string_list(n, "families");
                if list.is_empty() && matches!(n.kind, NodeKind::Seq(_)) {
                    self.err(
                        Code::MissingField,
                        n.pos,
                        format!("dashboard `{}` lists no families", slug.value),
                        "name at least one family, e.g. `families: [option_chain]`",
                    );
                }
                list
            }
            None => {
                self.missing(&f, "families", "[option_chain]");
                Vec::new()
            }
        };
        let tags = f
            .get("tags")
            .map(|n| self.string_list(n, "tags"))
            .unwrap_or_default()
            .into_iter()
            .map(|s| s.value)
            .collect();
        let panel_limit = f
            .get("panel_limit")
            .and_then(|n| self.integer(n, "panel_limit"));
        let annotations = f
            .get("annotations")
            .map(|n| {
                let items = self.seq(n, "annotations");
                items.iter().filter_map(|a| self.annotation(a)).collect()
            })
            .unwrap_or_default();
        let rule_usage = f
            .get("rule_usage")
            .is_some_and(|n| self.boolean(n, "rule_usage"));
        Some(DashboardPlan {
            slug,
            title,
            description,
            families,
            tags,
            panel_limit,
            annotations,
            rule_usage,
        })
    }

    /// `true` or `false` (anything else is reported and read as false).
    fn boolean(&mut self, n: &Node, field: &str) -> bool {
        match plain_text(n).map(str::trim) {
            Some("true") => true,
            Some("false") => false,
            _ => {
                self.wrong_type(n, field, "true or false");
                false
            }
        }
    }

    fn annotation(&mut self, node: &Node) -> Option<Annotation> {
        let f = self.fields(node, "an annotation", &["title", "expr", "color"])?;
        let title = self.req_string(&f, "title", "Level changes");
        let expr = self.req_string(&f, "expr", "changes(g6_x[1m]) > 0");
        let color = self.opt_string(&f, "color");
        Some(Annotation {
            title: title?,
            expr: expr?,
            color,
            pos: node.pos,
        })
    }

    fn recording(&mut self, node: &Node) -> Option<CustomRecording> {
        let f = self.fields(node, "a recording rule", &["record", "expr"])?;
        let record = self.req_string(&f, "record", "job:g6_x:rate5m");
        let expr = self.req_string(&f, "expr", "sum by (job) (rate(g6_x_total[5m]))");
        Some(CustomRecording {
            record: record?,
            expr: expr?,
            pos: node.pos,
        })
    }

    fn sql_dashboard(&mut self, key: &Node, node: &Node) -> Option<SqlDashboard> {
        let slug = self.string(key, "dashboard slug")?;
        let f = self.fields(
            node,
            "a SQL dashboard",
            &["title", "description", "variables", "panels"],
        )?;
        let title = self
            .req_string(&f, "title", "G6 Option Chain History")?
            .value;
        let description = self.opt_string(&f, "description").map(|s| s.value);
        let mut variables = Vec::new();
        if let Some(n) = f.get("variables") {
            for (k, v) in self.map_entries(n, "variables") {
                let Some(name) = self.string(k, "variable name") else {
                    continue;
                };
                let Some(vf) = self.fields(v, "a SQL variable", &["label", "sql"]) else {
                    continue;
                };
                let label = self.opt_string(&vf, "label").map(|s| s.value);
                if let Some(sql) =
                    self.req_string(&vf, "sql", "SELECT DISTINCT index FROM option_chain")
                {
                    variables.push(SqlVariable { name, label, sql });
                }
            }
        }
        let items = match f.get("panels") {
            Some(n) => self.seq(n, "panels"),
            None => {
                self.missing(
                    &f,
                    "panels",
                    "[{title: ..., panel_type: table, sql: SELECT ...}]",
                );
                &[]
            }
        };
        let panels = items.iter().filter_map(|p| self.sql_panel(p)).collect();
        Some(SqlDashboard {
            slug,
            title,
            description,
            variables,
            panels,
            pos: node.pos,
        })
    }

    fn slo(&mut self, key: &Node, node: &Node) -> Option<Slo> {
        let name = self.string(key, "SLO name")?;
        let f = self.fields(
            node,
            "an SLO",
            &["description", "objective", "period", "sli"],
        )?;
        let description = self.opt_string(&f, "description").map(|s| s.value);
        let objective = match f.get("objective") {
            Some(n) => self.number(n, "objective"),
            None => {
                self.missing(&f, "objective", "99.5");
                None
            }
        };
        let period = self.req_string(&f, "period", "28d");
        let Some(sli_node) = f.get("sli") else {
            self.missing(
                &f,
                "sli",
                "{good: 'sum(rate(x_total{result=\"ok\"}[$window]))', total: 'sum(rate(x_total[$window]))'}",
            );
            return None;
        };
        let sli = self.fields(sli_node, "an SLI", &["good", "bad", "total"])?;
        let good = self.opt_string(&sli, "good");
        let bad = self.opt_string(&sli, "bad");
        let total = self.req_string(&sli, "total", "sum(rate(x_total[$window]))");
        Some(Slo {
            name,
            description,
            objective: objective?,
            period: period?,
            good,
            bad,
            total: total?,
            pos: node.pos,
        })
    }

    fn health(&mut self, node: &Node) -> Option<Health> {
        let f = self.fields(
            node,
            "the health section",
            &["dashboard", "warning", "critical", "components"],
        )?;
        let dashboard = self.req_string(&f, "dashboard", "health_core");
        let threshold = |d: &mut Self, key: &str, example: &str| match f.get(key) {
            Some(n) => d.number(n, key),
            None => {
                d.missing(&f, key, example);
                None
            }
        };
        let warning = threshold(self, "warning", "0.8");
        let critical = threshold(self, "critical", "0.5");
        let Some(n) = f.get("components") else {
            self.missing(
                &f,
                "components",
                "{provider_success: {weight: 1, expr: '...', test: {...}}}",
            );
            return None;
        };
        let entries = self.map_entries(n, "components");
        let declared_components = entries.len();
        let mut components = Vec::new();
        for (k, v) in entries {
            if let Some(c) = self.health_component(k, v) {
                components.push(c);
            }
        }
        // The `components:` key: its value's position is its first entry's.
        let components_pos = f
            .entries
            .iter()
            .find(|(k, _, _)| *k == "components")
            .map_or(n.pos, |(_, _, pos)| *pos);
        Some(Health {
            dashboard: dashboard?,
            warning: warning?,
            critical: critical?,
            components,
            components_pos,
            declared_components,
            pos: node.pos,
        })
    }

    fn health_component(&mut self, key: &Node, node: &Node) -> Option<HealthComponent> {
        let name = self.string(key, "component name")?;
        let f = self.fields(
            node,
            "a health component",
            &["weight", "description", "expr", "test"],
        )?;
        let weight = match f.get("weight") {
            Some(n) => self.number(n, "weight"),
            None => {
                self.missing(&f, "weight", "0.25");
                None
            }
        };
        let description = self.opt_string(&f, "description").map(|s| s.value);
        let expr = self.req_string(
            &f,
            "expr",
            "1 - (sum(rate(x_total{result!=\"ok\"}[5m])) or vector(0)) / sum(rate(x_total[5m]))",
        );
        let test = match f.get("test") {
            Some(n) => self.health_test(n),
            None => {
                self.missing(
                    &f,
                    "test",
                    "{healthy: {'x_total{result=\"ok\"}': '0+60x30'}, unhealthy: {'x_total{result=\"error\"}': '0+60x30'}}",
                );
                None
            }
        };
        Some(HealthComponent {
            name,
            weight: weight?,
            description,
            expr: expr?,
            test: test?,
            pos: node.pos,
        })
    }

    fn health_test(&mut self, node: &Node) -> Option<HealthTest> {
        let f = self.fields(
            node,
            "a health component test",
            &["healthy", "unhealthy", "no_data"],
        )?;
        let series = |d: &mut Self, key: &str| -> Option<Vec<TestSeries>> {
            let Some(n) = f.get(key) else {
                d.missing(&f, key, "{'x_total{result=\"ok\"}': '0+60x30'}");
                return None;
            };
            let mut out = Vec::new();
            for (k, v) in d.map_entries(n, key) {
                let (Some(series), Some(values)) = (d.string(k, "series"), d.string(v, "values"))
                else {
                    continue;
                };
                out.push(TestSeries { series, values });
            }
            Some(out)
        };
        let healthy = series(self, "healthy");
        let unhealthy = series(self, "unhealthy");
        let no_data = f.get("no_data").and_then(|n| self.number(n, "no_data"));
        Some(HealthTest {
            healthy: healthy?,
            unhealthy: unhealthy?,
            no_data,
            pos: node.pos,
        })
    }

    fn sql_panel(&mut self, node: &Node) -> Option<SqlPanel> {
        let f = self.fields(
            node,
            "a SQL panel",
            &[
                "title",
                "panel_type",
                "unit",
                "description",
                "x_field",
                "sql",
            ],
        )?;
        let title = self.req_string(&f, "title", "Open interest by strike");
        let panel_type = self.req_string(&f, "panel_type", "timeseries");
        let unit = self.opt_string(&f, "unit");
        let description = self.opt_string(&f, "description").map(|s| s.value);
        let x_field = self.opt_string(&f, "x_field");
        let sql = self.req_string(
            &f,
            "sql",
            "SELECT ... FROM option_chain WHERE $__timeFilter(as_of)",
        );
        Some(SqlPanel {
            title: title?,
            panel_type: panel_type?,
            unit,
            description,
            x_field,
            sql: sql?,
        })
    }

    fn family(&mut self, key: &Node, node: &Node) -> Option<Family> {
        let name = self.string(key, "family name")?;
        let f = self.fields(
            node,
            "a family",
            &["owner", "description", "enabled_by", "metrics"],
        )?;
        let owner = self.opt_string(&f, "owner").map(|s| s.value);
        let description = self.opt_string(&f, "description").map(|s| s.value);
        let enabled_by = self.opt_string(&f, "enabled_by");
        let items = match f.get("metrics") {
            Some(n) => self.seq(n, "metrics"),
            None => &[],
        };
        let metrics = items.iter().filter_map(|m| self.metric(m)).collect();
        Some(Family {
            name,
            owner,
            description,
            enabled_by,
            metrics,
            declared_metrics: items.len(),
        })
    }

    fn metric(&mut self, node: &Node) -> Option<Metric> {
        let f = self.fields(
            node,
            "a metric",
            &[
                "name",
                "type",
                "help",
                "unit",
                "labels",
                "cardinality_budget",
                "buckets",
                "panels",
                "alerts",
                "stability",
                "renamed_from",
                "state",
                "recording",
                "warm",
                "buckets_version",
            ],
        )?;
        let name = self.req_string(&f, "name", "g6_example_total");
        let kind = self.req_string(&f, "type", "counter").and_then(|t| {
            let k = match t.value.as_str() {
                "counter" => MetricKind::Counter,
                "gauge" => MetricKind::Gauge,
                "histogram" => MetricKind::Histogram,
                other => {
                    self.err(
                        Code::BadValue,
                        t.pos,
                        format!("unknown metric type `{other}`"),
                        "use counter, gauge or histogram (summaries are not supported: use a histogram)",
                    );
                    return None;
                }
            };
            Some(Spanned::new(k, t.pos))
        });
        let help = self.req_string(&f, "help", "what the metric measures");
        let unit = self.opt_string(&f, "unit");
        let labels = f
            .get("labels")
            .map(|n| self.string_list(n, "labels"))
            .unwrap_or_default();
        let cardinality_budget = f
            .get("cardinality_budget")
            .and_then(|n| self.integer(n, "cardinality_budget"));
        let buckets = f.get("buckets").map(|n| {
            let items = self.seq(n, "buckets");
            let values = items
                .iter()
                .filter_map(|b| self.number(b, "buckets"))
                .collect();
            Spanned::new(values, n.pos)
        });
        let panels = f
            .get("panels")
            .map(|n| {
                let items = self.seq(n, "panels");
                items.iter().filter_map(|p| self.panel(p)).collect()
            })
            .unwrap_or_default();
        let alerts = f
            .get("alerts")
            .map(|n| {
                let items = self.seq(n, "alerts");
                items.iter().filter_map(|a| self.alert(a)).collect()
            })
            .unwrap_or_default();
        let stability = match self.opt_string(&f, "stability") {
            None => Stability::Stable,
            Some(s) => match s.value.as_str() {
                "stable" => Stability::Stable,
                "experimental" => Stability::Experimental,
                "deprecated" => Stability::Deprecated,
                other => {
                    self.err(
                        Code::BadValue,
                        s.pos,
                        format!("unknown stability `{other}`"),
                        "use stable, experimental or deprecated",
                    );
                    Stability::Stable
                }
            },
        };
        let renamed_from = self.opt_string(&f, "renamed_from");
        let state = match f.get("state") {
            Some(n) => match n.as_scalar() {
                Some("true") => true,
                Some("false") => false,
                _ => {
                    self.wrong_type(n, "state", "true or false");
                    false
                }
            },
            None => false,
        };
        let recording = f
            .get("recording")
            .map(|n| {
                let items = self.seq(n, "recording");
                items.iter().filter_map(|r| self.recording(r)).collect()
            })
            .unwrap_or_default();
        let warm = f.get("warm").and_then(|n| self.warm(n));
        let buckets_version = f
            .get("buckets_version")
            .and_then(|n| self.integer(n, "buckets_version"));
        Some(Metric {
            name: name?,
            kind: kind?,
            help: help?,
            unit,
            labels,
            cardinality_budget,
            buckets,
            panels,
            alerts,
            stability,
            renamed_from,
            state,
            recording,
            warm,
            buckets_version,
            pos: node.pos,
        })
    }

    /// `warm: true|false` or `warm: {label: [values]}`.
    fn warm(&mut self, node: &Node) -> Option<Spanned<Warm>> {
        match (&node.kind, node.as_scalar()) {
            (_, Some("true")) => Some(Spanned::new(Warm::Flag(true), node.pos)),
            (_, Some("false")) => Some(Spanned::new(Warm::Flag(false), node.pos)),
            (NodeKind::Map(entries), _) => {
                let mut map = Vec::new();
                for (k, v) in entries {
                    let Some(label) = self.string(k, "warm label") else {
                        continue;
                    };
                    let values = self.string_list(v, "warm values");
                    map.push((label, values));
                }
                Some(Spanned::new(Warm::Values(map), node.pos))
            }
            _ => {
                self.wrong_type(node, "warm", "true, false or a mapping of label to values");
                None
            }
        }
    }

    fn panel(&mut self, node: &Node) -> Option<Panel> {
        let f = self.fields(
            node,
            "a panel",
            &[
                "kind",
                "title",
                "promql",
                "unit",
                "panel_type",
                "renamed_from",
            ],
        )?;
        let kind = self.opt_string(&f, "kind");
        let title = self.req_string(&f, "title", "Open interest by bucket");
        let promql = self.req_string(&f, "promql", "sum(rate(g6_x_total[$__rate_interval]))");
        let unit = self.opt_string(&f, "unit");
        let panel_type = self.opt_string(&f, "panel_type");
        let renamed_from = self.opt_string(&f, "renamed_from");
        Some(Panel {
            kind,
            title: title?,
            promql: promql?,
            unit,
            panel_type,
            renamed_from,
            pos: node.pos,
        })
    }

    fn alert(&mut self, node: &Node) -> Option<Alert> {
        let f = self.fields(
            node,
            "an alert",
            &[
                "alert",
                "expr",
                "for",
                "severity",
                "summary",
                "description",
                "runbook",
                "inhibits",
            ],
        )?;
        let alert = self.req_string(&f, "alert", "G6SomethingWrong");
        let expr = self.req_string(&f, "expr", "rate(g6_x_total[5m]) > 0");
        let for_ = self.opt_string(&f, "for");
        let severity = self.req_string(&f, "severity", "warning");
        let summary = self.req_string(&f, "summary", "what is wrong, in one line");
        let description = self.opt_string(&f, "description").map(|s| s.value);
        let checks = match f.get("runbook") {
            Some(n) => match self.fields(n, "an alert's runbook", &["checks"]) {
                Some(r) => r
                    .get("checks")
                    .map(|c| self.string_list(c, "checks"))
                    .unwrap_or_default(),
                None => Vec::new(),
            },
            None => Vec::new(),
        };
        let inhibits = f
            .get("inhibits")
            .map(|n| self.string_list(n, "inhibits"))
            .unwrap_or_default();
        Some(Alert {
            alert: alert?,
            expr: expr?,
            for_,
            severity: severity?,
            summary: summary?,
            description,
            checks,
            inhibits,
            pos: node.pos,
        })
    }
}

/// Decode a parsed tree into a [`Spec`]; shape problems come back as diagnostics.
pub fn decode(root: &Node) -> (Spec, Vec<Diagnostic>) {
    let mut d = Decoder { errors: Vec::new() };
    let spec = d.spec(root);
    (spec, d.errors)
}
