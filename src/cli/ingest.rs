//! `g6 ingest`: the store writer as a process of its own, fed by a JetStream durable
//! consumer, so ingestion scales out (several ingesters sharing one durable name
//! split the messages) independently of the collectors. A message is acknowledged only
//! after its rows are stored; while the store fails, the backlog holds the rows and,
//! at its bound, the consumer stops pulling (the stream keeps the rest). A message that
//! is not a chain message is counted as this subscriber's loss (`undecodable`), its
//! delivery terminated, and logged at most once a minute.

use super::options::{parse_listen, StoreOption};
use super::{parse_duration, parse_size_or_zero, BusOptions, EXIT_USAGE};
use crate::bus::message::ChainMessage;
use crate::store::{Writer, WriterConfig};
use async_nats::jetstream::{self, consumer};
use futures_util::StreamExt as _;
use std::collections::{HashSet, VecDeque};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Options of `g6 ingest`.
#[derive(Debug, clap::Args)]
pub struct IngestOptions {
    /// NATS server (nats://HOST:PORT, comma-separated for a cluster).
    #[arg(long, value_parser = super::options::Redacted(super::options::parse_nats))]
    bus: crate::bus::nats::NatsServers,
    #[command(flatten)]
    bus_options: BusOptions,
    /// Durable consumer name; ingesters sharing it split the messages.
    #[arg(long, default_value = "g6-ingest", value_parser = consumer_name)]
    durable: String,
    /// Replicas of the durable consumer (0: as many as the stream has).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=5))]
    consumer_replicas: u8,
    /// Where rows go: parquet (files under --data-dir), parquet:DIR, or
    /// clickhouse://HOST:8123/DB (the HTTP port).
    #[arg(long, default_value = "parquet", value_parser = super::options::Redacted(super::options::parse_store))]
    store: StoreOption,
    /// Directory of the Parquet store.
    #[arg(long, default_value = "./g6-data")]
    data_dir: std::path::PathBuf,
    /// Longest time rows wait in memory before they are written and acknowledged.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    store_flush: Duration,
    /// Most rows held while the store fails; at the bound the consumer stops pulling.
    #[arg(long, default_value_t = 5_000_000)]
    store_backlog_rows: usize,
    /// Delete stored files older than this.
    #[arg(long, default_value = "7d", value_parser = parse_duration)]
    retain: Duration,
    /// Most files one retention run deletes.
    #[arg(long, default_value_t = 1000)]
    delete_cap: usize,
    /// Time between retention runs.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    lifecycle_every: Duration,
    /// Merge a partition's Parquet files smaller than this into one (0 turns
    /// compaction off).
    #[arg(long, default_value = "16MiB", value_parser = parse_size_or_zero)]
    compact_below: u64,
    /// Only files last written longer ago than this are merged.
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    compact_after: Duration,
    /// Address of this ingester's /metrics: HOST:PORT, or :PORT for every interface.
    #[arg(long, default_value = "127.0.0.1:9110", value_parser = parse_listen)]
    listen: std::net::SocketAddr,
    /// TLS and basic authentication for the HTTP server: a Prometheus exporter web
    /// configuration file (tls_server_config, basic_auth_users; README, "Securing the
    /// exporter").
    #[arg(long, value_name = "FILE")]
    web_config: Option<std::path::PathBuf>,
}

/// `--durable`, checked as a JetStream consumer name.
fn consumer_name(s: &str) -> Result<String, String> {
    crate::bus::nats::check_consumer_name(s).map(|()| s.to_string())
}

/// How long one pull request waits on the server.
const PULL_EXPIRES: Duration = Duration::from_secs(5);

/// Idle heartbeat asked of the server during a pull: two missed mean the pull is lost.
const PULL_HEARTBEAT: Duration = Duration::from_secs(1);

