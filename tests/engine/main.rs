//! The spec, code generation, generated artifacts and the CLI's offline commands
//! (lint, diff, migrate, check-scrape, generate), in one test binary: nothing here
//! emits into this process's metrics registry, so the modules share a process.
//! (Each file was a binary of its own; one link instead of seventeen.)
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failed unwrap is a failed test

#[path = "../common/mod.rs"]
mod common;

mod artifact_snapshots;
mod bad_specs;
mod build_script;
mod cli_check_scrape;
mod cli_diff;
mod cli_lint;
mod cli_migrate;
mod codegen_snapshots;
mod dashboard_lint;
mod data_rules;
mod engine_layout;
mod generate_check;
mod module_cycles;
mod promtool;
mod spec_bounds;
mod spec_hash;
mod trybuild;
