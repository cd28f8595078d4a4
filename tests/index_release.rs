//! Issue 26, item 6: a forgotten index gives its series back. Fifteen indices fill the
//! bucket gauges' budget (375 = 15 x 25 buckets); a sixteenth makes the collector
//! forget the least recently seen one, whose series (bucket gauges, analytics,
//! snapshot age, provider counters) are removed, and the sixteenth's bucket gauges are
//! exported instead of dropped.
//!
//! Its own binary: the registry is process-wide.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

mod common;

use common::{find_sample, parse_exposition, Sample};
use g6_metrics::labels::{Dte, Mny, Source};
use g6_metrics::option_chain::aggregate::{max_indices, SLOTS};
use g6_metrics::option_chain::buckets::{dte_bucket, mny_bucket, moneyness};
use g6_metrics::option_chain::runner::{Cycle, Runner};
use g6_metrics::option_chain::{OptionChainProvider, OptionType, ProviderError, Quote, Snapshot};
use std::sync::{Arc, Mutex};

/// The bucket gauges: one series per (index, mny, dte, source).
const BUCKET_GAUGES: [&str; 9] = [
    "g6_option_contracts_active",
    "g6_option_open_interest",
    "g6_option_volume",
    "g6_option_implied_volatility_mean",
    "g6_option_implied_volatility_oi_weighted",
    "g6_option_spread_mean_ratio",
    "g6_option_implied_volatility_contracts",
    "g6_option_implied_volatility_open_interest",
    "g6_option_spread_contracts",
];

const PROVIDER: &str = "release-test";
const START: i64 = 1_732_000_000;
const DAY: i64 = 86_400;

/// A provider that hands out the snapshot the test queued.
struct Stub(Arc<Mutex<Option<Snapshot>>>);

impl OptionChainProvider for Stub {
    fn name(&self) -> &str {
        PROVIDER
    }
    fn source(&self) -> Source {
        Source::Live
    }
    fn fetch(&mut self) -> Result<Snapshot, ProviderError> {
        let next = self.0.lock().unwrap_or_else(|p| p.into_inner()).take();
        next.ok_or_else(|| {
            ProviderError::new(
                g6_metrics::labels::FetchFailure::Unreadable,
                "the test queued no snapshot",
            )
        })
    }
}

fn quote(index: &str, strike: f64, kind: OptionType, oi: f64, as_of: i64) -> Quote {
    Quote {
        index: index.into(),
        strike,
        expiry: as_of + 3 * DAY,
        option_type: kind,
        spot: 100.0,
        open_interest: oi,
        volume: 2.0 * oi,
        iv: Some(0.2),
        bid: Some(1.0),
        ask: Some(1.2),
        spread_bps: None,
        moneyness: None,
        dte_days: None,
    }
}

/// Three at-the-money contracts (OI 10, 20, 30) of each of `indices`, as of `as_of`.
fn snapshot(indices: &[String], as_of: i64) -> Snapshot {
    Snapshot {
        as_of: Some(as_of),
        rows: indices
            .iter()
            .flat_map(|index| {
                [10.0, 20.0, 30.0]
                    .into_iter()
                    .enumerate()
                    .map(move |(i, oi)| {
                        let kind = if i == 1 {
                            OptionType::Put
                        } else {
                            OptionType::Call
                        };
                        Ok(quote(index, 100.0 + i as f64 * 0.01, kind, oi, as_of))
                    })
            })
            .collect(),
    }
}

fn scrape() -> Vec<Sample> {
    let text = String::from_utf8(g6_metrics::exporter::render_metrics()).expect("UTF-8");
    parse_exposition(&text)
}

fn series_of<'a>(all: &'a [Sample], index: &str) -> Vec<&'a Sample> {
    all.iter()
        .filter(|s| s.labels.iter().any(|(k, v)| k == "index" && v == index))
        .collect()
}

fn bucket(all: &[Sample], name: &str, index: &str, m: Mny, d: Dte) -> Option<f64> {
    find_sample(
        all,
        name,
        &[
            ("index", index),
            ("mny", m.as_str()),
            ("dte", d.as_str()),
            ("source", "live"),
        ],
    )
}

