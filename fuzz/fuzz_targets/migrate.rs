//! `g6 migrate`: any text gives a migrated spec or an error, never a panic; what it
//! writes is YAML the spec loader reads (valid or with diagnostics, never a crash).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(m) = g6_tools::migrate::migrate(text) {
        let _ = g6_codegen::load_str(&m.yaml, "migrated.yml");
    }
});
