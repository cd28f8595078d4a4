//! The live hub: from the bus's chain messages to near-ATM windows per (index, expiry,
//! window size), and their fan-out to SSE clients. Every view keeps its current
//! window, the last [`RING`] diffs (so a client that reconnects with `Last-Event-ID`
//! gets what it missed), and its clients, each with a bounded queue: a client whose
//! queue is full is disconnected and counted, so one slow client never delays the
//! others or the hub.

use super::window::{self, Leg, Row, Window};
use crate::bus::message::{ChainMessage, WireOptionType};
use crate::labels::{DropReason, SseEvent, WriteMode};
use crate::metrics;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};
use tokio::sync::mpsc;

/// Diffs kept per view for reconnecting clients.
pub const RING: usize = 256;
/// Events queued per client before it counts as too slow and is disconnected.
pub const CLIENT_QUEUE: usize = 64;
/// Most strikes on each side of the ATM strike a client may ask for.
pub const MAX_STRIKES: usize = 50;
/// Most (index, expiry) channels held; the oldest-updated goes past it.
pub const MAX_CHANNELS: usize = 512;
/// Most contracts held per channel (the rest of a huge expiry is ignored).
pub const MAX_CONTRACTS: usize = 20_000;
/// Most window sizes served at once per channel (each is re-diffed every snapshot).
pub const MAX_VIEWS: usize = 8;
/// A view without clients for this long is dropped (a reconnect after it gets a full).
pub const VIEW_GRACE: std::time::Duration = std::time::Duration::from_secs(60);
/// Most parts one snapshot of an (index, expiry) may come in.
pub const MAX_PARTS: u32 = 64;

/// One SSE event ready to send: when it was made (flush latency), its kind, bytes.
#[derive(Debug, Clone)]
pub struct Event {
    /// When the hub made it.
    pub made: Instant,
    /// full, diff or heartbeat.
    pub kind: SseEvent,
    /// Its `data:` (JSON: a window or a diff; `{}` for a heartbeat).
    pub data: Arc<str>,
    /// As-of time of the data, ms (for the stream lag).
    pub as_of_ms: i64,
    /// Its `id:` (a heartbeat repeats the client's last one).
    pub id: Arc<str>,
}

impl Event {
    /// Its size on the wire (`id: …`, `event: …` and `data: …` lines and the blank line).
    pub fn wire_len(&self) -> usize {
        "id: \nevent: \ndata: \n\n".len()
            + self.id.len()
            + self.kind.as_str().len()
            + self.data.len()
    }

    /// The server-sent event to send (the id is left out when empty: a client that
    /// has seen none keeps none).
    pub fn to_sse(&self) -> axum::response::sse::Event {
        let ev = axum::response::sse::Event::default();
        let ev = if self.id.is_empty() {
            ev
        } else {
            ev.id(&*self.id)
        };
        ev.event(self.kind.as_str()).data(&*self.data)
    }
}

struct Client {
    tx: mpsc::Sender<Event>,
    /// Ends the client's connection at once (it may not be reading).
    kick: Option<Kick>,
}

/// How the hub ends a client's connection.
pub type Kick = Arc<dyn Fn() + Send + Sync>;

struct View {
    /// Distinguishes this view's ids from any other's (another process, another view).
    epoch: u64,
    seq: u64,
    window: Window,
    ring: VecDeque<(u64, Event)>,
    clients: Vec<Client>,
    /// Since when it has had no client.
    idle_since: Option<Instant>,
}

impl View {
    fn id(&self, seq: u64) -> String {
        format!("{}.{seq}", self.epoch)
    }

    fn full_event(&self) -> Event {
        let data = serde_json::to_string(&self.window).unwrap_or_default();
        let id = self.id(self.seq);
        let ev = Event {
            made: Instant::now(),
            kind: SseEvent::Full,
            data: data.into(),
            as_of_ms: self.window.as_of_ms,
            id: id.into(),
        };
        metrics::panel_writes_total(WriteMode::Full).inc();
        metrics::panel_write_bytes_total(WriteMode::Full).inc_by(ev.wire_len() as u64);
        ev
    }
}

