//! Runs one emission operation N times, for instruction counting under
//! `valgrind --tool=callgrind` (scripts/bench.sh): instructions do not depend on what
//! else the machine is doing, so they decide comparisons that wall time leaves inside
//! the noise. Usage: `instructions OP N`; `instructions list` prints the ops.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use g6_metrics::labels::{self, Dte};
use g6_metrics::{metrics, Counter, Histogram};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};

const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

const OPS: &[&str] = &[
    "raw_atomic",
    "g6_unlabeled_counter",
    "g6_closed_label_counter",
    "tikv_children_array",
    "g6_open_label_cached",
    "tikv_cached_child",
    "g6_open_label_lookup",
    "tikv_with_label_values",
    "g6_histogram",
    "tikv_histogram",
    "prometheus_client_histogram",
    "g6_batched_counter_flush_included",
];

fn main() {
    let mut args = std::env::args().skip(1);
    let op = args.next().unwrap_or_default();
    if op == "list" {
        println!("{}", OPS.join("\n"));
        return;
    }
    let n: u64 = args.next().and_then(|n| n.parse().ok()).unwrap_or(0);
    // Everything is set up before the loop, whatever N is, so N=0 measures the setup.
    metrics::init_all();
    let raw = AtomicU64::new(0);
    let vec =
        prometheus::IntCounterVec::new(prometheus::Opts::new("i_total", "b"), &["dte"]).unwrap();
    let children: Vec<prometheus::IntCounter> = Dte::VALUES
        .iter()
        .map(|v| vec.with_label_values(&[*v]))
        .collect();
    let calls = prometheus::IntCounterVec::new(
        prometheus::Opts::new("c_total", "b"),
        &["provider", "endpoint", "result"],
    )
    .unwrap();
    let child = calls.with_label_values(&["nse", "option_chain", "ok"]);
    let open = metrics::api_calls_total_with("nse", "option_chain", labels::Result::Ok);
    let ours = metrics::api_response_latency_seconds_with("nse", "i");
    let tikv_h = prometheus::Histogram::with_opts(
        prometheus::HistogramOpts::new("h_seconds", "b").buckets(BUCKETS.to_vec()),
    )
    .unwrap();
    let pc_h = prometheus_client::metrics::histogram::Histogram::new(BUCKETS);
    let batched = Counter::unregistered(true);
    let _unused = Histogram::unregistered(&BUCKETS, false);
    // Chosen once: the loop is the same indirect call for every op.
    let f: Box<dyn Fn() + '_> = match op.as_str() {
        "raw_atomic" => Box::new(|| {
            black_box(&raw).fetch_add(black_box(1), Ordering::Relaxed);
        }),
        "g6_unlabeled_counter" => {
            Box::new(|| metrics::lifecycle_deleted_files_total().inc_by(black_box(1)))
        }
        "g6_closed_label_counter" => Box::new(|| {
            metrics::option_contracts_new_total(black_box(Dte::Short)).inc_by(black_box(1))
        }),
        "tikv_children_array" => {
            Box::new(|| children[black_box(Dte::Short).index()].inc_by(black_box(1)))
        }
        "g6_open_label_cached" => Box::new(|| black_box(open).inc_by(black_box(1))),
        "tikv_cached_child" => Box::new(|| black_box(&child).inc_by(black_box(1))),
        "g6_open_label_lookup" => Box::new(|| {
            metrics::api_calls_total(
                black_box("nse"),
                black_box("option_chain"),
                labels::Result::Ok,
            )
            .inc_by(black_box(1))
        }),
        "tikv_with_label_values" => Box::new(|| {
            calls
                .with_label_values(&[black_box("nse"), black_box("option_chain"), "ok"])
                .inc_by(black_box(1))
        }),
        "g6_histogram" => Box::new(|| ours.observe(black_box(0.07))),
        "tikv_histogram" => Box::new(|| tikv_h.observe(black_box(0.07))),
        "prometheus_client_histogram" => Box::new(|| pc_h.observe(black_box(0.07))),
        "g6_batched_counter_flush_included" => Box::new(|| batched.inc_by(black_box(1))),
        other => {
            eprintln!("unknown op {other:?}; try `instructions list`");
            std::process::exit(2);
        }
    };
    for _ in 0..n {
        f();
    }
    drop(f);
    batched.flush();
    black_box((raw.load(Ordering::Relaxed), batched.get()));
}
