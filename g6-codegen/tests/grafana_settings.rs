//! `grafana:` settings reach every dashboard, and bad values are spec errors.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

const SPEC: &str = "version: 1\nnamespace: demo\ngrafana: {schema_version: 42, refresh: 1m}\ndashboards:\n  main: {title: Demo, families: [core]}\nfamilies:\n  core:\n    metrics:\n      - {name: demo_jobs_total, type: counter, help: Jobs run}\n";

#[test]
fn settings_reach_every_dashboard() {
    let loaded = g6_codegen::load_str(SPEC, "spec.yml").unwrap_or_else(|d| panic!("{d}"));
    let generated = g6_codegen::artifacts::generate_all(&loaded, "spec.yml");
    let d = &generated.dashboards[0].json;
    assert_eq!(d["schemaVersion"], 42);
    assert_eq!(d["refresh"], "1m");
}

#[test]
fn defaults_are_41_and_30s() {
    let spec = SPEC.replace("grafana: {schema_version: 42, refresh: 1m}\n", "");
    let loaded = g6_codegen::load_str(&spec, "spec.yml").unwrap();
    let d = &g6_codegen::artifacts::generate_all(&loaded, "spec.yml").dashboards[0].json;
    assert_eq!(d["schemaVersion"], 41);
    assert_eq!(d["refresh"], "30s");
}

#[test]
fn bad_settings_are_errors_with_positions() {
    let spec = SPEC.replace(
        "schema_version: 42, refresh: 1m",
        "schema_version: 2, refresh: often",
    );
    let err = g6_codegen::load_str(&spec, "spec.yml")
        .unwrap_err()
        .to_string();
    assert!(err.contains("spec.yml:3:27: error[E030]: grafana schema_version 2 is not a classic dashboard schema"), "{err}");
    assert!(
        err.contains("spec.yml:3:39: error[E021]: grafana refresh `often` is not a duration"),
        "{err}"
    );
}
