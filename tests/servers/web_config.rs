//! `--web-config`: the exporter over HTTPS with basic authentication (bcrypt hashes)
//! and client certificates, as Prometheus exporters take it; `/healthz` stays open;
//! a bad file is a usage error that names the key; Prometheus scrapes it.

use crate::common::prometheus::Prometheus;
use crate::common::tls::{https_get, Pki};
use crate::common::{self, Server};
use std::path::{Path, PathBuf};
use std::process::Command;

const USER: &str = "prometheus";
const PASSWORD: &str = "scrape: s3cret/pass";

fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    format!(
        "Authorization: Basic {}\r\n",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// A web config in `dir` with TLS from `pki`, `client_auth` and the test user.
fn web_config(dir: &Path, pki: &Pki, client_auth: Option<&str>, users: bool) -> PathBuf {
    let mut text = format!(
        "tls_server_config:\n  cert_file: {}\n  key_file: server.key\n",
        pki.server_cert.display()
    );
    if let Some(kind) = client_auth {
        text.push_str(&format!(
            "  client_auth_type: {kind}\n  client_ca_file: ca.pem\n"
        ));
    }
    if users {
        // Cost 4: the test checks the mechanism, not the work factor.
        let hash = bcrypt::hash(PASSWORD, 4).unwrap();
        text.push_str(&format!("basic_auth_users:\n  {USER}: '{hash}'\n"));
    }
    let path = dir.join("web.yml");
    std::fs::write(&path, text).unwrap();
    path
}

fn serve_secured(dir: &Path, config: &Path) -> Server {
    Server::start(
        &[
            "--web-config",
            config.to_str().unwrap(),
            "--store",
            "none",
            "--interval",
            "1s",
            "--data-dir",
            dir.join("data").to_str().unwrap(),
        ],
        &[],
    )
}

#[test]
fn https_with_basic_auth_guards_metrics_status_and_live_and_leaves_healthz_open() {
    let dir = common::temp_dir("web_config_https");
    let pki = Pki::new(&dir, "g6 test CA");
    let config = web_config(&dir, &pki, None, true);
    let server = serve_secured(&dir, &config);
    let get = |path: &str, headers: &str| {
        https_get(&server.addr, &pki.ca, None, path, headers)
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    };

    let r = get("/metrics", "");
    assert_eq!(r.status, 401, "{}", r.text());
    assert!(
        r.header("www-authenticate").unwrap().starts_with("Basic "),
        "{:?}",
        r.header("www-authenticate")
    );
    assert_eq!(get("/metrics", &basic(USER, "wrong")).status, 401);
    assert_eq!(get("/metrics", &basic("nobody", PASSWORD)).status, 401);
    let ok = get("/metrics", &basic(USER, PASSWORD));
    assert_eq!(ok.status, 200);
    assert!(
        ok.text().contains("g6_metrics_spec_hash_info{"),
        "{}",
        ok.text()
    );
    // The status page and the live view need credentials too; the probe does not.
    assert_eq!(get("/", "").status, 401);
    assert_eq!(get("/live", "").status, 401);
    let status = get("/", &basic(USER, PASSWORD));
    assert_eq!(status.status, 200);
    assert!(
        status.text().contains("HTTP server: HTTPS (no client certificates), basic authentication (1 user; /healthz open)"),
        "{}",
        status.text()
    );
    let health = get("/healthz", "");
    assert_eq!((health.status, health.text().as_str()), (200, "ok\n"));
    // Plain HTTP to the HTTPS port gets no answer at all.
    let plain = common::http_raw(
        &server.addr,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(
        plain.as_ref().map_or(true, |r| r.status != 200),
        "plain HTTP was answered: {:?}",
        plain.map(|r| r.status)
    );
    // A client that does not trust the server's CA refuses it.
    let other = Pki::new(&common::temp_dir("web_config_other_ca"), "another CA");
    assert!(https_get(&server.addr, &other.ca, None, "/healthz", "").is_err());
}

#[test]
fn client_certificates_are_required_when_the_web_config_says_so() {
    let dir = common::temp_dir("web_config_mtls");
    let pki = Pki::new(&dir, "g6 test CA");
    let config = web_config(&dir, &pki, Some("RequireAndVerifyClientCert"), false);
    let server = serve_secured(&dir, &config);
    let without = https_get(&server.addr, &pki.ca, None, "/metrics", "");
    assert!(
        without.as_ref().map_or(true, |r| r.status != 200),
        "served without a client certificate"
    );
    // A certificate from another CA is refused too.
    let other = Pki::new(&common::temp_dir("web_config_mtls_other"), "another CA");
    let foreign = https_get(
        &server.addr,
        &pki.ca,
        Some((&other.client_cert, &other.client_key)),
        "/metrics",
        "",
    );
    assert!(
        foreign.as_ref().map_or(true, |r| r.status != 200),
        "served a client certificate of an untrusted CA"
    );
    let with = https_get(
        &server.addr,
        &pki.ca,
        Some((&pki.client_cert, &pki.client_key)),
        "/metrics",
        "",
    )
    .unwrap();
    assert_eq!(with.status, 200);
}

fn refused(config_text: &str, dir_name: &str) -> String {
    let dir = common::temp_dir(dir_name);
    // Real certificates, so that only what the case is about is wrong.
    Pki::new(&dir, "g6 test CA");
    let config = dir.join("web.yml");
    std::fs::write(&config, config_text).unwrap();
    let data = dir.join("data");
    let out = Command::new(env!("CARGO_BIN_EXE_g6"))
        .args(["serve", "--listen", "127.0.0.1:0", "--web-config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(!data.exists(), "a refused start wrote {}", data.display());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_bad_web_config_is_a_usage_error_that_names_the_key_and_writes_nothing() {
    let e = refused(
        "tls_server_config:\n  cert: x\n  cert_file: a\n  key_file: b\n",
        "web_config_unknown_key",
    );
    assert!(
        e.contains("--web-config") && e.contains("unknown field `cert`"),
        "{e}"
    );
    let e = refused(
        "basic_auth_users:\n  alice: plaintext\n",
        "web_config_not_bcrypt",
    );
    assert!(
        e.contains("basic_auth_users") && e.contains("\"alice\"") && e.contains("bcrypt"),
        "{e}"
    );
    let e = refused(
        "tls_server_config:\n  cert_file: missing.pem\n  key_file: missing.key\n",
        "web_config_missing_cert",
    );
    assert!(e.contains("cert_file") && e.contains("missing.pem"), "{e}");
    let e = refused(
        "tls_server_config:\n  cert_file: server.pem\n  key_file: server.key\n  client_auth_type: RequireAnyClientCert\n  client_ca_file: ca.pem\n",
        "web_config_unverified_clients",
    );
    assert!(e.contains("RequireAnyClientCert"), "{e}");
}

#[test]
#[ignore = "needs prometheus"]
fn prometheus_scrapes_the_exporter_over_tls_with_basic_auth() {
    common::require_tool("prometheus");
    let dir = common::temp_dir("web_config_prometheus");
    let pki = Pki::new(&dir, "g6 test CA");
    let config = web_config(&dir, &pki, None, true);
    let server = serve_secured(&dir, &config);
    let job = format!(
        "    scheme: https\n    tls_config:\n      ca_file: {}\n      server_name: 127.0.0.1\n    basic_auth:\n      username: {USER}\n      password: '{PASSWORD}'\n",
        pki.ca.display()
    );
    let prom = Prometheus::start_scraping(&dir, &server.addr, &job);
    prom.wait_target_up();
    let series = prom.query("g6_metrics_spec_hash_info").unwrap();
    assert_eq!(series.len(), 1, "{series:?}");
}
