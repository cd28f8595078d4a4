//! (A module of the `serve` test binary.)
//!
//! The ClickHouse store beyond one plain server: a two-shard cluster (two
//! clickhouse-servers on loopback, one replica each, no ZooKeeper) with one shard
//! killed for 20 s mid-run, and a server reached over https with a CA made by the
//! test. Stored rows are read back from the servers, never taken from g6's counters.

use super::ledger::{capture_stderr, scrape, stop, sum, wait_until};
use crate::common;
use common::clickhouse::{self, ClickHouse, Tls, WRITER, WRITER_PASSWORD};
use common::tls::Pki;
use common::Server;
use g6_metrics::store::clickhouse::PASSWORD_ENV;
use std::process::Command;
use std::time::{Duration, Instant};

const CLUSTER: &str = "g6_two";

fn number(ch: &ClickHouse, sql: &str) -> u64 {
    ch.query(sql)
        .ok()
        .and_then(|t| t.trim().parse::<u64>().ok())
        .unwrap_or(0)
}

#[test]
#[ignore = "needs clickhouse-server; scripts/test.sh runs it"]
fn a_two_shard_cluster_with_a_shard_killed_20s_stores_every_row_exactly_once_on_its_shard() {
    clickhouse::require();
    let dir = common::temp_dir("ch-cluster");
    let mut servers = ClickHouse::start_cluster(&[dir.join("a"), dir.join("b")], CLUSTER);
    let mut b = servers.pop().expect("shard b");
    let a = servers.pop().expect("shard a");
    // g6 talks to a; b is the other shard. Without ZooKeeper there is no ON CLUSTER
    // DDL: shards= lists both, and g6 creates the tables on each directly.
    let url = format!(
        "clickhouse://127.0.0.1:{}/g6?cluster={CLUSTER}&shards={},{}",
        a.http_port,
        a.addr(),
        b.addr()
    );
    let mut server = Server::start(
        &[
            "--store",
            &url,
            "--interval",
            "250ms",
            "--store-flush",
            "500ms",
        ],
        &[],
    );
    let stderr = capture_stderr(&mut server);
    let addr = server.addr.clone();
    let local = |ch: &ClickHouse| number(ch, "SELECT count() FROM g6.option_chain_local FINAL");
    wait_until("rows on both shards", Duration::from_secs(30), || {
        local(&a) > 0 && local(&b) > 0
    });

    // Shard b dies (SIGKILL) for 20 s: every insert through the Distributed table
    // fails (synchronous inserts), the rows wait in g6's backlog.
    b.stop();
    let down = Instant::now();
    let mut backlog_peak = 0.0f64;
    // Sampled each second through the 20 s outage: its length is the fault under
    // test, so the sleep paces the samples.
    while down.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_secs(1));
        backlog_peak = backlog_peak.max(sum(&scrape(&addr), "g6_cs_ingest_backlog_rows", &[]));
    }
    let s = scrape(&addr);
    let unreachable = sum(
        &s,
        "g6_cs_ingest_failures_total",
        &[("store_failure", "unreachable")],
    );
    assert!(
        unreachable >= 1.0,
        "a dead shard is a counted failure: {unreachable}"
    );
    b.start_again();
    wait_until("the backlog to drain", Duration::from_secs(60), || {
        sum(&scrape(&addr), "g6_cs_ingest_backlog_rows", &[]) == 0.0
    });
    let (ledger, log) = stop(server, stderr);
    assert!(
        log.contains("Connection refused (127.0.0.1:"),
        "the failure names the dead shard: {log}"
    );
    assert_eq!(ledger.dropped, 0, "{}\n{log}", ledger.line);
    // 20 s of a run of about 45 s waited in the backlog.
    assert!(
        backlog_peak >= ledger.published as f64 / 5.0,
        "the backlog held {backlog_peak} rows at most: the inserts did not wait for shard b"
    );
    assert_eq!(ledger.published, ledger.stored, "{}", ledger.line);

    // Every row exactly once: through the Distributed table with FINAL, and shard by
    // shard (a row's copies never sit on two shards, or the sum would be larger).
    let total = number(&a, "SELECT count() FROM g6.option_chain FINAL");
    let (on_a, on_b) = (local(&a), local(&b));
    assert_eq!(
        total, ledger.published,
        "the cluster holds {total} rows (FINAL), the collector published {}",
        ledger.published
    );
    assert_eq!(on_a + on_b, total, "a: {on_a}, b: {on_b}");
    assert!(on_a > 0 && on_b > 0, "a: {on_a}, b: {on_b}");
    // Each row is on the shard its (index, expiry) hashes to (weights 1 and 1).
    for (shard, ch) in [(0, &a), (1, &b)] {
        let misplaced = number(
            ch,
            &format!(
                "SELECT count() FROM g6.option_chain_local \
                 WHERE cityHash64(`index`, expiry) % 2 != {shard}"
            ),
        );
        assert_eq!(misplaced, 0, "shard {shard} holds rows of the other");
    }
    // Retried inserts may have left copies before merges; FINAL collapsed them.
    let raw = number(&a, "SELECT count() FROM g6.option_chain");
    assert!(raw >= total, "raw {raw} < FINAL {total}");
}

