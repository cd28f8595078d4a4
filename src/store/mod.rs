//! The column store: every contract of every snapshot, kept for history and replay.
//! A [`Writer`] takes messages from a bus subscriber (never from the collector's
//! thread), holds them in a bounded backlog, and flushes them to a [`Store`] every
//! `--store-flush`; a failed flush is retried with capped exponential backoff while
//! the backlog holds the rows and backpressure is signalled. Past the bound, an
//! in-process writer drops the oldest whole snapshots (counted); a JetStream consumer
//! stops pulling instead, so nothing is dropped (`g6 ingest`).
//!
//! In `g6 serve` draining never waits on writing ([`spawn_in_process`]): one thread
//! takes every message off the bus ring into the backlog while another writes (and
//! compacts), so a stalled store fills the backlog, bounded in rows, never the ring.
//! Every row the bus hands over is stored, waiting, or dropped under a named reason.

pub mod clickhouse;
pub mod files;
pub mod lifecycle;
pub mod parquet;

use crate::bus::ChainMessage;
use crate::labels::{StoreDropReason, StoreFailure};
use crate::metrics;
use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// The `table` label of the option-chain rows.
pub const TABLE: &str = "option_chain";

/// What one write stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Written {
    /// Rows (contracts) stored.
    pub rows: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Files (Parquet) or inserts written.
    pub files: u64,
}

/// A failed write: why (the metric label) and what to do about it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreError {
    /// Why, as `g6_cs_ingest_failures_total{store_failure}`.
    pub reason: StoreFailure,
    /// What happened, for the log.
    pub message: String,
}

