//! Code generation for a synthetic 2,000-metric spec, exactly what a `build.rs` runs:
//! `Config::compile` (read, parse, merge the built-in fragment, validate, generate the
//! Rust and every artifact, validate the generated artifacts, audit, write into
//! OUT_DIR). Target: under 1 s on the 2-core CI machine.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

use criterion::{criterion_group, criterion_main, Criterion};
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
    let dir = std::env::temp_dir().join(format!("g6-codegen-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let spec = dir.join("bench.yml");
    std::fs::write(&spec, synthetic_spec(2000)).expect("write spec");
    let mut config = g6_codegen::Config::new();
    config
        .spec(&spec)
        .out_dir(dir.join("out"))
        .artifacts_module(true)
        .cargo_directives(false);
    let mut g = c.benchmark_group("codegen");
    g.sample_size(10);
    g.bench_function("g6_build_rs_compile_2000_metrics", |b| {
        b.iter(|| config.compile().expect("synthetic spec is valid"))
    });
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);
