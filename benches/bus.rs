//! The per-contract bus, on a 20,000-contract snapshot (4 indices x 10 expiries):
//!
//! - `bus_encoding`: encode + decode of every message of the snapshot, protobuf (the
//!   chosen wire format) against JSON with serde (bytes per contract are computed by
//!   `examples/bench_report.rs`);
//! - `bus_inproc_publish`: the collector's whole bus step (build the messages from the
//!   snapshot, give snapshot ids, send them into the ring) plus a subscriber taking
//!   every message (target: under 2 ms);
//! - `bus_nats_publish` (needs `nats-server`; skipped with a note without it): our
//!   JetStream bus on the snapshot's messages (encode into the outbox, send, wait for
//!   every acknowledgement) against raw async-nats on the same bytes in the same run:
//!   JetStream publishes with pipelined acks (like for like; goal: ours at 80% or
//!   more of its throughput) and core publishes plus a flush (no acks: the limit);
//!   and the whole collector step from the snapshot for reference;
//! - `bus_nats_replicas` (needs `nats-server`): the same bus step on a 3-node
//!   JetStream cluster on loopback, to a stream of 1 replica and one of 3, each beside
//!   raw async-nats JetStream publishes with pipelined acks to that stream in the same
//!   run (the cost of replication, and ours against the raw client on it);
//! - `bus_nats_ingest` (needs `nats-server`): `g6 ingest` draining 20 snapshots from a
//!   stream of 1 and of 3 replicas into Parquet, beside a raw async-nats pull consumer
//!   acknowledging the same messages.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use g6_metrics::bus::inproc::InProcessBus;
use g6_metrics::bus::message::{self, ChainMessage, JsonMessage};
use g6_metrics::bus::nats::{NatsBus, NatsConfig};
use g6_metrics::bus::{Bus, Publisher};
use g6_metrics::labels::Source;
use std::hint::black_box;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

#[path = "common/chain.rs"]
mod chain;

const CONTRACTS: usize = 20_000;
const NOW: f64 = 1_900_000_000.0;

fn messages() -> Vec<ChainMessage> {
    let snap = chain::snapshot(CONTRACTS);
    let rows: Vec<u32> = (0..snap.rows.len() as u32).collect();
    message::build(&snap, &rows, 1_900_000_000_000, Source::Live, "bench")
}

fn encoding(c: &mut Criterion) {
    let msgs = messages();
    let contracts: usize = msgs.iter().map(|m| m.contracts.len()).sum();
    assert_eq!(contracts, CONTRACTS);
    let mut g = c.benchmark_group("bus_encoding");
    g.throughput(Throughput::Elements(CONTRACTS as u64));
    g.bench_function("g6_protobuf_encode_decode", |b| {
        b.iter(|| {
            for m in &msgs {
                let bytes = black_box(m).to_bytes();
                black_box(ChainMessage::from_bytes(&bytes).ok());
            }
        })
    });
    g.bench_function("g6_protobuf_encode_only", |b| {
        b.iter(|| {
            for m in &msgs {
                black_box(black_box(m).to_bytes());
            }
        })
    });
    let json: Vec<JsonMessage> = msgs.iter().map(JsonMessage::from).collect();
    g.bench_function("json_serde_encode_decode", |b| {
        b.iter(|| {
            for m in &json {
                let bytes = serde_json::to_vec(black_box(m)).unwrap_or_default();
                black_box(serde_json::from_slice::<JsonMessage>(&bytes).ok());
            }
        })
    });
    g.finish();
}

fn inproc(c: &mut Criterion) {
    g6_metrics::metrics::init_all();
    let mut snap = chain::snapshot(CONTRACTS);
    let rows: Vec<u32> = (0..snap.rows.len() as u32).collect();
    let bus = InProcessBus::new(4096);
    let mut sub = bus.subscribe("bench");
    let buses: Vec<Arc<dyn Bus>> = vec![bus];
    let mut publisher = Publisher::new(buses);
    let mut g = c.benchmark_group("bus_inproc_publish");
    g.throughput(Throughput::Elements(CONTRACTS as u64));
    let mut now = NOW;
    g.bench_function("g6_publish_20000_contracts", |b| {
        b.iter(|| {
            // A new as-of time each round, as a live feed has: the unchanged-data gate
            // hashes every message and lets it through.
            now += 1.0;
            snap.as_of = Some(now as i64);
            let sent = publisher.publish(&snap, &rows, Source::Live, "bench", now);
            let mut got = 0;
            while let Ok(m) = sub.try_recv() {
                got += m.contracts.len();
            }
            assert_eq!(got, CONTRACTS);
            black_box(sent)
        })
    });
    g.finish();
}