impl StoreError {
    /// A failure for `reason`.
    pub fn new(reason: StoreFailure, message: impl Into<String>) -> Self {
        StoreError {
            reason,
            message: message.into(),
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StoreError {}

/// Whether a store can ever take a message (one it cannot must be set aside, not
/// retried forever). A plain function, so it runs while the store itself is busy
/// writing on another thread.
pub type MessageCheck = fn(&ChainMessage) -> Result<(), StoreError>;

/// A [`MessageCheck`] that takes everything.
fn take_all(_: &ChainMessage) -> Result<(), StoreError> {
    Ok(())
}

/// Where rows go.
pub trait Store: Send {
    /// Store `messages` all or nothing (a retry after an error never doubles a row).
    fn write(&mut self, messages: &[Arc<ChainMessage>]) -> Result<Written, StoreError>;
    /// For the status page and logs.
    fn describe(&self) -> String;
    /// The check of what this store can ever take.
    fn message_check(&self) -> MessageCheck {
        take_all
    }
}

impl Store for parquet::ParquetStore {
    fn write(&mut self, messages: &[Arc<ChainMessage>]) -> Result<Written, StoreError> {
        parquet::ParquetStore::write(self, messages)
    }

    fn describe(&self) -> String {
        format!("Parquet files under {}", self.dir().display())
    }

    fn message_check(&self) -> MessageCheck {
        parquet::ParquetStore::check
    }
}

impl Store for clickhouse::ClickHouseStore {
    fn write(&mut self, messages: &[Arc<ChainMessage>]) -> Result<Written, StoreError> {
        clickhouse::ClickHouseStore::write(self, messages)
    }

    fn describe(&self) -> String {
        let url = self.url();
        match &url.cluster {
            Some(c) => format!(
                "ClickHouse Distributed table {db}.{} over {db}.{} on cluster {c} at {}",
                clickhouse::TABLE,
                clickhouse::LOCAL_TABLE,
                url.shown(),
                db = url.database,
            ),
            None => format!(
                "ClickHouse table {}.{} at {}",
                url.database,
                clickhouse::TABLE,
                url.shown()
            ),
        }
    }

    fn message_check(&self) -> MessageCheck {
        clickhouse::ClickHouseStore::check
    }
}

/// Where rows are kept: the parsed form of `--store`.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// Parquet files under a directory (`parquet:DIR`).
    Parquet(std::path::PathBuf),
    /// A ClickHouse table (`clickhouse://HOST:PORT/DB[?OPTIONS]`; see
    /// [`clickhouse::ClickHouseUrl`]; boxed, it is the largest by far).
    ClickHouse(Box<clickhouse::ClickHouseUrl>),
    /// No store (`none`).
    None,
}

impl std::str::FromStr for Target {
    type Err = String;

    /// `parquet:DIR`, `clickhouse://HOST:PORT/DB` or `none`; checks the form without
    /// touching anything (no directory made, no connection), so `g6 serve` can check
    /// every option before its first write.
    fn from_str(spec: &str) -> Result<Self, String> {
        if spec == "none" {
            return Ok(Target::None);
        }
        if let Some(dir) = spec.strip_prefix("parquet:") {
            if dir.is_empty() {
                return Err("parquet: needs a directory, e.g. parquet:./g6-data".into());
            }
            return Ok(Target::Parquet(dir.into()));
        }
        if spec.starts_with("clickhouse://") {
            return clickhouse::ClickHouseUrl::parse(spec).map(|u| Target::ClickHouse(Box::new(u)));
        }
        Err(format!(
            "{spec:?} is not a store; use parquet:DIR, clickhouse://HOST:PORT/DB or none"
        ))
    }
}

impl Target {
    /// The directory of a Parquet store (where retention and compaction run).
    pub fn parquet_dir(&self) -> Option<&std::path::Path> {
        match self {
            Target::Parquet(dir) => Some(dir),
            _ => None,
        }
    }

    /// Open the store (a Parquet directory is made; ClickHouse is not contacted yet).
    pub fn open(self) -> Result<Option<Box<dyn Store>>, String> {
        self.open_on(None)
    }

    /// [`Target::open`], with a network store's requests on `runtime` (the app's).
    pub fn open_on(
        self,
        runtime: Option<tokio::runtime::Handle>,
    ) -> Result<Option<Box<dyn Store>>, String> {
        match self {
            Target::None => Ok(None),
            Target::Parquet(dir) => parquet::ParquetStore::open(&dir)
                .map(|s| Some(Box::new(s) as Box<dyn Store>))
                .map_err(|e| e.to_string()),
            Target::ClickHouse(url) => clickhouse::ClickHouseStore::open_url(*url).map(|s| {
                let s = match runtime {
                    Some(r) => s.on_runtime(r),
                    None => s,
                };
                Some(Box::new(s) as Box<dyn Store>)
            }),
        }
    }
}

/// Check `--store` without touching anything (see [`Target`]).
pub fn check_spec(spec: &str) -> Result<(), String> {
    spec.parse::<Target>().map(|_| ())
}

/// Parse and open `--store`: `parquet:DIR`, `clickhouse://HOST:PORT/DB` or `none`.
pub fn open(spec: &str) -> Result<Option<Box<dyn Store>>, String> {
    spec.parse::<Target>()?.open()
}

/// Writer settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WriterConfig {
    /// Longest time rows wait in memory before a flush (the data at risk on a crash).
    pub flush_every: Duration,
    /// Flush early once this many rows wait.
    pub flush_rows: usize,
    /// Most rows held while the store fails; beyond, the oldest snapshots go (in
    /// process), or the consumer stops pulling (`drop_oldest: false`).
    pub backlog_rows: usize,
    /// Drop the oldest snapshots past the bound (a consumer that can wait, such as a
    /// JetStream durable, turns this off and checks [`Writer::full`] instead).
    pub drop_oldest: bool,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            flush_every: Duration::from_secs(10),
            flush_rows: 500_000,
            backlog_rows: 5_000_000,
            drop_oldest: true,
        }
    }
}

