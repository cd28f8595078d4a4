//! Option-chain aggregation against hand-checked fixtures, bucket edges, malformed rows,
//! resets, new listings, and provider failure accounting.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

mod common;

use common::value;
use g6_metrics::labels::{Dte, FetchFailure, Mny, SkipReason, Source};
use g6_metrics::option_chain::aggregate::{Aggregation, Aggregator, BucketStats};
use g6_metrics::option_chain::buckets::{dte_bucket, mny_bucket, moneyness};
use g6_metrics::option_chain::dates::{parse_expiry, DAY};
use g6_metrics::option_chain::providers::{self, synthetic::SyntheticProvider, ProviderLimits};
use g6_metrics::option_chain::runner::{Cycle, Runner};
use g6_metrics::option_chain::{OptionChainProvider, OptionType, ProviderError, Quote, Snapshot};
use std::path::Path;
use std::time::Duration;

fn limits() -> ProviderLimits {
    ProviderLimits {
        fetch_timeout: Duration::from_secs(10),
        exec_timeout: Duration::from_secs(5),
        ..ProviderLimits::default()
    }
}

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/chains")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[track_caller]
fn assert_bucket(
    agg: &Aggregation,
    index: &str,
    m: Mny,
    d: Dte,
    expected: (u64, f64, f64, f64, f64, f64),
) {
    let b: &BucketStats = agg
        .bucket(index, m, d)
        .unwrap_or_else(|| panic!("no {index}"));
    let got = (
        b.contracts,
        b.open_interest,
        b.volume,
        b.iv_mean(),
        b.iv_oi_weighted(),
        b.spread_mean(),
    );
    let ok = got.0 == expected.0
        && close(got.1, expected.1)
        && close(got.2, expected.2)
        && close(got.3, expected.3)
        && close(got.4, expected.4)
        && close(got.5, expected.5);
    assert!(
        ok,
        "{index} {m:?}/{d:?}: got {got:?}, expected {expected:?}"
    );
}

#[test]
fn moneyness_edges_for_calls_and_puts() {
    let spot = 1000.0;
    // (strike, call bucket, put bucket): both sides of every boundary.
    let cases = [
        (790.0, Mny::DeepItm, Mny::DeepOtm), // call -0.21, put +0.21
        (800.0, Mny::DeepItm, Mny::DeepOtm), // exactly -0.20 / +0.20
        (810.0, Mny::Itm, Mny::Otm),         // -0.19 / +0.19
        (940.0, Mny::Itm, Mny::Otm),         // -0.06 / +0.06
        (950.0, Mny::Itm, Mny::Otm),         // exactly -0.05 / +0.05
        (960.0, Mny::Atm, Mny::Atm),         // -0.04 / +0.04
        (1000.0, Mny::Atm, Mny::Atm),
        (1040.0, Mny::Atm, Mny::Atm),         // +0.04 / -0.04
        (1050.0, Mny::Otm, Mny::Itm),         // exactly +0.05 / -0.05
        (1190.0, Mny::Otm, Mny::Itm),         // +0.19 / -0.19
        (1200.0, Mny::DeepOtm, Mny::DeepItm), // exactly +0.20 / -0.20
        (1210.0, Mny::DeepOtm, Mny::DeepItm),
    ];
    for (strike, call, put) in cases {
        assert_eq!(
            mny_bucket(moneyness(true, strike, spot)),
            call,
            "call {strike}"
        );
        assert_eq!(
            mny_bucket(moneyness(false, strike, spot)),
            put,
            "put {strike}"
        );
    }
    // Positive means out of the money for both: an OTM call and an OTM put.
    assert!(moneyness(true, 1100.0, spot) > 0.0 && moneyness(false, 900.0, spot) > 0.0);
}

