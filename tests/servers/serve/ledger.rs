//! (A module of the `serve` test binary: one link instead of two.)
//!
//! The store's ledger under faults, with the real `g6 serve`: every row the collector
//! hands the bus is stored or dropped under a named reason, and the two add up
//! exactly. The stored side is read back from the store itself (ClickHouse `FINAL`
//! counts, the rows of the Parquet files on disk), never taken from the binary's own
//! counters; the published side and the drops come from its ledger line at exit.

use crate::common;
use common::{http_raw, parse_exposition, Sample, Server};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The ledger `g6 serve` logs at exit: rows published, stored and dropped (by reason).
#[derive(Debug, Default)]
pub(super) struct Ledger {
    pub(super) published: u64,
    pub(super) stored: u64,
    pub(super) dropped: u64,
    pub(super) line: String,
}

fn field(line: &str, name: &str) -> Option<u64> {
    let at = line.find(&format!(" {name}="))?;
    line[at + name.len() + 2..]
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// Read stderr in the background (a full pipe would stall the server).
pub(super) fn capture_stderr(server: &mut Server) -> std::thread::JoinHandle<String> {
    let mut err = server.child.stderr.take().expect("stderr is piped");
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = err.read_to_string(&mut text);
        text
    })
}

/// Stop the server (SIGTERM) and read its ledger line.
pub(super) fn stop(server: Server, stderr: std::thread::JoinHandle<String>) -> (Ledger, String) {
    let status = server.terminate();
    let log = stderr.join().expect("stderr reader");
    assert!(
        status.success(),
        "g6 serve exited with {status}; log:\n{log}"
    );
    let line = log
        .lines()
        .find(|l| l.contains("store ledger"))
        .unwrap_or_else(|| panic!("no store ledger line at exit; log:\n{log}"))
        .to_string();
    let ledger = Ledger {
        published: field(&line, "published").expect("published="),
        stored: field(&line, "stored").expect("stored="),
        dropped: field(&line, "dropped").expect("dropped="),
        line,
    };
    (ledger, log)
}

pub(super) fn scrape(addr: &str) -> Vec<Sample> {
    let r = http_raw(
        addr,
        format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .expect("scrape");
    assert_eq!(r.status, 200, "scrape status");
    parse_exposition(&r.text())
}

pub(super) fn sum(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.iter().any(|(lk, lv)| lk == k && lv == v))
        })
        .map(|s| s.value)
        .sum()
}

/// Rows in the finished Parquet files under `dir` (temporaries are not stored rows).
fn parquet_rows(dir: &Path) -> u64 {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let mut rows = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("part-") && n.ends_with(".parquet"))
            {
                let file = std::fs::File::open(&p).expect("open a stored file");
                let reader = SerializedFileReader::new(file)
                    .unwrap_or_else(|e| panic!("{} is not a whole Parquet file: {e}", p.display()));
                rows += reader.metadata().file_metadata().num_rows() as u64;
            }
        }
    }
    rows
}

