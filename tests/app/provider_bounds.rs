//! Providers and the aggregator are bounded on any input: hostile rows are skipped with
//! a reason, per-index state cannot grow without end, oversized inputs and hung reads
//! fail fast with a reason, and an `exec:` command never outlives its timeout.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use g6_metrics::labels::{FetchFailure, SkipReason};
use g6_metrics::option_chain::aggregate::{max_indices, Aggregator};
use g6_metrics::option_chain::dates::{parse_expiry, DAY};
use g6_metrics::option_chain::providers::{self, ProviderLimits};
use g6_metrics::option_chain::{OptionType, Quote, Snapshot};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

fn quote(index: &str, strike: f64) -> Quote {
    Quote {
        index: index.into(),
        strike,
        expiry: parse_expiry("28-Nov-2024").expect("date"),
        option_type: OptionType::Call,
        spot: 100.0,
        open_interest: 7.0,
        volume: 1.0,
        iv: Some(0.2),
        bid: None,
        ask: None,
        spread_bps: None,
        moneyness: None,
        dte_days: None,
    }
}

fn as_of() -> Option<i64> {
    parse_expiry("28-Nov-2024").map(|e| e - 3 * DAY)
}

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("provider_bounds");
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir.join(name)
}

#[test]
fn a_call_and_a_put_of_one_strike_and_strikes_a_bit_apart_are_distinct_contracts_not_duplicates() {
    let mut put = quote("NIFTY", 100.0);
    put.option_type = OptionType::Put;
    let mut later = quote("NIFTY", 100.0);
    later.expiry += 7 * DAY;
    let snap = Snapshot {
        as_of: as_of(),
        rows: vec![
            Ok(quote("NIFTY", 100.0)),
            Ok(put.clone()),
            Ok(later),
            Ok(quote("NIFTY", 100.0 + 1e-9)),
            Ok(quote("NIFTY", -0.0 + 100.0)),
            Ok(put),
        ],
    };
    let agg = Aggregator::new().aggregate(&snap, 0);
    assert_eq!(
        agg.accepted, 4,
        "call, put, a later expiry, a strike 1e-9 apart"
    );
    assert_eq!(
        agg.skipped(SkipReason::Duplicate),
        2,
        "the call and the put again"
    );
}

#[test]
fn hostile_rows_are_skipped_with_their_reason() {
    let mut extreme = quote("NIFTY", 105.0);
    extreme.open_interest = 1e308;
    let mut huge_iv = quote("NIFTY", 106.0);
    huge_iv.iv = Some(1e6);
    let snap = Snapshot {
        as_of: as_of(),
        rows: vec![
            Ok(quote("NIFTY", 100.0)),
            Ok(quote("NIFTY", 100.0)), // the same contract again
            Ok(extreme),
            Ok(huge_iv),
            Ok(quote("NIF\0TY", 101.0)),
            Ok(quote("", 102.0)),
            Ok(quote(&"X".repeat(65), 103.0)),
        ],
    };
    let agg = Aggregator::new().aggregate(&snap, 0);
    assert_eq!(agg.accepted, 1);
    assert_eq!(agg.skipped(SkipReason::Duplicate), 1);
    assert_eq!(agg.skipped(SkipReason::OutOfRange), 2);
    assert_eq!(agg.skipped(SkipReason::BadIndex), 3);
    let total: f64 = agg
        .per_index
        .values()
        .flatten()
        .map(|b| b.open_interest)
        .sum();
    assert_eq!(total, 7.0, "OI counted once, never +Inf");
    assert_eq!(agg.per_index.keys().collect::<Vec<_>>(), ["NIFTY"]);
}

