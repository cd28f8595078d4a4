//! The exporter under hostile clients, in its own binary (it installs a pre-scrape
//! hook; the test that makes it slow runs in a process of its own): thousands of idle and half-open connections never lock a scraper
//! out, idle connections are closed after the header-read timeout, a slow scrape gets
//! 503, and compression follows the client's Accept-Encoding q-values.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

mod common;

use common::http;
use g6_metrics::exporter::{self, Limits};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Milliseconds every scrape's pre-scrape hook sleeps (0: none).
static HOOK_SLEEP_MS: AtomicU64 = AtomicU64::new(0);

fn start(limits: Limits) -> (String, tokio::runtime::Runtime) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    rt.spawn(exporter::serve(listener, limits, std::future::pending()));
    (addr, rt)
}

fn install_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        g6_metrics::init().expect("init");
        exporter::add_pre_scrape_hook(Arc::new(|| {
            let ms = HOOK_SLEEP_MS.load(Ordering::Relaxed);
            if ms > 0 {
                std::thread::sleep(Duration::from_millis(ms));
            }
        }));
    });
}

/// This test holds thousands of sockets on both ends: raise the open-files soft limit.
fn raise_open_files_limit() {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write the one struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) == 0 && rl.rlim_cur < rl.rlim_max {
            rl.rlim_cur = rl.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &rl);
        }
    }
}

#[test]
fn idle_and_half_open_connections_never_lock_out_a_scrape() {
    install_hook();
    raise_open_files_limit();
    let (addr, _rt) = start(Limits {
        max_connections: 256,
        header_read_timeout: Duration::from_secs(2),
        ..Limits::default()
    });
    // 2,000 connections that send nothing and 500 that send half a request.
    let mut held = Vec::new();
    for i in 0..2500 {
        let mut s = TcpStream::connect(&addr).expect("connect");
        if i % 5 == 0 {
            s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .expect("partial headers");
        }
        held.push(s);
    }
    for _ in 0..3 {
        let started = Instant::now();
        let resp = http(&addr, "GET", "/metrics", "");
        assert_eq!(resp.status, 200);
        assert!(resp.text().contains("g6_api_calls_total"));
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
    }
    // Every held connection is closed by the server: the oldest to make room, the
    // rest when the header-read timeout (2 s) passes; within the 3 s this test has
    // always allowed, polled instead of slept.
    for s in &held {
        s.set_nonblocking(true).expect("non-blocking");
    }
    let open = |s: &mut TcpStream| {
        let mut buf = [0u8; 256];
        matches!(s.read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
    };
    common::wait_until(
        "every held connection closed after the header-read timeout",
        Duration::from_secs(3),
        || {
            held.retain_mut(|s| open(s));
            held.is_empty()
        },
    );
}

#[test]
fn a_scrape_slower_than_the_request_timeout_gets_503() {
    // In a process of its own: the slow hook is process-wide and would stall every
    // other test's scrape in this binary while it is set.
    common::in_own_process(
        module_path!(),
        "a_scrape_slower_than_the_request_timeout_gets_503",
        || {
            install_hook();
            let (addr, _rt) = start(Limits {
                request_timeout: Duration::from_millis(300),
                ..Limits::default()
            });
            HOOK_SLEEP_MS.store(1500, Ordering::Relaxed);
            let started = Instant::now();
            let resp = http(&addr, "GET", "/metrics", "");
            HOOK_SLEEP_MS.store(0, Ordering::Relaxed);
            assert_eq!(resp.status, 503, "{}", resp.text());
            assert!(
                started.elapsed() < Duration::from_millis(1400),
                "answered at the timeout"
            );
            // The health check is not held up by a slow scrape.
            assert_eq!(http(&addr, "GET", "/healthz", "").status, 200);
        },
    );
}

#[test]
fn compression_follows_accept_encoding_q_values() {
    install_hook();
    let (addr, _rt) = start(Limits::default());
    let encoding = |accept: &str| {
        let resp = http(
            &addr,
            "GET",
            "/metrics",
            &format!("Accept-Encoding: {accept}\r\n"),
        );
        assert_eq!(resp.status, 200);
        assert!(
            resp.header("vary")
                .is_some_and(|v| v.to_ascii_lowercase().contains("accept-encoding")),
            "Vary: Accept-Encoding for {accept}"
        );
        resp.header("content-encoding").map(str::to_string)
    };
    assert_eq!(encoding("gzip").as_deref(), Some("gzip"));
    assert_eq!(
        encoding("gzip;q=1.0, identity;q=0.5").as_deref(),
        Some("gzip")
    );
    assert_eq!(encoding("gzip;q=0"), None);
    assert_eq!(encoding("gzip; q=0.000"), None);
    assert_eq!(encoding("identity"), None);
    assert_eq!(encoding("br;q=0.9"), None, "only gzip is offered");
}
