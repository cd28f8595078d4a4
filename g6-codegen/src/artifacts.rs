//! Every file the generator writes under `generated/`, as in-memory strings, and the
//! validation of what was generated.

use crate::dashboards::{self, Dashboard};
use crate::rules::{self, RuleSet};
use g6_spec::promql::{SeriesCatalog, SeriesKind};
use g6_spec::LoadedSpec;

/// What an artifact is, which decides the drift exit code of `g6 generate --check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ArtifactKind {
    /// Grafana dashboards and their manifest (drift exit 6).
    Dashboard,
    /// Recording rules and the spec's alert rules (drift exit 8).
    Rules,
    /// Suggested alert rules (drift exit 9).
    AlertSuggestions,
    /// Catalogs, provisioning, Prometheus config, inventory (drift exit 7).
    Other,
    /// The Alertmanager configuration and the runbook (drift exit 13).
    Alerting,
}

impl ArtifactKind {
    /// The Rust spelling of the variant, for generated code.
    pub fn variant(self) -> &'static str {
        match self {
            ArtifactKind::Dashboard => "Dashboard",
            ArtifactKind::Rules => "Rules",
            ArtifactKind::AlertSuggestions => "AlertSuggestions",
            ArtifactKind::Other => "Other",
            ArtifactKind::Alerting => "Alerting",
        }
    }

    /// Exit code of `g6 generate --check` when an artifact of this kind drifted.
    pub fn drift_exit_code(self) -> u8 {
        match self {
            ArtifactKind::Dashboard => 6,
            ArtifactKind::Rules => 8,
            ArtifactKind::AlertSuggestions => 9,
            ArtifactKind::Other => 7,
            ArtifactKind::Alerting => 13,
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

/// Directory (under `generated/`) that holds one JSON file per dashboard.
pub const DASHBOARD_DIR: &str = "grafana/dashboards";
/// Where the dashboard manifest goes (outside [`DASHBOARD_DIR`]).
pub const MANIFEST_PATH: &str = "grafana/manifest.json";

/// Everything generated from one spec.
#[derive(Debug, Clone)]
pub struct Generated {
    /// The rules.
    pub rules: RuleSet,
    /// The dashboards, in plan order.
    pub dashboards: Vec<Dashboard>,
    /// Every file, sorted by path.
    pub artifacts: Vec<Artifact>,
}

/// Generate every artifact. `spec_path` names the spec in provenance comments (a
/// relative path: outputs must not depend on where the checkout lives).
pub fn generate_all(loaded: &LoadedSpec, spec_path: &str) -> Generated {
    let spec = &loaded.spec;
    let hash = loaded.hash();
    let version = crate::GENERATOR_VERSION;
    let rules = rules::build(spec);
    let dashboards = dashboards::build_all(spec, &rules, hash, version);
    // Every alert's routing labels and links come from the catalogue, which needs
    // the dashboards (panel ids); the rule files are rendered after it.
    let alerts = crate::alertmanager::catalogue(spec, &rules, &dashboards);
    let meta = alerts.meta();
    let mut out = vec![
        Artifact {
            path: crate::alertmanager::CONFIG_PATH.into(),
            kind: ArtifactKind::Alerting,
            content: crate::alertmanager::render_config(spec, &alerts, hash, version),
        },
        Artifact {
            path: crate::alertmanager::RUNBOOK_PATH.into(),
            kind: ArtifactKind::Alerting,
            content: crate::alertmanager::render_runbook(spec, &alerts, hash, version),
        },
        Artifact {
            path: "METRICS_CATALOG.md".into(),
            kind: ArtifactKind::Other,
            content: crate::catalog::render(spec, hash, version, spec_path),
        },
        Artifact {
            path: "RULES_CATALOG.md".into(),
            kind: ArtifactKind::Other,
            content: rules::render_catalog(&rules, hash, version)
                + &spec
                    .health
                    .as_ref()
                    .map(|h| crate::health::catalog_section(spec, h))
                    .unwrap_or_default(),
        },
        Artifact {
            path: "prometheus/recording_rules.yml".into(),
            kind: ArtifactKind::Rules,
            content: rules::render_recording(&rules, hash, version),
        },
        Artifact {
            path: "prometheus/alerts.yml".into(),
            kind: ArtifactKind::Rules,
            content: rules::render_alerts(&rules, &meta, hash, version),
        },
        Artifact {
            path: "prometheus/alert_suggestions.yml".into(),
            kind: ArtifactKind::AlertSuggestions,
            content: rules::render_suggestions(&rules, &meta, hash, version),
        },
        Artifact {
            path: "prometheus/prometheus.yml".into(),
            kind: ArtifactKind::Other,
            content: rules::render_prometheus_config(spec, hash, version),
        },
        Artifact {
            // Beside, not inside, the provisioned folder: Grafana's file provider loads
            // every *.json there and logs an error for one that is not a dashboard.
            path: MANIFEST_PATH.into(),
            kind: ArtifactKind::Dashboard,
            content: dashboards::manifest(&dashboards, hash, version),
        },
        Artifact {
            path: "grafana/provisioning/dashboards/g6.yml".into(),
            kind: ArtifactKind::Other,
            content: dashboards::provisioning_dashboards(spec),
        },
        Artifact {
            path: "grafana/provisioning/datasources/prometheus.yml".into(),
            kind: ArtifactKind::Other,
            content: dashboards::provisioning_datasource(),
        },
        Artifact {
            path: "panels_inventory.csv".into(),
            kind: ArtifactKind::Other,
            content: dashboards::inventory_csv(&dashboards),
        },
    ];
    if !spec.sql_dashboards.is_empty() {
        out.push(Artifact {
            path: "grafana/provisioning/datasources/clickhouse.yml".into(),
            kind: ArtifactKind::Other,
            content: crate::sql_dashboards::provisioning_datasource(spec),
        });
    }
    for d in &spec.sql_dashboards {
        out.push(Artifact {
            path: format!(
                "{}/{}.json",
                crate::sql_dashboards::SQL_DASHBOARD_DIR,
                d.slug.value
            ),
            kind: ArtifactKind::Dashboard,
            content: g6_spec::quote::to_json_text(&crate::sql_dashboards::build(
                spec, d, hash, version,
            )),
        });
    }
    // SLO and health files: their rule files are rules (drift exit 8), the SLO
    // dashboard a dashboard, their promtool tests other.
    let slo = crate::slo::artifacts(spec, &meta, hash, version)
        .into_iter()
        .map(|a| (a, crate::slo::RULES_PATH));
    let health = crate::health::artifacts(spec, &meta, hash, version)
        .into_iter()
        .map(|a| (a, crate::health::RULES_PATH));
    for ((path, content), rules_path) in slo.chain(health) {
        let kind = if path == rules_path {
            ArtifactKind::Rules
        } else if path.ends_with(".json") {
            ArtifactKind::Dashboard
        } else {
            ArtifactKind::Other
        };
        out.push(Artifact {
            path,
            kind,
            content,
        });
    }
    for d in &dashboards {
        out.push(Artifact {
            path: format!("{DASHBOARD_DIR}/{}.json", d.slug),
            kind: ArtifactKind::Dashboard,
            content: g6_spec::quote::to_json_text(&d.json),
        });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Generated {
        rules,
        dashboards,
        artifacts: out,
    }
}

/// Generate every artifact (the files only).
pub fn generate(loaded: &LoadedSpec, spec_path: &str) -> Vec<Artifact> {
    generate_all(loaded, spec_path).artifacts
}

/// The spec's series plus every recording rule, with recorded names checked.
pub fn full_catalog(loaded: &LoadedSpec, rules: &RuleSet) -> SeriesCatalog {
    let mut c = g6_spec::promql::series_catalog(&loaded.spec);
    c.check_recorded = true;
    for r in rules.all_recording() {
        c.insert(&r.record, &r.metric, SeriesKind::Recorded, &r.labels);
    }
    for slo in &loaded.spec.slos {
        for (record, _) in crate::slo::recorded(slo) {
            c.insert(&record, &record, SeriesKind::Recorded, &["slo".to_string()]);
        }
    }
    if loaded.spec.health.is_some() {
        add_health_records(&mut c, &loaded.spec);
    }
    c
}

/// Add the health score's recording rules to a catalog.
pub fn add_health_records(c: &mut SeriesCatalog, spec: &g6_spec::Spec) {
    crate::health::add_records(c, spec);
}

/// One problem found in a generated artifact, traced back to the spec node that
/// produced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactProblem {
    /// The artifact, relative to `generated/`, e.g. `grafana/dashboards/http.json`.
    pub artifact: String,
    /// The dashboard-lint rule, when a dashboard check found it.
    pub rule: Option<&'static str>,
    /// What is wrong, naming the panel, alert or rule.
    pub message: String,
    /// What to do about it in the spec.
    pub hint: String,
    /// The spec node that produced it: a panel's `promql`, an alert's `expr`, a
    /// recording rule or the metric it was generated for, an SLO, the health section,
    /// or the dashboard plan.
    pub pos: g6_spec::Pos,
}

impl std::fmt::Display for ArtifactProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.rule {
            Some(rule) => write!(f, "{}: [{rule}] {}", self.artifact, self.message),
            None => write!(f, "{}: {}", self.artifact, self.message),
        }
    }
}

