//! Emission, side by side with the peers in one run: raw atomics (the physical limit),
//! tikv `prometheus` and `prometheus-client`. Every group names our benches `g6_*` and
//! compares like with like: handles resolved once (`*_cached`) only with peers'
//! handles resolved once, lookups per call (`*_lookup`) only with peers' lookups, and
//! batched emission with the flush inside the measurement. Every closure returns `()`
//! and black-boxes its input, so no variant is optimised differently.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

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
        b.iter(|| {
            black_box(&raw).fetch_add(black_box(1), Ordering::Relaxed);
        })
    });
    g.bench_function("g6_accessor", |b| {
        b.iter(|| metrics::lifecycle_deleted_files_total().inc_by(black_box(1)))
    });
    let tikv = prometheus::IntCounter::new("bench_total", "b").unwrap();
    g.bench_function("tikv_int_counter", |b| {
        b.iter(|| black_box(&tikv).inc_by(black_box(1)))
    });
    let pc: PcCounter = PcCounter::default();
    g.bench_function("prometheus_client_counter", |b| {
        b.iter(|| {
            black_box(&pc).inc_by(black_box(1));
        })
    });
    g.finish();
}

fn closed_label_counter(c: &mut Criterion) {
    // Cached: every handle resolved before the loop. Ours is a generated table index
    // by construction; tikv's fair peer is its children resolved once into an array
    // indexed by the enum (what static-metric generates); the limit is an array of raw
    // atomics.
    let mut g = group(c, "closed_label_counter_inc_cached");
    g.bench_function("g6_accessor", |b| {
        b.iter(|| metrics::option_contracts_new_total(black_box(Dte::Short)).inc_by(black_box(1)))
    });
    let raw: [AtomicU64; 5] = Default::default();
    g.bench_function("raw_atomic_array", |b| {
        b.iter(|| {
            raw[black_box(Dte::Short).index()].fetch_add(black_box(1), Ordering::Relaxed);
        })
    });
    let vec =
        prometheus::IntCounterVec::new(prometheus::Opts::new("bench_new_total", "b"), &["dte"])
            .unwrap();
    let children: Vec<prometheus::IntCounter> = Dte::VALUES
        .iter()
        .map(|v| vec.with_label_values(&[*v]))
        .collect();
    g.bench_function("tikv_children_array", |b| {
        b.iter(|| children[black_box(Dte::Short).index()].inc_by(black_box(1)))
    });
    let fam: Family<DteLabels, PcCounter> = Family::default();
    let pc_children: Vec<PcCounter> = [
        DteValue::UltraShort,
        DteValue::Short,
        DteValue::Medium,
        DteValue::Long,
        DteValue::Leap,
    ]
    .into_iter()
    .map(|dte| fam.get_or_create(&DteLabels { dte }).clone())
    .collect();
    g.bench_function("prometheus_client_children_array", |b| {
        b.iter(|| {
            pc_children[black_box(Dte::Short).index()].inc_by(black_box(1));
        })
    });
    g.finish();

    // Lookup per call: what users of the peers write without caching. Ours has no
    // lookup for closed labels, so it does not appear here (see the cached group).
    let mut g = group(c, "closed_label_counter_inc_lookup");
    g.bench_function("tikv_with_label_values", |b| {
        b.iter(|| {
            vec.with_label_values(&[black_box("short")])
                .inc_by(black_box(1))
        })
    });
    g.bench_function("prometheus_client_get_or_create", |b| {
        b.iter(|| {
            fam.get_or_create(&DteLabels {
                dte: black_box(DteValue::Short),
            })
            .inc_by(black_box(1));
        })
    });
    g.finish();
}

fn open_label_counter(c: &mut Criterion) {
    let mut g = group(c, "open_label_counter_inc_lookup");
    g.bench_function("g6_lookup_each_call", |b| {
        b.iter(|| {
            metrics::api_calls_total(
                black_box("nse"),
                black_box("option_chain"),
                labels::Result::Ok,
            )
            .inc_by(black_box(1))
        })
    });
    let vec = prometheus::IntCounterVec::new(
        prometheus::Opts::new("bench_calls_total", "b"),
        &["provider", "endpoint", "result"],
    )
    .unwrap();
    g.bench_function("tikv_with_label_values", |b| {
        b.iter(|| {
            vec.with_label_values(&[black_box("nse"), black_box("option_chain"), "ok"])
                .inc_by(black_box(1))
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
            .inc_by(black_box(1));
        })
    });
    g.finish();

    let mut g = group(c, "open_label_counter_inc_cached");
    let h = metrics::api_calls_total_with("nse", "option_chain", labels::Result::Ok);
    g.bench_function("g6_cached_handle", |b| {
        b.iter(|| black_box(h).inc_by(black_box(1)))
    });
    let child = vec.with_label_values(&["nse", "option_chain", "ok"]);
    g.bench_function("tikv_cached_child", |b| {
        b.iter(|| black_box(&child).inc_by(black_box(1)))
    });
    let pc_child: PcCounter = fam
        .get_or_create(&CallLabels {
            provider: "nse".into(),
            endpoint: "option_chain".into(),
            result: "ok".into(),
        })
        .clone();
    g.bench_function("prometheus_client_cached_child", |b| {
        b.iter(|| {
            black_box(&pc_child).inc_by(black_box(1));
        })
    });
    let raw = AtomicU64::new(0);
    g.bench_function("raw_atomic", |b| {
        b.iter(|| {
            black_box(&raw).fetch_add(black_box(1), Ordering::Relaxed);
        })
    });
    g.finish();
}

