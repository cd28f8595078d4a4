//! NATS scaled out and secured, against real `nats-server`s on free loopback ports:
//! a 3-node JetStream cluster with a replicated stream survives losing its leader and
//! then a follower (every message stored once, publishing resumed within 10 s, two
//! ingesters sharing a durable store every row, each ingester once); two ingesters
//! started together
//! on a new durable both store rows at once; servers with users, a token, NKeys,
//! operator-signed JWT users (`.creds`) and TLS take the right credentials and refuse
//! the wrong ones at start with exit 2, naming them, without ever printing a secret.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use crate::common;
use crate::store_ingest::{stored, Ingest};

use common::nats::{self, Nats};
use common::prometheus::free_port;
use common::Server;
use g6_metrics::bus::message::ChainMessage;
use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A JetStream context on `url` whose requests give up after a second (a node of the
/// cluster may be down or electing).
async fn js(url: &str) -> Option<async_nats::jetstream::Context> {
    let client = async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(1))
        .connect(url)
        .await
        .ok()?;
    Some(
        async_nats::jetstream::ContextBuilder::new()
            .timeout(Duration::from_secs(1))
            .build(client),
    )
}

/// (last sequence, leader's server name) of `G6_CHAIN` as `url` answers, if it does.
fn stream_state(url: &str) -> Option<(u64, Option<String>)> {
    runtime().block_on(async {
        let js = js(url).await?;
        let mut s = js.get_stream("G6_CHAIN").await.ok()?;
        let info = s.info().await.ok()?;
        Some((
            info.state.last_sequence,
            info.cluster.as_ref().and_then(|c| c.leader.clone()),
        ))
    })
}

/// Every message of `G6_CHAIN`, by sequence: its `Nats-Msg-Id` and rows.
fn stream_ids(url: &str) -> Vec<(String, usize)> {
    runtime().block_on(async {
        let js = js(url).await.unwrap();
        let mut stream = js.get_stream("G6_CHAIN").await.unwrap();
        let state = stream.info().await.unwrap().state.clone();
        let mut out = Vec::new();
        for seq in state.first_sequence..=state.last_sequence {
            let m = stream.get_raw_message(seq).await.unwrap();
            let decoded = ChainMessage::from_bytes(&m.payload).unwrap();
            let id = m
                .headers
                .get("Nats-Msg-Id")
                .map(|v| v.to_string())
                .unwrap_or_default();
            assert_eq!(id, decoded.message_id(), "Nats-Msg-Id is the message key");
            out.push((id, decoded.contracts.len()));
        }
        out
    })
}

/// A 3-node JetStream cluster on loopback.
struct Cluster {
    nodes: Vec<Nats>,
}

impl Cluster {
    fn start(dir: &std::path::Path) -> Cluster {
        Cluster::start_tagged(dir, None)
    }

    /// With server tags (`server_tags` in a config file per node), one per node.
    fn start_tagged(dir: &std::path::Path, tags: Option<[&str; 3]>) -> Cluster {
        let client: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let route: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let nodes = (0..3)
            .map(|i| {
                let routes: Vec<String> = (0..3)
                    .filter(|j| *j != i)
                    .map(|j| format!("nats://127.0.0.1:{}", route[j]))
                    .collect();
                let mut args = vec![
                    "-n".to_string(),
                    format!("n{i}"),
                    "--cluster_name".into(),
                    "g6c".into(),
                    "--cluster".into(),
                    format!("nats://127.0.0.1:{}", route[i]),
                    "--routes".into(),
                    routes.join(","),
                ];
                let node = dir.join(format!("n{i}"));
                if let Some(tags) = tags {
                    std::fs::create_dir_all(&node).unwrap();
                    let conf = node.join("tags.conf");
                    std::fs::write(&conf, format!("server_tags: [\"{}\"]\n", tags[i])).unwrap();
                    args.push("-c".into());
                    args.push(conf.display().to_string());
                }
                Nats::start_with(&node, client[i], args, true)
            })
            .collect();
        Cluster { nodes }
    }

