//! The generated code of `tests/fixtures/small.yml`, compiled: a label named `type` (a
//! Rust keyword), a closed label `result` (a prelude name), a value `5xx` (not an
//! identifier), a fractional counter and a deprecated metric. Built without the
//! exporter feature: the runtime's core alone.

include!(concat!(env!("OUT_DIR"), "/metrics.rs"));
