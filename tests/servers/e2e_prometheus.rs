//! End to end with the real consumer: `g6 serve --simulate` scraped by Debian's
//! Prometheus loaded with the generated rules; every rule group loads, every recording
//! rule yields series, and every target of every generated dashboard (read from
//! generated/ on disk) returns data; every data-quality panel returns data from a
//! default `g6 serve` (no `--simulate`); and a real `g6 serve` scores a health of
//! exactly 1.
//! `alerting`: a provider that is down reaches a webhook through the generated
//! Alertmanager configuration exactly once, the alerts it causes inhibited.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

mod alerting;
use crate::common;

use common::prometheus::{encode, grafana_expr, Prometheus};
use common::{require_tool, Server};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// The only dashboard targets allowed to return nothing (those containing the text),
/// each with its reason.
const ALLOWED_EMPTY: &[(&str, &str)] = &[(
    "ALERTS{",
    "alert overview panels list pending/firing alerts; a healthy preview may have none",
)];

/// Every target expression of every dashboard in generated/, macros substituted and
/// each variable set as a person opening the dashboard gets it: a single-select one to
/// its first value, a multi-select one to All.
fn dashboard_targets(prom: &Prometheus) -> Vec<(String, String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("generated/grafana/dashboards");
    let mut out = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    files.sort();
    for path in files {
        assert!(
            path.extension().is_some_and(|e| e == "json"),
            "only dashboards belong in the provisioned folder: {}",
            path.display()
        );
        let d: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert!(d["title"].is_string(), "{} has no title", path.display());
        let slug = path.file_stem().unwrap().to_string_lossy().into_owned();
        let mut values = BTreeMap::new();
        for v in d["templating"]["list"].as_array().unwrap() {
            if v["type"] != "query" || v["multi"] == true {
                continue;
            }
            let query = grafana_expr(&d, v["definition"].as_str().unwrap(), &values);
            let (series, label) = query
                .strip_prefix("label_values(")
                .and_then(|q| q.strip_suffix(')'))
                .and_then(|q| q.rsplit_once(", "))
                .unwrap_or_else(|| panic!("{slug}: variable query {query:?}"));
            let known = prom.api(&format!(
                "/api/v1/label/{label}/values?match[]={}",
                encode(series)
            ));
            if let Some(first) = known["data"][0].as_str() {
                values.insert(v["name"].as_str().unwrap().to_string(), first.to_string());
            }
        }
        for p in d["panels"].as_array().unwrap() {
            for t in p["targets"].as_array().unwrap() {
                let expr = grafana_expr(&d, t["expr"].as_str().unwrap(), &values);
                out.push((slug.clone(), p["title"].as_str().unwrap().to_string(), expr));
            }
        }
    }
    out
}

/// `g6 serve ARGS` (with `envs`) and a Prometheus scraping it from a fresh
/// directory NAME under the test's temporary directory, loaded with `rules` (files
/// of generated/prometheus). Not waited on: the caller waits for the target.
fn serve_under_prometheus(
    name: &str,
    args: &[&str],
    envs: &[(&str, &str)],
    rules: &[&str],
) -> (Server, Prometheus) {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let server = Server::start(args, envs);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("generated/prometheus");
    let rule_files: Vec<_> = rules.iter().map(|f| root.join(f)).collect();
    let prom = Prometheus::start(&dir, &server.addr, &rule_files);
    (server, prom)
}

/// Wait, at most `limit`, until every target (dashboard, title, expression) returns
/// data, but those [`ALLOWED_EMPTY`] lets be empty; fail listing the others.
fn every_target_returns_data(
    prom: &Prometheus,
    targets: &[(String, String, String)],
    limit: Duration,
) {
    prom.wait_for("every dashboard query returns data", limit, || {
        let mut problems = Vec::new();
        for (slug, title, expr) in targets {
            match prom.query(expr).map(|r| r.len()) {
                Err(e) => problems.push(format!("{slug} / {title}: `{expr}` errors: {e}")),
                Ok(0) if ALLOWED_EMPTY.iter().any(|(text, _)| expr.contains(text)) => {}
                Ok(0) => problems.push(format!("{slug} / {title}: `{expr}` returns nothing")),
                Ok(_) => {}
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{} failing:\n{}",
                problems.len(),
                problems.join("\n")
            ))
        }
    });
}

