//! Recordings of a real `g6 serve` turned into `promtool test rules` input.
//!
//! A [`Recording`] is a few scrapes of `/metrics` over a few seconds. [`series`]
//! extends it to hours of Prometheus samples at a fixed step: counters (and histogram
//! `_bucket`/`_sum`/`_count` series) at the rate seen between the first and the last
//! scrape, `*_timestamp_seconds` gauges advancing with the clock so their age stays
//! what it was, gauges that tracked the wall clock (ages, uptimes) still growing at
//! it, and every other gauge at its last value. [`TestFile`] writes a promtool test
//! over the committed generated rule files, so a rule added to the spec is covered
//! without anyone writing a case for it.

#![allow(dead_code)]

use super::common::{http_raw, parse_exposition, Sample};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// One scrape: its wall time (Unix seconds), the samples and each family's type.
#[derive(Debug, Clone)]
pub struct Scrape {
    pub at: f64,
    pub samples: Vec<Sample>,
}

/// Scrapes of one process, oldest first, with the `# TYPE` of every family seen.
#[derive(Debug, Clone, Default)]
pub struct Recording {
    pub scrapes: Vec<Scrape>,
    pub types: HashMap<String, String>,
}

/// Largest exposition read from one scrape (the real one is a few hundred KiB).
const MAX_SCRAPE_BYTES: usize = 16 * 1024 * 1024;

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// `GET /metrics` of `addr`, parsed; the family types go into `types`.
fn scrape(addr: &str, types: &mut HashMap<String, String>) -> Result<Scrape, String> {
    let req = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let at = unix_now();
    let resp = http_raw(addr, req.as_bytes()).map_err(|e| format!("scrape {addr}: {e}"))?;
    if resp.status != 200 {
        return Err(format!("scrape {addr}: status {}", resp.status));
    }
    if resp.body.len() > MAX_SCRAPE_BYTES {
        return Err(format!(
            "scrape {addr}: {} bytes, more than the {MAX_SCRAPE_BYTES} a recording keeps",
            resp.body.len()
        ));
    }
    let text = resp.text();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split_whitespace();
            if let (Some(name), Some(kind)) = (parts.next(), parts.next()) {
                types.insert(name.to_string(), kind.to_string());
            }
        }
    }
    Ok(Scrape {
        at,
        samples: parse_exposition(&text),
    })
}

/// Sum of every series of `name` in a scrape.
pub fn total(scrape: &Scrape, name: &str) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.name == name)
        .map(|s| s.value)
        .sum()
}

