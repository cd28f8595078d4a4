// Only `emitter = "..."` is accepted, and it must be a string.
use g6_metrics::safe_emit;

#[safe_emit(name = "x")]
fn first() {}

#[safe_emit(emitter = 5)]
fn second() {}

fn main() {
    first();
    second();
}
