//! The NATS JetStream bus (`g6 serve --bus nats://HOST:PORT`).
//!
//! [`NatsBus::publish`] only encodes the messages into a bounded outbox and wakes a
//! sender task; the collector never waits on the network. The sender keeps the
//! stream in place (create or update: subjects `<prefix>.>`, file storage, retention
//! by age and bytes, a dedupe window), then sends the outbox head in order, a window
//! of messages at a time, each with a `Nats-Msg-Id` derived from (index, expiry,
//! snapshot id), and removes a message only once the stream has acknowledged it.
//! A failed or unacknowledged window is sent again from its first unacknowledged
//! message after a capped backoff; copies the stream already has come back as
//! duplicates (counted, not stored twice). While the server is away the outbox fills;
//! past its byte bound the oldest whole snapshots are dropped and counted
//! (`outbox_full`). Every failure is counted by reason and logged once per outage.

use super::{Bus, ChainMessage, TOPIC};
use crate::labels::{BusFailure, DropReason};
use crate::metrics;
use async_nats::jetstream::{self, context::PublishErrorKind, stream};
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The `bus` label of the NATS bus.
pub const NAME: &str = "nats";

/// Most messages sent and not yet acknowledged.
const WINDOW: usize = 256;

/// Longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// How long the first connection attempt of `g6 serve` may take before it goes on
/// in the background.
const FIRST_CONNECT: Duration = Duration::from_secs(2);

/// Timeout of the stream-management requests (stream info, create, update): during a
/// leader election they get no answer, and waiting the acknowledgement timeout on
/// them would double the outage.
const API_TIMEOUT: Duration = Duration::from_secs(1);

/// Longest wait between two attempts while the replicated stream elects a leader.
const FAILOVER_BACKOFF: Duration = Duration::from_millis(250);

/// How often stream facts (consumers and their lag) are refreshed while idle.
const STREAM_INFO_EVERY: Duration = Duration::from_secs(5);

/// An acknowledgement being awaited.
type AckFuture = std::pin::Pin<
    Box<
        dyn std::future::Future<
                Output = Result<jetstream::publish::PublishAck, jetstream::context::PublishError>,
            > + Send,
    >,
>;

/// Settings of the NATS bus.
#[derive(Debug, Clone, PartialEq)]
pub struct NatsConfig {
    /// Server URLs (`nats://host:port`, several for a cluster).
    pub servers: Vec<String>,
    /// Stream name (`G6_CHAIN`).
    pub stream: String,
    /// Subject prefix: messages go to `<prefix>.<INDEX>.<YYYY-MM-DD>`.
    pub subject_prefix: String,
    /// Stream retention by age (`--bus-max-age`).
    pub max_age: Duration,
    /// Stream retention by size in bytes (`--bus-max-bytes`); -1 for no limit.
    pub max_bytes: i64,
    /// The stream's duplicate window: a re-sent message within it is dropped by id.
    pub duplicate_window: Duration,
    /// Outbox bound in encoded bytes (`--bus-outbox-bytes`).
    pub outbox_bytes: usize,
    /// How long to wait for one acknowledgement.
    pub ack_timeout: Duration,
    /// Replicas of the stream (`--bus-replicas`): 3 on a 3-node cluster survives the
    /// loss of one node.
    pub replicas: usize,
    /// Placement tags of the stream (`--bus-placement-tags`): its replicas go to
    /// servers carrying all of them.
    pub placement_tags: Vec<String>,
    /// Credentials and TLS.
    pub security: super::nats_auth::NatsSecurity,
}

impl Default for NatsConfig {
    fn default() -> Self {
        NatsConfig {
            servers: vec!["nats://127.0.0.1:4222".into()],
            stream: "G6_CHAIN".into(),
            subject_prefix: "g6.chain".into(),
            max_age: Duration::from_secs(7 * 24 * 3600),
            max_bytes: -1,
            duplicate_window: Duration::from_secs(10 * 60),
            outbox_bytes: 64 * 1024 * 1024,
            ack_timeout: Duration::from_secs(5),
            replicas: 1,
            placement_tags: Vec::new(),
            security: Default::default(),
        }
    }
}

/// The NATS servers of a `--bus` value (`nats://HOST[:PORT]`, comma-separated for a
/// cluster), checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsServers(pub Vec<String>);

impl std::str::FromStr for NatsServers {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        parse_url(s).map(NatsServers)
    }
}

/// The servers as messages and the status page show them: comma-separated, without
/// passwords.
pub fn shown(servers: &[String]) -> String {
    servers
        .iter()
        .map(|s| crate::redact::without_password(s))
        .collect::<Vec<_>>()
        .join(",")
}

/// Check a `--bus` value: `nats://[USER:PASSWORD@]HOST[:PORT]` (`tls://...` or
/// `?tls=true` for TLS), comma-separated for a cluster. Returns the server list, or a
/// message saying what is wrong.
pub fn parse_url(url: &str) -> Result<Vec<String>, String> {
    const HELP: &str =
        "use nats://HOST:PORT (e.g. nats://127.0.0.1:4222; tls://HOST:PORT or ?tls=true for TLS), comma-separated for a cluster";
    let mut servers = Vec::new();
    for raw in url.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        // Messages show the URL without its password.
        let part = crate::redact::without_password(raw);
        let part = part.as_str();
        let parsed = url::Url::parse(raw)
            .map_err(|e| format!("{part:?} is not a NATS URL ({e}); {HELP}"))?;
        if !matches!(parsed.scheme(), "nats" | "tls") {
            return Err(format!("{part:?} is not a NATS URL; {HELP}"));
        }
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(format!("{part:?} has no host; {HELP}"));
        }
        if !matches!(parsed.path(), "" | "/") {
            return Err(format!(
                "{part:?} has a path, which means nothing here; {HELP}"
            ));
        }
        let split = super::nats_auth::split_url(raw).map_err(|e| format!("{e}; {HELP}"))?;
        split
            .address
            .parse::<async_nats::ServerAddr>()
            .map_err(|e| format!("{part:?} is not a NATS URL: {e}"))?;
        servers.push(raw.to_string());
    }
    if servers.is_empty() {
        return Err(format!("empty bus URL; {HELP}"));
    }
    Ok(servers)
}

