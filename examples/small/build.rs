//! Generates from the snapshot fixture itself, so the snapshotted code is also compiled.

fn main() {
    let result = g6_codegen::Config::new()
        .spec("../../tests/fixtures/small.yml")
        .compile();
    if let Err(e) = result {
        eprintln!("{e}");
        std::process::exit(1);
    }
}