#[test]
fn dte_edges_including_expiry_day_and_expired() {
    let cases = [
        (0.0, Some(Dte::UltraShort)),
        (0.999, Some(Dte::UltraShort)),
        (1.0, Some(Dte::Short)),
        (6.999, Some(Dte::Short)),
        (7.0, Some(Dte::Medium)),
        (29.999, Some(Dte::Medium)),
        (30.0, Some(Dte::Long)),
        (89.999, Some(Dte::Long)),
        (90.0, Some(Dte::Leap)),
        (400.0, Some(Dte::Leap)),
        (-0.001, None),
    ];
    for (days, expected) in cases {
        assert_eq!(dte_bucket(days), expected, "{days}");
    }
    // On expiry day before 15:30 IST the contract is live (ultra_short); after, expired.
    let expiry = parse_expiry("28-Nov-2024").unwrap();
    let quote = |as_of_offset: i64| Snapshot {
        as_of: Some(expiry + as_of_offset),
        rows: vec![Ok(Quote {
            index: "EDGE".into(),
            strike: 100.0,
            expiry,
            option_type: OptionType::Call,
            spot: 100.0,
            open_interest: 1.0,
            volume: 1.0,
            iv: None,
            bid: None,
            ask: None,
            spread_bps: None,
            moneyness: None,
            dte_days: None,
        })],
    };
    let before = Aggregator::new().aggregate(&quote(-3600), 0);
    assert_eq!(
        before
            .bucket("EDGE", Mny::Atm, Dte::UltraShort)
            .unwrap()
            .contracts,
        1
    );
    let after = Aggregator::new().aggregate(&quote(1), 0);
    assert_eq!(after.skipped(SkipReason::Expired), 1);
    assert!(after.per_index.is_empty());
}

fn nse_expected(agg: &Aggregation) {
    use Dte::*;
    use Mny::*;
    let n = "NIFTY";
    assert_bucket(
        agg,
        n,
        Atm,
        Short,
        (2, 4000.0, 1200.0, 0.13, 0.135, (0.02 + 2.0 / 150.0) / 2.0),
    );
    assert_bucket(
        agg,
        n,
        Itm,
        Short,
        (
            2,
            300.0,
            60.0,
            0.16,
            0.16,
            (10.0 / 1505.0 + 40.0 / 1500.0) / 2.0,
        ),
    );
    assert_bucket(
        agg,
        n,
        Otm,
        Short,
        (
            2,
            9000.0,
            3500.0,
            0.145,
            1340.0 / 9000.0,
            (2.0 / 21.0 + 2.0 / 11.0) / 2.0,
        ),
    );
    assert_bucket(
        agg,
        n,
        DeepItm,
        Short,
        (1, 50.0, 5.0, 0.30, 0.30, 20.0 / 6000.0),
    );
    assert_bucket(agg, n, DeepOtm, Short, (1, 800.0, 100.0, 0.35, 0.35, 1.0));
    assert_bucket(
        agg,
        n,
        Atm,
        Long,
        (1, 2000.0, 300.0, 0.13, 0.13, 6.0 / 303.0),
    );
    assert_bucket(
        agg,
        n,
        Atm,
        UltraShort,
        (1, 600.0, 900.0, 0.20, 0.20, 1.0 / 10.5),
    );
    assert_bucket(agg, n, Otm, Long, (0, 0.0, 0.0, 0.0, 0.0, 0.0));
    assert_eq!(agg.accepted, 10);
    assert_eq!(agg.skipped(SkipReason::Expired), 1);
    assert_eq!(agg.skipped(SkipReason::BadExpiry), 1);
    assert_eq!(agg.skipped(SkipReason::NegativeValue), 1);
    assert_eq!(agg.skipped.iter().sum::<u64>(), 3);
}

#[test]
fn nse_fixture_exact_bucket_values() {
    let mut p =
        providers::from_spec(&format!("nse-json:{}", fixture("nifty_nse.json")), limits()).unwrap();
    assert_eq!(p.source(), Source::Live);
    let snap = p.fetch().unwrap();
    assert_eq!(
        snap.as_of,
        Some(parse_expiry("25-Nov-2024").unwrap()),
        "records.timestamp is 15:30 IST"
    );
    nse_expected(&Aggregator::new().aggregate(&snap, 0));
}

