//! A real Prometheus for tests: started on a free loopback port with its data in a
//! directory of the test's, polled until ready, killed on drop.

use super::http;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A Prometheus server, killed on drop.
pub struct Prometheus {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    log: PathBuf,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Percent-encode a query parameter.
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// One series of an instant-query result: its labels and value.
pub type Series = (BTreeMap<String, String>, f64);

impl Prometheus {
    /// Start Prometheus in `dir` scraping `target` every second, with `rule_files`.
    pub fn start(dir: &Path, target: &str, rule_files: &[PathBuf]) -> Prometheus {
        Prometheus::start_with(dir, target, rule_files, &[])
    }

    /// [`Prometheus::start`] with more command-line flags (its TSDB is `dir/data`).
    pub fn start_with(
        dir: &Path,
        target: &str,
        rule_files: &[PathBuf],
        flags: &[&str],
    ) -> Prometheus {
        Prometheus::start_config(dir, target, rule_files, flags, "", "")
    }

    /// [`Prometheus::start`] with `job` (indented YAML lines such as `scheme: https`)
    /// added to the g6 scrape job.
    pub fn start_scraping(dir: &Path, target: &str, job: &str) -> Prometheus {
        Prometheus::start_config(dir, target, &[], &[], job, "")
    }

    /// [`Prometheus::start`] sending its alerts to the Alertmanager at `alertmanager`
    /// (`127.0.0.1:PORT`).
    pub fn start_alerting(
        dir: &Path,
        target: &str,
        rule_files: &[PathBuf],
        alertmanager: &str,
    ) -> Prometheus {
        let alerting = format!(
            "alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['{alertmanager}']\n"
        );
        Prometheus::start_config(dir, target, rule_files, &[], "", &alerting)
    }

    /// [`Prometheus::start_with`] with `extra` appended to its configuration file.
    fn start_config(
        dir: &Path,
        target: &str,
        rule_files: &[PathBuf],
        flags: &[&str],
        job: &str,
        extra: &str,
    ) -> Prometheus {
        let rules: Vec<String> = rule_files
            .iter()
            .map(|f| format!("  - {}", f.display()))
            .collect();
        let config = dir.join("prometheus.yml");
        let mut f = std::fs::File::create(&config).unwrap();
        write!(
            f,
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:{}\nscrape_configs:\n  - job_name: g6\n{job}    static_configs:\n      - targets: ['{target}']\n{extra}",
            if rules.is_empty() {
                " []".to_string()
            } else {
                format!("\n{}", rules.join("\n"))
            }
        )
        .unwrap();
        let addr = format!("127.0.0.1:{}", free_port());
        let log = dir.join("prometheus.log");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .args(flags)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start prometheus");
        let prom = Prometheus { child, addr, log };
        prom.wait_for("Prometheus ready", Duration::from_secs(20), || {
            let r = super::http_raw(
                &prom.addr,
                b"GET /-/ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            )
            .map_err(|e| e.to_string())?;
            (r.status == 200)
                .then_some(())
                .ok_or(format!("status {}", r.status))
        });
        prom
    }

    /// GET an API path as JSON.
    pub fn api(&self, path: &str) -> Value {
        let r = http(&self.addr, "GET", path, "");
        serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("GET {path}: {e}: {}", r.text()))
    }

    /// Run an instant query: the series it returns.
    pub fn query(&self, expr: &str) -> Result<Vec<Series>, String> {
        let v = self.api(&format!("/api/v1/query?query={}", encode(expr)));
        if v["status"] != "success" {
            return Err(format!("{}: {}", v["errorType"], v["error"]));
        }
        let empty = Vec::new();
        Ok(v["data"]["result"]
            .as_array()
            .unwrap_or(&empty)
            .iter()
            .map(|s| {
                let labels = s["metric"]
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                            .collect()
                    })
                    .unwrap_or_default();
                let value = s["value"][1]
                    .as_str()
                    .and_then(|v| v.parse::<f64>().ok())
                    .unwrap_or(f64::NAN);
                (labels, value)
            })
            .collect())
    }

    /// Poll `done` every 500 ms until it succeeds; past `limit`, fail with its last
    /// error and the end of Prometheus' log.
    pub fn wait_for(
        &self,
        what: &str,
        limit: Duration,
        mut done: impl FnMut() -> Result<(), String>,
    ) {
        let deadline = Instant::now() + limit;
        loop {
            match done() {
                Ok(()) => return,
                Err(e) if Instant::now() > deadline => {
                    let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                    let tail: Vec<&str> = log.lines().rev().take(15).collect();
                    panic!(
                        "{what} within {limit:?}: {e}\nprometheus log (last lines):\n{}",
                        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                    );
                }
                Err(_) => std::thread::sleep(Duration::from_millis(500)),
            }
        }
    }

    /// Wait until the scrape target is up.
    pub fn wait_target_up(&self) {
        self.wait_for("the g6 target up", Duration::from_secs(30), || {
            let v = self.api("/api/v1/targets");
            let health = v["data"]["activeTargets"][0]["health"]
                .as_str()
                .unwrap_or("none")
                .to_string();
            (health == "up").then_some(()).ok_or(format!(
                "target health {health}: {}",
                v["data"]["activeTargets"][0]["lastError"]
            ))
        });
    }
}

/// A dashboard target's expression with Grafana's macros and the dashboard's
/// variables substituted: `values` gives a variable's value; a multi-select variable
/// not in it takes All (`.*`).
pub fn grafana_expr(dashboard: &Value, expr: &str, values: &BTreeMap<String, String>) -> String {
    let mut out = expr
        .replace("$__rate_interval", "1m")
        .replace("$__interval", "1m")
        .replace("$__range", "5m");
    let empty = Vec::new();
    for v in dashboard["templating"]["list"].as_array().unwrap_or(&empty) {
        if v["type"] != "query" {
            continue;
        }
        let name = v["name"].as_str().unwrap_or("");
        let value = values
            .get(name)
            .cloned()
            .unwrap_or_else(|| v["allValue"].as_str().unwrap_or(".*").to_string());
        out = out
            .replace(&format!("${{{name}}}"), &value)
            .replace(&format!("${name}"), &value);
    }
    out
}
