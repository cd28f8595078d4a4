//! The generated code of `tests/fixtures/small.yml`, compiled: a label named `type` (a
//! Rust keyword), a closed label `result` (a prelude name), a value `5xx` (not an
//! identifier), a fractional counter and a deprecated metric. It asks for the
//! runtime without its exporter feature (`default-features = false`); in the
//! workspace build, features unify and the exporter is compiled anyway.

include!(concat!(env!("OUT_DIR"), "/metrics.rs"));

/// The generated code of `tests/fixtures/warm.yml`: warm closed counters and
/// histograms, a `warm: false` opt-out, warm values of an open label, a closed label
/// narrowed by `warm:`, and a gauge (never warm). Tested in its own process
/// (`tests/warm.rs`), since it shares the runtime's registry.
pub mod warm {
    include!(concat!(env!("OUT_DIR"), "/warm.rs"));
}

/// The generated code of `tests/fixtures/gated.yml`: a histogram on its second bucket
/// layout, one on its first, and a family that `GATED_ENABLE_EXTRA` switches on.
/// Tested in their own processes (`tests/layout.rs`, `tests/gated_off.rs`,
/// `tests/gated_on.rs`): whether the family is on is read once per process.
pub mod gated {
    include!(concat!(env!("OUT_DIR"), "/gated.rs"));
}