#[test]
fn per_index_state_is_bounded_by_the_spec_budget() {
    let limit = max_indices();
    // The bucket gauges' budget (375 = 15 (index, source) pairs x 25 buckets) is the
    // tighter of the spec's bounds (the staleness gauge allows 20).
    assert_eq!(limit, 15);
    // One snapshot with more indices than the limit: the rest are skipped.
    let rows = (0..limit + 5)
        .map(|i| Ok(quote(&format!("IDX{i}"), 100.0)))
        .collect();
    let mut a = Aggregator::new();
    let agg = a.aggregate(
        &Snapshot {
            as_of: as_of(),
            rows,
        },
        0,
    );
    assert_eq!(agg.per_index.len(), limit);
    assert_eq!(agg.skipped(SkipReason::IndexLimit), 5);
    // A provider that invents a new index name every cycle: state stays bounded.
    for cycle in 0..200 {
        let snap = Snapshot {
            as_of: as_of(),
            rows: vec![Ok(quote(&format!("NEW{cycle}"), 100.0))],
        };
        a.aggregate(&snap, 0);
        assert!(
            a.tracked_indices() <= limit,
            "cycle {cycle}: {}",
            a.tracked_indices()
        );
    }
}

#[test]
fn jsonl_nan_is_an_invalid_number_and_csv_handles_crlf_and_quoted_newlines() {
    let jsonl = "{\"index\":\"N\",\"strike\":100,\"expiry\":\"28-Nov-2024\",\"type\":\"CE\",\"spot\":100,\"oi\":NaN}\n";
    let snap = providers::file::parse_jsonl(jsonl, "N");
    let agg = Aggregator::new().aggregate(&snap, as_of().unwrap_or(0));
    assert_eq!(agg.skipped(SkipReason::InvalidNumber), 1);
    assert_eq!(agg.skipped(SkipReason::MissingField), 0);

    let csv = "index,strike,expiry,type,spot,oi,note\r\nN,100,28-Nov-2024,CE,100,7,\"two\r\nlines, and a comma\"\r\nN,101,28-Nov-2024,PE,100,3,plain\r\n";
    let snap = providers::file::parse_csv(csv, "N");
    let agg = Aggregator::new().aggregate(&snap, as_of().unwrap_or(0));
    assert_eq!(agg.accepted, 2, "{:?}", snap.rows);
    let oi: f64 = agg.per_index["N"].iter().map(|b| b.open_interest).sum();
    assert_eq!(oi, 10.0);
}