/// A nats-server with JetStream in a temporary directory, killed on drop.
struct Server(Child, std::path::PathBuf);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let _ = std::fs::remove_dir_all(&self.1);
    }
}

fn nats_bin() -> Option<&'static str> {
    [
        "/usr/sbin/nats-server",
        "/usr/bin/nats-server",
        "/usr/local/bin/nats-server",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).is_file())
}

fn free_port() -> Option<u16> {
    Some(
        std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port(),
    )
}

/// A nats-server with JetStream on `port`, with `extra` arguments, ready.
fn spawn_nats(port: u16, extra: &[String]) -> Option<Server> {
    let dir = std::env::temp_dir().join(format!("g6-bench-nats-{port}"));
    let child = Command::new(nats_bin()?)
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
        .arg(&dir)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let server = Server(child, dir);
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(server);
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    None
}

/// Three nats-servers routed into one JetStream cluster; the servers' URLs.
fn nats_cluster() -> Option<(Vec<Server>, Vec<String>)> {
    let client: Vec<u16> = (0..3).map(|_| free_port()).collect::<Option<_>>()?;
    let route: Vec<u16> = (0..3).map(|_| free_port()).collect::<Option<_>>()?;
    let mut servers = Vec::new();
    for i in 0..3 {
        let routes: Vec<String> = (0..3)
            .filter(|j| *j != i)
            .map(|j| format!("nats://127.0.0.1:{}", route[j]))
            .collect();
        let args = [
            "-n".to_string(),
            format!("bench{i}"),
            "--cluster_name".into(),
            "bench".into(),
            "--cluster".into(),
            format!("nats://127.0.0.1:{}", route[i]),
            "--routes".into(),
            routes.join(","),
        ];
        servers.push(spawn_nats(client[i], &args)?);
    }
    let urls = client
        .iter()
        .map(|p| format!("nats://127.0.0.1:{p}"))
        .collect();
    Some((servers, urls))
}

/// The runtime the NATS benches drive their clients on: two workers, like the app's.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn nats_server() -> Option<(Server, String)> {
    nats_bin()?;
    let port = free_port()?;
    let server = spawn_nats(port, &[])?;
    Some((server, format!("nats://127.0.0.1:{port}")))
}

fn replicas(c: &mut Criterion) {
    let Some((_servers, urls)) = nats_cluster() else {
        eprintln!("bus_nats_replicas skipped: nats-server not installed");
        return;
    };
    let rt = runtime();
    let mut g = c.benchmark_group("bus_nats_replicas");
    g.sample_size(10);
    g.throughput(Throughput::Elements(CONTRACTS as u64));
    for n in [1usize, 3] {
        let prefix = format!("r{n}.chain");
        let config = NatsConfig {
            servers: urls.clone(),
            stream: format!("G6_R{n}"),
            subject_prefix: prefix.clone(),
            max_bytes: 512 * 1024 * 1024,
            replicas: n,
            ..Default::default()
        };
        let bus = NatsBus::start(config, rt.handle()).expect("bus");
        let mut prebuilt: Vec<Arc<ChainMessage>> = messages().into_iter().map(Arc::new).collect();
        let mut round = |bus: &NatsBus| {
            for m in prebuilt.iter_mut() {
                if let Some(m) = Arc::get_mut(m) {
                    m.snapshot_id += 1;
                }
            }
            bus.publish(&prebuilt);
            while bus.outbox().0 > 0 {
                std::thread::sleep(Duration::from_micros(50));
            }
        };
        // The first round waits for the cluster's JetStream and creates the stream.
        round(&bus);
        g.bench_function(format!("g6_jetstream_bus_r{n}"), |b| b.iter(|| round(&bus)));
        let encoded: Vec<(String, bytes::Bytes)> = messages()
            .iter()
            .map(|m| (m.subject(&prefix), bytes::Bytes::from(m.to_bytes())))
            .collect();
        let client = rt
            .block_on(async_nats::connect(urls.clone()))
            .expect("connect");
        let js = {
            let _inside = rt.enter();
            async_nats::jetstream::new(client)
        };
        let mut raw_round = 0u64;
        g.bench_function(format!("async_nats_jetstream_pipelined_acks_r{n}"), |b| {
            b.iter(|| {
                raw_round += 1;
                rt.block_on(async {
                    let mut acks = Vec::with_capacity(encoded.len());
                    for (i, (subject, payload)) in encoded.iter().enumerate() {
                        let publish = async_nats::jetstream::message::PublishMessage::build()
                            .payload(payload.clone())
                            .message_id(format!("raw.{raw_round}.{i}"));
                        acks.push(
                            js.send_publish(subject.clone(), publish)
                                .await
                                .expect("send"),
                        );
                    }
                    for a in acks {
                        a.await.expect("ack");
                    }
                })
            })
        });
        bus.close(Duration::from_secs(5));
    }
    g.finish();
}

