//! The memory governor driven by injected readings: levels, hysteresis, the least
//! time in a level, actions applied in order and reverted on the way down, none
//! applied twice, and the controls and metrics that follow. (Own process: it reads
//! the registry.)
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use crate::common;

use g6_metrics::governor::{Change, Controls, Governor, GovernorConfig};
use g6_metrics::labels::{Buffer, Direction, MemoryAction as A, MemoryTier as T};
use g6_metrics::metrics;
use std::sync::Arc;
use std::time::{Duration, Instant};

const MIB: u64 = 1 << 20;
const BUDGET: u64 = 1000 * MIB;

fn governor(hold: Duration) -> (Governor, Arc<Controls>, Instant) {
    let controls = Arc::new(Controls::default());
    let t0 = Instant::now();
    let g = Governor::new(GovernorConfig::new(BUDGET, hold), Arc::clone(&controls), t0);
    (g, controls, t0)
}

/// `share` of the budget, in bytes.
fn at(share: f64) -> u64 {
    (BUDGET as f64 * share) as u64
}

fn scales(c: &Controls) -> [f64; 4] {
    [
        c.scale(Buffer::LiveWindow),
        c.scale(Buffer::LiveClientBuffer),
        c.scale(Buffer::BusOutbox),
        c.scale(Buffer::StoreBacklog),
    ]
}

fn actions(a: A, t: T) -> u64 {
    metrics::memory_pressure_actions_total(a, t).get()
}

#[test]
fn governor_levels_hysteresis_hold_and_actions() {
    common::in_own_process(
        module_path!(),
        "governor_levels_hysteresis_hold_and_actions",
        levels,
    );
}

