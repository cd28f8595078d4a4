//! Text encoding of 10,000 counter series + 1,000 histogram series (11 buckets): ours
//! (streaming over our stores) vs tikv gather + `TextEncoder` vs prometheus-client.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use criterion::{criterion_group, criterion_main, Criterion};
use g6_metrics::runtime::OpenFamily;
use g6_metrics::{Counter, Histogram, LabelInfo, MetricInfo, MetricKind};
use prometheus::Encoder;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter as PcCounter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram as PcHistogram;
use std::hint::black_box;
use std::time::Duration;

const COUNTERS: usize = 10_000;
const HISTOGRAMS: usize = 1_000;
const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const SERIES_LABEL: &[LabelInfo] = &[LabelInfo {
    name: "series",
    values: None,
}];

static COUNTER_INFO: MetricInfo = MetricInfo {
    name: "bench_requests_total",
    help: "Requests",
    kind: MetricKind::Counter,
    unit: None,
    family: "bench",
    labels: SERIES_LABEL,
    budget: COUNTERS as u64,
    buckets: &[],
    warm_all: false,
    warm_sets: &[],
    buckets_version: 1,
    enabled_by: None,
};

static HISTOGRAM_INFO: MetricInfo = MetricInfo {
    name: "bench_latency_seconds",
    help: "Latency",
    kind: MetricKind::Histogram,
    unit: Some("seconds"),
    family: "bench",
    labels: SERIES_LABEL,
    budget: HISTOGRAMS as u64,
    buckets: &BUCKETS,
    warm_all: false,
    warm_sets: &[],
    buckets_version: 1,
    enabled_by: None,
};

// Stores of the G6 spec's runtime, so they are encoded with everything else.
static G6_COUNTERS: OpenFamily<Counter> =
    OpenFamily::new(&COUNTER_INFO, &g6_metrics::metrics::RUNTIME);
static G6_HISTOGRAMS: OpenFamily<Histogram> =
    OpenFamily::new(&HISTOGRAM_INFO, &g6_metrics::metrics::RUNTIME);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SeriesLabel {
    series: String,
}

fn value(i: usize) -> f64 {
    [0.003, 0.02, 0.07, 0.3, 2.0][i % 5]
}

fn bench(c: &mut Criterion) {
    let names: Vec<String> = (0..COUNTERS).map(|i| format!("s{i}")).collect();

    for (i, n) in names.iter().enumerate() {
        G6_COUNTERS.get(&[n]).inc_by(i as u64 + 1);
    }
    for (i, n) in names.iter().take(HISTOGRAMS).enumerate() {
        let h = G6_HISTOGRAMS.get(&[n]);
        for k in 0..5 {
            h.observe(value(i + k));
        }
    }

    let tikv_registry = prometheus::Registry::new();
    let tikv_counters = prometheus::IntCounterVec::new(
        prometheus::Opts::new("bench_requests_total", "Requests"),
        &["series"],
    )
    .unwrap();
    let tikv_histograms = prometheus::HistogramVec::new(
        prometheus::HistogramOpts::new("bench_latency_seconds", "Latency")
            .buckets(BUCKETS.to_vec()),
        &["series"],
    )
    .unwrap();
    tikv_registry
        .register(Box::new(tikv_counters.clone()))
        .unwrap();
    tikv_registry
        .register(Box::new(tikv_histograms.clone()))
        .unwrap();
    for (i, n) in names.iter().enumerate() {
        tikv_counters.with_label_values(&[n]).inc_by(i as u64 + 1);
    }
    for (i, n) in names.iter().take(HISTOGRAMS).enumerate() {
        for k in 0..5 {
            tikv_histograms
                .with_label_values(&[n])
                .observe(value(i + k));
        }
    }

    let mut pc_registry = prometheus_client::registry::Registry::default();
    let pc_counters: Family<SeriesLabel, PcCounter> = Family::default();
    let pc_histograms: Family<SeriesLabel, PcHistogram> =
        Family::new_with_constructor(|| PcHistogram::new(BUCKETS));
    pc_registry.register("bench_requests", "Requests", pc_counters.clone());
    pc_registry.register("bench_latency_seconds", "Latency", pc_histograms.clone());
    for (i, n) in names.iter().enumerate() {
        pc_counters
            .get_or_create(&SeriesLabel { series: n.clone() })
            .inc_by(i as u64 + 1);
    }
    for (i, n) in names.iter().take(HISTOGRAMS).enumerate() {
        for k in 0..5 {
            pc_histograms
                .get_or_create(&SeriesLabel { series: n.clone() })
                .observe(value(i + k));
        }
    }

    let mut g = c.benchmark_group("text_encoding_10k_counters_1k_histograms");
    g.sample_size(30).measurement_time(Duration::from_secs(5));
    g.bench_function("g6_streaming_encoder", |b| {
        b.iter(|| black_box(g6_metrics::exporter::encode_all()))
    });
    g.bench_function("tikv_gather_text_encoder", |b| {
        b.iter(|| {
            let mut buf = Vec::with_capacity(1 << 20);
            prometheus::TextEncoder::new()
                .encode(&tikv_registry.gather(), &mut buf)
                .unwrap();
            black_box(buf)
        })
    });
    g.bench_function("prometheus_client_encode", |b| {
        b.iter(|| {
            let mut s = String::with_capacity(1 << 20);
            prometheus_client::encoding::text::encode(&mut s, &pc_registry).unwrap();
            black_box(s)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
