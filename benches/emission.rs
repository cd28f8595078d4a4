//! Emission, side by side with the peers in one run: raw atomics, tikv `prometheus`
//! (direct use) and `prometheus-client`. Every group names our benches `g6_*`.

use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};
use g6_metrics::labels::{self, Dte};
use g6_metrics::{metrics, Counter, Histogram};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter as PcCounter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram as PcHistogram;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DteLabels {
    dte: DteValue,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelValue)]
#[allow(dead_code)]
enum DteValue {
    UltraShort,
    Short,
    Medium,
    Long,
    Leap,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    provider: String,
    endpoint: String,
    result: String,
}

fn group<'a>(
    c: &'a mut Criterion,
    name: &str,
) -> BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut g = c.benchmark_group(name);
    g.measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    g
}

fn unlabeled_counter(c: &mut Criterion) {
    let mut g = group(c, "unlabeled_counter_inc");
    let raw = AtomicU64::new(0);
    g.bench_function("raw_atomic", |b| {
        b.iter(|| raw.fetch_add(black_box(1), Ordering::Relaxed))
    });
    g.bench_function("g6_accessor", |b| {
        b.iter(|| metrics::lifecycle_deleted_files_total().inc())
    });
    let batched = Counter::unregistered(true);
    g.bench_function("g6_batched", |b| b.iter(|| black_box(&batched).inc()));
    let tikv = prometheus::IntCounter::new("bench_total", "b").unwrap();
    g.bench_function("tikv_int_counter", |b| b.iter(|| black_box(&tikv).inc()));
    let pc: PcCounter = PcCounter::default();
    g.bench_function("prometheus_client_counter", |b| {
        b.iter(|| black_box(&pc).inc())
    });
    g.finish();
}

fn closed_label_counter(c: &mut Criterion) {
    let mut g = group(c, "closed_label_counter_inc");
    g.bench_function("g6_accessor", |b| {
        b.iter(|| metrics::option_contracts_new_total(black_box(Dte::Short)).inc())
    });
    let vec =
        prometheus::IntCounterVec::new(prometheus::Opts::new("bench_new_total", "b"), &["dte"])
            .unwrap();
    g.bench_function("tikv_with_label_values", |b| {
        b.iter(|| vec.with_label_values(&[black_box("short")]).inc())
    });
    let fam: Family<DteLabels, PcCounter> = Family::default();
    g.bench_function("prometheus_client_get_or_create", |b| {
        b.iter(|| {
            fam.get_or_create(&DteLabels {
                dte: black_box(DteValue::Short),
            })
            .inc()
        })
    });
    g.finish();
}

fn open_label_counter(c: &mut Criterion) {
    let mut g = group(c, "open_label_counter_inc");
    g.bench_function("g6_lookup_each_call", |b| {
        b.iter(|| {
            metrics::api_calls_total(
                black_box("nse"),
                black_box("option_chain"),
                labels::Result::Ok,
            )
            .inc()
        })
    });
    let h = metrics::api_calls_total_with("nse", "option_chain", labels::Result::Ok);
    g.bench_function("g6_cached_handle", |b| b.iter(|| black_box(h).inc()));
    let vec = prometheus::IntCounterVec::new(
        prometheus::Opts::new("bench_calls_total", "b"),
        &["provider", "endpoint", "result"],
    )
    .unwrap();
    g.bench_function("tikv_with_label_values", |b| {
        b.iter(|| {
            vec.with_label_values(&[black_box("nse"), black_box("option_chain"), "ok"])
                .inc()
        })
    });
    let fam: Family<CallLabels, PcCounter> = Family::default();
    g.bench_function("prometheus_client_get_or_create", |b| {
        b.iter(|| {
            fam.get_or_create(&CallLabels {
                provider: black_box("nse").to_string(),
                endpoint: black_box("option_chain").to_string(),
                result: "ok".to_string(),
            })
            .inc()
        })
    });
    g.finish();
}