#[test]
fn a_sixteenth_index_takes_the_budget_of_the_forgotten_first() {
    let limit = max_indices();
    assert_eq!(
        limit, 15,
        "the spec's bucket budget holds 15 (index, source) pairs"
    );
    let queue = Arc::new(Mutex::new(None));
    let mut runner = Runner::new(Box::new(Stub(Arc::clone(&queue))), false);
    // One collection cycle (fetch, aggregate, publish, ages) over a snapshot of
    // indices `first..first + 15`, a minute after the one before.
    let name = |i: usize| format!("REL{i:02}");
    let mut cycle = |first: usize| {
        let at = START + first as i64 * 60;
        let indices: Vec<String> = (first..first + limit).map(name).collect();
        *queue.lock().unwrap_or_else(|p| p.into_inner()) = Some(snapshot(&indices, at));
        runner.tick_at(at as f64 + 1.0)
    };
    let contracts = 3 * limit as u64;
    assert_eq!(cycle(0), Cycle::Ok { contracts });
    let full = scrape();
    for gauge in BUCKET_GAUGES {
        assert_eq!(
            find_sample(&full, "g6_cardinality_series", &[("metric", gauge)]),
            Some((limit * SLOTS) as f64),
            "{gauge}: the budget is full"
        );
    }
    assert!(!series_of(&full, &name(0)).is_empty());

    // The feed moves on: REL00 drops out, REL15 comes in.
    let newest = name(limit);
    assert_eq!(cycle(1), Cycle::Ok { contracts });
    let all = scrape();

    // The sixteenth index: every bucket of every gauge, with its values.
    let (m, d) = (
        mny_bucket(moneyness(true, 100.0, 100.0)),
        dte_bucket(3.0).expect("3 days has a bucket"),
    );
    for gauge in BUCKET_GAUGES {
        let n = all
            .iter()
            .filter(|s| {
                s.name == gauge && s.labels.iter().any(|(k, v)| k == "index" && *v == newest)
            })
            .count();
        assert_eq!(n, SLOTS, "{gauge}: every bucket of {newest} is exported");
    }
    let at_bucket = |gauge: &str| bucket(&all, gauge, &newest, m, d);
    assert_eq!(at_bucket("g6_option_contracts_active"), Some(3.0));
    assert_eq!(at_bucket("g6_option_open_interest"), Some(60.0));
    assert_eq!(at_bucket("g6_option_volume"), Some(120.0));
    assert_eq!(
        at_bucket("g6_option_implied_volatility_contracts"),
        Some(3.0)
    );
    let other = if d == Dte::Leap {
        Dte::UltraShort
    } else {
        Dte::Leap
    };
    assert_eq!(
        bucket(&all, "g6_option_contracts_active", &newest, m, other),
        Some(0.0),
        "buckets without contracts are 0"
    );
    assert!(
        find_sample(
            &all,
            "g6_option_chain_snapshot_age_seconds",
            &[("index", newest.as_str())]
        ) == Some(1.0),
        "the new index's age is exported"
    );
    assert!(
        all.iter()
            .any(|s| s.name == "g6_chain_max_pain_strike"
                && s.labels.iter().any(|(_, v)| *v == newest)),
        "the new index's analytics are exported"
    );

    // The least recently seen index is gone from every metric; the others stay.
    assert_eq!(
        series_of(&all, &name(0))
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>(),
        Vec::<&str>::new(),
        "no series of the forgotten index is left"
    );
    for i in 1..limit {
        assert_eq!(
            bucket(&all, "g6_option_open_interest", &name(i), m, d),
            Some(60.0),
            "{} keeps its values",
            name(i)
        );
    }
    for gauge in BUCKET_GAUGES {
        assert_eq!(
            find_sample(&all, "g6_cardinality_series", &[("metric", gauge)]),
            Some((limit * SLOTS) as f64),
            "{gauge}: still exactly the budget in use"
        );
        assert_eq!(
            find_sample(&all, "g6_cardinality_overflow_total", &[("metric", gauge)]),
            None,
            "{gauge}: nothing was dropped over budget"
        );
    }

    // Indices keep coming and going: each new one is exported, each forgotten one gone.
    for i in limit + 1..limit + 6 {
        assert_eq!(cycle(i - limit + 1), Cycle::Ok { contracts });
        let all = scrape();
        assert_eq!(
            bucket(&all, "g6_option_contracts_active", &name(i), m, d),
            Some(3.0),
            "{}",
            name(i)
        );
        assert!(
            series_of(&all, &name(i - limit)).is_empty(),
            "{}",
            name(i - limit)
        );
        assert_eq!(
            find_sample(
                &all,
                "g6_cardinality_series",
                &[("metric", "g6_option_contracts_active")]
            ),
            Some((limit * SLOTS) as f64)
        );
    }
}
