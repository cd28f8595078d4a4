//! `g6 serve --provider nse-json:<fixture>` exposes the fixture's bucket values.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use crate::common;

use common::{http, parse_exposition, Server};
use std::time::{Duration, Instant};

#[test]
fn serve_with_the_nse_fixture_exposes_expected_values() {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/chains/nifty_nse.json"
    );
    let server = Server::start(
        &[
            "--provider",
            &format!("nse-json:{fixture}"),
            "--interval",
            "200ms",
        ],
        &[],
    );
    let find = common::find_sample;
    let deadline = Instant::now() + Duration::from_secs(20);
    let samples = loop {
        let text = http(&server.addr, "GET", "/metrics", "").text();
        let samples = parse_exposition(&text);
        if find(
            &samples,
            "g6_option_chain_snapshots_total",
            &[("result", "ok")],
        )
        .unwrap_or(0.0)
            >= 1.0
        {
            break samples;
        }
        assert!(
            Instant::now() < deadline,
            "no snapshot processed within 20 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let bucket = |metric: &str, mny: &str, dte: &str| {
        find(
            &samples,
            metric,
            &[
                ("index", "NIFTY"),
                ("mny", mny),
                ("dte", dte),
                ("source", "live"),
            ],
        )
    };
    assert_eq!(
        bucket("g6_option_open_interest", "otm", "short"),
        Some(9000.0)
    );
    assert_eq!(bucket("g6_option_volume", "otm", "short"), Some(3500.0));
    assert_eq!(
        bucket("g6_option_contracts_active", "atm", "short"),
        Some(2.0)
    );
    assert_eq!(
        bucket("g6_option_open_interest", "atm", "ultra_short"),
        Some(600.0)
    );
    assert_eq!(
        bucket("g6_option_open_interest", "atm", "long"),
        Some(2000.0)
    );
    assert_eq!(
        bucket("g6_option_open_interest", "deep_otm", "leap"),
        Some(0.0)
    );
    let iv = bucket("g6_option_implied_volatility_oi_weighted", "atm", "short").unwrap();
    assert!((iv - 0.135).abs() < 1e-9, "{iv}");
    // Skipped rows are counted per snapshot (several cycles may have run).
    let expired = find(
        &samples,
        "g6_option_rows_skipped_total",
        &[("skip_reason", "expired")],
    )
    .unwrap();
    let snapshots = find(
        &samples,
        "g6_option_chain_snapshots_total",
        &[("result", "ok")],
    )
    .unwrap();
    assert!(
        expired >= 1.0 && expired <= snapshots,
        "expired {expired}, snapshots {snapshots}"
    );
    assert_eq!(
        find(
            &samples,
            "g6_provider_snapshot_contracts",
            &[("provider", "nse"), ("index", "NIFTY")]
        ),
        Some(10.0)
    );
    let page = http(&server.addr, "GET", "/", "").text();
    assert!(page.contains("Option-chain provider: nse-json:"), "{page}");
    assert!(
        !page.contains("SYNTHETIC"),
        "live data is not marked synthetic"
    );
}

