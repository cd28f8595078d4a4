//! Generates the typed accessors, the spec table and every artifact from `metrics.yml`
//! (or `G6_METRICS_SPEC`), and refreshes `generated/`. See g6_codegen::build::run.

fn main() {
    g6_codegen::build::run();
}