#[test]
#[ignore = "needs prometheus; scripts/test.sh runs it"]
fn every_rule_and_dashboard_query_works_against_real_prometheus() {
    require_tool("prometheus");
    // Every family on, the one switched on by the environment included: every
    // dashboard query must have data.
    let (server, prom) = serve_under_prometheus(
        "e2e_prometheus",
        &["--simulate", "--interval", "1s"],
        &[("G6_ENABLE_EXPOSURE", "1")],
        &[
            "recording_rules.yml",
            "alerts.yml",
            "alert_suggestions.yml",
            "health_rules.yml",
        ],
    );
    prom.wait_target_up();
    let query = |expr: &str| prom.query(expr).map(|r| r.len());

    let records: Vec<String> = {
        let v = prom.api("/api/v1/rules");
        v["data"]["groups"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|g| g["rules"].as_array().unwrap().iter())
            .filter(|r| r["type"] == "recording")
            .map(|r| r["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(
        records.len() > 100,
        "recording rules loaded: {}",
        records.len()
    );

    prom.wait_for("every rule group healthy", Duration::from_secs(30), || {
        let v = prom.api("/api/v1/rules");
        let groups = v["data"]["groups"].as_array().unwrap();
        let expected = [
            "recording_rules.yml",
            "alerts.yml",
            "alert_suggestions.yml",
            "health_rules.yml",
        ];
        for e in expected {
            if !groups
                .iter()
                .any(|g| g["file"].as_str().unwrap_or("").ends_with(e))
            {
                return Err(format!("no group from {e}"));
            }
        }
        for g in groups {
            for r in g["rules"].as_array().unwrap() {
                if r["health"] != "ok" {
                    return Err(format!(
                        "{} / {}: health {} {}",
                        g["name"], r["name"], r["health"], r["lastError"]
                    ));
                }
            }
        }
        Ok(())
    });

    prom.wait_for(
        "every recording rule yields a series",
        Duration::from_secs(60),
        || {
            let empty: Vec<&String> = records
                .iter()
                .filter(|r| query(r).map_or(true, |n| n == 0))
                .collect();
            if empty.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "{} empty, e.g. {:?}",
                    empty.len(),
                    &empty[..empty.len().min(5)]
                ))
            }
        },
    );

    let targets = dashboard_targets(&prom);
    assert!(targets.len() > 200, "dashboard targets: {}", targets.len());
    every_target_returns_data(&prom, &targets, Duration::from_secs(60));
    drop(prom);
    let status = server.terminate();
    assert!(status.success(), "g6 serve exit {status:?}");
}

/// The data-quality dashboard on the real path: a default `g6 serve` (the synthetic
/// provider, no `--simulate`) under Prometheus with the generated recording rules;
/// every target of `data_quality` returns data with its variables set as Grafana sets
/// them (the staleness panels included: staleness, the circuit breaker and expiry
/// resolution run for every provider), but the alert list, which a healthy run may
/// leave empty.
#[test]
#[ignore = "needs prometheus; scripts/test.sh runs it"]
fn every_data_quality_panel_returns_data_from_a_default_serve_without_simulate() {
    require_tool("prometheus");
    let (server, prom) = serve_under_prometheus(
        "e2e_prometheus_data_quality",
        &["--interval", "1s"],
        &[],
        &["recording_rules.yml"],
    );
    prom.wait_target_up();
    // The series the variables read exist after the first cycle.
    prom.wait_for(
        "stale series of the real indices",
        Duration::from_secs(30),
        || {
            let v = prom.api("/api/v1/label/index/values?match[]=g6_stale_fields_total");
            (v["data"] == serde_json::json!(["BANKNIFTY", "FINNIFTY", "NIFTY"]))
                .then_some(())
                .ok_or(format!("{}", v["data"]))
        },
    );
    let targets: Vec<(String, String, String)> = dashboard_targets(&prom)
        .into_iter()
        .filter(|(slug, _, _)| slug == "data_quality")
        .collect();
    assert!(
        targets.len() > 20,
        "data_quality targets: {}",
        targets.len()
    );
    assert!(
        targets
            .iter()
            .any(|(_, _, e)| e.contains("g6_stale_fields_total{index=\"BANKNIFTY\"}")),
        "the index variable is a real index: {targets:?}"
    );
    every_target_returns_data(&prom, &targets, Duration::from_secs(90));
    drop(prom);
    let status = server.terminate();
    assert!(status.success(), "g6 serve exit {status:?}");
}