fn csv_expected(agg: &Aggregation) {
    let b = "BANKNIFTY";
    assert_bucket(
        agg,
        b,
        Mny::Atm,
        Dte::Medium,
        (2, 400.0, 40.0, 0.16, 0.165, (2.0 / 201.0 + 0.005) / 2.0),
    );
    assert_bucket(agg, b, Mny::Otm, Dte::Leap, (1, 40.0, 4.0, 0.20, 0.20, 1.0));
    assert_eq!(agg.accepted, 3);
    for reason in [
        SkipReason::ZeroStrike,
        SkipReason::ZeroSpot,
        SkipReason::MissingField,
        SkipReason::InvalidNumber,
        SkipReason::BadExpiry,
    ] {
        assert_eq!(agg.skipped(reason), 1, "{reason:?}");
    }
}

#[test]
fn csv_and_jsonl_file_fixtures_exact_bucket_values() {
    for file in ["banknifty.csv", "banknifty.jsonl"] {
        let mut p = providers::from_spec(&format!("file:{}", fixture(file)), limits()).unwrap();
        assert_eq!(p.source(), Source::Replay);
        csv_expected(&Aggregator::new().aggregate(&p.fetch().unwrap(), 0));
    }
}

#[test]
fn exec_provider_reads_json_lines_from_a_command() {
    let spec = format!("exec:cat '{}'", fixture("banknifty.jsonl"));
    let mut p = providers::from_spec(&spec, limits()).unwrap();
    csv_expected(&Aggregator::new().aggregate(&p.fetch().unwrap(), 0));
}

#[test]
fn exec_provider_failures_and_timeouts() {
    let mut failing =
        providers::from_spec("exec:echo 'upstream 503' >&2; exit 3", limits()).unwrap();
    match failing.fetch() {
        Err(e) if e.reason == FetchFailure::ExitStatus => assert!(
            e.message.contains("exit status: 3") && e.message.contains("upstream 503"),
            "{e}"
        ),
        other => panic!("{other:?}"),
    }
    let mut slow = providers::from_spec(
        "exec:sleep 5",
        ProviderLimits {
            exec_timeout: Duration::from_millis(200),
            ..limits()
        },
    )
    .unwrap();
    let started = std::time::Instant::now();
    assert!(matches!(slow.fetch(), Err(e) if e.reason == FetchFailure::Timeout));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the command was killed at the timeout"
    );
    assert!(providers::from_spec("ftp:somewhere", limits()).is_err());
}

#[test]
fn malformed_rows_never_poison_a_bucket() {
    let expiry = parse_expiry("28-Nov-2024").unwrap();
    let as_of = expiry - 3 * DAY;
    let good = Quote {
        index: "POISON".into(),
        strike: 100.0,
        expiry,
        option_type: OptionType::Put,
        spot: 100.0,
        open_interest: 10.0,
        volume: 5.0,
        iv: Some(0.2),
        bid: Some(1.0),
        ask: Some(1.1),
        spread_bps: None,
        moneyness: None,
        dte_days: None,
    };
    let bad = |f: &dyn Fn(&mut Quote)| {
        let mut q = good.clone();
        f(&mut q);
        Ok(q)
    };
    let snap = Snapshot {
        as_of: Some(as_of),
        rows: vec![
            Ok(good.clone()),
            bad(&|q| q.open_interest = f64::NAN),
            bad(&|q| q.iv = Some(f64::INFINITY)),
            bad(&|q| q.volume = -1.0),
            bad(&|q| q.bid = Some(-0.5)),
            bad(&|q| q.strike = 0.0),
            bad(&|q| q.spot = 0.0),
            bad(&|q| q.expiry = as_of - DAY),
        ],
    };
    let agg = Aggregator::new().aggregate(&snap, 0);
    assert_bucket(
        &agg,
        "POISON",
        Mny::Atm,
        Dte::Short,
        (1, 10.0, 5.0, 0.2, 0.2, 0.1 / 1.05),
    );
    assert_eq!(agg.skipped(SkipReason::InvalidNumber), 2);
    assert_eq!(agg.skipped(SkipReason::NegativeValue), 2);
    assert_eq!(agg.skipped(SkipReason::ZeroStrike), 1);
    assert_eq!(agg.skipped(SkipReason::ZeroSpot), 1);
    assert_eq!(agg.skipped(SkipReason::Expired), 1);
}

