//! The live hub on the synthetic provider's tick sequence: applying every diff to the
//! first full gives exactly each next full; a reconnect with `Last-Event-ID` gets the
//! diffs it missed while they are held, else a full; a client that cannot keep up is
//! disconnected and counted while the others get every event.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use crate::common;

use g6_metrics::bus::inproc::InProcessBus;
use g6_metrics::bus::message::ChainMessage;
use g6_metrics::bus::{Bus, Publisher};
use g6_metrics::live::hub::{Event, Hub, Refused, Subscription, CLIENT_QUEUE, MAX_VIEWS, RING};
use g6_metrics::live::window::{apply, Diff, Window};
use g6_metrics::option_chain::providers::synthetic::SyntheticProvider;
use g6_metrics::option_chain::runner::Runner;
use std::sync::Arc;

/// Snapshots of the synthetic provider, five seconds apart, as bus messages.
struct Ticks {
    runner: Runner,
    sub: g6_metrics::bus::inproc::Subscription,
    t: f64,
}

impl Ticks {
    fn new() -> Ticks {
        let bus = InProcessBus::new(4096);
        let sub = bus.subscribe("live");
        let buses: Vec<Arc<dyn Bus>> = vec![bus];
        let runner = Runner::new(Box::new(SyntheticProvider::new(7).fast()), false)
            .with_publisher(Publisher::new(buses));
        Ticks {
            runner,
            sub,
            t: 1_795_924_800.0,
        }
    }

    /// One snapshot into `hub`.
    fn next(&mut self, hub: &Hub) -> Vec<Arc<ChainMessage>> {
        self.t += 5.0;
        self.runner.tick_at(self.t);
        let mut out = Vec::new();
        while let Ok(m) = self.sub.try_recv() {
            hub.publish(&m);
            out.push(m);
        }
        out
    }
}

fn data(ev: &Event) -> (String, String, String) {
    (
        ev.id.to_string(),
        ev.kind.as_str().to_string(),
        ev.data.to_string(),
    )
}

fn drain(s: &mut Subscription) -> Vec<Event> {
    let mut out = std::mem::take(&mut s.backlog);
    while let Ok(e) = s.events.try_recv() {
        out.push(e);
    }
    out
}

fn full_of(hub: &Hub, expiry: &str) -> Window {
    let mut s = hub.subscribe("NIFTY", expiry, 10, None, None).unwrap();
    let evs = drain(&mut s);
    let (_, kind, json) = data(&evs[0]);
    assert_eq!(kind, "full");
    serde_json::from_str(&json).unwrap()
}

#[test]
fn applying_every_diff_to_the_first_full_gives_each_next_full_on_the_synthetic_ticks() {
    common::in_own_process(
        module_path!(),
        "applying_every_diff_to_the_first_full_gives_each_next_full_on_the_synthetic_ticks",
        || {
            let hub = Hub::new();
            let mut ticks = Ticks::new();
            ticks.next(&hub);
            let expiry = hub.nearest_expiry("NIFTY", "2026-11-26").unwrap();
            let mut client = hub.subscribe("NIFTY", &expiry, 10, None, None).unwrap();
            let first = drain(&mut client);
            assert_eq!(first.len(), 1);
            let (_, kind, json) = data(&first[0]);
            assert_eq!(kind, "full");
            let mut mine: Window = serde_json::from_str(&json).unwrap();
            assert_eq!(mine.rows.len(), 21, "10 strikes each side of the ATM one");
            assert_eq!(mine.source, "SYNTHETIC", "the window says what its data is");
            assert!(mine.rows.iter().any(|r| r.strike == mine.atm));
            let (mut diffs, mut moved) = (0, 0);
            for _ in 0..60 {
                ticks.next(&hub);
                for ev in drain(&mut client) {
                    let (_, kind, json) = data(&ev);
                    assert_eq!(kind, "diff");
                    let d: Diff = serde_json::from_str(&json).unwrap();
                    assert_eq!(d.source, "SYNTHETIC", "every diff says it too");
                    if !d.entered.is_empty() || !d.left.is_empty() {
                        moved += 1;
                    }
                    mine = apply(&mine, &d);
                    diffs += 1;
                }
                // A new client's full is exactly what the diffs built.
                assert_eq!(mine, full_of(&hub, &expiry));
            }
            assert_eq!(diffs, 60, "one diff per snapshot");
            assert!(moved > 0, "the ATM strike moved at least once in 60 ticks");
            // Diffs are smaller than fulls: that is their point.
            let diff_bytes =
                common::value("g6_panel_write_bytes_total", &[("write_mode", "diff")]).unwrap();
            let diff_writes =
                common::value("g6_panel_writes_total", &[("write_mode", "diff")]).unwrap();
            let full_bytes =
                common::value("g6_panel_write_bytes_total", &[("write_mode", "full")]).unwrap();
            let full_writes =
                common::value("g6_panel_writes_total", &[("write_mode", "full")]).unwrap();
            assert!(diff_bytes / diff_writes < full_bytes / full_writes);
        },
    );
}