/// Why a consumer could not connect.
#[derive(Debug)]
pub struct ConnectFailure {
    /// The server refused the credentials or the TLS handshake failed (a usage
    /// error: exit 2), as opposed to a server that is away.
    pub refused: bool,
    /// What happened and what to check.
    pub message: String,
}

/// Connect a consumer (`g6 tail`, `g6 ingest`) to the NATS servers: fails within 5 s
/// with a message saying what to check (which credential was refused); reconnects
/// forever once connected.
pub async fn connect_consumer(
    name: &str,
    servers: Vec<String>,
    security: &super::nats_auth::NatsSecurity,
) -> Result<async_nats::Client, ConnectFailure> {
    let shown = shown(&servers);
    let prepared = security
        .prepare(&servers)
        .map_err(|message| ConnectFailure {
            refused: true,
            message,
        })?;
    prepared
        .options
        .clone()
        .name(name)
        .connection_timeout(Duration::from_secs(5))
        .max_reconnects(None)
        .connect(prepared.servers.clone())
        .await
        .map_err(|e| match super::nats_auth::refusal(&e, &prepared) {
            Some(why) => ConnectFailure {
                refused: true,
                message: format!("{shown}: {why}"),
            },
            None => ConnectFailure {
                refused: false,
                message: format!(
                    "cannot connect to {shown}: {e}; is nats-server running there (with -js)?"
                ),
            },
        })
}

/// Check a stream name: letters, digits, `-` and `_`.
pub fn check_stream_name(name: &str) -> Result<(), String> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(format!(
            "{name:?} is not a stream name; use letters, digits, - and _ (e.g. G6_CHAIN)"
        ));
    }
    Ok(())
}

/// True when `t` can be one subject token (no `.`, `*`, `>` or whitespace).
fn valid_token(t: &str) -> bool {
    !t.is_empty()
        && !t
            .chars()
            .any(|c| c == '.' || c == '*' || c == '>' || c.is_whitespace() || c.is_control())
}

/// Check a subject prefix: dot-separated tokens without wildcards or whitespace.
pub fn check_subject_prefix(prefix: &str) -> Result<(), String> {
    if prefix.split('.').all(valid_token) {
        Ok(())
    } else {
        Err(format!(
            "{prefix:?} is not a subject prefix; use dot-separated tokens without * > or spaces (e.g. g6.chain)"
        ))
    }
}

/// Check a subject filter: tokens, `*` for one token, `>` for the rest (last only).
pub fn check_subject_pattern(pattern: &str) -> Result<(), String> {
    let tokens: Vec<&str> = pattern.split('.').collect();
    let ok = tokens
        .iter()
        .enumerate()
        .all(|(i, t)| *t == "*" || (*t == ">" && i + 1 == tokens.len()) || valid_token(t));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{pattern:?} is not a subject pattern; use tokens separated by dots, * for one token and > at the end (e.g. g6.chain.NIFTY.>)"
        ))
    }
}

/// Check a durable consumer name (no `.`, `*`, `>` or whitespace).
pub fn check_consumer_name(name: &str) -> Result<(), String> {
    if valid_token(name) {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a consumer name; use letters, digits, - and _ (e.g. ingest-1)"
        ))
    }
}

/// One message waiting for its acknowledgement.
struct Pending {
    /// The snapshot it belongs to (the unit dropped when the outbox is full).
    batch: u64,
    subject: String,
    id: String,
    payload: Bytes,
    /// When it was first sent (a retry after the stream's dedupe window may find it
    /// stored already).
    first_sent: Option<Instant>,
}

/// Memory one waiting message holds beyond its strings and payload.
const PENDING_OVERHEAD: usize = std::mem::size_of::<Pending>();

impl Pending {
    /// The bytes it holds, counted against `--bus-outbox-bytes`.
    fn cost(&self) -> usize {
        self.payload.len() + self.subject.len() + self.id.len() + PENDING_OVERHEAD
    }
}

#[derive(Default)]
struct Outbox {
    items: VecDeque<Pending>,
    bytes: usize,
    /// Messages at the head being sent now: never dropped.
    in_flight: usize,
    batches: u64,
}

impl Outbox {
    /// Drop the oldest whole snapshots behind the in-flight head until `bytes` fits
    /// the bound (never the newest one when `keep_newest`). Returns the messages
    /// dropped.
    fn enforce(&mut self, limit: usize, keep_newest: bool) -> u64 {
        let mut dropped = 0;
        while self.bytes > limit {
            // The first message of a batch not being sent.
            let mut at = self.in_flight;
            while at > 0
                && at < self.items.len()
                && self.items[at].batch == self.items[at - 1].batch
            {
                at += 1;
            }
            let Some(batch) = self.items.get(at).map(|p| p.batch) else {
                break;
            };
            if keep_newest && batch == self.batches {
                break;
            }
            while self.items.get(at).is_some_and(|p| p.batch == batch) {
                if let Some(p) = self.items.remove(at) {
                    self.bytes -= p.cost();
                    dropped += 1;
                }
            }
        }
        dropped
    }
}

struct Shared {
    config: NatsConfig,
    outbox: Mutex<Outbox>,
    wake: tokio::sync::Notify,
    /// Told whenever the outbox changed (what [`NatsBus::outbox_at_most`] waits on).
    changed: tokio::sync::Notify,
    /// Cancelled when closing is asked for: the sender delivers what it can, then ends.
    closing: tokio_util::sync::CancellationToken,
    /// Set once `close` has given up on the rest: later publishes are dropped.
    closed: AtomicBool,
    /// Cancelled when the sender task has ended.
    finished: tokio_util::sync::CancellationToken,
    status: Mutex<String>,
    /// Set while reconnecting fails because the server refuses the credentials or the
    /// TLS handshake (`auth`, not `unreachable`).
    refused: AtomicBool,
    /// Told when the connection drops: acknowledgements awaited on it will never come.
    disconnected: tokio::sync::Notify,
    /// Servers in the cluster, as the server's INFO lists them (0 until connected).
    cluster_nodes: std::sync::atomic::AtomicUsize,
}