fn levels() {
    let hold = Duration::from_secs(30);
    let (mut g, c, t0) = governor(hold);
    let s = |secs: u64| t0 + Duration::from_secs(secs);
    assert_eq!(metrics::memory_budget_bytes().get(), BUDGET as f64);

    // Below 70%: nothing happens.
    assert!(g.observe(at(0.69), s(1)).is_empty());
    assert_eq!(g.level(), 0);
    assert_eq!(scales(&c), [1.0; 4]);
    assert!(!c.compaction_paused() && !c.trims_allocator());

    // 70%: level 1, its two actions in order.
    assert_eq!(
        g.observe(at(0.70), s(2)),
        vec![
            Change::Level { from: 0, to: 1 },
            Change::Applied(A::PauseCompaction, T::Elevated),
            Change::Applied(A::ShrinkLive, T::Elevated),
        ]
    );
    assert!(c.compaction_paused());
    assert_eq!(scales(&c), [0.5, 0.5, 1.0, 1.0]);
    assert_eq!(metrics::memory_pressure_level().get(), 1.0);

    // Still over 70%, and the same level again: nothing applied twice.
    assert!(g.observe(at(0.80), s(3)).is_empty());
    assert!(g.observe(at(0.72), s(4)).is_empty());
    assert_eq!(actions(A::PauseCompaction, T::Elevated), 1);
    assert_eq!(actions(A::ShrinkLive, T::Elevated), 1);

    // A jump to 96%: levels 2 and 3 at once, each crossed level's actions in order.
    assert_eq!(
        g.observe(at(0.96), s(5)),
        vec![
            Change::Level { from: 1, to: 2 },
            Change::Applied(A::ShrinkBacklog, T::High),
            Change::Applied(A::ShrinkOutbox, T::High),
            Change::Applied(A::TrimAllocator, T::High),
            Change::Level { from: 2, to: 3 },
            Change::Applied(A::ShrinkBacklog, T::Critical),
            Change::Applied(A::ShrinkOutbox, T::Critical),
            Change::Applied(A::ShrinkLive, T::Critical),
        ]
    );
    assert_eq!(g.level(), 3);
    // Each buffer at the smallest scale any applied action gives it.
    assert_eq!(scales(&c), [0.25, 0.25, 0.1, 0.1]);
    assert!(c.trims_allocator());
    assert_eq!(
        metrics::memory_pressure_transitions_total(Direction::Up).get(),
        3
    );
    for a in [A::ShrinkBacklog, A::ShrinkOutbox, A::ShrinkLive] {
        assert_eq!(metrics::memory_pressure_action_active(a).get(), 1.0);
    }

    // Below level 3's exit (85%) but within the hold: stays.
    assert!(g.observe(at(0.80), s(10)).is_empty());
    assert_eq!(g.level(), 3);
    assert_eq!(metrics::memory_pressure_level_duration_seconds().get(), 5.0);
    // Between exit and entry (90%) after the hold: stays (hysteresis).
    assert!(g.observe(at(0.90), s(40)).is_empty());
    assert_eq!(g.level(), 3);

    // Below 85% after the hold: one level down, level 3's actions reverted in
    // reverse order, the scales back to level 2's.
    assert_eq!(
        g.observe(at(0.50), s(41)),
        vec![
            Change::Reverted(A::ShrinkLive, T::Critical),
            Change::Reverted(A::ShrinkOutbox, T::Critical),
            Change::Reverted(A::ShrinkBacklog, T::Critical),
            Change::Level { from: 3, to: 2 },
        ]
    );
    assert_eq!(scales(&c), [0.5, 0.5, 0.5, 0.5]);
    // The hold starts again at every change: a low reading right after waits.
    assert!(g.observe(at(0.10), s(50)).is_empty());
    assert_eq!(g.level(), 2);
    let down = g.observe(at(0.10), s(71));
    assert_eq!(down.last(), Some(&Change::Level { from: 2, to: 1 }));
    assert!(!c.trims_allocator());
    assert_eq!(scales(&c), [0.5, 0.5, 1.0, 1.0]);
    assert_eq!(
        metrics::memory_pressure_action_active(A::ShrinkBacklog).get(),
        0.0
    );
    assert_eq!(
        metrics::memory_pressure_action_active(A::ShrinkLive).get(),
        1.0
    );

    // Back up to 2 from 1: level 2's actions again (once more each), not level 1's.
    g.observe(at(0.86), s(72));
    assert_eq!(g.level(), 2);
    // The hold starts again on a rise too: a low reading within it changes nothing.
    assert!(g.observe(at(0.10), s(90)).is_empty());
    assert_eq!(g.level(), 2);
    assert_eq!(actions(A::ShrinkBacklog, T::High), 2);
    assert_eq!(actions(A::PauseCompaction, T::Elevated), 1);
    assert_eq!(actions(A::ShrinkBacklog, T::Critical), 1);

    // All the way down, one level per hold.
    g.observe(at(0.10), s(103));
    assert_eq!(g.level(), 1);
    g.observe(at(0.10), s(134));
    assert_eq!(g.level(), 0);
    assert_eq!(scales(&c), [1.0; 4]);
    assert!(!c.compaction_paused());
    assert!(g.applied().is_empty());
    assert_eq!(
        metrics::memory_pressure_transitions_total(Direction::Down).get(),
        4
    );
    assert_eq!(
        metrics::memory_pressure_transitions_total(Direction::Up).get(),
        4
    );
    assert_eq!(
        metrics::memory_buffer_scale(Buffer::StoreBacklog).get(),
        1.0
    );
}

#[test]
fn scaled_bounds_never_fall_below_their_floor_nor_rise_above_the_bound() {
    common::in_own_process(
        module_path!(),
        "scaled_bounds_never_fall_below_their_floor_nor_rise_above_the_bound",
        scaled_bounds,
    );
}

fn scaled_bounds() {
    let (mut g, c, t0) = governor(Duration::ZERO);
    assert_eq!(c.scaled(Buffer::StoreBacklog, 1000, 1), 1000);
    g.observe(at(0.99), t0);
    assert_eq!(c.scaled(Buffer::StoreBacklog, 1000, 1), 100);
    assert_eq!(c.scaled(Buffer::StoreBacklog, 5, 1), 1);
    assert_eq!(c.scaled(Buffer::LiveWindow, 256, 8), 64);
    assert_eq!(c.scaled(Buffer::LiveWindow, 10, 8), 8);
    // A floor above the bound never raises it.
    assert_eq!(c.scaled(Buffer::LiveWindow, 4, 8), 4);
}

