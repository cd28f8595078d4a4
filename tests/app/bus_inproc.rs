//! The in-process bus: every subscriber sees every message in order; a subscriber that
//! falls behind loses only the oldest messages, counted against its name, and never
//! holds the collector up. Each test runs in its own process (the registry).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use crate::common;

use g6_metrics::bus::inproc::{InProcessBus, Subscription};
use g6_metrics::bus::message::ChainMessage;
use g6_metrics::bus::{Bus, Publisher};
use g6_metrics::option_chain::providers::synthetic::SyntheticProvider;
use g6_metrics::option_chain::runner::{Cycle, Runner};
use std::sync::Arc;

/// 2026-11-24T04:00:00Z: a Tuesday morning in India, markets open.
const START: f64 = 1_795_924_800.0;

fn drain(sub: &mut Subscription) -> Vec<Arc<ChainMessage>> {
    let mut out = Vec::new();
    while let Ok(m) = sub.try_recv() {
        out.push(m);
    }
    out
}

fn ids(ms: &[Arc<ChainMessage>]) -> Vec<String> {
    ms.iter().map(|m| m.message_id()).collect()
}

fn runner(bus: &Arc<InProcessBus>) -> Runner {
    let buses: Vec<Arc<dyn Bus>> = vec![bus.clone()];
    Runner::new(Box::new(SyntheticProvider::new(7).fast()), false)
        .with_publisher(Publisher::new(buses))
}

#[test]
fn every_subscriber_sees_every_message_in_order() {
    common::in_own_process(
        module_path!(),
        "every_subscriber_sees_every_message_in_order",
        || {
            let bus = InProcessBus::new(4096);
            let mut a = bus.subscribe("a");
            let mut b = bus.subscribe("b");
            assert_eq!(
                common::value("g6_bus_subscribers", &[("bus", "inproc")]),
                Some(2.0)
            );
            let mut runner = runner(&bus);
            let mut got_a = Vec::new();
            for i in 0..20 {
                assert!(matches!(runner.tick_at(START + i as f64), Cycle::Ok { .. }));
                // a keeps up; b reads only at the end (within the ring).
                got_a.extend(drain(&mut a));
            }
            let got_b = drain(&mut b);
            let published = common::value(
                "g6_bus_events_published_total",
                &[("bus", "inproc"), ("topic", "chain")],
            )
            .unwrap();
            assert!(published > 20.0);
            assert_eq!(got_a.len() as f64, published);
            assert_eq!(ids(&got_a), ids(&got_b), "same messages, same order");
            // In order: per index, snapshot ids never go back, and all differ per message
            // key.
            let mut last: std::collections::HashMap<String, u64> = Default::default();
            for m in &got_a {
                let prev = last.insert(m.index.clone(), m.snapshot_id).unwrap_or(0);
                assert!(m.snapshot_id >= prev, "{} went back", m.index);
            }
            let distinct: std::collections::HashSet<String> = ids(&got_a).into_iter().collect();
            assert_eq!(distinct.len(), got_a.len());
            // Three indices, one snapshot id per index per cycle.
            let snapshots: std::collections::HashSet<(String, u64)> = got_a
                .iter()
                .map(|m| (m.index.clone(), m.snapshot_id))
                .collect();
            assert_eq!(snapshots.len(), 3 * 20);
            for name in ["a", "b"] {
                assert_eq!(
                    common::value(
                        "g6_bus_subscriber_lost_messages_total",
                        &[
                            ("bus", "inproc"),
                            ("subscriber", name),
                            ("drop_reason", "subscriber_lagged")
                        ]
                    ),
                    Some(0.0)
                );
            }
            drop(b);
            assert_eq!(
                common::value("g6_bus_subscribers", &[("bus", "inproc")]),
                Some(1.0)
            );
        },
    );
}

#[test]
fn a_slow_subscriber_loses_only_the_oldest_messages_counted_and_never_blocks_the_collector() {
    common::in_own_process(
        module_path!(),
        "a_slow_subscriber_loses_only_the_oldest_messages_counted_and_never_blocks_the_collector",
        || {
            const RING: usize = 64;
            const CYCLES: usize = 40;
            let bus = InProcessBus::new(RING);
            let mut fast = bus.subscribe("fast");
            // `slow` does not read at all while the collector runs: if publishing waited
            // for it, the cycles below could never finish.
            let mut slow = bus.subscribe("slow");
            let mut runner = runner(&bus);
            let mut all = Vec::new();
            for i in 0..CYCLES {
                assert!(matches!(runner.tick_at(START + i as f64), Cycle::Ok { .. }));
                all.extend(drain(&mut fast));
            }
            assert!(all.len() > 2 * RING, "the test must overrun the ring");
            let late = drain(&mut slow);
            // It gets exactly the newest RING messages, in order: only the oldest went.
            assert_eq!(late.len(), RING);
            assert_eq!(ids(&late), ids(&all[all.len() - RING..]));
            let lost = (all.len() - RING) as f64;
            assert_eq!(slow.lost() as f64, lost);
            // And it knows exactly how many rows those messages held (the store's
            // ledger counts them), once.
            let lost_rows: u64 = all[..all.len() - RING]
                .iter()
                .map(|m| m.contracts.len() as u64)
                .sum();
            assert!(lost_rows > 0);
            assert_eq!(slow.take_lost_rows(), lost_rows);
            assert_eq!(slow.take_lost_rows(), 0);
            assert_eq!(fast.take_lost_rows(), 0);
            assert_eq!(
                common::value("g6_bus_published_rows_total", &[("bus", "inproc")]),
                Some(all.iter().map(|m| m.contracts.len() as f64).sum())
            );
            assert_eq!(
                common::value(
                    "g6_bus_subscriber_lost_messages_total",
                    &[
                        ("bus", "inproc"),
                        ("subscriber", "slow"),
                        ("drop_reason", "subscriber_lagged")
                    ]
                ),
                Some(lost)
            );
            assert_eq!(
                common::value(
                    "g6_bus_subscriber_lost_messages_total",
                    &[
                        ("bus", "inproc"),
                        ("subscriber", "fast"),
                        ("drop_reason", "subscriber_lagged")
                    ]
                ),
                Some(0.0)
            );
            // Every cycle completed and counted as ok.
            assert_eq!(
                common::value("g6_collection_cycles_total", &[("result", "ok")]),
                Some(CYCLES as f64)
            );
        },
    );
}