/// Longest wait between two attempts at a failing store.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Batches messages into the store; `T` is what a message must hand back once stored
/// (a JetStream message to acknowledge; `()` in process).
///
/// A flush can run off the writer's lock: [`Writer::begin_flush`] lends the store and
/// the waiting messages to a [`FlushJob`], and [`Writer::finish_flush`] takes the
/// result back. Messages pushed meanwhile wait behind the ones being written, and
/// those are never shed (they may already be stored).
pub struct Writer<T> {
    /// `None` while a [`FlushJob`] has it.
    store: Option<Box<dyn Store>>,
    check: MessageCheck,
    description: String,
    config: WriterConfig,
    pending: VecDeque<(Arc<ChainMessage>, T)>,
    rows: usize,
    /// The first `in_flight` pending messages are being written.
    in_flight: usize,
    last_flush: Instant,
    backoff: Duration,
    next_try: Instant,
    failing: Option<StoreFailure>,
}

/// One write, run without the writer's lock (see [`Writer::begin_flush`]).
pub struct FlushJob {
    store: Box<dyn Store>,
    messages: Vec<Arc<ChainMessage>>,
}

/// What a [`FlushJob`] did, for [`Writer::finish_flush`].
pub struct FlushDone {
    store: Box<dyn Store>,
    result: Result<Written, StoreError>,
}

impl FlushJob {
    /// Write the batch (this is the call that may block on a stalled store).
    pub fn run(mut self) -> FlushDone {
        let timer = metrics::cs_ingest_latency_seconds(TABLE).start_timer();
        let result = self.store.write(&self.messages);
        match &result {
            Ok(_) => {
                timer.stop_and_record();
            }
            Err(_) => {
                timer.stop_and_discard();
            }
        }
        FlushDone {
            store: self.store,
            result,
        }
    }
}

type SnapshotKey = (String, u64);

fn snapshot_key(m: &ChainMessage) -> SnapshotKey {
    (m.index.clone(), m.snapshot_id)
}

impl<T> Writer<T> {
    /// A writer into `store`.
    pub fn new(store: Box<dyn Store>, config: WriterConfig) -> Self {
        metrics::cs_ingest_rows_total(TABLE).inc_by(0);
        metrics::cs_ingest_bytes_total(TABLE).inc_by(0);
        metrics::cs_ingest_retries_total(TABLE).inc_by(0);
        // The latency histogram at zero too: its quantile rules have a series (NaN
        // until the first write) from the start.
        metrics::cs_ingest_latency_seconds(TABLE);
        for r in StoreFailure::ALL {
            metrics::cs_ingest_failures_total(TABLE, r).inc_by(0);
        }
        for r in StoreDropReason::ALL {
            metrics::cs_ingest_dropped_rows_total(TABLE, r).inc_by(0);
        }
        metrics::cs_ingest_backlog_rows(TABLE).set(0.0);
        metrics::cs_ingest_backlog_limit_rows(TABLE).set(config.backlog_rows as f64);
        metrics::cs_ingest_backpressure_active(TABLE).set(0.0);
        let now = Instant::now();
        Writer {
            check: store.message_check(),
            description: store.describe(),
            store: Some(store),
            config,
            pending: VecDeque::new(),
            rows: 0,
            in_flight: 0,
            last_flush: now,
            backoff: Duration::from_millis(500),
            next_try: now,
            failing: None,
        }
    }

    /// What the store is.
    pub fn describe(&self) -> String {
        self.description.clone()
    }

    /// Rows waiting (those being written included).
    pub fn backlog_rows(&self) -> usize {
        self.rows
    }

    /// True when the backlog is at its bound: a consumer that can wait should stop
    /// taking messages.
    pub fn full(&self) -> bool {
        self.rows >= self.bound()
    }

    fn gauges(&self) {
        metrics::cs_ingest_backlog_rows(TABLE).set(self.rows as f64);
        metrics::cs_ingest_backlog_limit_rows(TABLE).set(self.bound() as f64);
        let pressure = self.full() || (self.failing.is_some() && self.rows > 0);
        metrics::cs_ingest_backpressure_active(TABLE).set(if pressure { 1.0 } else { 0.0 });
    }