impl Recording {
    /// Wait (at most `warmup`) until `ready` holds of a scrape, then take at least
    /// `count` scrapes `gap` apart, and more (within `warmup` again) until `done` holds
    /// of the first and the latest: a sparse event (a retry with backoff) is then seen
    /// at least once inside the recording, so its rate is not read as 0.
    pub fn record(
        addr: &str,
        ready: impl Fn(&Scrape) -> bool,
        done: impl Fn(&Scrape, &Scrape) -> bool,
        warmup: Duration,
        count: usize,
        gap: Duration,
    ) -> Result<Recording, String> {
        let mut rec = Recording::default();
        let deadline = Instant::now() + warmup;
        loop {
            let s = scrape(addr, &mut rec.types)?;
            if ready(&s) {
                rec.scrapes.push(s);
                break;
            }
            if Instant::now() > deadline {
                return Err(format!("{addr}: not ready within {warmup:?}"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let deadline = Instant::now() + warmup;
        while rec.scrapes.len() < count.max(2) || !done(&rec.scrapes[0], rec.last()) {
            if Instant::now() > deadline {
                return Err(format!(
                    "{addr}: the recording's end condition did not hold within {warmup:?}"
                ));
            }
            std::thread::sleep(gap);
            let s = scrape(addr, &mut rec.types)?;
            rec.scrapes.push(s);
        }
        Ok(rec)
    }

    /// The last scrape.
    pub fn last(&self) -> &Scrape {
        self.scrapes.last().expect("a recording has scrapes")
    }

    /// Keep only the series `keep` accepts (in every scrape).
    pub fn retain(&mut self, keep: impl Fn(&Sample) -> bool) {
        for s in &mut self.scrapes {
            s.samples.retain(&keep);
        }
    }

    /// Change every series in place (in every scrape).
    pub fn map(&mut self, f: impl Fn(&mut Sample)) {
        for s in &mut self.scrapes {
            s.samples.iter_mut().for_each(&f);
        }
    }

    /// Add the series of `other` (another recording of the same length of time):
    /// both are read as one process's exposition.
    pub fn merge(&mut self, other: &Recording) {
        let n = self.scrapes.len().min(other.scrapes.len());
        self.scrapes.truncate(n);
        for (mine, theirs) in self.scrapes.iter_mut().zip(&other.scrapes) {
            mine.samples.extend(theirs.samples.iter().cloned());
        }
        for (k, v) in &other.types {
            self.types.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }

    /// The type of the family a sample belongs to: `counter`, `gauge`, `histogram`,
    /// `summary` or `untyped`.
    fn kind_of(&self, name: &str) -> &str {
        if let Some(t) = self.types.get(name) {
            return t;
        }
        for suffix in ["_bucket", "_sum", "_count", "_total", "_created", "_info"] {
            if let Some(base) = name.strip_suffix(suffix) {
                if let Some(t) = self.types.get(base) {
                    return t;
                }
            }
        }
        "untyped"
    }
}

/// How a recorded series is carried on over time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Model {
    /// Grows at the recorded rate (counters, histogram buckets, sums and counts).
    Rate(f64),
    /// A Unix time: grows one second a second, keeping `time() - value` as recorded.
    Timestamp { age: f64 },
    /// A gauge that grew with the wall clock while recorded (an age, an uptime).
    Clock,
    /// Stays at its median over the scrapes (a saw-tooth such as a backlog between
    /// flushes is carried at its middle, not wherever the last scrape caught it).
    Steady(f64),
}

/// One input series of a promtool test.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// `name{labels}` in PromQL syntax.
    pub selector: String,
    /// promtool's expanding notation, `start+stepxN`.
    pub values: String,
    pub model: Model,
}

/// `name{k="v",...}` with PromQL string escapes.
pub fn selector(name: &str, labels: &[(String, String)]) -> String {
    let inner: Vec<String> = labels
        .iter()
        .map(|(k, v)| {
            let v = v
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{k}=\"{v}\"")
        })
        .collect();
    format!("{name}{{{}}}", inner.join(","))
}

/// `start+stepxN` (or `start-stepxN`); Rust prints floats without exponents, which
/// promtool's series lexer needs.
fn expanding(start: f64, step: f64, n: u64) -> String {
    if step < 0.0 {
        format!("{start}-{}x{n}", -step)
    } else {
        format!("{start}+{step}x{n}")
    }
}

fn key(s: &Sample) -> (String, Vec<(String, String)>) {
    let mut labels = s.labels.clone();
    labels.sort();
    (s.name.clone(), labels)
}

/// The recording's series, labelled `job="g6"` and `instance`, as promtool input at
/// `step_s` seconds for `steps` steps after time 0. Series the last scrape no longer
/// has are left out; non-finite values are left out (promtool cannot read them in
/// expanding notation and no rule divides by a recorded NaN).
pub fn series(rec: &Recording, instance: &str, step_s: u64, steps: u64) -> Vec<Series> {
    let first = &rec.scrapes[0];
    let last = rec.last();
    let elapsed = (last.at - first.at).max(1e-3);
    let mut first_values: HashMap<_, f64> = HashMap::new();
    for s in &first.samples {
        first_values.insert(key(s), s.value);
    }
    // Monotone growth through every scrape, for the clock test.
    let mut history: HashMap<_, Vec<f64>> = HashMap::new();
    for sc in &rec.scrapes {
        for s in &sc.samples {
            history.entry(key(s)).or_default().push(s.value);
        }
    }
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for s in &last.samples {
        if !s.value.is_finite() {
            continue;
        }
        let k = key(s);
        if !seen.insert(k.clone()) {
            continue;
        }
        let kind = rec.kind_of(&s.name);
        let counter_like = matches!(kind, "counter" | "histogram" | "summary")
            && !(kind == "summary" && !s.name.ends_with("_sum") && !s.name.ends_with("_count"));
        let model = if counter_like {
            // A series born after the first scrape was 0 before it.
            let from = first_values.get(&k).copied().unwrap_or(0.0);
            Model::Rate(((s.value - from) / elapsed).max(0.0))
        } else if s.name.ends_with("_timestamp_seconds") {
            Model::Timestamp {
                age: last.at - s.value,
            }
        } else if s.name.ends_with("_seconds") && tracks_clock(&history[&k], elapsed) {
            Model::Clock
        } else {
            Model::Steady(median(&history[&k]))
        };
        let mut labels = k.1.clone();
        labels.retain(|(n, _)| n != "job" && n != "instance");
        labels.push(("instance".into(), instance.into()));
        labels.push(("job".into(), "g6".into()));
        labels.sort();
        let values = match model {
            Model::Rate(r) => expanding(s.value, r * step_s as f64, steps),
            Model::Timestamp { age } => expanding(-age, step_s as f64, steps),
            Model::Clock => expanding(s.value, step_s as f64, steps),
            Model::Steady(v) => expanding(v, 0.0, steps),
        };
        out.push(Series {
            selector: selector(&s.name, &labels),
            values,
            model,
        });
    }
    out
}

/// The middle value (the upper middle of an even count).
fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// True when a gauge rose at every scrape and by about the time that passed.
fn tracks_clock(values: &[f64], elapsed: f64) -> bool {
    values.len() >= 3
        && values.windows(2).all(|w| w[1] > w[0])
        && values
            .last()
            .zip(values.first())
            .map(|(l, f)| ((l - f) / elapsed - 1.0).abs() < 0.25)
            .unwrap_or(false)
}

/// The repository root.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The rule files the generated `prometheus.yml` loads, as absolute paths.
pub fn rule_files() -> Vec<PathBuf> {
    let dir = root().join("generated/prometheus");
    let config =
        std::fs::read_to_string(dir.join("prometheus.yml")).expect("generated prometheus.yml");
    let mut files = Vec::new();
    let mut inside = false;
    for line in config.lines() {
        if line.starts_with("rule_files:") {
            inside = true;
            continue;
        }
        if inside {
            // The list's items, indented or not (both are YAML), up to the next key.
            match line.trim_start().strip_prefix("- ") {
                Some(f) => files.push(dir.join(f.trim())),
                None => break,
            }
        }
    }
    assert!(
        files.len() >= 5,
        "prometheus.yml lists the rule files: {files:?}"
    );
    files
}

/// Every alert of the rule files with its `for` in seconds.
pub fn alerts() -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for f in rule_files() {
        let text = std::fs::read_to_string(&f).expect("rule file");
        let mut current: Option<String> = None;
        for line in text.lines() {
            let t = line.trim_start();
            if let Some(name) = t.strip_prefix("- alert: ") {
                let name = name.trim().to_string();
                out.insert(name.clone(), 0);
                current = Some(name);
            } else if t.starts_with("- record: ") {
                current = None;
            } else if let (Some(d), Some(name)) = (t.strip_prefix("for: "), &current) {
                let d = g6_codegen::promql::duration(d.trim())
                    .unwrap_or_else(|_| panic!("{}: for: {d}", f.display()));
                out.insert(name.clone(), d.as_secs());
            }
        }
    }
    out
}

/// A `promtool test rules` file over the generated rules.
pub struct TestFile {
    pub step_s: u64,
    tests: Vec<String>,
}

/// A YAML double-quoted string (JSON's syntax is YAML's).
pub fn quoted(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

/// The firing alertnames at a time, as `group by (alertname)` samples.
fn firing_samples(names: &BTreeSet<String>) -> String {
    if names.is_empty() {
        return "[]".into();
    }
    let items: Vec<String> = names
        .iter()
        .map(|n| {
            format!(
                "{{labels: {}, value: 1}}",
                quoted(&format!("{{alertname=\"{n}\"}}"))
            )
        })
        .collect();
    format!("[{}]", items.join(", "))
}

impl TestFile {
    /// Input at `step_s`, rules evaluated at the same interval.
    pub fn new(step_s: u64) -> TestFile {
        TestFile {
            step_s,
            tests: Vec::new(),
        }
    }

    /// One test group: `series` as input and the given checks (YAML list items).
    pub fn group(&mut self, name: &str, series: &[Series], checks: &Checks) {
        let mut t = String::new();
        t.push_str(&format!("  - name: {}\n", quoted(name)));
        t.push_str(&format!("    interval: {}s\n", self.step_s));
        t.push_str("    input_series:\n");
        for s in series {
            t.push_str(&format!(
                "      - series: {}\n        values: {}\n",
                quoted(&s.selector),
                quoted(&s.values)
            ));
        }
        if !checks.exprs.is_empty() {
            t.push_str("    promql_expr_test:\n");
            t.push_str(&checks.exprs);
        }
        if !checks.alerts.is_empty() {
            t.push_str("    alert_rule_test:\n");
            t.push_str(&checks.alerts);
        }
        self.tests.push(t);
    }

    /// The file's text.
    pub fn render(&self) -> String {
        let mut out = String::from("rule_files:\n");
        for f in rule_files() {
            out.push_str(&format!("  - {}\n", quoted(&f.display().to_string())));
        }
        out.push_str(&format!("evaluation_interval: {}s\n", self.step_s));
        out.push_str("tests:\n");
        for t in &self.tests {
            out.push_str(t);
        }
        out
    }
}

/// The assertions of one test group.
#[derive(Default)]
pub struct Checks {
    exprs: String,
    alerts: String,
}

impl Checks {
    /// Exactly `names` fire at `at_s` seconds (nothing else firing).
    pub fn firing_exactly(&mut self, at_s: u64, names: &BTreeSet<String>) -> &mut Self {
        self.exprs.push_str(&format!(
            "      - expr: 'group by (alertname) (ALERTS{{alertstate=\"firing\"}})'\n        eval_time: {at_s}s\n        exp_samples: {}\n",
            firing_samples(names)
        ));
        self
    }

    /// No alert is pending or firing at `at_s` seconds.
    pub fn silent(&mut self, at_s: u64) -> &mut Self {
        self.exprs.push_str(&format!(
            "      - expr: 'ALERTS'\n        eval_time: {at_s}s\n        exp_samples: []\n"
        ));
        self
    }

    /// `alertname` has no alert at `at_s` seconds.
    pub fn no_alert(&mut self, alertname: &str, at_s: u64) -> &mut Self {
        self.alerts.push_str(&format!(
            "      - alertname: {}\n        eval_time: {at_s}s\n        exp_alerts: []\n",
            quoted(alertname)
        ));
        self
    }
}

/// `promtool test rules` on `file`: success, and the output.
pub fn promtool_test(file: &Path) -> (bool, String) {
    let out = std::process::Command::new("promtool")
        .args(["test", "rules"])
        .arg(file)
        .output()
        .expect("run promtool");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}
