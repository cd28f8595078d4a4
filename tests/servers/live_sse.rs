//! `/live/atm` on a running `g6 serve`: a full first, then diffs with ids; a heartbeat
//! when nothing changes; 429 beyond `--live-max-clients`; clear errors for bad
//! requests; every stream ends cleanly on SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use crate::common;

use common::Server;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// A raw SSE client: the status, then events as they arrive (chunked transfer decoded).
struct SseClient {
    reader: BufReader<TcpStream>,
    pub status: u16,
    pending: String,
}

/// One event: (id, kind, data).
type Ev = (String, String, String);

impl SseClient {
    fn connect(addr: &str, path: &str, last_id: Option<&str>) -> SseClient {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let extra = last_id.map_or(String::new(), |id| format!("Last-Event-ID: {id}\r\n"));
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n{extra}\r\n"
        )
        .unwrap();
        let mut reader = BufReader::new(s);
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let status = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        loop {
            line.clear();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" || line.is_empty() {
                break;
            }
        }
        SseClient {
            reader,
            status,
            pending: String::new(),
        }
    }

    /// The next event, `None` when the stream ended cleanly (the last, empty chunk);
    /// a broken or silent connection fails the test.
    fn next(&mut self) -> Option<Ev> {
        loop {
            if let Some(end) = self.pending.find("\n\n") {
                let block: String = self.pending.drain(..end + 2).collect();
                let field = |n: &str| {
                    block
                        .lines()
                        .find_map(|l| l.strip_prefix(&format!("{n}: ")))
                        .unwrap_or("")
                        .to_string()
                };
                return Some((field("id"), field("event"), field("data")));
            }
            // One chunk: size line, data, CRLF.
            let mut size = String::new();
            let got = self.reader.read_line(&mut size).expect("the stream broke");
            assert!(got > 0, "the connection closed without ending the stream");
            let n = usize::from_str_radix(size.trim(), 16).expect("a chunk size");
            if n == 0 {
                return None;
            }
            let mut buf = vec![0u8; n + 2];
            self.reader.read_exact(&mut buf).expect("a whole chunk");
            self.pending
                .push_str(std::str::from_utf8(&buf[..n]).unwrap());
        }
    }
}

fn body_of(addr: &str, path: &str) -> (u16, String) {
    let r = common::http(addr, "GET", path, "");
    (r.status, r.text())
}