/// The health score of a real `g6 serve` (the synthetic provider, the in-process bus,
/// the Parquet store; no `--simulate`) under Prometheus with the generated health
/// rules: every component of metrics.yml reads exactly 1 and the score is 1, so the
/// components are wired to metrics the pipeline really feeds (an absent NATS outbox
/// reads healthy).
#[test]
#[ignore = "needs prometheus; scripts/test.sh runs it"]
fn a_healthy_g6_serve_scores_exactly_1() {
    require_tool("prometheus");
    let (server, prom) = serve_under_prometheus(
        "e2e_prometheus_health",
        &["--interval", "1s"],
        &[],
        &["health_rules.yml"],
    );
    prom.wait_target_up();
    prom.wait_for("a health score of 1", Duration::from_secs(60), || {
        let components = prom.query("job:g6_health_component:ratio")?;
        let mut got: Vec<(String, f64)> = components
            .iter()
            .map(|(labels, v)| (labels.get("component").cloned().unwrap_or_default(), *v))
            .collect();
        got.sort_by(|a, b| a.0.cmp(&b.0));
        let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
        if names
            != [
                "backlog",
                "collection_success",
                "memory_pressure",
                "provider_success",
                "snapshot_freshness",
            ]
        {
            return Err(format!("components {got:?}"));
        }
        if got.iter().any(|(_, v)| *v != 1.0) {
            return Err(format!("components {got:?}"));
        }
        let score = prom.query("job:g6_health_score:ratio")?;
        match score.as_slice() {
            [(_, v)] if *v == 1.0 => Ok(()),
            other => Err(format!("score {other:?}")),
        }
    });
    drop(prom);
    let status = server.terminate();
    assert!(status.success(), "g6 serve exit {status:?}");
}

/// The generated recording rules over counters and histograms of metrics.yml, minus
/// those of families an environment variable switches on (off on a default serve).
fn counter_and_histogram_rules() -> Vec<String> {
    use g6_codegen::model::MetricKind;
    let loaded = g6_codegen::load_str(g6_metrics::artifacts::SPEC_SOURCE, "metrics.yml").unwrap();
    let spec = &loaded.spec;
    let rules = g6_codegen::rules::build(spec);
    rules
        .all_recording()
        .filter(|r| !r.custom)
        .filter(|r| {
            spec.metrics().any(|(f, m)| {
                m.name.value == r.metric
                    && f.enabled_by.is_none()
                    && matches!(m.kind.value, MetricKind::Counter | MetricKind::Histogram)
            })
        })
        .map(|r| r.record.clone())
        .collect()
}

/// Warm series, end to end: on a healthy default `g6 serve` (synthetic provider,
/// in-process bus, Parquet store; no `--simulate`, no failure), every generated
/// recording rule over a counter or a histogram has a series within two evaluation
/// intervals of the first scrape, so no panel of a failure counter says "No data".
/// `rate()` needs two samples, so the limit is counted from the first scrape: two
/// evaluation intervals (1 s each) plus one scrape interval for the second sample.
#[test]
#[ignore = "needs prometheus; scripts/test.sh runs it"]
fn every_counter_and_histogram_rule_has_a_series_right_after_the_first_scrape() {
    require_tool("prometheus");
    let (server, prom) = serve_under_prometheus(
        "e2e_prometheus_warm",
        &["--interval", "1s"],
        &[],
        &["recording_rules.yml"],
    );
    let records = counter_and_histogram_rules();
    assert!(records.len() > 100, "rules: {}", records.len());
    prom.wait_target_up();
    let first_scrape = std::time::Instant::now();
    let limit = Duration::from_secs(3);
    loop {
        let empty: Vec<&String> = records
            .iter()
            .filter(|r| prom.query(r).map_or(true, |s| s.is_empty()))
            .collect();
        if empty.is_empty() {
            break;
        }
        assert!(
            first_scrape.elapsed() < limit,
            "{} of {} rules over counters and histograms have no series {:?} after the first scrape: {empty:#?}",
            empty.len(),
            records.len(),
            first_scrape.elapsed()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    drop(prom);
    let status = server.terminate();
    assert!(status.success(), "g6 serve exit {status:?}");
}