    /// Count `rows` the source lost before they reached this writer (an in-process
    /// subscriber that fell behind the bus ring) as dropped, `subscriber_lagged`.
    pub fn count_lost(&self, rows: u64) {
        if rows == 0 {
            return;
        }
        metrics::cs_ingest_dropped_rows_total(TABLE, StoreDropReason::SubscriberLagged)
            .inc_by(rows);
    }

    /// Take one message. A message the store can never take is refused (counted,
    /// `rejected`; its token comes back in the error). When the backlog is over its
    /// bound and dropping is on, the oldest whole snapshots are dropped (counted);
    /// their tokens are returned.
    pub fn push(&mut self, m: Arc<ChainMessage>, token: T) -> Result<Vec<T>, (StoreError, T)> {
        if let Err(e) = (self.check)(&m) {
            metrics::cs_ingest_dropped_rows_total(TABLE, StoreDropReason::Rejected)
                .inc_by(m.contracts.len() as u64);
            tracing::warn!(message = %m.message_id(), error = %e, "the store cannot take this message; set aside");
            return Err((e, token));
        }
        self.rows += m.contracts.len();
        self.pending.push_back((m, token));
        let dropped = self.shed();
        self.gauges();
        Ok(dropped)
    }

    /// The backlog bound in force: the configured one, scaled down by the memory
    /// governor under pressure.
    pub fn bound(&self) -> usize {
        crate::governor::controls().scaled(
            crate::labels::Buffer::StoreBacklog,
            self.config.backlog_rows,
            1,
        )
    }

    /// Drop the oldest whole snapshots until the backlog fits its bound (when
    /// dropping is on); returns their tokens. Rows over the configured bound count
    /// as `backlog_full`. The governor's smaller bound applies only while the store
    /// fails (a working store is flushed early instead, see [`Writer::due`]) and
    /// never drops the newest snapshot; what it drops counts as `memory_pressure`.
    /// A snapshot with a message being written is never dropped: it may be stored.
    pub fn shed(&mut self) -> Vec<T> {
        let mut dropped = Vec::new();
        if !self.config.drop_oldest {
            return dropped;
        }
        let bound = if self.failing.is_some() {
            self.bound()
        } else {
            self.config.backlog_rows
        };
        let newest = self.pending.back().map(|(m, _)| snapshot_key(m));
        let writing: Vec<SnapshotKey> = self
            .pending
            .iter()
            .take(self.in_flight)
            .map(|(m, _)| snapshot_key(m))
            .collect();
        let (mut full_rows, mut pressure_rows) = (0u64, 0u64);
        while self.rows > bound {
            let over_configured = self.rows > self.config.backlog_rows;
            // Every waiting message of the oldest snapshot not being written.
            let Some(key) = self
                .pending
                .iter()
                .skip(self.in_flight)
                .map(|(m, _)| snapshot_key(m))
                .find(|k| !writing.contains(k))
            else {
                break;
            };
            if !over_configured && Some(&key) == newest.as_ref() {
                break;
            }
            let mut kept = VecDeque::with_capacity(self.pending.len());
            let mut rows = 0u64;
            for (m, t) in self.pending.drain(..) {
                if m.index == key.0 && m.snapshot_id == key.1 {
                    self.rows -= m.contracts.len();
                    rows += m.contracts.len() as u64;
                    dropped.push(t);
                } else {
                    kept.push_back((m, t));
                }
            }
            self.pending = kept;
            if over_configured {
                full_rows += rows;
            } else {
                pressure_rows += rows;
            }
        }
        if full_rows > 0 {
            metrics::cs_ingest_dropped_rows_total(TABLE, StoreDropReason::BacklogFull)
                .inc_by(full_rows);
            tracing::warn!(
                rows = full_rows,
                bound = self.config.backlog_rows,
                "the store backlog is full: dropped the oldest snapshots"
            );
        }
        if pressure_rows > 0 {
            metrics::cs_ingest_dropped_rows_total(TABLE, StoreDropReason::MemoryPressure)
                .inc_by(pressure_rows);
            tracing::warn!(
                rows = pressure_rows,
                bound,
                "memory pressure: the store backlog bound is lowered; dropped the oldest snapshots"
            );
        }
        if full_rows + pressure_rows > 0 {
            self.gauges();
        }
        dropped
    }