fn histogram_observe(c: &mut Criterion) {
    let mut g = group(c, "histogram_observe");
    let h = metrics::api_response_latency_seconds_with("nse", "bench");
    g.bench_function("g6_direct", |b| b.iter(|| h.observe(black_box(0.07))));
    let batched = Histogram::unregistered(&BUCKETS, true);
    g.bench_function("g6_batched", |b| {
        b.iter(|| batched.observe(black_box(0.07)))
    });
    let tikv = prometheus::Histogram::with_opts(
        prometheus::HistogramOpts::new("bench_seconds", "b").buckets(BUCKETS.to_vec()),
    )
    .unwrap();
    g.bench_function("tikv_histogram", |b| {
        b.iter(|| tikv.observe(black_box(0.07)))
    });
    let pc = PcHistogram::new(BUCKETS);
    g.bench_function("prometheus_client_histogram", |b| {
        b.iter(|| pc.observe(black_box(0.07)))
    });
    g.finish();
}

/// Run `op` on two threads at once, `iters` times each; one iteration = one op per thread.
fn two_threads(iters: u64, op: Arc<dyn Fn() + Send + Sync>) -> Duration {
    let barrier = Arc::new(Barrier::new(3));
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let (barrier, op) = (barrier.clone(), op.clone());
            std::thread::spawn(move || {
                barrier.wait();
                for _ in 0..iters {
                    op();
                }
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    for h in handles {
        let _ = h.join();
    }
    start.elapsed()
}

fn contention(c: &mut Criterion) {
    let mut g = group(c, "two_threads_one_counter");
    let raw: &'static AtomicU64 = Box::leak(Box::new(AtomicU64::new(0)));
    g.bench_function("shared_atomic", |b| {
        b.iter_custom(|n| {
            two_threads(
                n,
                Arc::new(move || {
                    raw.fetch_add(1, Ordering::Relaxed);
                }),
            )
        })
    });
    let direct: &'static Counter = Box::leak(Box::new(Counter::unregistered(false)));
    g.bench_function("g6_direct", |b| {
        b.iter_custom(|n| two_threads(n, Arc::new(move || direct.inc())))
    });
    let batched: &'static Counter = Box::leak(Box::new(Counter::unregistered(true)));
    g.bench_function("g6_batched", |b| {
        b.iter_custom(|n| {
            let t = two_threads(n, Arc::new(move || batched.inc()));
            batched.flush();
            t
        })
    });
    let tikv = prometheus::IntCounter::new("bench_contended_total", "b").unwrap();
    g.bench_function("tikv_int_counter", |b| {
        let tikv = tikv.clone();
        b.iter_custom(|n| {
            let tikv = tikv.clone();
            two_threads(n, Arc::new(move || tikv.inc()))
        })
    });
    g.finish();

    let mut g = group(c, "two_threads_one_histogram");
    let direct: &'static Histogram = Box::leak(Box::new(Histogram::unregistered(&BUCKETS, false)));
    g.bench_function("g6_direct", |b| {
        b.iter_custom(|n| two_threads(n, Arc::new(move || direct.observe(0.07))))
    });
    let batched: &'static Histogram = Box::leak(Box::new(Histogram::unregistered(&BUCKETS, true)));
    g.bench_function("g6_batched", |b| {
        b.iter_custom(|n| {
            let t = two_threads(n, Arc::new(move || batched.observe(0.07)));
            batched.flush();
            t
        })
    });
    let tikv = prometheus::Histogram::with_opts(
        prometheus::HistogramOpts::new("bench_contended_seconds", "b").buckets(BUCKETS.to_vec()),
    )
    .unwrap();
    g.bench_function("tikv_histogram", |b| {
        b.iter_custom(|n| {
            let tikv = tikv.clone();
            two_threads(n, Arc::new(move || tikv.observe(0.07)))
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    unlabeled_counter,
    closed_label_counter,
    open_label_counter,
    histogram_observe,
    contention
);
criterion_main!(benches);
