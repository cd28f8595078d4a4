//! The engine with a spec unrelated to G6: accessors work, `/metrics` over HTTP passes
//! `promtool check metrics`, and the runtime's self-metrics are there under `shop_`.

use g6_example_shop::{checkout, labels::Payment, metrics};
use std::io::{Read, Write};
use std::process::{Command, Stdio};

fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn scrape_over_http() -> String {
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind a free port");
    let addr = listener.local_addr().expect("address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = rt.spawn(g6_runtime::exporter::serve(
        listener,
        g6_runtime::exporter::Limits::default(),
        async move {
            let _ = stopped.await;
        },
    ));
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("send");
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("read");
    let _ = stop.send(());
    rt.block_on(server).expect("join").expect("serve");
    let (head, body) = raw.split_once("\r\n\r\n").expect("HTTP response");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_string()
}

/// The exposition after the shop's emissions, asserted once per process: both tests
/// read it, and the registry is process-wide (a second run would double the counts).
fn exposition() -> &'static str {
    static TEXT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TEXT.get_or_init(emit_and_check)
}

#[test]
fn shop_spec_accessors_and_self_metrics() {
    exposition();
}

fn emit_and_check() -> String {
    g6_example_shop::init().expect("init");
    checkout(Payment::Card, "eu", 1.5);
    checkout(Payment::Card, "eu", 3.0);
    checkout(Payment::Wallet, "us", 0.2);
    metrics::stock_items("berlin").set(42.0);
    // Over budget (3 warehouses): a gauge drops the sample, and the guard counts it.
    for w in ["a", "b", "c", "d"] {
        metrics::stock_items(w).set(1.0);
    }

    // `#[safe_emit]` works outside G6 and counts under this namespace.
    assert_eq!(
        g6_example_shop::publish_stock("berlin", "not a number"),
        None
    );

    let text = scrape_over_http();
    assert_eq!(
        value(&text, r#"shop_orders_total{payment="card",region="eu"}"#),
        Some(2.0)
    );
    assert_eq!(
        value(&text, r#"shop_orders_total{payment="wallet",region="us"}"#),
        Some(1.0)
    );
    assert_eq!(
        value(
            &text,
            r#"shop_checkout_duration_seconds_count{payment="card"}"#
        ),
        Some(2.0)
    );
    assert_eq!(
        value(
            &text,
            r#"shop_checkout_duration_seconds_bucket{payment="card",le="2"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &text,
            r#"shop_checkout_duration_seconds_sum{payment="card"}"#
        ),
        Some(4.5)
    );
    // Closed labels exist at zero from init.
    assert_eq!(
        value(
            &text,
            r#"shop_checkout_duration_seconds_count{payment="cash"}"#
        ),
        Some(0.0)
    );
    assert_eq!(
        value(&text, r#"shop_stock_items{warehouse="berlin"}"#),
        Some(42.0)
    );
    assert_eq!(value(&text, r#"shop_stock_items{warehouse="d"}"#), None);

    // The runtime's own metrics, under this spec's namespace.
    let hash = format!(
        r#"shop_metrics_spec_hash_info{{hash="{}"}}"#,
        g6_example_shop::SPEC_HASH
    );
    assert_eq!(value(&text, &hash), Some(1.0));
    assert_eq!(
        value(
            &text,
            r#"shop_cardinality_series{metric="shop_stock_items"}"#
        ),
        Some(3.0)
    );
    assert_eq!(
        value(
            &text,
            r#"shop_cardinality_budget{metric="shop_stock_items"}"#
        ),
        Some(3.0)
    );
    assert_eq!(
        value(
            &text,
            r#"shop_cardinality_overflow_total{metric="shop_stock_items"}"#
        ),
        Some(2.0)
    );
    assert!(text.contains("# TYPE shop_metrics_batch_flush_duration_seconds histogram"));
    assert_eq!(
        value(
            &text,
            r#"shop_metrics_batch_flushes_total{flush_trigger="scrape"}"#
        ),
        Some(0.0)
    );
    assert!(
        !text.contains("g6_"),
        "no G6 metric may leak into another spec:\n{text}"
    );

    text
}

/// Prometheus's own linter accepts the exposition.
#[test]
#[ignore = "needs promtool; scripts/test.sh runs it"]
fn shop_exposition_passes_promtool_check_metrics() {
    let text = exposition();
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "promtool is not on PATH and this test needs it: {e} (scripts/test.sh installs it)"
            )
        });
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("promtool");
    assert!(
        out.status.success(),
        "promtool check metrics:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
