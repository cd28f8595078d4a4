// #[safe_emit] wraps functions only.
use g6_metrics::safe_emit;

#[safe_emit]
struct NotAFunction {
    field: u32,
}

fn main() {}
