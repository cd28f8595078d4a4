//! `g6 serve` under a small `--memory-budget`, with a large chain and its store and bus
//! servers down (so the store backlog and the NATS outbox grow): the memory-pressure
//! level rises, the actions are taken, resident memory stays near the budget, the
//! server keeps answering, and every contract row and bus message is accounted for.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use crate::common;

use common::{http_raw, parse_exposition, Sample, Server};
use std::time::{Duration, Instant};

const EXPIRIES: usize = 12;
/// Strikes per expiry: 4,000 contracts, one bus message each (the split is at 4,096).
const STRIKES: usize = 2000;
const BUDGET_MIB: u64 = 160;

fn write_chain(path: &std::path::Path, rows: bool) {
    let mut text = String::from("index,strike,expiry,type,spot,oi,volume,iv,bid,ask\n");
    if rows {
        for e in 0..EXPIRIES {
            // Thursdays well in the future: never expired.
            let expiry = chrono::NaiveDate::from_ymd_opt(2031, 1, 2)
                .expect("date")
                .checked_add_days(chrono::Days::new(7 * e as u64))
                .expect("date");
            for k in 0..STRIKES {
                let strike = 12_000 + k * 10;
                for t in ["CE", "PE"] {
                    text.push_str(&format!(
                        "NIFTY,{strike},{expiry},{t},24120.5,{},{},0.{},{},{}\n",
                        1000 + k,
                        k % 300,
                        12 + k % 9,
                        k % 50 + 1,
                        k % 50 + 2
                    ));
                }
            }
        }
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).expect("write chain");
    std::fs::rename(&tmp, path).expect("rename chain");
}

/// One scrape, which must answer within 5 s.
fn scrape(addr: &str) -> Vec<Sample> {
    let started = Instant::now();
    let r = http_raw(
        addr,
        format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .expect("the server answers under memory pressure");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a scrape took {:?} under memory pressure",
        started.elapsed()
    );
    assert_eq!(r.status, 200, "scrape status");
    parse_exposition(&r.text())
}

/// The sum of the series of `name` that carry `labels` (among others).
fn get(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    sum(samples, name, labels)
}

fn sum(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.iter().any(|(a, b)| a == k && b == v))
        })
        .map(|s| s.value)
        .sum()
}