/// Check everything generated: rule expressions, dashboard lint (which covers every
/// target's PromQL, series, labels and counter use). Returns one line per problem.
pub fn validate_generated(loaded: &LoadedSpec, generated: &Generated) -> Vec<String> {
    problems(loaded, generated)
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// Where in the spec things were declared, to place what is found in the artifacts.
struct Origins<'a> {
    spec: &'a g6_spec::Spec,
}

impl Origins<'_> {
    fn metric(&self, name: &str) -> Option<g6_spec::Pos> {
        self.spec
            .metrics()
            .find(|(_, m)| m.name.value == name)
            .map(|(_, m)| m.name.pos)
    }

    fn recording(&self, r: &rules::RecordingRule) -> g6_spec::Pos {
        let custom = self
            .spec
            .metrics()
            .flat_map(|(_, m)| m.recording.iter())
            .find(|c| c.record.value == r.record)
            .map(|c| c.record.pos);
        custom
            .or_else(|| self.metric(&r.metric))
            .unwrap_or(FILE_START)
    }

    fn alert(&self, a: &rules::AlertRule) -> g6_spec::Pos {
        let spec = self
            .spec
            .metrics()
            .flat_map(|(_, m)| m.alerts.iter())
            .find(|x| x.alert.value == a.alert)
            .map(|x| x.expr.pos);
        spec.or_else(|| self.metric(&a.metric))
            .unwrap_or(FILE_START)
    }

    /// The spec panel a generated panel of this title copies.
    fn panel(&self, title: &str) -> Option<&g6_spec::model::Panel> {
        self.spec
            .metrics()
            .flat_map(|(_, m)| m.panels.iter())
            .find(|p| p.title.value == title)
    }

    fn dashboard(&self, slug: &str) -> g6_spec::Pos {
        self.spec
            .dashboards
            .iter()
            .find(|d| d.slug.value == slug)
            .map(|d| d.slug.pos)
            .unwrap_or(FILE_START)
    }
}

