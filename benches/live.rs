//! The live view.
//!
//! - Fan-out: 500 SSE clients of `/live/atm` on loopback (the real exporter and hub in
//!   this process, the clients as tokio tasks reading their sockets). Measured per
//!   snapshot: from handing the snapshot to the hub to the last client holding its
//!   `diff` event. Criterion gives the median; p50 and p99 over 200 snapshots go to
//!   `target/criterion/live_fanout.txt` for the report.
//! - Bytes per minute for one client, diffs against a full snapshot every tick, on the
//!   synthetic provider's ticks (every 5 s, the default interval): to
//!   `target/criterion/live_bytes.txt`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use criterion::{criterion_group, criterion_main, Criterion};
use g6_metrics::bus::inproc::InProcessBus;
use g6_metrics::bus::message::ChainMessage;
use g6_metrics::bus::{Bus, Publisher};
use g6_metrics::live::Hub;
use g6_metrics::option_chain::providers::synthetic::SyntheticProvider;
use g6_metrics::option_chain::runner::Runner;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CLIENTS: usize = 500;

/// Synthetic snapshots of NIFTY as bus messages, `step` seconds apart.
struct Ticks {
    runner: Runner,
    sub: g6_metrics::bus::inproc::Subscription,
    t: f64,
    step: f64,
}

impl Ticks {
    fn new(step: f64) -> Ticks {
        let bus = InProcessBus::new(8192);
        let sub = bus.subscribe("bench");
        let buses: Vec<Arc<dyn Bus>> = vec![bus];
        let runner = Runner::new(Box::new(SyntheticProvider::new(3).fast()), false)
            .with_publisher(Publisher::new(buses))
            .only_indices(&["NIFTY".to_string()]);
        Ticks {
            runner,
            sub,
            t: 1_795_924_800.0,
            step,
        }
    }

    fn next(&mut self) -> Vec<Arc<ChainMessage>> {
        self.t += self.step;
        self.runner.tick_at(self.t);
        let mut out = Vec::new();
        while let Ok(m) = self.sub.try_recv() {
            out.push(m);
        }
        out
    }
}

fn raise_fd_limit() {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write the one struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) == 0 {
            rl.rlim_cur = rl.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &rl);
        }
    }
}

fn fanout(c: &mut Criterion) {
    raise_fd_limit();
    g6_metrics::metrics::init_all();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let hub = Hub::new();
    let mut ticks = Ticks::new(5.0);
    for m in ticks.next() {
        hub.publish(&m);
    }
    let expiry = hub.nearest_expiry("NIFTY", "2026-11-26").expect("NIFTY");
    let router = g6_metrics::live::sse::router(hub.clone(), CLIENTS * 2, Duration::from_secs(3600));
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("listen");
    let addr = listener.local_addr().expect("addr");
    let limits = g6_metrics::exporter::Limits {
        max_connections: CLIENTS * 2,
        max_streams: CLIENTS * 2,
        ..Default::default()
    };
    runtime.spawn(g6_metrics::exporter::serve_with(
        listener,
        limits,
        router,
        std::future::pending(),
    ));
    // Each client counts the diff events it has read.
    let diffs = Arc::new(AtomicUsize::new(0));
    let fulls = Arc::new(AtomicUsize::new(0));
    for _ in 0..CLIENTS {
        let (diffs, fulls, expiry) = (diffs.clone(), fulls.clone(), expiry.clone());
        runtime.spawn(async move {
            let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
            let req = format!(
                "GET /live/atm?index=NIFTY&expiry={expiry} HTTP/1.1\r\nHost: {addr}\r\n\r\n"
            );
            s.write_all(req.as_bytes()).await.expect("request");
            let mut buf = vec![0u8; 1 << 16];
            let mut carry = Vec::new();
            loop {
                let n = match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                carry.extend_from_slice(&buf[..n]);
                // Count whole events; keep a partial one for the next read.
                let mut start = 0;
                while let Some(p) = carry[start..].windows(2).position(|w| w == b"\n\n") {
                    let ev = &carry[start..start + p];
                    if ev.windows(11).any(|w| w == b"event: diff") {
                        diffs.fetch_add(1, Ordering::Release);
                    } else if ev.windows(11).any(|w| w == b"event: full") {
                        fulls.fetch_add(1, Ordering::Release);
                    }
                    start += p + 2;
                }
                carry.drain(..start);
            }
        });
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while fulls.load(Ordering::Acquire) < CLIENTS {
        assert!(Instant::now() < deadline, "clients did not connect");
        std::thread::sleep(Duration::from_millis(10));
    }
    // Prebuilt snapshots, so the measured time is the hub and the sockets only.
    let mut snapshot = || ticks.next();
    let one = |snap: Vec<Arc<ChainMessage>>| -> Duration {
        let want = diffs.load(Ordering::Acquire) + CLIENTS;
        let t = Instant::now();
        for m in &snap {
            hub.publish(m);
        }
        while diffs.load(Ordering::Acquire) < want {
            std::hint::spin_loop();
        }
        t.elapsed()
    };
    let mut g = c.benchmark_group("live_fanout");
    g.sample_size(20);
    g.bench_function("snapshot_to_last_of_500_clients", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let snap = snapshot();
                total += one(snap);
            }
            total
        })
    });
    g.finish();
    let mut times: Vec<Duration> = (0..200).map(|_| one(snapshot())).collect();
    times.sort();
    let p = |q: f64| times[((times.len() - 1) as f64 * q) as usize].as_secs_f64();
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/criterion");
    let _ = std::fs::create_dir_all(&out);
    let _ = std::fs::write(
        out.join("live_fanout.txt"),
        format!("{} {} {}\n", CLIENTS, p(0.5), p(0.99)),
    );
    bytes_per_minute(&out);
}

/// One client for a minute of 5-second ticks: the bytes of its diffs against a full
/// window at every tick.
fn bytes_per_minute(out: &std::path::Path) {
    let hub = Hub::new();
    let mut ticks = Ticks::new(5.0);
    for m in ticks.next() {
        hub.publish(&m);
    }
    let expiry = hub.nearest_expiry("NIFTY", "2026-11-26").expect("NIFTY");
    let mut client = hub
        .subscribe("NIFTY", &expiry, 10, None, None)
        .expect("subscribe");
    let (mut diff_bytes, mut full_bytes) = (0usize, 0usize);
    for _ in 0..12 {
        for m in ticks.next() {
            hub.publish(&m);
        }
        while let Ok(ev) = client.events.try_recv() {
            diff_bytes += ev.wire_len();
        }
        let full = hub
            .subscribe("NIFTY", &expiry, 10, None, None)
            .expect("subscribe");
        full_bytes += full.backlog.iter().map(|e| e.wire_len()).sum::<usize>();
    }
    let _ = std::fs::write(
        out.join("live_bytes.txt"),
        format!("{diff_bytes} {full_bytes}\n"),
    );
}

criterion_group!(benches, fanout);
criterion_main!(benches);