fn nats(c: &mut Criterion) {
    let Some((_server, url)) = nats_server() else {
        eprintln!(
            "bus_nats_publish skipped: nats-server not installed (apt-get install nats-server)"
        );
        return;
    };
    let rt = runtime();
    let config = NatsConfig {
        servers: vec![url.clone()],
        max_bytes: 512 * 1024 * 1024,
        ..Default::default()
    };
    let bus = Arc::new(NatsBus::start(config, rt.handle()).expect("bus"));
    let buses: Vec<Arc<dyn Bus>> = vec![bus.clone()];
    let mut publisher = Publisher::new(buses);
    let mut snap = chain::snapshot(CONTRACTS);
    let rows: Vec<u32> = (0..snap.rows.len() as u32).collect();
    let drained = |bus: &NatsBus| {
        while bus.outbox().0 > 0 {
            std::thread::sleep(Duration::from_micros(50));
        }
    };
    // Wait for the stream to exist (the first publish creates it).
    publisher.publish(&snap, &rows, Source::Live, "bench", NOW);
    drained(&bus);

    let mut g = c.benchmark_group("bus_nats_publish");
    g.sample_size(20);
    g.throughput(Throughput::Elements(CONTRACTS as u64));
    // The bus's own work, like the raw peers': the messages are built (that step is
    // the in-process bench's), the bus encodes them into the outbox, sends them and
    // waits for every acknowledgement. Fresh snapshot ids each round, so the stream
    // stores every message (a repeated id would be dropped as a duplicate).
    let mut prebuilt: Vec<Arc<ChainMessage>> = messages().into_iter().map(Arc::new).collect();
    g.bench_function("g6_jetstream_bus", |b| {
        b.iter(|| {
            for m in prebuilt.iter_mut() {
                if let Some(m) = Arc::get_mut(m) {
                    m.snapshot_id += 1;
                }
            }
            bus.publish(&prebuilt);
            drained(&bus);
        })
    });
    // The whole collector step: build the messages from the snapshot, then the above.
    let mut now = NOW;
    g.bench_function("g6_collector_snapshot_to_jetstream", |b| {
        b.iter(|| {
            now += 1.0;
            snap.as_of = Some(now as i64);
            publisher.publish(&snap, &rows, Source::Live, "bench", now);
            drained(&bus);
        })
    });

    // The same bytes, straight through async-nats.
    let encoded: Vec<(String, bytes::Bytes)> = messages()
        .iter()
        .map(|m| (m.subject("g6.chain"), bytes::Bytes::from(m.to_bytes())))
        .collect();
    let client = rt.block_on(async_nats::connect(&url)).expect("connect");
    // The context spawns its ack task: create it inside the runtime.
    let js = {
        let _inside = rt.enter();
        async_nats::jetstream::new(client.clone())
    };
    let mut round = 0u64;
    g.bench_function("async_nats_jetstream_pipelined_acks", |b| {
        b.iter(|| {
            round += 1;
            rt.block_on(async {
                let mut acks = Vec::with_capacity(encoded.len());
                for (i, (subject, payload)) in encoded.iter().enumerate() {
                    let publish = async_nats::jetstream::message::PublishMessage::build()
                        .payload(payload.clone())
                        .message_id(format!("raw.{round}.{i}"));
                    acks.push(
                        js.send_publish(subject.clone(), publish)
                            .await
                            .expect("send"),
                    );
                }
                for a in acks {
                    a.await.expect("ack");
                }
            })
        })
    });
    g.bench_function("async_nats_core_publish_flush_limit", |b| {
        b.iter(|| {
            rt.block_on(async {
                for (subject, payload) in &encoded {
                    client
                        .publish(subject.clone(), payload.clone())
                        .await
                        .expect("publish");
                }
                client.flush().await.expect("flush");
            })
        })
    });
    g.finish();
    bus.close(Duration::from_secs(5));
}

/// Snapshots on each ingest stream: enough that a process start is a small share.
const INGEST_SNAPSHOTS: u64 = 20;

