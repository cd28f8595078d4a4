//! The generated rule files are valid for Prometheus's own tools.

mod common;

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
fn promtool_check_rules_passes_on_every_generated_rule_file() {
    if !require_tool("promtool") {
        return;
    }
    for file in ["recording_rules.yml", "alerts.yml", "alert_suggestions.yml"] {
        let path = format!("generated/prometheus/{file}");
        let (ok, text) = run(&["check", "rules", &path]);
        assert!(ok, "promtool check rules {path}:\n{text}");
        assert!(text.contains("SUCCESS"), "{text}");
    }
}

#[test]
fn promtool_check_config_accepts_the_local_stack_config() {
    if !require_tool("promtool") {
        return;
    }
    let (ok, text) = run(&["check", "config", "generated/prometheus/prometheus.yml"]);
    assert!(ok, "{text}");
}

#[test]
fn promtool_unit_tests_of_the_rules_pass() {
    if !require_tool("promtool") {
        return;
    }
    let (ok, text) = run(&["test", "rules", "tests/promtool/rules_test.yml"]);
    assert!(ok, "promtool test rules:\n{text}");
    assert!(text.contains("SUCCESS"), "{text}");
}