#[test]
fn the_stream_sends_a_full_then_diffs_with_ids_and_resumes_from_last_event_id() {
    let server = Server::start(
        &[
            "--provider",
            "synthetic:6:fast",
            "--index",
            "NIFTY",
            "--interval",
            "300ms",
        ],
        &[],
    );
    let addr = server.addr.clone();
    // Wait until the hub has NIFTY.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, cat) = body_of(&addr, "/live/catalog");
        if cat.contains("NIFTY") {
            break;
        }
        assert!(Instant::now() < deadline, "no NIFTY in the catalog: {cat}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut c = SseClient::connect(&addr, "/live/atm?index=NIFTY&strikes=3", None);
    assert_eq!(c.status, 200);
    let (full_id, kind, data) = c.next().unwrap();
    assert_eq!(kind, "full");
    let full: serde_json::Value = serde_json::from_str(&data).unwrap();
    assert_eq!(full["index"], "NIFTY");
    assert_eq!(
        full["rows"].as_array().unwrap().len(),
        7,
        "3 strikes each side + ATM"
    );
    let (d1, kind, _) = c.next().unwrap();
    assert_eq!(kind, "diff");
    let (d2, _, _) = c.next().unwrap();
    let seq = |id: &str| id.split_once('.').unwrap().1.parse::<u64>().unwrap();
    assert_eq!(seq(&d1), seq(&full_id) + 1);
    assert_eq!(seq(&d2), seq(&d1) + 1);
    drop(c);
    // Back with the first diff's id: the next event is the diff after it.
    let mut back = SseClient::connect(&addr, "/live/atm?index=NIFTY&strikes=3", Some(&d1));
    let (id, kind, _) = back.next().unwrap();
    assert_eq!((kind.as_str(), seq(&id)), ("diff", seq(&d1) + 1));
    // Its metrics.
    // The first client's connection is noticed closed at the next write.
    let deadline = Instant::now() + Duration::from_secs(10);
    let samples = loop {
        let s = common::parse_exposition(&common::http(&addr, "GET", "/metrics", "").text());
        if common::find_sample(&s, "g6_sse_connections", &[]) == Some(1.0) {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "the connections gauge never came back to 1"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let v = |n: &str, l: &[(&str, &str)]| common::find_sample(&samples, n, l).unwrap_or(0.0);
    assert!(v("g6_sse_events_sent_total", &[("sse_event", "full")]) >= 1.0);
    assert!(v("g6_sse_events_sent_total", &[("sse_event", "diff")]) >= 3.0);
    assert_eq!(v("g6_sse_connections", &[]), 1.0);
    assert_eq!(v("g6_stream_connected_clients", &[]), 1.0);
    assert!(v("g6_sse_flush_latency_seconds_count", &[]) >= 3.0);
    assert!(v("g6_stream_events_total", &[("kind", "diff")]) >= 2.0);
    assert!(v("g6_panel_writes_total", &[("write_mode", "diff")]) >= 2.0);
    // The status page links the live view.
    assert!(body_of(&addr, "/").1.contains("href=\"/live\""));
}

#[test]
fn a_quiet_stream_gets_heartbeats_and_more_clients_than_allowed_get_429() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/chains/bus.csv");
    let server = Server::start(
        &[
            "--provider",
            &format!("file:{}", fixture.display()),
            "--interval",
            "200ms",
            "--live-max-clients",
            "2",
            "--live-heartbeat",
            "1s",
        ],
        &[],
    );
    let addr = server.addr.clone();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !body_of(&addr, "/live/catalog").1.contains("NIFTY") {
        assert!(Instant::now() < deadline, "no data");
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut a = SseClient::connect(&addr, "/live/atm?index=NIFTY&expiry=2024-11-28", None);
    let (full_id, kind, _) = a.next().unwrap();
    assert_eq!(kind, "full");
    // The file does not change: a heartbeat, not a diff, with the client's last id.
    let t = Instant::now();
    let (id, kind, _) = a.next().unwrap();
    assert_eq!(
        (kind.as_str(), id.as_str()),
        ("heartbeat", full_id.as_str())
    );
    assert!(t.elapsed() >= Duration::from_millis(800));
    let b = SseClient::connect(&addr, "/live/atm?index=BANKNIFTY", None);
    assert_eq!(b.status, 200);
    let third = common::http(&addr, "GET", "/live/atm?index=NIFTY", "");
    assert_eq!(third.status, 429);
    assert!(
        third.text().contains("--live-max-clients"),
        "{}",
        third.text()
    );
    assert!(third.header("retry-after").is_some());
    // Bad requests say what to do.
    for (path, status, says) in [
        ("/live/atm", 400, "index=NIFTY"),
        ("/live/atm?index=NIFTY&strikes=0", 400, "1 to 50"),
        ("/live/atm?index=NIFTY&strikes=x", 400, "1 to 50"),
        ("/live/atm?index=NOPE", 404, "/live/catalog"),
        ("/live/atm?index=NIFTY&expiry=bad", 400, "give YYYY-MM-DD"),
        (
            "/live/atm?index=NIFTY&expiry=2030-01-01",
            404,
            "/live/catalog",
        ),
    ] {
        let r = common::http(&addr, "GET", path, "");
        assert_eq!(r.status, status, "{path}: {}", r.text());
        assert!(r.text().contains(says), "{path}: {}", r.text());
    }
    drop(b);
    // The page is served, self-contained.
    let (status, page) = body_of(&addr, "/live");
    assert_eq!(status, 200);
    assert!(
        page.contains("EventSource") && !page.contains("http://") && !page.contains("https://")
    );
    // SIGTERM: the process exits 0 and the open stream ends cleanly (its last chunk
    // arrives: the hub ended it, the server's grace period did not have to cut it).
    let status = server.terminate();
    assert!(status.success(), "{status}");
    while let Some(ev) = a.next() {
        assert_eq!(ev.1, "heartbeat", "only heartbeats were pending");
    }
}

/// This test holds over a thousand sockets: raise the open-files soft limit.
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

/// The next diff of `c` (heartbeats are skipped).
fn next_diff(c: &mut SseClient) -> Ev {
    loop {
        let ev = c.next().expect("the stream ended");
        if ev.1 == "diff" {
            return ev;
        }
    }
}

#[test]
fn a_flood_of_idle_connections_never_disconnects_a_live_viewer_and_every_close_is_counted() {
    raise_open_files_limit();
    let server = Server::start(
        &[
            "--provider",
            "synthetic:6:fast",
            "--index",
            "NIFTY",
            "--interval",
            "300ms",
            "--store",
            "none",
            "--max-connections",
            "200",
            "--live-max-clients",
            "50",
            "--header-read-timeout",
            "2s",
        ],
        &[],
    );
    let addr = server.addr.clone();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !body_of(&addr, "/live/catalog").1.contains("NIFTY") {
        assert!(Instant::now() < deadline, "no NIFTY in the catalog");
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut viewers: Vec<SseClient> = (0..40)
        .map(|_| {
            let mut c = SseClient::connect(&addr, "/live/atm?index=NIFTY&strikes=3", None);
            assert_eq!(c.status, 200);
            assert_eq!(c.next().expect("a first event").1, "full");
            c
        })
        .collect();
    // 1,100 connections that never send a byte: far over --max-connections 200.
    let idle: Vec<TcpStream> = (0..1100)
        .map(|_| TcpStream::connect(&addr).expect("connect"))
        .collect();
    // Every viewer still gets the next snapshot's diff.
    for (i, v) in viewers.iter_mut().enumerate() {
        let (_, kind, _) = next_diff(v);
        assert_eq!(kind, "diff", "viewer {i}");
    }
    // Each idle connection is closed once, and counted once: the oldest ones to make
    // room for newer ones, the rest by the header-read timeout.
    let closed = |samples: &[common::Sample], reason: &str| {
        common::find_sample(
            samples,
            "g6_exporter_connections_closed_total",
            &[("close_reason", reason)],
        )
        .unwrap_or_else(|| panic!("no close_reason={reason} series"))
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let samples = loop {
        let s = common::parse_exposition(&common::http(&addr, "GET", "/metrics", "").text());
        if closed(&s, "evicted") + closed(&s, "header_timeout") >= 1100.0 {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "closes counted: evicted {}, header_timeout {}",
            closed(&s, "evicted"),
            closed(&s, "header_timeout")
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let (evicted, timed_out) = (
        closed(&samples, "evicted"),
        closed(&samples, "header_timeout"),
    );
    assert_eq!(
        evicted + timed_out,
        1100.0,
        "evicted {evicted}, header_timeout {timed_out}"
    );
    // How they split depends on how fast the flood came (early ones may time out
    // before newer ones push them out); both happen.
    assert!(
        evicted >= 1.0,
        "over the cap, the oldest make room: {evicted}"
    );
    assert!(timed_out >= 1.0, "the last ones time out: {timed_out}");
    assert_eq!(closed(&samples, "idle_timeout"), 0.0);
    assert_eq!(closed(&samples, "fd_exhausted"), 0.0);
    assert_eq!(
        common::find_sample(&samples, "g6_sse_connections", &[]),
        Some(40.0),
        "all 40 viewers connected"
    );
    // The viewers outlive the header-read timeout too: 40 of 40 still receive.
    for (i, v) in viewers.iter_mut().enumerate() {
        let (_, kind, _) = next_diff(v);
        assert_eq!(kind, "diff", "viewer {i}");
    }
    drop(idle);
    // A keep-alive connection left idle after a request is closed by the same timeout,
    // counted as idle_timeout.
    let mut keep = TcpStream::connect(&addr).expect("connect");
    keep.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(keep, "GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n").expect("request");
    let mut buf = [0u8; 512];
    let n = keep.read(&mut buf).expect("response");
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let started = Instant::now();
    assert_eq!(
        keep.read(&mut buf).expect("closed, not reset"),
        0,
        "closed by the server"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    let samples = common::parse_exposition(&common::http(&addr, "GET", "/metrics", "").text());
    assert_eq!(closed(&samples, "idle_timeout"), 1.0);
}