/// Wait until the durable `durable` of `stream` has acknowledged every message of
/// the stream (its ack floor at the stream's last sequence, nothing pending).
async fn acked_all(js: &async_nats::jetstream::Context, stream: &str, durable: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        assert!(
            std::time::Instant::now() < deadline,
            "{durable} did not finish in 120 s"
        );
        if let Ok(mut s) = js.get_stream(stream).await {
            let last = s.info().await.map(|i| i.state.last_sequence).unwrap_or(0);
            if let Ok(info) = s.consumer_info(durable).await {
                if last > 0 && info.ack_floor.stream_sequence >= last && info.num_ack_pending == 0 {
                    return;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// `g6 ingest` draining a stream of 20 snapshots (400,000 contracts, 800 messages) into
/// Parquet, on a stream of 1 replica and one of 3 on a 3-node cluster: from the
/// process's start until its durable has acknowledged the last message (decode, store,
/// then acknowledge; `--store-flush 100ms`). Beside each, its raw baseline in the same
/// run: an async-nats pull consumer on the same stream taking and acknowledging every
/// message (no decode, no store: the transport's limit).
fn ingest_replicas(c: &mut Criterion) {
    let Some((_servers, urls)) = nats_cluster() else {
        eprintln!("bus_nats_ingest skipped: nats-server not installed");
        return;
    };
    let rt = runtime();
    let client = rt
        .block_on(async_nats::connect(urls.clone()))
        .expect("connect");
    let js = {
        let _inside = rt.enter();
        async_nats::jetstream::new(client)
    };
    let work = std::env::temp_dir().join(format!("g6-bench-ingest-{}", std::process::id()));
    let mut g = c.benchmark_group("bus_nats_ingest");
    g.sample_size(10);
    g.sampling_mode(criterion::SamplingMode::Flat);
    g.throughput(Throughput::Elements(INGEST_SNAPSHOTS * CONTRACTS as u64));
    let mut durable = 0u64;
    for n in [1usize, 3] {
        let stream = format!("G6_IN_R{n}");
        let prefix = format!("in{n}.chain");
        let bus = NatsBus::start(
            NatsConfig {
                servers: urls.clone(),
                stream: stream.clone(),
                subject_prefix: prefix.clone(),
                max_bytes: 1024 * 1024 * 1024,
                replicas: n,
                ..Default::default()
            },
            rt.handle(),
        )
        .expect("bus");
        let mut prebuilt: Vec<Arc<ChainMessage>> = messages().into_iter().map(Arc::new).collect();
        for _ in 0..INGEST_SNAPSHOTS {
            for m in prebuilt.iter_mut() {
                if let Some(m) = Arc::get_mut(m) {
                    m.snapshot_id += 1;
                }
            }
            bus.publish(&prebuilt);
            while bus.outbox().0 > 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        bus.close(Duration::from_secs(5));
        g.bench_function(format!("g6_ingest_to_parquet_r{n}"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    durable += 1;
                    let name = format!("bench{durable}");
                    let dir = work.join(&name);
                    let port = free_port().expect("port");
                    let t = std::time::Instant::now();
                    let mut child = Command::new(env!("CARGO_BIN_EXE_g6"))
                        .args(["ingest", "--bus", &urls.join(","), "--bus-stream", &stream])
                        .args(["--bus-subject-prefix", &prefix, "--durable", &name])
                        .args(["--store-flush", "100ms", "--listen"])
                        .arg(format!("127.0.0.1:{port}"))
                        .arg("--store")
                        .arg(format!("parquet:{}", dir.display()))
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .spawn()
                        .expect("g6 ingest");
                    rt.block_on(acked_all(&js, &stream, &name));
                    total += t.elapsed();
                    // SAFETY: a signal to our own child.
                    unsafe {
                        libc::kill(child.id() as i32, libc::SIGTERM);
                    }
                    let _ = child.wait();
                    let _ = std::fs::remove_dir_all(&dir);
                }
                total
            })
        });
        g.bench_function(format!("async_nats_pull_and_ack_r{n}"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    durable += 1;
                    let name = format!("raw{durable}");
                    let t = std::time::Instant::now();
                    rt.block_on(async {
                        use async_nats::jetstream::consumer::{pull, AckPolicy};
                        use futures_util::StreamExt as _;
                        let s = js.get_stream(&stream).await.expect("stream");
                        let want = s.cached_info().state.messages;
                        let consumer = s
                            .create_consumer(pull::Config {
                                durable_name: Some(name.clone()),
                                ack_policy: AckPolicy::Explicit,
                                max_ack_pending: 100_000,
                                ..Default::default()
                            })
                            .await
                            .expect("consumer");
                        let mut messages = consumer.messages().await.expect("pull");
                        let mut got = 0u64;
                        while got < want {
                            let m = messages.next().await.expect("open").expect("message");
                            m.ack().await.expect("ack");
                            got += 1;
                        }
                    });
                    rt.block_on(acked_all(&js, &stream, &name));
                    total += t.elapsed();
                }
                total
            })
        });
    }
    g.finish();
    let _ = std::fs::remove_dir_all(&work);
}

criterion_group!(benches, encoding, inproc, nats, replicas, ingest_replicas);
criterion_main!(benches);