#[test]
fn last_event_id_gets_the_missed_diffs_while_held_else_a_full() {
    common::in_own_process(
        module_path!(),
        "last_event_id_gets_the_missed_diffs_while_held_else_a_full",
        || {
            let hub = Hub::new();
            let mut ticks = Ticks::new();
            ticks.next(&hub);
            let expiry = hub.nearest_expiry("NIFTY", "2026-11-26").unwrap();
            let mut c = hub.subscribe("NIFTY", &expiry, 5, None, None).unwrap();
            let full = drain(&mut c);
            let (full_id, _, _) = data(&full[0]);
            drop(c);
            for _ in 0..3 {
                ticks.next(&hub);
            }
            // Reconnecting with the full's id: the three diffs it missed, in order.
            let mut back = hub
                .subscribe("NIFTY", &expiry, 5, Some(&full_id), None)
                .unwrap();
            let missed = drain(&mut back);
            let kinds: Vec<String> = missed.iter().map(|e| data(e).1).collect();
            assert_eq!(kinds, ["diff", "diff", "diff"]);
            let (epoch, seq) = full_id.split_once('.').unwrap();
            let ids: Vec<String> = missed.iter().map(|e| data(e).0).collect();
            let seq: u64 = seq.parse().unwrap();
            assert_eq!(
                ids,
                (1..=3)
                    .map(|k| format!("{epoch}.{}", seq + k))
                    .collect::<Vec<_>>()
            );
            // Up to date: nothing to resend.
            let last = ids.last().unwrap().clone();
            assert!(drain(
                &mut hub
                    .subscribe("NIFTY", &expiry, 5, Some(&last), None)
                    .unwrap()
            )
            .is_empty());
            // An id of another server (or view): a full, counted as a resync.
            let other = hub
                .subscribe("NIFTY", &expiry, 5, Some("1.2"), None)
                .unwrap()
                .backlog;
            assert_eq!(data(&other[0]).1, "full");
            assert_eq!(common::value("g6_panel_full_resyncs_total", &[]), Some(1.0));
            // Diffs no longer held: a full.
            for _ in 0..RING + 1 {
                ticks.next(&hub);
            }
            let late = hub
                .subscribe("NIFTY", &expiry, 5, Some(&last), None)
                .unwrap()
                .backlog;
            assert_eq!(late.len(), 1);
            assert_eq!(data(&late[0]).1, "full");
        },
    );
}

#[test]
fn a_client_that_cannot_keep_up_is_disconnected_and_counted_while_others_get_everything() {
    common::in_own_process(
        module_path!(),
        "a_client_that_cannot_keep_up_is_disconnected_and_counted_while_others_get_everything",
        || {
            let hub = Hub::new();
            let mut ticks = Ticks::new();
            ticks.next(&hub);
            let expiry = hub.nearest_expiry("NIFTY", "2026-11-26").unwrap();
            let kicked = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let k = kicked.clone();
            let kick: g6_metrics::live::hub::Kick = Arc::new(move || {
                k.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            });
            let mut slow = hub
                .subscribe("NIFTY", &expiry, 10, None, Some(kick))
                .unwrap();
            let mut fast = hub.subscribe("NIFTY", &expiry, 10, None, None).unwrap();
            let mut got = drain(&mut fast).len();
            let n = CLIENT_QUEUE + 10;
            for _ in 0..n {
                ticks.next(&hub);
                got += drain(&mut fast).len();
            }
            assert_eq!(got, 1 + n, "the reader got the full and every diff");
            // The slow one holds what fit in its queue, then its stream ends.
            let mut held = slow.backlog.len();
            while let Some(_e) = slow.events.blocking_recv() {
                held += 1;
            }
            assert_eq!(held, 1 + CLIENT_QUEUE);
            assert_eq!(
                common::value("g6_sse_slow_client_disconnects_total", &[]),
                Some(1.0)
            );
            // Its connection is ended at once, not when (if ever) it reads again.
            assert_eq!(kicked.load(std::sync::atomic::Ordering::Relaxed), 1);
        },
    );
}