fn quote(index: &str, strike: f64, expiry: i64) -> Quote {
    Quote {
        index: index.into(),
        strike,
        expiry,
        option_type: OptionType::Call,
        spot: 100.0,
        open_interest: 7.0,
        volume: 1.0,
        iv: None,
        bid: None,
        ask: None,
        spread_bps: None,
        moneyness: None,
        dte_days: None,
    }
}

fn oi(index: &str, m: &str, d: &str, source: &str) -> Option<f64> {
    value(
        "g6_option_open_interest",
        &[("index", index), ("mny", m), ("dte", d), ("source", source)],
    )
}

#[test]
fn stale_buckets_reset_and_new_listings_count() {
    let expiry = parse_expiry("28-Nov-2024").unwrap();
    let as_of = Some(expiry - 10 * DAY); // medium
    let mut a = Aggregator::new();
    let snap1 = Snapshot {
        as_of,
        rows: vec![
            Ok(quote("RESET", 100.0, expiry)),
            Ok(quote("GONE", 100.0, expiry)),
        ],
    };
    let agg = a.process(&snap1, Source::Replay, 0);
    assert_eq!(
        agg.new_listings.iter().sum::<u64>(),
        0,
        "the first snapshot is the baseline"
    );
    assert_eq!(oi("RESET", "atm", "medium", "replay"), Some(7.0));
    assert_eq!(oi("GONE", "atm", "medium", "replay"), Some(7.0));
    let new_before = value("g6_option_contracts_new_total", &[("dte", "medium")]).unwrap_or(0.0);

    // RESET moves out of the money (and lists two new strikes); GONE disappears.
    let snap2 = Snapshot {
        as_of,
        rows: vec![
            Ok(quote("RESET", 110.0, expiry)),
            Ok(quote("RESET", 112.0, expiry)),
            Ok(quote("RESET", 100.0, expiry)),
        ],
    };
    let agg = a.process(&snap2, Source::Replay, 0);
    assert_eq!(agg.new_listings[Dte::Medium.index()], 2);
    assert_eq!(
        value("g6_option_contracts_new_total", &[("dte", "medium")]),
        Some(new_before + 2.0)
    );
    assert_eq!(oi("RESET", "otm", "medium", "replay"), Some(14.0));
    assert_eq!(oi("RESET", "atm", "medium", "replay"), Some(7.0));
    assert_eq!(
        oi("GONE", "atm", "medium", "replay"),
        Some(0.0),
        "absent from the snapshot: reset to 0"
    );

    // A bucket that empties is reset, not left at its old value.
    let snap3 = Snapshot {
        as_of,
        rows: vec![Ok(quote("RESET", 100.0, expiry))],
    };
    a.process(&snap3, Source::Replay, 0);
    assert_eq!(oi("RESET", "otm", "medium", "replay"), Some(0.0));
}

/// A provider whose answers the test scripts.
struct Scripted {
    answers: Vec<Result<Snapshot, ProviderError>>,
}

impl OptionChainProvider for Scripted {
    fn name(&self) -> &str {
        "scripted"
    }
    fn source(&self) -> Source {
        Source::Live
    }
    fn fetch(&mut self) -> Result<Snapshot, ProviderError> {
        self.answers.remove(0)
    }
}