#[test]
fn the_default_provider_is_synthetic_and_says_so() {
    let server = Server::start(&["--interval", "200ms"], &[]);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = http(&server.addr, "GET", "/metrics", "").text();
        if text.contains("source=\"synthetic\"") && text.contains("g6_option_open_interest{") {
            break;
        }
        assert!(Instant::now() < deadline, "no synthetic data within 20 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    let page = http(&server.addr, "GET", "/", "").text();
    assert!(page.contains("SYNTHETIC DATA"), "{page}");
    // And whether the model moves now, by the wall clock the test runs at.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let session = g6_metrics::option_chain::market::Session::Nse;
    let expected = if session.is_open(now) {
        "Synthetic market: in session"
    } else {
        "Synthetic market: closed"
    };
    assert!(page.contains(expected), "no {expected:?} in {page}");
    assert!(
        page.contains("Provider synthetic: ok, last snapshot"),
        "{page}"
    );
}

#[test]
fn a_provider_failing_from_the_start_is_said_on_the_status_page_with_its_error() {
    let server = Server::start(
        &[
            "--provider",
            "exec:echo refused by the test >&2; exit 3",
            "--interval",
            "100ms",
            "--store",
            "none",
        ],
        &[],
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let page = loop {
        let page = http(&server.addr, "GET", "/", "").text();
        if page.contains("FAILING") {
            break page;
        }
        assert!(Instant::now() < deadline, "no failing provider on {page}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(page.contains("Provider exec: FAILING since"), "{page}");
    assert!(page.contains("no good snapshot yet"), "{page}");
    assert!(
        page.contains("refused by the test"),
        "the provider's error: {page}"
    );
}

/// `g6 serve --listen 127.0.0.1:0 ARGS`, refused at start: asserts exit 2 and
/// returns what it said on stderr.
fn serve_refused<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_g6"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    stderr
}

#[test]
fn a_bad_provider_spec_is_a_usage_error() {
    let stderr = serve_refused(&["--provider", "ftp:x"]);
    assert!(stderr.contains("unknown provider \"ftp:x\""), "{stderr}");
}

#[test]
fn listen_takes_a_port_alone_for_every_interface() {
    let server = Server::start(&["--listen", ":0", "--store", "none"], &[]);
    let port = server
        .addr
        .strip_prefix("0.0.0.0:")
        .unwrap_or_else(|| panic!("bound to every interface, not {}", server.addr));
    let metrics = http(&format!("127.0.0.1:{port}"), "GET", "/metrics", "").text();
    assert!(metrics.contains("g6_metrics_spec_hash_info"), "{metrics}");
}

#[test]
fn a_size_without_a_unit_is_refused_naming_the_units_before_anything_runs() {
    let dir = common::temp_dir("bare-size");
    let data = dir.join("data");
    let stderr = serve_refused(&[
        "--memory-budget".as_ref(),
        "512".as_ref(),
        "--data-dir".as_ref(),
        data.as_os_str(),
    ]);
    assert!(
        stderr.contains("--memory-budget")
            && stderr.contains("has no unit")
            && stderr.contains("MiB"),
        "{stderr}"
    );
    assert!(!data.exists(), "nothing written");
}

#[test]
fn a_raw_slash_in_a_clickhouse_password_is_refused_without_showing_it() {
    // The percent-encoded form is taken (unit tests of ClickHouseUrl); the raw one is
    // refused by the command line with the encoding to use.
    let stderr = serve_refused(&["--store", "clickhouse://writer:top/secret@127.0.0.1:1/g6"]);
    assert!(stderr.contains("%2F"), "{stderr}");
    assert!(
        !stderr.contains("top/secret"),
        "the password is not shown: {stderr}"
    );
}

#[test]
fn a_bad_nats_url_is_refused_without_showing_its_password() {
    let stderr = serve_refused(&["--bus", "nats://writer:top/secret@127.0.0.1:1"]);
    assert!(stderr.contains("nats://HOST:PORT"), "{stderr}");
    assert!(
        !stderr.contains("top/secret"),
        "the password is not shown: {stderr}"
    );
}

/// The exposure family is switched on by `G6_ENABLE_EXPOSURE` (`enabled_by:` in
/// metrics.yml): a default serve has none of its series and its status page says why;
/// with the variable set, the same serve exports them like any family.
#[test]
fn exposure_analytics_are_exported_only_when_g6_enable_exposure_is_set() {
    const EXPOSURE: &[&str] = &[
        "g6_chain_net_delta",
        "g6_chain_gamma_exposure",
        "g6_chain_gamma_exposure_by_moneyness",
        "g6_chain_zero_gamma_level",
        "g6_chain_risk_reversal_25d",
        "g6_chain_butterfly_25d",
    ];
    let scrape_after_a_snapshot = |server: &Server| {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let samples = parse_exposition(&http(&server.addr, "GET", "/metrics", "").text());
            if common::find_sample(
                &samples,
                "g6_option_chain_snapshots_total",
                &[("result", "ok")],
            )
            .unwrap_or(0.0)
                >= 1.0
            {
                return samples;
            }
            assert!(Instant::now() < deadline, "no snapshot within 20 s");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let off = Server::start(&["--interval", "200ms", "--store", "none"], &[]);
    let samples = scrape_after_a_snapshot(&off);
    for name in EXPOSURE {
        assert!(
            !samples.iter().any(|s| s.name == *name),
            "{name} exported without G6_ENABLE_EXPOSURE"
        );
    }
    // The analytics family beside it is on.
    assert!(samples.iter().any(|s| s.name == "g6_chain_put_call_ratio"));
    let page = http(&off.addr, "GET", "/", "").text();
    assert!(
        page.contains("<tr><td><code>exposure</code></td><td><code>G6_ENABLE_EXPOSURE</code></td><td>disabled (set G6_ENABLE_EXPOSURE=1 to enable)</td></tr>"),
        "{page}"
    );
    drop(off);
    let on = Server::start(
        &["--interval", "200ms", "--store", "none"],
        &[("G6_ENABLE_EXPOSURE", "1")],
    );
    let samples = scrape_after_a_snapshot(&on);
    for name in EXPOSURE {
        assert!(
            samples.iter().any(|s| s.name == *name),
            "{name} missing with G6_ENABLE_EXPOSURE=1"
        );
    }
    let page = http(&on.addr, "GET", "/", "").text();
    assert!(
        page.contains("<td><code>G6_ENABLE_EXPOSURE</code></td><td>enabled</td>"),
        "{page}"
    );
}

#[test]
fn a_bad_holidays_line_is_a_usage_error_naming_the_file_and_line_before_anything_runs() {
    let dir = common::temp_dir("bad-holidays");
    let data = dir.join("data");
    let holidays = dir.join("holidays.txt");
    std::fs::write(&holidays, "# NSE 2027\n2027-01-26\n26/01/2027\n").unwrap();
    let stderr = serve_refused(&[
        "--holidays".as_ref(),
        holidays.as_os_str(),
        "--data-dir".as_ref(),
        data.as_os_str(),
    ]);
    assert!(
        stderr.contains(&format!(
            "{}:3: \"26/01/2027\" is not a date YYYY-MM-DD",
            holidays.display()
        )),
        "{stderr}"
    );
    assert!(!data.exists(), "nothing written");
}