/// Create the durable consumer, or bind to it when it exists (another ingester may be
/// creating it at the same moment: a create that loses that race binds instead).
async fn bind_consumer(
    stream: &jetstream::stream::Stream,
    durable: &str,
    config: consumer::pull::Config,
) -> Result<consumer::PullConsumer, jetstream::stream::ConsumerError> {
    let replicas = config.num_replicas;
    let mut consumer = match stream.get_or_create_consumer(durable, config).await {
        Ok(c) => c,
        Err(e) => match stream.get_consumer(durable).await {
            Ok(c) => c,
            Err(_) => return Err(e),
        },
    };
    // An existing durable keeps the replicas it was made with: reconcile them with
    // --consumer-replicas (0 follows the stream, nothing to change).
    let had = consumer.cached_info().config.num_replicas;
    if replicas > 0 && had != replicas {
        let mut changed = consumer.cached_info().config.clone();
        changed.num_replicas = replicas;
        let updated = match stream.update_consumer::<consumer::Config>(changed).await {
            Ok(_) => stream
                .get_consumer(durable)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match updated {
            Ok(c) => {
                eprintln!("g6 ingest: durable {durable}: replicas {had} -> {replicas}");
                consumer = c;
            }
            // The consumer still works with its old replicas: say so and go on.
            Err(e) => tracing::warn!(
                durable,
                had,
                wanted = replicas,
                error = %e,
                "cannot change the durable consumer's replicas; it keeps its own"
            ),
        }
    }
    // A replicated consumer just created has no leader for a moment, and a pull sent
    // then is never answered: wait (briefly) for the leader first.
    for _ in 0..30 {
        let leader = consumer
            .cached_info()
            .cluster
            .as_ref()
            .map(|c| c.leader.is_some());
        if leader != Some(false) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let _ = tokio::time::timeout(Duration::from_secs(1), consumer.info()).await;
    }
    Ok(consumer)
}

/// Keys remembered to acknowledge a redelivered message without storing it twice.
const SEEN_KEYS: usize = 200_000;

/// Run `g6 ingest`.
pub fn run(opts: IngestOptions) -> ExitCode {
    super::init_logging();
    // A file-size limit must fail a write (EFBIG, counted), not kill the process.
    // SAFETY: setting a signal's disposition to ignore has no other effect.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    let servers = opts.bus.0.clone();
    // Read before anything else: a bad file is a usage error and nothing is written.
    let web = match super::web_config(opts.web_config.as_deref()) {
        Ok(w) => w,
        Err(code) => return code,
    };
    // Listen before anything is written: a start that fails (the port taken) makes no
    // directory and opens no store.
    let listener = match crate::app::bind(opts.listen) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let target = opts.store.resolve(&opts.data_dir);
    let parquet_dir = target.parquet_dir().map(std::path::Path::to_path_buf);
    let mut app = match crate::app::App::builder("ingest").build() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    if let Some(web) = web {
        app.with_web_config(web);
    }
    let store = match target.open_on(Some(app.runtime().handle().clone())) {
        Ok(Some(s)) => s,
        Ok(None) => {
            eprintln!("error: --store none: ingest needs a store (parquet, parquet:DIR or clickhouse://HOST:PORT/DB)");
            return ExitCode::from(EXIT_USAGE);
        }
        Err(e) => {
            eprintln!("error: --store: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    if let Err(e) = crate::init() {
        eprintln!("error: {e}");
        return ExitCode::from(1);
    }
    // At zero from the start, so a rate or an alert on it has a series to read.
    undecodable(&opts.durable).inc_by(0);
    let writer: Writer<jetstream::Message> = Writer::new(
        store,
        WriterConfig {
            flush_every: opts.store_flush,
            backlog_rows: opts.store_backlog_rows.max(1),
            drop_oldest: false,
            ..Default::default()
        },
    );
    app.status_line(format!(
        "g6 ingest: {} from stream {} on {} (durable {}), flushed every {}",
        writer.describe(),
        opts.bus_options.bus_stream,
        crate::bus::nats::shown(&servers),
        opts.durable,
        humantime::format_duration(opts.store_flush)
    ));
    let lifecycle = parquet_dir.as_deref().map(|dir| {
        crate::store::lifecycle::Lifecycle::new(
            dir,
            opts.retain,
            opts.delete_cap,
            opts.lifecycle_every,
        )
        .with_compaction(opts.compact_below, opts.compact_after)
    });
    let server = match app.spawn_http(
        listener,
        crate::exporter::Limits::default(),
        std::future::pending(),
    ) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let stop = app.stop().clone();
    let code = app.runtime().block_on(async move {
        // The ingest loop handles SIGINT/SIGTERM itself: it stores and acknowledges
        // what it holds before it returns.
        let code = ingest(&opts, servers, writer, lifecycle).await;
        stop.stop();
        let _ = server.await;
        code
    });
    app.finish(Duration::from_secs(5));
    code
}

async fn ingest(
    opts: &IngestOptions,
    servers: Vec<String>,
    mut writer: Writer<jetstream::Message>,
    mut lifecycle: Option<crate::store::lifecycle::Lifecycle>,
) -> ExitCode {
    let shown = crate::bus::nats::shown(&servers);
    let mut shutdown = Box::pin(crate::exporter::shutdown_signal());
    let security = match opts.bus_options.security() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: --bus: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let client = match crate::bus::nats::connect_consumer("g6 ingest", servers, &security).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {}", e.message);
            return ExitCode::from(if e.refused { EXIT_USAGE } else { 1 });
        }
    };
    let js = jetstream::new(client);
    let name = &opts.bus_options.bus_stream;
    let mut seen: HashSet<String> = HashSet::new();
    // Ids of the messages in the backlog.
    let mut waiting: HashSet<String> = HashSet::new();
    let mut last_progress = Instant::now();
    let mut order: VecDeque<String> = VecDeque::new();
    let mut waiting_said = false;
    // Garbage on the stream comes in runs: one line, then one a minute with a count.
    let mut undecodable_log = crate::runtime::emission::LogLimiter::default();
    // Acknowledgements must not run out before a flush has stored the rows.
    let ack_wait = opts.store_flush * 3 + Duration::from_secs(30);
    let mut refusals = 0u32;
    loop {
        let stream = match js.get_stream(name).await {
            Ok(s) => s,
            Err(e) => {
                if !waiting_said {
                    eprintln!("g6 ingest: waiting for stream {name} on {shown} ({e})");
                    waiting_said = true;
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    _ = &mut shutdown => {
                        let stored = tokio::task::block_in_place(|| writer.close());
                        ack_all(stored, &mut seen, &mut order).await;
                        return ExitCode::SUCCESS;
                    }
                }
                continue;
            }
        };
        let config = consumer::pull::Config {
            durable_name: Some(opts.durable.clone()),
            filter_subject: format!("{}.>", opts.bus_options.bus_subject_prefix),
            ack_policy: consumer::AckPolicy::Explicit,
            deliver_policy: consumer::DeliverPolicy::All,
            ack_wait,
            max_ack_pending: 100_000,
            num_replicas: usize::from(opts.consumer_replicas),
            ..Default::default()
        };
        let consumer = match bind_consumer(&stream, &opts.durable, config).await {
            Ok(c) => c,
            Err(e) => {
                if let jetstream::stream::ConsumerErrorKind::JetStream(j) = e.kind() {
                    refusals += 1;
                    // Another ingester creating the same durable at this moment gets
                    // the same answer a moment later: only a refusal that stays is one.
                    if refusals >= 5 {
                        eprintln!(
                            "error: the server refused the durable consumer {} on {name}: {j}",
                            opts.durable
                        );
                        return ExitCode::from(1);
                    }
                }
                tracing::warn!(error = %e, "cannot create or bind the consumer; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    _ = &mut shutdown => {
                        let stored = tokio::task::block_in_place(|| writer.close());
                        ack_all(stored, &mut seen, &mut order).await;
                        return ExitCode::SUCCESS;
                    }
                }
                continue;
            }
        };
        refusals = 0;
        // Short pulls with heartbeats: a pull the server never answers (a consumer
        // created by another ingester a moment ago) is noticed in seconds, not at the
        // default 30 s expiry.
        let pull = consumer
            .stream()
            .expires(PULL_EXPIRES)
            .heartbeat(PULL_HEARTBEAT)
            .messages()
            .await;
        let mut messages = match pull {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "cannot pull messages; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    _ = &mut shutdown => {
                        let stored = tokio::task::block_in_place(|| writer.close());
                        ack_all(stored, &mut seen, &mut order).await;
                        return ExitCode::SUCCESS;
                    }
                }
                continue;
            }
        };
        let mut errors = 0u32;
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            let pulling = !writer.full();
            tokio::select! {
                item = messages.next(), if pulling => {
                    let Some(item) = item else { break };
                    let msg = match item {
                        Ok(m) => m,
                        Err(e) => {
                            errors += 1;
                            if e.kind() == consumer::pull::MessagesErrorKind::MissingHeartbeat {
                                // Neither messages nor heartbeats: the pull is lost.
                                tracing::warn!(
                                    durable = %opts.durable,
                                    "the pull got no answer (no message, no heartbeat in {:?}); binding the consumer again and pulling again",
                                    PULL_HEARTBEAT * 2
                                );
                                break;
                            }
                            tracing::debug!(error = %e, errors, "pull consumer");
                            if errors >= 10 {
                                tracing::warn!(error = %e, "the consumer stopped delivering; creating it again");
                                break;
                            }
                            continue;
                        }
                    };
                    errors = 0;
                    match ChainMessage::from_bytes(&msg.payload) {
                        Ok(m) if seen.contains(&m.message_id()) => {
                            // Stored already in this run: a redelivery after a lost ack.
                            let _ = msg.ack().await;
                        }
                        Ok(m) if waiting.contains(&m.message_id()) => {
                            // A copy of one still waiting to be stored: its first
                            // delivery is acknowledged once it is.
                        }
                        Ok(m) => {
                            let id = m.message_id();
                            match writer.push(Arc::new(m), msg) {
                                Ok(_) => {
                                    waiting.insert(id);
                                }
                                // The store can never take it (counted): stop its
                                // delivery rather than retry it forever.
                                Err((_, msg)) => {
                                    let _ = msg.ack_with(jetstream::AckKind::Term).await;
                                }
                            }
                        }
                        // Not a chain message: no retry can make it one. Counted as
                        // lost to this subscriber (its rows are unknown) and its delivery
                        // terminated, so it never comes again.
                        Err(e) => {
                            undecodable(&opts.durable).inc();
                            if let Some(suppressed) = undecodable_log.allow(Instant::now()) {
                                tracing::warn!(
                                    subject = %msg.subject,
                                    error = %e,
                                    suppressed,
                                    "not a chain message: counted as undecodable and its delivery terminated (such lines come at most once a minute; {suppressed} were left out since the last)"
                                );
                            }
                            let _ = msg.ack_with(jetstream::AckKind::Term).await;
                        }
                    }
                }
                _ = tick.tick() => {}
                _ = &mut shutdown => {
                    let stored = tokio::task::block_in_place(|| writer.close());
                    ack_all(stored, &mut seen, &mut order).await;
                    return ExitCode::SUCCESS;
                }
            }
            let now = Instant::now();
            if writer.due(now) {
                let flushed = tokio::task::block_in_place(|| writer.flush(now));
                if let Ok(stored) = flushed {
                    for msg in &stored {
                        if let Ok(m) = ChainMessage::from_bytes(&msg.payload) {
                            waiting.remove(&m.message_id());
                        }
                    }
                    ack_all(stored, &mut seen, &mut order).await;
                }
            }
            // Messages held while the store fails are not redelivered meanwhile.
            if now.duration_since(last_progress) >= ack_wait / 3 {
                last_progress = now;
                let progress = writer
                    .waiting()
                    .map(|msg| msg.ack_with(jetstream::AckKind::Progress));
                let _ = tokio::time::timeout(
                    Duration::from_secs(5),
                    futures_util::future::join_all(progress),
                )
                .await;
            }
            if let Some(l) = lifecycle.as_mut() {
                tokio::task::block_in_place(|| l.tick(now));
            }
        }
        // The consumer stopped delivering: ask again shortly, unless stopping.
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            _ = &mut shutdown => {
                let stored = tokio::task::block_in_place(|| writer.close());
                ack_all(stored, &mut seen, &mut order).await;
                return ExitCode::SUCCESS;
            }
        }
    }
}