#[test]
fn provider_failures_keep_last_good_values_and_grow_staleness() {
    let expiry = parse_expiry("28-Nov-2024").unwrap();
    let good = Snapshot {
        as_of: Some(expiry - 2 * DAY),
        rows: vec![Ok(quote("STALE", 100.0, expiry))],
    };
    let provider = Scripted {
        answers: vec![
            Ok(good),
            Err(ProviderError::new(FetchFailure::Unreadable, "HTTP 503")),
            Err(ProviderError::timeout("10s")),
            Ok(Snapshot::default()),
        ],
    };
    let mut r = Runner::new(Box::new(provider), false);
    // Fetched while the data was current: ages count from its as-of time.
    let t0 = (expiry - 2 * DAY) as f64;
    assert_eq!(r.tick_at(t0), Cycle::Ok { contracts: 1 });
    assert!(matches!(r.tick_at(t0 + 5.0), Cycle::Failed { .. }));
    assert!(matches!(r.tick_at(t0 + 10.0), Cycle::Failed { .. }));
    match r.tick_at(t0 + 15.0) {
        Cycle::Failed { error } => assert!(error.contains("no usable contracts"), "{error}"),
        other => panic!("{other:?}"),
    }
    let calls = |result: &str| {
        value(
            "g6_api_calls_total",
            &[
                ("provider", "scripted"),
                ("endpoint", "option_chain"),
                ("result", result),
            ],
        )
    };
    assert_eq!(
        calls("ok"),
        Some(2.0),
        "an empty answer is a successful call but an unusable snapshot"
    );
    assert_eq!(calls("error"), Some(1.0));
    assert_eq!(calls("timeout"), Some(1.0));
    assert_eq!(
        oi("STALE", "atm", "short", "live"),
        Some(7.0),
        "last good values stay"
    );
    assert_eq!(
        value(
            "g6_option_chain_snapshot_age_seconds",
            &[("index", "STALE")]
        ),
        Some(15.0)
    );
    assert_eq!(
        value(
            "g6_provider_mode",
            &[("provider", "scripted"), ("provider_mode", "primary")]
        ),
        Some(1.0)
    );
}

