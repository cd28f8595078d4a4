//! Every alert true: silent on a healthy `g6 serve`, firing on each real fault.
//!
//! Each case records the real binary (a few scrapes of `/metrics` over a few
//! seconds), carries the recording on for three hours (tests/servers/alert_truth/alerts.rs: counters at
//! their recorded rate, ages with the clock, other gauges at their last value) and
//! asks `promtool test rules` over every committed generated rule file (alerts,
//! suggestions, SLO and health rules) which alerts fire. The healthy system must
//! fire none, ever; each fault must fire its alert within its `for` plus two
//! evaluations, and exactly the alerts listed here, at that time and at the end.
//!
//! The recordings run at `--interval 500ms` (ten times the default 5s, so counters
//! move within seconds) with `--store-flush 1s` (the default 10s flush scaled the
//! same way, or the writer would hold 20 cycles of rows instead of 2), at most
//! [`SERVERS_AT_ONCE`] at a time: a debug build starved of CPU falls behind, and its
//! store backlog would then be a fault of the test machine.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

mod alerts;
use crate::common;

use alerts::{alerts, promtool_test, series, total, Checks, Recording, Scrape, Series, TestFile};
use common::{require_tool, temp_dir, Server};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

/// Input step and rule evaluation interval (seconds).
const STEP: u64 = 60;
/// Three hours of input.
const STEPS: u64 = 180;
const END: u64 = STEP * STEPS;

/// Every recording's options besides the fault's own.
const BASE: &[&str] = &["--interval", "500ms", "--store-flush", "1s"];

/// Servers recorded at the same time.
const SERVERS_AT_ONCE: usize = 4;

/// Free slots for recordings (a counting semaphore).
static SLOTS: std::sync::Mutex<usize> = std::sync::Mutex::new(SERVERS_AT_ONCE);
static SLOT_FREED: std::sync::Condvar = std::sync::Condvar::new();

/// One of the [`SERVERS_AT_ONCE`] slots, given back when dropped.
struct Slot;

impl Slot {
    fn take() -> Slot {
        let mut free = SLOTS.lock().unwrap_or_else(|p| p.into_inner());
        while *free == 0 {
            free = SLOT_FREED.wait(free).unwrap_or_else(|p| p.into_inner());
        }
        *free -= 1;
        Slot
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        *SLOTS.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        SLOT_FREED.notify_one();
    }
}

fn cycles(s: &Scrape) -> f64 {
    total(s, "g6_collection_cycles_total")
}

/// Start `g6 serve` with `args` and record it once `ready` holds.
fn record(args: &[String], ready: impl Fn(&Scrape) -> bool) -> Recording {
    record_until(args, ready, |_, _| true)
}

/// Like [`record`], recording on until `done` holds of the first and latest scrape.
fn record_until(
    args: &[String],
    ready: impl Fn(&Scrape) -> bool,
    done: impl Fn(&Scrape, &Scrape) -> bool,
) -> Recording {
    let _slot = Slot::take();
    let mut all: Vec<&str> = BASE.to_vec();
    all.extend(args.iter().map(String::as_str));
    let server = Server::start(&all, &[]);
    let rec = Recording::record(
        &server.addr,
        ready,
        done,
        Duration::from_secs(20),
        6,
        Duration::from_millis(500),
    )
    .unwrap_or_else(|e| panic!("g6 serve {all:?}: {e}"));
    drop(server);
    rec
}

/// Healthy enough to record: a few cycles done, so startup's one-off counts are
/// behind us and the rates are those of steady running.
fn warmed(s: &Scrape) -> bool {
    cycles(s) >= 3.0
}

