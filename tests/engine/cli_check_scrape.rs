//! `g6 check-scrape`: `g6 serve`'s own `/metrics` is clean in both exposition formats;
//! hand-made scrapes with one problem each give exactly that finding and exit 1; an
//! unreadable target is exit 2.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use crate::common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

fn check(target: &str, extra: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_g6"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["check-scrape", target])
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The finding kinds of a JSON report.
fn kinds(json: &str) -> BTreeSet<String> {
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn g6_serve_is_clean_and_each_kind_of_problem_is_found_alone() {
    let server = common::Server::start(&["--store", "none"], &[]);
    let url = format!("http://{}/metrics", server.addr);
    // Over HTTP (OpenMetrics, as Prometheus asks for it).
    let (code, out, err) = check(&url, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("ok: 0 findings"), "{out}");
    assert!(out.contains("not seen yet (not warm"), "{out}");
    let (code, json, _) = check(&url, &["--format", "json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["ok"], true);
    let usage = v["usage"].as_array().unwrap();
    assert!(usage
        .iter()
        .any(|u| u["metric"] == "g6_collection_cycles_total" && u["budget"] == 3));
    // A saved scrape in the text format.
    let text = common::http(&server.addr, "GET", "/metrics", "").text();
    drop(server);
    let dir = common::temp_dir("check-scrape");
    let clean = dir.join("clean.txt");
    std::fs::write(&clean, &text).unwrap();
    let (code, out, _) = check(clean.to_str().unwrap(), &[]);
    assert_eq!(code, 0, "{out}");

    let hash = text
        .lines()
        .find(|l| l.starts_with("g6_metrics_spec_hash_info{"))
        .unwrap()
        .to_string();
    let quotes: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("g6_provider_quotes_total{"))
        .collect();
    assert!(!quotes.is_empty());
    let many: String = (0..300)
        .map(|i| format!("g6_indices_processed_total{{index=\"I{i}\"}} 1\n"))
        .collect();
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "unknown_metric",
            format!("{text}# TYPE g6_mystery gauge\ng6_mystery 1\n"),
            "g6_mystery: gauge family with 1 series that the spec does not declare",
        ),
        (
            "missing_metric",
            text.lines()
                .filter(|l| !l.contains("g6_option_rows_skipped_total"))
                .map(|l| format!("{l}\n"))
                .collect(),
            "g6_option_rows_skipped_total: counter without open labels, exported at zero from the start (warm), is absent",
        ),
        (
            "type_mismatch",
            text.replace("# TYPE g6_api_success_ratio gauge", "# TYPE g6_api_success_ratio counter"),
            "g6_api_success_ratio: exposed as counter, the spec says gauge",
        ),
        (
            "label_mismatch",
            text.replacen("g6_collection_cycles_total{result=\"ok\"}", "g6_collection_cycles_total{result=\"ok\",extra=\"x\"}", 1),
            "g6_collection_cycles_total: a series has labels [extra, result], the spec says [result]",
        ),
        (
            "value_outside_set",
            text.replacen("g6_collection_cycles_total{result=\"ok\"}", "g6_collection_cycles_total{result=\"maybe\"}", 1),
            "g6_collection_cycles_total: result=[maybe] outside its set [ok, error, timeout]",
        ),
        (
            "overflow",
            format!("{text}\n").replacen(
                quotes[0],
                &format!("{}\ng6_provider_quotes_total{{provider=\"__overflow__\",index=\"__overflow__\"}} 5", quotes[0]),
                1,
            ),
            "g6_provider_quotes_total: 1 __overflow__ series",
        ),
        (
            "over_budget",
            text.replacen("# TYPE g6_indices_processed_total counter\n", &format!("# TYPE g6_indices_processed_total counter\n{many}"), 1),
            "g6_indices_processed_total: 303 series, budget 20",
        ),
        (
            "spec_hash",
            text.replace(&hash, "g6_metrics_spec_hash_info{hash=\"0123456789abcdef\"} 1"),
            "the target was built from spec 0123456789abcdef",
        ),
    ];
    for (kind, scrape, detail) in cases {
        let path = dir.join(format!("{kind}.txt"));
        std::fs::write(&path, scrape).unwrap();
        let (code, json, err) = check(path.to_str().unwrap(), &["--format", "json"]);
        assert_eq!(code, 1, "{kind}: {json}{err}");
        assert_eq!(
            kinds(&json),
            BTreeSet::from([kind.to_string()]),
            "{kind}: {json}"
        );
        let (_, out, _) = check(path.to_str().unwrap(), &[]);
        assert!(out.contains(detail), "{kind}: {out}");
        assert!(out.contains("MISMATCH: 1 findings"), "{kind}: {out}");
    }
    // A gauge is never warm: without a reading it has no series, and that is no finding.
    let no_gauge: String = text
        .lines()
        .filter(|l| !l.contains("g6_api_success_ratio"))
        .map(|l| format!("{l}\n"))
        .collect();
    let path = dir.join("no_gauge.txt");
    std::fs::write(&path, no_gauge).unwrap();
    let (code, out, _) = check(path.to_str().unwrap(), &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("g6_api_success_ratio"),
        "listed as not seen yet: {out}"
    );
}

#[test]
fn an_unreadable_target_is_a_usage_error_that_says_what_is_wrong() {
    let (code, _, err) = check("/nonexistent/scrape.txt", &[]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot read it"), "{err}");
    let dir = common::temp_dir("check-scrape-bad");
    let bad = dir.join("bad.txt");
    std::fs::write(&bad, "# TYPE a gauge\na{x=1} 2\n").unwrap();
    let (code, _, err) = check(bad.to_str().unwrap(), &[]);
    assert_eq!(code, 2);
    assert!(
        err.contains("not a valid exposition: line 2: a label value must be quoted"),
        "{err}"
    );
    let port = common::prometheus::free_port();
    let (code, _, err) = check(
        &format!("http://127.0.0.1:{port}/metrics"),
        &["--timeout", "2s"],
    );
    assert_eq!(code, 2);
    assert!(
        err.contains(&format!("cannot connect to 127.0.0.1:{port}")) && err.contains("refused"),
        "a refused connection names the address and the cause: {err}"
    );
    // A page (the status page, say) is not a scrape: its type, not its text.
    let page = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let page_addr = page.local_addr().unwrap();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        if let Ok((mut s, _)) = page.accept() {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let body = "<!doctype html><html><body>g6 metrics</body></html>";
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let (code, _, err) = check(&format!("http://{page_addr}/"), &["--timeout", "5s"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("this is not an exposition (got text/html)") && !err.contains("<html>"),
        "{err}"
    );
    // Against another spec: the hash no longer matches, and its metrics are unknown.
    let other = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/small.yml");
    let clean = dir.join("tiny.txt");
    std::fs::write(
        &clean,
        "# TYPE demo_queue_depth gauge\ndemo_queue_depth{tier=\"gold\"} 1\n",
    )
    .unwrap();
    let (code, out, _) = check(
        clean.to_str().unwrap(),
        &["--spec", other.to_str().unwrap()],
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("missing_metric"), "{out}");
}
