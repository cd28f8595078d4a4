//! Generates from the snapshot fixture itself, so the snapshotted code is also compiled,
//! from the warm-series fixture, to scrape what exists right after `init()`, and from
//! the fixture of bucket layouts and a family switched on by the environment.

fn main() {
    let result = g6_codegen::Config::new()
        .spec("../../tests/fixtures/small.yml")
        .compile()
        .and_then(|_| {
            g6_codegen::Config::new()
                .spec("../../tests/fixtures/warm.yml")
                .file_name("warm.rs")
                .compile()
        })
        .and_then(|_| {
            g6_codegen::Config::new()
                .spec("../../tests/fixtures/gated.yml")
                .file_name("gated.rs")
                .compile()
        });
    if let Err(e) = result {
        eprintln!("{e}");
        std::process::exit(1);
    }
}
