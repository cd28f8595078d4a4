//! The per-contract bus: after every good snapshot the collector publishes one
//! [`ChainMessage`] per (index, expiry) with every accepted contract. The bus is the
//! spine the column store, the live slice and replay hang on; Prometheus never sees
//! a contract.
//!
//! Two [`Bus`] implementations: [`inproc::InProcessBus`] (the default: a bounded
//! broadcast ring, no server) and [`nats::NatsBus`] (NATS JetStream: an outbox, acks,
//! `Nats-Msg-Id` dedupe). Neither ever blocks the collector. The [`Publisher`] gives
//! snapshot ids, builds the messages, gates unchanged ones and feeds the `stream`
//! family.

pub mod inproc;
pub mod message;
pub mod nats;
pub mod nats_auth;

pub use message::ChainMessage;

use crate::labels::Source;
use crate::metrics;
use crate::option_chain::Snapshot;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

/// The `topic` label of the chain messages.
pub const TOPIC: &str = "chain";

/// The `kind` label of a chain message in `g6_stream_events_total`.
pub const EVENT_KIND: &str = "chain";

/// Where the collector hands its messages. Implementations never block and never
/// panic because of a server: what cannot be delivered waits in a bounded buffer, and
/// what a bound forces out is counted with a reason.
pub trait Bus: Send + Sync {
    /// The `bus` label (`inproc`, `nats`).
    fn name(&self) -> &str;
    /// Hand over the messages of one snapshot (all of its indices and expiries). The
    /// snapshot is the unit the bounds drop.
    fn publish(&self, messages: &[Arc<ChainMessage>]);
    /// Stop: wait at most `timeout` for queued messages to be delivered; what is left
    /// is counted as dropped (`shutdown`). Returns the number left.
    fn close(&self, timeout: Duration) -> usize {
        let _ = timeout;
        0
    }
}

/// Largest number of (index, expiry, part) keys the gate remembers.
const GATE_KEYS: usize = 10_000;

/// Gives snapshot ids, builds messages and hands them to every bus.
pub struct Publisher {
    buses: Vec<Arc<dyn Bus>>,
    /// Last snapshot id per index (bounded with the aggregator's index limit).
    ids: BTreeMap<String, u64>,
    /// (index, expiry) -> (as_of_ms, content hash of all its parts) last sent.
    gate: HashMap<(String, String), (i64, u64)>,
}

impl Publisher {
    /// A publisher to `buses`.
    pub fn new(buses: Vec<Arc<dyn Bus>>) -> Self {
        // Every bus counter of the active buses at zero: a failure, retry, dedupe or
        // drop rate reads 0 on a healthy run instead of nothing.
        for bus in &buses {
            let name = bus.name();
            metrics::bus_events_published_total(name, TOPIC).inc_by(0);
            metrics::bus_published_rows_total(name).inc_by(0);
            metrics::bus_publish_retries_total(name).inc_by(0);
            metrics::bus_dedupe_hits_total(name).inc_by(0);
            for r in crate::labels::BusFailure::ALL {
                metrics::bus_publish_failures_total(name, r).inc_by(0);
            }
            for r in crate::labels::DropReason::ALL {
                metrics::bus_dropped_messages_total(name, r).inc_by(0);
            }
        }
        metrics::stream_events_total(EVENT_KIND).inc_by(0);
        Publisher {
            buses,
            ids: BTreeMap::new(),
            gate: HashMap::new(),
        }
    }

    /// The buses published to.
    pub fn buses(&self) -> &[Arc<dyn Bus>] {
        &self.buses
    }

    /// The next snapshot id of `index`: the fetch time in microseconds, or one more
    /// than the last id when the clock has not moved on (unique and increasing, also
    /// across restarts on a sane clock).
    fn next_id(&mut self, index: &str, now_us: u64) -> u64 {
        let id = match self.ids.get(index) {
            Some(last) => now_us.max(last.saturating_add(1)),
            None => now_us,
        };
        self.ids.insert(index.to_string(), id);
        let bound = crate::option_chain::aggregate::max_indices() * 4;
        while self.ids.len() > bound {
            // The index not published for longest goes first.
            let oldest = self
                .ids
                .iter()
                .min_by_key(|(_, id)| **id)
                .map(|(i, _)| i.clone());
            match oldest {
                Some(i) => self.ids.remove(&i),
                None => break,
            };
        }
        id
    }

    /// Publish the accepted contracts of `snapshot` (`rows`: positions in
    /// `snapshot.rows`, as [`crate::option_chain::aggregate::Aggregation::accepted_rows`]
    /// gives them). `now` is Unix seconds. Returns the messages sent.
    pub fn publish(
        &mut self,
        snapshot: &Snapshot,
        rows: &[u32],
        source: Source,
        provider: &str,
        now: f64,
    ) -> Vec<Arc<ChainMessage>> {
        let as_of_ms = snapshot.as_of.map(|t| t.saturating_mul(1000));
        self.publish_as_of_ms(snapshot, rows, source, provider, now, as_of_ms)
    }

