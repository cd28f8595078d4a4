//! `g6 check-scrape`'s exposition reader and the check against G6's spec: any text
//! gives families and findings, or an error naming the line, never a panic.
#![no_main]

use std::sync::OnceLock;

fn spec() -> &'static g6_codegen::LoadedSpec {
    static SPEC: OnceLock<g6_codegen::LoadedSpec> = OnceLock::new();
    SPEC.get_or_init(|| {
        g6_codegen::load_str(include_str!("../../metrics.yml"), "metrics.yml")
            .expect("metrics.yml loads")
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(families) = g6_tools::scrape_check::parse_exposition(text) {
        let loaded = spec();
        let _ = g6_tools::scrape_check::check(&loaded.spec, loaded.hash(), &families);
    }
});