/// Where a problem goes when nothing in the spec produced it (a generator bug).
const FILE_START: g6_spec::Pos = g6_spec::Pos { line: 1, col: 1 };

/// The dashboard-lint findings of one dashboard, placed on the spec panels they come
/// from (`fallback` for the dashboard's own settings and generated panels).
fn dashboard_problems(
    origins: &Origins<'_>,
    artifact: String,
    dashboard: &serde_json::Value,
    catalog: &SeriesCatalog,
    fallback: g6_spec::Pos,
    out: &mut Vec<ArtifactProblem>,
) {
    for f in crate::dashboard_lint::lint(dashboard, catalog) {
        let panel = f.panel.as_deref().and_then(|t| origins.panel(t));
        let mut hint = crate::dashboard_lint::rule_hint(f.rule).to_string();
        if let Some(p) = panel {
            if f.rule == "target-rate-interval" {
                hint = format!(
                    "write `promql: '{}'`: Grafana sizes $__rate_interval to the scrape interval and the zoom",
                    crate::dashboard_lint::rate_interval_rewrite(&p.promql.value)
                );
            }
        }
        let pos = match (panel, f.rule.starts_with("target-")) {
            (Some(p), true) => p.promql.pos,
            (Some(p), false) => p.pos,
            (None, _) => fallback,
        };
        let message = match &f.panel {
            Some(t) => format!("panel {t:?}: {}", f.message),
            None => f.message.clone(),
        };
        out.push(ArtifactProblem {
            artifact: artifact.clone(),
            rule: Some(f.rule),
            message,
            hint,
            pos,
        });
    }
}