/// NATS stream setup failed again since the first scrape: its retries back off up to
/// 5 s, so a short recording may see none and read the failure rate as 0.
fn bus_failed_again(first: &Scrape, last: &Scrape) -> bool {
    total(last, "g6_bus_publish_failures_total") > total(first, "g6_bus_publish_failures_total")
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// Write the test, run promtool, assert it passed.
fn run_promtool(name: &str, file: &TestFile) {
    let dir = temp_dir(&format!("alert-truth-{name}"));
    let path: PathBuf = dir.join("test.yml");
    std::fs::write(&path, file.render()).expect("write the promtool test");
    let (ok, text) = promtool_test(&path);
    assert!(
        ok && text.contains("SUCCESS"),
        "{name}: promtool test rules {}:\n{text}",
        path.display()
    );
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
#[ignore = "needs promtool; scripts/test.sh runs it"]
fn a_healthy_serve_fires_no_alert_at_any_time_in_three_hours() {
    require_tool("promtool");
    let rec = record(&[], warmed);
    // What a healthy serve does not export at all: rules over it see no data (silent
    // by absence, noted in the README).
    let input = series(&rec, "a", STEP, STEPS);
    assert!(
        input.len() > 500,
        "a real exposition: {} series",
        input.len()
    );
    let mut checks = Checks::default();
    // At the first evaluation every counter has one sample and no rate, so the health
    // score's rate components read 0 ("no data") and its alerts are pending for that
    // one evaluation (their `for` keeps them from firing): nothing fires at 0s, and
    // from the second evaluation on nothing is even pending.
    checks.firing_exactly(0, &BTreeSet::new());
    checks.silent(STEP);
    for t in (15 * 60..=END).step_by(15 * 60) {
        checks.silent(t);
    }
    let all = alerts();
    assert!(all.len() >= 40, "every generated alert: {all:?}");
    for name in all.keys() {
        checks.no_alert(name, END);
    }
    let mut file = TestFile::new(STEP);
    file.group("healthy g6 serve, 3h", &input, &checks);
    run_promtool("healthy", &file);
}

/// One fault of the matrix.
struct Fault {
    name: &'static str,
    /// The alert the fault must fire ("" for a fault that must page nobody).
    fires: &'static str,
    /// Seconds until the alert's condition first holds (a rate needs two samples;
    /// an age needs to pass its threshold).
    lead_s: u64,
    /// Exactly what fires at the check time (lead + for + two evaluations).
    at_check: &'static [&'static str],
    /// Exactly what fires after three hours.
    at_end: &'static [&'static str],
    input: Vec<Series>,
}

fn check_fault(f: &Fault) {
    let fors = alerts();
    let for_s = if f.fires.is_empty() {
        30 * 60
    } else {
        *fors
            .get(f.fires)
            .unwrap_or_else(|| panic!("{}: no alert {}", f.name, f.fires))
    };
    let check = f.lead_s + for_s + 2 * STEP;
    let at_check = names(f.at_check);
    if !f.fires.is_empty() {
        assert!(at_check.contains(f.fires), "{}: lists its alert", f.name);
    }
    let mut checks = Checks::default();
    checks.firing_exactly(check, &at_check);
    checks.firing_exactly(END, &names(f.at_end));
    let mut file = TestFile::new(STEP);
    file.group(f.name, &f.input, &checks);
    run_promtool(f.name, &file);
}

/// A chain file whose as-of time is `as_of` (Unix seconds), two strikes of NIFTY.
fn chain_file(path: &std::path::Path, as_of: Option<i64>) {
    let expiry = g6_metrics::option_chain::dates::format_date(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
            + 20 * 86_400,
    );
    let mut text = String::new();
    for strike in [24_000, 24_100] {
        for (kind, oi) in [("CE", 100), ("PE", 300)] {
            let as_of = as_of
                .map(|t| format!(", \"as_of\": {t}"))
                .unwrap_or_default();
            text.push_str(&format!(
                "{{\"index\": \"NIFTY\", \"strike\": {strike}, \"expiry\": \"{expiry}\", \"type\": \"{kind}\", \"spot\": 24050, \"oi\": {oi}, \"volume\": 10, \"iv\": 15, \"bid\": 100, \"ask\": 101{as_of}}}\n"
            ));
        }
    }
    std::fs::write(path, text).expect("write the chain file");
}