pub(super) fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A tmpfs of `size` mounted at `dir`, unmounted on drop (a small full disk).
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(dir: &Path, size: &str) -> SmallDisk {
        std::fs::create_dir_all(dir).expect("mount point");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "mounting a {size} tmpfs at {} failed (the test needs root): {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        SmallDisk(dir.to_path_buf())
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
#[ignore = "needs clickhouse-server; scripts/test.sh runs it"]
fn clickhouse_frozen_35s_at_a_1s_interval_drops_nothing_and_every_row_is_stored_once() {
    let dir = common::temp_dir("ledger-clickhouse");
    let ch = common::clickhouse::ClickHouse::start(&dir.join("ch"));
    let url = ch.url("g6");
    let mut server = Server::start(
        &["--store", &url, "--interval", "1s", "--store-flush", "1s"],
        &[],
    );
    let stderr = capture_stderr(&mut server);
    let addr = server.addr.clone();
    let stored = |ch: &common::clickhouse::ClickHouse| {
        ch.query("SELECT count() FROM g6.option_chain FINAL")
            .ok()
            .and_then(|t| t.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    wait_until(
        "the first rows in ClickHouse",
        Duration::from_secs(30),
        || stored(&ch) > 0,
    );
    // Contracts in a snapshot of the default (synthetic) chain: what the bounds below
    // count in (listings only grow from here).
    let per_snapshot = sum(&scrape(&addr), "g6_provider_snapshot_contracts", &[]);
    assert!(
        per_snapshot > 3_000.0,
        "{per_snapshot} contracts a snapshot"
    );

    // A long GC pause or a stuck merge: the server takes connections and answers nothing.
    let pid = ch.pid().expect("clickhouse runs").to_string();
    assert!(Command::new("kill")
        .args(["-STOP", &pid])
        .status()
        .expect("kill")
        .success());
    let frozen = Instant::now();
    let mut backlog_peak = 0.0f64;
    // Sampled each second through the 35 s freeze: the freeze's length is the fault
    // under test, so the sleep paces the samples.
    while frozen.elapsed() < Duration::from_secs(35) {
        std::thread::sleep(Duration::from_secs(1));
        let s = scrape(&addr);
        backlog_peak = backlog_peak.max(sum(&s, "g6_cs_ingest_backlog_rows", &[]));
    }
    assert!(Command::new("kill")
        .args(["-CONT", &pid])
        .status()
        .expect("kill")
        .success());

    // The backlog drains once the server answers again.
    wait_until("the backlog to drain", Duration::from_secs(60), || {
        sum(&scrape(&addr), "g6_cs_ingest_backlog_rows", &[]) < 10_000.0
    });
    let s = scrape(&addr);
    assert_eq!(
        sum(
            &s,
            "g6_bus_subscriber_lost_messages_total",
            &[("subscriber", "store")]
        ),
        0.0,
        "the store's subscription lost messages while ClickHouse was frozen"
    );
    let (ledger, log) = stop(server, stderr);
    assert!(
        backlog_peak >= 25.0 * per_snapshot,
        "the backlog held {backlog_peak} rows at most: ClickHouse was not stalled for the writer"
    );
    assert_eq!(
        ledger.dropped, 0,
        "a 35 s stall dropped rows: {}\n{log}",
        ledger.line
    );
    assert_eq!(ledger.published, ledger.stored, "{}", ledger.line);
    let in_store = stored(&ch);
    assert_eq!(
        in_store, ledger.published,
        "ClickHouse holds {in_store} rows (FINAL), the collector published {}",
        ledger.published
    );
    // A snapshot a second through the 35 s freeze, at least.
    assert!(
        ledger.published as f64 > 35.0 * per_snapshot,
        "{}",
        ledger.line
    );
}

#[test]
#[ignore = "needs root to mount a tmpfs; scripts/test.sh runs it"]
fn a_full_disk_with_compaction_every_100ms_drops_only_counted_rows() {
    let dir = common::temp_dir("ledger-full-disk");
    let data = dir.join("data");
    let disk = SmallDisk::mount(&data, "3m");
    let mut server = Server::start(
        &[
            "--provider",
            "synthetic:6:fast",
            "--store",
            &format!("parquet:{}", data.display()),
            "--interval",
            "100ms",
            "--store-flush",
            "300ms",
            "--store-backlog-rows",
            "60000",
            "--lifecycle-every",
            "100ms",
            "--compact-after",
            "100ms",
        ],
        &[],
    );
    let stderr = capture_stderr(&mut server);
    let addr = server.addr.clone();
    // Until the disk is full and the writer has had to drop for it.
    wait_until("the disk to fill", Duration::from_secs(60), || {
        let s = scrape(&addr);
        sum(&s, "g6_cs_ingest_failures_total", &[]) > 0.0
            && sum(
                &s,
                "g6_cs_ingest_dropped_rows_total",
                &[("store_drop_reason", "backlog_full")],
            ) > 0.0
    });
    let (ledger, log) = stop(server, stderr);
    let on_disk = parquet_rows(&data);
    drop(disk);
    assert!(
        ledger.dropped > 0,
        "the full disk forced no drop: {}",
        ledger.line
    );
    assert_eq!(
        on_disk, ledger.stored,
        "the files hold {on_disk} rows, the writer says it stored {}: {}",
        ledger.stored, ledger.line
    );
    assert_eq!(
        ledger.published,
        on_disk + ledger.dropped,
        "rows published != rows on disk + rows counted dropped: {}\n{log}",
        ledger.line
    );
    assert!(
        !ledger.line.contains("subscriber_lagged"),
        "the drain fell behind the ring: {}",
        ledger.line
    );
}

#[test]
fn compaction_every_100ms_at_a_100ms_interval_stores_every_snapshot() {
    let dir = common::temp_dir("ledger-compaction");
    let data = dir.join("data");
    let mut server = Server::start(
        &[
            "--provider",
            "synthetic:6:fast",
            "--store",
            &format!("parquet:{}", data.display()),
            "--interval",
            "100ms",
            "--store-flush",
            "200ms",
            "--lifecycle-every",
            "100ms",
            "--compact-after",
            "100ms",
        ],
        &[],
    );
    let stderr = capture_stderr(&mut server);
    let addr = server.addr.clone();
    wait_until("80 snapshots", Duration::from_secs(60), || {
        let s = scrape(&addr);
        sum(&s, "g6_bus_published_rows_total", &[("bus", "inproc")]) > 80.0 * 4_000.0
    });
    let s = scrape(&addr);
    assert_eq!(
        sum(
            &s,
            "g6_bus_subscriber_lost_messages_total",
            &[("subscriber", "store")]
        ),
        0.0,
        "compaction stopped the drain"
    );
    let (ledger, log) = stop(server, stderr);
    assert_eq!(ledger.dropped, 0, "{}\n{log}", ledger.line);
    assert_eq!(parquet_rows(&data), ledger.published, "{}", ledger.line);
}

#[test]
fn a_start_on_a_port_in_use_writes_nothing() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let dir = common::temp_dir("ledger-port-taken");
    // serve, and ingest (whose store would make its directory on open).
    for (command, extra) in [
        ("serve", &["--interval", "10ms"][..]),
        ("ingest", &["--bus", "nats://127.0.0.1:1"][..]),
    ] {
        let data = dir.join(command);
        let out = Command::new(env!("CARGO_BIN_EXE_g6"))
            .args([command, "--listen", &format!("127.0.0.1:{port}")])
            .args(extra)
            .arg("--data-dir")
            .arg(&data)
            .output()
            .expect("run g6");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{command} stderr: {stderr}");
        assert!(
            stderr.contains("cannot listen on"),
            "{command} stderr: {stderr}"
        );
        assert!(
            !data.exists(),
            "a failed start of {command} wrote {}: {:?}",
            data.display(),
            std::fs::read_dir(&data).map(|d| d.count())
        );
    }
    drop(taken);
}
