//! Staleness of real quotes: a field (open interest, volume, IV, bid, ask) of an
//! index unchanged across its whole chain for `snapshots` snapshots and `max_age`
//! while the market is open is stale; an index whose every field is stale is stale.
//! Outside the session nothing is expected to change, so nothing is stale.

use super::Quote;
use crate::metrics;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};

/// The fields watched, in the order of [`FieldState`]s.
pub const FIELDS: [&str; 5] = ["oi", "volume", "iv", "bid", "ask"];

/// Snapshots a field must stay unchanged to be stale (with [`DEFAULT_MAX_AGE`]).
pub const DEFAULT_SNAPSHOTS: u32 = 12;
/// Seconds a field must stay unchanged to be stale (with [`DEFAULT_SNAPSHOTS`]).
pub const DEFAULT_MAX_AGE: f64 = 120.0;

#[derive(Debug, Clone, Copy, Default)]
struct FieldState {
    digest: u64,
    /// Snapshots in session since it last changed.
    unchanged: u32,
    /// As-of time it last changed.
    since: f64,
    stale: bool,
}

#[derive(Debug, Clone, Default)]
struct IndexState {
    fields: [FieldState; 5],
    seen: bool,
    /// The detector's tick when this index was last observed (for eviction).
    touched: u64,
}

/// Per-index staleness, bounded to `max_indices` indices (the least recently seen go).
#[derive(Debug, Clone)]
pub struct Staleness {
    snapshots: u32,
    max_age: f64,
    max_indices: usize,
    tick: u64,
    indices: HashMap<String, IndexState>,
}

impl Default for Staleness {
    fn default() -> Self {
        Staleness::new(
            DEFAULT_SNAPSHOTS,
            DEFAULT_MAX_AGE,
            super::aggregate::max_indices(),
        )
    }
}

/// A digest of one field across a chain that does not depend on the rows' order.
fn digests(rows: &[&Quote]) -> [u64; 5] {
    let state = foldhash::fast::FixedState::with_seed(0x5_7a1e);
    let mut out = [0u64; 5];
    for q in rows {
        let mut key = state.build_hasher();
        q.strike.to_bits().hash(&mut key);
        q.expiry.hash(&mut key);
        (q.option_type == super::OptionType::Call).hash(&mut key);
        let key = key.finish();
        let values = [Some(q.open_interest), Some(q.volume), q.iv, q.bid, q.ask];
        for (slot, v) in out.iter_mut().zip(values) {
            let mut h = state.build_hasher();
            key.hash(&mut h);
            v.map_or(u64::MAX, f64::to_bits).hash(&mut h);
            // A sum: the same rows in another order give the same digest.
            *slot = slot.wrapping_add(h.finish());
        }
    }
    out
}

impl Staleness {
    /// A detector: stale after `snapshots` snapshots and `max_age` seconds unchanged.
    pub fn new(snapshots: u32, max_age: f64, max_indices: usize) -> Self {
        Staleness {
            snapshots: snapshots.max(1),
            max_age,
            max_indices: max_indices.max(1),
            tick: 0,
            indices: HashMap::new(),
        }
    }

    /// Observe `rows` of `index` as of `as_of` (Unix seconds); `open` says whether the
    /// market is in session. Sets the index's stale series; returns whether it is stale.
    pub fn observe(&mut self, index: &str, rows: &[&Quote], as_of: f64, open: bool) -> bool {
        self.tick += 1;
        if !self.indices.contains_key(index) && self.indices.len() >= self.max_indices {
            if let Some(oldest) = self
                .indices
                .iter()
                .min_by_key(|(_, s)| s.touched)
                .map(|(k, _)| k.clone())
            {
                self.indices.remove(&oldest);
                let _ = metrics::remove_stale_index_active(&oldest);
                let _ = metrics::remove_stale_max_age_seconds(&oldest);
            }
        }
        let tick = self.tick;
        let (snapshots, max_age) = (self.snapshots, self.max_age);
        let state = self.indices.entry(index.to_string()).or_default();
        state.touched = tick;
        let now = digests(rows);
        let first = !state.seen;
        state.seen = true;
        let mut oldest = 0.0f64;
        let mut newly_stale = 0u64;
        for (field, digest) in state.fields.iter_mut().zip(now) {
            if first || field.digest != digest {
                *field = FieldState {
                    digest,
                    unchanged: 0,
                    since: as_of,
                    stale: false,
                };
                continue;
            }
            if !open {
                // Closed: nothing is expected to move; the clock starts again at the
                // next session.
                field.unchanged = 0;
                field.since = as_of;
                field.stale = false;
                continue;
            }
            field.unchanged += 1;
            let age = (as_of - field.since).max(0.0);
            oldest = oldest.max(age);
            let stale = field.unchanged >= snapshots && age >= max_age;
            if stale && !field.stale {
                newly_stale += 1;
            }
            field.stale = stale;
        }
        let all = state.fields.iter().all(|f| f.stale);
        metrics::stale_fields_total(index).inc_by(newly_stale);
        metrics::stale_index_active(index).set(if all { 1.0 } else { 0.0 });
        metrics::stale_max_age_seconds(index).set(oldest);
        all
    }
}
