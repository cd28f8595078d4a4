//! The PromQL checks: any text, analysed against G6's series, gives findings, never a
//! panic.
#![no_main]

use std::sync::OnceLock;

fn catalog() -> &'static g6_codegen::promql::SeriesCatalog {
    static CATALOG: OnceLock<g6_codegen::promql::SeriesCatalog> = OnceLock::new();
    CATALOG.get_or_init(|| {
        let loaded = g6_codegen::load_str(include_str!("../../metrics.yml"), "metrics.yml")
            .expect("metrics.yml loads");
        g6_codegen::promql::series_catalog(&loaded.spec)
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(expr) = std::str::from_utf8(data) {
        let _ = catalog().analyze(expr);
        let _ = g6_codegen::promql::duration(expr);
    }
});
