//! Code generation for a synthetic 2,000-metric spec: parse + validate + generate every
//! artifact and the Rust sources. Target: under 1 s on the 2-core CI machine.

use criterion::{criterion_group, criterion_main, Criterion};
use g6_codegen::rust_gen::{generate, RustOptions};
use std::fmt::Write;

/// A spec with `n` metrics across 20 families, mixing types, labels, panels and alerts.
pub fn synthetic_spec(n: usize) -> String {
    let mut s = String::from(
        "version: 1\nnamespace: g6\nlabels:\n  mny: {values: [deep_itm, itm, atm, otm, deep_otm], help: Moneyness}\n  dte: {values: [ultra_short, short, medium, long, leap], help: DTE}\n  result: {values: [ok, error, timeout], help: Outcome}\ndashboards:\n",
    );
    for f in 0..20 {
        let _ = writeln!(
            s,
            "  dash_{f}: {{title: Dashboard {f}, families: [fam_{f}]}}"
        );
    }
    s.push_str("families:\n");
    let per_family = n / 20;
    for f in 0..20 {
        let _ = writeln!(s, "  fam_{f}:\n    metrics:");
        for i in 0..per_family {
            let id = f * per_family + i;
            match id % 3 {
                0 => {
                    let _ = writeln!(
                        s,
                        "      - name: g6_m{id}_total\n        type: counter\n        help: Counter {id}\n        labels: [endpoint, result]\n        cardinality_budget: 30\n        panels:\n          - {{kind: rate, title: Rate {id}, promql: 'sum by (result) (rate(g6_m{id}_total[$__rate_interval]))', unit: ops}}\n        alerts:\n          - {{alert: G6Metric{id}Errors, expr: 'sum(rate(g6_m{id}_total{{result=\"error\"}}[5m])) > 1', for: 5m, severity: warning, summary: Errors}}"
                    );
                }
                1 => {
                    let _ = writeln!(
                        s,
                        "      - name: g6_m{id}_contracts\n        type: gauge\n        help: Gauge {id}\n        labels: [mny, dte]\n        panels:\n          - {{kind: split, title: Split {id}, promql: 'sum by (mny) (g6_m{id}_contracts)', unit: short}}"
                    );
                }
                _ => {
                    let _ = writeln!(
                        s,
                        "      - name: g6_m{id}_seconds\n        type: histogram\n        help: Histogram {id}\n        unit: seconds\n        labels: [result]\n        buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5]"
                    );
                }
            }
        }
    }
    s
}

fn bench(c: &mut Criterion) {
    let text = synthetic_spec(2000);
    let mut g = c.benchmark_group("codegen");
    g.sample_size(10);
    g.bench_function("parse_validate_generate_2000_metrics", |b| {
        b.iter(|| {
            let loaded = g6_codegen::load_str(&text, "bench.yml").expect("synthetic spec is valid");
            let sources = generate(
                &loaded.spec,
                &loaded.sha256,
                "bench",
                &RustOptions::default(),
            );
            let artifacts = g6_codegen::artifacts::generate(&loaded, "bench.yml");
            (sources, artifacts)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
