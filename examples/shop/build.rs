//! The whole integration: one builder call. No `generated/` refresh here (the example
//! commits no artifacts); the Rust goes to OUT_DIR/metrics.rs.

fn main() {
    if let Err(e) = g6_codegen::Config::new().spec("shop.yml").compile() {
        eprintln!("{e}");
        std::process::exit(1);
    }
}
