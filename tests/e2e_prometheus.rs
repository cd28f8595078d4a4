//! End to end with the real consumer: `g6 serve --simulate` scraped by Debian's
//! Prometheus loaded with the generated rules; every rule group loads, every recording
//! rule yields series, and every target of every generated dashboard (read from
//! generated/ on disk) returns data.

mod common;

use common::{http, require_tool, Server};
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The only dashboard targets allowed to return nothing, each with its reason.
const ALLOWED_EMPTY: &[(&str, &str)] = &[(
    "ALERTS{",
    "alert overview panels list pending/firing alerts; a healthy preview may have none",
)];

/// A Prometheus server, killed on drop.
struct Prometheus {
    child: Child,
    addr: String,
    log: PathBuf,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn api(addr: &str, path: &str) -> Value {
    let r = http(addr, "GET", path, "");
    serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("GET {path}: {e}: {}", r.text()))
}

fn query(addr: &str, expr: &str) -> Result<usize, String> {
    let v = api(addr, &format!("/api/v1/query?query={}", encode(expr)));
    if v["status"] != "success" {
        return Err(format!("{}: {}", v["errorType"], v["error"]));
    }
    Ok(v["data"]["result"].as_array().map_or(0, Vec::len))
}

fn start_prometheus(dir: &Path, target: &str) -> Prometheus {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("generated/prometheus");
    let rules: Vec<String> = ["recording_rules.yml", "alerts.yml", "alert_suggestions.yml"]
        .iter()
        .map(|f| format!("  - {}", root.join(f).display()))
        .collect();
    let config = dir.join("prometheus.yml");
    let mut f = std::fs::File::create(&config).unwrap();
    write!(
        f,
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n{}\nscrape_configs:\n  - job_name: g6\n    static_configs:\n      - targets: ['{target}']\n",
        rules.join("\n")
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
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start prometheus");
    Prometheus { child, addr, log }
}

fn wait_for(
    what: &str,
    limit: Duration,
    prom: &Prometheus,
    mut done: impl FnMut() -> Result<(), String>,
) {
    let deadline = Instant::now() + limit;
    loop {
        match done() {
            Ok(()) => return,
            Err(e) if Instant::now() > deadline => {
                let log = std::fs::read_to_string(&prom.log).unwrap_or_default();
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

/// Every target expression of every dashboard in generated/, macros substituted.
fn dashboard_targets() -> Vec<(String, String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("generated/grafana/dashboards");
    let mut out = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    files.sort();
    for path in files {
        if path.extension().is_none_or(|e| e != "json") || path.ends_with("manifest.json") {
            continue;
        }
        let d: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let slug = path.file_stem().unwrap().to_string_lossy().into_owned();
        for p in d["panels"].as_array().unwrap() {
            for t in p["targets"].as_array().unwrap() {
                let expr = t["expr"]
                    .as_str()
                    .unwrap()
                    .replace("$__rate_interval", "1m")
                    .replace("$__interval", "1m")
                    .replace("$__range", "5m");
                out.push((slug.clone(), p["title"].as_str().unwrap().to_string(), expr));
            }
        }
    }
    out
}

#[test]
fn every_rule_and_dashboard_query_works_against_real_prometheus() {
    if !require_tool("prometheus") {
        return;
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("e2e_prometheus");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let server = Server::start(&["--simulate", "--interval", "1s"], &[]);
    let prom = start_prometheus(&dir, &server.addr);
    let addr = prom.addr.clone();

    wait_for("Prometheus ready", Duration::from_secs(20), &prom, || {
        let r = common::http_raw(
            &addr,
            b"GET /-/ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .map_err(|e| e.to_string())?;
        (r.status == 200)
            .then_some(())
            .ok_or(format!("status {}", r.status))
    });
    wait_for("the g6 target up", Duration::from_secs(30), &prom, || {
        let v = api(&addr, "/api/v1/targets");
        let health = v["data"]["activeTargets"][0]["health"]
            .as_str()
            .unwrap_or("none")
            .to_string();
        (health == "up").then_some(()).ok_or(format!(
            "target health {health}: {}",
            v["data"]["activeTargets"][0]["lastError"]
        ))
    });

    let records: Vec<String> = {
        let v = api(&addr, "/api/v1/rules");
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

    wait_for(
        "every rule group healthy",
        Duration::from_secs(30),
        &prom,
        || {
            let v = api(&addr, "/api/v1/rules");
            let groups = v["data"]["groups"].as_array().unwrap();
            let expected = ["recording_rules.yml", "alerts.yml", "alert_suggestions.yml"];
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
        },
    );

    wait_for(
        "every recording rule yields a series",
        Duration::from_secs(60),
        &prom,
        || {
            let empty: Vec<&String> = records
                .iter()
                .filter(|r| query(&addr, r).map_or(true, |n| n == 0))
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

    let targets = dashboard_targets();
    assert!(targets.len() > 200, "dashboard targets: {}", targets.len());
    wait_for(
        "every dashboard query returns data",
        Duration::from_secs(60),
        &prom,
        || {
            let mut problems = Vec::new();
            for (slug, title, expr) in &targets {
                match query(&addr, expr) {
                    Err(e) => problems.push(format!("{slug} / {title}: `{expr}` errors: {e}")),
                    Ok(0)
                        if ALLOWED_EMPTY
                            .iter()
                            .any(|(prefix, _)| expr.starts_with(prefix)) => {}
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
        },
    );
    drop(prom);
    let status = server.terminate();
    assert!(status.success(), "g6 serve exit {status:?}");
}