    fn urls(&self) -> String {
        self.nodes
            .iter()
            .map(Nats::url)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The state as the first running node answers it.
    fn state(&self) -> Option<(u64, Option<String>)> {
        self.nodes
            .iter()
            .filter(|n| n.running())
            .find_map(|n| stream_state(&n.url()))
    }

    /// Wait until JetStream answers in the cluster (its meta leader is elected).
    fn wait_js(&self) {
        let url = self.nodes[0].url();
        common::wait_until("JetStream in the cluster", Duration::from_secs(30), || {
            runtime().block_on(async {
                let Some(js) = js(&url).await else {
                    return false;
                };
                // "No such stream" is an answer: the meta leader is there.
                match js.get_stream("NONE").await {
                    Ok(_) => true,
                    Err(e) => matches!(
                        e.kind(),
                        async_nats::jetstream::context::GetStreamErrorKind::JetStream(_)
                    ),
                }
            })
        });
    }

    fn live_url(&self) -> String {
        self.nodes.iter().find(|n| n.running()).unwrap().url()
    }

    /// Wait until the stream has a leader and at least `seq` messages.
    fn wait_for(&self, seq: u64, timeout: Duration) -> (u64, String) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some((last, Some(leader))) = self.state() {
                if last >= seq {
                    return (last, leader);
                }
            }
            assert!(
                Instant::now() < deadline,
                "the stream did not reach {seq} messages with a leader: {:?}",
                self.state()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Kill -9 node `i`; how long until the stream has a leader on another node (the
    /// cluster's election), and until it grows again (publishing resumed).
    fn kill_and_time_resume(&mut self, i: usize) -> (Duration, Duration) {
        let before = self.wait_for(1, Duration::from_secs(10)).0;
        self.nodes[i].kill9();
        let killed = Instant::now();
        let name = format!("n{i}");
        let mut elected = None;
        let deadline = killed + Duration::from_secs(30);
        loop {
            match self.state() {
                Some((last, Some(leader))) if leader != name => {
                    let at = *elected.get_or_insert_with(|| killed.elapsed());
                    if last > before {
                        return (at, killed.elapsed());
                    }
                }
                _ => {}
            }
            assert!(
                Instant::now() < deadline,
                "the stream did not grow after n{i} was killed: {:?}",
                self.state()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// `g6_bus_publish_failures_total{bus="nats", bus_failure=reason}` of the serve at
/// `addr`.
fn failures(addr: &str, reason: &str) -> f64 {
    let m = common::parse_exposition(&common::http(addr, "GET", "/metrics", "").text());
    common::find_sample(
        &m,
        "g6_bus_publish_failures_total",
        &[("bus", "nats"), ("bus_failure", reason)],
    )
    .unwrap_or(0.0)
}

/// The `key=value` of the shutdown report of `bus` in serve's stderr.
fn report(stderr: &str, bus: &str, key: &str) -> u64 {
    let line = stderr
        .lines()
        .find(|l| l.contains("bus closed") && l.contains(&format!("bus=\"{bus}\"")))
        .unwrap_or_else(|| panic!("no shutdown report for {bus}:\n{stderr}"));
    let v = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key} in {line}"));
    v.trim_matches('"').parse().unwrap()
}

/// Wait for `g6 serve --cycles` to exit 0; its stderr.
fn serve_exit(server: &mut Server, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = server.child.try_wait() {
            let mut err = String::new();
            if let Some(mut e) = server.child.stderr.take() {
                use std::io::Read;
                let _ = e.read_to_string(&mut err);
            }
            assert!(status.success(), "g6 serve failed: {status}\n{err}");
            return err;
        }
        assert!(Instant::now() < deadline, "g6 serve did not finish");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
#[ignore = "needs nats-server; scripts/test.sh runs it"]
fn a_replicated_stream_loses_its_leader_and_a_follower_and_keeps_every_message_once_and_every_row_stored(
) {
    nats::require();
    let dir = common::temp_dir("nats_cluster");
    let mut cluster = Cluster::start(&dir);
    let urls = cluster.urls();
    cluster.wait_js();
    // A stream of one replica on three servers is warned about; asked for three, the
    // existing stream is updated and the log says so.
    let small = [
        "--bus-stream",
        "SMALL",
        "--bus-subject-prefix",
        "small.chain",
    ];
    let run = serve_two_cycles(&urls, &small, &[("RUST_LOG", "info")]);
    assert_published(&run, "one replica");
    assert!(
        run.1.contains("more servers than the stream has replicas"),
        "{}",
        run.1
    );
    let mut three = small.to_vec();
    three.extend(["--bus-replicas", "3"]);
    let run = serve_two_cycles(&urls, &three, &[("RUST_LOG", "info")]);
    assert_published(&run, "three replicas");
    assert!(run.1.contains("replicas 1 -> 3"), "{}", run.1);
    assert!(
        !run.1.contains("more servers than the stream has replicas"),
        "{}",
        run.1
    );
    let mut serve = Server::start(
        &[
            "--provider",
            "synthetic",
            "--index",
            "NIFTY",
            "--interval",
            "200ms",
            "--cycles",
            "110",
            "--bus",
            &urls,
            "--bus-replicas",
            "3",
            "--bus-ack-timeout",
            "2s",
            "--store",
            "none",
        ],
        &[("RUST_LOG", "info")],
    );
    let (a, b) = (dir.join("ingest-a"), dir.join("ingest-b"));
    let first = Ingest::start_with(&urls, &a, "ing", &[]);
    let second = Ingest::start_with(&urls, &b, "ing", &[]);

    // The leader goes: publishing resumes within 10 s of the kill.
    let (_, leader) = cluster.wait_for(20, Duration::from_secs(60));
    let i: usize = leader.trim_start_matches('n').parse().unwrap();
    let (elected, resumed) = cluster.kill_and_time_resume(i);
    assert!(
        resumed < Duration::from_secs(10),
        "publishing resumed {resumed:?} after the leader was killed"
    );
    // No longer than the election plus one retry (a cycle is 200 ms, a retry 250 ms).
    assert!(
        resumed <= elected + Duration::from_secs(2),
        "publishing resumed {resumed:?} after the kill, the new leader was there after {elected:?}"
    );
    assert!(
        failures(&serve.addr, "failover") > 0.0,
        "the election is counted as a failover"
    );
    // It comes back (3 nodes again), then a follower goes.
    cluster.nodes[i].restart();
    let (_, leader) = cluster.wait_for(1, Duration::from_secs(30));
    std::thread::sleep(Duration::from_secs(2)); // the restarted node catches up
    let follower = (0..3)
        .find(|j| format!("n{j}") != leader && *j != i)
        .unwrap();
    let (_, resumed) = cluster.kill_and_time_resume(follower);
    assert!(
        resumed < Duration::from_secs(10),
        "publishing resumed {resumed:?} after a follower was killed"
    );
    cluster.nodes[follower].restart();

    let stderr = serve_exit(&mut serve, Duration::from_secs(120));
    let produced = report(&stderr, "inproc", "published");
    assert_eq!(report(&stderr, "nats", "published"), produced, "{stderr}");
    assert_eq!(report(&stderr, "nats", "dropped"), 0, "{stderr}");
    // Every message of every snapshot is in the stream exactly once.
    let stored_ids = stream_ids(&cluster.live_url());
    let distinct: BTreeSet<&String> = stored_ids.iter().map(|(id, _)| id).collect();
    assert_eq!(distinct.len(), stored_ids.len(), "a message stored twice");
    assert_eq!(stored_ids.len() as u64, produced, "every message stored");
    let rows: usize = stored_ids.iter().map(|(_, n)| n).sum();

    // The two ingesters sharing the durable store every row once between them.
    let live = cluster.live_url();
    common::wait_until(
        "the durable consumer drained",
        Duration::from_secs(60),
        || nats::try_consumer_state(&live, "ing") == Some((0, 0)),
    );
    first.stop();
    second.stop();
    // Each ingester stores a row once; between them every row is stored. A message
    // one of them stored whose acknowledgement the dying consumer leader had not yet
    // replicated is delivered again, possibly to the other: across ingesters Parquet
    // holds such a row twice (ClickHouse's FINAL merges it), so that is not asserted.
    let (in_a, in_b) = (stored(&a), stored(&b));
    let sa: BTreeSet<_> = in_a.iter().collect();
    let sb: BTreeSet<_> = in_b.iter().collect();
    assert_eq!(sa.len(), in_a.len(), "an ingester stored a row twice");
    assert_eq!(sb.len(), in_b.len(), "an ingester stored a row twice");
    let union: BTreeSet<_> = sa.union(&sb).collect();
    assert!(
        !sa.is_empty() && !sb.is_empty(),
        "both ingesters stored rows: {} and {}",
        sa.len(),
        sb.len()
    );
    assert_eq!(union.len(), rows, "every row stored");
}

/// A synthetic `g6 serve` publishing every 100 ms to `cluster` with the bus options
/// `bus` (replicas, placement), waited on until the stream holds `messages`.
fn serve_publishing_to(cluster: &Cluster, bus: &[&str], messages: u64) -> Server {
    let url = cluster.urls();
    let mut args = vec![
        "--provider",
        "synthetic",
        "--interval",
        "100ms",
        "--bus",
        &url,
        "--store",
        "none",
    ];
    args.extend_from_slice(bus);
    let serve = Server::start(&args, &[]);
    cluster.wait_for(messages, Duration::from_secs(30));
    serve
}

/// A 3-node cluster (its client URLs) with a synthetic `g6 serve` publishing every
/// 100 ms to a stream of 3 replicas, which holds 10 messages by now.
fn cluster_with_serve(dir: &std::path::Path) -> (Cluster, String, Server) {
    let cluster = Cluster::start(dir);
    cluster.wait_js();
    let serve = serve_publishing_to(&cluster, &["--bus-replicas", "3"], 10);
    let url = cluster.urls();
    (cluster, url, serve)
}

#[test]
#[ignore = "needs nats-server; scripts/test.sh runs it"]
fn two_ingesters_started_together_on_a_new_durable_both_store_rows_within_5s() {
    nats::require();
    let dir = common::temp_dir("nats_two_ingesters");
    // On a cluster, where the consumer's replicas elect a leader after it is created.
    let (_cluster, url, _serve) = cluster_with_serve(&dir);
    let (a, b) = (dir.join("a"), dir.join("b"));
    let started = Instant::now();
    let first = Ingest::start_with(&url, &a, "pair", &[]);
    let second = Ingest::start_with(&url, &b, "pair", &[]);
    common::wait_until(
        "both ingesters stored rows",
        Duration::from_secs(5).saturating_sub(started.elapsed()),
        || !stored(&a).is_empty() && !stored(&b).is_empty(),
    );
    first.stop();
    second.stop();
}

/// `g6 ARGS` to its end (a refused start ends at once): (exit code, stdout+stderr).
fn g6(args: &[&str], envs: &[(&str, &str)]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_g6"))
        .args(args)
        .env_remove("G6_BUS_PASSWORD")
        .env_remove("G6_BUS_TOKEN")
        .envs(envs.iter().copied())
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code(), text)
}

/// `g6 serve` for two cycles against `bus` with `extra` options: (exit code, output).
fn serve_two_cycles(bus: &str, extra: &[&str], envs: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut args = vec![
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--interval",
        "100ms",
        "--cycles",
        "2",
        "--store",
        "none",
        "--bus",
        bus,
    ];
    args.extend_from_slice(extra);
    g6(&args, envs)
}

/// It worked: exit 0 and the stream acknowledged what was published.
fn assert_published(run: &(Option<i32>, String), what: &str) {
    assert_eq!(run.0, Some(0), "{what}: {}", run.1);
    assert!(report(&run.1, "nats", "published") > 0, "{what}: {}", run.1);
}

/// It was refused at start: exit 2 with `message`.
fn assert_refused(run: &(Option<i32>, String), message: &str, what: &str) {
    assert_eq!(run.0, Some(2), "{what}: {}", run.1);
    assert!(
        run.1.contains(message),
        "{what}: no {message:?} in {}",
        run.1
    );
}

#[test]
#[ignore = "needs nats-server; scripts/test.sh runs it"]
fn users_tokens_and_tls_take_the_right_credentials_and_refuse_the_wrong_ones_naming_them() {
    nats::require();
    let dir = common::temp_dir("nats_security");
    let password = "pa/ss w0rd-Secret1";
    let token = "tok-Secret2";
    // A server with a user.
    std::fs::create_dir_all(&dir).unwrap();
    let users = Nats::start_configured(
        &dir,
        "users",
        &format!("authorization {{ users = [ {{ user: g6, password: \"{password}\" }} ] }}\n"),
    );
    // A server with a token.
    let tokens = Nats::start_with(
        &dir.join("token"),
        free_port(),
        vec!["--auth".into(), token.into()],
        false,
    );
    // A server with TLS, its certificate signed by a CA made here; another CA it does
    // not know.
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let other_key = rcgen::KeyPair::generate().unwrap();
    let mut other_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    other_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "a CA the server does not use");
    other_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let other = rcgen::CertifiedIssuer::self_signed(other_params, other_key).unwrap();
    let server_key = rcgen::KeyPair::generate().unwrap();
    let server_cert = rcgen::CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])
        .unwrap()
        .signed_by(&server_key, &ca)
        .unwrap();
    let file = |name: &str, text: String| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let ca_pem = file("ca.pem", ca.pem());
    let other_pem = file("other-ca.pem", other.pem());
    let cert_pem = file("server.pem", server_cert.pem());
    let key_pem = file("server-key.pem", server_key.serialize_pem());
    let tls = Nats::start_configured(
        &dir,
        "tls",
        &format!("tls {{ cert_file: \"{cert_pem}\", key_file: \"{key_pem}\" }}\n"),
    );
    let mut outputs = Vec::new();

    // User and password: in the URL (a `/` and a space percent-encoded), from a file,
    // from the environment.
    let encoded = "pa%2Fss%20w0rd-Secret1";
    let in_url = format!("nats://g6:{encoded}@127.0.0.1:{}", users.port);
    let run = serve_two_cycles(&in_url, &[], &[]);
    assert_published(&run, "password in the URL");
    outputs.push(run.1);
    let password_file = file("password", format!("{password}\n"));
    let run = serve_two_cycles(
        &users.url(),
        &["--bus-user", "g6", "--bus-password-file", &password_file],
        &[],
    );
    assert_published(&run, "--bus-password-file");
    outputs.push(run.1);
    let run = g6(
        &[
            "tail",
            "--bus",
            &users.url(),
            "--bus-user",
            "g6",
            "--all",
            "--count",
            "1",
        ],
        &[("G6_BUS_PASSWORD", password)],
    );
    assert_eq!(run.0, Some(0), "tail with G6_BUS_PASSWORD: {}", run.1);
    assert!(
        run.1.contains("NIFTY") || run.1.contains("BANKNIFTY"),
        "{}",
        run.1
    );
    outputs.push(run.1);
    // A wrong password is refused at start by serve, tail and ingest, naming it; the
    // log at debug level shows no secret either.
    let wrong = format!("nats://g6:Wrong-Secret3@127.0.0.1:{}", users.port);
    let run = serve_two_cycles(&wrong, &[], &[("RUST_LOG", "debug")]);
    assert_refused(&run, "refused the user/password", "serve, wrong password");
    outputs.push(run.1);
    let run = g6(&["tail", "--bus", &wrong, "--count", "1"], &[]);
    assert_refused(&run, "refused the user/password", "tail, wrong password");
    outputs.push(run.1);
    let ingest_dir = dir.join("ingest").display().to_string();
    let run = g6(
        &[
            "ingest",
            "--bus",
            &wrong,
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            &ingest_dir,
        ],
        &[],
    );
    assert_refused(&run, "refused the user/password", "ingest, wrong password");
    outputs.push(run.1);
    let run = serve_two_cycles(&users.url(), &[], &[]);
    assert_refused(&run, "requires credentials", "serve, no credentials");

    // A token.
    let run = serve_two_cycles(&tokens.url(), &["--bus-token", token], &[]);
    assert_published(&run, "--bus-token");
    outputs.push(run.1);
    let run = serve_two_cycles(&tokens.url(), &[], &[("G6_BUS_TOKEN", "Wrong-Secret4")]);
    assert_refused(&run, "refused the token", "serve, wrong token");
    outputs.push(run.1);

    // TLS: the CA that signed the server's certificate is trusted, another is not.
    let tls_url = format!("tls://127.0.0.1:{}", tls.port);
    let run = serve_two_cycles(&tls_url, &["--bus-tls-ca", &ca_pem], &[]);
    assert_published(&run, "tls:// with its CA");
    let query = format!("nats://127.0.0.1:{}?tls=true", tls.port);
    let run = serve_two_cycles(&query, &["--bus-tls-ca", &ca_pem], &[]);
    assert_published(&run, "?tls=true with its CA");
    let run = serve_two_cycles(&tls_url, &["--bus-tls-ca", &other_pem], &[]);
    assert_refused(&run, "not trusted", "serve, untrusted CA");
    let run = g6(
        &[
            "tail",
            "--bus",
            &tls_url,
            "--bus-tls-ca",
            &other_pem,
            "--count",
            "1",
        ],
        &[],
    );
    assert_refused(&run, "not trusted", "tail, untrusted CA");

    for out in &outputs {
        for secret in [password, encoded, token, "Wrong-Secret3", "Wrong-Secret4"] {
            assert!(!out.contains(secret), "{secret:?} printed:\n{out}");
        }
    }
}

#[test]
#[ignore = "needs nats-server; scripts/test.sh runs it"]
fn credentials_refused_while_running_are_counted_as_auth_not_unreachable() {
    nats::require();
    let dir = common::temp_dir("nats_auth_runtime");
    let users = |password: &str| {
        format!("authorization {{ users = [ {{ user: g6, password: \"{password}\" }} ] }}\n")
    };
    let server = Nats::start_configured(&dir, "nats", &users("first-Secret5"));
    // Rewritten below, then reloaded.
    let conf = dir.join("nats.conf");
    let url = format!("nats://g6:first-Secret5@127.0.0.1:{}", server.port);
    let serve = Server::start(
        &["--interval", "100ms", "--bus", &url, "--store", "none"],
        &[],
    );
    common::wait_until("publishing", Duration::from_secs(20), || {
        let m = common::parse_exposition(&common::http(&serve.addr, "GET", "/metrics", "").text());
        common::find_sample(
            &m,
            "g6_bus_events_published_total",
            &[("bus", "nats"), ("topic", "chain")],
        )
        .is_some_and(|v| v > 0.0)
    });
    // The password changes on the server: g6's connection is closed and its
    // reconnects are refused.
    std::fs::write(&conf, users("second-Secret6")).unwrap();
    server.reload();
    common::wait_until("auth failures counted", Duration::from_secs(20), || {
        failures(&serve.addr, "auth") > 0.0
    });
    assert_eq!(
        failures(&serve.addr, "unreachable"),
        0.0,
        "a refused reconnect is not an unreachable server"
    );
    let status = serve.terminate();
    assert!(status.success(), "{status}");
}

/// A CA made here: (issuer, its certificate's PEM).
fn test_ca(name: &str) -> rcgen::CertifiedIssuer<'static, rcgen::KeyPair> {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    rcgen::CertifiedIssuer::self_signed(params, rcgen::KeyPair::generate().unwrap()).unwrap()
}

/// A certificate for `names` signed by `ca`, written as `stem.pem` and `stem-key.pem`
/// under `dir`: their paths.
fn signed_cert(
    dir: &std::path::Path,
    stem: &str,
    names: &[&str],
    ca: &rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
) -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let cert = rcgen::CertificateParams::new(names)
        .unwrap()
        .signed_by(&key, ca)
        .unwrap();
    let (c, k) = (
        dir.join(format!("{stem}.pem")),
        dir.join(format!("{stem}-key.pem")),
    );
    std::fs::write(&c, cert.pem()).unwrap();
    std::fs::write(&k, key.serialize_pem()).unwrap();
    (c.display().to_string(), k.display().to_string())
}

#[test]
#[ignore = "needs nats-server; scripts/test.sh runs it"]
fn nkeys_and_client_certificates_are_presented_and_a_refused_one_is_named() {
    nats::require();
    let dir = common::temp_dir("nats_nkey_mtls");
    std::fs::create_dir_all(&dir).unwrap();
    // A server whose only user is an NKey.
    let user = nkeys::KeyPair::new_user();
    let server = Nats::start_configured(
        &dir,
        "nkey",
        &format!(
            "authorization {{ users = [ {{ nkey: \"{}\" }} ] }}\n",
            user.public_key()
        ),
    );
    let seed = dir.join("user.nk");
    std::fs::write(&seed, user.seed().unwrap() + "\n").unwrap();
    let run = serve_two_cycles(
        &server.url(),
        &["--bus-nkey", &seed.display().to_string()],
        &[],
    );
    assert_published(&run, "--bus-nkey");
    let stranger = dir.join("stranger.nk");
    std::fs::write(&stranger, nkeys::KeyPair::new_user().seed().unwrap()).unwrap();
    let run = serve_two_cycles(
        &server.url(),
        &["--bus-nkey", &stranger.display().to_string()],
        &[],
    );
    assert_refused(&run, "refused the nkey", "serve, unknown nkey");
    assert!(!run.1.contains(&user.seed().unwrap()), "{}", run.1);

    // A server that verifies client certificates against its CA.
    let ca = test_ca("g6 test CA");
    let ca_pem = dir.join("ca.pem");
    std::fs::write(&ca_pem, ca.pem()).unwrap();
    let ca_pem = ca_pem.display().to_string();
    let (cert, key) = signed_cert(&dir, "server", &["127.0.0.1", "localhost"], &ca);
    let (client, client_key) = signed_cert(&dir, "client", &["g6"], &ca);
    let mtls = Nats::start_configured(
        &dir,
        "mtls",
        &format!(
            "tls {{ cert_file: \"{cert}\", key_file: \"{key}\", ca_file: \"{ca_pem}\", verify: true }}\n"
        ),
    );
    let url = format!("tls://127.0.0.1:{}", mtls.port);
    let run = serve_two_cycles(
        &url,
        &[
            "--bus-tls-ca",
            &ca_pem,
            "--bus-tls-cert",
            &client,
            "--bus-tls-key",
            &client_key,
        ],
        &[],
    );
    assert_published(&run, "client certificate");
    let run = serve_two_cycles(&url, &["--bus-tls-ca", &ca_pem], &[]);
    assert_refused(
        &run,
        "TLS client certificate",
        "serve, no client certificate",
    );
}

/// A NATS JWT of `claims` (their `iss` is `issuer`'s public key), signed by `issuer`:
/// `base64url(header).base64url(claims).base64url(ed25519 signature)`, the format
/// nats-server's operator mode reads.
fn jwt(issuer: &nkeys::KeyPair, mut claims: serde_json::Value) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    claims["iss"] = issuer.public_key().into();
    claims["iat"] = 1_700_000_000u64.into();
    claims["jti"] = format!("G6TEST{}", claims["sub"].as_str().unwrap_or_default()).into();
    let header = b64.encode(r#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let body = b64.encode(claims.to_string());
    let signed = format!("{header}.{body}");
    let signature = issuer.sign(signed.as_bytes()).unwrap();
    format!("{signed}.{}", b64.encode(signature))
}

/// An account JWT signed by `operator`, with JetStream on (`jetstream`) or off (the
/// system account may not have it).
fn account_jwt(
    operator: &nkeys::KeyPair,
    account: &nkeys::KeyPair,
    name: &str,
    jetstream: bool,
) -> String {
    let storage = if jetstream { -1 } else { 0 };
    jwt(
        operator,
        serde_json::json!({
            "sub": account.public_key(),
            "name": name,
            "nats": {
                "limits": {
                    "subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
                    "wildcards": true, "conn": -1, "leaf": -1,
                    "mem_storage": storage, "disk_storage": storage,
                    "streams": storage, "consumer": storage
                },
                "type": "account",
                "version": 2
            }
        }),
    )
}

/// A `.creds` file for a new user of `account`: its JWT and its seed.
fn creds(account: &nkeys::KeyPair, name: &str) -> (String, String) {
    let user = nkeys::KeyPair::new_user();
    let token = jwt(
        account,
        serde_json::json!({
            "sub": user.public_key(),
            "name": name,
            "nats": {
                "pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1,
                "type": "user", "version": 2
            }
        }),
    );
    let seed = user.seed().unwrap();
    (
        format!(
            "-----BEGIN NATS USER JWT-----\n{token}\n------END NATS USER JWT------\n\n\
             -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n"
        ),
        seed,
    )
}

#[test]
#[ignore = "needs nats-server; scripts/test.sh runs it"]
fn a_creds_file_of_an_operator_signed_user_is_presented_and_one_of_an_unknown_account_is_refused_naming_it(
) {
    nats::require();
    let dir = common::temp_dir("nats_creds");
    std::fs::create_dir_all(&dir).unwrap();
    // Operator mode: the operator signs the accounts, an account signs its users, and
    // the server trusts the operator and knows the accounts from a memory resolver.
    let operator = nkeys::KeyPair::new_operator();
    let account = nkeys::KeyPair::new_account();
    let system = nkeys::KeyPair::new_account();
    let operator_jwt = jwt(
        &operator,
        serde_json::json!({
            "sub": operator.public_key(),
            "name": "g6-test",
            "nats": { "system_account": system.public_key(), "type": "operator", "version": 2 }
        }),
    );
    let operator_file = dir.join("operator.jwt");
    std::fs::write(&operator_file, &operator_jwt).unwrap();
    let server = Nats::start_configured(
        &dir,
        "server",
        &format!(
            "operator: \"{}\"\nsystem_account: {}\nresolver: MEMORY\nresolver_preload: {{\n  {}: \"{}\"\n  {}: \"{}\"\n}}\n",
            operator_file.display(),
            system.public_key(),
            account.public_key(),
            account_jwt(&operator, &account, "G6", true),
            system.public_key(),
            account_jwt(&operator, &system, "SYS", false),
        ),
    );
    // `g6 serve` with `--bus-creds FILE` holding `text`.
    let serve_with = |file: &str, text: &str| {
        let path = dir.join(file);
        std::fs::write(&path, text).unwrap();
        serve_two_cycles(
            &server.url(),
            &["--bus-creds", &path.display().to_string()],
            &[],
        )
    };
    let (text, seed) = creds(&account, "g6");
    let run = serve_with("g6.creds", &text);
    assert_published(&run, "--bus-creds");
    assert!(
        !run.1.contains(&seed),
        "the seed is never printed: {}",
        run.1
    );

    // A user signed by an account the server does not know.
    let (text, seed) = creds(&nkeys::KeyPair::new_account(), "stranger");
    let run = serve_with("stranger.creds", &text);
    assert_refused(
        &run,
        "refused the creds file",
        "serve, a user of an unknown account",
    );
    assert!(
        !run.1.contains(&seed),
        "the seed is never printed: {}",
        run.1
    );

    // Not a creds file at all: a usage error naming it, before connecting.
    let run = serve_with("junk.creds", "not a creds file\n");
    assert_refused(&run, "junk.creds", "serve, not a creds file");
}

/// The replicas of durable `durable` of `G6_CHAIN`, as the first node that answers
/// says (0: it follows the stream's).
fn consumer_replicas(cluster_urls: &str, durable: &str) -> Option<usize> {
    runtime().block_on(async {
        for url in cluster_urls.split(',') {
            let Some(js) = js(url).await else { continue };
            let Ok(s) = js.get_stream("G6_CHAIN").await else {
                continue;
            };
            if let Ok(info) = s.consumer_info(durable).await {
                return Some(info.config.num_replicas);
            }
        }
        None
    })
}

#[test]
#[ignore = "needs nats-server; scripts/test.sh runs it"]
fn an_existing_durable_takes_the_replicas_consumer_replicas_asks_for() {
    nats::require();
    let dir = common::temp_dir("nats_consumer_replicas");
    let (_cluster, url, _serve) = cluster_with_serve(&dir);
    let data = dir.join("a");
    let first = Ingest::start_with(&url, &data, "grow", &["--consumer-replicas", "1"]);
    common::wait_until(
        "the first ingester stored rows",
        Duration::from_secs(20),
        || !stored(&data).is_empty(),
    );
    first.stop();
    assert_eq!(
        consumer_replicas(&url, "grow"),
        Some(1),
        "made with one replica"
    );
    // The same durable again, asking for three: reconciled, and it still delivers.
    let before = stored(&data).len();
    let second = Ingest::start_with(&url, &data, "grow", &["--consumer-replicas", "3"]);
    common::wait_until(
        "the durable has 3 replicas",
        Duration::from_secs(20),
        || consumer_replicas(&url, "grow") == Some(3),
    );
    common::wait_until(
        "the second ingester stored rows",
        Duration::from_secs(20),
        || stored(&data).len() > before,
    );
    second.stop();
    let log = std::fs::read_to_string(data.with_extension("log")).unwrap_or_default();
    assert!(log.contains("durable grow: replicas 1 -> 3"), "{log}");
}

#[test]
#[ignore = "needs nats-server; scripts/test.sh runs it"]
fn placement_tags_put_the_stream_on_the_tagged_server() {
    nats::require();
    let dir = common::temp_dir("nats_placement");
    let cluster = Cluster::start_tagged(&dir, Some(["az:a", "az:b", "az:c"]));
    cluster.wait_js();
    let _serve = serve_publishing_to(
        &cluster,
        &["--bus-replicas", "1", "--bus-placement-tags", "az:c"],
        5,
    );
    // One replica, on the only server tagged az:c (n2), with the tags in its config.
    let (leader, tags) = runtime().block_on(async {
        let js = js(&cluster.nodes[0].url()).await.unwrap();
        let mut s = js.get_stream("G6_CHAIN").await.unwrap();
        let info = s.info().await.unwrap();
        (
            info.cluster.as_ref().and_then(|c| c.leader.clone()),
            info.config.placement.as_ref().map(|p| p.tags.clone()),
        )
    });
    assert_eq!(leader.as_deref(), Some("n2"));
    assert_eq!(tags, Some(vec!["az:c".to_string()]));
}