#[derive(Default)]
struct Channel {
    index: String,
    expiry: String,
    spot: f64,
    as_of_ms: i64,
    /// What the data is (see [`Window::source`]).
    source: String,
    /// Every strike of the expiry, ascending.
    all: Vec<Row>,
    /// (strike bits, is call) -> the first open interest seen this session.
    first_oi: HashMap<(u64, bool), f64>,
    /// Snapshot being assembled from its parts: (snapshot id, parts, parts received as
    /// a bit set, rows).
    pending: Option<(u64, u32, u64, Vec<crate::bus::message::Contract>)>,
    views: BTreeMap<usize, View>,
    touched: u64,
}

/// What a client gets on connecting.
pub struct Subscription {
    /// Events to send first (a full, or the missed diffs).
    pub backlog: Vec<Event>,
    /// Then everything new.
    pub events: mpsc::Receiver<Event>,
}

/// Why a subscription was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// No data for that index (or expiry) yet.
    Unknown(String),
    /// The hub is shutting down.
    Closed,
    /// Too many window sizes are served for that channel already.
    TooManyViews,
}

/// The live hub.
#[derive(Default)]
pub struct Hub {
    inner: Mutex<State>,
}

#[derive(Default)]
struct State {
    channels: HashMap<(String, String), Channel>,
    tick: u64,
    closed: bool,
    /// What every event says the data is, when the app knows better than the
    /// messages (a replay's speed).
    source_label: Option<String>,
}

fn epoch() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    // Unique within the process, and across restarts by the clock.
    now.wrapping_mul(1000)
        .wrapping_add(NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 1000)
}