/// Record a serve whose `--memory-budget` puts resident memory at `share` of it,
/// until its governor is at `level` (resident memory moves between runs, so the
/// budget is re-aimed from what the last run used).
fn record_memory_level(level: f64, share: f64) -> Recording {
    let probe = record(&[], |s| cycles(s) >= 6.0);
    let mut resident = total(probe.last(), "g6_memory_resident_bytes");
    for _ in 0..5 {
        let budget = (resident / share) as u64;
        let rec = record(
            &[
                "--memory-budget".into(),
                format!("{budget}B"),
                // The level never falls back while recorded.
                "--memory-hold".into(),
                "1h".into(),
            ],
            |s| cycles(s) >= 6.0,
        );
        let got = total(rec.last(), "g6_memory_pressure_level");
        let first = total(&rec.scrapes[0], "g6_memory_pressure_level");
        if got == level && first == level {
            return rec;
        }
        resident = total(rec.last(), "g6_memory_resident_bytes");
    }
    panic!("could not hold the governor at level {level} in five runs");
}

#[test]
#[ignore = "needs promtool; scripts/test.sh runs it"]
fn each_fault_fires_its_alert_and_only_the_alerts_it_should() {
    require_tool("promtool");
    let dir = temp_dir("alert-truth-faults");
    // The flapping provider: two runs of three fail; the others print a fresh chain.
    // (One of two made the health score sit on its 0.8 threshold, so whether
    // G6HealthScoreLow fired depended on where the recording cut the cycles; at one
    // success in three it is 0.625..0.75 for any cut.)
    let fresh = dir.join("fresh.jsonl");
    chain_file(&fresh, None);
    let counter = dir.join("flap-count");
    let flapping = format!(
        "exec:n=$(cat '{c}' 2>/dev/null || echo 0); echo $((n+1)) > '{c}'; if [ $((n % 3)) = 0 ]; then cat '{f}'; else echo 'upstream 503' >&2; exit 3; fi",
        c = counter.display(),
        f = fresh.display()
    );
    // The stale provider: the same snapshot, as of the moment the test started.
    let stale = dir.join("stale.jsonl");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    chain_file(&stale, Some(now));
    let clickhouse = format!("clickhouse://127.0.0.1:{}/g6", closed_port());
    let nats = format!("nats://127.0.0.1:{}", closed_port());
    let s = |v: &[&str]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();

    let faults: Vec<Fault> = std::thread::scope(|scope| {
        let down = scope.spawn(|| record(&s(&["--provider", "file:/nonexistent"]), warmed));
        let flap = scope.spawn(|| record(&s(&["--provider", &flapping]), |x| cycles(x) >= 6.0));
        let stale_rec = scope.spawn(|| {
            record(
                &s(&["--provider", &format!("file:{}", stale.display())]),
                warmed,
            )
        });
        let store_failing = scope.spawn(|| {
            record(&s(&["--store", &clickhouse]), |x| {
                warmed(x) && total(x, "g6_cs_ingest_failures_total") >= 1.0
            })
        });
        let store_dropping = scope.spawn(|| {
            record(
                &s(&["--store", &clickhouse, "--store-backlog-rows", "20000"]),
                |x| warmed(x) && total(x, "g6_cs_ingest_dropped_rows_total") >= 1.0,
            )
        });
        let nats_down =
            scope.spawn(|| record_until(&s(&["--bus", &nats]), warmed, bus_failed_again));
        let outbox_full = scope.spawn(|| {
            record_until(
                &s(&["--bus", &nats, "--bus-outbox-bytes", "4MiB"]),
                |x| warmed(x) && total(x, "g6_bus_dropped_messages_total") >= 1.0,
                bus_failed_again,
            )
        });
        let critical = scope.spawn(|| {
            record(&s(&["--memory-budget", "1MiB"]), |x| {
                warmed(x) && total(x, "g6_memory_pressure_level") == 3.0
            })
        });
        let elevated = scope.spawn(|| record_memory_level(1.0, 0.77));
        let high = scope.spawn(|| record_memory_level(2.0, 0.90));
        let healthy_a = scope.spawn(|| record(&[], warmed));
        let healthy_b = scope.spawn(|| record(&[], warmed));
        let simulated = scope.spawn(|| record(&s(&["--simulate"]), warmed));
        let j = |h: std::thread::ScopedJoinHandle<'_, Recording>| {
            h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
        };
        let one = |r: &Recording| series(r, "a", STEP, STEPS);

        let healthy_a = j(healthy_a);
        let healthy_b = j(healthy_b);
        // Another build's spec: the second instance's hash label differs.
        let mut other_spec = healthy_b.clone();
        other_spec.map(|x| {
            if x.name == "g6_metrics_spec_hash_info" {
                for (k, v) in &mut x.labels {
                    if k == "hash" {
                        *v = "0123456789abcdef".into();
                    }
                }
            }
        });
        let mut two = one(&healthy_a);
        two.extend(series(&other_spec, "b", STEP, STEPS));
        // The simulator's overflow counts on top of a healthy serve.
        let mut overflow = healthy_a.clone();
        let mut sim = j(simulated);
        sim.retain(|x| x.name == "g6_cardinality_overflow_total");
        overflow.retain(|x| x.name != "g6_cardinality_overflow_total");
        overflow.merge(&sim);

        vec![
            Fault {
                name: "provider_down",
                fires: "G6OptionChainStale",
                lead_s: 60,
                // G6ProviderDown (for 1m) fires before the staleness it causes (for
                // 5m); the generated Alertmanager configuration silences the rest.
                at_check: &[
                    "G6HealthScoreCritical",
                    "G6HealthScoreLow",
                    "G6OptionChainStale",
                    "G6ProviderDown",
                    "G6SloChainFreshnessBurnRate1h",
                    "G6SloChainFreshnessBurnRate6h",
                    "G6SloChainFreshnessBurnRate1d",
                    "G6SloChainFreshnessBurnRate3d",
                    "G6SloProviderAvailabilityBurnRate1h",
                    "G6SloProviderAvailabilityBurnRate6h",
                    "G6SloProviderAvailabilityBurnRate1d",
                    "G6SloProviderAvailabilityBurnRate3d",
                ],
                at_end: &[
                    "G6HealthScoreCritical",
                    "G6HealthScoreLow",
                    "G6OptionChainStale",
                    "G6ProviderDown",
                    "G6SloChainFreshnessBurnRate1h",
                    "G6SloChainFreshnessBurnRate6h",
                    "G6SloChainFreshnessBurnRate1d",
                    "G6SloChainFreshnessBurnRate3d",
                    "G6SloProviderAvailabilityBurnRate1h",
                    "G6SloProviderAvailabilityBurnRate6h",
                    "G6SloProviderAvailabilityBurnRate1d",
                    "G6SloProviderAvailabilityBurnRate3d",
                    "G6ApiErrorRateHigh",
                    "G6ProviderFetchFailuresTotalRising",
                ],
                input: one(&j(down)),
            },
            Fault {
                name: "provider_flapping",
                fires: "G6ApiErrorRateHigh",
                lead_s: STEP,
                at_check: &[
                    "G6ApiErrorRateHigh",
                    "G6HealthScoreLow",
                    "G6SloChainFreshnessBurnRate1h",
                    "G6SloChainFreshnessBurnRate6h",
                    "G6SloChainFreshnessBurnRate1d",
                    "G6SloChainFreshnessBurnRate3d",
                    "G6SloProviderAvailabilityBurnRate1h",
                    "G6SloProviderAvailabilityBurnRate6h",
                    "G6SloProviderAvailabilityBurnRate1d",
                    "G6SloProviderAvailabilityBurnRate3d",
                ],
                at_end: &[
                    "G6ApiErrorRateHigh",
                    "G6HealthScoreLow",
                    "G6SloChainFreshnessBurnRate1h",
                    "G6SloChainFreshnessBurnRate6h",
                    "G6SloChainFreshnessBurnRate1d",
                    "G6SloChainFreshnessBurnRate3d",
                    "G6SloProviderAvailabilityBurnRate1h",
                    "G6SloProviderAvailabilityBurnRate6h",
                    "G6SloProviderAvailabilityBurnRate1d",
                    "G6SloProviderAvailabilityBurnRate3d",
                    "G6ProviderFetchFailuresTotalRising",
                ],
                input: one(&j(flap)),
            },
            Fault {
                name: "stale_snapshots",
                fires: "G6OptionChainStale",
                lead_s: 60,
                at_check: &["G6HealthScoreLow", "G6OptionChainStale"],
                at_end: &["G6HealthScoreLow", "G6OptionChainStale"],
                input: one(&j(stale_rec)),
            },
            Fault {
                name: "store_failing",
                fires: "G6ColumnStoreIngestFailing",
                lead_s: STEP,
                at_check: &["G6ColumnStoreIngestFailing"],
                at_end: &["G6ColumnStoreIngestFailing"],
                input: one(&j(store_failing)),
            },
            Fault {
                name: "store_dropping_rows",
                fires: "G6ColumnStoreRowsDropped",
                lead_s: STEP,
                at_check: &[
                    "G6ColumnStoreRowsDropped",
                    "G6SloIngestSuccessBurnRate1h",
                    "G6SloIngestSuccessBurnRate6h",
                    "G6SloIngestSuccessBurnRate1d",
                    "G6SloIngestSuccessBurnRate3d",
                ],
                at_end: &[
                    "G6ColumnStoreRowsDropped",
                    "G6SloIngestSuccessBurnRate1h",
                    "G6SloIngestSuccessBurnRate6h",
                    "G6SloIngestSuccessBurnRate1d",
                    "G6SloIngestSuccessBurnRate3d",
                    "G6ColumnStoreIngestFailing",
                ],
                input: one(&j(store_dropping)),
            },
            Fault {
                name: "nats_unreachable",
                fires: "G6BusDisconnected",
                lead_s: 0,
                at_check: &["G6BusDisconnected"],
                at_end: &["G6BusDisconnected", "G6BusPublishFailuresTotalRising"],
                input: one(&j(nats_down)),
            },
            Fault {
                name: "outbox_full",
                fires: "G6BusOutboxNearlyFull",
                lead_s: 0,
                at_check: &["G6BusMessagesDropped", "G6BusOutboxNearlyFull"],
                at_end: &[
                    "G6BusDisconnected",
                    "G6BusMessagesDropped",
                    "G6BusOutboxNearlyFull",
                    "G6BusPublishFailuresTotalRising",
                ],
                input: one(&j(outbox_full)),
            },
            Fault {
                name: "memory_critical",
                fires: "G6MemoryPressureCritical",
                lead_s: 0,
                at_check: &["G6MemoryPressureCritical"],
                at_end: &["G6MemoryPressureCritical"],
                input: one(&j(critical)),
            },
            Fault {
                name: "memory_elevated",
                fires: "",
                lead_s: 0,
                at_check: &[],
                at_end: &[],
                input: one(&j(elevated)),
            },
            Fault {
                name: "memory_high",
                fires: "",
                lead_s: 0,
                at_check: &[],
                at_end: &[],
                input: one(&j(high)),
            },
            Fault {
                name: "cardinality_overflow",
                fires: "G6CardinalityOverflow",
                lead_s: STEP,
                at_check: &["G6CardinalityOverflow"],
                at_end: &["G6CardinalityOverflow"],
                input: one(&overflow),
            },
            Fault {
                name: "spec_hash_change",
                fires: "G6SpecHashDivergence",
                lead_s: 0,
                at_check: &["G6SpecHashDivergence"],
                at_end: &["G6SpecHashDivergence"],
                input: two,
            },
        ]
    });
    // promtool runs on two threads at a time (the machine's cores).
    let failures = std::sync::Mutex::new(Vec::new());
    let queue = std::sync::Mutex::new(faults.iter());
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| loop {
                let next = queue.lock().unwrap_or_else(|p| p.into_inner()).next();
                let Some(f) = next else { break };
                if let Err(p) = std::panic::catch_unwind(|| check_fault(f)) {
                    let msg = p
                        .downcast_ref::<String>()
                        .cloned()
                        .unwrap_or_else(|| "panic".into());
                    failures.lock().unwrap_or_else(|p| p.into_inner()).push(msg);
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap_or_else(|p| p.into_inner());
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
