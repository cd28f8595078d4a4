//! The Prometheus file formats the generators write, as serde structs: rule files
//! (`groups:` of recording and alerting rules), `promtool test rules` files and the
//! server configuration. `serde_yaml` writes them, so quoting is the YAML library's,
//! not ours; the generated comment lines go before the document ([`document`]).

use indexmap::IndexMap;
use serde::Serialize;

/// Labels or annotations in the order they were added (deterministic, and the order
/// people read them in: `severity` first, links last).
pub type Labels = IndexMap<String, String>;

/// A rule file: `groups:`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleFile {
    /// The rule groups, in file order.
    pub groups: Vec<RuleGroup>,
}

/// One rule group.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleGroup {
    /// Group name.
    pub name: String,
    /// Evaluation interval of the group (the global one when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// Rules in order.
    pub rules: Vec<Rule>,
}

/// A recording or an alerting rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Rule {
    /// `record:`.
    Record(Record),
    /// `alert:`.
    Alert(Alert),
}

/// A recording rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Record {
    /// The recorded series name.
    pub record: String,
    /// Its PromQL.
    pub expr: String,
    /// Labels added to the result.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub labels: Labels,
}

/// An alerting rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// Alert name.
    pub alert: String,
    /// Condition.
    pub expr: String,
    /// Hold duration.
    #[serde(rename = "for", skip_serializing_if = "Option::is_none")]
    pub for_: Option<String>,
    /// How long it keeps firing after the condition clears.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_firing_for: Option<String>,
    /// Labels of the alert.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub labels: Labels,
    /// Annotations of the alert.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub annotations: Labels,
}

/// A `promtool test rules` file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TestFile {
    /// Rule files under test, relative to the test file.
    pub rule_files: Vec<String>,
    /// Rule evaluation interval.
    pub evaluation_interval: String,
    /// The test groups.
    pub tests: Vec<TestGroup>,
}

/// One test group: input series and what the rules must give.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TestGroup {
    /// Step of the input series.
    pub interval: String,
    /// The input series.
    pub input_series: Vec<InputSeries>,
    /// PromQL expressions and the samples they must give.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub promql_expr_test: Vec<PromqlExprTest>,
    /// Alerts and whether they fire.
    pub alert_rule_test: Vec<AlertRuleTest>,
}

/// One input series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InputSeries {
    /// Series selector (`name{label="value"}`).
    pub series: String,
    /// Values in promtool's expanding notation (`0+1x10`).
    pub values: String,
}

/// One PromQL expression test.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PromqlExprTest {
    /// The expression.
    pub expr: String,
    /// When it is evaluated (`10m`).
    pub eval_time: String,
    /// The samples it must give.
    pub exp_samples: Vec<Sample>,
}

/// An expected sample.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sample {
    /// Its series (`name{label="value"}`).
    pub labels: String,
    /// Its value, as written (`num`): exactly the float Prometheus compares with.
    pub value: Number,
}

/// A number written as its shortest round-trip text (`0.75`, `1`, `1e-05`...), so the
/// test file holds the same text the rules' own numbers have.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Number(pub f64);

impl Serialize for Number {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // A whole number as an integer (`1`, not `1.0`), as Rust's `{}` and the
        // hand-written files printed it.
        if self.0.fract() == 0.0 && self.0.abs() < 1e15 {
            s.serialize_i64(self.0 as i64)
        } else {
            s.serialize_f64(self.0)
        }
    }
}

/// One alert test: at `eval_time`, `alertname` fires exactly as `exp_alerts`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertRuleTest {
    /// When it is checked (`10m`).
    pub eval_time: String,
    /// The alert.
    pub alertname: String,
    /// The alerts expected (none: it does not fire).
    pub exp_alerts: Vec<ExpAlert>,
}

/// One expected firing alert.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExpAlert {
    /// Its labels (besides `alertname`).
    pub exp_labels: Labels,
    /// Its annotations, expanded.
    pub exp_annotations: Labels,
}

/// A Prometheus server configuration: what a local stack needs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PrometheusConfig {
    /// Scrape and evaluation intervals.
    pub global: Global,
    /// Rule files, relative to the configuration.
    pub rule_files: Vec<String>,
    /// Scrape jobs.
    pub scrape_configs: Vec<ScrapeConfig>,
}

/// `global:` of [`PrometheusConfig`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Global {
    /// How often targets are scraped.
    pub scrape_interval: String,
    /// How often rules are evaluated.
    pub evaluation_interval: String,
}

/// One scrape job with static targets.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScrapeConfig {
    /// The `job` label.
    pub job_name: String,
    /// Target groups.
    pub static_configs: Vec<StaticConfig>,
}

/// A static target group.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StaticConfig {
    /// `host:port` of each target.
    pub targets: Vec<String>,
}

/// `header` (comment lines, each ending in a newline) followed by `value` as YAML.
pub fn document(header: &str, value: &impl Serialize) -> String {
    let mut out = header.to_string();
    out.push_str(&yaml(value));
    out
}