impl Hub {
    /// An empty hub.
    pub fn new() -> Arc<Hub> {
        metrics::sse_connections().set(0.0);
        metrics::stream_connected_clients().set(0.0);
        metrics::sse_slow_client_disconnects_total().inc_by(0);
        metrics::panel_full_resyncs_total().inc_by(0);
        for k in SseEvent::ALL {
            metrics::sse_events_sent_total(k).inc_by(0);
        }
        for m in WriteMode::ALL {
            metrics::panel_writes_total(m).inc_by(0);
            metrics::panel_write_bytes_total(m).inc_by(0);
        }
        Arc::new(Hub::default())
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Indices and their expiries with data, sorted.
    pub fn catalog(&self) -> BTreeMap<String, Vec<String>> {
        let st = self.state();
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (i, e) in st.channels.keys() {
            out.entry(i.clone()).or_default().push(e.clone());
        }
        for v in out.values_mut() {
            v.sort();
        }
        out
    }

    /// Whether (index, expiry) has data.
    pub fn has(&self, index: &str, expiry: &str) -> bool {
        self.state()
            .channels
            .contains_key(&(index.to_string(), expiry.to_string()))
    }

    /// The nearest expiry of `index` on or after `today` (`YYYY-MM-DD`), else its
    /// latest.
    pub fn nearest_expiry(&self, index: &str, today: &str) -> Option<String> {
        let cat = self.catalog();
        let list = cat.get(index)?;
        list.iter()
            .find(|e| e.as_str() >= today)
            .or(list.last())
            .cloned()
    }

    /// Take one bus message; when it completes a snapshot of its (index, expiry), the
    /// views move on and their clients get a diff.
    ///
    /// Its ledger: every message taken is applied, waits for the rest of its
    /// snapshot's parts, or is counted in
    /// `g6_bus_subscriber_lost_messages_total{subscriber="live"}` (`invalid`,
    /// `incomplete`, `shutdown`; `subscriber_lagged` is counted by the subscription).
    /// Say `label` as every event's source instead of what the messages carry
    /// (`REPLAY x10`: the replay knows its speed).
    pub fn set_source_label(&self, label: impl Into<String>) {
        self.state().source_label = Some(label.into());
    }

    pub fn publish(&self, m: &ChainMessage) {
        let mut st = self.state();
        if st.closed {
            lost(DropReason::Shutdown, 1);
            return;
        }
        st.tick += 1;
        let tick = st.tick;
        let label = source_label(st.source_label.as_deref(), m);
        let key = (m.index.clone(), m.expiry.clone());
        if !st.channels.contains_key(&key) && st.channels.len() >= MAX_CHANNELS {
            // Bounded: the channel updated longest ago goes (its clients end).
            if let Some(old) = st
                .channels
                .iter()
                .min_by_key(|(_, c)| c.touched)
                .map(|(k, _)| k.clone())
            {
                st.channels.remove(&old);
            }
        }
        let ch = st.channels.entry(key).or_insert_with(|| Channel {
            index: m.index.clone(),
            expiry: m.expiry.clone(),
            ..Channel::default()
        });
        ch.touched = tick;
        ch.source = label;
        let parts = m.parts.max(1);
        if parts > MAX_PARTS || m.part >= parts || !m.spot.is_finite() {
            lost(DropReason::Invalid, 1);
            return;
        }
        // Each part (numbered from 0) once: a repeated part cannot complete a
        // snapshot missing another.
        let bit = 1u64 << m.part;
        let complete = match &mut ch.pending {
            Some((id, n, got, rows)) if *id == m.snapshot_id && *n == parts => {
                if *got & bit == 0 {
                    *got |= bit;
                    rows.extend(m.contracts.iter().cloned());
                } else {
                    lost(DropReason::Invalid, 1);
                }
                got.count_ones() >= parts
            }
            _ => {
                // The parts of an older snapshot that never completed go.
                if let Some((_, _, got, _)) = &ch.pending {
                    lost(DropReason::Incomplete, u64::from(got.count_ones()));
                }
                ch.pending = Some((m.snapshot_id, parts, bit, m.contracts.clone()));
                parts <= 1
            }
        };
        if !complete {
            return;
        }
        let Some((_, _, _, contracts)) = ch.pending.take() else {
            return;
        };
        ch.update(m, contracts);
    }

    /// Subscribe to (index, expiry) with `strikes` each side; `last_id` is the
    /// client's `Last-Event-ID`.
    pub fn subscribe(
        &self,
        index: &str,
        expiry: &str,
        strikes: usize,
        last_id: Option<&str>,
        kick: Option<Kick>,
    ) -> Result<Subscription, Refused> {
        let mut st = self.state();
        if st.closed {
            return Err(Refused::Closed);
        }
        let strikes = strikes.clamp(1, max_strikes());
        let ch = st
            .channels
            .get_mut(&(index.to_string(), expiry.to_string()))
            .ok_or_else(|| Refused::Unknown(format!("no data for {index} expiry {expiry} yet")))?;
        if !ch.views.contains_key(&strikes) && ch.views.len() >= MAX_VIEWS {
            ch.prune(Instant::now(), std::time::Duration::ZERO);
            if ch.views.len() >= MAX_VIEWS {
                return Err(Refused::TooManyViews);
            }
        }
        let view = ch.view(strikes);
        view.clients.retain(|c| !c.tx.is_closed());
        let missed: Option<Vec<Event>> = last_id.and_then(|id| {
            let (e, s) = id.split_once('.')?;
            let (e, s): (u64, u64) = (e.parse().ok()?, s.parse().ok()?);
            if e != view.epoch || s > view.seq {
                return None;
            }
            if s == view.seq {
                return Some(Vec::new());
            }
            // Every diff after `s` must still be held.
            let from = view.ring.iter().position(|(k, _)| *k == s + 1)?;
            Some(
                view.ring
                    .iter()
                    .skip(from)
                    // Sent now: their latency counts from now.
                    .map(|(_, e)| Event {
                        made: Instant::now(),
                        ..e.clone()
                    })
                    .collect(),
            )
        });
        let backlog = match missed {
            Some(m) => m,
            None => {
                if last_id.is_some() {
                    metrics::panel_full_resyncs_total().inc();
                }
                vec![view.full_event()]
            }
        };
        let (tx, rx) = mpsc::channel(client_queue());
        view.clients.push(Client { tx, kick });
        view.idle_since = None;
        Ok(Subscription {
            backlog,
            events: rx,
        })
    }

    /// End every stream (shutdown): clients see their stream close.
    pub fn close(&self) {
        let mut st = self.state();
        st.closed = true;
        st.channels.clear();
    }
}

fn leg_of(c: &crate::bus::message::Contract) -> Leg {
    Leg {
        oi: c.open_interest,
        oi_change: 0.0,
        volume: c.volume,
        iv: c.iv,
        bid: c.bid,
        ask: c.ask,
        delta: c.delta,
        gamma: c.gamma,
        vega: c.vega,
        theta: c.theta,
        updated_ms: 0,
    }
}

/// What a message's data is, for the live view: the app's label, else `SYNTHETIC`,
/// `REPLAY`, or the provider's name for market data.
fn source_label(app_label: Option<&str>, m: &ChainMessage) -> String {
    if let Some(l) = app_label {
        return l.to_string();
    }
    match crate::bus::message::WireSource::try_from(m.source) {
        Ok(crate::bus::message::WireSource::Synthetic) => "SYNTHETIC".into(),
        Ok(crate::bus::message::WireSource::Replay) => "REPLAY".into(),
        _ if !m.provider.is_empty() => m.provider.clone(),
        _ => "UNKNOWN SOURCE".into(),
    }
}

impl Channel {
    fn view(&mut self, strikes: usize) -> &mut View {
        let (spot, as_of_ms) = (self.spot, self.as_of_ms);
        let source = &self.source;
        let all = &self.all;
        let (index, expiry) = (&self.index, &self.expiry);
        self.views.entry(strikes).or_insert_with(|| {
            let (atm, rows) = window::window_of(all, spot, strikes);
            View {
                epoch: epoch(),
                seq: 0,
                window: Window {
                    index: index.clone(),
                    expiry: expiry.clone(),
                    spot,
                    atm,
                    as_of_ms,
                    source: source.clone(),
                    rows,
                },
                ring: VecDeque::new(),
                clients: Vec::new(),
                idle_since: None,
            }
        })
    }

