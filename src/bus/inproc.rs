//! The in-process bus (the default): a bounded broadcast ring. Publishing never waits
//! for a subscriber; a subscriber that falls more than the ring behind loses the
//! oldest messages, and that loss is counted against its name
//! (`g6_bus_subscriber_lost_messages_total{drop_reason="subscriber_lagged"}`).
//! Every message carries the number of rows published before it, so a subscriber
//! that lost some also knows exactly how many rows it lost ([`Subscription::take_lost_rows`]):
//! the column store counts them as dropped rows, and its ledger closes.

use super::{Bus, ChainMessage, TOPIC};
use crate::labels::DropReason;
use crate::metrics;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::broadcast;

/// The `bus` label of the in-process bus.
pub const NAME: &str = "inproc";

/// Default ring size in messages (a snapshot of three indices with a few expiries
/// each is a dozen messages; the ring holds a few minutes of them).
pub const DEFAULT_CAPACITY: usize = 512;

/// What the ring carries: a message and the rows published before it.
#[derive(Clone)]
struct Envelope {
    rows_before: u64,
    message: Arc<ChainMessage>,
}

/// The in-process bus.
pub struct InProcessBus {
    tx: broadcast::Sender<Envelope>,
    /// Rows published so far; held while sending so that the ring's order and the
    /// running count agree (one lock a snapshot, not a message).
    published_rows: Mutex<u64>,
    subscribers: Arc<AtomicUsize>,
}

impl InProcessBus {
    /// A bus whose ring holds `capacity` messages (at least 1).
    pub fn new(capacity: usize) -> Arc<Self> {
        let (tx, _) = broadcast::channel(capacity.max(1));
        metrics::bus_connected(NAME).set(1.0);
        metrics::bus_subscribers(NAME).set(0.0);
        metrics::bus_queue_depth(NAME).set(0.0);
        Arc::new(InProcessBus {
            tx,
            published_rows: Mutex::new(0),
            subscribers: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// Subscribe from now on, under `name` (the `subscriber` label of its loss and lag).
    pub fn subscribe(&self, name: &str) -> Subscription {
        let n = self.subscribers.fetch_add(1, Ordering::Relaxed) + 1;
        metrics::bus_subscribers(NAME).set(n as f64);
        let lost = metrics::bus_subscriber_lost_messages_total_with(
            NAME,
            name,
            DropReason::SubscriberLagged,
        );
        lost.inc_by(0);
        // Subscribe under the publish lock: the first message it gets starts where
        // the count stands now.
        let published = self
            .published_rows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let rx = self.tx.subscribe();
        let next_rows = *published;
        drop(published);
        Subscription {
            rx,
            next_rows,
            lost_rows: 0,
            name: name.to_string(),
            lost,
            lag: metrics::bus_consumer_lag_messages_with(NAME, name),
            subscribers: Arc::clone(&self.subscribers),
            lost_total: 0,
            last_log: None,
            unlogged: 0,
        }
    }

    /// Messages held in the ring for the slowest subscriber.
    pub fn queued(&self) -> usize {
        self.tx.len()
    }
}

impl Bus for InProcessBus {
    fn name(&self) -> &str {
        NAME
    }

    fn publish(&self, messages: &[Arc<ChainMessage>]) {
        let latency = metrics::bus_publish_latency_seconds(NAME);
        let mut published = self
            .published_rows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for m in messages {
            let started = Instant::now();
            let envelope = Envelope {
                rows_before: *published,
                message: Arc::clone(m),
            };
            *published += m.contracts.len() as u64;
            // An error only means nobody is subscribed: the message is not owed to anyone.
            let _ = self.tx.send(envelope);
            latency.observe(started.elapsed().as_secs_f64());
        }
        drop(published);
        metrics::bus_events_published_total(NAME, TOPIC).inc_by(messages.len() as u64);
        metrics::bus_queue_depth(NAME).set(self.tx.len() as f64);
    }
}

/// Why [`Subscription::try_recv`] returned nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryRecv {
    /// Nothing new yet.
    Empty,
    /// The bus is gone.
    Closed,
}

/// One subscriber of the in-process bus.
pub struct Subscription {
    rx: broadcast::Receiver<Envelope>,
    /// The published-rows count the next message should start at.
    next_rows: u64,
    /// Rows lost and not yet taken by [`Subscription::take_lost_rows`].
    lost_rows: u64,
    name: String,
    lost: &'static crate::Counter,
    lag: &'static crate::Gauge,
    subscribers: Arc<AtomicUsize>,
    lost_total: u64,
    /// When the loss was last logged, and losses since (logged at most once a minute).
    last_log: Option<Instant>,
    unlogged: u64,
}

impl Subscription {
    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Messages this subscriber lost by falling behind, so far.
    pub fn lost(&self) -> u64 {
        self.lost_total
    }

    /// Rows this subscriber lost since the last call (exact: every message carries
    /// the rows published before it). A consumer with a ledger counts them as drops.
    pub fn take_lost_rows(&mut self) -> u64 {
        std::mem::take(&mut self.lost_rows)
    }

    /// Unwrap a received envelope, noting the rows of any messages skipped before it.
    fn open(&mut self, e: Envelope) -> Arc<ChainMessage> {
        self.lost_rows += e.rows_before.saturating_sub(self.next_rows);
        self.next_rows = e.rows_before + e.message.contracts.len() as u64;
        self.lag.set(self.rx.len() as f64);
        e.message
    }

    fn count_lost(&mut self, n: u64) {
        self.lost_total += n;
        self.lost.inc_by(n);
        self.unlogged += n;
        let now = Instant::now();
        if self
            .last_log
            .is_none_or(|t| now.duration_since(t) >= std::time::Duration::from_secs(60))
        {
            tracing::warn!(
                subscriber = %self.name,
                lost = self.unlogged,
                total = self.lost_total,
                "a bus subscriber fell behind the ring and lost the oldest messages (logged at most once a minute)"
            );
            self.last_log = Some(now);
            self.unlogged = 0;
        }
    }

    /// The next message; `None` once the bus is gone.
    pub async fn recv(&mut self) -> Option<Arc<ChainMessage>> {
        loop {
            match self.rx.recv().await {
                Ok(e) => return Some(self.open(e)),
                Err(broadcast::error::RecvError::Lagged(n)) => self.count_lost(n),
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// The next message if one is waiting.
    pub fn try_recv(&mut self) -> Result<Arc<ChainMessage>, TryRecv> {
        loop {
            match self.rx.try_recv() {
                Ok(e) => return Ok(self.open(e)),
                Err(broadcast::error::TryRecvError::Lagged(n)) => self.count_lost(n),
                Err(broadcast::error::TryRecvError::Empty) => return Err(TryRecv::Empty),
                Err(broadcast::error::TryRecvError::Closed) => return Err(TryRecv::Closed),
            }
        }
    }

    /// The next message, waiting on this thread (not inside an async runtime).
    pub fn blocking_recv(&mut self) -> Option<Arc<ChainMessage>> {
        loop {
            match self.rx.blocking_recv() {
                Ok(e) => return Some(self.open(e)),
                Err(broadcast::error::RecvError::Lagged(n)) => self.count_lost(n),
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let n = self
            .subscribers
            .fetch_sub(1, Ordering::Relaxed)
            .saturating_sub(1);
        metrics::bus_subscribers(NAME).set(n as f64);
        self.lag.set(0.0);
    }
}