/// A test file as [`document`] writes it, with comment lines before each test
/// group (`comments[i]` before `file.tests[i]`; none when it is empty): what the case
/// sets up, which alerts fire when. The groups are serialised one by one, each as a
/// one-item sequence at column 0, which is how the whole file serialises them.
pub fn test_document(header: &str, file: &TestFile, comments: &[String]) -> String {
    #[derive(Serialize)]
    struct Head<'a> {
        rule_files: &'a [String],
        evaluation_interval: &'a str,
    }
    let mut out = document(
        header,
        &Head {
            rule_files: &file.rule_files,
            evaluation_interval: &file.evaluation_interval,
        },
    );
    if file.tests.is_empty() {
        out.push_str("tests: []\n");
        return out;
    }
    out.push_str("tests:\n");
    for (i, group) in file.tests.iter().enumerate() {
        for line in comments.get(i).map_or("", String::as_str).lines() {
            out.push_str("# ");
            out.push_str(line);
            out.push('\n');
        }
        out.push_str(&yaml(&[group]));
    }
    out
}

/// `value` as a YAML document (no `---` marker).
pub fn yaml(value: &impl Serialize) -> String {
    // The structs here serialise to string-keyed maps, sequences and scalars, which
    // cannot fail; should that change, the file says so and fails every YAML check
    // downstream instead of being written half.
    serde_yaml::to_string(value).unwrap_or_else(|e| format!("!serialisation-failed '{e}'\n"))
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_alert_writes_for_and_skips_what_it_lacks_in_prometheus_field_order() {
        let file = RuleFile {
            groups: vec![RuleGroup {
                name: "g".into(),
                interval: None,
                rules: vec![
                    Rule::Record(Record {
                        record: "job:x:rate5m".into(),
                        expr: "sum(rate(x[5m]))".into(),
                        labels: Labels::new(),
                    }),
                    Rule::Alert(Alert {
                        alert: "XHigh".into(),
                        expr: "x > 1".into(),
                        for_: Some("5m".into()),
                        keep_firing_for: None,
                        labels: Labels::from([("severity".into(), "warning".into())]),
                        annotations: Labels::from([(
                            "description".into(),
                            "{{ $value }} it's\nhigh".into(),
                        )]),
                    }),
                ],
            }],
        };
        assert_eq!(
            yaml(&file),
            "groups:\n- name: g\n  rules:\n  - record: job:x:rate5m\n    expr: sum(rate(x[5m]))\n  - alert: XHigh\n    expr: x > 1\n    for: 5m\n    labels:\n      severity: warning\n    annotations:\n      description: |-\n        {{ $value }} it's\n        high\n"
        );
    }

    #[test]
    fn strings_that_read_as_numbers_stay_strings_and_numbers_are_shortest() {
        let sample = Sample {
            labels: "14.4".into(),
            value: Number(1.0),
        };
        assert_eq!(yaml(&sample), "labels: '14.4'\nvalue: 1\n");
        assert_eq!(yaml(&Number(0.7999999999999999)), "0.7999999999999999\n");
        assert_eq!(yaml(&Number(0.0144)), "0.0144\n");
    }

    #[test]
    fn a_test_file_with_comments_reads_as_the_same_document_without_them() {
        let group = |minute: &str| TestGroup {
            interval: "1m".into(),
            input_series: vec![InputSeries {
                series: "x{a=\"b\"}".into(),
                values: "0+1x10".into(),
            }],
            promql_expr_test: Vec::new(),
            alert_rule_test: vec![AlertRuleTest {
                eval_time: minute.into(),
                alertname: "XHigh".into(),
                exp_alerts: Vec::new(),
            }],
        };
        let file = TestFile {
            rule_files: vec!["../rules.yml".into()],
            evaluation_interval: "1m".into(),
            tests: vec![group("5m"), group("9m")],
        };
        let text = test_document("# head\n", &file, &["first\ntwo lines".into()]);
        assert!(
            text.starts_with("# head\nrule_files:\n- ../rules.yml\n"),
            "{text}"
        );
        assert!(
            text.contains("tests:\n# first\n# two lines\n- interval: 1m\n"),
            "{text}"
        );
        let parsed: serde_yaml::Value =
            serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        let whole: serde_yaml::Value =
            serde_yaml::from_str(&yaml(&file)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed, whole);
    }

    #[test]
    fn any_label_or_annotation_value_reads_back_as_written() {
        let values = [
            " leading and trailing ",
            "a: b # not a comment",
            "'single' and \"double\" quotes",
            "{{ $value }}",
            "- dash",
            "line one\nline two\n",
            "  indented\nfirst line",
            "tab\tand bell\u{7}",
            "true",
            "0.5",
            "~",
            "",
        ];
        let annotations: Labels = values
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("a{i}"), v.to_string()))
            .collect();
        let text = yaml(&Alert {
            alert: "A".into(),
            expr: "x > 0".into(),
            for_: None,
            keep_firing_for: Some("5m".into()),
            labels: Labels::new(),
            annotations,
        });
        let back: serde_yaml::Value =
            serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        assert_eq!(back["keep_firing_for"], "5m");
        assert!(back.get("labels").is_none(), "{text}");
        for (i, v) in values.iter().enumerate() {
            assert_eq!(back["annotations"][format!("a{i}")], *v, "{text}");
        }
    }
}
