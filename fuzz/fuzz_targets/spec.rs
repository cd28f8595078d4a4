//! Spec parsing and validation: any bytes give a spec or diagnostics, never a panic;
//! a spec that loads also generates its artifacts without one.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(loaded) = g6_codegen::load_bytes(data, "fuzz.yml") {
        let generated = g6_codegen::artifacts::generate_all(&loaded, "fuzz.yml");
        let _ = g6_codegen::artifacts::validate_generated(&loaded, &generated);
    }
});