#[test]
fn synthetic_fallback_is_opt_in_and_labelled() {
    let provider = Scripted {
        answers: vec![Err(ProviderError::new(FetchFailure::Unreadable, "down"))],
    };
    let mut r = Runner::new(Box::new(provider), true);
    match r.tick_at(1_900_000_000.0) {
        Cycle::Fallback { contracts, .. } => assert!(contracts > 1000),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        value(
            "g6_provider_mode",
            &[("provider", "scripted"), ("provider_mode", "fallback")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            "g6_provider_fallbacks_total",
            &[("provider", "scripted"), ("reason", "primary_failed")]
        ),
        Some(1.0)
    );
    let synthetic = value(
        "g6_option_contracts_active",
        &[
            ("index", "NIFTY"),
            ("mny", "atm"),
            ("dte", "leap"),
            ("source", "synthetic"),
        ],
    );
    assert!(
        synthetic.unwrap_or(0.0) > 0.0,
        "fallback data is labelled source=synthetic"
    );
}

#[test]
fn synthetic_provider_is_deterministic_and_plausible() {
    // Tuesday 3-Dec-2024 11:30 IST: NIFTY's weekly expires today; BANKNIFTY and
    // FINNIFTY (monthly only, the last Tuesday) on 31 December.
    let as_of = parse_expiry("03-Dec-2024").unwrap() - 4 * 3600;
    let a = SyntheticProvider::new(7).snapshot_at(as_of);
    let b = SyntheticProvider::new(7).snapshot_at(as_of);
    let c = SyntheticProvider::new(8).snapshot_at(as_of);
    assert_eq!(a, b, "same seed, same data");
    assert_ne!(a, c, "another seed, other data");
    let agg = Aggregator::new().aggregate(&a, 0);
    assert_eq!(
        agg.per_index.keys().collect::<Vec<_>>(),
        ["BANKNIFTY", "FINNIFTY", "NIFTY"]
    );
    assert_eq!(agg.skipped.iter().sum::<u64>(), 0);
    let nifty = &agg.per_index["NIFTY"];
    let contracts = |index: &str, d: Dte| -> u64 {
        Mny::ALL
            .iter()
            .map(|m| agg.per_index[index][m.index() * 5 + d.index()].contracts)
            .sum()
    };
    // Every expiry is a Tuesday, so no chain has both an expiry within a day and one
    // within a week: short is empty today (the next weekly is 7.2 days away).
    for d in [Dte::UltraShort, Dte::Medium, Dte::Long, Dte::Leap] {
        assert!(contracts("NIFTY", d) > 0, "NIFTY {d:?}");
    }
    assert_eq!(contracts("NIFTY", Dte::Short), 0);
    assert_eq!(contracts("BANKNIFTY", Dte::UltraShort), 0, "monthly only");
    assert!(contracts("BANKNIFTY", Dte::Medium) > 0, "31 December");
    // The day after, the next weekly is short.
    let next_day = SyntheticProvider::new(7).snapshot_at(as_of + DAY);
    let agg = Aggregator::new().aggregate(&next_day, 0);
    let short: u64 = Mny::ALL
        .iter()
        .map(|m| agg.per_index["NIFTY"][m.index() * 5 + Dte::Short.index()].contracts)
        .sum();
    assert!(short > 0);
    let agg = Aggregator::new().aggregate(&a, 0);
    for m in Mny::ALL {
        assert!(
            nifty[m.index() * 5 + Dte::Medium.index()].contracts > 0,
            "{m:?}"
        );
    }
    let atm = agg.bucket("NIFTY", Mny::Atm, Dte::Medium).unwrap();
    let deep = agg.bucket("NIFTY", Mny::DeepOtm, Dte::Medium).unwrap();
    assert!(
        atm.open_interest / atm.contracts as f64 > deep.open_interest / deep.contracts as f64,
        "OI peaks at the money"
    );
    assert!(
        deep.iv_mean() > atm.iv_mean(),
        "IV smiles away from the money"
    );
    // 20% out of the money an option of a few weeks is worth less than a tick: no bid,
    // no two-sided spread. Where both sides quote, spreads widen away from the money.
    let atm_m = agg.bucket("NIFTY", Mny::Atm, Dte::Medium).unwrap();
    let deep_m = agg.bucket("NIFTY", Mny::Otm, Dte::Medium).unwrap();
    assert!(deep_m.spread_mean() > 0.0 && atm_m.spread_mean() > 0.0);
    assert!(
        deep_m.spread_mean() > atm_m.spread_mean(),
        "spreads widen away from the money: {} vs {}",
        deep_m.spread_mean(),
        atm_m.spread_mean()
    );
}

#[test]
fn malformed_rows_are_logged_once_per_reason() {
    let expiry = parse_expiry("28-Nov-2024").unwrap();
    let bad = |strike: f64| Ok(quote("LOGGED", strike, expiry));
    let snap = Snapshot {
        as_of: Some(expiry - DAY),
        rows: vec![bad(0.0), bad(0.0), bad(0.0)],
    };
    let ((), logs) = common::with_logs(|| {
        let mut a = Aggregator::new();
        a.aggregate(&snap, 0);
        a.aggregate(&snap, 0);
    });
    assert_eq!(
        logs.matches("skipping malformed quote rows").count(),
        1,
        "{logs}"
    );
    assert!(logs.contains("zero_strike"), "{logs}");
}

/// Fields of a chain that stop changing in session go stale after the window; a
/// frozen chain makes its index stale; nothing is stale while the market is closed.
#[test]
fn quotes_unchanged_in_session_go_stale_field_by_field_and_not_while_closed() {
    use g6_metrics::option_chain::staleness::Staleness;
    g6_metrics::init().unwrap();
    let mut det = Staleness::new(3, 30.0, 10);
    let q = |oi: f64, bid: f64| Quote {
        index: "STALETEST".into(),
        strike: 100.0,
        expiry: 2_000_000_000,
        option_type: OptionType::Call,
        spot: 100.0,
        open_interest: oi,
        volume: 10.0,
        iv: Some(0.2),
        bid: Some(bid),
        ask: Some(bid + 0.05),
        spread_bps: None,
        moneyness: None,
        dte_days: None,
    };
    let stale = |name: &str| common::value(name, &[("index", "STALETEST")]).unwrap();
    // Only the bid moves: OI, volume, IV and ask... the ask moves with it; three fields
    // stay still.
    let mut t = 1_000.0;
    for k in 0..10 {
        let row = q(500.0, 10.0 + f64::from(k));
        assert!(
            !det.observe("STALETEST", &[&row], t, true),
            "not every field is still"
        );
        t += 10.0;
    }
    // OI, volume and IV: stale once 3 snapshots and 30 s unchanged.
    assert_eq!(stale("g6_stale_fields_total"), 3.0);
    assert_eq!(stale("g6_stale_index_active"), 0.0);
    assert_eq!(stale("g6_stale_max_age_seconds"), 90.0);
    // Frozen: every field still.
    let frozen = q(500.0, 50.0);
    let mut stale_now = false;
    for _ in 0..5 {
        stale_now = det.observe("STALETEST", &[&frozen], t, true);
        t += 10.0;
    }
    assert!(stale_now);
    assert_eq!(stale("g6_stale_index_active"), 1.0);
    // Closed: the same frozen chain is not stale.
    assert!(!det.observe("STALETEST", &[&frozen], t, false));
    assert_eq!(stale("g6_stale_index_active"), 0.0);
    assert_eq!(stale("g6_stale_max_age_seconds"), 0.0);
}

/// After five failed cycles the circuit opens: the provider is not called during the
/// cool-down, the gauge says so, and a successful probe closes it.
#[test]
fn five_failures_open_the_circuit_and_a_good_probe_after_the_cooldown_closes_it() {
    use std::sync::atomic::{AtomicBool as Flag, AtomicU32, Ordering};
    use std::sync::Arc;
    g6_metrics::init().unwrap();
    struct Flaky {
        calls: Arc<AtomicU32>,
        healthy: Arc<Flag>,
    }
    impl OptionChainProvider for Flaky {
        fn name(&self) -> &str {
            "flaky-circuit"
        }
        fn source(&self) -> g6_metrics::labels::Source {
            g6_metrics::labels::Source::Live
        }
        fn fetch(&mut self) -> Result<Snapshot, ProviderError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if self.healthy.load(Ordering::SeqCst) {
                // One contract of an index no other test uses: the series this process
                // shares with the other tests stay theirs.
                Ok(Snapshot {
                    as_of: Some(1_796_615_100),
                    rows: vec![Ok(Quote {
                        index: "CIRCUITTEST".into(),
                        strike: 100.0,
                        expiry: 1_796_615_100 + 10 * DAY,
                        option_type: OptionType::Call,
                        spot: 100.0,
                        open_interest: 10.0,
                        volume: 1.0,
                        iv: Some(0.2),
                        bid: Some(2.0),
                        ask: Some(2.1),
                        spread_bps: None,
                        moneyness: None,
                        dte_days: None,
                    })],
                })
            } else {
                Err(ProviderError::timeout("down"))
            }
        }
    }
    let calls = Arc::new(AtomicU32::new(0));
    let healthy = Arc::new(Flag::new(false));
    let mut r = Runner::new(
        Box::new(Flaky {
            calls: calls.clone(),
            healthy: healthy.clone(),
        }),
        // No fallback: its synthetic series would be shared with the other tests.
        false,
    )
    .circuit(5, std::time::Duration::from_secs(30));
    let open =
        || common::value("g6_provider_circuit_open", &[("provider", "flaky-circuit")]).unwrap();
    let t0 = 1_796_615_100.0;
    for k in 0..5 {
        assert!(matches!(r.tick_at(t0 + f64::from(k)), Cycle::Failed { .. }));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 5);
    assert_eq!(open(), 1.0);
    // During the cool-down the provider is not called.
    assert!(matches!(r.tick_at(t0 + 10.0), Cycle::Failed { .. }));
    assert_eq!(calls.load(Ordering::SeqCst), 5, "called while open");
    // After it, one probe; healthy again: closed.
    healthy.store(true, Ordering::SeqCst);
    assert!(matches!(r.tick_at(t0 + 40.0), Cycle::Ok { .. }));
    assert_eq!(calls.load(Ordering::SeqCst), 6);
    assert_eq!(open(), 0.0);
}

