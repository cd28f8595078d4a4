//! `g6 serve` as a process: the exposition passes promtool, and the HTTP surface holds
//! its limits.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use crate::common;
mod clickhouse_scale;
mod ledger;

use common::{http, http_raw, require_tool, Server};
use std::io::Write;
use std::process::{Command, Stdio};

/// The text exposition of a fresh `g6 serve`.
fn scrape_text() -> String {
    let server = Server::start(&[], &[]);
    let r = http(&server.addr, "GET", "/metrics", "");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = r.text();
    let spec_line = format!(
        "g6_metrics_spec_hash_info{{hash=\"{}\"}} 1",
        g6_metrics::SPEC_HASH
    );
    assert!(text.contains(&spec_line), "missing {spec_line}");
    assert!(text.contains("g6_build_config_hash_info{hash=\""));
    // Closed-label series exist at zero from the start.
    assert!(text.contains("g6_option_rows_skipped_total{skip_reason=\"zero_strike\"} 0"));
    // Budgets are exported per metric.
    assert!(text.contains("g6_cardinality_budget{metric=\"g6_provider_quotes_total\"} 50"));
    text
}

#[test]
fn scrape_has_the_spec_hash_zero_closed_label_series_and_budgets() {
    scrape_text();
}

#[test]
#[ignore = "needs promtool; scripts/test.sh runs it"]
fn scrape_passes_promtool_check_metrics() {
    let text = scrape_text();
    require_tool("promtool");
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn promtool");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let findings = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool failed:\n{findings}");
    assert!(findings.trim().is_empty(), "promtool findings:\n{findings}");
}

#[test]
fn http_surface() {
    let server = Server::start(&[], &[]);
    let a = server.addr.as_str();
    assert_eq!(http(a, "GET", "/healthz", "").text(), "ok\n");
    let post = http(a, "POST", "/metrics", "Content-Length: 0\r\n");
    assert_eq!(post.status, 405);
    assert_eq!(http(a, "DELETE", "/", "").status, 405);
    assert_eq!(http(a, "GET", "/no/such/path", "").status, 404);

    let head = http(a, "HEAD", "/metrics", "");
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert!(head
        .header("content-length")
        .is_some_and(|n| n.parse::<u64>().unwrap_or(0) > 1000));
    let head = http(a, "HEAD", "/healthz", "");
    assert_eq!(
        head.header("content-length"),
        Some("3"),
        "GET's length, no body"
    );
    assert!(head.body.is_empty());

    let gz = http(a, "GET", "/metrics", "Accept-Encoding: gzip\r\n");
    assert_eq!(gz.status, 200);
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    assert_eq!(&gz.body[..2], &[0x1f, 0x8b], "gzip magic");
    let not_gz = http(
        a,
        "GET",
        "/metrics",
        "Accept-Encoding: gzip;q=0, identity\r\n",
    );
    assert_eq!(not_gz.header("content-encoding"), None);

    let status = http(a, "GET", "/", "");
    assert_eq!(status.status, 200);
    let page = status.text();
    assert!(page.contains(g6_metrics::SPEC_HASH));
    assert!(
        // A gauge of a part not configured (the NATS outbox): no series, its budget.
        page.contains("g6_bus_outbox_bytes</code></td><td>0</td><td>10</td>"),
        "{page}"
    );
    assert!(page.contains("Emission failures"));
}

#[test]
fn oversized_requests_are_rejected() {
    let server = Server::start(&[], &[]);
    let a = server.addr.as_str();
    let body = vec![b'x'; 1024 * 1024];
    let mut req = format!(
        "GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    let r = http_raw(a, &req).expect("answer before the whole body is read");
    assert_eq!(r.status, 413);

    let huge_header = format!("X-Filler: {}\r\n", "y".repeat(32 * 1024));
    let r = http(a, "GET", "/metrics", &huge_header);
    assert_eq!(r.status, 431);
}

#[test]
fn two_hundred_concurrent_scrapes_all_succeed() {
    let server = Server::start(&[], &[]);
    let addr = server.addr.clone();
    let handles: Vec<_> = (0..200)
        .map(|_| {
            let addr = addr.clone();
            std::thread::spawn(move || http(&addr, "GET", "/metrics", ""))
        })
        .collect();
    for h in handles {
        let r = h.join().expect("client thread");
        assert_eq!(r.status, 200);
        assert!(r.text().contains("g6_metrics_spec_hash_info"));
    }
}

#[test]
fn sigterm_shuts_down_gracefully() {
    let server = Server::start(&[], &[]);
    assert_eq!(http(&server.addr, "GET", "/healthz", "").status, 200);
    let status = server.terminate();
    assert!(status.success(), "exit status {status:?}");
}

#[test]
fn a_taken_port_is_a_clear_error() {
    let blocker = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = blocker.local_addr().unwrap().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_g6"))
        .args(["serve", "--listen", &addr])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("error: cannot listen on {addr}")),
        "{err}"
    );
    assert!(
        err.contains("choose another address with --listen"),
        "{err}"
    );
}