#[test]
fn a_small_memory_budget_sheds_the_oldest_snapshots_counts_them_and_keeps_serving() {
    let dir = common::temp_dir("serve-memory");
    let chain = dir.join("nifty.csv");
    write_chain(&chain, true);
    // Ports with nothing listening: the store and the bus keep failing.
    let dead_store = common::prometheus::free_port();
    let dead_bus = common::prometheus::free_port();
    let budget = BUDGET_MIB << 20;
    let server = Server::start(
        &[
            "--provider",
            &format!("file:{}", chain.display()),
            "--interval",
            "200ms",
            "--store",
            &format!("clickhouse://127.0.0.1:{dead_store}/g6"),
            "--bus",
            &format!("nats://127.0.0.1:{dead_bus}"),
            "--store-backlog-rows",
            "2000000",
            "--memory-budget",
            &format!("{BUDGET_MIB}MiB"),
            "--memory-hold",
            "2s",
        ],
        &[],
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    // A live client stays connected throughout (it must not hold memory up, and the
    // server must keep streaming to it or end it cleanly).
    let live = live_client(&server.addr);
    let mut peak_rss = 0.0f64;
    let mut peak_level = 0.0f64;
    // Until the critical level was reached and both buffers shed snapshots for it.
    let samples = loop {
        let s = scrape(&server.addr);
        peak_rss = peak_rss.max(get(&s, "g6_memory_resident_bytes", &[]));
        peak_level = peak_level.max(get(&s, "g6_memory_pressure_level", &[]));
        let store_shed = get(
            &s,
            "g6_cs_ingest_dropped_rows_total",
            &[("store_drop_reason", "memory_pressure")],
        );
        let bus_shed = get(
            &s,
            "g6_bus_dropped_messages_total",
            &[("bus", "nats"), ("drop_reason", "memory_pressure")],
        );
        if peak_level >= 3.0 && store_shed > 0.0 && bus_shed > 0.0 {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "no critical level with shedding within 120 s: level {peak_level}, store shed {store_shed}, bus shed {bus_shed}, rss {peak_rss}, backlog {}, store lost {}",
            get(&s, "g6_cs_ingest_backlog_rows", &[]),
            get(&s, "g6_bus_subscriber_lost_messages_total", &[("subscriber", "store")]),
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(get(&samples, "g6_memory_budget_bytes", &[]), budget as f64);
    // Every tier's actions were taken, each counted.
    for (action, tier) in [
        ("pause_compaction", "elevated"),
        ("shrink_live", "elevated"),
        ("shrink_backlog", "high"),
        ("shrink_outbox", "high"),
        ("trim_allocator", "high"),
        ("shrink_backlog", "critical"),
        ("shrink_outbox", "critical"),
        ("shrink_live", "critical"),
    ] {
        assert!(
            get(
                &samples,
                "g6_memory_pressure_actions_total",
                &[("memory_action", action), ("memory_tier", tier)]
            ) >= 1.0,
            "{action} at {tier} was not counted"
        );
    }
    assert!(
        get(
            &samples,
            "g6_memory_pressure_transitions_total",
            &[("direction", "up")]
        ) >= 3.0
    );
    // Stop the growth: the provider now gives an empty chain (nothing published).
    write_chain(&chain, false);
    let mut last: Option<Vec<Sample>> = None;
    let settled = loop {
        std::thread::sleep(Duration::from_millis(1500));
        let s = scrape(&server.addr);
        peak_rss = peak_rss.max(get(&s, "g6_memory_resident_bytes", &[]));
        let key = |s: &[Sample]| {
            (
                get(
                    s,
                    "g6_bus_events_published_total",
                    &[("bus", "inproc"), ("topic", "chain")],
                ),
                get(s, "g6_cs_ingest_backlog_rows", &[]),
                get(s, "g6_bus_queue_depth", &[("bus", "nats")]),
                sum(s, "g6_bus_dropped_messages_total", &[("bus", "nats")]),
            )
        };
        if let Some(prev) = &last {
            if key(prev) == key(&s) {
                break s;
            }
        }
        assert!(Instant::now() < deadline, "the process did not settle");
        last = Some(s);
    };
    // Resident memory stayed near the budget (the level-3 threshold is 95% of it;
    // one snapshot in flight may overshoot it). The kernel's high-water mark sees
    // peaks between scrapes too.
    let hwm = high_water_mark(server.child.id()).max(peak_rss);
    assert!(
        hwm <= budget as f64 * 1.15,
        "resident memory peaked at {:.0} MiB against a {BUDGET_MIB} MiB budget",
        hwm / (1u64 << 20) as f64
    );
    eprintln!(
        "peak resident memory {:.0} MiB, budget {BUDGET_MIB} MiB",
        hwm / (1u64 << 20) as f64
    );
    // Every bus message is accounted for: each went to both buses.
    let published = get(
        &settled,
        "g6_bus_events_published_total",
        &[("bus", "inproc"), ("topic", "chain")],
    );
    assert!(published > 0.0);
    // Shedding was the governor's (the configured bounds were never reached).
    for reason in ["outbox_full", "too_large", "shutdown"] {
        assert_eq!(
            get(
                &settled,
                "g6_bus_dropped_messages_total",
                &[("bus", "nats"), ("drop_reason", reason)]
            ),
            0.0,
            "NATS drops for {reason}"
        );
    }
    for reason in ["backlog_full", "rejected", "shutdown"] {
        assert_eq!(
            get(
                &settled,
                "g6_cs_ingest_dropped_rows_total",
                &[("store_drop_reason", reason)]
            ),
            0.0,
            "store drops for {reason}"
        );
    }
    let nats_left = get(&settled, "g6_bus_queue_depth", &[("bus", "nats")]);
    let nats_dropped = sum(
        &settled,
        "g6_bus_dropped_messages_total",
        &[("bus", "nats")],
    );
    assert_eq!(
        nats_left + nats_dropped,
        published,
        "NATS: {nats_left} waiting + {nats_dropped} dropped != {published} published"
    );
    // Every contract row the store took is waiting or counted dropped.
    let lost_messages = get(
        &settled,
        "g6_bus_subscriber_lost_messages_total",
        &[("subscriber", "store")],
    );
    let rows_in = (published - lost_messages) * per_message_rows();
    let waiting = get(&settled, "g6_cs_ingest_backlog_rows", &[]);
    let dropped = sum(&settled, "g6_cs_ingest_dropped_rows_total", &[]);
    assert!(dropped > 0.0);
    assert_eq!(
        waiting + dropped,
        rows_in,
        "store: {waiting} waiting + {dropped} dropped != {rows_in} taken"
    );
    assert_eq!(
        get(&settled, "g6_cs_ingest_rows_total", &[]),
        0.0,
        "nothing can have been written to a store that is down"
    );
    // The live client was served all along: it got at least its first full.
    let got = live.join().expect("live client thread");
    assert!(
        got.contains("event: full"),
        "the live stream sent no full window: {:?}",
        &got[..got.len().min(300)]
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Peak resident memory of process `pid` (VmHWM), in bytes.
fn high_water_mark(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/PID/status");
    kb * 1024.0
}

/// A live client of NIFTY's nearest expiry, reading for 20 s (retrying until the
/// index has data); returns what it read.
fn live_client(addr: &str) -> std::thread::JoinHandle<String> {
    use std::io::{Read, Write};
    let addr = addr.to_string();
    std::thread::spawn(move || {
        let until = Instant::now() + Duration::from_secs(20);
        let mut got = Vec::new();
        while Instant::now() < until && !String::from_utf8_lossy(&got).contains("event: full") {
            let Ok(mut s) = std::net::TcpStream::connect(&addr) else {
                std::thread::sleep(Duration::from_millis(200));
                continue;
            };
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = write!(
                s,
                "GET /live/atm?index=NIFTY&expiry=nearest&strikes=20 HTTP/1.1\r\nHost: {addr}\r\n\r\n"
            );
            let mut buf = [0u8; 65536];
            while Instant::now() < until {
                match s.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                    Err(e)
                        if e.kind() == std::io::ErrorKind::WouldBlock
                            || e.kind() == std::io::ErrorKind::TimedOut => {}
                    Err(_) => break,
                }
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        String::from_utf8_lossy(&got).into_owned()
    })
}

/// Contracts per bus message: one expiry of the chain.
fn per_message_rows() -> f64 {
    const { assert!(STRIKES * 2 <= g6_metrics::bus::message::MAX_CONTRACTS_PER_MESSAGE) };
    (STRIKES * 2) as f64
}
