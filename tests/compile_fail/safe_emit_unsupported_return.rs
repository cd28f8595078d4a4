// A failure needs a value meaning "nothing was emitted": u64 has none.
use g6_metrics::safe_emit;

#[safe_emit]
fn count() -> u64 {
    1
}

fn main() {
    let _ = count();
}