    /// The tokens of the messages waiting to be stored.
    pub fn waiting(&self) -> impl Iterator<Item = &T> {
        self.pending.iter().map(|(_, t)| t)
    }

    /// True when a flush should run now.
    pub fn due(&self, now: Instant) -> bool {
        self.store.is_some()
            && !self.pending.is_empty()
            && now >= self.next_try
            && (self.failing.is_some()
                // Under memory pressure a working store is flushed before its rows
                // reach the governor's lower bound.
                || self.rows >= self.config.flush_rows.min(self.bound())
                || now.duration_since(self.last_flush) >= self.config.flush_every)
    }

    /// Lend the store and everything waiting to a [`FlushJob`] that runs without
    /// this writer (and its lock); `None` when nothing waits or a job is out.
    pub fn begin_flush(&mut self) -> Option<FlushJob> {
        if self.pending.is_empty() {
            return None;
        }
        let store = self.store.take()?;
        if self.failing.is_some() {
            metrics::cs_ingest_retries_total(TABLE).inc();
        }
        self.in_flight = self.pending.len();
        let messages = self.pending.iter().map(|(m, _)| Arc::clone(m)).collect();
        Some(FlushJob { store, messages })
    }

    /// Take back a [`FlushJob`]'s store and result. Returns the tokens of the stored
    /// messages; on a failure nothing is returned, the rows stay, and the next try
    /// waits a backoff.
    pub fn finish_flush(&mut self, done: FlushDone, now: Instant) -> Result<Vec<T>, StoreError> {
        self.store = Some(done.store);
        let in_flight = std::mem::take(&mut self.in_flight);
        match done.result {
            Ok(w) => {
                metrics::cs_ingest_rows_total(TABLE).inc_by(w.rows);
                metrics::cs_ingest_bytes_total(TABLE).inc_by(w.bytes);
                if let Some(reason) = self.failing.take() {
                    tracing::info!(
                        reason = reason.as_str(),
                        rows = w.rows,
                        "the store takes rows again"
                    );
                }
                self.backoff = Duration::from_millis(500);
                self.last_flush = now;
                let tokens = self
                    .pending
                    .drain(..in_flight.min(self.pending.len()))
                    .map(|(m, t)| {
                        self.rows -= m.contracts.len();
                        t
                    })
                    .collect();
                self.gauges();
                Ok(tokens)
            }
            Err(e) => {
                metrics::cs_ingest_failures_total(TABLE, e.reason).inc();
                if self.failing != Some(e.reason) {
                    tracing::warn!(reason = e.reason.as_str(), error = %e, backlog_rows = self.rows, "cannot write to the store; rows wait in the backlog and are retried");
                }
                self.failing = Some(e.reason);
                self.next_try = now + self.backoff;
                self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                self.gauges();
                Err(e)
            }
        }
    }

    /// Write everything waiting, on this thread. Returns the tokens of the stored
    /// messages; on a failure nothing is returned, the rows stay, and the next try
    /// waits a backoff.
    pub fn flush(&mut self, now: Instant) -> Result<Vec<T>, StoreError> {
        match self.begin_flush() {
            Some(job) => {
                let done = job.run();
                self.finish_flush(done, now)
            }
            None => {
                if self.pending.is_empty() {
                    self.last_flush = now;
                }
                Ok(Vec::new())
            }
        }
    }

    /// The last flush at shutdown: one try; what it cannot store is counted dropped
    /// (unless the source keeps it: a JetStream consumer gets it again).
    pub fn close(&mut self) -> Vec<T> {
        let stored = self.flush(Instant::now()).unwrap_or_default();
        if self.rows > 0 && !self.config.drop_oldest {
            tracing::warn!(
                rows = self.rows,
                "stopping with rows the store did not take; the stream delivers them again"
            );
            self.pending.clear();
            self.rows = 0;
            self.gauges();
        }
        if self.rows > 0 {
            metrics::cs_ingest_dropped_rows_total(TABLE, StoreDropReason::Shutdown)
                .inc_by(self.rows as u64);
            tracing::warn!(
                rows = self.rows,
                "stopping with rows the store did not take"
            );
            self.pending.clear();
            self.rows = 0;
            self.gauges();
        }
        stored
    }
}

