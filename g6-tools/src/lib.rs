//! Tools of the `g6` command that no build script needs: `g6 migrate` (other metric
//! formats into a spec), `g6 diff` (what changes between two specs, and whether it
//! breaks dashboards, rules or queries) and `g6 check-scrape` (a live `/metrics` page
//! against the spec). They read specs with `g6-spec` and, where they compare
//! generated output, generate it with `g6-codegen`.

pub mod diff;
pub mod migrate;
pub mod scrape_check;
