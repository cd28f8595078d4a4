//! Build-time half of g6-metrics: the generators and their shared plan, the checks of
//! what they generate, and the builder [`Config`] a crate's `build.rs` uses (as with
//! `prost-build`). The spec itself (load, model, validation, diagnostics, hash) is
//! `g6-spec`, re-exported here as [`spec`] and under its old paths so build scripts
//! keep one dependency. Nothing here depends on the runtime (`g6-runtime`), and the
//! runtime never depends on this crate.

pub mod alertmanager;
pub mod artifacts;
pub mod audit;
pub mod build;
pub mod catalog;
pub mod checks;
pub mod dashboard_lint;
pub mod dashboards;
pub mod health;
pub mod plan;
pub mod rulefile;
pub mod rules;
pub mod rust_gen;
pub mod slo;
pub mod sql_dashboards;

pub use g6_spec as spec;
pub use g6_spec::{builtin, canonical, decode, diag, model, naming, promql, validate, yaml};

pub use build::{BuildError, Compiled, Config, RequiredMetric};
pub use checks::{load_bytes, load_file, load_str};
pub use g6_spec::{Code, Diagnostic, Diagnostics, LoadedSpec, Pos, Severity, Spec, MAX_SPEC_BYTES};

/// Version stamped into generated code and artifacts. Bump on any change of output.
pub const GENERATOR_VERSION: &str = concat!("g6-codegen/", env!("CARGO_PKG_VERSION"));