fn message(snapshot_id: u64, part: u32, parts: u32, strikes: &[f64]) -> ChainMessage {
    ChainMessage {
        schema_version: 1,
        index: "NIFTY".into(),
        snapshot_id,
        as_of_ms: 1_795_924_800_000 + snapshot_id as i64,
        expiry: "2026-11-26".into(),
        spot: 100.0,
        part,
        parts,
        contracts: strikes
            .iter()
            .map(|s| g6_metrics::bus::message::Contract {
                strike: *s,
                option_type: 1,
                open_interest: 10.0,
                volume: 1.0,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

#[test]
fn a_split_snapshot_counts_each_part_once_and_bad_strikes_stay_out() {
    common::in_own_process(
        module_path!(),
        "a_split_snapshot_counts_each_part_once_and_bad_strikes_stay_out",
        || {
            let hub = Hub::new();
            // Part 0 twice: still waiting for part 1.
            hub.publish(&message(1, 0, 2, &[90.0, 100.0]));
            hub.publish(&message(1, 0, 2, &[90.0, 100.0]));
            assert!(!hub.has("NIFTY", "2026-11-26") || full_rows(&hub) == 0);
            hub.publish(&message(1, 1, 2, &[110.0, f64::NAN]));
            assert_eq!(full_rows(&hub), 3, "both parts, each once, no NaN strike");
            // A part number beyond the parts is ignored.
            hub.publish(&message(2, 5, 2, &[120.0]));
            assert_eq!(full_rows(&hub), 3);
            // The hub's ledger: the repeated part and the part beyond the parts are
            // counted invalid; a snapshot superseded before its last part, incomplete.
            hub.publish(&message(3, 0, 2, &[90.0]));
            hub.publish(&message(4, 1, 2, &[90.0]));
            let lost = |reason: &str| {
                common::value(
                    "g6_bus_subscriber_lost_messages_total",
                    &[
                        ("bus", "inproc"),
                        ("subscriber", "live"),
                        ("drop_reason", reason),
                    ],
                )
            };
            assert_eq!(lost("invalid"), Some(2.0));
            assert_eq!(lost("incomplete"), Some(1.0));
            hub.close();
            hub.publish(&message(5, 0, 1, &[90.0]));
            assert_eq!(lost("shutdown"), Some(1.0));
        },
    );
}

fn full_rows(hub: &Hub) -> usize {
    let mut s = hub
        .subscribe("NIFTY", "2026-11-26", 10, None, None)
        .unwrap();
    let (_, kind, json) = data(&drain(&mut s)[0]);
    assert_eq!(kind, "full");
    let w: Window = serde_json::from_str(&json).unwrap();
    w.rows.len()
}

#[test]
fn window_sizes_per_channel_are_bounded_and_idle_ones_go() {
    common::in_own_process(
        module_path!(),
        "window_sizes_per_channel_are_bounded_and_idle_ones_go",
        || {
            let hub = Hub::new();
            let mut ticks = Ticks::new();
            ticks.next(&hub);
            let expiry = hub.nearest_expiry("NIFTY", "2026-11-26").unwrap();
            let held: Vec<Subscription> = (1..=MAX_VIEWS)
                .map(|n| hub.subscribe("NIFTY", &expiry, n, None, None).unwrap())
                .collect();
            assert!(matches!(
                hub.subscribe("NIFTY", &expiry, MAX_VIEWS + 1, None, None),
                Err(Refused::TooManyViews)
            ));
            // A size already served is always fine.
            assert!(hub.subscribe("NIFTY", &expiry, 1, None, None).is_ok());
            // Once their clients are gone, the sizes free up.
            drop(held);
            assert!(hub
                .subscribe("NIFTY", &expiry, MAX_VIEWS + 1, None, None)
                .is_ok());
        },
    );
}