/// Expiry resolution is a timed step of every cycle: each listed expiry of an index is
/// held against the calendar (here: weekly on Tuesday, Tuesday 1-Dec-2026 a holiday)
/// and counted ok or error, and the step's histogram gains a sample per index.
#[test]
fn each_cycle_resolves_listed_expiries_against_the_calendar_and_times_it() {
    use g6_metrics::option_chain::calendar::{Calendar, Kind, Rule};
    use std::collections::{BTreeMap, BTreeSet};
    use std::sync::Arc;
    g6_metrics::init().unwrap();
    let day = |s: &str| parse_expiry(s).unwrap().div_euclid(DAY);
    let rules = BTreeMap::from([(
        "RESOLVED".to_string(),
        vec![Rule {
            kind: Kind::Weekly,
            weekday: 1,
        }],
    )]);
    let calendar = Calendar::new(rules, BTreeSet::from([day("2026-12-01")]));
    let as_of = parse_expiry("2026-11-27").unwrap();
    let row = |expiry: &str| Ok(quote("RESOLVED", 100.0, parse_expiry(expiry).unwrap()));
    let snapshot = Snapshot {
        as_of: Some(as_of),
        rows: vec![
            // Monday: the holiday's expiry, moved back a day: ok.
            row("2026-11-30"),
            // The holiday itself, a Thursday (off the rule), and an expired Tuesday.
            row("2026-12-01"),
            row("2026-12-03"),
            row("2026-11-24"),
            // The next Tuesday, twice (one expiry, two contracts): ok once.
            row("2026-12-08"),
            Ok(Quote {
                strike: 110.0,
                ..quote("RESOLVED", 100.0, parse_expiry("2026-12-08").unwrap())
            }),
        ],
    };
    // Its own provider name: the other tests' series stay theirs.
    struct Resolving(Snapshot);
    impl OptionChainProvider for Resolving {
        fn name(&self) -> &str {
            "resolving"
        }
        fn source(&self) -> Source {
            Source::Live
        }
        fn fetch(&mut self) -> Result<Snapshot, ProviderError> {
            Ok(self.0.clone())
        }
    }
    let mut r = Runner::new(Box::new(Resolving(snapshot)), false).calendar(Arc::new(calendar));
    let resolved = |result: &str| {
        value(
            "g6_expiry_resolutions_total",
            &[("index", "RESOLVED"), ("result", result)],
        )
    };
    let samples = || value("g6_expiry_resolution_latency_seconds", &[]).unwrap_or(0.0);
    let before = samples();
    assert!(matches!(r.tick_at(as_of as f64), Cycle::Ok { .. }));
    assert_eq!(resolved("ok"), Some(2.0));
    assert_eq!(resolved("error"), Some(3.0));
    assert!(samples() >= before + 1.0, "the step was timed");
    assert!(matches!(r.tick_at(as_of as f64 + 5.0), Cycle::Ok { .. }));
    assert_eq!(resolved("ok"), Some(4.0), "every snapshot");
    assert_eq!(resolved("error"), Some(6.0));
}