impl Shared {
    fn outbox(&self) -> std::sync::MutexGuard<'_, Outbox> {
        self.outbox.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Take the message sent last off the outbox: it needs no acknowledgement (stored
    /// already, or never storable).
    fn take_last_sent(&self) {
        let mut o = self.outbox();
        o.in_flight = o.in_flight.saturating_sub(1);
        let at = o.in_flight;
        if let Some(p) = o.items.remove(at) {
            o.bytes -= p.cost();
        }
        self.set_gauges(&o);
    }

    fn set_gauges(&self, o: &Outbox) {
        metrics::bus_queue_depth(NAME).set(o.items.len() as f64);
        metrics::bus_outbox_bytes(NAME).set(o.bytes as f64);
        self.changed.notify_waiters();
    }

    /// Apply the memory governor's lowered bound to what the outbox holds, never
    /// dropping the newest snapshot (publishes apply it, and so does the sender
    /// between attempts, since a stalled provider publishes nothing).
    fn shed_for_pressure(&self) {
        let bound = crate::governor::controls().scaled(
            crate::labels::Buffer::BusOutbox,
            self.config.outbox_bytes,
            1,
        );
        let shed = {
            let mut o = self.outbox();
            if o.bytes <= bound {
                return;
            }
            let shed = o.enforce(bound, true);
            self.set_gauges(&o);
            shed
        };
        if shed > 0 {
            metrics::bus_dropped_messages_total(NAME, DropReason::MemoryPressure).inc_by(shed);
            tracing::warn!(
                dropped = shed,
                bound,
                "memory pressure: the bus outbox bound is lowered; dropped the oldest snapshots"
            );
        }
    }

    fn set_status(&self, s: impl Into<String>) {
        *self.status.lock().unwrap_or_else(|p| p.into_inner()) = s.into();
    }
}

/// The NATS JetStream bus.
pub struct NatsBus {
    shared: Arc<Shared>,
    runtime: tokio::runtime::Handle,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl NatsBus {
    /// Start the bus on `runtime`: connecting, stream setup and sending happen in the
    /// background, so an unreachable server never delays the caller (it is logged,
    /// counted and retried). Fails only for a malformed configuration.
    pub fn start(config: NatsConfig, runtime: &tokio::runtime::Handle) -> Result<Self, String> {
        if config.servers.is_empty() {
            return Err("no NATS server given; use nats://HOST:PORT".into());
        }
        for s in &config.servers {
            parse_url(s)?;
        }
        check_stream_name(&config.stream)?;
        check_subject_prefix(&config.subject_prefix)?;
        if !(1..=5).contains(&config.replicas) {
            return Err(format!(
                "{} replicas: a JetStream stream has 1 to 5",
                config.replicas
            ));
        }
        // Contradictory or unreadable credentials are usage errors.
        config.security.prepare(&config.servers)?;
        if config.duplicate_window > config.max_age {
            return Err(format!(
                "the dedupe window ({:?}) is longer than the stream's max age ({:?}); NATS refuses that stream: lower --bus-dedupe-window or raise --bus-max-age",
                config.duplicate_window, config.max_age
            ));
        }
        if runtime.runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread {
            return Err("the NATS bus needs a multi-thread tokio runtime".into());
        }
        metrics::bus_connected(NAME).set(0.0);
        metrics::bus_outbox_limit_bytes(NAME).set(config.outbox_bytes as f64);
        metrics::bus_outbox_bytes(NAME).set(0.0);
        metrics::bus_queue_depth(NAME).set(0.0);
        metrics::bus_publish_retries_total(NAME).inc_by(0);
        metrics::bus_dedupe_hits_total(NAME).inc_by(0);
        for r in DropReason::ALL {
            metrics::bus_dropped_messages_total(NAME, r).inc_by(0);
        }
        for r in BusFailure::ALL {
            metrics::bus_publish_failures_total(NAME, r).inc_by(0);
        }
        let shared = Arc::new(Shared {
            config,
            outbox: Mutex::new(Outbox::default()),
            wake: tokio::sync::Notify::new(),
            changed: tokio::sync::Notify::new(),
            closing: tokio_util::sync::CancellationToken::new(),
            closed: AtomicBool::new(false),
            finished: tokio_util::sync::CancellationToken::new(),
            status: Mutex::new("connecting".into()),
            refused: AtomicBool::new(false),
            disconnected: tokio::sync::Notify::new(),
            cluster_nodes: std::sync::atomic::AtomicUsize::new(0),
        });
        let task = Arc::clone(&shared);
        let (first, outcome) = std::sync::mpsc::sync_channel(1);
        let handle = runtime.spawn(async move {
            run(Arc::clone(&task), first).await;
            task.finished.cancel();
        });
        // The first connection attempt: refused credentials or TLS fail the start (a
        // usage error); a server that is away does not (connecting goes on in the
        // background, counted and logged).
        if let Ok(Err(refused)) = outcome.recv_timeout(FIRST_CONNECT + Duration::from_secs(1)) {
            handle.abort();
            return Err(refused);
        }
        Ok(NatsBus {
            shared,
            runtime: runtime.clone(),
            task: Mutex::new(Some(handle)),
        })
    }

    /// Messages and bytes waiting in the outbox.
    pub fn outbox(&self) -> (usize, usize) {
        let o = self.shared.outbox();
        (o.items.len(), o.bytes)
    }

    /// Resolves once the outbox holds at most `bytes` encoded bytes (a producer
    /// faster than the server waits on it instead of letting the bound drop
    /// snapshots).
    pub async fn outbox_at_most(&self, bytes: usize) {
        loop {
            let changed = self.shared.changed.notified();
            let mut changed = std::pin::pin!(changed);
            // Registered before the look, so a change in between is not missed.
            changed.as_mut().enable();
            if self.shared.outbox().bytes <= bytes {
                return;
            }
            changed.await;
        }
    }

    /// Servers in the NATS cluster as the server the bus is connected to lists them
    /// (1 for a server alone); `None` before the first connection.
    pub fn cluster_nodes(&self) -> Option<usize> {
        match self.shared.cluster_nodes.load(Ordering::Relaxed) {
            0 => None,
            n => Some(n),
        }
    }

    /// What the sender is doing (for the status page).
    pub fn status(&self) -> String {
        self.shared
            .status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl Bus for NatsBus {
    fn name(&self) -> &str {
        NAME
    }

    fn publish(&self, messages: &[Arc<ChainMessage>]) {
        if self.shared.closed.load(Ordering::Acquire) {
            metrics::bus_dropped_messages_total(NAME, DropReason::Shutdown)
                .inc_by(messages.len() as u64);
            return;
        }
        let prefix = &self.shared.config.subject_prefix;
        // Encoded before the lock is taken: the sender is never held up by encoding.
        let encoded: Vec<(String, String, Bytes)> = messages
            .iter()
            .map(|m| (m.subject(prefix), m.message_id(), Bytes::from(m.to_bytes())))
            .collect();
        let dropped = {
            let mut o = self.shared.outbox();
            o.batches += 1;
            let batch = o.batches;
            for (subject, id, payload) in encoded {
                let p = Pending {
                    batch,
                    subject,
                    id,
                    payload,
                    first_sent: None,
                };
                o.bytes += p.cost();
                o.items.push_back(p);
            }
            let dropped = o.enforce(self.shared.config.outbox_bytes, false);
            self.shared.set_gauges(&o);
            dropped
        };
        // Then the governor's smaller bound under memory pressure.
        self.shared.shed_for_pressure();
        self.shared.wake.notify_one();
        if dropped > 0 {
            metrics::bus_dropped_messages_total(NAME, DropReason::OutboxFull).inc_by(dropped);
            tracing::warn!(
                dropped,
                limit = self.shared.config.outbox_bytes,
                "the bus outbox is full: dropped the oldest snapshots (raise --bus-outbox-bytes or fix the NATS connection)"
            );
        }
    }

    fn close(&self, timeout: Duration) -> usize {
        self.shared.closing.cancel();
        self.shared.wake.notify_one();
        let shared = Arc::clone(&self.shared);
        let wait = async move {
            let _ = tokio::time::timeout(timeout, shared.finished.cancelled()).await;
        };
        // Called from a plain thread (serve's shutdown); never from inside the runtime.
        if tokio::runtime::Handle::try_current().is_ok() {
            std::thread::scope(|s| {
                s.spawn(|| self.runtime.block_on(wait));
            });
        } else {
            self.runtime.block_on(wait);
        }
        // Whatever the sender is doing now, it stops here: nothing it holds can be
        // popped after the outbox is cleared.
        self.shared.closed.store(true, Ordering::Release);
        if let Some(task) = self.task.lock().unwrap_or_else(|p| p.into_inner()).take() {
            task.abort();
        }
        let mut o = self.shared.outbox();
        o.in_flight = 0;
        let left = o.items.len();
        if left > 0 {
            metrics::bus_dropped_messages_total(NAME, DropReason::Shutdown).inc_by(left as u64);
            tracing::warn!(
                left,
                "stopping with messages the NATS server has not acknowledged; they are dropped"
            );
            o.items.clear();
            o.bytes = 0;
            self.shared.set_gauges(&o);
        }
        left
    }
}

/// Why a publish failed, as the metric label.
fn failure_of(kind: PublishErrorKind, client: &async_nats::Client, shared: &Shared) -> BusFailure {
    match kind {
        PublishErrorKind::TimedOut => {
            if client.connection_state() == async_nats::connection::State::Connected {
                BusFailure::Timeout
            } else {
                away(shared)
            }
        }
        PublishErrorKind::BrokenPipe => away(shared),
        PublishErrorKind::StreamNotFound => BusFailure::NoStream,
        PublishErrorKind::MaxPayloadExceeded => BusFailure::TooLarge,
        _ => {
            if client.connection_state() == async_nats::connection::State::Connected {
                BusFailure::Rejected
            } else {
                away(shared)
            }
        }
    }
}

/// Not connected: `auth` while reconnecting is refused, else `unreachable`.
fn away(shared: &Shared) -> BusFailure {
    if shared.refused.load(Ordering::Relaxed) {
        BusFailure::Auth
    } else {
        BusFailure::Unreachable
    }
}

/// Logs a failure once per kind until things work again.
#[derive(Default)]
struct FailureLog {
    logged: Option<BusFailure>,
}

impl FailureLog {
    fn failed(&mut self, reason: BusFailure, detail: &str, config: &NatsConfig) {
        if self.logged != Some(reason) {
            self.logged = Some(reason);
            tracing::warn!(
                servers = %shown(&config.servers),
                stream = %config.stream,
                reason = reason.as_str(),
                detail,
                "cannot publish to NATS; messages wait in the outbox and are retried"
            );
        }
    }

    fn recovered(&mut self, config: &NatsConfig, queued: usize) {
        if self.logged.take().is_some() {
            tracing::info!(servers = %shown(&config.servers), queued, "publishing to NATS again");
        }
    }
}

enum StreamSetup {
    /// The stream is in place; its leader, when clustered.
    Ready(Option<String>),
    Failed(BusFailure, String),
}

/// The placement of `config`'s stream: `None` without tags.
fn placement(config: &NatsConfig) -> Option<stream::Placement> {
    (!config.placement_tags.is_empty()).then(|| stream::Placement {
        cluster: None,
        tags: config.placement_tags.clone(),
    })
}

/// The tags of a placement, sorted (their order means nothing).
fn tags_of(p: Option<&stream::Placement>) -> Vec<String> {
    let mut t = p.map(|p| p.tags.clone()).unwrap_or_default();
    t.sort();
    t
}

/// A refused stream configuration is `rejected` (it will not work by waiting); no
/// answer is `unreachable`.
fn create_failure(e: &jetstream::context::CreateStreamError) -> BusFailure {
    match e.kind() {
        jetstream::context::CreateStreamErrorKind::JetStream(_) => BusFailure::Rejected,
        _ => BusFailure::Unreachable,
    }
}

/// Create the stream, or bring an existing one to our retention settings. A stream
/// of that name with other subjects is someone else's: leave it alone and say so.
async fn ensure_stream(js: &jetstream::Context, config: &NatsConfig) -> StreamSetup {
    let subjects = vec![format!("{}.>", config.subject_prefix)];
    let wanted = stream::Config {
        name: config.stream.clone(),
        subjects: subjects.clone(),
        storage: stream::StorageType::File,
        max_age: config.max_age,
        max_bytes: config.max_bytes,
        duplicate_window: config.duplicate_window,
        num_replicas: config.replicas,
        placement: placement(config),
        ..Default::default()
    };
    match js.get_stream(&config.stream).await {
        Ok(mut existing) => {
            let info = match existing.info().await {
                Ok(i) => i.clone(),
                Err(e) => return StreamSetup::Failed(BusFailure::Unreachable, e.to_string()),
            };
            if info.config.subjects != subjects {
                return StreamSetup::Failed(
                    BusFailure::StreamConflict,
                    format!(
                        "stream {} exists with subjects {:?}, not {:?}; delete it, or choose another --bus-stream or --bus-subject-prefix",
                        config.stream, info.config.subjects, subjects
                    ),
                );
            }
            let c = &info.config;
            // What differs, said in the log when the stream is updated.
            let mut changes = Vec::new();
            if c.max_age != wanted.max_age {
                changes.push(format!("max age {:?} -> {:?}", c.max_age, wanted.max_age));
            }
            if c.max_bytes != wanted.max_bytes {
                changes.push(format!("max bytes {} -> {}", c.max_bytes, wanted.max_bytes));
            }
            if c.duplicate_window != wanted.duplicate_window {
                changes.push(format!(
                    "dedupe window {:?} -> {:?}",
                    c.duplicate_window, wanted.duplicate_window
                ));
            }
            if c.num_replicas.max(1) != wanted.num_replicas {
                changes.push(format!(
                    "replicas {} -> {}",
                    c.num_replicas.max(1),
                    wanted.num_replicas
                ));
            }
            let (have, want) = (
                tags_of(c.placement.as_ref()),
                tags_of(wanted.placement.as_ref()),
            );
            if have != want {
                changes.push(format!("placement tags {have:?} -> {want:?}"));
            }
            let mut leader = info.cluster.as_ref().and_then(|c| c.leader.clone());
            if !changes.is_empty() {
                let mut updated = info.config.clone();
                updated.max_age = wanted.max_age;
                updated.max_bytes = wanted.max_bytes;
                updated.duplicate_window = wanted.duplicate_window;
                updated.num_replicas = wanted.num_replicas;
                if have != want {
                    updated.placement = wanted.placement.clone();
                }
                match js.update_stream(updated).await {
                    Ok(i) => leader = i.cluster.as_ref().and_then(|c| c.leader.clone()),
                    Err(e) => return StreamSetup::Failed(create_failure(&e), e.to_string()),
                }
                tracing::info!(
                    stream = %config.stream,
                    changed = %changes.join(", "),
                    "updated the stream to the bus options"
                );
            }
            StreamSetup::Ready(leader)
        }
        Err(e) => {
            let not_found = matches!(
                e.kind(),
                jetstream::context::GetStreamErrorKind::JetStream(ref j)
                    if j.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND
            );
            if !not_found {
                return StreamSetup::Failed(BusFailure::Unreachable, e.to_string());
            }
            match js.create_stream(wanted).await {
                Ok(s) => {
                    tracing::info!(
                        stream = %config.stream,
                        replicas = config.replicas,
                        tags = ?config.placement_tags,
                        "created the stream"
                    );
                    let leader = s
                        .cached_info()
                        .cluster
                        .as_ref()
                        .and_then(|c| c.leader.clone());
                    StreamSetup::Ready(leader)
                }
                Err(e) => {
                    let overlap = matches!(
                        e.kind(),
                        jetstream::context::CreateStreamErrorKind::JetStream(ref j)
                            if j.error_code() == jetstream::ErrorCode::STREAM_SUBJECT_OVERLAP
                    );
                    if overlap {
                        StreamSetup::Failed(
                            BusFailure::StreamConflict,
                            format!(
                                "another stream already takes the subjects {subjects:?}; choose another --bus-subject-prefix, or use that stream with --bus-stream"
                            ),
                        )
                    } else {
                        StreamSetup::Failed(create_failure(&e), e.to_string())
                    }
                }
            }
        }
    }
}

/// Servers in the cluster as a server's INFO lists them: the client URLs the cluster
/// advertises (its own among them), one per server unless a server listens on several
/// addresses without `client_advertise`; 1 for a server alone.
fn cluster_size(info: &async_nats::ServerInfo) -> usize {
    if info.cluster.is_none() {
        return 1;
    }
    let urls: std::collections::BTreeSet<&String> = info.connect_urls.iter().collect();
    urls.len().max(1)
}

/// The sender task. `first` gets the outcome of the first connection attempt: a
/// refusal (credentials, TLS) is an error the start reports.
async fn run(shared: Arc<Shared>, first: std::sync::mpsc::SyncSender<Result<(), String>>) {
    let config = shared.config.clone();
    let prepared = match config.security.prepare(&config.servers) {
        Ok(p) => p,
        Err(e) => {
            let _ = first.try_send(Err(e));
            return;
        }
    };
    let events = Arc::clone(&shared);
    let options = prepared
        .options
        .clone()
        .name("g6 serve")
        .connection_timeout(FIRST_CONNECT)
        .max_reconnects(None)
        .reconnect_delay_callback(|attempt| {
            Duration::from_millis(100u64.saturating_mul(1 << attempt.min(5))).min(MAX_BACKOFF)
        })
        .event_callback(move |event| {
            let shared = Arc::clone(&events);
            async move {
                if super::nats_auth::is_refusal_event(&event) {
                    shared.refused.store(true, Ordering::Relaxed);
                }
                match event {
                    async_nats::Event::Connected => {
                        shared.refused.store(false, Ordering::Relaxed);
                        metrics::bus_connected(NAME).set(1.0);
                    }
                    async_nats::Event::Disconnected => {
                        metrics::bus_connected(NAME).set(0.0);
                        shared.disconnected.notify_waiters();
                    }
                    _ => {}
                }
            }
        });
    // One attempt first: a refusal ends here (g6 serve exits with a usage error); a
    // server that is away is retried in the background.
    let client = match options.clone().connect(prepared.servers.clone()).await {
        Ok(c) => {
            metrics::bus_connected(NAME).set(1.0);
            let _ = first.try_send(Ok(()));
            c
        }
        Err(e) => {
            if let Some(why) = super::nats_auth::refusal(&e, &prepared) {
                let why = format!("{}: {why}", shown(&config.servers));
                shared.set_status(format!("not connected: {why}"));
                let _ = first.try_send(Err(why));
                return;
            }
            let _ = first.try_send(Ok(()));
            match options
                .retry_on_initial_connect()
                .connect(prepared.servers.clone())
                .await
            {
                Ok(c) => c,
                Err(e) => {
                    // Only a malformed address gets here (connecting itself is retried).
                    tracing::error!(servers = %shown(&config.servers), error = %e, "cannot use the NATS servers; nothing will be published");
                    shared.set_status(format!("not connected: {e}"));
                    return;
                }
            }
        }
    };
    // The cluster's size, once the INFO of a server is known.
    {
        let client = client.clone();
        let shared = Arc::clone(&shared);
        let replicas = config.replicas;
        tokio::spawn(async move {
            let mut warned = false;
            loop {
                let n = cluster_size(&client.server_info());
                if client.connection_state() == async_nats::connection::State::Connected {
                    shared.cluster_nodes.store(n, Ordering::Relaxed);
                    if n > replicas && !warned {
                        warned = true;
                        tracing::warn!(
                            nodes = n,
                            replicas,
                            "the NATS cluster has more servers than the stream has replicas: losing the stream's server stops publishing (raise --bus-replicas, e.g. 3)"
                        );
                    }
                }
                tokio::time::sleep(STREAM_INFO_EVERY).await;
            }
        });
    }
    if client.connection_state() == async_nats::connection::State::Connected {
        shared
            .cluster_nodes
            .store(cluster_size(&client.server_info()), Ordering::Relaxed);
    }
    // Stream management answers quickly or not at all (a leader election): a short
    // timeout of its own.
    let api = jetstream::ContextBuilder::new()
        .timeout(API_TIMEOUT.min(config.ack_timeout))
        .build(client.clone());
    let js = jetstream::ContextBuilder::new()
        .timeout(config.ack_timeout)
        .ack_timeout(config.ack_timeout)
        .max_ack_inflight(WINDOW * 4)
        .build(client.clone());
    // The stream's consumers and their lag, refreshed beside the sender so a slow
    // API answer never holds up publishing.
    let refresher = {
        let js = js.clone();
        let stream = config.stream.clone();
        tokio::spawn(async move {
            loop {
                refresh_consumers(&js, &stream).await;
                tokio::time::sleep(STREAM_INFO_EVERY).await;
            }
        })
    };
    let mut log = FailureLog::default();
    let mut backoff = Duration::from_millis(100);
    let mut stream_ready = false;
    // The stream's leader when last seen (a new one means a failover happened).
    let mut leader: Option<String> = None;
    // Sent messages (the outbox head, in order) whose acknowledgements are awaited.
    let mut pending: VecDeque<(Instant, AckFuture)> = VecDeque::new();
    let latency = metrics::bus_publish_latency_seconds(NAME);
    loop {
        shared.shed_for_pressure();
        let closing = shared.closing.is_cancelled();
        if closing && pending.is_empty() && shared.outbox().items.is_empty() {
            break;
        }
        // Stopping with no server to deliver to: waiting cannot help.
        if closing
            && (!stream_ready
                || client.connection_state() != async_nats::connection::State::Connected)
        {
            break;
        }
        if !stream_ready {
            match ensure_stream(&api, &config).await {
                StreamSetup::Ready(l) => {
                    stream_ready = true;
                    leader = l;
                    shared.set_status(format!(
                        "publishing to stream {} on {}",
                        config.stream,
                        shown(&config.servers)
                    ));
                }
                StreamSetup::Failed(reason, detail) => {
                    let reason = if reason == BusFailure::Unreachable {
                        away(&shared)
                    } else {
                        reason
                    };
                    metrics::bus_publish_failures_total(NAME, reason).inc();
                    log.failed(reason, &detail, &config);
                    shared.set_status(format!("not publishing ({}): {detail}", reason.as_str()));
                    if closing {
                        break;
                    }
                    sleep_or_close(&shared, backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            }
        }
        let mut failure: Option<(BusFailure, String)> = None;
        // Send what is not sent yet, up to the window, in order.
        while pending.len() < WINDOW {
            let next = {
                let mut o = shared.outbox();
                let at = o.in_flight;
                match o.items.get_mut(at) {
                    Some(p) => {
                        let again = p.first_sent.is_some();
                        let first = *p.first_sent.get_or_insert_with(Instant::now);
                        let next = (
                            p.subject.clone(),
                            p.id.clone(),
                            p.payload.clone(),
                            first,
                            again,
                        );
                        o.in_flight += 1;
                        Some(next)
                    }
                    None => None,
                }
            };
            let Some((subject, id, payload, first_sent, again)) = next else {
                break;
            };
            if again {
                metrics::bus_publish_retries_total(NAME).inc();
                // Past the dedupe window the server no longer knows the id: see whether
                // the first attempt was stored (its ack lost) before sending a copy.
                if first_sent.elapsed() >= config.duplicate_window
                    && stored_last(&js, &config.stream, &subject, &id).await
                {
                    metrics::bus_dedupe_hits_total(NAME).inc();
                    shared.take_last_sent();
                    metrics::bus_events_published_total(NAME, TOPIC).inc();
                    continue;
                }
            }
            let publish = jetstream::message::PublishMessage::build()
                .payload(payload)
                .message_id(id);
            match js.send_publish(subject, publish).await {
                Ok(ack) => pending.push_back((
                    Instant::now(),
                    Box::pin(std::future::IntoFuture::into_future(ack)),
                )),
                Err(e) if e.kind() == PublishErrorKind::MaxPayloadExceeded => {
                    // The server can never take it: drop it, not retry it forever.
                    shared.take_last_sent();
                    metrics::bus_publish_failures_total(NAME, BusFailure::TooLarge).inc();
                    metrics::bus_dropped_messages_total(NAME, DropReason::TooLarge).inc();
                    log.failed(BusFailure::TooLarge, &e.to_string(), &config);
                }
                Err(e) => {
                    failure = Some((failure_of(e.kind(), &client, &shared), e.to_string()));
                    break;
                }
            }
        }
        if failure.is_none() {
            let room = pending.len() < WINDOW;
            let Some((sent, front)) = pending.front_mut() else {
                if !closing {
                    let _ = tokio::time::timeout(STREAM_INFO_EVERY, shared.wake.notified()).await;
                }
                continue;
            };
            let sent = *sent;
            // The oldest acknowledgement, or new messages to send meanwhile.
            let acked = tokio::select! {
                biased;
                r = front => Some(r),
                // The connection dropped: the acknowledgements awaited on it never
                // come; send again once reconnected (copies are dropped by id).
                _ = shared.disconnected.notified() => {
                    failure = Some((away(&shared), "disconnected".into()));
                    None
                }
                _ = shared.wake.notified(), if room => None,
            };
            match acked {
                None if failure.is_some() => {}
                None => continue,
                Some(Ok(a)) => {
                    pending.pop_front();
                    latency.observe(sent.elapsed().as_secs_f64());
                    // A duplicate ack means an earlier attempt whose ack was lost
                    // did store it: the message is delivered either way, once.
                    if a.duplicate {
                        metrics::bus_dedupe_hits_total(NAME).inc();
                    }
                    metrics::bus_events_published_total(NAME, TOPIC).inc();
                    let mut o = shared.outbox();
                    if let Some(p) = o.items.pop_front() {
                        o.bytes -= p.cost();
                    }
                    o.in_flight = o.in_flight.saturating_sub(1);
                    shared.set_gauges(&o);
                    drop(o);
                    if backoff > Duration::from_millis(100) {
                        backoff = Duration::from_millis(100);
                        let queued = shared.outbox().items.len();
                        log.recovered(&config, queued);
                    }
                    continue;
                }
                Some(Err(e)) => {
                    failure = Some((failure_of(e.kind(), &client, &shared), e.to_string()))
                }
            }
        }
        // Every message sent and not acknowledged goes again, from the first.
        pending.clear();
        shared.outbox().in_flight = 0;
        if let Some((reason, detail)) = failure {
            // No stream, or no answer, from a stream that was there: a replicated
            // stream electing a new leader, or a stream that is really gone.
            let reason =
                if stream_ready && matches!(reason, BusFailure::NoStream | BusFailure::Timeout) {
                    classify_stall(&api, &config, reason, &mut leader).await
                } else {
                    reason
                };
            metrics::bus_publish_failures_total(NAME, reason).inc();
            log.failed(reason, &detail, &config);
            if reason == BusFailure::NoStream {
                stream_ready = false;
            }
            if reason == BusFailure::Failover {
                // The election takes what it takes: try again soon after it.
                sleep_or_close(&shared, backoff.min(FAILOVER_BACKOFF)).await;
            } else {
                sleep_or_close(&shared, backoff).await;
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
    refresher.abort();
    // Let the acks of the last window reach the server before the connection goes.
    let _ = tokio::time::timeout(Duration::from_secs(1), client.flush()).await;
}

/// Why a stream that was in place gave no stream or no answer: `failover` when it
/// is replicated and has no leader or a new one (an election), `no_stream` when the
/// server says it is gone, else `reason` as it was. Asks once, with the short API
/// timeout.
async fn classify_stall(
    api: &jetstream::Context,
    config: &NatsConfig,
    reason: BusFailure,
    leader: &mut Option<String>,
) -> BusFailure {
    match api.get_stream(&config.stream).await {
        Ok(s) => {
            let now = s
                .cached_info()
                .cluster
                .as_ref()
                .and_then(|c| c.leader.clone());
            let changed = now.is_none() || now != *leader;
            *leader = now;
            if config.replicas > 1 && (changed || reason == BusFailure::NoStream) {
                BusFailure::Failover
            } else {
                reason
            }
        }
        Err(e) => {
            let gone = matches!(
                e.kind(),
                jetstream::context::GetStreamErrorKind::JetStream(ref j)
                    if j.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND
            );
            if gone {
                BusFailure::NoStream
            } else if config.replicas > 1 {
                // No answer from the stream's group: it has no leader yet.
                *leader = None;
                BusFailure::Failover
            } else {
                reason
            }
        }
    }
}

/// True when the last message the stream holds on `subject` carries `id`.
async fn stored_last(js: &jetstream::Context, stream: &str, subject: &str, id: &str) -> bool {
    let Ok(s) = js.get_stream(stream).await else {
        return false;
    };
    match s.get_last_raw_message_by_subject(subject).await {
        Ok(m) => m
            .headers
            .get("Nats-Msg-Id")
            .is_some_and(|v| v.as_str() == id),
        Err(_) => false,
    }
}

/// Most durable consumers whose lag is exported (the metric's budget holds 20).
const LAGGED_CONSUMERS: usize = 16;

/// The stream's consumers and how far behind the durable ones are (messages not yet
/// delivered plus delivered but not acknowledged).
async fn refresh_consumers(js: &jetstream::Context, stream: &str) {
    use futures_util::StreamExt as _;
    let Ok(mut s) = js.get_stream(stream).await else {
        return;
    };
    if let Ok(info) = s.info().await {
        metrics::bus_subscribers(NAME).set(info.state.consumer_count as f64);
    }
    let mut consumers = s.consumers();
    let mut shown = 0;
    while let Some(Ok(c)) = consumers.next().await {
        if shown >= LAGGED_CONSUMERS {
            break;
        }
        if let Some(durable) = c.config.durable_name.as_deref() {
            let lag = c.num_pending as f64 + c.num_ack_pending as f64;
            metrics::bus_consumer_lag_messages(NAME, durable).set(lag);
            shown += 1;
        }
    }
}

/// Sleep `d`, or less when closing is requested.
async fn sleep_or_close(shared: &Shared, d: Duration) {
    if shared.closing.is_cancelled() {
        tokio::time::sleep(d.min(Duration::from_millis(200))).await;
    } else {
        let _ = tokio::time::timeout(d, shared.closing.cancelled()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(batch: u64, len: usize) -> Pending {
        Pending {
            batch,
            subject: "s".into(),
            id: format!("{batch}"),
            payload: Bytes::from(vec![0; len]),
            first_sent: None,
        }
    }

    fn outbox(batches: &[(u64, usize)]) -> Outbox {
        let mut o = Outbox::default();
        for &(batch, count) in batches {
            for _ in 0..count {
                let p = pending(batch, 10);
                o.bytes += p.cost();
                o.items.push_back(p);
            }
            o.batches = o.batches.max(batch);
        }
        o
    }

    /// What one test message costs against the bound.
    fn unit() -> usize {
        pending(0, 10).cost()
    }

    #[test]
    fn outbox_over_its_bound_drops_the_oldest_whole_snapshots() {
        let mut o = outbox(&[(1, 3), (2, 3), (3, 3)]);
        assert_eq!(o.enforce(6 * unit(), false), 3);
        assert_eq!(o.bytes, 6 * unit());
        let batches: Vec<u64> = o.items.iter().map(|p| p.batch).collect();
        assert_eq!(batches, [2, 2, 2, 3, 3, 3]);
    }

    #[test]
    fn the_governors_bound_never_drops_the_snapshot_just_published() {
        let mut o = outbox(&[(1, 3), (2, 3), (3, 3)]);
        // A bound smaller than the newest snapshot: the older ones go, it stays.
        assert_eq!(o.enforce(unit(), true), 6);
        let batches: Vec<u64> = o.items.iter().map(|p| p.batch).collect();
        assert_eq!(batches, [3, 3, 3]);
    }

    #[test]
    fn outbox_never_drops_the_snapshot_being_sent() {
        let mut o = outbox(&[(1, 3), (2, 3), (3, 3)]);
        o.in_flight = 2;
        assert_eq!(o.enforce(6 * unit(), false), 3);
        let batches: Vec<u64> = o.items.iter().map(|p| p.batch).collect();
        assert_eq!(batches, [1, 1, 1, 3, 3, 3], "batch 1 is in flight; 2 goes");
        // Nothing droppable left but the newest: it goes too; the snapshot being sent
        // stays even over the bound.
        assert_eq!(o.enforce(2 * unit(), false), 3);
        assert_eq!(o.items.len(), 3);
        assert_eq!(o.bytes, 3 * unit());
    }

    #[test]
    fn the_outbox_counts_subjects_ids_and_bookkeeping_not_only_payloads() {
        let p = pending(7, 10);
        assert!(p.cost() > p.payload.len() + p.subject.len() + p.id.len());
    }

    #[test]
    fn bus_urls_are_checked_with_a_hint() {
        assert_eq!(
            parse_url("nats://127.0.0.1:4222").unwrap(),
            ["nats://127.0.0.1:4222"]
        );
        assert_eq!(parse_url("nats://a:1, nats://b:2").unwrap().len(), 2);
        for bad in [
            "127.0.0.1:4222",
            "http://x:1",
            "nats://",
            "nats://host:port",
            "nats://h:99999",
            "nats://h:4222/g6",
            "",
        ] {
            let e = parse_url(bad).unwrap_err();
            assert!(e.contains("nats://HOST:PORT"), "{bad}: {e}");
        }
        assert!(check_stream_name("G6_CHAIN").is_ok());
        assert!(check_stream_name("g6.chain").is_err());
        assert!(check_subject_prefix("g6.chain").is_ok());
        assert!(check_subject_prefix("g6_x.chain").is_ok());
        for bad in ["", "g6..chain", "g6.*", "g6.>", "g6 chain", "g6."] {
            assert!(check_subject_prefix(bad).is_err(), "{bad}");
        }
        assert!(check_subject_pattern("g6.chain.>").is_ok());
        assert!(check_subject_pattern("g6.chain.*.2026-11-27").is_ok());
        for bad in ["g6.>.x", "g6..x", "g6 x", ""] {
            assert!(check_subject_pattern(bad).is_err(), "{bad}");
        }
        assert!(check_consumer_name("ingest-1").is_ok());
        assert!(check_consumer_name("a.b").is_err());
    }
}