    /// Drop closed clients, and views without clients for longer than `grace`.
    fn prune(&mut self, now: Instant, grace: std::time::Duration) {
        self.views.retain(|_, v| {
            v.clients.retain(|c| !c.tx.is_closed());
            if !v.clients.is_empty() {
                v.idle_since = None;
                return true;
            }
            let since = *v.idle_since.get_or_insert(now);
            now.duration_since(since) < grace
        });
    }

    fn update(&mut self, m: &ChainMessage, mut contracts: Vec<crate::bus::message::Contract>) {
        contracts.truncate(MAX_CONTRACTS);
        // A strike that is not a number cannot be placed in a window.
        contracts.retain(|c| c.strike.is_finite());
        self.prune(Instant::now(), VIEW_GRACE);
        let mut by_strike: BTreeMap<u64, Row> = BTreeMap::new();
        // Ascending strikes through an order-preserving key of the float.
        let key = |s: f64| {
            let b = s.to_bits();
            if s.is_sign_negative() {
                !b
            } else {
                b | (1 << 63)
            }
        };
        for c in &contracts {
            let call = match WireOptionType::try_from(c.option_type) {
                Ok(WireOptionType::Ce) => true,
                Ok(WireOptionType::Pe) => false,
                _ => continue,
            };
            let mut leg = leg_of(c);
            let first = *self
                .first_oi
                .entry((c.strike.to_bits(), call))
                .or_insert(c.open_interest);
            leg.oi_change = c.open_interest - first;
            let row = by_strike.entry(key(c.strike)).or_insert(Row {
                strike: c.strike,
                ce: None,
                pe: None,
            });
            if call {
                row.ce = Some(leg);
            } else {
                row.pe = Some(leg);
            }
        }
        let mut all: Vec<Row> = by_strike.into_values().collect();
        // A leg keeps its update time while its values stand still.
        let old: HashMap<u64, &Row> = self.all.iter().map(|r| (r.strike.to_bits(), r)).collect();
        let stamp = |new: &mut Option<Leg>, old: Option<&Option<Leg>>| {
            if let Some(n) = new.as_mut() {
                n.updated_ms = match old.and_then(|o| o.as_ref()) {
                    // Bit for bit, as the diff compares (NaN, -0.0).
                    Some(o) if window::same_leg_values(o, n) => o.updated_ms,
                    _ => m.as_of_ms,
                };
            }
        };
        for r in &mut all {
            let o = old.get(&r.strike.to_bits());
            stamp(&mut r.ce, o.map(|o| &o.ce));
            stamp(&mut r.pe, o.map(|o| &o.pe));
        }
        self.all = all;
        self.spot = m.spot;
        self.as_of_ms = m.as_of_ms;
        let (index, expiry) = (self.index.clone(), self.expiry.clone());
        let all = &self.all;
        for (strikes, view) in self.views.iter_mut() {
            let (atm, rows) = window::window_of(all, m.spot, *strikes);
            let next = Window {
                index: index.clone(),
                expiry: expiry.clone(),
                spot: m.spot,
                atm,
                as_of_ms: m.as_of_ms,
                source: self.source.clone(),
                rows,
            };
            let d = window::diff(&view.window, &next);
            let moved = view.window.as_of_ms != next.as_of_ms;
            view.window = next;
            // Nothing changed, not even the time (a repeat): nothing to send.
            if d.is_empty() && !moved {
                continue;
            }
            view.seq += 1;
            let data = serde_json::to_string(&d).unwrap_or_default();
            let id = view.id(view.seq);
            let ev = Event {
                made: Instant::now(),
                kind: SseEvent::Diff,
                data: data.into(),
                as_of_ms: m.as_of_ms,
                id: id.into(),
            };
            metrics::panel_writes_total(WriteMode::Diff).inc();
            metrics::panel_write_bytes_total(WriteMode::Diff).inc_by(ev.wire_len() as u64);
            let cap = ring_cap();
            while view.ring.len() >= cap {
                view.ring.pop_front();
            }
            view.ring.push_back((view.seq, ev.clone()));
            // Under memory pressure a client's queue may hold less than it was
            // created with: one holding more is too slow.
            let queue = client_queue();
            view.clients.retain(|c| match c.tx.try_send(ev.clone()) {
                Ok(()) if c.tx.max_capacity() - c.tx.capacity() <= queue => true,
                Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => {
                    metrics::sse_slow_client_disconnects_total().inc();
                    slow_once();
                    // It may not be reading at all: end its connection now.
                    if let Some(kick) = &c.kick {
                        kick();
                    }
                    false
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            });
        }
    }
}

/// Diffs each view keeps now: [`RING`], scaled down under memory pressure.
fn ring_cap() -> usize {
    crate::governor::controls().scaled(crate::labels::Buffer::LiveWindow, RING, 8)
}

/// Events each client may have queued now: [`CLIENT_QUEUE`], scaled down under
/// memory pressure.
fn client_queue() -> usize {
    crate::governor::controls().scaled(crate::labels::Buffer::LiveClientBuffer, CLIENT_QUEUE, 4)
}

/// Most strikes each side a window has now: [`MAX_STRIKES`], scaled down under memory
/// pressure (a client asking for more gets this many).
pub fn max_strikes() -> usize {
    crate::governor::controls().scaled(crate::labels::Buffer::LiveWindow, MAX_STRIKES, 5)
}

fn slow_once() {
    static LOGGED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !LOGGED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        tracing::warn!(
            queue = CLIENT_QUEUE,
            "a live client could not keep up and was disconnected (further ones are counted, not logged)"
        );
    }
}

/// The subscriber name of the live hub in the bus counters.
pub const SUBSCRIBER: &str = "live";

/// Count `n` messages the hub took but could not apply.
fn lost(reason: DropReason, n: u64) {
    if n > 0 {
        metrics::bus_subscriber_lost_messages_total(crate::bus::inproc::NAME, SUBSCRIBER, reason)
            .inc_by(n);
    }
}
