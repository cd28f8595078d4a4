//! A scrape concurrent with snapshot updates never sees a mix of two snapshots: the
//! runner publishes every bucket gauge of a snapshot under one consistent update, and
//! the encoder takes that lock exclusively.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

mod common;

use common::{find_sample, parse_exposition};
use g6_metrics::labels::Source;
use g6_metrics::option_chain::dates::{parse_expiry, DAY};
use g6_metrics::option_chain::runner::Runner;
use g6_metrics::option_chain::{OptionChainProvider, OptionType, ProviderError, Quote, Snapshot};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

struct Idle;

impl OptionChainProvider for Idle {
    fn name(&self) -> &str {
        "mix"
    }
    fn source(&self) -> Source {
        Source::Replay
    }
    fn fetch(&mut self) -> Result<Snapshot, ProviderError> {
        Ok(Snapshot::default())
    }
}

/// Snapshot `k`: one contract whose open interest and volume are both `k`.
fn snapshot(k: u64) -> Snapshot {
    let expiry = parse_expiry("28-Nov-2024").expect("date");
    Snapshot {
        as_of: Some(expiry - 3 * DAY),
        rows: vec![Ok(Quote {
            index: "MIX".into(),
            strike: 100.0,
            expiry,
            option_type: OptionType::Call,
            spot: 100.0,
            open_interest: k as f64,
            volume: k as f64,
            iv: None,
            bid: None,
            ask: None,
            spread_bps: None,
            moneyness: None,
            dte_days: None,
        })],
    }
}

#[test]
fn concurrent_scrapes_never_see_half_of_a_snapshot() {
    g6_metrics::init().expect("init");
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut runner = Runner::new(Box::new(Idle), false);
            let mut k = 1;
            while !stop.load(Ordering::Relaxed) {
                runner.publish("mix", Source::Replay, &snapshot(k), 2_000_000_000.0);
                k += 1;
            }
            k
        })
    };
    let labels = [
        ("index", "MIX"),
        ("mny", "atm"),
        ("dte", "short"),
        ("source", "replay"),
    ];
    let mut checked = 0;
    let mut distinct = std::collections::BTreeSet::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while checked < 300 {
        assert!(
            std::time::Instant::now() < deadline,
            "the snapshot series never appeared"
        );
        let text = String::from_utf8(g6_metrics::exporter::render_metrics()).expect("UTF-8");
        let samples = parse_exposition(&text);
        let (Some(oi), Some(volume)) = (
            find_sample(&samples, "g6_option_open_interest", &labels),
            find_sample(&samples, "g6_option_volume", &labels),
        ) else {
            continue;
        };
        assert_eq!(
            oi, volume,
            "a scrape saw OI of one snapshot and volume of another"
        );
        distinct.insert(oi as u64);
        checked += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let published = writer.join().expect("writer");
    assert!(published > 300, "the writer kept publishing ({published})");
    assert!(
        distinct.len() > 10,
        "scrapes saw many snapshots: {}",
        distinct.len()
    );
}
