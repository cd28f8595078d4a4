//! Alerts reach a person, once: a real `g6 serve` whose provider is down from the
//! start, scraped by Debian's Prometheus with every generated alert rule, which sends
//! to Debian's Alertmanager running the generated configuration, which notifies a
//! webhook receiver this test runs. Exactly `G6ProviderDown` must arrive; every alert
//! it explains (the API error rate, the fetch failures, the provider-availability and
//! chain-freshness burn rates, the health score, the stale snapshot) fires in
//! Prometheus and is held back by the generated inhibition rules.

use super::common::prometheus::{free_port, Prometheus};
use super::common::{http, require_tool, Server};
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Largest notification the receiver reads (Alertmanager's are a few kilobytes).
const MAX_BODY: usize = 1 << 20;

/// A webhook receiver: every POSTed JSON body, in arrival order.
struct Webhook {
    addr: String,
    received: Arc<Mutex<Vec<Value>>>,
}

impl Webhook {
    fn start() -> Webhook {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let received = Arc::new(Mutex::new(Vec::new()));
        let sink = received.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                // Headers, then as many body bytes as Content-Length says.
                let body = loop {
                    match conn.read(&mut chunk) {
                        Ok(0) | Err(_) => break None,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                    if buf.len() > MAX_BODY {
                        break None;
                    }
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                    let len = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + len {
                        break Some(buf[end + 4..end + 4 + len].to_vec());
                    }
                };
                if let Some(v) = body.and_then(|b| serde_json::from_slice::<Value>(&b).ok()) {
                    sink.lock().unwrap().push(v);
                }
                let _ = conn.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        });
        Webhook { addr, received }
    }

    fn notifications(&self) -> Vec<Value> {
        self.received.lock().unwrap().clone()
    }

    /// Every (receiver, alertname, status) the notifications carried.
    fn alerts(&self) -> Vec<(String, String, String)> {
        self.notifications()
            .iter()
            .flat_map(|n| {
                let receiver = n["receiver"].as_str().unwrap_or_default().to_string();
                n["alerts"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .map(move |a| {
                        (
                            receiver.clone(),
                            a["labels"]["alertname"]
                                .as_str()
                                .unwrap_or_default()
                                .to_string(),
                            a["status"].as_str().unwrap_or_default().to_string(),
                        )
                    })
            })
            .collect()
    }
}

/// Debian's Alertmanager on a free loopback port, clustering off, killed on drop.
struct Alertmanager {
    child: Child,
    addr: String,
    log: PathBuf,
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Alertmanager {
    fn start(dir: &Path, config: &Path) -> Alertmanager {
        let addr = format!("127.0.0.1:{}", free_port());
        let log = dir.join("alertmanager.log");
        let child = Command::new("prometheus-alertmanager")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.path={}", dir.join("am-data").display()))
            .arg(format!("--web.listen-address={addr}"))
            // Empty: no gossip port, no peers.
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start prometheus-alertmanager");
        let am = Alertmanager { child, addr, log };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = super::common::http_raw(
                &am.addr,
                b"GET /-/ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            )
            .map(|r| r.status == 200)
            .unwrap_or(false);
            if ready {
                return am;
            }
            assert!(
                Instant::now() < deadline,
                "Alertmanager not ready within 20s:\n{}",
                std::fs::read_to_string(&am.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The alerts it holds: (alertname, state, inhibited by).
    fn alerts(&self) -> Vec<(String, String, usize)> {
        let r = http(&self.addr, "GET", "/api/v2/alerts", "");
        let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
        v.as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|a| {
                (
                    a["labels"]["alertname"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    a["status"]["state"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    a["status"]["inhibitedBy"].as_array().map_or(0, Vec::len),
                )
            })
            .collect()
    }
}

/// Copy a generated rule file with every `for:` set to 0s: the alerts under test hold
/// for minutes in production, which a test cannot wait for; their conditions (and
/// so what fires) are unchanged.
fn without_for(src: &Path, dst: &Path) {
    let text = std::fs::read_to_string(src).unwrap();
    let out: Vec<String> = text
        .lines()
        .map(|l| match l.trim_start().strip_prefix("for: ") {
            Some(_) => format!("{}for: 0s", &l[..l.len() - l.trim_start().len()]),
            None => l.to_string(),
        })
        .collect();
    std::fs::write(dst, out.join("\n") + "\n").unwrap();
}

/// Alerts the provider failure makes fire and the generated inhibition must hold back.
const SILENCED: &[&str] = &[
    "G6ApiErrorRateHigh",
    "G6ProviderFetchFailuresTotalRising",
    "G6SloProviderAvailabilityBurnRate1h",
    "G6SloProviderAvailabilityBurnRate6h",
    "G6SloProviderAvailabilityBurnRate1d",
    "G6SloProviderAvailabilityBurnRate3d",
    "G6SloChainFreshnessBurnRate1h",
    "G6SloChainFreshnessBurnRate6h",
    "G6SloChainFreshnessBurnRate1d",
    "G6SloChainFreshnessBurnRate3d",
    "G6HealthScoreLow",
    "G6HealthScoreCritical",
    // Last: the snapshot age passes its 60 s threshold a minute after startup.
    "G6OptionChainStale",
];

#[test]
#[ignore = "needs prometheus and prometheus-alertmanager; scripts/test.sh runs it"]
fn a_provider_down_from_the_start_reaches_the_webhook_once_and_silences_what_it_causes() {
    require_tool("prometheus");
    require_tool("prometheus-alertmanager");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("generated");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("e2e_alertmanager");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();

    let hook = Webhook::start();
    // The generated configuration as a user deploys it: the placeholder replaced by
    // the real receiver. Only the waits are shortened (group_wait 30s..5m, which
    // would make the test slow); routes, receivers and inhibition are untouched.
    let generated = std::fs::read_to_string(root.join("alertmanager/alertmanager.yml")).unwrap();
    assert!(generated.contains(g6_codegen::alertmanager::WEBHOOK_PLACEHOLDER));
    let config: String = generated
        .replace(
            g6_codegen::alertmanager::WEBHOOK_PLACEHOLDER,
            &format!("http://{}", hook.addr),
        )
        .lines()
        .map(|l| {
            let t = l.trim_start();
            let indent = &l[..l.len() - t.len()];
            if t.starts_with("group_wait:") {
                format!("{indent}group_wait: 5s")
            } else if t.starts_with("group_interval:") {
                format!("{indent}group_interval: 2s")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let config_path = dir.join("alertmanager.yml");
    std::fs::write(&config_path, config + "\n").unwrap();
    let am = Alertmanager::start(&dir, &config_path);

    let mut rules = vec![root.join("prometheus/recording_rules.yml")];
    for f in [
        "alerts.yml",
        "alert_suggestions.yml",
        "slo_rules.yml",
        "health_rules.yml",
    ] {
        let dst = dir.join(f);
        without_for(&root.join("prometheus").join(f), &dst);
        rules.push(dst);
    }
    // The fault: a provider whose input does not exist, from the first cycle on.
    let server = Server::start(
        &[
            "--provider",
            "file:/nonexistent/g6-chain.json",
            "--interval",
            "1s",
            "--store",
            "none",
        ],
        &[],
    );
    let prom = Prometheus::start_alerting(&dir, &server.addr, &rules, &am.addr);
    prom.wait_target_up();

    prom.wait_for(
        "G6ProviderDown notified, and every alert it explains firing and inhibited",
        Duration::from_secs(90),
        || {
            let firing: BTreeSet<String> = prom
                .query("ALERTS{alertstate=\"firing\"}")?
                .into_iter()
                .filter_map(|(l, _)| l.get("alertname").cloned())
                .collect();
            let missing: Vec<&&str> = SILENCED
                .iter()
                .chain(&["G6ProviderDown"])
                .filter(|a| !firing.contains(**a))
                .collect();
            if !missing.is_empty() {
                return Err(format!("not firing yet in Prometheus: {missing:?}"));
            }
            let held = am.alerts();
            for name in SILENCED {
                let state = held.iter().find(|(n, _, _)| n == name);
                match state {
                    Some((_, s, by)) if s == "suppressed" && *by > 0 => {}
                    other => return Err(format!("{name} in Alertmanager: {other:?}")),
                }
            }
            if !hook.alerts().iter().any(|(_, n, _)| n == "G6ProviderDown") {
                return Err(format!("webhook got {:?}", hook.alerts()));
            }
            Ok(())
        },
    );
    // Two group intervals more, for a notification that should not come to come (a
    // period observed for silence: no condition can end it early).
    std::thread::sleep(Duration::from_secs(5));
    let got = hook.alerts();
    assert_eq!(
        got,
        [(
            "g6-critical".to_string(),
            "G6ProviderDown".to_string(),
            "firing".to_string()
        )],
        "exactly one notification, of G6ProviderDown to the critical receiver; Alertmanager holds {:?}",
        am.alerts()
    );
    let n = &hook.notifications()[0];
    let alert = &n["alerts"][0];
    assert_eq!(alert["labels"]["family"], "provider", "{n}");
    assert_eq!(alert["labels"]["component"], "g6_api_calls_total", "{n}");
    assert_eq!(alert["labels"]["provider"], "file", "{n}");
    assert!(
        alert["annotations"]["runbook_url"]
            .as_str()
            .is_some_and(|u| u.ends_with("RUNBOOK.md#g6providerdown")),
        "{n}"
    );
    assert!(
        alert["annotations"]["dashboard"]
            .as_str()
            .is_some_and(|u| u.contains("/d/g6-provider-ingestion?viewPanel=")),
        "{n}"
    );
    drop(prom);
    drop(am);
    let status = server.terminate();
    assert!(status.success(), "g6 serve exit {status:?}");
}