/// The synthetic provider lists NSE's expiries from the calendar: each resolves ok.
#[test]
fn synthetic_listings_follow_the_calendar() {
    use g6_metrics::option_chain::calendar::Calendar;
    use g6_metrics::option_chain::market::ist_day;
    let cal = Calendar::nse_default();
    // Sunday 6-Dec-2026.
    let as_of = parse_expiry("2026-12-06").unwrap();
    let snap = SyntheticProvider::new(3).snapshot_at(as_of);
    let mut listed: std::collections::BTreeMap<String, Vec<i64>> = Default::default();
    for q in snap.rows.iter().map(|r| r.as_ref().unwrap()) {
        let v = listed.entry(q.index.clone()).or_default();
        if !v.contains(&q.expiry) {
            v.push(q.expiry);
        }
    }
    for (index, expiries) in &listed {
        let r = cal.resolve(index, expiries, as_of);
        assert_eq!(r.error, 0, "{index}: {expiries:?}");
        assert_eq!(expiries, &cal.listing(index, as_of), "{index}");
        // Every one a Tuesday but January's, moved off Republic Day to Monday 25th.
        for e in expiries {
            let weekday = (ist_day(*e) + 3).rem_euclid(7);
            let monday = *e == parse_expiry("2027-01-25").unwrap();
            assert_eq!(weekday, if monday { 0 } else { 1 }, "{index} {e}");
        }
    }
    assert_eq!(listed["NIFTY"].len(), 9);
    assert_eq!(listed["BANKNIFTY"].len(), 6);
}
