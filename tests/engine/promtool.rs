//! The generated rule files are valid for Prometheus's own tools.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use crate::common;

use common::require_tool;
use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn run(args: &[&str]) -> (bool, String) {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(root())
        .output()
        .expect("run promtool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
#[ignore = "needs promtool; scripts/test.sh runs it"]
fn promtool_check_rules_passes_on_every_generated_rule_file() {
    require_tool("promtool");
    for file in [
        "recording_rules.yml",
        "alerts.yml",
        "alert_suggestions.yml",
        "slo_rules.yml",
        "health_rules.yml",
    ] {
        let path = format!("generated/prometheus/{file}");
        let (ok, text) = run(&["check", "rules", &path]);
        assert!(ok, "promtool check rules {path}:\n{text}");
        assert!(text.contains("SUCCESS"), "{text}");
    }
}

/// The generated SLO tests drive a failure through every burn-rate alert; each must
/// pass, and each must fail against rules whose page threshold was lowered (so the
/// tests assert the thresholds, not merely that nothing crashes).
#[test]
#[ignore = "needs promtool; scripts/test.sh runs it"]
fn generated_slo_tests_pass_and_catch_a_changed_threshold() {
    require_tool("promtool");
    let dir = root().join("generated/prometheus/slo_tests");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 4, "one test per SLO of metrics.yml");
    for f in &files {
        let (ok, text) = run(&["test", "rules", f.to_str().unwrap()]);
        assert!(ok && text.contains("SUCCESS"), "{}:\n{text}", f.display());
    }
    // A copy of the rules with each SLO's 1h/5m threshold at a third of its value.
    let work = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("slo-mutated");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(work.join("slo_tests")).unwrap();
    let rules = std::fs::read_to_string(root().join("generated/prometheus/slo_rules.yml")).unwrap();
    let mut mutated = String::new();
    for line in rules.lines() {
        if line.contains("ratio_rate1h{") && line.contains("ratio_rate5m{") {
            let t: f64 = line
                .rsplit("> ")
                .next()
                .unwrap()
                .trim_end_matches('\'')
                .parse()
                .unwrap();
            mutated.push_str(&line.replace(&format!("{t}"), &format!("{}", t / 3.0)));
        } else {
            mutated.push_str(line);
        }
        mutated.push('\n');
    }
    assert_ne!(mutated, rules);
    std::fs::write(work.join("slo_rules.yml"), mutated).unwrap();
    // One SLO's test is enough to show the tests assert thresholds (each run takes
    // seconds).
    for f in files.iter().take(1) {
        let copy = work.join("slo_tests").join(f.file_name().unwrap());
        std::fs::copy(f, &copy).unwrap();
        let (ok, text) = run(&["test", "rules", copy.to_str().unwrap()]);
        assert!(
            !ok,
            "{} passed against lowered thresholds:\n{text}",
            f.display()
        );
        assert!(text.contains("BurnRate1h"), "{text}");
    }
}

/// The generated health test drives each component down (and removes its data) with
/// the others healthy, checking every component, the score and exactly which alerts
/// fire; it must pass, and fail against rules where one weight is wrong (the score
/// then differs from the weighted sum the test expects).
#[test]
#[ignore = "needs promtool; scripts/test.sh runs it"]
fn generated_health_tests_pass_and_catch_a_wrong_weight() {
    require_tool("promtool");
    let tests = root().join("generated/prometheus/health_tests/health.yml");
    let (ok, text) = run(&["test", "rules", tests.to_str().unwrap()]);
    assert!(
        ok && text.contains("SUCCESS"),
        "{}:\n{text}",
        tests.display()
    );
    let body = std::fs::read_to_string(&tests).unwrap();
    for needle in [
        // Every component of metrics.yml has an unhealthy and a no-data case.
        "provider_success unhealthy (weight 0.25), the others healthy: score 0.75",
        "collection_success unhealthy (weight 0.25), the others healthy: score 0.75",
        "snapshot_freshness unhealthy (weight 0.25), the others healthy: score 0.75",
        "backlog unhealthy (weight 0.1), the others healthy: score 0.9",
        "memory_pressure unhealthy (weight 0.15), the others healthy: score 0.85",
        "provider_success without data (reads 0), the others healthy: score 0.75",
        // An absent NATS bus and store read as healthy.
        "backlog without data (reads 1), the others healthy: score 1",
        "Every component unhealthy: score 0",
    ] {
        assert!(body.contains(needle), "no case `{needle}`");
    }
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("health-mutated");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let rules =
        std::fs::read_to_string(root().join("generated/prometheus/health_rules.yml")).unwrap();
    let right = "0.15 * sum(job:g6_health_component:ratio{component=\"memory_pressure\"})";
    assert!(rules.contains(right), "{rules}");
    let mutated = rules.replace(
        right,
        "0.1 * sum(job:g6_health_component:ratio{component=\"memory_pressure\"})",
    );
    std::fs::write(work.join("health_rules.yml"), mutated).unwrap();
    std::fs::create_dir_all(work.join("health_tests")).unwrap();
    let copy = work.join("health_tests/health.yml");
    std::fs::copy(&tests, &copy).unwrap();
    let (ok, text) = run(&["test", "rules", copy.to_str().unwrap()]);
    assert!(
        !ok,
        "the health test passed against a wrong weight:\n{text}"
    );
    assert!(text.contains("job:g6_health_score:ratio"), "{text}");
}

/// The health engine on another spec (namespace `shop`, weights whose float sum is
/// not exactly 1): its generated rules and test pass promtool, names derive from the
/// namespace, and a fully healthy system scores exactly 1.
#[test]
#[ignore = "needs promtool; scripts/test.sh runs it"]
fn the_health_score_of_another_spec_passes_its_generated_test() {
    require_tool("promtool");
    let spec = r#"version: 1
namespace: shop
dashboards:
  main: {title: Shop, families: [core]}
health:
  dashboard: main
  warning: 0.95
  critical: 0.5
  components:
    orders:
      weight: 0.3
      expr: 'sum(rate(shop_orders_total{result="ok"}[5m])) / sum(rate(shop_orders_total[5m]))'
      test:
        healthy: {'shop_orders_total{result="ok"}': '0+10x20'}
        unhealthy: {'shop_orders_total{result="failed"}': '0+10x20'}
    queues:
      weight: 0.6
      expr: '1 - shop_queue_depth / shop_queue_capacity'
      test:
        healthy: {'shop_queue_depth{queue="a"}': '0x20', 'shop_queue_capacity{queue="a"}': '10x20', 'shop_queue_depth{queue="b"}': '0x20', 'shop_queue_capacity{queue="b"}': '10x20'}
        unhealthy: {'shop_queue_depth{queue="a"}': '0x20', 'shop_queue_capacity{queue="a"}': '10x20', 'shop_queue_depth{queue="b"}': '10x20', 'shop_queue_capacity{queue="b"}': '10x20'}
    disk:
      weight: 0.1
      expr: 'shop_disk_free_ratio * 4'
      test:
        healthy: {'shop_disk_free_ratio': '0.5x20'}
        unhealthy: {'shop_disk_free_ratio': '0x20'}
families:
  core:
    metrics:
      - {name: shop_orders_total, type: counter, help: Orders by outcome, labels: [result], cardinality_budget: 3}
      - {name: shop_queue_depth, type: gauge, help: Items queued, unit: items, labels: [queue], cardinality_budget: 4}
      - {name: shop_queue_capacity, type: gauge, help: Queue bound, unit: items, labels: [queue], cardinality_budget: 4}
      - {name: shop_disk_free_ratio, type: gauge, help: Free disk share, unit: ratio}
"#;
    let loaded = g6_codegen::load_str(spec, "shop.yml").unwrap_or_else(|d| panic!("{d}"));
    let artifacts = g6_codegen::artifacts::generate(&loaded, "shop.yml");
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("health-shop");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    std::fs::create_dir_all(work.join("health_tests")).unwrap();
    for name in ["health_rules.yml", "health_tests/health.yml"] {
        let a = artifacts
            .iter()
            .find(|a| a.path == format!("prometheus/{name}"))
            .unwrap_or_else(|| panic!("no {name}"));
        std::fs::write(work.join(name), &a.content).unwrap();
    }
    let rules = std::fs::read_to_string(work.join("health_rules.yml")).unwrap();
    assert!(rules.contains("record: job:shop_health_component:ratio"));
    assert!(rules.contains("record: job:shop_health_score:ratio"));
    assert!(rules.contains("alert: ShopHealthScoreLow"));
    assert!(rules.contains("alert: ShopHealthScoreCritical"));
    // 0.3 + 0.6 + 0.1 is 0.9999999999999999 in floats: the score divides by it.
    assert!(rules.contains(") / 0.9999999999999999\n"), "{rules}");
    let tests = std::fs::read_to_string(work.join("health_tests/health.yml")).unwrap();
    assert!(tests.contains("# Every component healthy: score 1 at minute 10."));
    // Unhealthy queues: a empty, b full: the lowest series (0) counts. Healthy disk
    // is 0.5 * 4 = 2, clamped to 1.
    let (ok, text) = run(&[
        "test",
        "rules",
        work.join("health_tests/health.yml").to_str().unwrap(),
    ]);
    assert!(ok && text.contains("SUCCESS"), "{text}");
}

#[test]
#[ignore = "needs promtool; scripts/test.sh runs it"]
fn promtool_check_config_accepts_the_local_stack_config() {
    require_tool("promtool");
    let (ok, text) = run(&["check", "config", "generated/prometheus/prometheus.yml"]);
    assert!(ok, "{text}");
}

#[test]
#[ignore = "needs promtool; scripts/test.sh runs it"]
fn promtool_unit_tests_of_the_rules_pass() {
    require_tool("promtool");
    let (ok, text) = run(&["test", "rules", "tests/promtool/rules_test.yml"]);
    assert!(ok, "promtool test rules:\n{text}");
    assert!(text.contains("SUCCESS"), "{text}");
}

fn amtool(args: &[&str]) -> (bool, String) {
    let out = Command::new("amtool")
        .args(args)
        .current_dir(root())
        .output()
        .expect("run amtool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

const ALERTMANAGER_CONFIG: &str = "generated/alertmanager/alertmanager.yml";

/// Alertmanager 0.25 (Debian bookworm's) loads the generated configuration: its
/// routes, inhibition rules and receivers.
#[test]
#[ignore = "needs amtool; scripts/test.sh runs it"]
fn amtool_check_config_passes_on_the_generated_alertmanager_config() {
    require_tool("amtool");
    let (ok, text) = amtool(&["check-config", ALERTMANAGER_CONFIG]);
    assert!(ok, "amtool check-config:\n{text}");
    assert!(text.contains("SUCCESS"), "{text}");
    assert!(text.contains("4 inhibit rules"), "{text}");
    assert!(text.contains("4 receivers"), "{text}");
}

/// Alerts reach the receiver of their severity whatever their family, and an alert
/// without a severity the default one: `amtool config routes test` against the
/// generated tree, with label sets of real generated alerts.
#[test]
#[ignore = "needs amtool; scripts/test.sh runs it"]
fn alerts_route_by_severity_to_their_receiver() {
    require_tool("amtool");
    let config = format!("--config.file={ALERTMANAGER_CONFIG}");
    for (labels, receiver) in [
        (
            &[
                "alertname=G6ProviderDown",
                "severity=critical",
                "family=provider",
            ][..],
            "g6-critical",
        ),
        (
            &[
                "alertname=G6SloChainFreshnessBurnRate1h",
                "severity=critical",
                "family=option_chain",
            ][..],
            "g6-critical",
        ),
        (
            &[
                "alertname=G6BusOutboxGrowing",
                "severity=warning",
                "family=bus",
            ][..],
            "g6-warning",
        ),
        (
            &[
                "alertname=G6HealthScoreLow",
                "severity=warning",
                "family=health",
            ][..],
            "g6-warning",
        ),
        (
            &[
                "alertname=G6PutCallRatioJump",
                "severity=info",
                "family=analytics",
            ][..],
            "g6-info",
        ),
        (
            &["alertname=SomethingElse", "family=provider"][..],
            "g6-default",
        ),
    ] {
        let mut args = vec!["config", "routes", "test", config.as_str()];
        let verify = format!("--verify.receivers={receiver}");
        args.push(&verify);
        args.extend_from_slice(labels);
        let (ok, text) = amtool(&args);
        assert!(ok, "{labels:?} should reach {receiver}:\n{text}");
        assert_eq!(text.lines().next(), Some(receiver), "{labels:?}: {text}");
    }
}