/// `g6_bus_subscriber_lost_messages_total{bus="nats", subscriber=<durable>,
/// drop_reason="undecodable"}`.
fn undecodable(durable: &str) -> &'static crate::runtime::Counter {
    crate::metrics::bus_subscriber_lost_messages_total(
        crate::bus::nats::NAME,
        durable,
        crate::labels::DropReason::Undecodable,
    )
}

/// Acknowledge stored messages, all at once with one deadline (waiting for the
/// server's confirmation), and remember their keys: a message whose acknowledgement
/// is lost comes again and is recognised.
async fn ack_all(
    stored: Vec<jetstream::Message>,
    seen: &mut HashSet<String>,
    order: &mut VecDeque<String>,
) {
    for msg in &stored {
        if let Ok(m) = ChainMessage::from_bytes(&msg.payload) {
            let id = m.message_id();
            if order.len() >= SEEN_KEYS {
                if let Some(old) = order.pop_front() {
                    seen.remove(&old);
                }
            }
            seen.insert(id.clone());
            order.push_back(id);
        }
    }
    let acks = stored.iter().map(|m| m.double_ack());
    if tokio::time::timeout(
        Duration::from_secs(10),
        futures_util::future::join_all(acks),
    )
    .await
    .is_err()
    {
        tracing::warn!("acknowledgements not confirmed in time; those messages may come again (they are recognised)");
    }
}
