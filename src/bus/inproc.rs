//! The in-process bus (the default): a bounded broadcast ring. Publishing never waits
//! for a subscriber; a subscriber that falls more than the ring behind loses the
//! oldest messages, and that loss is counted against its name
//! (`g6_bus_subscriber_lost_messages_total{drop_reason="subscriber_lagged"}`).

use super::{Bus, ChainMessage, TOPIC};
use crate::labels::DropReason;
use crate::metrics;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::broadcast;

/// The `bus` label of the in-process bus.
pub const NAME: &str = "inproc";

/// Default ring size in messages (a snapshot of three indices with a few expiries
/// each is a dozen messages; the ring holds a few minutes of them).
pub const DEFAULT_CAPACITY: usize = 512;

/// The in-process bus.
pub struct InProcessBus {
    tx: broadcast::Sender<Arc<ChainMessage>>,
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
        Subscription {
            rx: self.tx.subscribe(),
            name: name.to_string(),
            lost,
            lag: metrics::bus_consumer_lag_messages_with(NAME, name),
            subscribers: Arc::clone(&self.subscribers),
            lost_total: 0,
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
        for m in messages {
            let started = Instant::now();
            // An error only means nobody is subscribed: the message is not owed to anyone.
            let _ = self.tx.send(Arc::clone(m));
            latency.observe(started.elapsed().as_secs_f64());
        }
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
    rx: broadcast::Receiver<Arc<ChainMessage>>,
    name: String,
    lost: &'static crate::Counter,
    lag: &'static crate::Gauge,
    subscribers: Arc<AtomicUsize>,
    lost_total: u64,
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

    fn count_lost(&mut self, n: u64) {
        self.lost_total += n;
        self.lost.inc_by(n);
        tracing::warn!(
            subscriber = %self.name,
            lost = n,
            "a bus subscriber fell behind the ring and lost the oldest messages"
        );
    }

    /// The next message; `None` once the bus is gone.
    pub async fn recv(&mut self) -> Option<Arc<ChainMessage>> {
        loop {
            match self.rx.recv().await {
                Ok(m) => {
                    self.lag.set(self.rx.len() as f64);
                    return Some(m);
                }
                Err(broadcast::error::RecvError::Lagged(n)) => self.count_lost(n),
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// The next message if one is waiting.
    pub fn try_recv(&mut self) -> Result<Arc<ChainMessage>, TryRecv> {
        loop {
            match self.rx.try_recv() {
                Ok(m) => {
                    self.lag.set(self.rx.len() as f64);
                    return Ok(m);
                }
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
                Ok(m) => {
                    self.lag.set(self.rx.len() as f64);
                    return Some(m);
                }
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
