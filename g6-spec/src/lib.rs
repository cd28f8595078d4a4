//! The spec of g6-metrics: reading `metrics.yml` (bounded), its YAML with positions,
//! the typed model, validation with diagnostics, the canonical hash, naming and the
//! PromQL checks. This is what `g6 lint` needs; the generators (`g6-codegen`) build on
//! it, and nothing here generates an artifact.

pub mod builtin;
pub mod canonical;
pub mod decode;
pub mod diag;
pub mod grafana;
pub mod health;
pub mod load;
pub mod model;
pub mod naming;
pub mod promql;
pub mod quote;
pub mod sql;
pub mod validate;
pub mod yaml;

pub use diag::{Code, Diagnostic, Diagnostics, Pos, Severity};
pub use load::{
    load_bytes, load_bytes_with, load_file, load_file_with, load_str, load_str_with, ExtraChecks,
    LoadedSpec, MAX_SPEC_BYTES,
};
pub use model::Spec;