#[test]
fn oversized_inputs_fail_with_too_large() {
    let path = scratch("big.csv");
    let mut text = String::from("index,strike,expiry,type,spot,oi\n");
    while text.len() < 64 * 1024 {
        text.push_str("N,100,28-Nov-2024,CE,100,7\n");
    }
    std::fs::write(&path, &text).expect("write");
    let small = ProviderLimits {
        max_input_bytes: 4096,
        ..ProviderLimits::default()
    };
    let mut p = providers::from_spec(&format!("file:{}", path.display()), small).expect("provider");
    let err = p.fetch().expect_err("over the limit");
    assert_eq!(err.reason, FetchFailure::TooLarge, "{err}");

    // A command that prints without end is stopped at the limit, quickly.
    let mut p = providers::from_spec("exec:yes", small).expect("provider");
    let started = Instant::now();
    let err = p.fetch().expect_err("over the limit");
    assert_eq!(err.reason, FetchFailure::TooLarge, "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_blocking_read_times_out_and_later_cycles_do_not_pile_up() {
    let fifo = scratch("never-written.fifo");
    let _ = std::fs::remove_file(&fifo);
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    let limits = ProviderLimits {
        fetch_timeout: Duration::from_millis(300),
        ..ProviderLimits::default()
    };
    let mut p =
        providers::from_spec(&format!("file:{}", fifo.display()), limits).expect("provider");
    let started = Instant::now();
    let err = p.fetch().expect_err("nobody writes the FIFO");
    assert_eq!(err.reason, FetchFailure::Timeout, "{err}");
    assert!(started.elapsed() < Duration::from_secs(3));
    let err = p.fetch().expect_err("still blocked");
    assert_eq!(err.reason, FetchFailure::StillRunning, "{err}");
    // Unblock the stuck read (open for writing and close: it reads EOF). Its late
    // answer is dropped and the next cycle fetches afresh (and blocks afresh).
    let _ = std::fs::OpenOptions::new().write(true).open(&fifo);
    // While the stuck read is still ending, a fetch says still_running at once; poll
    // until one starts afresh.
    let mut last = None;
    crate::common::wait_until(
        "a fetch after the unblocked read",
        Duration::from_secs(10),
        || {
            let err = p.fetch().expect_err("the FIFO has no writer again");
            let fresh = err.reason != FetchFailure::StillRunning;
            last = Some(err);
            fresh
        },
    );
    let err = last.expect("at least one fetch");
    assert_eq!(
        err.reason,
        FetchFailure::Timeout,
        "a fresh fetch, not still_running: {err}"
    );
}

#[test]
fn an_exec_timeout_kills_everything_the_command_started() {
    // A marker no other process on the machine carries.
    let marker = format!("31.{}", std::process::id());
    let limits = ProviderLimits {
        exec_timeout: Duration::from_millis(300),
        ..ProviderLimits::default()
    };
    let spec = format!("exec:sleep {marker} & sleep {marker}; wait");
    let mut p = providers::from_spec(&spec, limits).expect("provider");
    let err = p.fetch().expect_err("runs past its timeout");
    assert_eq!(err.reason, FetchFailure::Timeout, "{err}");
    // The kill is sent at the timeout; the processes are gone once the kernel has
    // delivered it (polled, within the 2 s no healthy machine needs).
    let left = || {
        let out = Command::new("pgrep")
            .args(["-f", &format!("sleep {marker}")])
            .output()
            .expect("pgrep");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    crate::common::wait_until(
        "no process of the command left",
        Duration::from_secs(2),
        || left().is_empty(),
    );
}

#[test]
fn the_contract_map_stays_bounded_when_a_feed_invents_strikes() {
    let mut a = Aggregator::new();
    for cycle in 0..120 {
        let rows = (0..1000)
            .map(|k| Ok(quote("NIFTY", 100.0 + (cycle * 1000 + k) as f64 / 100.0)))
            .collect();
        let agg = a.aggregate(
            &Snapshot {
                as_of: as_of(),
                rows,
            },
            0,
        );
        assert_eq!(agg.accepted, 1000);
        assert!(
            a.tracked_contracts() <= 4 * 1000 + 10_000,
            "cycle {cycle}: {}",
            a.tracked_contracts()
        );
    }
}

#[test]
fn nse_json_is_capped_and_reads_only_what_it_needs() {
    let entry = r#"{"strikePrice":100,"expiryDate":"28-Nov-2024","CE":{"openInterest":7,"impliedVolatility":"12.5","bidprice":1,"askPrice":"1.1","underlyingValue":100,"lastPrice":2}}"#;
    let filler: Vec<String> = (0..2000).map(|i| format!("{{\"x{i}\":[1,2,3]}}")).collect();
    let payload = format!(
        "{{\"records\":{{\"timestamp\":\"25-Nov-2024 15:30:00\",\"underlyingValue\":100,\"data\":[{entry}]}},\"filtered\":{{\"data\":[{}]}}}}",
        filler.join(",")
    );
    let path = scratch("chain.json");
    std::fs::write(&path, &payload).expect("write");
    let spec = format!("nse-json:{}", path.display());
    let snap = providers::from_spec(&spec, ProviderLimits::default())
        .expect("provider")
        .fetch()
        .expect("a valid payload");
    assert_eq!(snap.rows.len(), 1, "one CE leg; `filtered` is skipped");
    let q = snap.rows[0].as_ref().expect("a quote");
    assert_eq!(
        (q.strike, q.open_interest, q.iv, q.ask),
        (100.0, 7.0, Some(0.125), Some(1.1))
    );

    let small = ProviderLimits {
        max_input_bytes: (payload.len() / 2) as u64,
        ..ProviderLimits::default()
    };
    let err = providers::from_spec(&spec, small)
        .expect("provider")
        .fetch()
        .expect_err("over the cap");
    assert_eq!(err.reason, FetchFailure::TooLarge, "{err}");
}