fn histogram_observe(c: &mut Criterion) {
    let mut g = group(c, "histogram_observe");
    let h = metrics::api_response_latency_seconds_with("nse", "bench");
    g.bench_function("g6_direct", |b| b.iter(|| h.observe(black_box(0.07))));
    let batched = Histogram::unregistered(&BUCKETS, true);
    g.bench_function("g6_batched_flush_included", |b| {
        b.iter_custom(|n| {
            let start = Instant::now();
            for _ in 0..n {
                batched.observe(black_box(0.07));
            }
            batched.flush();
            start.elapsed()
        })
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

/// Run `op(thread)` on `threads` threads at once, `iters` times each, then `finish`
/// (a flush), all inside the measured time; one iteration = one op per thread.
fn on_threads(
    threads: usize,
    iters: u64,
    op: Arc<dyn Fn(usize) + Send + Sync>,
    finish: &dyn Fn(),
) -> Duration {
    let barrier = Arc::new(Barrier::new(threads + 1));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (barrier, op) = (barrier.clone(), op.clone());
            std::thread::spawn(move || {
                barrier.wait();
                for _ in 0..iters {
                    op(t);
                }
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    for h in handles {
        let _ = h.join();
    }
    finish();
    start.elapsed()
}

/// One cache line.
#[repr(align(64))]
#[derive(Default)]
struct Padded(AtomicU64);

fn contention(c: &mut Criterion) {
    // 1 and 2 threads on this 2-core machine, and 4 (oversubscribed). The limit is a
    // per-thread cache-padded counter: what any counter that a scrape can read
    // concurrently costs at best.
    for threads in [1usize, 2, 4] {
        let mut g = group(c, &format!("counter_{threads}_threads"));
        let limit: &'static [Padded] = Box::leak(
            (0..threads)
                .map(|_| Padded::default())
                .collect::<Vec<_>>()
                .into(),
        );
        g.bench_function("per_thread_padded_limit", |b| {
            b.iter_custom(|n| {
                on_threads(
                    threads,
                    n,
                    Arc::new(move |t| {
                        black_box(&limit[t])
                            .0
                            .fetch_add(black_box(1), Ordering::Relaxed);
                    }),
                    &|| {},
                )
            })
        });
        let raw: &'static AtomicU64 = Box::leak(Box::new(AtomicU64::new(0)));
        g.bench_function("shared_atomic", |b| {
            b.iter_custom(|n| {
                on_threads(
                    threads,
                    n,
                    Arc::new(move |_| {
                        black_box(raw).fetch_add(black_box(1), Ordering::Relaxed);
                    }),
                    &|| {},
                )
            })
        });
        let direct: &'static Counter = Box::leak(Box::new(Counter::unregistered(false)));
        g.bench_function("g6_direct", |b| {
            b.iter_custom(|n| {
                on_threads(
                    threads,
                    n,
                    Arc::new(move |_| direct.inc_by(black_box(1))),
                    &|| {},
                )
            })
        });
        let batched: &'static Counter = Box::leak(Box::new(Counter::unregistered(true)));
        g.bench_function("g6_batched_flush_included", |b| {
            b.iter_custom(|n| {
                on_threads(
                    threads,
                    n,
                    Arc::new(move |_| batched.inc_by(black_box(1))),
                    &|| {
                        batched.flush();
                    },
                )
            })
        });
        let tikv = prometheus::IntCounter::new("bench_contended_total", "b").unwrap();
        g.bench_function("tikv_int_counter", |b| {
            let tikv = tikv.clone();
            b.iter_custom(|n| {
                let tikv = tikv.clone();
                on_threads(
                    threads,
                    n,
                    Arc::new(move |_| tikv.inc_by(black_box(1))),
                    &|| {},
                )
            })
        });
        g.finish();

        let mut g = group(c, &format!("histogram_{threads}_threads"));
        let direct: &'static Histogram =
            Box::leak(Box::new(Histogram::unregistered(&BUCKETS, false)));
        g.bench_function("g6_direct", |b| {
            b.iter_custom(|n| {
                on_threads(
                    threads,
                    n,
                    Arc::new(move |_| direct.observe(black_box(0.07))),
                    &|| {},
                )
            })
        });
        let batched: &'static Histogram =
            Box::leak(Box::new(Histogram::unregistered(&BUCKETS, true)));
        g.bench_function("g6_batched_flush_included", |b| {
            b.iter_custom(|n| {
                on_threads(
                    threads,
                    n,
                    Arc::new(move |_| batched.observe(black_box(0.07))),
                    &|| {
                        batched.flush();
                    },
                )
            })
        });
        let tikv = prometheus::Histogram::with_opts(
            prometheus::HistogramOpts::new("bench_contended_seconds", "b")
                .buckets(BUCKETS.to_vec()),
        )
        .unwrap();
        g.bench_function("tikv_histogram", |b| {
            b.iter_custom(|n| {
                let tikv = tikv.clone();
                on_threads(
                    threads,
                    n,
                    Arc::new(move |_| tikv.observe(black_box(0.07))),
                    &|| {},
                )
            })
        });
        let pc = PcHistogram::new(BUCKETS);
        g.bench_function("prometheus_client_histogram", |b| {
            b.iter_custom(|n| {
                let pc = pc.clone();
                on_threads(
                    threads,
                    n,
                    Arc::new(move |_| pc.observe(black_box(0.07))),
                    &|| {},
                )
            })
        });
        g.finish();
    }
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
