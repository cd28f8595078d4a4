//! A stored history for replay tests and benches: synthetic snapshots at known times,
//! turned into bus messages exactly as `g6 serve` publishes them, and what a live
//! aggregator computes for each of them.

use g6_metrics::bus::{Bus, ChainMessage, Publisher};
use g6_metrics::labels::Source;
use g6_metrics::option_chain::aggregate::{Aggregation, Aggregator};
use g6_metrics::option_chain::providers::synthetic::SyntheticProvider;
use g6_metrics::option_chain::Snapshot;
use std::sync::{Arc, Mutex};

/// 2024-11-25T04:00:00Z (09:30 IST), the first snapshot's as-of time.
pub const T0: i64 = 1_732_507_200;

/// Collects what a publisher sends.
#[derive(Default)]
pub struct Capture(pub Mutex<Vec<Arc<ChainMessage>>>);

impl Bus for Capture {
    fn name(&self) -> &str {
        "capture"
    }
    fn publish(&self, messages: &[Arc<ChainMessage>]) {
        self.0.lock().unwrap().extend(messages.iter().cloned());
    }
}

/// One stored snapshot of the fixture.
pub struct Stored {
    /// The snapshot as the provider gave it (all indices).
    pub snapshot: Snapshot,
    /// Its messages, as published (one per index and expiry).
    pub messages: Vec<Arc<ChainMessage>>,
}

/// `n` snapshots `step` seconds apart from `t0` (after each `gap_after`-th, an extra
/// `gap` seconds), of the synthetic chain with `seed`.
pub fn history(n: usize, t0: i64, step: i64, gap_after: Option<(usize, i64)>) -> Vec<Stored> {
    let mut provider = SyntheticProvider::new(7).fast();
    let capture = Arc::new(Capture::default());
    let mut publisher = Publisher::new(vec![capture.clone() as Arc<dyn Bus>]);
    let mut t = t0;
    let mut out = Vec::new();
    for k in 0..n {
        let snapshot = provider.snapshot_at(t);
        let agg = Aggregator::new().aggregate(&snapshot, t);
        publisher.publish(
            &snapshot,
            &agg.accepted_rows,
            Source::Live,
            "synthetic",
            t as f64 + 1.0,
        );
        let messages = std::mem::take(&mut *capture.0.lock().unwrap());
        out.push(Stored { snapshot, messages });
        t += step;
        if let Some((after, gap)) = gap_after {
            if k + 1 == after {
                t += gap;
            }
        }
    }
    out
}

/// The snapshot's rows of one index.
pub fn of_index(s: &Snapshot, index: &str) -> Snapshot {
    Snapshot {
        as_of: s.as_of,
        rows: s
            .rows
            .iter()
            .filter(|r| r.as_ref().is_ok_and(|q| q.index == index))
            .cloned()
            .collect(),
    }
}

/// What live aggregation gives for each (as-of, index), one aggregator per index run
/// over the history in order.
pub fn expected(history: &[Stored], indices: &[&str]) -> Vec<((i64, String), Aggregation)> {
    let mut out = Vec::new();
    for index in indices {
        let mut a = Aggregator::new();
        for s in history {
            let one = of_index(&s.snapshot, index);
            let as_of = s.snapshot.as_of.unwrap();
            out.push(((as_of, index.to_string()), a.aggregate(&one, as_of)));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Whether two aggregations agree (sums within float rounding: row order may differ).
pub fn same_buckets(a: &Aggregation, b: &Aggregation) -> Result<(), String> {
    let close = |x: f64, y: f64| (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0);
    if a.per_index.keys().ne(b.per_index.keys()) {
        return Err(format!(
            "indices {:?} vs {:?}",
            a.per_index.keys().collect::<Vec<_>>(),
            b.per_index.keys().collect::<Vec<_>>()
        ));
    }
    for (index, buckets) in &a.per_index {
        for (i, (x, y)) in buckets.iter().zip(&b.per_index[index]).enumerate() {
            let ok = x.contracts == y.contracts
                && close(x.open_interest, y.open_interest)
                && close(x.volume, y.volume)
                && close(x.iv_mean(), y.iv_mean())
                && close(x.iv_oi_weighted(), y.iv_oi_weighted())
                && close(x.spread_mean(), y.spread_mean())
                && x.iv_contracts() == y.iv_contracts()
                && x.spread_contracts() == y.spread_contracts();
            if !ok {
                return Err(format!("{index} slot {i}: {x:?} vs {y:?}"));
            }
        }
    }
    Ok(())
}