/// Every problem in what was generated, each placed at the spec node that produced it.
pub fn problems(loaded: &LoadedSpec, generated: &Generated) -> Vec<ArtifactProblem> {
    const PROMQL_HINT: &str = "fix the expression in the spec: it must parse and read series the spec defines, with labels they carry";
    let spec = &loaded.spec;
    let origins = Origins { spec };
    let catalog = full_catalog(loaded, &generated.rules);
    let mut problems = Vec::new();
    let mut push = |artifact: &str, pos, message: String, hint: &str| {
        problems.push(ArtifactProblem {
            artifact: artifact.to_string(),
            rule: None,
            message,
            hint: hint.to_string(),
            pos,
        })
    };
    let mut seen = std::collections::BTreeSet::new();
    const RECORDING: &str = "prometheus/recording_rules.yml";
    for r in generated.rules.all_recording() {
        if !seen.insert(r.record.clone()) {
            push(
                RECORDING,
                origins.recording(r),
                format!("`{}` is recorded twice", r.record),
                "give the spec recording rule another name",
            );
        }
        for f in catalog.analyze(&r.expr).findings {
            push(
                RECORDING,
                origins.recording(r),
                format!("rule `{}` {f}", r.record),
                PROMQL_HINT,
            );
        }
    }
    for a in generated.rules.all_alerts() {
        for f in catalog.analyze(&a.expr).findings {
            if !matches!(f, g6_spec::promql::Finding::CounterWithoutRate { .. }) {
                push(
                    "prometheus/alerts.yml",
                    origins.alert(a),
                    format!("alert `{}` {f}", a.alert),
                    PROMQL_HINT,
                );
            }
        }
    }
    for slo in &spec.slos {
        for (record, expr) in crate::slo::recorded(slo) {
            for f in catalog.analyze(&expr).findings {
                push(
                    crate::slo::RULES_PATH,
                    slo.pos,
                    format!("rule `{record}` of SLO `{}` {f}", slo.name.value),
                    "fix the SLO's SLI expressions",
                );
            }
        }
        for a in &crate::slo::BURN_ALERTS {
            for f in catalog.analyze(&crate::slo::alert_expr(slo, a)).findings {
                push(
                    crate::slo::RULES_PATH,
                    slo.pos,
                    format!("an alert of SLO `{}` {f}", slo.name.value),
                    "fix the SLO's SLI expressions",
                );
            }
        }
    }
    if let Some(h) = &spec.health {
        for (record, expr, component) in crate::health::recorded(spec, h) {
            let pos = component
                .as_ref()
                .and_then(|c| h.components.iter().find(|x| &x.name.value == c))
                .map_or(h.pos, |c| c.expr.pos);
            for f in catalog.analyze(&expr).findings {
                if !matches!(f, g6_spec::promql::Finding::CounterWithoutRate { .. }) {
                    push(
                        crate::health::RULES_PATH,
                        pos,
                        format!(
                            "rule `{record}`{} {f}",
                            component
                                .as_ref()
                                .map(|c| format!(" of component `{c}`"))
                                .unwrap_or_default()
                        ),
                        "fix the health component's expression",
                    );
                }
            }
        }
        for critical in [false, true] {
            let expr = crate::health::alert_expr(spec, h, critical);
            for f in catalog.analyze(&expr).findings {
                push(
                    crate::health::RULES_PATH,
                    h.pos,
                    format!("a health alert {f}"),
                    "fix the health section",
                );
            }
        }
    }
    for d in &generated.dashboards {
        dashboard_problems(
            &origins,
            format!("{DASHBOARD_DIR}/{}.json", d.slug),
            &d.json,
            &catalog,
            origins.dashboard(&d.slug),
            &mut problems,
        );
    }
    if let Some(first) = spec.slos.first() {
        let d = crate::slo::dashboard(spec, loaded.hash(), crate::GENERATOR_VERSION);
        dashboard_problems(
            &origins,
            format!("{}/slos.json", crate::slo::DASHBOARD_DIR),
            &d,
            &catalog,
            first.pos,
            &mut problems,
        );
    }
    problems
}