/// `g6 serve --store URL --cycles 5` (with `env` set); its exit status and stderr,
/// which never holds the writer's password.
fn serve_cycles(url: &str, env: &[(&str, &str)]) -> (std::process::ExitStatus, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_g6"))
        .env_remove(PASSWORD_ENV)
        .envs(env.iter().copied())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--index",
            "NIFTY",
            "--interval",
            "200ms",
            "--cycles",
            "5",
            "--store-flush",
            "300ms",
            "--store",
            url,
        ])
        .output()
        .expect("run g6 serve");
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    let stdout = String::from_utf8_lossy(&out.stdout);
    for secret in [WRITER_PASSWORD, "p%40ss"] {
        assert!(
            !log.contains(secret) && !stdout.contains(secret),
            "the password is shown: {log}"
        );
    }
    (out.status, log)
}

/// The rows `g6 serve` published, from its ledger line, when it dropped none.
fn published_all_stored(log: &str) -> u64 {
    let line = log
        .lines()
        .find(|l| l.contains("store ledger"))
        .unwrap_or_else(|| panic!("no ledger line: {log}"));
    assert!(line.contains("dropped=0"), "{line}");
    let published: u64 = line
        .split(" published=")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    assert!(published > 0, "{line}");
    published
}

#[test]
#[ignore = "needs clickhouse-server; scripts/test.sh runs it"]
fn https_with_the_test_ca_and_a_password_from_url_file_or_env_stores_every_row_and_a_wrong_ca_is_refused_with_the_reason(
) {
    clickhouse::require();
    let dir = common::temp_dir("ch-tls");
    // Certificates made here: a CA that signs the server's, and another.
    let (signed, other) = (dir.join("pki"), dir.join("other"));
    std::fs::create_dir_all(&signed).unwrap();
    std::fs::create_dir_all(&other).unwrap();
    let pki = Pki::new(&signed, "g6 test CA");
    let other_ca = Pki::new(&other, "another CA").ca;
    let ch = ClickHouse::start_tls(
        &dir.join("ch"),
        &Tls {
            cert: pki.server_cert.clone(),
            key: pki.server_key.clone(),
        },
    );
    let https = ch.https_port.expect("https port");
    // The writer's password has a / an @ and a :, percent-encoded in the URL.
    let at = |db: &str, ca: &std::path::Path| {
        format!(
            "clickhouse://{WRITER}:p%40ss%2Fw%3Ard@127.0.0.1:{https}/{db}?secure=true&ca={}",
            ca.display()
        )
    };
    let count = |db: &str| number(&ch, &format!("SELECT count() FROM {db}.option_chain FINAL"));

    let (status, log) = serve_cycles(&at("tls_ok", &pki.ca), &[]);
    assert!(status.success(), "{status}: {log}");
    assert_eq!(count("tls_ok"), published_all_stored(&log));

    // The password from a file, then from the environment.
    let file = dir.join("ch.pass");
    std::fs::write(&file, format!("{WRITER_PASSWORD}\n")).unwrap();
    let no_password = |db: &str| {
        format!(
            "clickhouse://{WRITER}@127.0.0.1:{https}/{db}?secure=true&ca={}",
            pki.ca.display()
        )
    };
    let (_, log) = serve_cycles(
        &format!(
            "{}&password_file={}",
            no_password("tls_file"),
            file.display()
        ),
        &[],
    );
    assert_eq!(count("tls_file"), published_all_stored(&log));
    let (_, log) = serve_cycles(&no_password("tls_env"), &[(PASSWORD_ENV, WRITER_PASSWORD)]);
    assert_eq!(count("tls_env"), published_all_stored(&log));
    // A wrong password is refused by the server, and shown by nobody.
    let (_, log) = serve_cycles(&no_password("tls_wrong"), &[(PASSWORD_ENV, "wrong")]);
    assert!(log.contains("Code: 193"), "wrong password: {log}");
    assert!(!log.contains("wrong\""), "{log}");

    // A CA that did not sign the server's certificate: nothing is sent, and the log
    // says why and what to check.
    let (_, log) = serve_cycles(&at("tls_bad", &other_ca), &[]);
    assert!(
        log.contains("invalid peer certificate") && log.contains("ca=FILE"),
        "{log}"
    );
    assert_eq!(
        number(
            &ch,
            "SELECT count() FROM system.databases WHERE name = 'tls_bad'"
        ),
        0
    );

    // https to the plain HTTP port: the hint names the https port.
    let (_, log) = serve_cycles(
        &format!(
            "clickhouse://127.0.0.1:{}/tls_plain?secure=true&ca={}",
            ch.http_port,
            pki.ca.display()
        ),
        &[],
    );
    assert!(log.contains("https_port"), "{log}");

    // A CA file that is not there stops the start: a usage error, exit 2.
    let (status, log) = serve_cycles(&at("tls_none", &dir.join("missing.pem")), &[]);
    assert_eq!(status.code(), Some(2), "{log}");
    assert!(log.contains("cannot read the CA file"), "{log}");
}