/// Longest the write thread sleeps between looks at the backlog.
const WRITE_POLL: Duration = Duration::from_millis(50);

/// Run a writer fed by an in-process bus subscription until `stop` is given (then
/// everything published is taken and flushed once). Two threads: `g6-store-drain`
/// waits on the ring and moves every message into the writer's backlog, never
/// waiting on a write; `g6-store` writes (off the lock) and runs the lifecycle job
/// between flushes. The handle is the write thread's, which joins the drain before its
/// last flush.
pub fn spawn_in_process(
    writer: Writer<()>,
    mut subscription: crate::bus::inproc::Subscription,
    mut lifecycle: Option<lifecycle::Lifecycle>,
    stop: crate::shutdown::Stop,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    // The drained mark lives under the writer's lock, so the writer thread sees it
    // and waits on the condition variable atomically (no wakeup lost between them).
    let shared = Arc::new((
        Mutex::new(Draining {
            writer,
            drained: false,
        }),
        Condvar::new(),
    ));
    let drain = {
        let shared = Arc::clone(&shared);
        // The ring is a tokio broadcast channel: waiting on it, and on the stop
        // signal, needs an executor but no I/O or timers.
        let waiter = tokio::runtime::Builder::new_current_thread().build()?;
        std::thread::Builder::new()
            .name("g6-store-drain".into())
            .spawn(move || {
                let (writer, wake) = &*shared;
                let take = |m: Arc<crate::bus::message::ChainMessage>,
                            sub: &mut crate::bus::inproc::Subscription| {
                    let lost = sub.take_lost_rows();
                    let mut w = lock(writer);
                    w.writer.count_lost(lost);
                    // Refusals and drops are counted inside.
                    let _ = w.writer.push(m, ());
                    drop(w);
                    wake.notify_one();
                };
                waiter.block_on(async {
                    loop {
                        tokio::select! {
                            // Messages first: a stop given while the ring holds some
                            // still takes them below.
                            biased;
                            m = subscription.recv() => match m {
                                Some(m) => take(m, &mut subscription),
                                None => break,
                            },
                            () = stop.stopped() => break,
                        }
                    }
                });
                // Stopped after the last publish: what was published is in the ring.
                while let Ok(m) = subscription.try_recv() {
                    take(m, &mut subscription);
                }
                let lost = subscription.take_lost_rows();
                {
                    let mut w = lock(writer);
                    w.writer.count_lost(lost);
                    w.drained = true;
                }
                wake.notify_one();
            })?
    };
    std::thread::Builder::new()
        .name("g6-store".into())
        .spawn(move || {
            let (writer, wake) = &*shared;
            loop {
                let now = Instant::now();
                let job = {
                    let mut w = lock(writer);
                    if w.drained {
                        break;
                    }
                    // The governor may have lowered the bound since the last message.
                    w.writer.shed();
                    if w.writer.due(now) {
                        w.writer.begin_flush()
                    } else {
                        None
                    }
                };
                if let Some(job) = job {
                    let done = job.run();
                    let _ = lock(writer).writer.finish_flush(done, Instant::now());
                    continue;
                }
                if let Some(l) = lifecycle.as_mut() {
                    l.tick(now);
                }
                let w = lock(writer);
                if !w.drained {
                    let _ = wake.wait_timeout(w, WRITE_POLL);
                }
            }
            let _ = drain.join();
            lock(writer).writer.close();
        })
}

/// The in-process store's writer and whether the drain thread has handed it
/// everything.
struct Draining {
    writer: Writer<()>,
    drained: bool,
}

/// The writer's lock; a panic elsewhere never takes the rows with it.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