fn message(snapshot_id: u64, contracts: usize) -> g6_metrics::bus::message::ChainMessage {
    g6_metrics::bus::message::ChainMessage {
        schema_version: 1,
        index: "NIFTY".into(),
        snapshot_id,
        as_of_ms: 1_732_000_000_000 + snapshot_id as i64 * 1000,
        expiry: "2024-11-28".into(),
        expiry_unix: 1_732_752_000,
        spot: 24_000.0,
        source: 1,
        provider: "test".into(),
        part: 0,
        parts: 1,
        contracts: (0..contracts)
            .map(|i| g6_metrics::bus::message::Contract {
                strike: 20_000.0 + i as f64 * 50.0,
                option_type: 1,
                open_interest: 10.0,
                volume: 1.0,
                iv: None,
                bid: None,
                ask: None,
                spread_bps: None,
                moneyness: None,
                dte_days: None,
                delta: None,
                gamma: None,
                vega: None,
                theta: None,
            })
            .collect(),
    }
}

#[test]
fn under_pressure_a_working_store_is_flushed_early_and_a_failing_one_sheds_all_but_the_newest() {
    common::in_own_process(
        module_path!(),
        "under_pressure_a_working_store_is_flushed_early_and_a_failing_one_sheds_all_but_the_newest",
        store_under_pressure,
    );
}

fn store_under_pressure() {
    use g6_metrics::store::{parquet::ParquetStore, Writer, WriterConfig};
    let dropped = |reason: &str| {
        common::value(
            "g6_cs_ingest_dropped_rows_total",
            &[("table", "option_chain"), ("store_drop_reason", reason)],
        )
        .unwrap_or(0.0)
    };
    // The process's controls at level 3: the backlog bound is 10% of 1,000 rows.
    let mut g = Governor::new(
        GovernorConfig::new(BUDGET, Duration::from_secs(30)),
        Arc::clone(g6_metrics::governor::controls()),
        Instant::now(),
    );
    g.observe(at(0.99), Instant::now());
    let dir = common::temp_dir("governor_store");
    let config = WriterConfig {
        backlog_rows: 1000,
        flush_every: Duration::from_secs(3600),
        ..WriterConfig::default()
    };
    let mut writer: Writer<u64> = Writer::new(Box::new(ParquetStore::open(&dir).unwrap()), config);
    assert_eq!(writer.bound(), 100);
    // A working store: 150 rows are over the lowered bound, so they are written now
    // (not after an hour), and nothing is dropped.
    assert!(writer
        .push(Arc::new(message(1, 150)), 1)
        .unwrap()
        .is_empty());
    assert!(writer.due(Instant::now()));
    assert_eq!(writer.flush(Instant::now()).unwrap(), vec![1]);
    assert_eq!(dropped("memory_pressure"), 0.0);
    // A failing store (its directory made a file): rows wait, and past the lowered
    // bound the oldest snapshots go, counted, but never the newest, even alone
    // over the bound.
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::write(&dir, b"not a directory").unwrap();
    assert!(writer.push(Arc::new(message(2, 60)), 2).unwrap().is_empty());
    assert!(writer.flush(Instant::now()).is_err());
    assert_eq!(writer.push(Arc::new(message(3, 60)), 3).unwrap(), vec![2]);
    assert_eq!(dropped("memory_pressure"), 60.0);
    assert_eq!(writer.push(Arc::new(message(4, 150)), 4).unwrap(), vec![3]);
    assert_eq!(writer.backlog_rows(), 150, "the newest snapshot stays");
    assert_eq!(dropped("memory_pressure"), 120.0);
    assert_eq!(dropped("backlog_full"), 0.0);
    let _ = std::fs::remove_file(&dir);
}