    /// [`Self::publish`] with the as-of time in milliseconds (a replay keeps the
    /// stored milliseconds; a snapshot's own `as_of` is whole seconds). `None` is now.
    pub fn publish_as_of_ms(
        &mut self,
        snapshot: &Snapshot,
        rows: &[u32],
        source: Source,
        provider: &str,
        now: f64,
        as_of_ms: Option<i64>,
    ) -> Vec<Arc<ChainMessage>> {
        self.publish_priced(snapshot, rows, None, source, provider, now, as_of_ms)
    }

    /// [`Self::publish_as_of_ms`] with the rows' IVs and Greeks already worked out
    /// (the runner's, shared with the chain analytics).
    #[allow(clippy::too_many_arguments)] // the publish arguments plus the shared pricing
    pub fn publish_priced(
        &mut self,
        snapshot: &Snapshot,
        rows: &[u32],
        priced: Option<&crate::option_chain::exposure::PricedRows>,
        source: Source,
        provider: &str,
        now: f64,
        as_of_ms: Option<i64>,
    ) -> Vec<Arc<ChainMessage>> {
        let now_us = (now * 1e6).max(0.0) as u64;
        let given = as_of_ms.is_some();
        // The data's own time, never in the future.
        let as_of_ms = as_of_ms.map_or((now * 1e3) as i64, |t| t.min((now * 1e3) as i64));
        let built = message::build_priced(snapshot, rows, priced, as_of_ms, source, provider);
        // One id per index of this snapshot.
        let mut ids: BTreeMap<String, u64> = BTreeMap::new();
        for m in &built {
            if !ids.contains_key(&m.index) {
                let id = self.next_id(&m.index, now_us);
                ids.insert(m.index.clone(), id);
            }
        }
        let mut out = Vec::with_capacity(built.len());
        let mut built = built.into_iter().peekable();
        while let Some(first) = built.next() {
            // The parts of one (index, expiry) go together (they are adjacent).
            let mut group = vec![first];
            while let Some(next) = built
                .next_if(|m| m.part > 0 && m.index == group[0].index && m.expiry == group[0].expiry)
            {
                group.push(next);
            }
            // A provider that reports its as-of time and hands back the same data (a
            // file read again) must not flood the bus with copies.
            if given && self.unchanged(&group) {
                metrics::stream_gate_skips_total("unchanged").inc_by(group.len() as u64);
                continue;
            }
            for mut m in group {
                m.snapshot_id = ids.get(&m.index).copied().unwrap_or(now_us);
                out.push(Arc::new(m));
            }
        }
        if out.is_empty() {
            return out;
        }
        let rows: u64 = out.iter().map(|m| m.contracts.len() as u64).sum();
        for bus in &self.buses {
            bus.publish(&out);
            metrics::bus_published_rows_total(bus.name()).inc_by(rows);
        }
        metrics::stream_events_total(EVENT_KIND).inc_by(out.len() as u64);
        metrics::stream_lag_seconds().set((now - as_of_ms as f64 / 1e3).max(0.0));
        out
    }

    /// True when the parts of one (index, expiry) have the same as-of time and
    /// content as the last ones sent; remembers them otherwise.
    fn unchanged(&mut self, parts: &[ChainMessage]) -> bool {
        use std::hash::{BuildHasher, Hasher};
        let m = &parts[0];
        let mut h = foldhash::fast::FixedState::with_seed(0x6_2026).build_hasher();
        h.write_u64(m.spot.to_bits());
        h.write_usize(parts.len());
        for part in parts {
            h.write_usize(part.contracts.len());
            for c in &part.contracts {
                for v in [c.strike, c.open_interest, c.volume] {
                    h.write_u64(v.to_bits());
                }
                h.write_i32(c.option_type);
                for v in [c.iv, c.bid, c.ask, c.spread_bps, c.moneyness, c.dte_days] {
                    h.write_u64(v.map_or(u64::MAX, f64::to_bits));
                }
            }
        }
        let value = (m.as_of_ms, h.finish());
        let key = (m.index.clone(), m.expiry.clone());
        if self.gate.get(&key) == Some(&value) {
            return true;
        }
        if self.gate.len() >= GATE_KEYS {
            self.gate.clear();
        }
        self.gate.insert(key, value);
        false
    }

    /// Close every bus, waiting at most `timeout` in all. Returns messages left.
    pub fn close(&self, timeout: Duration) -> usize {
        let deadline = std::time::Instant::now() + timeout;
        self.buses
            .iter()
            .map(|b| b.close(deadline.saturating_duration_since(std::time::Instant::now())))
            .sum()
    }
}
